/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "policies/policy.h"

/* The schema: one row per key. Defaults are written in the file's own syntax and go through the
 * same parser as the file, so the table is the single source of truth for check's output,
 * default.ini and the man page. */

typedef enum PolicyType {
        PT_ENUM,      /* int field, one of names[] */
        PT_SIZE,      /* uint64_t bytes */
        PT_DURATION,  /* usec_t */
        PT_PERCENT,   /* unsigned permyriad */
        PT_DOUBLE,    /* double */
        PT_BOOL,      /* bool */
        PT_UINT,      /* unsigned */
        PT_STRING,    /* char *, free text */
        PT_PATH,      /* char *, relative paths resolved against the policy's folder */
        PT_URL,       /* char *, http:// or https:// */
        PT_ARGV,      /* char **, split like a command line, never by a shell */
        PT_TRIGGER,   /* PsiTrigger: "some|full STALL WINDOW" */
        PT_PROTOCOLS, /* unsigned PROTOCOL_* bits: "http,https" */
} PolicyType;

#define PF_OPTIONAL (1U << 0) /* an empty value means unset (NULL) */
#define PF_AUTO     (1U << 1) /* "auto" is accepted and stored as 0 */
#define PF_MAX      (1U << 2) /* "max" is accepted and stored as the type's maximum */

typedef struct PolicyKey {
        const char *section;
        const char *key;
        PolicyType type;
        size_t offset;
        const char *def;
        unsigned flags;
        uint64_t min, max;        /* PT_SIZE, PT_DURATION, PT_UINT, PT_PERCENT */
        double dmin, dmax;        /* PT_DOUBLE */
        const char *const *names; /* PT_ENUM, NULL-terminated */
} PolicyKey;

extern const PolicyKey policy_table[];
extern const size_t policy_table_size;

/* Parses value into the field of p described by k. On failure returns -EINVAL/-ERANGE and writes
 * a reason ("expected a size such as 512M or 1G") to err. base_dir resolves relative paths. */
int policy_set_value(
        Policy *p, const PolicyKey *k, const char *value, const char *base_dir, char *err, size_t errlen);

/* Formats the field of p described by k, the way policy_set_value() reads it. Returns a new
 * string or NULL on ENOMEM. */
char *policy_format_value(const Policy *p, const PolicyKey *k);

/* Frees the field (strings and argv) described by k. */
void policy_clear_value(Policy *p, const PolicyKey *k);

const PolicyKey *policy_key_find(const char *section, const char *key);

/* State of one load, shared by the parser and the cross-key checks. */
typedef struct PolicyLoad {
        Policy *policy;
        PolicyDiag *diag;
        const char *name;
        char *base_dir;
        unsigned line;       /* line being parsed */
        unsigned *key_lines; /* per table row, the line that set it (0 = default) */
        int oom;
} PolicyLoad;

/* Appends "NAME:LINE: message" (or "NAME: message" for line 0) to the errors or warnings. */
void policy_load_error(PolicyLoad *l, unsigned line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
void policy_load_warning(PolicyLoad *l, unsigned line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* The line that set section/key, 0 if the default is in force. */
unsigned policy_load_line(const PolicyLoad *l, const char *section, const char *key);

/* Cross-key checks, after every line has been read. */
void policy_check(PolicyLoad *l);
