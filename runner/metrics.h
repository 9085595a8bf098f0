/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/time-util.h"
#include "policies/policy.h"
#include "runner/state.h"

/* The daemon's Prometheus metrics, written as a text exposition file (format 0.0.4) for
 * node_exporter's textfile collector or any agent that reads files: no HTTP server in the daemon.
 * The daemon fills a Metrics struct from what it already knows and writes it every sample
 * interval; the formatter is a pure function. */

typedef struct Metrics {
        const char *version;    /* memgov_info labels; NULL leaves the label out */
        const char *mode;       /* "cgroup" or "watchdog"; NULL leaves the label out */
        usec_t start_time_usec; /* CLOCK_REALTIME; 0 = not exported */

        /* Gauges */
        uint64_t budget_bytes;
        uint64_t hard_usage_bytes;
        double psi_some_avg10; /* percent, as the kernel prints it */
        double psi_full_avg10;
        unsigned window; /* the AIMD concurrency window */
        bool admission_open[_JOB_CLASS_MAX];
        unsigned running[_JOB_CLASS_MAX];
        uint64_t episodes[_EPISODE_STATE_MAX];
        uint64_t daemon_rss_bytes;

        /* Counters, since the daemon started */
        uint64_t stages_started_total[_JOB_CLASS_MAX];
        uint64_t stage_results_total[_RUN_RESULT_MAX];
        uint64_t oom_kills_total;
        uint64_t control_requests_total;
        uint64_t control_refused_total;
} Metrics;

/* Formats m as Prometheus text, every family with # HELP and # TYPE, names prefixed memgov_,
 * label values escaped. Returns 0 with a new NUL-terminated string in *ret, or -ENOMEM. */
int metrics_format(const Metrics *m, char **ret);

/* Formats m and replaces dirfd/name atomically (mode 0644), so a collector never reads half a
 * file. Returns 0 or -errno. */
int metrics_write(int dirfd, const char *name, const Metrics *m);

/* The resident set size of the calling process from proc_fd's "self/status" (VmRSS), for
 * daemon_rss_bytes. Returns 0, -EBADMSG when the line is missing, or -errno. */
int metrics_read_self_rss(int proc_fd, uint64_t *ret);
