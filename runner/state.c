/* SPDX-License-Identifier: MIT */
#include <stdarg.h>

#include "common/macro.h"
#include "runner/state.h"

static const char *const state_names[_EPISODE_STATE_MAX] = {
        [EPISODE_QUEUED] = "queued",
        [EPISODE_FETCHING] = "fetching",
        [EPISODE_FETCHED] = "fetched",
        [EPISODE_TRANSCRIBING] = "transcribing",
        [EPISODE_DONE] = "done",
        [EPISODE_RETRY_WAIT] = "retry_wait",
        [EPISODE_HELD] = "held",
        [EPISODE_CANCELLED] = "cancelled",
        [EPISODE_FAILED] = "failed",
};

static const char *const stage_names[_EPISODE_STAGE_MAX] = {
        [EPISODE_STAGE_FETCH] = "fetch",
        [EPISODE_STAGE_TRANSCRIBE] = "transcribe",
};

static const char *const result_names[_RUN_RESULT_MAX] = {
        [RUN_RESULT_OK] = "ok",
        [RUN_RESULT_EXIT] = "exit",
        [RUN_RESULT_SIGNAL] = "signal",
        [RUN_RESULT_OOM] = "oom",
        [RUN_RESULT_TIMEOUT] = "timeout",
        [RUN_RESULT_CANCELLED] = "cancelled",
        [RUN_RESULT_WATCHDOG] = "watchdog",
        [RUN_RESULT_INTERRUPTED] = "interrupted",
};

static const char *const event_names[_EPISODE_EVENT_MAX] = {
        [EPISODE_EVENT_STAGE_STARTED] = "stage started",
        [EPISODE_EVENT_STAGE_OK] = "stage ok",
        [EPISODE_EVENT_STAGE_FAILED] = "stage failed",
        [EPISODE_EVENT_OOM] = "oom",
        [EPISODE_EVENT_TIMEOUT] = "timeout",
        [EPISODE_EVENT_CANCELLED] = "cancelled",
        [EPISODE_EVENT_INTERRUPTED] = "interrupted",
        [EPISODE_EVENT_RETRY_DUE] = "retry due",
        [EPISODE_EVENT_USER_RETRY] = "retry",
        [EPISODE_EVENT_USER_CANCEL] = "cancel",
        [EPISODE_EVENT_USER_RELEASE] = "release",
};

static int lookup(const char *const *names, size_t n, const char *s)
{
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (streq(names[i], s))
                        return (int)i;
        return -EINVAL;
}

const char *state_to_string(EpisodeState s)
{
        return s >= 0 && s < _EPISODE_STATE_MAX ? state_names[s] : "?";
}

EpisodeState state_from_string(const char *s)
{
        return (EpisodeState)lookup(state_names, _EPISODE_STATE_MAX, s);
}

const char *state_stage_to_string(EpisodeStage s)
{
        return s >= 0 && s < _EPISODE_STAGE_MAX ? stage_names[s] : "?";
}

EpisodeStage state_stage_from_string(const char *s)
{
        return (EpisodeStage)lookup(stage_names, _EPISODE_STAGE_MAX, s);
}

const char *state_result_to_string(RunResult r)
{
        return r >= 0 && r < _RUN_RESULT_MAX ? result_names[r] : "?";
}

RunResult state_result_from_string(const char *s)
{
        return (RunResult)lookup(result_names, _RUN_RESULT_MAX, s);
}

const char *state_event_to_string(EpisodeEventType t)
{
        return t >= 0 && t < _EPISODE_EVENT_MAX ? event_names[t] : "?";
}

EpisodeState state_running(EpisodeStage s)
{
        switch (s) {
        case EPISODE_STAGE_FETCH:
                return EPISODE_FETCHING;
        case EPISODE_STAGE_TRANSCRIBE:
                return EPISODE_TRANSCRIBING;
        case _EPISODE_STAGE_MAX:
        case _EPISODE_STAGE_INVALID:
                break;
        }
        return _EPISODE_STATE_INVALID;
}

bool state_is_running(EpisodeState s)
{
        return s == EPISODE_FETCHING || s == EPISODE_TRANSCRIBING;
}

static usec_t add_sat(usec_t a, usec_t b)
{
        return a > USEC_INFINITY - b ? USEC_INFINITY : a + b;
}

usec_t state_backoff_usec(usec_t backoff_min, usec_t backoff_max, unsigned failures, double jitter)
{
        usec_t base = backoff_min, cap = MAX(backoff_min, backoff_max), extra;

        for (unsigned i = 1; i < failures && base < cap; i++)
                base = add_sat(base, base);
        base = MIN(base, cap);
        /* NaN and out-of-range jitter from a careless caller must not escape the cap. */
        if (!(jitter > 0.0))
                jitter = 0.0;
        if (jitter > 1.0)
                jitter = 1.0;
        extra = (usec_t)((double)(base / 2) * jitter);
        return MIN(add_sat(base, extra), cap);
}

_printf_(3, 4) static int say(char *buf, size_t size, const char *fmt, ...)
{
        va_list ap;

        if (size == 0)
                return 0;
        va_start(ap, fmt);
        vsnprintf(buf, size, fmt, ap);
        va_end(ap);
        return 0;
}

_printf_(3, 4) static int refuse(char *buf, size_t size, const char *fmt, ...)
{
        va_list ap;

        if (size > 0) {
                va_start(ap, fmt);
                vsnprintf(buf, size, fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

static const char *stage_of(EpisodeState s)
{
        return s == EPISODE_FETCHING ? "fetch" : "transcribe";
}

/* A failure that may be retried: counts an attempt, then either waits with backoff or gives up. */
static int fail_attempt(EpisodeStatus *n, const EpisodeEvent *ev, const Policy *p, const char *what,
        char *reason, size_t size)
{
        n->attempts++;
        if (n->attempts >= p->retry.max_attempts) {
                n->state = EPISODE_FAILED;
                n->next_at = 0;
                return say(reason, size, "%s; gave up after %u attempts (retry.max_attempts = %u)", what,
                        n->attempts, p->retry.max_attempts);
        }
        n->state = EPISODE_RETRY_WAIT;
        n->next_at = add_sat(ev->now,
                state_backoff_usec(
                        p->retry.backoff_min_usec, p->retry.backoff_max_usec, n->attempts, ev->jitter));
        return say(reason, size, "%s (attempt %u of %u)", what, n->attempts, p->retry.max_attempts);
}

static int stage_ended(EpisodeStatus *n, const EpisodeEvent *ev, const Policy *p, char *reason, size_t size)
{
        const char *stage = stage_of(n->state);
        char what[STATE_REASON_MAX];

        switch (ev->type) {
        case EPISODE_EVENT_STAGE_FAILED:
                snprintf(
                        what, sizeof(what), "%s failed: %s", stage, ev->error ? ev->error : "unknown error");
                if (ev->permanent) {
                        n->state = EPISODE_FAILED;
                        n->next_at = 0;
                        return say(reason, size, "%s", what);
                }
                return fail_attempt(n, ev, p, what, reason, size);
        case EPISODE_EVENT_OOM:
                n->oom_count++;
                if (ev->at_job_max) {
                        n->oom_at_max_count++;
                        if (n->oom_at_max_count >= p->retry.max_oom_at_job_max) {
                                n->attempts++;
                                n->state = EPISODE_HELD;
                                n->next_at = 0;
                                return say(reason, size,
                                        "%s ran out of memory at memory.job_max %u time(s) "
                                        "(retry.max_oom_at_job_max = %u): held as too large for this "
                                        "budget; raise job_max, then release it",
                                        stage, n->oom_at_max_count, p->retry.max_oom_at_job_max);
                        }
                }
                snprintf(what, sizeof(what), "%s ran out of memory (OOM kill %u%s)", stage, n->oom_count,
                        ev->at_job_max ? ", at memory.job_max" : "");
                return fail_attempt(n, ev, p, what, reason, size);
        case EPISODE_EVENT_TIMEOUT:
                snprintf(what, sizeof(what), "%s timed out", stage);
                return fail_attempt(n, ev, p, what, reason, size);
        case EPISODE_EVENT_CANCELLED:
                n->state = EPISODE_CANCELLED;
                n->next_at = 0;
                return say(reason, size, "%s was cancelled", stage);
        case EPISODE_EVENT_INTERRUPTED:
                /* Not the episode's fault as far as anyone knows, so no attempt is charged; but an
                 * episode that is running every time the daemon dies is probably what kills it. */
                n->interruptions++;
                n->next_at = 0;
                if (n->interruptions >= p->retry.max_interruptions) {
                        n->state = EPISODE_HELD;
                        return say(reason, size,
                                "running at %u daemon crashes: held as a likely poison episode "
                                "(retry.max_interruptions = %u); release it to try again",
                                n->interruptions, p->retry.max_interruptions);
                }
                n->state = EPISODE_QUEUED;
                return say(reason, size, "%s interrupted by a daemon restart (%u of %u): requeued", stage,
                        n->interruptions, p->retry.max_interruptions);
        case EPISODE_EVENT_STAGE_STARTED:
        case EPISODE_EVENT_STAGE_OK:
        case EPISODE_EVENT_RETRY_DUE:
        case EPISODE_EVENT_USER_RETRY:
        case EPISODE_EVENT_USER_CANCEL:
        case EPISODE_EVENT_USER_RELEASE:
        case _EPISODE_EVENT_MAX:
                break;
        }
        return refuse(reason, size, "internal error: unexpected event");
}

static int stage_started(EpisodeStatus *n, const EpisodeEvent *ev, char *reason, size_t size)
{
        const char *stage = state_stage_to_string(ev->stage);
        bool from_queue =
                n->state == EPISODE_QUEUED || (n->state == EPISODE_RETRY_WAIT && ev->now >= n->next_at);

        if (ev->stage < 0 || ev->stage >= _EPISODE_STAGE_MAX)
                return refuse(reason, size, "unknown stage");
        if (n->state == EPISODE_RETRY_WAIT && !from_queue)
                return refuse(reason, size, "cannot start %s: waiting to retry", stage);
        /* A transcribe may start from the queue: a retried or requeued episode keeps the audio it
         * already fetched (the caller knows whether it is still there), so it is not fetched twice. */
        if (from_queue || (ev->stage == EPISODE_STAGE_TRANSCRIBE && n->state == EPISODE_FETCHED)) {
                n->state = state_running(ev->stage);
                n->next_at = 0;
                return say(reason, size, "%s", "");
        }
        return refuse(reason, size, "cannot start %s while %s", stage, state_to_string(n->state));
}

int state_apply(const EpisodeStatus *cur, const EpisodeEvent *ev, const Policy *p, EpisodeStatus *ret,
        char *reason, size_t reason_size)
{
        EpisodeStatus n = *cur;
        const char *state = state_to_string(cur->state);
        int r;

        if (reason_size > 0)
                reason[0] = 0;
        if (cur->state < 0 || cur->state >= _EPISODE_STATE_MAX)
                return refuse(reason, reason_size, "unknown current state");

        switch (ev->type) {
        case EPISODE_EVENT_STAGE_STARTED:
                r = stage_started(&n, ev, reason, reason_size);
                break;
        case EPISODE_EVENT_STAGE_OK:
                if (ev->stage < 0 || ev->stage >= _EPISODE_STAGE_MAX ||
                        cur->state != state_running(ev->stage))
                        return refuse(reason, reason_size, "%s finished but the episode is %s",
                                state_stage_to_string(ev->stage), state);
                n.state = ev->stage == EPISODE_STAGE_FETCH ? EPISODE_FETCHED : EPISODE_DONE;
                n.next_at = 0;
                r = 0;
                break;
        case EPISODE_EVENT_STAGE_FAILED:
        case EPISODE_EVENT_OOM:
        case EPISODE_EVENT_TIMEOUT:
        case EPISODE_EVENT_CANCELLED:
        case EPISODE_EVENT_INTERRUPTED:
                if (!state_is_running(cur->state))
                        return refuse(reason, reason_size, "%s: no stage is running (episode is %s)",
                                state_event_to_string(ev->type), state);
                if (!p && ev->type != EPISODE_EVENT_CANCELLED)
                        return refuse(reason, reason_size, "%s: needs the policy's [retry] limits",
                                state_event_to_string(ev->type));
                r = stage_ended(&n, ev, p, reason, reason_size);
                break;
        case EPISODE_EVENT_RETRY_DUE:
                if (cur->state != EPISODE_RETRY_WAIT)
                        return refuse(reason, reason_size, "not waiting to retry (episode is %s)", state);
                if (ev->now < cur->next_at)
                        return refuse(reason, reason_size, "retry is not due yet");
                n.state = EPISODE_QUEUED;
                n.next_at = 0;
                r = 0;
                break;
        case EPISODE_EVENT_USER_RETRY:
                if (cur->state == EPISODE_DONE && !ev->force)
                        return refuse(reason, reason_size, "already done: use --force to run it again");
                if (cur->state != EPISODE_FAILED && cur->state != EPISODE_HELD &&
                        cur->state != EPISODE_CANCELLED && cur->state != EPISODE_RETRY_WAIT &&
                        cur->state != EPISODE_DONE)
                        return refuse(reason, reason_size, "cannot retry: the episode is %s", state);
                /* From retry_wait this skips the wait. A fresh set of attempts; the OOM and interruption
                 * history stays, so the next attempt still gets the escalated limit and a poison episode is
                 * still caught. */
                n.state = EPISODE_QUEUED;
                n.attempts = 0;
                n.next_at = 0;
                r = say(reason, reason_size, "retried by the user");
                break;
        case EPISODE_EVENT_USER_CANCEL:
                if (cur->state == EPISODE_DONE || cur->state == EPISODE_FAILED ||
                        cur->state == EPISODE_CANCELLED)
                        return refuse(
                                reason, reason_size, "cannot cancel: the episode is already %s", state);
                n.state = EPISODE_CANCELLED;
                n.next_at = 0;
                r = say(reason, reason_size, "cancelled by the user");
                break;
        case EPISODE_EVENT_USER_RELEASE:
                if (cur->state != EPISODE_HELD)
                        return refuse(
                                reason, reason_size, "cannot release: the episode is %s, not held", state);
                n = (EpisodeStatus){ .state = EPISODE_QUEUED };
                r = say(reason, reason_size, "released by the user");
                break;
        case _EPISODE_EVENT_MAX:
        default:
                return refuse(reason, reason_size, "unknown event");
        }
        if (r < 0)
                return r;
        *ret = n;
        return 0;
}
