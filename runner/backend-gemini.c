/* SPDX-License-Identifier: MIT */
/* The Gemini backend: each chunk is uploaded with the Files API's resumable protocol (streamed
 * from disk in granularity-sized pieces, resumed after a dropped connection by asking the server
 * how much it has), polled until ACTIVE, transcribed with generateContent, then deleted.
 * Protocol notes: /work/shared/reference/protocols.md §A. The key travels only in the
 * x-goog-api-key header, only to the endpoint's origin, and never through a redirect. */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>

#include "common/json-util.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "runner/audio.h"
#include "runner/backend.h"
#include "runner/http.h"

#define UPLOAD_PIECE_BYTES    (8ULL * 1024 * 1024) /* what the official SDKs send per request */
#define MAX_RESUMES           8
#define PROCESSING_MAX_USEC   (10 * USEC_PER_MINUTE)
#define SMALL_REQUEST_USEC    (2 * USEC_PER_MINUTE)
#define PROMPT_MAX            (64 * 1024)
#define GEMINI_FILE_MAX_BYTES (2ULL * 1024 * 1024 * 1024) /* the Files API's per-file limit */

static const char default_prompt[] =
        "Transcribe the speech in this audio verbatim, in the language spoken. Output only the "
        "transcript as plain text: no timestamps, no speaker labels, no headings, no commentary. "
        "If there is no speech, output nothing.";

typedef struct Gemini {
        BackendContext ctx;
        HttpClient http;
        char *endpoint;
        char *model;
        char *prompt;
        uint64_t piece_offset; /* for progress */
        uint64_t chunk_bytes;
} Gemini;

static bool file_name_valid(const char *s)
{
        size_t n;

        if (!s || !strneq(s, "files/", 6))
                return false;
        s += 6;
        n = strlen(s);
        if (n == 0 || n > 40 || s[0] == '-' || s[n - 1] == '-')
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
                        return false;
        return true;
}

int gemini_parse_file(const char *body, size_t len, bool wrapped, GeminiFile *ret, BackendError *err)
{
        _cleanup_(cJSON_Deletep) cJSON *j = cJSON_ParseWithLength(body, len);
        const cJSON *f = wrapped ? cJSON_GetObjectItemCaseSensitive(j, "file") : j;
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "name"));
        const char *uri = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "uri"));
        const char *state = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "state"));
        const char *sha = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "sha256Hash"));
        const char *emsg = cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(f, "error"), "message"));

        *ret = (GeminiFile){};
        if (!cJSON_IsObject(f) || !file_name_valid(name) || isempty(uri))
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -EPROTO,
                        "the Files API answered without a valid file resource (name, uri)");
        snprintf(ret->name, sizeof(ret->name), "%s", name);
        snprintf(ret->uri, sizeof(ret->uri), "%s", uri);
        snprintf(ret->sha256_base64, sizeof(ret->sha256_base64), "%s", sha ?: "");
        snprintf(ret->error, sizeof(ret->error), "%s", emsg ?: "");
        ret->state = !state || streq(state, "STATE_UNSPECIFIED") || streq(state, "PROCESSING")
                ? GEMINI_FILE_PROCESSING
                : streq(state, "ACTIVE") ? GEMINI_FILE_ACTIVE
                : streq(state, "FAILED") ? GEMINI_FILE_FAILED
                                         : GEMINI_FILE_PROCESSING;
        return 0;
}

int gemini_parse_response(const char *body, size_t len, char **ret_text, BackendError *err)
{
        _cleanup_(cJSON_Deletep) cJSON *j = cJSON_ParseWithLength(body, len);
        const cJSON *fb = cJSON_GetObjectItemCaseSensitive(j, "promptFeedback");
        const cJSON *cand = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "candidates"), 0);
        const cJSON *parts =
                cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cand, "content"), "parts");
        const char *block = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(fb, "blockReason"));
        const char *finish = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cand, "finishReason"));
        const cJSON *part;
        char *text = NULL;
        size_t tlen = 0;
        FILE *f;

        if (!j)
                return backend_fail(
                        err, TRANSCRIBE_RETRYABLE, -EPROTO, "generateContent: the answer is not JSON");
        if (block)
                return backend_fail(err, TRANSCRIBE_PERMANENT, -EPERM,
                        "generateContent: the prompt was blocked (blockReason %s)", block);
        if (!cand)
                return backend_fail(
                        err, TRANSCRIBE_RETRYABLE, -EPROTO, "generateContent: no candidates in the answer");
        /* Thinking can use up the budget before any text exists: cut either way. */
        if (finish && streq(finish, "MAX_TOKENS"))
                return backend_fail(err, TRANSCRIBE_TOO_LONG, -E2BIG,
                        "generateContent: the transcript was cut at the output token limit (finishReason MAX_TOKENS)");
        if (finish && !streq(finish, "STOP") && !streq(finish, "FINISH_REASON_UNSPECIFIED"))
                return backend_fail(err, TRANSCRIBE_PERMANENT, -EPROTO,
                        "generateContent: the model stopped early (finishReason %s)", finish);
        f = open_memstream(&text, &tlen);
        if (!f)
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        if (!cJSON_IsArray(parts))
                parts = NULL;
        cJSON_ArrayForEach(part, parts)
        {
                const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(part, "text"));
                if (t && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(part, "thought")))
                        fputs(t, f);
        }
        if (fclose(f) != 0) {
                free(text);
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        }
        *ret_text = text;
        return 0;
}

void gemini_sha256_base64(const char *hex, char ret[GEMINI_SHA256_B64_SIZE])
{
        static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        uint8_t d[32];
        size_t o = 0;

        ret[0] = 0;
        if (!hex || strlen(hex) != 64)
                return;
        for (size_t i = 0; i < 32; i++) {
                unsigned v;
                if (sscanf(hex + 2 * i, "%2x", &v) != 1)
                        return;
                d[i] = (uint8_t)v;
        }
        for (size_t i = 0; i < 32; i += 3) {
                uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < 32 ? (uint32_t)d[i + 1] << 8 : 0) |
                        (i + 2 < 32 ? d[i + 2] : 0);
                ret[o++] = tab[(v >> 18) & 63];
                ret[o++] = tab[(v >> 12) & 63];
                ret[o++] = i + 1 < 32 ? tab[(v >> 6) & 63] : '=';
                ret[o++] = i + 2 < 32 ? tab[v & 63] : '=';
        }
        ret[o] = 0;
}

uint64_t gemini_piece_bytes(uint64_t granularity)
{
        if (granularity == 0 || granularity > UPLOAD_PIECE_BYTES)
                return granularity == 0 ? UPLOAD_PIECE_BYTES : granularity;
        return UPLOAD_PIECE_BYTES - UPLOAD_PIECE_BYTES % granularity;
}

static void progress(Gemini *g, const char *phase, uint64_t done, uint64_t total)
{
        if (g->ctx.progress)
                g->ctx.progress(phase, done, total, g->ctx.userdata);
}

static void on_upload_progress(uint64_t done, uint64_t total, void *userdata)
{
        Gemini *g = userdata;

        /* done/total are of one piece: shown as a share of the whole chunk. */
        progress(g, "uploading", g->piece_offset + done, g->chunk_bytes);
}

/* Starts a session. Returns 0 with the upload URL and granularity, or a negative errno. */
static int upload_start(
        Gemini *g, const BackendChunk *ch, char **ret_url, uint64_t *ret_gran, BackendError *err)
{
        _cleanup_free_ char *url = http_join(g->endpoint, "/upload/v1beta/files"), *body = NULL;
        char h_len[80], h_type[128], upload_origin[512];
        const char *headers[] = { "X-Goog-Upload-Protocol: resumable", "X-Goog-Upload-Command: start", h_len,
                h_type, "Content-Type: application/json", NULL };
        HttpResponse resp;
        HttpRequest req = HTTP_REQUEST_INIT("POST", url);
        const char *u, *gr;
        uint64_t gran = 0;
        int r;

        if (!url || asprintf(&body, "{\"file\":{\"display_name\":\"%s-%u\"}}", g->ctx.id, ch->index + 1) < 0)
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        snprintf(h_len, sizeof(h_len), "X-Goog-Upload-Header-Content-Length: %" PRIu64, ch->size_bytes);
        snprintf(h_type, sizeof(h_type), "X-Goog-Upload-Header-Content-Type: %s",
                audio_mime_type(ch->format));
        req.headers = headers;
        req.send_key = true;
        req.data = body;
        req.data_len = strlen(body);
        req.timeout_usec = SMALL_REQUEST_USEC;
        r = http_perform_retrying(&g->http, &req, &resp, "upload start", err);
        if (r < 0)
                return r;
        r = http_fail_status(&g->http, &resp, "upload start", err);
        if (r < 0) {
                http_response_done(&resp);
                return r;
        }
        u = http_header(&g->http, "x-goog-upload-url");
        gr = http_header(&g->http, "x-goog-upload-chunk-granularity");
        if (gr && (sscanf(gr, "%" SCNu64, &gran) != 1 || gran > GEMINI_FILE_MAX_BYTES))
                gran = 0;
        if (isempty(u)) {
                http_response_done(&resp);
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -EPROTO,
                        "upload start: the answer has no X-Goog-Upload-URL header");
        }
        /* The key goes along with every piece: only ever to the endpoint's own origin. */
        if (http_origin(u, upload_origin, sizeof(upload_origin)) < 0 ||
                !streq(upload_origin, g->http.origin)) {
                r = backend_fail(err, TRANSCRIBE_PERMANENT, -EPERM,
                        "upload start: the server's upload URL points to %s, not to the endpoint %s: refused "
                        "(the API key is only sent to the endpoint)",
                        http_origin(u, upload_origin, sizeof(upload_origin)) < 0 ? "an invalid URL"
                                                                                 : upload_origin,
                        g->http.origin);
                http_response_done(&resp);
                return r;
        }
        *ret_url = strdup(u);
        *ret_gran = gran;
        http_response_done(&resp);
        return *ret_url ? 0 : backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
}

/* Asks how much of the upload arrived. Returns 1 with *ret_file when the upload is final, 0 with
 * *ret_offset when it is active, or a negative errno. */
static int upload_query(Gemini *g, const char *url, uint64_t size, uint64_t *ret_offset,
        GeminiFile *ret_file, BackendError *err)
{
        const char *headers[] = { "X-Goog-Upload-Command: query", NULL };
        HttpRequest req = HTTP_REQUEST_INIT("POST", url);
        HttpResponse resp;
        const char *st, *got;
        uint64_t n;
        int r;

        req.headers = headers;
        req.send_key = true;
        req.timeout_usec = SMALL_REQUEST_USEC;
        r = http_perform_retrying(&g->http, &req, &resp, "upload query", err);
        if (r < 0)
                return r;
        st = http_header(&g->http, "x-goog-upload-status");
        got = http_header(&g->http, "x-goog-upload-size-received");
        if (resp.status == 200 && st && streq(st, "final"))
                r = gemini_parse_file(resp.body, resp.body_len, true, ret_file, err) < 0 ? -EPROTO : 1;
        else if (resp.status == 200 && st && streq(st, "active") && got &&
                sscanf(got, "%" SCNu64, &n) == 1 && n <= size) {
                *ret_offset = n;
                r = 0;
        } else if (resp.status != 200 && (resp.status < 400 || resp.status == 404 || resp.status >= 500))
                r = http_fail_status(&g->http, &resp, "upload query", err);
        else
                /* Cancelled, or a session the server no longer knows: the next attempt starts over. */
                r = backend_fail(err, TRANSCRIBE_RETRYABLE, -ECONNABORTED,
                        "upload: the server lost the upload session (status %s, HTTP %ld)", st ?: "none",
                        resp.status);
        http_response_done(&resp);
        return r;
}

static int upload(Gemini *g, const BackendChunk *ch, GeminiFile *ret, BackendError *err)
{
        _cleanup_free_ char *url = NULL;
        uint64_t gran = 0, piece, offset = 0;
        unsigned resumes = 0;
        int r;

        r = upload_start(g, ch, &url, &gran, err);
        if (r < 0)
                return r;
        piece = gemini_piece_bytes(gran);
        for (;;) {
                uint64_t len = MIN(piece, ch->size_bytes - offset);
                bool final = offset + len >= ch->size_bytes;
                char h_cmd[64], h_off[64];
                const char *headers[] = { h_cmd, h_off, NULL };
                HttpRequest req = HTTP_REQUEST_INIT("POST", url);
                HttpResponse resp;
                BackendError e = {};
                const char *st;
                bool query;

                snprintf(h_cmd, sizeof(h_cmd), "X-Goog-Upload-Command: %s",
                        final ? "upload, finalize" : "upload");
                snprintf(h_off, sizeof(h_off), "X-Goog-Upload-Offset: %" PRIu64, offset);
                req.headers = headers;
                req.send_key = true;
                req.fd = ch->fd;
                req.offset = offset;
                req.length = len;
                req.low_speed = true;
                req.progress = on_upload_progress;
                req.userdata = g;
                g->piece_offset = offset;
                g->chunk_bytes = ch->size_bytes;
                r = http_perform(&g->http, &req, &resp, "upload", &e);
                if (r == 0 && resp.status == 200) {
                        st = http_header(&g->http, "x-goog-upload-status");
                        if (final && st && streq(st, "final")) {
                                r = gemini_parse_file(resp.body, resp.body_len, true, ret, err);
                                http_response_done(&resp);
                                return r;
                        }
                        if (!final && st && streq(st, "active")) {
                                http_response_done(&resp);
                                offset += len;
                                continue;
                        }
                        http_response_done(&resp);
                        return backend_fail(err, TRANSCRIBE_RETRYABLE, -ECONNABORTED,
                                "upload: unexpected upload status '%s' at offset %" PRIu64, st ?: "none",
                                offset);
                }
                /* A dropped connection, a server error, or a 4xx that is not 404 while the session
                 * lives (a bad offset, in Google's protocol): ask the server where it stands. */
                st = r == 0 ? http_header(&g->http, "x-goog-upload-status") : NULL;
                query = (r < 0 && e.outcome == TRANSCRIBE_RETRYABLE) ||
                        (r == 0 &&
                                (resp.status == 408 || resp.status == 429 || resp.status >= 500 ||
                                        (resp.status >= 400 && resp.status != 404 && st &&
                                                streq(st, "active"))));
                if (!query || ++resumes > MAX_RESUMES) {
                        if (r == 0)
                                (void)http_fail_status(&g->http, &resp, "upload", &e);
                        http_response_done(&resp);
                        *err = e;
                        if (query)
                                snprintf(err->message + strlen(err->message),
                                        sizeof(err->message) - strlen(err->message), " (after %u resumes)",
                                        MAX_RESUMES);
                        return r < 0 ? r : -EPROTO;
                }
                http_response_done(&resp);
                r = upload_query(g, url, ch->size_bytes, &offset, ret, err);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
}

static int wait_active(Gemini *g, GeminiFile *f, BackendError *err)
{
        _cleanup_free_ char *path = NULL, *url = NULL;
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + PROCESSING_MAX_USEC;

        if (asprintf(&path, "/v1beta/%s", f->name) < 0 || !(url = http_join(g->endpoint, path)))
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        while (f->state == GEMINI_FILE_PROCESSING) {
                HttpRequest req = HTTP_REQUEST_INIT("GET", url);
                HttpResponse resp;
                struct timespec ts = usec_to_timespec(g->ctx.policy->gemini.poll_interval_usec);
                int r;

                if (now_usec(CLOCK_MONOTONIC) > deadline)
                        return backend_fail(err, TRANSCRIBE_RETRYABLE, -ETIMEDOUT,
                                "%s is still PROCESSING after %llu minutes", f->name,
                                (unsigned long long)(PROCESSING_MAX_USEC / USEC_PER_MINUTE));
                progress(g, "processing", 0, 0);
                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                        ;
                req.send_key = true;
                req.timeout_usec = SMALL_REQUEST_USEC;
                r = http_perform_retrying(&g->http, &req, &resp, "files.get", err);
                if (r < 0)
                        return r;
                r = http_fail_status(&g->http, &resp, "files.get", err);
                if (r >= 0)
                        r = gemini_parse_file(resp.body, resp.body_len, false, f, err);
                http_response_done(&resp);
                if (r < 0)
                        return r;
        }
        if (f->state == GEMINI_FILE_FAILED)
                return backend_fail(err, TRANSCRIBE_PERMANENT, -EIO,
                        "the Files API could not process %s (state FAILED)%s%s", f->name,
                        f->error[0] ? ": " : "", f->error);
        return 0;
}

static int generate(
        Gemini *g, const BackendChunk *ch, const GeminiFile *f, char **ret_text, BackendError *err)
{
        _cleanup_(cJSON_Deletep) cJSON *j = cJSON_CreateObject();
        _cleanup_free_ char *url = NULL, *path = NULL, *body = NULL;
        const char *headers[] = { "Content-Type: application/json", NULL };
        cJSON *contents, *content, *parts, *part, *fd, *cfg;
        HttpRequest req;
        HttpResponse resp;
        int r;

        if (asprintf(&path, "/v1beta/models/%s:generateContent", g->model) < 0 ||
                !(url = http_join(g->endpoint, path)))
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        contents = cJSON_AddArrayToObject(j, "contents");
        content = cJSON_CreateObject();
        if (!contents || !content || !cJSON_AddItemToArray(contents, content) ||
                !cJSON_AddStringToObject(content, "role", "user") ||
                !(parts = cJSON_AddArrayToObject(content, "parts")))
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        part = cJSON_CreateObject();
        if (!part || !cJSON_AddItemToArray(parts, part) || !cJSON_AddStringToObject(part, "text", g->prompt))
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        part = cJSON_CreateObject();
        if (!part || !cJSON_AddItemToArray(parts, part) ||
                !(fd = cJSON_AddObjectToObject(part, "file_data")) ||
                !cJSON_AddStringToObject(fd, "mime_type", audio_mime_type(ch->format)) ||
                !cJSON_AddStringToObject(fd, "file_uri", f->uri))
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        cfg = cJSON_AddObjectToObject(j, "generationConfig");
        if (!cfg || !cJSON_AddNumberToObject(cfg, "temperature", 0))
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        /* Thinking tokens count against the output limit and add nothing to a transcript. Only
         * the 2.5 Flash models accept a budget of 0 (2.5 Pro refuses it, Gemini 3 uses
         * thinkingLevel), so other models keep their default. */
        if (strstr(g->model, "2.5-flash")) {
                cJSON *tc = cJSON_AddObjectToObject(cfg, "thinkingConfig");
                if (!tc || !cJSON_AddNumberToObject(tc, "thinkingBudget", 0))
                        return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        }
        body = cJSON_PrintUnformatted(j);
        if (!body)
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");

        progress(g, "transcribing", 0, 0);
        req = HTTP_REQUEST_INIT("POST", url);
        req.headers = headers;
        req.send_key = true;
        req.data = body;
        req.data_len = strlen(body);
        r = http_perform_retrying(&g->http, &req, &resp, "generateContent", err);
        if (r < 0)
                return r;
        r = http_fail_status(&g->http, &resp, "generateContent", err);
        if (r >= 0)
                r = gemini_parse_response(resp.body, resp.body_len, ret_text, err);
        http_response_done(&resp);
        return r;
}

static void delete_file(Gemini *g, const GeminiFile *f)
{
        _cleanup_free_ char *path = NULL, *url = NULL;
        HttpRequest req;
        HttpResponse resp;
        BackendError e = {};

        if (asprintf(&path, "/v1beta/%s", f->name) < 0 || !(url = http_join(g->endpoint, path)))
                return;
        req = HTTP_REQUEST_INIT("DELETE", url);
        req.send_key = true;
        req.timeout_usec = SMALL_REQUEST_USEC;
        /* Best effort: files expire after 48 h anyway; a failed delete must not fail the chunk. */
        if (http_perform_retrying(&g->http, &req, &resp, "files.delete", &e) == 0)
                http_response_done(&resp);
}

static int gemini_transcribe(void *state, const BackendChunk *ch, char **ret_text, BackendError *err)
{
        Gemini *g = state;
        GeminiFile f;
        char want[GEMINI_SHA256_B64_SIZE];
        int r;

        if (ch->size_bytes > GEMINI_FILE_MAX_BYTES)
                return backend_fail(err, TRANSCRIBE_PERMANENT, -EFBIG,
                        "chunk %u is larger than the Files API's 2 GB", ch->index + 1);
        r = upload(g, ch, &f, err);
        if (r < 0)
                return r;
        gemini_sha256_base64(ch->sha256, want);
        if (f.sha256_base64[0] && want[0] && !streq(f.sha256_base64, want))
                r = backend_fail(err, TRANSCRIBE_RETRYABLE, -EBADMSG,
                        "upload: the server's SHA-256 of %s (%s) differs from the file's (%s)", f.name,
                        f.sha256_base64, want);
        if (r >= 0)
                r = wait_active(g, &f, err);
        if (r >= 0)
                r = generate(g, ch, &f, ret_text, err);
        if (g->ctx.policy->gemini.delete_after)
                delete_file(g, &f);
        return r;
}

static void gemini_close(void *state)
{
        Gemini *g = state;

        if (!g)
                return;
        http_client_done(&g->http);
        free(g->endpoint);
        free(g->model);
        free(g->prompt);
        free(g);
}

static int gemini_open(const BackendContext *ctx, void **ret_state, BackendError *err)
{
        const Policy *p = ctx->policy;
        _cleanup_free_ char *key = NULL;
        Gemini *g;
        const char *model = p->gemini.model ?: "gemini-2.5-flash";
        int r;

        if (strneq(model, "models/", 7))
                model += 7;
        for (const char *s = model; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                            strchr("._-", *s)))
                        return backend_fail(err, TRANSCRIBE_PERMANENT, -EINVAL,
                                "[gemini] model '%s' is not a model name", p->gemini.model);
        g = calloc(1, sizeof(*g));
        if (!g)
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        g->ctx = *ctx;
        g->endpoint = strdup(p->gemini.endpoint ?: "https://generativelanguage.googleapis.com");
        g->model = strdup(model);
        if (!g->endpoint || !g->model) {
                gemini_close(g);
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        }
        r = http_load_key(p->gemini.api_key_file, p->gemini.api_key_env, &key, err);
        if (r >= 0 && !key)
                r = backend_fail(err, TRANSCRIBE_PERMANENT, -ENOKEY,
                        "the gemini backend needs [gemini] api_key_file or api_key_env");
        if (r >= 0)
                r = http_client_init(&g->http, p, g->endpoint, "x-goog-api-key: ", key, err);
        if (key)
                explicit_bzero(key, strlen(key));
        if (r >= 0 && !isempty(p->gemini.prompt_file)) {
                r = read_file_at(AT_FDCWD, p->gemini.prompt_file, PROMPT_MAX, &g->prompt, NULL);
                if (r < 0)
                        r = backend_fail(err, TRANSCRIBE_PERMANENT, r,
                                "cannot read [gemini] prompt_file %s: %s", p->gemini.prompt_file,
                                r == -EFBIG ? "larger than 64K" : strerror(-r));
        } else if (r >= 0) {
                const char *lang = p->transcribe.language;
                if (asprintf(&g->prompt, "%s%s%s%s", default_prompt, lang ? " The language is " : "",
                            lang ?: "", lang ? "." : "") < 0)
                        r = backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        }
        if (r < 0) {
                gemini_close(g);
                return r;
        }
        *ret_state = g;
        return 0;
}

static uint64_t gemini_max_bytes(const Policy *p)
{
        return GEMINI_FILE_MAX_BYTES;
}

static usec_t gemini_max_usec(const Policy *p)
{
        return 0;
}

const BackendOps backend_gemini_ops = {
        .name = "gemini",
        .open = gemini_open,
        .transcribe = gemini_transcribe,
        .close = gemini_close,
        .max_chunk_bytes = gemini_max_bytes,
        .max_chunk_usec = gemini_max_usec,
};
