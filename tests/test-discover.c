/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "governor/discover.h"
#include "tests/fake-tree.h"
#include "tests/tap.h"

#define MOUNT_V2 \
        "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
#define MOUNT_HYBRID                                                                                                      \
        "25 22 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"                         \
        "26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate\n" \
        "31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory\n"
#define CGROUPS_V2     "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t0\t80\t1\npids\t0\t80\t1\n"
#define CGROUPS_HYBRID "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t4\t80\t1\npids\t7\t80\t1\n"
#define PSI \
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"

typedef struct Host {
        FakeTree proc, fs;
} Host;

static int host_new(Host *h, const char *self_cgroup, const char *mountinfo, const char *cgroups)
{
        if (fake_tree_new(&h->proc) < 0 || fake_tree_new(&h->fs) < 0)
                return -1;
        if (fake_tree_write(&h->proc, "self/cgroup", self_cgroup) < 0 ||
                fake_tree_write(&h->proc, "self/mountinfo", mountinfo) < 0 ||
                fake_tree_write(&h->proc, "cgroups", cgroups) < 0 ||
                fake_tree_write(&h->proc, "pressure/memory", PSI) < 0)
                return -1;
        return 0;
}

static void host_free(Host *h)
{
        fake_tree_free(&h->proc);
        fake_tree_free(&h->fs);
}

static bool has_problem(const GovDiscovery *d, const char *what, const char *fix)
{
        for (size_t i = 0; i < d->n_problems; i++)
                if (strstr(d->problems[i].what, what) && strstr(d->problems[i].fix, fix))
                        return true;
        for (size_t i = 0; i < d->n_problems; i++)
                printf("# problem: %s | fix: %s\n", d->problems[i].what, d->problems[i].fix);
        return false;
}

TEST(pure_v2_delegated)
{
        Host h;
        GovDiscovery d;

        ASSERT_INT(host_new(&h, "0::/system.slice/memgov.service\n", MOUNT_V2, CGROUPS_V2), ==, 0);
        ASSERT_INT(fake_tree_cgroup(&h.fs, "sys/fs/cgroup/system.slice/memgov.service", "cpu memory pids"),
                ==, 0);
        ASSERT_INT(gov_discover(h.proc.fd, h.fs.fd, ENFORCEMENT_AUTO, &d), ==, 0);
        ASSERT_STR(d.cgroup2_mount, "/sys/fs/cgroup");
        ASSERT_STR(d.own_cgroup, "/system.slice/memgov.service");
        ASSERT_STR(d.service_cgroup, "/system.slice/memgov.service");
        ASSERT_TRUE(d.has_memory && d.has_pids && d.delegated && !d.memory_on_v1 && !d.hybrid &&
                !d.is_root_cgroup);
        ASSERT_TRUE(d.psi_system && d.psi_cgroup);
        ASSERT_INT(d.n_problems, ==, 0);
        ASSERT_INT(d.mode, ==, GOV_MODE_CGROUP);
        /* Forcing watchdog mode is always possible. */
        ASSERT_INT(gov_discover(h.proc.fd, h.fs.fd, ENFORCEMENT_WATCHDOG, &d), ==, 0);
        ASSERT_INT(d.mode, ==, GOV_MODE_WATCHDOG);
        host_free(&h);
        return 0;
}

TEST(restart_inside_supervisor)
{
        Host h;
        GovDiscovery d;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        ASSERT_INT(
                host_new(&h, "0::/system.slice/memgov.service/supervisor\n", MOUNT_V2, CGROUPS_V2), ==, 0);
        ASSERT_INT(
                fake_tree_cgroup(&h.fs, "sys/fs/cgroup/system.slice/memgov.service", "memory pids"), ==, 0);
        ASSERT_INT(
                fake_tree_cgroup(&h.fs, "sys/fs/cgroup/system.slice/memgov.service/supervisor", ""), ==, 0);
        ASSERT_INT(gov_discover(h.proc.fd, h.fs.fd, ENFORCEMENT_CGROUP, &d), ==, 0);
        ASSERT_STR(d.service_cgroup, "/system.slice/memgov.service");
        ASSERT_INT(d.mode, ==, GOV_MODE_CGROUP);
        fd = gov_open_service_cgroup(h.fs.fd, &d);
        ASSERT_INT(fd, >=, 0);
        ASSERT_INT(fstatat(fd, "supervisor", &st, 0), ==, 0);
        host_free(&h);
        return 0;
}

TEST(hybrid_host)
{
        Host h;
        GovDiscovery d;

        ASSERT_INT(
                host_new(&h,
                        "12:pids:/user.slice\n4:memory:/user.slice\n1:name=systemd:/user.slice\n0::/user.slice\n",
                        MOUNT_HYBRID, CGROUPS_HYBRID),
                ==, 0);
        ASSERT_INT(fake_tree_cgroup(&h.fs, "sys/fs/cgroup/unified/user.slice", "hugetlb"), ==, 0);
        ASSERT_INT(gov_discover(h.proc.fd, h.fs.fd, ENFORCEMENT_AUTO, &d), ==, 0);
        ASSERT_STR(d.cgroup2_mount, "/sys/fs/cgroup/unified");
        ASSERT_TRUE(d.hybrid && d.memory_on_v1 && !d.has_memory);
        ASSERT_INT(d.mode, ==, GOV_MODE_WATCHDOG);
        ASSERT_TRUE(has_problem(&d, "bound to cgroup v1", "systemd.unified_cgroup_hierarchy=1"));
        /* enforcement = cgroup cannot be honoured here: refused, with the reasons. */
        ASSERT_INT(gov_discover(h.proc.fd, h.fs.fd, ENFORCEMENT_CGROUP, &d), ==, -ENOTSUP);
        ASSERT_INT(d.n_problems, >, 0);
        host_free(&h);
        return 0;
}

TEST(root_cgroup)
{
        Host h;
        GovDiscovery d;

        ASSERT_INT(host_new(&h, "0::/\n", MOUNT_V2, CGROUPS_V2), ==, 0);
        ASSERT_INT(fake_tree_cgroup(&h.fs, "sys/fs/cgroup", "cpu memory pids"), ==, 0);
        /* The true root cgroup has neither memory.current nor cgroup.events. */
        ASSERT_INT(unlinkat(h.fs.fd, "sys/fs/cgroup/cgroup.events", 0), ==, 0);
        ASSERT_INT(unlinkat(h.fs.fd, "sys/fs/cgroup/memory.current", 0), ==, 0);
        ASSERT_INT(gov_discover(h.proc.fd, h.fs.fd, ENFORCEMENT_AUTO, &d), ==, 0);
        ASSERT_TRUE(d.is_root_cgroup);
        ASSERT_INT(d.mode, ==, GOV_MODE_WATCHDOG);
        ASSERT_TRUE(has_problem(&d, "root cgroup", "Delegate=yes"));
        host_free(&h);
        return 0;
}

TEST(readonly_container)
{
        Host h;
        GovDiscovery d;

        ASSERT_INT(
                host_new(&h, "0::/\n",
                        "700 600 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup ro\n",
                        CGROUPS_V2),
                ==, 0);
        /* A cgroup namespace's "/" is a real, non-root cgroup: it has memory files. */
        ASSERT_INT(fake_tree_cgroup(&h.fs, "sys/fs/cgroup/x", "memory pids"), ==, 0);
        ASSERT_INT(renameat(h.fs.fd, "sys/fs/cgroup", h.fs.fd, "sys/fs/old"), ==, 0);
        ASSERT_INT(renameat(h.fs.fd, "sys/fs/old/x", h.fs.fd, "sys/fs/cgroup"), ==, 0);
        ASSERT_INT(gov_discover(h.proc.fd, h.fs.fd, ENFORCEMENT_AUTO, &d), ==, 0);
        ASSERT_TRUE(d.cgroup2_readonly && !d.is_root_cgroup && !d.delegated && d.has_memory);
        ASSERT_INT(d.mode, ==, GOV_MODE_WATCHDOG);
        ASSERT_TRUE(has_problem(&d, "mounted read-only", "writable cgroup namespace"));
        host_free(&h);
        return 0;
}

TEST(no_memory_controller)
{
        Host h;
        GovDiscovery d;

        ASSERT_INT(host_new(&h, "0::/system.slice/memgov.service\n", MOUNT_V2, CGROUPS_V2), ==, 0);
        ASSERT_INT(fake_tree_cgroup(&h.fs, "sys/fs/cgroup/system.slice/memgov.service", "cpu pids"), ==, 0);
        ASSERT_INT(gov_discover(h.proc.fd, h.fs.fd, ENFORCEMENT_AUTO, &d), ==, 0);
        ASSERT_INT(d.mode, ==, GOV_MODE_WATCHDOG);
        ASSERT_TRUE(has_problem(&d,
                "memory controller is not available in cgroup /system.slice/memgov.service (cgroup.controllers: cpu pids)",
                "Delegate=yes"));
        host_free(&h);
        return 0;
}

TEST(not_delegated)
{
        Host h;
        int status;
        pid_t pid;

        if (geteuid() != 0)
                return tap_skip("needs root to test as another user");
        ASSERT_INT(host_new(&h, "0::/system.slice/memgov.service\n", MOUNT_V2, CGROUPS_V2), ==, 0);
        ASSERT_INT(
                fake_tree_cgroup(&h.fs, "sys/fs/cgroup/system.slice/memgov.service", "memory pids"), ==, 0);
        ASSERT_INT(chmod(h.proc.path, 0755), ==, 0);
        ASSERT_INT(chmod(h.fs.path, 0755), ==, 0);
        pid = fork();
        ASSERT_INT(pid, >=, 0);
        if (pid == 0) {
                GovDiscovery d;
                /* Files owned by root, mode 0644: not writable by an unprivileged daemon. */
                if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                        _exit(2);
                if (gov_discover(h.proc.fd, h.fs.fd, ENFORCEMENT_AUTO, &d) < 0)
                        _exit(3);
                _exit(d.mode == GOV_MODE_WATCHDOG && !d.delegated &&
                                        has_problem(&d, "is not delegated", "Delegate=yes")
                                ? 0
                                : 1);
        }
        ASSERT_INT(waitpid(pid, &status, 0), ==, pid);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_INT(WEXITSTATUS(status), ==, 0);
        host_free(&h);
        return 0;
}

TEST(parsers)
{
        char path[64], mount[64];
        bool v1, ro, hybrid;

        ASSERT_INT(gov_parse_proc_cgroup("0::/a b/c\n", path, sizeof(path), &v1), ==, 0);
        ASSERT_STR(path, "/a b/c");
        ASSERT_INT(gov_parse_proc_cgroup("3:cpu,memory:/x\n", path, sizeof(path), &v1), ==, -ENOENT);
        ASSERT_TRUE(v1);
        ASSERT_INT(gov_parse_proc_cgroup("0::relative\n", path, sizeof(path), &v1), ==, -EINVAL);
        ASSERT_INT(gov_parse_mountinfo("1 2 0:1 / /with\\040space rw - cgroup2 none rw\n", mount,
                           sizeof(mount), &ro, &hybrid),
                ==, 0);
        ASSERT_STR(mount, "/with space");
        ASSERT_TRUE(!ro && !hybrid);
        ASSERT_INT(gov_parse_mountinfo(
                           "1 2 0:1 / /x rw - ext4 /dev/sda rw\n", mount, sizeof(mount), &ro, &hybrid),
                ==, -ENOENT);
        ASSERT_TRUE(gov_word_in_list("cpu memory pids", "memory"));
        ASSERT_TRUE(!gov_word_in_list("cpu memoryx pids", "memory"));
        ASSERT_TRUE(gov_word_in_list("rw,ro", "ro"));
        return 0;
}

/* The real host: what discovery says must agree with what /proc says directly. */
TEST(this_host)
{
        _cleanup_close_ int proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char buf[4096];
        bool memory_v1 = false;
        GovDiscovery d;

        ASSERT_INT(gov_discover(proc, root, ENFORCEMENT_AUTO, &d), ==, 0);
        ASSERT_INT(read_virtual_at(proc, "cgroups", buf, sizeof(buf)), >, 0);
        ASSERT_INT(gov_parse_proc_cgroups(buf, &memory_v1), ==, 0);
        printf("# this host: cgroup2 at '%s', own cgroup '%s', memory on v1: %s, mode %s\n", d.cgroup2_mount,
                d.own_cgroup, d.memory_on_v1 ? "yes" : "no", gov_mode_to_string(d.mode));
        for (size_t i = 0; i < d.n_problems; i++)
                printf("# why: %s; fix: %s\n", d.problems[i].what, d.problems[i].fix);
        ASSERT_TRUE(d.memory_on_v1 == memory_v1 || d.memory_on_v1);
        if (memory_v1) {
                ASSERT_INT(d.mode, ==, GOV_MODE_WATCHDOG);
                ASSERT_TRUE(has_problem(&d, "bound to cgroup v1", "unified_cgroup_hierarchy"));
        }
        ASSERT_TRUE(d.psi_system == (access("/proc/pressure/memory", R_OK) == 0));
        return 0;
}

TAP_MAIN(T(pure_v2_delegated), T(restart_inside_supervisor), T(hybrid_host), T(root_cgroup),
        T(readonly_container), T(no_memory_controller), T(not_delegated), T(parsers), T(this_host))
