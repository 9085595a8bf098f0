/* SPDX-License-Identifier: MIT */
/* spawn-bench: what the stage sandbox costs at start. Measures, N times each and interleaved
 * (these machines are noisy, so only ratios within one run mean anything):
 *
 *   bare    fork + execve("/bin/true"), until the exec is seen (EOF on a CLOEXEC pipe)
 *   clone3  "admitted -> exec'd" as the runner does it: mkdir a fresh cgroup, open it, and
 *           spawn_process() with clone3 into it, seccomp filter, drop to the user, rlimits
 *   fork    the same through the fork + cgroup.procs fallback
 *   sandbox clone3 with the sandbox but no cgroup, to split the cost between the two
 *
 * The filter is built and the user resolved once, before the loop, as the daemon does at start.
 * Run as root from a build without sanitizers:
 *
 *   bench/spawn-bench [-n N] [-u USER] [-c CGROUP2_DIR]
 *
 * CGROUP2_DIR defaults to /sys/fs/cgroup/unified, then /sys/fs/cgroup; the bench works in
 * memgov-bench-<pid>/ below it and removes it. Without a writable cgroup2 it measures without
 * cgroups and says so. */
#include <fcntl.h>
#include <getopt.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "runner/seccomp.h"
#include "runner/spawn.h"

enum { BARE, CLONE3, FORK, SANDBOX_ONLY, _KIND_MAX };
static const char *const kind_names[_KIND_MAX] = { "bare fork+exec", "memgov clone3", "memgov fork",
        "sandbox, no cgroup" };

static double now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static bool is_cgroup2(const char *path)
{
        struct statfs sfs;

        return statfs(path, &sfs) == 0 &&
                (unsigned long)sfs.f_type == 0x63677270UL; /* CGROUP2_SUPER_MAGIC */
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

static double quantile(double *v, size_t n, double q)
{
        qsort(v, n, sizeof(double), cmp_double);
        return v[(size_t)(q * (double)(n - 1) + 0.5)];
}

static int bare(double *ret_ms)
{
        char *argv[] = { (char *)"/bin/true", NULL }, *envp[] = { NULL };
        int fds[2], status;
        double t0 = now_ms();
        char b;
        pid_t pid;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                execve(argv[0], argv, envp);
                _exit(127);
        }
        close(fds[1]);
        if (read(fds[0], &b, 1) != 0) {
                close(fds[0]);
                return -EIO;
        }
        *ret_ms = now_ms() - t0;
        close(fds[0]);
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return -EIO;
        return 0;
}

static int sandboxed(int parent_fd, unsigned i, SpawnParams *p, SpawnMethod method, double *ret_ms)
{
        char name[32];
        double t0 = now_ms();
        SpawnResult res;
        siginfo_t si;
        int r;

        snprintf(name, sizeof(name), "s%u", i);
        if (parent_fd >= 0) {
                if (mkdirat(parent_fd, name, 0755) < 0)
                        return -errno;
                p->cgroup_fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (p->cgroup_fd < 0)
                        return -errno;
        }
        r = spawn_process(p, method, &res);
        *ret_ms = now_ms() - t0;
        if (r < 0) {
                fprintf(stderr, "spawn-bench: %s\n", res.error_message);
                return r;
        }
        r = spawn_wait(&res, &si);
        if (r == 0 && (si.si_code != CLD_EXITED || si.si_status != 0))
                r = -EIO;
        if (parent_fd >= 0) {
                p->cgroup_fd = safe_close(p->cgroup_fd);
                if (unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && r == 0)
                        r = -errno;
        }
        return r;
}

int main(int argc, char **argv)
{
        const char *user = "nobody", *root = NULL;
        char *true_argv[] = { (char *)"/bin/true", NULL };
        _cleanup_free_ gid_t *groups = NULL;
        double *ms[_KIND_MAX] = {}; /* freed by hand: _cleanup_free_ would free only ms[0] */
        _cleanup_close_ int root_fd = -EBADF, parent_fd = -EBADF;
        struct sock_fprog prog;
        SpawnParams p = SPAWN_PARAMS_INIT;
        char parent_name[64];
        unsigned n = 200;
        size_t n_groups;
        int c, r;

        while ((c = getopt(argc, argv, "n:u:c:")) >= 0)
                switch (c) {
                case 'n':
                        n = (unsigned)atoi(optarg);
                        break;
                case 'u':
                        user = optarg;
                        break;
                case 'c':
                        root = optarg;
                        break;
                default:
                        fprintf(stderr, "usage: %s [-n N] [-u USER] [-c CGROUP2_DIR]\n", argv[0]);
                        return 2;
                }
        if (n < 1 || n > 100000) {
                fprintf(stderr, "spawn-bench: -n must be 1..100000\n");
                return 2;
        }

        r = seccomp_filter_build(SECCOMP_MODE_DEFAULT, &prog);
        if (r < 0) {
                fprintf(stderr, "spawn-bench: building the seccomp filter: %s\n", strerror(-r));
                return 1;
        }
        r = spawn_resolve_user(user, &p.uid, &p.gid, &groups, &n_groups);
        if (r < 0) {
                fprintf(stderr, "spawn-bench: user %s: %s\n", user, strerror(-r));
                return 1;
        }
        p.argv = true_argv;
        p.drop_privileges = true;
        p.groups = groups;
        p.n_groups = n_groups;
        p.seccomp = &prog;
        p.nofile = 1024;
        p.working_directory = "/";

        snprintf(parent_name, sizeof(parent_name), "memgov-bench-%d", (int)getpid());
        if (!root && is_cgroup2("/sys/fs/cgroup/unified"))
                root = "/sys/fs/cgroup/unified";
        else if (!root && is_cgroup2("/sys/fs/cgroup"))
                root = "/sys/fs/cgroup";
        if (root) {
                root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (root_fd >= 0 && mkdirat(root_fd, parent_name, 0755) == 0)
                        parent_fd = openat(root_fd, parent_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        }
        printf("spawn-bench: N=%u, user %s (uid %u), seccomp %u insns, cgroups: %s%s%s\n", n, user,
                (unsigned)p.uid, prog.len, parent_fd >= 0 ? root : "none (no writable cgroup2)",
                parent_fd >= 0 ? "/" : "", parent_fd >= 0 ? parent_name : "");

        for (int k = 0; k < _KIND_MAX; k++) {
                ms[k] = calloc(n, sizeof(double));
                if (!ms[k])
                        return 1;
        }
        for (unsigned i = 0; i < n && r >= 0; i++)
                /* Rotate the order so no kind always runs right after another. */
                for (int j = 0; j < _KIND_MAX && r >= 0; j++) {
                        int k = (int)((i + (unsigned)j) % _KIND_MAX);
                        if (k == BARE)
                                r = bare(&ms[k][i]);
                        else
                                r = sandboxed(k == SANDBOX_ONLY ? -EBADF : parent_fd,
                                        i * _KIND_MAX + (unsigned)k, &p,
                                        k == FORK ? SPAWN_METHOD_FORK : SPAWN_METHOD_CLONE3, &ms[k][i]);
                }

        if (parent_fd >= 0) {
                parent_fd = safe_close(parent_fd);
                (void)unlinkat(root_fd, parent_name, AT_REMOVEDIR);
        }
        seccomp_filter_free(&prog);
        if (r < 0) {
                fprintf(stderr, "spawn-bench: %s\n", strerror(-r));
                for (int k = 0; k < _KIND_MAX; k++)
                        free(ms[k]);
                return 1;
        }

        double med[_KIND_MAX];
        for (int k = 0; k < _KIND_MAX; k++) {
                med[k] = quantile(ms[k], n, 0.5);
                printf("%-16s median %.3f ms  p10 %.3f  p90 %.3f\n", kind_names[k], med[k],
                        quantile(ms[k], n, 0.1), quantile(ms[k], n, 0.9));
        }
        printf("ratio clone3/bare (medians): %.2f\n", med[CLONE3] / med[BARE]);
        printf("ratio fork/bare   (medians): %.2f\n", med[FORK] / med[BARE]);
        printf("ratio sandbox/bare (medians, no cgroup): %.2f\n", med[SANDBOX_ONLY] / med[BARE]);
        for (int k = 0; k < _KIND_MAX; k++)
                free(ms[k]);
        return 0;
}
