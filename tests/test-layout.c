/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "governor/cgsetup.h"
#include "governor/layout.h"
#include "governor/memstat.h"
#include "tests/fake-tree.h"
#include "tests/tap.h"

TEST(fake_service)
{
        FakeTree t;
        GovLayout l;
        char err[512] = "", buf[64];

        ASSERT_INT(fake_tree_new(&t), ==, 0);
        ASSERT_INT(fake_tree_cgroup(&t, "svc", "cpu memory pids"), ==, 0);
        /* The service's own memory.max belongs to the delegator: it must stay as it was. */
        ASSERT_INT(fake_tree_write(&t, "svc/memory.max", "1677721600\n"), ==, 0);
        /* Fake trees have no kernel to create interface files on mkdir: lay out the children. */
        ASSERT_INT(fake_tree_cgroup(&t, "svc/supervisor", ""), ==, 0);
        ASSERT_INT(fake_tree_cgroup(&t, "svc/jobs", "memory pids"), ==, 0);
        {
                _cleanup_close_ int svc = openat(t.fd, "svc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                ASSERT_INT(gov_layout_setup(svc, 4242, 1409286144, false, &l, err, sizeof(err)), ==, 0);
        }
        ASSERT_INT(fake_tree_read(&t, "svc/supervisor/cgroup.procs", buf, sizeof(buf)), >, 0);
        ASSERT_STR(buf, "4242");
        ASSERT_INT(fake_tree_read(&t, "svc/cgroup.subtree_control", buf, sizeof(buf)), >, 0);
        ASSERT_STR(buf, "+memory +pids");
        ASSERT_INT(fake_tree_read(&t, "svc/jobs/cgroup.subtree_control", buf, sizeof(buf)), >, 0);
        ASSERT_STR(buf, "+memory +pids");
        ASSERT_INT(fake_tree_read(&t, "svc/jobs/memory.max", buf, sizeof(buf)), >, 0);
        ASSERT_STR(buf, "1409286144");
        ASSERT_INT(fake_tree_read(&t, "svc/jobs/memory.swap.max", buf, sizeof(buf)), >, 0);
        ASSERT_STR(buf, "0");
        ASSERT_INT(fake_tree_read(&t, "svc/memory.max", buf, sizeof(buf)), >, 0);
        ASSERT_STR(buf, "1677721600\n");
        ASSERT_INT(l.jobs_fd, >=, 0);
        gov_layout_close(&l);
        ASSERT_INT(l.jobs_fd, <, 0);
        fake_tree_free(&t);
        return 0;
}

TEST(missing_interface_file)
{
        FakeTree t;
        GovLayout l;
        char err[512] = "";

        ASSERT_INT(fake_tree_new(&t), ==, 0);
        ASSERT_INT(fake_tree_cgroup(&t, "svc", "memory pids"), ==, 0);
        ASSERT_INT(fake_tree_cgroup(&t, "svc/supervisor", ""), ==, 0);
        /* jobs/ exists without memory.max: what a kernel without the memory controller gives. */
        ASSERT_INT(fake_tree_cgroup(&t, "svc/jobs", "pids"), ==, 0);
        {
                _cleanup_close_ int svc = openat(t.fd, "svc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                ASSERT_INT(gov_layout_setup(svc, 1, 1 << 30, true, &l, err, sizeof(err)), ==, -ENOENT);
        }
        ASSERT_CONTAINS(err, "jobs/memory.max");
        fake_tree_free(&t);
        return 0;
}

/* On the host's real cgroup2 tree (hybrid here: it offers no memory controller), the layout
 * must fail with a message naming the missing controller, and leave nothing behind. */
TEST(real_kernel_without_memory)
{
        char path[256], err[512] = "", ctrls[256];
        _cleanup_close_ int svc = -EBADF;
        const char *root = "/sys/fs/cgroup/unified";
        GovLayout l;
        pid_t child;
        int r;

        if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0)
                root = "/sys/fs/cgroup";
        snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
        if (geteuid() != 0 || access(path, F_OK) < 0)
                return tap_skip("needs root and a cgroup2 mount");
        {
                FILE *f = fopen(path, "re");
                ASSERT_TRUE(f);
                if (!fgets(ctrls, sizeof(ctrls), f))
                        ctrls[0] = 0;
                fclose(f);
        }
        if (strstr(ctrls, "memory"))
                return tap_skip(
                        "this cgroup2 tree offers the memory controller; the VM tier covers that case");
        snprintf(path, sizeof(path), "%s/memgov-test-%d", root, (int)getpid());
        ASSERT_INT(mkdir(path, 0755), ==, 0);
        svc = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_INT(svc, >=, 0);
        child = fork();
        ASSERT_INT(child, >=, 0);
        if (child == 0) {
                pause();
                _exit(0);
        }
        r = gov_layout_setup(svc, child, 1 << 30, false, &l, err, sizeof(err));
        printf("# %s\n", err);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        (void)unlinkat(svc, "jobs", AT_REMOVEDIR);
        (void)unlinkat(svc, "supervisor", AT_REMOVEDIR);
        ASSERT_INT(rmdir(path), ==, 0);
        ASSERT_INT(r, ==, -ENOENT);
        ASSERT_CONTAINS(err,
                "cannot enable memory in the service cgroup's cgroup.subtree_control: not offered by the parent");
        return 0;
}

TEST(budget_auto)
{
        const uint64_t M = 1ULL << 20;
        uint64_t v;

        ASSERT_U64(gov_budget_auto(1600 * M, 2048 * M, 256 * M), 1344 * M);
        ASSERT_U64(gov_budget_auto(MEM_MAX, 2048 * M, 256 * M), 1792 * M);
        /* A service limit above the machine's memory cannot be used in full. */
        ASSERT_U64(gov_budget_auto(64 * 1024 * M, 2048 * M, 256 * M), 1792 * M);
        ASSERT_U64(gov_budget_auto(200 * M, 2048 * M, 256 * M), 0);
        ASSERT_INT(gov_parse_meminfo_total("MemTotal:        2014352 kB\nMemFree: 1 kB\n", &v), ==, 0);
        ASSERT_U64(v, 2014352ULL * 1024);
        ASSERT_INT(gov_parse_meminfo_total("MemFree: 1 kB\n", &v), ==, -EINVAL);
        return 0;
}

TEST(setup_names)
{
        static const char *const good[] = { "memgov", "services/memgov", "a.b_c-d", "x/y/z" };
        static const char *const bad[] = { "", "/memgov", "memgov/", "..", "a/../b", "a//b", ".", "a b",
                "a;b", "$(x)" };

        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                ASSERT_INT(cg_setup_name_valid(good[i]), ==, 1);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ASSERT_INT(cg_setup_name_valid(bad[i]), ==, 0);
        return 0;
}

TAP_MAIN(T(setup_names), T(fake_service), T(missing_interface_file), T(real_kernel_without_memory),
        T(budget_auto))
