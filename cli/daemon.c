/* SPDX-License-Identifier: MIT */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "cli/cli.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/parse.h"
#include "runner/control.h"
#include "runner/manifest.h"
#include "runner/metrics.h"
#include "runner/scheduler.h"

static void help(void)
{
        printf("Usage: memgov daemon -p POLICY [--spawn METHOD]\n\n"
               "Runs the engine as a service: episodes arrive through the control socket ([paths] socket;\n"
               "'memgov submit'), are processed under the budget, and 'memgov status/list/show/retry/\n"
               "cancel/release' talk to it. SIGTERM drains (no new stages, running ones get\n"
               "[daemon] drain_grace, then are stopped and requeued); SIGHUP reloads the policy (an invalid\n"
               "one is refused and the old one kept). With systemd (Type=notify) it reports READY, STATUS\n"
               "and WATCHDOG.\n\n"
               "  -p --policy POLICY   the policy\n"
               "     --spawn METHOD    auto (default), clone3 or fork\n"
               "  -h --help            show this help\n");
}

typedef struct Daemon {
        Policy *policy;
        Policy policies[2]; /* the one in force and the previous, so a reload never frees in use */
        int current;
        const char *policy_path;
        Ledger *ledger;
        Scheduler *sched;
        ControlServer *control;
        int metrics_dirfd;
        char metrics_name[256];
        usec_t started_realtime;
} Daemon;

static void on_event(void *userdata, const char *id, const char *stage, const char *what)
{
        log_info("%s: %s %s", id, stage, what);
}

static int reply_episode_state(Daemon *d, const char *id, cJSON *reply)
{
        Episode e;
        int r = ledger_get(d->ledger, id, &e);

        if (r < 0)
                return r;
        cJSON_AddStringToObject(reply, "state", state_to_string(e.status.state));
        ledger_episode_done(&e);
        return 0;
}

typedef struct ListCtx {
        cJSON *array;
} ListCtx;

static int add_episode(const Episode *e, void *userdata)
{
        ListCtx *c = userdata;
        cJSON *j = control_episode_to_json(e);

        if (!j)
                return -ENOMEM;
        cJSON_AddItemToArray(c->array, j);
        return 0;
}

static int add_run(const StageRun *r, void *userdata)
{
        ListCtx *c = userdata;
        cJSON *j = control_run_to_json(r);

        if (!j)
                return -ENOMEM;
        cJSON_AddItemToArray(c->array, j);
        return 0;
}

static void status_reply(Daemon *d, cJSON *reply)
{
        SchedulerStatus st;
        cJSON *tokens, *running, *counts;

        scheduler_status(d->sched, &st);
        cJSON_AddStringToObject(reply, "mode", gov_mode_to_string(st.mode));
        cJSON_AddNumberToObject(reply, "budget_bytes", (double)st.budget_bytes);
        cJSON_AddNumberToObject(reply, "hard_usage_bytes", (double)st.hard_usage_bytes);
        cJSON_AddNumberToObject(reply, "psi_some_avg10", st.some_avg10 / 100.0);
        cJSON_AddNumberToObject(reply, "psi_full_avg10", st.full_avg10 / 100.0);
        cJSON_AddStringToObject(
                reply, "pressure", st.tokens.pressure ? gov_reason_to_string(st.tokens.pressure) : "open");
        cJSON_AddNumberToObject(reply, "window", st.tokens.window);
        cJSON_AddBoolToObject(reply, "admitting", st.admitting);
        tokens = cJSON_AddObjectToObject(reply, "tokens");
        for (JobClass c = 0; tokens && c < _JOB_CLASS_MAX; c++) {
                cJSON *o = cJSON_AddObjectToObject(tokens, job_class_to_string(c));
                if (!o)
                        continue;
                cJSON_AddNumberToObject(o, "tokens", st.tokens.classes[c].tokens);
                if (st.tokens.classes[c].tokens == 0)
                        cJSON_AddStringToObject(
                                o, "reason", gov_reason_to_string(st.tokens.classes[c].reason));
                else
                        cJSON_AddNullToObject(o, "reason");
                /* Why a class with tokens may still start nothing: room is kept for a larger stage. */
                if (st.room_kept[c].id[0]) {
                        cJSON *k = cJSON_AddObjectToObject(o, "room_kept_for");
                        if (k) {
                                cJSON_AddStringToObject(k, "id", st.room_kept[c].id);
                                cJSON_AddNumberToObject(k, "bytes", (double)st.room_kept[c].bytes);
                        }
                } else
                        cJSON_AddNullToObject(o, "room_kept_for");
        }
        running = cJSON_AddArrayToObject(reply, "running");
        for (size_t i = 0; running && i < st.n_stages; i++) {
                cJSON *o = cJSON_CreateObject();
                if (!o)
                        break;
                cJSON_AddStringToObject(o, "id", st.stages[i].id);
                cJSON_AddStringToObject(o, "stage", st.stages[i].stage);
                cJSON_AddNumberToObject(o, "attempt", st.stages[i].attempt);
                cJSON_AddNumberToObject(
                        o, "elapsed_ms", (double)(st.stages[i].elapsed_usec / USEC_PER_MSEC));
                cJSON_AddNumberToObject(o, "memory_bytes", (double)st.stages[i].memory_bytes);
                cJSON_AddNumberToObject(o, "limit_bytes", (double)st.stages[i].limit_bytes);
                cJSON_AddItemToArray(running, o);
        }
        counts = cJSON_AddObjectToObject(reply, "counts");
        for (EpisodeState s = 0; counts && s < _EPISODE_STATE_MAX; s++)
                cJSON_AddNumberToObject(counts, state_to_string(s), (double)st.counts[s]);
}

static int handler(void *userdata, const cJSON *req, cJSON *reply, char *err, size_t errlen)
{
        Daemon *d = userdata;
        const char *cmd = cJSON_GetStringValue(cJSON_GetObjectItem(req, "cmd"));
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(req, "id"));
        EpisodeEvent ev = { .now = now_usec(CLOCK_REALTIME), .jitter = drand48() };
        int r;

        if (streq(cmd, "status")) {
                status_reply(d, reply);
                return 0;
        }
        if (streq(cmd, "submit")) {
                const char *url = cJSON_GetStringValue(cJSON_GetObjectItem(req, "url"));
                const char *title = cJSON_GetStringValue(cJSON_GetObjectItem(req, "title"));
                EpisodeState st;
                if (manifest_check_url(url, d->policy->fetch.protocols, err, errlen) < 0)
                        return -EINVAL;
                r = ledger_add(d->ledger, id, url, title, &st);
                if (r < 0) {
                        snprintf(err, errlen, "%s: %s", id, ledger_error(d->ledger));
                        return r;
                }
                cJSON_AddBoolToObject(reply, "new", r > 0);
                cJSON_AddStringToObject(reply, "state", state_to_string(st));
                if (r > 0)
                        log_info("%s: submitted", id);
                return 0;
        }
        if (streq(cmd, "list")) {
                const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(req, "state"));
                ListCtx c = { .array = cJSON_AddArrayToObject(reply, "episodes") };
                if (!c.array)
                        return -ENOMEM;
                return ledger_list(
                        d->ledger, s ? state_from_string(s) : _EPISODE_STATE_INVALID, add_episode, &c);
        }
        if (streq(cmd, "show")) {
                Episode e;
                ListCtx c;
                cJSON *j;
                r = ledger_get(d->ledger, id, &e);
                if (r < 0) {
                        snprintf(err, errlen, "%s: %s", id,
                                r == -ENOENT ? "no such episode" : ledger_error(d->ledger));
                        return r;
                }
                j = control_episode_to_json(&e);
                ledger_episode_done(&e);
                if (!j)
                        return -ENOMEM;
                cJSON_AddItemToObject(reply, "episode", j);
                c.array = cJSON_AddArrayToObject(reply, "runs");
                return c.array ? ledger_list_runs(d->ledger, id, add_run, &c) : -ENOMEM;
        }
        if (streq(cmd, "cancel")) {
                r = scheduler_cancel(d->sched, id, err, errlen);
                if (r < 0)
                        return r;
                log_info("%s: cancelled by request", id);
                return reply_episode_state(d, id, reply);
        }
        if (streq(cmd, "retry") || streq(cmd, "release")) {
                ev.type = streq(cmd, "retry") ? EPISODE_EVENT_USER_RETRY : EPISODE_EVENT_USER_RELEASE;
                ev.force = cJSON_IsTrue(cJSON_GetObjectItem(req, "force"));
                r = ledger_apply(d->ledger, id, _EPISODE_STATE_INVALID, &ev, d->policy, NULL, NULL);
                if (r < 0) {
                        snprintf(err, errlen, "%s: %s", id,
                                r == -ENOENT ? "no such episode" : ledger_error(d->ledger));
                        return r;
                }
                log_info("%s: %s by request", id, cmd);
                return reply_episode_state(d, id, reply);
        }
        snprintf(err, errlen, "unknown command '%s'", cmd ? cmd : "?");
        return -EINVAL;
}

static void reload(Daemon *d)
{
        int next = 1 - d->current;
        Policy *np = &d->policies[next];

        policy_done(np);
        if (cli_load_policy(d->policy_path, np) < 0) {
                log_error("reload: %s is invalid; keeping the policy in force", d->policy_path);
                return;
        }
        /* Open folders, the socket and the cgroup layout cannot move under running stages. */
        if (!streq(np->paths.state_dir, d->policy->paths.state_dir) ||
                !streq(np->paths.spool_dir, d->policy->paths.spool_dir) ||
                !streq(np->paths.output_dir, d->policy->paths.output_dir) ||
                !streq(np->paths.socket, d->policy->paths.socket) ||
                np->memory.enforcement != d->policy->memory.enforcement) {
                log_error(
                        "reload: %s changes [paths] or [memory] enforcement, which need a restart; keeping the policy in force",
                        d->policy_path);
                return;
        }
        if (scheduler_set_policy(d->sched, np) < 0) {
                log_error("reload: cannot apply %s; keeping the policy in force", d->policy_path);
                return;
        }
        d->current = next;
        d->policy = np;
        log_info("reload: %s applied", d->policy_path);
}

static void notify_status(Daemon *d, bool ready)
{
#ifdef HAVE_LIBSYSTEMD
        SchedulerStatus st;
        char a[32], b[32];

        scheduler_status(d->sched, &st);
        sd_notifyf(0, "%sSTATUS=%zu running, %llu queued, hard usage %s of %s, %s", ready ? "READY=1\n" : "",
                st.n_stages,
                (unsigned long long)(st.counts[EPISODE_QUEUED] + st.counts[EPISODE_FETCHED] +
                        st.counts[EPISODE_RETRY_WAIT]),
                format_size_human(a, sizeof(a), st.hard_usage_bytes),
                format_size_human(b, sizeof(b), st.budget_bytes),
                st.tokens.pressure ? gov_reason_to_string(st.tokens.pressure) : "no pressure");
#endif
}

static void write_metrics(Daemon *d)
{
        SchedulerStatus st;
        const ControlStats *cs = control_server_stats(d->control);
        Metrics m = { .version = PACKAGE_VERSION, .start_time_usec = d->started_realtime };

        if (d->metrics_dirfd < 0)
                return;
        scheduler_status(d->sched, &st);
        m.mode = gov_mode_to_string(st.mode);
        m.budget_bytes = st.budget_bytes;
        m.hard_usage_bytes = st.hard_usage_bytes;
        m.psi_some_avg10 = st.some_avg10 / 100.0;
        m.psi_full_avg10 = st.full_avg10 / 100.0;
        m.window = st.tokens.window;
        for (JobClass c = 0; c < _JOB_CLASS_MAX; c++) {
                m.admission_open[c] = st.tokens.classes[c].tokens > 0;
                m.running[c] = st.tokens.classes[c].running;
        }
        memcpy(m.episodes, st.counts, sizeof(m.episodes));
        m.stage_results_total[RUN_RESULT_OK] = st.results[STAGE_OK];
        m.stage_results_total[RUN_RESULT_EXIT] = st.results[STAGE_EXIT];
        m.stage_results_total[RUN_RESULT_SIGNAL] = st.results[STAGE_SIGNAL];
        m.stage_results_total[RUN_RESULT_OOM] = st.results[STAGE_OOM];
        m.stage_results_total[RUN_RESULT_TIMEOUT] = st.results[STAGE_TIMEOUT];
        m.stage_results_total[RUN_RESULT_CANCELLED] = st.results[STAGE_CANCELLED];
        m.stage_results_total[RUN_RESULT_WATCHDOG] = st.results[STAGE_WATCHDOG];
        m.oom_kills_total = st.results[STAGE_OOM];
        memcpy(m.stages_started_total, st.started_class, sizeof(m.stages_started_total));
        m.control_requests_total = cs->requests;
        m.control_refused_total = cs->refused_auth + cs->refused_busy;
        (void)metrics_read_self_rss(scheduler_runtime(d->sched)->proc_fd, &m.daemon_rss_bytes);
        (void)metrics_write(d->metrics_dirfd, d->metrics_name, &m);
}

int verb_daemon(int argc, char *argv[])
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "policy", required_argument, NULL, 'p' },
                { "spawn", required_argument, NULL, 'S' },
                {},
        };
        Daemon d = { .metrics_dirfd = -EBADF };
        SchedulerOptions so = { .event = on_event };
        SpawnMethod spawn = SPAWN_METHOD_AUTO;
        char err[512] = "", self[4096];
        pid_t holder = 0;
        _cleanup_close_ int sig_fd = -EBADF;
        usec_t drain_deadline = 0, last_slow = 0;
        bool draining = false;
        int c, r, ret = EXIT_FAIL;

        while ((c = getopt_long(argc, argv, "hp:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return EXIT_OK;
                case 'p':
                        d.policy_path = optarg;
                        break;
                case 'S':
                        if (cli_parse_spawn("daemon ", optarg, &spawn) < 0)
                                return EXIT_USAGE;
                        break;
                default:
                        return usage_error("daemon ", "invalid option");
                }
        if (!d.policy_path)
                return usage_error("daemon ", "no policy given (-p POLICY)");
        if (optind != argc)
                return usage_error("daemon ", "unexpected argument '%s'", argv[optind]);
        if (cli_self_exe(self, sizeof(self)) < 0)
                return EXIT_UNAVAILABLE;
        if (cli_load_policy(d.policy_path, &d.policies[0]) < 0)
                return EXIT_FAIL;
        d.policy = &d.policies[0];
        d.started_realtime = now_usec(CLOCK_REALTIME);
        srand48((long)(now_usec(CLOCK_MONOTONIC) ^ (usec_t)getpid()));

        r = ledger_open(d.policy->paths.state_dir, &d.ledger, &holder, err, sizeof(err));
        if (r < 0) {
                if (r == -EBUSY)
                        log_error("daemon: state directory %s is in use by memgov pid %d",
                                d.policy->paths.state_dir, (int)holder);
                else
                        log_error("daemon: %s", err);
                ret = EXIT_UNAVAILABLE;
                goto out;
        }
        so.self_exe = self;
        so.policy_path = d.policy_path;
        so.spawn = spawn;
        r = scheduler_new(d.policy, d.ledger, &so, &d.sched, err, sizeof(err));
        if (r < 0) {
                log_error("daemon: %s", err);
                ret = EXIT_UNAVAILABLE;
                goto out;
        }
        r = control_server_open(
                d.policy->paths.socket, d.policy->daemon.admin_group, &d.control, err, sizeof(err));
        if (r < 0) {
                log_error("daemon: %s", err);
                ret = EXIT_UNAVAILABLE;
                goto out;
        }
        if (d.policy->daemon.metrics_file) {
                char *dir = strdup(d.policy->daemon.metrics_file), *slash = dir ? strrchr(dir, '/') : NULL;
                if (slash) {
                        *slash = 0;
                        d.metrics_dirfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        snprintf(d.metrics_name, sizeof(d.metrics_name), "%s", slash + 1);
                }
                if (d.metrics_dirfd < 0)
                        log_warning("daemon: metrics file %s: its folder cannot be opened, ignoring",
                                d.policy->daemon.metrics_file);
                free(dir);
        }
        {
                const Runtime *rt = scheduler_runtime(d.sched);
                const LedgerRecovery *rec = scheduler_recovery(d.sched);
                char b[32];
                if (rt->discovery.mode == GOV_MODE_WATCHDOG)
                        log_notice(
                                "daemon: watchdog mode: %s; stage limits are enforced by sampling RSS, not by the kernel",
                                rt->discovery.n_problems ? rt->discovery.problems[0].what
                                                         : "enforcement = watchdog");
                log_info("daemon: %s mode, budget %s, spawn %s, socket %s",
                        gov_mode_to_string(rt->discovery.mode),
                        format_size_human(b, sizeof(b), rt->budget_bytes),
                        spawn_method_to_string(rt->spawn_method), d.policy->paths.socket);
                if (rec->runs_closed || rt->leftovers_reaped)
                        log_notice(
                                "daemon: recovered: %u stages requeued, %u episodes held, %u leftover stage cgroups removed",
                                rec->requeued, rec->held, rt->leftovers_reaped);
        }

        sig_fd = cli_signalfd(true);
        if (sig_fd < 0) {
                log_error_errno(sig_fd, "daemon: cannot watch signals: %m");
                goto out;
        }
        notify_status(&d, true);

        for (;;) {
                struct pollfd p[3] = { { .fd = scheduler_fd(d.sched), .events = POLLIN },
                        { .fd = control_server_fd(d.control), .events = POLLIN },
                        { .fd = sig_fd, .events = POLLIN } };
                usec_t now = now_usec(CLOCK_MONOTONIC),
                       slack = MIN(d.policy->pressure.sample_interval_usec, USEC_PER_SEC) / 2,
                       wake = last_slow + USEC_PER_SEC + slack;

                /* The once-a-second duties (status, watchdog ping, metrics) run on the first wakeup
                 * at least 1 s - slack after the last run, which is normally the sampler's tick: an
                 * idle daemon wakes once per tick, not once more for the duties. The poll timeout
                 * is only the fallback, at 1 s + slack, should no tick come. */
                if (draining && drain_deadline > 0)
                        wake = MIN(wake, drain_deadline);
                if (poll(p, 3,
                            wake > now ? (int)MIN((wake - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC, 2000ULL)
                                       : 0) < 0 &&
                        errno != EINTR)
                        break;
                if (p[2].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        if (read(sig_fd, &si, sizeof(si)) == sizeof(si)) {
                                if (si.ssi_signo == SIGHUP) {
#ifdef HAVE_LIBSYSTEMD
                                        sd_notify(0, "RELOADING=1");
#endif
                                        reload(&d);
#ifdef HAVE_LIBSYSTEMD
                                        sd_notify(0, "READY=1");
#endif
                                } else if (!draining) {
                                        draining = true;
                                        drain_deadline = now_usec(CLOCK_MONOTONIC) +
                                                d.policy->daemon.drain_grace_usec;
                                        scheduler_stop_admitting(d.sched);
#ifdef HAVE_LIBSYSTEMD
                                        sd_notify(0, "STOPPING=1");
#endif
                                        log_info("daemon: draining: %zu stages running, up to %llus",
                                                scheduler_running(d.sched),
                                                (unsigned long long)(d.policy->daemon.drain_grace_usec /
                                                        USEC_PER_SEC));
                                } else
                                        drain_deadline = 0; /* a second signal: stop now */
                        }
                }
                r = scheduler_dispatch(d.sched, 0);
                if (r < 0) {
                        log_error_errno(r, "daemon: stopping: %m (ledger: %s)", ledger_error(d.ledger));
                        (void)scheduler_interrupt_all(d.sched, 30 * USEC_PER_SEC);
                        goto out;
                }
                if (p[1].revents & POLLIN)
                        (void)control_server_dispatch(d.control, handler, &d);
                now = now_usec(CLOCK_MONOTONIC);
                if (draining && (scheduler_running(d.sched) == 0 || now >= drain_deadline)) {
                        if (scheduler_running(d.sched) > 0)
                                log_notice(
                                        "daemon: drain grace over: stopping %zu stages; they are requeued",
                                        scheduler_running(d.sched));
                        (void)scheduler_interrupt_all(d.sched, 30 * USEC_PER_SEC);
                        ret = EXIT_OK;
                        break;
                }
                if (now - last_slow + slack >= USEC_PER_SEC) {
                        last_slow = now;
                        notify_status(&d, false);
                        write_metrics(&d);
#ifdef HAVE_LIBSYSTEMD
                        sd_notify(0, "WATCHDOG=1");
#endif
                }
        }
        log_info("daemon: stopped");
out:
        control_server_close(d.control);
        scheduler_free(d.sched);
        ledger_close(d.ledger);
        safe_close(d.metrics_dirfd);
        policy_done(&d.policies[0]);
        policy_done(&d.policies[1]);
        return ret;
}
