/* SPDX-License-Identifier: MIT */
#include <signal.h>
#include <sys/wait.h>

#include "common/macro.h"
#include "runner/result.h"
#include "tests/tap.h"

/* Builds wait statuses the way the kernel encodes them. */
#define EXITED(n)   (((n)&0xff) << 8)
#define SIGNALED(s) ((s)&0x7f)

TEST(attribution_table)
{
        static const struct {
                int status;
                uint64_t ooms;
                StageKillCause cause;
                StageResultKind want;
                const char *text;
        } cases[] = {
                { EXITED(0), 0, STAGE_KILL_NONE, STAGE_OK, "ok" },
                { EXITED(3), 0, STAGE_KILL_NONE, STAGE_EXIT, "exit 3" },
                { SIGNALED(SIGSEGV), 0, STAGE_KILL_NONE, STAGE_SIGNAL, "signal 11" },
                /* The OOM killer's SIGKILL is attributed to the OOM, not to "signal 9". */
                { SIGNALED(SIGKILL), 1, STAGE_KILL_NONE, STAGE_OOM, "oom" },
                /* A child OOM-killed while the main process exited 0 still means too little memory. */
                { EXITED(0), 2, STAGE_KILL_NONE, STAGE_OOM, "oom" },
                { SIGNALED(SIGKILL), 0, STAGE_KILL_NONE, STAGE_SIGNAL, "signal 9" },
                /* memgov's own kills win: it decided before the kernel acted. */
                { SIGNALED(SIGKILL), 0, STAGE_KILL_TIMEOUT, STAGE_TIMEOUT, "timeout" },
                { SIGNALED(SIGKILL), 1, STAGE_KILL_TIMEOUT, STAGE_TIMEOUT, "timeout" },
                { SIGNALED(SIGKILL), 0, STAGE_KILL_CANCEL, STAGE_CANCELLED, "cancelled" },
                { EXITED(0), 0, STAGE_KILL_CANCEL, STAGE_CANCELLED, "cancelled" },
                { SIGNALED(SIGKILL), 0, STAGE_KILL_WATCHDOG, STAGE_WATCHDOG, "watchdog" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                StageResult r = stage_attribute(cases[i].status, cases[i].ooms, cases[i].cause);
                char buf[32];
                ASSERT_INT(r.kind, ==, cases[i].want);
                ASSERT_STR(stage_result_to_string(&r, buf, sizeof(buf)), cases[i].text);
                ASSERT_U64(r.oom_kills, cases[i].ooms);
        }
        return 0;
}

TEST(real_statuses)
{
        int status;
        pid_t pid = fork();

        ASSERT_INT(pid, >=, 0);
        if (pid == 0)
                _exit(42);
        ASSERT_INT(waitpid(pid, &status, 0), ==, pid);
        ASSERT_INT(stage_attribute(status, 0, STAGE_KILL_NONE).kind, ==, STAGE_EXIT);
        ASSERT_INT(stage_attribute(status, 0, STAGE_KILL_NONE).code, ==, 42);
        pid = fork();
        ASSERT_INT(pid, >=, 0);
        if (pid == 0) {
                raise(SIGABRT);
                _exit(0);
        }
        ASSERT_INT(waitpid(pid, &status, 0), ==, pid);
        ASSERT_INT(stage_attribute(status, 0, STAGE_KILL_NONE).kind, ==, STAGE_SIGNAL);
        ASSERT_INT(stage_attribute(status, 0, STAGE_KILL_NONE).code, ==, SIGABRT);
        return 0;
}

TAP_MAIN(T(attribution_table), T(real_statuses))
