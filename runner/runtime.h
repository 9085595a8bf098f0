/* SPDX-License-Identifier: MIT */
#pragma once

#include <linux/filter.h>
#include <stdbool.h>

#include "governor/discover.h"
#include "governor/layout.h"
#include "policies/policy.h"
#include "runner/spawn.h"
#include "runner/supervise.h"

/* Everything a stage needs before it can start, set up once: the mode and why, the cgroup
 * layout (cgroup mode), the budget, the spawn method (after the kill-then-clone self-test), the
 * seccomp program, the stage user, and the supervisor. Shared by 'memgov exec' and the
 * scheduler. */

typedef struct RuntimeOptions {
        SpawnMethod spawn;   /* AUTO: chosen by the self-test */
        bool reap_leftovers; /* a restarted daemon kills stages of the previous one */
        StageDoneFn done;
        void *userdata;
} RuntimeOptions;

typedef struct Runtime {
        GovDiscovery discovery;
        GovLayout layout; /* cgroup mode only */
        int proc_fd;
        int fs_fd;
        uint64_t budget_bytes;
        bool budget_from_memtotal; /* auto, and the service had no memory.max */
        SpawnMethod spawn_method;
        int selftest_r; /* spawn_clone3_selftest()'s return; 1 = not run */
        bool kill_then_clone_bug;
        unsigned leftovers_reaped;
        struct sock_fprog seccomp;
        bool drop_privileges;
        uid_t uid;
        gid_t gid;
        gid_t *groups;
        size_t n_groups;
        Supervisor *supervisor;
} Runtime;

/* Returns 0, or -errno with a one-line reason in err (naming the file, user or setting). */
int runtime_open(const Policy *p, const RuntimeOptions *opts, Runtime *ret, char *err, size_t errlen);
void runtime_close(Runtime *rt);
