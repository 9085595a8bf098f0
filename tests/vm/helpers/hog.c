/* SPDX-License-Identifier: MIT */
/*
 * hog: touch SIZE bytes of anonymous memory, for the real-kernel (VM) tier.
 *
 *   hog SIZE [hold]
 *
 * SIZE takes a K/M/G suffix. Every page is written, so the memory is really charged to the
 * caller's cgroup (a read of untouched anonymous memory maps the shared zero page and charges
 * nothing). Without "hold" the program exits 0 once everything is touched; with "hold" it then
 * sleeps until it is killed, so a scenario can keep a known amount of memory resident.
 *
 * Progress goes to stderr every 16 MiB: when the OOM killer strikes, the scenario log shows how
 * far the hog got, which tells a limit that was not applied from one that was applied late.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int parse_size(const char *s, uint64_t *ret)
{
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || end == s)
                return -EINVAL;
        switch (*end) {
        case 'G':
        case 'g':
                v <<= 10;
                /* fall through */
        case 'M':
        case 'm':
                v <<= 10;
                /* fall through */
        case 'K':
        case 'k':
                v <<= 10;
                end++;
                break;
        case '\0':
                break;
        default:
                return -EINVAL;
        }
        if (*end != '\0' || v == 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

int main(int argc, char *argv[])
{
        uint64_t size, off, next_report = 0;
        long page = sysconf(_SC_PAGESIZE);
        int hold;
        char *p;

        if (argc < 2 || argc > 3 || parse_size(argv[1], &size) < 0 ||
                (argc == 3 && strcmp(argv[2], "hold") != 0)) {
                fprintf(stderr, "usage: hog SIZE[K|M|G] [hold]\n");
                return 2;
        }
        hold = argc == 3;

        /* MAP_NORESERVE: the point is to be stopped by the cgroup limit, not by overcommit. */
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
                fprintf(stderr, "hog: mmap %llu bytes: %s\n", (unsigned long long)size, strerror(errno));
                return 1;
        }

        for (off = 0; off < size; off += (uint64_t)page) {
                /* A non-zero byte, so no page can stay deduplicated or zero-page backed. */
                p[off] = 1;
                if (off >= next_report) {
                        fprintf(stderr, "hog: %llu MiB touched\n", (unsigned long long)(off >> 20));
                        next_report += 16ULL << 20;
                }
        }
        fprintf(stderr, "hog: done, %llu MiB touched\n", (unsigned long long)(size >> 20));

        while (hold)
                pause();
        return 0;
}
