/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by ledger.c (open, schema, episodes) and ledger-runs.c (stage runs, recovery,
 * estimates); not for use outside the ledger. */

#include <limits.h>
#include <sqlite3.h>
#include <stdint.h>

#include "common/macro.h"
#include "runner/ledger.h"

struct Ledger {
        sqlite3 *db;
        int lock_fd;
        char *path;
        char error[512];
};

static inline void ledger_finalizep(sqlite3_stmt **st)
{
        if (*st)
                sqlite3_finalize(*st);
}
#define _cleanup_stmt_ _cleanup_(ledger_finalizep)

static inline uint64_t col_u64(sqlite3_stmt *st, int i)
{
        return (uint64_t)sqlite3_column_int64(st, i);
}

static inline unsigned col_uint(sqlite3_stmt *st, int i)
{
        sqlite3_int64 v = sqlite3_column_int64(st, i);
        return v < 0 ? 0 : v > UINT_MAX ? UINT_MAX : (unsigned)v;
}

/* Sets ledger_error() and returns r. */
_printf_(3, 4) int ledger_fail(Ledger *l, int r, const char *fmt, ...);
/* Describes a failed SQLite call (rc) and returns it as a negative errno. */
int ledger_sqlfail(Ledger *l, int rc, const char *what);

/* Prepares sql and binds by a type string: s = text or NULL, u = uint64_t, z = uint64_t with 0
 * as NULL (keep the stored value), i = int. Arguments must have exactly these types. */
int ledger_prepare(Ledger *l, sqlite3_stmt **ret, const char *sql, const char *types, ...);
/* The same for a statement without rows, run to the end; returns the number of changed rows. */
int ledger_run(Ledger *l, const char *sql, const char *types, ...);
int ledger_exec(Ledger *l, const char *sql);

/* BEGIN IMMEDIATE; and COMMIT when commit is set (returning r unless the commit fails), else
 * ROLLBACK (returning r). */
int ledger_tx_begin(Ledger *l);
int ledger_tx_end(Ledger *l, int r, bool commit);

int ledger_check_id(Ledger *l, const char *id);
/* strdup() of a text column, NULL for NULL; -ENOMEM. */
int ledger_col_dup(sqlite3_stmt *st, int i, char **ret);

/* ledger_apply() inside a transaction the caller holds. */
int ledger_apply_in_tx(Ledger *l, const char *id, EpisodeState expected, const EpisodeEvent *ev,
        const Policy *p, const EpisodeFields *f, EpisodeStatus *ret);
