/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/macro.h"

/* Only implemented verbs are listed; later work adds its own rows. */
static const Verb verbs[] = {
        { "run", "MANIFEST…", "process a batch of episodes until none is left, then summarise", verb_run },
        { "daemon", "", "run as a service, fed through the control socket", verb_daemon },
        { "check", "POLICY", "validate a policy and print its effective values", verb_check },
        { "submit", "ID URL", "queue an episode in the daemon (or --manifest FILE)", verb_submit },
        { "status", "", "the daemon's budget, usage, pressure, tokens and jobs", verb_status },
        { "list", "", "list the daemon's episodes (--state S)", verb_list },
        { "show", "ID", "show an episode and its stage runs", verb_show },
        { "retry", "ID", "queue a failed or held episode again", verb_retry },
        { "cancel", "ID", "cancel an episode", verb_cancel },
        { "release", "ID", "release a held episode", verb_release },
        { "probe", "", "show what this host offers and the mode memgov would use, and why", verb_probe },
        { "setup", "", "hosts without systemd: prepare a delegated parent cgroup", verb_setup },
        { "exec", "-- CMD…", "run one command as a stage: limited, sandboxed, attributed", verb_exec },
        { "fetch", "URL OUT", "download one episode (the download stage; used by the daemon)", verb_fetch },
        { "transcribe", "--id ID…", "transcribe one episode (the transcribe stage; used by the daemon)",
                verb_transcribe },
};

static void help(void)
{
        printf("Usage: memgov [--log-level LEVEL] VERB [ARGS…]\n"
               "       memgov --help | --version\n\n"
               "Runs podcast transcription jobs under a hard memory budget.\n\nVerbs:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                char left[64];
                size_t width = 0;
                snprintf(left, sizeof(left), "%s %s", verbs[i].name, verbs[i].args);
                /* Pad by characters, not bytes: the arguments may contain "…". */
                for (const char *c = left; *c; c++)
                        width += ((unsigned char)*c & 0xC0) != 0x80;
                printf("  %s%*s %s\n", left, (int)(width < 24 ? 24 - width : 0), "", verbs[i].summary);
        }
        printf("\nOptions:\n"
               "  -h --help             show this help ('memgov VERB --help' for a verb)\n"
               "     --version          show the version\n"
               "     --log-level LEVEL  error, warning, notice, info (default) or debug\n\n"
               "Exit status: 0 success, 1 failure, 2 usage error, 3 resource unavailable.\n"
               "See memgov(8) and memgov.ini(5).\n");
}

int usage_error(const char *verb, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        log_error("%s", msg);
        fprintf(stderr, "Try 'memgov %s--help'.\n", verb ? verb : "");
        return EXIT_USAGE;
}

int main(int argc, char *argv[])
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                { "log-level", required_argument, NULL, 'l' },
                {},
        };
        int c;

        log_setup("memgov", LOG_TARGET_AUTO);
        /* '+': stop at the verb, so the verb's own options are left for it. */
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return EXIT_OK;
                case 'V':
                        printf("memgov %s\n", PACKAGE_VERSION);
                        return EXIT_OK;
                case 'l': {
                        int lvl = log_level_from_string(optarg);
                        if (lvl < 0)
                                return usage_error(NULL,
                                        "--log-level: '%s' is not one of error, warning, notice, info, debug",
                                        optarg);
                        log_set_max_level(lvl);
                        break;
                }
                default:
                        fprintf(stderr, "Try 'memgov --help'.\n");
                        return EXIT_USAGE;
                }
        }
        if (optind >= argc)
                return usage_error(NULL, "no verb given");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, argv[optind])) {
                        char **vargv = argv + optind;
                        int vargc = argc - optind;
                        optind = 0; /* re-initialise getopt for the verb */
                        return verbs[i].run(vargc, vargv);
                }
        return usage_error(NULL, "unknown verb '%s'", argv[optind]);
}
