/* SPDX-License-Identifier: MIT */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "governor/estimate.h"
#include "governor/psi.h"
#include "governor/sampler.h"
#include "runner/scheduler-internal.h"

enum { TAG_SUPERVISOR, TAG_TIMER, TAG_TRIGGER };

static int open_dir_for_stages(
        Scheduler *s, const char *path, mode_t mode, int *ret_fd, char *err, size_t errlen)
{
        int fd;

        if (mkdir(path, mode) < 0 && errno != EEXIST) {
                snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
                return -errno;
        }
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
                return -errno;
        }
        /* Stages run as the [sandbox] user and write here; nothing else of the state dir. */
        if (s->rt.drop_privileges && fchown(fd, s->rt.uid, s->rt.gid) < 0) {
                int r = -errno;
                snprintf(err, errlen, "cannot hand %s to the stage user: %s", path, strerror(-r));
                safe_close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

/* The stages read the policy as the stage user, who may not read the operator's file: they get
 * the effective values, without anything they do not need to see. */
static int write_stage_policy(Scheduler *s, char *err, size_t errlen)
{
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        int r;

        if (!f)
                return -ENOMEM;
        r = policy_print(s->policy, f);
        fclose(f);
        if (r >= 0)
                r = write_atomic_at(s->state_fd, "stage-policy.ini", text, len, 0640);
        free(text);
        if (r >= 0 && s->rt.drop_privileges &&
                fchownat(s->state_fd, "stage-policy.ini", 0, s->rt.gid, 0) < 0)
                r = -errno;
        if (r < 0)
                snprintf(err, errlen, "cannot write %s/stage-policy.ini: %s", s->policy->paths.state_dir,
                        strerror(-r));
        return r;
}

/* What stages of a previous instance left when they died with it: work folders, and the
 * temporary files of an atomic write that never reached its rename (".#name.pid.n"). Nobody
 * owns them any more: the lock is ours and those stages are gone. Partial downloads (.part)
 * stay, to be resumed. */
static void remove_stale_files(int dirfd)
{
        _cleanup_close_ int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

        if (!d)
                return;
        fd = -EBADF;
        for (struct dirent *de; (de = readdir(d));) {
                size_t n = strlen(de->d_name);
                if (strneq(de->d_name, ".#", 2)) {
                        (void)unlinkat(dirfd, de->d_name, 0);
                        continue;
                }
                if (n < 6 || !streq(de->d_name + n - 5, ".work") || de->d_name[0] == '.')
                        continue;
                (void)rm_tree_at(dirfd, de->d_name);
        }
        closedir(d);
}

static int epoll_add(Scheduler *s, int fd, uint32_t events, uint32_t tag)
{
        struct epoll_event ev = { .events = events, .data.u32 = tag };

        return epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void load_estimates(Scheduler *s)
{
        gov_estimates_init(&s->estimates, s->policy);
        for (GovStageKind k = 0; k < _GOV_STAGE_KIND_MAX; k++) {
                EstimateSample samples[GOV_ESTIMATE_RING];
                size_t n = 0;
                if (ledger_estimate_load(
                            s->ledger, gov_stage_kind_to_string(k), samples, ELEMENTSOF(samples), &n) < 0)
                        continue;
                /* Oldest first, so the ring ends with the newest. */
                for (size_t i = n; i > 0; i--)
                        (void)gov_estimator_add(&s->estimates.kinds[k], samples[i - 1].peak_bytes,
                                samples[i - 1].input_bytes);
        }
}

int scheduler_new(
        const Policy *p, Ledger *l, const SchedulerOptions *o, Scheduler **ret, char *err, size_t errlen)
{
        Scheduler *s = calloc(1, sizeof(*s));
        RuntimeOptions ro = { .spawn = o->spawn, .reap_leftovers = true, .done = scheduler_on_stage_done };
        struct itimerspec its;
        bool cgroup_mode;
        int r;

        if (!s)
                return -ENOMEM;
        s->policy = p;
        s->ledger = l;
        s->opts = *o;
        s->epoll_fd = s->timer_fd = s->state_fd = s->spool_fd = s->out_fd = s->work_fd = -EBADF;
        s->trigger.fd = -EBADF;
        s->sampler = GOV_SAMPLER_NULL;
        s->admitting = true;
        ro.userdata = s;
        s->rt.supervisor = NULL;
        r = runtime_open(p, &ro, &s->rt, err, errlen);
        if (r < 0) {
                free(s);
                return r;
        }
        s->rt_open = true;

        s->state_fd = open(p->paths.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->state_fd < 0) {
                r = -errno;
                snprintf(
                        err, errlen, "cannot open state directory %s: %s", p->paths.state_dir, strerror(-r));
                goto fail;
        }
        /* The stage user's group may enter the state directory (to reach the spool and the stage
         * policy) but not read it: the ledger and the run logs stay the daemon's. */
        if (s->rt.drop_privileges &&
                (fchown(s->state_fd, (uid_t)-1, s->rt.gid) < 0 || fchmod(s->state_fd, 0710) < 0)) {
                r = -errno;
                snprintf(err, errlen, "cannot let the stage user into %s: %s", p->paths.state_dir,
                        strerror(-r));
                goto fail;
        }
        if ((r = open_dir_for_stages(s, p->paths.spool_dir, 0750, &s->spool_fd, err, errlen)) < 0 ||
                (r = open_dir_for_stages(s, p->paths.output_dir, 0755, &s->out_fd, err, errlen)) < 0)
                goto fail;
        if (mkdirat(s->state_fd, "runs", 0750) < 0 && errno != EEXIST) {
                r = -errno;
                snprintf(err, errlen, "cannot create %s/runs: %s", p->paths.state_dir, strerror(-r));
                goto fail;
        }
        r = write_stage_policy(s, err, errlen);
        if (r < 0)
                goto fail;
        remove_stale_files(s->spool_fd);
        remove_stale_files(s->out_fd);
        r = ledger_recover(l, now_usec(CLOCK_REALTIME), p, &s->recovery);
        if (r < 0) {
                snprintf(err, errlen, "ledger recovery failed: %s", ledger_error(l));
                goto fail;
        }
        load_estimates(s);

        s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (s->epoll_fd < 0 || s->timer_fd < 0) {
                r = -errno;
                snprintf(err, errlen, "epoll/timerfd: %s", strerror(-r));
                goto fail;
        }
        its = (struct itimerspec){ .it_value = usec_to_timespec(1),
                .it_interval = usec_to_timespec(p->pressure.sample_interval_usec) };
        if (timerfd_settime(s->timer_fd, 0, &its, NULL) < 0 ||
                epoll_add(s, s->timer_fd, EPOLLIN, TAG_TIMER) < 0 ||
                epoll_add(s, supervisor_fd(s->rt.supervisor), EPOLLIN, TAG_SUPERVISOR) < 0) {
                r = -errno;
                snprintf(err, errlen, "epoll: %s", strerror(-r));
                goto fail;
        }
        /* Readings: memory of the jobs cgroup and pressure of the service cgroup in cgroup mode
         * (DESIGN.md); in watchdog mode only PSI (usage is the stages' sampled RSS). */
        cgroup_mode = s->rt.discovery.mode == GOV_MODE_CGROUP;
        r = gov_sampler_open(&s->sampler, cgroup_mode ? s->rt.layout.jobs_fd : -EBADF,
                cgroup_mode ? s->rt.layout.service_fd : -EBADF, s->rt.proc_fd);
        if (r < 0) {
                snprintf(err, errlen, "cannot open memory readings: %s", strerror(-r));
                goto fail;
        }
        /* A trigger on the same pressure source; without one, avg10 polling still works. */
        if (s->sampler.pressure_fd >= 0) {
                int dir = s->sampler.pressure_is_system ? s->rt.proc_fd : s->rt.layout.service_fd;
                if (psi_trigger_open(dir,
                            s->sampler.pressure_is_system ? "pressure/memory" : "memory.pressure",
                            &p->pressure.trigger, &s->trigger) >= 0)
                        (void)epoll_add(s, s->trigger.fd, EPOLLPRI, TAG_TRIGGER);
                else
                        s->trigger.fd = -EBADF;
        }
        gov_state_init(&s->gov, p, now_usec(CLOCK_MONOTONIC));
        *ret = s;
        return 0;
fail:
        scheduler_free(s);
        return r;
}

Scheduler *scheduler_free(Scheduler *s)
{
        if (!s)
                return NULL;
        for (SchedRun *run = s->runs; run;) {
                SchedRun *next = run->next;
                sched_run_free(run);
                run = next;
        }
        if (s->rt_open)
                runtime_close(&s->rt);
        gov_sampler_close(&s->sampler);
        safe_close(s->trigger.fd);
        safe_close(s->epoll_fd);
        safe_close(s->timer_fd);
        safe_close(s->state_fd);
        safe_close(s->spool_fd);
        safe_close(s->out_fd);
        safe_close(s->work_fd);
        free(s);
        return NULL;
}

const Runtime *scheduler_runtime(const Scheduler *s)
{
        return &s->rt;
}

const LedgerRecovery *scheduler_recovery(const Scheduler *s)
{
        return &s->recovery;
}

int scheduler_fd(const Scheduler *s)
{
        return s->epoll_fd;
}

size_t scheduler_running(const Scheduler *s)
{
        return s->n_runs;
}

void scheduler_stop_admitting(Scheduler *s)
{
        s->admitting = false;
}

int scheduler_set_policy(Scheduler *s, const Policy *p)
{
        const Policy *old = s->policy;
        char err[256];
        int r;

        /* The stages read the new values from the file: switch only once it is written. */
        s->policy = p;
        r = write_stage_policy(s, err, sizeof(err));
        if (r < 0)
                s->policy = old;
        return r;
}

/* One governor sample: readings, state update. */
static void sample(Scheduler *s, bool trigger_fired)
{
        GovSample g = {};
        GovReadings rd;
        uint64_t rss = 0;

        (void)gov_sampler_read(&s->sampler, &g);
        if (!g.have_memory)
                for (SchedRun *run = s->runs; run; run = run->next)
                        rss += stage_observed_bytes(run->stage);
        rd = (GovReadings){
                .budget_bytes = s->rt.budget_bytes,
                .current_bytes = g.have_memory ? g.current_bytes : rss,
                .hard_usage_bytes = g.have_memory ? g.hard_bytes : rss,
                .some_avg10_permyriad = g.have_psi ? g.psi.some.avg10 : 0,
                .full_avg10_permyriad = g.have_psi && g.psi.has_full ? g.psi.full.avg10 : 0,
                .trigger_fired = trigger_fired,
                .now_usec = now_usec(CLOCK_MONOTONIC),
        };
        s->readings = rd;
        s->peak_hard = MAX(s->peak_hard, rd.hard_usage_bytes);
        gov_state_update(&s->gov, s->policy, &rd);
}

int scheduler_dispatch(Scheduler *s, int timeout_ms)
{
        struct epoll_event evs[8];
        bool fired = false, tick = !s->sampled;
        int n, r;

        n = epoll_wait(s->epoll_fd, evs, (int)ELEMENTSOF(evs), timeout_ms);
        if (n < 0)
                return errno == EINTR ? 0 : -errno;
        for (int i = 0; i < n; i++) {
                uint32_t tag = evs[i].data.u32;
                if (tag == TAG_SUPERVISOR) {
                        r = supervisor_dispatch(s->rt.supervisor, 0);
                        if (r < 0)
                                return r;
                        /* A stage that ended has given its memory back: admit on a fresh reading,
                         * not on one up to sample_interval old that still counts it. Other
                         * supervisor events (watchdog-mode RSS timers) need no sample. */
                        tick = tick || s->stage_ended;
                        s->stage_ended = false;
                } else if (tag == TAG_TIMER) {
                        uint64_t x;
                        (void)read(s->timer_fd, &x, sizeof(x));
                        tick = true;
                } else if (tag == TAG_TRIGGER) {
                        if (psi_trigger_event(evs[i].events) == PSI_EVENT_FIRED) {
                                fired = true;
                                s->triggers++;
                        } else {
                                /* The source is gone: fall back to the averages. */
                                (void)epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, s->trigger.fd, NULL);
                                s->trigger.fd = safe_close(s->trigger.fd);
                        }
                }
        }
        if (s->fatal < 0)
                return s->fatal;
        if (tick || fired) {
                sample(s, fired);
                s->sampled = true;
        }
        return scheduler_admit(s);
}

bool scheduler_finished(Scheduler *s)
{
        uint64_t c[_EPISODE_STATE_MAX] = {};

        if (s->n_runs > 0)
                return false;
        if (ledger_count(s->ledger, c) < 0)
                return false;
        return c[EPISODE_QUEUED] + c[EPISODE_FETCHING] + c[EPISODE_FETCHED] + c[EPISODE_TRANSCRIBING] +
                c[EPISODE_RETRY_WAIT] ==
                0;
}

int scheduler_interrupt_all(Scheduler *s, usec_t timeout)
{
        s->admitting = false;
        for (SchedRun *run = s->runs; run; run = run->next)
                run->interrupted = true;
        return supervisor_cancel_all(s->rt.supervisor, timeout);
}

int scheduler_cancel(Scheduler *s, const char *id, char *err, size_t errlen)
{
        EpisodeEvent ev = { .type = EPISODE_EVENT_USER_CANCEL, .now = now_usec(CLOCK_REALTIME) };
        int r = ledger_apply(s->ledger, id, _EPISODE_STATE_INVALID, &ev, s->policy, NULL, NULL);

        if (r < 0) {
                snprintf(err, errlen, "%s: %s", id,
                        r == -ENOENT ? "no such episode" : ledger_error(s->ledger));
                return r;
        }
        /* The ledger says cancelled first, so the stage's end cannot requeue it. */
        for (SchedRun *run = s->runs; run; run = run->next)
                if (streq(run->id, id))
                        (void)supervisor_cancel(s->rt.supervisor, run->stage);
        return 0;
}

void scheduler_status(Scheduler *s, SchedulerStatus *ret)
{
        GovRunning running[SCHEDULER_STAGES_MAX];
        size_t n = 0;
        usec_t now = now_usec(CLOCK_MONOTONIC);

        *ret = (SchedulerStatus){
                .mode = s->rt.discovery.mode,
                .budget_bytes = s->rt.budget_bytes,
                .hard_usage_bytes = s->readings.hard_usage_bytes,
                .peak_hard_usage_bytes = s->peak_hard,
                .some_avg10 = s->readings.some_avg10_permyriad,
                .full_avg10 = s->readings.full_avg10_permyriad,
                .triggers = s->triggers,
                .stages_started = s->stages_started,
                .admitting = s->admitting,
        };
        memcpy(ret->results, s->results, sizeof(s->results));
        memcpy(ret->started_class, s->started_class, sizeof(s->started_class));
        memcpy(ret->peak_stage_bytes, s->peak_stage_bytes, sizeof(s->peak_stage_bytes));
        memcpy(ret->peak_stage_limit, s->peak_stage_limit, sizeof(s->peak_stage_limit));
        memcpy(ret->room_kept, s->room_kept, sizeof(s->room_kept));
        for (SchedRun *run = s->runs; run && n < SCHEDULER_STAGES_MAX; run = run->next, n++) {
                SchedulerStage *st = &ret->stages[n];
                struct stat sb;
                snprintf(st->id, sizeof(st->id), "%s", run->id);
                snprintf(st->stage, sizeof(st->stage), "%s", state_stage_to_string(run->stage_kind));
                st->attempt = run->attempt;
                st->elapsed_usec = now - run->started;
                st->memory_bytes = stage_observed_bytes(run->stage);
                st->limit_bytes = run->limit;
                st->total_bytes = run->input_bytes;
                if (run->stage_kind == EPISODE_STAGE_FETCH &&
                        fstatat(s->spool_fd, run->part_name, &sb, 0) == 0)
                        st->progress_bytes = (uint64_t)sb.st_size;
                running[n] = (GovRunning){ .cls = run->cls,
                        .estimate_bytes = run->reservation,
                        .observed_bytes = st->memory_bytes };
        }
        ret->n_stages = n;
        (void)gov_tokens(&s->gov, s->policy, &s->readings, running, n, NULL, &ret->tokens);
        (void)ledger_count(s->ledger, ret->counts);
}
