/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "governor/memstat.h"

/* Periodic readings with the files kept open: one pread() per file and no allocation per sample,
 * so sampling costs the same under memory pressure as without. */

typedef struct GovSampler {
        int current_fd; /* memory.current of the governed cgroup, or -EBADF */
        int stat_fd;
        int max_fd;
        int pressure_fd; /* memory.pressure of the cgroup, else /proc/pressure/memory, or -EBADF */
        bool pressure_is_system;
} GovSampler;

#define GOV_SAMPLER_NULL \
        ((GovSampler){ .current_fd = -EBADF, .stat_fd = -EBADF, .max_fd = -EBADF, .pressure_fd = -EBADF })

typedef struct GovSample {
        bool have_memory; /* the cgroup's memory files were readable */
        uint64_t current_bytes;
        uint64_t max_bytes; /* MEM_MAX for "max" */
        uint64_t hard_bytes;
        MemStat stat;
        bool have_psi;
        PsiStats psi;
} GovSample;

/* Opens what exists: memory files of memory_fd (jobs/ in cgroup mode; -EBADF for none),
 * memory.pressure of pressure_fd (the service cgroup: its stalls include the supervisor's and
 * those of anything else the service runs, not only the stages') if readable, else proc_fd's
 * pressure/memory. Missing sources are not errors: the sample says what it has. Returns 0 or
 * -ENOMEM/-EMFILE. */
int gov_sampler_open(GovSampler *s, int memory_fd, int pressure_fd, int proc_fd);
void gov_sampler_close(GovSampler *s);

/* Takes one sample. Returns 0, or -errno when a file that was open stops being readable (the
 * cgroup was removed). */
int gov_sampler_read(GovSampler *s, GovSample *ret);
