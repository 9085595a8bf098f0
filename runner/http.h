/* SPDX-License-Identifier: MIT */
#pragma once

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/time-util.h"
#include "policies/policy.h"
#include "runner/backend.h"

/* HTTP for the API backends (Gemini, OpenAI-compatible), on libcurl with one reused handle.
 * Rules that hold for every request:
 *   - redirects are never followed (libcurl would forward custom headers such as
 *     x-goog-api-key to the next host): a 3xx is an error;
 *   - the API key is sent only in a header, never in a URL, and only to the endpoint's origin
 *     (scheme, host and port): a request with send_key to any other origin is refused before
 *     a connection is made;
 *   - bodies are streamed from disk (file ranges with a read callback, or curl_mime parts) so
 *     memory does not grow with the upload;
 *   - every message that leaves this module has the key scrubbed out of it;
 *   - TLS certificates are always verified ([fetch] verify_tls is for episode downloads). */

#define HTTP_BODY_MAX (16U * 1024 * 1024) /* a response bigger than this is an error */

typedef struct HttpClient {
        CURL *curl;
        char *origin;     /* "scheme://host:port" of the endpoint */
        char *key_header; /* "x-goog-api-key: …" or "Authorization: Bearer …"; NULL = no key */
        char *key;        /* the bare key, for scrubbing */
        char *user_agent;
        long connect_timeout_ms;
        long low_speed_limit;
        long low_speed_time_sec;
        char errbuf[CURL_ERROR_SIZE];
        /* In-stage retries (http_perform_retrying): tests shorten them. */
        unsigned max_tries;
        usec_t backoff_usec;
        usec_t max_wait_usec;
} HttpClient;

typedef void (*HttpProgress)(uint64_t done, uint64_t total, void *userdata);

typedef struct HttpRequest {
        const char *method; /* "GET", "POST", "DELETE" */
        const char *url;
        const char *const *headers; /* "Name: value", NULL-terminated; may be NULL */
        bool send_key;
        /* The body: none, bytes in memory, a range of a file, or a multipart form. */
        const void *data;
        size_t data_len;
        int fd; /* -EBADF = none */
        uint64_t offset;
        uint64_t length;
        /* Builds the form for each attempt (libcurl 7.88 does not resend a file part of a form
         * that was sent before); http_perform() frees it. */
        curl_mime *(*make_mime)(CURL *curl, void *userdata);
        void *mime_userdata;
        usec_t timeout_usec; /* of the whole request; 0 = none (the stage's class timeout) */
        bool low_speed;      /* abort below [fetch] low_speed_limit (uploads) */
        HttpProgress progress;
        void *userdata;
} HttpRequest;

#define HTTP_REQUEST_INIT(m, u) ((HttpRequest){ .method = (m), .url = (u), .fd = -EBADF })

typedef struct HttpResponse {
        long status; /* 0 = no response */
        char *body;  /* NUL-terminated; never NULL after http_perform() returned 0 */
        size_t body_len;
} HttpResponse;

/* endpoint: the API's base URL; key: NULL for none; key_prefix: "x-goog-api-key: " or
 * "Authorization: Bearer ". Returns 0 or a negative errno with err. */
int http_client_init(HttpClient *c, const Policy *p, const char *endpoint, const char *key_prefix,
        const char *key, BackendError *err);
void http_client_done(HttpClient *c);

/* One request. Returns 0 when a response arrived (any status: see resp->status), or a negative
 * errno for transport failures, with err filled (retryable: resets, timeouts, refused
 * connections; permanent: a refused origin, bad URLs, TLS verification). what names the request
 * in messages ("upload", "generateContent", …). */
int http_perform(
        HttpClient *c, const HttpRequest *req, HttpResponse *resp, const char *what, BackendError *err);

/* http_perform(), repeated in-stage for short hiccups: 408, 5xx and transport errors with
 * exponential backoff (max_tries in all), 429 after the server's delay (Retry-After or
 * google.rpc.RetryInfo) when it is at most max_wait_usec. Returns 0 with a response that is not
 * one of those (the caller checks its status), or a negative errno with err (retryable, with
 * retry_after_sec when the server named a longer delay). */
int http_perform_retrying(
        HttpClient *c, const HttpRequest *req, HttpResponse *resp, const char *what, BackendError *err);

/* A response header of the last request (case-insensitive), or NULL. */
const char *http_header(HttpClient *c, const char *name);

void http_response_done(HttpResponse *r);

/* Classifies a final HTTP status and fills err with the API's own message (parsed from body:
 * {"error":{"message"}}, {"error":"…"}, {"detail":…} or plain text). 2xx returns 0. */
int http_fail_status(HttpClient *c, const HttpResponse *resp, const char *what, BackendError *err);

/* Reads the API key from key_file (trailing white space removed) or the environment variable
 * key_env. A key file that others can read (mode o+r) is refused; a group-readable one is
 * accepted (root:memgov 0640 is the intended setup). Keys with control characters or spaces are
 * refused (they would break the header). Returns 0 with *ret (NULL when neither is set), or a
 * negative errno with err (permanent). */
int http_load_key(const char *key_file, const char *key_env, char **ret, BackendError *err);

/* ---- pure helpers, exposed for tests ---- */

/* "scheme://host:port" (lower-case, default port filled in) of an absolute http(s) URL. Returns
 * 0, -EINVAL or -ENOBUFS. */
int http_origin(const char *url, char *buf, size_t size);

/* A google.protobuf.Duration in JSON ("15s", "0.5s", "1.000340s") in microseconds, or -EINVAL. */
int http_parse_duration(const char *s, usec_t *ret);

/* The retry delay of a Gemini error body (google.rpc.RetryInfo retryDelay), or 0. Sets *ret_daily
 * when a QuotaFailure names a per-day quota. */
usec_t http_retry_info(const char *body, size_t len, bool *ret_daily);

/* The API's error message from an error body, cleaned to one printable line. Returns buf. */
const char *http_error_message(const char *body, size_t len, char *buf, size_t size);

/* Replaces every occurrence of secret in s (in place) by "[redacted]" where it fits. */
void http_scrub(char *s, size_t size, const char *secret);

/* Joins the endpoint (without a trailing slash) and a path. NULL on ENOMEM. */
char *http_join(const char *endpoint, const char *path);
