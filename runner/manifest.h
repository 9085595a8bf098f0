/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Episode manifests: JSON Lines, one episode per line,
 *     {"id":"8670","url":"https://example.org/ep.mp3","title":"Episode 8670"}
 * Blank lines and lines whose first non-blank character is '#' are skipped. Other keys are
 * ignored, so a manifest may carry its own metadata. A bad line is reported with its number and
 * the rest of the file is still read. */

#define EPISODE_ID_MAX    128
#define MANIFEST_LINE_MAX (16U * 1024U)

/* True if id is 1-128 characters of [A-Za-z0-9._-] and is not "." or "..": ids become file and
 * cgroup names, so this is checked before anything touches one. */
bool episode_id_valid(const char *id);

/* Checks a URL before it is queued: an absolute URL whose scheme is in protocols (PROTOCOL_* bits
 * of policies/policy.h), with a host, without white space, control or non-ASCII characters, and
 * without credentials (a "user:pass@" part would end up in logs). Returns 0, or -EINVAL with a
 * one-line reason in err that never repeats the URL itself (it may hold secrets). */
int manifest_check_url(const char *url, unsigned protocols, char *err, size_t err_size);

typedef struct ManifestEntry {
        unsigned line;
        const char *id;    /* valid per episode_id_valid() */
        const char *url;   /* passed manifest_check_url() */
        const char *title; /* NULL when absent; no control characters */
} ManifestEntry;

/* Called for each good line. The strings live until the callback returns. A negative return
 * stops parsing and is passed on. */
typedef int (*ManifestEntryFn)(const ManifestEntry *e, void *userdata);

/* Called for each bad line with "NAME:LINE: reason". A negative return stops parsing and is
 * passed on. May be NULL. */
typedef int (*ManifestErrorFn)(unsigned line, const char *message, void *userdata);

/* Parses a manifest held in memory; name is used in messages. Returns the number of bad lines
 * (0 when all were good), or a negative errno: -ENOMEM, or what a callback returned. */
int manifest_parse_buffer(const char *name, const char *data, size_t len, unsigned protocols,
        ManifestEntryFn on_entry, ManifestErrorFn on_error, void *userdata);

/* The same for a file ("-" is stdin), read as a stream: memory stays bounded by the line limit
 * and the ids seen so far. Returns as above, or -errno when the file cannot be read (described
 * through on_error with line 0). */
int manifest_parse_file(const char *path, unsigned protocols, ManifestEntryFn on_entry,
        ManifestErrorFn on_error, void *userdata);
