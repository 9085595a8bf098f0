/* SPDX-License-Identifier: MIT */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f)           __attribute__((cleanup(f)))
#define _printf_(a, b)         __attribute__((format(printf, a, b)))
#define _unused_               __attribute__((unused))
#define _noreturn_             __attribute__((noreturn))
#define _pure_                 __attribute__((pure))
#define _const_                __attribute__((const))
#define _warn_unused_result_   __attribute__((warn_unused_result))
#define _fallthrough_          __attribute__((fallthrough))
#define _likely_(x)            (__builtin_expect(!!(x), 1))
#define _unlikely_(x)          (__builtin_expect(!!(x), 0))

#define ELEMENTSOF(x)          (sizeof(x) / sizeof((x)[0]))
#define FOREACH_ARRAY(i, a, n) for (typeof(&(a)[0]) i = (a); i < (a) + (n); i++)
#define MIN(a, b)              ((a) < (b) ? (a) : (b))
#define MAX(a, b)              ((a) > (b) ? (a) : (b))
#define CLAMP(x, lo, hi)       (((x) < (lo)) ? (lo) : ((x) > (hi)) ? (hi) : (x))

/* Enough room for any integer of type t printed in decimal, with sign and NUL. */
#define DECIMAL_STR_MAX(t) (2 + (sizeof(t) <= 1 ? 3 : sizeof(t) <= 2 ? 5 : sizeof(t) <= 4 ? 10 : 20))

#define streq(a, b)        (strcmp((a), (b)) == 0)
#define strneq(a, b, n)    (strncmp((a), (b), (n)) == 0)
#define isempty(s)         (!(s) || !*(s))

/* Move ownership out of a _cleanup_ variable. */
#define TAKE_PTR(p)                  \
        ({                           \
                typeof(p) _p_ = (p); \
                (p) = NULL;          \
                _p_;                 \
        })
#define TAKE_FD(fd)              \
        ({                       \
                int _fd_ = (fd); \
                (fd) = -EBADF;   \
                _fd_;            \
        })

/* Defines func##p(type *p) that calls func(*p) when *p is set, for use with _cleanup_. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func) \
        static inline void func##p(type *p)     \
        {                                       \
                if (*p)                         \
                        func(*p);               \
        }

static inline void freep(void *p)
{
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

/* close() that keeps errno and accepts negative fds; returns -EBADF for "fd = safe_close(fd);". */
static inline int safe_close(int fd)
{
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -EBADF;
}
static inline void closep(int *fd)
{
        safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Turns a library's errno-style return into a negative errno, never 0. */
static inline int negative_errno(void)
{
        return errno > 0 ? -errno : -EIO;
}
