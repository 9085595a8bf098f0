/* SPDX-License-Identifier: MIT */
#include <fcntl.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "governor/sampler.h"
#include "governor/tokens.h"

static int open_ro(int dirfd, const char *name)
{
        int fd;

        if (dirfd < 0)
                return -EBADF;
        fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        return fd < 0 ? -errno : fd;
}

int gov_sampler_open(GovSampler *s, int memory_fd, int pressure_fd, int proc_fd)
{
        char buf[256];
        PsiStats st;

        *s = GOV_SAMPLER_NULL;
        s->current_fd = open_ro(memory_fd, "memory.current");
        s->stat_fd = open_ro(memory_fd, "memory.stat");
        s->max_fd = open_ro(memory_fd, "memory.max");
        s->pressure_fd = open_ro(pressure_fd, "memory.pressure");
        /* Readable is not enough: with PSI off the cgroup file may exist but fail to read. */
        if (s->pressure_fd >= 0 &&
                (read_virtual_fd(s->pressure_fd, buf, sizeof(buf)) < 0 || psi_parse(buf, &st) < 0))
                s->pressure_fd = safe_close(s->pressure_fd);
        if (s->pressure_fd < 0) {
                s->pressure_fd = open_ro(proc_fd, "pressure/memory");
                s->pressure_is_system = s->pressure_fd >= 0;
        }
        if (s->current_fd == -EMFILE || s->pressure_fd == -EMFILE) {
                gov_sampler_close(s);
                return -EMFILE;
        }
        return 0;
}

void gov_sampler_close(GovSampler *s)
{
        safe_close(s->current_fd);
        safe_close(s->stat_fd);
        safe_close(s->max_fd);
        safe_close(s->pressure_fd);
        *s = GOV_SAMPLER_NULL;
}

int gov_sampler_read(GovSampler *s, GovSample *ret)
{
        /* memory.stat has ~50 lines on 6.x kernels; 4 KiB leaves room for newer ones. */
        char buf[4096];
        GovSample g = { .max_bytes = MEM_MAX };
        ssize_t n;
        int r;

        if (s->current_fd >= 0) {
                n = read_virtual_fd(s->current_fd, buf, sizeof(buf));
                if (n < 0)
                        return (int)n;
                r = mem_parse_value(buf, &g.current_bytes);
                if (r < 0)
                        return r;
                if (s->stat_fd >= 0) {
                        n = read_virtual_fd(s->stat_fd, buf, sizeof(buf));
                        if (n < 0)
                                return (int)n;
                        r = mem_parse_stat(buf, &g.stat);
                        if (r < 0)
                                return r;
                }
                if (s->max_fd >= 0) {
                        n = read_virtual_fd(s->max_fd, buf, sizeof(buf));
                        if (n < 0)
                                return (int)n;
                        r = mem_parse_value(buf, &g.max_bytes);
                        if (r < 0)
                                return r;
                }
                g.hard_bytes = gov_hard_usage(g.current_bytes, &g.stat);
                g.have_memory = true;
        }
        if (s->pressure_fd >= 0) {
                n = read_virtual_fd(s->pressure_fd, buf, sizeof(buf));
                if (n < 0)
                        return (int)n;
                r = psi_parse(buf, &g.psi);
                if (r < 0)
                        return r;
                g.have_psi = true;
        }
        *ret = g;
        return 0;
}
