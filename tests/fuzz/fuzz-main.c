/* SPDX-License-Identifier: MIT */
/* Replays a fuzz target's corpus as an ordinary TAP test, so every input that ever mattered is
 * re-checked by 'make check' with the sanitizers of the normal build. The corpus folder is
 * tests/fuzz/corpus/<target name without "fuzz-">/, or the paths given as arguments. */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "common/macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(int dirfd, const char *name, unsigned *n)
{
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = read_file_at(dirfd, name, 1 << 20, &buf, &len);

        if (r < 0) {
                printf("not ok %u - %s: %s\n", ++*n, name, strerror(-r));
                return -1;
        }
        /* Crashes abort the whole program; reaching the next line means the input passed. */
        LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
        printf("ok %u - %s\n", ++*n, name);
        return 0;
}

static int cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char *argv[])
{
        const char *top = getenv("top_srcdir");
        char dir[4096], *prog = basename(argv[0]);
        char *names[4096];
        size_t count = 0;
        unsigned n = 0;
        int failed = 0;
        DIR *d;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc > 1) {
                printf("1..%d\n", argc - 1);
                for (int i = 1; i < argc; i++)
                        failed |= run_file(AT_FDCWD, argv[i], &n);
                return failed ? 1 : 0;
        }
        snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", top ? top : ".",
                strneq(prog, "fuzz-", 5) ? prog + 5 : prog);
        d = opendir(dir);
        if (!d) {
                printf("1..0 # SKIP no corpus at %s\n", dir);
                return 77;
        }
        for (struct dirent *de; (de = readdir(d)) && count < ELEMENTSOF(names);)
                if (de->d_name[0] != '.')
                        names[count++] = strdup(de->d_name);
        qsort(names, count, sizeof(char *), cmp);
        printf("1..%zu\n", count);
        for (size_t i = 0; i < count; i++) {
                failed |= run_file(dirfd(d), names[i], &n);
                free(names[i]);
        }
        closedir(d);
        return failed ? 1 : 0;
}
