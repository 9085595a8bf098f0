/* SPDX-License-Identifier: MIT */
#include <stdbool.h>

#include "common/macro.h"
#include "common/strv.h"

char **strv_free(char **l)
{
        STRV_FOREACH (s, l)
                free(*s);
        free(l);
        return NULL;
}

size_t strv_length(char *const *l)
{
        size_t n = 0;

        STRV_FOREACH (s, l)
                n++;
        return n;
}

char **strv_copy(char *const *l)
{
        size_t n = strv_length(l);
        char **c = calloc(n + 1, sizeof(char *));

        if (!c)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                c[i] = strdup(l[i]);
                if (!c[i])
                        return strv_free(c);
        }
        return c;
}

int strv_equal(char *const *a, char *const *b)
{
        size_t i;

        for (i = 0; a && a[i] && b && b[i]; i++)
                if (!streq(a[i], b[i]))
                        return 0;
        return (!a || !a[i]) && (!b || !b[i]);
}

static int strv_push(char ***l, size_t *n, char *word)
{
        char **nl = realloc(*l, (*n + 2) * sizeof(char *));

        if (!nl) {
                free(word);
                return -ENOMEM;
        }
        nl[(*n)++] = word;
        nl[*n] = NULL;
        *l = nl;
        return 0;
}

int strv_split_quoted(const char *s, char ***ret)
{
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *word = NULL;
        size_t n = 0, wlen = 0;
        const char *p = s;
        int r;

        l = calloc(1, sizeof(char *));
        word = malloc(strlen(s) + 1);
        if (!l || !word)
                return -ENOMEM;

        for (;;) {
                bool in_word = false;

                while (*p == ' ' || *p == '\t')
                        p++;
                if (!*p)
                        break;
                wlen = 0;
                while (*p && *p != ' ' && *p != '\t') {
                        in_word = true;
                        if (*p == '\'') {
                                const char *e = strchr(p + 1, '\'');
                                if (!e)
                                        return -EINVAL;
                                memcpy(word + wlen, p + 1, (size_t)(e - p - 1));
                                wlen += (size_t)(e - p - 1);
                                p = e + 1;
                        } else if (*p == '"') {
                                for (p++; *p != '"'; p++) {
                                        if (!*p)
                                                return -EINVAL;
                                        if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                                                p++;
                                        word[wlen++] = *p;
                                }
                                p++;
                        } else
                                word[wlen++] = *p++;
                }
                if (in_word) {
                        char *w = strndup(word, wlen);
                        if (!w)
                                return -ENOMEM;
                        r = strv_push(&l, &n, w);
                        if (r < 0)
                                return r;
                }
        }
        *ret = TAKE_PTR(l);
        return 0;
}

char *strv_join_quoted(char *const *l)
{
        size_t len = 1;
        char *out, *o;

        STRV_FOREACH (s, l)
                len += strlen(*s) * 2 + 3;
        o = out = malloc(len);
        if (!out)
                return NULL;
        STRV_FOREACH (s, l) {
                /* Quote only what needs it, in the shortest form, so a value near the policy
                 * line limit still fits when printed: a backslash outside quotes is literal;
                 * a word starting with ';' after a space would read as an INI comment. */
                bool plain = **s && **s != ';' && !strpbrk(*s, " \t'\"");
                if (s != l)
                        *o++ = ' ';
                if (plain) {
                        o = stpcpy(o, *s);
                        continue;
                }
                if (!strchr(*s, '\'')) {
                        *o++ = '\'';
                        o = stpcpy(o, *s);
                        *o++ = '\'';
                        continue;
                }
                *o++ = '"';
                for (const char *c = *s; *c; c++) {
                        if (*c == '"' || *c == '\\')
                                *o++ = '\\';
                        *o++ = *c;
                }
                *o++ = '"';
        }
        *o = 0;
        return out;
}
