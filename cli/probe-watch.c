/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <poll.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/probe.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/parse.h"
#include "governor/psi.h"
#include "governor/sampler.h"
#include "governor/tokens.h"

/* The cgroup whose usage governs admission: jobs/ once memgov has laid it out, else the service
 * cgroup itself (what a container's namespaced "/" offers in watchdog mode). */
static int open_watched(int fs_fd, const GovDiscovery *d)
{
        _cleanup_close_ int svc = gov_open_service_cgroup(fs_fd, d);
        int fd;

        if (svc < 0)
                return svc;
        fd = openat(svc, "jobs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd >= 0 ? fd : TAKE_FD(svc);
}

static void print_line(
        const Policy *p, const GovSample *g, const GovTokens *t, unsigned triggers, usec_t elapsed)
{
        char clock[16], hard[32], cache[32], budget[32], line[512];
        time_t now = time(NULL);
        size_t off = 0;

        strftime(clock, sizeof(clock), "%H:%M:%S", localtime(&now));
        off += (size_t)snprintf(line + off, sizeof(line) - off, "%s +%llu.%03llus budget %s", clock,
                (unsigned long long)(elapsed / USEC_PER_SEC),
                (unsigned long long)(elapsed % USEC_PER_SEC / 1000),
                format_size_human(budget, sizeof(budget), t->usable_bytes + p->memory.headroom_bytes));
        if (g->have_memory)
                off += (size_t)snprintf(line + off, sizeof(line) - off, " hard %s cache %s",
                        format_size_human(hard, sizeof(hard), g->hard_bytes),
                        format_size_human(
                                cache, sizeof(cache), g->stat.active_file + g->stat.inactive_file));
        else
                off += (size_t)snprintf(line + off, sizeof(line) - off, " hard n/a");
        if (g->have_psi)
                off += (size_t)snprintf(line + off, sizeof(line) - off,
                        " | psi some %u.%02u%% full %u.%02u%%", g->psi.some.avg10 / 100,
                        g->psi.some.avg10 % 100, g->psi.full.avg10 / 100, g->psi.full.avg10 % 100);
        else
                off += (size_t)snprintf(line + off, sizeof(line) - off, " | psi n/a");
        off += (size_t)snprintf(line + off, sizeof(line) - off, " triggers %u | window %u/%u |", triggers,
                t->window, t->window_ceiling);
        for (JobClass c = 0; c < _JOB_CLASS_MAX && off < sizeof(line); c++) {
                const GovClassTokens *ct = &t->classes[c];
                if (ct->tokens > 0)
                        off += (size_t)snprintf(line + off, sizeof(line) - off, " %s %u",
                                job_class_to_string(c), ct->tokens);
                else
                        off += (size_t)snprintf(line + off, sizeof(line) - off, " %s 0 (%s)",
                                job_class_to_string(c), gov_reason_to_string(ct->reason));
        }
        printf("%s\n", line);
        fflush(stdout);
}

int probe_watch(const Policy *p, const GovDiscovery *d, int fs_fd, int proc_fd, uint64_t budget,
        usec_t interval, unsigned count)
{
        _cleanup_close_ int watched = open_watched(fs_fd, d), svc = gov_open_service_cgroup(fs_fd, d);
        int trig_dir;
        PsiTriggerFd trig = { .fd = -EBADF };
        GovSampler s;
        GovState st;
        unsigned triggers = 0;
        usec_t start;
        int r;

        /* Memory of jobs/, pressure of the service cgroup: what the daemon reads (DESIGN.md). */
        r = gov_sampler_open(&s, watched, svc, proc_fd);
        if (r < 0)
                return log_error_errno(r, "probe: cannot open the readings: %m");
        /* A trigger on the same source the averages come from, to show events as they happen. */
        trig_dir = s.pressure_is_system ? proc_fd : svc;
        if (trig_dir >= 0) {
                r = psi_trigger_open(trig_dir, s.pressure_is_system ? "pressure/memory" : "memory.pressure",
                        &p->pressure.trigger, &trig);
                if (r < 0)
                        log_warning_errno(r, "probe: no PSI trigger (%m); showing averages only");
                else if (trig.adjusted)
                        log_notice("probe: PSI trigger window widened to %llus (no CAP_SYS_RESOURCE)",
                                (unsigned long long)(trig.trigger.window_usec / USEC_PER_SEC));
        }
        printf("watching %s every %llums (Ctrl-C ends); tokens assume the policy's seed estimates and no running stages\n",
                d->mode == GOV_MODE_CGROUP ? "the jobs cgroup" : "this host (watchdog mode)",
                (unsigned long long)(interval / USEC_PER_MSEC));
        start = now_usec(CLOCK_MONOTONIC);
        gov_state_init(&st, p, start);
        for (unsigned n = 0; count == 0 || n < count; n++) {
                usec_t deadline = now_usec(CLOCK_MONOTONIC) + interval;
                bool fired = false;
                GovReadings rd;
                GovSample g;
                GovTokens t;

                /* Sleep until the interval ends, waking early for a trigger. */
                for (usec_t now; n > 0 && (now = now_usec(CLOCK_MONOTONIC)) < deadline;) {
                        struct pollfd pfd = { .fd = trig.fd, .events = POLLPRI };
                        int k = poll(
                                &pfd, trig.fd >= 0 ? 1 : 0, (int)((deadline - now) / USEC_PER_MSEC + 1));
                        if (k > 0 && psi_trigger_event(pfd.revents) == PSI_EVENT_FIRED) {
                                fired = true;
                                triggers++;
                                break;
                        }
                        if (k > 0)
                                trig.fd = safe_close(trig.fd); /* gone: keep polling averages */
                }
                r = gov_sampler_read(&s, &g);
                if (r < 0) {
                        gov_sampler_close(&s);
                        safe_close(trig.fd);
                        return log_error_errno(r, "probe: reading memory and pressure failed: %m");
                }
                rd = (GovReadings){
                        .budget_bytes = budget,
                        .current_bytes = g.current_bytes,
                        .hard_usage_bytes = g.hard_bytes,
                        .some_avg10_permyriad = g.have_psi ? g.psi.some.avg10 : 0,
                        .full_avg10_permyriad = g.have_psi ? g.psi.full.avg10 : 0,
                        .trigger_fired = fired,
                        .now_usec = now_usec(CLOCK_MONOTONIC),
                };
                gov_state_update(&st, p, &rd);
                r = gov_tokens(&st, p, &rd, NULL, 0, NULL, &t);
                if (r < 0)
                        break;
                print_line(p, &g, &t, triggers, rd.now_usec - start);
        }
        gov_sampler_close(&s);
        safe_close(trig.fd);
        return r < 0 ? r : 0;
}
