/* SPDX-License-Identifier: MIT */
#pragma once

#include <limits.h>
#include <signal.h>
#include <stddef.h>

#include "runner/spawn.h"

/* Shared by tests/test-spawn.c and tests/test-seccomp.c: run a stage and capture its output,
 * find the helper programs, make throw-away cgroups on the host's cgroup2 hierarchy. */

/* "$top_builddir/tests/helpers/NAME" (top_builddir from make check, else "."), in buf. */
char *helper_path(const char *name, char *buf, size_t size);

/* Spawns p with stdout (and stderr, if p has none) on a pipe, collects everything the child
 * writes into buf (NUL-terminated, cut at size - 1) and reaps it. Returns spawn_process()'s
 * result; *ret_res keeps the error step, *ret_info how the child ended. */
int run_capture(const SpawnParams *p, SpawnMethod method, char *buf, size_t size, SpawnResult *ret_res,
        siginfo_t *ret_info);

typedef struct TestCgroup {
        char path[PATH_MAX]; /* absolute */
        char rel[PATH_MAX];  /* as /proc/PID/cgroup shows it: "/memgov-test-…" */
        int fd;              /* O_DIRECTORY */
} TestCgroup;

/* Creates memgov-test-<pid>-<suffix> next to our own cgroup on the cgroup2 mount
 * (/sys/fs/cgroup/unified on hybrid hosts). Returns 0, or TAP_SKIP with the reason set when
 * there is no writable cgroup2 hierarchy. */
int test_cgroup_new(TestCgroup *cg, const char *suffix);

/* Kills whatever is left in it (cgroup.kill) and removes it. */
void test_cgroup_remove(TestCgroup *cg);

/* The value of "Key:" in /proc/PID/status-like text, whitespace squeezed to single spaces,
 * in buf; NULL if absent. */
const char *status_field(const char *text, const char *key, char *buf, size_t size);
