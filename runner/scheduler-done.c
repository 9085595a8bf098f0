/* SPDX-License-Identifier: MIT */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "common/json-util.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "runner/scheduler-internal.h"

#define RESULT_MAX (64 * 1024)

/* The stage's one JSON line, or NULL when it wrote none (it crashed or was killed). */
static cJSON *read_result(SchedRun *run)
{
        char *buf = malloc(RESULT_MAX + 1);
        ssize_t n;
        cJSON *j = NULL;

        if (!buf)
                return NULL;
        n = pread(run->out_fd, buf, RESULT_MAX, 0);
        if (n > 0) {
                buf[n] = 0;
                j = cJSON_Parse(buf);
                if (j && !cJSON_IsObject(j)) {
                        cJSON_Delete(j);
                        j = NULL;
                }
        }
        free(buf);
        return j;
}

/* The last line of the stage's stderr, for the ledger's error text when the stage said nothing. */
static void log_tail(Scheduler *s, const char *name, char *buf, size_t size)
{
        _cleanup_close_ int dir = openat(s->state_fd, "runs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int fd = dir >= 0 ? openat(dir, name, O_RDONLY | O_CLOEXEC) : -EBADF;
        struct stat st;
        char *nl;
        ssize_t n;

        buf[0] = 0;
        if (fd < 0 || fstat(fd, &st) < 0)
                return;
        n = pread(fd, buf, size - 1, st.st_size > (off_t)size - 1 ? st.st_size - (off_t)size + 1 : 0);
        if (n <= 0)
                return;
        buf[n] = 0;
        while (n > 0 && buf[n - 1] == '\n')
                buf[--n] = 0;
        nl = strrchr(buf, '\n');
        if (nl)
                memmove(buf, nl + 1, strlen(nl + 1) + 1);
}

/* Stage logs are capped at [sandbox] log_max once the stage has ended: the beginning is kept,
 * where the cause of most failures is. (The cap is not enforced while the stage writes.) */
static void cap_log(Scheduler *s, const char *name)
{
        _cleanup_close_ int dir = openat(s->state_fd, "runs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int fd = dir >= 0 ? openat(dir, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC) : -EBADF;
        struct stat st;

        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                st.st_size > (off_t)s->policy->sandbox.log_max_bytes)
                (void)ftruncate(fd, (off_t)s->policy->sandbox.log_max_bytes);
}

typedef struct FetchPeak {
        uint64_t peak_bytes, limit_bytes;
} FetchPeak;

static int last_ok_fetch(const StageRun *r, void *userdata)
{
        FetchPeak *f = userdata;

        if (r->stage == EPISODE_STAGE_FETCH && r->result == RUN_RESULT_OK)
                *f = (FetchPeak){ r->peak_bytes, r->limit_bytes };
        return 0;
}

static void add_stage(cJSON *memory, const char *name, uint64_t peak, uint64_t limit)
{
        cJSON *o = cJSON_AddObjectToObject(memory, name);

        if (!o)
                return;
        cJSON_AddNumberToObject(o, "peak_bytes", (double)peak);
        cJSON_AddNumberToObject(o, "limit_bytes", (double)limit);
}

/* Fills the "memory" object of <id>.json with the peak of each stage run against its limit,
 * durably, before the ledger says done. */
static void add_peaks(Scheduler *s, const char *id, const SchedRun *run, const StageResult *res)
{
        char name[160], *text = NULL;
        _cleanup_(cJSON_Deletep) cJSON *j = NULL;
        FetchPeak fetch = {};
        cJSON *mem;
        size_t len;

        snprintf(name, sizeof(name), "%s.json", id);
        /* The output folder is the stage user's: a symlink or FIFO planted there must not make
         * the daemon read or block on anything else. */
        if (read_regular_file_at(s->out_fd, name, 16 << 20, &text, &len) < 0)
                return;
        j = cJSON_Parse(text);
        free(text);
        if (!j)
                return;
        (void)ledger_list_runs(s->ledger, id, last_ok_fetch, &fetch);
        cJSON_DeleteItemFromObject(j, "memory");
        mem = cJSON_AddObjectToObject(j, "memory");
        if (!mem)
                return;
        cJSON_AddStringToObject(mem, "mode", gov_mode_to_string(s->rt.discovery.mode));
        cJSON_AddNumberToObject(mem, "budget_bytes", (double)s->rt.budget_bytes);
        add_stage(mem, "fetch", fetch.peak_bytes, fetch.limit_bytes);
        add_stage(mem, "transcribe", res->peak_bytes, run->limit);
        text = cJSON_Print(j);
        if (text)
                (void)write_atomic_at(s->out_fd, name, text, strlen(text), 0644);
        free(text);
}

static RunResult run_result_of(StageResultKind k)
{
        switch (k) {
        case STAGE_OK:
                return RUN_RESULT_OK;
        case STAGE_EXIT:
                return RUN_RESULT_EXIT;
        case STAGE_SIGNAL:
                return RUN_RESULT_SIGNAL;
        case STAGE_OOM:
                return RUN_RESULT_OOM;
        case STAGE_TIMEOUT:
                return RUN_RESULT_TIMEOUT;
        case STAGE_CANCELLED:
                return RUN_RESULT_CANCELLED;
        case STAGE_WATCHDOG:
                return RUN_RESULT_WATCHDOG;
        case _STAGE_RESULT_MAX:
                break;
        }
        return RUN_RESULT_EXIT;
}

void scheduler_on_stage_done(Stage *st, const StageResult *res, void *userdata)
{
        Scheduler *s = userdata;
        SchedRun *run = stage_userdata(st);
        _cleanup_(cJSON_Deletep) cJSON *j = read_result(run);
        char errbuf[512] = "", audio[4096], txt[4096], meta[4096], what[64];
        const char *error = NULL;
        EpisodeFields fields = {};
        StageEnd end = {
                .result = run_result_of(res->kind),
                .exit_code = res->kind == STAGE_EXIT ? res->code : 0,
                .signal = res->kind == STAGE_SIGNAL ? res->code : 0,
                .oom_kill = res->oom_kills > 0,
                .peak_bytes = res->peak_bytes,
                .duration_usec = res->duration_usec,
                .ended_at = now_usec(CLOCK_REALTIME),
        };
        EpisodeEvent ev = { .stage = run->stage_kind, .now = end.ended_at, .jitter = drand48() };
        bool ok = res->kind == STAGE_OK && j && cJSON_IsTrue(cJSON_GetObjectItem(j, "ok")),
             spool_done = false;
        int r;

        for (SchedRun **pp = &s->runs; *pp; pp = &(*pp)->next)
                if (*pp == run) {
                        *pp = run->next;
                        break;
                }
        s->n_runs--;
        s->stage_ended = true;
        s->results[res->kind]++;
        if (res->peak_bytes > s->peak_stage_bytes[run->stage_kind]) {
                s->peak_stage_bytes[run->stage_kind] = res->peak_bytes;
                s->peak_stage_limit[run->stage_kind] = run->limit;
        }

        if (ok) {
                ev.type = EPISODE_EVENT_STAGE_OK;
                if (run->stage_kind == EPISODE_STAGE_FETCH) {
                        cJSON *size = cJSON_GetObjectItem(j, "size");
                        const char *fmt = cJSON_GetStringValue(cJSON_GetObjectItem(j, "format"));
                        char from[200], to[200];
                        /* Converters such as sox pick the decoder by the file name's extension. */
                        snprintf(from, sizeof(from), "%s.audio", run->id);
                        snprintf(to, sizeof(to), "%s.%s", run->id,
                                fmt && strspn(fmt, "abcdefghijklmnopqrstuvwxyz0123456789") == strlen(fmt) &&
                                                *fmt && !streq(fmt, "unknown")
                                        ? fmt
                                        : "audio");
                        if (!streq(from, to) && renameat(s->spool_fd, from, s->spool_fd, to) < 0)
                                snprintf(to, sizeof(to), "%s", from);
                        snprintf(audio, sizeof(audio), "%s/%s", s->policy->paths.spool_dir, to);
                        fields.audio_path = audio;
                        fields.size_bytes = cJSON_IsNumber(size) ? (uint64_t)size->valuedouble : 0;
                        fields.sha256 = cJSON_GetStringValue(cJSON_GetObjectItem(j, "sha256"));
                        fields.format = cJSON_GetStringValue(cJSON_GetObjectItem(j, "format"));
                } else {
                        snprintf(txt, sizeof(txt), "%s/%s.txt", s->policy->paths.output_dir, run->id);
                        snprintf(meta, sizeof(meta), "%s/%s.json", s->policy->paths.output_dir, run->id);
                        fields.transcript_path = txt;
                        fields.metadata_path = meta;
                        add_peaks(s, run->id, run, res);
                        spool_done = true;
                }
                /* Feed the estimate only with runs that were not cut short. */
                if (res->peak_bytes > 0) {
                        EstimateSample sample = { .peak_bytes = res->peak_bytes,
                                .input_bytes = run->input_bytes,
                                .at = end.ended_at };
                        (void)gov_estimator_add(
                                &s->estimates.kinds[run->est_kind], res->peak_bytes, run->input_bytes);
                        (void)ledger_estimate_add(
                                s->ledger, gov_stage_kind_to_string(run->est_kind), &sample);
                }
        } else if (run->interrupted) {
                ev.type = EPISODE_EVENT_INTERRUPTED;
                end.result = RUN_RESULT_INTERRUPTED;
        } else if (res->kind == STAGE_OOM || res->kind == STAGE_WATCHDOG) {
                ev.type = EPISODE_EVENT_OOM;
                ev.at_job_max = gov_limit_at_job_max(s->policy, run->limit);
                snprintf(errbuf, sizeof(errbuf), "%s: out of memory at its limit of %llu MiB",
                        state_stage_to_string(run->stage_kind), (unsigned long long)(run->limit >> 20));
                error = errbuf;
        } else if (res->kind == STAGE_TIMEOUT) {
                ev.type = EPISODE_EVENT_TIMEOUT;
                snprintf(errbuf, sizeof(errbuf), "%s: timed out after %llus",
                        state_stage_to_string(run->stage_kind),
                        (unsigned long long)(res->duration_usec / USEC_PER_SEC));
                error = errbuf;
        } else if (res->kind == STAGE_CANCELLED) {
                ev.type = EPISODE_EVENT_CANCELLED;
        } else {
                const char *msg = j ? cJSON_GetStringValue(cJSON_GetObjectItem(j, "error")) : NULL;
                ev.type = EPISODE_EVENT_STAGE_FAILED;
                /* A stage that says its error is permanent is believed; a crash is retried. */
                ev.permanent = j && cJSON_IsFalse(cJSON_GetObjectItem(j, "retryable"));
                if (msg)
                        snprintf(errbuf, sizeof(errbuf), "%s", msg);
                else {
                        char tail[300];
                        log_tail(s, run->log_name, tail, sizeof(tail));
                        snprintf(errbuf, sizeof(errbuf), "%s: %s%s%s",
                                state_stage_to_string(run->stage_kind),
                                stage_result_to_string(res, what, sizeof(what)), tail[0] ? ": " : "", tail);
                }
                error = errbuf;
        }
        end.error = error;
        ev.error = error;
        r = ledger_stage_end(s->ledger, run->run_id, &end, &ev, s->policy, &fields, NULL);
        /* -ESTALE: the user cancelled meanwhile; the run is recorded and the episode stays as
         * the user left it. Any other failure means the ledger cannot be trusted: stop. */
        if (r < 0 && r != -ESTALE && r != -EINVAL && !s->fatal)
                s->fatal = r;
        /* The transcript is durable and recorded: the spooled audio has served its purpose. */
        if (spool_done && r >= 0) {
                Episode e;
                if (ledger_get(s->ledger, run->id, &e) >= 0) {
                        if (e.audio_path)
                                (void)unlink(e.audio_path);
                        ledger_episode_done(&e);
                }
        }
        /* The work folder belongs to the stage user: removed through dirfds, never by path. */
        if (run->stage_kind == EPISODE_STAGE_TRANSCRIBE)
                (void)rm_tree_at(s->spool_fd, run->work_name);
        if (ok)
                snprintf(errbuf, sizeof(errbuf), "ok (peak %llu MiB of %llu MiB)",
                        (unsigned long long)(res->peak_bytes >> 20), (unsigned long long)(run->limit >> 20));
        else if (!error)
                snprintf(errbuf, sizeof(errbuf), "%s", stage_result_to_string(res, what, sizeof(what)));
        cap_log(s, run->log_name);
        if (s->opts.event)
                s->opts.event(s->opts.userdata, run->id, state_stage_to_string(run->stage_kind), errbuf);
        sched_run_free(run);
}
