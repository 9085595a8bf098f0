/* SPDX-License-Identifier: MIT */
/*
 * psi-wait: register a PSI trigger and wait for it to fire, optionally while a load runs.
 *
 *   psi-wait [-c CGROUP_DIR] PRESSURE_FILE TRIGGER TIMEOUT_MS [PROGRAM [ARG...]]
 *
 * TRIGGER is the kernel's text, e.g. "some 100000 500000" (100 ms of stall in a 500 ms window).
 * The trigger is armed before PROGRAM starts, so no stall can happen unobserved. PROGRAM is
 * forked, moved into CGROUP_DIR through cgroup.procs while it waits on a pipe, and only then
 * exec'd: every byte it touches is charged to that cgroup. It is SIGKILLed when psi-wait is done.
 *
 * stdout:
 *   event after N ms          the trigger fired (N counted from the start of PROGRAM, or from
 *                             arming when there is none)
 *   no event in N ms          it did not
 *   pressure some avg10=...   the file's contents at the end, for the log
 * Exit status: 0 event, 1 no event, 2 error (including EPOLLERR: the trigger went away).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* pipe2; the autotools build defines it in config.h */
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static pid_t spawn_in_cgroup(const char *cgroup_dir, char **argv)
{
        char path[4096], buf[32];
        int gate[2], fd, n;
        pid_t pid;

        if (pipe2(gate, O_CLOEXEC) < 0)
                return -1;
        fflush(stdout);
        pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                char c;

                /* Wait until the parent has moved us; EOF is the signal (see cgexec.c). */
                close(gate[1]);
                while (read(gate[0], &c, 1) < 0 && errno == EINTR)
                        ;
                execvp(argv[0], argv);
                fprintf(stderr, "psi-wait: exec %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        close(gate[0]);
        if (cgroup_dir) {
                snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup_dir);
                fd = open(path, O_WRONLY | O_CLOEXEC);
                n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
                if (fd < 0 || write(fd, buf, (size_t)n) != n) {
                        fprintf(stderr, "psi-wait: move %d into %s: %s\n", (int)pid, path, strerror(errno));
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                        return -1;
                }
                close(fd);
        }
        close(gate[1]);
        return pid;
}

static void print_pressure(int fd)
{
        char buf[512];
        ssize_t n;

        /* pread from 0: the same fd carries the trigger, and reading does not disturb it. */
        n = pread(fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
                return;
        buf[n] = '\0';
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
                printf("pressure %s\n", line);
}

int main(int argc, char *argv[])
{
        const char *cgroup_dir = NULL, *file, *trigger;
        long long timeout_ms, start, elapsed;
        struct pollfd pfd;
        pid_t child = -1;
        int fd, i = 1, ret;

        if (argc > 2 && strcmp(argv[1], "-c") == 0) {
                cgroup_dir = argv[2];
                i = 3;
        }
        if (argc - i < 3) {
                fprintf(stderr,
                        "usage: psi-wait [-c CGROUP_DIR] PRESSURE_FILE TRIGGER TIMEOUT_MS [PROGRAM [ARG...]]\n");
                return 2;
        }
        file = argv[i];
        trigger = argv[i + 1];
        timeout_ms = atoll(argv[i + 2]);

        fd = open(file, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "psi-wait: open %s: %s\n", file, strerror(errno));
                return 2;
        }
        /* Include the NUL: procfs pressure files overwrite the last byte written with one. */
        if (write(fd, trigger, strlen(trigger) + 1) < 0) {
                fprintf(stderr, "psi-wait: register trigger '%s' on %s: %s\n", trigger, file,
                        strerror(errno));
                return 2;
        }

        start = now_ms();
        if (argc - i > 3) {
                child = spawn_in_cgroup(cgroup_dir, argv + i + 3);
                if (child < 0)
                        return 2;
                start = now_ms();
        }

        pfd = (struct pollfd){ .fd = fd, .events = POLLPRI };
        for (;;) {
                elapsed = now_ms() - start;
                if (elapsed >= timeout_ms) {
                        printf("no event in %lld ms\n", elapsed);
                        ret = 1;
                        break;
                }
                if (poll(&pfd, 1, (int)(timeout_ms - elapsed)) < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "psi-wait: poll: %s\n", strerror(errno));
                        ret = 2;
                        break;
                }
                if (pfd.revents & POLLERR) {
                        /* POLLERR|POLLPRI from a trigger fd means it was destroyed, not fired. */
                        fprintf(stderr, "psi-wait: trigger on %s went away (revents 0x%x)\n", file,
                                (unsigned)pfd.revents);
                        ret = 2;
                        break;
                }
                if (pfd.revents & POLLPRI) {
                        printf("event after %lld ms\n", now_ms() - start);
                        ret = 0;
                        break;
                }
        }

        print_pressure(fd);
        if (child > 0) {
                kill(child, SIGKILL);
                waitpid(child, NULL, 0);
        }
        return ret;
}
