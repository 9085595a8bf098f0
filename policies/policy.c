/* SPDX-License-Identifier: MIT */
#include <ini.h>
#include <libgen.h>
#include <stdarg.h>

#include "common/macro.h"
#include "common/parse.h"
#include "common/strv.h"
#include "policies/policy-internal.h"

/* Debian's libinih is built with INI_MAX_LINE 200 and without line numbers in the handler, so
 * memgov feeds inih through its own reader: it counts lines, refuses lines inih would silently
 * cut, strips leading white space (inih would take an indented line as the continuation of the
 * previous value) and reports syntax errors with the line they are on. */
#define POLICY_LINE_MAX (INI_MAX_LINE - 1)

typedef struct Reader {
        PolicyLoad *load;
        FILE *f;
        char *buf;
        size_t cap;
} Reader;

const char *job_class_to_string(JobClass c)
{
        static const char *const n[] = { "download", "transcribe", "api" };
        return c < _JOB_CLASS_MAX ? n[c] : "?";
}

const char *backend_to_string(Backend b)
{
        static const char *const n[] = { "command", "gemini", "openai" };
        return b < _BACKEND_MAX ? n[b] : "?";
}

const char *enforcement_to_string(Enforcement e)
{
        static const char *const n[] = { "auto", "cgroup", "watchdog" };
        return e < _ENFORCEMENT_MAX ? n[e] : "?";
}

static void diag_add(PolicyLoad *l, bool error, unsigned line, const char *fmt, va_list ap)
{
        char msg[512], *s = NULL, ***list = error ? &l->diag->errors : &l->diag->warnings;
        size_t *n = error ? &l->diag->n_errors : &l->diag->n_warnings;
        char **nl;

        vsnprintf(msg, sizeof(msg), fmt, ap);
        if ((line ? asprintf(&s, "%s:%u: %s", l->name, line, msg) : asprintf(&s, "%s: %s", l->name, msg)) <
                0) {
                l->oom = 1;
                return;
        }
        nl = realloc(*list, (*n + 2) * sizeof(char *));
        if (!nl) {
                free(s);
                l->oom = 1;
                return;
        }
        nl[(*n)++] = s;
        nl[*n] = NULL;
        *list = nl;
}

void policy_load_error(PolicyLoad *l, unsigned line, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        diag_add(l, true, line, fmt, ap);
        va_end(ap);
}

void policy_load_warning(PolicyLoad *l, unsigned line, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        diag_add(l, false, line, fmt, ap);
        va_end(ap);
}

unsigned policy_load_line(const PolicyLoad *l, const char *section, const char *key)
{
        const PolicyKey *k = policy_key_find(section, key);

        return k ? l->key_lines[k - policy_table] : 0;
}

void policy_diag_done(PolicyDiag *d)
{
        strv_free(d->errors);
        strv_free(d->warnings);
        *d = (PolicyDiag){};
}

void policy_done(Policy *p)
{
        for (size_t i = 0; i < policy_table_size; i++)
                policy_clear_value(p, &policy_table[i]);
        free(p->path);
        *p = (Policy){};
}

int policy_init_defaults(Policy *p)
{
        char err[256];

        *p = (Policy){};
        for (size_t i = 0; i < policy_table_size; i++) {
                int r = policy_set_value(p, &policy_table[i], policy_table[i].def, NULL, err, sizeof(err));
                if (r < 0) {
                        /* Only ENOMEM can get here: the table's defaults are tested. */
                        policy_done(p);
                        return r == -ENOMEM ? r : -EINVAL;
                }
        }
        return 0;
}

static bool section_known(const char *section)
{
        for (size_t i = 0; i < policy_table_size; i++)
                if (streq(policy_table[i].section, section))
                        return true;
        return false;
}

/* The closest known name, if it is close enough to be a likely typo. */
static const char *suggest(const char *section, const char *key)
{
        const char *best = NULL;
        size_t best_d = SIZE_MAX;

        for (size_t i = 0; i < policy_table_size; i++) {
                const char *cand = key ? policy_table[i].key : policy_table[i].section;
                size_t d;
                if (key && !streq(policy_table[i].section, section))
                        continue;
                d = string_distance(key ? key : section, cand);
                /* A long shared prefix ("class.transcription" for "class.transcribe") is a
                 * likely typo too, even when the tails differ a lot. */
                if (d > 3) {
                        const char *a = key ? key : section;
                        size_t n = 0;
                        while (a[n] && a[n] == cand[n])
                                n++;
                        if (n * 4 >= strlen(cand) * 3)
                                d = 3;
                }
                if (d < best_d) {
                        best_d = d;
                        best = cand;
                }
        }
        return best_d <= 3 ? best : NULL;
}

/* For a key in the wrong section: where does it live? */
static const char *section_of(const char *key)
{
        for (size_t i = 0; i < policy_table_size; i++)
                if (streq(policy_table[i].key, key))
                        return policy_table[i].section;
        return NULL;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
        PolicyLoad *l = user;
        const PolicyKey *k;
        char err[256];
        size_t idx;
        int r;

        if (isempty(section)) {
                const char *home = section_of(name);
                policy_load_error(l, l->line, "'%s' is outside any section%s%s%s", name,
                        home ? " (it belongs in [" : "", home ? home : "", home ? "])" : "");
                return 0;
        }
        /* Unknown sections were reported at their header line by the reader. */
        if (!section_known(section))
                return 0;
        k = policy_key_find(section, name);
        if (!k) {
                const char *hint = suggest(section, name), *home = section_of(name);
                if (hint)
                        policy_load_error(l, l->line, "unknown key '%s' in [%s] (did you mean '%s'?)", name,
                                section, hint);
                else if (home)
                        policy_load_error(l, l->line, "unknown key '%s' in [%s] (it belongs in [%s])", name,
                                section, home);
                else
                        policy_load_error(l, l->line, "unknown key '%s' in [%s]", name, section);
                return 0;
        }
        idx = (size_t)(k - policy_table);
        if (l->key_lines[idx]) {
                policy_load_error(l, l->line, "[%s] %s is set again (first set on line %u)", section, name,
                        l->key_lines[idx]);
                return 0;
        }
        l->key_lines[idx] = l->line;
        r = policy_set_value(l->policy, k, value, l->base_dir, err, sizeof(err));
        if (r == -ENOMEM) {
                l->oom = 1;
                return 0;
        }
        if (r < 0) {
                policy_load_error(l, l->line, "[%s] %s = %s: %s", section, name, value, err);
                return 0;
        }
        return 1;
}

/* Checks what inih would reject or misread, so the message names the line and the fix. */
static void check_syntax(PolicyLoad *l, const char *s)
{
        if (!*s || *s == ';' || *s == '#')
                return;
        if (*s == '[') {
                const char *e = strchr(s, ']');
                char name[128];
                size_t n;
                if (!e) {
                        policy_load_error(l, l->line, "section header without ']'");
                        return;
                }
                /* inih trims the name the same way. */
                s++;
                s += strspn(s, " \t");
                n = (size_t)(e - s);
                while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
                        n--;
                snprintf(name, sizeof(name), "%.*s", (int)MIN(n, sizeof(name) - 1), s);
                if (!section_known(name)) {
                        const char *hint = suggest(name, NULL);
                        policy_load_error(l, l->line, "unknown section [%s]%s%s%s", name,
                                hint ? " (did you mean [" : "", hint ? hint : "", hint ? "]?)" : "");
                }
                return;
        }
        if (!strpbrk(s, "=:"))
                policy_load_error(l, l->line, "expected 'key = value', a [section] or a comment");
        else if (*s == '=' || *s == ':')
                policy_load_error(l, l->line, "a key name is missing before '%c'", *s);
}

static char *reader(char *str, int num, void *stream)
{
        Reader *rd = stream;
        ssize_t n;
        char *s;

        n = getline(&rd->buf, &rd->cap, rd->f);
        if (n < 0)
                return NULL;
        rd->load->line++;
        if (memchr(rd->buf, 0, (size_t)n)) {
                policy_load_error(rd->load, rd->load->line, "line contains a NUL byte");
                str[0] = 0;
                return str;
        }
        while (n > 0 && (rd->buf[n - 1] == '\n' || rd->buf[n - 1] == '\r'))
                rd->buf[--n] = 0;
        s = rd->buf;
        /* A UTF-8 byte order mark is harmless on the first line; inih would handle it, but the
         * syntax check below would not. */
        if (rd->load->line == 1 && strneq(s, "\xEF\xBB\xBF", 3))
                s += 3;
        s += strspn(s, " \t");
        if (strlen(s) > (size_t)num - 1 || strlen(s) > POLICY_LINE_MAX) {
                policy_load_error(rd->load, rd->load->line,
                        "line is %zu bytes long, over the %d bytes a policy line may have; "
                        "put long texts such as prompts in a file (e.g. [gemini] prompt_file)",
                        strlen(s), POLICY_LINE_MAX);
                str[0] = 0;
                return str;
        }
        check_syntax(rd->load, s);
        strcpy(str, s);
        return str;
}

static int load_stream(const char *name, FILE *f, Policy *ret, PolicyDiag *diag)
{
        _cleanup_free_ unsigned *key_lines = calloc(policy_table_size, sizeof(unsigned));
        _cleanup_free_ char *dir_copy = NULL;
        Policy p;
        PolicyLoad l = { .policy = &p, .diag = diag, .name = name };
        Reader rd = { .load = &l, .f = f };
        int r;

        if (!key_lines)
                return -ENOMEM;
        l.key_lines = key_lines;
        r = policy_init_defaults(&p);
        if (r < 0)
                return r;
        if (strchr(name, '/')) {
                dir_copy = strdup(name);
                if (!dir_copy) {
                        policy_done(&p);
                        return -ENOMEM;
                }
                l.base_dir = dirname(dir_copy);
        }
        p.path = strdup(name);
        if (!p.path)
                l.oom = 1;

        (void)ini_parse_stream(reader, &rd, handler, &l);
        free(rd.buf);
        if (!l.oom)
                policy_check(&l);

        if (l.oom) {
                policy_done(&p);
                return -ENOMEM;
        }
        if (diag->n_errors > 0) {
                policy_done(&p);
                return -EINVAL;
        }
        *ret = p;
        return 0;
}

int policy_load_buffer(const char *name, const char *data, size_t len, Policy *ret, PolicyDiag *diag)
{
        _cleanup_fclose_ FILE *f = NULL;

        if (len == 0)
                data = "\n", len = 1; /* fmemopen refuses a zero-sized buffer */
        f = fmemopen((void *)(uintptr_t)data, len, "r");
        if (!f)
                return -errno;
        return load_stream(name, f, ret, diag);
}

int policy_load(const char *path, Policy *ret, PolicyDiag *diag)
{
        _cleanup_fclose_ FILE *f = NULL;
        PolicyLoad l = { .diag = diag, .name = path };

        if (streq(path, "-"))
                return load_stream("<stdin>", stdin, ret, diag);
        f = fopen(path, "re");
        if (!f) {
                int r = -errno;
                policy_load_error(&l, 0, "cannot open policy: %s", strerror(-r));
                return l.oom ? -ENOMEM : r;
        }
        return load_stream(path, f, ret, diag);
}

int policy_print(const Policy *p, FILE *f)
{
        const char *section = NULL;

        for (size_t i = 0; i < policy_table_size; i++) {
                const PolicyKey *k = &policy_table[i];
                _cleanup_free_ char *v = policy_format_value(p, k);
                if (!v)
                        return -ENOMEM;
                if (!section || !streq(section, k->section)) {
                        fprintf(f, "%s[%s]\n", section ? "\n" : "", k->section);
                        section = k->section;
                }
                fprintf(f, "%s =%s%s\n", k->key, *v ? " " : "", v);
        }
        return ferror(f) ? -EIO : 0;
}
