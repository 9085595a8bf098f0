/* SPDX-License-Identifier: MIT */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/json-util.h"
#include "common/macro.h"
#include "runner/fetch.h"
#include "runner/http.h"

#define KEY_FILE_MAX           4096
#define PROGRESS_INTERVAL_USEC (250 * USEC_PER_MSEC)

DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all);

int http_origin(const char *url, char *buf, size_t size)
{
        CURLU *u = curl_url();
        char *scheme = NULL, *host = NULL, *port = NULL;
        int r = -EINVAL;

        if (!u)
                return -ENOMEM;
        if (url && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
                curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
                curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
                curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
                (strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0)) {
                int n = snprintf(buf, size, "%s://%s:%s", scheme, host, port);
                r = n < 0 || (size_t)n >= size ? -ENOBUFS : 0;
                for (char *p = buf; r == 0 && *p; p++)
                        *p = (char)tolower((unsigned char)*p);
        }
        curl_free(scheme);
        curl_free(host);
        curl_free(port);
        curl_url_cleanup(u);
        return r;
}

int http_parse_duration(const char *s, usec_t *ret)
{
        uint64_t whole = 0, frac = 0, scale = USEC_PER_SEC;
        const char *p = s;

        if (!s || !isdigit((unsigned char)*p))
                return -EINVAL;
        for (; isdigit((unsigned char)*p); p++) {
                if (whole > UINT32_MAX)
                        return -EINVAL;
                whole = whole * 10 + (uint64_t)(*p - '0');
        }
        if (*p == '.') {
                p++;
                if (!isdigit((unsigned char)*p))
                        return -EINVAL;
                for (; isdigit((unsigned char)*p); p++)
                        if (scale > 1) {
                                scale /= 10;
                                frac += (uint64_t)(*p - '0') * scale;
                        }
        }
        if (!streq(p, "s"))
                return -EINVAL;
        *ret = whole * USEC_PER_SEC + frac;
        return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && streq(s + a - b, suffix);
}

usec_t http_retry_info(const char *body, size_t len, bool *ret_daily)
{
        _cleanup_(cJSON_Deletep) cJSON *j = body ? cJSON_ParseWithLength(body, len) : NULL;
        cJSON *details =
                cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "error"), "details");
        const cJSON *d, *v;
        usec_t delay = 0;

        if (ret_daily)
                *ret_daily = false;
        if (!cJSON_IsArray(details))
                details = NULL;
        cJSON_ArrayForEach(d, details)
        {
                const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "@type"));
                if (!type)
                        continue;
                if (ends_with(type, "google.rpc.RetryInfo")) {
                        const char *s =
                                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "retryDelay"));
                        if (s && http_parse_duration(s, &delay) < 0)
                                delay = 0;
                } else if (ends_with(type, "google.rpc.QuotaFailure") && ret_daily) {
                        cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(d, "violations"))
                        {
                                const char *q =
                                        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "quotaId"));
                                if (q && strstr(q, "PerDay"))
                                        *ret_daily = true;
                        }
                }
        }
        return delay;
}

/* Control characters and line breaks become spaces, so a message stays one line. */
static void one_line(char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        *s = ' ';
}

const char *http_error_message(const char *body, size_t len, char *buf, size_t size)
{
        _cleanup_(cJSON_Deletep) cJSON *j = NULL;
        const char *msg = NULL;
        cJSON *e, *d;

        if (size == 0)
                return buf;
        buf[0] = 0;
        if (!body || len == 0)
                return buf;
        j = cJSON_ParseWithLength(body, len);
        e = cJSON_GetObjectItemCaseSensitive(j, "error");
        d = cJSON_GetObjectItemCaseSensitive(j, "detail");
        if (cJSON_IsObject(e))
                msg = cJSON_GetStringValue(
                        cJSON_GetObjectItemCaseSensitive(e, "message")); /* OpenAI, Gemini, vLLM */
        else if (cJSON_IsString(e))
                msg = e->valuestring; /* whisper.cpp */
        else if (cJSON_IsString(d))
                msg = d->valuestring; /* speaches (FastAPI) */
        else if (cJSON_IsArray(d))
                msg = cJSON_GetStringValue(
                        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(d, 0), "msg"));
        else if (cJSON_IsObject(j))
                msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "message"));
        if (msg)
                snprintf(buf, size, "%.400s", msg);
        else if (!j) /* plain text or HTML: its start */
                snprintf(buf, size, "%.*s", (int)MIN(len, (size_t)200), body);
        one_line(buf);
        return buf;
}

void http_scrub(char *s, size_t size, const char *secret)
{
        static const char mark[] = "[redacted]";
        size_t n;
        char *p;

        if (!s || isempty(secret))
                return;
        n = strlen(secret);
        for (char *from = s; (p = strstr(from, secret));) {
                size_t tail = strlen(p + n);
                size_t m = MIN(strlen(mark), n + (size - 1 - strlen(s)));
                /* The secret is replaced by as much of the mark as fits, and never left partly. */
                memmove(p + m, p + n, tail + 1);
                memcpy(p, mark, m);
                from = p + m; /* the mark itself is not searched again */
        }
}

char *http_join(const char *endpoint, const char *path)
{
        size_t n = strlen(endpoint);
        char *s;

        while (n > 0 && endpoint[n - 1] == '/')
                n--;
        if (asprintf(&s, "%.*s%s", (int)n, endpoint, path) < 0)
                return NULL;
        return s;
}

int http_load_key(const char *key_file, const char *key_env, char **ret, BackendError *err)
{
        _cleanup_close_ int fd = -EBADF;
        char buf[KEY_FILE_MAX + 1];
        const char *key;
        struct stat st;
        ssize_t n;
        size_t len;

        *ret = NULL;
        if (isempty(key_file) && isempty(key_env))
                return 0;
        if (!isempty(key_file)) {
                fd = open(key_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0)
                        return backend_fail(err, TRANSCRIBE_PERMANENT, -errno,
                                "cannot open the API key file %s: %s", key_file, strerror(errno));
                if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                        return backend_fail(err, TRANSCRIBE_PERMANENT, -EINVAL,
                                "the API key file %s is not a regular file", key_file);
                if (st.st_mode & (S_IROTH | S_IWOTH))
                        return backend_fail(err, TRANSCRIBE_PERMANENT, -EPERM,
                                "the API key file %s is accessible to other users (mode %04o): run 'chmod o-rwx %s'",
                                key_file, (unsigned)(st.st_mode & 07777), key_file);
                n = read(fd, buf, sizeof(buf));
                if (n < 0)
                        return backend_fail(err, TRANSCRIBE_PERMANENT, -errno,
                                "cannot read the API key file %s: %s", key_file, strerror(errno));
                if (n > KEY_FILE_MAX)
                        return backend_fail(err, TRANSCRIBE_PERMANENT, -EFBIG,
                                "the API key file %s is larger than %d bytes", key_file, KEY_FILE_MAX);
                buf[n] = 0;
                key = buf;
        } else {
                key = getenv(key_env);
                if (isempty(key))
                        return backend_fail(err, TRANSCRIBE_PERMANENT, -ENOKEY,
                                "the environment variable %s (api_key_env) is not set", key_env);
                snprintf(buf, sizeof(buf), "%s", key);
                key = buf;
        }
        len = strlen(key);
        while (len > 0 && isspace((unsigned char)key[len - 1]))
                len--;
        buf[len] = 0;
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)key[i] <= 0x20 || (unsigned char)key[i] >= 0x7f) {
                        explicit_bzero(buf, sizeof(buf));
                        return backend_fail(err, TRANSCRIBE_PERMANENT, -EINVAL,
                                "the API key from %s contains spaces or control characters",
                                !isempty(key_file) ? key_file : key_env);
                }
        if (len == 0)
                return backend_fail(err, TRANSCRIBE_PERMANENT, -ENOKEY, "the API key from %s is empty",
                        !isempty(key_file) ? key_file : key_env);
        *ret = strdup(buf);
        explicit_bzero(buf, sizeof(buf));
        return *ret ? 0 : backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
}

static void free_secret(char **s)
{
        if (*s) {
                explicit_bzero(*s, strlen(*s));
                free(*s);
                *s = NULL;
        }
}

int http_client_init(HttpClient *c, const Policy *p, const char *endpoint, const char *key_prefix,
        const char *key, BackendError *err)
{
        char origin[512];

        *c = (HttpClient){
                .connect_timeout_ms = 20000,
                .max_tries = 4,
                .backoff_usec = 500 * USEC_PER_MSEC,
                .max_wait_usec = 60 * USEC_PER_SEC,
        };
        if (isempty(endpoint) || http_origin(endpoint, origin, sizeof(origin)) < 0)
                return backend_fail(err, TRANSCRIBE_PERMANENT, -EINVAL,
                        "the endpoint '%s' is not an absolute http or https URL", endpoint ?: "");
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "cannot initialise libcurl");
        c->curl = curl_easy_init();
        c->origin = strdup(origin);
        c->user_agent = strdup(p && !isempty(p->fetch.user_agent) ? p->fetch.user_agent
                                                                  : "memgov/" PACKAGE_VERSION
                                                                    " (podcast transcription)");
        if (key && (asprintf(&c->key_header, "%s%s", key_prefix, key) < 0 || !(c->key = strdup(key))))
                c->key_header = NULL;
        if (!c->curl || !c->origin || !c->user_agent || (key && (!c->key_header || !c->key))) {
                http_client_done(c);
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        }
        if (p) {
                c->connect_timeout_ms = (long)MAX(
                        MIN(p->fetch.connect_timeout_usec / USEC_PER_MSEC, (usec_t)LONG_MAX), (usec_t)1);
                c->low_speed_limit = (long)MIN(p->fetch.low_speed_limit_bytes, (uint64_t)LONG_MAX);
                c->low_speed_time_sec = (long)MAX(p->fetch.low_speed_time_usec / USEC_PER_SEC, (usec_t)1);
        }
        return 0;
}

void http_client_done(HttpClient *c)
{
        if (!c)
                return;
        if (c->curl) {
                curl_easy_cleanup(c->curl);
                curl_global_cleanup();
        }
        free(c->origin);
        free_secret(&c->key_header);
        free_secret(&c->key);
        free(c->user_agent);
        *c = (HttpClient){};
}

void http_response_done(HttpResponse *r)
{
        if (!r)
                return;
        free(r->body);
        *r = (HttpResponse){};
}

typedef struct Transfer {
        const HttpRequest *req;
        HttpResponse *resp;
        uint64_t sent;
        bool too_big;
        usec_t last_progress;
} Transfer;

static size_t on_read(char *buf, size_t size, size_t nitems, void *userdata)
{
        Transfer *t = userdata;
        size_t want = (size_t)MIN((uint64_t)size * nitems, t->req->length - t->sent);
        ssize_t n;

        if (want == 0)
                return 0;
        do
                n = pread(t->req->fd, buf, want, (off_t)(t->req->offset + t->sent));
        while (n < 0 && errno == EINTR);
        /* A short file would make the server wait for bytes that never come. */
        if (n <= 0)
                return CURL_READFUNC_ABORT;
        t->sent += (uint64_t)n;
        return (size_t)n;
}

static int on_seek(void *userdata, curl_off_t offset, int origin)
{
        Transfer *t = userdata;

        if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > t->req->length)
                return CURL_SEEKFUNC_CANTSEEK;
        t->sent = (uint64_t)offset;
        return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
        Transfer *t = userdata;
        HttpResponse *r = t->resp;
        size_t n = size * nmemb;
        char *b;

        if (r->body_len + n > HTTP_BODY_MAX) {
                t->too_big = true;
                return 0;
        }
        b = realloc(r->body, r->body_len + n + 1);
        if (!b)
                return 0;
        memcpy(b + r->body_len, data, n);
        r->body = b;
        r->body_len += n;
        r->body[r->body_len] = 0;
        return n;
}

static int on_progress(
        void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
        Transfer *t = userdata;
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (t->req->progress && ultotal > 0 && now - t->last_progress >= PROGRESS_INTERVAL_USEC) {
                t->last_progress = now;
                t->req->progress((uint64_t)ulnow, (uint64_t)ultotal, t->req->userdata);
        }
        return 0;
}

_printf_(5, 6) static int fail_scrubbed(
        HttpClient *c, BackendError *err, TranscribeOutcome o, int r, const char *fmt, ...)
{
        char msg[sizeof(err->message)];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        http_scrub(msg, sizeof(msg), c->key);
        return backend_fail(err, o, r, "%s", msg);
}

static int fail_transport(HttpClient *c, CURLcode cc, bool too_big, const char *what, BackendError *err)
{
        const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc);

        if (too_big)
                return fail_scrubbed(c, err, TRANSCRIBE_PERMANENT, -EFBIG,
                        "%s: the response is larger than %u bytes", what, HTTP_BODY_MAX);
        switch ((int)cc) {
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM:
                return fail_scrubbed(c, err, TRANSCRIBE_PERMANENT, -EPERM, "%s: %s", what, why);
        case CURLE_OPERATION_TIMEDOUT:
                return fail_scrubbed(c, err, TRANSCRIBE_RETRYABLE, -ETIMEDOUT, "%s: %s", what, why);
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
                return fail_scrubbed(c, err, TRANSCRIBE_RETRYABLE, -EHOSTUNREACH, "%s: %s", what, why);
        case CURLE_OUT_OF_MEMORY:
                return fail_scrubbed(c, err, TRANSCRIBE_RETRYABLE, -ENOMEM, "%s: %s", what, why);
        default:
                return fail_scrubbed(c, err, TRANSCRIBE_RETRYABLE, -ECONNRESET, "%s: %s", what, why);
        }
}

static int setup(
        HttpClient *c, const HttpRequest *req, Transfer *t, struct curl_slist *headers, curl_mime *mime)
{
        CURLcode r = CURLE_OK;

#define SET(opt, val)                                            \
        do {                                                     \
                if (r == CURLE_OK)                               \
                        r = curl_easy_setopt(c->curl, opt, val); \
        } while (0)
        curl_easy_reset(c->curl);
        SET(CURLOPT_URL, req->url);
        SET(CURLOPT_PROTOCOLS_STR, "http,https");
        SET(CURLOPT_FOLLOWLOCATION, 0L);
        SET(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_TCP_KEEPALIVE, 1L);
        SET(CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
        SET(CURLOPT_USERAGENT, c->user_agent);
        SET(CURLOPT_ERRORBUFFER, c->errbuf);
        SET(CURLOPT_HTTPHEADER, headers);
        SET(CURLOPT_WRITEFUNCTION, on_write);
        SET(CURLOPT_WRITEDATA, t);
        SET(CURLOPT_XFERINFOFUNCTION, on_progress);
        SET(CURLOPT_XFERINFODATA, t);
        SET(CURLOPT_NOPROGRESS, req->progress ? 0L : 1L);
        if (req->timeout_usec > 0)
                SET(CURLOPT_TIMEOUT_MS, (long)MIN(req->timeout_usec / USEC_PER_MSEC, (usec_t)LONG_MAX));
        if (req->low_speed && c->low_speed_limit > 0) {
                SET(CURLOPT_LOW_SPEED_LIMIT, c->low_speed_limit);
                SET(CURLOPT_LOW_SPEED_TIME, c->low_speed_time_sec);
        }
        if (mime)
                SET(CURLOPT_MIMEPOST, mime);
        else if (req->fd >= 0) {
                SET(CURLOPT_POST, 1L);
                SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->length);
                SET(CURLOPT_READFUNCTION, on_read);
                SET(CURLOPT_READDATA, t);
                SET(CURLOPT_SEEKFUNCTION, on_seek);
                SET(CURLOPT_SEEKDATA, t);
        } else if (req->data || streq(req->method, "POST")) {
                SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->data_len);
                SET(CURLOPT_POSTFIELDS, req->data ? req->data : "");
        }
        if (!streq(req->method, "GET") && !streq(req->method, "POST"))
                SET(CURLOPT_CUSTOMREQUEST, req->method);
#undef SET
        return r == CURLE_OK ? 0 : -EINVAL;
}

int http_perform(
        HttpClient *c, const HttpRequest *req, HttpResponse *resp, const char *what, BackendError *err)
{
        _cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
        Transfer t = { .req = req, .resp = resp };
        curl_mime *mime = NULL;
        char origin[512];
        CURLcode cc;

        *resp = (HttpResponse){};
        if (http_origin(req->url, origin, sizeof(origin)) < 0)
                return fail_scrubbed(c, err, TRANSCRIBE_PERMANENT, -EINVAL, "%s: not an http(s) URL", what);
        if (req->send_key && c->key_header && !streq(origin, c->origin))
                return fail_scrubbed(c, err, TRANSCRIBE_PERMANENT, -EPERM,
                        "%s: the server sent us to %s, which is not the endpoint %s: refusing to send the API key there",
                        what, origin, c->origin);
        /* No "Expect: 100-continue": it costs a second of waiting per upload on servers that do not
         * answer it, and gains nothing on an API that reads every body. */
        headers = curl_slist_append(NULL, "Expect:");
        for (const char *const *h = req->headers; headers && h && *h; h++)
                headers = curl_slist_append(headers, *h);
        if (headers && req->send_key && c->key_header)
                headers = curl_slist_append(headers, c->key_header);
        if (!headers)
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        c->errbuf[0] = 0;
        if (req->make_mime && !(mime = req->make_mime(c->curl, req->mime_userdata)))
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        if (setup(c, req, &t, headers, mime) < 0) {
                curl_mime_free(mime);
                return fail_scrubbed(
                        c, err, TRANSCRIBE_PERMANENT, -EINVAL, "%s: cannot set up the request", what);
        }
        cc = curl_easy_perform(c->curl);
        (void)curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
        (void)curl_easy_setopt(c->curl, CURLOPT_MIMEPOST, NULL);
        curl_mime_free(mime);
        (void)curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
        if (req->progress && req->length > 0 && cc == CURLE_OK)
                req->progress(req->length, req->length, req->userdata);
        if (cc != CURLE_OK) {
                int r = fail_transport(c, cc, t.too_big, what, err);
                http_response_done(resp);
                return r;
        }
        if (!resp->body) {
                resp->body = strdup("");
                if (!resp->body)
                        return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        }
        return 0;
}

const char *http_header(HttpClient *c, const char *name)
{
        struct curl_header *h = NULL;

        if (curl_easy_header(c->curl, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h)
                return NULL;
        return h->value;
}

/* The server's delay for a 429/503: Retry-After, else a Gemini RetryInfo. */
static usec_t server_delay(HttpClient *c, const HttpResponse *resp, bool *ret_daily)
{
        const char *ra = http_header(c, "retry-after");
        usec_t body_delay = http_retry_info(resp->body, resp->body_len, ret_daily);
        int64_t s;

        if (ra && (s = fetch_parse_retry_after(ra, (int64_t)(now_usec(CLOCK_REALTIME) / USEC_PER_SEC))) >= 0)
                return MAX((usec_t)s * USEC_PER_SEC, body_delay);
        return body_delay;
}

int http_fail_status(HttpClient *c, const HttpResponse *resp, const char *what, BackendError *err)
{
        char msg[512];
        long s = resp->status;
        bool daily = false;
        usec_t delay;
        int r;

        if (s >= 200 && s <= 299)
                return 0;
        http_error_message(resp->body, resp->body_len, msg, sizeof(msg));
        if (s >= 300 && s <= 399) {
                const char *loc = http_header(c, "location");
                char where[512] = "another URL";
                if (loc)
                        (void)http_origin(loc, where, sizeof(where));
                r = fail_scrubbed(c, err, TRANSCRIBE_PERMANENT, -EPROTO,
                        "%s: HTTP %ld redirect to %s refused: API requests never follow redirects (check the endpoint)",
                        what, s, where);
        } else if (s == 408 || s == 429 || (s >= 500 && s <= 599)) {
                r = fail_scrubbed(c, err, TRANSCRIBE_RETRYABLE, s == 429 ? -EBUSY : -EAGAIN,
                        "%s: HTTP %ld%s%s", what, s, msg[0] ? ": " : "", msg);
                delay = server_delay(c, resp, &daily);
                err->retry_after_sec = delay > 0 ? (delay + USEC_PER_SEC - 1) / USEC_PER_SEC
                        : daily                  ? 3600
                                                 : 0;
        } else if (s == 413)
                r = fail_scrubbed(c, err, TRANSCRIBE_PERMANENT, -EFBIG,
                        "%s: HTTP 413: the server refused the upload as too large%s%s (lower the upload limit: "
                        "[openai] max_upload or [transcribe] max_chunk_size)",
                        what, msg[0] ? ": " : "", msg);
        else
                r = fail_scrubbed(c, err, TRANSCRIBE_PERMANENT,
                        s == 401 || s == 403 ? -EACCES
                                : s == 404   ? -ENOENT
                                             : -EPROTO,
                        "%s: HTTP %ld%s%s", what, s, msg[0] ? ": " : "", msg);
        err->http_status = s;
        return r;
}

static void pause_usec(usec_t u)
{
        struct timespec ts = usec_to_timespec(u);
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int give_up(HttpClient *c, HttpResponse *resp, const char *what, BackendError *err)
{
        int r = http_fail_status(c, resp, what, err);
        http_response_done(resp);
        return r;
}

int http_perform_retrying(
        HttpClient *c, const HttpRequest *req, HttpResponse *resp, const char *what, BackendError *err)
{
        for (unsigned attempt = 1;; attempt++) {
                usec_t backoff = MIN(c->backoff_usec << MIN(attempt - 1, 16U), c->max_wait_usec), delay;
                bool last = attempt >= c->max_tries, daily = false;
                int r = http_perform(c, req, resp, what, err);

                if (r < 0) {
                        if (err->outcome != TRANSCRIBE_RETRYABLE || last)
                                return r;
                        *err = (BackendError){};
                        pause_usec(backoff);
                        continue;
                }
                if (resp->status == 429) {
                        delay = server_delay(c, resp, &daily);
                        if (last || (daily && delay == 0) || delay > c->max_wait_usec)
                                return give_up(c, resp, what, err);
                        pause_usec(delay > 0 ? delay : backoff);
                } else if (resp->status == 408 || (resp->status >= 500 && resp->status <= 599)) {
                        if (last)
                                return give_up(c, resp, what, err);
                        pause_usec(backoff);
                } else
                        return 0;
                http_response_done(resp);
        }
}
