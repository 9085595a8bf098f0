/* SPDX-License-Identifier: MIT */
#include <math.h>

#include "common/macro.h"
#include "governor/estimate.h"
#include "tests/tap.h"

#define MB   (UINT64_C(1) << 20)
#define GB   (UINT64_C(1) << 30)
#define SEED (512 * MB)

static void policy_donep(Policy *p)
{
        policy_done(p);
}
#define _cleanup_policy_ _cleanup_(policy_donep)

TEST(percentile_nearest_rank)
{
        static const struct {
                const char *name;
                double v[32];
                size_t n;
                unsigned pct;
                double expect;
        } cases[] = {
                { "p90 of 10", { 3, 1, 2, 10, 9, 8, 4, 5, 7, 6 }, 10, 90, 9 },
                { "p100 is the maximum", { 3, 1, 2, 10, 9, 8, 4, 5, 7, 6 }, 10, 100, 10 },
                { "p50 of 10", { 3, 1, 2, 10, 9, 8, 4, 5, 7, 6 }, 10, 50, 5 },
                { "p1 is the minimum", { 3, 1, 2, 10, 9, 8, 4, 5, 7, 6 }, 10, 1, 1 },
                { "p0 is clamped to p1", { 3, 1, 2 }, 3, 0, 1 },
                { "p250 is clamped to p100", { 3, 1, 2 }, 3, 250, 3 },
                { "a single value", { 7 }, 1, 90, 7 },
                { "p90 of 3 is the maximum", { 5, 1, 4 }, 3, 90, 5 },
                { "p50 of 3 is the middle", { 5, 1, 4 }, 3, 50, 4 },
                { "p90 of 5 is the maximum", { 1, 2, 3, 4, 5 }, 5, 90, 5 },
                { "p90 of 20 is the 18th",
                        { 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1 }, 20, 90,
                        18 },
                { "p90 of 32 is the 29th",
                        { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
                                24, 25, 26, 27, 28, 29, 30, 31, 32 },
                        32, 90, 29 },
                { "negative values", { -5, -1, -3 }, 3, 90, -1 },
                { "duplicates", { 2, 2, 2, 9 }, 4, 50, 2 },
                { "empty", {}, 0, 90, 0 },
        };

        FOREACH_ARRAY (c, cases, ELEMENTSOF(cases)) {
                double v[32], got;

                memcpy(v, c->v, sizeof(v));
                got = gov_percentile(v, c->n, c->pct);
                if (got != c->expect) {
                        printf("# %s: %g != %g\n", c->name, got, c->expect);
                        return -1;
                }
        }
        return 0;
}

typedef struct EstCase {
        const char *name;
        size_t n;
        uint64_t peaks[8], inputs[8];
        uint64_t query;
        uint64_t expect;
        double slope; /* of the fitted model; < 0: not learned, the seed is used */
} EstCase;

#define M5(a, b, c, d, e)                                \
        {                                                \
                (a) * MB, (b)*MB, (c)*MB, (d)*MB, (e)*MB \
        }

static const EstCase est_cases[] = {
        { "no samples: the seed", 0, {}, {}, 100 * MB, SEED, -1 },
        { "four samples, early bound over the seed: the seed", 4, { 100 * MB, 100 * MB, 100 * MB, 100 * MB },
                { 10 * MB, 20 * MB, 30 * MB, 40 * MB }, 1 * GB, SEED, -1 },
        { "one sample: its peak per input byte times the input", 1, { 30 * MB }, { 10 * MB }, 20 * MB,
                60 * MB, -1 },
        { "one sample, a smaller input: the seed", 1, { 30 * MB }, { 10 * MB }, 5 * MB, SEED, -1 },
        { "early samples: the largest ratio", 2, { 30 * MB, 25 * MB }, { 10 * MB, 20 * MB }, 40 * MB,
                120 * MB, -1 },
        { "early bound over the seed: the seed", 2, { 30 * MB, 25 * MB }, { 10 * MB, 20 * MB }, 1 * GB, SEED,
                -1 },
        { "early sample without input size: the seed", 2, { 30 * MB, 25 * MB }, { 0, 20 * MB }, 40 * MB,
                SEED, -1 },
        { "constant stage ignores input size", 5, M5(10, 10, 10, 10, 10), M5(1, 50, 100, 150, 200), 200 * MB,
                10 * MB, 0 },
        { "constant stage, no input size", 5, M5(10, 10, 10, 10, 10), M5(1, 50, 100, 150, 200), 0, 10 * MB,
                0 },
        { "proportional stage", 5, M5(120, 140, 160, 180, 200), M5(10, 20, 30, 40, 50), 100 * MB, 300 * MB,
                2 },
        { "proportional stage, extrapolated", 5, M5(120, 140, 160, 180, 200), M5(10, 20, 30, 40, 50),
                500 * MB, 1100 * MB, 2 },
        { "model constant plus per-byte cost", 5, M5(320, 340, 380, 460, 620), M5(5, 10, 20, 40, 80),
                60 * MB, 540 * MB, 4 },
        { "five samples: p90 is the largest", 5, M5(10, 11, 12, 13, 20), M5(50, 50, 50, 50, 50), 50 * MB,
                20 * MB, 0 },
        { "input unknown for every sample", 5, M5(60, 62, 64, 66, 70), M5(0, 0, 0, 0, 0), 100 * MB, 70 * MB,
                0 },
        { "peaks falling with input: slope 0", 5, M5(50, 40, 30, 20, 10), M5(10, 20, 30, 40, 50), 100 * MB,
                50 * MB, 0 },
        { "negative base: at least a page", 5, M5(10, 30, 50, 70, 90), M5(10, 20, 30, 40, 50), 0, 4096, 2 },
        { "negative base, larger input", 5, M5(10, 30, 50, 70, 90), M5(10, 20, 30, 40, 50), 100 * MB,
                190 * MB, 2 },
        { "the seed is no floor once learned", 5, M5(100, 100, 100, 100, 100), M5(1, 2, 3, 4, 5), 3 * MB,
                100 * MB, 0 },
        { "rounded up to a page", 5, { 1000001, 1000001, 1000001, 1000001, 1000001 }, { 1, 1, 1, 1, 1 }, 1,
                1003520, 0 },
        { "even number of slopes: mean of the middle two", 5, M5(10, 20, 30, 40, 100), M5(0, 0, 0, 0, 10),
                20 * MB, 190 * MB, 7.5 },
        { "p90 of eight samples is the largest", 8,
                { 110 * MB, 120 * MB, 130 * MB, 140 * MB, 150 * MB, 160 * MB, 170 * MB, 4 * GB },
                { 10 * MB, 20 * MB, 30 * MB, 40 * MB, 50 * MB, 60 * MB, 70 * MB, 80 * MB }, 100 * MB,
                4 * GB - 80 * MB + 100 * MB, 1 },
};

static int check_est_case(const EstCase *c)
{
        GovEstimateModel m;
        GovEstimator e;

        gov_estimator_init(&e, SEED);
        for (size_t i = 0; i < c->n; i++)
                ASSERT_INT(gov_estimator_add(&e, c->peaks[i], c->inputs[i]), ==, 0);
        ASSERT_INT(e.n_samples, ==, c->n);
        gov_estimator_model(&e, &m);
        ASSERT_INT(m.learned, ==, c->slope >= 0);
        if (c->slope >= 0 && fabs(m.slope - c->slope) > 1e-9) {
                printf("# slope %g != %g\n", m.slope, c->slope);
                return -1;
        }
        ASSERT_U64(gov_estimator_estimate(&e, c->query), c->expect);
        return 0;
}

TEST(estimate_table)
{
        FOREACH_ARRAY (c, est_cases, ELEMENTSOF(est_cases))
                if (check_est_case(c) < 0) {
                        printf("# case: %s\n", c->name);
                        return -1;
                }
        return 0;
}

/* 20 runs of a stage that needs 100M + 2 bytes per input byte, inputs 10M, 20M, … 200M; the
 * given number of them replaced by 3G outliers. */
static void fill_with_outliers(GovEstimator *e, unsigned n_outliers)
{
        gov_estimator_init(e, SEED);
        for (unsigned i = 0; i < 20; i++) {
                uint64_t in = (i + 1) * 10 * MB;
                /* Spread the outliers over the input range: first, last, middle. */
                bool wild = (n_outliers > 0 && i == 0) || (n_outliers > 1 && i == 19) ||
                        (n_outliers > 2 && i == 9);

                (void)gov_estimator_add(e, wild ? 3 * GB : 100 * MB + 2 * in, in);
        }
}

TEST(outliers_do_not_dominate_p90)
{
        static const struct {
                unsigned n_outliers;
                bool follows_line;
        } cases[] = {
                { 0, true },
                { 1, true },
                { 2, true },
                /* Three of twenty is more than 10%: p90 is then an outlier, by design. */
                { 3, false },
        };

        FOREACH_ARRAY (c, cases, ELEMENTSOF(cases)) {
                GovEstimateModel m;
                GovEstimator e;
                uint64_t v;

                fill_with_outliers(&e, c->n_outliers);
                gov_estimator_model(&e, &m);
                /* The slope is a median: outliers do not tilt it. */
                ASSERT_TRUE(fabs(m.slope - 2.0) < 1e-9);
                v = gov_estimator_estimate(&e, 100 * MB);
                printf("#   %u outliers: %" PRIu64 "M\n", c->n_outliers, v / MB);
                if (c->follows_line)
                        ASSERT_U64(v, 300 * MB);
                else
                        ASSERT_TRUE(v > 1 * GB);
        }
        return 0;
}

TEST(ring_forgets_old_samples)
{
        GovEstimator e;

        gov_estimator_init(&e, SEED);
        for (unsigned i = 0; i < GOV_ESTIMATE_RING; i++)
                ASSERT_INT(gov_estimator_add(&e, 1 * GB, 100 * MB), ==, 0);
        ASSERT_U64(gov_estimator_estimate(&e, 100 * MB), 1 * GB);

        /* Half the ring replaced: p90 still sees the old, larger runs. */
        for (unsigned i = 0; i < GOV_ESTIMATE_RING / 2; i++)
                ASSERT_INT(gov_estimator_add(&e, 100 * MB, 100 * MB), ==, 0);
        ASSERT_INT(e.n_samples, ==, GOV_ESTIMATE_RING);
        ASSERT_U64(gov_estimator_estimate(&e, 100 * MB), 1 * GB);

        /* 90% replaced: rank 29 of 32 is still old. One more and only new runs count. */
        for (unsigned i = GOV_ESTIMATE_RING / 2; i < 28; i++)
                ASSERT_INT(gov_estimator_add(&e, 100 * MB, 100 * MB), ==, 0);
        ASSERT_U64(gov_estimator_estimate(&e, 100 * MB), 1 * GB);
        ASSERT_INT(gov_estimator_add(&e, 100 * MB, 100 * MB), ==, 0);
        ASSERT_U64(gov_estimator_estimate(&e, 100 * MB), 100 * MB);

        for (unsigned i = 29; i < GOV_ESTIMATE_RING; i++)
                ASSERT_INT(gov_estimator_add(&e, 100 * MB, 100 * MB), ==, 0);
        for (size_t i = 0; i < GOV_ESTIMATE_RING; i++) {
                uint64_t peak;
                ASSERT_INT(gov_estimator_get(&e, i, &peak, NULL), ==, 0);
                ASSERT_U64(peak, 100 * MB);
        }
        return 0;
}

TEST(samples_oldest_first)
{
        GovEstimator e;
        uint64_t peak, in;

        gov_estimator_init(&e, SEED);
        ASSERT_INT(gov_estimator_get(&e, 0, &peak, &in), ==, -ERANGE);
        for (uint64_t i = 1; i <= 3; i++)
                ASSERT_INT(gov_estimator_add(&e, i * MB, i), ==, 0);
        ASSERT_INT(gov_estimator_get(&e, 0, &peak, &in), ==, 0);
        ASSERT_U64(peak, 1 * MB);
        ASSERT_U64(in, 1);
        ASSERT_INT(gov_estimator_get(&e, 2, &peak, &in), ==, 0);
        ASSERT_U64(peak, 3 * MB);
        ASSERT_INT(gov_estimator_get(&e, 3, &peak, &in), ==, -ERANGE);

        /* 40 samples into a ring of 32: samples 9..40 remain, oldest first. */
        for (uint64_t i = 4; i <= 40; i++)
                ASSERT_INT(gov_estimator_add(&e, i * MB, i), ==, 0);
        ASSERT_INT(e.n_samples, ==, GOV_ESTIMATE_RING);
        for (size_t i = 0; i < GOV_ESTIMATE_RING; i++) {
                ASSERT_INT(gov_estimator_get(&e, i, &peak, &in), ==, 0);
                ASSERT_U64(in, 9 + i);
                ASSERT_U64(peak, (9 + i) * MB);
        }
        ASSERT_INT(gov_estimator_get(&e, GOV_ESTIMATE_RING, &peak, &in), ==, -ERANGE);
        return 0;
}

TEST(persist_round_trip)
{
        GovEstimator a, b;

        /* Something irregular, wrapped around the ring. */
        gov_estimator_init(&a, SEED);
        for (uint64_t i = 0; i < 45; i++)
                ASSERT_INT(gov_estimator_add(&a, (50 + (i * 37) % 200) * MB, ((i * 53) % 300) * MB), ==, 0);

        gov_estimator_init(&b, SEED);
        for (size_t i = 0; i < a.n_samples; i++) {
                uint64_t peak, in;
                ASSERT_INT(gov_estimator_get(&a, i, &peak, &in), ==, 0);
                ASSERT_INT(gov_estimator_add(&b, peak, in), ==, 0);
        }
        ASSERT_INT(b.n_samples, ==, a.n_samples);
        for (uint64_t q = 0; q <= 1 * GB; q += 128 * MB)
                ASSERT_U64(gov_estimator_estimate(&b, q), gov_estimator_estimate(&a, q));
        /* Restored in order, the next sample evicts the same one in both. */
        ASSERT_INT(gov_estimator_add(&a, 2 * GB, 0), ==, 0);
        ASSERT_INT(gov_estimator_add(&b, 2 * GB, 0), ==, 0);
        for (uint64_t q = 0; q <= 1 * GB; q += 128 * MB)
                ASSERT_U64(gov_estimator_estimate(&b, q), gov_estimator_estimate(&a, q));
        return 0;
}

TEST(bad_input)
{
        GovEstimator e;

        gov_estimator_init(&e, SEED);
        ASSERT_INT(gov_estimator_add(&e, 0, 100 * MB), ==, -EINVAL);
        ASSERT_INT(e.n_samples, ==, 0);

        /* A corrupted restore: indexes out of range, percentile 0. Must not read or write
         * outside the ring (the sanitizers watch) and must still give a usable answer. */
        e.next = 1000;
        e.n_samples = 1000;
        e.percentile = 0;
        for (unsigned i = 0; i < GOV_ESTIMATE_RING; i++)
                e.peak_bytes[i] = e.input_bytes[i] = 0;
        ASSERT_INT(gov_estimator_add(&e, 64 * MB, 1 * MB), ==, 0);
        ASSERT_TRUE(e.next < GOV_ESTIMATE_RING);
        ASSERT_INT(gov_estimator_get(&e, GOV_ESTIMATE_RING - 1, NULL, NULL), ==, 0);
        ASSERT_INT(gov_estimator_get(&e, GOV_ESTIMATE_RING, NULL, NULL), ==, -ERANGE);
        ASSERT_TRUE(gov_estimator_estimate(&e, 1 * MB) >= 4096);
        return 0;
}

TEST(saturation)
{
        GovEstimator e;

        gov_estimator_init(&e, SEED);
        for (unsigned i = 0; i < 5; i++)
                ASSERT_INT(gov_estimator_add(&e, UINT64_MAX, 0), ==, 0);
        ASSERT_U64(gov_estimator_estimate(&e, 0), UINT64_MAX & ~UINT64_C(4095));

        /* A steep slope times a huge input. */
        gov_estimator_init(&e, SEED);
        for (uint64_t i = 1; i <= 5; i++)
                ASSERT_INT(gov_estimator_add(&e, i * GB, i), ==, 0);
        ASSERT_U64(gov_estimator_estimate(&e, UINT64_MAX), UINT64_MAX & ~UINT64_C(4095));
        ASSERT_U64(gov_estimator_estimate(&e, 6), 6 * GB);
        return 0;
}

TEST(stage_kinds)
{
        static const struct {
                GovStageKind k;
                const char *s;
                JobClass c;
        } cases[] = {
                { GOV_STAGE_FETCH, "fetch", JOB_CLASS_DOWNLOAD },
                { GOV_STAGE_PREPARE, "prepare", JOB_CLASS_TRANSCRIBE },
                { GOV_STAGE_TRANSCRIBE, "transcribe", JOB_CLASS_TRANSCRIBE },
                { GOV_STAGE_REMOTE, "remote", JOB_CLASS_API },
        };
        _cleanup_policy_ Policy p = {};
        GovEstimates all;

        ASSERT_INT(ELEMENTSOF(cases), ==, _GOV_STAGE_KIND_MAX);
        FOREACH_ARRAY (c, cases, ELEMENTSOF(cases)) {
                ASSERT_STR(gov_stage_kind_to_string(c->k), c->s);
                ASSERT_INT(gov_stage_kind_from_string(c->s), ==, c->k);
                ASSERT_INT(gov_stage_kind_class(c->k), ==, c->c);
        }
        ASSERT_INT(gov_stage_kind_from_string("download"), ==, -EINVAL);
        ASSERT_INT(gov_stage_kind_from_string(""), ==, -EINVAL);
        ASSERT_INT(gov_stage_kind_from_string(NULL), ==, -EINVAL);
        ASSERT_TRUE(!gov_stage_kind_to_string(_GOV_STAGE_KIND_MAX));
        ASSERT_TRUE(!gov_stage_kind_to_string(_GOV_STAGE_KIND_INVALID));

        /* Seeds come from the policy's class estimates. */
        ASSERT_INT(policy_init_defaults(&p), ==, 0);
        p.classes[JOB_CLASS_DOWNLOAD].estimate_bytes = 48 * MB;
        p.classes[JOB_CLASS_TRANSCRIBE].estimate_bytes = 700 * MB;
        p.classes[JOB_CLASS_API].estimate_bytes = 20 * MB;
        gov_estimates_init(&all, &p);
        ASSERT_U64(gov_estimator_estimate(&all.kinds[GOV_STAGE_FETCH], 50 * MB), 48 * MB);
        ASSERT_U64(gov_estimator_estimate(&all.kinds[GOV_STAGE_PREPARE], 50 * MB), 700 * MB);
        ASSERT_U64(gov_estimator_estimate(&all.kinds[GOV_STAGE_TRANSCRIBE], 50 * MB), 700 * MB);
        ASSERT_U64(gov_estimator_estimate(&all.kinds[GOV_STAGE_REMOTE], 50 * MB), 20 * MB);
        ASSERT_INT(all.kinds[GOV_STAGE_FETCH].percentile, ==, GOV_ESTIMATE_PERCENTILE);
        return 0;
}

TAP_MAIN(T(percentile_nearest_rank), T(estimate_table), T(outliers_do_not_dominate_p90),
        T(ring_forgets_old_samples), T(samples_oldest_first), T(persist_round_trip), T(bad_input),
        T(saturation), T(stage_kinds))
