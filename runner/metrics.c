/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <math.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "common/parse.h"
#include "runner/metrics.h"

/* Label values may hold anything a caller passes; the exposition format escapes \, " and newline
 * inside them (HELP texts: \ and newline), so a value can never end the line or the label. */
static void put_escaped(FILE *f, const char *s, bool quote)
{
        for (; *s; s++) {
                if (*s == '\\')
                        fputs("\\\\", f);
                else if (*s == '\n')
                        fputs("\\n", f);
                else if (quote && *s == '"')
                        fputs("\\\"", f);
                else
                        fputc(*s, f);
        }
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
        fprintf(f, "# HELP memgov_%s ", name);
        put_escaped(f, help, false);
        fprintf(f, "\n# TYPE memgov_%s %s\n", name, type);
}

static void sample_start(FILE *f, const char *name, const char *label, const char *value)
{
        fprintf(f, "memgov_%s", name);
        if (label) {
                fprintf(f, "{%s=\"", label);
                put_escaped(f, value, true);
                fputs("\"}", f);
        }
        fputc(' ', f);
}

static void sample_u64(FILE *f, const char *name, const char *label, const char *value, uint64_t v)
{
        sample_start(f, name, label, value);
        fprintf(f, "%" PRIu64 "\n", v);
}

static void sample_double(FILE *f, const char *name, double v)
{
        sample_start(f, name, NULL, NULL);
        if (isnan(v))
                fputs("NaN\n", f);
        else if (isinf(v))
                fputs(v > 0 ? "+Inf\n" : "-Inf\n", f);
        else {
                char buf[64];
                /* The format wants a '.', whatever LC_NUMERIC a caller may have set. */
                snprintf(buf, sizeof(buf), "%g", v);
                for (char *p = buf; *p; p++)
                        if (*p == ',')
                                *p = '.';
                fprintf(f, "%s\n", buf);
        }
}

static void gauge_u64(FILE *f, const char *name, const char *help, uint64_t v)
{
        family(f, name, "gauge", help);
        sample_u64(f, name, NULL, NULL, v);
}

static void per_class(FILE *f, const char *name, const char *type, const char *help, const uint64_t *v)
{
        family(f, name, type, help);
        for (JobClass c = 0; c < _JOB_CLASS_MAX; c++)
                sample_u64(f, name, "class", job_class_to_string(c), v[c]);
}

int metrics_format(const Metrics *m, char **ret)
{
        _cleanup_free_ char *buf = NULL;
        uint64_t v[_JOB_CLASS_MAX];
        size_t len = 0;
        FILE *f;

        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;

        family(f, "info", "gauge", "The running memgov: its version and enforcement mode.");
        fputs("memgov_info", f);
        if (m->version || m->mode) {
                fputc('{', f);
                if (m->version) {
                        fputs("version=\"", f);
                        put_escaped(f, m->version, true);
                        fputc('"', f);
                }
                if (m->mode) {
                        fputs(m->version ? ",mode=\"" : "mode=\"", f);
                        put_escaped(f, m->mode, true);
                        fputc('"', f);
                }
                fputc('}', f);
        }
        fputs(" 1\n", f);
        if (m->start_time_usec > 0) {
                family(f, "start_time_seconds", "gauge",
                        "When the daemon started, in seconds since the epoch.");
                sample_u64(f, "start_time_seconds", NULL, NULL, m->start_time_usec / USEC_PER_SEC);
        }

        gauge_u64(f, "budget_bytes", "Memory budget for all stages together.", m->budget_bytes);
        gauge_u64(f, "hard_usage_bytes", "Memory in use by the stages, without reclaimable file cache.",
                m->hard_usage_bytes);
        family(f, "psi_some_avg10", "gauge",
                "Memory pressure: percent of time some task stalled, 10s average.");
        sample_double(f, "psi_some_avg10", m->psi_some_avg10);
        family(f, "psi_full_avg10", "gauge",
                "Memory pressure: percent of time all tasks stalled, 10s average.");
        sample_double(f, "psi_full_avg10", m->psi_full_avg10);
        gauge_u64(f, "window", "Stages the concurrency window allows at once.", m->window);

        for (JobClass c = 0; c < _JOB_CLASS_MAX; c++)
                v[c] = m->admission_open[c];
        per_class(f, "admission_open", "gauge", "1 when a stage of the class would be admitted now.", v);
        for (JobClass c = 0; c < _JOB_CLASS_MAX; c++)
                v[c] = m->running[c];
        per_class(f, "running", "gauge", "Stages running, per class.", v);

        family(f, "episodes", "gauge", "Episodes in the ledger, per state.");
        for (EpisodeState s = 0; s < _EPISODE_STATE_MAX; s++)
                sample_u64(f, "episodes", "state", state_to_string(s), m->episodes[s]);
        gauge_u64(
                f, "daemon_rss_bytes", "Resident memory of the daemon process itself.", m->daemon_rss_bytes);

        per_class(
                f, "stages_started_total", "counter", "Stages started, per class.", m->stages_started_total);
        family(f, "stage_results_total", "counter", "Stage runs that ended, per result.");
        for (RunResult r = 0; r < _RUN_RESULT_MAX; r++)
                sample_u64(f, "stage_results_total", "result", state_result_to_string(r),
                        m->stage_results_total[r]);
        family(f, "oom_kills_total", "counter", "Stages killed by the kernel's OOM killer.");
        sample_u64(f, "oom_kills_total", NULL, NULL, m->oom_kills_total);
        family(f, "control_requests_total", "counter", "Requests answered on the control socket.");
        sample_u64(f, "control_requests_total", NULL, NULL, m->control_requests_total);
        family(f, "control_refused_total", "counter", "Control socket connections refused.");
        sample_u64(f, "control_refused_total", NULL, NULL, m->control_refused_total);

        if (ferror(f) || fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}

int metrics_write(int dirfd, const char *name, const Metrics *m)
{
        _cleanup_free_ char *text = NULL;
        int r;

        r = metrics_format(m, &text);
        if (r < 0)
                return r;
        return write_atomic_at(dirfd, name, text, strlen(text), 0644);
}

int metrics_read_self_rss(int proc_fd, uint64_t *ret)
{
        char buf[4096], *p, *e;
        uint64_t kib;
        ssize_t n;

        n = read_virtual_at(proc_fd, "self/status", buf, sizeof(buf));
        if (n < 0)
                return (int)n;
        p = strstr(buf, "\nVmRSS:");
        if (!p)
                return -EBADMSG;
        p += strlen("\nVmRSS:");
        p += strspn(p, " \t");
        e = p + strspn(p, "0123456789");
        if (e == p || !strneq(e, " kB", 3))
                return -EBADMSG;
        *e = 0;
        if (parse_u64(p, &kib) < 0 || kib > UINT64_MAX / 1024)
                return -EBADMSG;
        *ret = kib * 1024;
        return 0;
}
