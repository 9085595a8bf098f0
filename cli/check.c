/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <pwd.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/macro.h"
#include "policies/policy.h"

static void help(void)
{
        printf("Usage: memgov check [--quiet] POLICY\n\n"
               "Validates POLICY ('-' reads standard input). On success prints every key with its\n"
               "effective value (defaults filled in), then 'policy OK', and exits 0. Otherwise prints\n"
               "one line per error, FILE:LINE: what is wrong and what is allowed, and exits 1.\n\n"
               "  -q --quiet   print only 'policy OK' or the errors\n"
               "  -h --help    show this help\n");
}

int verb_check(int argc, char *argv[])
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "quiet", no_argument, NULL, 'q' },
                {},
        };
        PolicyDiag diag = {};
        Policy p;
        bool quiet = false;
        int c, r;

        while ((c = getopt_long(argc, argv, "hq", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return EXIT_OK;
                case 'q':
                        quiet = true;
                        break;
                default:
                        return usage_error("check ", "invalid option");
                }
        if (optind + 1 != argc)
                return usage_error("check ",
                        optind >= argc ? "no policy file given" : "more than one policy file given");

        r = policy_load(argv[optind], &p, &diag);
        for (size_t i = 0; i < diag.n_errors; i++)
                log_error("%s", diag.errors[i]);
        for (size_t i = 0; i < diag.n_warnings; i++)
                log_warning("%s", diag.warnings[i]);
        if (r < 0) {
                if (r == -ENOMEM)
                        log_error_errno(r, "Out of memory while reading %s", argv[optind]);
                else if (diag.n_errors > 1)
                        log_error("%s: %zu errors", argv[optind], diag.n_errors);
                policy_diag_done(&diag);
                return EXIT_FAIL;
        }
        policy_diag_done(&diag);

        /* Not an error of the file: the user may be created at install time. */
        if (!getpwnam(p.sandbox.user))
                log_warning(
                        "%s: [sandbox] user '%s' does not exist on this host; stages cannot start until it is "
                        "created (e.g. 'useradd --system %s')",
                        argv[optind], p.sandbox.user, p.sandbox.user);
        if (!quiet) {
                r = policy_print(&p, stdout);
                if (r < 0) {
                        policy_done(&p);
                        return log_error_errno(r, "Failed to print the policy: %m"), EXIT_FAIL;
                }
                printf("\n");
        }
        printf("policy OK\n");
        policy_done(&p);
        return EXIT_OK;
}
