/* SPDX-License-Identifier: MIT */
#include <math.h>

#include "common/macro.h"
#include "governor/tokens.h"
#include "tests/tap.h"

#define MB  (UINT64_C(1) << 20)
#define GB  (UINT64_C(1) << 30)
#define SEC USEC_PER_SEC
#define MS  USEC_PER_MSEC

#define DL(e, o)                                   \
        {                                          \
                JOB_CLASS_DOWNLOAD, (e)*MB, (o)*MB \
        }
#define TR(e, o)                                     \
        {                                            \
                JOB_CLASS_TRANSCRIBE, (e)*MB, (o)*MB \
        }
#define API(e, o)                             \
        {                                     \
                JOB_CLASS_API, (e)*MB, (o)*MB \
        }

static void policy_donep(Policy *p)
{
        policy_done(p);
}
#define _cleanup_policy_ _cleanup_(policy_donep)

/* The defaults (headroom 128M; caps download 1, transcribe 2, api 2; cool-down 30s; sample
 * interval 1s; some 10%, full 2%), with slow start off so the window starts at its ceiling of 5. */
static int steady_policy(Policy *p)
{
        int r = policy_init_defaults(p);
        if (r < 0)
                return r;
        p->pressure.slow_start = false;
        return 0;
}

TEST(reason_strings)
{
        /* Operators read these in `memgov probe --watch`: fixed, short and distinct. */
        static const struct {
                GovReason r;
                const char *s;
        } cases[] = {
                { GOV_REASON_NONE, "open" },
                { GOV_REASON_INVALID, "invalid request" },
                { GOV_REASON_STARTUP_DELAY, "startup delay" },
                { GOV_REASON_PRESSURE_TRIGGER, "pressure: trigger cooldown" },
                { GOV_REASON_PRESSURE_FULL, "pressure: full avg10" },
                { GOV_REASON_PRESSURE_SOME, "pressure: some avg10" },
                { GOV_REASON_BUDGET_TOO_SMALL, "budget: estimate too large" },
                { GOV_REASON_CLASS_CAP, "class cap" },
                { GOV_REASON_WINDOW, "window" },
                { GOV_REASON_BUDGET_RESERVATIONS, "budget: reservations" },
                { GOV_REASON_BUDGET_USAGE, "budget: usage" },
        };

        ASSERT_INT(ELEMENTSOF(cases), ==, _GOV_REASON_MAX);
        FOREACH_ARRAY (c, cases, ELEMENTSOF(cases)) {
                ASSERT_STR(gov_reason_to_string(c->r), c->s);
                ASSERT_TRUE(strlen(c->s) <= 30);
                for (GovReason o = 0; o < _GOV_REASON_MAX; o++)
                        if (o != c->r)
                                ASSERT_TRUE(!streq(gov_reason_to_string(o), c->s));
        }
        ASSERT_TRUE(!gov_reason_to_string(_GOV_REASON_MAX));
        ASSERT_TRUE(!gov_reason_to_string(_GOV_REASON_INVALID));
        ASSERT_TRUE(!gov_reason_to_string((GovReason)1000));
        return 0;
}

TEST(hard_usage)
{
        static const struct {
                const char *name;
                uint64_t current;
                MemStat st;
                uint64_t expect;
        } cases[] = {
                { "no file cache", 100 * MB, {}, 100 * MB },
                { "clean cache is free", 500 * MB, { .inactive_file = 200 * MB, .active_file = 100 * MB },
                        200 * MB },
                { "dirty cache is not free", 500 * MB,
                        { .inactive_file = 200 * MB, .active_file = 100 * MB, .file_dirty = 50 * MB },
                        250 * MB },
                { "writeback and mapped are not free", 500 * MB,
                        { .inactive_file = 200 * MB,
                                .active_file = 100 * MB,
                                .file_dirty = 50 * MB,
                                .file_writeback = 20 * MB,
                                .file_mapped = 30 * MB },
                        300 * MB },
                { "only anon and shmem", 300 * MB, { .file_mapped = 10 * MB }, 300 * MB },
                { "stat lags current: clamp at 0", 500 * MB, { .inactive_file = 600 * MB }, 0 },
                { "dirty above the file LRUs", 400 * MB, { .inactive_file = 10 * MB, .file_dirty = 50 * MB },
                        400 * MB },
                { "saturating sums", 1 * GB, { .inactive_file = UINT64_MAX, .active_file = UINT64_MAX }, 0 },
                { "huge current", UINT64_MAX, { .inactive_file = 1 * GB }, UINT64_MAX - 1 * GB },
                { "empty cgroup", 0, { .active_file = 1 * MB }, 0 },
        };

        FOREACH_ARRAY (c, cases, ELEMENTSOF(cases)) {
                uint64_t u = gov_hard_usage(c->current, &c->st);
                if (u != c->expect) {
                        printf("# %s: %" PRIu64 " != %" PRIu64 "\n", c->name, u, c->expect);
                        return -1;
                }
        }
        ASSERT_U64(gov_hard_usage(123, NULL), 123);
        return 0;
}

typedef struct AdmitCase {
        const char *name;
        JobClass cls;
        uint64_t estimate; /* bytes */
        uint64_t budget_mb;
        uint64_t usage;  /* bytes */
        unsigned window; /* 0 = the ceiling (5) */
        GovRunning running[4];
        size_t n_running;
        bool admit;
        GovReason reason;     /* gov_admit() */
        unsigned tokens;      /* gov_tokens() for cls with this estimate */
        GovReason limited_by; /* gov_tokens() */
} AdmitCase;

static const AdmitCase admit_cases[] = {
        { "empty host: transcribe", JOB_CLASS_TRANSCRIBE, 512 * MB, 2048, 0, 0, {}, 0, true, GOV_REASON_NONE,
                2, GOV_REASON_CLASS_CAP },
        { "empty host: download", JOB_CLASS_DOWNLOAD, 64 * MB, 2048, 0, 0, {}, 0, true, GOV_REASON_NONE, 1,
                GOV_REASON_CLASS_CAP },
        { "empty host: api", JOB_CLASS_API, 32 * MB, 2048, 0, 0, {}, 0, true, GOV_REASON_NONE, 2,
                GOV_REASON_CLASS_CAP },
        { "one transcribe running", JOB_CLASS_TRANSCRIBE, 512 * MB, 2048, 100 * MB, 0, { TR(512, 100) }, 1,
                true, GOV_REASON_NONE, 1, GOV_REASON_CLASS_CAP },
        { "transcribe at its cap", JOB_CLASS_TRANSCRIBE, 512 * MB, 2048, 200 * MB, 0,
                { TR(512, 100), TR(512, 100) }, 2, false, GOV_REASON_CLASS_CAP, 0, GOV_REASON_CLASS_CAP },
        { "caps are per class", JOB_CLASS_DOWNLOAD, 64 * MB, 2048, 200 * MB, 0,
                { TR(512, 100), TR(512, 100) }, 2, true, GOV_REASON_NONE, 1, GOV_REASON_CLASS_CAP },
        { "download at its cap", JOB_CLASS_DOWNLOAD, 64 * MB, 2048, 10 * MB, 0, { DL(64, 10) }, 1, false,
                GOV_REASON_CLASS_CAP, 0, GOV_REASON_CLASS_CAP },
        { "reservations exhausted", JOB_CLASS_TRANSCRIBE, 512 * MB, 1024, 100 * MB, 0, { TR(512, 100) }, 1,
                false, GOV_REASON_BUDGET_RESERVATIONS, 0, GOV_REASON_BUDGET_RESERVATIONS },
        { "usage exhausted", JOB_CLASS_TRANSCRIBE, 512 * MB, 1024, 500 * MB, 0, {}, 0, false,
                GOV_REASON_BUDGET_USAGE, 0, GOV_REASON_BUDGET_USAGE },
        { "observed above estimate is reserved", JOB_CLASS_TRANSCRIBE, 512 * MB, 1536, 300 * MB, 0,
                { TR(256, 1000) }, 1, false, GOV_REASON_BUDGET_RESERVATIONS, 0,
                GOV_REASON_BUDGET_RESERVATIONS },
        { "estimate above observed is reserved", JOB_CLASS_TRANSCRIBE, 512 * MB, 1536, 256 * MB, 0,
                { TR(1000, 256) }, 1, false, GOV_REASON_BUDGET_RESERVATIONS, 0,
                GOV_REASON_BUDGET_RESERVATIONS },
        { "exact fit by reservations", JOB_CLASS_TRANSCRIBE, 512 * MB, 1024, 10 * MB, 0, { DL(384, 10) }, 1,
                true, GOV_REASON_NONE, 1, GOV_REASON_BUDGET_RESERVATIONS },
        { "a page over by reservations", JOB_CLASS_TRANSCRIBE, 512 * MB + 4096, 1024, 10 * MB, 0,
                { DL(384, 10) }, 1, false, GOV_REASON_BUDGET_RESERVATIONS, 0,
                GOV_REASON_BUDGET_RESERVATIONS },
        { "exact fit by usage", JOB_CLASS_TRANSCRIBE, 512 * MB, 1024, 384 * MB, 0, {}, 0, true,
                GOV_REASON_NONE, 1, GOV_REASON_BUDGET_RESERVATIONS },
        { "a byte over by usage", JOB_CLASS_TRANSCRIBE, 512 * MB, 1024, 384 * MB + 1, 0, {}, 0, false,
                GOV_REASON_BUDGET_USAGE, 0, GOV_REASON_BUDGET_USAGE },
        { "usage above the budget", JOB_CLASS_DOWNLOAD, 64 * MB, 1024, 2000 * MB, 0, {}, 0, false,
                GOV_REASON_BUDGET_USAGE, 0, GOV_REASON_BUDGET_USAGE },
        { "estimate larger than budget - headroom", JOB_CLASS_TRANSCRIBE, 1024 * MB, 1024, 0, 0, {}, 0,
                false, GOV_REASON_BUDGET_TOO_SMALL, 0, GOV_REASON_BUDGET_TOO_SMALL },
        { "too large even on an idle host, before the cap", JOB_CLASS_TRANSCRIBE, 1024 * MB, 1024, 0, 0,
                { TR(10, 10), TR(10, 10) }, 2, false, GOV_REASON_BUDGET_TOO_SMALL, 0,
                GOV_REASON_BUDGET_TOO_SMALL },
        { "budget below headroom", JOB_CLASS_DOWNLOAD, 64 * MB, 100, 0, 0, {}, 0, false,
                GOV_REASON_BUDGET_TOO_SMALL, 0, GOV_REASON_BUDGET_TOO_SMALL },
        { "budget unknown (0)", JOB_CLASS_API, 32 * MB, 0, 0, 0, {}, 0, false, GOV_REASON_BUDGET_TOO_SMALL,
                0, GOV_REASON_BUDGET_TOO_SMALL },
        { "window reached", JOB_CLASS_TRANSCRIBE, 512 * MB, 2048, 15 * MB, 2, { DL(64, 10), API(32, 5) }, 2,
                false, GOV_REASON_WINDOW, 0, GOV_REASON_WINDOW },
        { "class cap reported before window", JOB_CLASS_TRANSCRIBE, 512 * MB, 2048, 200 * MB, 2,
                { TR(512, 100), TR(512, 100) }, 2, false, GOV_REASON_CLASS_CAP, 0, GOV_REASON_CLASS_CAP },
        { "window counts every class", JOB_CLASS_TRANSCRIBE, 512 * MB, 2048, 20 * MB, 3,
                { DL(64, 10), API(32, 5), API(32, 5) }, 3, false, GOV_REASON_WINDOW, 0, GOV_REASON_WINDOW },
        { "window limits the count", JOB_CLASS_TRANSCRIBE, 512 * MB, 2048, 5 * MB, 2, { API(32, 5) }, 1,
                true, GOV_REASON_NONE, 1, GOV_REASON_WINDOW },
        { "budget limits the count", JOB_CLASS_TRANSCRIBE, 512 * MB, 1024, 0, 0, {}, 0, true,
                GOV_REASON_NONE, 1, GOV_REASON_BUDGET_RESERVATIONS },
        { "usage limits the count", JOB_CLASS_API, 32 * MB, 2048, 1888 * MB, 0, {}, 0, true, GOV_REASON_NONE,
                1, GOV_REASON_BUDGET_USAGE },
        { "api squeezed in under a full budget", JOB_CLASS_API, 32 * MB, 2048, 1860 * MB, 0,
                { TR(512, 900), TR(512, 900), DL(64, 60) }, 3, true, GOV_REASON_NONE, 1,
                GOV_REASON_BUDGET_RESERVATIONS },
        { "stage of an unknown class still reserves", JOB_CLASS_TRANSCRIBE, 512 * MB, 1024, 0, 0,
                { { (JobClass)9, 512 * MB, 600 * MB } }, 1, false, GOV_REASON_BUDGET_RESERVATIONS, 0,
                GOV_REASON_BUDGET_RESERVATIONS },
        { "saturating reservations", JOB_CLASS_API, 32 * MB, 2048, 0, 0,
                { { JOB_CLASS_DOWNLOAD, 1, UINT64_MAX }, { JOB_CLASS_TRANSCRIBE, UINT64_MAX, 1 } }, 2, false,
                GOV_REASON_BUDGET_RESERVATIONS, 0, GOV_REASON_BUDGET_RESERVATIONS },
        { "zero estimate", JOB_CLASS_API, 0, 2048, 0, 0, {}, 0, false, GOV_REASON_INVALID, 0,
                GOV_REASON_INVALID },
        { "unknown class", (JobClass)7, 32 * MB, 2048, 0, 0, {}, 0, false, GOV_REASON_INVALID, 0,
                GOV_REASON_INVALID },
};

static int check_admit_case(const AdmitCase *c)
{
        _cleanup_policy_ Policy p = {};
        GovReadings r = {
                .budget_bytes = c->budget_mb * MB, .hard_usage_bytes = c->usage, .now_usec = 5 * SEC
        };
        uint64_t est[_JOB_CLASS_MAX];
        GovReason reason = _GOV_REASON_INVALID;
        GovTokens t;
        GovState s;

        ASSERT_INT(steady_policy(&p), ==, 0);
        gov_state_init(&s, &p, 0);
        gov_state_update(&s, &p, &r);
        if (c->window > 0)
                s.window = c->window;

        ASSERT_INT(
                gov_admit(&s, &p, &r, c->running, c->n_running, c->cls, c->estimate, &reason), ==, c->admit);
        ASSERT_STR(gov_reason_to_string(reason), gov_reason_to_string(c->reason));
        /* The reason is optional. */
        ASSERT_INT(gov_admit(&s, &p, &r, c->running, c->n_running, c->cls, c->estimate, NULL), ==, c->admit);

        if ((unsigned)c->cls >= _JOB_CLASS_MAX)
                return 0;
        for (JobClass k = 0; k < _JOB_CLASS_MAX; k++)
                est[k] = p.classes[k].estimate_bytes;
        est[c->cls] = c->estimate;
        ASSERT_INT(gov_tokens(&s, &p, &r, c->running, c->n_running, est, &t), ==, 0);
        ASSERT_INT(t.classes[c->cls].tokens, ==, c->tokens);
        ASSERT_STR(gov_reason_to_string(t.classes[c->cls].limited_by), gov_reason_to_string(c->limited_by));
        ASSERT_STR(gov_reason_to_string(t.classes[c->cls].reason), gov_reason_to_string(c->reason));
        /* The two entry points must agree. */
        ASSERT_INT(t.classes[c->cls].tokens > 0, ==, c->admit);
        return 0;
}

TEST(admission_table)
{
        FOREACH_ARRAY (c, admit_cases, ELEMENTSOF(admit_cases))
                if (check_admit_case(c) < 0) {
                        printf("# case: %s\n", c->name);
                        return -1;
                }
        return 0;
}

typedef struct ClassExpect {
        unsigned tokens;
        GovReason reason;
} ClassExpect;

typedef struct TokensCase {
        const char *name;
        bool slow_start;
        usec_t startup_delay;
        usec_t now;
        uint64_t budget_mb;
        uint64_t usage_mb;
        bool trigger;
        uint64_t estimates_mb[_JOB_CLASS_MAX]; /* all 0 = pass NULL (policy seeds) */
        GovRunning running[4];
        size_t n_running;
        ClassExpect expect[_JOB_CLASS_MAX]; /* download, transcribe, api */
        uint64_t reserved_mb;
        unsigned window;
        GovReason pressure;
        usec_t cooldown_left;
} TokensCase;

static const TokensCase tokens_cases[] = {
        { "calm empty host, policy seeds", false, 0, 5 * SEC, 2048, 0, false, {}, {}, 0,
                { { 1, GOV_REASON_NONE }, { 2, GOV_REASON_NONE }, { 2, GOV_REASON_NONE } }, 0, 5,
                GOV_REASON_NONE, 0 },
        { "transcribe full, budget tight", false, 0, 5 * SEC, 1280, 1100, false, {},
                { TR(512, 600), TR(512, 500) }, 2,
                { { 0, GOV_REASON_BUDGET_RESERVATIONS }, { 0, GOV_REASON_CLASS_CAP },
                        { 1, GOV_REASON_NONE } },
                1112, 5, GOV_REASON_NONE, 0 },
        { "a trigger closes every class", false, 0, 5 * SEC, 2048, 0, true, {}, {}, 0,
                { { 0, GOV_REASON_PRESSURE_TRIGGER }, { 0, GOV_REASON_PRESSURE_TRIGGER },
                        { 0, GOV_REASON_PRESSURE_TRIGGER } },
                0, 2, GOV_REASON_PRESSURE_TRIGGER, 30 * SEC },
        { "startup delay closes every class", true, 10 * SEC, 5 * SEC, 2048, 0, false, {}, {}, 0,
                { { 0, GOV_REASON_STARTUP_DELAY }, { 0, GOV_REASON_STARTUP_DELAY },
                        { 0, GOV_REASON_STARTUP_DELAY } },
                0, 1, GOV_REASON_NONE, 0 },
        { "slow start: window 1", true, 0, 0, 2048, 0, false, { 8, 300, 16 }, {}, 0,
                { { 1, GOV_REASON_NONE }, { 1, GOV_REASON_NONE }, { 1, GOV_REASON_NONE } }, 0, 1,
                GOV_REASON_NONE, 0 },
        { "window full", true, 0, 0, 2048, 0, false, {}, { API(32, 4) }, 1,
                { { 0, GOV_REASON_WINDOW }, { 0, GOV_REASON_WINDOW }, { 0, GOV_REASON_WINDOW } }, 32, 1,
                GOV_REASON_NONE, 0 },
        { "one class never fits", false, 0, 5 * SEC, 2048, 0, false, { 64, 4096, 32 }, {}, 0,
                { { 1, GOV_REASON_NONE }, { 0, GOV_REASON_BUDGET_TOO_SMALL }, { 2, GOV_REASON_NONE } }, 0, 5,
                GOV_REASON_NONE, 0 },
        { "learned small estimates, usage-bound", false, 0, 5 * SEC, 384, 240, false, { 16, 24, 8 },
                { TR(24, 30) }, 1,
                { { 1, GOV_REASON_NONE }, { 0, GOV_REASON_BUDGET_USAGE }, { 2, GOV_REASON_NONE } }, 30, 5,
                GOV_REASON_NONE, 0 },
};

static int check_tokens_case(const TokensCase *c)
{
        _cleanup_policy_ Policy p = {};
        GovReadings r = {
                .budget_bytes = c->budget_mb * MB,
                .hard_usage_bytes = c->usage_mb * MB,
                .trigger_fired = c->trigger,
                .now_usec = c->now,
        };
        uint64_t est[_JOB_CLASS_MAX];
        bool have_est = false;
        GovTokens t;
        GovState s;

        ASSERT_INT(policy_init_defaults(&p), ==, 0);
        p.pressure.slow_start = c->slow_start;
        p.pressure.startup_delay_usec = c->startup_delay;
        for (JobClass k = 0; k < _JOB_CLASS_MAX; k++) {
                est[k] = c->estimates_mb[k] * MB;
                have_est = have_est || est[k] > 0;
        }
        gov_state_init(&s, &p, 0);
        gov_state_update(&s, &p, &r);

        ASSERT_INT(gov_tokens(&s, &p, &r, c->running, c->n_running, have_est ? est : NULL, &t), ==, 0);
        for (JobClass k = 0; k < _JOB_CLASS_MAX; k++) {
                const GovClassTokens *ct = &t.classes[k];

                if (ct->tokens != c->expect[k].tokens || ct->reason != c->expect[k].reason)
                        printf("# %s: %u (%s)\n", job_class_to_string(k), ct->tokens,
                                gov_reason_to_string(ct->reason));
                ASSERT_INT(ct->tokens, ==, c->expect[k].tokens);
                ASSERT_STR(gov_reason_to_string(ct->reason), gov_reason_to_string(c->expect[k].reason));
                ASSERT_U64(ct->estimate_bytes, have_est ? est[k] : p.classes[k].estimate_bytes);
                ASSERT_INT(ct->cap, ==, p.classes[k].max_concurrent);
                /* Each class agrees with a single admission question. */
                ASSERT_INT(gov_admit(&s, &p, &r, c->running, c->n_running, k, ct->estimate_bytes, NULL), ==,
                        ct->tokens > 0);
        }
        ASSERT_U64(t.reserved_bytes, c->reserved_mb * MB);
        ASSERT_U64(t.usable_bytes, c->budget_mb * MB - 128 * MB);
        ASSERT_INT(t.running_total, ==, c->n_running);
        ASSERT_INT(t.window, ==, c->window);
        ASSERT_INT(t.window_ceiling, ==, 5);
        ASSERT_STR(gov_reason_to_string(t.pressure), gov_reason_to_string(c->pressure));
        ASSERT_U64(t.cooldown_left_usec, c->cooldown_left);
        return 0;
}

TEST(tokens_per_class)
{
        GovTokens t;
        GovState s = {};
        GovReadings r = {};

        FOREACH_ARRAY (c, tokens_cases, ELEMENTSOF(tokens_cases))
                if (check_tokens_case(c) < 0) {
                        printf("# case: %s\n", c->name);
                        return -1;
                }
        ASSERT_INT(gov_tokens(&s, NULL, &r, NULL, 0, NULL, &t), ==, -EINVAL);
        ASSERT_INT(gov_tokens(NULL, NULL, NULL, NULL, 0, NULL, NULL), ==, -EINVAL);
        return 0;
}

/* One sample of a pressure/window sequence and what must hold after gov_state_update(). */
typedef struct Step {
        unsigned ms;         /* since start */
        unsigned some, full; /* avg10, permyriad */
        bool trigger;
        bool open;
        GovReason reason; /* gov_pressure_reason() */
        unsigned window;
        GovReason admit; /* gov_admit() of a 64M download on an idle 2G host */
} Step;

#define STEP(ms, some, full, trig, open, reason, window, admit)                             \
        {                                                                                   \
                ms, some, full, trig, open, GOV_REASON_##reason, window, GOV_REASON_##admit \
        }
#define CALM(ms, window)           STEP(ms, 0, 0, false, true, NONE, window, NONE)
#define CLOSED(ms, reason, window) STEP(ms, 0, 0, false, false, reason, window, reason)

typedef struct Sequence {
        const char *name;
        bool slow_start;
        unsigned startup_delay_ms;
        bool zero_thresholds; /* some and full at 0% instead of 10% and 2% */
        const Step *steps;
        size_t n_steps;
} Sequence;

static const Step trigger_steps[] = {
        CALM(0, 5),
        STEP(1000, 0, 0, true, false, PRESSURE_TRIGGER, 2, PRESSURE_TRIGGER),
        /* A second trigger within one sample interval halves once only, but restarts the cool-down. */
        STEP(1500, 0, 0, true, false, PRESSURE_TRIGGER, 2, PRESSURE_TRIGGER),
        CLOSED(2000, PRESSURE_TRIGGER, 2),
        CLOSED(20000, PRESSURE_TRIGGER, 2),
        CLOSED(31499, PRESSURE_TRIGGER, 2),
        CALM(31500, 2),
        CALM(32000, 2),
        CALM(32500, 3),
        CALM(33000, 3),
        CALM(33500, 4),
        CALM(34500, 5),
        CALM(35500, 5),
        STEP(36000, 0, 0, true, false, PRESSURE_TRIGGER, 2, PRESSURE_TRIGGER),
};

static const Step hysteresis_steps[] = {
        STEP(0, 500, 0, false, true, NONE, 5, NONE),
        STEP(1000, 999, 0, false, true, NONE, 5, NONE),
        STEP(2000, 1000, 0, false, false, PRESSURE_SOME, 2, PRESSURE_SOME),
        STEP(3000, 900, 0, false, false, PRESSURE_SOME, 2, PRESSURE_SOME),
        /* Cool-down over, but the average has not fallen below half the threshold. */
        STEP(40000, 600, 0, false, false, PRESSURE_SOME, 2, PRESSURE_SOME),
        STEP(41000, 500, 0, false, false, PRESSURE_SOME, 2, PRESSURE_SOME),
        STEP(42000, 499, 0, false, true, NONE, 2, NONE),
        /* Once open, only the threshold itself closes again. */
        STEP(43000, 900, 0, false, true, NONE, 3, NONE),
        STEP(44000, 1000, 0, false, false, PRESSURE_SOME, 1, PRESSURE_SOME),
        STEP(45000, 2000, 0, false, false, PRESSURE_SOME, 1, PRESSURE_SOME),
        /* Calm again, cool-down running: the reason names what caused it. */
        STEP(46000, 0, 0, false, false, PRESSURE_SOME, 1, PRESSURE_SOME),
        STEP(74999, 0, 0, false, false, PRESSURE_SOME, 1, PRESSURE_SOME),
        CALM(75000, 1),
        CALM(76000, 2),
};

static const Step full_steps[] = {
        STEP(0, 0, 200, false, false, PRESSURE_FULL, 2, PRESSURE_FULL),
        STEP(1000, 0, 150, false, false, PRESSURE_FULL, 2, PRESSURE_FULL),
        STEP(2000, 0, 50, true, false, PRESSURE_TRIGGER, 1, PRESSURE_TRIGGER),
        /* Everything at once: the most severe average is named first. */
        STEP(3000, 1500, 250, true, false, PRESSURE_FULL, 1, PRESSURE_FULL),
        STEP(4000, 1500, 0, false, false, PRESSURE_SOME, 1, PRESSURE_SOME),
        STEP(33999, 0, 0, false, false, PRESSURE_SOME, 1, PRESSURE_SOME),
        CALM(34000, 1),
        /* Full pressure below its threshold but above half does not close an open gate. */
        STEP(35000, 0, 199, false, true, NONE, 2, NONE),
        STEP(36000, 0, 0, false, true, NONE, 3, NONE),
};

static const Step zero_threshold_steps[] = {
        CALM(0, 5),
        STEP(1000, 1, 0, false, false, PRESSURE_SOME, 2, PRESSURE_SOME),
        CLOSED(2000, PRESSURE_SOME, 2),
        CALM(31000, 2),
        STEP(32000, 0, 1, false, false, PRESSURE_FULL, 1, PRESSURE_FULL),
};

static const Step startup_steps[] = {
        STEP(0, 0, 0, false, true, NONE, 1, STARTUP_DELAY),
        STEP(5000, 0, 0, false, true, NONE, 1, STARTUP_DELAY),
        STEP(9999, 0, 0, false, true, NONE, 1, STARTUP_DELAY),
        CALM(10000, 1),
        CALM(10500, 1),
        CALM(11000, 2),
        /* An extra sample between timer ticks adds no step. */
        CALM(11200, 2),
        CALM(12000, 3),
        CALM(13000, 4),
        CALM(14000, 5),
        CALM(15000, 5),
        STEP(16000, 0, 0, true, false, PRESSURE_TRIGGER, 2, PRESSURE_TRIGGER),
        CALM(46000, 2),
        CALM(46500, 2),
        CALM(47000, 3),
        /* A 99 s gap between samples earns one step, not a burst. */
        CALM(146000, 4),
};

static const Step startup_pressure_steps[] = {
        STEP(0, 0, 0, false, true, NONE, 1, STARTUP_DELAY),
        STEP(2000, 0, 0, true, false, PRESSURE_TRIGGER, 1, STARTUP_DELAY),
        CLOSED(10000, PRESSURE_TRIGGER, 1),
        CALM(32000, 1),
        CALM(32500, 1),
        CALM(33000, 2),
};

static const Sequence sequences[] = {
        { "trigger onset, cool-down, recovery", false, 0, false, trigger_steps, ELEMENTSOF(trigger_steps) },
        { "some avg10 hysteresis", false, 0, false, hysteresis_steps, ELEMENTSOF(hysteresis_steps) },
        { "full avg10 and triggers", false, 0, false, full_steps, ELEMENTSOF(full_steps) },
        { "0% thresholds close on any stall", false, 0, true, zero_threshold_steps,
                ELEMENTSOF(zero_threshold_steps) },
        { "startup delay and slow start", true, 10000, false, startup_steps, ELEMENTSOF(startup_steps) },
        { "pressure during the startup delay", true, 10000, false, startup_pressure_steps,
                ELEMENTSOF(startup_pressure_steps) },
};

static int check_step(GovState *s, const Policy *p, usec_t t0, const Step *st)
{
        GovReadings r = {
                .budget_bytes = 2 * GB,
                .some_avg10_permyriad = st->some,
                .full_avg10_permyriad = st->full,
                .trigger_fired = st->trigger,
                .now_usec = t0 + st->ms * MS,
        };
        GovReason reason = _GOV_REASON_INVALID;

        gov_state_update(s, p, &r);
        ASSERT_INT(s->pressure_open, ==, st->open);
        ASSERT_STR(gov_reason_to_string(gov_pressure_reason(s, p, &r)), gov_reason_to_string(st->reason));
        ASSERT_INT(s->window, ==, st->window);
        ASSERT_INT(gov_admit(s, p, &r, NULL, 0, JOB_CLASS_DOWNLOAD, 64 * MB, &reason), ==,
                st->admit == GOV_REASON_NONE);
        ASSERT_STR(gov_reason_to_string(reason), gov_reason_to_string(st->admit));
        return 0;
}

static int run_sequence(const Sequence *q)
{
        _cleanup_policy_ Policy p = {};
        usec_t t0 = 1000 * SEC; /* any monotonic origin */
        GovState s;

        ASSERT_INT(policy_init_defaults(&p), ==, 0);
        p.pressure.slow_start = q->slow_start;
        p.pressure.startup_delay_usec = q->startup_delay_ms * MS;
        if (q->zero_thresholds)
                p.pressure.some_avg10_max_permyriad = p.pressure.full_avg10_max_permyriad = 0;
        gov_state_init(&s, &p, t0);

        for (const Step *st = q->steps; st < q->steps + q->n_steps; st++)
                if (check_step(&s, &p, t0, st) < 0) {
                        printf("# at t=%ums\n", st->ms);
                        return -1;
                }
        return 0;
}

TEST(pressure_and_window_sequences)
{
        FOREACH_ARRAY (q, sequences, ELEMENTSOF(sequences))
                if (run_sequence(q) < 0) {
                        printf("# sequence: %s\n", q->name);
                        return -1;
                }
        return 0;
}

TEST(readings_ahead_of_state)
{
        _cleanup_policy_ Policy p = {};
        GovReadings r = { .budget_bytes = 2 * GB, .now_usec = 5 * SEC };
        GovReason reason;
        GovState s;

        /* The caller skipped gov_state_update() for a sample that shows pressure: still refused. */
        ASSERT_INT(steady_policy(&p), ==, 0);
        gov_state_init(&s, &p, 0);
        gov_state_update(&s, &p, &r);
        ASSERT_TRUE(gov_admit(&s, &p, &r, NULL, 0, JOB_CLASS_API, 32 * MB, &reason));

        r.trigger_fired = true;
        ASSERT_TRUE(!gov_admit(&s, &p, &r, NULL, 0, JOB_CLASS_API, 32 * MB, &reason));
        ASSERT_INT(reason, ==, GOV_REASON_PRESSURE_TRIGGER);
        r.trigger_fired = false;
        r.some_avg10_permyriad = 1000;
        ASSERT_TRUE(!gov_admit(&s, &p, &r, NULL, 0, JOB_CLASS_API, 32 * MB, &reason));
        ASSERT_INT(reason, ==, GOV_REASON_PRESSURE_SOME);
        r.some_avg10_permyriad = 0;
        r.full_avg10_permyriad = 200;
        ASSERT_TRUE(!gov_admit(&s, &p, &r, NULL, 0, JOB_CLASS_API, 32 * MB, &reason));
        ASSERT_INT(reason, ==, GOV_REASON_PRESSURE_FULL);
        /* Hysteresis applies to reopening only. */
        r.full_avg10_permyriad = 199;
        ASSERT_TRUE(gov_admit(&s, &p, &r, NULL, 0, JOB_CLASS_API, 32 * MB, &reason));
        return 0;
}

TEST(window_follows_policy)
{
        _cleanup_policy_ Policy p = {};
        GovReadings r = { .budget_bytes = 2 * GB, .now_usec = 5 * SEC };
        GovState s;

        ASSERT_INT(steady_policy(&p), ==, 0);
        ASSERT_INT(gov_window_ceiling(&p), ==, 5);
        gov_state_init(&s, &p, 0);
        ASSERT_INT(s.window, ==, 5);
        /* A reload with smaller caps shrinks the window at the next sample. */
        for (JobClass k = 0; k < _JOB_CLASS_MAX; k++)
                p.classes[k].max_concurrent = 1;
        gov_state_update(&s, &p, &r);
        ASSERT_INT(s.window, ==, 3);
        /* Caps of 0 (not a valid policy) still leave a window of 1. */
        for (JobClass k = 0; k < _JOB_CLASS_MAX; k++)
                p.classes[k].max_concurrent = 0;
        ASSERT_INT(gov_window_ceiling(&p), ==, 1);
        r.now_usec += 10 * SEC;
        gov_state_update(&s, &p, &r);
        ASSERT_INT(s.window, ==, 1);
        p.classes[JOB_CLASS_API].max_concurrent = UINT32_MAX;
        p.classes[JOB_CLASS_TRANSCRIBE].max_concurrent = UINT32_MAX;
        ASSERT_INT(gov_window_ceiling(&p), ==, UINT32_MAX);
        return 0;
}

typedef struct LimitCase {
        const char *name;
        uint64_t estimate;
        unsigned oom;
        double margin, escalation; /* 0 = default (1.25, 1.5) */
        uint64_t job_min, job_max; /* 0 = default (64M, 1G) */
        uint64_t expect;
} LimitCase;

static const LimitCase limit_cases[] = {
        { "estimate × margin", 100 * MB, 0, 0, 0, 0, 0, 125 * MB },
        { "one OOM: ×1.5", 100 * MB, 1, 0, 0, 0, 0, 196608000 },
        { "two OOMs: ×2.25", 100 * MB, 2, 0, 0, 0, 0, 294912000 },
        { "three OOMs", 100 * MB, 3, 0, 0, 0, 0, 442368000 },
        { "five OOMs", 100 * MB, 5, 0, 0, 0, 0, 995328000 },
        { "six OOMs: clamped to job_max", 100 * MB, 6, 0, 0, 0, 0, 1 * GB },
        { "margin 1: 1×", 400 * MB, 0, 1.0, 0, 0, 0, 400 * MB },
        { "margin 1: 1.5×", 400 * MB, 1, 1.0, 0, 0, 0, 600 * MB },
        { "margin 1: 2.25×", 400 * MB, 2, 1.0, 0, 0, 0, 900 * MB },
        { "margin 1: 3.375× → job_max", 400 * MB, 3, 1.0, 0, 0, 0, 1 * GB },
        { "small estimate: job_min", 10 * MB, 0, 0, 0, 0, 0, 64 * MB },
        { "zero estimate: job_min", 0, 0, 0, 0, 0, 0, 64 * MB },
        { "rounded up to a page", 1000000, 0, 0, 0, 1 * MB, 0, 1253376 },
        { "job_min not page-aligned", 1, 0, 0, 0, 1000000, 0, 1003520 },
        { "job_max not page-aligned: rounded down", 2 * GB, 0, 0, 0, 0, 1 * GB + 100, 1 * GB },
        { "huge estimate", UINT64_MAX, 0, 0, 0, 0, 0, 1 * GB },
        { "huge product", UINT64_C(1) << 60, 0, 10.0, 0, 0, 0, 1 * GB },
        { "escalation overflows to inf", 100 * MB, UINT32_MAX, 0, 0, 0, 0, 1 * GB },
        { "escalation 1.0 never grows", 100 * MB, UINT32_MAX, 0, 1.0, 0, 0, 125 * MB },
        { "NaN margin (broken policy)", 100 * MB, 0, NAN, 0, 0, 0, 1 * GB },
        { "job_min above job_max", 100 * MB, 0, 0, 0, 2 * GB, 0, 1 * GB },
        { "job_max of one page", 100 * MB, 0, 0, 0, 1, 4096, 4096 },
        { "job_max below a page", 100 * MB, 0, 0, 0, 1, 100, 4096 },
};

static void apply_limit_policy(
        Policy *p, double margin, double escalation, uint64_t job_min, uint64_t job_max)
{
        if (margin != 0)
                p->memory.margin = margin;
        if (escalation != 0)
                p->memory.escalation = escalation;
        if (job_min != 0)
                p->memory.job_min_bytes = job_min;
        if (job_max != 0)
                p->memory.job_max_bytes = job_max;
}

TEST(stage_limit_table)
{
        FOREACH_ARRAY (c, limit_cases, ELEMENTSOF(limit_cases)) {
                _cleanup_policy_ Policy p = {};
                uint64_t v;

                ASSERT_INT(policy_init_defaults(&p), ==, 0);
                apply_limit_policy(&p, c->margin, c->escalation, c->job_min, c->job_max);
                v = gov_stage_limit(&p, c->estimate, c->oom, 0);
                if (v != c->expect || v % 4096 != 0) {
                        printf("# %s: %" PRIu64 " != %" PRIu64 "\n", c->name, v, c->expect);
                        return -1;
                }
        }
        return 0;
}

TEST(stage_reservation_table)
{
        static const struct {
                const char *name;
                uint64_t estimate;
                unsigned oom;
                uint64_t expect;
        } cases[] = {
                { "first attempt: the estimate", 100 * MB, 0, 100 * MB },
                { "after one OOM: the limit that was too small", 100 * MB, 1, 125 * MB },
                { "after two OOMs", 100 * MB, 2, 196608000 },
                { "estimate above the limit: capped", 2 * GB, 0, 1 * GB },
                { "at job_max", 900 * MB, 1, 1 * GB },
                { "below job_max after an OOM", 800 * MB, 1, 1000 * MB },
                { "tiny estimate after an OOM: job_min", 1 * MB, 1, 64 * MB },
                { "tiny estimate, first attempt", 1 * MB, 0, 1 * MB },
        };

        FOREACH_ARRAY (c, cases, ELEMENTSOF(cases)) {
                _cleanup_policy_ Policy p = {};
                uint64_t v;

                ASSERT_INT(policy_init_defaults(&p), ==, 0);
                v = gov_stage_reservation(&p, c->estimate, c->oom, 0);
                if (v != c->expect) {
                        printf("# %s: %" PRIu64 " != %" PRIu64 "\n", c->name, v, c->expect);
                        return -1;
                }
        }
        return 0;
}

/* Every attempt of a stage is OOM-killed: the limits it gets and when the episode is held. */
TEST(oom_escalation_and_hold)
{
        static const struct {
                const char *name;
                uint64_t estimate;
                double margin;
                unsigned max_oom_at_job_max;
                double limits_mb[10];
                size_t n_attempts;
        } cases[] = {
                { "1×, 1.5×, 2.25×, job_max, held", 400 * MB, 1.0, 1, { 400, 600, 900, 1024 }, 4 },
                { "two OOMs at job_max allowed", 400 * MB, 1.0, 2, { 400, 600, 900, 1024, 1024 }, 5 },
                { "starts at job_max: held at once", 1 * GB, 1.25, 1, { 1024 }, 1 },
                { "default margin from 100M", 100 * MB, 1.25, 1,
                        { 125, 187.5, 281.25, 421.875, 632.8125, 949.21875, 1024 }, 7 },
                { "max_oom_at_job_max 0 acts as 1", 1 * GB, 1.0, 0, { 1024 }, 1 },
        };

        FOREACH_ARRAY (c, cases, ELEMENTSOF(cases)) {
                _cleanup_policy_ Policy p = {};
                unsigned at_max = 0;
                size_t n = 0;

                ASSERT_INT(policy_init_defaults(&p), ==, 0);
                p.memory.margin = c->margin;
                p.retry.max_oom_at_job_max = c->max_oom_at_job_max;
                for (unsigned oom = 0; n < ELEMENTSOF(c->limits_mb); oom++) {
                        uint64_t limit = gov_stage_limit(&p, c->estimate, oom, 0);

                        if (limit != (uint64_t)(c->limits_mb[n] * (double)MB)) {
                                printf("# %s: attempt %zu: %" PRIu64 "\n", c->name, n + 1, limit);
                                return -1;
                        }
                        n++;
                        if (gov_limit_at_job_max(&p, limit))
                                at_max++;
                        if (gov_should_hold(&p, at_max))
                                break;
                }
                if (n != c->n_attempts) {
                        printf("# %s: held after %zu attempts\n", c->name, n);
                        return -1;
                }
        }
        return 0;
}

TEST(hold_helpers)
{
        _cleanup_policy_ Policy p = {};

        ASSERT_INT(policy_init_defaults(&p), ==, 0);
        ASSERT_TRUE(gov_limit_at_job_max(&p, 1 * GB));
        ASSERT_TRUE(gov_limit_at_job_max(&p, 2 * GB));
        ASSERT_TRUE(!gov_limit_at_job_max(&p, 1 * GB - 4096));
        p.memory.job_max_bytes = 1 * GB + 100;
        ASSERT_TRUE(gov_limit_at_job_max(&p, gov_stage_limit(&p, 2 * GB, 0, 0)));

        ASSERT_TRUE(!gov_should_hold(&p, 0));
        ASSERT_TRUE(gov_should_hold(&p, 1));
        p.retry.max_oom_at_job_max = 3;
        ASSERT_TRUE(!gov_should_hold(&p, 2));
        ASSERT_TRUE(gov_should_hold(&p, 3));
        ASSERT_TRUE(gov_should_hold(&p, 4));
        return 0;
}

/* The head-of-line rule of largest-first admission: budget 1G, headroom 128M, so 896M usable. */
TEST(leaves_room_table)
{
        _cleanup_policy_ Policy p = {};
        GovReadings r = { .budget_bytes = 1 * GB, .now_usec = 5 * SEC };
        static const struct {
                const char *what;
                GovRunning running[4];
                size_t n;
                uint64_t head_mb, estimate_mb;
                bool ok;
        } cases[] = {
                { "nothing runs: small + head fit", {}, 0, 600, 200, true },
                { "nothing runs: small + head do not fit", {}, 0, 600, 300, false },
                { "exactly usable", {}, 0, 600, 296, true },
                { "a larger stage running does not count (it ends on its own)", { TR(700, 0) }, 1, 600, 200,
                        true },
                { "an equal stage running does not count either", { TR(600, 0) }, 1, 600, 200, true },
                { "smaller stages running count", { TR(150, 0), TR(100, 0) }, 2, 600, 100, false },
                { "smaller stages running, room left", { TR(150, 0), TR(100, 0) }, 2, 600, 46, true },
                { "observed usage above the estimate counts", { TR(100, 250) }, 1, 600, 100, false },
                { "observed usage at or over the head: a larger stage", { TR(100, 650) }, 1, 600, 200,
                        true },
                { "other classes count too", { DL(64, 0), API(32, 0) }, 2, 600, 200, true },
                { "other classes count too, full", { DL(64, 0), API(32, 0) }, 2, 600, 201, false },
        };

        ASSERT_INT(steady_policy(&p), ==, 0);
        FOREACH_ARRAY (c, cases, ELEMENTSOF(cases)) {
                bool ok = gov_leaves_room(&p, &r, c->running, c->n, c->head_mb * MB, c->estimate_mb * MB);
                if (ok != c->ok) {
                        printf("# %s: got %s, want %s\n", c->what, ok ? "room" : "no room",
                                c->ok ? "room" : "no room");
                        return -1;
                }
        }
        return 0;
}

TEST(escalated_limit)
{
        _cleanup_policy_ Policy p = {};

        /* Defaults: escalation 1.5, job_max 1G. */
        ASSERT_INT(policy_init_defaults(&p), ==, 0);
        ASSERT_U64(gov_escalated_limit(&p, 40 * MB), 60 * MB);
        ASSERT_U64(gov_escalated_limit(&p, 4097), 8192); /* rounded up to a page */
        ASSERT_U64(gov_escalated_limit(&p, 700 * MB), 1 * GB);
        ASSERT_U64(gov_escalated_limit(&p, 1 * GB), 1 * GB);
        ASSERT_U64(gov_escalated_limit(&p, UINT64_MAX), 1 * GB);
        /* The estimate fell from 32M to 16M after an OOM kill at 40M: 16M × 1.25 × 1.5 = 30M by the
         * model, but the next limit is 60M and the reservation the killed 40M (job_min 16M here,
         * so that the model's figures are not clamped). */
        p.memory.job_min_bytes = 16 * MB;
        ASSERT_U64(gov_stage_limit(&p, 16 * MB, 1, 40 * MB), 60 * MB);
        ASSERT_U64(gov_stage_reservation(&p, 16 * MB, 1, 40 * MB), 40 * MB);
        /* A first attempt ignores any last limit; an unknown last limit leaves the model. */
        ASSERT_U64(gov_stage_limit(&p, 16 * MB, 0, 40 * MB), 20 * MB);
        ASSERT_U64(gov_stage_limit(&p, 32 * MB, 1, 0), 60 * MB);
        return 0;
}

TAP_MAIN(T(reason_strings), T(hard_usage), T(admission_table), T(tokens_per_class),
        T(pressure_and_window_sequences), T(readings_ahead_of_state), T(window_follows_policy),
        T(stage_limit_table), T(stage_reservation_table), T(oom_escalation_and_hold), T(hold_helpers),
        T(leaves_room_table), T(escalated_limit))
