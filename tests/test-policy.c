/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdlib.h>

#include "common/macro.h"
#include "common/parse.h"
#include "common/strv.h"
#include "policies/policy-internal.h"
#include "tests/tap.h"

/* Loads text as "t.ini"; returns the load result, the errors joined by '\n' in errs. */
static int load(const char *text, Policy *p, char *errs, size_t errlen)
{
        PolicyDiag d = {};
        size_t off = 0;
        int r;

        r = policy_load_buffer("t.ini", text, strlen(text), p, &d);
        errs[0] = 0;
        for (size_t i = 0; i < d.n_errors && off < errlen; i++)
                off += (size_t)snprintf(errs + off, errlen - off, "%s\n", d.errors[i]);
        for (size_t i = 0; i < d.n_warnings && off < errlen; i++)
                off += (size_t)snprintf(errs + off, errlen - off, "W:%s\n", d.warnings[i]);
        if (r < 0 && d.n_errors == 0)
                printf("# load failed without a message: %d\n", r);
        policy_diag_done(&d);
        return r;
}

/* Expects text to fail with a message containing each of the given fragments. */
static int expect_error(const char *text, ...)
{
        char errs[4096];
        Policy p;
        va_list ap;
        const char *frag;

        if (load(text, &p, errs, sizeof(errs)) != -EINVAL) {
                printf("# accepted: %s\n", text);
                policy_done(&p);
                return -1;
        }
        va_start(ap, text);
        while ((frag = va_arg(ap, const char *)))
                if (!strstr(errs, frag)) {
                        printf("# '%s' not in errors for '%s':\n# %s", frag, text, errs);
                        va_end(ap);
                        return -1;
                }
        va_end(ap);
        return 0;
}

static int expect_ok(const char *text, Policy *p)
{
        char errs[4096];

        if (load(text, p, errs, sizeof(errs)) < 0) {
                printf("# rejected '%s':\n# %s", text, errs);
                return -1;
        }
        return 0;
}

#define EXPECT_ERROR(text, ...) ASSERT_INT(expect_error(text, __VA_ARGS__, NULL), ==, 0)

TEST(defaults)
{
        Policy p;
        char errs[1024];

        ASSERT_INT(load("", &p, errs, sizeof(errs)), ==, 0);
        ASSERT_INT(p.memory.enforcement, ==, ENFORCEMENT_AUTO);
        ASSERT_U64(p.memory.budget_bytes, 0);
        ASSERT_U64(p.memory.reserve_bytes, 256ULL << 20);
        ASSERT_U64(p.memory.job_max_bytes, 1ULL << 30);
        ASSERT_TRUE(p.memory.margin == 1.25);
        ASSERT_INT(p.pressure.trigger.kind, ==, PSI_SOME);
        ASSERT_U64(p.pressure.trigger.stall_usec, 150 * USEC_PER_MSEC);
        ASSERT_U64(p.pressure.trigger.window_usec, 2 * USEC_PER_SEC);
        ASSERT_INT(p.pressure.some_avg10_max_permyriad, ==, 1000);
        ASSERT_INT(p.classes[JOB_CLASS_TRANSCRIBE].max_concurrent, ==, 2);
        ASSERT_U64(p.classes[JOB_CLASS_TRANSCRIBE].timeout_usec, 2 * USEC_PER_HOUR);
        ASSERT_INT(p.fetch.protocols, ==, PROTOCOL_HTTP | PROTOCOL_HTTPS);
        ASSERT_INT(p.transcribe.backend, ==, BACKEND_COMMAND);
        ASSERT_STR(p.command.argv[0], "pocketsphinx_continuous");
        ASSERT_TRUE(p.gemini.api_key_file == NULL);
        ASSERT_STR(p.paths.spool_dir, "/var/lib/memgov/spool");
        ASSERT_STR(p.paths.output_dir, "/var/lib/memgov/out");
        ASSERT_INT(p.retry.max_attempts, ==, 5);
        policy_done(&p);
        return 0;
}

TEST(every_key_accepts_its_default)
{
        for (size_t i = 0; i < policy_table_size; i++) {
                const PolicyKey *k = &policy_table[i];
                char text[512];
                Policy p;
                snprintf(text, sizeof(text), "[%s]\n%s = %s\n", k->section, k->key, k->def);
                ASSERT_INT(expect_ok(text, &p), ==, 0);
                policy_done(&p);
        }
        return 0;
}

/* A value of the wrong form for each type. */
static const char *bad_value(const PolicyKey *k)
{
        switch (k->type) {
        case PT_ENUM:
                return "bogus";
        case PT_SIZE:
                return "12Q";
        case PT_DURATION:
                return "5 parsecs";
        case PT_PERCENT:
                return "10";
        case PT_DOUBLE:
                return "lots";
        case PT_BOOL:
                return "maybe";
        case PT_UINT:
                return "-3";
        case PT_URL:
                return "ftp://example.invalid/";
        case PT_ARGV:
                return "prog 'unterminated";
        case PT_TRIGGER:
                return "sometimes 1s 2s";
        case PT_PROTOCOLS:
                return "http,gopher";
        case PT_STRING:
        case PT_PATH:
                return NULL; /* any text is valid */
        }
        return NULL;
}

TEST(every_key_rejects_a_bad_value)
{
        for (size_t i = 0; i < policy_table_size; i++) {
                const PolicyKey *k = &policy_table[i];
                const char *bad = bad_value(k);
                char text[512], where[128];
                if (!bad)
                        continue;
                snprintf(text, sizeof(text), "# comment\n[%s]\n%s = %s\n", k->section, k->key, bad);
                snprintf(where, sizeof(where), "t.ini:3: [%s] %s = ", k->section, k->key);
                ASSERT_INT(expect_error(text, where, NULL), ==, 0);
        }
        return 0;
}

TEST(every_ranged_key_rejects_out_of_range)
{
        int tested = 0;

        for (size_t i = 0; i < policy_table_size; i++) {
                const PolicyKey *k = &policy_table[i];
                char text[512], v[64];
                if (k->type != PT_SIZE && k->type != PT_DURATION && k->type != PT_UINT)
                        continue;
                /* Above the maximum. */
                if (k->type == PT_DURATION)
                        snprintf(v, sizeof(v), "%" PRIu64 "us", k->max + 1);
                else
                        snprintf(v, sizeof(v), "%" PRIu64, k->max + 1);
                snprintf(text, sizeof(text), "[%s]\n%s = %s\n", k->section, k->key, v);
                ASSERT_INT(expect_error(text, "t.ini:2:", "out of range", NULL), ==, 0);
                tested++;
                /* Below the minimum, where there is one (0 is refused outright for "auto" keys). */
                if (k->min == 0)
                        continue;
                snprintf(v, sizeof(v), "%" PRIu64 "%s", k->min - 1, k->type == PT_DURATION ? "us" : "");
                if (k->min - 1 == 0)
                        snprintf(v, sizeof(v), "0");
                snprintf(text, sizeof(text), "[%s]\n%s = %s\n", k->section, k->key, v);
                ASSERT_INT(expect_error(text, "t.ini:2:", NULL), ==, 0);
                tested++;
        }
        ASSERT_INT(tested, >, 40);
        EXPECT_ERROR("[pressure]\nsome_avg10_max = 101%\n", "t.ini:2: [pressure] some_avg10_max");
        EXPECT_ERROR("[memory]\nmargin = 0.5\n", "out of range: allowed 1 to 10");
        EXPECT_ERROR("[memory]\nescalation = 11\n", "out of range");
        return 0;
}

TEST(unknown_names)
{
        EXPECT_ERROR("[memory]\njobmax = 1G\n",
                "t.ini:2: unknown key 'jobmax' in [memory] (did you mean 'job_max'?)");
        EXPECT_ERROR("[memroy]\nbudget = 1G\nheadroom = 1M\n",
                "t.ini:1: unknown section [memroy] (did you mean [memory]?)");
        EXPECT_ERROR("[memory]\nmax_redirects = 3\n",
                "unknown key 'max_redirects' in [memory] (it belongs in [fetch])");
        EXPECT_ERROR("[weird]\nx = 1\n", "unknown section [weird]");
        EXPECT_ERROR("budget = 1G\n[memory]\n",
                "t.ini:1: 'budget' is outside any section (it belongs in [memory])");
        EXPECT_ERROR("[class.downlaod]\nestimate = 1M\n", "did you mean [class.download]?");
        return 0;
}

TEST(unknown_section_reported_once)
{
        char errs[4096];
        Policy p;

        ASSERT_INT(load("\n[nope]\na = 1\nb = 2\nc = 3\n", &p, errs, sizeof(errs)), ==, -EINVAL);
        ASSERT_STR(errs, "t.ini:2: unknown section [nope]\n");
        /* A section without keys is still a typo worth reporting. */
        ASSERT_INT(load("[memory]\n[ memroy ]\n", &p, errs, sizeof(errs)), ==, -EINVAL);
        ASSERT_STR(errs, "t.ini:2: unknown section [memroy] (did you mean [memory]?)\n");
        return 0;
}

TEST(long_lines)
{
        char text[1024], prompt[400];
        Policy p;

        memset(prompt, 'a', sizeof(prompt) - 1);
        prompt[sizeof(prompt) - 1] = 0;
        snprintf(text, sizeof(text), "[transcribe]\nlanguage = en\n[fetch]\nuser_agent = %s\n", prompt);
        EXPECT_ERROR(text, "t.ini:4: line is 412 bytes long, over the 199 bytes", "prompt_file");
        /* Exactly at the limit is fine. */
        memset(prompt, 'b', 199 - strlen("user_agent = "));
        prompt[199 - strlen("user_agent = ")] = 0;
        snprintf(text, sizeof(text), "[fetch]\nuser_agent = %s\n", prompt);
        ASSERT_INT(expect_ok(text, &p), ==, 0);
        ASSERT_INT(strlen(p.fetch.user_agent), ==, 199 - strlen("user_agent = "));
        policy_done(&p);
        snprintf(text, sizeof(text), "[fetch]\nuser_agent = %sc\n", prompt);
        EXPECT_ERROR(text, "t.ini:2: line is 200 bytes long");
        return 0;
}

TEST(syntax)
{
        EXPECT_ERROR("[memory]\njust words\n", "t.ini:2: expected 'key = value'");
        EXPECT_ERROR("[memory\nbudget = 1G\n", "t.ini:1: section header without ']'");
        EXPECT_ERROR("[memory]\n= 1G\n", "t.ini:2: a key name is missing");
        EXPECT_ERROR("[memory]\nbudget = 1G\nbudget = 2G\n",
                "t.ini:3: [memory] budget is set again (first set on line 2)");
        EXPECT_ERROR("[memory]\nbudget =\n", "t.ini:2: [memory] budget = : a value is required");
        return 0;
}

TEST(indent_crlf_comments)
{
        Policy p;

        /* An indented line is a key of its own, not a continuation of the value above. */
        ASSERT_INT(
                expect_ok("[memory]\r\n  job_min = 32M\r\n\tjob_max = 512M ; inline comment\r\n# c\n; c\n",
                        &p),
                ==, 0);
        ASSERT_U64(p.memory.job_min_bytes, 32ULL << 20);
        ASSERT_U64(p.memory.job_max_bytes, 512ULL << 20);
        policy_done(&p);
        ASSERT_INT(expect_ok("\xEF\xBB\xBF[memory]\nswap = yes\n", &p), ==, 0);
        ASSERT_TRUE(p.memory.swap);
        policy_done(&p);
        return 0;
}

TEST(all_errors_collected)
{
        char errs[4096];
        Policy p;

        ASSERT_INT(load("[memory]\nbudget = x\nmargin = y\n[fetch]\nmax_redirects = z\n", &p, errs,
                           sizeof(errs)),
                ==, -EINVAL);
        ASSERT_CONTAINS(errs, "t.ini:2:");
        ASSERT_CONTAINS(errs, "t.ini:3:");
        ASSERT_CONTAINS(errs, "t.ini:5:");
        return 0;
}

TEST(memory_cross_checks)
{
        Policy p;

        EXPECT_ERROR(
                "[memory]\njob_min = 2G\n", "t.ini:2: [memory] job_min (2G) is larger than job_max (1G)");
        EXPECT_ERROR("[memory]\nbudget = 1G\nheadroom = 128M\njob_max = 1G\n",
                "t.ini:4: [memory] job_max (1G) is larger than budget - headroom");
        EXPECT_ERROR("[memory]\nbudget = 64M\nheadroom = 64M\njob_max=32M\njob_min=16M\n",
                "headroom (64M) leaves nothing");
        EXPECT_ERROR("[memory]\nbudget = 512M\njob_max = 256M\n[class.transcribe]\nestimate = 500M\n",
                "t.ini:5: [class.transcribe] estimate (500M) is larger than budget - headroom (384M)");
        EXPECT_ERROR("[memory]\nbudget = 0\n", "write 'auto'");
        ASSERT_INT(expect_ok("[memory]\nbudget = 2G\njob_max = 1G\n", &p), ==, 0);
        ASSERT_U64(p.memory.budget_bytes, 2ULL << 30);
        policy_done(&p);
        return 0;
}

TEST(pressure_cross_checks)
{
        char errs[1024];
        Policy p;

        EXPECT_ERROR("[pressure]\ntrigger = some 100ms 200ms\n",
                "t.ini:2: [pressure] trigger: the window must be from 500ms to 10s");
        EXPECT_ERROR("[pressure]\ntrigger = full 1s 20s\n", "window must be");
        EXPECT_ERROR(
                "[pressure]\ntrigger = some 3s 2s\n", "stall must be more than 0 and at most the window");
        EXPECT_ERROR("[pressure]\ntrigger = some 0 2s\n", "stall must be");
        EXPECT_ERROR("[pressure]\ntrigger = some 1s\n", "expected 'some|full STALL WINDOW'");
        ASSERT_INT(load("[pressure]\ntrigger = full 100ms 500ms\n", &p, errs, sizeof(errs)), ==, 0);
        ASSERT_CONTAINS(errs,
                "W:t.ini:2: [pressure] trigger: a window that is not a multiple of 2s needs CAP_SYS_RESOURCE");
        ASSERT_INT(p.pressure.trigger.kind, ==, PSI_FULL);
        policy_done(&p);
        EXPECT_ERROR(
                "[retry]\nbackoff_min = 2h\n", "t.ini:2: [retry] backoff_min is larger than backoff_max");
        return 0;
}

TEST(command_cross_checks)
{
        Policy p;

        EXPECT_ERROR(
                "[command]\nargv = whisper --model small\n", "t.ini:2: [command] argv never names {audio}");
        EXPECT_ERROR("[command]\nargv = w {audio}\noutput = file\n",
                "t.ini:3: [command] output = file, but argv never names {out}");
        EXPECT_ERROR("[command]\nargv = w {audio} {outfile}\n",
                "unknown placeholder '{outfile}' (allowed: {audio} {out} {id} {workdir} {lang})");
        EXPECT_ERROR("[command]\nargv = w {audio} {out\n", "'{' without '}'");
        EXPECT_ERROR("[command]\nprepare = ffmpeg -i {audio} out.wav\n",
                "prepare must name both {audio} (input) and {prepared}");
        EXPECT_ERROR("[command]\nargv =\n", "t.ini:2: [command] argv = : a value is required");
        EXPECT_ERROR("[command]\nargv = \"\"x\n", "argv never names {audio}");
        ASSERT_INT(
                expect_ok(
                        "[command]\nargv = whisper-cli -f {audio} -otxt -of {out} -l {lang}\noutput = file\nprepare =\n",
                        &p),
                ==, 0);
        ASSERT_STR(p.command.argv[0], "whisper-cli");
        ASSERT_STR(p.command.argv[5], "{out}");
        ASSERT_TRUE(p.command.prepare == NULL);
        policy_done(&p);
        /* A shell line stays one argument; nothing interprets it. */
        ASSERT_INT(expect_ok("[command]\nargv = sh -c 'cat \"$1\"; rm -rf /' x {audio}\n", &p), ==, 0);
        ASSERT_STR(p.command.argv[2], "cat \"$1\"; rm -rf /");
        policy_done(&p);
        return 0;
}

TEST(api_cross_checks)
{
        Policy p;

        EXPECT_ERROR("[transcribe]\nbackend = gemini\n",
                "t.ini:2: [gemini] the gemini backend needs an API key: set api_key_file or api_key_env");
        EXPECT_ERROR("[gemini]\napi_key_file = /k\napi_key_env = K\n",
                "t.ini:3: [gemini] set either api_key_file or api_key_env, not both");
        EXPECT_ERROR("[gemini]\napi_key_env = 1BAD-NAME\n", "is not an environment variable name");
        EXPECT_ERROR(
                "[transcribe]\nbackend = openai\n", "[openai] the openai backend needs an endpoint URL");
        EXPECT_ERROR("[gemini]\nendpoint = http://gemini.example.invalid\napi_key_env = K\n",
                "t.ini:2: [gemini] endpoint http://gemini.example.invalid is plain http to another host");
        EXPECT_ERROR("[openai]\nendpoint = http://localhost.example.invalid:8080\napi_key_env = K\n",
                "plain http to another host");
        EXPECT_ERROR("[openai]\nresponse_format = srt\n", "response_format 'srt' is not one memgov reads");
        EXPECT_ERROR(
                "[transcribe]\nbackend = openai\nmax_chunk_size = 30M\n[openai]\nendpoint = http://127.0.0.1:1\n",
                "max_chunk_size is larger than [openai] max_upload");
        EXPECT_ERROR("[transcribe]\nlanguage = e\n", "language 'e' is not a language code");
        EXPECT_ERROR("[transcribe]\nlanguage = en;rm\n", "is not a language code");
        ASSERT_INT(expect_ok("[transcribe]\nbackend = gemini\n[gemini]\napi_key_env = GEMINI_API_KEY\n", &p),
                ==, 0);
        ASSERT_STR(p.gemini.api_key_env, "GEMINI_API_KEY");
        policy_done(&p);
        /* A local whisper.cpp server over plain http needs no key. */
        ASSERT_INT(
                expect_ok(
                        "[transcribe]\nbackend = openai\nlanguage = pt-BR\n[openai]\nendpoint = http://127.0.0.1:8080\n",
                        &p),
                ==, 0);
        policy_done(&p);
        ASSERT_INT(expect_ok("[openai]\nendpoint = http://[::1]:8080/\napi_key_env = K\n", &p), ==, 0);
        policy_done(&p);
        return 0;
}

TEST(paths)
{
        PolicyDiag d = {};
        Policy p;
        const char *text = "[paths]\nstate_dir = state\noutput_dir = /srv/out\n";
        char sock[200];

        ASSERT_INT(policy_load_buffer("/etc/memgov/policy.ini", text, strlen(text), &p, &d), ==, 0);
        ASSERT_STR(p.paths.state_dir, "/etc/memgov/state");
        ASSERT_STR(p.paths.spool_dir, "/etc/memgov/state/spool");
        ASSERT_STR(p.paths.output_dir, "/srv/out");
        policy_done(&p);
        policy_diag_done(&d);
        snprintf(sock, sizeof(sock), "[paths]\nsocket = /%0120d\n", 0);
        EXPECT_ERROR(sock, "t.ini:2: [paths] socket: path is longer than 107 bytes");
        return 0;
}

TEST(missing_file)
{
        PolicyDiag d = {};
        Policy p;

        ASSERT_INT(policy_load("/nonexistent/memgov.ini", &p, &d), ==, -ENOENT);
        ASSERT_INT(d.n_errors, ==, 1);
        ASSERT_STR(d.errors[0], "/nonexistent/memgov.ini: cannot open policy: No such file or directory");
        policy_diag_done(&d);
        return 0;
}

static int print_to_string(const Policy *p, char **ret)
{
        size_t len;
        FILE *f = open_memstream(ret, &len);

        if (!f)
                return -ENOMEM;
        ASSERT_INT(policy_print(p, f), ==, 0);
        fclose(f);
        return 0;
}

TEST(print_round_trip)
{
        static const char *const inputs[] = {
                "",
                "[memory]\nbudget = 1536M\nmargin = 1.3\nswap = yes\n[pressure]\ntrigger = full 250ms 1s\nsome_avg10_max = 2.5%\n"
                "[command]\nargv = tr -f \"{audio} x\" ';odd' --x='a b'\noutput = stdout\n[fetch]\nprotocols = https\n"
                "[transcribe]\nbackend = gemini\nlanguage = de\n[gemini]\napi_key_file = /etc/memgov/key\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(inputs); i++) {
                _cleanup_free_ char *a = NULL, *b = NULL;
                Policy p, q;
                ASSERT_INT(expect_ok(inputs[i], &p), ==, 0);
                ASSERT_INT(print_to_string(&p, &a), ==, 0);
                ASSERT_INT(expect_ok(a, &q), ==, 0);
                ASSERT_INT(print_to_string(&q, &b), ==, 0);
                ASSERT_STR(a, b);
                ASSERT_TRUE(strv_equal(p.command.argv, q.command.argv));
                ASSERT_TRUE(p.memory.margin == q.memory.margin);
                policy_done(&p);
                policy_done(&q);
        }
        return 0;
}

static int load_shipped(const char *name, Policy *p)
{
        const char *top = getenv("top_srcdir");
        char path[4096];
        PolicyDiag d = {};
        int r;

        snprintf(path, sizeof(path), "%s/policies/%s", top ? top : ".", name);
        r = policy_load(path, p, &d);
        for (size_t i = 0; i < d.n_errors; i++)
                printf("# %s\n", d.errors[i]);
        for (size_t i = 0; i < d.n_warnings; i++)
                printf("# warning: %s\n", d.warnings[i]);
        policy_diag_done(&d);
        return r;
}

TEST(shipped_policies)
{
        static const char *const names[] = { "default.ini", "demo.ini", "host-2g.ini" };
        Policy p;

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                ASSERT_INT(load_shipped(names[i], &p), ==, 0);
                policy_done(&p);
        }
        ASSERT_INT(load_shipped("host-2g.ini", &p), ==, 0);
        ASSERT_INT(p.classes[JOB_CLASS_TRANSCRIBE].max_concurrent, ==, 1);
        policy_done(&p);
        return 0;
}

/* default.ini must show every key with the table's default, and nothing else. */
TEST(default_ini_documents_every_key)
{
        const char *top = getenv("top_srcdir");
        char path[4096], line[512], section[64] = "";
        bool *seen = calloc(policy_table_size, sizeof(bool));
        FILE *f;

        ASSERT_TRUE(seen);
        snprintf(path, sizeof(path), "%s/policies/default.ini", top ? top : ".");
        f = fopen(path, "re");
        ASSERT_TRUE(f);
        while (fgets(line, sizeof(line), f)) {
                char key[64], *eq, *val;
                const PolicyKey *k;
                line[strcspn(line, "\n")] = 0;
                if (sscanf(line, "[%63[^]]]", section) == 1)
                        continue;
                if (line[0] != '#' || !(eq = strstr(line, " =")) || strchr(line, ' ') < eq)
                        continue;
                snprintf(key, sizeof(key), "%.*s", (int)(eq - line - 1), line + 1);
                val = eq + 2 + (eq[2] == ' ');
                k = policy_key_find(section, key);
                if (!k) {
                        printf("# default.ini documents unknown key [%s] %s\n", section, key);
                        free(seen);
                        fclose(f);
                        return -1;
                }
                if (!streq(val, k->def)) {
                        printf("# default.ini: [%s] %s = '%s', table default '%s'\n", section, key, val,
                                k->def);
                        free(seen);
                        fclose(f);
                        return -1;
                }
                seen[k - policy_table] = true;
        }
        fclose(f);
        for (size_t i = 0; i < policy_table_size; i++)
                if (!seen[i]) {
                        printf("# default.ini does not document [%s] %s\n", policy_table[i].section,
                                policy_table[i].key);
                        free(seen);
                        return -1;
                }
        free(seen);
        return 0;
}

TAP_MAIN(T(defaults), T(every_key_accepts_its_default), T(every_key_rejects_a_bad_value),
        T(every_ranged_key_rejects_out_of_range), T(unknown_names), T(unknown_section_reported_once),
        T(long_lines), T(syntax), T(indent_crlf_comments), T(all_errors_collected), T(memory_cross_checks),
        T(pressure_cross_checks), T(command_cross_checks), T(api_cross_checks), T(paths), T(missing_file),
        T(print_round_trip), T(shipped_policies), T(default_ini_documents_every_key))
