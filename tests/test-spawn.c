/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "runner/seccomp.h"
#include "runner/spawn.h"
#include "tests/helpers/spawn-util.h"
#include "tests/tap.h"

static ssize_t read_all(int fd, char *buf, size_t size)
{
        size_t len = 0;

        for (;;) {
                ssize_t n = read(fd, buf + len, size - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0 || (len += (size_t)n) == size - 1)
                        break;
        }
        buf[len] = 0;
        return (ssize_t)len;
}

/* Runs "cat /proc/self/cgroup -" in cg with the given method. cat blocks on its stdin (a pipe
 * we hold) after printing, so the cgroup's cgroup.procs can be checked while it lives. */
static int check_placement(
        TestCgroup *cg, const SpawnParams *base, SpawnMethod method, SpawnMethod *ret_used)
{
        char *argv[] = { (char *)"/bin/cat", (char *)"/proc/self/cgroup", (char *)"-", NULL };
        char procs[256], out[4096], want[PATH_MAX + 8], pidstr[32];
        _cleanup_close_ int in_r = -EBADF, in_w = -EBADF, out_r = -EBADF, out_w = -EBADF;
        SpawnParams p = base ? *base : SPAWN_PARAMS_INIT;
        SpawnResult res;
        siginfo_t si;
        int fds[2];

        ASSERT_INT(pipe2(fds, O_CLOEXEC), ==, 0);
        in_r = fds[0], in_w = fds[1];
        ASSERT_INT(pipe2(fds, O_CLOEXEC), ==, 0);
        out_r = fds[0], out_w = fds[1];
        p.argv = argv;
        p.stdin_fd = in_r;
        p.stdout_fd = out_w;
        p.cgroup_fd = cg->fd;

        if (spawn_process(&p, method, &res) < 0) {
                printf("# spawn: %s\n", res.error_message);
                return -1;
        }
        *ret_used = res.method;
        in_r = safe_close(in_r);
        out_w = safe_close(out_w);

        /* exec'd and still alive: it must be a member already. */
        snprintf(pidstr, sizeof(pidstr), "%d\n", (int)res.pid);
        ASSERT_INT(read_virtual_at(cg->fd, "cgroup.procs", procs, sizeof(procs)), >, 0);
        ASSERT_STR(procs, pidstr);

        in_w = safe_close(in_w);
        ASSERT_INT(read_all(out_r, out, sizeof(out)), >, 0);
        ASSERT_INT(spawn_wait(&res, &si), ==, 0);
        ASSERT_INT(si.si_code, ==, CLD_EXITED);
        ASSERT_INT(si.si_status, ==, 0);
        snprintf(want, sizeof(want), "0::%s\n", cg->rel);
        ASSERT_CONTAINS(out, want);
        return 0;
}

TEST(resolve_user)
{
        _cleanup_free_ gid_t *groups = NULL;
        uid_t uid;
        gid_t gid;
        size_t n;

        if (!getpwnam("nobody"))
                return tap_skip("no user 'nobody' on this host");
        ASSERT_INT(spawn_resolve_user("nobody", &uid, &gid, &groups, &n), ==, 0);
        ASSERT_INT(uid, ==, getpwnam("nobody")->pw_uid);
        ASSERT_INT(gid, ==, getpwnam("nobody")->pw_gid);
        ASSERT_INT(n, >=, 1);
        for (size_t i = 0; i < n; i++)
                ASSERT_INT(groups[i], !=, 0);
        ASSERT_INT(spawn_resolve_user("memgov-no-such-user", &uid, &gid, &groups, &n), ==, -ESRCH);
        ASSERT_INT(spawn_resolve_user("", &uid, &gid, &groups, &n), ==, -EINVAL);
        return 0;
}

TEST(method_select)
{
        ASSERT_INT(spawn_method_select(0, false), ==, SPAWN_METHOD_AUTO);
        ASSERT_INT(spawn_method_select(0, true), ==, SPAWN_METHOD_FORK);
        ASSERT_INT(spawn_method_select(-ENOSYS, false), ==, SPAWN_METHOD_FORK);
        ASSERT_INT(spawn_method_select(-EACCES, true), ==, SPAWN_METHOD_AUTO);
        ASSERT_STR(spawn_method_to_string(SPAWN_METHOD_CLONE3), "clone3");
        ASSERT_STR(spawn_method_to_string(SPAWN_METHOD_FORK), "fork");
        ASSERT_TRUE(spawn_method_to_string(_SPAWN_METHOD_MAX) == NULL);
        return 0;
}

static int placement_test(const char *suffix, SpawnMethod method, SpawnMethod want)
{
        TestCgroup cg;
        SpawnMethod used = _SPAWN_METHOD_MAX;
        int r;

        r = test_cgroup_new(&cg, suffix);
        if (r != 0)
                return r;
        r = check_placement(&cg, NULL, method, &used);
        test_cgroup_remove(&cg);
        if (r < 0)
                return r;
        ASSERT_INT(used, ==, want);
        return 0;
}

TEST(cgroup_clone3)
{
        return placement_test("clone3", SPAWN_METHOD_CLONE3, SPAWN_METHOD_CLONE3);
}

TEST(cgroup_fork)
{
        return placement_test("fork", SPAWN_METHOD_FORK, SPAWN_METHOD_FORK);
}

/* The child must be in its cgroup before it runs anything of its own. Freeze the cgroup: a
 * child placed correctly freezes before execve, so its "touch" cannot have run while a
 * watcher process looks, 300 ms later; then the watcher thaws the cgroup and the stage runs.
 * A child that ran first and joined later would have touched the file already. */
static int before_exec(SpawnMethod method)
{
        char tmpl[] = "/tmp/memgov-test-spawn-XXXXXX", mark[64];
        char *argv[] = { (char *)"/usr/bin/touch", mark, NULL };
        SpawnParams p = SPAWN_PARAMS_INIT;
        SpawnResult res;
        TestCgroup cg;
        siginfo_t si = {};
        int status, r;
        pid_t watcher;
        bool ran;

        r = test_cgroup_new(&cg, "frozen");
        if (r != 0)
                return r;
        ASSERT_TRUE(mkdtemp(tmpl) != NULL);
        snprintf(mark, sizeof(mark), "%s/ran", tmpl);
        r = write_string_at(cg.fd, "cgroup.freeze", "1");
        if (r < 0) {
                test_cgroup_remove(&cg);
                rmdir(tmpl);
                return tap_skip("cannot freeze a cgroup here: %s", strerror(-r));
        }

        watcher = fork();
        ASSERT_INT(watcher, >=, 0);
        if (watcher == 0) {
                bool ran_early;

                usleep(300 * 1000);
                ran_early = access(mark, F_OK) == 0;
                _exit(write_string_at(cg.fd, "cgroup.freeze", "0") < 0 ? 2 : ran_early ? 1 : 0);
        }

        p.argv = argv;
        p.cgroup_fd = cg.fd;
        r = spawn_process(&p, method, &res);
        if (r < 0)
                printf("# spawn: %s\n", res.error_message);
        ASSERT_INT(waitpid(watcher, &status, 0), ==, watcher);
        if (r == 0)
                r = spawn_wait(&res, &si);
        test_cgroup_remove(&cg);
        ran = unlink(mark) == 0;
        (void)rmdir(tmpl);
        ASSERT_INT(r, ==, 0);
        ASSERT_INT(status, ==, 0); /* 1: the stage ran before it was in its (frozen) cgroup */
        ASSERT_INT(si.si_code, ==, CLD_EXITED);
        ASSERT_INT(si.si_status, ==, 0);
        ASSERT_TRUE(ran);
        return 0;
}

TEST(placed_before_exec_clone3)
{
        return before_exec(SPAWN_METHOD_CLONE3);
}

TEST(placed_before_exec_fork)
{
        return before_exec(SPAWN_METHOD_FORK);
}

/* A process under the default filter, where clone3 gives ENOSYS: AUTO must fall back to fork
 * and still place the child. Runs in a forked test process, since a filter cannot be removed. */
TEST(cgroup_auto_fallback)
{
        struct sock_fprog prog;
        TestCgroup cg;
        int status, r;
        pid_t pid;

        r = test_cgroup_new(&cg, "fallback");
        if (r != 0)
                return r;
        ASSERT_INT(seccomp_filter_build(SECCOMP_MODE_DEFAULT, &prog), ==, 0);
        pid = fork();
        ASSERT_INT(pid, >=, 0);
        if (pid == 0) {
                SpawnMethod used = _SPAWN_METHOD_MAX;

                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, 2, &prog) < 0)
                        _exit(2);
                /* _exit: LeakSanitizer's exit-time ptrace is denied in here. */
                if (check_placement(&cg, NULL, SPAWN_METHOD_AUTO, &used) < 0)
                        _exit(3);
                _exit(used == SPAWN_METHOD_FORK ? 0 : 4);
        }
        seccomp_filter_free(&prog);
        ASSERT_INT(waitpid(pid, &status, 0), ==, pid);
        test_cgroup_remove(&cg);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_INT(WEXITSTATUS(status), ==, 0);
        return 0;
}

/* A directory that is not a cgroup: the fork path fails on cgroup.procs, kills its child and
 * says so; clone3 refuses the fd itself. */
TEST(cgroup_not_a_cgroup)
{
        char *argv[] = { (char *)"/bin/true", NULL };
        char tmpl[] = "/tmp/memgov-test-spawn-XXXXXX";
        _cleanup_close_ int dfd = -EBADF;
        SpawnParams p = SPAWN_PARAMS_INIT;
        SpawnResult res;
        int r;

        ASSERT_TRUE(mkdtemp(tmpl) != NULL);
        dfd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_INT(dfd, >=, 0);
        p.argv = argv;
        p.cgroup_fd = dfd;

        r = spawn_process(&p, SPAWN_METHOD_FORK, &res);
        ASSERT_INT(r, ==, -ENOENT);
        ASSERT_STR(res.error_step, "cgroup.procs");
        ASSERT_STR(res.error_message, "cgroup.procs: No such file or directory");
        ASSERT_INT(res.pid, ==, 0);
        ASSERT_INT(res.pidfd, <, 0);
        /* No child is left over. */
        ASSERT_INT(waitpid(-1, NULL, WNOHANG), ==, -1);
        ASSERT_INT(errno, ==, ECHILD);

        r = spawn_process(&p, SPAWN_METHOD_CLONE3, &res);
        ASSERT_INT(r, <, 0);
        ASSERT_STR(res.error_step, "clone3");
        printf("# clone3 into a plain directory: %s\n", res.error_message);
        ASSERT_INT(rmdir(tmpl), ==, 0);
        return 0;
}

static int exec_missing(SpawnMethod method)
{
        char *argv[] = { (char *)"/nonexistent/memgov-no-such-program", NULL };
        SpawnParams p = SPAWN_PARAMS_INIT;
        SpawnResult res;

        p.argv = argv;
        ASSERT_INT(spawn_process(&p, method, &res), ==, -ENOENT);
        ASSERT_STR(res.error_step, "execve");
        ASSERT_STR(res.error_message, "execve: No such file or directory");
        ASSERT_INT(res.pid, ==, 0);
        ASSERT_INT(res.pidfd, <, 0);
        ASSERT_INT(waitpid(-1, NULL, WNOHANG), ==, -1);
        return 0;
}

TEST(exec_missing_clone3)
{
        return exec_missing(SPAWN_METHOD_CLONE3);
}

TEST(exec_missing_fork)
{
        return exec_missing(SPAWN_METHOD_FORK);
}

TEST(chdir_missing)
{
        char *argv[] = { (char *)"/bin/true", NULL };
        SpawnParams p = SPAWN_PARAMS_INIT;
        SpawnResult res;

        p.argv = argv;
        p.working_directory = "/nonexistent/memgov-no-such-dir";
        ASSERT_INT(spawn_process(&p, SPAWN_METHOD_AUTO, &res), ==, -ENOENT);
        ASSERT_STR(res.error_step, "chdir");
        ASSERT_CONTAINS(res.error_message, "chdir: No such file");
        return 0;
}

TEST(bad_params)
{
        char *empty[] = { NULL };
        SpawnParams p = SPAWN_PARAMS_INIT;
        SpawnResult res;

        ASSERT_INT(spawn_process(&p, SPAWN_METHOD_AUTO, &res), ==, -EINVAL);
        p.argv = empty;
        ASSERT_INT(spawn_process(&p, SPAWN_METHOD_AUTO, &res), ==, -EINVAL);
        ASSERT_INT(spawn_process(NULL, SPAWN_METHOD_AUTO, &res), ==, -EINVAL);
        return 0;
}

static int fd_leak(SpawnMethod method)
{
        char path[PATH_MAX], out[256];
        char *argv[] = { helper_path("list-fds", path, sizeof(path)), NULL };
        SpawnParams p = SPAWN_PARAMS_INIT;
        SpawnResult res;
        siginfo_t si;
        int fds[2], high;

        /* Leaks on purpose: no CLOEXEC, and one far up the table. */
        ASSERT_INT(pipe(fds), ==, 0);
        high = fcntl(fds[0], F_DUPFD, 900);
        ASSERT_INT(high, >=, 900);
        p.argv = argv;
        ASSERT_INT(run_capture(&p, method, out, sizeof(out), &res, &si), ==, 0);
        close(fds[0]);
        close(fds[1]);
        close(high);
        ASSERT_INT(si.si_code, ==, CLD_EXITED);
        ASSERT_STR(out, "0 1 2\n");
        return 0;
}

TEST(no_fd_leak_clone3)
{
        return fd_leak(SPAWN_METHOD_CLONE3);
}

TEST(no_fd_leak_fork)
{
        return fd_leak(SPAWN_METHOD_FORK);
}

TEST(environment)
{
        char out[1024];
        char *argv[] = { (char *)"/usr/bin/env", NULL };
        char *envp[] = { (char *)"A=1", (char *)"B=two words", (char *)"EMPTY=", NULL };
        SpawnParams p = SPAWN_PARAMS_INIT;
        SpawnResult res;
        siginfo_t si;

        /* Something in our environment that must not get through. */
        ASSERT_INT(setenv("MEMGOV_TEST_SECRET", "do-not-leak", 1), ==, 0);
        p.argv = argv;
        p.envp = envp;
        ASSERT_INT(run_capture(&p, SPAWN_METHOD_AUTO, out, sizeof(out), &res, &si), ==, 0);
        ASSERT_STR(out, "A=1\nB=two words\nEMPTY=\n");

        p.envp = NULL;
        ASSERT_INT(run_capture(&p, SPAWN_METHOD_FORK, out, sizeof(out), &res, &si), ==, 0);
        ASSERT_STR(out, "");
        unsetenv("MEMGOV_TEST_SECRET");
        return 0;
}

/* Runs argv as nobody with the filter and returns its output in out. */
static int run_as_nobody(
        char **argv, const struct sock_fprog *prog, SpawnMethod method, char *out, size_t size)
{
        _cleanup_free_ gid_t *groups = NULL;
        SpawnParams p = SPAWN_PARAMS_INIT;
        SpawnResult res;
        siginfo_t si;
        size_t n;

        ASSERT_INT(spawn_resolve_user("nobody", &p.uid, &p.gid, &groups, &n), ==, 0);
        p.drop_privileges = true;
        p.groups = groups;
        p.n_groups = n;
        p.argv = argv;
        p.seccomp = prog;
        p.working_directory = "/";
        if (run_capture(&p, method, out, size, &res, &si) < 0) {
                printf("# %s: %s\n", argv[0], res.error_message);
                return -1;
        }
        if (si.si_code != CLD_EXITED || si.si_status != 0)
                printf("# %s: %s\n", argv[0], out);
        ASSERT_INT(si.si_code, ==, CLD_EXITED);
        ASSERT_INT(si.si_status, ==, 0);
        return 0;
}

/* What the stage sees of itself: credentials, capabilities, the sandbox, signal state. */
static int check_identity(const struct passwd *pw, const struct sock_fprog *prog, SpawnMethod method)
{
        char *status_argv[] = { (char *)"/bin/cat", (char *)"/proc/self/status", NULL };
        char *idu_argv[] = { (char *)"/usr/bin/id", (char *)"-u", NULL };
        char *idg_argv[] = { (char *)"/usr/bin/id", (char *)"-G", NULL };
        char out[8192], v[256], uids[64], gids[64], gid[32], line[32];

        snprintf(uids, sizeof(uids), "%u %u %u %u", pw->pw_uid, pw->pw_uid, pw->pw_uid, pw->pw_uid);
        snprintf(gids, sizeof(gids), "%u %u %u %u", pw->pw_gid, pw->pw_gid, pw->pw_gid, pw->pw_gid);
        snprintf(gid, sizeof(gid), "%u", pw->pw_gid);

        ASSERT_INT(run_as_nobody(status_argv, prog, method, out, sizeof(out)), ==, 0);
        ASSERT_STR(status_field(out, "Uid", v, sizeof(v)), uids);
        ASSERT_STR(status_field(out, "Gid", v, sizeof(v)), gids);
        ASSERT_STR(status_field(out, "Groups", v, sizeof(v)), gid);
        ASSERT_STR(status_field(out, "NoNewPrivs", v, sizeof(v)), "1");
        ASSERT_STR(status_field(out, "Seccomp", v, sizeof(v)), "2");
        ASSERT_STR(status_field(out, "CapEff", v, sizeof(v)), "0000000000000000");
        ASSERT_STR(status_field(out, "CapPrm", v, sizeof(v)), "0000000000000000");
        ASSERT_STR(status_field(out, "SigIgn", v, sizeof(v)), "0000000000000000");
        ASSERT_STR(status_field(out, "SigBlk", v, sizeof(v)), "0000000000000000");

        ASSERT_INT(run_as_nobody(idu_argv, prog, method, out, sizeof(out)), ==, 0);
        snprintf(line, sizeof(line), "%u\n", pw->pw_uid);
        ASSERT_STR(out, line);
        ASSERT_INT(run_as_nobody(idg_argv, prog, method, out, sizeof(out)), ==, 0);
        snprintf(line, sizeof(line), "%u\n", pw->pw_gid);
        ASSERT_STR(out, line);
        return 0;
}

static int privilege_drop(SpawnMethod method)
{
        /* Supplementary groups of ours that must not follow the stage. */
        static const gid_t root_groups[] = { 0, 4, 27 };
        struct sigaction ign = { .sa_handler = SIG_IGN }, old_term;
        unsigned long ign32[8] = { (unsigned long)SIG_IGN }, old32[8] = {};
        struct passwd *pw = getpwnam("nobody");
        sigset_t usr1, old_mask;
        struct sock_fprog prog;
        gid_t saved[64];
        int n_saved, r;

        if (!pw)
                return tap_skip("no user 'nobody' on this host");
        if (geteuid() != 0)
                return tap_skip("changing to another user needs root");
        n_saved = getgroups(ELEMENTSOF(saved), saved);
        ASSERT_INT(n_saved, >=, 0);
        ASSERT_INT(seccomp_filter_build(SECCOMP_MODE_DEFAULT, &prog), ==, 0);
        ASSERT_INT(setgroups(ELEMENTSOF(root_groups), root_groups), ==, 0);
        /* Dispositions and a mask the stage must not inherit, including signal 32, one of
         * glibc's own that its sigaction() refuses to touch (raw call; on x86_64 and the
         * generic layouts the handler is the first word of the kernel's struct). */
        sigaction(SIGTERM, &ign, &old_term);
        ASSERT_INT(syscall(SYS_rt_sigaction, 32, ign32, old32, (size_t)(NSIG - 1) / 8), ==, 0);
        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        sigprocmask(SIG_BLOCK, &usr1, &old_mask);

        r = check_identity(pw, &prog, method);

        sigprocmask(SIG_SETMASK, &old_mask, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        (void)syscall(SYS_rt_sigaction, 32, old32, NULL, (size_t)(NSIG - 1) / 8);
        seccomp_filter_free(&prog);
        ASSERT_INT(setgroups((size_t)n_saved, saved), ==, 0);
        return r;
}

TEST(privilege_drop_clone3)
{
        return privilege_drop(SPAWN_METHOD_CLONE3);
}

TEST(privilege_drop_fork)
{
        return privilege_drop(SPAWN_METHOD_FORK);
}

TEST(rlimits)
{
        char out[4096];
        char *argv[] = { (char *)"/bin/cat", (char *)"/proc/self/limits", NULL };
        SpawnParams p = SPAWN_PARAMS_INIT;
        SpawnResult res;
        siginfo_t si;

        p.argv = argv;
        p.nofile = 77;
        ASSERT_INT(run_capture(&p, SPAWN_METHOD_AUTO, out, sizeof(out), &res, &si), ==, 0);
        ASSERT_CONTAINS(out, "Max open files            77                   77");
        ASSERT_CONTAINS(out, "Max core file size        0                    0");
        return 0;
}

/* Session and process group of a live child, from /proc/PID/stat. */
static int session_of(SpawnSession session, pid_t *ret_pid, pid_t *ret_pgrp, pid_t *ret_sid)
{
        char *argv[] = { (char *)"/bin/cat", NULL };
        char path[64], stat[1024];
        _cleanup_close_ int in_r = -EBADF, in_w = -EBADF;
        SpawnParams p = SPAWN_PARAMS_INIT;
        SpawnResult res;
        const char *s;
        int fds[2], pgrp, sid;

        ASSERT_INT(pipe2(fds, O_CLOEXEC), ==, 0);
        in_r = fds[0], in_w = fds[1];
        p.argv = argv;
        p.stdin_fd = in_r;
        p.session = session;
        ASSERT_INT(spawn_process(&p, SPAWN_METHOD_AUTO, &res), ==, 0);
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)res.pid);
        ASSERT_INT(read_virtual_at(AT_FDCWD, path, stat, sizeof(stat)), >, 0);
        in_w = safe_close(in_w);
        ASSERT_INT(spawn_wait(&res, NULL), ==, 0);
        /* "pid (comm) state ppid pgrp session ..."; comm may hold spaces, so start after ')'. */
        s = strrchr(stat, ')');
        ASSERT_TRUE(s);
        ASSERT_INT(sscanf(s + 1, " %*c %*d %d %d", &pgrp, &sid), ==, 2);
        *ret_pid = res.pid;
        *ret_pgrp = pgrp;
        *ret_sid = sid;
        return 0;
}

TEST(session)
{
        pid_t pid, pgrp, sid;

        ASSERT_INT(session_of(SPAWN_SESSION_NEW, &pid, &pgrp, &sid), ==, 0);
        ASSERT_INT(sid, ==, pid);
        ASSERT_INT(pgrp, ==, pid);
        ASSERT_INT(session_of(SPAWN_SESSION_PROCESS_GROUP, &pid, &pgrp, &sid), ==, 0);
        ASSERT_INT(pgrp, ==, pid);
        ASSERT_INT(sid, ==, getsid(0));
        ASSERT_INT(session_of(SPAWN_SESSION_INHERIT, &pid, &pgrp, &sid), ==, 0);
        ASSERT_INT(pgrp, ==, getpgrp());
        return 0;
}

/* An intermediate process spawns "sleep" as nobody and exits; we are the subreaper, so the
 * orphan comes to us. With kill_on_parent_death it must die of SIGKILL, without it it lives
 * (the control that shows the test can fail, e.g. when the prctl came before setresuid,
 * which clears it). */
static int orphan_fate(bool pdeathsig, siginfo_t *ret)
{
        int fds[2], status;
        pid_t mid, orphan = 0;

        ASSERT_INT(pipe2(fds, O_CLOEXEC), ==, 0);
        mid = fork();
        ASSERT_INT(mid, >=, 0);
        if (mid == 0) {
                char *argv[] = { (char *)"/bin/sleep", (char *)"30", NULL };
                _cleanup_free_ gid_t *groups = NULL;
                SpawnParams p = SPAWN_PARAMS_INIT;
                SpawnResult res;
                size_t n;

                if (spawn_resolve_user("nobody", &p.uid, &p.gid, &groups, &n) < 0)
                        _exit(2);
                p.drop_privileges = true;
                p.groups = groups;
                p.n_groups = n;
                p.argv = argv;
                p.kill_on_parent_death = pdeathsig;
                if (spawn_process(&p, SPAWN_METHOD_AUTO, &res) < 0)
                        _exit(3);
                if (write(fds[1], &res.pid, sizeof(res.pid)) != sizeof(res.pid))
                        _exit(4);
                _exit(0);
        }
        close(fds[1]);
        ASSERT_INT(read(fds[0], &orphan, sizeof(orphan)), ==, sizeof(orphan));
        close(fds[0]);
        ASSERT_INT(waitpid(mid, &status, 0), ==, mid);
        ASSERT_INT(status, ==, 0);

        if (!pdeathsig) {
                /* Give a wrongly-armed SIGKILL time to land before looking. */
                usleep(100 * 1000);
                *ret = (siginfo_t){};
                ASSERT_INT(waitid(P_PID, (id_t)orphan, ret, WEXITED | WNOHANG), ==, 0);
                ASSERT_INT(ret->si_pid, ==, 0);
                kill(orphan, SIGTERM);
        }
        ASSERT_INT(waitid(P_PID, (id_t)orphan, ret, WEXITED), ==, 0);
        return 0;
}

TEST(parent_death_signal)
{
        siginfo_t si;

        if (geteuid() != 0 || !getpwnam("nobody"))
                return tap_skip("needs root and the user 'nobody'");
        ASSERT_INT(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), ==, 0);
        ASSERT_INT(orphan_fate(true, &si), ==, 0);
        ASSERT_INT(si.si_code, ==, CLD_KILLED);
        ASSERT_INT(si.si_status, ==, SIGKILL);
        ASSERT_INT(orphan_fate(false, &si), ==, 0);
        ASSERT_INT(si.si_code, ==, CLD_KILLED);
        ASSERT_INT(si.si_status, ==, SIGTERM);
        ASSERT_INT(prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0), ==, 0);
        return 0;
}

/* Spawns /bin/true into a cgroup that has seen cgroup.kill; returns how it ended. */
static int after_kill(TestCgroup *cg, SpawnMethod method, siginfo_t *ret)
{
        char *argv[] = { (char *)"/bin/true", NULL };
        SpawnParams p = SPAWN_PARAMS_INIT;
        SpawnResult res;

        p.argv = argv;
        p.cgroup_fd = cg->fd;
        /* A child killed before execve closes the error pipe too: spawn succeeds, the exit
         * status tells. */
        ASSERT_INT(spawn_process(&p, method, &res), ==, 0);
        ASSERT_INT(spawn_wait(&res, ret), ==, 0);
        return 0;
}

TEST(clone3_selftest)
{
        TestCgroup parent, cg;
        bool bug = false;
        siginfo_t si;
        int r;

        r = test_cgroup_new(&parent, "selftest");
        if (r != 0)
                return r;
        r = spawn_clone3_selftest(parent.fd, &bug);
        test_cgroup_remove(&parent);
        ASSERT_INT(r, ==, 0);
        printf("# kill-then-clone bug: %s\n", bug ? "present" : "absent");
        printf("# selected spawn method: %s\n", spawn_method_to_string(spawn_method_select(r, bug)));

        /* Check the answer by hand, and that the fork path is immune either way. */
        r = test_cgroup_new(&cg, "killed");
        if (r != 0)
                return r;
        ASSERT_INT(write_string_at(cg.fd, "cgroup.kill", "1"), ==, 0);
        r = after_kill(&cg, SPAWN_METHOD_CLONE3, &si);
        if (r == 0 && bug != (si.si_code == CLD_KILLED && si.si_status == SIGKILL))
                r = -1;
        if (r == 0)
                r = after_kill(&cg, SPAWN_METHOD_FORK, &si);
        test_cgroup_remove(&cg);
        ASSERT_INT(r, ==, 0);
        ASSERT_INT(si.si_code, ==, CLD_EXITED);
        ASSERT_INT(si.si_status, ==, 0);
        return 0;
}

TAP_MAIN(T(resolve_user), T(method_select), T(cgroup_clone3), T(cgroup_fork), T(placed_before_exec_clone3),
        T(placed_before_exec_fork), T(cgroup_auto_fallback), T(cgroup_not_a_cgroup), T(exec_missing_clone3),
        T(exec_missing_fork), T(chdir_missing), T(bad_params), T(no_fd_leak_clone3), T(no_fd_leak_fork),
        T(environment), T(privilege_drop_clone3), T(privilege_drop_fork), T(rlimits), T(session),
        T(parent_death_signal), T(clone3_selftest))
