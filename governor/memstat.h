/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/time-util.h"

/* Parsers for cgroup v2 memory files and PSI. Pure: they take the file's text, so they are
 * fuzzed and table-tested; the readers below do the single read() per file. */

#define MEM_MAX UINT64_MAX /* "max" */

/* memory.current, memory.max, memory.peak, pids.max …: a number or "max", one line.
 * Returns 0, -EINVAL on anything else (trailing garbage included). */
int mem_parse_value(const char *text, uint64_t *ret);

/* The memory.stat fields memgov uses; others are ignored. In bytes. */
typedef struct MemStat {
        uint64_t anon;
        uint64_t file;
        uint64_t kernel;
        uint64_t sock;
        uint64_t shmem;
        uint64_t file_mapped;
        uint64_t file_dirty;
        uint64_t file_writeback;
        uint64_t active_file;
        uint64_t inactive_file;
        uint64_t slab_reclaimable;
} MemStat;

/* "key value\n" lines. Unknown keys are skipped, so newer kernels parse. Returns 0, or -EINVAL
 * for a malformed line. */
int mem_parse_stat(const char *text, MemStat *ret);

/* memory.events / memory.events.local. */
typedef struct MemEvents {
        uint64_t low;
        uint64_t high;
        uint64_t max;
        uint64_t oom;
        uint64_t oom_kill;
        uint64_t oom_group_kill;
} MemEvents;

int mem_parse_events(const char *text, MemEvents *ret);

/* One line of a PSI file. Averages are in permyriad (the kernel prints two decimals). */
typedef struct PsiLine {
        unsigned avg10;
        unsigned avg60;
        unsigned avg300;
        uint64_t total_usec;
} PsiLine;

typedef struct PsiStats {
        PsiLine some;
        PsiLine full;
        bool has_full; /* system-wide cpu had no "full" line before 5.13 */
} PsiStats;

int psi_parse(const char *text, PsiStats *ret);

/* cgroup.events: populated and frozen. */
int cg_parse_events(const char *text, bool *ret_populated, bool *ret_frozen);
