/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The cgroup layout memgov builds inside its delegated service cgroup:
 *   service/supervisor/  the daemon itself (no processes may stay in an inner node)
 *   service/jobs/        +memory +pids for the stage cgroups; memory.max = the budget
 * The service cgroup's own resource files (memory.max …) belong to whoever delegated it and are
 * never written; only its delegation files (cgroup.procs, cgroup.subtree_control) are. */

typedef struct GovLayout {
        int service_fd;
        int supervisor_fd;
        int jobs_fd;
} GovLayout;

#define GOV_LAYOUT_NULL ((GovLayout){ .service_fd = -EBADF, .supervisor_fd = -EBADF, .jobs_fd = -EBADF })

/* Moves pid into supervisor/, enables memory and pids for the children, creates jobs/ with
 * memory.max = budget_bytes (and memory.swap.max = 0 unless swap), keeping service_fd (which it
 * dups). Idempotent, so a restarted daemon reuses the layout. Returns 0, or -errno with a
 * one-line explanation naming the file and the fix in err. */
int gov_layout_setup(int service_fd, pid_t pid, uint64_t budget_bytes, bool swap, GovLayout *ret, char *err,
        size_t errlen);

void gov_layout_close(GovLayout *l);

/* The budget for budget = auto: the service cgroup's memory.max minus reserve; when the service
 * has no limit ("max"), the machine's memory (MemTotal) minus reserve. Returns 0 when nothing is
 * left (the caller reports it). Pure. */
uint64_t gov_budget_auto(uint64_t service_max_bytes, uint64_t mem_total_bytes, uint64_t reserve_bytes);

/* MemTotal from /proc/meminfo text, in bytes. Returns 0 or -EINVAL. */
int gov_parse_meminfo_total(const char *text, uint64_t *ret);
