/* SPDX-License-Identifier: MIT */
#include <stdarg.h>

#include "tests/tap.h"

char tap_skip_reason[256];

int tap_skip(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(tap_skip_reason, sizeof(tap_skip_reason), fmt, ap);
        va_end(ap);
        return TAP_SKIP;
}

int tap_main(const TapTest *tests, size_t n)
{
        int failed = 0;

        /* Line-buffer so TAP lines and the diagnostics of forked children stay in order. */
        setvbuf(stdout, NULL, _IOLBF, 0);
        printf("1..%zu\n", n);
        for (size_t i = 0; i < n; i++) {
                int r;
                tap_skip_reason[0] = 0;
                r = tests[i].fn();
                if (r == 0)
                        printf("ok %zu - %s\n", i + 1, tests[i].name);
                else if (r == TAP_SKIP)
                        printf("ok %zu - %s # SKIP %s\n", i + 1, tests[i].name, tap_skip_reason);
                else {
                        printf("not ok %zu - %s\n", i + 1, tests[i].name);
                        failed++;
                }
        }
        return failed ? 1 : 0;
}
