/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "runner/stagecg.h"
#include "tests/fake-tree.h"
#include "tests/tap.h"

TEST(names)
{
        char buf[64];

        ASSERT_INT(stage_cgroup_name("8670", "fetch", 1, buf, sizeof(buf)), ==, 0);
        ASSERT_STR(buf, "8670.fetch.1");
        ASSERT_INT(stage_cgroup_name("ep-1.b_2", "transcribe", 12, buf, sizeof(buf)), ==, 0);
        ASSERT_STR(buf, "ep-1.b_2.transcribe.12");
        /* Ids become directory names: nothing that could escape jobs/ or hide. */
        ASSERT_INT(stage_cgroup_name("../x", "fetch", 1, buf, sizeof(buf)), ==, -EINVAL);
        ASSERT_INT(stage_cgroup_name("a/b", "fetch", 1, buf, sizeof(buf)), ==, -EINVAL);
        ASSERT_INT(stage_cgroup_name("..", "fetch", 1, buf, sizeof(buf)), ==, -EINVAL);
        ASSERT_INT(stage_cgroup_name("", "fetch", 1, buf, sizeof(buf)), ==, -EINVAL);
        ASSERT_INT(stage_cgroup_name("ok", "a/b", 1, buf, sizeof(buf)), ==, -EINVAL);
        ASSERT_INT(stage_cgroup_name("ok", "fetch", 1, buf, 8), ==, -ENAMETOOLONG);
        return 0;
}

TEST(high_below_max)
{
        ASSERT_U64(stage_high_for(512ULL << 20), 448ULL << 20);
        ASSERT_U64(stage_high_for(4ULL << 20), 3ULL << 20);
        ASSERT_U64(stage_high_for(1ULL << 20), 1ULL << 20);
        return 0;
}

TEST(limits_written)
{
        FakeTree t;
        StageCgroup cg;
        StageLimits lim = { .max_bytes = 536870912, .pids_max = 256 };
        char err[256] = "", buf[64];
        _cleanup_close_ int jobs = -EBADF, stage = -EBADF;

        ASSERT_INT(fake_tree_new(&t), ==, 0);
        ASSERT_INT(fake_tree_cgroup(&t, "jobs", "memory pids"), ==, 0);
        ASSERT_INT(fake_tree_cgroup(&t, "jobs/8670.transcribe.1", "memory pids"), ==, 0);
        jobs = openat(t.fd, "jobs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        stage = openat(t.fd, "jobs/8670.transcribe.1", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_INT(stage_cg_set_limits(stage, &lim, err, sizeof(err)), ==, 0);
        ASSERT_INT(fake_tree_read(&t, "jobs/8670.transcribe.1/memory.max", buf, sizeof(buf)), >, 0);
        ASSERT_STR(buf, "536870912");
        ASSERT_INT(fake_tree_read(&t, "jobs/8670.transcribe.1/memory.high", buf, sizeof(buf)), >, 0);
        ASSERT_STR(buf, "469762048");
        ASSERT_INT(fake_tree_read(&t, "jobs/8670.transcribe.1/memory.swap.max", buf, sizeof(buf)), >, 0);
        ASSERT_STR(buf, "0");
        ASSERT_INT(fake_tree_read(&t, "jobs/8670.transcribe.1/memory.oom.group", buf, sizeof(buf)), >, 0);
        ASSERT_STR(buf, "1");
        ASSERT_INT(fake_tree_read(&t, "jobs/8670.transcribe.1/pids.max", buf, sizeof(buf)), >, 0);
        ASSERT_STR(buf, "256");
        /* No swap accounting: memory.swap.max is absent and that is fine. */
        ASSERT_INT(unlinkat(stage, "memory.swap.max", 0), ==, 0);
        ASSERT_INT(stage_cg_set_limits(stage, &lim, err, sizeof(err)), ==, 0);
        /* Without pids the stage cannot be bounded: an error naming the file. */
        ASSERT_INT(unlinkat(stage, "pids.max", 0), ==, 0);
        ASSERT_INT(stage_cg_set_limits(stage, &lim, err, sizeof(err)), ==, -ENOENT);
        ASSERT_STR(err, "cannot write pids.max: No such file or directory");
        /* A name that exists already is never reused. */
        ASSERT_INT(stage_cg_create(jobs, "8670.transcribe.1", &lim, &cg, err, sizeof(err)), ==, -EEXIST);
        ASSERT_CONTAINS(err, "cannot create cgroup jobs/8670.transcribe.1: File exists");
        /* A failed create removes what it made: a plain folder has no cgroup.events. */
        ASSERT_INT(stage_cg_create(jobs, "8670.transcribe.2", &lim, &cg, err, sizeof(err)), ==, -ENOENT);
        ASSERT_CONTAINS(err, "cannot open jobs/8670.transcribe.2/cgroup.events");
        ASSERT_INT(faccessat(jobs, "8670.transcribe.2", F_OK, 0), ==, -1);
        ASSERT_INT(stage_cg_create(jobs, "../escape", &lim, &cg, err, sizeof(err)), ==, -EINVAL);
        fake_tree_free(&t);
        return 0;
}

/* The real kernel: cgroup.kill, the populated notification and rmdir on the host's cgroup2 tree
 * (core v2 features, present on hybrid hosts too). */
TEST(real_kill_wait_destroy)
{
        const char *root = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ? "/sys/fs/cgroup"
                                                                                  : "/sys/fs/cgroup/unified";
        char path[256], pidbuf[32];
        _cleanup_close_ int jobs = -EBADF;
        StageCgroup cg = STAGE_CGROUP_NULL;
        StageUsage u;
        pid_t child;
        int status, r, go[2];

        if (geteuid() != 0 || access(root, W_OK) < 0)
                return tap_skip("needs root and a writable cgroup2 tree");
        snprintf(path, sizeof(path), "%s/memgov-test-%d", root, (int)getpid());
        ASSERT_INT(mkdir(path, 0755), ==, 0);
        jobs = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_INT(jobs, >=, 0);
        ASSERT_INT(mkdirat(jobs, "ep.fetch.1", 0755), ==, 0);
        strcpy(cg.name, "ep.fetch.1");
        cg.fd = openat(jobs, cg.name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cg.events_fd = openat(cg.fd, "cgroup.events", O_RDONLY | O_CLOEXEC);
        ASSERT_INT(cg.events_fd, >=, 0);
        ASSERT_INT(stage_cg_populated(&cg), ==, 0);
        ASSERT_INT(pipe2(go, O_CLOEXEC), ==, 0);
        child = fork();
        ASSERT_INT(child, >=, 0);
        if (child == 0) {
                char c;
                /* Placed first, then a grandchild, as a transcriber might fork one. */
                if (read(go[0], &c, 1) != 1)
                        _exit(1);
                if (fork() == 0)
                        for (;;)
                                pause();
                for (;;)
                        pause();
        }
        snprintf(pidbuf, sizeof(pidbuf), "%d", (int)child);
        r = write_string_at(cg.fd, "cgroup.procs", pidbuf);
        if (r < 0)
                kill(child, SIGKILL);
        ASSERT_INT(r, ==, 0);
        ASSERT_INT(write(go[1], "x", 1), ==, 1);
        usleep(50000);
        ASSERT_INT(stage_cg_populated(&cg), ==, 1);
        /* Occupied cgroups cannot be removed, and destroy says so. */
        ASSERT_INT(unlinkat(jobs, cg.name, AT_REMOVEDIR), ==, -1);
        ASSERT_INT(errno, ==, EBUSY);
        r = stage_cg_kill_and_wait(&cg, 5 * USEC_PER_SEC);
        if (r < 0)
                kill(child, SIGKILL);
        ASSERT_INT(r, ==, 0);
        ASSERT_INT(waitpid(child, &status, 0), ==, child);
        ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        ASSERT_INT(stage_cg_populated(&cg), ==, 0);
        /* No memory controller here: memory.peak is absent, memory.events.local too. */
        if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) != 0)
                ASSERT_INT(stage_cg_usage(&cg, &u), ==, -ENOENT);
        ASSERT_INT(stage_cg_destroy(jobs, &cg), ==, 0);
        ASSERT_INT(faccessat(jobs, "ep.fetch.1", F_OK, 0), ==, -1);
        /* Leftovers of a crashed daemon are killed and removed. */
        ASSERT_INT(mkdirat(jobs, "old.transcribe.3", 0755), ==, 0);
        child = fork();
        ASSERT_INT(child, >=, 0);
        if (child == 0)
                for (;;)
                        pause();
        snprintf(path, sizeof(path), "%s/memgov-test-%d/old.transcribe.3/cgroup.procs", root, (int)getpid());
        snprintf(pidbuf, sizeof(pidbuf), "%d", (int)child);
        r = write_string_at(AT_FDCWD, path, pidbuf);
        if (r < 0)
                kill(child, SIGKILL);
        ASSERT_INT(r, ==, 0);
        {
                char err[256] = "";
                ASSERT_INT(stage_cg_reap_leftovers(jobs, 5 * USEC_PER_SEC, err, sizeof(err)), ==, 1);
        }
        ASSERT_INT(waitpid(child, &status, 0), ==, child);
        ASSERT_TRUE(WIFSIGNALED(status));
        snprintf(path, sizeof(path), "%s/memgov-test-%d", root, (int)getpid());
        ASSERT_INT(rmdir(path), ==, 0);
        return 0;
}

TAP_MAIN(T(names), T(high_below_max), T(limits_written), T(real_kill_wait_destroy))
