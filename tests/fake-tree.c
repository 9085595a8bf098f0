/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "tests/fake-tree.h"

int fake_tree_new(FakeTree *t)
{
        const char *tmp = getenv("TMPDIR");

        snprintf(t->path, sizeof(t->path), "%s/memgov-fake.XXXXXX", tmp ? tmp : "/tmp");
        if (!mkdtemp(t->path))
                return -errno;
        t->fd = open(t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (t->fd < 0)
                return -errno;
        return 0;
}

static int mkdir_parents_at(int dirfd, const char *relpath, bool include_last)
{
        char buf[PATH_MAX];
        size_t n = strlen(relpath);

        if (n >= sizeof(buf))
                return -ENAMETOOLONG;
        memcpy(buf, relpath, n + 1);
        for (char *p = buf; (p = strchr(p, '/')); p++) {
                *p = 0;
                if (*buf && mkdirat(dirfd, buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (include_last && *buf && mkdirat(dirfd, buf, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int fake_tree_write(FakeTree *t, const char *relpath, const char *content)
{
        _cleanup_close_ int fd = -EBADF;
        size_t len = strlen(content);
        int r = mkdir_parents_at(t->fd, relpath, false);

        if (r < 0)
                return r;
        fd = openat(t->fd, relpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        if (write(fd, content, len) != (ssize_t)len)
                return -EIO;
        return 0;
}

int fake_tree_read(FakeTree *t, const char *relpath, char *buf, size_t size)
{
        ssize_t n = read_virtual_at(t->fd, relpath, buf, size);
        return n < 0 ? (int)n : (int)n;
}

int fake_tree_cgroup(FakeTree *t, const char *relpath, const char *controllers)
{
        static const struct {
                const char *controller, *name, *content;
        } files[] = {
                { NULL, "cgroup.subtree_control", "" },
                { NULL, "cgroup.procs", "" },
                { NULL, "cgroup.events", "populated 0\nfrozen 0\n" },
                { NULL, "cgroup.kill", "" },
                { NULL, "cgroup.type", "domain\n" },
                { "memory", "memory.current", "0\n" },
                { "memory", "memory.max", "max\n" },
                { "memory", "memory.high", "max\n" },
                { "memory", "memory.peak", "0\n" },
                { "memory", "memory.swap.max", "max\n" },
                { "memory", "memory.oom.group", "0\n" },
                { "memory", "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n" },
                { "memory", "memory.events.local",
                        "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n" },
                { "memory", "memory.stat",
                        "anon 0\nfile 0\ninactive_file 0\nactive_file 0\nfile_dirty 0\nshmem 0\n" },
                { "memory", "memory.pressure",
                        "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
                        "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n" },
                { "pids", "pids.max", "max\n" },
                { "pids", "pids.current", "0\n" },
        };
        bool root = isempty(relpath);
        char name[PATH_MAX];
        int r;

        r = mkdir_parents_at(t->fd, relpath, true);
        if (r < 0)
                return r;
        snprintf(name, sizeof(name), "%s%scgroup.controllers", relpath, root ? "" : "/");
        r = fake_tree_write(t, name, controllers);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                if (files[i].controller && (root || !strstr(controllers, files[i].controller)))
                        continue;
                snprintf(name, sizeof(name), "%s%s%s", relpath, root ? "" : "/", files[i].name);
                r = fake_tree_write(t, name, files[i].content);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path) < 0 ? -1 : 0;
}

void fake_tree_free(FakeTree *t)
{
        t->fd = safe_close(t->fd);
        if (t->path[0])
                (void)nftw(t->path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        t->path[0] = 0;
}
