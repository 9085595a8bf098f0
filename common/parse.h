/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/time-util.h"

/* All parsers: return 0 and store the value on success, -EINVAL on bad syntax, -ERANGE when the
 * value does not fit. Leading and trailing white space is not accepted; callers strip. */

int parse_uint(const char *s, unsigned *ret);
int parse_u64(const char *s, uint64_t *ret);

/* "65536", "64K", "512M", "1.5G", "2T" (binary multiples, as the kernel's memparse); "max" gives
 * UINT64_MAX when allow_max is set. Fractions are rounded down to whole bytes. */
int parse_size(const char *s, bool allow_max, uint64_t *ret);

/* "0", "150ms", "2s", "30m", "2h", "1h30m", "1d"; also "us". A unit is required unless the value
 * is 0, because a bare "30" is ambiguous. */
int parse_duration(const char *s, usec_t *ret);

/* "10%", "2.5%", "0%" … "100%" as permyriad (1% = 100). The % sign is required. */
int parse_percent(const char *s, unsigned *ret_permyriad);

/* A finite decimal number such as "1.25". */
int parse_double(const char *s, double *ret);

/* yes/no, true/false, on/off, 1/0. Returns 1, 0 or -EINVAL. */
int parse_boolean(const char *s);

/* Formats so that the parsers above read back the same value: the largest unit that divides it
 * exactly ("64M", "1536K", "1h30m", "150ms"), or "max" for UINT64_MAX. Returns buf. */
#define FORMAT_SIZE_MAX     32
#define FORMAT_DURATION_MAX 64
const char *format_size(char *buf, size_t size, uint64_t bytes);
const char *format_duration(char *buf, size_t size, usec_t usec);

/* Human-friendly, not exact: "1.5 GiB", "812.3 MiB". For progress and status lines. */
const char *format_size_human(char *buf, size_t size, uint64_t bytes);

/* Levenshtein distance, for "did you mean" hints; returns SIZE_MAX past a sensible length. */
size_t string_distance(const char *a, const char *b);
