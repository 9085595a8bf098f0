/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/epoll.h>

#include "common/macro.h"
#include "governor/psi.h"

int psi_trigger_format(const PsiTrigger *t, char *buf, size_t size)
{
        int n = snprintf(buf, size, "%s %" PRIu64 " %" PRIu64, t->kind == PSI_FULL ? "full" : "some",
                t->stall_usec, t->window_usec);

        return n < 0 || (size_t)n >= size ? -ENOBUFS : n;
}

PsiTrigger psi_trigger_unprivileged(const PsiTrigger *t)
{
        const usec_t step = 2 * USEC_PER_SEC, max = 10 * USEC_PER_SEC;
        PsiTrigger u = *t;

        if (t->window_usec % step == 0 && t->window_usec >= step)
                return u;
        u.window_usec = MIN(((t->window_usec + step - 1) / step) * step, max);
        if (u.window_usec < step)
                u.window_usec = step;
        /* Keep the stall share of the window, so "150ms in 1s" becomes "300ms in 2s". */
        u.stall_usec = t->window_usec
                ? (usec_t)((unsigned __int128)t->stall_usec * u.window_usec / t->window_usec)
                : 0;
        u.stall_usec = CLAMP(u.stall_usec, (usec_t)1, u.window_usec);
        return u;
}

static int try_register(int dirfd, const char *name, const PsiTrigger *t)
{
        _cleanup_close_ int fd = -EBADF;
        char line[64];
        int n = psi_trigger_format(t, line, sizeof(line));

        if (n < 0)
                return n;
        fd = openat(dirfd, name, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        /* The procfs handler overwrites the last byte written with NUL: send the NUL too. */
        if (write(fd, line, (size_t)n + 1) < 0)
                return -errno;
        return TAKE_FD(fd);
}

int psi_trigger_open(int dirfd, const char *name, const PsiTrigger *t, PsiTriggerFd *ret)
{
        PsiTrigger u;
        int fd = try_register(dirfd, name, t);

        if (fd >= 0) {
                *ret = (PsiTriggerFd){ .fd = fd, .trigger = *t };
                return 0;
        }
        if (fd != -EINVAL && fd != -EPERM && fd != -EACCES)
                return fd;
        u = psi_trigger_unprivileged(t);
        if (u.window_usec == t->window_usec && u.stall_usec == t->stall_usec)
                return fd;
        fd = try_register(dirfd, name, &u);
        if (fd < 0)
                return fd;
        *ret = (PsiTriggerFd){ .fd = fd, .trigger = u, .adjusted = true };
        return 0;
}

PsiEvent psi_trigger_event(uint32_t revents)
{
        if (revents & (EPOLLERR | EPOLLHUP))
                return PSI_EVENT_GONE;
        if (revents & EPOLLPRI)
                return PSI_EVENT_FIRED;
        return PSI_EVENT_NONE;
}
