/* SPDX-License-Identifier: MIT */
#include <signal.h>
#include <sys/signalfd.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/json-util.h"
#include "common/macro.h"

int cli_parse_spawn(const char *verb, const char *s, SpawnMethod *ret)
{
        static const char *const names[] = {
                [SPAWN_METHOD_AUTO] = "auto", [SPAWN_METHOD_CLONE3] = "clone3", [SPAWN_METHOD_FORK] = "fork"
        };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (streq(s, names[i])) {
                        *ret = (SpawnMethod)i;
                        return 0;
                }
        (void)usage_error(verb, "--spawn '%s' is not one of auto, clone3, fork", s);
        return -EINVAL;
}

int cli_self_exe(char *buf, size_t size)
{
        ssize_t n = readlink("/proc/self/exe", buf, size - 1);

        if (n <= 0)
                return log_error_errno(errno, "cannot find this program's path in /proc/self/exe: %m");
        buf[n] = 0;
        return 0;
}

int cli_signalfd(bool with_hup)
{
        sigset_t mask;

        /* Blocked and read from an fd: the verbs' loops handle signals between two events,
         * never in the middle of a ledger write. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (with_hup)
                sigaddset(&mask, SIGHUP);
        int fd;

        sigprocmask(SIG_BLOCK, &mask, NULL);
        fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (fd < 0) {
                fd = -errno;
                /* Without the fd the signals would stay blocked and unstoppable but by SIGKILL. */
                sigprocmask(SIG_UNBLOCK, &mask, NULL);
        }
        return fd;
}

int cli_print_json_line(cJSON *o)
{
        _cleanup_(cJSON_Deletep) cJSON *owned = o;
        char *s = o ? cJSON_PrintUnformatted(o) : NULL;

        if (!s)
                return -ENOMEM;
        printf("%s\n", s);
        /* Stage results are read by the daemon as soon as the stage exits. */
        fflush(stdout);
        cJSON_free(s);
        return 0;
}
