/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/* NULL-terminated arrays of strings, as execve() takes them. */
char **strv_free(char **l);
size_t strv_length(char *const *l);
char **strv_copy(char *const *l);
int strv_equal(char *const *a, char *const *b);
static inline void strv_freep(char ***l)
{
        strv_free(*l);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)
#define STRV_FOREACH(s, l)  for (char *const *s = (l); s && *s; s++)

/* Splits a command line into words at white space, honouring '…' (literal) and "…" (with \" and \\
 * escapes), the way a user writes argv in a config file. No variables, globs or other shell syntax:
 * the words go to execve() as they are. Returns 0, -EINVAL on an unterminated quote, -ENOMEM. */
int strv_split_quoted(const char *s, char ***ret);

/* Joins words with spaces, quoting those that need it so strv_split_quoted() reads them back. */
char *strv_join_quoted(char *const *l);
