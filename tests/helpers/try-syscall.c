/* SPDX-License-Identifier: MIT */
/* try-syscall: makes system calls with arguments that cannot do harm even as root (bad
 * pointers, bad fds, invalid flags or magic numbers) and prints, per call, "NAME RESULT": "ok",
 * an errno name ("EPERM", "ENOSYS", "EFAULT", …) or the signal that killed it ("SIGSYS"). Each
 * call runs in its own forked child so that a call the filter punishes with a kill does not
 * end the list. With -x, the first NAME runs in this process, so the caller sees the kill.
 *
 *   try-syscall [-x] NAME...
 *
 * Exit status: 0, or 2 for an unknown name. */
#include <errno.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BAD ((long)1) /* an address that faults: the kernel reports EFAULT, nothing is touched */

typedef struct Case {
        const char *name;
        long (*fn)(void);
} Case;

static long clone_flags(unsigned long flag)
{
        /* CLONE_SIGHAND without CLONE_VM is always EINVAL, so no process is ever created; a
         * filter that looks at the namespace bit answers first. */
        return syscall(SYS_clone, flag | CLONE_SIGHAND, 0, 0, 0, 0);
}

static long int80_getpid(void)
{
#if defined(__x86_64__)
        long ret;

        /* i386 getpid (20) through the 32-bit entry: a foreign ABI for an x86_64 filter. */
        __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory", "r8", "r9", "r10", "r11");
        if (ret < 0 && ret > -4096) {
                errno = (int)-ret;
                return -1;
        }
        return ret;
#else
        errno = ENOSYS; /* the foreign-ABI cases are written for x86_64 */
        return -1;
#endif
}

static void *int80_thread_main(void *arg)
{
        *(long *)arg = int80_getpid();
        return NULL;
}

/* The same from a second thread: killing only that thread (SECCOMP_RET_KILL_THREAD) would let
 * the process carry on, half broken; the whole process has to die. */
static long int80_in_thread(void)
{
        pthread_t t;
        long r = -1;

        if (pthread_create(&t, NULL, int80_thread_main, &r) != 0 || pthread_join(t, NULL) != 0) {
                errno = EAGAIN;
                return -1;
        }
        return 0; /* the process survived */
}

/* clang-format off */
#define C(n, expr) static long try_##n(void) { return (expr); }
C(mount, syscall(SYS_mount, BAD, BAD, BAD, 0, BAD))
C(umount2, syscall(SYS_umount2, BAD, 0))
C(pivot_root, syscall(SYS_pivot_root, BAD, BAD))
C(chroot, syscall(SYS_chroot, BAD))
C(unshare, syscall(SYS_unshare, 1L)) /* not a valid unshare flag: EINVAL */
C(setns, syscall(SYS_setns, -1, 0))
C(open_tree, syscall(SYS_open_tree, -1, BAD, 0))
C(move_mount, syscall(SYS_move_mount, -1, BAD, -1, BAD, 0))
C(fsopen, syscall(SYS_fsopen, BAD, 0))
C(fsconfig, syscall(SYS_fsconfig, -1, 0, 0, 0, 0))
C(fsmount, syscall(SYS_fsmount, -1, 0, 0))
C(fspick, syscall(SYS_fspick, -1, BAD, 0))
C(mount_setattr, syscall(SYS_mount_setattr, -1, BAD, 0, 0, 0))
C(clone3, syscall(SYS_clone3, 0, 0))
C(clone_newuser, clone_flags(CLONE_NEWUSER))
C(clone_newns, clone_flags(CLONE_NEWNS))
C(clone_newpid, clone_flags(CLONE_NEWPID))
C(clone_newnet, clone_flags(CLONE_NEWNET))
C(clone_newipc, clone_flags(CLONE_NEWIPC))
C(clone_newuts, clone_flags(CLONE_NEWUTS))
C(clone_newcgroup, clone_flags(CLONE_NEWCGROUP))
C(clone_plain, clone_flags(0))
C(kexec_load, syscall(SYS_kexec_load, 0, 0, 0, 0xffff0000UL))
C(kexec_file_load, syscall(SYS_kexec_file_load, -1, -1, 0, 0, 0xffff0000UL))
C(init_module, syscall(SYS_init_module, 0, 0, 0))
C(finit_module, syscall(SYS_finit_module, -1, 0, 0))
C(delete_module, syscall(SYS_delete_module, BAD, 0))
C(reboot, syscall(SYS_reboot, 0, 0, 0, 0)) /* wrong magic: EINVAL */
C(swapon, syscall(SYS_swapon, BAD, 0))
C(swapoff, syscall(SYS_swapoff, BAD))
C(iopl, syscall(SYS_iopl, 4)) /* levels are 0-3 */
C(ioperm, syscall(SYS_ioperm, 0, 0, 0))
C(acct, syscall(SYS_acct, BAD))
C(quotactl, syscall(SYS_quotactl, 0, BAD, 0, 0))
C(quotactl_fd, syscall(SYS_quotactl_fd, -1, 0, 0, 0))
C(settimeofday, syscall(SYS_settimeofday, BAD, 0))
C(clock_settime, syscall(SYS_clock_settime, CLOCK_REALTIME, BAD))
C(clock_adjtime, syscall(SYS_clock_adjtime, CLOCK_REALTIME, BAD))
C(adjtimex, syscall(SYS_adjtimex, BAD))
C(sethostname, syscall(SYS_sethostname, BAD, 1))
C(setdomainname, syscall(SYS_setdomainname, BAD, 1))
C(nfsservctl, syscall(SYS_nfsservctl, 0, 0, 0))
C(uselib, syscall(SYS_uselib, BAD))
C(lookup_dcookie, syscall(SYS_lookup_dcookie, 0, 0, 0))
C(modify_ldt, syscall(SYS_modify_ldt, 0, 0, 0)) /* read 0 bytes of the LDT */
C(ptrace, syscall(SYS_ptrace, 0xdead, 0, 0, 0))
C(process_vm_readv, syscall(SYS_process_vm_readv, getpid(), 0, 0, 0, 0, 1))
C(process_vm_writev, syscall(SYS_process_vm_writev, getpid(), 0, 0, 0, 0, 1))
C(pidfd_getfd, syscall(SYS_pidfd_getfd, -1, 0, 0))
C(kcmp, syscall(SYS_kcmp, getpid(), getpid(), 99, 0, 0))
C(perf_event_open, syscall(SYS_perf_event_open, BAD, 0, -1, -1, 0))
C(bpf, syscall(SYS_bpf, 0xffff, 0, 0))
C(userfaultfd, syscall(SYS_userfaultfd, 0xffffffffUL))
C(syslog, syscall(SYS_syslog, 99, 0, 0))
C(fanotify_init, syscall(SYS_fanotify_init, 0xffffffffUL, 0))
C(open_by_handle_at, syscall(SYS_open_by_handle_at, -1, BAD, 0))
C(name_to_handle_at, syscall(SYS_name_to_handle_at, -1, BAD, BAD, BAD, 0))
C(add_key, syscall(SYS_add_key, BAD, BAD, 0, 0, 0))
C(keyctl, syscall(SYS_keyctl, 0xffff, 0, 0, 0, 0))
C(request_key, syscall(SYS_request_key, BAD, BAD, 0, 0))
C(io_uring_setup, syscall(SYS_io_uring_setup, 0, BAD))
C(io_uring_enter, syscall(SYS_io_uring_enter, -1, 0, 0, 0, 0, 0))
C(io_uring_register, syscall(SYS_io_uring_register, -1, 0, 0, 0))
C(ioctl_tiocsti, syscall(SYS_ioctl, -1, (unsigned long)TIOCSTI, BAD))
C(ioctl_tiocsti_high, syscall(SYS_ioctl, -1, (1UL << 32) | TIOCSTI, BAD)) /* CVE-2017-5226 */
C(ioctl_tioclinux, syscall(SYS_ioctl, -1, (unsigned long)TIOCLINUX, BAD))
C(ioctl_fionread, syscall(SYS_ioctl, -1, (unsigned long)FIONREAD, BAD))
C(personality_query, syscall(SYS_personality, 0xffffffffUL))
C(personality_linux, syscall(SYS_personality, (unsigned long)PER_LINUX))
C(personality_linux32, syscall(SYS_personality, (unsigned long)PER_LINUX32))
C(personality_norandom, syscall(SYS_personality, (unsigned long)ADDR_NO_RANDOMIZE))
C(personality_high, syscall(SYS_personality, 1UL << 32))
C(int80, int80_getpid())
C(int80_thread, int80_in_thread())
C(x32, syscall(0x40000000L | SYS_getpid)) /* __X32_SYSCALL_BIT */
C(getpid, syscall(SYS_getpid))
#undef C
/* clang-format on */

#define E(n)                \
        {                   \
#n, try_##n \
        }
static const Case cases[] = {
        E(mount),
        E(umount2),
        E(pivot_root),
        E(chroot),
        E(unshare),
        E(setns),
        E(open_tree),
        E(move_mount),
        E(fsopen),
        E(fsconfig),
        E(fsmount),
        E(fspick),
        E(mount_setattr),
        E(clone3),
        E(clone_newuser),
        E(clone_newns),
        E(clone_newpid),
        E(clone_newnet),
        E(clone_newipc),
        E(clone_newuts),
        E(clone_newcgroup),
        E(clone_plain),
        E(kexec_load),
        E(kexec_file_load),
        E(init_module),
        E(finit_module),
        E(delete_module),
        E(reboot),
        E(swapon),
        E(swapoff),
        E(iopl),
        E(ioperm),
        E(acct),
        E(quotactl),
        E(quotactl_fd),
        E(settimeofday),
        E(clock_settime),
        E(clock_adjtime),
        E(adjtimex),
        E(sethostname),
        E(setdomainname),
        E(nfsservctl),
        E(uselib),
        E(lookup_dcookie),
        E(modify_ldt),
        E(ptrace),
        E(process_vm_readv),
        E(process_vm_writev),
        E(pidfd_getfd),
        E(kcmp),
        E(perf_event_open),
        E(bpf),
        E(userfaultfd),
        E(syslog),
        E(fanotify_init),
        E(open_by_handle_at),
        E(name_to_handle_at),
        E(add_key),
        E(keyctl),
        E(request_key),
        E(io_uring_setup),
        E(io_uring_enter),
        E(io_uring_register),
        E(ioctl_tiocsti),
        E(ioctl_tiocsti_high),
        E(ioctl_tioclinux),
        E(ioctl_fionread),
        E(personality_query),
        E(personality_linux),
        E(personality_linux32),
        E(personality_norandom),
        E(personality_high),
        E(int80),
        E(int80_thread),
        E(x32),
        E(getpid),
};
#undef E

static const Case *find_case(const char *name)
{
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                if (strcmp(cases[i].name, name) == 0)
                        return &cases[i];
        return NULL;
}

static void report(const Case *c)
{
        long r;

        errno = 0;
        r = c->fn();
        if (r >= 0)
                dprintf(STDOUT_FILENO, "%s ok\n", c->name);
        else
                dprintf(STDOUT_FILENO, "%s %s\n", c->name, strerrorname_np(errno) ?: "E?");
}

int main(int argc, char **argv)
{
        int first = 1;
        bool direct = argc > 1 && strcmp(argv[1], "-x") == 0;

        if (direct)
                first = 2;
        for (int i = first; i < argc; i++) {
                const Case *c = find_case(argv[i]);
                int status;
                pid_t pid;

                if (!c) {
                        dprintf(STDERR_FILENO, "try-syscall: unknown call '%s'\n", argv[i]);
                        return 2;
                }
                if (direct) {
                        report(c);
                        return 0;
                }
                pid = fork();
                if (pid < 0) {
                        dprintf(STDOUT_FILENO, "%s fork-failed\n", c->name);
                        continue;
                }
                if (pid == 0) {
                        report(c);
                        _exit(0);
                }
                if (waitpid(pid, &status, 0) < 0)
                        dprintf(STDOUT_FILENO, "%s wait-failed\n", c->name);
                else if (WIFSIGNALED(status))
                        dprintf(STDOUT_FILENO, "%s SIG%s\n", c->name, sigabbrev_np(WTERMSIG(status)) ?: "?");
        }
        return 0;
}
