/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "common/macro.h"
#include "runner/supervise.h"
#include "tests/tap.h"

/* Watchdog mode on this host, with real processes. Cgroup mode needs the memory controller on
 * cgroup v2 and runs in the VM tier (scenario runner-oom). */

static StageResult last;
static char last_name[64];
static int n_done;

static void on_done(Stage *st, const StageResult *r, void *userdata)
{
        last = *r;
        snprintf(last_name, sizeof(last_name), "%s", stage_name(st));
        n_done++;
}

static char *self_exe;

static Supervisor *new_watchdog(usec_t interval)
{
        static int proc_fd = -EBADF;
        SupervisorConfig cfg = {
                .mode = SUPERVISOR_WATCHDOG,
                .jobs_fd = -EBADF,
                .spawn_method = SPAWN_METHOD_FORK,
                .nofile = 1024,
                .watchdog_interval_usec = interval,
                .done = on_done,
        };
        Supervisor *s;

        if (proc_fd < 0)
                proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cfg.proc_fd = proc_fd;
        return supervisor_new(&cfg, &s) < 0 ? NULL : s;
}

/* Runs one stage to its end; returns the number of results seen (1 expected). */
static int run(Supervisor *s, char *const *argv, uint64_t limit, usec_t timeout, Stage **ret)
{
        static char *const envp[] = { (char *)"PATH=/usr/bin:/bin", NULL };
        StageSpec spec = { .name = "ep.test.1",
                .argv = argv,
                .envp = envp,
                .limit_bytes = limit,
                .timeout_usec = timeout,
                .stdout_fd = -EBADF,
                .stderr_fd = -EBADF };
        char err[256] = "";
        Stage *st;
        int before = n_done;

        if (supervisor_start(s, &spec, &st, err, sizeof(err)) < 0) {
                printf("# start failed: %s\n", err);
                return -1;
        }
        if (ret)
                *ret = st;
        while (supervisor_running(s) > 0)
                if (supervisor_dispatch(s, 5000) < 0)
                        return -1;
        return n_done - before;
}

TEST(results)
{
        Supervisor *s = new_watchdog(100 * USEC_PER_MSEC);
        char buf[32];

        ASSERT_TRUE(s);
        ASSERT_INT(run(s, (char *const[]){ (char *)"/bin/true", NULL }, 1ULL << 30, 0, NULL), ==, 1);
        ASSERT_INT(last.kind, ==, STAGE_OK);
        ASSERT_STR(last_name, "ep.test.1");
        ASSERT_INT(run(s, (char *const[]){ (char *)"/bin/sh", (char *)"-c", (char *)"exit 3", NULL },
                           1ULL << 30, 0, NULL),
                ==, 1);
        ASSERT_STR(stage_result_to_string(&last, buf, sizeof(buf)), "exit 3");
        /* Stages are the OOM killer's first choice, never the daemon. */
        ASSERT_INT(run(s,
                           (char *const[]){ (char *)"/bin/sh", (char *)"-c",
                                   (char *)"test $(cat /proc/self/oom_score_adj) = 500", NULL },
                           1ULL << 30, 0, NULL),
                ==, 1);
        ASSERT_INT(last.kind, ==, STAGE_OK);
        ASSERT_INT(run(s, (char *const[]){ (char *)"/bin/sh", (char *)"-c", (char *)"kill -SEGV $$", NULL },
                           1ULL << 30, 0, NULL),
                ==, 1);
        ASSERT_STR(stage_result_to_string(&last, buf, sizeof(buf)), "signal 11");
        ASSERT_INT(run(s, (char *const[]){ (char *)"/bin/sleep", (char *)"30", NULL }, 1ULL << 30,
                           300 * USEC_PER_MSEC, NULL),
                ==, 1);
        ASSERT_INT(last.kind, ==, STAGE_TIMEOUT);
        ASSERT_TRUE(last.duration_usec >= 300 * USEC_PER_MSEC && last.duration_usec < 5 * USEC_PER_SEC);
        supervisor_free(s);
        return 0;
}

TEST(start_errors)
{
        Supervisor *s = new_watchdog(100 * USEC_PER_MSEC);
        StageSpec spec = { .name = "ep.test.1",
                .argv = (char *const[]){ (char *)"/nonexistent/transcriber", NULL },
                .stdout_fd = -EBADF,
                .stderr_fd = -EBADF,
                .limit_bytes = 1 << 30 };
        char err[256] = "";
        Stage *st;

        ASSERT_TRUE(s);
        ASSERT_INT(supervisor_start(s, &spec, &st, err, sizeof(err)), ==, -ENOENT);
        ASSERT_CONTAINS(err, "cannot start /nonexistent/transcriber: execve");
        ASSERT_INT(supervisor_running(s), ==, 0);
        supervisor_free(s);
        return 0;
}

/* --ramp: the hog, run as a stage: grows by 8 MiB every 20 ms, writing every page. */
static int ramp(void)
{
        for (int i = 0; i < 200; i++) {
                char *p = mmap(NULL, 8 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (p == MAP_FAILED)
                        return 1;
                memset(p, 1, 8 << 20);
                usleep(20000);
        }
        return 0;
}

TEST(watchdog_kills_a_hog)
{
        const usec_t interval = 100 * USEC_PER_MSEC;
        const uint64_t limit = 64ULL << 20;
        Supervisor *s = new_watchdog(interval);
        usec_t t0 = now_usec(CLOCK_MONOTONIC);

        ASSERT_TRUE(s);
        ASSERT_INT(run(s, (char *const[]){ self_exe, (char *)"--ramp", NULL }, limit, 0, NULL), ==, 1);
        ASSERT_INT(last.kind, ==, STAGE_WATCHDOG);
        /* It grows 8 MiB per 20 ms, so it crosses 64 MiB after about 160 ms; sampled every
         * 100 ms it must be caught within one interval of crossing, i.e. before about 200 MiB
         * (ASan and a loaded machine slow the hog, which only lowers this). */
        printf("# watchdog kill at peak %" PRIu64 " MiB after %" PRIu64
               " ms (limit 64 MiB, interval 100 ms)\n",
                last.peak_bytes >> 20, (now_usec(CLOCK_MONOTONIC) - t0) / 1000);
        ASSERT_TRUE(last.peak_bytes > limit);
        ASSERT_TRUE(last.peak_bytes <
                limit + (uint64_t)(interval / (20 * USEC_PER_MSEC) + 2) * (8ULL << 20) + (16ULL << 20));
        /* The supervisor (this process) lives on and runs the next stage. */
        ASSERT_INT(run(s, (char *const[]){ (char *)"/bin/true", NULL }, limit, 0, NULL), ==, 1);
        ASSERT_INT(last.kind, ==, STAGE_OK);
        supervisor_free(s);
        return 0;
}

static int count_sleepers(const char *arg)
{
        char cmd[128];
        FILE *f;
        int n = -1;

        snprintf(cmd, sizeof(cmd), "pgrep -c -f -x 'sleep %s'", arg);
        f = popen(cmd, "r");
        if (f && fscanf(f, "%d", &n) != 1)
                n = -1;
        if (f)
                pclose(f);
        return n;
}

TEST(daemonising_children_do_not_outlive)
{
        Supervisor *s = new_watchdog(50 * USEC_PER_MSEC);

        ASSERT_TRUE(s);
        /* The stage's child leaves the session with setsid and the stage exits at once. */
        ASSERT_INT(run(s,
                           (char *const[]){ (char *)"/bin/sh", (char *)"-c",
                                   (char *)"setsid sleep 4711 & sleep 0.3; exit 0", NULL },
                           1ULL << 30, 0, NULL),
                ==, 1);
        ASSERT_INT(last.kind, ==, STAGE_OK);
        usleep(100000);
        ASSERT_INT(count_sleepers("4711"), ==, 0);
        /* The same, exiting before the first sample: never seen, still not allowed to stay. */
        ASSERT_INT(run(s,
                           (char *const[]){ (char *)"/bin/sh", (char *)"-c",
                                   (char *)"setsid sleep 4712 & exit 0", NULL },
                           1ULL << 30, 0, NULL),
                ==, 1);
        usleep(100000);
        ASSERT_INT(count_sleepers("4712"), ==, 0);
        supervisor_free(s);
        return 0;
}

TEST(cancel)
{
        Supervisor *s = new_watchdog(100 * USEC_PER_MSEC);
        static char *const envp[] = { NULL };
        StageSpec spec = { .name = "ep.test.2",
                .argv = (char *const[]){ (char *)"/bin/sleep", (char *)"30", NULL },
                .envp = envp,
                .stdout_fd = -EBADF,
                .stderr_fd = -EBADF,
                .limit_bytes = 1 << 30 };
        char err[256];
        Stage *st;

        ASSERT_TRUE(s);
        ASSERT_INT(supervisor_start(s, &spec, &st, err, sizeof(err)), ==, 0);
        ASSERT_INT(supervisor_running(s), ==, 1);
        ASSERT_INT(supervisor_cancel_all(s, 5 * USEC_PER_SEC), ==, 0);
        ASSERT_INT(last.kind, ==, STAGE_CANCELLED);
        ASSERT_STR(last_name, "ep.test.2");
        supervisor_free(s);
        return 0;
}

int main(int argc, char *argv[])
{
        static const TapTest tests[] = { T(results), T(start_errors), T(watchdog_kills_a_hog),
                T(daemonising_children_do_not_outlive), T(cancel) };

        if (argc > 1 && streq(argv[1], "--ramp"))
                return ramp();
        self_exe = (char *)"/proc/self/exe";
        {
                static char path[4096];
                ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
                if (n > 0) {
                        path[n] = 0;
                        self_exe = path;
                }
        }
        return tap_main(tests, ELEMENTSOF(tests));
}
