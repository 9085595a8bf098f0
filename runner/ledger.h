/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/macro.h"
#include "common/time-util.h"
#include "policies/policy.h"
#include "runner/state.h"

/* The crash-safe ledger: one SQLite database, <state_dir>/ledger.sqlite, in WAL mode, owned by one
 * memgov at a time through <state_dir>/lock. Every mutating call is one transaction that is on
 * disk (fsynced) before the call returns, so an episode reported done is never run again, and a
 * daemon killed at any point finds a consistent ledger on restart (ledger_recover()).
 *
 * All calls return 0 (or the documented positive value) on success and a negative errno on
 * failure; ledger_error() then holds a one-line message naming the file or episode. Episode ids
 * are checked with episode_id_valid() first (-EINVAL). Times are CLOCK_REALTIME microseconds.
 * Not thread-safe: one Ledger belongs to one thread. */

typedef struct Ledger Ledger;

#define LEDGER_FILE           "ledger.sqlite"
#define LEDGER_LOCK_FILE      "lock"
#define LEDGER_SCHEMA_VERSION 3
#define LEDGER_ESTIMATES_KEEP 256
#define LEDGER_CGROUP_MAX     (128 + 32)

typedef struct Episode {
        char *id;
        char *url;
        char *title; /* NULL when none */
        EpisodeStatus status;
        char *reason; /* why it is in this state (last error, hold reason…); NULL when none */
        usec_t created_at;
        usec_t updated_at;
        uint64_t size_bytes; /* of the fetched audio; 0 = not known yet */
        char *sha256;
        char *format;
        char *audio_path;
        char *transcript_path;
        char *metadata_path;
        uint64_t current_limit_bytes; /* memory.max of the latest stage run; 0 = none yet */
} Episode;

/* Results stored together with a state change, in the same transaction. NULL strings and zero
 * numbers leave the stored value as it is. */
typedef struct EpisodeFields {
        uint64_t size_bytes;
        const char *sha256;
        const char *format;
        const char *audio_path;
        const char *transcript_path;
        const char *metadata_path;
        uint64_t current_limit_bytes;
} EpisodeFields;

/* A started stage run: its cgroup is "<id>.<stage>.<attempt>", never used twice. */
typedef struct StageRunStart {
        int64_t run_id;
        unsigned attempt;
        char cgroup[LEDGER_CGROUP_MAX];
} StageRunStart;

/* How a stage run ended. */
typedef struct StageEnd {
        RunResult result;
        int exit_code;
        int signal;
        bool oom_kill;
        uint64_t peak_bytes;
        usec_t duration_usec; /* measured on CLOCK_MONOTONIC by the caller */
        usec_t ended_at;
        const char *error; /* NULL when none */
} StageEnd;

/* A stage run as recorded; strings are valid during the callback only. */
typedef struct StageRun {
        int64_t run_id;
        const char *episode_id;
        EpisodeStage stage;
        unsigned attempt;
        const char *cgroup;
        uint64_t limit_bytes;
        usec_t started_at;
        usec_t ended_at;  /* 0 while running */
        RunResult result; /* _RUN_RESULT_INVALID while running */
        int exit_code;
        int signal;
        bool oom_kill;
        uint64_t peak_bytes;
        usec_t duration_usec;
        const char *error;
} StageRun;

typedef struct EstimateSample {
        uint64_t peak_bytes;
        uint64_t input_bytes;
        usec_t at;
} EstimateSample;

typedef struct LedgerRecovery {
        unsigned runs_closed; /* stage runs that had no end, now closed as interrupted */
        unsigned requeued;
        unsigned held; /* poison episodes: running at too many daemon deaths */
} LedgerRecovery;

/* Opens (creating with mode 0750 if needed) state_dir and its ledger, takes the lock and brings
 * the schema up to LEDGER_SCHEMA_VERSION. Returns 0; -EBUSY when another process (or another
 * Ledger in this one) holds the lock, with its pid in *ret_holder (0 when unknown);
 * -EPROTONOSUPPORT when the database was written by a newer memgov; -EBADMSG when the file is
 * not a memgov ledger; other -errno. err gets a one-line message in every failure case.
 * ret_holder may be NULL. */
int ledger_open(const char *state_dir, Ledger **ret, pid_t *ret_holder, char *err, size_t err_size);

/* Closes the database and releases the lock. Accepts NULL; returns NULL. */
Ledger *ledger_close(Ledger *l);
static inline void ledger_closep(Ledger **l)
{
        ledger_close(*l);
}
#define _cleanup_ledger_ _cleanup_(ledger_closep)

/* The message for the last failed call, "" when there was none. */
const char *ledger_error(const Ledger *l);

/* Frees the strings of e (not e itself) and zeroes it. */
void ledger_episode_done(Episode *e);
void ledger_episodes_free(Episode *a, size_t n);

/* Adds an episode as queued. url should have passed manifest_check_url(). Returns 1 when it was
 * new; 0 when the id was already known (nothing is changed, not even the URL), with its state in
 * *ret_state (may be NULL). */
int ledger_add(Ledger *l, const char *id, const char *url, const char *title, EpisodeState *ret_state);

/* Returns 0 with the episode in *ret (free with ledger_episode_done()), or -ENOENT. */
int ledger_get(Ledger *l, const char *id, Episode *ret);

/* Compare-and-set: stores status, reason (NULL or "" clears it) and the given fields if the
 * episode is still in state expected. Returns 0, -ESTALE when its state changed meanwhile,
 * -ENOENT. The caller is responsible for status being a legal successor: see ledger_apply(). */
int ledger_transition(Ledger *l, const char *id, EpisodeState expected, const EpisodeStatus *status,
        const char *reason, const EpisodeFields *fields);

/* Runs ev through the state machine (state_apply()) and stores the outcome with its reason and
 * fields. expected is checked as in ledger_transition(); _EPISODE_STATE_INVALID skips that check.
 * ev->now = 0 stands for the current time.
 * p may be NULL for events that do not consult [retry] (started, ok, retry due, user events).
 * Returns 0 with the new status in *ret (may be NULL); -ESTALE; -ENOENT; -EINVAL when the event
 * is not allowed in the episode's state (ledger_error() says why). */
int ledger_apply(Ledger *l, const char *id, EpisodeState expected, const EpisodeEvent *ev, const Policy *p,
        const EpisodeFields *fields, EpisodeStatus *ret);

/* Records the start of a stage run and moves the episode to fetching/transcribing (the "stage
 * started" event at now) in one transaction; limit_bytes becomes current_limit_bytes. Returns 0
 * with the run id, attempt number and cgroup name in *ret; -EINVAL when the stage may not start
 * in the episode's state; -ENOENT. */
int ledger_stage_begin(
        Ledger *l, const char *id, EpisodeStage stage, uint64_t limit_bytes, usec_t now, StageRunStart *ret);

/* Records the end of a run and, when ev is not NULL, applies ev to its episode with fields, in
 * one transaction. Returns 0 with the new status in *ret_status (may be NULL); -ENOENT for an
 * unknown run; -EALREADY when the run was already ended; -ESTALE when the episode had left the
 * run's state (e.g. cancelled while running): the end is still recorded, ev is not applied;
 * -EINVAL when ev is not allowed (the end is still recorded). */
int ledger_stage_end(Ledger *l, int64_t run_id, const StageEnd *end, const EpisodeEvent *ev, const Policy *p,
        const EpisodeFields *fields, EpisodeStatus *ret_status);

/* After a restart, before anything runs: closes every run without an end as interrupted and
 * feeds the interrupted event to every episode that was fetching or transcribing, which
 * requeues it or, after retry.max_interruptions, holds it. One transaction. Returns 0 and the
 * counts in *ret (may be NULL). */
int ledger_recover(Ledger *l, usec_t now, const Policy *p, LedgerRecovery *ret);

/* Up to max episodes that can run now: queued, fetched (waiting for a transcribe token) and
 * retry_wait with next_at <= now, oldest first. Returns 0 with a new array in *ret (free with
 * ledger_episodes_free()) and its length in *ret_n. */
int ledger_next_runnable(Ledger *l, usec_t now, size_t max, Episode **ret, size_t *ret_n);

/* Calls fn for every episode (or those in state; _EPISODE_STATE_INVALID for all) in creation
 * order. e is valid during the call only, and fn must not call into the ledger. A negative return
 * from fn stops the listing and is returned. */
typedef int (*LedgerEpisodeFn)(const Episode *e, void *userdata);
int ledger_list(Ledger *l, EpisodeState state, LedgerEpisodeFn fn, void *userdata);

/* Calls fn for every stage run of episode id (none for an unknown id), oldest first, as ledger_list(). */
typedef int (*LedgerRunFn)(const StageRun *r, void *userdata);
int ledger_list_runs(Ledger *l, const char *id, LedgerRunFn fn, void *userdata);

/* Episodes per state, for status and summaries. */
int ledger_count(Ledger *l, uint64_t ret_counts[_EPISODE_STATE_MAX]);

/* Memory samples for learning estimates, per kind (e.g. "fetch", "transcribe.command": the same
 * characters as an episode id, at most 64). Only the newest LEDGER_ESTIMATES_KEEP per kind are
 * kept. Adding is the one commit that is not fsynced on its own: losing the last sample to a power
 * cut is harmless, and the next durable commit carries it to disk anyway. */
int ledger_estimate_add(Ledger *l, const char *kind, const EstimateSample *s);

/* Fills ret with up to max samples of kind, newest first; returns 0 with the count in *ret_n. */
int ledger_estimate_load(Ledger *l, const char *kind, EstimateSample *ret, size_t max, size_t *ret_n);
