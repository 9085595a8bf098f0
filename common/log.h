/* SPDX-License-Identifier: MIT */
#pragma once

#include <syslog.h>

#include "common/macro.h"

/* Where log lines go and how they look. Library code (governor/, runner/, policies/) does not
 * log: it returns errors; cli/ logs once at the boundary. */
typedef enum LogTarget {
        LOG_TARGET_AUTO,    /* journal if stderr is the journal's stream, else console */
        LOG_TARGET_CONSOLE, /* "memgov: error: …", coloured on a TTY */
        LOG_TARGET_JOURNAL, /* "<3>…": syslog level prefix, journald sets the priority */
} LogTarget;

void log_setup(const char *ident, LogTarget target);
void log_set_max_level(int level);
int log_get_max_level(void);

/* Parses "err", "warning", "info", "debug" or 0-7. Returns the level or -EINVAL. */
int log_level_from_string(const char *s);

/* Logs at level; when error != 0, "%m" in the format prints strerror(|error|). Returns -|error|,
 * so callers can write "return log_error_errno(r, …);". */
int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) _printf_(5, 6);

#define log_full_errno(level, error, ...) log_internal((level), (error), __FILE__, __LINE__, __VA_ARGS__)
#define log_full(level, ...)              (void)log_full_errno((level), 0, __VA_ARGS__)
#define log_debug(...)                    log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)                     log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...)                   log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...)                  log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...)                    log_full(LOG_ERR, __VA_ARGS__)
#define log_debug_errno(e, ...)           log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
#define log_warning_errno(e, ...)         log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...)           log_full_errno(LOG_ERR, (e), __VA_ARGS__)
