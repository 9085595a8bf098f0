/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "common/macro.h"
#include "common/parse.h"
#include "common/strv.h"
#include "policies/policy-internal.h"

static const char *const enforcement_names[] = { "auto", "cgroup", "watchdog", NULL };
static const char *const backend_names[] = { "command", "gemini", "openai", NULL };
static const char *const output_names[] = { "stdout", "file", NULL };
static const char *const seccomp_names[] = { "default", "off", NULL };
static const char *const order_names[] = { "largest-first", "fifo", NULL };

/* The table reads best as a table: keep clang-format out of it. */
/* clang-format off */
#define KB (1ULL << 10)
#define MB (1ULL << 20)
#define GB (1ULL << 30)
#define TB (1ULL << 40)
#define MS USEC_PER_MSEC
#define SEC USEC_PER_SEC
#define MINUTE USEC_PER_MINUTE
#define HOUR USEC_PER_HOUR
#define DAY USEC_PER_DAY

#define F(member) offsetof(Policy, member)
#define SIZE(s, k, m, d, lo, hi, fl) { s, k, PT_SIZE, F(m), d, fl, lo, hi, 0, 0, NULL }
#define DUR(s, k, m, d, lo, hi)      { s, k, PT_DURATION, F(m), d, 0, lo, hi, 0, 0, NULL }
#define UINT(s, k, m, d, lo, hi)     { s, k, PT_UINT, F(m), d, 0, lo, hi, 0, 0, NULL }
#define PCT(s, k, m, d)              { s, k, PT_PERCENT, F(m), d, 0, 0, 10000, 0, 0, NULL }
#define DBL(s, k, m, d, lo, hi)      { s, k, PT_DOUBLE, F(m), d, 0, 0, 0, lo, hi, NULL }
#define BOOL(s, k, m, d)             { s, k, PT_BOOL, F(m), d, 0, 0, 0, 0, 0, NULL }
#define ENUM(s, k, m, d, n)          { s, k, PT_ENUM, F(m), d, 0, 0, 0, 0, 0, n }
#define STR(s, k, t, m, d, fl)       { s, k, t, F(m), d, fl, 0, 0, 0, 0, NULL }
#define CLASS(name, id, conc, est, tmo)                                                                     \
        UINT("class." name, "max_concurrent", classes[id].max_concurrent, conc, 1, 1024),                 \
        SIZE("class." name, "estimate", classes[id].estimate_bytes, est, 1 * MB, 1 * TB, 0),               \
        DUR("class." name, "timeout", classes[id].timeout_usec, tmo, 1 * SEC, 7 * DAY)

const PolicyKey policy_table[] = {
        ENUM("memory", "enforcement", memory.enforcement, "auto", enforcement_names),
        SIZE("memory", "budget", memory.budget_bytes, "auto", 16 * MB, 1024 * TB, PF_AUTO),
        SIZE("memory", "reserve", memory.reserve_bytes, "256M", 0, 1 * TB, 0),
        SIZE("memory", "headroom", memory.headroom_bytes, "128M", 0, 1 * TB, 0),
        SIZE("memory", "job_min", memory.job_min_bytes, "64M", 1 * MB, 1 * TB, 0),
        SIZE("memory", "job_max", memory.job_max_bytes, "1G", 1 * MB, 1 * TB, 0),
        DBL("memory", "margin", memory.margin, "1.25", 1.0, 10.0),
        DBL("memory", "escalation", memory.escalation, "1.5", 1.0, 10.0),
        BOOL("memory", "swap", memory.swap, "off"),
        ENUM("memory", "order", memory.order, "largest-first", order_names),

        { "pressure", "trigger", PT_TRIGGER, F(pressure.trigger), "some 150ms 2s", 0, 0, 0, 0, 0, NULL },
        PCT("pressure", "some_avg10_max", pressure.some_avg10_max_permyriad, "10%"),
        PCT("pressure", "full_avg10_max", pressure.full_avg10_max_permyriad, "2%"),
        DUR("pressure", "cooldown", pressure.cooldown_usec, "30s", 0, 1 * HOUR),
        DUR("pressure", "sample_interval", pressure.sample_interval_usec, "1s", 10 * MS, 1 * MINUTE),
        DUR("pressure", "startup_delay", pressure.startup_delay_usec, "0", 0, 1 * HOUR),
        BOOL("pressure", "slow_start", pressure.slow_start, "yes"),

        CLASS("download", JOB_CLASS_DOWNLOAD, "1", "64M", "1h"),
        CLASS("transcribe", JOB_CLASS_TRANSCRIBE, "2", "512M", "2h"),
        CLASS("api", JOB_CLASS_API, "2", "32M", "30m"),

        SIZE("fetch", "max_file_size", fetch.max_file_size_bytes, "200M", 1 * KB, 1 * TB, 0),
        { "fetch", "protocols", PT_PROTOCOLS, F(fetch.protocols), "http,https", 0, 0, 0, 0, 0, NULL },
        UINT("fetch", "max_redirects", fetch.max_redirects, "10", 0, 50),
        DUR("fetch", "connect_timeout", fetch.connect_timeout_usec, "20s", 100 * MS, 10 * MINUTE),
        SIZE("fetch", "low_speed_limit", fetch.low_speed_limit_bytes, "1K", 0, 1 * GB, 0),
        DUR("fetch", "low_speed_time", fetch.low_speed_time_usec, "60s", 1 * SEC, 1 * HOUR),
        STR("fetch", "user_agent", PT_STRING, fetch.user_agent, "memgov/" PACKAGE_VERSION " (podcast transcription)", 0),
        BOOL("fetch", "verify_tls", fetch.verify_tls, "yes"),

        ENUM("transcribe", "backend", transcribe.backend, "command", backend_names),
        DUR("transcribe", "chunk_duration", transcribe.chunk_duration_usec, "15m", 10 * SEC, 1 * DAY),
        SIZE("transcribe", "max_chunk_size", transcribe.max_chunk_size_bytes, "auto", 64 * KB, 4 * GB, PF_AUTO),
        STR("transcribe", "language", PT_STRING, transcribe.language, "", PF_OPTIONAL),

        STR("command", "argv", PT_ARGV, command.argv, "pocketsphinx_continuous -infile {audio} -logfn /dev/null", 0),
        STR("command", "prepare", PT_ARGV, command.prepare,
                "sox {audio} -r 16000 -c 1 -b 16 -e signed-integer {prepared}", PF_OPTIONAL),
        ENUM("command", "output", command.output, "stdout", output_names),

        STR("gemini", "model", PT_STRING, gemini.model, "gemini-2.5-flash", 0),
        STR("gemini", "api_key_file", PT_PATH, gemini.api_key_file, "", PF_OPTIONAL),
        STR("gemini", "api_key_env", PT_STRING, gemini.api_key_env, "", PF_OPTIONAL),
        STR("gemini", "prompt_file", PT_PATH, gemini.prompt_file, "", PF_OPTIONAL),
        STR("gemini", "endpoint", PT_URL, gemini.endpoint, "https://generativelanguage.googleapis.com", 0),
        DUR("gemini", "poll_interval", gemini.poll_interval_usec, "5s", 100 * MS, 1 * MINUTE),
        BOOL("gemini", "delete_after", gemini.delete_after, "yes"),

        STR("openai", "endpoint", PT_URL, openai.endpoint, "", PF_OPTIONAL),
        STR("openai", "model", PT_STRING, openai.model, "whisper-1", 0),
        STR("openai", "api_key_file", PT_PATH, openai.api_key_file, "", PF_OPTIONAL),
        STR("openai", "api_key_env", PT_STRING, openai.api_key_env, "", PF_OPTIONAL),
        STR("openai", "response_format", PT_STRING, openai.response_format, "json", 0),
        SIZE("openai", "max_upload", openai.max_upload_bytes, "25M", 64 * KB, 4 * GB, 0),

        UINT("retry", "max_attempts", retry.max_attempts, "5", 1, 100),
        DUR("retry", "backoff_min", retry.backoff_min_usec, "30s", 0, 1 * DAY),
        DUR("retry", "backoff_max", retry.backoff_max_usec, "1h", 0, 7 * DAY),
        UINT("retry", "max_interruptions", retry.max_interruptions, "3", 1, 100),
        UINT("retry", "max_oom_at_job_max", retry.max_oom_at_job_max, "1", 1, 100),

        STR("sandbox", "user", PT_STRING, sandbox.user, "memgov", 0),
        ENUM("sandbox", "seccomp", sandbox.seccomp, "default", seccomp_names),
        UINT("sandbox", "pids_max", sandbox.pids_max, "256", 1, 4194304),
        UINT("sandbox", "nofile", sandbox.nofile, "1024", 16, 1048576),
        SIZE("sandbox", "log_max", sandbox.log_max_bytes, "1M", 4 * KB, 1 * GB, 0),

        STR("paths", "state_dir", PT_PATH, paths.state_dir, "/var/lib/memgov", 0),
        STR("paths", "spool_dir", PT_PATH, paths.spool_dir, "", PF_OPTIONAL),
        STR("paths", "output_dir", PT_PATH, paths.output_dir, "", PF_OPTIONAL),
        STR("paths", "socket", PT_PATH, paths.socket, "/run/memgov/control.sock", 0),

        STR("daemon", "admin_group", PT_STRING, daemon.admin_group, "", PF_OPTIONAL),
        STR("daemon", "metrics_file", PT_PATH, daemon.metrics_file, "", PF_OPTIONAL),
        DUR("daemon", "drain_grace", daemon.drain_grace_usec, "60s", 0, 1 * HOUR),
        DUR("daemon", "watchdog_interval", daemon.watchdog_interval_usec, "100ms", 10 * MS, 10 * SEC),
};
/* clang-format on */
const size_t policy_table_size = ELEMENTSOF(policy_table);

const PolicyKey *policy_key_find(const char *section, const char *key)
{
        for (size_t i = 0; i < policy_table_size; i++)
                if (streq(policy_table[i].section, section) && streq(policy_table[i].key, key))
                        return &policy_table[i];
        return NULL;
}

#define FIELD(p, k, type)  ((type *)(void *)((char *)(p) + (k)->offset))
#define CFIELD(p, k, type) ((const typeof(type) *)(const void *)((const char *)(p) + (k)->offset))

_printf_(4, 5) static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return r;
}

static int check_range(const PolicyKey *k, uint64_t v, char *err, size_t errlen,
        const char *(*fmt)(char *, size_t, uint64_t))
{
        char lo[FORMAT_DURATION_MAX], hi[FORMAT_DURATION_MAX];

        if (v == 0 && (k->flags & PF_AUTO))
                return 0;
        if (v == UINT64_MAX && (k->flags & PF_MAX))
                return 0;
        if (v >= k->min && v <= k->max)
                return 0;
        snprintf(err, errlen, "out of range: allowed %s to %s", fmt(lo, sizeof(lo), k->min),
                fmt(hi, sizeof(hi), k->max));
        return -ERANGE;
}

static const char *fmt_uint(char *buf, size_t size, uint64_t v)
{
        snprintf(buf, size, "%" PRIu64, v);
        return buf;
}

static const char *fmt_percent(char *buf, size_t size, uint64_t v)
{
        if (v % 100)
                snprintf(buf, size, "%" PRIu64 ".%02" PRIu64 "%%", v / 100, v % 100);
        else
                snprintf(buf, size, "%" PRIu64 "%%", v / 100);
        return buf;
}

static const char *fmt_duration(char *buf, size_t size, uint64_t v)
{
        return format_duration(buf, size, v);
}

static int set_path(char **field, const char *value, const char *base_dir)
{
        char *s;

        if (value[0] == '/' || !base_dir) {
                s = strdup(value);
        } else if (asprintf(&s, "%s/%s", base_dir, value) < 0)
                s = NULL;
        if (!s)
                return -ENOMEM;
        free(*field);
        *field = s;
        return 0;
}

static int parse_trigger(const char *value, PsiTrigger *t, char *err, size_t errlen)
{
        char kind[8], stall[32], window[32], extra[2];
        PsiTrigger n;

        if (sscanf(value, "%7s %31s %31s %1s", kind, stall, window, extra) != 3)
                return fail(
                        err, errlen, -EINVAL, "expected 'some|full STALL WINDOW' such as 'some 150ms 2s'");
        if (streq(kind, "some"))
                n.kind = PSI_SOME;
        else if (streq(kind, "full"))
                n.kind = PSI_FULL;
        else
                return fail(err, errlen, -EINVAL, "'%s' is neither 'some' nor 'full'", kind);
        if (parse_duration(stall, &n.stall_usec) < 0)
                return fail(err, errlen, -EINVAL, "stall '%s' is not a duration such as 150ms", stall);
        if (parse_duration(window, &n.window_usec) < 0)
                return fail(err, errlen, -EINVAL, "window '%s' is not a duration such as 2s", window);
        *t = n;
        return 0;
}

static int parse_protocols(const char *value, unsigned *ret, char *err, size_t errlen)
{
        char buf[64], *save = NULL;
        unsigned bits = 0;

        if (strlen(value) >= sizeof(buf))
                return fail(err, errlen, -EINVAL, "expected a list such as 'http,https'");
        strcpy(buf, value);
        for (char *w = strtok_r(buf, ", ", &save); w; w = strtok_r(NULL, ", ", &save)) {
                if (streq(w, "http"))
                        bits |= PROTOCOL_HTTP;
                else if (streq(w, "https"))
                        bits |= PROTOCOL_HTTPS;
                else
                        return fail(err, errlen, -EINVAL,
                                "protocol '%s' is not supported: only http and https", w);
        }
        if (!bits)
                return fail(err, errlen, -EINVAL, "expected at least one of http, https");
        *ret = bits;
        return 0;
}

static int parse_enum(const PolicyKey *k, const char *value, int *ret, char *err, size_t errlen)
{
        size_t off = 0;

        for (int i = 0; k->names[i]; i++)
                if (streq(k->names[i], value)) {
                        *ret = i;
                        return 0;
                }
        off = (size_t)snprintf(err, errlen, "expected one of:");
        for (int i = 0; k->names[i] && off < errlen; i++)
                off += (size_t)snprintf(err + off, errlen - off, "%s %s", i ? "," : "", k->names[i]);
        return -EINVAL;
}

int policy_set_value(
        Policy *p, const PolicyKey *k, const char *value, const char *base_dir, char *err, size_t errlen)
{
        uint64_t u64;
        usec_t usec;
        unsigned u;
        double d;
        int r;

        if (isempty(value) && k->type != PT_STRING && !(k->flags & PF_OPTIONAL))
                return fail(err, errlen, -EINVAL, "a value is required");

        switch (k->type) {
        case PT_ENUM:
                return parse_enum(k, value, FIELD(p, k, int), err, errlen);
        case PT_SIZE:
                if ((k->flags & PF_AUTO) && streq(value, "auto"))
                        u64 = 0;
                else if ((r = parse_size(value, k->flags & PF_MAX, &u64)) == -ERANGE)
                        return fail(err, errlen, r, "size '%s' is too large", value);
                else if (r < 0)
                        return fail(err, errlen, r, "expected a size such as 512M or 1G (K, M, G, T)%s",
                                (k->flags & PF_AUTO) ? ", or auto" : "");
                else if (u64 == 0 && (k->flags & PF_AUTO))
                        return fail(err, errlen, -ERANGE,
                                "0 is not allowed; write 'auto' for the automatic value");
                if ((r = check_range(k, u64, err, errlen, format_size)) < 0)
                        return r;
                *FIELD(p, k, uint64_t) = u64;
                return 0;
        case PT_DURATION:
                if ((r = parse_duration(value, &usec)) < 0)
                        return fail(err, errlen, r, "expected a duration such as 500ms, 30s, 15m or 2h");
                if ((r = check_range(k, usec, err, errlen, fmt_duration)) < 0)
                        return r;
                *FIELD(p, k, usec_t) = usec;
                return 0;
        case PT_PERCENT:
                if ((r = parse_percent(value, &u)) < 0)
                        return fail(err, errlen, r, "expected a percentage from 0%% to 100%% such as 10%%");
                if ((r = check_range(k, u, err, errlen, fmt_percent)) < 0)
                        return r;
                *FIELD(p, k, unsigned) = u;
                return 0;
        case PT_DOUBLE:
                if ((r = parse_double(value, &d)) < 0)
                        return fail(err, errlen, -EINVAL, "expected a decimal number such as 1.25");
                if (d < k->dmin || d > k->dmax) {
                        snprintf(err, errlen, "out of range: allowed %g to %g", k->dmin, k->dmax);
                        return -ERANGE;
                }
                *FIELD(p, k, double) = d;
                return 0;
        case PT_BOOL:
                if ((r = parse_boolean(value)) < 0)
                        return fail(err, errlen, r, "expected yes or no");
                *FIELD(p, k, bool) = r;
                return 0;
        case PT_UINT:
                if ((r = parse_uint(value, &u)) < 0)
                        return fail(err, errlen, r, "expected a whole number");
                if ((r = check_range(k, u, err, errlen, fmt_uint)) < 0)
                        return r;
                *FIELD(p, k, unsigned) = u;
                return 0;
        case PT_URL:
                if (!isempty(value) &&
                        ((!strneq(value, "http://", 7) && !strneq(value, "https://", 8)) ||
                                strpbrk(value, " \t\"'<>\\")))
                        return fail(err, errlen, -EINVAL, "expected an http:// or https:// URL");
                _fallthrough_;
        case PT_STRING:
                if (isempty(value) && !(k->flags & PF_OPTIONAL))
                        return fail(err, errlen, -EINVAL, "a value is required");
                free(*FIELD(p, k, char *));
                *FIELD(p, k, char *) = NULL;
                if (isempty(value))
                        return 0;
                *FIELD(p, k, char *) = strdup(value);
                return *FIELD(p, k, char *) ? 0 : -ENOMEM;
        case PT_PATH:
                if (isempty(value)) {
                        free(*FIELD(p, k, char *));
                        *FIELD(p, k, char *) = NULL;
                        return 0;
                }
                return set_path(FIELD(p, k, char *), value, base_dir);
        case PT_ARGV: {
                char **l = NULL;
                r = strv_split_quoted(value, &l);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return fail(err, errlen, r, "unterminated quote in '%s'", value);
                if (!l[0] && !(k->flags & PF_OPTIONAL)) {
                        strv_free(l);
                        return fail(err, errlen, -EINVAL, "a command is required");
                }
                strv_free(*FIELD(p, k, char **));
                *FIELD(p, k, char **) = l[0] ? l : strv_free(l);
                return 0;
        }
        case PT_TRIGGER:
                return parse_trigger(value, FIELD(p, k, PsiTrigger), err, errlen);
        case PT_PROTOCOLS:
                return parse_protocols(value, FIELD(p, k, unsigned), err, errlen);
        }
        return -EINVAL;
}

char *policy_format_value(const Policy *p, const PolicyKey *k)
{
        char buf[FORMAT_DURATION_MAX * 2 + 16], a[FORMAT_DURATION_MAX], b[FORMAT_DURATION_MAX];
        const char *s = buf;

        switch (k->type) {
        case PT_ENUM:
                s = k->names[*CFIELD(p, k, int)];
                break;
        case PT_SIZE: {
                uint64_t v = *CFIELD(p, k, uint64_t);
                s = v == 0 && (k->flags & PF_AUTO) ? "auto" : format_size(buf, sizeof(buf), v);
                break;
        }
        case PT_DURATION:
                format_duration(buf, sizeof(buf), *CFIELD(p, k, usec_t));
                break;
        case PT_PERCENT:
                fmt_percent(buf, sizeof(buf), *CFIELD(p, k, unsigned));
                break;
        case PT_DOUBLE:
                /* %.17g reads back to the same double. */
                snprintf(buf, sizeof(buf), "%.17g", *CFIELD(p, k, double));
                break;
        case PT_BOOL:
                s = *CFIELD(p, k, bool) ? "yes" : "no";
                break;
        case PT_UINT:
                fmt_uint(buf, sizeof(buf), *CFIELD(p, k, unsigned));
                break;
        case PT_STRING:
        case PT_PATH:
        case PT_URL:
                s = *CFIELD(p, k, char *) ? *CFIELD(p, k, char *) : "";
                break;
        case PT_ARGV:
                return *CFIELD(p, k, char **) ? strv_join_quoted(*CFIELD(p, k, char **)) : strdup("");
        case PT_TRIGGER: {
                const PsiTrigger *t = CFIELD(p, k, PsiTrigger);
                snprintf(buf, sizeof(buf), "%s %s %s", t->kind == PSI_FULL ? "full" : "some",
                        format_duration(a, sizeof(a), t->stall_usec),
                        format_duration(b, sizeof(b), t->window_usec));
                break;
        }
        case PT_PROTOCOLS: {
                unsigned v = *CFIELD(p, k, unsigned);
                snprintf(buf, sizeof(buf), "%s%s%s", v & PROTOCOL_HTTP ? "http" : "",
                        (v & PROTOCOL_HTTP) && (v & PROTOCOL_HTTPS) ? "," : "",
                        v & PROTOCOL_HTTPS ? "https" : "");
                break;
        }
        }
        return strdup(s);
}

void policy_clear_value(Policy *p, const PolicyKey *k)
{
        switch (k->type) {
        case PT_STRING:
        case PT_PATH:
        case PT_URL:
                free(*FIELD(p, k, char *));
                *FIELD(p, k, char *) = NULL;
                break;
        case PT_ARGV:
                *FIELD(p, k, char **) = strv_free(*FIELD(p, k, char **));
                break;
        case PT_ENUM:
        case PT_SIZE:
        case PT_DURATION:
        case PT_PERCENT:
        case PT_DOUBLE:
        case PT_BOOL:
        case PT_UINT:
        case PT_TRIGGER:
        case PT_PROTOCOLS:
                break;
        }
}
