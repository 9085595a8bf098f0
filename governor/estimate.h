/* SPDX-License-Identifier: MIT */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policies/policy.h"

/* Learned memory estimates per stage kind (DESIGN.md "Estimates are learned"). Pure arithmetic
 * over a plain struct: no I/O, no allocation, so the ledger can persist the sample arrays as they
 * are and the scheduler can call it from the hot loop.
 *
 * Model: peak ≈ base + slope × input, fitted over a ring of recent (peak, input) samples.
 * - A fetch streams through a fixed buffer: its peak hardly depends on the file size (slope ≈ 0,
 *   base = the buffer). A transcription holds the model plus work proportional to the audio
 *   (base = the model, slope = bytes per input byte). A pure peak/input ratio would explode for
 *   the first kind (a 1 MB file with a 10 MB buffer gives ratio 10, i.e. a 2 GB estimate for a
 *   200 MB file), and a pure percentile of peaks would ignore input size for the second: the
 *   affine model covers both.
 * - slope = the median of the pairwise slopes (peak_j - peak_i) / (input_j - input_i) over
 *   samples with different inputs (Theil-Sen), floored at 0. The median ignores up to ~29% of
 *   wild samples, where a least-squares fit would follow a single outlier.
 * - base = the p-th percentile (nearest rank, p = 90 by default) of the residuals
 *   peak_i - slope × input_i. So the line sits above ~90% of recent runs, not through their
 *   middle: a stage that needs more than its estimate costs an OOM kill and a retry, one that
 *   needs less only costs some concurrency.
 *   Nearest rank: the value at rank ceil(p/100 × n) of the sorted values (1-based). With 20
 *   samples p90 is the 18th smallest, so one or two outliers do not set the estimate; with 5
 *   samples it is the largest, which is the cautious choice while little is known.
 * - estimate(S) = base + slope × S, rounded up to a 4 KiB page and at least one page.
 * - With fewer than GOV_ESTIMATE_MIN_SAMPLES samples there is no fit yet. The estimate is then
 *   the policy seed (classes[c].estimate), or less when the samples prove less is enough:
 *   max_i(peak_i / input_i) × S, for an input S at least as large as the smallest input seen.
 *   For any affine model with base, slope >= 0 that bound is never below the model, so a cold
 *   start runs the first stage on the seed and the next ones on what it showed: a batch of
 *   episodes of very different sizes does not run its first five one at a time.
 * - Once learned, the seed is no longer a floor: learning that stages need less than the
 *   operator guessed is the point, and a low estimate is bounded by the per-stage limit (never
 *   below job_min), by reserving max(estimate, observed usage) while a stage runs, and by OOM
 *   escalation (whose limits never fall below the last one killed: gov_escalated_limit()).
 * - The ring holds the last GOV_ESTIMATE_RING samples; older ones are forgotten, so the estimate
 *   follows a changed model, backend or feed.
 * Callers pass the best-known input size: for a fetch, Content-Length if known, else 0 (its
 * slope is ~0 anyway). */

#define GOV_ESTIMATE_RING        32U
#define GOV_ESTIMATE_MIN_SAMPLES 5U
#define GOV_ESTIMATE_PERCENTILE  90U

typedef enum GovStageKind {
        GOV_STAGE_FETCH,      /* "fetch": download, class download */
        GOV_STAGE_PREPARE,    /* "prepare": [command] prepare argv, class transcribe */
        GOV_STAGE_TRANSCRIBE, /* "transcribe": local transcriber command, class transcribe */
        GOV_STAGE_REMOTE,     /* "remote": gemini/openai upload and request, class api */
        _GOV_STAGE_KIND_MAX,
        _GOV_STAGE_KIND_INVALID = -EINVAL,
} GovStageKind;

const char *gov_stage_kind_to_string(GovStageKind k);
GovStageKind gov_stage_kind_from_string(const char *s);
/* The admission class a stage kind takes its tokens (and its seed estimate) from. */
JobClass gov_stage_kind_class(GovStageKind k);

/* One stage kind's samples. To persist it, store the samples oldest first (gov_estimator_get());
 * the seed comes from the policy and the percentile is a constant. To restore, gov_estimator_init()
 * and gov_estimator_add() them in the same order. Raw layout: slot i holds peak_bytes[i] and
 * input_bytes[i]; the n_samples filled slots end just before slot next (mod GOV_ESTIMATE_RING). */
typedef struct GovEstimator {
        uint64_t seed_bytes;
        unsigned percentile; /* 1..100 */
        unsigned n_samples;  /* filled slots, at most GOV_ESTIMATE_RING */
        unsigned next;       /* slot the next sample is written to */
        uint64_t peak_bytes[GOV_ESTIMATE_RING];
        uint64_t input_bytes[GOV_ESTIMATE_RING];
} GovEstimator;

/* Empty ring, percentile GOV_ESTIMATE_PERCENTILE. */
void gov_estimator_init(GovEstimator *e, uint64_t seed_bytes);

/* Records a finished stage: its memory.peak and its input size. When the ring is full the oldest
 * sample is dropped. Returns 0, or -EINVAL for a zero peak (no reading: learning nothing beats
 * learning that a stage needs no memory). */
int gov_estimator_add(GovEstimator *e, uint64_t peak_bytes, uint64_t input_bytes);

/* Sample i, 0 = oldest. Returns 0, or -ERANGE when i >= n_samples. */
int gov_estimator_get(const GovEstimator *e, size_t i, uint64_t *ret_peak_bytes, uint64_t *ret_input_bytes);

typedef struct GovEstimateModel {
        bool learned;      /* false: fewer than GOV_ESTIMATE_MIN_SAMPLES, the seed is used */
        double base_bytes; /* may be negative for a purely proportional stage */
        double slope;      /* peak bytes per input byte, >= 0 */
} GovEstimateModel;

/* The fitted model, for status output and tests. */
void gov_estimator_model(const GovEstimator *e, GovEstimateModel *ret);

/* The estimate for a stage with input_bytes of input (see above). */
uint64_t gov_estimator_estimate(const GovEstimator *e, uint64_t input_bytes);

/* The same with the model already fitted by gov_estimator_model() for e: the fit is the costly
 * part (pairwise slopes over the ring), so a caller estimating many stages fits once. */
uint64_t gov_estimator_estimate_model(
        const GovEstimator *e, const GovEstimateModel *m, uint64_t input_bytes);

/* One estimator per stage kind, seeded from the policy's class estimates. */
typedef struct GovEstimates {
        GovEstimator kinds[_GOV_STAGE_KIND_MAX];
} GovEstimates;

void gov_estimates_init(GovEstimates *e, const Policy *p);

/* Nearest-rank percentile of v[0..n) (pct clamped to 1..100): sorts v in place and returns the value
 * at rank ceil(pct × n / 100); 0 when n is 0. */
double gov_percentile(double *v, size_t n, unsigned pct);
