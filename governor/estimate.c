/* SPDX-License-Identifier: MIT */
#include <math.h>

#include "common/macro.h"
#include "governor/estimate.h"

#define GOV_PAGE_BYTES ((uint64_t)4096)
#define N_PAIRS        (GOV_ESTIMATE_RING * (GOV_ESTIMATE_RING - 1) / 2)

static const char *const stage_kind_table[_GOV_STAGE_KIND_MAX] = {
        [GOV_STAGE_FETCH] = "fetch",
        [GOV_STAGE_PREPARE] = "prepare",
        [GOV_STAGE_TRANSCRIBE] = "transcribe",
        [GOV_STAGE_REMOTE] = "remote",
};

static const JobClass stage_kind_class[_GOV_STAGE_KIND_MAX] = {
        [GOV_STAGE_FETCH] = JOB_CLASS_DOWNLOAD,
        [GOV_STAGE_PREPARE] = JOB_CLASS_TRANSCRIBE,
        [GOV_STAGE_TRANSCRIBE] = JOB_CLASS_TRANSCRIBE,
        [GOV_STAGE_REMOTE] = JOB_CLASS_API,
};

const char *gov_stage_kind_to_string(GovStageKind k)
{
        if (k < 0 || k >= _GOV_STAGE_KIND_MAX)
                return NULL;
        return stage_kind_table[k];
}

GovStageKind gov_stage_kind_from_string(const char *s)
{
        if (!s)
                return _GOV_STAGE_KIND_INVALID;
        for (GovStageKind k = 0; k < _GOV_STAGE_KIND_MAX; k++)
                if (streq(s, stage_kind_table[k]))
                        return k;
        return _GOV_STAGE_KIND_INVALID;
}

JobClass gov_stage_kind_class(GovStageKind k)
{
        if (k < 0 || k >= _GOV_STAGE_KIND_MAX)
                return JOB_CLASS_TRANSCRIBE; /* the most conservative class for a bad value */
        return stage_kind_class[k];
}

void gov_estimator_init(GovEstimator *e, uint64_t seed_bytes)
{
        *e = (GovEstimator){
                .seed_bytes = seed_bytes,
                .percentile = GOV_ESTIMATE_PERCENTILE,
        };
}

int gov_estimator_add(GovEstimator *e, uint64_t peak_bytes, uint64_t input_bytes)
{
        if (peak_bytes == 0)
                return -EINVAL;
        /* A restored struct may carry anything: never index out of the ring. */
        e->next %= GOV_ESTIMATE_RING;
        e->peak_bytes[e->next] = peak_bytes;
        e->input_bytes[e->next] = input_bytes;
        e->next = (e->next + 1) % GOV_ESTIMATE_RING;
        if (e->n_samples < GOV_ESTIMATE_RING)
                e->n_samples++;
        return 0;
}

static unsigned n_samples(const GovEstimator *e)
{
        return MIN(e->n_samples, GOV_ESTIMATE_RING);
}

int gov_estimator_get(const GovEstimator *e, size_t i, uint64_t *ret_peak_bytes, uint64_t *ret_input_bytes)
{
        unsigned n = n_samples(e), slot;

        if (i >= n)
                return -ERANGE;
        slot = (e->next % GOV_ESTIMATE_RING + GOV_ESTIMATE_RING - n + (unsigned)i) % GOV_ESTIMATE_RING;
        if (ret_peak_bytes)
                *ret_peak_bytes = e->peak_bytes[slot];
        if (ret_input_bytes)
                *ret_input_bytes = e->input_bytes[slot];
        return 0;
}

/* Insertion sort: at most N_PAIRS (496) values, and qsort() may allocate. */
static void sort_doubles(double *v, size_t n)
{
        for (size_t i = 1; i < n; i++) {
                double x = v[i];
                size_t j = i;

                for (; j > 0 && v[j - 1] > x; j--)
                        v[j] = v[j - 1];
                v[j] = x;
        }
}

double gov_percentile(double *v, size_t n, unsigned pct)
{
        size_t rank;

        if (n == 0)
                return 0;
        pct = CLAMP(pct, 1U, 100U);
        sort_doubles(v, n);
        rank = (pct * n + 99) / 100; /* ceil(pct × n / 100), >= 1 since pct, n >= 1 */
        return v[MIN(rank, n) - 1];
}

void gov_estimator_model(const GovEstimator *e, GovEstimateModel *ret)
{
        double slopes[N_PAIRS], residuals[GOV_ESTIMATE_RING], peaks[GOV_ESTIMATE_RING],
                inputs[GOV_ESTIMATE_RING];
        unsigned n = n_samples(e);
        size_t n_slopes = 0;
        double slope = 0;

        *ret = (GovEstimateModel){ .base_bytes = (double)e->seed_bytes };
        if (n < GOV_ESTIMATE_MIN_SAMPLES)
                return;

        /* Order does not matter for the fit, so the slots are read as they are. */
        for (unsigned i = 0; i < n; i++) {
                peaks[i] = (double)e->peak_bytes[i];
                inputs[i] = (double)e->input_bytes[i];
        }
        for (unsigned i = 0; i < n; i++)
                for (unsigned j = i + 1; j < n; j++)
                        if (inputs[i] != inputs[j])
                                slopes[n_slopes++] = (peaks[j] - peaks[i]) / (inputs[j] - inputs[i]);
        if (n_slopes > 0) {
                sort_doubles(slopes, n_slopes);
                slope = n_slopes % 2 ? slopes[n_slopes / 2]
                                     : (slopes[n_slopes / 2 - 1] + slopes[n_slopes / 2]) / 2;
                /* Memory does not shrink with more input; a negative median is noise. */
                slope = MAX(slope, 0.0);
        }
        for (unsigned i = 0; i < n; i++)
                residuals[i] = peaks[i] - slope * inputs[i];

        ret->learned = true;
        ret->slope = slope;
        ret->base_bytes = gov_percentile(residuals, n, e->percentile);
}

/* Before the fit: the largest peak per input byte seen, times the input, when the input is at
 * least the smallest one seen; else +inf (the caller keeps the seed). For any peak = base + slope
 * × input with base, slope >= 0, peak_i / input_i >= base / input + slope once input >= input_i,
 * so this never estimates below such a model. A stage with a fixed cost (a fetch's buffer) gets a
 * huge value here, and the seed caps it. */
static double early_bound(const GovEstimator *e, uint64_t input_bytes)
{
        unsigned n = n_samples(e);
        uint64_t min_input = UINT64_MAX;
        double ratio = 0;

        for (unsigned i = 0; i < n; i++) {
                if (e->input_bytes[i] == 0)
                        return INFINITY;
                min_input = MIN(min_input, e->input_bytes[i]);
                ratio = MAX(ratio, (double)e->peak_bytes[i] / (double)e->input_bytes[i]);
        }
        if (n == 0 || input_bytes < min_input)
                return INFINITY;
        return ratio * (double)input_bytes;
}

uint64_t gov_estimator_estimate(const GovEstimator *e, uint64_t input_bytes)
{
        GovEstimateModel m;

        gov_estimator_model(e, &m);
        return gov_estimator_estimate_model(e, &m, input_bytes);
}

uint64_t gov_estimator_estimate_model(const GovEstimator *e, const GovEstimateModel *m, uint64_t input_bytes)
{
        double x;

        if (!m->learned) {
                x = early_bound(e, input_bytes);
                if (!(x < (double)e->seed_bytes))
                        return e->seed_bytes;
        } else
                x = m->base_bytes + m->slope * (double)input_bytes;
        if (!(x > (double)GOV_PAGE_BYTES))
                return GOV_PAGE_BYTES;
        /* 2^64 - 4096 is exactly representable; anything at or above it (or NaN) saturates. */
        if (!(x < 0x1p64 - (double)GOV_PAGE_BYTES))
                return UINT64_MAX & ~(GOV_PAGE_BYTES - 1);
        return ((uint64_t)ceil(x) + GOV_PAGE_BYTES - 1) & ~(GOV_PAGE_BYTES - 1);
}

void gov_estimates_init(GovEstimates *e, const Policy *p)
{
        for (GovStageKind k = 0; k < _GOV_STAGE_KIND_MAX; k++)
                gov_estimator_init(&e->kinds[k], p->classes[gov_stage_kind_class(k)].estimate_bytes);
}
