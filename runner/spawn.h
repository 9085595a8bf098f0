/* SPDX-License-Identifier: MIT */
#pragma once

#include <errno.h>
#include <linux/filter.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Starting a stage process: placed in its cgroup before it runs a single instruction of its
 * own, sandboxed, then exec'd. The child does not allocate: everything it needs (argv, envp,
 * the seccomp program, the resolved user) is prepared by the caller. */

typedef enum SpawnMethod {
        SPAWN_METHOD_AUTO,   /* clone3, and fork when the kernel refuses clone3 */
        SPAWN_METHOD_CLONE3, /* clone3(CLONE_INTO_CGROUP | CLONE_PIDFD) only */
        SPAWN_METHOD_FORK,   /* fork, then the parent writes cgroup.procs before the child runs on */
        _SPAWN_METHOD_MAX,
} SpawnMethod;

typedef enum SpawnSession {
        SPAWN_SESSION_INHERIT,
        SPAWN_SESSION_PROCESS_GROUP, /* setpgid(0, 0): one kill(-pgid) reaches the whole tree */
        SPAWN_SESSION_NEW,           /* setsid(): also detaches from the controlling terminal */
        _SPAWN_SESSION_MAX,
} SpawnSession;

typedef struct SpawnParams {
        const char *path;  /* the executable, no PATH search; NULL = argv[0] */
        char *const *argv; /* argv[0] must be set */
        char *const *envp; /* the complete environment, never the daemon's; NULL = empty */
        int stdin_fd;      /* -EBADF = /dev/null; the caller keeps ownership of all fds */
        int stdout_fd;
        int stderr_fd;
        int cgroup_fd; /* O_DIRECTORY or O_PATH fd of a cgroup2 directory, -EBADF = stay */

        bool drop_privileges; /* setgroups/setresgid/setresuid to the fields below, verified */
        uid_t uid;
        gid_t gid;
        const gid_t *groups; /* supplementary groups, n_groups of them (0 = none) */
        size_t n_groups;

        unsigned nofile;                  /* RLIMIT_NOFILE (soft = hard); 0 = inherit */
        const struct sock_fprog *seccomp; /* NULL or len 0 = no filter */
        const char *working_directory;    /* NULL = inherit */
        SpawnSession session;
        bool kill_on_parent_death; /* PR_SET_PDEATHSIG(SIGKILL), for watchdog mode */
} SpawnParams;

/* Fds default to "none", not to 0, so a forgotten field cannot hand the daemon's stdin over. */
#define SPAWN_PARAMS_INIT                                                                         \
        (SpawnParams)                                                                             \
        {                                                                                         \
                .stdin_fd = -EBADF, .stdout_fd = -EBADF, .stderr_fd = -EBADF, .cgroup_fd = -EBADF \
        }

typedef struct SpawnResult {
        pid_t pid;
        int pidfd;               /* owned by the caller (spawn_result_done() closes it); -EBADF if none */
        SpawnMethod method;      /* the one used: SPAWN_METHOD_CLONE3 or SPAWN_METHOD_FORK */
        const char *error_step;  /* on failure, the step that failed ("execve", "setresuid", …) */
        char error_message[160]; /* on failure, "setresuid: Operation not permitted" */
} SpawnResult;

/* Starts params->argv. Returns 0 once the child has called execve() successfully (pid and
 * pidfd set; the caller reaps it, e.g. with spawn_wait()), or a negative errno: -EINVAL for bad
 * params, -ENOSYS/-E2BIG/-EINVAL from clone3 with SPAWN_METHOD_CLONE3, or the errno of the
 * step that failed in the child or in the parent (error_step and error_message say which).
 * On failure no child is left: it has been reaped. Blocks until the child exec'd or failed.
 * A child killed before execve (OOM, cgroup.kill) also returns 0: its exit status says so.
 * With kill_on_parent_death, the "parent" is the calling thread: spawn from a thread that
 * lives as long as the stages. Signals are blocked in the calling thread during the clone.
 * The child, in order: signal dispositions and mask reset, setsid/setpgid, fds 0-2, every
 * other fd closed, RLIMIT_CORE 0 and RLIMIT_NOFILE, chdir, setgroups/setresgid/setresuid
 * (verified), PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS (always), the seccomp filter, execve. */
int spawn_process(const SpawnParams *params, SpawnMethod method, SpawnResult *ret);

/* Waits for the child to terminate (waitid on its pidfd), then closes the pidfd. Returns 0 or
 * -errno. */
int spawn_wait(SpawnResult *r, siginfo_t *ret_info);

/* The same, also returning the child's resource usage (ru_maxrss: its peak RSS in KiB). */
struct rusage;
int spawn_wait_rusage(SpawnResult *r, siginfo_t *ret_info, struct rusage *ret_usage);

/* Closes the pidfd; the process is not touched. */
void spawn_result_done(SpawnResult *r);

/* Resolves a user name, in the parent, to what SpawnParams needs: uid, primary gid and the
 * supplementary groups from the group database (a new array in *ret_groups, to free()).
 * Returns 0, -ESRCH for an unknown user, -ENOMEM or -errno. */
int spawn_resolve_user(const char *name, uid_t *ret_uid, gid_t *ret_gid, gid_t **ret_groups, size_t *ret_n);

/* Detects the kernel bug of reference/cgroup-v2.md §A.7: after a write to a cgroup's
 * cgroup.kill, children created in it with CLONE_INTO_CGROUP are SIGKILLed at once. Creates a
 * scratch cgroup under scratch_parent_dirfd (a cgroup2 directory the caller may write), checks
 * that a clone3 child exits normally there, writes cgroup.kill, clones again and reports
 * whether that child was killed; the scratch cgroup is removed. Returns 0 (answer in
 * *ret_bug_present), -ENOSYS when clone3 or CLONE_INTO_CGROUP is not available, -EIO when even
 * the first child did not exit normally, or -errno for the cgroup operations. */
int spawn_clone3_selftest(int scratch_parent_dirfd, bool *ret_bug_present);

/* The method the runner should use after the self-test returned selftest_r: fork when the bug
 * is present or clone3 is missing, AUTO otherwise (an inconclusive test leaves the fast path
 * on: memgov never clones into a cgroup that has seen cgroup.kill, and AUTO still falls back
 * when clone3 itself fails). */
SpawnMethod spawn_method_select(int selftest_r, bool bug_present);

const char *spawn_method_to_string(SpawnMethod m);
