/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/time-util.h"
#include "governor/memstat.h"

/* One fresh cgroup per stage attempt under jobs/, never reused: a cgroup that has seen
 * cgroup.kill may kill every child later cloned into it (kernel bug, see tests/vm scenario
 * kill-then-clone), and a fresh one gives clean memory.peak and memory.events.local. */

typedef struct StageLimits {
        uint64_t max_bytes;  /* memory.max */
        uint64_t high_bytes; /* memory.high; 0 = derived from max */
        bool swap;           /* false: memory.swap.max = 0 */
        unsigned pids_max;
} StageLimits;

typedef struct StageCgroup {
        char name[192]; /* "<id>.<stage>.<attempt>" */
        int fd;         /* O_DIRECTORY of the cgroup, for clone3 CLONE_INTO_CGROUP */
        int events_fd;  /* cgroup.events, pollable (POLLPRI) for "populated 0" */
} StageCgroup;

#define STAGE_CGROUP_NULL ((StageCgroup){ .fd = -EBADF, .events_fd = -EBADF })

/* What a finished stage's cgroup recorded. */
typedef struct StageUsage {
        uint64_t peak_bytes; /* memory.peak; 0 where the kernel has none (before 5.19) */
        MemEvents events;    /* memory.events.local */
} StageUsage;

/* memory.high a little under memory.max, so the stage is throttled and reclaimed (the "high"
 * event) before the OOM killer is reached: max - max/8, at least 1 MiB under max. Pure. */
uint64_t stage_high_for(uint64_t max_bytes);

/* Formats the cgroup name, checking that id and stage can be part of a file name. Returns 0 or
 * -EINVAL. */
int stage_cgroup_name(const char *id, const char *stage, unsigned attempt, char *buf, size_t size);

/* Creates jobs/<name> and writes every limit before any process can enter: memory.max,
 * memory.high, memory.swap.max (skipped where swap is not accounted), memory.oom.group = 1
 * (the stage's process tree dies as one) and pids.max. An existing cgroup of that name is an
 * error (-EEXIST): attempts are numbered so names never repeat. On failure the cgroup is
 * removed again. Returns 0 or -errno with the failing file named in err. */
int stage_cg_create(
        int jobs_fd, const char *name, const StageLimits *lim, StageCgroup *ret, char *err, size_t errlen);

/* The limit writes of stage_cg_create(), on an open cgroup dirfd. Returns 0 or -errno with the
 * file named in err. */
int stage_cg_set_limits(int cgfd, const StageLimits *lim, char *err, size_t errlen);

/* Whether any process is left in the cgroup (cgroup.events "populated"). Returns 1, 0 or
 * -errno. */
int stage_cg_populated(StageCgroup *cg);

/* Kills every process in the cgroup (cgroup.kill), then waits until it is empty, up to
 * timeout. Returns 0, -ETIMEDOUT, or -errno. */
int stage_cg_kill_and_wait(StageCgroup *cg, usec_t timeout);

/* Reads memory.peak and memory.events.local. Call before stage_cg_destroy(). */
int stage_cg_usage(StageCgroup *cg, StageUsage *ret);

/* Removes the (empty) cgroup and checks it is gone. Closes the fds. Returns 0, -EBUSY if
 * processes remain, or -errno. */
int stage_cg_destroy(int jobs_fd, StageCgroup *cg);

/* After a daemon restart: kills and removes every cgroup left under jobs/ by stages of the
 * previous instance, before anything is admitted. Returns the number removed, or -errno
 * (err names the cgroup that would not go). */
int stage_cg_reap_leftovers(int jobs_fd, usec_t timeout_each, char *err, size_t errlen);
