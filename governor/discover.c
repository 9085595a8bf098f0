/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "governor/discover.h"
#include "governor/memstat.h"

const char *gov_mode_to_string(GovMode m)
{
        return m == GOV_MODE_CGROUP ? "cgroup" : "watchdog";
}

bool gov_word_in_list(const char *list, const char *word)
{
        size_t n = strlen(word);

        for (const char *p = list; (p = strstr(p, word)); p += n)
                if ((p == list || p[-1] == ' ' || p[-1] == ',') &&
                        (p[n] == 0 || p[n] == ' ' || p[n] == ',' || p[n] == '\n'))
                        return true;
        return false;
}

int gov_parse_proc_cgroup(const char *text, char *ret_path, size_t size, bool *ret_memory_v1)
{
        const char *line = text;
        bool found = false, memory_v1 = false;

        while (*line) {
                const char *end = strchrnul(line, '\n'), *c1 = memchr(line, ':', (size_t)(end - line)), *c2;
                if (c1 && (c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1)))) {
                        size_t plen = (size_t)(end - c2 - 1);
                        if (c1 - line == 1 && line[0] == '0' && c2 == c1 + 1) {
                                if (plen == 0 || plen >= size || c2[1] != '/')
                                        return -EINVAL;
                                memcpy(ret_path, c2 + 1, plen);
                                ret_path[plen] = 0;
                                found = true;
                        } else {
                                char ctrls[256];
                                size_t clen = MIN((size_t)(c2 - c1 - 1), sizeof(ctrls) - 1);
                                memcpy(ctrls, c1 + 1, clen);
                                ctrls[clen] = 0;
                                if (gov_word_in_list(ctrls, "memory"))
                                        memory_v1 = true;
                        }
                }
                line = *end ? end + 1 : end;
        }
        if (ret_memory_v1)
                *ret_memory_v1 = memory_v1;
        return found ? 0 : -ENOENT;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
        char *o = s;

        for (; *s; s++) {
                if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
                        s[3] >= '0' && s[3] <= '7') {
                        *o++ = (char)(((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
                        s += 3;
                } else
                        *o++ = *s;
        }
        *o = 0;
}

int gov_parse_mountinfo(
        const char *text, char *ret_mount, size_t size, bool *ret_readonly, bool *ret_v1_present)
{
        const char *line = text;
        bool found = false, v1 = false;

        while (*line) {
                const char *end = strchrnul(line, '\n');
                char buf[2048], *fields[16], *save = NULL, *sep;
                size_t n = 0, len = (size_t)(end - line);

                if (len < sizeof(buf)) {
                        memcpy(buf, line, len);
                        buf[len] = 0;
                        sep = strstr(buf, " - ");
                        if (sep) {
                                char *tail = sep + 3, *fstype, *source, *super;
                                *sep = 0;
                                for (char *f = strtok_r(buf, " ", &save); f && n < ELEMENTSOF(fields);
                                        f = strtok_r(NULL, " ", &save))
                                        fields[n++] = f;
                                fstype = strtok_r(tail, " ", &save);
                                source = fstype ? strtok_r(NULL, " ", &save) : NULL;
                                super = source ? strtok_r(NULL, " ", &save) : NULL;
                                if (n >= 6 && fstype && streq(fstype, "cgroup2") && !found) {
                                        unescape_octal(fields[4]);
                                        if (strlen(fields[4]) < size) {
                                                strcpy(ret_mount, fields[4]);
                                                if (ret_readonly)
                                                        *ret_readonly = gov_word_in_list(fields[5], "ro");
                                                found = true;
                                        }
                                } else if (n >= 6 && fstype && streq(fstype, "cgroup"))
                                        v1 = true;
                                (void)super;
                        }
                }
                line = *end ? end + 1 : end;
        }
        if (ret_v1_present)
                *ret_v1_present = v1;
        return found ? 0 : -ENOENT;
}

int gov_parse_proc_cgroups(const char *text, bool *ret_memory_v1)
{
        const char *line = text;

        *ret_memory_v1 = false;
        while (*line) {
                const char *end = strchrnul(line, '\n');
                char name[64];
                unsigned hier, num, enabled;
                if (sscanf(line, "%63s %u %u %u", name, &hier, &num, &enabled) == 4 && streq(name, "memory"))
                        *ret_memory_v1 = hier != 0 && enabled;
                line = *end ? end + 1 : end;
        }
        return 0;
}

_printf_(3, 4) static void problem(GovDiscovery *d, const char *fix, const char *fmt, ...)
{
        va_list ap;
        GovProblem *p;

        if (d->n_problems >= GOV_PROBLEMS_MAX)
                return;
        p = &d->problems[d->n_problems++];
        va_start(ap, fmt);
        vsnprintf(p->what, sizeof(p->what), fmt, ap);
        va_end(ap);
        snprintf(p->fix, sizeof(p->fix), "%s", fix);
}

/* "/sys/fs/cgroup" + "/memgov.service" relative to the fs root dirfd. */
static int open_cgroup_dir(int fs_fd, const char *mount, const char *path)
{
        char rel[1100];
        const char *m = mount + strspn(mount, "/"), *p = path + strspn(path, "/");

        snprintf(rel, sizeof(rel), "%s%s%s", *m ? m : ".", *p ? "/" : "", p);
        return openat(fs_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int gov_open_service_cgroup(int fs_fd, const GovDiscovery *d)
{
        int fd;

        if (!d->cgroup2_mount[0])
                return -ENOENT;
        fd = open_cgroup_dir(fs_fd, d->cgroup2_mount, d->service_cgroup);
        return fd < 0 ? -errno : fd;
}

static bool psi_readable(int dirfd, const char *name)
{
        char buf[256];
        PsiStats st;

        return read_virtual_at(dirfd, name, buf, sizeof(buf)) > 0 && psi_parse(buf, &st) == 0;
}

static void read_list(int dirfd, const char *name, char *buf, size_t size)
{
        ssize_t n = read_virtual_at(dirfd, name, buf, size);

        if (n < 0)
                buf[0] = 0;
        else
                buf[strcspn(buf, "\n")] = 0;
}

static void inspect_service(GovDiscovery *d, int fs_fd)
{
        _cleanup_close_ int fd = gov_open_service_cgroup(fs_fd, d);
        struct stat st;

        if (fd < 0) {
                problem(d, "check that /proc/self/cgroup and the cgroup2 mount agree (a cgroup namespace?)",
                        "cannot open own cgroup %s under %s: %s", d->service_cgroup, d->cgroup2_mount,
                        strerror(-fd));
                return;
        }
        read_list(fd, "cgroup.controllers", d->controllers, sizeof(d->controllers));
        read_list(fd, "cgroup.subtree_control", d->subtree_control, sizeof(d->subtree_control));
        d->has_memory = gov_word_in_list(d->controllers, "memory");
        d->has_pids = gov_word_in_list(d->controllers, "pids");
        /* The true root cgroup has no memory.current; a cgroup namespace's "/" does. */
        d->is_root_cgroup = streq(d->service_cgroup, "/") && fstatat(fd, "memory.current", &st, 0) < 0 &&
                fstatat(fd, "cgroup.events", &st, 0) < 0;
        /* The root cgroup is never delegated, whatever the file modes say. */
        d->delegated = !d->is_root_cgroup && !d->cgroup2_readonly &&
                faccessat(fd, ".", W_OK, AT_EACCESS) == 0 &&
                faccessat(fd, "cgroup.procs", W_OK, AT_EACCESS) == 0 &&
                faccessat(fd, "cgroup.subtree_control", W_OK, AT_EACCESS) == 0;
        d->psi_cgroup = psi_readable(fd, "memory.pressure");
}

static void decide(GovDiscovery *d, Enforcement enforcement)
{
        if (!d->cgroup2_mount[0])
                problem(d, "boot with systemd.unified_cgroup_hierarchy=1, or accept watchdog mode",
                        "no cgroup2 filesystem is mounted");
        else {
                if (d->memory_on_v1)
                        problem(d,
                                "boot with systemd.unified_cgroup_hierarchy=1 (or cgroup_no_v1=memory), or accept watchdog mode",
                                "the memory controller is bound to cgroup v1 (hybrid layout); cgroup2 at %s cannot limit memory",
                                d->cgroup2_mount);
                else if (!d->has_memory && !d->is_root_cgroup)
                        problem(d,
                                "run memgov as a systemd service with Delegate=yes, or prepare a parent with 'memgov setup'",
                                "the memory controller is not available in cgroup %s (cgroup.controllers: %s)",
                                d->service_cgroup, d->controllers[0] ? d->controllers : "none");
                if (d->cgroup2_readonly)
                        problem(d,
                                "give the container a private, writable cgroup namespace, or accept watchdog mode",
                                "the cgroup2 filesystem at %s is mounted read-only", d->cgroup2_mount);
                else if (d->is_root_cgroup)
                        problem(d,
                                "run memgov as a systemd service with Delegate=yes, or use 'memgov setup' and start memgov in the cgroup it creates",
                                "memgov runs in the root cgroup, which it must not subdivide");
                else if (!d->delegated)
                        problem(d,
                                "add Delegate=yes to the service unit, or 'memgov setup --user USER' for the user memgov runs as",
                                "cgroup %s is not delegated: its cgroup.procs or cgroup.subtree_control is not writable",
                                d->service_cgroup);
        }
        d->mode = d->n_problems == 0 && enforcement != ENFORCEMENT_WATCHDOG ? GOV_MODE_CGROUP
                                                                            : GOV_MODE_WATCHDOG;
}

int gov_discover(int proc_fd, int fs_fd, Enforcement enforcement, GovDiscovery *ret)
{
        GovDiscovery d = {};
        char buf[16384];
        bool v1_mem = false;
        ssize_t n;
        int r;

        n = read_virtual_at(proc_fd, "self/cgroup", buf, sizeof(buf));
        if (n < 0)
                return (int)n;
        r = gov_parse_proc_cgroup(buf, d.own_cgroup, sizeof(d.own_cgroup), &d.memory_on_v1);
        if (r == -ENOENT)
                d.own_cgroup[0] = 0;
        else if (r < 0)
                return r;

        n = read_virtual_at(proc_fd, "self/mountinfo", buf, sizeof(buf));
        if (n < 0 && n != -EFBIG)
                return (int)n;
        if (gov_parse_mountinfo(
                    buf, d.cgroup2_mount, sizeof(d.cgroup2_mount), &d.cgroup2_readonly, &d.hybrid) < 0)
                d.cgroup2_mount[0] = 0;
        if (read_virtual_at(proc_fd, "cgroups", buf, sizeof(buf)) > 0 &&
                gov_parse_proc_cgroups(buf, &v1_mem) == 0)
                d.memory_on_v1 = d.memory_on_v1 || v1_mem;
        d.psi_system = psi_readable(proc_fd, "pressure/memory");

        if (d.cgroup2_mount[0] && d.own_cgroup[0]) {
                const char *base = strrchr(d.own_cgroup, '/');
                /* A restarted daemon may already sit in supervisor/: manage its parent. */
                snprintf(d.service_cgroup, sizeof(d.service_cgroup), "%s", d.own_cgroup);
                if (base && streq(base, "/supervisor")) {
                        size_t plen = (size_t)(base - d.own_cgroup);
                        snprintf(d.service_cgroup, sizeof(d.service_cgroup), "%.*s", (int)(plen ? plen : 1),
                                d.own_cgroup);
                }
                inspect_service(&d, fs_fd);
        } else if (d.cgroup2_mount[0])
                problem(&d, "check /proc/self/cgroup",
                        "this process has no cgroup v2 membership (no 0:: line)");

        decide(&d, enforcement);
        *ret = d;
        if (enforcement == ENFORCEMENT_CGROUP && d.n_problems > 0)
                return -ENOTSUP;
        return 0;
}
