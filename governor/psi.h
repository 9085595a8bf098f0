/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "policies/policy.h"

/* PSI triggers: the kernel wakes memgov (POLLPRI) when tasks stalled on memory for stall_usec
 * within any window_usec, instead of memgov polling averages. */

typedef struct PsiTriggerFd {
        int fd;
        PsiTrigger trigger; /* what was registered: may differ from what was asked, see adjusted */
        bool adjusted;      /* the window was widened to a multiple of 2 s (no CAP_SYS_RESOURCE) */
} PsiTriggerFd;

/* Formats the trigger line the kernel expects, "some 150000 2000000". */
int psi_trigger_format(const PsiTrigger *t, char *buf, size_t size);

/* The nearest trigger an unprivileged opener may register: the window rounded up to a multiple
 * of 2 s (at most 10 s) and the stall scaled by the same factor, capped at the window. */
PsiTrigger psi_trigger_unprivileged(const PsiTrigger *t);

/* Registers t on dirfd/name (memory.pressure of a cgroup, or pressure/memory under /proc). The
 * kernel decides which windows the opener may use, so this tries the requested one first and
 * falls back to the unprivileged form on EINVAL. Returns 0 with ret filled, -EOPNOTSUPP or
 * -ENOENT when PSI is off, or -errno. */
int psi_trigger_open(int dirfd, const char *name, const PsiTrigger *t, PsiTriggerFd *ret);

typedef enum PsiEvent {
        PSI_EVENT_NONE,
        PSI_EVENT_FIRED,
        PSI_EVENT_GONE, /* the source is gone (cgroup removed, PSI disabled): re-register or poll */
} PsiEvent;

/* What epoll's revents for a trigger fd mean. For PSI, EPOLLERR marks a dead trigger (unlike
 * kernfs files such as cgroup.events, where POLLERR accompanies every change). */
PsiEvent psi_trigger_event(uint32_t revents);
