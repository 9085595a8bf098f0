/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "governor/layout.h"
#include "governor/memstat.h"

void gov_layout_close(GovLayout *l)
{
        l->service_fd = safe_close(l->service_fd);
        l->supervisor_fd = safe_close(l->supervisor_fd);
        l->jobs_fd = safe_close(l->jobs_fd);
}

static int open_child(int dirfd, const char *name, char *err, size_t errlen)
{
        int fd;

        if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST) {
                int r = -errno;
                snprintf(err, errlen, "cannot create cgroup %s/: %s%s", name, strerror(-r),
                        r == -EACCES || r == -EPERM ? " (is the service cgroup delegated? Delegate=yes)"
                                                    : "");
                return r;
        }
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                snprintf(err, errlen, "cannot open cgroup %s/: %s", name, strerror(-r));
                return r;
        }
        return fd;
}

/* One write enables both, as the kernel applies it as a unit; on failure the controllers file
 * tells which one the parent does not pass down. */
static int enable_controllers(int dirfd, const char *where, char *err, size_t errlen)
{
        char ctrls[256] = "";
        int r = write_string_at(dirfd, "cgroup.subtree_control", "+memory +pids");

        if (r >= 0)
                return 0;
        if (r == -EBUSY)
                snprintf(err, errlen,
                        "cannot enable memory and pids in %scgroup.subtree_control: the cgroup still has processes of its "
                        "own; with Delegate=yes every process of the service must move into a child cgroup",
                        where);
        else if (r == -ENOENT) {
                ssize_t n = read_virtual_at(dirfd, "cgroup.controllers", ctrls, sizeof(ctrls));
                if (n < 0)
                        ctrls[0] = 0;
                ctrls[strcspn(ctrls, "\n")] = 0;
                snprintf(err, errlen,
                        "cannot enable %s in %scgroup.subtree_control: not offered by the parent (cgroup.controllers: %s)",
                        !strstr(ctrls, "memory") ? "memory" : "pids", where, ctrls[0] ? ctrls : "none");
        } else
                snprintf(err, errlen, "cannot enable memory and pids in %scgroup.subtree_control: %s", where,
                        strerror(-r));
        return r;
}

int gov_layout_setup(int service_fd, pid_t pid, uint64_t budget_bytes, bool swap, GovLayout *ret, char *err,
        size_t errlen)
{
        GovLayout l = GOV_LAYOUT_NULL;
        char buf[DECIMAL_STR_MAX(uint64_t)];
        int r;

        l.service_fd = fcntl(service_fd, F_DUPFD_CLOEXEC, 3);
        if (l.service_fd < 0)
                return -errno;
        r = l.supervisor_fd = open_child(service_fd, "supervisor", err, errlen);
        if (r < 0)
                goto fail;
        snprintf(buf, sizeof(buf), "%d", (int)pid);
        r = write_string_at(l.supervisor_fd, "cgroup.procs", buf);
        if (r < 0) {
                snprintf(err, errlen, "cannot move pid %d into supervisor/cgroup.procs: %s%s", (int)pid,
                        strerror(-r),
                        r == -EACCES
                                ? " (the service cgroup's cgroup.procs must be writable too: Delegate=yes)"
                                : "");
                goto fail;
        }
        r = enable_controllers(service_fd, "the service cgroup's ", err, errlen);
        if (r < 0)
                goto fail;
        r = l.jobs_fd = open_child(service_fd, "jobs", err, errlen);
        if (r < 0)
                goto fail;
        r = enable_controllers(l.jobs_fd, "jobs/", err, errlen);
        if (r < 0)
                goto fail;
        snprintf(buf, sizeof(buf), "%" PRIu64, budget_bytes);
        r = write_string_at(l.jobs_fd, "memory.max", buf);
        if (r < 0) {
                snprintf(err, errlen, "cannot write %s to jobs/memory.max: %s", buf, strerror(-r));
                goto fail;
        }
        /* No swap accounting (swapaccount=0 or no swap support): nothing to limit. */
        r = write_string_at(l.jobs_fd, "memory.swap.max", swap ? "max" : "0");
        if (r < 0 && r != -ENOENT) {
                snprintf(err, errlen, "cannot write jobs/memory.swap.max: %s", strerror(-r));
                goto fail;
        }
        *ret = l;
        return 0;
fail:
        gov_layout_close(&l);
        return r;
}

uint64_t gov_budget_auto(uint64_t service_max_bytes, uint64_t mem_total_bytes, uint64_t reserve_bytes)
{
        uint64_t base = service_max_bytes == MEM_MAX
                ? mem_total_bytes
                : MIN(service_max_bytes, mem_total_bytes ? mem_total_bytes : service_max_bytes);

        return base > reserve_bytes ? base - reserve_bytes : 0;
}

int gov_parse_meminfo_total(const char *text, uint64_t *ret)
{
        const char *p = strstr(text, "MemTotal:");
        unsigned long long kib;

        if (!p || (p != text && p[-1] != '\n'))
                return -EINVAL;
        if (sscanf(p, "MemTotal: %llu kB", &kib) != 1)
                return -EINVAL;
        *ret = (uint64_t)kib * 1024;
        return 0;
}
