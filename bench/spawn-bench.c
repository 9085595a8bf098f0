/* SPDX-License-Identifier: MIT */
/* spawn-bench: what the stage sandbox costs at start. Measures, N times each and interleaved
 * (these machines are noisy, so only ratios within one run mean anything):
 *
 *   bare    fork + execve("/bin/true")
 *   clone3  "admitted -> exec'd" as the runner does it: mkdir a fresh cgroup, open it, and
 *           spawn_process() with clone3 into it, seccomp filter, drop to the user, rlimits
 *   fork    the same through the fork + cgroup.procs fallback
 *   sandbox clone3 with the sandbox but no cgroup, to split the cost between the two
 *   cgexec  (with -g) mkdir a fresh cgroup, then fork + execve of libcgroup's
 *           "cgexec -g memory,pids:<cgroup> /bin/true": what a shell-scripted runner would do
 *
 * End point (-e): "exec" stops the clock once /bin/true has been exec'd (EOF on a CLOEXEC pipe
 * for bare, spawn_process() returning for the memgov paths): the runner's own admitted ->
 * exec'd figure. cgexec cannot be timed that way: its first exec is of cgexec itself, and the
 * exec of /bin/true that matters comes after libcgroup has parsed the mounts and moved the
 * process, with no fd of ours left to see it. So "exit" (the default with -g) stops the clock
 * for every mode when the child has exited and been reaped: the same trivial static program
 * runs to its end in all of them, so the ratios compare the paths into it and nothing else.
 * Removing the cgroup afterwards is never timed.
 *
 * Each fresh cgroup sits under a parent with +memory +pids in its subtree_control when the
 * hierarchy allows it, as the runner's stage cgroups do under jobs/: creating a memory cgroup
 * costs more than creating a bare one, and every cgroup mode pays it alike.
 *
 * The filter is built and the user resolved once, before the loop, as the daemon does at start.
 * Run as root from a build without sanitizers:
 *
 *   bench/spawn-bench [-n N] [-u USER] [-c CGROUP2_DIR] [-g CGEXEC] [-e exec|exit]
 *                     [-r RAW_TSV] [-m MARKDOWN]
 *
 * CGROUP2_DIR defaults to /sys/fs/cgroup/unified, then /sys/fs/cgroup; the bench works in
 * memgov-bench-<pid>/ below it and removes it. Without a writable cgroup2 it measures without
 * cgroups and says so (and refuses -g, which needs one). -r writes every sample ("i mode ms",
 * tab-separated), -m a Markdown table of the medians and their ratio to bare. */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "runner/seccomp.h"
#include "runner/spawn.h"

enum { BARE, CLONE3, FORK, SANDBOX_ONLY, CGEXEC, _KIND_MAX };
static const char *const kind_names[_KIND_MAX] = { "bare fork+exec", "memgov clone3", "memgov fork",
        "sandbox, no cgroup", "cgexec" };
/* Short names for the raw samples, one word each. */
static const char *const kind_keys[_KIND_MAX] = { "bare", "clone3", "fork", "sandbox", "cgexec" };

typedef enum EndPoint { END_EXEC, END_EXIT } EndPoint;

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

static int wait_ok(pid_t pid, const char *what)
{
        int status;

        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "spawn-bench: %s: child %s %d\n", what,
                        WIFEXITED(status) ? "exited with status" : "killed by signal",
                        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
                return -EIO;
        }
        return 0;
}

static int bare(EndPoint end, double *ret_ms)
{
        char *argv[] = { (char *)"/bin/true", NULL }, *envp[] = { NULL };
        int fds[2], r;
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
        r = wait_ok(pid, "bare");
        if (end == END_EXIT)
                *ret_ms = now_ms() - t0;
        return r;
}

static int sandboxed(
        int parent_fd, unsigned i, SpawnParams *p, SpawnMethod method, EndPoint end, double *ret_ms)
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
        if (end == END_EXIT)
                *ret_ms = now_ms() - t0;
        if (r == 0 && (si.si_code != CLD_EXITED || si.si_status != 0))
                r = -EIO;
        if (parent_fd >= 0) {
                p->cgroup_fd = safe_close(p->cgroup_fd);
                if (unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && r == 0)
                        r = -errno;
        }
        return r;
}

/* libcgroup's cgexec moves itself (root, no sandbox) into <rel_parent>/s<i>, then execs
 * /bin/true. rel_parent is relative to the cgroup2 mount, as cgexec -g wants it. */
static int cgexec(int parent_fd, const char *rel_parent, unsigned i, char *cgexec_path, double *ret_ms)
{
        char name[32], spec[PATH_MAX + 128];
        char *argv[] = { cgexec_path, (char *)"-g", spec, (char *)"/bin/true", NULL };
        char *envp[] = { NULL };
        double t0 = now_ms();
        pid_t pid;
        int r;

        snprintf(name, sizeof(name), "s%u", i);
        snprintf(spec, sizeof(spec), "memory,pids:%s/%s", rel_parent, name);
        if (mkdirat(parent_fd, name, 0755) < 0)
                return -errno;
        pid = fork();
        if (pid < 0)
                r = -errno;
        else {
                if (pid == 0) {
                        execve(argv[0], argv, envp);
                        _exit(127);
                }
                r = wait_ok(pid, "cgexec");
                *ret_ms = now_ms() - t0;
        }
        if (unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && r == 0)
                r = -errno;
        return r;
}

/* The path of dir relative to the cgroup2 mount it is on, without a leading slash ("" for the
 * mount itself): the form cgexec -g takes. */
static int cgroup_relative(const char *dir, char *ret, size_t size)
{
        char real[PATH_MAX], dev[256], mnt[PATH_MAX], type[64], best[PATH_MAX] = "";
        _cleanup_fclose_ FILE *f = NULL;
        size_t best_len = 0;

        if (!realpath(dir, real))
                return -errno;
        f = fopen("/proc/self/mounts", "re");
        if (!f)
                return -errno;
        while (fscanf(f, "%255s %4095s %63s %*[^\n]", dev, mnt, type) == 3) {
                size_t l = strlen(mnt);
                if (streq(type, "cgroup2") && strneq(real, mnt, l) && (real[l] == '/' || real[l] == '\0') &&
                        l >= best_len) {
                        snprintf(best, sizeof(best), "%s", mnt);
                        best_len = l;
                }
        }
        if (!best[0])
                return -ENOENT;
        snprintf(ret, size, "%s", real + best_len + (real[best_len] == '/'));
        return 0;
}

static void usage(const char *argv0)
{
        fprintf(stderr,
                "usage: %s [-n N] [-u USER] [-c CGROUP2_DIR] [-g CGEXEC] [-e exec|exit] [-r RAW_TSV] [-m MARKDOWN]\n",
                argv0);
}

int main(int argc, char **argv)
{
        const char *user = "nobody", *root = NULL, *raw_path = NULL, *md_path = NULL;
        char *cgexec_path = NULL;
        char *true_argv[] = { (char *)"/bin/true", NULL };
        _cleanup_free_ gid_t *groups = NULL;
        double *ms[_KIND_MAX] = {}; /* freed by hand: _cleanup_free_ would free only ms[0] */
        _cleanup_close_ int root_fd = -EBADF, parent_fd = -EBADF;
        bool enabled[_KIND_MAX] = { true, true, true, true, false }, memory_cgroups = false;
        int kinds[_KIND_MAX], n_kinds = 0;
        EndPoint end = END_EXEC;
        bool end_given = false;
        struct sock_fprog prog;
        SpawnParams p = SPAWN_PARAMS_INIT;
        char parent_name[64], rel_root[PATH_MAX] = "", rel_parent[PATH_MAX + 64];
        unsigned n = 200;
        size_t n_groups;
        int c, r;

        while ((c = getopt(argc, argv, "n:u:c:g:e:r:m:")) >= 0)
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
                case 'g':
                        cgexec_path = optarg;
                        break;
                case 'e':
                        if (!streq(optarg, "exec") && !streq(optarg, "exit")) {
                                usage(argv[0]);
                                return 2;
                        }
                        end = streq(optarg, "exit") ? END_EXIT : END_EXEC;
                        end_given = true;
                        break;
                case 'r':
                        raw_path = optarg;
                        break;
                case 'm':
                        md_path = optarg;
                        break;
                default:
                        usage(argv[0]);
                        return 2;
                }
        if (n < 1 || n > 100000) {
                fprintf(stderr, "spawn-bench: -n must be 1..100000\n");
                return 2;
        }
        if (cgexec_path) {
                if (end_given && end == END_EXEC) {
                        fprintf(stderr,
                                "spawn-bench: -g needs -e exit (see the header of bench/spawn-bench.c)\n");
                        return 2;
                }
                end = END_EXIT;
                enabled[CGEXEC] = true;
                if (access(cgexec_path, X_OK) < 0) {
                        fprintf(stderr, "spawn-bench: -g %s: %s\n", cgexec_path, strerror(errno));
                        return 1;
                }
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
        if (parent_fd >= 0) {
                _cleanup_close_ int sc = openat(parent_fd, "cgroup.subtree_control", O_WRONLY | O_CLOEXEC);
                /* Both or nothing: a stage cgroup has both, and cgexec is asked for both. */
                memory_cgroups = sc >= 0 && write(sc, "+memory +pids", 13) == 13;
        }
        if (cgexec_path) {
                if (parent_fd < 0 || cgroup_relative(root, rel_root, sizeof(rel_root)) < 0) {
                        fprintf(stderr, "spawn-bench: -g needs a writable cgroup2 directory (-c)\n");
                        r = -ENOTSUP;
                        goto out;
                }
                snprintf(rel_parent, sizeof(rel_parent), "%s%s%s", rel_root, rel_root[0] ? "/" : "",
                        parent_name);
        }
        printf("spawn-bench: N=%u, user %s (uid %u), seccomp %u insns, end point: %s, cgroups: %s%s%s%s\n",
                n, user, (unsigned)p.uid, prog.len,
                end == END_EXIT ? "child exited and reaped" : "/bin/true exec'd",
                parent_fd >= 0 ? root : "none (no writable cgroup2)", parent_fd >= 0 ? "/" : "",
                parent_fd >= 0 ? parent_name : "",
                parent_fd < 0            ? ""
                        : memory_cgroups ? " (+memory +pids in each)"
                                         : " (no controllers in them)");
        if (cgexec_path)
                printf("spawn-bench: cgexec %s -g memory,pids:%s/s<N> /bin/true\n", cgexec_path, rel_parent);

        for (int k = 0; k < _KIND_MAX; k++) {
                if (!enabled[k])
                        continue;
                kinds[n_kinds++] = k;
                ms[k] = calloc(n, sizeof(double));
                if (!ms[k]) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        for (unsigned i = 0; i < n && r >= 0; i++)
                /* Rotate the order so no kind always runs right after another. */
                for (int j = 0; j < n_kinds && r >= 0; j++) {
                        int k = kinds[(i + (unsigned)j) % (unsigned)n_kinds];
                        unsigned id = i * _KIND_MAX + (unsigned)k;
                        if (k == BARE)
                                r = bare(end, &ms[k][i]);
                        else if (k == CGEXEC)
                                r = cgexec(parent_fd, rel_parent, id, cgexec_path, &ms[k][i]);
                        else
                                r = sandboxed(k == SANDBOX_ONLY ? -EBADF : parent_fd, id, &p,
                                        k == FORK ? SPAWN_METHOD_FORK : SPAWN_METHOD_CLONE3, end, &ms[k][i]);
                }

out:
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

        if (raw_path) {
                _cleanup_fclose_ FILE *f = fopen(raw_path, "we");
                if (!f) {
                        fprintf(stderr, "spawn-bench: %s: %s\n", raw_path, strerror(errno));
                        r = -errno;
                } else {
                        fprintf(f, "i\tmode\tms\n");
                        for (unsigned i = 0; i < n; i++)
                                for (int j = 0; j < n_kinds; j++)
                                        fprintf(f, "%u\t%s\t%.3f\n", i, kind_keys[kinds[j]],
                                                ms[kinds[j]][i]);
                        if (fflush(f) != 0)
                                r = -EIO;
                }
        }

        /* quantile() sorts in place: the raw samples above are written first. */
        double med[_KIND_MAX], p90[_KIND_MAX];
        for (int j = 0; j < n_kinds; j++) {
                int k = kinds[j];
                med[k] = quantile(ms[k], n, 0.5);
                p90[k] = quantile(ms[k], n, 0.9);
                printf("%-18s median %.3f ms  p10 %.3f  p90 %.3f\n", kind_names[k], med[k],
                        quantile(ms[k], n, 0.1), p90[k]);
        }
        printf("ratio clone3/bare (medians): %.2f\n", med[CLONE3] / med[BARE]);
        printf("ratio fork/bare   (medians): %.2f\n", med[FORK] / med[BARE]);
        printf("ratio sandbox/bare (medians, no cgroup): %.2f\n", med[SANDBOX_ONLY] / med[BARE]);
        if (enabled[CGEXEC]) {
                printf("ratio cgexec/bare (medians): %.2f\n", med[CGEXEC] / med[BARE]);
                printf("ratio cgexec/clone3 (medians): %.2f\n", med[CGEXEC] / med[CLONE3]);
        }

        if (md_path) {
                _cleanup_fclose_ FILE *f = fopen(md_path, "we");
                if (!f) {
                        fprintf(stderr, "spawn-bench: %s: %s\n", md_path, strerror(errno));
                        r = -errno;
                } else {
                        fprintf(f, "| mode | median (ms) | p90 (ms) | median / bare |\n");
                        fprintf(f, "|---|---:|---:|---:|\n");
                        for (int j = 0; j < n_kinds; j++) {
                                int k = kinds[j];
                                fprintf(f, "| %s | %.3f | %.3f | %.2f |\n", kind_names[k], med[k], p90[k],
                                        med[k] / med[BARE]);
                        }
                        if (fflush(f) != 0)
                                r = -EIO;
                }
        }
        for (int k = 0; k < _KIND_MAX; k++)
                free(ms[k]);
        return r < 0 ? 1 : 0;
}
