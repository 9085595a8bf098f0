/* SPDX-License-Identifier: MIT */
/*
 * reaction-trial: one trial of the reaction bench (bench/vm/reaction.sh), in the VM.
 *
 *   reaction-trial -s SOURCE_DIR -c HOG_CGROUP [-G NAME=CGROUP=COMMAND]... [-i POLL_MS]
 *                  [-o PHASE_MS] [-a PCT] [-j EXTRA_DIR] [-T LIMIT_MS] [-R READY_MS] [-l LOG_DIR]
 *                  -- HOG [ARG...]
 *
 * Starts the governors (each "sh -c COMMAND" moved into CGROUP before it runs; in the bench,
 * 'memgov probe --watch' with one policy each) and waits until every one has printed its first
 * reading, which it does only after arming its PSI trigger. Then the onset: HOG is moved into
 * HOG_CGROUP and released. From the onset on, on one clock (CLOCK_MONOTONIC, in ms from the
 * onset):
 *
 *   psi     when the first stall the kernel accounted in SOURCE_DIR/memory.pressure began: the
 *           file is read every 2 ms, and at the first read whose "some total" has grown, the
 *           growth (µs of stall) is taken back from the read's time. Without that, a read that
 *           comes late because the guest is busy would move the onset of the stall with it;
 *           with it, the estimate is exact while the stall has not let up since it began (the
 *           hog's does not) and never later than the read
 *   NAME    the first line of that governor's output that shows a class closed for pressure
 *           ("(pressure"), stamped when it arrives here
 *   poll    a poller that reads "some avg10" of the same file every POLL_MS (5000), its first
 *           read PHASE_MS after the onset (default: random in [0, POLL_MS), so over trials the
 *           poller's phase is uniform, as for one running independently of the pressure), and
 *           closes at the first read with avg10 >= PCT (10, memgov's default some_avg10_max,
 *           with memgov's "at or above")
 *
 * The trial ends when all have closed, or LIMIT_MS (20000) after the onset; the hog is
 * SIGKILLed and the governors are stopped. One result line on stdout:
 *
 *   trial phase_ms=P psi_ms=T poll_ms=T poll_reads=N poll_avg10=A NAME_ms=T ... extra_total_us=D
 *
 * where T is "never" for what did not happen before the limit, and extra_total_us (with -j) is
 * how much the "some total" of EXTRA_DIR/memory.pressure grew during the trial: the bench
 * points it at jobs/ to show whether a governor reading jobs/ would have seen this pressure.
 * With -l, LOG_DIR/NAME.log gets each governor's output, every line prefixed with its arrival
 * time in ms from the onset, and LOG_DIR/poll.log the poller's reads.
 * Exit status: 0 the trial ran (whatever closed or not), 2 an error.
 *
 * Static and self-contained (no memgov code), so it builds on its own:
 *   gcc -O2 -static -o reaction-trial bench/vm/reaction-trial.c
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* pipe2; the autotools build defines it in config.h */
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_GOV   4
#define NEVER     (-1.0)
#define MAX(a, b) ((a) > (b) ? (a) : (b))

typedef struct Governor {
        char *name, *cgroup, *command;
        pid_t pid;
        int fd; /* read end of its stdout; -1 once at EOF */
        char buf[8192];
        size_t len;
        bool ready;
        double closed_ms;
        FILE *log;
} Governor;

static double now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Forks argv[0] with stdout on out_fd (-1: inherit), moves it into cgroup_dir, and only then
 * lets it exec: nothing it does is charged anywhere else. *ret_release is when it was let go. */
static pid_t spawn_in_cgroup(const char *cgroup_dir, char *const argv[], int out_fd, double *ret_release)
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

                close(gate[1]);
                while (read(gate[0], &c, 1) < 0 && errno == EINTR)
                        ;
                if (out_fd >= 0 && dup2(out_fd, STDOUT_FILENO) < 0)
                        _exit(127);
                execv(argv[0], argv);
                fprintf(stderr, "reaction-trial: exec %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        close(gate[0]);
        snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup_dir);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
        if (fd < 0 || write(fd, buf, (size_t)n) != n) {
                fprintf(stderr, "reaction-trial: move %d into %s: %s\n", (int)pid, path, strerror(errno));
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                close(gate[1]);
                return -1;
        }
        close(fd);
        *ret_release = now_ms();
        close(gate[1]);
        return pid;
}

/* "some avg10=A avg60=.. avg300=.. total=T" from a memory.pressure file; -1 on error. */
static int read_some(int fd, double *ret_avg10, double *ret_full_avg10, unsigned long long *ret_total)
{
        char buf[512];
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        char *full;

        if (n <= 0)
                return -1;
        buf[n] = '\0';
        if (sscanf(buf, "some avg10=%lf avg60=%*f avg300=%*f total=%llu", ret_avg10, ret_total) != 2)
                return -1;
        full = strstr(buf, "full avg10=");
        *ret_full_avg10 = full ? strtod(full + 11, NULL) : 0;
        return 0;
}

static int open_pressure(const char *dir)
{
        char path[4096];
        int fd;

        snprintf(path, sizeof(path), "%s/memory.pressure", dir);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                fprintf(stderr, "reaction-trial: open %s: %s\n", path, strerror(errno));
        return fd;
}

/* Reads what a governor printed and handles each complete line; t0 is the onset (0 before). */
static void drain(Governor *g, double t0)
{
        ssize_t n = read(g->fd, g->buf + g->len, sizeof(g->buf) - 1 - g->len);
        double t = now_ms();
        char *line, *nl;

        if (n <= 0) {
                if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                        close(g->fd);
                        g->fd = -1;
                }
                return;
        }
        g->len += (size_t)n;
        g->buf[g->len] = '\0';
        line = g->buf;
        while ((nl = strchr(line, '\n'))) {
                *nl = '\0';
                if (g->log && t0 > 0)
                        fprintf(g->log, "%+.1f %s\n", t - t0, line);
                else if (g->log)
                        fprintf(g->log, "before %s\n", line);
                if (strstr(line, " budget ")) {
                        /* The first reading comes after the trigger is armed (probe-watch.c). */
                        g->ready = true;
                        if (t0 > 0 && g->closed_ms == NEVER && strstr(line, "(pressure"))
                                g->closed_ms = t - t0;
                }
                line = nl + 1;
        }
        g->len = strlen(line);
        memmove(g->buf, line, g->len + 1);
        /* A line longer than the buffer is dropped rather than wedging the loop. */
        if (g->len == sizeof(g->buf) - 1)
                g->len = 0;
}

static void fmt_ms(char *buf, size_t size, double ms)
{
        if (ms == NEVER)
                snprintf(buf, size, "never");
        else
                snprintf(buf, size, "%.0f", ms);
}

static void usage(void)
{
        fprintf(stderr,
                "usage: reaction-trial -s SOURCE_DIR -c HOG_CGROUP [-G NAME=CGROUP=COMMAND]... "
                "[-i POLL_MS] [-o PHASE_MS] [-a PCT] [-j EXTRA_DIR] [-T LIMIT_MS] [-R READY_MS] "
                "[-l LOG_DIR] -- HOG [ARG...]\n");
}

int main(int argc, char *argv[])
{
        const char *source = NULL, *hog_cgroup = NULL, *extra = NULL, *log_dir = NULL;
        double poll_period = 5000, phase = -1, threshold = 10, limit = 20000, ready_limit = 30000;
        Governor gov[MAX_GOV] = {};
        int n_gov = 0, c, src_fd, extra_fd = -1, ret = 0;
        unsigned long long total0, total, extra0 = 0, extra1 = 0;
        double avg10, full10, t0, t, psi_ms = NEVER, poll_ms = NEVER, poll_avg10 = 0, next_poll;
        unsigned poll_reads = 0;
        FILE *poll_log = NULL;
        pid_t hog;
        char a[32];

        signal(SIGPIPE, SIG_IGN);
        while ((c = getopt(argc, argv, "+s:c:G:i:o:a:j:T:R:l:")) >= 0)
                switch (c) {
                case 's':
                        source = optarg;
                        break;
                case 'c':
                        hog_cgroup = optarg;
                        break;
                case 'G': {
                        char *eq1 = strchr(optarg, '='), *eq2 = eq1 ? strchr(eq1 + 1, '=') : NULL;
                        if (!eq2 || n_gov == MAX_GOV) {
                                usage();
                                return 2;
                        }
                        *eq1 = *eq2 = '\0';
                        gov[n_gov++] = (Governor){ .name = optarg,
                                .cgroup = eq1 + 1,
                                .command = eq2 + 1,
                                .fd = -1,
                                .closed_ms = NEVER };
                        break;
                }
                case 'i':
                        poll_period = atof(optarg);
                        break;
                case 'o':
                        phase = atof(optarg);
                        break;
                case 'a':
                        threshold = atof(optarg);
                        break;
                case 'j':
                        extra = optarg;
                        break;
                case 'T':
                        limit = atof(optarg);
                        break;
                case 'R':
                        ready_limit = atof(optarg);
                        break;
                case 'l':
                        log_dir = optarg;
                        break;
                default:
                        usage();
                        return 2;
                }
        if (!source || !hog_cgroup || optind >= argc || poll_period <= 0) {
                usage();
                return 2;
        }
        if (phase < 0) {
                unsigned r;
                if (getrandom(&r, sizeof(r), 0) != sizeof(r))
                        r = (unsigned)getpid() ^ (unsigned)now_ms();
                phase = (double)(r % (unsigned)poll_period);
        }

        src_fd = open_pressure(source);
        if (src_fd < 0)
                return 2;
        if (extra && (extra_fd = open_pressure(extra)) < 0)
                return 2;
        if (log_dir) {
                char path[4096];
                snprintf(path, sizeof(path), "%s/poll.log", log_dir);
                poll_log = fopen(path, "we");
                for (int i = 0; i < n_gov; i++) {
                        snprintf(path, sizeof(path), "%s/%s.log", log_dir, gov[i].name);
                        gov[i].log = fopen(path, "we");
                }
        }

        for (int i = 0; i < n_gov; i++) {
                char *sh[] = { (char *)"/bin/sh", (char *)"-c", gov[i].command, NULL };
                int p[2];
                if (pipe2(p, O_CLOEXEC) < 0)
                        return 2;
                gov[i].pid = spawn_in_cgroup(gov[i].cgroup, sh, p[1], &t);
                close(p[1]);
                if (gov[i].pid < 0)
                        return 2;
                gov[i].fd = p[0];
        }
        for (t0 = now_ms();;) {
                struct pollfd pfd[MAX_GOV];
                int n_ready = 0;
                for (int i = 0; i < n_gov; i++) {
                        n_ready += gov[i].ready;
                        pfd[i] = (struct pollfd){ .fd = gov[i].fd, .events = POLLIN };
                }
                if (n_ready == n_gov)
                        break;
                if (now_ms() - t0 > ready_limit) {
                        fprintf(stderr,
                                "reaction-trial: the governors did not all print a reading in %.0f ms\n",
                                ready_limit);
                        ret = 2;
                        goto stop;
                }
                if (poll(pfd, (nfds_t)n_gov, 100) > 0)
                        for (int i = 0; i < n_gov; i++)
                                if (pfd[i].revents && gov[i].fd >= 0)
                                        drain(&gov[i], 0);
                for (int i = 0; i < n_gov; i++)
                        if (gov[i].fd < 0 && !gov[i].ready) {
                                fprintf(stderr,
                                        "reaction-trial: governor %s ended before its first reading\n",
                                        gov[i].name);
                                ret = 2;
                                goto stop;
                        }
        }
        if (read_some(src_fd, &avg10, &full10, &total0) < 0 ||
                (extra_fd >= 0 && read_some(extra_fd, &avg10, &full10, &extra0) < 0)) {
                fprintf(stderr, "reaction-trial: cannot parse memory.pressure\n");
                ret = 2;
                goto stop;
        }

        hog = spawn_in_cgroup(hog_cgroup, argv + optind, -1, &t0);
        if (hog < 0) {
                ret = 2;
                goto stop;
        }
        next_poll = t0 + phase;
        for (;;) {
                struct pollfd pfd[MAX_GOV];
                double deadline = t0 + limit;
                bool all = poll_ms != NEVER;
                int timeout;

                for (int i = 0; i < n_gov; i++) {
                        all = all && gov[i].closed_ms != NEVER;
                        pfd[i] = (struct pollfd){ .fd = gov[i].fd, .events = POLLIN };
                }
                t = now_ms();
                if (all || t >= deadline)
                        break;
                if (psi_ms == NEVER) {
                        if (read_some(src_fd, &avg10, &full10, &total) == 0 && total > total0)
                                psi_ms = MAX(t - t0 - (double)(total - total0) / 1e3, 0);
                        else
                                deadline = t + 2;
                }
                if (poll_ms == NEVER) {
                        if (t >= next_poll) {
                                poll_reads++;
                                if (read_some(src_fd, &avg10, &full10, &total) < 0) {
                                        ret = 2;
                                        break;
                                }
                                if (poll_log)
                                        fprintf(poll_log,
                                                "%+.1f some avg10=%.2f full avg10=%.2f total=%llu\n", t - t0,
                                                avg10, full10, total);
                                if (avg10 > 0 && avg10 >= threshold) {
                                        poll_ms = t - t0;
                                        poll_avg10 = avg10;
                                }
                                next_poll += poll_period;
                        }
                        if (next_poll < deadline)
                                deadline = next_poll;
                }
                timeout = deadline > t ? (int)(deadline - t + 0.999) : 0;
                if (poll(pfd, (nfds_t)n_gov, timeout) > 0)
                        for (int i = 0; i < n_gov; i++)
                                if (pfd[i].revents && gov[i].fd >= 0)
                                        drain(&gov[i], t0);
        }
        if (extra_fd >= 0 && read_some(extra_fd, &avg10, &full10, &extra1) < 0)
                ret = 2;
        kill(hog, SIGKILL);
        waitpid(hog, NULL, 0);

        if (ret == 0) {
                printf("trial phase_ms=%.0f", phase);
                fmt_ms(a, sizeof(a), psi_ms);
                printf(" psi_ms=%s", a);
                fmt_ms(a, sizeof(a), poll_ms);
                printf(" poll_ms=%s poll_reads=%u poll_avg10=%.2f", a, poll_reads, poll_avg10);
                for (int i = 0; i < n_gov; i++) {
                        fmt_ms(a, sizeof(a), gov[i].closed_ms);
                        printf(" %s_ms=%s", gov[i].name, a);
                }
                if (extra_fd >= 0)
                        printf(" extra_total_us=%llu", extra1 - extra0);
                printf("\n");
        }
stop:
        for (int i = 0; i < n_gov; i++)
                if (gov[i].pid > 0)
                        kill(gov[i].pid, SIGTERM);
        for (int i = 0; i < n_gov; i++) {
                if (gov[i].pid > 0)
                        waitpid(gov[i].pid, NULL, 0);
                if (gov[i].fd >= 0)
                        close(gov[i].fd);
                if (gov[i].log)
                        fclose(gov[i].log);
        }
        if (poll_log)
                fclose(poll_log);
        fflush(stdout);
        return ret;
}
