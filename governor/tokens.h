/* SPDX-License-Identifier: MIT */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/time-util.h"
#include "governor/memstat.h"
#include "policies/policy.h"

/* Admission-token arithmetic (DESIGN.md "Governor: admission tokens"). Everything here is pure: no
 * I/O, no clock reads, no allocation. Time comes in as GovReadings.now_usec (CLOCK_MONOTONIC).
 *
 * The governor loop, on every sample (timer or PSI trigger):
 *   1. fills GovReadings (hard usage via gov_hard_usage() in cgroup mode),
 *   2. calls gov_state_update() once with them (pressure detection, AIMD window),
 *   3. asks gov_admit() for each queued stage, or gov_tokens() for all classes (status, probe).
 *
 * A stage of class c with estimate E is admitted only if, in this order of reporting:
 *   - the startup delay has elapsed;
 *   - the pressure state is open: no pressure event within the cool-down, and no PSI avg10 at
 *     or above its threshold (see "pressure" below);
 *   - E fits the budget at all: E <= B - headroom;
 *   - running(c) < cap(c);
 *   - running(all) < window (AIMD);
 *   - Σ reservations + E <= B - headroom, where a running stage reserves max(estimate, observed);
 *   - U + E <= B - headroom, where U is hard (non-reclaimable) usage.
 *
 * Pressure: an event is a PSI trigger firing, or some/full avg10 at or above its policy threshold
 * (a threshold of 0% closes on any non-zero average). An event closes admission at once. It
 * reopens only when both (a) the cool-down has passed since the last event and (b) both avg10
 * values are below half their thresholds (or zero). The half-threshold hysteresis keeps an
 * average hovering around the threshold from flapping admission open and closed on every sample;
 * PSI averages are recomputed only every 2 s, so the gap also absorbs their staleness.
 *
 * Window (AIMD): it starts at 1 after the startup delay when slow_start is set (else at its
 * ceiling, Σ class caps) and grows by 1 per calm sample: a sample taken while admission is open
 * at least sample_interval after the previous step. Samples that come sooner (PSI triggers, ad-hoc
 * status reads) do not add steps, and no growth credit accrues while admission is closed, so a
 * long stall cannot turn into a burst. Each pressure event halves the window (never below 1), at
 * most once per sample_interval so that one trigger and the sample it provokes count once;
 * sustained pressure therefore walks the window down to 1. slow_start = no only sets the initial
 * value: halving and regrowth still apply. */

typedef enum GovReason {
        GOV_REASON_NONE,                /* admitted, or the class is open */
        GOV_REASON_INVALID,             /* bad request: unknown class, zero estimate */
        GOV_REASON_STARTUP_DELAY,       /* pressure.startup_delay has not elapsed */
        GOV_REASON_PRESSURE_TRIGGER,    /* a PSI trigger fired, cool-down running */
        GOV_REASON_PRESSURE_FULL,       /* full avg10 high, or cool-down after it was */
        GOV_REASON_PRESSURE_SOME,       /* some avg10 high, or cool-down after it was */
        GOV_REASON_BUDGET_TOO_SMALL,    /* E > B - headroom: never fits, even alone */
        GOV_REASON_CLASS_CAP,           /* running(c) reached max_concurrent */
        GOV_REASON_WINDOW,              /* running(all) reached the AIMD window */
        GOV_REASON_BUDGET_RESERVATIONS, /* Σ reservations + E > B - headroom */
        GOV_REASON_BUDGET_USAGE,        /* U + E > B - headroom */
        _GOV_REASON_MAX,
        _GOV_REASON_INVALID = -EINVAL,
} GovReason;

/* Short, stable strings for `memgov probe --watch` and status: "budget: usage", "window", …
 * "open" for GOV_REASON_NONE; NULL for values out of range. */
const char *gov_reason_to_string(GovReason r);

typedef struct GovReadings {
        uint64_t budget_bytes;     /* B: the budget in effect (policy, or auto-resolved) */
        uint64_t current_bytes;    /* memory.current (or RSS sum), for display */
        uint64_t hard_usage_bytes; /* U: see gov_hard_usage() */
        unsigned some_avg10_permyriad;
        unsigned full_avg10_permyriad;
        bool trigger_fired; /* a PSI trigger fired since the previous sample */
        usec_t now_usec;    /* CLOCK_MONOTONIC */
} GovReadings;

typedef struct GovRunning {
        JobClass cls;
        uint64_t estimate_bytes; /* what it was admitted with */
        uint64_t observed_bytes; /* its cgroup's memory.current (or RSS) now */
} GovRunning;

typedef struct GovState {
        usec_t started_usec;
        usec_t last_pressure_usec;    /* last pressure event, USEC_INFINITY = never */
        usec_t last_decrease_usec;    /* last halving of the window, USEC_INFINITY = never */
        usec_t last_window_step_usec; /* last additive step (or the time growth may start) */
        unsigned window;
        bool pressure_open;
        GovReason pressure_cause; /* cause of the last pressure event, GOV_REASON_PRESSURE_* */
} GovState;

/* Hard usage U = memory.current - reclaimable file cache, where
 *   reclaimable = inactive_file + active_file - file_dirty - file_writeback - file_mapped
 * (each step floored at 0, and never more than current).
 * - Only the file LRUs count: shmem/tmpfs sit on the anon LRUs and cannot be reclaimed without
 *   swap, so they stay in U, as do anon and kernel memory.
 * - Dirty and writeback pages need I/O before they can be dropped, so they are not free now.
 * - Mapped file pages are the working set of running stages (executables, an mmap'd speech
 *   model): reclaim can take them but they come straight back as refaults, so counting them as
 *   free would admit a stage into thrashing. Mapped pages that are also dirty are subtracted
 *   twice, which only errs on the safe side.
 * memory.stat lags memory.current by up to ~2 s (rstat flushing), hence the clamp to current. */
uint64_t gov_hard_usage(uint64_t current_bytes, const MemStat *stat);

/* The window's ceiling: Σ classes[].max_concurrent, at least 1. */
unsigned gov_window_ceiling(const Policy *p);

/* now is the start of the governor (CLOCK_MONOTONIC). */
void gov_state_init(GovState *s, const Policy *p, usec_t now);

/* Applies one sample: pressure detection with cool-down and hysteresis, then the AIMD window.
 * Call exactly once per sample, before gov_admit()/gov_tokens() for that sample. */
void gov_state_update(GovState *s, const Policy *p, const GovReadings *r);

/* Why the pressure gate is closed right now (GOV_REASON_NONE when open). Also closed when r
 * itself shows an event that gov_state_update() has not seen yet. */
GovReason gov_pressure_reason(const GovState *s, const Policy *p, const GovReadings *r);

/* Whether a stage of class c with the given estimate may start now. ret_reason (optional) gets
 * GOV_REASON_NONE when admitted, else the first failing condition in the order listed above. */
bool gov_admit(const GovState *s, const Policy *p, const GovReadings *r, const GovRunning *running,
        size_t n_running, JobClass c, uint64_t estimate_bytes, GovReason *ret_reason);

/* Whether a stage with estimate_bytes may start ahead of a larger waiting one (head_bytes) without
 * delaying it: the running stages smaller than the head (larger ones end, and make room, on their
 * own terms), this stage and the head must fit the usable budget together. Without this rule a
 * stream of medium stages, each fitting beside the others, would keep a large one waiting until
 * nothing else is left, and the large ones would then run alone at the end of a batch. Pure. */
bool gov_leaves_room(const Policy *p, const GovReadings *r, const GovRunning *running, size_t n_running,
        uint64_t head_bytes, uint64_t estimate_bytes);

typedef struct GovClassTokens {
        unsigned tokens;         /* stages of this class that could start now, each with estimate */
        GovReason reason;        /* why tokens == 0; GOV_REASON_NONE when tokens > 0 */
        GovReason limited_by;    /* the constraint that gave the count (== reason when closed) */
        uint64_t estimate_bytes; /* the estimate the count assumes */
        unsigned running;
        unsigned cap;
} GovClassTokens;

typedef struct GovTokens {
        GovClassTokens classes[_JOB_CLASS_MAX];
        uint64_t usable_bytes;   /* B - headroom */
        uint64_t reserved_bytes; /* Σ max(estimate, observed) of running stages */
        uint64_t hard_usage_bytes;
        unsigned running_total;
        unsigned window;
        unsigned window_ceiling;
        GovReason pressure; /* GOV_REASON_NONE when open */
        usec_t cooldown_left_usec;
} GovTokens;

/* Fills ret with the decision for every class at once. "Tokens" are how many more stages of
 * the class could start now with its estimate, considering each constraint alone (the minimum
 * over them); they are not additive across classes, since classes share budget and window.
 * estimates[c] is the current estimate per class; NULL uses the policy seeds
 * (classes[c].estimate_bytes). Returns 0, or -EINVAL for a NULL argument. */
int gov_tokens(const GovState *s, const Policy *p, const GovReadings *r, const GovRunning *running,
        size_t n_running, const uint64_t estimates[_JOB_CLASS_MAX], GovTokens *ret);

/* The least limit the next attempt gets after an OOM kill at last_limit_bytes: last × escalation,
 * rounded up to a page, at most job_max. */
uint64_t gov_escalated_limit(const Policy *p, uint64_t last_limit_bytes);

/* The memory.max of a stage attempt: clamp(estimate × margin × escalation^oom_count, job_min,
 * job_max), rounded up to a 4 KiB page (job_max rounded down, job_min up, so the result is
 * always page-aligned and never above job_max). Overflow and non-finite products give job_max.
 * After an OOM kill (oom_count > 0) it is also at least gov_escalated_limit(last_limit_bytes),
 * the episode's last limit (0 = unknown): the estimate may have fallen since that attempt (other
 * episodes taught the estimator that stages need less), and a limit proven too small must not
 * come back. */
uint64_t gov_stage_limit(
        const Policy *p, uint64_t estimate_bytes, unsigned oom_count, uint64_t last_limit_bytes);

/* What to reserve at admission for that attempt. The first attempt reserves its estimate. A retry
 * after oom_count OOM kills needed more than the previous attempt's limit (last_limit_bytes, and
 * at least what the model gives for that attempt), so it reserves that limit. Both are capped at
 * the attempt's own limit: a stage can never hold more than that. */
uint64_t gov_stage_reservation(
        const Policy *p, uint64_t estimate_bytes, unsigned oom_count, uint64_t last_limit_bytes);

/* Whether an attempt that ran with limit_bytes had no escalation left, i.e. its limit was job_max:
 * an OOM kill of such an attempt counts towards holding the episode. */
bool gov_limit_at_job_max(const Policy *p, uint64_t limit_bytes);

/* Whether an episode whose stage was OOM-killed at job_max n_oom_at_job_max times (counting the
 * latest) is held: at retry.max_oom_at_job_max such kills. */
bool gov_should_hold(const Policy *p, unsigned n_oom_at_job_max);
