/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/macro.h"
#include "common/time-util.h"
#include "policies/policy.h"
#include "runner/ledger.h"
#include "tests/fake-tree.h"
#include "tests/tap.h"

#define SEC USEC_PER_SEC
#define MiB (1024ULL * 1024ULL)

typedef struct Dir {
        FakeTree t;
        char state[PATH_MAX + 16];
        char db[PATH_MAX + 48];
} Dir;

static int dir_new(Dir *d)
{
        int r = fake_tree_new(&d->t);

        if (r < 0)
                return r;
        snprintf(d->state, sizeof(d->state), "%s/state", d->t.path);
        snprintf(d->db, sizeof(d->db), "%s/%s", d->state, LEDGER_FILE);
        return 0;
}

static Ledger *open_ok(const Dir *d)
{
        Ledger *l = NULL;
        char err[512];
        int r = ledger_open(d->state, &l, NULL, err, sizeof(err));

        if (r < 0)
                printf("# ledger_open: %d %s\n", r, err);
        return l;
}

static int test_policy(Policy *p)
{
        int r = policy_init_defaults(p);

        if (r < 0)
                return r;
        p->retry.max_attempts = 5;
        p->retry.backoff_min_usec = 30 * SEC;
        p->retry.backoff_max_usec = USEC_PER_HOUR;
        p->retry.max_interruptions = 3;
        p->retry.max_oom_at_job_max = 1;
        return 0;
}

/* Runs SQL on the file directly, as an older memgov or an operator would. */
static int raw_sql(const char *path, const char *sql)
{
        sqlite3 *db = NULL;
        char *msg = NULL;
        int rc = sqlite3_open(path, &db);

        if (rc == SQLITE_OK)
                rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
        if (rc != SQLITE_OK)
                printf("# %s: %s\n", sql, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        sqlite3_close(db);
        return rc == SQLITE_OK ? 0 : -1;
}

static int raw_text(const char *path, const char *sql, char *buf, size_t size)
{
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        int r = -1;

        buf[0] = 0;
        if (sqlite3_open(path, &db) == SQLITE_OK &&
                sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
                sqlite3_column_text(st, 0)) {
                snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
                r = 0;
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
        return r;
}

static int raw_int(const char *path, const char *sql)
{
        char buf[32];

        return raw_text(path, sql, buf, sizeof(buf)) < 0 ? -1 : atoi(buf);
}

static int append_id(const Episode *e, void *userdata)
{
        char *buf = userdata;

        strcat(buf, e->id);
        strcat(buf, ",");
        return 0;
}

static int stop_at_first(const Episode *e, void *userdata)
{
        return -ECANCELED;
}

TEST(create_and_reopen)
{
        _cleanup_ledger_ Ledger *l = NULL;
        char buf[64], want[64];
        struct stat st;
        Episode e;
        Dir d;

        ASSERT_INT(dir_new(&d), ==, 0);
        ASSERT_TRUE((l = open_ok(&d)));
        ASSERT_INT(stat(d.state, &st), ==, 0);
        ASSERT_INT(st.st_mode & 07777, ==, 0750);
        ASSERT_INT(stat(d.db, &st), ==, 0);
        ASSERT_INT(st.st_mode & 07777, ==, 0640);
        ASSERT_INT(fake_tree_read(&d.t, "state/lock", buf, sizeof(buf)), >, 0);
        snprintf(want, sizeof(want), "%d\n", (int)getpid());
        ASSERT_STR(buf, want);
        ASSERT_INT(ledger_add(l, "a", "https://h/a", "A", NULL), ==, 1);
        l = ledger_close(l);

        ASSERT_INT(raw_int(d.db, "PRAGMA user_version"), ==, LEDGER_SCHEMA_VERSION);
        ASSERT_INT(raw_int(d.db, "PRAGMA application_id"), ==, 0x6d656d67);
        ASSERT_INT(raw_text(d.db, "PRAGMA journal_mode", buf, sizeof(buf)), ==, 0);
        ASSERT_STR(buf, "wal");
        ASSERT_INT(raw_int(d.db,
                           "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                           "('episodes', 'stage_runs', 'estimates')"),
                ==, 3);

        ASSERT_TRUE((l = open_ok(&d)));
        ASSERT_INT(ledger_get(l, "a", &e), ==, 0);
        ASSERT_STR(e.url, "https://h/a");
        ASSERT_STR(e.title, "A");
        ASSERT_INT(e.status.state, ==, EPISODE_QUEUED);
        ledger_episode_done(&e);
        l = ledger_close(l);
        fake_tree_free(&d.t);
        return 0;
}

TEST(open_errors)
{
        Ledger *l = NULL;
        char err[512];
        Dir d;

        ASSERT_INT(dir_new(&d), ==, 0);
        ASSERT_INT(ledger_open("/nonexistent/memgov/state", &l, NULL, err, sizeof(err)), ==, -ENOENT);
        ASSERT_CONTAINS(err, "cannot create state directory /nonexistent/memgov/state");
        ASSERT_INT(ledger_open("", &l, NULL, err, sizeof(err)), ==, -EINVAL);

        /* A newer memgov's ledger is refused, and left alone. */
        ASSERT_INT(mkdir(d.state, 0750), ==, 0);
        ASSERT_INT(raw_sql(d.db,
                           "CREATE TABLE episodes (id TEXT); PRAGMA user_version = 99;"
                           "PRAGMA application_id = 1835363687;"),
                ==, 0);
        ASSERT_INT(ledger_open(d.state, &l, NULL, err, sizeof(err)), ==, -EPROTONOSUPPORT);
        ASSERT_CONTAINS(
                err, "has schema version 99, but this memgov knows only up to 3: use a newer memgov");
        ASSERT_CONTAINS(err, d.db);
        ASSERT_INT(raw_int(d.db, "PRAGMA user_version"), ==, 99);
        ASSERT_INT(unlink(d.db), ==, 0);

        /* Some other program's database is not taken over. */
        ASSERT_INT(raw_sql(d.db, "CREATE TABLE foo (x)"), ==, 0);
        ASSERT_INT(ledger_open(d.state, &l, NULL, err, sizeof(err)), ==, -EBADMSG);
        ASSERT_CONTAINS(err, "is not a memgov ledger");
        ASSERT_INT(unlink(d.db), ==, 0);
        ASSERT_INT(fake_tree_write(&d.t, "state/" LEDGER_FILE,
                           "this is not a database, just text......"
                           "................................................"),
                ==, 0);
        ASSERT_INT(ledger_open(d.state, &l, NULL, err, sizeof(err)), ==, -EBADMSG);
        ASSERT_CONTAINS(err, "not a database");
        fake_tree_free(&d.t);
        return 0;
}

static const char v1_schema[] =
        "CREATE TABLE episodes ("
        " id TEXT PRIMARY KEY NOT NULL, url TEXT NOT NULL, title TEXT, state TEXT NOT NULL,"
        " attempts INTEGER NOT NULL DEFAULT 0, interruptions INTEGER NOT NULL DEFAULT 0,"
        " oom_count INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL DEFAULT 0, reason TEXT,"
        " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, size_bytes INTEGER NOT NULL DEFAULT 0,"
        " sha256 TEXT, format TEXT, audio_path TEXT, transcript_path TEXT, metadata_path TEXT);"
        "CREATE TABLE stage_runs ("
        " run_id INTEGER PRIMARY KEY, episode_id TEXT NOT NULL REFERENCES episodes (id) ON DELETE CASCADE,"
        " stage TEXT NOT NULL, attempt INTEGER NOT NULL, cgroup TEXT NOT NULL,"
        " limit_bytes INTEGER NOT NULL DEFAULT 0, started_at INTEGER NOT NULL, ended_at INTEGER,"
        " result TEXT, exit_code INTEGER, signal INTEGER, oom_kill INTEGER NOT NULL DEFAULT 0,"
        " peak_bytes INTEGER NOT NULL DEFAULT 0, duration_usec INTEGER NOT NULL DEFAULT 0, error TEXT,"
        " UNIQUE (episode_id, stage, attempt));"
        "CREATE INDEX stage_runs_open ON stage_runs (run_id) WHERE ended_at IS NULL;"
        "PRAGMA application_id = 1835363687;"
        "PRAGMA user_version = 1;"
        "INSERT INTO episodes (id, url, state, attempts, oom_count, reason, created_at, updated_at, sha256)"
        " VALUES ('old', 'https://h/old', 'failed', 2, 1, 'fetch failed: HTTP 404', 1, 2, 'abc');"
        "INSERT INTO stage_runs (episode_id, stage, attempt, cgroup, started_at, ended_at, result)"
        " VALUES ('old', 'fetch', 1, 'old.fetch.1', 1, 2, 'exit');";

static int count_runs(const StageRun *r, void *userdata)
{
        (*(int *)userdata)++;
        return 0;
}

TEST(migrate_from_v1)
{
        _cleanup_ledger_ Ledger *l = NULL;
        EstimateSample s = { .peak_bytes = 100 * MiB, .input_bytes = 50 * MiB, .at = 5 }, out[4];
        StageRunStart run;
        size_t n;
        int runs = 0;
        Episode e;
        Dir d;

        ASSERT_INT(dir_new(&d), ==, 0);
        ASSERT_INT(mkdir(d.state, 0750), ==, 0);
        ASSERT_INT(raw_sql(d.db, v1_schema), ==, 0);
        ASSERT_TRUE((l = open_ok(&d)));
        ASSERT_INT(ledger_get(l, "old", &e), ==, 0);
        ASSERT_INT(e.status.state, ==, EPISODE_FAILED);
        ASSERT_INT(e.status.attempts, ==, 2);
        ASSERT_INT(e.status.oom_count, ==, 1);
        ASSERT_INT(e.status.oom_at_max_count, ==, 0);
        ASSERT_U64(e.current_limit_bytes, 0);
        ASSERT_STR(e.sha256, "abc");
        ASSERT_STR(e.reason, "fetch failed: HTTP 404");
        ledger_episode_done(&e);
        /* The new parts work, and attempt numbers continue from the old runs. */
        ASSERT_INT(ledger_estimate_add(l, "fetch", &s), ==, 0);
        ASSERT_INT(ledger_estimate_load(l, "fetch", out, ELEMENTSOF(out), &n), ==, 0);
        ASSERT_INT(n, ==, 1);
        ASSERT_INT(ledger_apply(l, "old", EPISODE_FAILED,
                           &(EpisodeEvent){ .type = EPISODE_EVENT_USER_RETRY }, NULL, NULL, NULL),
                ==, 0);
        ASSERT_INT(ledger_stage_begin(l, "old", EPISODE_STAGE_FETCH, 64 * MiB, 10, &run), ==, 0);
        ASSERT_INT(run.attempt, ==, 2);
        ASSERT_STR(run.cgroup, "old.fetch.2");
        ASSERT_INT(ledger_list_runs(l, "old", count_runs, &runs), ==, 0);
        ASSERT_INT(runs, ==, 2);
        l = ledger_close(l);
        ASSERT_INT(raw_int(d.db, "PRAGMA user_version"), ==, LEDGER_SCHEMA_VERSION);
        fake_tree_free(&d.t);
        return 0;
}

TEST(lock)
{
        _cleanup_ledger_ Ledger *l = NULL;
        Ledger *second = NULL;
        char err[512], want[PATH_MAX + 128];
        pid_t holder = -1, child;
        int status;
        Dir d;

        ASSERT_INT(dir_new(&d), ==, 0);
        ASSERT_TRUE((l = open_ok(&d)));

        /* Another open in this process conflicts too (OFD locks belong to the open file). */
        ASSERT_INT(ledger_open(d.state, &second, &holder, err, sizeof(err)), ==, -EBUSY);
        ASSERT_INT(holder, ==, getpid());
        snprintf(
                want, sizeof(want), "state directory %s is in use by memgov pid %d", d.state, (int)getpid());
        ASSERT_STR(err, want);

        child = fork();
        ASSERT_INT(child, >=, 0);
        if (child == 0) {
                Ledger *c = NULL;
                pid_t h = 0;
                int r = ledger_open(d.state, &c, &h, err, sizeof(err));
                if (r != -EBUSY || h != getppid() || !strstr(err, "is in use by memgov pid")) {
                        printf("# child: r=%d holder=%d err=%s\n", r, (int)h, err);
                        _exit(1);
                }
                _exit(0);
        }
        ASSERT_INT(waitpid(child, &status, 0), ==, child);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        /* Closing releases it. */
        l = ledger_close(l);
        ASSERT_TRUE((l = open_ok(&d)));
        l = ledger_close(l);
        fake_tree_free(&d.t);
        return 0;
}

TEST(add_get_list_count)
{
        _cleanup_ledger_ Ledger *l = NULL;
        uint64_t counts[_EPISODE_STATE_MAX];
        EpisodeState state = _EPISODE_STATE_INVALID;
        char ids[256] = "";
        Episode e;
        Dir d;

        ASSERT_INT(dir_new(&d), ==, 0);
        ASSERT_TRUE((l = open_ok(&d)));
        ASSERT_INT(ledger_add(l, "a", "https://h/a", "A", &state), ==, 1);
        ASSERT_INT(state, ==, EPISODE_QUEUED);
        ASSERT_INT(ledger_add(l, "b", "https://h/b", NULL, NULL), ==, 1);
        ASSERT_INT(ledger_add(l, "c", "https://h/c", NULL, NULL), ==, 1);
        ASSERT_INT(ledger_add(l, "a", "https://h/other", "other", &state), ==, 0);
        ASSERT_INT(state, ==, EPISODE_QUEUED);
        ASSERT_INT(ledger_apply(l, "b", _EPISODE_STATE_INVALID,
                           &(EpisodeEvent){ .type = EPISODE_EVENT_USER_CANCEL }, NULL, NULL, NULL),
                ==, 0);
        ASSERT_INT(ledger_add(l, "b", "https://h/b", NULL, &state), ==, 0);
        ASSERT_INT(state, ==, EPISODE_CANCELLED);

        ASSERT_INT(ledger_get(l, "a", &e), ==, 0);
        ASSERT_STR(e.url, "https://h/a"); /* a known id keeps what it had */
        ASSERT_STR(e.title, "A");
        ASSERT_TRUE(e.created_at > 0 && e.updated_at >= e.created_at);
        ledger_episode_done(&e);
        ASSERT_INT(ledger_get(l, "b", &e), ==, 0);
        ASSERT_TRUE(e.title == NULL);
        ASSERT_STR(e.reason, "cancelled by the user");
        ledger_episode_done(&e);
        ASSERT_INT(ledger_get(l, "zzz", &e), ==, -ENOENT);
        ASSERT_CONTAINS(ledger_error(l), "episode zzz is not in the ledger");

        /* Ids are checked before anything touches them. */
        ASSERT_INT(ledger_add(l, "../x", "https://h/", NULL, NULL), ==, -EINVAL);
        ASSERT_INT(ledger_add(l, ".", "https://h/", NULL, NULL), ==, -EINVAL);
        ASSERT_INT(ledger_add(l, "ok", "", NULL, NULL), ==, -EINVAL);
        ASSERT_INT(ledger_get(l, "..", &e), ==, -EINVAL);
        ASSERT_CONTAINS(ledger_error(l), "invalid episode id");

        ASSERT_INT(ledger_list(l, _EPISODE_STATE_INVALID, append_id, ids), ==, 0);
        ASSERT_STR(ids, "a,b,c,");
        ids[0] = 0;
        ASSERT_INT(ledger_list(l, EPISODE_QUEUED, append_id, ids), ==, 0);
        ASSERT_STR(ids, "a,c,");
        ASSERT_INT(ledger_list(l, _EPISODE_STATE_INVALID, stop_at_first, NULL), ==, -ECANCELED);
        ASSERT_INT(ledger_count(l, counts), ==, 0);
        ASSERT_U64(counts[EPISODE_QUEUED], 2);
        ASSERT_U64(counts[EPISODE_CANCELLED], 1);
        ASSERT_U64(counts[EPISODE_DONE], 0);
        l = ledger_close(l);
        fake_tree_free(&d.t);
        return 0;
}

typedef struct RunLog {
        char text[1024];
} RunLog;

static int log_run(const StageRun *r, void *userdata)
{
        RunLog *log = userdata;
        size_t n = strlen(log->text);

        snprintf(log->text + n, sizeof(log->text) - n, "%s#%u %s %s peak=%" PRIu64 "%s;",
                state_stage_to_string(r->stage), r->attempt, r->cgroup,
                r->result >= 0 ? state_result_to_string(r->result) : "running", r->peak_bytes,
                r->ended_at ? "" : " open");
        return 0;
}

TEST(stage_runs_durable)
{
        _cleanup_ledger_ Ledger *l = NULL;
        const usec_t now = now_usec(CLOCK_REALTIME);
        StageRunStart f, t1, t2;
        EpisodeStatus s;
        EpisodeState state;
        RunLog log = {};
        Policy p;
        Episode e;
        Dir d;

        ASSERT_INT(test_policy(&p), ==, 0);
        ASSERT_INT(dir_new(&d), ==, 0);
        ASSERT_TRUE((l = open_ok(&d)));
        ASSERT_INT(ledger_add(l, "e1", "https://h/e1.mp3", "E1", NULL), ==, 1);
        ASSERT_INT(ledger_stage_begin(l, "e1", EPISODE_STAGE_FETCH, 64 * MiB, now, &f), ==, 0);
        ASSERT_INT(f.attempt, ==, 1);
        ASSERT_STR(f.cgroup, "e1.fetch.1");
        ASSERT_INT(
                ledger_stage_end(l, f.run_id,
                        &(StageEnd){
                                .result = RUN_RESULT_OK, .peak_bytes = 9 * MiB, .duration_usec = 3 * SEC },
                        &(EpisodeEvent){ .type = EPISODE_EVENT_STAGE_OK, .now = now }, &p,
                        &(EpisodeFields){ .size_bytes = 1234,
                                .sha256 = "00ff",
                                .format = "mp3",
                                .audio_path = "/spool/e1.mp3" },
                        &s),
                ==, 0);
        ASSERT_INT(s.state, ==, EPISODE_FETCHED);
        l = ledger_close(l);

        ASSERT_TRUE((l = open_ok(&d)));
        ASSERT_INT(ledger_get(l, "e1", &e), ==, 0);
        ASSERT_INT(e.status.state, ==, EPISODE_FETCHED);
        ASSERT_U64(e.size_bytes, 1234);
        ASSERT_STR(e.sha256, "00ff");
        ASSERT_STR(e.audio_path, "/spool/e1.mp3");
        ASSERT_U64(e.current_limit_bytes, 64 * MiB);
        ledger_episode_done(&e);
        ASSERT_INT(ledger_stage_begin(l, "e1", EPISODE_STAGE_TRANSCRIBE, 512 * MiB, now, &t1), ==, 0);
        ASSERT_STR(t1.cgroup, "e1.transcribe.1");
        ASSERT_INT(ledger_stage_end(l, t1.run_id,
                           &(StageEnd){ .result = RUN_RESULT_OOM,
                                   .oom_kill = true,
                                   .signal = SIGKILL,
                                   .peak_bytes = 512 * MiB },
                           &(EpisodeEvent){ .type = EPISODE_EVENT_OOM, .now = now }, &p, NULL, &s),
                ==, 0);
        ASSERT_INT(s.state, ==, EPISODE_RETRY_WAIT);
        l = ledger_close(l);

        ASSERT_TRUE((l = open_ok(&d)));
        ASSERT_INT(ledger_get(l, "e1", &e), ==, 0);
        ASSERT_INT(e.status.state, ==, EPISODE_RETRY_WAIT);
        ASSERT_INT(e.status.oom_count, ==, 1);
        ASSERT_INT(e.status.attempts, ==, 1);
        ASSERT_U64(e.status.next_at, now + 30 * SEC);
        ASSERT_CONTAINS(e.reason, "transcribe ran out of memory (OOM kill 1) (attempt 1 of 5)");
        ledger_episode_done(&e);
        /* Not before its time; then straight from retry_wait, with the next attempt number. */
        ASSERT_INT(ledger_stage_begin(l, "e1", EPISODE_STAGE_TRANSCRIBE, 768 * MiB, now + SEC, &t2), ==,
                -EINVAL);
        ASSERT_CONTAINS(ledger_error(l), "waiting to retry");
        ASSERT_INT(ledger_stage_begin(l, "e1", EPISODE_STAGE_TRANSCRIBE, 768 * MiB, now + 30 * SEC, &t2), ==,
                0);
        ASSERT_STR(t2.cgroup, "e1.transcribe.2");
        ASSERT_INT(ledger_stage_end(l, t2.run_id,
                           &(StageEnd){ .result = RUN_RESULT_OK, .peak_bytes = 600 * MiB },
                           &(EpisodeEvent){ .type = EPISODE_EVENT_STAGE_OK }, &p,
                           &(EpisodeFields){
                                   .transcript_path = "/out/e1.txt", .metadata_path = "/out/e1.json" },
                           NULL),
                ==, 0);
        ASSERT_INT(
                ledger_stage_end(l, t2.run_id, &(StageEnd){ .result = RUN_RESULT_OK }, NULL, &p, NULL, NULL),
                ==, -EALREADY);
        ASSERT_INT(ledger_stage_end(l, 9999, &(StageEnd){ .result = RUN_RESULT_OK }, NULL, &p, NULL, NULL),
                ==, -ENOENT);
        l = ledger_close(l);

        ASSERT_TRUE((l = open_ok(&d)));
        ASSERT_INT(ledger_get(l, "e1", &e), ==, 0);
        ASSERT_INT(e.status.state, ==, EPISODE_DONE);
        ASSERT_STR(e.transcript_path, "/out/e1.txt");
        ASSERT_STR(e.sha256, "00ff"); /* fields not given are kept */
        ASSERT_U64(e.current_limit_bytes, 768 * MiB);
        ledger_episode_done(&e);
        /* What 'memgov run' sees when the manifest comes again. */
        ASSERT_INT(ledger_add(l, "e1", "https://h/e1.mp3", "E1", &state), ==, 0);
        ASSERT_INT(state, ==, EPISODE_DONE);
        ASSERT_INT(ledger_apply(l, "e1", EPISODE_DONE, &(EpisodeEvent){ .type = EPISODE_EVENT_USER_RETRY },
                           &p, NULL, NULL),
                ==, -EINVAL);
        ASSERT_CONTAINS(ledger_error(l), "episode e1: already done: use --force");
        ASSERT_INT(ledger_list_runs(l, "e1", log_run, &log), ==, 0);
        ASSERT_STR(log.text,
                "fetch#1 e1.fetch.1 ok peak=9437184;transcribe#1 e1.transcribe.1 oom peak=536870912;"
                "transcribe#2 e1.transcribe.2 ok peak=629145600;");
        ASSERT_INT(ledger_apply(l, "e1", EPISODE_DONE,
                           &(EpisodeEvent){ .type = EPISODE_EVENT_USER_RETRY, .force = true }, &p, NULL, &s),
                ==, 0);
        ASSERT_INT(s.state, ==, EPISODE_QUEUED);
        l = ledger_close(l);
        policy_done(&p);
        fake_tree_free(&d.t);
        return 0;
}

TEST(compare_and_set)
{
        _cleanup_ledger_ Ledger *l = NULL;
        StageRunStart run;
        RunLog log = {};
        Episode e;
        Dir d;

        ASSERT_INT(dir_new(&d), ==, 0);
        ASSERT_TRUE((l = open_ok(&d)));
        ASSERT_INT(ledger_add(l, "x", "https://h/x", NULL, NULL), ==, 1);
        ASSERT_INT(ledger_transition(l, "x", EPISODE_FETCHING, &(EpisodeStatus){ .state = EPISODE_HELD },
                           "manual", NULL),
                ==, -ESTALE);
        ASSERT_CONTAINS(ledger_error(l), "episode x is queued now, not fetching");
        ASSERT_INT(ledger_transition(l, "x", EPISODE_QUEUED, &(EpisodeStatus){ .state = EPISODE_HELD },
                           "manual", NULL),
                ==, 0);
        ASSERT_INT(ledger_get(l, "x", &e), ==, 0);
        ASSERT_INT(e.status.state, ==, EPISODE_HELD);
        ASSERT_STR(e.reason, "manual");
        ledger_episode_done(&e);
        ASSERT_INT(ledger_apply(l, "x", EPISODE_QUEUED,
                           &(EpisodeEvent){ .type = EPISODE_EVENT_USER_RELEASE }, NULL, NULL, NULL),
                ==, -ESTALE);
        ASSERT_INT(ledger_apply(l, "x", EPISODE_HELD, &(EpisodeEvent){ .type = EPISODE_EVENT_USER_RELEASE },
                           NULL, NULL, NULL),
                ==, 0);
        ASSERT_INT(ledger_transition(
                           l, "nope", EPISODE_QUEUED, &(EpisodeStatus){ .state = EPISODE_HELD }, NULL, NULL),
                ==, -ENOENT);

        /* Cancelled while running: the runner's late "cancelled" end is recorded, the episode stays
         * cancelled, and the runner learns it lost the race. */
        ASSERT_INT(ledger_stage_begin(l, "x", EPISODE_STAGE_FETCH, 64 * MiB, 1, &run), ==, 0);
        ASSERT_INT(ledger_apply(l, "x", _EPISODE_STATE_INVALID,
                           &(EpisodeEvent){ .type = EPISODE_EVENT_USER_CANCEL }, NULL, NULL, NULL),
                ==, 0);
        ASSERT_INT(ledger_stage_end(l, run.run_id,
                           &(StageEnd){ .result = RUN_RESULT_CANCELLED, .signal = SIGKILL },
                           &(EpisodeEvent){ .type = EPISODE_EVENT_CANCELLED }, NULL, NULL, NULL),
                ==, -ESTALE);
        ASSERT_INT(ledger_list_runs(l, "x", log_run, &log), ==, 0);
        ASSERT_STR(log.text, "fetch#1 x.fetch.1 cancelled peak=0;");
        ASSERT_INT(ledger_get(l, "x", &e), ==, 0);
        ASSERT_INT(e.status.state, ==, EPISODE_CANCELLED);
        ledger_episode_done(&e);
        /* An event the state machine refuses changes nothing. */
        ASSERT_INT(ledger_apply(l, "x", _EPISODE_STATE_INVALID,
                           &(EpisodeEvent){ .type = EPISODE_EVENT_STAGE_OK, .stage = EPISODE_STAGE_FETCH },
                           NULL, NULL, NULL),
                ==, -EINVAL);
        ASSERT_CONTAINS(ledger_error(l), "episode x: fetch finished but the episode is cancelled");
        l = ledger_close(l);
        fake_tree_free(&d.t);
        return 0;
}

/* A daemon that dies (SIGKILL) in the middle of a stage, as in the episode-8670 loop. */
static int crash_while_running(const Dir *d, const char *id)
{
        int p[2], status;
        pid_t child;
        char c;

        if (pipe(p) < 0)
                return -errno;
        child = fork();
        if (child < 0)
                return -errno;
        if (child == 0) {
                Ledger *l = NULL;
                StageRunStart run;
                char err[512];

                close(p[0]);
                if (ledger_open(d->state, &l, NULL, err, sizeof(err)) < 0)
                        _exit(2);
                if (ledger_stage_begin(l, id, EPISODE_STAGE_TRANSCRIBE, 512 * MiB, now_usec(CLOCK_REALTIME),
                            &run) < 0) {
                        printf("# child: %s\n", ledger_error(l));
                        _exit(3);
                }
                if (write(p[1], "x", 1) != 1)
                        _exit(4);
                for (;;)
                        pause();
        }
        close(p[1]);
        if (read(p[0], &c, 1) != 1) {
                close(p[0]);
                waitpid(child, &status, 0);
                printf("# child failed before the crash: %d\n",
                        WIFEXITED(status) ? WEXITSTATUS(status) : -1);
                return -EIO;
        }
        close(p[0]);
        kill(child, SIGKILL);
        if (waitpid(child, &status, 0) != child || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
                return -EIO;
        return 0;
}

TEST(crash_recovery)
{
        _cleanup_ledger_ Ledger *l = NULL;
        LedgerRecovery rec;
        RunLog log = {};
        Episode *runnable = NULL;
        size_t n;
        Policy p;
        Episode e;
        Dir d;

        ASSERT_INT(test_policy(&p), ==, 0);
        ASSERT_INT(dir_new(&d), ==, 0);
        ASSERT_TRUE((l = open_ok(&d)));
        ASSERT_INT(ledger_add(l, "8670", "https://h/8670.mp3", NULL, NULL), ==, 1);
        ASSERT_INT(ledger_add(l, "other", "https://h/other.mp3", NULL, NULL), ==, 1);
        l = ledger_close(l);

        for (unsigned round = 1; round <= 3; round++) {
                ASSERT_INT(crash_while_running(&d, "8670"), ==, 0);
                ASSERT_TRUE((l = open_ok(&d)));
                ASSERT_INT(ledger_get(l, "8670", &e), ==, 0);
                ASSERT_INT(e.status.state, ==, EPISODE_TRANSCRIBING); /* the dead daemon's commit survived */
                ledger_episode_done(&e);
                ASSERT_INT(ledger_recover(l, now_usec(CLOCK_REALTIME), &p, &rec), ==, 0);
                ASSERT_INT(rec.runs_closed, ==, 1);
                ASSERT_INT(ledger_get(l, "8670", &e), ==, 0);
                ASSERT_INT(e.status.interruptions, ==, round);
                ASSERT_INT(e.status.attempts, ==, 0);
                if (round < 3) {
                        ASSERT_INT(rec.requeued, ==, 1);
                        ASSERT_INT(e.status.state, ==, EPISODE_QUEUED);
                        ASSERT_CONTAINS(e.reason, "requeued");
                } else {
                        ASSERT_INT(rec.held, ==, 1);
                        ASSERT_INT(e.status.state, ==, EPISODE_HELD);
                        ASSERT_CONTAINS(
                                e.reason, "running at 3 daemon crashes: held as a likely poison episode");
                }
                ledger_episode_done(&e);
                l = ledger_close(l);
        }

        ASSERT_TRUE((l = open_ok(&d)));
        ASSERT_INT(ledger_list_runs(l, "8670", log_run, &log), ==, 0);
        ASSERT_STR(log.text,
                "transcribe#1 8670.transcribe.1 interrupted peak=0;"
                "transcribe#2 8670.transcribe.2 interrupted peak=0;"
                "transcribe#3 8670.transcribe.3 interrupted peak=0;");
        /* Nothing left to recover; the held episode no longer blocks the queue. */
        ASSERT_INT(ledger_recover(l, now_usec(CLOCK_REALTIME), &p, &rec), ==, 0);
        ASSERT_INT(rec.runs_closed + rec.requeued + rec.held, ==, 0);
        ASSERT_INT(ledger_next_runnable(l, now_usec(CLOCK_REALTIME), 10, &runnable, &n), ==, 0);
        ASSERT_INT(n, ==, 1);
        ASSERT_STR(runnable[0].id, "other");
        ledger_episodes_free(runnable, n);
        ASSERT_INT(ledger_apply(l, "8670", EPISODE_HELD,
                           &(EpisodeEvent){ .type = EPISODE_EVENT_USER_RELEASE }, &p, NULL, NULL),
                ==, 0);
        ASSERT_INT(ledger_get(l, "8670", &e), ==, 0);
        ASSERT_INT(e.status.state, ==, EPISODE_QUEUED);
        ASSERT_INT(e.status.interruptions, ==, 0);
        ledger_episode_done(&e);
        ASSERT_INT(ledger_recover(l, 1, NULL, &rec), ==, -EINVAL);
        l = ledger_close(l);
        policy_done(&p);
        fake_tree_free(&d.t);
        return 0;
}

TEST(recover_edge_cases)
{
        _cleanup_ledger_ Ledger *l = NULL;
        StageRunStart run;
        LedgerRecovery rec;
        EpisodeStatus s;
        usec_t before;
        Policy p;
        Episode e;
        Dir d;

        ASSERT_INT(test_policy(&p), ==, 0);
        ASSERT_INT(dir_new(&d), ==, 0);
        ASSERT_TRUE((l = open_ok(&d)));
        /* Running without a run record: nothing runs it any more, so it is interrupted too. */
        ASSERT_INT(ledger_add(l, "norun", "https://h/1", NULL, NULL), ==, 1);
        ASSERT_INT(ledger_transition(l, "norun", EPISODE_QUEUED,
                           &(EpisodeStatus){ .state = EPISODE_FETCHING }, NULL, NULL),
                ==, 0);
        /* An open run of an episode cancelled meanwhile: the run is closed, the episode left alone. */
        ASSERT_INT(ledger_add(l, "gone", "https://h/2", NULL, NULL), ==, 1);
        ASSERT_INT(ledger_stage_begin(l, "gone", EPISODE_STAGE_FETCH, 64 * MiB, 1, &run), ==, 0);
        ASSERT_INT(ledger_apply(l, "gone", EPISODE_FETCHING,
                           &(EpisodeEvent){ .type = EPISODE_EVENT_USER_CANCEL }, NULL, NULL, NULL),
                ==, 0);
        ASSERT_INT(ledger_recover(l, 2, &p, &rec), ==, 0);
        ASSERT_INT(rec.runs_closed, ==, 1);
        ASSERT_INT(rec.requeued, ==, 1);
        ASSERT_INT(ledger_get(l, "norun", &e), ==, 0);
        ASSERT_INT(e.status.state, ==, EPISODE_QUEUED);
        ASSERT_INT(e.status.interruptions, ==, 1);
        ledger_episode_done(&e);
        ASSERT_INT(ledger_get(l, "gone", &e), ==, 0);
        ASSERT_INT(e.status.state, ==, EPISODE_CANCELLED);
        ASSERT_INT(e.status.interruptions, ==, 0);
        ledger_episode_done(&e);

        /* An event without a time happens now, so the retry still waits its backoff. */
        ASSERT_INT(ledger_add(l, "late", "https://h/3", NULL, NULL), ==, 1);
        ASSERT_INT(ledger_stage_begin(l, "late", EPISODE_STAGE_FETCH, 64 * MiB, 1, &run), ==, 0);
        before = now_usec(CLOCK_REALTIME);
        ASSERT_INT(ledger_stage_end(l, run.run_id, &(StageEnd){ .result = RUN_RESULT_EXIT, .exit_code = 1 },
                           &(EpisodeEvent){ .type = EPISODE_EVENT_STAGE_FAILED, .error = "exit 1" }, &p,
                           NULL, &s),
                ==, 0);
        ASSERT_INT(s.state, ==, EPISODE_RETRY_WAIT);
        ASSERT_TRUE(s.next_at >= before + 30 * SEC);
        l = ledger_close(l);
        policy_done(&p);
        fake_tree_free(&d.t);
        return 0;
}

TEST(next_runnable)
{
        _cleanup_ledger_ Ledger *l = NULL;
        const usec_t now = 1000 * SEC;
        static const struct {
                const char *id;
                EpisodeState state;
                usec_t next_at;
        } eps[] = {
                { "q1", EPISODE_QUEUED, 0 },
                { "wait", EPISODE_RETRY_WAIT, 1001 * SEC },
                { "due", EPISODE_RETRY_WAIT, 1000 * SEC },
                { "f", EPISODE_FETCHED, 0 },
                { "d", EPISODE_DONE, 0 },
                { "h", EPISODE_HELD, 0 },
                { "run", EPISODE_TRANSCRIBING, 0 },
                { "q2", EPISODE_QUEUED, 0 },
        };
        Episode *a = NULL;
        size_t n;
        Dir d;

        ASSERT_INT(dir_new(&d), ==, 0);
        ASSERT_TRUE((l = open_ok(&d)));
        for (size_t i = 0; i < ELEMENTSOF(eps); i++) {
                ASSERT_INT(ledger_add(l, eps[i].id, "https://h/", NULL, NULL), ==, 1);
                if (eps[i].state != EPISODE_QUEUED)
                        ASSERT_INT(
                                ledger_transition(l, eps[i].id, EPISODE_QUEUED,
                                        &(EpisodeStatus){ .state = eps[i].state, .next_at = eps[i].next_at },
                                        NULL, NULL),
                                ==, 0);
        }
        ASSERT_INT(ledger_next_runnable(l, now, 100, &a, &n), ==, 0);
        ASSERT_INT(n, ==, 4);
        ASSERT_STR(a[0].id, "q1");
        ASSERT_STR(a[1].id, "due");
        ASSERT_STR(a[2].id, "f");
        ASSERT_STR(a[3].id, "q2");
        ASSERT_U64(a[1].status.next_at, 1000 * SEC);
        ledger_episodes_free(a, n);
        ASSERT_INT(ledger_next_runnable(l, now, 2, &a, &n), ==, 0);
        ASSERT_INT(n, ==, 2);
        ASSERT_STR(a[1].id, "due");
        ledger_episodes_free(a, n);
        ASSERT_INT(ledger_next_runnable(l, now, 0, &a, &n), ==, 0);
        ASSERT_INT(n, ==, 0);
        ledger_episodes_free(a, n);
        l = ledger_close(l);
        fake_tree_free(&d.t);
        return 0;
}

TEST(estimates)
{
        _cleanup_ledger_ Ledger *l = NULL;
        EstimateSample out[LEDGER_ESTIMATES_KEEP + 50];
        usec_t t0, t1;
        size_t n;
        Dir d;

        ASSERT_INT(dir_new(&d), ==, 0);
        ASSERT_TRUE((l = open_ok(&d)));
        t0 = now_usec(CLOCK_MONOTONIC);
        for (unsigned i = 0; i < LEDGER_ESTIMATES_KEEP + 44; i++)
                ASSERT_INT(ledger_estimate_add(l, "transcribe.command",
                                   &(EstimateSample){ .peak_bytes = i, .input_bytes = 1000 + i, .at = i }),
                        ==, 0);
        t1 = now_usec(CLOCK_MONOTONIC);
        printf("# %u estimate samples added in %.1f ms\n", LEDGER_ESTIMATES_KEEP + 44,
                (double)(t1 - t0) / 1000.0);
        ASSERT_INT(ledger_estimate_add(l, "fetch", &(EstimateSample){ .peak_bytes = 7 }), ==, 0);
        /* Not an assertion (these machines are noisy): what a durable state change costs here, next
         * to the unsynced sample commits above. */
        ASSERT_INT(ledger_add(l, "c", "https://h/", NULL, NULL), ==, 1);
        t0 = now_usec(CLOCK_MONOTONIC);
        for (unsigned i = 0; i < 100; i++) {
                EpisodeEvent ev = { .type = i % 2 ? EPISODE_EVENT_USER_RETRY : EPISODE_EVENT_USER_CANCEL };
                ASSERT_INT(ledger_apply(l, "c", _EPISODE_STATE_INVALID, &ev, NULL, NULL, NULL), ==, 0);
        }
        t1 = now_usec(CLOCK_MONOTONIC);
        printf("# 100 durable transitions in %.1f ms in %s\n", (double)(t1 - t0) / 1000.0, d.t.path);
        l = ledger_close(l);

        ASSERT_TRUE((l = open_ok(&d)));
        ASSERT_INT(ledger_estimate_load(l, "transcribe.command", out, ELEMENTSOF(out), &n), ==, 0);
        ASSERT_INT(n, ==, LEDGER_ESTIMATES_KEEP);
        ASSERT_U64(out[0].peak_bytes, LEDGER_ESTIMATES_KEEP + 43);
        ASSERT_U64(out[0].input_bytes, 1000 + LEDGER_ESTIMATES_KEEP + 43);
        ASSERT_U64(out[n - 1].peak_bytes, 44);
        ASSERT_INT(ledger_estimate_load(l, "transcribe.command", out, 3, &n), ==, 0);
        ASSERT_INT(n, ==, 3);
        ASSERT_U64(out[2].at, LEDGER_ESTIMATES_KEEP + 41);
        ASSERT_INT(ledger_estimate_load(l, "fetch", out, ELEMENTSOF(out), &n), ==, 0);
        ASSERT_INT(n, ==, 1);
        ASSERT_U64(out[0].peak_bytes, 7);
        ASSERT_INT(ledger_estimate_load(l, "remote", out, ELEMENTSOF(out), &n), ==, 0);
        ASSERT_INT(n, ==, 0);
        ASSERT_INT(ledger_estimate_add(l, "a/b", &(EstimateSample){}), ==, -EINVAL);
        ASSERT_INT(ledger_estimate_load(l, "", out, 1, &n), ==, -EINVAL);
        l = ledger_close(l);
        fake_tree_free(&d.t);
        return 0;
}

TAP_MAIN(T(create_and_reopen), T(open_errors), T(migrate_from_v1), T(lock), T(add_get_list_count),
        T(stage_runs_durable), T(compare_and_set), T(crash_recovery), T(recover_edge_cases),
        T(next_runnable), T(estimates))
