/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "runner/procscan.h"

int proc_parse_stat(const char *text, ProcEntry *ret)
{
        const char *close = strrchr(text, ')');
        int pid, ppid, pgrp, sid;
        char state;

        if (!close || sscanf(text, "%d", &pid) != 1)
                return -EINVAL;
        if (sscanf(close + 1, " %c %d %d %d", &state, &ppid, &pgrp, &sid) != 4)
                return -EINVAL;
        *ret = (ProcEntry){ .pid = pid, .ppid = ppid, .pgrp = pgrp, .sid = sid, .state = state };
        return 0;
}

int proc_parse_statm(const char *text, uint64_t page_size, uint64_t *ret_rss_bytes)
{
        unsigned long long size, resident;

        if (sscanf(text, "%llu %llu", &size, &resident) != 2)
                return -EINVAL;
        *ret_rss_bytes = (uint64_t)resident * page_size;
        return 0;
}

static int grow(void **items, size_t *cap, size_t need, size_t size)
{
        void *n;
        size_t ncap;

        if (need <= *cap)
                return 0;
        ncap = MAX(need, *cap ? *cap * 2 : 64);
        n = realloc(*items, ncap * size);
        if (!n)
                return -ENOMEM;
        *items = n;
        *cap = ncap;
        return 0;
}

int proc_snapshot(int proc_fd, uint64_t page_size, ProcSnapshot *s)
{
        _cleanup_close_ int dfd = openat(proc_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d;
        int r = 0;

        if (dfd < 0)
                return -errno;
        d = fdopendir(dfd);
        if (!d)
                return -errno;
        dfd = -EBADF;
        s->n = 0;
        for (struct dirent *de; (de = readdir(d));) {
                char path[64], buf[1024];
                ProcEntry e;

                if (!isdigit((unsigned char)de->d_name[0]))
                        continue;
                snprintf(path, sizeof(path), "%.20s/stat", de->d_name);
                if (read_virtual_at(proc_fd, path, buf, sizeof(buf)) < 0 || proc_parse_stat(buf, &e) < 0)
                        continue; /* gone meanwhile */
                snprintf(path, sizeof(path), "%.20s/statm", de->d_name);
                if (read_virtual_at(proc_fd, path, buf, sizeof(buf)) < 0 ||
                        proc_parse_statm(buf, page_size, &e.rss_bytes) < 0)
                        e.rss_bytes = 0; /* zombies have no memory left */
                r = grow((void **)&s->entries, &s->cap, s->n + 1, sizeof(ProcEntry));
                if (r < 0)
                        break;
                s->entries[s->n++] = e;
        }
        closedir(d);
        return r;
}

void proc_snapshot_done(ProcSnapshot *s)
{
        free(s->entries);
        *s = (ProcSnapshot){};
}

void proc_set_done(ProcSet *s)
{
        free(s->pids);
        *s = (ProcSet){};
}

bool proc_set_contains(const ProcSet *s, pid_t pid)
{
        for (size_t i = 0; i < s->n; i++)
                if (s->pids[i] == pid)
                        return true;
        return false;
}

uint64_t proc_stage_rss(const ProcSnapshot *s, pid_t root, ProcSet *known, size_t *ret_count)
{
        _cleanup_free_ bool *member = calloc(MAX(s->n, (size_t)1), sizeof(bool));
        uint64_t rss = 0;
        size_t count = 0;
        bool changed = true;

        if (!member) {
                if (ret_count)
                        *ret_count = 0;
                return UINT64_MAX; /* cannot tell: the caller treats it as over any limit */
        }
        for (size_t i = 0; i < s->n; i++) {
                const ProcEntry *e = &s->entries[i];
                member[i] = e->pid == root || e->sid == root || e->pgrp == root ||
                        proc_set_contains(known, e->pid);
        }
        /* Descendants: parents first is not guaranteed in /proc order, so iterate to a fixed point. */
        while (changed) {
                changed = false;
                for (size_t i = 0; i < s->n; i++) {
                        if (member[i])
                                continue;
                        for (size_t j = 0; j < s->n; j++)
                                if (member[j] && s->entries[j].pid == s->entries[i].ppid) {
                                        member[i] = changed = true;
                                        break;
                                }
                }
        }
        known->n = 0;
        for (size_t i = 0; i < s->n; i++) {
                if (!member[i])
                        continue;
                count++;
                rss += s->entries[i].rss_bytes;
                if (grow((void **)&known->pids, &known->cap, known->n + 1, sizeof(pid_t)) == 0)
                        known->pids[known->n++] = s->entries[i].pid;
        }
        if (ret_count)
                *ret_count = count;
        return rss;
}
