/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <linux/filter.h>
#include <stddef.h>
#include <sys/wait.h>

#include "common/macro.h"
#include "runner/seccomp.h"
#include "runner/spawn.h"
#include "tests/helpers/spawn-util.h"
#include "tests/tap.h"

/* What tests/helpers/try-syscall must report under the default filter (run as root, so the
 * kernel's own permission checks pass and only the filter can say EPERM/ENOSYS). "same" rows
 * are controls the filter must leave alone, so they answer the same without it. */
typedef struct Expect {
        char *name; /* goes into argv */
        const char *filtered;
        bool same;
} Expect;

static const Expect expectations[] = {
        { "mount", "EPERM" },
        { "umount2", "EPERM" },
        { "pivot_root", "EPERM" },
        { "chroot", "EPERM" },
        { "unshare", "EPERM" },
        { "setns", "EPERM" },
        { "open_tree", "ENOSYS" },
        { "move_mount", "ENOSYS" },
        { "fsopen", "ENOSYS" },
        { "fsconfig", "ENOSYS" },
        { "fsmount", "ENOSYS" },
        { "fspick", "ENOSYS" },
        { "mount_setattr", "ENOSYS" },
        { "clone3", "ENOSYS" },
        { "clone_newuser", "EPERM" },
        { "clone_newns", "EPERM" },
        { "clone_newpid", "EPERM" },
        { "clone_newnet", "EPERM" },
        { "clone_newipc", "EPERM" },
        { "clone_newuts", "EPERM" },
        { "clone_newcgroup", "EPERM" },
        { "clone_plain", "EINVAL", true },
        { "kexec_load", "SIGSYS" },
        { "kexec_file_load", "SIGSYS" },
        { "init_module", "SIGSYS" },
        { "finit_module", "SIGSYS" },
        { "delete_module", "SIGSYS" },
        { "reboot", "SIGSYS" },
        { "swapon", "EPERM" },
        { "swapoff", "EPERM" },
        { "iopl", "EPERM" },
        { "ioperm", "EPERM" },
        { "acct", "EPERM" },
        { "quotactl", "EPERM" },
        { "quotactl_fd", "EPERM" },
        { "settimeofday", "EPERM" },
        { "clock_settime", "EPERM" },
        { "clock_adjtime", "EPERM" },
        { "adjtimex", "EPERM" },
        { "sethostname", "EPERM" },
        { "setdomainname", "EPERM" },
        { "nfsservctl", "EPERM" },
        { "uselib", "EPERM" },
        { "lookup_dcookie", "EPERM" },
        { "modify_ldt", "EPERM" },
        { "ptrace", "EPERM" },
        { "process_vm_readv", "EPERM" },
        { "process_vm_writev", "EPERM" },
        { "pidfd_getfd", "EPERM" },
        { "kcmp", "EPERM" },
        { "perf_event_open", "EPERM" },
        { "bpf", "EPERM" },
        { "userfaultfd", "EPERM" },
        { "syslog", "EPERM" },
        { "fanotify_init", "EPERM" },
        { "open_by_handle_at", "EPERM" },
        { "name_to_handle_at", "EPERM" },
        { "add_key", "EPERM" },
        { "keyctl", "EPERM" },
        { "request_key", "EPERM" },
        { "io_uring_setup", "ENOSYS" },
        { "io_uring_enter", "ENOSYS" },
        { "io_uring_register", "ENOSYS" },
        { "ioctl_tiocsti", "EPERM" },
        { "ioctl_tiocsti_high", "EPERM" },
        { "ioctl_tioclinux", "EPERM" },
        { "ioctl_fionread", "EBADF", true },
        { "personality_query", "ok", true },
        { "personality_linux", "ok", true },
        { "personality_linux32", "EPERM" },
        { "personality_norandom", "EPERM" },
        { "personality_high", "EPERM" },
        { "int80", "SIGSYS" },
        { "int80_thread", "SIGSYS" },
        { "x32", "SIGSYS" },
        { "getpid", "ok", true },
};

static struct sock_fprog filter;

/* The result try-syscall printed for name, in buf. */
static const char *result_of(const char *out, const char *name, char *buf, size_t size)
{
        size_t len = strlen(name);

        for (const char *line = out; line && *line;
                line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
                if (strneq(line, name, len) && line[len] == ' ') {
                        snprintf(buf, size, "%.*s", (int)strcspn(line + len + 1, "\n"), line + len + 1);
                        return buf;
                }
        return NULL;
}

/* Runs try-syscall with every name of the table, with or without the filter. */
static int run_table(bool filtered, char *out, size_t size)
{
        char path[PATH_MAX];
        char *argv[ELEMENTSOF(expectations) + 2];
        SpawnParams p = SPAWN_PARAMS_INIT;
        SpawnResult res;
        siginfo_t si;
        int r;

        argv[0] = helper_path("try-syscall", path, sizeof(path));
        for (size_t i = 0; i < ELEMENTSOF(expectations); i++)
                argv[i + 1] = expectations[i].name;
        argv[ELEMENTSOF(expectations) + 1] = NULL;
        p.argv = argv;
        p.seccomp = filtered ? &filter : NULL;

        r = run_capture(&p, SPAWN_METHOD_AUTO, out, size, &res, &si);
        if (r < 0) {
                printf("# spawn: %s\n", res.error_message);
                return r;
        }
        if (si.si_code != CLD_EXITED || si.si_status != 0) {
                printf("# try-syscall ended with code %d status %d\n", si.si_code, si.si_status);
                return -EIO;
        }
        return 0;
}

TEST(build_off)
{
        struct sock_fprog prog = { .len = 99 };

        ASSERT_INT(seccomp_filter_build(SECCOMP_MODE_OFF, &prog), ==, 0);
        ASSERT_INT(prog.len, ==, 0);
        ASSERT_TRUE(prog.filter == NULL);
        ASSERT_INT(seccomp_filter_build(_SECCOMP_MODE_MAX, &prog), ==, -EINVAL);
        seccomp_filter_free(&prog);
        seccomp_filter_free(&prog);
        return 0;
}

TEST(build_default)
{
        ASSERT_INT(seccomp_filter_build(SECCOMP_MODE_DEFAULT, &filter), ==, 0);
        ASSERT_TRUE(filter.filter != NULL);
        ASSERT_INT(filter.len, >, 10);
        ASSERT_INT(filter.len, <=, BPF_MAXINSNS);
        /* The program must check the architecture before it looks at a syscall number. */
        ASSERT_INT(filter.filter[0].code, ==, BPF_LD | BPF_W | BPF_ABS);
        ASSERT_INT(filter.filter[0].k, ==, 4); /* offsetof(struct seccomp_data, arch) */
        printf("# default filter: %u BPF instructions\n", filter.len);
        return 0;
}

TEST(denylist_table)
{
        char out[8192], got[64];
        int bad = 0;

        if (!filter.len)
                return tap_skip("no filter was built");
        ASSERT_INT(run_table(true, out, sizeof(out)), ==, 0);
        FOREACH_ARRAY (e, expectations, ELEMENTSOF(expectations)) {
                if (!result_of(out, e->name, got, sizeof(got))) {
                        printf("# %s: no result\n", e->name);
                        bad++;
                } else if (!streq(got, e->filtered)) {
                        printf("# %s: got %s, want %s\n", e->name, got, e->filtered);
                        bad++;
                }
        }
        ASSERT_INT(bad, ==, 0);
        return 0;
}

TEST(without_filter_differs)
{
        char out[8192], got[64];
        int bad = 0, differ = 0;

        if (geteuid() != 0)
                return tap_skip(
                        "needs root: unprivileged, the kernel itself answers EPERM to many of these");
        ASSERT_INT(run_table(false, out, sizeof(out)), ==, 0);
        FOREACH_ARRAY (e, expectations, ELEMENTSOF(expectations)) {
                if (!result_of(out, e->name, got, sizeof(got))) {
                        printf("# %s: no result\n", e->name);
                        bad++;
                        continue;
                }
                if (streq(got, e->filtered) != e->same) {
                        printf("# %s: without the filter got %s (filtered: %s)\n", e->name, got,
                                e->filtered);
                        bad++;
                }
                if (!e->same)
                        differ++;
        }
        printf("# %d of %zu calls answer differently without the filter\n", differ,
                ELEMENTSOF(expectations));
        ASSERT_INT(bad, ==, 0);
        return 0;
}

TEST(int80_killed)
{
        char path[PATH_MAX], out[256];
        char *argv[] = { helper_path("try-syscall", path, sizeof(path)), (char *)"-x", (char *)"int80",
                NULL };
        SpawnParams p = SPAWN_PARAMS_INIT;
        SpawnResult res;
        siginfo_t si;

        if (!filter.len)
                return tap_skip("no filter was built");
        p.argv = argv;

        /* Without the filter the 32-bit entry must work, or the filtered run proves nothing. */
        ASSERT_INT(run_capture(&p, SPAWN_METHOD_AUTO, out, sizeof(out), &res, &si), ==, 0);
        if (si.si_code != CLD_EXITED || !strstr(out, "int80 ok"))
                return tap_skip("this kernel has no i386 syscall entry (int 0x80 gave '%s')", out);

        p.seccomp = &filter;
        ASSERT_INT(run_capture(&p, SPAWN_METHOD_AUTO, out, sizeof(out), &res, &si), ==, 0);
        ASSERT_INT(si.si_code, ==, CLD_KILLED);
        ASSERT_INT(si.si_status, ==, SIGSYS);
        ASSERT_STR(out, "");
        return 0;
}

TEST(python_threads)
{
        char out[256];
        char *argv[] = { (char *)"/usr/bin/python3", (char *)"-c",
                (char *)"import threading; t=threading.Thread(target=lambda: None); t.start(); t.join(); print(\"ok\")",
                NULL };
        SpawnParams p = SPAWN_PARAMS_INIT;
        SpawnResult res;
        siginfo_t si;

        if (!filter.len)
                return tap_skip("no filter was built");
        if (access(argv[0], X_OK) < 0)
                return tap_skip("%s is not installed", argv[0]);
        p.argv = argv;
        p.seccomp = &filter;
        ASSERT_INT(run_capture(&p, SPAWN_METHOD_AUTO, out, sizeof(out), &res, &si), ==, 0);
        if (!streq(out, "ok\n"))
                printf("# python3 said: %s\n", out);
        ASSERT_INT(si.si_code, ==, CLD_EXITED);
        ASSERT_INT(si.si_status, ==, 0);
        ASSERT_STR(out, "ok\n");
        return 0;
}

TEST(status_under_filter)
{
        char out[8192], v[128];
        char *argv[] = { (char *)"/bin/cat", (char *)"/proc/self/status", NULL };
        SpawnParams p = SPAWN_PARAMS_INIT;
        SpawnResult res;
        siginfo_t si;

        if (!filter.len)
                return tap_skip("no filter was built");
        p.argv = argv;
        ASSERT_INT(run_capture(&p, SPAWN_METHOD_AUTO, out, sizeof(out), &res, &si), ==, 0);
        ASSERT_STR(status_field(out, "Seccomp", v, sizeof(v)), "0");

        p.seccomp = &filter;
        ASSERT_INT(run_capture(&p, SPAWN_METHOD_AUTO, out, sizeof(out), &res, &si), ==, 0);
        ASSERT_STR(status_field(out, "Seccomp", v, sizeof(v)), "2");
        ASSERT_STR(status_field(out, "NoNewPrivs", v, sizeof(v)), "1");
        ASSERT_STR(status_field(out, "Seccomp_filters", v, sizeof(v)), "1");
        return 0;
}

TEST(cleanup)
{
        seccomp_filter_free(&filter);
        ASSERT_TRUE(filter.filter == NULL);
        ASSERT_INT(filter.len, ==, 0);
        return 0;
}

TAP_MAIN(T(build_off), T(build_default), T(denylist_table), T(without_filter_differs), T(int80_killed),
        T(python_threads), T(status_under_filter), T(cleanup))
