/* SPDX-License-Identifier: MIT */
#pragma once

#include <linux/filter.h>

#include "policies/policy.h"

/* The stage sandbox's system call filter: a default-allow denylist for arbitrary transcription
 * commands (reference/cgroup-v2.md §D). It is built once in the parent with libseccomp and
 * handed to spawn_process() as a plain BPF program, because libseccomp allocates and must not
 * run in a forked child.
 *
 *   EPERM         mount/namespace/VFS calls, clone with a namespace flag, time and host name
 *                 setters, swap, I/O ports, ptrace and cross-process access, perf, bpf,
 *                 userfaultfd, syslog, fanotify, file handles, keyrings, modify_ldt,
 *                 ioctl TIOCSTI/TIOCLINUX, personality other than PER_LINUX (queries allowed)
 *   ENOSYS        clone3, the new mount API and io_uring: callers that probe them fall back
 *                 to the older interface only on ENOSYS (glibc's clone3 -> clone for threads)
 *   KILL_PROCESS  kexec, kernel modules and reboot, which no stage has a reason to call, and
 *                 any system call of a foreign ABI (i386 int 0x80, x32)
 */

/* Fills ret with the program for mode: SECCOMP_MODE_OFF gives an empty program (len 0,
 * filter NULL), which spawn_process() treats as "no filter". Returns 0, -ENOMEM, -EINVAL for
 * an unknown mode, or the -errno of a libseccomp call that failed. */
int seccomp_filter_build(SeccompMode mode, struct sock_fprog *ret);

/* Frees the program and leaves it empty; safe on an empty program. */
void seccomp_filter_free(struct sock_fprog *prog);
