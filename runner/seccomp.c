/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/stat.h>

#include "common/macro.h"
#include "runner/seccomp.h"

typedef enum DenyAction {
        DENY_EPERM,
        DENY_ENOSYS,
        DENY_KILL,
} DenyAction;

typedef struct DenyRule {
        int nr;
        DenyAction action;
} DenyRule;

/* Unconditional denials. SCMP_SYS() of a call that does not exist on the build architecture
 * (umount, vm86 on x86_64) gives a negative pseudo number: libseccomp then adds nothing or
 * reports -EFAULT/-EDOM, which add_rule() skips. */
static const DenyRule deny_rules[] = {
        /* Mounts and namespaces: a stage never needs its own view of the file system. */
        { SCMP_SYS(mount), DENY_EPERM },
        { SCMP_SYS(umount), DENY_EPERM },
        { SCMP_SYS(umount2), DENY_EPERM },
        { SCMP_SYS(pivot_root), DENY_EPERM },
        { SCMP_SYS(chroot), DENY_EPERM },
        { SCMP_SYS(unshare), DENY_EPERM },
        { SCMP_SYS(setns), DENY_EPERM },

        /* The new mount API could rebuild what the rules above deny (CVE-2021-41133); ENOSYS
         * makes libmount and friends use the old calls, which then get EPERM. */
        { SCMP_SYS(open_tree), DENY_ENOSYS },
        { SCMP_SYS(move_mount), DENY_ENOSYS },
        { SCMP_SYS(fsopen), DENY_ENOSYS },
        { SCMP_SYS(fsconfig), DENY_ENOSYS },
        { SCMP_SYS(fsmount), DENY_ENOSYS },
        { SCMP_SYS(fspick), DENY_ENOSYS },
        { SCMP_SYS(mount_setattr), DENY_ENOSYS },

        /* BPF cannot look into struct clone_args, so namespace flags could not be filtered;
         * glibc (pthread_create, fork in 2.34+) retries with clone() only on ENOSYS. With EPERM
         * Python cannot start a thread. */
        { SCMP_SYS(clone3), DENY_ENOSYS },

        /* Replacing the kernel or its code. They need CAP_SYS_BOOT or CAP_SYS_MODULE, which a
         * stage never holds, so a legitimate program cannot depend on them: a caller is either
         * probing for an exploit or is not a transcription tool, and a SIGSYS death is a signal
         * exit the runner records, where EPERM would pass unnoticed. */
        { SCMP_SYS(kexec_load), DENY_KILL },
        { SCMP_SYS(kexec_file_load), DENY_KILL },
        { SCMP_SYS(init_module), DENY_KILL },
        { SCMP_SYS(finit_module), DENY_KILL },
        { SCMP_SYS(delete_module), DENY_KILL },
        { SCMP_SYS(reboot), DENY_KILL },

        /* Global kernel state. EPERM rather than a kill: several have read-only uses that
         * ordinary libraries make (adjtimex/clock_adjtime with modes 0 behind ntp_gettime(),
         * quotactl queries in disk-usage code), and those expect a permission error. */
        { SCMP_SYS(swapon), DENY_EPERM },
        { SCMP_SYS(swapoff), DENY_EPERM },
        { SCMP_SYS(iopl), DENY_EPERM },
        { SCMP_SYS(ioperm), DENY_EPERM },
        { SCMP_SYS(acct), DENY_EPERM },
        { SCMP_SYS(quotactl), DENY_EPERM },
        { SCMP_SYS(quotactl_fd), DENY_EPERM },
        { SCMP_SYS(settimeofday), DENY_EPERM },
        { SCMP_SYS(clock_settime), DENY_EPERM },
        { SCMP_SYS(clock_adjtime), DENY_EPERM },
        { SCMP_SYS(adjtimex), DENY_EPERM },
        { SCMP_SYS(sethostname), DENY_EPERM },
        { SCMP_SYS(setdomainname), DENY_EPERM },
        { SCMP_SYS(nfsservctl), DENY_EPERM },
        { SCMP_SYS(uselib), DENY_EPERM },
        { SCMP_SYS(vm86), DENY_EPERM },
        { SCMP_SYS(vm86old), DENY_EPERM },
        { SCMP_SYS(lookup_dcookie), DENY_EPERM },
        { SCMP_SYS(modify_ldt), DENY_EPERM },

        /* Reaching into other processes, including other stages running as the same user. */
        { SCMP_SYS(ptrace), DENY_EPERM },
        { SCMP_SYS(process_vm_readv), DENY_EPERM },
        { SCMP_SYS(process_vm_writev), DENY_EPERM },
        { SCMP_SYS(pidfd_getfd), DENY_EPERM },
        { SCMP_SYS(kcmp), DENY_EPERM },

        /* Kernel attack surface with a long CVE record and no use in a transcriber. */
        { SCMP_SYS(perf_event_open), DENY_EPERM },
        { SCMP_SYS(bpf), DENY_EPERM },
        { SCMP_SYS(userfaultfd), DENY_EPERM },
        { SCMP_SYS(syslog), DENY_EPERM },
        { SCMP_SYS(fanotify_init), DENY_EPERM },
        { SCMP_SYS(open_by_handle_at), DENY_EPERM },
        { SCMP_SYS(name_to_handle_at), DENY_EPERM },
        { SCMP_SYS(add_key), DENY_EPERM },
        { SCMP_SYS(keyctl), DENY_EPERM },
        { SCMP_SYS(request_key), DENY_EPERM },

        /* ENOSYS: liburing users (and Python 3.12+ asyncio back ends) fall back to epoll. */
        { SCMP_SYS(io_uring_setup), DENY_ENOSYS },
        { SCMP_SYS(io_uring_enter), DENY_ENOSYS },
        { SCMP_SYS(io_uring_register), DENY_ENOSYS },
};

static const uint64_t namespace_flags[] = {
        CLONE_NEWUSER,
        CLONE_NEWNS,
        CLONE_NEWPID,
        CLONE_NEWNET,
        CLONE_NEWIPC,
        CLONE_NEWUTS,
        CLONE_NEWCGROUP,
};

static uint32_t deny_action(DenyAction a)
{
        switch (a) {
        case DENY_EPERM:
                return SCMP_ACT_ERRNO(EPERM);
        case DENY_ENOSYS:
                return SCMP_ACT_ERRNO(ENOSYS);
        case DENY_KILL:
                return SCMP_ACT_KILL_PROCESS;
        }
        return SCMP_ACT_KILL_PROCESS;
}

static int add_rule(
        scmp_filter_ctx ctx, uint32_t action, int nr, unsigned n_args, const struct scmp_arg_cmp *args)
{
        int r = seccomp_rule_add_array(ctx, action, nr, n_args, args);

        /* -EFAULT (pseudo syscall number) and -EDOM (no such call on this architecture) mean
         * the call cannot be made here, so there is nothing to deny. */
        if (r == -EFAULT || r == -EDOM)
                return 0;
        return r;
}

/* personality(2) takes an unsigned int persona, and 0xffffffff only queries it; every value
 * but that and PER_LINUX (0) changes the execution domain or the address-space layout
 * (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, …) and gets EPERM. libseccomp 2.5 takes one
 * comparison per argument and rule, and rules are ORed, so "v != 0 && v != 0xffffffff" is
 * spelt as a union: any v above 32 bits, plus, for each bit i, "bit i set and bit i+1
 * (mod 32) clear". A 32-bit value other than 0 and 0xffffffff always has such a 1→0 step
 * somewhere around the ring, and those two never do. */
static int add_personality_rules(scmp_filter_ctx ctx)
{
        struct scmp_arg_cmp cmp = SCMP_A0(SCMP_CMP_GT, UINT64_C(0xffffffff));
        int r;

        r = add_rule(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1, &cmp);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < 32; i++) {
                uint64_t set = UINT64_C(1) << i, clear = UINT64_C(1) << ((i + 1) % 32);

                cmp = (struct scmp_arg_cmp)SCMP_A0(SCMP_CMP_MASKED_EQ, set | clear, set);
                r = add_rule(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1, &cmp);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int add_argument_rules(scmp_filter_ctx ctx)
{
        /* The ioctl request is an unsigned int in the kernel but a full register here: mask it,
         * or setting a high bit would slip past (CVE-2017-5226). TIOCSTI pushes input into the
         * controlling terminal, TIOCLINUX can read and paste the console (CVE-2023-28100). */
        static const unsigned long ioctls[] = { TIOCSTI, TIOCLINUX };
        struct scmp_arg_cmp cmp;
        int r;

        /* On x86_64 the clone flags are arg0 (s390 swaps the first two arguments; only the
         * native architecture is in this filter). */
        FOREACH_ARRAY (f, namespace_flags, ELEMENTSOF(namespace_flags)) {
                cmp = (struct scmp_arg_cmp)SCMP_A0(SCMP_CMP_MASKED_EQ, *f, *f);
                r = add_rule(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, &cmp);
                if (r < 0)
                        return r;
        }

        FOREACH_ARRAY (req, ioctls, ELEMENTSOF(ioctls)) {
                cmp = (struct scmp_arg_cmp)SCMP_A1(SCMP_CMP_MASKED_EQ, UINT64_C(0xffffffff), *req);
                r = add_rule(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1, &cmp);
                if (r < 0)
                        return r;
        }

        return add_personality_rules(ctx);
}

/* libseccomp 2.5 can only export to a file descriptor; a memfd keeps it off the disk. */
static int export_program(scmp_filter_ctx ctx, struct sock_fprog *ret)
{
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ struct sock_filter *insns = NULL;
        struct stat st;
        size_t n;
        ssize_t k;
        int r;

        fd = memfd_create("memgov-seccomp", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return r;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_size <= 0 || st.st_size % (off_t)sizeof(struct sock_filter) != 0)
                return -EIO;
        n = (size_t)st.st_size / sizeof(struct sock_filter);
        if (n > BPF_MAXINSNS)
                return -E2BIG;

        insns = malloc(n * sizeof(struct sock_filter));
        if (!insns)
                return -ENOMEM;
        k = pread(fd, insns, n * sizeof(struct sock_filter), 0);
        if (k < 0)
                return -errno;
        if ((size_t)k != n * sizeof(struct sock_filter))
                return -EIO;

        *ret = (struct sock_fprog){ .len = (unsigned short)n, .filter = TAKE_PTR(insns) };
        return 0;
}

static void filter_ctx_releasep(scmp_filter_ctx *ctx)
{
        if (*ctx)
                seccomp_release(*ctx);
}

int seccomp_filter_build(SeccompMode mode, struct sock_fprog *ret)
{
        _cleanup_(filter_ctx_releasep) scmp_filter_ctx ctx = NULL;
        int r;

        if (!ret)
                return -EINVAL;
        *ret = (struct sock_fprog){};

        switch (mode) {
        case SECCOMP_MODE_OFF:
                return 0;
        case SECCOMP_MODE_DEFAULT:
                break;
        case _SECCOMP_MODE_MAX:
        default:
                return -EINVAL;
        }

        /* seccomp_init() adds only the native architecture: a system call through another ABI
         * (i386 int 0x80, x32) meets the bad-arch action and kills the whole process, instead
         * of running unfiltered or killing one thread of a process that then limps on. */
        ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx)
                return -ENOMEM;
        r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
        if (r < 0)
                return r;
        /* A binary tree over the syscall numbers keeps the per-call cost logarithmic for the
         * allowed calls, which are nearly all of them. Only an optimisation: keep going if this
         * libseccomp refuses it. */
        (void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);

        FOREACH_ARRAY (rule, deny_rules, ELEMENTSOF(deny_rules)) {
                r = add_rule(ctx, deny_action(rule->action), rule->nr, 0, NULL);
                if (r < 0)
                        return r;
        }
        r = add_argument_rules(ctx);
        if (r < 0)
                return r;

        return export_program(ctx, ret);
}

void seccomp_filter_free(struct sock_fprog *prog)
{
        if (!prog)
                return;
        free(prog->filter);
        *prog = (struct sock_fprog){};
}
