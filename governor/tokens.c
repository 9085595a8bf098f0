/* SPDX-License-Identifier: MIT */
#include <math.h>

#include "common/macro.h"
#include "governor/tokens.h"

#define GOV_PAGE_BYTES ((uint64_t)4096)

static const char *const reason_table[_GOV_REASON_MAX] = {
        [GOV_REASON_NONE] = "open",
        [GOV_REASON_INVALID] = "invalid request",
        [GOV_REASON_STARTUP_DELAY] = "startup delay",
        [GOV_REASON_PRESSURE_TRIGGER] = "pressure: trigger cooldown",
        [GOV_REASON_PRESSURE_FULL] = "pressure: full avg10",
        [GOV_REASON_PRESSURE_SOME] = "pressure: some avg10",
        [GOV_REASON_BUDGET_TOO_SMALL] = "budget: estimate too large",
        [GOV_REASON_CLASS_CAP] = "class cap",
        [GOV_REASON_WINDOW] = "window",
        [GOV_REASON_BUDGET_RESERVATIONS] = "budget: reservations",
        [GOV_REASON_BUDGET_USAGE] = "budget: usage",
};

const char *gov_reason_to_string(GovReason r)
{
        if (r < 0 || r >= _GOV_REASON_MAX)
                return NULL;
        return reason_table[r];
}

static bool class_valid(JobClass c)
{
        return (unsigned)c < _JOB_CLASS_MAX;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t sub_floor(uint64_t a, uint64_t b)
{
        return a > b ? a - b : 0;
}

/* Time since an earlier point; 0 if the clock reads earlier than it (never negative). */
static usec_t elapsed(usec_t now, usec_t since)
{
        return sub_floor(now, since);
}

uint64_t gov_hard_usage(uint64_t current_bytes, const MemStat *stat)
{
        uint64_t reclaimable;

        if (!stat)
                return current_bytes;
        reclaimable = add_sat(stat->inactive_file, stat->active_file);
        reclaimable = sub_floor(reclaimable, stat->file_dirty);
        reclaimable = sub_floor(reclaimable, stat->file_writeback);
        reclaimable = sub_floor(reclaimable, stat->file_mapped);
        return current_bytes - MIN(reclaimable, current_bytes);
}

unsigned gov_window_ceiling(const Policy *p)
{
        uint64_t sum = 0;

        for (JobClass c = 0; c < _JOB_CLASS_MAX; c++)
                sum += p->classes[c].max_concurrent;
        return (unsigned)CLAMP(sum, 1, (uint64_t)UINT32_MAX);
}

/* "At or above the threshold", where a 0% threshold means any non-zero average. */
static bool avg_over(unsigned avg, unsigned max)
{
        return avg > 0 && avg >= max;
}

/* Low enough to reopen: below half the threshold (hysteresis), or no pressure at all. */
static bool avg_calm(unsigned avg, unsigned max)
{
        return avg == 0 || avg < max / 2;
}

/* The pressure event this sample shows, if any: the trigger is the sharpest signal, then the
 * averages, full (all tasks stalled) before some. */
static GovReason event_cause(const Policy *p, const GovReadings *r)
{
        if (r->trigger_fired)
                return GOV_REASON_PRESSURE_TRIGGER;
        if (avg_over(r->full_avg10_permyriad, p->pressure.full_avg10_max_permyriad))
                return GOV_REASON_PRESSURE_FULL;
        if (avg_over(r->some_avg10_permyriad, p->pressure.some_avg10_max_permyriad))
                return GOV_REASON_PRESSURE_SOME;
        return GOV_REASON_NONE;
}

static bool readings_calm(const Policy *p, const GovReadings *r)
{
        return avg_calm(r->some_avg10_permyriad, p->pressure.some_avg10_max_permyriad) &&
                avg_calm(r->full_avg10_permyriad, p->pressure.full_avg10_max_permyriad);
}

static bool cooled_down(const GovState *s, const Policy *p, usec_t now)
{
        return s->last_pressure_usec == USEC_INFINITY ||
                elapsed(now, s->last_pressure_usec) >= p->pressure.cooldown_usec;
}

static usec_t startup_end(const GovState *s, const Policy *p)
{
        return add_sat(s->started_usec, p->pressure.startup_delay_usec);
}

void gov_state_init(GovState *s, const Policy *p, usec_t now)
{
        *s = (GovState){
                .started_usec = now,
                .last_pressure_usec = USEC_INFINITY,
                .last_decrease_usec = USEC_INFINITY,
                .window = p->pressure.slow_start ? 1 : gov_window_ceiling(p),
                .pressure_open = true,
                .pressure_cause = GOV_REASON_NONE,
        };
        /* Growth credit starts when admission does, not at boot. */
        s->last_window_step_usec = startup_end(s, p);
}

void gov_state_update(GovState *s, const Policy *p, const GovReadings *r)
{
        usec_t now = r->now_usec, interval = p->pressure.sample_interval_usec;
        usec_t growth_start = startup_end(s, p);
        unsigned ceiling = gov_window_ceiling(p);
        GovReason cause = event_cause(p, r);

        /* A reloaded policy may have lowered the caps. */
        s->window = CLAMP(s->window, 1U, ceiling);

        if (cause != GOV_REASON_NONE) {
                s->last_pressure_usec = now;
                s->pressure_cause = cause;
                s->pressure_open = false;
                if (s->last_decrease_usec == USEC_INFINITY ||
                        elapsed(now, s->last_decrease_usec) >= interval) {
                        s->window = MAX(s->window / 2, 1U);
                        s->last_decrease_usec = now;
                }
        } else if (!s->pressure_open && cooled_down(s, p, now) && readings_calm(p, r)) {
                s->pressure_open = true;
                /* The first step comes one full calm interval after reopening. */
                s->last_window_step_usec = MAX(now, growth_start);
                return;
        }

        if (!s->pressure_open || now < growth_start) {
                s->last_window_step_usec = MAX(now, growth_start);
                return;
        }
        if (elapsed(now, s->last_window_step_usec) >= interval && now > s->last_window_step_usec) {
                if (s->window < ceiling)
                        s->window++;
                s->last_window_step_usec = now;
        }
}

GovReason gov_pressure_reason(const GovState *s, const Policy *p, const GovReadings *r)
{
        GovReason cause = event_cause(p, r);

        if (s->pressure_open && cause == GOV_REASON_NONE)
                return GOV_REASON_NONE;
        /* Name what holds the gate now: an average that is still too high, else the cause of
         * the event whose cool-down runs. */
        if (!avg_calm(r->full_avg10_permyriad, p->pressure.full_avg10_max_permyriad))
                return GOV_REASON_PRESSURE_FULL;
        if (!avg_calm(r->some_avg10_permyriad, p->pressure.some_avg10_max_permyriad))
                return GOV_REASON_PRESSURE_SOME;
        if (cause != GOV_REASON_NONE)
                return cause;
        return s->pressure_cause != GOV_REASON_NONE ? s->pressure_cause : GOV_REASON_PRESSURE_TRIGGER;
}

typedef struct RunningSum {
        unsigned per_class[_JOB_CLASS_MAX];
        unsigned total;
        uint64_t reserved_bytes;
} RunningSum;

static void running_sum(const GovRunning *running, size_t n, RunningSum *ret)
{
        *ret = (RunningSum){};
        for (size_t i = 0; running && i < n; i++) {
                /* A stage of an unknown class still holds memory and a window slot. */
                if (class_valid(running[i].cls))
                        ret->per_class[running[i].cls]++;
                if (ret->total < UINT32_MAX)
                        ret->total++;
                ret->reserved_bytes = add_sat(
                        ret->reserved_bytes, MAX(running[i].estimate_bytes, running[i].observed_bytes));
        }
}

static uint64_t usable_bytes(const Policy *p, const GovReadings *r)
{
        return sub_floor(r->budget_bytes, p->memory.headroom_bytes);
}

/* The heart of it: how many stages of class c with estimate e could start now, and which
 * constraint decided the count. Gates (startup, pressure, a stage that can never fit) give 0
 * directly; the counted constraints give their own count and the smallest wins, ties going to
 * the one listed first. */
static unsigned class_tokens(const GovState *s, const Policy *p, const GovReadings *r, const RunningSum *sum,
        JobClass c, uint64_t e, GovReason *ret_limited_by)
{
        uint64_t usable = usable_bytes(p, r), best = UINT64_MAX;
        GovReason pressure, limited_by = GOV_REASON_NONE;
        unsigned cap;

        if (!class_valid(c) || e == 0) {
                *ret_limited_by = GOV_REASON_INVALID;
                return 0;
        }
        if (r->now_usec < startup_end(s, p)) {
                *ret_limited_by = GOV_REASON_STARTUP_DELAY;
                return 0;
        }
        pressure = gov_pressure_reason(s, p, r);
        if (pressure != GOV_REASON_NONE) {
                *ret_limited_by = pressure;
                return 0;
        }
        if (e > usable) {
                *ret_limited_by = GOV_REASON_BUDGET_TOO_SMALL;
                return 0;
        }

        cap = p->classes[c].max_concurrent;
        const struct {
                GovReason reason;
                uint64_t n;
        } limits[] = {
                { GOV_REASON_CLASS_CAP, sub_floor(cap, sum->per_class[c]) },
                { GOV_REASON_WINDOW, sub_floor(s->window, sum->total) },
                { GOV_REASON_BUDGET_RESERVATIONS, sub_floor(usable, sum->reserved_bytes) / e },
                { GOV_REASON_BUDGET_USAGE, sub_floor(usable, r->hard_usage_bytes) / e },
        };
        FOREACH_ARRAY (l, limits, ELEMENTSOF(limits))
                if (l->n < best) {
                        best = l->n;
                        limited_by = l->reason;
                }
        *ret_limited_by = limited_by;
        return (unsigned)MIN(best, (uint64_t)UINT32_MAX);
}

bool gov_admit(const GovState *s, const Policy *p, const GovReadings *r, const GovRunning *running,
        size_t n_running, JobClass c, uint64_t estimate_bytes, GovReason *ret_reason)
{
        GovReason limited_by;
        RunningSum sum;
        unsigned n;

        running_sum(running, n_running, &sum);
        n = class_tokens(s, p, r, &sum, c, estimate_bytes, &limited_by);
        if (ret_reason)
                *ret_reason = n > 0 ? GOV_REASON_NONE : limited_by;
        return n > 0;
}

bool gov_leaves_room(const Policy *p, const GovReadings *r, const GovRunning *running, size_t n_running,
        uint64_t head_bytes, uint64_t estimate_bytes)
{
        uint64_t smaller = 0;

        for (size_t i = 0; running && i < n_running; i++) {
                uint64_t held = MAX(running[i].estimate_bytes, running[i].observed_bytes);
                if (held < head_bytes)
                        smaller = add_sat(smaller, held);
        }
        return add_sat(add_sat(smaller, estimate_bytes), head_bytes) <= usable_bytes(p, r);
}

int gov_tokens(const GovState *s, const Policy *p, const GovReadings *r, const GovRunning *running,
        size_t n_running, const uint64_t estimates[_JOB_CLASS_MAX], GovTokens *ret)
{
        RunningSum sum;

        if (!s || !p || !r || !ret || (n_running > 0 && !running))
                return -EINVAL;

        running_sum(running, n_running, &sum);
        *ret = (GovTokens){
                .usable_bytes = usable_bytes(p, r),
                .reserved_bytes = sum.reserved_bytes,
                .hard_usage_bytes = r->hard_usage_bytes,
                .running_total = sum.total,
                .window = s->window,
                .window_ceiling = gov_window_ceiling(p),
                .pressure = gov_pressure_reason(s, p, r),
        };
        if (s->last_pressure_usec != USEC_INFINITY)
                ret->cooldown_left_usec =
                        sub_floor(add_sat(s->last_pressure_usec, p->pressure.cooldown_usec), r->now_usec);

        for (JobClass c = 0; c < _JOB_CLASS_MAX; c++) {
                GovClassTokens *t = &ret->classes[c];

                t->estimate_bytes = estimates ? estimates[c] : p->classes[c].estimate_bytes;
                t->running = sum.per_class[c];
                t->cap = p->classes[c].max_concurrent;
                t->tokens = class_tokens(s, p, r, &sum, c, t->estimate_bytes, &t->limited_by);
                t->reason = t->tokens > 0 ? GOV_REASON_NONE : t->limited_by;
        }
        return 0;
}

static uint64_t page_up(uint64_t x)
{
        if (x > UINT64_MAX - (GOV_PAGE_BYTES - 1))
                return UINT64_MAX & ~(GOV_PAGE_BYTES - 1);
        return (x + GOV_PAGE_BYTES - 1) & ~(GOV_PAGE_BYTES - 1);
}

/* job_max rounded down to a page (at least one page): the largest limit a stage gets. */
static uint64_t limit_ceiling(const Policy *p)
{
        return MAX(p->memory.job_max_bytes & ~(GOV_PAGE_BYTES - 1), GOV_PAGE_BYTES);
}

/* The limit the model alone gives: estimate × margin × escalation^oom_count, clamped. */
static uint64_t model_limit(const Policy *p, uint64_t estimate_bytes, unsigned oom_count)
{
        uint64_t hi = limit_ceiling(p), lo = MIN(page_up(p->memory.job_min_bytes), hi);
        double x;

        /* In doubles, so that no intermediate product can wrap: anything that reaches job_max
         * (or is inf/NaN from a broken policy) is job_max, and only a value known to be below
         * it is converted back to an integer. */
        x = (double)estimate_bytes * p->memory.margin;
        if (oom_count > 0)
                x *= pow(p->memory.escalation, (double)oom_count);
        if (!(x < (double)hi))
                return hi;
        if (!(x > (double)lo))
                return lo;
        return CLAMP(page_up((uint64_t)ceil(x)), lo, hi);
}

uint64_t gov_escalated_limit(const Policy *p, uint64_t last_limit_bytes)
{
        uint64_t hi = limit_ceiling(p);
        double x = (double)last_limit_bytes * p->memory.escalation;

        if (!(x < (double)hi))
                return hi;
        return MIN(page_up((uint64_t)ceil(x)), hi);
}

uint64_t gov_stage_limit(
        const Policy *p, uint64_t estimate_bytes, unsigned oom_count, uint64_t last_limit_bytes)
{
        uint64_t v = model_limit(p, estimate_bytes, oom_count);

        if (oom_count > 0 && last_limit_bytes > 0)
                v = MAX(v, gov_escalated_limit(p, last_limit_bytes));
        return v;
}

uint64_t gov_stage_reservation(
        const Policy *p, uint64_t estimate_bytes, unsigned oom_count, uint64_t last_limit_bytes)
{
        uint64_t need = estimate_bytes;

        if (oom_count > 0)
                need = MAX(need, MAX(model_limit(p, estimate_bytes, oom_count - 1), last_limit_bytes));
        return MIN(need, gov_stage_limit(p, estimate_bytes, oom_count, last_limit_bytes));
}

bool gov_limit_at_job_max(const Policy *p, uint64_t limit_bytes)
{
        return limit_bytes >= limit_ceiling(p);
}

bool gov_should_hold(const Policy *p, unsigned n_oom_at_job_max)
{
        return n_oom_at_job_max >= MAX(p->retry.max_oom_at_job_max, 1U);
}
