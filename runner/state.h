/* SPDX-License-Identifier: MIT */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/time-util.h"
#include "policies/policy.h"

/* The life of an episode, as pure functions: no I/O, no clock, no randomness. The ledger stores
 * what these functions return, so every transition is decided here and table-tested. */

typedef enum EpisodeState {
        EPISODE_QUEUED,
        EPISODE_FETCHING,
        EPISODE_FETCHED,
        EPISODE_TRANSCRIBING,
        EPISODE_DONE,
        EPISODE_RETRY_WAIT,
        EPISODE_HELD,
        EPISODE_CANCELLED,
        EPISODE_FAILED,
        _EPISODE_STATE_MAX,
        _EPISODE_STATE_INVALID = -EINVAL,
} EpisodeState;

typedef enum EpisodeStage {
        EPISODE_STAGE_FETCH,
        EPISODE_STAGE_TRANSCRIBE,
        _EPISODE_STAGE_MAX,
        _EPISODE_STAGE_INVALID = -EINVAL,
} EpisodeStage;

/* How a stage run ended, as the ledger records it. */
typedef enum RunResult {
        RUN_RESULT_OK,
        RUN_RESULT_EXIT,   /* non-zero exit status */
        RUN_RESULT_SIGNAL, /* killed by a signal that is none of the below */
        RUN_RESULT_OOM,
        RUN_RESULT_TIMEOUT,
        RUN_RESULT_CANCELLED,
        RUN_RESULT_WATCHDOG, /* killed by the watchdog for exceeding its limit */
        RUN_RESULT_INTERRUPTED,
        _RUN_RESULT_MAX,
        _RUN_RESULT_INVALID = -EINVAL,
} RunResult;

typedef enum EpisodeEventType {
        EPISODE_EVENT_STAGE_STARTED, /* .stage */
        EPISODE_EVENT_STAGE_OK,      /* .stage */
        EPISODE_EVENT_STAGE_FAILED,  /* .permanent, .error */
        EPISODE_EVENT_OOM,           /* .at_job_max: the limit was already memory.job_max */
        EPISODE_EVENT_TIMEOUT,
        EPISODE_EVENT_CANCELLED,   /* the runner stopped a running stage on its own */
        EPISODE_EVENT_INTERRUPTED, /* the daemon died while the stage ran */
        EPISODE_EVENT_RETRY_DUE,
        EPISODE_EVENT_USER_RETRY, /* .force also restarts a done episode */
        EPISODE_EVENT_USER_CANCEL,
        EPISODE_EVENT_USER_RELEASE,
        _EPISODE_EVENT_MAX,
} EpisodeEventType;

typedef struct EpisodeEvent {
        EpisodeEventType type;
        EpisodeStage stage;
        bool permanent;
        bool at_job_max;
        bool force;
        const char *error; /* why a stage failed; may be NULL */
        usec_t now;        /* CLOCK_REALTIME */
        double jitter;     /* uniform in [0, 1), drawn by the caller; spreads retries apart */
} EpisodeEvent;

/* The part of an episode the state machine reads and writes. */
typedef struct EpisodeStatus {
        EpisodeState state;
        unsigned attempts;         /* failed attempts (errors, timeouts, OOMs) since the last reset */
        unsigned interruptions;    /* daemon deaths while running, counted without penalty */
        unsigned oom_count;        /* OOM kills: each gives the next attempt a larger limit */
        unsigned oom_at_max_count; /* OOM kills while the limit was already memory.job_max */
        usec_t next_at;            /* CLOCK_REALTIME; set in retry_wait only, else 0 */
} EpisodeStatus;

#define STATE_REASON_MAX 512

const char *state_to_string(EpisodeState s);
/* Returns the state, or _EPISODE_STATE_INVALID for an unknown name. */
EpisodeState state_from_string(const char *s);
const char *state_stage_to_string(EpisodeStage s);
EpisodeStage state_stage_from_string(const char *s);
const char *state_result_to_string(RunResult r);
RunResult state_result_from_string(const char *s);
const char *state_event_to_string(EpisodeEventType t);

/* The state an episode is in while stage s runs (fetching, transcribing). */
EpisodeState state_running(EpisodeStage s);
/* True for fetching and transcribing: a stage process may exist. */
bool state_is_running(EpisodeState s);

/* Delay before retry number `failures` (1 for the first failure): backoff_min doubled per
 * failure, capped at backoff_max, plus up to half of that again from jitter (0 ≤ jitter < 1)
 * and capped at backoff_max again. Saturates instead of overflowing. */
usec_t state_backoff_usec(usec_t backoff_min, usec_t backoff_max, unsigned failures, double jitter);

/* Applies ev to cur under the policy's [retry] limits. On success returns 0, stores the new
 * status in *ret and a one-line reason for it in reason (empty when there is nothing to say, e.g.
 * on success). An event that is not allowed in the current state returns -EINVAL, leaves *ret
 * untouched and says why in reason. ret may be cur. p may be NULL for events that do not consult
 * [retry] (all but stage failed, OOM, timeout, interrupted). */
int state_apply(const EpisodeStatus *cur, const EpisodeEvent *ev, const Policy *p, EpisodeStatus *ret,
        char *reason, size_t reason_size);
