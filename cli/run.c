/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/parse.h"
#include "common/strv.h"
#include "runner/manifest.h"
#include "runner/scheduler.h"

static void help(void)
{
        printf("Usage: memgov run -p POLICY [--spawn METHOD] MANIFEST…\n\n"
               "Processes the episodes of the manifests (JSON Lines: {\"id\":…,\"url\":…,\"title\":…}, '-' for\n"
               "standard input) until none is left runnable, then prints a summary. Episodes already done\n"
               "in the ledger are skipped; a second run resumes what the first left. On a terminal a live\n"
               "view shows each running stage; otherwise one line per stage start and end.\n\n"
               "  -p --policy POLICY   the policy (state, spool and output folders, limits)\n"
               "     --spawn METHOD    auto (default), clone3 or fork\n"
               "  -q --quiet           no progress, only the summary\n"
               "  -h --help            show this help\n\n"
               "Exit status: 0 when every episode of the manifests is done, 1 otherwise (failed, held,\n"
               "cancelled or interrupted), 2 usage, 3 when the state directory or cgroups are unusable.\n");
}

typedef struct RunCtx {
        Ledger *ledger;
        char **ids;
        size_t n_ids, cap_ids;
        unsigned added, known_done, known_other, bad;
        const char *manifest;
        bool tty, quiet;
        unsigned lines_drawn;
} RunCtx;

static int on_entry(const ManifestEntry *e, void *userdata)
{
        RunCtx *c = userdata;
        EpisodeState st;
        int r = ledger_add(c->ledger, e->id, e->url, e->title, &st);

        if (r < 0) {
                log_error("%s:%u: episode %s: %s", c->manifest, e->line, e->id, ledger_error(c->ledger));
                return r;
        }
        if (r > 0)
                c->added++;
        else if (st == EPISODE_DONE)
                c->known_done++;
        else
                c->known_other++;
        if (c->n_ids >= c->cap_ids) {
                size_t ncap = c->cap_ids ? c->cap_ids * 2 : 64;
                char **n = realloc(c->ids, ncap * sizeof(char *));
                if (!n)
                        return -ENOMEM;
                c->ids = n;
                c->cap_ids = ncap;
        }
        c->ids[c->n_ids] = strdup(e->id);
        if (!c->ids[c->n_ids])
                return -ENOMEM;
        c->n_ids++;
        return 0;
}

static int on_error(unsigned line, const char *message, void *userdata)
{
        RunCtx *c = userdata;

        c->bad++;
        log_error("%s", message);
        return 0;
}

/* Plain log lines when not drawing a live view. */
static void on_event(void *userdata, const char *id, const char *stage, const char *what)
{
        RunCtx *c = userdata;

        if (!c->tty && !c->quiet)
                log_info("%s: %s %s", id, stage, what);
}

static void draw(RunCtx *c, Scheduler *s)
{
        SchedulerStatus st;
        char a[32], b[32], d[32];
        unsigned lines = 0;

        scheduler_status(s, &st);
        /* Move up over the previous frame and clear to the end of the screen. */
        if (c->lines_drawn > 0)
                fprintf(stderr, "\033[%uA\033[J", c->lines_drawn);
        for (size_t i = 0; i < st.n_stages; i++) {
                const SchedulerStage *g = &st.stages[i];
                char prog[64] = "";
                if (streq(g->stage, "fetch"))
                        snprintf(prog, sizeof(prog), " %s",
                                format_size_human(d, sizeof(d), g->progress_bytes));
                fprintf(stderr, "  %-20.20s %-10s #%u %5llus%s  mem %s / %s\n", g->id, g->stage, g->attempt,
                        (unsigned long long)(g->elapsed_usec / USEC_PER_SEC), prog,
                        format_size_human(a, sizeof(a), g->memory_bytes),
                        format_size_human(b, sizeof(b), g->limit_bytes));
                lines++;
        }
        fprintf(stderr,
                "  done %llu  queued %llu  running %zu  retry %llu  failed %llu  held %llu | hard %s of %s | %s\n",
                (unsigned long long)st.counts[EPISODE_DONE],
                (unsigned long long)(st.counts[EPISODE_QUEUED] + st.counts[EPISODE_FETCHED]), st.n_stages,
                (unsigned long long)st.counts[EPISODE_RETRY_WAIT],
                (unsigned long long)st.counts[EPISODE_FAILED], (unsigned long long)st.counts[EPISODE_HELD],
                format_size_human(a, sizeof(a), st.hard_usage_bytes),
                format_size_human(b, sizeof(b), st.budget_bytes),
                st.tokens.pressure ? gov_reason_to_string(st.tokens.pressure) : "calm");
        lines++;
        c->lines_drawn = lines;
}

static void summary(RunCtx *c, Scheduler *s, usec_t wall, unsigned *ret_not_done)
{
        SchedulerStatus st;
        unsigned done = 0, failed = 0, held = 0, other = 0;
        char a[32], b[32];

        for (size_t i = 0; i < c->n_ids; i++) {
                Episode e;
                if (ledger_get(c->ledger, c->ids[i], &e) < 0) {
                        other++;
                        continue;
                }
                if (e.status.state == EPISODE_DONE)
                        done++;
                else if (e.status.state == EPISODE_FAILED) {
                        failed++;
                        log_error("%s: failed: %s", e.id, e.reason ? e.reason : "?");
                } else if (e.status.state == EPISODE_HELD) {
                        held++;
                        log_warning("%s: held: %s", e.id, e.reason ? e.reason : "?");
                } else
                        other++;
                ledger_episode_done(&e);
        }
        scheduler_status(s, &st);
        printf("memgov run: %u done, %u failed, %u held, %u other (of %zu episodes; %u already done before) in %llu.%01llus\n",
                done, failed, held, other, c->n_ids, c->known_done,
                (unsigned long long)(wall / USEC_PER_SEC),
                (unsigned long long)(wall % USEC_PER_SEC / 100000));
        printf("memory: peak hard usage %s of a %s budget (%s mode)\n",
                format_size_human(a, sizeof(a), st.peak_hard_usage_bytes),
                format_size_human(b, sizeof(b), st.budget_bytes), gov_mode_to_string(st.mode));
        for (EpisodeStage k = 0; k < _EPISODE_STAGE_MAX; k++)
                if (st.peak_stage_bytes[k])
                        printf("  %-10s peak %s (its limit %s)\n", state_stage_to_string(k),
                                format_size_human(a, sizeof(a), st.peak_stage_bytes[k]),
                                format_size_human(b, sizeof(b), st.peak_stage_limit[k]));
        printf("stages: %llu started; %llu ok, %llu oom, %llu timeout, %llu failed\n",
                (unsigned long long)st.stages_started, (unsigned long long)st.results[STAGE_OK],
                (unsigned long long)(st.results[STAGE_OOM] + st.results[STAGE_WATCHDOG]),
                (unsigned long long)st.results[STAGE_TIMEOUT],
                (unsigned long long)(st.results[STAGE_EXIT] + st.results[STAGE_SIGNAL]));
        *ret_not_done = failed + held + other;
}

int verb_run(int argc, char *argv[])
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "policy", required_argument, NULL, 'p' },
                { "spawn", required_argument, NULL, 'S' },
                { "quiet", no_argument, NULL, 'q' },
                {},
        };
        const char *policy_path = NULL;
        SpawnMethod spawn = SPAWN_METHOD_AUTO;
        RunCtx c = {};
        SchedulerOptions so = { .event = on_event, .userdata = &c };
        Scheduler *s = NULL;
        Policy pol;
        char err[512] = "", self[4096];
        pid_t holder = 0;
        usec_t t0 = now_usec(CLOCK_MONOTONIC), last_draw = 0;
        _cleanup_close_ int sig_fd = -EBADF;
        unsigned not_done = 0;
        bool interrupted = false;
        int c_, r, ret = EXIT_FAIL;

        while ((c_ = getopt_long(argc, argv, "hp:q", options, NULL)) >= 0)
                switch (c_) {
                case 'h':
                        help();
                        return EXIT_OK;
                case 'p':
                        policy_path = optarg;
                        break;
                case 'S':
                        if (cli_parse_spawn("run ", optarg, &spawn) < 0)
                                return EXIT_USAGE;
                        break;
                case 'q':
                        c.quiet = true;
                        break;
                default:
                        return usage_error("run ", "invalid option");
                }
        if (!policy_path)
                return usage_error("run ", "no policy given (-p POLICY)");
        if (optind >= argc)
                return usage_error("run ", "no manifest given");
        if (cli_self_exe(self, sizeof(self)) < 0)
                return EXIT_UNAVAILABLE;
        if (cli_load_policy(policy_path, &pol) < 0)
                return EXIT_FAIL;
        c.tty = isatty(STDERR_FILENO) && !c.quiet;

        r = ledger_open(pol.paths.state_dir, &c.ledger, &holder, err, sizeof(err));
        if (r == -EBUSY) {
                log_error(
                        "run: state directory %s is in use by memgov pid %d; stop it or use another [paths] state_dir",
                        pol.paths.state_dir, (int)holder);
                ret = EXIT_UNAVAILABLE;
                goto out;
        }
        if (r < 0) {
                log_error("run: %s", err);
                ret = EXIT_UNAVAILABLE;
                goto out;
        }
        for (int i = optind; i < argc; i++) {
                c.manifest = argv[i];
                r = manifest_parse_file(argv[i], pol.fetch.protocols, on_entry, on_error, &c);
                if (r < 0) {
                        log_error_errno(r, "run: cannot read manifest %s: %m", argv[i]);
                        goto out;
                }
        }
        if (!c.quiet)
                log_info("run: %zu episodes (%u new, %u already done, %u resumed), %u bad manifest lines",
                        c.n_ids, c.added, c.known_done, c.known_other, c.bad);

        so.self_exe = self;
        so.policy_path = policy_path;
        so.spawn = spawn;
        r = scheduler_new(&pol, c.ledger, &so, &s, err, sizeof(err));
        if (r < 0) {
                log_error("run: %s", err);
                ret = EXIT_UNAVAILABLE;
                goto out;
        }
        {
                const Runtime *rt = scheduler_runtime(s);
                const LedgerRecovery *rec = scheduler_recovery(s);
                char b[32];
                if (rt->discovery.mode == GOV_MODE_WATCHDOG)
                        log_notice(
                                "run: watchdog mode: %s; stage limits are enforced by sampling RSS, not by the kernel",
                                rt->discovery.n_problems ? rt->discovery.problems[0].what
                                                         : "enforcement = watchdog");
                else
                        log_info("run: cgroup mode in %s, budget %s, spawn %s%s",
                                rt->discovery.service_cgroup,
                                format_size_human(b, sizeof(b), rt->budget_bytes),
                                spawn_method_to_string(rt->spawn_method),
                                rt->kill_then_clone_bug ? " (kernel kill-then-clone bug detected)" : "");
                if (rec->runs_closed || rt->leftovers_reaped)
                        log_notice(
                                "run: recovered from an interrupted run: %u stages requeued, %u episodes held, %u leftover cgroups removed",
                                rec->requeued, rec->held, rt->leftovers_reaped);
        }

        sig_fd = cli_signalfd(false);
        if (sig_fd < 0) {
                log_error_errno(sig_fd, "run: cannot watch signals: %m");
                goto out;
        }

        while (!scheduler_finished(s)) {
                struct pollfd p[2] = { { .fd = scheduler_fd(s), .events = POLLIN },
                        { .fd = sig_fd, .events = POLLIN } };
                if (poll(p, 2, 250) < 0 && errno != EINTR)
                        break;
                if (p[1].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        (void)read(sig_fd, &si, sizeof(si));
                        if (c.tty && c.lines_drawn)
                                fprintf(stderr, "\033[%uA\033[J", c.lines_drawn), c.lines_drawn = 0;
                        log_warning(
                                "run: interrupted; stopping %zu running stages (they will resume on the next run)",
                                scheduler_running(s));
                        (void)scheduler_interrupt_all(s, 30 * USEC_PER_SEC);
                        interrupted = true;
                        break;
                }
                r = scheduler_dispatch(s, 0);
                if (r < 0) {
                        log_error_errno(r, "run: stopping: %m (ledger: %s)", ledger_error(c.ledger));
                        (void)scheduler_interrupt_all(s, 30 * USEC_PER_SEC);
                        goto out;
                }
                if (c.tty && now_usec(CLOCK_MONOTONIC) - last_draw > 500 * USEC_PER_MSEC) {
                        draw(&c, s);
                        last_draw = now_usec(CLOCK_MONOTONIC);
                }
        }
        if (c.tty && c.lines_drawn)
                fprintf(stderr, "\033[%uA\033[J", c.lines_drawn);
        summary(&c, s, now_usec(CLOCK_MONOTONIC) - t0, &not_done);
        ret = !interrupted && not_done == 0 && c.bad == 0 ? EXIT_OK : EXIT_FAIL;
out:
        scheduler_free(s);
        ledger_close(c.ledger);
        for (size_t i = 0; i < c.n_ids; i++)
                free(c.ids[i]);
        free(c.ids);
        policy_done(&pol);
        return ret;
}
