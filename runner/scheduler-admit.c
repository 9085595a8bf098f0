/* SPDX-License-Identifier: MIT */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "common/strv.h"
#include "runner/scheduler-internal.h"

#define RESULT_MAX (64 * 1024)

void sched_run_free(SchedRun *run)
{
        if (!run)
                return;
        safe_close(run->out_fd);
        free(run);
}

static void emit(Scheduler *s, const char *id, const char *stage, const char *what)
{
        if (s->opts.event)
                s->opts.event(s->opts.userdata, id, stage, what);
}

/* Which stage an episode needs next, and what it costs to admit. */
static void plan(Scheduler *s, const Episode *e, SchedRun *run)
{
        struct stat st;
        bool fetched = e->audio_path && stat(e->audio_path, &st) == 0 && S_ISREG(st.st_mode);

        run->stage_kind = fetched ? EPISODE_STAGE_TRANSCRIBE : EPISODE_STAGE_FETCH;
        if (run->stage_kind == EPISODE_STAGE_FETCH) {
                run->est_kind = GOV_STAGE_FETCH;
                run->input_bytes = 0;
        } else {
                run->est_kind = s->policy->transcribe.backend == BACKEND_COMMAND ? GOV_STAGE_TRANSCRIBE
                                                                                 : GOV_STAGE_REMOTE;
                run->input_bytes = (uint64_t)st.st_size;
        }
        run->cls = gov_stage_kind_class(run->est_kind);
}

static int open_run_file(Scheduler *s, const char *name)
{
        int fd = openat(s->state_fd, "runs", O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

        if (fd < 0)
                return -errno;
        r = openat(fd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0640);
        if (r < 0)
                r = -errno;
        safe_close(fd);
        return r;
}

/* Stages get a clean environment: nothing of the daemon's but what the stage needs. The Gemini
 * or OpenAI key variable goes only to transcribe stages, and only the one the policy names. */
static char **stage_env(Scheduler *s, EpisodeStage kind, const char *home)
{
        const char *keyvar = NULL, *key;
        char **env = calloc(6, sizeof(char *));
        size_t n = 0;

        if (!env)
                return NULL;
        if (kind == EPISODE_STAGE_TRANSCRIBE)
                keyvar = s->policy->transcribe.backend == BACKEND_GEMINI  ? s->policy->gemini.api_key_env
                        : s->policy->transcribe.backend == BACKEND_OPENAI ? s->policy->openai.api_key_env
                                                                          : NULL;
        if (asprintf(&env[n++], "PATH=/usr/local/bin:/usr/bin:/bin") < 0 ||
                asprintf(&env[n++], "LANG=C.UTF-8") < 0 || asprintf(&env[n++], "HOME=%s", home) < 0)
                return strv_free(env);
        if (keyvar && (key = getenv(keyvar)) && asprintf(&env[n++], "%s=%s", keyvar, key) < 0)
                return strv_free(env);
#ifdef __SANITIZE_ADDRESS__
        /* LeakSanitizer needs ptrace-like access that the sandbox (seccomp, another user)
         * denies, and would turn every stage's exit into a failure. Unit tests cover leaks. */
        if (asprintf(&env[n++], "ASAN_OPTIONS=detect_leaks=0") < 0)
                return strv_free(env);
#endif
        return env;
}

static int copy_argv(const char *const *a, char ***ret)
{
        size_t n = 0;
        char **l;

        while (a[n])
                n++;
        l = calloc(n + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (!(l[i] = strdup(a[i]))) {
                        strv_free(l);
                        return -ENOMEM;
                }
        *ret = l;
        return 0;
}

static int start_run(Scheduler *s, const Episode *e, SchedRun *run)
{
        char err[512] = "", audio[4096], workdir[4096];
        char stage_policy[4096];
        _cleanup_strv_free_ char **argv = NULL, **envp = NULL;
        _cleanup_close_ int log_fd = -EBADF;
        StageRunStart start;
        StageSpec spec = {};
        int r;

        r = ledger_stage_begin(
                s->ledger, e->id, run->stage_kind, run->limit, now_usec(CLOCK_REALTIME), &start);
        if (r < 0)
                return r; /* the episode changed meanwhile (a user action): skip it this round */
        run->run_id = start.run_id;
        run->attempt = start.attempt;
        run->state_at_start = state_running(run->stage_kind);
        snprintf(run->id, sizeof(run->id), "%s", e->id);
        snprintf(run->out_name, sizeof(run->out_name), "%s.out", start.cgroup);
        snprintf(run->log_name, sizeof(run->log_name), "%s.log", start.cgroup);
        snprintf(run->part_name, sizeof(run->part_name), "%s.part", e->id);
        snprintf(stage_policy, sizeof(stage_policy), "%s/stage-policy.ini", s->policy->paths.state_dir);
        /* Fetch writes <id>.audio; after it the ledger knows the name with the format's extension. */
        if (run->stage_kind == EPISODE_STAGE_TRANSCRIBE && e->audio_path)
                snprintf(audio, sizeof(audio), "%s", e->audio_path);
        else
                snprintf(audio, sizeof(audio), "%s/%s.audio", s->policy->paths.spool_dir, e->id);
        snprintf(run->work_name, sizeof(run->work_name), "%s.work", start.cgroup);
        snprintf(workdir, sizeof(workdir), "%s/%s", s->policy->paths.spool_dir, run->work_name);

        run->out_fd = open_run_file(s, run->out_name);
        log_fd = open_run_file(s, run->log_name);
        if (run->out_fd < 0 || log_fd < 0) {
                r = run->out_fd < 0 ? run->out_fd : log_fd;
                snprintf(err, sizeof(err), "cannot create stage output files in %s/runs: %s",
                        s->policy->paths.state_dir, strerror(-r));
                goto fail;
        }
        if (run->stage_kind == EPISODE_STAGE_FETCH) {
                /* The URL and paths are single argv elements, never parsed by a shell. */
                const char *a[] = { s->opts.self_exe, "fetch", "-p", stage_policy, e->url, audio, NULL };
                r = copy_argv(a, &argv);
        } else {
                const char *a[] = { s->opts.self_exe, "transcribe", "-p", stage_policy, "--id", e->id,
                        "--audio", audio, "--out-dir", s->policy->paths.output_dir, "--workdir", workdir,
                        NULL };
                if (mkdirat(s->spool_fd, run->work_name, 0700) < 0 && errno != EEXIST)
                        goto fail_errno;
                if (s->rt.drop_privileges &&
                        fchownat(s->spool_fd, run->work_name, s->rt.uid, s->rt.gid, 0) < 0)
                        goto fail_errno;
                r = copy_argv(a, &argv);
        }
        if (r < 0)
                goto fail;
        envp = stage_env(s, run->stage_kind,
                run->stage_kind == EPISODE_STAGE_FETCH ? s->policy->paths.spool_dir : workdir);
        if (!envp) {
                r = -ENOMEM;
                goto fail;
        }
        spec = (StageSpec){
                .name = start.cgroup,
                .path = s->opts.self_exe,
                .argv = argv,
                .envp = envp,
                .limit_bytes = run->limit,
                .timeout_usec = s->policy->classes[run->cls].timeout_usec,
                .stdout_fd = run->out_fd,
                .stderr_fd = log_fd,
                .working_directory = s->policy->paths.spool_dir,
                .userdata = run,
        };
        r = supervisor_start(s->rt.supervisor, &spec, &run->stage, err, sizeof(err));
        if (r < 0)
                goto fail;
        run->started = now_usec(CLOCK_MONOTONIC);
        run->next = s->runs;
        s->runs = run;
        s->n_runs++;
        s->stages_started++;
        s->started_class[run->cls]++;
        emit(s, run->id, state_stage_to_string(run->stage_kind), "started");
        return 0;

fail_errno:
        r = -errno;
        snprintf(err, sizeof(err), "%s", strerror(-r));
fail : {
        /* The stage never ran: record it as a failed attempt so the episode retries. */
        StageEnd end = { .result = RUN_RESULT_EXIT,
                .exit_code = 127,
                .ended_at = now_usec(CLOCK_REALTIME),
                .error = err };
        EpisodeEvent ev = { .type = EPISODE_EVENT_STAGE_FAILED,
                .stage = run->stage_kind,
                .error = err,
                .now = end.ended_at,
                .jitter = drand48() };
        if (ledger_stage_end(s->ledger, run->run_id, &end, &ev, s->policy, NULL, NULL) < 0 && !s->fatal)
                s->fatal = -EIO;
        emit(s, e->id, state_stage_to_string(run->stage_kind), err);
}
        return 1; /* handled: not an admission failure */
}

typedef struct Candidate {
        size_t i; /* index into the runnable episodes, oldest first */
        SchedRun *run;
} Candidate;

/* Largest reservation first; the older episode first among equals, so the order is total. */
static int candidate_cmp(const void *a, const void *b)
{
        const Candidate *x = a, *y = b;

        if (x->run->reservation != y->run->reservation)
                return x->run->reservation > y->run->reservation ? -1 : 1;
        return (x->i > y->i) - (x->i < y->i);
}

/* Why largest-first by default: admission is first-fit over the candidates, and first-fit
 * decreasing packs better than first-fit in arrival order. Big episodes start while memory is
 * free and small ones run beside them; in arrival order the small ones take the room early and
 * the big ones end up running alone at the end of a batch (bench/ measures the difference). */
int scheduler_admit(Scheduler *s)
{
        Candidate cand[SCHEDULER_RUNNABLE_MAX];
        GovEstimateModel models[_GOV_STAGE_KIND_MAX];
        bool fitted[_GOV_STAGE_KIND_MAX] = {};
        bool largest_first = s->policy->memory.order == ADMIT_ORDER_LARGEST_FIRST;
        Episode *eps = NULL;
        size_t n = 0, nc = 0;
        int r;

        if (!s->admitting || !s->sampled)
                return 0;
        r = ledger_next_runnable(s->ledger, now_usec(CLOCK_REALTIME), ELEMENTSOF(cand), &eps, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                uint64_t estimate;
                SchedRun *run;
                bool busy = false;

                for (SchedRun *x = s->runs; x; x = x->next)
                        busy = busy || streq(x->id, eps[i].id);
                if (busy)
                        continue;
                run = calloc(1, sizeof(*run));
                if (!run) {
                        r = -ENOMEM;
                        goto finish;
                }
                run->out_fd = -EBADF;
                plan(s, &eps[i], run);
                if (eps[i].status.state == EPISODE_FETCHED && run->stage_kind == EPISODE_STAGE_FETCH) {
                        /* Fetched, but the audio is gone (deleted by hand, spool lost): the only
                         * way on is to fetch it again. */
                        EpisodeStatus again = eps[i].status;
                        again.state = EPISODE_QUEUED;
                        (void)ledger_transition(s->ledger, eps[i].id, EPISODE_FETCHED, &again,
                                "the fetched audio file is gone: fetching it again", NULL);
                        sched_run_free(run);
                        continue;
                }
                /* One fit per stage kind and pass: the model is the same for every candidate. */
                if (!fitted[run->est_kind]) {
                        gov_estimator_model(&s->estimates.kinds[run->est_kind], &models[run->est_kind]);
                        fitted[run->est_kind] = true;
                }
                estimate = gov_estimator_estimate_model(
                        &s->estimates.kinds[run->est_kind], &models[run->est_kind], run->input_bytes);
                run->limit = gov_stage_limit(
                        s->policy, estimate, eps[i].status.oom_count, eps[i].current_limit_bytes);
                run->reservation = gov_stage_reservation(
                        s->policy, estimate, eps[i].status.oom_count, eps[i].current_limit_bytes);
                cand[nc++] = (Candidate){ .i = i, .run = run };
        }
        if (largest_first)
                qsort(cand, nc, sizeof(cand[0]), candidate_cmp);
        memset(s->room_kept, 0, sizeof(s->room_kept));

        for (size_t k = 0; k < nc; k++) {
                GovRunning running[SCHEDULER_STAGES_MAX];
                SchedRun *run = cand[k].run;
                Episode *e = &eps[cand[k].i];
                SchedulerRoomKept *kept = &s->room_kept[run->cls];
                GovReason reason;
                size_t nr = 0;

                cand[k].run = NULL;
                if (s->n_runs >= SCHEDULER_STAGES_MAX) {
                        sched_run_free(run);
                        continue;
                }
                for (SchedRun *x = s->runs; x && nr < ELEMENTSOF(running); x = x->next)
                        running[nr++] = (GovRunning){ .cls = x->cls,
                                .estimate_bytes = x->reservation,
                                .observed_bytes = stage_observed_bytes(x->stage) };
                if (!gov_admit(&s->gov, s->policy, &s->readings, running, nr, run->cls, run->reservation,
                            &reason)) {
                        /* The first (largest) stage of its class refused for memory becomes the
                         * one room is kept for. */
                        if (largest_first && kept->bytes == 0 &&
                                (reason == GOV_REASON_BUDGET_RESERVATIONS ||
                                        reason == GOV_REASON_BUDGET_USAGE)) {
                                snprintf(kept->id, sizeof(kept->id), "%s", e->id);
                                kept->bytes = run->reservation;
                        }
                        sched_run_free(run);
                        continue; /* a smaller stage or another class may still have room */
                }
                if (kept->bytes > 0 &&
                        !gov_leaves_room(
                                s->policy, &s->readings, running, nr, kept->bytes, run->reservation)) {
                        sched_run_free(run);
                        continue; /* it would keep the larger waiting stage out */
                }
                r = start_run(s, e, run);
                if (r != 0) {
                        sched_run_free(run);
                        if (r < 0 && r != -EINVAL && r != -ESTALE && r != -ENOENT)
                                goto finish;
                        r = 0;
                }
        }
finish:
        for (size_t k = 0; k < nc; k++)
                sched_run_free(cand[k].run);
        ledger_episodes_free(eps, n);
        return r < 0 ? r : (s->fatal < 0 ? s->fatal : 0);
}
