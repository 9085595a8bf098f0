/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdbool.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/parse.h"

static int max_level = LOG_INFO;
static const char *log_ident = "memgov";
static LogTarget log_target = LOG_TARGET_CONSOLE;
static bool log_color;

/* systemd sets JOURNAL_STREAM=dev:ino for a stream connected to the journal; only if stderr is
 * that very stream do syslog-level prefixes make sense. */
static bool stderr_is_journal(void)
{
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_setup(const char *ident, LogTarget target)
{
        if (ident)
                log_ident = ident;
        if (target == LOG_TARGET_AUTO)
                target = stderr_is_journal() ? LOG_TARGET_JOURNAL : LOG_TARGET_CONSOLE;
        log_target = target;
        log_color = target == LOG_TARGET_CONSOLE && isatty(STDERR_FILENO) && !getenv("NO_COLOR");
}

void log_set_max_level(int level)
{
        max_level = CLAMP(level, LOG_EMERG, LOG_DEBUG);
}

int log_get_max_level(void)
{
        return max_level;
}

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg",
        [LOG_ALERT] = "alert",
        [LOG_CRIT] = "crit",
        [LOG_ERR] = "error",
        [LOG_WARNING] = "warning",
        [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info",
        [LOG_DEBUG] = "debug",
};

int log_level_from_string(const char *s)
{
        unsigned v;

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
                if (strcasecmp(s, level_names[i]) == 0)
                        return (int)i;
        if (strcasecmp(s, "err") == 0)
                return LOG_ERR;
        if (strcasecmp(s, "warn") == 0)
                return LOG_WARNING;
        if (parse_uint(s, &v) >= 0 && v <= LOG_DEBUG)
                return (int)v;
        return -EINVAL;
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
{
        char msg[2048];
        va_list ap;
        int saved = errno;

        error = error < 0 ? -error : error;
        if (level > max_level)
                return -error;

        /* %m must print the error passed in, not whatever errno happens to hold. */
        errno = error;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        if (log_target == LOG_TARGET_JOURNAL)
                fprintf(stderr, "<%d>%s\n", level, msg);
        else if (level <= LOG_WARNING) {
                const char *on = "", *off = "";
                if (log_color) {
                        on = level <= LOG_ERR ? "\033[1;31m" : "\033[1;33m";
                        off = "\033[0m";
                }
                fprintf(stderr, "%s: %s%s:%s %s\n", log_ident, on, level_names[level], off, msg);
        } else if (level == LOG_DEBUG)
                fprintf(stderr, "%s: debug: %s (%s:%d)\n", log_ident, msg, file, line);
        else
                fprintf(stderr, "%s: %s\n", log_ident, msg);

        errno = saved;
        return -error;
}
