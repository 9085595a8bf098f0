/* SPDX-License-Identifier: MIT */
#pragma once

#include "common/time-util.h"
#include "governor/discover.h"
#include "policies/policy.h"

/* 'memgov probe --watch': a live line per interval with budget, hard usage, page cache, PSI,
 * trigger events, tokens per class and why a class is closed. count = 0 runs until killed.
 * Returns 0 or a negative errno (already logged). */
int probe_watch(const Policy *p, const GovDiscovery *d, int fs_fd, int proc_fd, uint64_t budget,
        usec_t interval, unsigned count);
