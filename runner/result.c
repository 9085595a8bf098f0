/* SPDX-License-Identifier: MIT */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "runner/result.h"

StageResult stage_attribute(int wait_status, uint64_t oom_kills, StageKillCause cause)
{
        StageResult r = { .oom_kills = oom_kills };

        if (WIFSIGNALED(wait_status))
                r.code = WTERMSIG(wait_status);
        else if (WIFEXITED(wait_status))
                r.code = WEXITSTATUS(wait_status);

        switch (cause) {
        case STAGE_KILL_TIMEOUT:
                r.kind = STAGE_TIMEOUT;
                return r;
        case STAGE_KILL_CANCEL:
                r.kind = STAGE_CANCELLED;
                return r;
        case STAGE_KILL_WATCHDOG:
                r.kind = STAGE_WATCHDOG;
                return r;
        case STAGE_KILL_NONE:
                break;
        }
        if (oom_kills > 0)
                r.kind = STAGE_OOM;
        else if (WIFSIGNALED(wait_status))
                r.kind = STAGE_SIGNAL;
        else if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) != 0)
                r.kind = STAGE_EXIT;
        else
                r.kind = STAGE_OK;
        return r;
}

const char *stage_result_kind_to_string(StageResultKind k)
{
        static const char *const names[] = {
                [STAGE_OK] = "ok",
                [STAGE_EXIT] = "exit",
                [STAGE_SIGNAL] = "signal",
                [STAGE_OOM] = "oom",
                [STAGE_TIMEOUT] = "timeout",
                [STAGE_CANCELLED] = "cancelled",
                [STAGE_WATCHDOG] = "watchdog",
        };
        return k < _STAGE_RESULT_MAX ? names[k] : "?";
}

const char *stage_result_to_string(const StageResult *r, char *buf, size_t size)
{
        if (r->kind == STAGE_EXIT || r->kind == STAGE_SIGNAL)
                snprintf(buf, size, "%s %d", stage_result_kind_to_string(r->kind), r->code);
        else
                snprintf(buf, size, "%s", stage_result_kind_to_string(r->kind));
        return buf;
}
