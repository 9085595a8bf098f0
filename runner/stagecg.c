/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "runner/manifest.h"
#include "runner/stagecg.h"

uint64_t stage_high_for(uint64_t max_bytes)
{
        uint64_t gap = MAX(max_bytes / 8, 1ULL << 20);

        return max_bytes > gap ? max_bytes - gap : max_bytes;
}

int stage_cgroup_name(const char *id, const char *stage, unsigned attempt, char *buf, size_t size)
{
        int n;

        if (!episode_id_valid(id) || isempty(stage) || strpbrk(stage, "/.") || strlen(stage) > 32)
                return -EINVAL;
        n = snprintf(buf, size, "%s.%s.%u", id, stage, attempt);
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int write_u64_at(int dirfd, const char *name, uint64_t v)
{
        char buf[DECIMAL_STR_MAX(uint64_t)];

        snprintf(buf, sizeof(buf), "%" PRIu64, v);
        return write_string_at(dirfd, name, buf);
}

int stage_cg_set_limits(int fd, const StageLimits *lim, char *err, size_t errlen)
{
        const char *file;
        int r;

        /* memory.high before memory.max would be fine too, but max first means no instant
         * where the stage could exceed its hard limit. */
        file = "memory.max";
        r = write_u64_at(fd, file, lim->max_bytes);
        if (r < 0)
                goto fail;
        file = "memory.high";
        r = write_u64_at(fd, file, lim->high_bytes ? lim->high_bytes : stage_high_for(lim->max_bytes));
        if (r < 0)
                goto fail;
        file = "memory.swap.max";
        r = write_string_at(fd, file, lim->swap ? "max" : "0");
        if (r < 0 && r != -ENOENT) /* no swap accounting: nothing to cap */
                goto fail;
        file = "memory.oom.group";
        r = write_string_at(fd, file, "1");
        if (r < 0)
                goto fail;
        file = "pids.max";
        r = write_u64_at(fd, file, lim->pids_max);
        if (r < 0)
                goto fail;
        return 0;
fail:
        snprintf(err, errlen, "cannot write %s: %s", file, strerror(-r));
        return r;
}

int stage_cg_create(
        int jobs_fd, const char *name, const StageLimits *lim, StageCgroup *ret, char *err, size_t errlen)
{
        StageCgroup cg = STAGE_CGROUP_NULL;
        int r;

        if (strlen(name) >= sizeof(cg.name) || strchr(name, '/') || name[0] == '.')
                return -EINVAL;
        if (mkdirat(jobs_fd, name, 0755) < 0) {
                r = -errno;
                snprintf(err, errlen, "cannot create cgroup jobs/%s: %s", name, strerror(-r));
                return r;
        }
        strcpy(cg.name, name);
        cg.fd = openat(jobs_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cg.fd < 0) {
                r = -errno;
                snprintf(err, errlen, "cannot open cgroup jobs/%s: %s", name, strerror(-r));
                goto fail;
        }
        cg.events_fd = openat(cg.fd, "cgroup.events", O_RDONLY | O_CLOEXEC);
        if (cg.events_fd < 0) {
                r = -errno;
                snprintf(err, errlen, "cannot open jobs/%s/cgroup.events: %s", name, strerror(-r));
                goto fail;
        }
        r = stage_cg_set_limits(cg.fd, lim, err, errlen);
        if (r < 0)
                goto fail;
        *ret = cg;
        return 0;
fail:
        safe_close(cg.fd);
        safe_close(cg.events_fd);
        (void)unlinkat(jobs_fd, name, AT_REMOVEDIR);
        return r;
}

int stage_cg_populated(StageCgroup *cg)
{
        char buf[128];
        bool populated;
        ssize_t n = read_virtual_fd(cg->events_fd, buf, sizeof(buf));
        int r;

        if (n < 0)
                return (int)n;
        r = cg_parse_events(buf, &populated, NULL);
        return r < 0 ? r : populated;
}

int stage_cg_kill_and_wait(StageCgroup *cg, usec_t timeout)
{
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + timeout;
        int r;

        r = stage_cg_populated(cg);
        if (r <= 0)
                return r;
        r = write_string_at(cg->fd, "cgroup.kill", "1");
        if (r < 0)
                return r;
        for (;;) {
                struct pollfd p = { .fd = cg->events_fd, .events = POLLPRI };
                usec_t now;

                /* Reading first re-arms the notification; then wait for the next change. */
                r = stage_cg_populated(cg);
                if (r <= 0)
                        return r;
                now = now_usec(CLOCK_MONOTONIC);
                if (now >= deadline)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int)MIN((deadline - now) / USEC_PER_MSEC + 1, 1000U));
                if (r < 0 && errno != EINTR)
                        return -errno;
        }
}

int stage_cg_usage(StageCgroup *cg, StageUsage *ret)
{
        char buf[512];
        StageUsage u = {};
        ssize_t n;
        int r;

        n = read_virtual_at(cg->fd, "memory.peak", buf, sizeof(buf));
        if (n >= 0) {
                r = mem_parse_value(buf, &u.peak_bytes);
                if (r < 0)
                        return r;
        } else if (n != -ENOENT)
                return (int)n;
        n = read_virtual_at(cg->fd, "memory.events.local", buf, sizeof(buf));
        if (n < 0)
                return (int)n;
        r = mem_parse_events(buf, &u.events);
        if (r < 0)
                return r;
        *ret = u;
        return 0;
}

int stage_cg_destroy(int jobs_fd, StageCgroup *cg)
{
        struct stat st;
        int r = 0;

        cg->fd = safe_close(cg->fd);
        cg->events_fd = safe_close(cg->events_fd);
        if (!cg->name[0])
                return 0;
        if (unlinkat(jobs_fd, cg->name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                r = -errno;
        else if (fstatat(jobs_fd, cg->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                r = -EBUSY; /* still there: must not be mistaken for gone */
        if (r == 0)
                cg->name[0] = 0;
        return r;
}

int stage_cg_reap_leftovers(int jobs_fd, usec_t timeout_each, char *err, size_t errlen)
{
        _cleanup_close_ int dfd = fcntl(jobs_fd, F_DUPFD_CLOEXEC, 3);
        DIR *d;
        int count = 0, r = 0;

        if (dfd < 0)
                return -errno;
        d = fdopendir(dfd);
        if (!d)
                return -errno;
        dfd = -EBADF; /* owned by d now */
        for (struct dirent *de; (de = readdir(d));) {
                StageCgroup cg = STAGE_CGROUP_NULL;
                if (de->d_type != DT_DIR || de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(cg.name))
                        continue;
                strcpy(cg.name, de->d_name);
                cg.fd = openat(jobs_fd, cg.name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (cg.fd >= 0)
                        cg.events_fd = openat(cg.fd, "cgroup.events", O_RDONLY | O_CLOEXEC);
                if (cg.fd < 0 || cg.events_fd < 0) {
                        r = -errno;
                        snprintf(err, errlen, "cannot open leftover cgroup jobs/%s: %s", cg.name,
                                strerror(-r));
                        safe_close(cg.fd);
                        break;
                }
                r = stage_cg_kill_and_wait(&cg, timeout_each);
                if (r >= 0)
                        r = stage_cg_destroy(jobs_fd, &cg);
                else
                        stage_cg_destroy(jobs_fd, &cg);
                if (r < 0) {
                        snprintf(err, errlen, "cannot remove leftover cgroup jobs/%s: %s", de->d_name,
                                strerror(-r));
                        break;
                }
                count++;
        }
        closedir(d);
        return r < 0 ? r : count;
}
