/* SPDX-License-Identifier: MIT */
#include <cJSON.h>
#include <ctype.h>
#include <inttypes.h>
#include <search.h>
#include <stdarg.h>
#include <stdint.h>
#include <strings.h>

#include "common/macro.h"
#include "policies/policy.h"
#include "runner/manifest.h"

typedef struct SeenId {
        unsigned line;
        char id[];
} SeenId;

typedef struct Parser {
        const char *name;
        unsigned protocols;
        ManifestEntryFn on_entry;
        ManifestErrorFn on_error;
        void *userdata;
        void *seen; /* tsearch() tree of SeenId, for duplicates within the file */
        int n_errors;
} Parser;

bool episode_id_valid(const char *id)
{
        size_t n;

        if (!id)
                return false;
        n = strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
        return n > 0 && n <= EPISODE_ID_MAX && id[n] == 0 && !streq(id, ".") && !streq(id, "..");
}

_printf_(3, 4) static int refuse(char *err, size_t size, const char *fmt, ...)
{
        va_list ap;

        if (size > 0) {
                va_start(ap, fmt);
                vsnprintf(err, size, fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

static const char *protocols_allowed(unsigned protocols)
{
        switch (protocols & (PROTOCOL_HTTP | PROTOCOL_HTTPS)) {
        case PROTOCOL_HTTP:
                return "http";
        case PROTOCOL_HTTPS:
                return "https";
        case PROTOCOL_HTTP | PROTOCOL_HTTPS:
                return "http, https";
        default:
                return "none";
        }
}

static bool host_chars_valid(const char *s, size_t n, bool bracketed)
{
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (isalnum(c) || c == '.' || c == '-' || c == '%' ||
                        (bracketed ? c == ':' : c == '_' || c == '~'))
                        continue;
                return false;
        }
        return true;
}

int manifest_check_url(const char *url, unsigned protocols, char *err, size_t err_size)
{
        const char *auth, *host, *port = NULL;
        size_t n, auth_len, host_len;
        unsigned bit = 0;

        if (isempty(url))
                return refuse(err, err_size, "the URL is empty");
        for (const unsigned char *p = (const unsigned char *)url; *p; p++) {
                if (*p <= ' ' || *p == 0x7f)
                        return refuse(err, err_size, "the URL contains white space or a control character");
                if (*p >= 0x80)
                        return refuse(
                                err, err_size, "the URL contains a non-ASCII character: percent-encode it");
        }
        n = strspn(url, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-.");
        if (n == 0 || !isalpha((unsigned char)url[0]) || url[n] != ':')
                return refuse(err, err_size, "the URL has no scheme: use an absolute %s URL",
                        protocols & PROTOCOL_HTTPS ? "https://" : "http://");
        if (n == 4 && strncasecmp(url, "http", 4) == 0)
                bit = PROTOCOL_HTTP;
        else if (n == 5 && strncasecmp(url, "https", 5) == 0)
                bit = PROTOCOL_HTTPS;
        if (!(bit & protocols))
                return refuse(err, err_size, "URL scheme \"%.*s\" is not allowed (fetch.protocols = %s)",
                        (int)MIN(n, 16U), url, protocols_allowed(protocols));
        if (!strneq(url + n + 1, "//", 2))
                return refuse(err, err_size, "the URL has no host: expected %.*s://HOST/…", (int)n, url);

        auth = url + n + 3;
        auth_len = strcspn(auth, "/?#");
        /* Never echo the authority: the whole point is that it holds a password. */
        if (memchr(auth, '@', auth_len))
                return refuse(err, err_size,
                        "the URL contains credentials (user:password@host), which would end up in logs: "
                        "remove them");
        host = auth;
        if (auth[0] == '[') {
                const char *close = memchr(auth, ']', auth_len);
                if (!close)
                        return refuse(err, err_size, "the URL has an unterminated [IPv6] host");
                host = auth + 1;
                host_len = (size_t)(close - host);
                if (close + 1 < auth + auth_len) {
                        if (close[1] != ':')
                                return refuse(err, err_size, "the URL has characters after its [IPv6] host");
                        port = close + 2;
                }
        } else {
                const char *colon = memchr(auth, ':', auth_len);
                host_len = colon ? (size_t)(colon - auth) : auth_len;
                if (colon)
                        port = colon + 1;
        }
        if (host_len == 0)
                return refuse(err, err_size, "the URL has no host");
        if (!host_chars_valid(host, host_len, auth[0] == '['))
                return refuse(err, err_size, "the URL's host contains an invalid character");
        if (port) {
                size_t plen = (size_t)(auth + auth_len - port);
                unsigned long v = 0;
                for (size_t i = 0; i < plen; i++) {
                        if (!isdigit((unsigned char)port[i]) || i >= 5)
                                return refuse(err, err_size, "the URL has an invalid port");
                        v = v * 10 + (unsigned long)(port[i] - '0');
                }
                if (plen > 0 && (v == 0 || v > 65535))
                        return refuse(err, err_size, "the URL has an invalid port");
        }
        return 0;
}

/* Makes untrusted text safe for a one-line message: printable ASCII as is, anything else as \xNN,
 * cut to a readable length. */
static const char *printable(char *buf, size_t size, const char *s, size_t len)
{
        size_t o = 0;

        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                bool plain = c >= ' ' && c < 0x7f && c != '\\' && c != '"';

                /* Keep room for this character, "..." and the NUL. */
                if (o + (plain ? 1 : 4) + 4 > size) {
                        memcpy(buf + o, "...", 3);
                        o += 3;
                        break;
                }
                if (plain)
                        buf[o++] = (char)c;
                else
                        o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
        }
        buf[o] = 0;
        return buf;
}

_printf_(3, 4) static int bad_line(Parser *ps, unsigned line, const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL, *full = NULL;
        va_list ap;
        int r;

        ps->n_errors++;
        if (!ps->on_error)
                return 0;
        va_start(ap, fmt);
        r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (r < 0) {
                msg = NULL;
                return -ENOMEM;
        }
        if (line > 0 ? asprintf(&full, "%s:%u: %s", ps->name, line, msg) < 0
                     : asprintf(&full, "%s: %s", ps->name, msg) < 0) {
                full = NULL;
                return -ENOMEM;
        }
        r = ps->on_error(line, full, ps->userdata);
        return r < 0 ? r : 0;
}

static int seen_cmp(const void *a, const void *b)
{
        return strcmp(((const SeenId *)a)->id, ((const SeenId *)b)->id);
}

/* Remembers id; returns 0, the line it was first seen on, or -ENOMEM. */
static long seen_add(Parser *ps, const char *id, unsigned line)
{
        size_t n = strlen(id);
        SeenId *s = malloc(sizeof(SeenId) + n + 1), **found;

        if (!s)
                return -ENOMEM;
        s->line = line;
        memcpy(s->id, id, n + 1);
        found = tsearch(s, &ps->seen, seen_cmp);
        if (!found) {
                free(s);
                return -ENOMEM;
        }
        if (*found != s) {
                free(s);
                return (long)(*found)->line;
        }
        return 0;
}

static void cjson_deletep(cJSON **j)
{
        if (*j)
                cJSON_Delete(*j);
}

static bool has_control(const char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < ' ' || *s == 0x7f)
                        return true;
        return false;
}

static int parse_object(Parser *ps, unsigned line, const cJSON *obj)
{
        const cJSON *id = NULL, *url = NULL, *title = NULL, *c;
        char idbuf[32], disp[96], err[256];
        ManifestEntry e = { .line = line };
        long first;

        cJSON_ArrayForEach(c, obj)
        {
                const cJSON **slot = !c->string     ? NULL
                        : streq(c->string, "id")    ? &id
                        : streq(c->string, "url")   ? &url
                        : streq(c->string, "title") ? &title
                                                    : NULL;
                if (!slot)
                        continue;
                /* cJSON would quietly take the first of two; which one the author meant is unknown. */
                if (*slot)
                        return bad_line(ps, line, "duplicate key \"%s\"", c->string);
                *slot = c;
        }

        if (!id)
                return bad_line(ps, line, "missing \"id\"");
        if (cJSON_IsString(id))
                e.id = id->valuestring;
        else if (cJSON_IsNumber(id) && id->valuedouble >= 0 && id->valuedouble <= 9007199254740992.0 &&
                (double)(uint64_t)id->valuedouble == id->valuedouble) {
                /* Manifests exported from a database often carry numeric ids; 8670 means "8670". */
                snprintf(idbuf, sizeof(idbuf), "%" PRIu64, (uint64_t)id->valuedouble);
                e.id = idbuf;
        } else
                return bad_line(ps, line, "\"id\" must be a string");
        if (!episode_id_valid(e.id))
                return bad_line(ps, line,
                        "invalid id \"%s\": use 1-%d characters from A-Z a-z 0-9 . _ - (not \".\" or \"..\")",
                        printable(disp, sizeof(disp), e.id, strlen(e.id)), EPISODE_ID_MAX);

        if (!url)
                return bad_line(ps, line, "episode %s: missing \"url\"", e.id);
        if (!cJSON_IsString(url))
                return bad_line(ps, line, "episode %s: \"url\" must be a string", e.id);
        if (manifest_check_url(url->valuestring, ps->protocols, err, sizeof(err)) < 0)
                return bad_line(ps, line, "episode %s: %s", e.id, err);
        e.url = url->valuestring;

        if (title && !cJSON_IsNull(title)) {
                if (!cJSON_IsString(title))
                        return bad_line(ps, line, "episode %s: \"title\" must be a string", e.id);
                if (has_control(title->valuestring))
                        return bad_line(ps, line, "episode %s: \"title\" contains control characters", e.id);
                e.title = title->valuestring;
        }

        first = seen_add(ps, e.id, line);
        if (first < 0)
                return (int)first;
        if (first > 0)
                return bad_line(ps, line, "duplicate id \"%s\" (first on line %ld)", e.id, first);
        return ps->on_entry ? ps->on_entry(&e, ps->userdata) : 0;
}

static int parse_line(Parser *ps, unsigned line, const char *s, size_t len)
{
        _cleanup_(cjson_deletep) cJSON *j = NULL;
        const char *end = NULL, *start = s;

        if (len > MANIFEST_LINE_MAX)
                return bad_line(ps, line, "line is longer than %u bytes", MANIFEST_LINE_MAX);
        /* Editors on other systems add a byte order mark or CRLF line ends; neither is an error. */
        if (line == 1 && len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
                s += 3;
                len -= 3;
        }
        while (len > 0 && (*s == ' ' || *s == '\t')) {
                s++;
                len--;
        }
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
                len--;
        if (len == 0 || s[0] == '#')
                return 0;
        if (memchr(s, 0, len))
                return bad_line(ps, line, "line contains a NUL byte");

        j = cJSON_ParseWithLengthOpts(s, len, &end, false);
        if (!j) {
                size_t col = (size_t)((end && end >= s && end <= s + len ? end : s) - start) + 1;
                return bad_line(ps, line, "not valid JSON (near column %zu)", col);
        }
        for (; end && end < s + len; end++)
                if (!isspace((unsigned char)*end))
                        return bad_line(ps, line, "unexpected text after the JSON object (column %zu)",
                                (size_t)(end - start) + 1);
        if (!cJSON_IsObject(j))
                return bad_line(ps, line, "not a JSON object: expected {\"id\":…,\"url\":…}");
        return parse_object(ps, line, j);
}

static int parser_finish(Parser *ps, int r)
{
        tdestroy(ps->seen, free);
        ps->seen = NULL;
        return r < 0 ? r : ps->n_errors;
}

int manifest_parse_buffer(const char *name, const char *data, size_t len, unsigned protocols,
        ManifestEntryFn on_entry, ManifestErrorFn on_error, void *userdata)
{
        Parser ps = { .name = name,
                .protocols = protocols,
                .on_entry = on_entry,
                .on_error = on_error,
                .userdata = userdata };
        unsigned line = 0;
        int r = 0;

        for (size_t pos = 0; pos < len && r >= 0;) {
                const char *nl = memchr(data + pos, '\n', len - pos);
                size_t n = nl ? (size_t)(nl - (data + pos)) : len - pos;

                r = parse_line(&ps, ++line, data + pos, n);
                pos += n + 1;
        }
        return parser_finish(&ps, r);
}

int manifest_parse_file(const char *path, unsigned protocols, ManifestEntryFn on_entry,
        ManifestErrorFn on_error, void *userdata)
{
        Parser ps = { .name = path,
                .protocols = protocols,
                .on_entry = on_entry,
                .on_error = on_error,
                .userdata = userdata };
        /* One byte more than the longest allowed line, so a full buffer without a newline proves
         * the line too long; the rest of it is then skipped rather than read into memory. */
        const size_t cap = MANIFEST_LINE_MAX + 1;
        _cleanup_free_ char *buf = malloc(cap);
        _cleanup_fclose_ FILE *f = NULL;
        size_t fill = 0;
        unsigned line = 0;
        bool skipping = false, eof = false;
        int r = 0;

        if (!buf)
                return -ENOMEM;
        if (streq(path, "-"))
                ps.name = "stdin";
        else {
                f = fopen(path, "re");
                if (!f) {
                        r = -errno;
                        (void)bad_line(&ps, 0, "cannot open: %s", strerror(-r));
                        return parser_finish(&ps, r);
                }
        }

        while (!eof && r >= 0) {
                FILE *in = f ? f : stdin;
                size_t got = fread(buf + fill, 1, cap - fill, in), start = 0;
                const char *nl;

                if (got == 0) {
                        if (ferror(in)) {
                                r = -EIO;
                                (void)bad_line(&ps, line, "read error");
                                break;
                        }
                        eof = true;
                }
                fill += got;
                while (r >= 0 && (nl = memchr(buf + start, '\n', fill - start))) {
                        size_t n = (size_t)(nl - (buf + start));
                        line++;
                        r = skipping ? bad_line(&ps, line, "line is longer than %u bytes", MANIFEST_LINE_MAX)
                                     : parse_line(&ps, line, buf + start, n);
                        skipping = false;
                        start += n + 1;
                }
                memmove(buf, buf + start, fill - start);
                fill -= start;
                if (fill == cap) {
                        skipping = true;
                        fill = 0;
                }
                if (eof && r >= 0 && (fill > 0 || skipping)) {
                        line++;
                        r = skipping ? bad_line(&ps, line, "line is longer than %u bytes", MANIFEST_LINE_MAX)
                                     : parse_line(&ps, line, buf, fill);
                }
        }
        return parser_finish(&ps, r);
}
