/* SPDX-License-Identifier: MIT */
/*
 * ramp: a memory-hungry stand-in for a transcriber, for bench/ (issue 10).
 *
 *   ramp [-k SCALE] [-b SECONDS] [-g SECONDS_PER_GIB] [-r RAMP_FRACTION] AUDIO [OUT]
 *
 * Like a speech model it needs memory and time in proportion to its input: the footprint is
 * SCALE bytes per byte of AUDIO (default 1024, so a 300 KiB file means 300 MiB), the run time
 * is SECONDS + SECONDS_PER_GIB × footprint (defaults 1.5 s and 7 s/GiB). It touches its
 * footprint linearly over RAMP_FRACTION of the run time (default 0.8, like loading a model and
 * growing decoder state), holds it for the rest, then writes a one-line "transcript" to OUT or
 * to stdout and exits 0. The run time is wall-clock (it sleeps between steps), so concurrency
 * is limited by memory, not by the two CPUs of the bench machine.
 *
 * Every touched page holds a non-zero byte, so the memory is really charged. It reads nothing
 * of AUDIO but its size: the same file drives memgov's estimator (which learns peak against
 * input size) and the other strategies.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STEP_NS 20000000LL /* 20 ms between touch steps */

static int64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_until(int64_t t_ns)
{
        struct timespec ts = { .tv_sec = t_ns / 1000000000LL, .tv_nsec = t_ns % 1000000000LL };

        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
                ;
}

static int parse_double(const char *s, double *ret)
{
        char *end;

        errno = 0;
        *ret = strtod(s, &end);
        return errno == 0 && end != s && *end == '\0' && *ret >= 0 ? 0 : -EINVAL;
}

static void usage(void)
{
        fprintf(stderr,
                "usage: ramp [-k SCALE] [-b SECONDS] [-g SECONDS_PER_GIB] [-r RAMP_FRACTION] AUDIO [OUT]\n");
        exit(2);
}

int main(int argc, char *argv[])
{
        double scale = 1024, base_s = 1.5, per_gib_s = 7, ramp_frac = 0.8, run_s;
        uint64_t size, touched = 0;
        long page = sysconf(_SC_PAGESIZE);
        int64_t t0, t_ramp, t_end, t;
        struct stat st;
        char *p;
        int c;

        while ((c = getopt(argc, argv, "k:b:g:r:")) != -1) {
                double *dst = c == 'k' ? &scale
                        : c == 'b'     ? &base_s
                        : c == 'g'     ? &per_gib_s
                        : c == 'r'     ? &ramp_frac
                                       : NULL;
                if (!dst || parse_double(optarg, dst) < 0)
                        usage();
        }
        if (optind + 1 != argc && optind + 2 != argc)
                usage();
        if (ramp_frac > 1 || scale < 1)
                usage();
        if (stat(argv[optind], &st) < 0) {
                fprintf(stderr, "ramp: %s: %s\n", argv[optind], strerror(errno));
                return 1;
        }
        t0 = now_ns();
        size = (uint64_t)((double)st.st_size * scale);
        size = (size + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page;
        run_s = base_s + per_gib_s * (double)size / (1024.0 * 1024 * 1024);
        t_ramp = t0 + (int64_t)(run_s * ramp_frac * 1e9);
        t_end = t0 + (int64_t)(run_s * 1e9);

        if (size > 0) {
                /* MAP_NORESERVE: a strategy without limits is stopped by the OOM killer, as a
                 * real transcriber would be, not by an mmap failure it could report. */
                p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
                        0);
                if (p == MAP_FAILED) {
                        fprintf(stderr, "ramp: mmap %llu bytes: %s\n", (unsigned long long)size,
                                strerror(errno));
                        return 1;
                }
                for (t = t0 + STEP_NS;; t += STEP_NS) {
                        uint64_t want = t >= t_ramp
                                ? size
                                : (uint64_t)((double)size * (double)(t - t0) / (double)(t_ramp - t0));

                        for (; touched < want; touched += (uint64_t)page)
                                p[touched] = 1;
                        if (touched >= size)
                                break;
                        sleep_until(t);
                }
        }
        sleep_until(t_end);

        FILE *f = optind + 2 == argc ? fopen(argv[optind + 1], "we") : stdout;
        if (!f) {
                fprintf(stderr, "ramp: %s: %s\n", argv[optind + 1], strerror(errno));
                return 1;
        }
        fprintf(f, "transcript of %s: %llu MiB over %.2f s (asked %.2f s)\n", argv[optind],
                (unsigned long long)(size >> 20), (double)(now_ns() - t0) / 1e9, run_s);
        return fclose(f) == 0 ? 0 : 1;
}
