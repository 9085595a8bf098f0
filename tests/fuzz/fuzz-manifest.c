/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "policies/policy.h"
#include "runner/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Seen {
        size_t lines;
        int entries;
        int errors;
        unsigned last_line;
} Seen;

/* Whatever the input, an entry that comes out must be one the rest of memgov can trust. */
static int on_entry(const ManifestEntry *e, void *userdata)
{
        Seen *s = userdata;
        char err[256];

        if (!episode_id_valid(e->id) ||
                manifest_check_url(e->url, PROTOCOL_HTTP | PROTOCOL_HTTPS, err, sizeof(err)) < 0)
                abort();
        for (const char *t = e->title; t && *t; t++)
                if ((unsigned char)*t < ' ' || *t == 0x7f)
                        abort();
        /* Lines come in order, each one once. */
        if (e->line == 0 || e->line <= s->last_line || e->line > s->lines)
                abort();
        s->last_line = e->line;
        s->entries++;
        return 0;
}

/* Every bad line says where and why, on one line. */
static int on_error(unsigned line, const char *message, void *userdata)
{
        Seen *s = userdata;

        if (line == 0 || line <= s->last_line || line > s->lines || !strneq(message, "fuzz.jsonl:", 11) ||
                strchr(message, '\n'))
                abort();
        s->last_line = line;
        s->errors++;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        Seen s = { .lines = 1 };
        int r;

        if (size > 256 * 1024)
                return 0;
        for (size_t i = 0; i < size; i++)
                s.lines += data[i] == '\n';
        r = manifest_parse_buffer("fuzz.jsonl", (const char *)data, size, PROTOCOL_HTTP | PROTOCOL_HTTPS,
                on_entry, on_error, &s);
        /* The return value is the number of bad lines, and nothing else goes missing. */
        if (r < 0 || r != s.errors)
                abort();
        return 0;
}
