/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/time-util.h"
#include "policies/policy.h"
#include "runner/sha256.h"
#include "runner/sniff.h"

/* The fetch stage: one episode, streamed from an http(s) URL into a spool directory with bounded
 * memory. While it runs the bytes go to <part_name> (resumable, see below); on success the file
 * is fsynced and renamed to <name>, so a file under the final name is always complete.
 *
 * What is left behind on failure:
 *   - retryable errors (timeouts, resets, truncated bodies, 5xx, 429) keep <part_name> and its
 *     sidecar <part_name>.meta, so the next attempt resumes with Range + If-Range, provided some
 *     bytes arrived and the server sent a strong ETag or a Last-Modified date (without one a
 *     prefix cannot be trusted, and both files are removed);
 *   - permanent errors and "disk full" remove both: a permanent error cannot be resumed, and a
 *     full spool needs the space back more than it needs the prefix.
 * The final file is never created or touched by a failed run. */

typedef enum FetchOutcome {
        FETCH_OK,
        FETCH_RETRYABLE, /* worth another attempt later (after retry_after_sec when given) */
        FETCH_PERMANENT, /* the same request will fail the same way: do not retry */
        _FETCH_OUTCOME_MAX,
} FetchOutcome;

/* Called at most every FETCH_PROGRESS_INTERVAL_USEC (and once at the end) with the bytes on disk
 * so far, including a resumed prefix, and the expected total (0 = unknown). */
typedef void (*FetchProgress)(uint64_t done_bytes, uint64_t total_bytes, void *userdata);
#define FETCH_PROGRESS_INTERVAL_USEC (500 * USEC_PER_MSEC)

/* Keep this much space free on the spool file system while downloading; FETCH_MIN_FREE_AUTO
 * picks 5% of the file system, at most 64 MiB. */
#define FETCH_MIN_FREE_AUTO UINT64_MAX

typedef struct FetchParams {
        const char *url;       /* the original enclosure URL; resumes always start from it */
        int spool_fd;          /* O_DIRECTORY fd; all files are opened relative to it */
        const char *name;      /* final file name in the spool, e.g. "8670.audio" */
        const char *part_name; /* e.g. "8670.part"; NULL = "<name>.part" */

        /* The policy's [fetch] section (fetch_params_from_policy() copies it). */
        uint64_t max_file_size_bytes;
        unsigned protocols; /* PROTOCOL_* bits */
        unsigned max_redirects;
        usec_t connect_timeout_usec;
        uint64_t low_speed_limit_bytes; /* per second; 0 = off */
        usec_t low_speed_time_usec;
        const char *user_agent; /* NULL or "" = none (some hosts answer 403) */
        bool verify_tls;

        /* sync_file_range + POSIX_FADV_DONTNEED while writing, and dropping the finished file's
         * pages, so the page cache charged to the stage's cgroup stays small. On by default;
         * the bench turns it off to measure the difference. */
        bool drop_page_cache;
        uint64_t min_free_bytes;

        FetchProgress progress; /* may be NULL */
        void *userdata;
} FetchParams;

typedef struct FetchResult {
        FetchOutcome outcome;
        uint64_t size_bytes;          /* bytes in the final file (on failure: in the .part) */
        uint64_t resumed_from_bytes;  /* prefix kept from an earlier attempt; 0 = fresh */
        char sha256[SHA256_HEX_SIZE]; /* of the whole file; "" unless FETCH_OK */
        AudioFormat format;           /* sniffed from the first bytes */
        long http_status;             /* of the final response; 0 = none */
        unsigned redirects;
        uint64_t retry_after_sec; /* from Retry-After on 429/503; 0 = not given */
        char *final_url;          /* after redirects, credentials removed; may be NULL */
        char error[1024];         /* "URL: cause", one line; "" on success */
} FetchResult;

/* Defaults (the shipped policy's values, page-cache dropping on, automatic free-space margin),
 * then the values of policy when it is not NULL. The caller sets url, spool_fd and names. */
void fetch_params_init(FetchParams *p, const Policy *policy);

/* Downloads p->url to <spool>/<name>. ret is always filled (free it with fetch_result_done()).
 * Returns 0 on success; otherwise a negative errno that roughly matches the cause (-ENOSPC disk
 * full, -EFBIG over the size cap, -ETIMEDOUT, -ECONNRESET, -EPROTO for HTTP errors, -EINVAL for
 * bad parameters, -ENOMEM, …) with ret->outcome and ret->error saying what happened. */
int fetch_run(const FetchParams *p, FetchResult *ret);

void fetch_result_done(FetchResult *r);

const char *fetch_outcome_to_string(FetchOutcome o);

/* ---- pure helpers, exposed for tests ---- */

/* How an HTTP status that ended a download is classified: FETCH_OK for 200/206, FETCH_RETRYABLE
 * for 408, 425, 429 and 5xx, FETCH_PERMANENT for everything else. */
FetchOutcome fetch_classify_http_status(long status);

/* Parses the decimal digits at *s (at least one) into ret and advances *s past them. Returns 0,
 * -EINVAL when *s does not start with a digit, -ERANGE on overflow. */
int fetch_parse_u64_prefix(const char **s, uint64_t *ret);

/* Parses a Content-Range value "bytes FIRST-LAST/TOTAL" or "bytes * /TOTAL" (without the space;
 * TOTAL may be "*"). Unknown parts are set to UINT64_MAX. Returns 0 or -EINVAL. */
int fetch_parse_content_range(const char *s, uint64_t *ret_first, uint64_t *ret_last, uint64_t *ret_total);

/* Retry-After: delta seconds or an HTTP date (relative to now_sec). Returns seconds >= 0, or
 * -EINVAL. Dates in the past give 0. */
int64_t fetch_parse_retry_after(const char *s, int64_t now_sec);

/* The free space to keep on a file system of fs_bytes when asked for FETCH_MIN_FREE_AUTO. */
uint64_t fetch_min_free_auto(uint64_t fs_bytes);

/* Copies url without user name and password into buf (for messages and results: credentials in
 * a URL are secrets). Falls back to "(invalid URL)". Returns buf. */
const char *fetch_redact_url(const char *url, char *buf, size_t size);
