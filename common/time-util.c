/* SPDX-License-Identifier: MIT */
#include "common/time-util.h"

usec_t now_usec(clockid_t clock)
{
        struct timespec ts;

        /* Only fails for an invalid clock id, which is a programming error. */
        if (clock_gettime(clock, &ts) < 0)
                return 0;
        return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}
