/* SPDX-License-Identifier: MIT */
/* Stage runs, crash recovery and estimate samples. */
#include <inttypes.h>

#include "runner/ledger-internal.h"
#include "runner/manifest.h"

#define ESTIMATE_KIND_MAX 64

int ledger_stage_begin(
        Ledger *l, const char *id, EpisodeStage stage, uint64_t limit_bytes, usec_t now, StageRunStart *ret)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        EpisodeEvent ev = { .type = EPISODE_EVENT_STAGE_STARTED, .stage = stage, .now = now };
        EpisodeFields f = { .current_limit_bytes = limit_bytes };
        StageRunStart s = {};
        int r;

        if ((r = ledger_check_id(l, id)) < 0)
                return r;
        if (stage < 0 || stage >= _EPISODE_STAGE_MAX)
                return ledger_fail(l, -EINVAL, "episode %s: unknown stage", id);
        if ((r = ledger_tx_begin(l)) < 0)
                return r;
        r = ledger_apply_in_tx(l, id, _EPISODE_STATE_INVALID, &ev, NULL, &f, NULL);
        if (r >= 0)
                r = ledger_prepare(l, &st,
                        "SELECT COALESCE(MAX(attempt), 0) + 1 FROM stage_runs WHERE episode_id = ? AND stage = ?",
                        "ss", id, state_stage_to_string(stage));
        if (r >= 0) {
                r = sqlite3_step(st);
                r = r == SQLITE_ROW ? 0 : ledger_sqlfail(l, r, "numbering the attempt");
        }
        if (r >= 0) {
                s.attempt = col_uint(st, 0);
                sqlite3_reset(st);
                snprintf(
                        s.cgroup, sizeof(s.cgroup), "%s.%s.%u", id, state_stage_to_string(stage), s.attempt);
                r = ledger_run(l,
                        "INSERT INTO stage_runs (episode_id, stage, attempt, cgroup, limit_bytes, started_at) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        "ssusuu", id, state_stage_to_string(stage), (uint64_t)s.attempt, s.cgroup,
                        limit_bytes, (uint64_t)now);
        }
        if (r >= 0) {
                s.run_id = sqlite3_last_insert_rowid(l->db);
                if (ret)
                        *ret = s;
        }
        return ledger_tx_end(l, r < 0 ? r : 0, r >= 0);
}

int ledger_stage_end(Ledger *l, int64_t run_id, const StageEnd *end, const EpisodeEvent *ev, const Policy *p,
        const EpisodeFields *fields, EpisodeStatus *ret_status)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        char id[EPISODE_ID_MAX + 1];
        EpisodeStage stage;
        EpisodeEvent e;
        int r;

        if (end->result < 0 || end->result >= _RUN_RESULT_MAX)
                return ledger_fail(l, -EINVAL, "stage run %" PRId64 ": invalid result", run_id);
        if ((r = ledger_tx_begin(l)) < 0)
                return r;
        r = ledger_prepare(l, &st,
                "SELECT episode_id, stage, ended_at IS NOT NULL FROM stage_runs WHERE run_id = ?", "u",
                (uint64_t)run_id);
        if (r < 0)
                return ledger_tx_end(l, r, false);
        r = sqlite3_step(st);
        if (r != SQLITE_ROW)
                return ledger_tx_end(l,
                        r == SQLITE_DONE ? ledger_fail(l, -ENOENT,
                                                   "stage run %" PRId64 " is not in the ledger", run_id)
                                         : ledger_sqlfail(l, r, "reading a stage run"),
                        false);
        snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(st, 0));
        stage = state_stage_from_string((const char *)sqlite3_column_text(st, 1));
        if (sqlite3_column_int(st, 2))
                return ledger_tx_end(l,
                        ledger_fail(l, -EALREADY, "stage run %" PRId64 " of %s already ended", run_id, id),
                        false);
        if (stage < 0)
                return ledger_tx_end(
                        l, ledger_fail(l, -EBADMSG, "stage run %" PRId64 ": unknown stage", run_id), false);
        sqlite3_reset(st);
        r = ledger_run(l,
                "UPDATE stage_runs SET ended_at = ?, result = ?, exit_code = ?, signal = ?, oom_kill = ?,"
                " peak_bytes = ?, duration_usec = ?, error = ? WHERE run_id = ?",
                "usiiiuusu", (uint64_t)(end->ended_at ?: now_usec(CLOCK_REALTIME)),
                state_result_to_string(end->result), end->exit_code, end->signal, (int)end->oom_kill,
                end->peak_bytes, (uint64_t)end->duration_usec, end->error, (uint64_t)run_id);
        if (r < 0 || !ev)
                return ledger_tx_end(l, r < 0 ? r : 0, r >= 0);
        /* The run's own stage, so callers cannot confuse a fetch end with a transcribe end. */
        e = *ev;
        e.stage = stage;
        if (e.now == 0)
                e.now = end->ended_at;
        r = ledger_apply_in_tx(l, id, state_running(stage), &e, p, fields, ret_status);
        /* The end of the run is a fact whatever the episode did meanwhile: keep it. */
        return ledger_tx_end(l, r, true);
}

static int collect_running(Ledger *l, char ***ret, size_t *ret_n)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        char **ids = NULL;
        size_t n = 0;
        int r = ledger_prepare(l, &st,
                "SELECT id FROM episodes WHERE state IN ('fetching', 'transcribing') ORDER BY created_at, rowid",
                "");

        while (r >= 0 && (r = sqlite3_step(st)) == SQLITE_ROW) {
                char **nl = realloc(ids, (n + 1) * sizeof(char *));
                if (!nl || ledger_col_dup(st, 0, &nl[n]) < 0 || !nl[n]) {
                        ids = nl ?: ids;
                        r = ledger_fail(l, -ENOMEM, "out of memory");
                        break;
                }
                ids = nl;
                n++;
        }
        if (r >= 0 && r != SQLITE_DONE)
                r = ledger_sqlfail(l, r, "listing running episodes");
        *ret = ids;
        *ret_n = n;
        return r < 0 ? r : 0;
}

int ledger_recover(Ledger *l, usec_t now, const Policy *p, LedgerRecovery *ret)
{
        EpisodeEvent ev = { .type = EPISODE_EVENT_INTERRUPTED, .now = now };
        LedgerRecovery rec = {};
        char **ids = NULL;
        size_t n = 0;
        int r;

        if (!p)
                return ledger_fail(l, -EINVAL, "recovery needs the policy's [retry] limits");
        if ((r = ledger_tx_begin(l)) < 0)
                return r;
        r = ledger_run(l,
                "UPDATE stage_runs SET ended_at = ?, result = 'interrupted',"
                " error = 'memgov stopped while this stage ran' WHERE ended_at IS NULL",
                "u", (uint64_t)now);
        if (r >= 0) {
                rec.runs_closed = (unsigned)r;
                /* Also episodes left running without an open run (a raw transition, an old
                 * ledger): nothing runs them any more, so they are interrupted all the same. */
                r = collect_running(l, &ids, &n);
        }
        for (size_t i = 0; r >= 0 && i < n; i++) {
                EpisodeStatus s;
                r = ledger_apply_in_tx(l, ids[i], _EPISODE_STATE_INVALID, &ev, p, NULL, &s);
                if (r >= 0 && s.state == EPISODE_HELD)
                        rec.held++;
                else if (r >= 0)
                        rec.requeued++;
        }
        for (size_t i = 0; i < n; i++)
                free(ids[i]);
        free(ids);
        r = ledger_tx_end(l, r, r >= 0);
        if (r >= 0 && ret)
                *ret = rec;
        return r;
}

int ledger_list_runs(Ledger *l, const char *id, LedgerRunFn fn, void *userdata)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        if ((r = ledger_check_id(l, id)) < 0 ||
                (r = ledger_prepare(l, &st,
                         "SELECT run_id, episode_id, stage, attempt, cgroup, limit_bytes, started_at, ended_at,"
                         " result, exit_code, signal, oom_kill, peak_bytes, duration_usec, error"
                         " FROM stage_runs WHERE episode_id = ? ORDER BY run_id",
                         "s", id)) < 0)
                return r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
                const char *result = (const char *)sqlite3_column_text(st, 8);
                StageRun run = {
                        .run_id = sqlite3_column_int64(st, 0),
                        .episode_id = (const char *)sqlite3_column_text(st, 1),
                        .stage = state_stage_from_string((const char *)sqlite3_column_text(st, 2)),
                        .attempt = col_uint(st, 3),
                        .cgroup = (const char *)sqlite3_column_text(st, 4),
                        .limit_bytes = col_u64(st, 5),
                        .started_at = col_u64(st, 6),
                        .ended_at = col_u64(st, 7),
                        .result = result ? state_result_from_string(result) : _RUN_RESULT_INVALID,
                        .exit_code = sqlite3_column_int(st, 9),
                        .signal = sqlite3_column_int(st, 10),
                        .oom_kill = sqlite3_column_int(st, 11) != 0,
                        .peak_bytes = col_u64(st, 12),
                        .duration_usec = col_u64(st, 13),
                        .error = (const char *)sqlite3_column_text(st, 14),
                };
                r = fn(&run, userdata);
                if (r < 0)
                        return r;
        }
        return r == SQLITE_DONE ? 0 : ledger_sqlfail(l, r, "listing stage runs");
}

static int check_kind(Ledger *l, const char *kind)
{
        if (!episode_id_valid(kind) || strlen(kind) > ESTIMATE_KIND_MAX)
                return ledger_fail(l, -EINVAL,
                        "invalid estimate kind: use 1-%d characters from A-Z a-z 0-9 . _ -",
                        ESTIMATE_KIND_MAX);
        return 0;
}

int ledger_estimate_add(Ledger *l, const char *kind, const EstimateSample *s)
{
        int r, k;

        if ((r = check_kind(l, kind)) < 0 || (r = ledger_exec(l, "PRAGMA synchronous = NORMAL")) < 0)
                return r;
        r = ledger_tx_begin(l);
        if (r >= 0)
                r = ledger_run(l,
                        "INSERT INTO estimates (kind, peak_bytes, input_bytes, at) VALUES (?, ?, ?, ?)",
                        "suuu", kind, s->peak_bytes, s->input_bytes, (uint64_t)s->at);
        if (r >= 0)
                r = ledger_run(l,
                        "DELETE FROM estimates WHERE kind = ?1 AND id <= (SELECT id FROM estimates"
                        " WHERE kind = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
                        "su", kind, (uint64_t)LEDGER_ESTIMATES_KEEP);
        r = ledger_tx_end(l, r < 0 ? r : 0, r >= 0);
        k = ledger_exec(l, "PRAGMA synchronous = FULL");
        return r < 0 ? r : k;
}

int ledger_estimate_load(Ledger *l, const char *kind, EstimateSample *ret, size_t max, size_t *ret_n)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        size_t n = 0;
        int r;

        if ((r = check_kind(l, kind)) < 0 ||
                (r = ledger_prepare(l, &st,
                         "SELECT peak_bytes, input_bytes, at FROM estimates WHERE kind = ? ORDER BY id DESC LIMIT ?",
                         "su", kind, (uint64_t)MIN(max, (size_t)INT64_MAX))) < 0)
                return r;
        while (n < max && (r = sqlite3_step(st)) == SQLITE_ROW) {
                ret[n++] = (EstimateSample){
                        .peak_bytes = col_u64(st, 0), .input_bytes = col_u64(st, 1), .at = col_u64(st, 2)
                };
        }
        if (n < max && r != SQLITE_DONE)
                return ledger_sqlfail(l, r, "reading estimates");
        *ret_n = n;
        return 0;
}
