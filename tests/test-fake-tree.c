/* SPDX-License-Identifier: MIT */
#include <sys/stat.h>

#include "tests/fake-tree.h"
#include "tests/tap.h"

TEST(cgroup_layout)
{
        FakeTree t;
        char buf[256];
        struct stat st;

        ASSERT_INT(fake_tree_new(&t), ==, 0);
        ASSERT_INT(fake_tree_cgroup(&t, "", "cpu memory pids"), ==, 0);
        ASSERT_INT(fake_tree_cgroup(&t, "memgov.service/jobs", "memory pids"), ==, 0);
        ASSERT_INT(fake_tree_read(&t, "cgroup.controllers", buf, sizeof(buf)), >, 0);
        ASSERT_STR(buf, "cpu memory pids");
        /* The root has no memory.* files, as on a real kernel. */
        ASSERT_INT(fstatat(t.fd, "memory.max", &st, 0), ==, -1);
        ASSERT_INT(fake_tree_read(&t, "memgov.service/jobs/memory.max", buf, sizeof(buf)), >, 0);
        ASSERT_STR(buf, "max\n");
        ASSERT_INT(fake_tree_read(&t, "memgov.service/jobs/memory.pressure", buf, sizeof(buf)), >, 0);
        ASSERT_CONTAINS(buf, "some avg10=0.00");
        ASSERT_INT(fake_tree_read(&t, "memgov.service/jobs/pids.max", buf, sizeof(buf)), >, 0);
        fake_tree_free(&t);
        ASSERT_INT(stat(t.path, &st), ==, -1);
        return 0;
}

TEST(without_memory)
{
        FakeTree t;
        struct stat st;

        ASSERT_INT(fake_tree_new(&t), ==, 0);
        ASSERT_INT(fake_tree_cgroup(&t, "svc", "pids"), ==, 0);
        ASSERT_INT(fstatat(t.fd, "svc/memory.current", &st, 0), ==, -1);
        ASSERT_INT(fstatat(t.fd, "svc/pids.max", &st, 0), ==, 0);
        fake_tree_free(&t);
        return 0;
}

TAP_MAIN(T(cgroup_layout), T(without_memory))
