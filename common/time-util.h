/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>
#include <time.h>

typedef uint64_t usec_t;

#define USEC_INFINITY   ((usec_t)UINT64_MAX)
#define USEC_PER_MSEC   ((usec_t)1000ULL)
#define USEC_PER_SEC    ((usec_t)1000000ULL)
#define USEC_PER_MINUTE (60ULL * USEC_PER_SEC)
#define USEC_PER_HOUR   (60ULL * USEC_PER_MINUTE)
#define USEC_PER_DAY    (24ULL * USEC_PER_HOUR)

/* Microseconds on the given clock; CLOCK_MONOTONIC for intervals, CLOCK_REALTIME for records. */
usec_t now_usec(clockid_t clock);

static inline struct timespec usec_to_timespec(usec_t u)
{
        return (struct timespec){ .tv_sec = (time_t)(u / USEC_PER_SEC),
                .tv_nsec = (long)((u % USEC_PER_SEC) * 1000) };
}
