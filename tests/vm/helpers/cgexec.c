/* SPDX-License-Identifier: MIT */
/*
 * cgexec: start a program inside a cgroup v2 directory and report what became of it.
 *
 *   cgexec [--clone3|--fork] [--check] CGROUP_DIR PROGRAM [ARG...]
 *
 * --clone3 (default) uses clone3(CLONE_INTO_CGROUP), with no fallback: a scenario that asks
 * for clone3 must learn when clone3 does not work. --fork forks, writes the child's pid to
 * CGROUP_DIR/cgroup.procs and only then lets the child exec, which is the fallback memgov uses.
 *
 * --check holds the child before execve() and prints, as the parent sees it, the child's
 * cgroup v2 line of /proc/PID/cgroup and the pids in CGROUP_DIR/cgroup.procs; the scenario
 * compares them with the directory it asked for.
 *
 * stdout lines, one fact each, for a shell to grep:
 *   pid N
 *   cgroup 0::/path          (--check)
 *   procs N [N...]           (--check)
 *   status exited N | status killed SIG
 * Exit status: the child's, 128+SIG if it was killed, 125 when cgexec itself failed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* pipe2, strchrnul; the autotools build defines it in config.h */
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

#define EXIT_CGEXEC 125

/* Resolve PROGRAM in the parent: the raw clone3 child must not allocate or walk $PATH. */
static int resolve_program(const char *name, char *buf, size_t size)
{
        const char *path, *p, *colon;

        if (strchr(name, '/')) {
                if ((size_t)snprintf(buf, size, "%s", name) >= size)
                        return -ENAMETOOLONG;
                return access(buf, X_OK) < 0 ? -errno : 0;
        }
        path = getenv("PATH");
        if (!path)
                path = "/bin:/sbin:/usr/bin:/usr/sbin";
        for (p = path;; p = colon + 1) {
                size_t len;

                colon = strchrnul(p, ':');
                len = (size_t)(colon - p);
                if (len > 0 && (size_t)snprintf(buf, size, "%.*s/%s", (int)len, p, name) < size &&
                        access(buf, X_OK) == 0)
                        return 0;
                if (*colon == '\0')
                        return -ENOENT;
        }
}

/* Print "LABEL line line..." with the lines of a kernel file that start with PREFIX. */
static void print_file_lines(const char *label, int dirfd, const char *path, const char *prefix)
{
        char buf[4096];
        ssize_t n = -1;
        int fd;

        fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                /* One read: kernel files are generated whole at the first read. */
                n = read(fd, buf, sizeof(buf) - 1);
                close(fd);
        }
        if (n < 0) {
                printf("%s <%s: %s>\n", label, path, strerror(errno));
                return;
        }
        buf[n] = '\0';

        printf("%s", label);
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
                if (!prefix || strncmp(line, prefix, strlen(prefix)) == 0)
                        printf(" %s", line);
        printf("\n");
}

static int write_pid(int dirfd, pid_t pid)
{
        char buf[32];
        int fd, n, r = 0;

        fd = openat(dirfd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
        if (write(fd, buf, (size_t)n) != n)
                r = -errno;
        close(fd);
        return r;
}

int main(int argc, char *argv[])
{
        int use_clone3 = 1, check = 0, i, status, dirfd, gate[2];
        char program[4096], path[64];
        pid_t pid;
        int r;

        for (i = 1; i < argc && argv[i][0] == '-'; i++) {
                if (strcmp(argv[i], "--clone3") == 0)
                        use_clone3 = 1;
                else if (strcmp(argv[i], "--fork") == 0)
                        use_clone3 = 0;
                else if (strcmp(argv[i], "--check") == 0)
                        check = 1;
                else
                        break;
        }
        if (argc - i < 2) {
                fprintf(stderr, "usage: cgexec [--clone3|--fork] [--check] CGROUP_DIR PROGRAM [ARG...]\n");
                return EXIT_CGEXEC;
        }

        r = resolve_program(argv[i + 1], program, sizeof(program));
        if (r < 0) {
                fprintf(stderr, "cgexec: %s: %s\n", argv[i + 1], strerror(-r));
                return EXIT_CGEXEC;
        }
        dirfd = open(argv[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) {
                fprintf(stderr, "cgexec: open %s: %s\n", argv[i], strerror(errno));
                return EXIT_CGEXEC;
        }
        /*
         * The child waits for EOF on this pipe before execve(). The parent releases it by
         * closing its end, never by writing, so a child that is already dead cannot turn the
         * release into SIGPIPE.
         */
        if (pipe2(gate, O_CLOEXEC) < 0) {
                fprintf(stderr, "cgexec: pipe: %s\n", strerror(errno));
                return EXIT_CGEXEC;
        }
        fflush(stdout);
        fflush(stderr);

        if (use_clone3) {
                struct clone_args args;

                memset(&args, 0, sizeof(args));
                args.flags = CLONE_INTO_CGROUP;
                args.exit_signal = SIGCHLD;
                args.cgroup = (uint64_t)dirfd;
                pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
        } else
                pid = fork();
        if (pid < 0) {
                fprintf(stderr, "cgexec: %s: %s\n", use_clone3 ? "clone3(CLONE_INTO_CGROUP)" : "fork",
                        strerror(errno));
                return EXIT_CGEXEC;
        }
        if (pid == 0) {
                char c;

                /* Async-signal-safe calls only from here on: this may be a raw clone3 child. */
                close(gate[1]);
                while (read(gate[0], &c, 1) < 0 && errno == EINTR)
                        ;
                execv(program, argv + i + 1);
                _exit(127);
        }
        close(gate[0]);

        printf("pid %d\n", (int)pid);
        if (!use_clone3) {
                r = write_pid(dirfd, pid);
                if (r < 0) {
                        fprintf(stderr, "cgexec: write %d to %s/cgroup.procs: %s\n", (int)pid, argv[i],
                                strerror(-r));
                        kill(pid, SIGKILL);
                }
        }
        if (check) {
                snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
                print_file_lines("cgroup", AT_FDCWD, path, "0::");
                print_file_lines("procs", dirfd, "cgroup.procs", NULL);
        }
        fflush(stdout);
        close(gate[1]);

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        fprintf(stderr, "cgexec: waitpid: %s\n", strerror(errno));
                        return EXIT_CGEXEC;
                }
        if (WIFSIGNALED(status)) {
                printf("status killed %d\n", WTERMSIG(status));
                return 128 + WTERMSIG(status);
        }
        printf("status exited %d\n", WEXITSTATUS(status));
        return WEXITSTATUS(status);
}
