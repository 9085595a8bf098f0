/* SPDX-License-Identifier: MIT */
/*
 * cgsample: a cgroup's memory.current over time, for bench/ plots (issue 10).
 *
 *   cgsample INTERVAL_MS CGROUP_DIR
 *
 * Prints "# t0_realtime_us US" (the start on CLOCK_REALTIME), then "MS CURRENT ANON FILE" lines:
 * MS on CLOCK_MONOTONIC since the start, memory.current, and the anon and file lines of
 * memory.stat (file pages can be reclaimed; anon cannot without swap), one per interval, until
 * SIGTERM/SIGINT; the file stays open and is read with one pread per sample, so the sampler's
 * own cost does not depend on the interval. Output is line-buffered into a file or pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static unsigned long long stat_field(const char *stat, const char *key)
{
        size_t k = strlen(key);

        for (const char *l = stat; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
                if (strncmp(l, key, k) == 0 && l[k] == ' ')
                        return strtoull(l + k + 1, NULL, 10);
        return 0;
}

static void on_signal(int sig)
{
        (void)sig;
        stop = 1;
}

int main(int argc, char *argv[])
{
        struct sigaction sa = { .sa_handler = on_signal };
        struct timespec t0, now;
        char path[4096], buf[64], stat[8192];
        long interval_ms;
        int fd, sfd;

        if (argc != 3 || (interval_ms = strtol(argv[1], NULL, 10)) <= 0) {
                fprintf(stderr, "usage: cgsample INTERVAL_MS CGROUP_DIR\n");
                return 2;
        }
        snprintf(path, sizeof(path), "%s/memory.current", argv[2]);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "cgsample: %s: %s\n", path, strerror(errno));
                return 1;
        }
        snprintf(path, sizeof(path), "%s/memory.stat", argv[2]);
        sfd = open(path, O_RDONLY | O_CLOEXEC);
        if (sfd < 0) {
                fprintf(stderr, "cgsample: %s: %s\n", path, strerror(errno));
                return 1;
        }
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        setvbuf(stdout, NULL, _IOLBF, 0);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        clock_gettime(CLOCK_REALTIME, &now);
        /* Ties MS to wall-clock stamps (a ledger's started_at) for the plots. */
        printf("# t0_realtime_us %lld\n", (long long)now.tv_sec * 1000000LL + now.tv_nsec / 1000);
        while (!stop) {
                ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0), m = pread(sfd, stat, sizeof(stat) - 1, 0);

                clock_gettime(CLOCK_MONOTONIC, &now);
                if (n > 0 && m > 0) {
                        buf[n] = '\0';
                        stat[m] = '\0';
                        printf("%ld %llu %llu %llu\n",
                                (long)((now.tv_sec - t0.tv_sec) * 1000 +
                                        (now.tv_nsec - t0.tv_nsec) / 1000000),
                                strtoull(buf, NULL, 10), stat_field(stat, "anon"), stat_field(stat, "file"));
                }
                struct timespec d = { .tv_sec = interval_ms / 1000,
                        .tv_nsec = interval_ms % 1000 * 1000000L };
                nanosleep(&d, NULL);
        }
        return 0;
}
