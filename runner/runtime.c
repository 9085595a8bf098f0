/* SPDX-License-Identifier: MIT */
#include <fcntl.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "governor/memstat.h"
#include "runner/runtime.h"
#include "runner/seccomp.h"
#include "runner/stagecg.h"

void runtime_close(Runtime *rt)
{
        rt->supervisor = supervisor_free(rt->supervisor);
        gov_layout_close(&rt->layout);
        rt->proc_fd = safe_close(rt->proc_fd);
        rt->fs_fd = safe_close(rt->fs_fd);
        seccomp_filter_free(&rt->seccomp);
        free(rt->groups);
        rt->groups = NULL;
}

static int resolve_budget(Runtime *rt, const Policy *p, int service_fd, char *err, size_t errlen)
{
        char buf[4096];
        uint64_t service_max = MEM_MAX, mem_total = 0;

        if (p->memory.budget_bytes > 0) {
                rt->budget_bytes = p->memory.budget_bytes;
                return 0;
        }
        if (service_fd >= 0 && read_virtual_at(service_fd, "memory.max", buf, sizeof(buf)) > 0)
                (void)mem_parse_value(buf, &service_max);
        if (read_virtual_at(rt->proc_fd, "meminfo", buf, sizeof(buf)) < 0 ||
                gov_parse_meminfo_total(buf, &mem_total) < 0) {
                snprintf(err, errlen, "budget = auto: cannot read MemTotal from /proc/meminfo");
                return -EIO;
        }
        rt->budget_from_memtotal = service_max == MEM_MAX;
        rt->budget_bytes = gov_budget_auto(service_max, mem_total, p->memory.reserve_bytes);
        if (rt->budget_bytes <= p->memory.headroom_bytes) {
                snprintf(err, errlen,
                        "budget = auto leaves nothing: the service's memory (%s) minus reserve is below headroom; "
                        "set [memory] budget or raise MemoryMax=",
                        rt->budget_from_memtotal ? "MemTotal" : "memory.max");
                return -ERANGE;
        }
        return 0;
}

int runtime_open(const Policy *p, const RuntimeOptions *opts, Runtime *ret, char *err, size_t errlen)
{
        /* Filled in place: the supervisor keeps pointers into it (the seccomp program). */
        Runtime *rt = ret;
        SupervisorConfig cfg = {};
        _cleanup_close_ int service_fd = -EBADF;
        int r;

        *rt = (Runtime){ .layout = GOV_LAYOUT_NULL, .proc_fd = -EBADF, .fs_fd = -EBADF, .selftest_r = 1 };
        rt->proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        rt->fs_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rt->proc_fd < 0 || rt->fs_fd < 0) {
                r = -errno;
                snprintf(err, errlen, "cannot open /proc or /: %s", strerror(-r));
                goto fail;
        }
        r = gov_discover(rt->proc_fd, rt->fs_fd, p->memory.enforcement, &rt->discovery);
        if (r < 0) {
                if (r == -ENOTSUP && rt->discovery.n_problems > 0)
                        snprintf(err, errlen, "enforcement = cgroup is impossible here: %s; fix: %s",
                                rt->discovery.problems[0].what, rt->discovery.problems[0].fix);
                else
                        snprintf(err, errlen, "cannot inspect cgroups: %s", strerror(-r));
                goto fail;
        }
        if (rt->discovery.mode == GOV_MODE_CGROUP)
                service_fd = gov_open_service_cgroup(rt->fs_fd, &rt->discovery);
        r = resolve_budget(rt, p, service_fd, err, errlen);
        if (r < 0)
                goto fail;

        if (rt->discovery.mode == GOV_MODE_CGROUP) {
                if (service_fd < 0) {
                        r = service_fd;
                        snprintf(err, errlen, "cannot open the service cgroup %s: %s",
                                rt->discovery.service_cgroup, strerror(-r));
                        goto fail;
                }
                r = gov_layout_setup(
                        service_fd, getpid(), rt->budget_bytes, p->memory.swap, &rt->layout, err, errlen);
                if (r < 0)
                        goto fail;
                if (opts->reap_leftovers) {
                        r = stage_cg_reap_leftovers(rt->layout.jobs_fd, 10 * USEC_PER_SEC, err, errlen);
                        if (r < 0)
                                goto fail;
                        rt->leftovers_reaped = (unsigned)r;
                }
        }

        rt->spawn_method = opts->spawn;
        if (rt->discovery.mode == GOV_MODE_CGROUP && opts->spawn == SPAWN_METHOD_AUTO) {
                rt->selftest_r = spawn_clone3_selftest(rt->layout.jobs_fd, &rt->kill_then_clone_bug);
                rt->spawn_method = spawn_method_select(rt->selftest_r, rt->kill_then_clone_bug);
        }

        r = seccomp_filter_build(p->sandbox.seccomp, &rt->seccomp);
        if (r < 0) {
                snprintf(err, errlen, "cannot build the seccomp filter: %s", strerror(-r));
                goto fail;
        }
        /* Only root can change user; an unprivileged memgov runs stages as itself. */
        rt->drop_privileges = geteuid() == 0;
        if (rt->drop_privileges) {
                r = spawn_resolve_user(p->sandbox.user, &rt->uid, &rt->gid, &rt->groups, &rt->n_groups);
                if (r < 0) {
                        snprintf(err, errlen, "[sandbox] user '%s': %s", p->sandbox.user,
                                r == -ESRCH || r == -ENOENT
                                        ? "no such user (create it, e.g. useradd --system memgov)"
                                        : strerror(-r));
                        goto fail;
                }
        }

        cfg = (SupervisorConfig){
                .mode = rt->discovery.mode == GOV_MODE_CGROUP ? SUPERVISOR_CGROUP : SUPERVISOR_WATCHDOG,
                .jobs_fd = rt->layout.jobs_fd,
                .proc_fd = rt->proc_fd,
                .spawn_method = rt->spawn_method,
                .seccomp = rt->seccomp.len ? &rt->seccomp : NULL,
                .drop_privileges = rt->drop_privileges,
                .uid = rt->uid,
                .gid = rt->gid,
                .groups = rt->groups,
                .n_groups = rt->n_groups,
                .nofile = p->sandbox.nofile,
                .pids_max = p->sandbox.pids_max,
                .swap = p->memory.swap,
                .watchdog_interval_usec = p->daemon.watchdog_interval_usec,
                .done = opts->done,
                .userdata = opts->userdata,
        };
        r = supervisor_new(&cfg, &rt->supervisor);
        if (r < 0) {
                snprintf(err, errlen, "cannot set up the stage supervisor: %s", strerror(-r));
                goto fail;
        }
        return 0;
fail:
        runtime_close(rt);
        return r;
}
