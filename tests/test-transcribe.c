/* SPDX-License-Identifier: MIT */
/* The transcribe stage's pure helpers and the command runner. The backends against mock servers
 * are tested by tests/test-transcribe-*.sh. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "common/macro.h"
#include "common/strv.h"
#include "runner/backend.h"
#include "runner/http.h"
#include "runner/transcribe.h"
#include "tests/fake-tree.h"
#include "tests/tap.h"

#define SECRET "AIzaTestKey-0123456789"

TEST(origin)
{
        char b[256], c[256];

        ASSERT_INT(http_origin("https://generativelanguage.googleapis.com/upload/v1beta/files?upload_id=x",
                           b, sizeof(b)),
                ==, 0);
        ASSERT_STR(b, "https://generativelanguage.googleapis.com:443");
        ASSERT_INT(http_origin("HTTP://LocalHost:8080/a/b", b, sizeof(b)), ==, 0);
        ASSERT_STR(b, "http://localhost:8080");
        ASSERT_INT(http_origin("http://127.0.0.1/x", b, sizeof(b)), ==, 0);
        ASSERT_STR(b, "http://127.0.0.1:80");
        /* Another host, port or scheme is another origin. */
        ASSERT_INT(http_origin("http://127.0.0.2:80/x", c, sizeof(c)), ==, 0);
        ASSERT_TRUE(!streq(b, c));
        ASSERT_INT(http_origin("https://127.0.0.1:80/x", c, sizeof(c)), ==, 0);
        ASSERT_TRUE(!streq(b, c));
        ASSERT_INT(http_origin("ftp://example.org/x", b, sizeof(b)), ==, -EINVAL);
        ASSERT_INT(http_origin("/relative/path", b, sizeof(b)), ==, -EINVAL);
        ASSERT_INT(http_origin("http://example.org/", b, 8), ==, -ENOBUFS);
        return 0;
}

TEST(duration)
{
        usec_t u;

        ASSERT_INT(http_parse_duration("15s", &u), ==, 0);
        ASSERT_U64(u, 15 * USEC_PER_SEC);
        ASSERT_INT(http_parse_duration("0.5s", &u), ==, 0);
        ASSERT_U64(u, 500000);
        ASSERT_INT(http_parse_duration("53.01s", &u), ==, 0);
        ASSERT_U64(u, 53010000);
        ASSERT_INT(http_parse_duration("1.000000340s", &u), ==, 0);
        ASSERT_U64(u, 1000000);
        const char *bad[] = { "15", "s", "1.s", "-1s", "15ms", " 1s", "1s ", "", "99999999999s" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ASSERT_INT(http_parse_duration(bad[i], &u), ==, -EINVAL);
        return 0;
}

TEST(retry_info)
{
        static const char quota[] =
                "{\"error\":{\"code\":429,\"message\":\"You exceeded your current quota. Please retry in 53.01s.\","
                "\"status\":\"RESOURCE_EXHAUSTED\",\"details\":["
                "{\"@type\":\"type.googleapis.com/google.rpc.QuotaFailure\",\"violations\":[{\"quotaId\":"
                "\"GenerateRequestsPerMinutePerProjectPerModel-FreeTier\"}]},"
                "{\"@type\":\"type.googleapis.com/google.rpc.Help\",\"links\":[]},"
                "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"15s\"}]}}";
        static const char daily[] =
                "{\"error\":{\"code\":429,\"details\":[{\"@type\":\"type.googleapis.com/"
                "google.rpc.QuotaFailure\",\"violations\":[{\"quotaId\":\"GenerateRequestsPerDay\"}]}]}}";
        bool d = true;

        ASSERT_U64(http_retry_info(quota, strlen(quota), &d), 15 * USEC_PER_SEC);
        ASSERT_TRUE(!d);
        ASSERT_U64(http_retry_info(daily, strlen(daily), &d), 0);
        ASSERT_TRUE(d);
        ASSERT_U64(http_retry_info("not json", 8, &d), 0);
        ASSERT_U64(http_retry_info("{\"error\":{\"details\":7}}", 23, NULL), 0);
        return 0;
}

TEST(error_message)
{
        char b[256];
        const char *openai =
                "{\"error\":{\"message\":\"Invalid file format.\",\"type\":\"invalid_request_error\"}}";
        const char *whisper = "{\"error\":\"failed to read audio data\"}";
        const char *speaches = "{\"detail\":\"Model 'x' is not installed locally.\"}";
        const char *fastapi = "{\"detail\":[{\"loc\":[\"body\",\"file\"],\"msg\":\"field required\"}]}";
        const char *html = "<html>\n<body>Bad\tGateway</body></html>";

        ASSERT_STR(http_error_message(openai, strlen(openai), b, sizeof(b)), "Invalid file format.");
        ASSERT_STR(http_error_message(whisper, strlen(whisper), b, sizeof(b)), "failed to read audio data");
        ASSERT_STR(http_error_message(speaches, strlen(speaches), b, sizeof(b)),
                "Model 'x' is not installed locally.");
        ASSERT_STR(http_error_message(fastapi, strlen(fastapi), b, sizeof(b)), "field required");
        ASSERT_STR(http_error_message(html, strlen(html), b, sizeof(b)),
                "<html> <body>Bad Gateway</body></html>");
        ASSERT_STR(http_error_message("", 0, b, sizeof(b)), "");
        return 0;
}

TEST(scrub)
{
        char b[128];

        snprintf(b, sizeof(b), "key %s in a URL ?key=%s.", SECRET, SECRET);
        http_scrub(b, sizeof(b), SECRET);
        ASSERT_STR(b, "key [redacted] in a URL ?key=[redacted].");
        /* A secret that is part of the mark does not loop forever. */
        snprintf(b, sizeof(b), "red red");
        http_scrub(b, sizeof(b), "red");
        ASSERT_STR(b, "[redacted] [redacted]");
        /* No room to grow: the secret is still gone. */
        snprintf(b, 12, "xx ab yy");
        http_scrub(b, 12, "ab");
        ASSERT_TRUE(!strstr(b, "ab"));
        return 0;
}

static int write_key(
        FakeTree *t, const char *name, const char *content, mode_t mode, char *path, size_t size)
{
        if ((size_t)snprintf(path, size, "%s/%.64s", t->path, name) >= size)
                return -1;
        if (fake_tree_write(t, name, content) < 0 || chmod(path, mode) < 0)
                return -1;
        return 0;
}

TEST(load_key)
{
        FakeTree t;
        char path[PATH_MAX];
        char *key = NULL;
        BackendError e = {};

        ASSERT_INT(fake_tree_new(&t), ==, 0);
        ASSERT_INT(write_key(&t, "k600", SECRET "\n", 0600, path, sizeof(path)), ==, 0);
        ASSERT_INT(http_load_key(path, NULL, &key, &e), ==, 0);
        ASSERT_STR(key, SECRET);
        free(key);
        /* root:memgov 0640 is the intended setup. */
        ASSERT_INT(write_key(&t, "k640", SECRET "\r\n\n", 0640, path, sizeof(path)), ==, 0);
        ASSERT_INT(http_load_key(path, NULL, &key, &e), ==, 0);
        ASSERT_STR(key, SECRET);
        free(key);
        ASSERT_INT(write_key(&t, "k644", SECRET "\n", 0644, path, sizeof(path)), ==, 0);
        ASSERT_INT(http_load_key(path, NULL, &key, &e), ==, -EPERM);
        ASSERT_TRUE(key == NULL);
        ASSERT_CONTAINS(e.message, "chmod o-rwx");
        ASSERT_TRUE(!strstr(e.message, SECRET));
        ASSERT_INT(e.outcome, ==, TRANSCRIBE_PERMANENT);
        e = (BackendError){};
        ASSERT_INT(write_key(&t, "kspace", "two words\n", 0600, path, sizeof(path)), ==, 0);
        ASSERT_INT(http_load_key(path, NULL, &key, &e), ==, -EINVAL);
        ASSERT_TRUE(!strstr(e.message, "two words"));
        e = (BackendError){};
        ASSERT_INT(write_key(&t, "kempty", "\n\n", 0600, path, sizeof(path)), ==, 0);
        ASSERT_INT(http_load_key(path, NULL, &key, &e), ==, -ENOKEY);
        e = (BackendError){};

        ASSERT_INT(setenv("MEMGOV_TEST_KEY", SECRET, 1), ==, 0);
        ASSERT_INT(http_load_key(NULL, "MEMGOV_TEST_KEY", &key, &e), ==, 0);
        ASSERT_STR(key, SECRET);
        free(key);
        ASSERT_INT(http_load_key(NULL, "MEMGOV_TEST_KEY_UNSET", &key, &e), ==, -ENOKEY);
        ASSERT_CONTAINS(e.message, "MEMGOV_TEST_KEY_UNSET");
        ASSERT_INT(http_load_key(NULL, NULL, &key, &e), ==, 0);
        ASSERT_TRUE(key == NULL);
        fake_tree_free(&t);
        return 0;
}

TEST(key_only_to_endpoint)
{
        HttpClient c;
        HttpRequest req = HTTP_REQUEST_INIT("POST", "http://127.0.0.2:9/upload?upload_id=1");
        HttpResponse resp;
        BackendError e = {};

        ASSERT_INT(http_client_init(&c, NULL, "http://127.0.0.1:9", "x-goog-api-key: ", SECRET, &e), ==, 0);
        req.send_key = true;
        /* Refused before any connection is made (nothing listens on port 9 anyway). */
        ASSERT_INT(http_perform(&c, &req, &resp, "upload", &e), ==, -EPERM);
        ASSERT_INT(e.outcome, ==, TRANSCRIBE_PERMANENT);
        ASSERT_CONTAINS(e.message, "http://127.0.0.2:9");
        ASSERT_TRUE(!strstr(e.message, SECRET));
        /* Without the key the same URL may be asked (and fails as a connection error). */
        e = (BackendError){};
        req.send_key = false;
        ASSERT_INT(http_perform(&c, &req, &resp, "upload", &e), <, 0);
        ASSERT_INT(e.outcome, ==, TRANSCRIBE_RETRYABLE);
        http_client_done(&c);
        return 0;
}

TEST(gemini_response)
{
        static const char ok[] =
                "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"thinking…\","
                "\"thought\":true},{\"text\":\"Hello \"},{\"text\":\"world.\"}]},\"finishReason\":"
                "\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":10}}";
        static const char cut[] =
                "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hello\"}]},\"finishReason\":"
                "\"MAX_TOKENS\"}]}";
        static const char thinking_cut[] = "{\"candidates\":[{\"finishReason\":\"MAX_TOKENS\"}]}";
        static const char safety[] = "{\"candidates\":[{\"finishReason\":\"RECITATION\"}]}";
        static const char blocked[] = "{\"promptFeedback\":{\"blockReason\":\"PROHIBITED_CONTENT\"}}";
        static const char silent[] = "{\"candidates\":[{\"finishReason\":\"STOP\"}]}";
        BackendError e = {};
        char *t = NULL;

        ASSERT_INT(gemini_parse_response(ok, strlen(ok), &t, &e), ==, 0);
        ASSERT_STR(t, "Hello world.");
        free(t);
        ASSERT_INT(gemini_parse_response(silent, strlen(silent), &t, &e), ==, 0);
        ASSERT_STR(t, "");
        free(t);
        ASSERT_INT(gemini_parse_response(cut, strlen(cut), &t, &e), ==, -E2BIG);
        ASSERT_INT(e.outcome, ==, TRANSCRIBE_TOO_LONG);
        e = (BackendError){};
        ASSERT_INT(gemini_parse_response(thinking_cut, strlen(thinking_cut), &t, &e), ==, -E2BIG);
        ASSERT_INT(e.outcome, ==, TRANSCRIBE_TOO_LONG);
        e = (BackendError){};
        ASSERT_INT(gemini_parse_response(safety, strlen(safety), &t, &e), <, 0);
        ASSERT_INT(e.outcome, ==, TRANSCRIBE_PERMANENT);
        ASSERT_CONTAINS(e.message, "RECITATION");
        e = (BackendError){};
        ASSERT_INT(gemini_parse_response(blocked, strlen(blocked), &t, &e), <, 0);
        ASSERT_INT(e.outcome, ==, TRANSCRIBE_PERMANENT);
        ASSERT_CONTAINS(e.message, "PROHIBITED_CONTENT");
        e = (BackendError){};
        ASSERT_INT(gemini_parse_response("{}", 2, &t, &e), <, 0);
        ASSERT_INT(e.outcome, ==, TRANSCRIBE_RETRYABLE);
        return 0;
}

TEST(gemini_file)
{
        static const char wrapped[] =
                "{\"file\":{\"name\":\"files/abc-123\",\"uri\":\"https://g/v1beta/files/abc-123\","
                "\"state\":\"PROCESSING\",\"sizeBytes\":\"57600000\",\"sha256Hash\":\"AAAA\"}}";
        static const char failed[] =
                "{\"name\":\"files/x1\",\"uri\":\"u\",\"state\":\"FAILED\",\"error\":{\"code\":3,"
                "\"message\":\"unsupported audio\"}}";
        static const char bad_name[] = "{\"name\":\"files/../x\",\"uri\":\"u\",\"state\":\"ACTIVE\"}";
        BackendError e = {};
        GeminiFile f;
        char b64[GEMINI_SHA256_B64_SIZE];

        ASSERT_INT(gemini_parse_file(wrapped, strlen(wrapped), true, &f, &e), ==, 0);
        ASSERT_STR(f.name, "files/abc-123");
        ASSERT_INT(f.state, ==, GEMINI_FILE_PROCESSING);
        ASSERT_STR(f.sha256_base64, "AAAA");
        ASSERT_INT(gemini_parse_file(wrapped, strlen(wrapped), false, &f, &e), <, 0);
        e = (BackendError){};
        ASSERT_INT(gemini_parse_file(failed, strlen(failed), false, &f, &e), ==, 0);
        ASSERT_INT(f.state, ==, GEMINI_FILE_FAILED);
        ASSERT_STR(f.error, "unsupported audio");
        ASSERT_INT(gemini_parse_file(bad_name, strlen(bad_name), false, &f, &e), <, 0);

        gemini_sha256_base64("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", b64);
        ASSERT_STR(b64, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
        gemini_sha256_base64("xyz", b64);
        ASSERT_STR(b64, "");

        ASSERT_U64(gemini_piece_bytes(0), 8 << 20);
        ASSERT_U64(gemini_piece_bytes(256 << 10), 8 << 20);
        ASSERT_U64(gemini_piece_bytes(3000000), 6000000);
        ASSERT_U64(gemini_piece_bytes(16 << 20), 16 << 20);
        return 0;
}

TEST(openai)
{
        static const char verbose[] =
                "{\"task\":\"transcribe\",\"segments\":[{\"id\":0,\"text\":\" Hello\"},{\"id\":1,"
                "\"text\":\"world.\"}]}";
        BackendError e = {};
        char *t = NULL, *u;

        const char *js = "{\"text\":\"Hi there.\",\"usage\":{}}", *tx = "\nline one\nline two\n";
        ASSERT_INT(openai_parse_response("json", js, strlen(js), &t, &e), ==, 0);
        ASSERT_STR(t, "Hi there.");
        free(t);
        ASSERT_INT(openai_parse_response("verbose_json", verbose, strlen(verbose), &t, &e), ==, 0);
        ASSERT_STR(t, " Hello world.");
        free(t);
        ASSERT_INT(openai_parse_response("text", tx, strlen(tx), &t, &e), ==, 0);
        ASSERT_STR(t, "\nline one\nline two\n");
        free(t);
        ASSERT_INT(openai_parse_response("json", "plain text", 10, &t, &e), <, 0);
        ASSERT_INT(e.outcome, ==, TRANSCRIBE_PERMANENT);

        u = openai_url("http://127.0.0.1:8080");
        ASSERT_STR(u, "http://127.0.0.1:8080/v1/audio/transcriptions");
        free(u);
        u = openai_url("https://api.openai.com/v1/");
        ASSERT_STR(u, "https://api.openai.com/v1/audio/transcriptions");
        free(u);
        ASSERT_STR(openai_effective_format("gpt-4o-mini-transcribe", "verbose_json"), "json");
        ASSERT_STR(openai_effective_format("whisper-1", "verbose_json"), "verbose_json");
        ASSERT_U64(openai_model_max_usec("gpt-4o-transcribe"), 1380 * USEC_PER_SEC);
        ASSERT_U64(openai_model_max_usec("whisper-1"), 0);
        return 0;
}

TEST(substitute)
{
        CommandVars v = { .audio = "/w/a b.wav", .id = "8670", .workdir = "/w", .lang = "en" };
        char *s;

        s = command_substitute("{audio}", &v);
        ASSERT_STR(s, "/w/a b.wav");
        free(s);
        s = command_substitute("--out={workdir}/{id}.{id}-{lang}", &v);
        ASSERT_STR(s, "--out=/w/8670.8670-en");
        free(s);
        /* Unknown or unset placeholders stay as they are; a value is never re-expanded. */
        v.id = "{audio}";
        s = command_substitute("{out} {foo} {id} {", &v);
        ASSERT_STR(s, "{out} {foo} {audio} {");
        free(s);
        return 0;
}

TEST(append)
{
        char *b = NULL;
        size_t n = 0;

        ASSERT_INT(transcribe_append(&b, &n, "  \n"), ==, 0);
        ASSERT_TRUE(n == 0);
        ASSERT_INT(transcribe_append(&b, &n, "\n first part. \n"), ==, 0);
        ASSERT_INT(transcribe_append(&b, &n, NULL), ==, 0);
        ASSERT_INT(transcribe_append(&b, &n, "second\tpart"), ==, 0);
        ASSERT_STR(b, "first part.\nsecond\tpart");
        ASSERT_U64(n, strlen(b));
        free(b);
        return 0;
}

TEST(limits)
{
        Policy p;
        AudioLimits l;

        ASSERT_INT(policy_init_defaults(&p), ==, 0);
        l = transcribe_limits(&p, &backend_openai_ops);
        ASSERT_U64(l.max_duration_usec, 15 * USEC_PER_MINUTE);
        ASSERT_U64(l.max_bytes, 25ULL * 1024 * 1024 - 16 * 1024);
        p.transcribe.max_chunk_size_bytes = 1024 * 1024;
        l = transcribe_limits(&p, &backend_openai_ops);
        ASSERT_U64(l.max_bytes, 1024 * 1024);
        l = transcribe_limits(&p, &backend_command_ops);
        ASSERT_U64(l.max_bytes, 1024 * 1024);
        p.transcribe.max_chunk_size_bytes = 0;
        l = transcribe_limits(&p, &backend_command_ops);
        ASSERT_U64(l.max_bytes, 0);
        free(p.openai.model);
        p.openai.model = strdup("gpt-4o-transcribe");
        l = transcribe_limits(&p, &backend_openai_ops);
        ASSERT_U64(l.max_duration_usec, 15 * USEC_PER_MINUTE);
        p.transcribe.chunk_duration_usec = USEC_PER_HOUR;
        l = transcribe_limits(&p, &backend_openai_ops);
        ASSERT_U64(l.max_duration_usec, 1380 * USEC_PER_SEC);
        policy_done(&p);
        return 0;
}

static int run(FakeTree *t, Policy *p, const char *script, char **ret_out, BackendError *e)
{
        char sh[] = "/bin/sh", c[] = "-c", name[] = "sh", id[] = "{id}", buf[512];
        char *argv[] = { sh, c, buf, name, id, NULL };
        BackendContext ctx = { .policy = p, .id = "ep-1", .workdir = t->path, .log_fd = -EBADF };
        CommandVars v = { .id = "ep-1", .workdir = t->path };

        snprintf(buf, sizeof(buf), "%s", script);
        *e = (BackendError){};
        return command_run(&ctx, argv, &v, "test", ret_out, NULL, e);
}

TEST(command_run)
{
        FakeTree t;
        Policy p;
        BackendError e;
        char *out = NULL;

        ASSERT_INT(fake_tree_new(&t), ==, 0);
        ASSERT_INT(policy_init_defaults(&p), ==, 0);

        /* Placeholders become whole arguments: no shell ever sees the template. */
        ASSERT_INT(run(&t, &p, "printf '%s|' \"$1\" \"$(pwd)\" \"$HOME\" \"$LANG\"", &out, &e), ==, 0);
        ASSERT_CONTAINS(out, "ep-1|");
        ASSERT_CONTAINS(out, t.path);
        ASSERT_CONTAINS(out, "C.UTF-8|");
        free(out);

        /* The daemon's environment (API keys) does not reach the program. */
        ASSERT_INT(setenv("GEMINI_API_KEY", SECRET, 1), ==, 0);
        ASSERT_INT(run(&t, &p, "env", &out, &e), ==, 0);
        ASSERT_TRUE(!strstr(out, SECRET));
        ASSERT_TRUE(!strstr(out, "GEMINI_API_KEY"));
        ASSERT_CONTAINS(out, "PATH=");
        free(out);

        ASSERT_INT(run(&t, &p, "echo one >&2; echo 'model not found' >&2; exit 3", &out, &e), <, 0);
        ASSERT_INT(e.outcome, ==, TRANSCRIBE_PERMANENT);
        ASSERT_CONTAINS(e.message, "exited with status 3: one model not found");
        ASSERT_INT(run(&t, &p, "exit 75", &out, &e), <, 0);
        ASSERT_INT(e.outcome, ==, TRANSCRIBE_RETRYABLE);
        ASSERT_INT(run(&t, &p, "kill -9 $$", &out, &e), <, 0);
        ASSERT_INT(e.outcome, ==, TRANSCRIBE_RETRYABLE);
        ASSERT_CONTAINS(e.message, "signal 9");

        /* Standard output beyond log_max is an error, not a silently cut transcript. */
        p.sandbox.log_max_bytes = 1000;
        ASSERT_INT(run(&t, &p, "head -c 5000 /dev/zero | tr '\\0' x", &out, &e), ==, -EFBIG);
        ASSERT_CONTAINS(e.message, "log_max");

        char *missing[] = { (char *)"memgov-no-such-transcriber", NULL };
        BackendContext ctx = { .policy = &p, .id = "ep-1", .workdir = t.path, .log_fd = -EBADF };
        CommandVars v = {};
        e = (BackendError){};
        ASSERT_INT(command_run(&ctx, missing, &v, "test", &out, NULL, &e), ==, -ENOENT);
        ASSERT_INT(e.outcome, ==, TRANSCRIBE_PERMANENT);
        ASSERT_CONTAINS(e.message, "memgov-no-such-transcriber");
        policy_done(&p);
        fake_tree_free(&t);
        return 0;
}

TAP_MAIN(T(origin), T(duration), T(retry_info), T(error_message), T(scrub), T(load_key),
        T(key_only_to_endpoint), T(gemini_response), T(gemini_file), T(openai), T(substitute), T(append),
        T(limits), T(command_run))
