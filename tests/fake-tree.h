/* SPDX-License-Identifier: MIT */
#pragma once

#include <limits.h>
#include <stddef.h>

/* A throw-away directory that looks like a cgroup v2 tree or a procfs subset, so that code doing
 * all its kernel-file I/O through dirfds can be tested without a real kernel interface: tests
 * lay out the files, run the code on the dirfd, then read back what it wrote. */
typedef struct FakeTree {
        char path[PATH_MAX];
        int fd; /* O_DIRECTORY fd of path */
} FakeTree;

/* Creates an empty tree under $TMPDIR. Returns 0 or -errno. */
int fake_tree_new(FakeTree *t);

/* Writes content to relpath, creating parent folders. Returns 0 or -errno. */
int fake_tree_write(FakeTree *t, const char *relpath, const char *content);

/* Reads relpath into buf (NUL-terminated). Returns the length or -errno. */
int fake_tree_read(FakeTree *t, const char *relpath, char *buf, size_t size);

/* Lays out a cgroup v2 directory at relpath ("" for the root) with the interface files a
 * delegated cgroup has: cgroup.controllers (controllers, e.g. "cpu memory pids"), an empty
 * cgroup.subtree_control and cgroup.procs, cgroup.events "populated 0\nfrozen 0", and for a
 * non-root cgroup with memory: memory.current/max/high/peak/stat/events/events.local/pressure,
 * memory.swap.max, memory.oom.group; with pids: pids.max. Returns 0 or -errno. */
int fake_tree_cgroup(FakeTree *t, const char *relpath, const char *controllers);

/* Removes the tree and everything in it. */
void fake_tree_free(FakeTree *t);
