/* SPDX-License-Identifier: MIT */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/parse.h"
#include "governor/tokens.h"
#include "runner/runtime.h"

static void help(void)
{
        printf("Usage: memgov exec [OPTIONS] -- COMMAND [ARG…]\n\n"
               "Runs one command the way memgov runs a stage: in a fresh cgroup with a hard memory.max\n"
               "(cgroup mode) or under the RSS watchdog (watchdog mode), sandboxed (seccomp, no new\n"
               "privileges, the policy's [sandbox] user when run as root), and reports what ended it:\n"
               "ok, exit N, signal N, oom, timeout, cancelled or watchdog, with the peak memory.\n\n"
               "  -p --policy POLICY   policy for the mode, sandbox and limits (default: built-in defaults)\n"
               "  -m --memory-max SIZE the stage's memory limit (default: [memory] job_max)\n"
               "  -t --timeout D       kill the command after D\n"
               "     --spawn METHOD    auto (default), clone3 or fork\n"
               "  -j --json            print the result as JSON on stdout\n"
               "  -h --help            show this help\n\n"
               "Exit status: 0 when the command ended ok, 1 otherwise, 2 usage, 3 setup impossible.\n");
}

typedef struct ExecState {
        bool done;
        StageResult result;
} ExecState;

static void on_done(Stage *st, const StageResult *r, void *userdata)
{
        ExecState *e = userdata;

        e->result = *r;
        e->done = true;
}

static int print_result(const Runtime *rt, const StageResult *r, uint64_t limit, bool json)
{
        char what[32], peak[32], lim[32];

        stage_result_to_string(r, what, sizeof(what));
        if (json) {
                cJSON *o = cJSON_CreateObject();
                if (!o)
                        return -ENOMEM;
                cJSON_AddStringToObject(o, "result", stage_result_kind_to_string(r->kind));
                if (r->kind == STAGE_EXIT || r->kind == STAGE_SIGNAL)
                        cJSON_AddNumberToObject(o, r->kind == STAGE_EXIT ? "exit" : "signal", r->code);
                cJSON_AddNumberToObject(o, "oom_kills", (double)r->oom_kills);
                cJSON_AddNumberToObject(o, "peak_bytes", (double)r->peak_bytes);
                cJSON_AddNumberToObject(o, "limit_bytes", (double)limit);
                cJSON_AddNumberToObject(o, "duration_ms", (double)(r->duration_usec / USEC_PER_MSEC));
                cJSON_AddStringToObject(o, "mode", gov_mode_to_string(rt->discovery.mode));
                cJSON_AddStringToObject(o, "spawn", spawn_method_to_string(rt->spawn_method));
                if (rt->selftest_r == 0)
                        cJSON_AddBoolToObject(o, "kill_then_clone_bug", rt->kill_then_clone_bug);
                return cli_print_json_line(o);
        }
        log_info("exec: %s (peak %s of %s, %llu.%03llus, %s mode)", what,
                format_size_human(peak, sizeof(peak), r->peak_bytes),
                format_size_human(lim, sizeof(lim), limit),
                (unsigned long long)(r->duration_usec / USEC_PER_SEC),
                (unsigned long long)(r->duration_usec % USEC_PER_SEC / 1000),
                gov_mode_to_string(rt->discovery.mode));
        return 0;
}

/* Finds cmd in the caller's PATH, as a shell would, so the stage gets an absolute path and its
 * own clean environment. Returns 0 or -ENOENT. */
static int find_in_path(const char *cmd, char *buf, size_t size)
{
        const char *path = getenv("PATH");

        if (strchr(cmd, '/')) {
                snprintf(buf, size, "%s", cmd);
                return 0;
        }
        for (const char *p = path ? path : "/usr/local/bin:/usr/bin:/bin"; *p;) {
                size_t n = strcspn(p, ":");
                if (n > 0 && (size_t)snprintf(buf, size, "%.*s/%s", (int)n, p, cmd) < size &&
                        access(buf, X_OK) == 0)
                        return 0;
                p += n;
                if (*p == ':')
                        p++;
        }
        return -ENOENT;
}

int verb_exec(int argc, char *argv[])
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "policy", required_argument, NULL, 'p' },
                { "memory-max", required_argument, NULL, 'm' },
                { "timeout", required_argument, NULL, 't' },
                { "spawn", required_argument, NULL, 'S' },
                { "json", no_argument, NULL, 'j' },
                {},
        };
        static char *envp[] = { (char *)"PATH=/usr/local/bin:/usr/bin:/bin", (char *)"LANG=C.UTF-8",
                (char *)"HOME=/", NULL };
        const char *policy_path = NULL;
        uint64_t limit = 0;
        usec_t timeout = 0;
        SpawnMethod method = SPAWN_METHOD_AUTO;
        bool json = false;
        ExecState state = {};
        RuntimeOptions opts = { .done = on_done, .userdata = &state };
        Runtime rt;
        Policy pol;
        StageSpec spec = { .stdout_fd = STDOUT_FILENO, .stderr_fd = STDERR_FILENO };
        char err[512] = "", name[64], exe[4096];
        _cleanup_close_ int sig_fd = -EBADF;
        Stage *st;
        int c, r;

        /* '+': options after the command belong to the command. */
        while ((c = getopt_long(argc, argv, "+hp:m:t:j", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return EXIT_OK;
                case 'p':
                        policy_path = optarg;
                        break;
                case 'm':
                        if (parse_size(optarg, false, &limit) < 0 || limit < (1ULL << 20))
                                return usage_error("exec ",
                                        "--memory-max '%s' is not a size of at least 1M such as 512M",
                                        optarg);
                        break;
                case 't':
                        if (parse_duration(optarg, &timeout) < 0 || timeout == 0)
                                return usage_error(
                                        "exec ", "--timeout '%s' is not a duration such as 30s", optarg);
                        break;
                case 'S':
                        if (cli_parse_spawn("exec ", optarg, &method) < 0)
                                return EXIT_USAGE;
                        break;
                case 'j':
                        json = true;
                        break;
                default:
                        return usage_error("exec ", "invalid option");
                }
        if (optind >= argc)
                return usage_error("exec ", "no command given (memgov exec [OPTIONS] -- COMMAND [ARG…])");
        if (find_in_path(argv[optind], exe, sizeof(exe)) < 0) {
                log_error("exec: %s: command not found in PATH", argv[optind]);
                return EXIT_FAIL;
        }
        if (cli_load_policy(policy_path, &pol) < 0)
                return EXIT_FAIL;
        if (limit == 0)
                limit = pol.memory.job_max_bytes;
        opts.spawn = method;
        r = runtime_open(&pol, &opts, &rt, err, sizeof(err));
        if (r < 0) {
                policy_done(&pol);
                log_error("exec: %s", err);
                return EXIT_UNAVAILABLE;
        }
        if (rt.discovery.mode == GOV_MODE_WATCHDOG)
                log_notice(
                        "exec: watchdog mode (%s): the limit is enforced by sampling RSS every %llums, not by the kernel",
                        rt.discovery.n_problems ? rt.discovery.problems[0].what : "enforcement = watchdog",
                        (unsigned long long)(pol.daemon.watchdog_interval_usec / USEC_PER_MSEC));
        policy_done(&pol);

        /* Ctrl-C or TERM cancels the stage instead of orphaning it. */
        sig_fd = cli_signalfd(false);

        snprintf(name, sizeof(name), "exec-%d.exec.1", (int)getpid());
        spec.name = name;
        spec.path = exe;
        spec.argv = argv + optind;
        spec.envp = envp;
        spec.limit_bytes = limit;
        spec.timeout_usec = timeout;
        r = supervisor_start(rt.supervisor, &spec, &st, err, sizeof(err));
        if (r < 0) {
                log_error("exec: %s", err);
                runtime_close(&rt);
                return EXIT_FAIL;
        }
        while (!state.done) {
                struct pollfd p[2] = { { .fd = supervisor_fd(rt.supervisor), .events = POLLIN },
                        { .fd = sig_fd, .events = POLLIN } };
                if (poll(p, sig_fd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
                        break;
                if (p[1].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        (void)read(sig_fd, &si, sizeof(si));
                        (void)supervisor_cancel(rt.supervisor, st);
                }
                if (p[0].revents & POLLIN && supervisor_dispatch(rt.supervisor, 0) < 0)
                        break;
        }
        r = state.done ? print_result(&rt, &state.result, limit, json) : -EIO;
        runtime_close(&rt);
        if (r < 0)
                return log_error_errno(r, "exec: %m"), EXIT_FAIL;
        return state.result.kind == STAGE_OK ? EXIT_OK : EXIT_FAIL;
}
