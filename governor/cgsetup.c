/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <libcgroup.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "governor/cgsetup.h"
#include "governor/discover.h"

int cg_setup_name_valid(const char *name)
{
        const char *p = name;

        if (isempty(name) || strlen(name) > 255 || name[0] == '/')
                return 0;
        while (*p) {
                size_t n = strcspn(p, "/");
                if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return 0;
                for (size_t i = 0; i < n; i++)
                        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
                                    (p[i] >= '0' && p[i] <= '9') || p[i] == '.' || p[i] == '_' ||
                                    p[i] == '-'))
                                return 0;
                p += n;
                if (*p == '/') {
                        p++;
                        if (!*p)
                                return 0;
                }
        }
        return 1;
}

/* libcgroup's error codes are its own; ECGOTHER carries the errno. */
static int cg_error(int code)
{
        int e;

        if (code == 0)
                return 0;
        if (code == ECGOTHER) {
                e = cgroup_get_last_errno();
                return e > 0 ? -e : -EIO;
        }
        return -EIO;
}

static int create_with_libcgroup(const char *name, uid_t uid, gid_t gid, char *err, size_t errlen)
{
        struct cgroup *cg;
        int code;

        code = cgroup_init();
        if (code != 0) {
                snprintf(err, errlen, "libcgroup cannot initialise: %s", cgroup_strerror(code));
                return cg_error(code);
        }
        cg = cgroup_new_cgroup(name);
        if (!cg)
                return -ENOMEM;
        if (!cgroup_add_controller(cg, "memory") || !cgroup_add_controller(cg, "pids")) {
                cgroup_free(&cg);
                snprintf(err, errlen, "libcgroup: cannot add the memory and pids controllers");
                return -EINVAL;
        }
        /* Tasks and control files both go to the service user: it moves itself in and
         * subdivides. */
        cgroup_set_uid_gid(cg, uid, gid, uid, gid);
        code = cgroup_create_cgroup(cg, 0);
        cgroup_free(&cg);
        if (code != 0) {
                int r = cg_error(code);
                snprintf(err, errlen, "libcgroup cannot create %s: %s%s", name, cgroup_strerror(code),
                        r == -EBUSY ? " (an ancestor has processes of its own)" : "");
                return r < 0 ? r : -EIO;
        }
        return 0;
}

/* libcgroup 2.0.2 may report success without the result (ownership, enabled controllers):
 * check on the filesystem and repair what is missing. */
static int verify(int dirfd, uid_t uid, gid_t gid, CgSetupResult *res, char *err, size_t errlen)
{
        static const char *const files[] = { ".", "cgroup.procs", "cgroup.subtree_control",
                "cgroup.threads" };
        char ctrls[256];
        ssize_t n;

        n = read_virtual_at(dirfd, "cgroup.controllers", ctrls, sizeof(ctrls));
        if (n < 0) {
                snprintf(err, errlen, "the new cgroup has no readable cgroup.controllers: %s",
                        strerror((int)-n));
                return (int)n;
        }
        if (!gov_word_in_list(ctrls, "memory") || !gov_word_in_list(ctrls, "pids")) {
                ctrls[strcspn(ctrls, "\n")] = 0;
                snprintf(err, errlen,
                        "the new cgroup does not offer memory and pids (cgroup.controllers: %s)", ctrls);
                return -ENOENT;
        }
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                struct stat st;
                if (fstatat(dirfd, files[i], &st, 0) < 0) {
                        if (errno == ENOENT && !streq(files[i], "."))
                                continue; /* cgroup.threads is absent on old kernels */
                        snprintf(err, errlen, "cannot stat %s of the new cgroup: %s", files[i],
                                strerror(errno));
                        return -errno;
                }
                if (st.st_uid == uid && st.st_gid == gid)
                        continue;
                if (fchownat(dirfd, files[i], uid, gid, 0) < 0) {
                        snprintf(err, errlen, "cannot hand %s of the new cgroup to uid %d: %s", files[i],
                                (int)uid, strerror(errno));
                        return -errno;
                }
                res->repaired++;
        }
        return 0;
}

int cg_setup_parent(int fs_fd, const char *mount, const char *name, uid_t uid, gid_t gid, CgSetupResult *ret,
        char *err, size_t errlen)
{
        CgSetupResult res = {};
        char rel[1024];
        _cleanup_close_ int dirfd = -EBADF;
        int r;

        if (!cg_setup_name_valid(name)) {
                snprintf(err, errlen,
                        "'%s' is not a cgroup name: use letters, digits, '.', '_', '-', and '/' between parts",
                        name);
                return -EINVAL;
        }
        r = create_with_libcgroup(name, uid, gid, err, errlen);
        if (r < 0)
                return r;
        snprintf(rel, sizeof(rel), "%s/%s", mount[strspn(mount, "/")] ? mount + strspn(mount, "/") : ".",
                name);
        dirfd = openat(fs_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) {
                snprintf(err, errlen, "libcgroup reported success but %s/%s does not exist", mount, name);
                return -ENOENT;
        }
        r = verify(dirfd, uid, gid, &res, err, errlen);
        if (r < 0)
                return r;
        snprintf(res.path, sizeof(res.path), "/%s", name);
        *ret = res;
        return 0;
}
