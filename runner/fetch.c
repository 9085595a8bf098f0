/* SPDX-License-Identifier: MIT */
#include <curl/curl.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "runner/fetch.h"

#define UNKNOWN_SIZE UINT64_MAX
/* libcurl's receive buffer: bigger means fewer write calls, and it is the only buffer we have. */
#define FETCH_BUFFER_SIZE (64 * 1024)
/* Writeback is started for every window written and the window before it is waited for and
 * dropped from the page cache: at most about two windows stay cached (dirty or clean). */
#define FLUSH_WINDOW_BYTES (4ULL * 1024 * 1024)
#define SPACE_CHECK_BYTES  (256ULL * 1024)
#define META_MAX_BYTES     (16 * 1024)
#define META_MAGIC         "memgov-fetch-meta 1"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all);

typedef enum BodyMode {
        BODY_IGNORE, /* no final response yet (redirect bodies), or one we do not keep */
        BODY_WRITE,
} BodyMode;

typedef struct Fetch {
        const FetchParams *p;
        FetchResult *res;
        CURL *curl;
        int fd; /* the .part file */
        char part[NAME_MAX + 1];
        char meta[NAME_MAX + 1];
        char url_safe[2048];
        char errbuf[CURL_ERROR_SIZE];
        uint64_t cap;
        uint64_t min_free;

        /* The validator sent in If-Range when resuming; "" = not resuming. */
        char validator[256];
        bool resumable; /* the .meta describes the .part: worth keeping after a failure */

        /* Headers of the response being received (reset at each status line). */
        long status;
        uint64_t content_length;
        bool chunked;
        bool location;
        bool redirecting; /* the last response was a redirect libcurl meant to follow */
        char etag[256];
        char last_modified[128];
        char content_range[128];
        int64_t retry_after;

        /* The file. */
        BodyMode mode;
        uint64_t have;  /* bytes in the .part, which always equal the hashed bytes */
        uint64_t total; /* expected size of the whole file, UNKNOWN_SIZE if not known */
        Sha256 sha;
        uint8_t head[SNIFF_BYTES];
        size_t head_len;
        uint64_t synced_to, dropped_to, next_space_check;
        usec_t last_progress_usec;

        /* Set by callbacks that stopped the transfer. */
        int err;
        bool restart;  /* start over from byte 0 without Range */
        bool complete; /* 416 with our size as the total: nothing left to fetch */
} Fetch;

/* Records the first error only: later ones are consequences (an aborted transfer, …). */
_printf_(4, 5) static int fail(Fetch *f, int err, FetchOutcome o, const char *fmt, ...)
{
        char msg[400];
        va_list ap;

        if (f->err < 0 || f->res->error[0])
                return f->err < 0 ? f->err : err;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        /* Long signed URLs are cut: the message stays one readable line. */
        snprintf(f->res->error, sizeof(f->res->error), "%.300s%s: %s", f->url_safe,
                strlen(f->url_safe) > 300 ? "…" : "", msg);
        f->res->outcome = o;
        f->err = err;
        return err;
}

static int fail_disk_full(Fetch *f, uint64_t avail, uint64_t need)
{
        /* Retryable: other jobs finish and free the spool; the scheduler's attempt limit bounds it. */
        return fail(f, -ENOSPC, FETCH_RETRYABLE,
                "disk full: %" PRIu64 " bytes free in the spool, %" PRIu64 " needed (incl. a %" PRIu64
                " byte margin)",
                avail, need, f->min_free);
}

/* Fails when fewer than need_more + the margin bytes are free. Unknown free space passes. */
static int check_space(Fetch *f, uint64_t need_more)
{
        struct statvfs sv;
        uint64_t avail, need;

        if (fstatvfs(f->fd, &sv) < 0)
                return 0;
        avail = (uint64_t)sv.f_bavail * sv.f_frsize;
        need = need_more > UINT64_MAX - f->min_free ? UINT64_MAX : need_more + f->min_free;
        if (avail < need)
                return fail_disk_full(f, avail, need);
        return 0;
}

static void reset_body(Fetch *f)
{
        f->have = 0;
        f->head_len = 0;
        f->synced_to = f->dropped_to = 0;
        f->next_space_check = SPACE_CHECK_BYTES;
        sha256_init(&f->sha);
}

static int truncate_part(Fetch *f)
{
        if (ftruncate(f->fd, 0) < 0)
                return fail(f, -errno, FETCH_RETRYABLE, "cannot truncate %s: %s", f->part, strerror(errno));
        (void)unlinkat(f->p->spool_fd, f->meta, 0);
        f->resumable = false;
        reset_body(f);
        return 0;
}

/* Hands written pages to writeback and drops those already written back, so the stage's cgroup
 * is not charged for a page cache that grows with the file. Errors only cost memory: ignored. */
static void flush_window(Fetch *f)
{
        if (!f->p->drop_page_cache || f->have - f->synced_to < FLUSH_WINDOW_BYTES)
                return;
        if (f->synced_to > f->dropped_to) {
                (void)sync_file_range(f->fd, (off_t)f->dropped_to, (off_t)(f->synced_to - f->dropped_to),
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
                (void)posix_fadvise(f->fd, (off_t)f->dropped_to, (off_t)(f->synced_to - f->dropped_to),
                        POSIX_FADV_DONTNEED);
                f->dropped_to = f->synced_to;
        }
        (void)sync_file_range(
                f->fd, (off_t)f->synced_to, (off_t)(f->have - f->synced_to), SYNC_FILE_RANGE_WRITE);
        f->synced_to = f->have;
}

static void account(Fetch *f, const void *data, size_t n)
{
        if (f->head_len < SNIFF_BYTES) {
                size_t k = MIN(n, SNIFF_BYTES - f->head_len);
                memcpy(f->head + f->head_len, data, k);
                f->head_len += k;
        }
        sha256_update(&f->sha, data, n);
        f->have += n;
}

/* The kept prefix of a resumed download is hashed again: a hash state cannot outlive the process
 * that computed it. It is read once, then dropped from the cache like the rest. */
static int rehash_prefix(Fetch *f, uint64_t len)
{
        _cleanup_free_ uint8_t *buf = malloc(FETCH_BUFFER_SIZE);

        if (!buf)
                return fail(f, -ENOMEM, FETCH_RETRYABLE, "out of memory");
        reset_body(f);
        while (f->have < len) {
                ssize_t n = pread(
                        f->fd, buf, (size_t)MIN((uint64_t)FETCH_BUFFER_SIZE, len - f->have), (off_t)f->have);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return fail(f, n < 0 ? -errno : -EIO, FETCH_RETRYABLE, "cannot read %s: %s", f->part,
                                n < 0 ? strerror(errno) : "file shrank");
                account(f, buf, (size_t)n);
        }
        if (f->p->drop_page_cache)
                (void)posix_fadvise(f->fd, 0, 0, POSIX_FADV_DONTNEED);
        f->synced_to = f->dropped_to = f->have;
        f->next_space_check = f->have + SPACE_CHECK_BYTES;
        return 0;
}

static bool meta_value_ok(const char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        return false;
        return true;
}

/* The sidecar records what the .part is a prefix of: the original URL (resumes never start at a
 * redirect target, whose signed URL may have expired) and the validators for If-Range. */
static int write_meta(Fetch *f)
{
        char buf[META_MAX_BYTES];
        int n;

        /* Without a strong validator a resumed prefix could silently belong to other bytes. */
        (void)unlinkat(f->p->spool_fd, f->meta, 0);
        if ((!f->etag[0] || strneq(f->etag, "W/", 2)) && !f->last_modified[0])
                return 0;
        if (!meta_value_ok(f->p->url) || !meta_value_ok(f->etag) || !meta_value_ok(f->last_modified))
                return 0;
        n = snprintf(buf, sizeof(buf), META_MAGIC "\nurl %s\netag %s\nlast-modified %s\n", f->p->url,
                f->etag, f->last_modified);
        if (n < 0 || (size_t)n >= sizeof(buf))
                return 0;
        if (write_atomic_at(f->p->spool_fd, f->meta, buf, (size_t)n, 0644) < 0)
                return -EIO;
        f->resumable = true;
        return 0;
}

/* Fills f->validator when meta matches this URL and names a usable validator. */
static void read_meta(Fetch *f)
{
        _cleanup_free_ char *data = NULL;
        const char *etag = "", *lm = "";
        bool url_ok = false;
        char *line, *save = NULL;

        f->validator[0] = 0;
        if (read_file_at(f->p->spool_fd, f->meta, META_MAX_BYTES, &data, NULL) < 0)
                return;
        line = strtok_r(data, "\n", &save);
        if (!line || !streq(line, META_MAGIC))
                return;
        while ((line = strtok_r(NULL, "\n", &save))) {
                char *v = strchr(line, ' ');
                if (!v)
                        continue;
                *v++ = 0;
                if (streq(line, "url"))
                        url_ok = streq(v, f->p->url);
                else if (streq(line, "etag"))
                        etag = v;
                else if (streq(line, "last-modified"))
                        lm = v;
        }
        if (!url_ok)
                return;
        if (etag[0] && !strneq(etag, "W/", 2) && meta_value_ok(etag))
                snprintf(f->validator, sizeof(f->validator), "%s", etag);
        else if (lm[0] && meta_value_ok(lm))
                snprintf(f->validator, sizeof(f->validator), "%s", lm);
}

static void copy_header_value(char *dst, size_t size, const char *v)
{
        size_t len = strlen(v);

        /* A value that does not fit is dropped rather than cut: a cut ETag is a wrong ETag. */
        if (len >= size)
                len = 0;
        memcpy(dst, v, len);
        dst[len] = 0;
}

static bool following(const Fetch *f)
{
        return f->location && f->status >= 300 && f->status <= 399 && f->status != 304;
}

/* The end of a response's headers: decide what its body means before a byte of it is read. */
static int on_headers_done(Fetch *f)
{
        uint64_t first, last, total;

        f->redirecting = following(f);
        if (f->status < 200 || f->redirecting)
                return 0; /* informational, or a redirect libcurl follows */

        f->res->http_status = f->status;
        if ((f->status == 429 || f->status == 503) && f->retry_after >= 0)
                f->res->retry_after_sec = (uint64_t)f->retry_after;

        if (f->status == 416 && f->validator[0]) {
                if (fetch_parse_content_range(f->content_range, &first, &last, &total) == 0 &&
                        total == f->have)
                        f->complete = true;
                else
                        f->restart = true;
                return -ECANCELED;
        }
        if (f->status == 206 && f->validator[0]) {
                if (fetch_parse_content_range(f->content_range, &first, &last, &total) < 0 ||
                        first != f->have) {
                        /* Appending bytes from another offset would corrupt the file. */
                        f->restart = true;
                        return -ECANCELED;
                }
                f->total = total != UNKNOWN_SIZE            ? total
                        : f->content_length != UNKNOWN_SIZE ? f->have + f->content_length
                                                            : UNKNOWN_SIZE;
        } else if (f->status == 200) {
                /* A fresh start, or the server ignored Range / the validator changed. */
                if (f->have > 0 && truncate_part(f) < 0)
                        return f->err;
                f->res->resumed_from_bytes = 0;
                f->total = f->chunked ? UNKNOWN_SIZE : f->content_length;
                if (write_meta(f) < 0)
                        return fail(f, -EIO, FETCH_RETRYABLE, "cannot write %s", f->meta);
        } else if (f->status == 206 || f->status == 416)
                return fail(f, -EPROTO, FETCH_RETRYABLE, "unexpected HTTP %ld to a request without Range",
                        f->status);
        else
                return fail(f, -EPROTO, fetch_classify_http_status(f->status), "server answered HTTP %ld%s",
                        f->status, f->status >= 300 && f->status <= 399 ? " without a usable redirect" : "");

        if (f->total != UNKNOWN_SIZE && f->total > f->cap)
                return fail(f, -EFBIG, FETCH_PERMANENT,
                        "the file has %" PRIu64 " bytes, more than max_file_size (%" PRIu64 " bytes)",
                        f->total, f->cap);
        if (check_space(f, f->total != UNKNOWN_SIZE ? f->total - f->have : 0) < 0)
                return f->err;
        f->mode = BODY_WRITE;
        return 0;
}

static char *strip(char *s)
{
        size_t n;

        s += strspn(s, " \t");
        n = strlen(s);
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
                s[--n] = 0;
        return s;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
        Fetch *f = userdata;
        size_t len = size * nitems;
        char line[1024], *v;

        /* Only short headers matter here; longer ones (cookies, …) are skipped whole. */
        if (len >= sizeof(line))
                return len;
        memcpy(line, buf, len);
        line[len] = 0;

        if (strneq(line, "HTTP/", 5)) {
                const char *s = strchr(line, ' ');
                f->status = s ? strtol(s + 1, NULL, 10) : 0;
                f->content_length = UNKNOWN_SIZE;
                f->chunked = f->location = false;
                f->etag[0] = f->last_modified[0] = f->content_range[0] = 0;
                f->retry_after = -1;
                return len;
        }
        v = strip(line);
        if (!*v)
                return on_headers_done(f) < 0 ? 0 : len;
        v = strchr(line, ':');
        if (!v)
                return len;
        *v++ = 0;
        v = strip(v);
        if (strcasecmp(line, "Content-Length") == 0) {
                uint64_t n;
                const char *s = v;
                if (fetch_parse_u64_prefix(&s, &n) == 0 && !*s)
                        f->content_length = n;
        } else if (strcasecmp(line, "Transfer-Encoding") == 0)
                f->chunked = strcasestr(v, "chunked") != NULL;
        else if (strcasecmp(line, "Location") == 0)
                f->location = *v != 0;
        else if (strcasecmp(line, "ETag") == 0)
                copy_header_value(f->etag, sizeof(f->etag), v);
        else if (strcasecmp(line, "Last-Modified") == 0)
                copy_header_value(f->last_modified, sizeof(f->last_modified), v);
        else if (strcasecmp(line, "Content-Range") == 0)
                copy_header_value(f->content_range, sizeof(f->content_range), v);
        else if (strcasecmp(line, "Retry-After") == 0)
                f->retry_after = fetch_parse_retry_after(v, (int64_t)time(NULL));
        return len;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
        Fetch *f = userdata;
        size_t len = size * nmemb;

        if (f->mode != BODY_WRITE)
                return len;
        /* The cap is enforced here because libcurl 7.88 does not stop chunked bodies at
         * CURLOPT_MAXFILESIZE_LARGE. */
        if (f->have + len > f->cap) {
                fail(f, -EFBIG, FETCH_PERMANENT, "more than max_file_size (%" PRIu64 " bytes) received",
                        f->cap);
                return CURL_WRITEFUNC_ERROR;
        }
        if (f->have >= f->next_space_check) {
                f->next_space_check = f->have + SPACE_CHECK_BYTES;
                if (check_space(f, 0) < 0)
                        return CURL_WRITEFUNC_ERROR;
        }
        for (size_t off = 0; off < len;) {
                ssize_t n = pwrite(f->fd, data + off, len - off, (off_t)(f->have + off));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == ENOSPC || errno == EDQUOT)) {
                        fail(f, -ENOSPC, FETCH_RETRYABLE,
                                "disk full: cannot write %s after %" PRIu64 " bytes", f->part,
                                f->have + off);
                        return CURL_WRITEFUNC_ERROR;
                }
                if (n <= 0) {
                        fail(f, n < 0 ? -errno : -EIO, FETCH_RETRYABLE, "cannot write %s: %s", f->part,
                                n < 0 ? strerror(errno) : "short write");
                        return CURL_WRITEFUNC_ERROR;
                }
                off += (size_t)n;
        }
        account(f, data, len);
        flush_window(f);
        return len;
}

static void report_progress(Fetch *f, bool force)
{
        usec_t now;

        if (!f->p->progress)
                return;
        now = now_usec(CLOCK_MONOTONIC);
        if (!force && now - f->last_progress_usec < FETCH_PROGRESS_INTERVAL_USEC)
                return;
        f->last_progress_usec = now;
        f->p->progress(f->have, f->total == UNKNOWN_SIZE ? 0 : f->total, f->p->userdata);
}

static int on_xferinfo(
        void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
        report_progress(userdata, false);
        return 0;
}

static const char *protocols_string(unsigned protocols)
{
        if ((protocols & PROTOCOL_HTTP) && (protocols & PROTOCOL_HTTPS))
                return "http,https";
        if (protocols & PROTOCOL_HTTPS)
                return "https";
        if (protocols & PROTOCOL_HTTP)
                return "http";
        return NULL;
}

static int setup_handle(Fetch *f)
{
        const FetchParams *p = f->p;
        const char *protos = protocols_string(p->protocols);
        long connect_ms = (long)MIN(p->connect_timeout_usec / USEC_PER_MSEC, (usec_t)LONG_MAX);
        CURLcode r = CURLE_OK;

#define SET(opt, val)                                            \
        do {                                                     \
                if (r == CURLE_OK)                               \
                        r = curl_easy_setopt(f->curl, opt, val); \
        } while (0)
        SET(CURLOPT_URL, p->url);
        SET(CURLOPT_PROTOCOLS_STR, protos);
        SET(CURLOPT_REDIR_PROTOCOLS_STR, protos);
        SET(CURLOPT_FOLLOWLOCATION, 1L);
        SET(CURLOPT_MAXREDIRS, (long)p->max_redirects);
        /* Credentials in the URL go to its host only, never to a redirect target; no ~/.netrc. */
        SET(CURLOPT_UNRESTRICTED_AUTH, 0L);
        SET(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
        SET(CURLOPT_CONNECTTIMEOUT_MS, MAX(connect_ms, 1L));
        if (p->low_speed_limit_bytes > 0) {
                SET(CURLOPT_LOW_SPEED_LIMIT, (long)MIN(p->low_speed_limit_bytes, (uint64_t)LONG_MAX));
                SET(CURLOPT_LOW_SPEED_TIME, (long)MAX(p->low_speed_time_usec / USEC_PER_SEC, (usec_t)1));
        }
        if (!isempty(p->user_agent))
                SET(CURLOPT_USERAGENT, p->user_agent);
        SET(CURLOPT_SSL_VERIFYPEER, p->verify_tls ? 1L : 0L);
        SET(CURLOPT_SSL_VERIFYHOST, p->verify_tls ? 2L : 0L);
        SET(CURLOPT_BUFFERSIZE, (long)FETCH_BUFFER_SIZE);
        /* No CURLOPT_MAXFILESIZE_LARGE: it also fires on the Content-Length of error pages and
         * redirects; on_headers_done() applies the cap to the final response only. */
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
        SET(CURLOPT_HEADERFUNCTION, on_header);
        SET(CURLOPT_HEADERDATA, f);
        SET(CURLOPT_WRITEFUNCTION, on_body);
        SET(CURLOPT_WRITEDATA, f);
        SET(CURLOPT_XFERINFOFUNCTION, on_xferinfo);
        SET(CURLOPT_XFERINFODATA, f);
        SET(CURLOPT_NOPROGRESS, 0L);
        SET(CURLOPT_ERRORBUFFER, f->errbuf);
#undef SET
        if (r != CURLE_OK)
                return fail(f, -EINVAL, FETCH_PERMANENT, "cannot set up the transfer: %s",
                        curl_easy_strerror(r));
        return 0;
}

/* A transfer that libcurl ended with an error we did not cause ourselves. */
static int fail_curl(Fetch *f, CURLcode cc)
{
        const char *why = f->errbuf[0] ? f->errbuf : curl_easy_strerror(cc);

        /* (int): only the codes that need their own class are listed. */
        switch ((int)cc) {
        case CURLE_UNSUPPORTED_PROTOCOL:
                return fail(f, -EPROTONOSUPPORT, FETCH_PERMANENT, "%s%s (allowed: %s)",
                        f->redirecting ? "refused a redirect to a forbidden protocol: " : "", why,
                        protocols_string(f->p->protocols));
        case CURLE_TOO_MANY_REDIRECTS:
                return fail(f, -ELOOP, FETCH_PERMANENT, "more than max_redirects (%u) redirects",
                        f->p->max_redirects);
        case CURLE_URL_MALFORMAT:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_REMOTE_ACCESS_DENIED:
        case CURLE_LOGIN_DENIED:
                return fail(f, -EPERM, FETCH_PERMANENT, "%s", why);
        case CURLE_FILESIZE_EXCEEDED:
                return fail(f, -EFBIG, FETCH_PERMANENT, "%s", why);
        case CURLE_OPERATION_TIMEDOUT:
                return fail(f, -ETIMEDOUT, FETCH_RETRYABLE, "%s", why);
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT:
                return fail(f, -EHOSTUNREACH, FETCH_RETRYABLE, "%s", why);
        case CURLE_PARTIAL_FILE:
                return fail(f, -EPIPE, FETCH_RETRYABLE, "the body ended early after %" PRIu64 " bytes (%s)",
                        f->have, why);
        case CURLE_OUT_OF_MEMORY:
                return fail(f, -ENOMEM, FETCH_RETRYABLE, "%s", why);
        default:
                return fail(f, -ECONNRESET, FETCH_RETRYABLE, "%s", why);
        }
}

/* One request; on return f->restart says whether to try again from byte 0. */
static int transfer(Fetch *f)
{
        _cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
        char range[DECIMAL_STR_MAX(uint64_t) + 2], if_range[sizeof(f->validator) + 16];
        CURLcode cc;
        long redirects = 0;
        char *eff = NULL;
        int r;

        f->mode = BODY_IGNORE;
        f->restart = f->complete = f->redirecting = false;
        f->status = 0;
        f->total = UNKNOWN_SIZE;
        f->errbuf[0] = 0;
        f->res->http_status = 0;
        f->res->retry_after_sec = 0;

        r = setup_handle(f);
        if (r < 0)
                return r;
        if (f->validator[0]) {
                snprintf(range, sizeof(range), "%" PRIu64 "-", f->have);
                snprintf(if_range, sizeof(if_range), "If-Range: %s", f->validator);
                headers = curl_slist_append(NULL, if_range);
                if (!headers)
                        return fail(f, -ENOMEM, FETCH_RETRYABLE, "out of memory");
                if (curl_easy_setopt(f->curl, CURLOPT_RANGE, range) != CURLE_OK ||
                        curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK)
                        return fail(f, -ENOMEM, FETCH_RETRYABLE, "out of memory");
        } else {
                (void)curl_easy_setopt(f->curl, CURLOPT_RANGE, NULL);
                (void)curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, NULL);
        }

        cc = curl_easy_perform(f->curl);
        (void)curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, NULL);

        (void)curl_easy_getinfo(f->curl, CURLINFO_REDIRECT_COUNT, &redirects);
        f->res->redirects = (unsigned)MAX(redirects, 0L);
        if (curl_easy_getinfo(f->curl, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff) {
                char buf[sizeof(f->url_safe)];
                free(f->res->final_url);
                f->res->final_url = strdup(fetch_redact_url(eff, buf, sizeof(buf)));
        }
        report_progress(f, true);

        if (f->restart || f->complete)
                return 0;
        if (f->err < 0)
                return f->err;
        if (cc != CURLE_OK)
                return fail_curl(f, cc);
        if (f->mode != BODY_WRITE)
                return fail(f, -EPROTO, FETCH_RETRYABLE, "no response");
        if (f->total != UNKNOWN_SIZE && f->have != f->total)
                return fail(f, -EPIPE, FETCH_RETRYABLE,
                        "the body ended early: %" PRIu64 " of %" PRIu64 " bytes", f->have, f->total);
        return 0;
}

static int check_names(const FetchParams *p, Fetch *f)
{
        const char *names[] = { p->name, p->part_name };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (names[i] &&
                        (isempty(names[i]) || strchr(names[i], '/') || streq(names[i], ".") ||
                                streq(names[i], "..")))
                        return -EINVAL;
        if (!p->name || strlen(p->name) > NAME_MAX - 10)
                return -EINVAL;
        snprintf(f->part, sizeof(f->part), "%s", p->part_name ? p->part_name : p->name);
        if (!p->part_name)
                strcat(f->part, ".part");
        if (strlen(f->part) > NAME_MAX - 5 || streq(f->part, p->name))
                return -EINVAL;
        snprintf(f->meta, sizeof(f->meta), "%s.meta", f->part);
        return 0;
}

/* Everything before the first request: the URL's scheme, the .part and what it may resume. */
static int prepare(Fetch *f)
{
        const FetchParams *p = f->p;
        _cleanup_free_ char *scheme = NULL;
        CURLU *u;
        struct stat st;
        struct statvfs sv;
        bool allowed;

        fetch_redact_url(p->url, f->url_safe, sizeof(f->url_safe));
        u = curl_url();
        if (!u)
                return fail(f, -ENOMEM, FETCH_RETRYABLE, "out of memory");
        if (curl_url_set(u, CURLUPART_URL, p->url, 0) != CURLUE_OK ||
                curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
                curl_url_cleanup(u);
                return fail(f, -EINVAL, FETCH_PERMANENT, "not a valid absolute URL");
        }
        curl_url_cleanup(u);
        allowed = (streq(scheme, "http") && (p->protocols & PROTOCOL_HTTP)) ||
                (streq(scheme, "https") && (p->protocols & PROTOCOL_HTTPS));
        if (!allowed)
                return fail(f, -EPROTONOSUPPORT, FETCH_PERMANENT,
                        "protocol '%s' is not allowed (allowed: %s)", scheme,
                        protocols_string(p->protocols) ?: "none");

        f->fd = openat(p->spool_fd, f->part, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
        if (f->fd < 0)
                return fail(f, -errno, errno == ENOSPC ? FETCH_RETRYABLE : FETCH_PERMANENT,
                        "cannot open %s: %s", f->part, strerror(errno));
        if (fstat(f->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                f->fd = safe_close(f->fd); /* something else's: left alone */
                return fail(f, -EINVAL, FETCH_PERMANENT, "%s is not a regular file", f->part);
        }
        /* Two fetches of one episode must not interleave their bytes. */
        if (flock(f->fd, LOCK_EX | LOCK_NB) < 0)
                return fail(f, -EBUSY, FETCH_RETRYABLE, "another fetch is writing %s", f->part);

        if (fstatvfs(f->fd, &sv) == 0 && p->min_free_bytes == FETCH_MIN_FREE_AUTO)
                f->min_free = fetch_min_free_auto((uint64_t)sv.f_blocks * sv.f_frsize);
        else
                f->min_free = p->min_free_bytes == FETCH_MIN_FREE_AUTO ? 0 : p->min_free_bytes;

        reset_body(f);
        if (st.st_size > 0) {
                read_meta(f);
                if (f->validator[0] && (uint64_t)st.st_size <= f->cap) {
                        f->resumable = true;
                        f->res->resumed_from_bytes = (uint64_t)st.st_size;
                        if (rehash_prefix(f, (uint64_t)st.st_size) < 0)
                                return f->err;
                } else {
                        f->validator[0] = 0;
                        if (truncate_part(f) < 0)
                                return f->err;
                }
        }
        return check_space(f, 0);
}

static int finish(Fetch *f)
{
        const FetchParams *p = f->p;

        /* The final name only ever appears on complete, durable bytes. */
        if (fsync(f->fd) < 0)
                return fail(f, -errno, FETCH_RETRYABLE, "cannot fsync %s: %s", f->part, strerror(errno));
        if (p->drop_page_cache)
                (void)posix_fadvise(f->fd, 0, 0, POSIX_FADV_DONTNEED);
        if (renameat(p->spool_fd, f->part, p->spool_fd, p->name) < 0)
                return fail(f, -errno, FETCH_RETRYABLE, "cannot rename %s to %s: %s", f->part, p->name,
                        strerror(errno));
        (void)unlinkat(p->spool_fd, f->meta, 0);
        if (fsync(p->spool_fd) < 0)
                return fail(
                        f, -errno, FETCH_RETRYABLE, "cannot fsync the spool directory: %s", strerror(errno));
        sha256_final_hex(&f->sha, f->res->sha256);
        f->res->format = sniff_audio_format(f->head, f->head_len);
        f->res->size_bytes = f->have;
        f->res->outcome = FETCH_OK;
        return 0;
}

int fetch_run(const FetchParams *p, FetchResult *ret)
{
        Fetch f = {
                .p = p,
                .res = ret,
                .fd = -EBADF,
                .cap = p ? p->max_file_size_bytes : 0,
                .total = UNKNOWN_SIZE,
        };
        int r;

        if (!ret)
                return -EINVAL;
        *ret = (FetchResult){ .outcome = FETCH_PERMANENT };
        if (!p || isempty(p->url) || p->spool_fd < 0 || check_names(p, &f) < 0) {
                snprintf(ret->error, sizeof(ret->error), "%.300s: invalid fetch parameters",
                        p && p->url ? fetch_redact_url(p->url, f.url_safe, sizeof(f.url_safe)) : "(no URL)");
                return -EINVAL;
        }
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                snprintf(ret->error, sizeof(ret->error), "cannot initialise libcurl");
                return -ENOMEM;
        }

        r = prepare(&f);
        if (r >= 0) {
                f.curl = curl_easy_init();
                if (!f.curl)
                        r = fail(&f, -ENOMEM, FETCH_RETRYABLE, "out of memory");
        }
        /* A second request only when the first said our prefix is useless (200 is handled in
         * place; 416 with another size or a 206 at the wrong offset lead here). */
        for (unsigned attempt = 0; r >= 0; attempt++) {
                r = transfer(&f);
                if (r < 0 || !f.restart)
                        break;
                if (attempt > 0) {
                        r = fail(&f, -EPROTO, FETCH_RETRYABLE, "the server's ranges do not match its file");
                        break;
                }
                f.validator[0] = 0;
                f.res->resumed_from_bytes = 0;
                r = truncate_part(&f);
        }
        if (r >= 0)
                r = finish(&f);

        if (r < 0) {
                if (f.err == 0)
                        fail(&f, r, FETCH_RETRYABLE, "%s", strerror(-r));
                if (r == -EBUSY || f.fd < 0)
                        ; /* not ours to touch */
                else if (ret->outcome == FETCH_PERMANENT || r == -ENOSPC || !f.resumable || f.have == 0) {
                        (void)unlinkat(p->spool_fd, f.part, 0);
                        (void)unlinkat(p->spool_fd, f.meta, 0);
                } else {
                        /* Make the kept prefix durable: a resume trusts every byte of it. */
                        (void)fdatasync(f.fd);
                        ret->size_bytes = f.have;
                }
                ret->format = sniff_audio_format(f.head, f.head_len);
        }
        if (f.curl)
                curl_easy_cleanup(f.curl);
        safe_close(f.fd);
        curl_global_cleanup();
        return r < 0 ? r : 0;
}
