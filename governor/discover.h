/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "policies/policy.h"

/* What the host offers memgov, found from /proc and the cgroup2 mount, never assumed: the
 * proc and filesystem roots are dirfds, so tests point them at fake trees. */

typedef enum GovMode {
        GOV_MODE_CGROUP,
        GOV_MODE_WATCHDOG,
        _GOV_MODE_MAX,
} GovMode;

/* A missing piece and the operator's fix, for probe and the start-up log. */
typedef struct GovProblem {
        char what[256];
        char fix[256];
} GovProblem;

#define GOV_PROBLEMS_MAX 8

typedef struct GovDiscovery {
        /* cgroup v2 */
        char cgroup2_mount[512]; /* "" when there is no cgroup2 mount */
        bool cgroup2_readonly;
        bool hybrid;              /* cgroup v1 hierarchies mounted too */
        bool memory_on_v1;        /* the memory controller is bound to a v1 hierarchy */
        char own_cgroup[512];     /* "0::" path, "/" for the root */
        char service_cgroup[512]; /* the delegated root memgov manages: own, or the parent of supervisor/ */
        char controllers[256];    /* the service cgroup's cgroup.controllers */
        char subtree_control[256];
        bool has_memory; /* memory listed in the service cgroup's cgroup.controllers */
        bool has_pids;
        bool delegated; /* the service cgroup's cgroup.procs and cgroup.subtree_control are writable */
        bool is_root_cgroup;

        /* PSI */
        bool psi_system; /* /proc/pressure/memory readable */
        bool psi_cgroup; /* the service cgroup's memory.pressure readable */

        /* The outcome */
        GovMode mode;
        GovProblem problems[GOV_PROBLEMS_MAX]; /* why not cgroup mode, with fixes */
        size_t n_problems;
} GovDiscovery;

/* Discovers from proc_fd (a dirfd of /proc) and fs_fd (a dirfd of /, under which mount points
 * from mountinfo are opened) and decides the mode for the given enforcement setting.
 * Returns 0 with ret filled (mode WATCHDOG with problems when cgroup mode is not possible),
 * -ENOTSUP when enforcement = cgroup is demanded but impossible (ret->problems say why), or
 * -errno when /proc cannot be read. */
int gov_discover(int proc_fd, int fs_fd, Enforcement enforcement, GovDiscovery *ret);

/* Opens the service cgroup found by gov_discover() as an O_DIRECTORY dirfd. Returns the fd or
 * -errno. */
int gov_open_service_cgroup(int fs_fd, const GovDiscovery *d);

const char *gov_mode_to_string(GovMode m);

/* Pure helpers, exposed for tests and fuzzing. */

/* Finds the "0::PATH" line of /proc/self/cgroup and whether any v1 line binds "memory". */
int gov_parse_proc_cgroup(const char *text, char *ret_path, size_t size, bool *ret_memory_v1);

/* Finds the first cgroup2 mount point in /proc/self/mountinfo (octal escapes decoded), whether
 * it is mounted read-only, and whether any cgroup v1 hierarchy is mounted. */
int gov_parse_mountinfo(
        const char *text, char *ret_mount, size_t size, bool *ret_readonly, bool *ret_v1_present);

/* Whether "memory" is bound to a v1 hierarchy according to /proc/cgroups (non-zero hierarchy
 * column with enabled 1). */
int gov_parse_proc_cgroups(const char *text, bool *ret_memory_v1);

/* Whether word appears as a whole word in a space-separated list. */
bool gov_word_in_list(const char *list, const char *word);
