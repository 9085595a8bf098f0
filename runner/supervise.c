/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "governor/memstat.h"
#include "runner/procscan.h"
#include "runner/stagecg.h"
#include "runner/supervise.h"

typedef enum TagKind {
        TAG_PIDFD,
        TAG_TIMEOUT,
        TAG_WATCHDOG,
} TagKind;

typedef struct Tag {
        TagKind kind;
        Stage *stage; /* NULL for TAG_WATCHDOG */
} Tag;

struct Stage {
        Supervisor *sup;
        Stage *next;
        char name[192];
        StageCgroup cg;
        SpawnResult sp;
        int timer_fd;
        Tag pid_tag, timer_tag;
        uint64_t limit_bytes;
        usec_t started_usec;
        StageKillCause cause;
        ProcSet known;
        uint64_t last_rss_bytes;
        uint64_t peak_rss_bytes;
        void *userdata;
};

struct Supervisor {
        SupervisorConfig cfg;
        int epoll_fd;
        int watchdog_fd;
        Tag watchdog_tag;
        Stage *stages;
        size_t n_running;
        ProcSnapshot snap;
        uint64_t page_size;
};

int supervisor_new(const SupervisorConfig *cfg, Supervisor **ret)
{
        Supervisor *s = calloc(1, sizeof(*s));

        if (!s)
                return -ENOMEM;
        s->cfg = *cfg;
        s->watchdog_fd = -EBADF;
        s->page_size = (uint64_t)sysconf(_SC_PAGESIZE);
        s->watchdog_tag = (Tag){ .kind = TAG_WATCHDOG };
        s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (s->epoll_fd < 0)
                goto fail;
        if (cfg->mode == SUPERVISOR_WATCHDOG) {
                struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &s->watchdog_tag };
                /* Orphans of a stage come to us, not to init, so they can still be found. */
                if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
                        goto fail;
                s->watchdog_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
                if (s->watchdog_fd < 0 || epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->watchdog_fd, &ev) < 0)
                        goto fail;
        }
        *ret = s;
        return 0;
fail : {
        int r = -errno;
        supervisor_free(s);
        return r;
}
}

static void stage_free(Stage *st)
{
        if (!st)
                return;
        safe_close(st->timer_fd);
        spawn_result_done(&st->sp);
        safe_close(st->cg.fd);
        safe_close(st->cg.events_fd);
        proc_set_done(&st->known);
        free(st);
}

Supervisor *supervisor_free(Supervisor *s)
{
        if (!s)
                return NULL;
        while (s->stages) {
                Stage *st = s->stages;
                s->stages = st->next;
                stage_free(st);
        }
        safe_close(s->epoll_fd);
        safe_close(s->watchdog_fd);
        proc_snapshot_done(&s->snap);
        free(s);
        return NULL;
}

int supervisor_fd(const Supervisor *s)
{
        return s->epoll_fd;
}

size_t supervisor_running(const Supervisor *s)
{
        return s->n_running;
}

const char *stage_name(const Stage *st)
{
        return st->name;
}

pid_t stage_pid(const Stage *st)
{
        return st->sp.pid;
}

void *stage_userdata(const Stage *st)
{
        return st->userdata;
}

SpawnMethod stage_spawn_method(const Stage *st)
{
        return st->sp.method;
}

uint64_t stage_observed_bytes(Stage *st)
{
        char buf[64];
        uint64_t v;

        if (st->sup->cfg.mode == SUPERVISOR_WATCHDOG)
                return st->last_rss_bytes;
        if (read_virtual_at(st->cg.fd, "memory.current", buf, sizeof(buf)) < 0 ||
                mem_parse_value(buf, &v) < 0)
                return 0;
        return v;
}

static int arm_watchdog(Supervisor *s, bool on)
{
        usec_t i = s->cfg.watchdog_interval_usec ? s->cfg.watchdog_interval_usec : 100 * USEC_PER_MSEC;
        struct itimerspec its = {};

        if (on)
                its.it_value = its.it_interval = usec_to_timespec(i);
        return timerfd_settime(s->watchdog_fd, 0, &its, NULL) < 0 ? -errno : 0;
}

int supervisor_start(Supervisor *s, const StageSpec *spec, Stage **ret, char *err, size_t errlen)
{
        SpawnParams p = SPAWN_PARAMS_INIT;
        Stage *st;
        struct epoll_event ev = { .events = EPOLLIN };
        int r;

        if (!spec->argv || !spec->argv[0] || !spec->name || strlen(spec->name) >= sizeof(st->name))
                return -EINVAL;
        st = calloc(1, sizeof(*st));
        if (!st)
                return -ENOMEM;
        st->sup = s;
        st->cg = STAGE_CGROUP_NULL;
        st->sp.pidfd = -EBADF;
        st->timer_fd = -EBADF;
        st->limit_bytes = spec->limit_bytes;
        st->userdata = spec->userdata;
        strcpy(st->name, spec->name);

        if (s->cfg.mode == SUPERVISOR_CGROUP) {
                StageLimits lim = {
                        .max_bytes = spec->limit_bytes, .swap = s->cfg.swap, .pids_max = s->cfg.pids_max
                };
                r = stage_cg_create(s->cfg.jobs_fd, spec->name, &lim, &st->cg, err, errlen);
                if (r < 0)
                        goto fail;
        }
        p.path = spec->path;
        p.argv = spec->argv;
        p.envp = spec->envp;
        p.stdout_fd = spec->stdout_fd;
        p.stderr_fd = spec->stderr_fd;
        p.cgroup_fd = st->cg.fd;
        p.drop_privileges = s->cfg.drop_privileges;
        p.uid = s->cfg.uid;
        p.gid = s->cfg.gid;
        p.groups = s->cfg.groups;
        p.n_groups = s->cfg.n_groups;
        p.nofile = s->cfg.nofile;
        p.seccomp = s->cfg.seccomp;
        p.working_directory = spec->working_directory;
        /* A session of its own: one kill(-sid) reaches the tree in watchdog mode. */
        p.session = SPAWN_SESSION_NEW;
        p.kill_on_parent_death = s->cfg.mode == SUPERVISOR_WATCHDOG;
        st->started_usec = now_usec(CLOCK_MONOTONIC);
        r = spawn_process(&p, s->cfg.spawn_method, &st->sp);
        if (r < 0) {
                snprintf(err, errlen, "cannot start %s: %s", spec->argv[0],
                        st->sp.error_message[0] ? st->sp.error_message : strerror(-r));
                goto fail;
        }
        if (st->sp.pidfd < 0) {
                r = -EBADF;
                snprintf(err, errlen, "no pidfd for %s", spec->argv[0]);
                goto fail_kill;
        }
        st->pid_tag = (Tag){ .kind = TAG_PIDFD, .stage = st };
        ev.data.ptr = &st->pid_tag;
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, st->sp.pidfd, &ev) < 0) {
                r = -errno;
                snprintf(err, errlen, "epoll: %s", strerror(-r));
                goto fail_kill;
        }
        if (spec->timeout_usec > 0) {
                struct itimerspec its = { .it_value = usec_to_timespec(spec->timeout_usec) };
                st->timer_tag = (Tag){ .kind = TAG_TIMEOUT, .stage = st };
                ev.data.ptr = &st->timer_tag;
                st->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
                if (st->timer_fd < 0 || timerfd_settime(st->timer_fd, 0, &its, NULL) < 0 ||
                        epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, st->timer_fd, &ev) < 0) {
                        r = -errno;
                        snprintf(err, errlen, "stage timer: %s", strerror(-r));
                        goto fail_kill;
                }
        }
        if (s->cfg.mode == SUPERVISOR_WATCHDOG && s->n_running == 0) {
                r = arm_watchdog(s, true);
                if (r < 0) {
                        snprintf(err, errlen, "watchdog timer: %s", strerror(-r));
                        goto fail_kill;
                }
        }
        st->next = s->stages;
        s->stages = st;
        s->n_running++;
        if (ret)
                *ret = st;
        return 0;

fail_kill:
        (void)kill(st->sp.pid, SIGKILL);
        (void)spawn_wait(&st->sp, NULL);
fail:
        if (st->cg.name[0]) {
                (void)stage_cg_kill_and_wait(&st->cg, 5 * USEC_PER_SEC);
                (void)stage_cg_destroy(s->cfg.jobs_fd, &st->cg);
        }
        stage_free(st);
        return r;
}

static void kill_stage(Stage *st)
{
        if (st->sup->cfg.mode == SUPERVISOR_CGROUP) {
                /* cgroup.kill reaches every process, including ones that left the session. */
                if (write_string_at(st->cg.fd, "cgroup.kill", "1") < 0)
                        (void)kill(st->sp.pid, SIGKILL);
                return;
        }
        (void)kill(-st->sp.pid, SIGKILL);
        for (size_t i = 0; i < st->known.n; i++)
                (void)kill(st->known.pids[i], SIGKILL);
        (void)kill(st->sp.pid, SIGKILL);
}

int supervisor_cancel(Supervisor *s, Stage *st)
{
        if (st->cause == STAGE_KILL_NONE)
                st->cause = STAGE_KILL_CANCEL;
        kill_stage(st);
        return 0;
}

/* Adopted orphans (watchdog mode) are our children once their parent died: reap the zombies
 * among them so they do not pile up. Only pids that are no stage's main process: those are
 * reaped through their pidfd, which needs the zombie. */
static void reap_orphans(Supervisor *s)
{
        pid_t self = getpid();

        for (size_t i = 0; i < s->snap.n; i++) {
                const ProcEntry *e = &s->snap.entries[i];
                bool main = false;
                if (e->ppid != self || e->state != 'Z')
                        continue;
                for (Stage *st = s->stages; st; st = st->next)
                        main = main || st->sp.pid == e->pid;
                if (!main)
                        (void)waitpid(e->pid, NULL, WNOHANG);
        }
}

/* A child of ours that no running stage claims is an orphan of a finished stage that left its
 * session before it was ever sampled (a double-forking daemon): it must not outlive its stage.
 * Only watchdog mode needs this; in cgroup mode cgroup.kill reaches everything. */
static void kill_unclaimed_orphans(Supervisor *s, const Stage *finished)
{
        pid_t self = getpid();

        if (proc_snapshot(s->cfg.proc_fd, s->page_size, &s->snap) < 0)
                return;
        for (size_t i = 0; i < s->snap.n; i++) {
                const ProcEntry *e = &s->snap.entries[i];
                bool claimed = false;
                if (e->ppid != self || e->state == 'Z')
                        continue;
                for (Stage *st = s->stages; st && !claimed; st = st->next)
                        claimed = st != finished &&
                                (st->sp.pid == e->pid || e->sid == st->sp.pid || e->pgrp == st->sp.pid ||
                                        proc_set_contains(&st->known, e->pid));
                if (claimed)
                        continue;
                (void)kill(e->pid, SIGKILL);
                /* SIGKILL takes effect at once unless the process sleeps in the kernel. */
                for (int k = 0; k < 100 && waitpid(e->pid, NULL, WNOHANG) == 0; k++)
                        usleep(1000);
        }
}

static void watchdog_tick(Supervisor *s)
{
        uint64_t expirations;

        (void)read(s->watchdog_fd, &expirations, sizeof(expirations));
        if (proc_snapshot(s->cfg.proc_fd, s->page_size, &s->snap) < 0)
                return;
        for (Stage *st = s->stages; st; st = st->next) {
                size_t n;
                uint64_t rss = proc_stage_rss(&s->snap, st->sp.pid, &st->known, &n);
                st->last_rss_bytes = rss;
                st->peak_rss_bytes = MAX(st->peak_rss_bytes, rss == UINT64_MAX ? 0 : rss);
                if (rss > st->limit_bytes && st->cause == STAGE_KILL_NONE) {
                        st->cause = STAGE_KILL_WATCHDOG;
                        kill_stage(st);
                }
        }
        reap_orphans(s);
}

static int wait_status_from(const siginfo_t *si)
{
        if (si->si_code == CLD_EXITED)
                return (si->si_status & 0xff) << 8;
        return si->si_status & 0x7f;
}

static void finish_stage(Supervisor *s, Stage *st)
{
        siginfo_t si = {};
        struct rusage ru = {};
        StageUsage u = {};
        StageResult res;
        int status = 0;

        /* In watchdog mode the rest of the tree is killed while the main process is still an
         * unreaped zombie: its pid and process group cannot be reused by anyone yet. */
        if (s->cfg.mode == SUPERVISOR_WATCHDOG) {
                kill_stage(st);
                kill_unclaimed_orphans(s, st);
        }
        if (spawn_wait_rusage(&st->sp, &si, &ru) >= 0)
                status = wait_status_from(&si);
        else
                (void)waitpid(st->sp.pid, NULL, WNOHANG);
        if (st->timer_fd >= 0)
                st->timer_fd = safe_close(st->timer_fd);
        if (s->cfg.mode == SUPERVISOR_CGROUP) {
                /* Whatever the stage left running dies with it. */
                (void)stage_cg_kill_and_wait(&st->cg, 5 * USEC_PER_SEC);
                (void)stage_cg_usage(&st->cg, &u);
                (void)stage_cg_destroy(s->cfg.jobs_fd, &st->cg);
        } else
                /* The sampled peak, or the main process's own maxrss when it ended between
                 * samples (descendants it did not wait for are not in that figure). */
                u.peak_bytes = MAX(st->peak_rss_bytes, (uint64_t)ru.ru_maxrss * 1024);
        /* A fresh cgroup starts at zero, so the counter is the delta. */
        res = stage_attribute(status, u.events.oom_kill, st->cause);
        res.peak_bytes = u.peak_bytes;
        res.duration_usec = now_usec(CLOCK_MONOTONIC) - st->started_usec;

        for (Stage **pp = &s->stages; *pp; pp = &(*pp)->next)
                if (*pp == st) {
                        *pp = st->next;
                        break;
                }
        s->n_running--;
        if (s->cfg.mode == SUPERVISOR_WATCHDOG && s->n_running == 0)
                (void)arm_watchdog(s, false);
        if (s->cfg.done)
                s->cfg.done(st, &res, s->cfg.userdata);
        stage_free(st);
}

int supervisor_dispatch(Supervisor *s, int timeout_ms)
{
        struct epoll_event evs[16];
        int n = epoll_wait(s->epoll_fd, evs, (int)ELEMENTSOF(evs), timeout_ms);

        if (n < 0)
                return errno == EINTR ? 0 : -errno;
        /* Timers first, so a stage that times out and exits in the same round is "timeout". */
        for (int i = 0; i < n; i++) {
                Tag *t = evs[i].data.ptr;
                if (t->kind == TAG_WATCHDOG)
                        watchdog_tick(s);
                else if (t->kind == TAG_TIMEOUT) {
                        uint64_t x;
                        (void)read(t->stage->timer_fd, &x, sizeof(x));
                        if (t->stage->cause == STAGE_KILL_NONE)
                                t->stage->cause = STAGE_KILL_TIMEOUT;
                        kill_stage(t->stage);
                }
        }
        for (int i = 0; i < n; i++) {
                Tag *t = evs[i].data.ptr;
                if (t->kind == TAG_PIDFD)
                        finish_stage(s, t->stage);
        }
        return n;
}

int supervisor_cancel_all(Supervisor *s, usec_t timeout)
{
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + timeout;

        for (Stage *st = s->stages; st; st = st->next)
                (void)supervisor_cancel(s, st);
        while (s->n_running > 0) {
                usec_t now = now_usec(CLOCK_MONOTONIC);
                int r;
                if (now >= deadline)
                        return -ETIMEDOUT;
                r = supervisor_dispatch(s, (int)MIN((deadline - now) / USEC_PER_MSEC + 1, 1000U));
                if (r < 0)
                        return r;
        }
        return 0;
}
