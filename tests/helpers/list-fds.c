/* SPDX-License-Identifier: MIT */
/* list-fds: prints the numbers of this process's open file descriptors, ascending and
 * separated by spaces, leaving out the one it uses to read /proc/self/fd. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
        DIR *d = opendir("/proc/self/fd");
        int fds[1024], n = 0;
        struct dirent *de;

        if (!d) {
                perror("list-fds: /proc/self/fd");
                return 1;
        }
        while ((de = readdir(d)) && n < 1024) {
                char *end;
                long fd = strtol(de->d_name, &end, 10);

                if (de->d_name[0] == '.' || *end || fd == dirfd(d))
                        continue;
                fds[n++] = (int)fd;
        }
        closedir(d);
        /* procfs lists in order, but say so rather than rely on it. */
        for (int i = 1; i < n; i++)
                for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
                        int t = fds[j];
                        fds[j] = fds[j - 1];
                        fds[j - 1] = t;
                }
        for (int i = 0; i < n; i++)
                printf(i ? " %d" : "%d", fds[i]);
        printf("\n");
        return 0;
}
