/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/time-util.h"

/* Every ended stage gets exactly one result. */
typedef enum StageResultKind {
        STAGE_OK,
        STAGE_EXIT,      /* exited with a non-zero status */
        STAGE_SIGNAL,    /* killed by a signal nobody in memgov sent */
        STAGE_OOM,       /* the kernel's OOM killer, inside the stage's memory.max */
        STAGE_TIMEOUT,   /* memgov killed it: class timeout */
        STAGE_CANCELLED, /* memgov killed it: the user cancelled the episode, or shutdown */
        STAGE_WATCHDOG,  /* memgov killed it: over its limit in watchdog mode */
        _STAGE_RESULT_MAX,
} StageResultKind;

typedef struct StageResult {
        StageResultKind kind;
        int code;           /* exit status (STAGE_EXIT) or signal number (STAGE_SIGNAL, others) */
        uint64_t oom_kills; /* memory.events.local oom_kill delta */
        uint64_t peak_bytes;
        usec_t duration_usec;
} StageResult;

/* Why memgov itself killed the stage, if it did. */
typedef enum StageKillCause {
        STAGE_KILL_NONE,
        STAGE_KILL_TIMEOUT,
        STAGE_KILL_CANCEL,
        STAGE_KILL_WATCHDOG,
} StageKillCause;

/* Attributes an ended stage. wait_status is from waitid/waitpid (WIFEXITED …); oom_kills is the
 * increase of oom_kill in the stage cgroup's memory.events.local. memgov's own kill wins over
 * the kernel's (it decided first); an OOM kill wins over the bare SIGKILL it shows as; a clean
 * exit with an OOM kill inside (a child of the stage was killed) is still OOM, because the
 * stage did not get the memory it needed. Pure. */
StageResult stage_attribute(int wait_status, uint64_t oom_kills, StageKillCause cause);

/* "ok", "exit 3", "signal 11", "oom", "timeout", "cancelled", "watchdog". buf ≥ 32 bytes. */
const char *stage_result_to_string(const StageResult *r, char *buf, size_t size);
const char *stage_result_kind_to_string(StageResultKind k);
