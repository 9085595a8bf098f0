/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <sys/un.h>

#include "common/macro.h"
#include "common/parse.h"
#include "common/strv.h"
#include "policies/policy-internal.h"

#define LINE(sec, key) policy_load_line(l, sec, key)

/* The line to blame for a conflict: the one of the pair that the file set, later first. */
static unsigned blame(PolicyLoad *l, const char *s1, const char *k1, const char *s2, const char *k2)
{
        return MAX(LINE(s1, k1), LINE(s2, k2));
}

static void check_memory(PolicyLoad *l, const Policy *p)
{
        char a[FORMAT_SIZE_MAX], b[FORMAT_SIZE_MAX], c[FORMAT_SIZE_MAX];
        uint64_t budget = p->memory.budget_bytes, usable;

        if (p->memory.job_min_bytes > p->memory.job_max_bytes)
                policy_load_error(l, blame(l, "memory", "job_min", "memory", "job_max"),
                        "[memory] job_min (%s) is larger than job_max (%s)",
                        format_size(a, sizeof(a), p->memory.job_min_bytes),
                        format_size(b, sizeof(b), p->memory.job_max_bytes));
        if (budget == 0)
                return; /* auto: known only at run time, checked then */
        if (p->memory.headroom_bytes >= budget) {
                policy_load_error(l, blame(l, "memory", "headroom", "memory", "budget"),
                        "[memory] headroom (%s) leaves nothing of the budget (%s)",
                        format_size(a, sizeof(a), p->memory.headroom_bytes),
                        format_size(b, sizeof(b), budget));
                return;
        }
        usable = budget - p->memory.headroom_bytes;
        if (p->memory.job_max_bytes > usable)
                policy_load_error(l, blame(l, "memory", "job_max", "memory", "budget"),
                        "[memory] job_max (%s) is larger than budget - headroom (%s - %s): a stage at job_max could never be admitted",
                        format_size(a, sizeof(a), p->memory.job_max_bytes),
                        format_size(b, sizeof(b), budget),
                        format_size(c, sizeof(c), p->memory.headroom_bytes));
        for (JobClass i = 0; i < _JOB_CLASS_MAX; i++) {
                char sec[32];
                snprintf(sec, sizeof(sec), "class.%s", job_class_to_string(i));
                if (p->classes[i].estimate_bytes > usable)
                        policy_load_error(l, blame(l, sec, "estimate", "memory", "budget"),
                                "[%s] estimate (%s) is larger than budget - headroom (%s): such a stage could never be admitted",
                                sec, format_size(a, sizeof(a), p->classes[i].estimate_bytes),
                                format_size(b, sizeof(b), usable));
        }
}

static void check_pressure(PolicyLoad *l, const Policy *p)
{
        const PsiTrigger *t = &p->pressure.trigger;
        unsigned line = LINE("pressure", "trigger");

        /* The kernel's limits for PSI triggers (Documentation/accounting/psi.rst). */
        if (t->window_usec < 500 * USEC_PER_MSEC || t->window_usec > 10 * USEC_PER_SEC)
                policy_load_error(
                        l, line, "[pressure] trigger: the window must be from 500ms to 10s (kernel limit)");
        else if (t->stall_usec == 0 || t->stall_usec > t->window_usec)
                policy_load_error(
                        l, line, "[pressure] trigger: the stall must be more than 0 and at most the window");
        else if (t->window_usec % (2 * USEC_PER_SEC) != 0)
                policy_load_warning(l, line,
                        "[pressure] trigger: a window that is not a multiple of 2s needs CAP_SYS_RESOURCE; "
                        "without it memgov falls back to the nearest 2s window");
}

static void check_retry(PolicyLoad *l, const Policy *p)
{
        if (p->retry.backoff_min_usec > p->retry.backoff_max_usec)
                policy_load_error(l, blame(l, "retry", "backoff_min", "retry", "backoff_max"),
                        "[retry] backoff_min is larger than backoff_max");
}

/* Every {name} in a template must be one the stage fills in. */
static void check_template(PolicyLoad *l, char **argv, const char *key, const char *const *allowed)
{
        unsigned line = LINE("command", key);

        STRV_FOREACH (w, argv)
                for (const char *s = strchr(*w, '{'); s; s = strchr(s + 1, '{')) {
                        const char *e = strchr(s, '}');
                        bool ok = false;
                        if (!e) {
                                policy_load_error(l, line, "[command] %s: '{' without '}' in '%s'", key, *w);
                                break;
                        }
                        for (size_t i = 0; allowed[i]; i++)
                                if ((size_t)(e - s + 1) == strlen(allowed[i]) &&
                                        strneq(s, allowed[i], strlen(allowed[i])))
                                        ok = true;
                        if (!ok) {
                                char list[128] = "";
                                for (size_t i = 0; allowed[i]; i++) {
                                        strcat(list, i ? " " : "");
                                        strcat(list, allowed[i]);
                                }
                                policy_load_error(l, line,
                                        "[command] %s: unknown placeholder '%.*s' (allowed: %s)", key,
                                        (int)(e - s + 1), s, list);
                        }
                }
}

static bool strv_mentions(char **argv, const char *needle)
{
        STRV_FOREACH (w, argv)
                if (strstr(*w, needle))
                        return true;
        return false;
}

static void check_command(PolicyLoad *l, const Policy *p)
{
        static const char *const argv_ok[] = { "{audio}", "{out}", "{id}", "{workdir}", "{lang}", NULL };
        static const char *const prepare_ok[] = { "{audio}", "{prepared}", "{id}", "{workdir}", "{lang}",
                NULL };

        check_template(l, p->command.argv, "argv", argv_ok);
        check_template(l, p->command.prepare, "prepare", prepare_ok);
        if (p->transcribe.backend != BACKEND_COMMAND)
                return;
        if (!strv_mentions(p->command.argv, "{audio}"))
                policy_load_error(l, LINE("command", "argv"),
                        "[command] argv never names {audio}: the transcriber would not see the episode");
        if (p->command.output == COMMAND_OUTPUT_FILE && !strv_mentions(p->command.argv, "{out}"))
                policy_load_error(l, blame(l, "command", "argv", "command", "output"),
                        "[command] output = file, but argv never names {out}");
        if (p->command.prepare &&
                (!strv_mentions(p->command.prepare, "{prepared}") ||
                        !strv_mentions(p->command.prepare, "{audio}")))
                policy_load_error(l, LINE("command", "prepare"),
                        "[command] prepare must name both {audio} (input) and {prepared} (its output)");
}

static bool env_name_valid(const char *s)
{
        if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char)*s) && *s != '_')
                        return false;
        return true;
}

/* A plain-http endpoint is acceptable only on this machine: the key would cross the network in
 * clear text otherwise. */
static bool url_is_safe_for_secrets(const char *url)
{
        static const char *const local[] = { "http://127.0.0.1", "http://localhost", "http://[::1]" };

        if (strneq(url, "https://", 8))
                return true;
        for (size_t i = 0; i < ELEMENTSOF(local); i++) {
                size_t n = strlen(local[i]);
                if (strneq(url, local[i], n) && (url[n] == ':' || url[n] == '/' || url[n] == 0))
                        return true;
        }
        return false;
}

static void check_api(PolicyLoad *l, const char *sec, Backend self, const Policy *p, const char *key_file,
        const char *key_env, const char *endpoint, bool key_required)
{
        bool active = p->transcribe.backend == self;
        unsigned line = blame(l, sec, "api_key_file", sec, "api_key_env");

        if (key_file && key_env)
                policy_load_error(l, line, "[%s] set either api_key_file or api_key_env, not both", sec);
        else if (active && key_required && !key_file && !key_env)
                policy_load_error(l, MAX(line, LINE("transcribe", "backend")),
                        "[%s] the %s backend needs an API key: set api_key_file or api_key_env", sec, sec);
        if (key_env && !env_name_valid(key_env))
                policy_load_error(l, LINE(sec, "api_key_env"),
                        "[%s] api_key_env: '%s' is not an environment variable name", sec, key_env);
        if (active && !endpoint)
                policy_load_error(l, MAX(LINE(sec, "endpoint"), LINE("transcribe", "backend")),
                        "[%s] the %s backend needs an endpoint URL", sec, sec);
        if (endpoint && (key_file || key_env) && !url_is_safe_for_secrets(endpoint))
                policy_load_error(l, LINE(sec, "endpoint"),
                        "[%s] endpoint %s is plain http to another host: the API key would travel unencrypted; use https",
                        sec, endpoint);
}

static void check_backends(PolicyLoad *l, const Policy *p)
{
        static const char *const formats[] = { "json", "verbose_json", "text", NULL };
        const char *lang = p->transcribe.language;
        bool ok = false;

        check_api(l, "gemini", BACKEND_GEMINI, p, p->gemini.api_key_file, p->gemini.api_key_env,
                p->gemini.endpoint, true);
        check_api(l, "openai", BACKEND_OPENAI, p, p->openai.api_key_file, p->openai.api_key_env,
                p->openai.endpoint, false);
        for (size_t i = 0; formats[i]; i++)
                ok = ok || streq(formats[i], p->openai.response_format);
        if (!ok)
                policy_load_error(l, LINE("openai", "response_format"),
                        "[openai] response_format '%s' is not one memgov reads: json, verbose_json or text",
                        p->openai.response_format);
        if (p->transcribe.backend == BACKEND_OPENAI &&
                p->transcribe.max_chunk_size_bytes > p->openai.max_upload_bytes)
                policy_load_error(l, blame(l, "transcribe", "max_chunk_size", "openai", "max_upload"),
                        "[transcribe] max_chunk_size is larger than [openai] max_upload");
        if (lang) {
                size_t n = strlen(lang);
                bool valid = n >= 2 && n <= 16;
                for (const char *c = lang; *c && valid; c++)
                        valid = isalpha((unsigned char)*c) || *c == '-' || *c == '_';
                if (!valid)
                        policy_load_error(l, LINE("transcribe", "language"),
                                "[transcribe] language '%s' is not a language code such as en or pt-BR",
                                lang);
        }
}

static int derive_path(char **field, const char *state_dir, const char *leaf)
{
        if (*field)
                return 0;
        return asprintf(field, "%s/%s", state_dir, leaf) < 0 ? -ENOMEM : 0;
}

static void check_paths(PolicyLoad *l, Policy *p)
{
        if (derive_path(&p->paths.spool_dir, p->paths.state_dir, "spool") < 0 ||
                derive_path(&p->paths.output_dir, p->paths.state_dir, "out") < 0) {
                l->oom = 1;
                return;
        }
        if (strlen(p->paths.socket) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
                policy_load_error(l, LINE("paths", "socket"),
                        "[paths] socket: path is longer than %zu bytes, the limit of a Unix socket address",
                        sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
}

void policy_check(PolicyLoad *l)
{
        Policy *p = l->policy;

        check_memory(l, p);
        check_pressure(l, p);
        check_retry(l, p);
        check_command(l, p);
        check_backends(l, p);
        check_paths(l, p);
}
