/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>

#include "common/macro.h"
#include "governor/psi.h"
#include "tests/tap.h"

static PsiTrigger trig(PsiKind k, usec_t stall, usec_t window)
{
        return (PsiTrigger){ .kind = k, .stall_usec = stall, .window_usec = window };
}

TEST(format)
{
        char buf[64];
        PsiTrigger t = trig(PSI_SOME, 150000, 2000000);

        ASSERT_INT(psi_trigger_format(&t, buf, sizeof(buf)), ==, 19);
        ASSERT_STR(buf, "some 150000 2000000");
        t = trig(PSI_FULL, 1, 500000);
        ASSERT_INT(psi_trigger_format(&t, buf, sizeof(buf)), >, 0);
        ASSERT_STR(buf, "full 1 500000");
        ASSERT_INT(psi_trigger_format(&t, buf, 5), ==, -ENOBUFS);
        return 0;
}

TEST(unprivileged_windows)
{
        static const struct {
                usec_t stall, window, want_stall, want_window;
        } cases[] = {
                { 150000, 2000000, 150000, 2000000 },   /* already a multiple of 2 s */
                { 150000, 1000000, 300000, 2000000 },   /* share kept: 15 % */
                { 100000, 500000, 400000, 2000000 },    /* 20 % of 2 s */
                { 1000000, 3000000, 1333333, 4000000 }, /* rounded up */
                { 500000, 10000000, 500000, 10000000 }, /* max window */
                { 9000000, 9000000, 10000000, 10000000 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                PsiTrigger t = trig(PSI_SOME, cases[i].stall, cases[i].window),
                           u = psi_trigger_unprivileged(&t);
                ASSERT_U64(u.window_usec, cases[i].want_window);
                ASSERT_U64(u.stall_usec, cases[i].want_stall);
                ASSERT_TRUE(u.stall_usec <= u.window_usec && u.stall_usec > 0);
        }
        return 0;
}

TEST(events)
{
        ASSERT_INT(psi_trigger_event(EPOLLPRI | EPOLLIN | EPOLLOUT), ==, PSI_EVENT_FIRED);
        ASSERT_INT(psi_trigger_event(EPOLLPRI | EPOLLERR), ==, PSI_EVENT_GONE);
        ASSERT_INT(psi_trigger_event(0), ==, PSI_EVENT_NONE);
        return 0;
}

/* A real trigger on this kernel: registering works (widened to 2 s without CAP_SYS_RESOURCE),
 * and without memory pressure it stays quiet. Firing under real pressure is a VM scenario. */
static int real_trigger(const char *dir, const char *name)
{
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        PsiTrigger t = trig(PSI_SOME, 100000, 500000);
        PsiTriggerFd tf;
        struct pollfd p;
        int r;

        if (dfd < 0)
                return tap_skip("%s: %s", dir, strerror(errno));
        r = psi_trigger_open(dfd, name, &t, &tf);
        if (r == -EOPNOTSUPP || r == -ENOENT)
                return tap_skip("PSI is off on this kernel (%s/%s: %s)", dir, name, strerror(-r));
        ASSERT_INT(r, ==, 0);
        printf("# %s/%s: registered '%s %" PRIu64 " %" PRIu64 "'%s\n", dir, name,
                tf.trigger.kind == PSI_FULL ? "full" : "some", tf.trigger.stall_usec, tf.trigger.window_usec,
                tf.adjusted ? " (widened: no CAP_SYS_RESOURCE)" : "");
        ASSERT_TRUE(tf.adjusted ? tf.trigger.window_usec == 2000000 && tf.trigger.stall_usec == 400000
                                : tf.trigger.window_usec == 500000);
        p = (struct pollfd){ .fd = tf.fd, .events = POLLPRI };
        ASSERT_INT(poll(&p, 1, 300), ==, 0);
        safe_close(tf.fd);
        return 0;
}

TEST(real_trigger_system)
{
        return real_trigger("/proc", "pressure/memory");
}

TEST(real_trigger_cgroup)
{
        char path[256];
        FILE *f = fopen("/proc/self/cgroup", "re");
        char line[512], own[160] = "";

        ASSERT_TRUE(f);
        while (fgets(line, sizeof(line), f))
                if (strneq(line, "0::", 3)) {
                        line[strcspn(line, "\n")] = 0;
                        snprintf(own, sizeof(own), "%.150s", line + 3);
                }
        fclose(f);
        /* Per-cgroup PSI is a core v2 feature: it works on hybrid hosts too. */
        if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0)
                snprintf(path, sizeof(path), "/sys/fs/cgroup%s", streq(own, "/") ? "" : own);
        else
                snprintf(path, sizeof(path), "/sys/fs/cgroup/unified%s", streq(own, "/") ? "" : own);
        if (access(path, F_OK) < 0)
                return tap_skip("no cgroup2 directory for this process at %s", path);
        return real_trigger(path, "memory.pressure");
}

TEST(bad_trigger)
{
        _cleanup_close_ int dfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        PsiTrigger t = trig(PSI_SOME, 3000000, 2000000);
        PsiTriggerFd tf;
        int r;

        if (access("/proc/pressure/memory", F_OK) < 0)
                return tap_skip("no /proc/pressure/memory");
        /* The kernel refuses a stall longer than the window; that is reported, not hidden. */
        r = psi_trigger_open(dfd, "pressure/memory", &t, &tf);
        ASSERT_INT(r, ==, -EINVAL);
        return 0;
}

TAP_MAIN(T(format), T(unprivileged_windows), T(events), T(real_trigger_system), T(real_trigger_cgroup),
        T(bad_trigger))
