/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "common/macro.h"
#include "common/parse.h"
#include "governor/memstat.h"

/* Reads an unsigned decimal from *p, advancing it. */
static int take_u64(const char **p, uint64_t *ret)
{
        uint64_t v = 0;
        const char *s = *p;

        if (!isdigit((unsigned char)*s))
                return -EINVAL;
        for (; isdigit((unsigned char)*s); s++) {
                if (v > (UINT64_MAX - 9) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t)(*s - '0');
        }
        *p = s;
        *ret = v;
        return 0;
}

int mem_parse_value(const char *text, uint64_t *ret)
{
        const char *p = text;
        uint64_t v;
        int r;

        if (strneq(p, "max", 3)) {
                v = MEM_MAX;
                p += 3;
        } else if ((r = take_u64(&p, &v)) < 0)
                return r;
        if (*p == '\n')
                p++;
        if (*p)
                return -EINVAL;
        *ret = v;
        return 0;
}

typedef struct KeyField {
        const char *key;
        size_t offset;
} KeyField;

/* Parses "key value" lines into the uint64_t fields named in the table. */
static int parse_keyed(const char *text, const KeyField *fields, size_t n, void *out)
{
        const char *p = text;

        while (*p) {
                const char *key = p, *sp = strchr(p, ' ');
                uint64_t v;
                int r;

                if (!sp || sp == key || memchr(key, '\n', (size_t)(sp - key)))
                        return -EINVAL;
                p = sp + 1;
                r = take_u64(&p, &v);
                if (r < 0)
                        return r;
                if (*p != '\n' && *p != 0)
                        return -EINVAL;
                for (size_t i = 0; i < n; i++)
                        if (strlen(fields[i].key) == (size_t)(sp - key) &&
                                strneq(key, fields[i].key, (size_t)(sp - key))) {
                                *(uint64_t *)(void *)((char *)out + fields[i].offset) = v;
                                break;
                        }
                if (*p)
                        p++;
        }
        return 0;
}

int mem_parse_stat(const char *text, MemStat *ret)
{
#define S(f)                             \
        {                                \
#f, offsetof(MemStat, f) \
        }
        static const KeyField fields[] = {
                S(anon),
                S(file),
                S(kernel),
                S(sock),
                S(shmem),
                S(file_mapped),
                S(file_dirty),
                S(file_writeback),
                S(active_file),
                S(inactive_file),
                S(slab_reclaimable),
        };
#undef S
        MemStat st = {};
        int r = parse_keyed(text, fields, ELEMENTSOF(fields), &st);

        if (r < 0)
                return r;
        *ret = st;
        return 0;
}

int mem_parse_events(const char *text, MemEvents *ret)
{
#define E(f)                               \
        {                                  \
#f, offsetof(MemEvents, f) \
        }
        static const KeyField fields[] = { E(low), E(high), E(max), E(oom), E(oom_kill), E(oom_group_kill) };
#undef E
        MemEvents ev = {};
        int r = parse_keyed(text, fields, ELEMENTSOF(fields), &ev);

        if (r < 0)
                return r;
        *ret = ev;
        return 0;
}

/* "12.34" → 1234. The kernel always prints exactly two decimals; accept fewer. */
static int take_avg(const char **p, unsigned *ret)
{
        uint64_t whole, frac = 0;
        const char *s;
        int r = take_u64(p, &whole);

        if (r < 0)
                return r;
        if (**p == '.') {
                int digits = 0;
                for (s = *p + 1; isdigit((unsigned char)*s); s++, digits++)
                        if (digits < 2)
                                frac = frac * 10 + (uint64_t)(*s - '0');
                if (digits == 0)
                        return -EINVAL;
                if (digits == 1)
                        frac *= 10;
                *p = s;
        }
        if (whole > 100 || (whole == 100 && frac > 0))
                return -ERANGE;
        *ret = (unsigned)(whole * 100 + frac);
        return 0;
}

static int expect(const char **p, const char *word)
{
        size_t n = strlen(word);

        if (!strneq(*p, word, n))
                return -EINVAL;
        *p += n;
        return 0;
}

static int parse_psi_line(const char **p, PsiLine *ret)
{
        PsiLine l;

        if (expect(p, " avg10=") < 0 || take_avg(p, &l.avg10) < 0 || expect(p, " avg60=") < 0 ||
                take_avg(p, &l.avg60) < 0 || expect(p, " avg300=") < 0 || take_avg(p, &l.avg300) < 0 ||
                expect(p, " total=") < 0 || take_u64(p, &l.total_usec) < 0)
                return -EINVAL;
        if (**p == '\n')
                (*p)++;
        else if (**p)
                return -EINVAL;
        *ret = l;
        return 0;
}

int psi_parse(const char *text, PsiStats *ret)
{
        const char *p = text;
        PsiStats st = {};
        bool has_some = false;

        while (*p) {
                if (!has_some && expect(&p, "some") == 0) {
                        if (parse_psi_line(&p, &st.some) < 0)
                                return -EINVAL;
                        has_some = true;
                } else if (has_some && !st.has_full && expect(&p, "full") == 0) {
                        if (parse_psi_line(&p, &st.full) < 0)
                                return -EINVAL;
                        st.has_full = true;
                } else
                        return -EINVAL;
        }
        if (!has_some)
                return -EINVAL;
        *ret = st;
        return 0;
}

int cg_parse_events(const char *text, bool *ret_populated, bool *ret_frozen)
{
        static const KeyField fields[] = { { "populated", 0 }, { "frozen", sizeof(uint64_t) } };
        uint64_t v[2] = { UINT64_MAX, 0 };
        int r = parse_keyed(text, fields, ELEMENTSOF(fields), v);

        if (r < 0)
                return r;
        if (v[0] > 1 || v[1] > 1)
                return -EINVAL;
        if (ret_populated)
                *ret_populated = v[0];
        if (ret_frozen)
                *ret_frozen = v[1];
        return 0;
}
