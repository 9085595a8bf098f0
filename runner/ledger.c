/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "common/macro.h"
#include "common/parse.h"
#include "runner/ledger-internal.h"
#include "runner/manifest.h"

/* "memg": marks the file as a memgov ledger, so a stray database is never migrated. */
#define LEDGER_APPLICATION_ID 0x6d656d67
/* Long enough to ride out an operator's sqlite3 shell holding a read transaction. */
#define LEDGER_BUSY_TIMEOUT_MSEC 5000

/* migrations[i] takes user_version i to i + 1, each in its own transaction. Released steps are
 * never edited, only appended to: a database in the field has run exactly these statements. */
static const char *const migrations[] = {
        /* 1: episodes and their stage runs. */
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
        "CREATE INDEX stage_runs_open ON stage_runs (run_id) WHERE ended_at IS NULL;",
        /* 2: OOMs at job_max and the current limit per episode, learned estimates. */
        "ALTER TABLE episodes ADD COLUMN oom_at_max_count INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE episodes ADD COLUMN current_limit_bytes INTEGER NOT NULL DEFAULT 0;"
        "CREATE INDEX episodes_state ON episodes (state, created_at);"
        "CREATE TABLE estimates (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, peak_bytes INTEGER NOT NULL,"
        " input_bytes INTEGER NOT NULL, at INTEGER NOT NULL);"
        "CREATE INDEX estimates_kind ON estimates (kind, id);",
        /* 3: the runnable episodes in admission order, so a pass reads 64 rows, not the whole queue
         * (every wakeup of the daemon makes one). */
        "CREATE INDEX episodes_runnable ON episodes (created_at) WHERE state IN ('queued', 'fetched', 'retry_wait');",
};
_Static_assert(ELEMENTSOF(migrations) == LEDGER_SCHEMA_VERSION, "one migration per schema version");

#define EPISODE_COLUMNS                                                                                    \
        "id, url, title, state, attempts, interruptions, oom_count, oom_at_max_count, next_at, reason, "   \
        "created_at, updated_at, size_bytes, sha256, format, audio_path, transcript_path, metadata_path, " \
        "current_limit_bytes"

static int errno_from_sqlite(sqlite3 *db, int rc)
{
        int e;

        switch (rc & 0xff) {
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_READONLY:
                return -EROFS;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return -EBADMSG;
        case SQLITE_CONSTRAINT:
                return -EEXIST;
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EACCES;
        case SQLITE_TOOBIG:
                return -E2BIG;
        case SQLITE_CANTOPEN:
        case SQLITE_IOERR:
                e = db ? sqlite3_system_errno(db) : 0;
                return e > 0 ? -e : -EIO;
        default:
                return -EIO;
        }
}

int ledger_fail(Ledger *l, int r, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(l->error, sizeof(l->error), fmt, ap);
        va_end(ap);
        return r;
}

int ledger_sqlfail(Ledger *l, int rc, const char *what)
{
        return ledger_fail(l, errno_from_sqlite(l->db, rc), "%s: %s: %s", l->path, what,
                l->db ? sqlite3_errmsg(l->db) : sqlite3_errstr(rc));
}

/* The type string is described at ledger_prepare(). */
static int bind_va(sqlite3_stmt *st, const char *types, va_list ap)
{
        int rc = SQLITE_OK;

        for (int i = 0; types[i] && rc == SQLITE_OK; i++) {
                const char *s;
                uint64_t u;

                switch (types[i]) {
                case 's':
                        s = va_arg(ap, const char *);
                        rc = s ? sqlite3_bind_text(st, i + 1, s, -1, SQLITE_STATIC)
                               : sqlite3_bind_null(st, i + 1);
                        break;
                case 'u':
                case 'z':
                        u = va_arg(ap, uint64_t);
                        rc = types[i] == 'z' && u == 0 ? sqlite3_bind_null(st, i + 1)
                                                       : sqlite3_bind_int64(st, i + 1, (sqlite3_int64)u);
                        break;
                case 'i':
                        rc = sqlite3_bind_int(st, i + 1, va_arg(ap, int));
                        break;
                default:
                        rc = SQLITE_MISUSE;
                }
        }
        return rc;
}

int ledger_prepare(Ledger *l, sqlite3_stmt **ret, const char *sql, const char *types, ...)
{
        va_list ap;
        int rc = sqlite3_prepare_v2(l->db, sql, -1, ret, NULL);

        if (rc != SQLITE_OK)
                return ledger_sqlfail(l, rc, "preparing a statement");
        va_start(ap, types);
        rc = bind_va(*ret, types, ap);
        va_end(ap);
        return rc == SQLITE_OK ? 0 : ledger_sqlfail(l, rc, "binding values");
}

/* Runs a statement that returns no rows; returns the number of changed rows. */
int ledger_run(Ledger *l, const char *sql, const char *types, ...)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        va_list ap;
        int rc = sqlite3_prepare_v2(l->db, sql, -1, &st, NULL);

        if (rc != SQLITE_OK)
                return ledger_sqlfail(l, rc, "preparing a statement");
        va_start(ap, types);
        rc = bind_va(st, types, ap);
        va_end(ap);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
                return ledger_sqlfail(l, rc, "writing");
        return sqlite3_changes(l->db);
}

int ledger_exec(Ledger *l, const char *sql)
{
        int rc = sqlite3_exec(l->db, sql, NULL, NULL, NULL);
        return rc == SQLITE_OK ? 0 : ledger_sqlfail(l, rc, sql);
}

/* IMMEDIATE takes the write lock up front, so a transaction never fails half way on upgrading. */
int ledger_tx_begin(Ledger *l)
{
        l->error[0] = 0;
        return ledger_exec(l, "BEGIN IMMEDIATE");
}

/* Commits when asked to (even if r is an error the caller wants recorded), else rolls back.
 * Returns r, or the commit's error. */
int ledger_tx_end(Ledger *l, int r, bool commit)
{
        if (commit) {
                int k = ledger_exec(l, "COMMIT");
                if (k >= 0)
                        return r;
                r = k;
        }
        (void)sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
        return r;
}

int ledger_check_id(Ledger *l, const char *id)
{
        if (!episode_id_valid(id))
                return ledger_fail(l, -EINVAL,
                        "invalid episode id: use 1-%d characters from A-Z a-z 0-9 . _ -", EPISODE_ID_MAX);
        return 0;
}

int ledger_col_dup(sqlite3_stmt *st, int i, char **ret)
{
        const char *t = (const char *)sqlite3_column_text(st, i);

        *ret = NULL;
        if (t && !(*ret = strdup(t)))
                return -ENOMEM;
        return 0;
}

static int col_state(Ledger *l, sqlite3_stmt *st, int i, EpisodeState *ret)
{
        const char *s = (const char *)sqlite3_column_text(st, i);

        *ret = state_from_string(s);
        if (*ret < 0)
                return ledger_fail(l, -EBADMSG, "%s: unknown episode state \"%.32s\"", l->path, s ? s : "");
        return 0;
}

/* Reads the state at state_col and, from counters_col on: attempts, interruptions, oom_count,
 * oom_at_max_count, next_at. */
static int col_status(Ledger *l, sqlite3_stmt *st, int state_col, int counters_col, EpisodeStatus *ret)
{
        ret->attempts = col_uint(st, counters_col);
        ret->interruptions = col_uint(st, counters_col + 1);
        ret->oom_count = col_uint(st, counters_col + 2);
        ret->oom_at_max_count = col_uint(st, counters_col + 3);
        ret->next_at = col_u64(st, counters_col + 4);
        return col_state(l, st, state_col, &ret->state);
}

void ledger_episode_done(Episode *e)
{
        free(e->id);
        free(e->url);
        free(e->title);
        free(e->reason);
        free(e->sha256);
        free(e->format);
        free(e->audio_path);
        free(e->transcript_path);
        free(e->metadata_path);
        *e = (Episode){};
}

void ledger_episodes_free(Episode *a, size_t n)
{
        for (size_t i = 0; a && i < n; i++)
                ledger_episode_done(&a[i]);
        free(a);
}

/* Reads a row selected with EPISODE_COLUMNS. */
static int read_episode(Ledger *l, sqlite3_stmt *st, Episode *e)
{
        int r;

        *e = (Episode){};
        r = col_status(l, st, 3, 4, &e->status);
        if (r < 0)
                return r;
        e->created_at = col_u64(st, 10);
        e->updated_at = col_u64(st, 11);
        e->size_bytes = col_u64(st, 12);
        e->current_limit_bytes = col_u64(st, 18);
        if (ledger_col_dup(st, 0, &e->id) < 0 || ledger_col_dup(st, 1, &e->url) < 0 ||
                ledger_col_dup(st, 2, &e->title) < 0 || ledger_col_dup(st, 9, &e->reason) < 0 ||
                ledger_col_dup(st, 13, &e->sha256) < 0 || ledger_col_dup(st, 14, &e->format) < 0 ||
                ledger_col_dup(st, 15, &e->audio_path) < 0 ||
                ledger_col_dup(st, 16, &e->transcript_path) < 0 ||
                ledger_col_dup(st, 17, &e->metadata_path) < 0) {
                ledger_episode_done(e);
                return ledger_fail(l, -ENOMEM, "out of memory");
        }
        return 0;
}

static int ledger_load_status(Ledger *l, const char *id, EpisodeStatus *ret)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = ledger_prepare(l, &st,
                "SELECT state, attempts, interruptions, oom_count, oom_at_max_count, next_at "
                "FROM episodes WHERE id = ?",
                "s", id);

        if (r < 0)
                return r;
        r = sqlite3_step(st);
        if (r == SQLITE_DONE)
                return ledger_fail(l, -ENOENT, "episode %s is not in the ledger", id);
        if (r != SQLITE_ROW)
                return ledger_sqlfail(l, r, "reading an episode");
        return col_status(l, st, 0, 1, ret);
}

/* The compare-and-set at the heart of every state change. */
static int store_status(Ledger *l, const char *id, EpisodeState expected, const EpisodeStatus *s,
        const char *reason, const EpisodeFields *f)
{
        static const EpisodeFields none = {};
        EpisodeStatus cur;
        int r;

        if (s->state < 0 || s->state >= _EPISODE_STATE_MAX)
                return ledger_fail(l, -EINVAL, "episode %s: invalid new state", id);
        if (!f)
                f = &none;
        r = ledger_run(l,
                "UPDATE episodes SET state = ?1, attempts = ?2, interruptions = ?3, oom_count = ?4,"
                " oom_at_max_count = ?5, next_at = ?6, reason = ?7, updated_at = ?8,"
                " size_bytes = COALESCE(?9, size_bytes), sha256 = COALESCE(?10, sha256),"
                " format = COALESCE(?11, format), audio_path = COALESCE(?12, audio_path),"
                " transcript_path = COALESCE(?13, transcript_path), metadata_path = COALESCE(?14, metadata_path),"
                " current_limit_bytes = COALESCE(?15, current_limit_bytes)"
                " WHERE id = ?16 AND state = ?17",
                "suuuuusuzssssszss", state_to_string(s->state), (uint64_t)s->attempts,
                (uint64_t)s->interruptions, (uint64_t)s->oom_count, (uint64_t)s->oom_at_max_count,
                (uint64_t)s->next_at, isempty(reason) ? NULL : reason, (uint64_t)now_usec(CLOCK_REALTIME),
                f->size_bytes, f->sha256, f->format, f->audio_path, f->transcript_path, f->metadata_path,
                f->current_limit_bytes, id, state_to_string(expected));
        if (r != 0)
                return MIN(r, 0);
        /* Nothing matched: either the episode is gone or someone moved it first. */
        r = ledger_load_status(l, id, &cur);
        if (r < 0)
                return r;
        return ledger_fail(l, -ESTALE, "episode %s is %s now, not %s", id, state_to_string(cur.state),
                state_to_string(expected));
}

int ledger_apply_in_tx(Ledger *l, const char *id, EpisodeState expected, const EpisodeEvent *ev,
        const Policy *p, const EpisodeFields *f, EpisodeStatus *ret)
{
        char reason[STATE_REASON_MAX];
        EpisodeStatus cur, next;
        EpisodeEvent e = *ev;
        int r = ledger_load_status(l, id, &cur);

        if (r < 0)
                return r;
        /* A forgotten time must not put next_at in 1970, which would retry at once. */
        if (e.now == 0)
                e.now = now_usec(CLOCK_REALTIME);
        if (expected >= 0 && cur.state != expected)
                return ledger_fail(l, -ESTALE, "episode %s is %s now, not %s", id,
                        state_to_string(cur.state), state_to_string(expected));
        r = state_apply(&cur, &e, p, &next, reason, sizeof(reason));
        if (r < 0)
                return ledger_fail(l, r, "episode %s: %s", id, reason);
        r = store_status(l, id, cur.state, &next, reason, f);
        if (r < 0)
                return r;
        if (ret)
                *ret = next;
        return 0;
}

static int lock_state_dir(Ledger *l, int dir_fd, const char *state_dir, pid_t *ret_holder)
{
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        char buf[DECIMAL_STR_MAX(pid_t) + 2];
        unsigned pid = 0;
        ssize_t n;
        int len;

        l->lock_fd = openat(dir_fd, LEDGER_LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
        if (l->lock_fd < 0)
                return ledger_fail(
                        l, -errno, "%s/%s: cannot open: %s", state_dir, LEDGER_LOCK_FILE, strerror(errno));
        /* An OFD lock belongs to this open file: a second open conflicts even within this process,
         * and closing some other fd of the file (as SQLite does with its own) never drops it. */
        if (fcntl(l->lock_fd, F_OFD_SETLK, &fl) < 0) {
                if (errno != EAGAIN && errno != EACCES)
                        return ledger_fail(l, -errno, "%s/%s: cannot lock: %s", state_dir, LEDGER_LOCK_FILE,
                                strerror(errno));
                n = pread(l->lock_fd, buf, sizeof(buf) - 1, 0);
                if (n > 0) {
                        buf[n] = 0;
                        buf[strcspn(buf, "\n")] = 0;
                        if (parse_uint(buf, &pid) < 0)
                                pid = 0;
                }
                if (ret_holder)
                        *ret_holder = (pid_t)pid;
                if (pid > 0)
                        return ledger_fail(
                                l, -EBUSY, "state directory %s is in use by memgov pid %u", state_dir, pid);
                return ledger_fail(l, -EBUSY, "state directory %s is in use by another memgov", state_dir);
        }
        len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
        if (ftruncate(l->lock_fd, 0) < 0 || pwrite(l->lock_fd, buf, (size_t)len, 0) != len)
                return ledger_fail(l, -errno ?: -EIO, "%s/%s: cannot write: %s", state_dir, LEDGER_LOCK_FILE,
                        strerror(errno));
        return 0;
}

static int pragma_int(Ledger *l, const char *sql, int *ret)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = ledger_prepare(l, &st, sql, "");

        if (r < 0)
                return r;
        r = sqlite3_step(st);
        if (r != SQLITE_ROW)
                return ledger_sqlfail(l, r, "reading the schema version");
        *ret = sqlite3_column_int(st, 0);
        return 0;
}

static int migrate(Ledger *l)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int version, app, tables, r;

        if ((r = pragma_int(l, "PRAGMA user_version", &version)) < 0 ||
                (r = pragma_int(l, "PRAGMA application_id", &app)) < 0 ||
                (r = pragma_int(l, "SELECT count(*) FROM sqlite_master", &tables)) < 0)
                return r;
        if ((app != 0 && app != LEDGER_APPLICATION_ID) || (version == 0 && tables > 0))
                return ledger_fail(l, -EBADMSG,
                        "%s is not a memgov ledger: move it away or choose another state_dir", l->path);
        if (version > LEDGER_SCHEMA_VERSION || version < 0)
                return ledger_fail(l, -EPROTONOSUPPORT,
                        "%s has schema version %d, but this memgov knows only up to %d: use a newer memgov "
                        "(or restore a backup made before the upgrade)",
                        l->path, version, LEDGER_SCHEMA_VERSION);
        /* WAL: readers never block the writer, and a commit is one fsync of the log. FULL makes that
         * fsync happen at every commit, so a state change is on disk before the call returns. */
        r = ledger_prepare(l, &st, "PRAGMA journal_mode = WAL", "");
        if (r < 0)
                return r;
        r = sqlite3_step(st);
        if (r != SQLITE_ROW)
                return ledger_sqlfail(l, r, "switching to WAL mode");
        if (!streq((const char *)sqlite3_column_text(st, 0) ?: "", "wal"))
                return ledger_fail(
                        l, -EOPNOTSUPP, "%s: the file system does not support SQLite's WAL mode", l->path);
        sqlite3_finalize(TAKE_PTR(st));
        if ((r = ledger_exec(l, "PRAGMA synchronous = FULL")) < 0 ||
                (r = ledger_exec(l, "PRAGMA foreign_keys = ON")) < 0)
                return r;
        for (int v = version; v < LEDGER_SCHEMA_VERSION; v++) {
                char sql[96];

                r = ledger_tx_begin(l);
                if (r < 0)
                        return r;
                r = sqlite3_exec(l->db, migrations[v], NULL, NULL, NULL);
                r = r == SQLITE_OK ? 0 : ledger_sqlfail(l, r, "schema step");
                snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
                if (r >= 0)
                        r = ledger_exec(l, sql);
                snprintf(sql, sizeof(sql), "PRAGMA application_id = %d", LEDGER_APPLICATION_ID);
                if (r >= 0 && v == 0)
                        r = ledger_exec(l, sql);
                r = ledger_tx_end(l, r, r >= 0);
                if (r < 0) {
                        char why[sizeof(l->error)];
                        snprintf(why, sizeof(why), "%s", l->error);
                        return ledger_fail(l, r, "migrating to schema version %d failed: %s", v + 1, why);
                }
        }
        return 0;
}

static int open_in(Ledger *l, const char *state_dir, pid_t *ret_holder)
{
        _cleanup_close_ int dir_fd = -EBADF, db_fd = -EBADF;
        bool created = false;
        int r;

        if (mkdir(state_dir, 0750) < 0 && errno != EEXIST)
                return ledger_fail(
                        l, -errno, "cannot create state directory %s: %s", state_dir, strerror(errno));
        dir_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return ledger_fail(
                        l, -errno, "cannot open state directory %s: %s", state_dir, strerror(errno));
        r = lock_state_dir(l, dir_fd, state_dir, ret_holder);
        if (r < 0)
                return r;
        if (asprintf(&l->path, "%s/%s", state_dir, LEDGER_FILE) < 0) {
                l->path = NULL;
                return ledger_fail(l, -ENOMEM, "out of memory");
        }
        /* Created here rather than by SQLite so the mode is 0640 (URLs may carry tokens); SQLite
         * gives its -wal and -shm files the mode of the database. */
        db_fd = openat(dir_fd, LEDGER_FILE, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
        if (db_fd >= 0)
                created = true;
        else if (errno != EEXIST)
                return ledger_fail(l, -errno, "%s: cannot create: %s", l->path, strerror(errno));

        r = sqlite3_open_v2(l->path, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
        if (r != SQLITE_OK)
                return ledger_sqlfail(l, r, "cannot open");
        sqlite3_busy_timeout(l->db, LEDGER_BUSY_TIMEOUT_MSEC);
        (void)sqlite3_db_config(l->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
        r = migrate(l);
        if (r < 0)
                return r;
        /* A new file's directory entry must be durable too, or a power cut could lose the ledger. */
        if (created && fsync(dir_fd) < 0)
                return ledger_fail(l, -errno, "%s: cannot sync: %s", state_dir, strerror(errno));
        return 0;
}

int ledger_open(const char *state_dir, Ledger **ret, pid_t *ret_holder, char *err, size_t err_size)
{
        Ledger *l;
        int r;

        if (ret_holder)
                *ret_holder = 0;
        if (err_size > 0)
                err[0] = 0;
        l = calloc(1, sizeof(Ledger));
        if (!l) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        l->lock_fd = -EBADF;
        r = isempty(state_dir) ? ledger_fail(l, -EINVAL, "no state directory given")
                               : open_in(l, state_dir, ret_holder);
        if (r < 0) {
                if (err_size > 0)
                        snprintf(err, err_size, "%s", l->error);
                ledger_close(l);
                return r;
        }
        l->error[0] = 0;
        *ret = l;
        return 0;
}

Ledger *ledger_close(Ledger *l)
{
        if (!l)
                return NULL;
        /* close_v2 closes once the last statement is finalized; every call finalizes its own. */
        if (l->db)
                sqlite3_close_v2(l->db);
        safe_close(l->lock_fd);
        free(l->path);
        free(l);
        return NULL;
}

const char *ledger_error(const Ledger *l)
{
        return l ? l->error : "";
}

int ledger_add(Ledger *l, const char *id, const char *url, const char *title, EpisodeState *ret_state)
{
        usec_t now = now_usec(CLOCK_REALTIME);
        EpisodeStatus s;
        int r;

        if ((r = ledger_check_id(l, id)) < 0)
                return r;
        if (isempty(url))
                return ledger_fail(l, -EINVAL, "episode %s: no URL", id);
        r = ledger_tx_begin(l);
        if (r < 0)
                return r;
        r = ledger_load_status(l, id, &s);
        if (r >= 0) {
                if (ret_state)
                        *ret_state = s.state;
                l->error[0] = 0;
                return ledger_tx_end(l, 0, false);
        }
        if (r != -ENOENT)
                return ledger_tx_end(l, r, false);
        r = ledger_run(l,
                "INSERT INTO episodes (id, url, title, state, created_at, updated_at) "
                "VALUES (?, ?, ?, 'queued', ?, ?)",
                "sssuu", id, url, title, (uint64_t)now, (uint64_t)now);
        if (r >= 0 && ret_state)
                *ret_state = EPISODE_QUEUED;
        return ledger_tx_end(l, r < 0 ? r : 1, r >= 0);
}

int ledger_get(Ledger *l, const char *id, Episode *ret)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        if ((r = ledger_check_id(l, id)) < 0 ||
                (r = ledger_prepare(
                         l, &st, "SELECT " EPISODE_COLUMNS " FROM episodes WHERE id = ?", "s", id)) < 0)
                return r;
        r = sqlite3_step(st);
        if (r == SQLITE_DONE)
                return ledger_fail(l, -ENOENT, "episode %s is not in the ledger", id);
        if (r != SQLITE_ROW)
                return ledger_sqlfail(l, r, "reading an episode");
        return read_episode(l, st, ret);
}

int ledger_transition(Ledger *l, const char *id, EpisodeState expected, const EpisodeStatus *status,
        const char *reason, const EpisodeFields *fields)
{
        int r;

        if ((r = ledger_check_id(l, id)) < 0)
                return r;
        if (expected < 0 || expected >= _EPISODE_STATE_MAX)
                return ledger_fail(l, -EINVAL, "episode %s: invalid expected state", id);
        if ((r = ledger_tx_begin(l)) < 0)
                return r;
        r = store_status(l, id, expected, status, reason, fields);
        return ledger_tx_end(l, r, r >= 0);
}

int ledger_apply(Ledger *l, const char *id, EpisodeState expected, const EpisodeEvent *ev, const Policy *p,
        const EpisodeFields *fields, EpisodeStatus *ret)
{
        int r;

        if ((r = ledger_check_id(l, id)) < 0 || (r = ledger_tx_begin(l)) < 0)
                return r;
        r = ledger_apply_in_tx(l, id, expected, ev, p, fields, ret);
        return ledger_tx_end(l, r, r >= 0);
}

typedef struct Collect {
        Episode *a;
        size_t n;
} Collect;

/* Hands each row to fn, or moves it into c when c is given. */
static int list_query(Ledger *l, sqlite3_stmt *st, LedgerEpisodeFn fn, void *userdata, Collect *c)
{
        int r;

        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
                Episode e;
                r = read_episode(l, st, &e);
                if (r >= 0 && c) {
                        Episode *na = realloc(c->a, (c->n + 1) * sizeof(Episode));
                        if (!na)
                                r = ledger_fail(l, -ENOMEM, "out of memory");
                        else {
                                c->a = na;
                                c->a[c->n++] = e;
                                e = (Episode){};
                        }
                } else if (r >= 0)
                        r = fn(&e, userdata);
                ledger_episode_done(&e);
                if (r < 0)
                        return r;
        }
        return r == SQLITE_DONE ? 0 : ledger_sqlfail(l, r, "listing episodes");
}

int ledger_next_runnable(Ledger *l, usec_t now, size_t max, Episode **ret, size_t *ret_n)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        Collect c = {};
        int r = ledger_prepare(l, &st,
                /* INDEXED BY: the planner would otherwise pick episodes_state and sort every
                 * queued row; the partial index gives them in order (rowid breaks ties). */
                "SELECT " EPISODE_COLUMNS " FROM episodes INDEXED BY episodes_runnable"
                " WHERE state IN ('queued', 'fetched', 'retry_wait') AND (state <> 'retry_wait' OR next_at <= ?)"
                " ORDER BY created_at, rowid LIMIT ?",
                "uu", (uint64_t)now, (uint64_t)MIN(max, (size_t)INT64_MAX));

        if (r >= 0)
                r = list_query(l, st, NULL, NULL, &c);
        if (r < 0) {
                ledger_episodes_free(c.a, c.n);
                return r;
        }
        *ret = c.a;
        *ret_n = c.n;
        return 0;
}

int ledger_list(Ledger *l, EpisodeState state, LedgerEpisodeFn fn, void *userdata)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = ledger_prepare(l, &st,
                "SELECT " EPISODE_COLUMNS " FROM episodes WHERE ?1 IS NULL OR state = ?1"
                " ORDER BY created_at, rowid",
                "s", state >= 0 && state < _EPISODE_STATE_MAX ? state_to_string(state) : NULL);

        return r < 0 ? r : list_query(l, st, fn, userdata, NULL);
}

int ledger_count(Ledger *l, uint64_t ret_counts[_EPISODE_STATE_MAX])
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = ledger_prepare(l, &st, "SELECT state, count(*) FROM episodes GROUP BY state", "");

        if (r < 0)
                return r;
        for (int i = 0; i < _EPISODE_STATE_MAX; i++)
                ret_counts[i] = 0;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
                EpisodeState s = state_from_string((const char *)sqlite3_column_text(st, 0));
                if (s >= 0)
                        ret_counts[s] = col_u64(st, 1);
        }
        return r == SQLITE_DONE ? 0 : ledger_sqlfail(l, r, "counting episodes");
}
