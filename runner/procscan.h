/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Watchdog mode's view of a stage: its process tree and resident memory, sampled from /proc
 * (a dirfd, so tests use fake trees). Used where no memory controller can enforce a limit. */

typedef struct ProcEntry {
        pid_t pid;
        pid_t ppid;
        pid_t pgrp;
        pid_t sid;
        char state;
        uint64_t rss_bytes;
} ProcEntry;

/* Parses /proc/PID/stat; the command name may contain spaces and ')' so fields are found after
 * the last ')'. Returns 0 or -EINVAL. */
int proc_parse_stat(const char *text, ProcEntry *ret);

/* The resident pages (second field) of /proc/PID/statm, in bytes. Returns 0 or -EINVAL. */
int proc_parse_statm(const char *text, uint64_t page_size, uint64_t *ret_rss_bytes);

/* A reusable snapshot of all processes, so sampling does not allocate once it has grown. */
typedef struct ProcSnapshot {
        ProcEntry *entries;
        size_t n;
        size_t cap;
} ProcSnapshot;

/* Reads every /proc/PID of proc_fd. Processes that exit while being read are skipped. Returns
 * 0 or -errno. */
int proc_snapshot(int proc_fd, uint64_t page_size, ProcSnapshot *s);
void proc_snapshot_done(ProcSnapshot *s);

/* The pids a stage has been seen with: a daemonising child that calls setsid() and is
 * re-parented to memgov (a child subreaper) is still the stage's once it has been seen in it. */
typedef struct ProcSet {
        pid_t *pids;
        size_t n;
        size_t cap;
} ProcSet;

void proc_set_done(ProcSet *s);
bool proc_set_contains(const ProcSet *s, pid_t pid);

/* Marks the stage's processes in snapshot s: the root, anything in its session or process
 * group, any descendant, and anything in known. Updates known to the members now alive and
 * returns the sum of their RSS (shared pages counted in each process: an upper bound, which is
 * the safe side for a limit). ret_count gets the number of members. */
uint64_t proc_stage_rss(const ProcSnapshot *s, pid_t root, ProcSet *known, size_t *ret_count);
