/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* 'memgov setup' for hosts without systemd: a parent cgroup below the cgroup2 root with memory
 * and pids enabled from the root down, handed to the service user, made with libcgroup. The
 * daemon itself never uses libcgroup: its cgroup I/O is direct, on dirfds. */

typedef struct CgSetupResult {
        char path[512];    /* the cgroup's path under the mount, "/memgov" */
        unsigned repaired; /* ownership/controller fixes libcgroup left undone */
} CgSetupResult;

/* Whether name is a usable cgroup path below the root: components of [A-Za-z0-9._-], no "."
 * or ".." components, no empty components, at most 255 bytes. */
int cg_setup_name_valid(const char *name);

/* Creates mount/name with libcgroup, owned by uid:gid, then checks (and where needed repairs)
 * the result on the filesystem through fs_fd: the folder exists, memory and pids are offered in
 * its cgroup.controllers, and the folder, cgroup.procs, cgroup.subtree_control and
 * cgroup.threads belong to uid:gid. mount is the cgroup2 mount point (from discovery).
 * Returns 0, or -errno with a one-line reason in err. */
int cg_setup_parent(int fs_fd, const char *mount, const char *name, uid_t uid, gid_t gid, CgSetupResult *ret,
        char *err, size_t errlen);
