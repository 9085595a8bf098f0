/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "tests/helpers/spawn-util.h"
#include "tests/tap.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

char *helper_path(const char *name, char *buf, size_t size)
{
        const char *top = getenv("top_builddir");

        snprintf(buf, size, "%s/tests/helpers/%s", top ? top : ".", name);
        return buf;
}

int run_capture(const SpawnParams *p, SpawnMethod method, char *buf, size_t size, SpawnResult *ret_res,
        siginfo_t *ret_info)
{
        SpawnParams q = *p;
        int fds[2], r;
        size_t len = 0;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        q.stdout_fd = fds[1];
        if (q.stderr_fd < 0)
                q.stderr_fd = fds[1];
        r = spawn_process(&q, method, ret_res);
        safe_close(fds[1]);
        for (;;) {
                ssize_t n = read(fds[0], buf + len, size - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t)n;
                if (len == size - 1)
                        break;
        }
        buf[len] = 0;
        safe_close(fds[0]);
        if (r < 0)
                return r;
        r = spawn_wait(ret_res, ret_info);
        return r;
}

static bool is_cgroup2(const char *path)
{
        struct statfs sfs;

        return statfs(path, &sfs) == 0 && (unsigned long)sfs.f_type == CGROUP2_SUPER_MAGIC;
}

/* Our own cgroup2 path, from the "0::" line of /proc/self/cgroup. */
static int own_cgroup(char *buf, size_t size)
{
        char text[4096], *line;

        if (read_virtual_at(AT_FDCWD, "/proc/self/cgroup", text, sizeof(text)) < 0)
                return -EIO;
        line = strstr(text, "0::");
        if (!line || (line != text && line[-1] != '\n'))
                return -ENOENT;
        line += 3;
        line[strcspn(line, "\n")] = 0;
        if ((size_t)snprintf(buf, size, "%s", streq(line, "/") ? "" : line) >= size)
                return -ENAMETOOLONG;
        return 0;
}

int test_cgroup_new(TestCgroup *cg, const char *suffix)
{
        const char *mount = NULL;
        char own[PATH_MAX / 2];

        *cg = (TestCgroup){ .fd = -EBADF };
        if (is_cgroup2("/sys/fs/cgroup/unified"))
                mount = "/sys/fs/cgroup/unified";
        else if (is_cgroup2("/sys/fs/cgroup"))
                mount = "/sys/fs/cgroup";
        if (!mount)
                return tap_skip("no cgroup2 hierarchy mounted at /sys/fs/cgroup or /sys/fs/cgroup/unified");
        if (own_cgroup(own, sizeof(own)) < 0)
                return tap_skip("cannot find our cgroup2 path in /proc/self/cgroup");

        if ((size_t)snprintf(cg->rel, sizeof(cg->rel), "%s/memgov-test-%d-%s", own, (int)getpid(), suffix) >=
                        sizeof(cg->rel) ||
                (size_t)snprintf(cg->path, sizeof(cg->path), "%s%s", mount, cg->rel) >= sizeof(cg->path))
                return tap_skip("cgroup path too long");
        if (mkdir(cg->path, 0755) < 0)
                return tap_skip("cannot create %s: %s", cg->path, strerror(errno));
        cg->fd = open(cg->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cg->fd < 0) {
                int r = errno;
                (void)rmdir(cg->path);
                return tap_skip("cannot open %s: %s", cg->path, strerror(r));
        }
        return 0;
}

void test_cgroup_remove(TestCgroup *cg)
{
        char events[256];

        if (cg->fd < 0)
                return;
        (void)write_string_at(cg->fd, "cgroup.kill", "1");
        for (int i = 0; i < 2000; i++) {
                if (read_virtual_at(cg->fd, "cgroup.events", events, sizeof(events)) < 0 ||
                        strstr(events, "populated 0"))
                        break;
                usleep(1000);
        }
        cg->fd = safe_close(cg->fd);
        for (int i = 0; i < 1000; i++) {
                if (rmdir(cg->path) == 0 || errno != EBUSY)
                        break;
                usleep(1000);
        }
}

const char *status_field(const char *text, const char *key, char *buf, size_t size)
{
        size_t klen = strlen(key), n = 0;
        const char *p = text;

        for (;;) {
                p = strstr(p, key);
                if (!p)
                        return NULL;
                if ((p == text || p[-1] == '\n') && p[klen] == ':')
                        break;
                p += klen;
        }
        p += klen + 1;
        while (*p == ' ' || *p == '\t')
                p++;
        /* Squeeze runs of blanks so callers compare against "65534 65534 65534 65534". */
        for (; *p && *p != '\n' && n + 1 < size; p++) {
                if (*p == ' ' || *p == '\t') {
                        if (n > 0 && buf[n - 1] != ' ')
                                buf[n++] = ' ';
                } else
                        buf[n++] = *p;
        }
        while (n > 0 && buf[n - 1] == ' ')
                n--;
        buf[n] = 0;
        return buf;
}
