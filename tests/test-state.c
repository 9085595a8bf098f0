/* SPDX-License-Identifier: MIT */
#include <math.h>

#include "common/macro.h"
#include "policies/policy.h"
#include "runner/state.h"
#include "tests/tap.h"

#define NOW (1000000ULL * USEC_PER_SEC)
#define SEC USEC_PER_SEC

enum {
        Q = EPISODE_QUEUED,
        FI = EPISODE_FETCHING,
        FD = EPISODE_FETCHED,
        TR = EPISODE_TRANSCRIBING,
        DN = EPISODE_DONE,
        RW = EPISODE_RETRY_WAIT,
        HD = EPISODE_HELD,
        CA = EPISODE_CANCELLED,
        FA = EPISODE_FAILED,
        NO = -1
};

/* [retry] for these tests: 3 attempts, 30s..1h, 3 interruptions, 2 OOMs at job_max. */
static int test_policy(Policy *p)
{
        int r = policy_init_defaults(p);

        if (r < 0)
                return r;
        p->retry.max_attempts = 3;
        p->retry.backoff_min_usec = 30 * SEC;
        p->retry.backoff_max_usec = USEC_PER_HOUR;
        p->retry.max_interruptions = 3;
        p->retry.max_oom_at_job_max = 2;
        return 0;
}

/* One column per distinguishable event. */
static const struct {
        const char *name;
        EpisodeEvent ev;
} columns[] = {
        { "start fetch", { .type = EPISODE_EVENT_STAGE_STARTED, .stage = EPISODE_STAGE_FETCH } },
        { "start transcribe", { .type = EPISODE_EVENT_STAGE_STARTED, .stage = EPISODE_STAGE_TRANSCRIBE } },
        { "fetch ok", { .type = EPISODE_EVENT_STAGE_OK, .stage = EPISODE_STAGE_FETCH } },
        { "transcribe ok", { .type = EPISODE_EVENT_STAGE_OK, .stage = EPISODE_STAGE_TRANSCRIBE } },
        { "failed", { .type = EPISODE_EVENT_STAGE_FAILED, .error = "HTTP 503" } },
        { "failed permanently",
                { .type = EPISODE_EVENT_STAGE_FAILED, .permanent = true, .error = "HTTP 404" } },
        { "oom", { .type = EPISODE_EVENT_OOM } },
        { "oom at job_max", { .type = EPISODE_EVENT_OOM, .at_job_max = true } },
        { "timeout", { .type = EPISODE_EVENT_TIMEOUT } },
        { "cancelled", { .type = EPISODE_EVENT_CANCELLED } },
        { "interrupted", { .type = EPISODE_EVENT_INTERRUPTED } },
        { "retry due", { .type = EPISODE_EVENT_RETRY_DUE } },
        { "user retry", { .type = EPISODE_EVENT_USER_RETRY } },
        { "user retry --force", { .type = EPISODE_EVENT_USER_RETRY, .force = true } },
        { "user cancel", { .type = EPISODE_EVENT_USER_CANCEL } },
        { "user release", { .type = EPISODE_EVENT_USER_RELEASE } },
};

/* The whole transition table, from fresh counters (and a retry_wait that is due): the state each
 * event leads to, NO where the event is refused. */
static const int matrix[_EPISODE_STATE_MAX][ELEMENTSOF(columns)] = {
        /*                sf  st  fok tok fail perm oom oomx tmo can int due rty rtyf ucan rel */
        [EPISODE_QUEUED] = { FI, TR, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, CA, NO },
        [EPISODE_FETCHING] = { NO, NO, FD, NO, RW, FA, RW, RW, RW, CA, Q, NO, NO, NO, CA, NO },
        [EPISODE_FETCHED] = { NO, TR, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, CA, NO },
        [EPISODE_TRANSCRIBING] = { NO, NO, NO, DN, RW, FA, RW, RW, RW, CA, Q, NO, NO, NO, CA, NO },
        [EPISODE_DONE] = { NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, Q, NO, NO },
        [EPISODE_RETRY_WAIT] = { FI, TR, NO, NO, NO, NO, NO, NO, NO, NO, NO, Q, Q, Q, CA, NO },
        [EPISODE_HELD] = { NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, Q, Q, CA, Q },
        [EPISODE_CANCELLED] = { NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, Q, Q, NO, NO },
        [EPISODE_FAILED] = { NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, Q, Q, NO, NO },
};

TEST(transition_matrix)
{
        Policy p;
        int bad = 0;

        ASSERT_INT(test_policy(&p), ==, 0);
        for (int s = 0; s < _EPISODE_STATE_MAX; s++)
                for (size_t c = 0; c < ELEMENTSOF(columns); c++) {
                        EpisodeStatus cur = { .state = s, .next_at = s == RW ? NOW : 0 };
                        EpisodeStatus out = { .state = 99, .attempts = 77 };
                        EpisodeEvent ev = columns[c].ev;
                        char reason[STATE_REASON_MAX] = "untouched";
                        int r;

                        ev.now = NOW;
                        r = state_apply(&cur, &ev, &p, &out, reason, sizeof(reason));
                        if (matrix[s][c] == NO) {
                                /* Refused: says why, and leaves the output alone. */
                                if (r != -EINVAL || !reason[0] || out.state != 99 || out.attempts != 77) {
                                        printf("# %s on %s: expected refusal, got %d '%s'\n",
                                                columns[c].name, state_to_string(s), r, reason);
                                        bad++;
                                }
                        } else if (r != 0 || (int)out.state != matrix[s][c]) {
                                printf("# %s on %s: expected %s, got %d %s '%s'\n", columns[c].name,
                                        state_to_string(s), state_to_string(matrix[s][c]), r,
                                        r == 0 ? state_to_string(out.state) : "-", reason);
                                bad++;
                        }
                }
        policy_done(&p);
        ASSERT_INT(bad, ==, 0);
        return 0;
}

/* Counter and reason details of single transitions. */
typedef struct Row {
        const char *name;
        EpisodeStatus cur;
        EpisodeEvent ev;
        int r;
        EpisodeStatus want;
        const char *reason;
} Row;

static const Row rows[] = {
        { "first failure waits backoff_min", { .state = FI },
                { .type = EPISODE_EVENT_STAGE_FAILED, .error = "HTTP 503" }, 0,
                { .state = RW, .attempts = 1, .next_at = NOW + 30 * SEC },
                "fetch failed: HTTP 503 (attempt 1 of 3)" },
        { "second failure doubles", { .state = TR, .attempts = 1 }, { .type = EPISODE_EVENT_STAGE_FAILED },
                0, { .state = RW, .attempts = 2, .next_at = NOW + 60 * SEC },
                "transcribe failed: unknown error" },
        { "jitter spreads", { .state = TR, .attempts = 1 }, { .type = EPISODE_EVENT_TIMEOUT, .jitter = 0.5 },
                0, { .state = RW, .attempts = 2, .next_at = NOW + 75 * SEC },
                "transcribe timed out (attempt 2 of 3)" },
        { "max_attempts gives up", { .state = FI, .attempts = 2 },
                { .type = EPISODE_EVENT_STAGE_FAILED, .error = "HTTP 503" }, 0,
                { .state = FA, .attempts = 3 }, "gave up after 3 attempts (retry.max_attempts = 3)" },
        { "permanent error fails at once", { .state = FI },
                { .type = EPISODE_EVENT_STAGE_FAILED, .permanent = true, .error = "HTTP 404" }, 0,
                { .state = FA }, "fetch failed: HTTP 404" },
        { "oom counts for escalation", { .state = TR }, { .type = EPISODE_EVENT_OOM }, 0,
                { .state = RW, .attempts = 1, .oom_count = 1, .next_at = NOW + 30 * SEC },
                "out of memory (OOM kill 1)" },
        { "oom at job_max counted", { .state = TR, .oom_count = 2 },
                { .type = EPISODE_EVENT_OOM, .at_job_max = true }, 0,
                { .state = RW,
                        .attempts = 1,
                        .oom_count = 3,
                        .oom_at_max_count = 1,
                        .next_at = NOW + 30 * SEC },
                "at memory.job_max" },
        { "oom at job_max holds", { .state = TR, .oom_count = 3, .oom_at_max_count = 1 },
                { .type = EPISODE_EVENT_OOM, .at_job_max = true }, 0,
                { .state = HD, .attempts = 1, .oom_count = 4, .oom_at_max_count = 2 }, "held as too large" },
        { "oom at the attempt cap fails", { .state = TR, .attempts = 2 }, { .type = EPISODE_EVENT_OOM }, 0,
                { .state = FA, .attempts = 3, .oom_count = 1 }, "gave up after 3 attempts" },
        { "interrupted requeues without penalty", { .state = FI, .attempts = 1 },
                { .type = EPISODE_EVENT_INTERRUPTED }, 0, { .state = Q, .attempts = 1, .interruptions = 1 },
                "interrupted by a daemon restart (1 of 3): requeued" },
        { "poison episode is held", { .state = TR, .interruptions = 2 },
                { .type = EPISODE_EVENT_INTERRUPTED }, 0, { .state = HD, .interruptions = 3 },
                "running at 3 daemon crashes: held as a likely poison episode" },
        { "retry due", { .state = RW, .attempts = 1, .next_at = NOW }, { .type = EPISODE_EVENT_RETRY_DUE },
                0, { .state = Q, .attempts = 1 }, NULL },
        { "retry not due yet", { .state = RW, .next_at = NOW + 1 }, { .type = EPISODE_EVENT_RETRY_DUE },
                -EINVAL, {}, "not due" },
        { "start while waiting", { .state = RW, .next_at = NOW + 1 },
                { .type = EPISODE_EVENT_STAGE_STARTED }, -EINVAL, {}, "waiting to retry" },
        { "start clears next_at", { .state = RW, .attempts = 1, .next_at = NOW - 1 },
                { .type = EPISODE_EVENT_STAGE_STARTED }, 0, { .state = FI, .attempts = 1 }, NULL },
        { "user retry resets attempts only",
                { .state = FA, .attempts = 3, .oom_count = 2, .interruptions = 1 },
                { .type = EPISODE_EVENT_USER_RETRY }, 0, { .state = Q, .oom_count = 2, .interruptions = 1 },
                "retried by the user" },
        { "retry of a done episode needs force", { .state = DN }, { .type = EPISODE_EVENT_USER_RETRY },
                -EINVAL, {}, "--force" },
        { "retry of a running episode", { .state = TR }, { .type = EPISODE_EVENT_USER_RETRY }, -EINVAL, {},
                "transcribing" },
        { "release resets everything",
                { .state = HD, .attempts = 2, .interruptions = 3, .oom_count = 4, .oom_at_max_count = 2 },
                { .type = EPISODE_EVENT_USER_RELEASE }, 0, { .state = Q }, "released" },
        { "release needs held", { .state = FA }, { .type = EPISODE_EVENT_USER_RELEASE }, -EINVAL, {},
                "not held" },
        { "cancel of a done episode", { .state = DN }, { .type = EPISODE_EVENT_USER_CANCEL }, -EINVAL, {},
                "already done" },
        { "stage mismatch", { .state = FI },
                { .type = EPISODE_EVENT_STAGE_OK, .stage = EPISODE_STAGE_TRANSCRIBE }, -EINVAL, {},
                "transcribe finished but the episode is fetching" },
        { "unknown stage", { .state = Q },
                { .type = EPISODE_EVENT_STAGE_STARTED, .stage = _EPISODE_STAGE_MAX }, -EINVAL, {},
                "unknown stage" },
        { "unknown event", { .state = Q }, { .type = _EPISODE_EVENT_MAX }, -EINVAL, {}, "unknown event" },
        { "unknown state", { .state = _EPISODE_STATE_MAX }, { .type = EPISODE_EVENT_USER_CANCEL }, -EINVAL,
                {}, "unknown" },
};

static bool status_eq(const EpisodeStatus *a, const EpisodeStatus *b)
{
        return a->state == b->state && a->attempts == b->attempts && a->interruptions == b->interruptions &&
                a->oom_count == b->oom_count && a->oom_at_max_count == b->oom_at_max_count &&
                a->next_at == b->next_at;
}

TEST(transition_details)
{
        Policy p;
        int bad = 0;

        ASSERT_INT(test_policy(&p), ==, 0);
        FOREACH_ARRAY (row, rows, ELEMENTSOF(rows)) {
                EpisodeEvent ev = row->ev;
                EpisodeStatus out = {};
                char reason[STATE_REASON_MAX];
                int r;

                ev.now = NOW;
                r = state_apply(&row->cur, &ev, &p, &out, reason, sizeof(reason));
                if (r != row->r || (row->reason && !strstr(reason, row->reason)) ||
                        (r == 0 && !status_eq(&out, &row->want))) {
                        printf("# %s: r=%d state=%s attempts=%u interruptions=%u oom=%u oom_at_max=%u "
                               "next_at=NOW%+lld reason='%s'\n",
                                row->name, r, state_to_string(out.state), out.attempts, out.interruptions,
                                out.oom_count, out.oom_at_max_count,
                                out.next_at ? (long long)(out.next_at - NOW) : -(long long)NOW, reason);
                        bad++;
                }
        }
        policy_done(&p);
        ASSERT_INT(bad, ==, 0);
        return 0;
}

TEST(poison_loop)
{
        /* The episode-8670 loop: the daemon dies every time this episode transcribes. */
        EpisodeStatus s = { .state = EPISODE_QUEUED };
        EpisodeEvent start = {
                .type = EPISODE_EVENT_STAGE_STARTED, .stage = EPISODE_STAGE_TRANSCRIBE, .now = NOW
        };
        EpisodeEvent crash = { .type = EPISODE_EVENT_INTERRUPTED, .now = NOW };
        char reason[STATE_REASON_MAX];
        Policy p;
        int rounds = 0;

        ASSERT_INT(test_policy(&p), ==, 0);
        while (s.state != EPISODE_HELD && rounds < 10) {
                ASSERT_INT(state_apply(&s, &start, &p, &s, reason, sizeof(reason)), ==, 0);
                ASSERT_INT(state_apply(&s, &crash, &p, &s, reason, sizeof(reason)), ==, 0);
                rounds++;
        }
        ASSERT_INT(rounds, ==, 3);
        ASSERT_INT(s.attempts, ==, 0);
        ASSERT_CONTAINS(reason, "running at 3 daemon crashes: held as a likely poison episode");
        /* Held episodes are never started again without a release. */
        ASSERT_INT(state_apply(&s, &start, &p, &s, reason, sizeof(reason)), ==, -EINVAL);
        policy_done(&p);
        return 0;
}

TEST(policy_needed)
{
        EpisodeStatus s = { .state = EPISODE_FETCHING }, out;
        EpisodeEvent ev = { .type = EPISODE_EVENT_STAGE_FAILED, .now = NOW };
        char reason[STATE_REASON_MAX];

        ASSERT_INT(state_apply(&s, &ev, NULL, &out, reason, sizeof(reason)), ==, -EINVAL);
        ASSERT_CONTAINS(reason, "[retry]");
        ev.type = EPISODE_EVENT_STAGE_OK;
        ev.stage = EPISODE_STAGE_FETCH;
        ASSERT_INT(state_apply(&s, &ev, NULL, &out, reason, sizeof(reason)), ==, 0);
        ASSERT_INT(out.state, ==, EPISODE_FETCHED);
        /* A zero-sized reason buffer is fine. */
        ASSERT_INT(state_apply(&s, &ev, NULL, &out, NULL, 0), ==, 0);
        return 0;
}

TEST(backoff)
{
        const usec_t min = 30 * SEC, max = USEC_PER_HOUR;
        usec_t prev = 0;

        ASSERT_U64(state_backoff_usec(min, max, 1, 0), min);
        ASSERT_U64(state_backoff_usec(min, max, 2, 0), 60 * SEC);
        ASSERT_U64(state_backoff_usec(min, max, 3, 0), 120 * SEC);
        ASSERT_U64(state_backoff_usec(min, max, 7, 0), 1920 * SEC);
        ASSERT_U64(state_backoff_usec(min, max, 8, 0), max);
        ASSERT_U64(state_backoff_usec(min, max, 1000000, 0), max);
        /* failures = 0 is treated as the first. */
        ASSERT_U64(state_backoff_usec(min, max, 0, 0), min);
        /* Jitter adds up to half, never past the cap. */
        ASSERT_U64(state_backoff_usec(min, max, 1, 0.5), 37500 * USEC_PER_MSEC);
        ASSERT_U64(state_backoff_usec(min, max, 20, 0.99), max);
        ASSERT_U64(state_backoff_usec(min, max, 1, NAN), min);
        ASSERT_U64(state_backoff_usec(min, max, 1, -3), min);
        ASSERT_U64(state_backoff_usec(min, max, 1, 7), 45 * SEC);
        /* No overflow near the top, and a max below min means min. */
        ASSERT_U64(state_backoff_usec(USEC_INFINITY / 2, USEC_INFINITY, 5, 0.9), USEC_INFINITY);
        ASSERT_U64(state_backoff_usec(min, 0, 4, 0), min);
        ASSERT_U64(state_backoff_usec(0, max, 4, 0.9), 0);
        for (unsigned n = 1; n < 40; n++) {
                usec_t d = state_backoff_usec(min, max, n, 0);
                ASSERT_TRUE(d >= prev && d >= min && d <= max);
                prev = d;
        }
        return 0;
}

TEST(names)
{
        for (int s = 0; s < _EPISODE_STATE_MAX; s++)
                ASSERT_INT(state_from_string(state_to_string(s)), ==, s);
        for (int s = 0; s < _EPISODE_STAGE_MAX; s++)
                ASSERT_INT(state_stage_from_string(state_stage_to_string(s)), ==, s);
        for (int s = 0; s < _RUN_RESULT_MAX; s++)
                ASSERT_INT(state_result_from_string(state_result_to_string(s)), ==, s);
        ASSERT_STR(state_to_string(EPISODE_RETRY_WAIT), "retry_wait");
        ASSERT_STR(state_result_to_string(RUN_RESULT_INTERRUPTED), "interrupted");
        ASSERT_INT(state_from_string("Queued"), ==, -EINVAL);
        ASSERT_INT(state_from_string(NULL), ==, -EINVAL);
        ASSERT_STR(state_to_string(_EPISODE_STATE_INVALID), "?");
        ASSERT_INT(state_running(EPISODE_STAGE_TRANSCRIBE), ==, EPISODE_TRANSCRIBING);
        ASSERT_TRUE(state_is_running(EPISODE_FETCHING) && !state_is_running(EPISODE_FETCHED));
        return 0;
}

TAP_MAIN(T(transition_matrix), T(transition_details), T(poison_loop), T(policy_needed), T(backoff), T(names))
