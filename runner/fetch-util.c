/* SPDX-License-Identifier: MIT */
/* The fetch stage's pure helpers: names, header parsers, URL redaction, parameters from a policy.
 * Kept apart from the transfer in fetch.c, which they do not depend on. */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/macro.h"
#include "runner/fetch.h"

const char *fetch_outcome_to_string(FetchOutcome o)
{
        static const char *const table[_FETCH_OUTCOME_MAX] = {
                [FETCH_OK] = "ok",
                [FETCH_RETRYABLE] = "retryable",
                [FETCH_PERMANENT] = "permanent",
        };
        return (unsigned)o < _FETCH_OUTCOME_MAX ? table[o] : NULL;
}

FetchOutcome fetch_classify_http_status(long status)
{
        if (status == 200 || status == 206)
                return FETCH_OK;
        if (status == 408 || status == 425 || status == 429 || (status >= 500 && status <= 599))
                return FETCH_RETRYABLE;
        return FETCH_PERMANENT;
}

int fetch_parse_u64_prefix(const char **s, uint64_t *ret)
{
        uint64_t v = 0;
        const char *p = *s;

        if (*p < '0' || *p > '9')
                return -EINVAL;
        for (; *p >= '0' && *p <= '9'; p++) {
                if (v > (UINT64_MAX - 9) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t)(*p - '0');
        }
        *s = p;
        *ret = v;
        return 0;
}

int fetch_parse_content_range(const char *s, uint64_t *ret_first, uint64_t *ret_last, uint64_t *ret_total)
{
        uint64_t first = UINT64_MAX, last = UINT64_MAX, total = UINT64_MAX;

        if (!s || strncasecmp(s, "bytes", 5) != 0)
                return -EINVAL;
        s += 5;
        if (*s != ' ' && *s != '\t')
                return -EINVAL;
        s += strspn(s, " \t");
        if (*s == '*')
                s++;
        else if (fetch_parse_u64_prefix(&s, &first) < 0 || *s++ != '-' ||
                fetch_parse_u64_prefix(&s, &last) < 0 || last < first)
                return -EINVAL;
        if (*s++ != '/')
                return -EINVAL;
        if (*s == '*')
                s++;
        else if (fetch_parse_u64_prefix(&s, &total) < 0 || (last != UINT64_MAX && last >= total))
                return -EINVAL;
        if (*s)
                return -EINVAL;
        *ret_first = first;
        *ret_last = last;
        *ret_total = total;
        return 0;
}

int64_t fetch_parse_retry_after(const char *s, int64_t now_sec)
{
        uint64_t v;
        time_t t;

        if (isempty(s))
                return -EINVAL;
        if (*s >= '0' && *s <= '9') {
                if (fetch_parse_u64_prefix(&s, &v) < 0 || *s)
                        return -EINVAL;
                return (int64_t)MIN(v, (uint64_t)INT32_MAX);
        }
        t = curl_getdate(s, NULL);
        if (t < 0)
                return -EINVAL;
        return (int64_t)t > now_sec ? (int64_t)t - now_sec : 0;
}

uint64_t fetch_min_free_auto(uint64_t fs_bytes)
{
        return MIN(fs_bytes / 20, 64ULL * 1024 * 1024);
}

const char *fetch_redact_url(const char *url, char *buf, size_t size)
{
        CURLU *u = curl_url();
        char *s = NULL;

        if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
                curl_url_set(u, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
                curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
                curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK)
                snprintf(buf, size, "%s", s);
        else
                snprintf(buf, size, "(invalid URL)");
        curl_free(s);
        curl_url_cleanup(u);
        return buf;
}

void fetch_params_init(FetchParams *p, const Policy *policy)
{
        *p = (FetchParams){
                .spool_fd = -EBADF,
                .max_file_size_bytes = 200ULL * 1024 * 1024,
                .protocols = PROTOCOL_HTTP | PROTOCOL_HTTPS,
                .max_redirects = 10,
                .connect_timeout_usec = 20 * USEC_PER_SEC,
                .low_speed_limit_bytes = 1024,
                .low_speed_time_usec = 60 * USEC_PER_SEC,
                .user_agent = "memgov/" PACKAGE_VERSION " (podcast transcription)",
                .verify_tls = true,
                .drop_page_cache = true,
                .min_free_bytes = FETCH_MIN_FREE_AUTO,
        };
        if (!policy)
                return;
        p->max_file_size_bytes = policy->fetch.max_file_size_bytes;
        p->protocols = policy->fetch.protocols;
        p->max_redirects = policy->fetch.max_redirects;
        p->connect_timeout_usec = policy->fetch.connect_timeout_usec;
        p->low_speed_limit_bytes = policy->fetch.low_speed_limit_bytes;
        p->low_speed_time_usec = policy->fetch.low_speed_time_usec;
        p->user_agent = policy->fetch.user_agent;
        p->verify_tls = policy->fetch.verify_tls;
}

void fetch_result_done(FetchResult *r)
{
        if (!r)
                return;
        free(r->final_url);
        r->final_url = NULL;
}
