/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/macro.h"
#include "governor/cgsetup.h"
#include "governor/discover.h"

static void help(void)
{
        printf("Usage: memgov setup [--parent NAME] [--user USER]\n\n"
               "For hosts without systemd: creates the cgroup NAME (default: memgov) below the cgroup v2\n"
               "root with the memory and pids controllers enabled from the root down, and hands it to\n"
               "USER (default: memgov), the user the daemon runs as. Start memgov inside it, e.g.\n"
               "  echo $$ > /sys/fs/cgroup/memgov/cgroup.procs && exec memgov daemon\n"
               "memgov then keeps its own processes in NAME/supervisor and the stages in NAME/jobs.\n\n"
               "  -P --parent NAME   the cgroup to create, relative to the cgroup2 root\n"
               "  -u --user USER     who owns it\n"
               "  -h --help          show this help\n");
}

int verb_setup(int argc, char *argv[])
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "parent", required_argument, NULL, 'P' },
                { "user", required_argument, NULL, 'u' },
                {},
        };
        _cleanup_close_ int proc_fd = -EBADF, fs_fd = -EBADF;
        const char *parent = "memgov", *user = "memgov";
        char err[512] = "";
        struct passwd *pw;
        GovDiscovery d;
        CgSetupResult res;
        int c, r;

        while ((c = getopt_long(argc, argv, "hP:u:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return EXIT_OK;
                case 'P':
                        parent = optarg;
                        break;
                case 'u':
                        user = optarg;
                        break;
                default:
                        return usage_error("setup ", "invalid option");
                }
        if (optind != argc)
                return usage_error("setup ", "unexpected argument '%s'", argv[optind]);
        if (!cg_setup_name_valid(parent))
                return usage_error("setup ",
                        "--parent '%s' is not a cgroup name: letters, digits, '.', '_', '-', '/' between parts",
                        parent);
        pw = getpwnam(user);
        if (!pw) {
                log_error("setup: user '%s' does not exist; create it first (e.g. 'useradd --system %s')",
                        user, user);
                return EXIT_FAIL;
        }
        proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        fs_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (proc_fd < 0 || fs_fd < 0)
                return log_error_errno(errno, "setup: cannot open /proc or /: %m"), EXIT_UNAVAILABLE;
        r = gov_discover(proc_fd, fs_fd, ENFORCEMENT_AUTO, &d);
        if (r < 0 && r != -ENOTSUP)
                return log_error_errno(r, "setup: cannot inspect cgroups: %m"), EXIT_UNAVAILABLE;
        /* libcgroup 2.0.2 silently maps "memory" to v1 on hybrid hosts: refuse before it does. */
        if (!d.cgroup2_mount[0] || d.memory_on_v1) {
                log_error(
                        "setup: %s; fix: boot with systemd.unified_cgroup_hierarchy=1 (or cgroup_no_v1=memory)",
                        !d.cgroup2_mount[0] ? "no cgroup2 filesystem is mounted"
                                            : "the memory controller is bound to cgroup v1 on this host");
                return EXIT_UNAVAILABLE;
        }
        if (geteuid() != 0)
                log_warning(
                        "setup: not running as root; creating a cgroup below the root usually needs root");
        r = cg_setup_parent(fs_fd, d.cgroup2_mount, parent, pw->pw_uid, pw->pw_gid, &res, err, sizeof(err));
        if (r < 0) {
                log_error("setup: %s", err[0] ? err : strerror(-r));
                return EXIT_FAIL;
        }
        printf("created %s%s for user %s (memory and pids enabled)%s\n", d.cgroup2_mount, res.path, user,
                res.repaired ? "; fixed ownership libcgroup left undone" : "");
        printf("start memgov inside it:  echo $$ > %s%s/cgroup.procs && exec memgov daemon\n",
                d.cgroup2_mount, res.path);
        return EXIT_OK;
}
