/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/macro.h"
#include "common/parse.h"

int parse_u64(const char *s, uint64_t *ret)
{
        unsigned long long v;
        char *end;

        /* strtoull accepts leading space, '+' and '-' (wrapping negative values): refuse them. */
        if (!s || !isdigit((unsigned char)s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_uint(const char *s, unsigned *ret)
{
        uint64_t v;
        int r = parse_u64(s, &v);

        if (r < 0)
                return r;
        if (v > UINT32_MAX)
                return -ERANGE;
        *ret = (unsigned)v;
        return 0;
}

/* Splits "1.5" into an integer and a fraction in millionths, without floating point, so that
 * sizes and durations parse exactly. Returns the number of characters consumed, or -EINVAL. */
static int parse_decimal(const char *s, uint64_t *ret_int, uint64_t *ret_micro)
{
        const char *p = s;
        uint64_t whole = 0, micro = 0, scale = 100000;

        if (!isdigit((unsigned char)*p))
                return -EINVAL;
        for (; isdigit((unsigned char)*p); p++) {
                if (whole > (UINT64_MAX - 9) / 10)
                        return -ERANGE;
                whole = whole * 10 + (uint64_t)(*p - '0');
        }
        if (*p == '.') {
                p++;
                if (!isdigit((unsigned char)*p))
                        return -EINVAL;
                for (; isdigit((unsigned char)*p); p++) {
                        micro += (uint64_t)(*p - '0') * scale;
                        scale /= 10;
                }
        }
        *ret_int = whole;
        *ret_micro = micro;
        return (int)(p - s);
}

/* whole.micro × unit, with overflow checks; the fraction is rounded down. */
static int scale_decimal(uint64_t whole, uint64_t micro, uint64_t unit, uint64_t *ret)
{
        uint64_t a, b;

        if (unit != 0 && whole > UINT64_MAX / unit)
                return -ERANGE;
        a = whole * unit;
        b = (uint64_t)((unsigned __int128)micro * unit / 1000000);
        if (a > UINT64_MAX - b)
                return -ERANGE;
        *ret = a + b;
        return 0;
}

int parse_size(const char *s, bool allow_max, uint64_t *ret)
{
        static const struct {
                const char *suffix;
                uint64_t factor;
        } units[] = {
                { "", 1 },
                { "K", 1ULL << 10 },
                { "M", 1ULL << 20 },
                { "G", 1ULL << 30 },
                { "T", 1ULL << 40 },
        };
        uint64_t whole, micro;
        int n;

        if (!s)
                return -EINVAL;
        if (streq(s, "max")) {
                if (!allow_max)
                        return -EINVAL;
                *ret = UINT64_MAX;
                return 0;
        }
        n = parse_decimal(s, &whole, &micro);
        if (n < 0)
                return n;
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (strcasecmp(s + n, units[i].suffix) == 0) {
                        /* A fraction of a byte is meaningless. */
                        if (units[i].factor == 1 && micro)
                                return -EINVAL;
                        return scale_decimal(whole, micro, units[i].factor, ret);
                }
        return -EINVAL;
}

int parse_duration(const char *s, usec_t *ret)
{
        static const struct {
                const char *suffix;
                usec_t factor;
        } units[] = {
                /* Longest first, so "ms" is not read as "m" followed by garbage. */
                { "min", USEC_PER_MINUTE },
                { "ms", USEC_PER_MSEC },
                { "us", 1 },
                { "s", USEC_PER_SEC },
                { "m", USEC_PER_MINUTE },
                { "h", USEC_PER_HOUR },
                { "d", USEC_PER_DAY },
        };
        usec_t total = 0;
        const char *p = s;

        if (!s || !*s)
                return -EINVAL;
        if (streq(s, "0")) {
                *ret = 0;
                return 0;
        }
        while (*p) {
                uint64_t whole, micro, v;
                size_t i;
                int n, r;

                while (*p == ' ')
                        p++;
                n = parse_decimal(p, &whole, &micro);
                if (n < 0)
                        return n;
                p += n;
                for (i = 0; i < ELEMENTSOF(units); i++) {
                        size_t l = strlen(units[i].suffix);
                        if (strneq(p, units[i].suffix, l) && !isalpha((unsigned char)p[l]))
                                break;
                }
                if (i >= ELEMENTSOF(units))
                        return -EINVAL;
                r = scale_decimal(whole, micro, units[i].factor, &v);
                if (r < 0)
                        return r;
                if (total > UINT64_MAX - 1 - v)
                        return -ERANGE;
                total += v;
                p += strlen(units[i].suffix);
                while (*p == ' ')
                        p++;
        }
        *ret = total;
        return 0;
}

int parse_percent(const char *s, unsigned *ret_permyriad)
{
        uint64_t whole, micro, v;
        int n, r;

        if (!s)
                return -EINVAL;
        n = parse_decimal(s, &whole, &micro);
        if (n < 0)
                return n;
        if (!streq(s + n, "%"))
                return -EINVAL;
        if (micro % 10000)
                return -EINVAL; /* finer than 0.01 % */
        r = scale_decimal(whole, micro, 100, &v);
        if (r < 0)
                return r;
        if (v > 10000)
                return -ERANGE;
        *ret_permyriad = (unsigned)v;
        return 0;
}

int parse_double(const char *s, double *ret)
{
        char *end;
        double v;

        if (!s || !(isdigit((unsigned char)s[0]) || (s[0] == '.' && isdigit((unsigned char)s[1]))))
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (errno == ERANGE || !isfinite(v))
                return -ERANGE;
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_boolean(const char *s)
{
        static const char *const yes[] = { "yes", "true", "on", "1" },
                                 *const no[] = { "no", "false", "off", "0" };

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        }
        return -EINVAL;
}

const char *format_size(char *buf, size_t size, uint64_t bytes)
{
        static const char suffixes[] = "TGMK";

        if (bytes == UINT64_MAX) {
                snprintf(buf, size, "max");
                return buf;
        }
        for (size_t i = 0; i < 4; i++) {
                uint64_t f = 1ULL << (10 * (4 - i));
                if (bytes && bytes % f == 0) {
                        snprintf(buf, size, "%" PRIu64 "%c", bytes / f, suffixes[i]);
                        return buf;
                }
        }
        snprintf(buf, size, "%" PRIu64, bytes);
        return buf;
}

const char *format_duration(char *buf, size_t size, usec_t usec)
{
        static const struct {
                const char *suffix;
                usec_t factor;
        } units[] = {
                { "d", USEC_PER_DAY },
                { "h", USEC_PER_HOUR },
                { "m", USEC_PER_MINUTE },
                { "s", USEC_PER_SEC },
                { "ms", USEC_PER_MSEC },
                { "us", 1 },
        };
        size_t off = 0;

        if (usec == 0 || usec == USEC_INFINITY) {
                snprintf(buf, size, usec ? "infinity" : "0");
                return buf;
        }
        buf[0] = 0;
        for (size_t i = 0; i < ELEMENTSOF(units) && usec > 0 && off < size; i++) {
                if (usec < units[i].factor)
                        continue;
                int n = snprintf(
                        buf + off, size - off, "%" PRIu64 "%s", usec / units[i].factor, units[i].suffix);
                if (n < 0)
                        break;
                off += (size_t)n;
                usec %= units[i].factor;
        }
        return buf;
}

const char *format_size_human(char *buf, size_t size, uint64_t bytes)
{
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        double v = (double)bytes;
        size_t i = 0;

        if (bytes == UINT64_MAX) {
                snprintf(buf, size, "max");
                return buf;
        }
        while (v >= 1024.0 && i + 1 < ELEMENTSOF(units)) {
                v /= 1024.0;
                i++;
        }
        if (i == 0)
                snprintf(buf, size, "%" PRIu64 " B", bytes);
        else
                snprintf(buf, size, "%.1f %s", v, units[i]);
        return buf;
}

size_t string_distance(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        size_t row[65];

        if (la > 64 || lb > 64)
                return SIZE_MAX;
        for (size_t j = 0; j <= lb; j++)
                row[j] = j;
        for (size_t i = 1; i <= la; i++) {
                size_t diag = row[0];
                row[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t up = row[j];
                        size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
                        row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1), diag + cost);
                        diag = up;
                }
        }
        return row[lb];
}
