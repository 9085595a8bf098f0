/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "governor/tokens.h"
#include "policies/policy.h"
#include "runner/ledger.h"
#include "runner/runtime.h"

/* The engine of 'memgov run' and 'memgov daemon': takes runnable episodes from the ledger, asks
 * the governor for admission, starts each stage as its own process (memgov fetch / memgov
 * transcribe) under the runner, and records every result in the ledger before acting on it. One
 * epoll fd drives it: stage ends, the governor's sample timer, the PSI trigger. */

typedef struct Scheduler Scheduler;

typedef struct SchedulerOptions {
        const char *self_exe;    /* this binary, for the stage processes */
        const char *policy_path; /* the policy file as given (for messages) */
        SpawnMethod spawn;
        /* Called for every stage start and end, for logs and the progress view. */
        void (*event)(void *userdata, const char *id, const char *stage, const char *what);
        void *userdata;
} SchedulerOptions;

/* A running stage, for status and the progress view. */
typedef struct SchedulerStage {
        char id[129];
        char stage[16];
        unsigned attempt;
        usec_t elapsed_usec;
        uint64_t memory_bytes;
        uint64_t limit_bytes;
        uint64_t progress_bytes; /* fetch: bytes downloaded so far */
        uint64_t total_bytes;    /* fetch: the expected size, 0 = unknown */
} SchedulerStage;

#define SCHEDULER_STAGES_MAX 64

/* A larger stage of a class that waits for memory while smaller ones are held back so as to leave
 * room for it (largest-first admission, gov_leaves_room()). Empty id: none. */
typedef struct SchedulerRoomKept {
        char id[129];
        uint64_t bytes;
} SchedulerRoomKept;

typedef struct SchedulerStatus {
        GovMode mode;
        uint64_t budget_bytes;
        uint64_t hard_usage_bytes;
        uint64_t peak_hard_usage_bytes; /* highest sampled since start */
        unsigned some_avg10;            /* permyriad */
        unsigned full_avg10;
        unsigned triggers; /* PSI trigger events since start */
        GovTokens tokens;
        size_t n_stages;
        SchedulerStage stages[SCHEDULER_STAGES_MAX];
        uint64_t counts[_EPISODE_STATE_MAX];
        uint64_t stages_started;
        uint64_t started_class[_JOB_CLASS_MAX];
        uint64_t results[_STAGE_RESULT_MAX];
        uint64_t peak_stage_bytes[_EPISODE_STAGE_MAX]; /* highest memory.peak per stage kind */
        uint64_t peak_stage_limit[_EPISODE_STAGE_MAX]; /* the limit that run had */
        SchedulerRoomKept room_kept[_JOB_CLASS_MAX];
        bool admitting;
} SchedulerStatus;

/* Opens the runtime (mode, layout, sandbox), recovers the ledger (interrupted stages requeued or
 * held) and prepares the spool, output and work folders for the stage user. Returns 0 or -errno
 * with a one-line reason in err. The ledger is borrowed. */
int scheduler_new(
        const Policy *p, Ledger *l, const SchedulerOptions *o, Scheduler **ret, char *err, size_t errlen);
Scheduler *scheduler_free(Scheduler *s);

const Runtime *scheduler_runtime(const Scheduler *s);
const LedgerRecovery *scheduler_recovery(const Scheduler *s);
int scheduler_fd(const Scheduler *s);

/* Handles what is ready (stage ends, samples, triggers) and admits what fits. Waits at most
 * timeout_ms. Returns 0 or -errno (a ledger failure: the caller must stop). */
int scheduler_dispatch(Scheduler *s, int timeout_ms);

/* No episode left in a non-final state (queued, fetching, fetched, transcribing, retry_wait)
 * and nothing running. */
bool scheduler_finished(Scheduler *s);

/* Stops admitting new stages (drain); running stages go on. */
void scheduler_stop_admitting(Scheduler *s);
size_t scheduler_running(const Scheduler *s);

/* Kills every running stage; their episodes are requeued without penalty (as after a crash).
 * Waits until they are recorded. */
int scheduler_interrupt_all(Scheduler *s, usec_t timeout);

/* User actions: cancel kills a running stage of the episode too. Return 0 or -errno with err. */
int scheduler_cancel(Scheduler *s, const char *id, char *err, size_t errlen);

void scheduler_status(Scheduler *s, SchedulerStatus *ret);

/* Swaps in a new policy (SIGHUP): limits, caps and pressure settings apply to new admissions.
 * The caller has validated it; the mode and the layout stay as they are. */
int scheduler_set_policy(Scheduler *s, const Policy *p);
