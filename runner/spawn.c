/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "runner/spawn.h"

/* The steps the child reports on its error pipe; the names are what the caller shows. */
typedef enum SpawnStep {
        STEP_SIGNALS,
        STEP_SESSION,
        STEP_STDIO,
        STEP_CLOSE_FDS,
        STEP_RLIMIT,
        STEP_CHDIR,
        STEP_SETGROUPS,
        STEP_SETRESGID,
        STEP_SETRESUID,
        STEP_VERIFY_IDS,
        STEP_PDEATHSIG,
        STEP_NO_NEW_PRIVS,
        STEP_SECCOMP,
        STEP_EXECVE,
        _STEP_MAX,
} SpawnStep;

static const char *const step_names[_STEP_MAX] = {
        [STEP_SIGNALS] = "signals",
        [STEP_SESSION] = "setsid",
        [STEP_STDIO] = "dup2",
        [STEP_CLOSE_FDS] = "close_range",
        [STEP_RLIMIT] = "setrlimit",
        [STEP_CHDIR] = "chdir",
        [STEP_SETGROUPS] = "setgroups",
        [STEP_SETRESGID] = "setresgid",
        [STEP_SETRESUID] = "setresuid",
        [STEP_VERIFY_IDS] = "verify credentials",
        [STEP_PDEATHSIG] = "prctl(PR_SET_PDEATHSIG)",
        [STEP_NO_NEW_PRIVS] = "prctl(PR_SET_NO_NEW_PRIVS)",
        [STEP_SECCOMP] = "seccomp",
        [STEP_EXECVE] = "execve",
};

typedef struct ChildReport {
        int step;
        int error;
} ChildReport;

/* Everything the child needs, computed before the clone so the child only makes system
 * calls. */
typedef struct ChildContext {
        const SpawnParams *p;
        const char *path;
        char *const *envp;
        int stdio[3];
        int err_fd; /* write end of the CLOEXEC error pipe, >= 3 */
        int go_fd;  /* fork path: read end of the "you are in your cgroup" pipe, or -EBADF */
        int go_write_fd;
        pid_t parent;
        struct rlimit nofile;
} ChildContext;

static char *const empty_env[] = { NULL };

_noreturn_ static void child_fail(const ChildContext *c, SpawnStep step, int error)
{
        ChildReport rep = { .step = step, .error = error > 0 ? error : EIO };

        /* Nothing to do if the parent went away: the exit status still tells. */
        (void)!write(c->err_fd, &rep, sizeof(rep));
        _exit(127);
}

static int child_reset_signals(void)
{
        /* All zeroes is SIG_DFL, no flags and an empty mask in every architecture's layout of
         * the kernel's struct sigaction, and an empty kernel sigset. */
        static const unsigned long zero[8] = {};
        const size_t sigset_size = (NSIG - 1) / 8;

        /* Raw calls, because glibc refuses to touch the two signals it keeps for itself (32,
         * 33), and an ignored signal survives execve. The parent blocked everything around the
         * clone, so no inherited handler can run here before this. */
        for (int sig = 1; sig < NSIG; sig++) {
                if (sig == SIGKILL || sig == SIGSTOP)
                        continue;
                if (syscall(SYS_rt_sigaction, sig, zero, NULL, sigset_size) < 0)
                        return -errno;
        }
        if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, zero, NULL, sigset_size) < 0)
                return -errno;
        return 0;
}

static int child_setup_stdio(const ChildContext *c)
{
        int fds[3] = { c->stdio[0], c->stdio[1], c->stdio[2] };

        /* A source fd that sits on another target (stdout given as fd 0, say) would be
         * overwritten by an earlier dup2: move such fds out of the way first. */
        for (int i = 0; i < 3; i++)
                if (fds[i] < 3 && fds[i] != i) {
                        fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
                        if (fds[i] < 0)
                                return -errno;
                }
        for (int i = 0; i < 3; i++) {
                if (fds[i] == i) {
                        /* dup2 onto itself is a no-op that would keep a CLOEXEC flag. */
                        if (fcntl(i, F_SETFD, 0) < 0)
                                return -errno;
                } else if (dup2(fds[i], i) < 0)
                        return -errno;
        }
        return 0;
}

static int close_from_to(unsigned first, unsigned last)
{
        struct rlimit rl;

        if (first > last)
                return 0;
        if (close_range(first, last, 0) == 0)
                return 0;
        if (errno != ENOSYS)
                return -errno;
        /* Kernels before 5.9. Walking /proc/self/fd would allocate, so close blindly. */
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        for (rlim_t fd = first; fd <= last && fd < rl.rlim_cur; fd++)
                (void)close((int)fd);
        return 0;
}

static int child_set_credentials(const ChildContext *c, SpawnStep *ret_step)
{
        const SpawnParams *p = c->p;
        uid_t ruid, euid, suid;
        gid_t rgid, egid, sgid;
        long n;

        /* Raw system calls: glibc's wrappers broadcast credential changes to the threads it
         * believes exist, and after a raw clone3 its thread list is the parent's. This child is
         * single-threaded, so the plain call changes the whole process. */
        *ret_step = STEP_SETGROUPS;
        if (syscall(SYS_setgroups, p->n_groups, p->n_groups > 0 ? p->groups : NULL) < 0)
                return -errno;
        *ret_step = STEP_SETRESGID;
        if (syscall(SYS_setresgid, p->gid, p->gid, p->gid) < 0)
                return -errno;
        *ret_step = STEP_SETRESUID;
        if (syscall(SYS_setresuid, p->uid, p->uid, p->uid) < 0)
                return -errno;

        /* Trust but verify: a partial change must never reach execve. */
        *ret_step = STEP_VERIFY_IDS;
        if (syscall(SYS_getresuid, &ruid, &euid, &suid) < 0 ||
                syscall(SYS_getresgid, &rgid, &egid, &sgid) < 0)
                return -errno;
        if (ruid != p->uid || euid != p->uid || suid != p->uid || rgid != p->gid || egid != p->gid ||
                sgid != p->gid)
                return -EPERM;
        n = syscall(SYS_getgroups, 0, NULL);
        if (n < 0)
                return -errno;
        if ((size_t)n != p->n_groups)
                return -EPERM;
        return 0;
}

_noreturn_ static void child_exec(const ChildContext *c)
{
        const SpawnParams *p = c->p;
        SpawnStep step;
        int r;

        if (c->go_fd >= 0) {
                char b = 0;
                ssize_t n;

                /* Our copy of the write end would keep the read below from ever seeing EOF. */
                (void)close(c->go_write_fd);
                /* Fork path: nothing runs until the parent has moved us into the cgroup, so no
                 * byte of the stage is charged outside it. EOF means the parent gave up. */
                do
                        n = read(c->go_fd, &b, 1);
                while (n < 0 && errno == EINTR);
                if (n != 1)
                        _exit(127);
        }

        r = child_reset_signals();
        if (r < 0)
                child_fail(c, STEP_SIGNALS, -r);

        if (p->session == SPAWN_SESSION_NEW && setsid() < 0)
                child_fail(c, STEP_SESSION, errno);
        if (p->session == SPAWN_SESSION_PROCESS_GROUP && setpgid(0, 0) < 0)
                child_fail(c, STEP_SESSION, errno);

        r = child_setup_stdio(c);
        if (r < 0)
                child_fail(c, STEP_STDIO, -r);

        /* Everything but 0-2 and the error pipe, whatever the daemon (or a library in it)
         * forgot to mark CLOEXEC. */
        r = close_from_to(3, (unsigned)c->err_fd - 1);
        if (r >= 0)
                r = close_from_to((unsigned)c->err_fd + 1, ~0U);
        if (r < 0)
                child_fail(c, STEP_CLOSE_FDS, -r);

        /* A core dump could write payload or secrets to disk, outside every budget. */
        if (setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 }) < 0)
                child_fail(c, STEP_RLIMIT, errno);
        if (p->nofile > 0 && setrlimit(RLIMIT_NOFILE, &c->nofile) < 0)
                child_fail(c, STEP_RLIMIT, errno);

        /* If the whole host runs out of memory (a budget set too high), the kernel should pick
         * a stage, never the daemon that holds the ledger (the unit gives it a negative
         * oom_score_adj, which children would inherit). Raising it needs no privilege; a
         * missing /proc is not worth failing the stage for. */
        {
                int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC | O_NOCTTY);
                if (fd >= 0) {
                        (void)!write(fd, "500", 3);
                        close(fd);
                }
        }

        if (p->working_directory && chdir(p->working_directory) < 0)
                child_fail(c, STEP_CHDIR, errno);

        if (p->drop_privileges) {
                r = child_set_credentials(c, &step);
                if (r < 0)
                        child_fail(c, step, -r);
        }

        /* After the credential change, which clears the parent-death signal. */
        if (p->kill_on_parent_death) {
                if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
                        child_fail(c, STEP_PDEATHSIG, errno);
                /* The parent may have died before the prctl: then nobody would kill us. */
                if (getppid() != c->parent)
                        _exit(127);
        }

        /* Also required to load a filter without CAP_SYS_ADMIN, and makes setuid bits and
         * file capabilities inert for everything the stage executes. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                child_fail(c, STEP_NO_NEW_PRIVS, errno);

        if (p->seccomp && p->seccomp->len > 0 &&
                syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, p->seccomp) < 0)
                child_fail(c, STEP_SECCOMP, errno);

        execve(c->path, p->argv, c->envp);
        child_fail(c, STEP_EXECVE, errno);
}

/* A CLOEXEC pipe whose fds are >= 3, so the child's dup2 onto 0-2 cannot hit them even if the
 * daemon runs with a closed stdin. */
static int pipe_high(int fds[2])
{
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        for (int i = 0; i < 2; i++) {
                if (fds[i] >= 3)
                        continue;
                int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
                if (moved < 0) {
                        int r = -errno;
                        fds[0] = safe_close(fds[0]);
                        fds[1] = safe_close(fds[1]);
                        return r;
                }
                safe_close(fds[i]);
                fds[i] = moved;
        }
        return 0;
}

static void set_error(SpawnResult *ret, const char *step, int error)
{
        const char *desc = strerrordesc_np(error);

        ret->error_step = step;
        snprintf(ret->error_message, sizeof(ret->error_message), "%s: %s", step,
                desc ? desc : "Unknown error");
}

static int reap(pid_t pid)
{
        while (waitpid(pid, NULL, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

static long clone3_raw(uint64_t flags, int cgroup_fd, int *ret_pidfd)
{
        struct clone_args args = {
                .flags = flags | CLONE_PIDFD,
                .pidfd = (uint64_t)(uintptr_t)ret_pidfd,
                .exit_signal = SIGCHLD,
        };

        if (cgroup_fd >= 0) {
                args.flags |= CLONE_INTO_CGROUP;
                args.cgroup = (uint64_t)cgroup_fd;
        }
        /* No CLONE_VM and no stack: the child gets a copy of everything, like fork(), but
         * without glibc's atfork handlers, so it must keep to system calls (see child_exec). */
        return syscall(SYS_clone3, &args, sizeof(args));
}

static bool clone3_unsupported(int error)
{
        /* ENOSYS: before 5.3 (or a seccomp filter saying so); E2BIG: a kernel older than this
         * struct; EINVAL: flags it does not know (CLONE_INTO_CGROUP before 5.7). */
        return error == ENOSYS || error == E2BIG || error == EINVAL;
}

static int spawn_fork(const ChildContext *c, int go_write, SpawnResult *ret)
{
        const SpawnParams *p = c->p;
        char buf[DECIMAL_STR_MAX(pid_t)];
        const char *step;
        pid_t pid;
        int r;

        pid = fork();
        if (pid < 0) {
                r = -errno;
                set_error(ret, "fork", -r);
                return r;
        }
        if (pid == 0)
                child_exec(c);

        ret->pid = pid;
        ret->method = SPAWN_METHOD_FORK;
        ret->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (ret->pidfd < 0) {
                r = -errno;
                step = "pidfd_open";
                goto fail_kill;
        }

        if (p->cgroup_fd >= 0) {
                snprintf(buf, sizeof(buf), "%d", (int)pid);
                step = "cgroup.procs";
                r = write_string_at(p->cgroup_fd, "cgroup.procs", buf);
                if (r < 0)
                        goto fail_kill;
                if (write(go_write, "g", 1) != 1) {
                        r = negative_errno();
                        goto fail_kill;
                }
        }
        return 0;

fail_kill:
        /* The child is still waiting for its go byte: it has run nothing of its own. */
        (void)kill(pid, SIGKILL);
        (void)reap(pid);
        ret->pid = 0;
        ret->pidfd = safe_close(ret->pidfd);
        set_error(ret, step, -r);
        return r;
}

static int validate(const SpawnParams *p, SpawnMethod method)
{
        if (!p || !p->argv || !p->argv[0] || method < 0 || method >= _SPAWN_METHOD_MAX)
                return -EINVAL;
        if (p->session < 0 || p->session >= _SPAWN_SESSION_MAX)
                return -EINVAL;
        if (p->n_groups > 0 && !p->groups)
                return -EINVAL;
        if (p->drop_privileges && (p->uid == (uid_t)-1 || p->gid == (gid_t)-1))
                return -EINVAL;
        return 0;
}

int spawn_process(const SpawnParams *p, SpawnMethod method, SpawnResult *ret)
{
        _cleanup_close_ int devnull = -EBADF;
        int err_pipe[2] = { -EBADF, -EBADF }, go_pipe[2] = { -EBADF, -EBADF };
        ChildContext c;
        ChildReport rep;
        sigset_t all, saved;
        ssize_t n;
        int r;

        if (!ret)
                return -EINVAL;
        *ret = (SpawnResult){ .pidfd = -EBADF, .method = method };
        r = validate(p, method);
        if (r < 0) {
                set_error(ret, "spawn", -r);
                return r;
        }

        c = (ChildContext){
                .p = p,
                .path = p->path ?: p->argv[0],
                .envp = p->envp ?: empty_env,
                .stdio = { p->stdin_fd, p->stdout_fd, p->stderr_fd },
                .go_fd = -EBADF,
                .go_write_fd = -EBADF,
                .parent = getpid(),
        };

        if (c.stdio[0] < 0 || c.stdio[1] < 0 || c.stdio[2] < 0) {
                devnull = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
                if (devnull < 0) {
                        r = -errno;
                        set_error(ret, "/dev/null", -r);
                        return r;
                }
                for (int i = 0; i < 3; i++)
                        if (c.stdio[i] < 0)
                                c.stdio[i] = devnull;
        }

        if (p->nofile > 0) {
                struct rlimit cur;

                /* Raising the hard limit needs CAP_SYS_RESOURCE: a lower existing limit is
                 * stricter than the policy asked for, so keep it. */
                if (getrlimit(RLIMIT_NOFILE, &cur) < 0) {
                        r = -errno;
                        set_error(ret, "getrlimit", -r);
                        return r;
                }
                c.nofile.rlim_cur = c.nofile.rlim_max = MIN((rlim_t)p->nofile, cur.rlim_max);
        }

        r = pipe_high(err_pipe);
        if (r < 0) {
                set_error(ret, "pipe", -r);
                return r;
        }
        c.err_fd = err_pipe[1];

        /* No handler of the daemon may run in the child before it has reset them all. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &saved);

        r = -ENOSYS;
        if (method != SPAWN_METHOD_FORK) {
                int pidfd = -EBADF;
                long pid = clone3_raw(0, p->cgroup_fd, &pidfd);

                if (pid == 0)
                        child_exec(&c);
                if (pid > 0) {
                        ret->pid = (pid_t)pid;
                        ret->pidfd = pidfd;
                        ret->method = SPAWN_METHOD_CLONE3;
                        r = 0;
                } else
                        r = -errno;
        }
        if (r < 0 &&
                (method == SPAWN_METHOD_FORK || (method == SPAWN_METHOD_AUTO && clone3_unsupported(-r)))) {
                r = 0;
                if (p->cgroup_fd >= 0) {
                        r = pipe_high(go_pipe);
                        if (r < 0)
                                set_error(ret, "pipe", -r);
                        c.go_fd = go_pipe[0];
                        c.go_write_fd = go_pipe[1];
                }
                if (r >= 0)
                        r = spawn_fork(&c, go_pipe[1], ret);
        } else if (r < 0)
                set_error(ret, "clone3", -r);

        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        safe_close(err_pipe[1]);
        safe_close(go_pipe[0]);
        safe_close(go_pipe[1]);
        if (r < 0) {
                safe_close(err_pipe[0]);
                return r;
        }

        /* EOF: execve() succeeded and closed the CLOEXEC write end. */
        do
                n = read(err_pipe[0], &rep, sizeof(rep));
        while (n < 0 && errno == EINTR);
        safe_close(err_pipe[0]);
        if (n == 0)
                return 0;

        if (n == (ssize_t)sizeof(rep) && rep.step >= 0 && rep.step < _STEP_MAX) {
                r = -rep.error;
                set_error(ret, step_names[rep.step], rep.error);
        } else {
                r = n < 0 ? -errno : -EIO;
                set_error(ret, "error pipe", -r);
        }
        (void)reap(ret->pid);
        ret->pid = 0;
        ret->pidfd = safe_close(ret->pidfd);
        return r;
}

int spawn_wait(SpawnResult *r, siginfo_t *ret_info)
{
        return spawn_wait_rusage(r, ret_info, NULL);
}

int spawn_wait_rusage(SpawnResult *r, siginfo_t *ret_info, struct rusage *ret_usage)
{
        struct rusage ru = {};
        siginfo_t si = {};

        if (!r || r->pidfd < 0)
                return -EBADF;
        /* The raw syscall takes a rusage argument that glibc's waitid() does not expose: the
         * child's maxrss is the only peak a stage that ends between two watchdog samples has. */
        while (syscall(SYS_waitid, P_PIDFD, (id_t)r->pidfd, &si, WEXITED, &ru) < 0)
                if (errno != EINTR)
                        return -errno;
        r->pidfd = safe_close(r->pidfd);
        if (ret_info)
                *ret_info = si;
        if (ret_usage)
                *ret_usage = ru;
        return 0;
}

void spawn_result_done(SpawnResult *r)
{
        if (r)
                r->pidfd = safe_close(r->pidfd);
}

int spawn_resolve_user(const char *name, uid_t *ret_uid, gid_t *ret_gid, gid_t **ret_groups, size_t *ret_n)
{
        _cleanup_free_ char *buf = NULL;
        _cleanup_free_ gid_t *groups = NULL;
        struct passwd pw, *res = NULL;
        size_t size = 1024;
        int ngroups = 16, r;

        if (isempty(name) || !ret_uid || !ret_gid || !ret_groups || !ret_n)
                return -EINVAL;

        for (;;) {
                buf = malloc(size);
                if (!buf)
                        return -ENOMEM;
                r = getpwnam_r(name, &pw, buf, size, &res);
                if (r != ERANGE)
                        break;
                if (size > 1024 * 1024)
                        return -ERANGE;
                size *= 2;
                free(TAKE_PTR(buf));
        }
        if (r > 0)
                return -r;
        if (!res)
                return -ESRCH;

        for (;;) {
                int n = ngroups;

                groups = reallocarray(NULL, (size_t)n, sizeof(gid_t));
                if (!groups)
                        return -ENOMEM;
                if (getgrouplist(name, pw.pw_gid, groups, &n) >= 0) {
                        ngroups = n;
                        break;
                }
                /* n now holds the number needed. */
                if (n <= ngroups || n > 65536)
                        return -EIO;
                ngroups = n;
                free(TAKE_PTR(groups));
        }

        *ret_uid = pw.pw_uid;
        *ret_gid = pw.pw_gid;
        *ret_n = (size_t)ngroups;
        *ret_groups = TAKE_PTR(groups);
        return 0;
}

/* Clones a child that exits at once into cgroup_fd; returns how it ended. */
static int selftest_child(int cgroup_fd, siginfo_t *ret)
{
        sigset_t all, saved;
        int pidfd = -EBADF, r = 0;
        long pid;

        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &saved);
        pid = clone3_raw(0, cgroup_fd, &pidfd);
        if (pid == 0)
                _exit(0);
        if (pid < 0)
                r = clone3_unsupported(errno) ? -ENOSYS : -errno;
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        if (r < 0)
                return r;

        *ret = (siginfo_t){};
        while (waitid(P_PIDFD, (id_t)pidfd, ret, WEXITED) < 0)
                if (errno != EINTR) {
                        r = -errno;
                        break;
                }
        safe_close(pidfd);
        return r;
}

static bool exited_zero(const siginfo_t *si)
{
        return si->si_code == CLD_EXITED && si->si_status == 0;
}

int spawn_clone3_selftest(int scratch_parent_dirfd, bool *ret_bug_present)
{
        static unsigned counter;
        char name[64];
        _cleanup_close_ int fd = -EBADF;
        siginfo_t si;
        int r;

        if (scratch_parent_dirfd < 0 || !ret_bug_present)
                return -EINVAL;

        snprintf(name, sizeof(name), "memgov-selftest-%d-%u", (int)getpid(),
                __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
        if (mkdirat(scratch_parent_dirfd, name, 0755) < 0)
                return -errno;
        fd = openat(scratch_parent_dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                goto out;
        }

        /* A control child first: if it does not exit normally, a kill after cgroup.kill says
         * nothing about the bug. */
        r = selftest_child(fd, &si);
        if (r < 0)
                goto out;
        if (!exited_zero(&si)) {
                r = -EIO;
                goto out;
        }

        r = write_string_at(fd, "cgroup.kill", "1");
        if (r == -ENOENT) {
                /* Before 5.14 there is no cgroup.kill, hence no kill sequence to get wrong. */
                *ret_bug_present = false;
                r = 0;
                goto out;
        }
        if (r < 0)
                goto out;

        r = selftest_child(fd, &si);
        if (r < 0)
                goto out;
        *ret_bug_present = si.si_code == CLD_KILLED && si.si_status == SIGKILL;
        r = 0;

out:
        fd = safe_close(fd);
        /* The children are reaped, but the cgroup may report busy for a moment longer. */
        for (int i = 0; i < 100; i++) {
                if (unlinkat(scratch_parent_dirfd, name, AT_REMOVEDIR) >= 0 || errno != EBUSY)
                        break;
                usleep(1000);
        }
        return r;
}

SpawnMethod spawn_method_select(int selftest_r, bool bug_present)
{
        if (selftest_r == -ENOSYS)
                return SPAWN_METHOD_FORK;
        if (selftest_r >= 0 && bug_present)
                return SPAWN_METHOD_FORK;
        return SPAWN_METHOD_AUTO;
}

const char *spawn_method_to_string(SpawnMethod m)
{
        static const char *const names[_SPAWN_METHOD_MAX] = {
                [SPAWN_METHOD_AUTO] = "auto",
                [SPAWN_METHOD_CLONE3] = "clone3",
                [SPAWN_METHOD_FORK] = "fork",
        };

        return m >= 0 && m < _SPAWN_METHOD_MAX ? names[m] : NULL;
}
