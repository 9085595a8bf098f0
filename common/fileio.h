/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Kernel virtual files (cgroupfs, procfs) are read with a single read(): the kernel generates
 * the whole content per read, so several reads could mix two snapshots. Returns the length
 * (buf is NUL-terminated), -EFBIG if buf may have been too small, or -errno. */
ssize_t read_virtual_fd(int fd, char *buf, size_t size);
ssize_t read_virtual_at(int dirfd, const char *name, char *buf, size_t size);

/* One write() of the whole string to an existing file (cgroup attribute semantics: the kernel
 * applies each write as a unit). Returns 0 or -errno (-EIO on a short write). */
int write_string_at(int dirfd, const char *name, const char *s);

/* Crash-safe replace: writes a temporary file in the same directory, fsyncs it, renames it over
 * name and fsyncs the directory. On failure the temporary file is removed and name is untouched.
 * Returns 0 or -errno. */
int write_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode);

/* Reads a regular file of at most max bytes into a new NUL-terminated buffer. Returns 0, -EFBIG
 * when it is larger, or -errno. */
int read_file_at(int dirfd, const char *name, size_t max, char **ret, size_t *ret_len);

/* Removes dirfd/name and, if it is a folder, everything below it, without following symlinks at
 * any level: each step opens the next folder relative to the previous one with O_NOFOLLOW, so
 * a concurrent symlink swap cannot lead it outside the tree (what path-based removal allows).
 * Returns 0 (also when name does not exist) or -errno. */
int rm_tree_at(int dirfd, const char *name);

/* Reads a regular file of at most max bytes, refusing symlinks, FIFOs and devices (for files a
 * less trusted user could have replaced). Returns 0, -ELOOP/-EINVAL for anything but a plain
 * file, -EFBIG, or -errno. */
int read_regular_file_at(int dirfd, const char *name, size_t max, char **ret, size_t *ret_len);
