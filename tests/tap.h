/* SPDX-License-Identifier: MIT */
#pragma once

/* A small TAP producer: each TEST() is one test point, run in order by tap_main(). A test
 * function returns 0 (pass), TAP_SKIP (skip, with a reason set by tap_skip()) or anything else
 * (fail). The ASSERT_* macros print what differed and return -1 from the test function. */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define TAP_SKIP 77

typedef struct TapTest {
        const char *name;
        int (*fn)(void);
} TapTest;

extern char tap_skip_reason[256];

int tap_main(const TapTest *tests, size_t n);
int tap_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define TEST(name) static int test_##name(void)
#define T(name)                    \
        {                          \
#name, test_##name \
        }

#define ASSERT_TRUE(expr)                                                                     \
        do {                                                                                  \
                if (!(expr)) {                                                                \
                        printf("# %s:%d: assertion failed: %s\n", __FILE__, __LINE__, #expr); \
                        return -1;                                                            \
                }                                                                             \
        } while (0)

#define ASSERT_INT(a, op, b)                                                                                \
        do {                                                                                                \
                long long _a = (long long)(a), _b = (long long)(b);                                         \
                if (!(_a op _b)) {                                                                          \
                        printf("# %s:%d: %s %s %s failed: %lld vs %lld\n", __FILE__, __LINE__, #a, #op, #b, \
                                _a, _b);                                                                    \
                        return -1;                                                                          \
                }                                                                                           \
        } while (0)

#define ASSERT_U64(a, b)                                                                           \
        do {                                                                                       \
                uint64_t _a = (uint64_t)(a), _b = (uint64_t)(b);                                   \
                if (_a != _b) {                                                                    \
                        printf("# %s:%d: %s == %s failed: %" PRIu64 " vs %" PRIu64 "\n", __FILE__, \
                                __LINE__, #a, #b, _a, _b);                                         \
                        return -1;                                                                 \
                }                                                                                  \
        } while (0)

#define ASSERT_STR(a, b)                                                                               \
        do {                                                                                           \
                const char *_a = (a), *_b = (b);                                                       \
                if (!_a || !_b || strcmp(_a, _b) != 0) {                                               \
                        printf("# %s:%d: %s == %s failed: '%s' vs '%s'\n", __FILE__, __LINE__, #a, #b, \
                                _a ? _a : "(null)", _b ? _b : "(null)");                               \
                        return -1;                                                                     \
                }                                                                                      \
        } while (0)

/* Substring match, for error messages whose exact wording may be refined. */
#define ASSERT_CONTAINS(hay, needle)                                                        \
        do {                                                                                \
                const char *_h = (hay), *_n = (needle);                                     \
                if (!_h || !strstr(_h, _n)) {                                               \
                        printf("# %s:%d: '%s' does not contain '%s'\n", __FILE__, __LINE__, \
                                _h ? _h : "(null)", _n);                                    \
                        return -1;                                                          \
                }                                                                           \
        } while (0)

#define TAP_MAIN(...)                                                     \
        int main(void)                                                    \
        {                                                                 \
                static const TapTest tests[] = { __VA_ARGS__ };           \
                return tap_main(tests, sizeof(tests) / sizeof(tests[0])); \
        }
