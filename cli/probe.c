/* SPDX-License-Identifier: MIT */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/capability.h>
#include <sys/utsname.h>

#include "common/json-util.h"
#include "cli/cli.h"
#include "cli/probe.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/parse.h"
#include "governor/discover.h"
#include "governor/layout.h"
#include "governor/memstat.h"
#include "policies/policy.h"

static void help(void)
{
        printf("Usage: memgov probe [--json] [--policy POLICY] [--watch [--interval D] [--count N]]\n\n"
               "Shows what this host offers memgov (cgroup v2, the memory controller, delegation, PSI),\n"
               "the enforcement mode memgov would use, and for every missing piece how to fix it.\n\n"
               "  -p --policy POLICY   take [memory] enforcement and budget from POLICY\n"
               "  -j --json            machine-readable output\n"
               "  -w --watch           then a live line per interval: budget, hard usage, page cache,\n"
               "                       PSI, trigger events, tokens per class and why a class is closed\n"
               "  -i --interval D      the interval for --watch (default: [pressure] sample_interval)\n"
               "  -n --count N         stop --watch after N lines\n"
               "  -h --help            show this help\n");
}

/* Whether sub-2 s PSI trigger windows are allowed: the kernel checks CAP_SYS_RESOURCE of the
 * opener. Read from /proc so no libcap is needed. */
static bool have_cap_sys_resource(int proc_fd)
{
        char buf[4096], *p;
        unsigned long long eff;

        if (read_virtual_at(proc_fd, "self/status", buf, sizeof(buf)) < 0)
                return false;
        p = strstr(buf, "\nCapEff:");
        if (!p || sscanf(p + 8, "%llx", &eff) != 1)
                return false;
        return eff & (1ULL << CAP_SYS_RESOURCE);
}

typedef struct Probe {
        GovDiscovery d;
        struct utsname uts;
        bool cap_sys_resource;
        uint64_t mem_total;
        uint64_t service_max; /* MEM_MAX when unlimited or unreadable */
        uint64_t budget;      /* what budget = auto would give, or the policy's */
        bool budget_auto;
} Probe;

static void print_text(const Probe *p)
{
        const GovDiscovery *d = &p->d;
        char a[64], b[64];

        printf("kernel:             %s %s (%s)\n", p->uts.sysname, p->uts.release, p->uts.machine);
        if (d->cgroup2_mount[0])
                printf("cgroup2:            %s%s%s\n", d->cgroup2_mount,
                        d->hybrid ? " (hybrid: cgroup v1 hierarchies are mounted too)" : "",
                        d->cgroup2_readonly ? " (read-only)" : "");
        else
                printf("cgroup2:            not mounted\n");
        printf("memory controller:  %s\n",
                d->memory_on_v1         ? "bound to cgroup v1"
                        : d->has_memory ? "available on cgroup v2"
                                        : "not available here");
        printf("own cgroup:         %s\n", d->own_cgroup[0] ? d->own_cgroup : "(none)");
        printf("service cgroup:     %s (controllers: %s)\n",
                d->service_cgroup[0] ? d->service_cgroup : "(none)",
                d->controllers[0] ? d->controllers : "none");
        printf("delegated:          %s\n", d->delegated ? "yes" : "no");
        printf("PSI:                system %s, cgroup %s; trigger windows %s\n",
                d->psi_system ? "yes" : "no", d->psi_cgroup ? "yes" : "no",
                p->cap_sys_resource ? "500ms-10s (CAP_SYS_RESOURCE)"
                                    : "multiples of 2s (no CAP_SYS_RESOURCE)");
        printf("memory:             %s total; service limit %s\n",
                format_size_human(a, sizeof(a), p->mem_total),
                p->service_max == MEM_MAX ? "none" : format_size_human(b, sizeof(b), p->service_max));
        printf("budget:             %s%s\n", format_size_human(a, sizeof(a), p->budget),
                p->budget_auto ? " (auto: service limit or memory, minus reserve)" : " (policy)");
        printf("mode:               %s%s\n", gov_mode_to_string(d->mode),
                d->mode == GOV_MODE_WATCHDOG
                        ? " (degraded: per-stage limits by sampling RSS, not by the kernel)"
                        : "");
        for (size_t i = 0; i < d->n_problems; i++)
                printf("  why: %s\n  fix: %s\n", d->problems[i].what, d->problems[i].fix);
        if (!d->psi_system && !d->psi_cgroup)
                printf("  note: PSI is unavailable: admission cannot react to memory pressure; fix: boot with psi=1\n");
}

static int print_json(const Probe *p)
{
        _cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();
        const GovDiscovery *d = &p->d;
        cJSON *probs;

        if (!o)
                return -ENOMEM;
        cJSON_AddStringToObject(o, "kernel", p->uts.release);
        cJSON_AddStringToObject(o, "cgroup2_mount", d->cgroup2_mount);
        cJSON_AddBoolToObject(o, "cgroup2_readonly", d->cgroup2_readonly);
        cJSON_AddBoolToObject(o, "hybrid", d->hybrid);
        cJSON_AddBoolToObject(o, "memory_on_v1", d->memory_on_v1);
        cJSON_AddStringToObject(o, "own_cgroup", d->own_cgroup);
        cJSON_AddStringToObject(o, "service_cgroup", d->service_cgroup);
        cJSON_AddStringToObject(o, "controllers", d->controllers);
        cJSON_AddBoolToObject(o, "has_memory", d->has_memory);
        cJSON_AddBoolToObject(o, "delegated", d->delegated);
        cJSON_AddBoolToObject(o, "psi_system", d->psi_system);
        cJSON_AddBoolToObject(o, "psi_cgroup", d->psi_cgroup);
        cJSON_AddBoolToObject(o, "cap_sys_resource", p->cap_sys_resource);
        cJSON_AddNumberToObject(o, "mem_total_bytes", (double)p->mem_total);
        if (p->service_max == MEM_MAX)
                cJSON_AddNullToObject(o, "service_max_bytes");
        else
                cJSON_AddNumberToObject(o, "service_max_bytes", (double)p->service_max);
        cJSON_AddNumberToObject(o, "budget_bytes", (double)p->budget);
        cJSON_AddStringToObject(o, "mode", gov_mode_to_string(d->mode));
        probs = cJSON_AddArrayToObject(o, "problems");
        for (size_t i = 0; probs && i < d->n_problems; i++) {
                cJSON *e = cJSON_CreateObject();
                if (!e)
                        return -ENOMEM;
                cJSON_AddStringToObject(e, "what", d->problems[i].what);
                cJSON_AddStringToObject(e, "fix", d->problems[i].fix);
                cJSON_AddItemToArray(probs, e);
        }
        return cli_print_json_line(TAKE_PTR(o));
}

/* Loads the policy given with -p, or the defaults. Prints the errors. */
int cli_load_policy(const char *path, Policy *ret)
{
        PolicyDiag diag = {};
        int r;

        if (!path)
                return policy_init_defaults(ret);
        r = policy_load(path, ret, &diag);
        for (size_t i = 0; i < diag.n_errors; i++)
                log_error("%s", diag.errors[i]);
        for (size_t i = 0; i < diag.n_warnings; i++)
                log_warning("%s", diag.warnings[i]);
        policy_diag_done(&diag);
        return r;
}

int verb_probe(int argc, char *argv[])
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "json", no_argument, NULL, 'j' },
                { "policy", required_argument, NULL, 'p' },
                { "watch", no_argument, NULL, 'w' },
                { "interval", required_argument, NULL, 'i' },
                { "count", required_argument, NULL, 'n' },
                {},
        };
        _cleanup_close_ int proc_fd = -EBADF, fs_fd = -EBADF, svc_fd = -EBADF;
        const char *policy_path = NULL;
        bool json = false, watch = false;
        usec_t interval = 0;
        unsigned count = 0;
        char buf[4096];
        Policy pol;
        Probe p = { .service_max = MEM_MAX };
        Enforcement enforcement;
        int c, r;

        while ((c = getopt_long(argc, argv, "hjp:wi:n:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return EXIT_OK;
                case 'j':
                        json = true;
                        break;
                case 'p':
                        policy_path = optarg;
                        break;
                case 'w':
                        watch = true;
                        break;
                case 'i':
                        if (parse_duration(optarg, &interval) < 0 || interval < 100 * USEC_PER_MSEC)
                                return usage_error("probe ",
                                        "--interval '%s' is not a duration of at least 100ms", optarg);
                        break;
                case 'n':
                        if (parse_uint(optarg, &count) < 0 || count == 0)
                                return usage_error(
                                        "probe ", "--count '%s' is not a positive number", optarg);
                        break;
                default:
                        return usage_error("probe ", "invalid option");
                }
        if (optind != argc)
                return usage_error("probe ", "unexpected argument '%s'", argv[optind]);
        if (json && watch)
                return usage_error("probe ", "--json and --watch do not go together");
        if (cli_load_policy(policy_path, &pol) < 0)
                return EXIT_FAIL;

        proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        fs_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (proc_fd < 0 || fs_fd < 0) {
                policy_done(&pol);
                return log_error_errno(errno, "Cannot open /proc or /: %m"), EXIT_UNAVAILABLE;
        }
        r = gov_discover(proc_fd, fs_fd, pol.memory.enforcement, &p.d);
        if (r < 0 && r != -ENOTSUP) {
                policy_done(&pol);
                return log_error_errno(r, "Cannot inspect the cgroups of this process: %m"),
                       EXIT_UNAVAILABLE;
        }
        (void)uname(&p.uts);
        p.cap_sys_resource = have_cap_sys_resource(proc_fd);
        if (read_virtual_at(proc_fd, "meminfo", buf, sizeof(buf)) > 0)
                (void)gov_parse_meminfo_total(buf, &p.mem_total);
        svc_fd = gov_open_service_cgroup(fs_fd, &p.d);
        if (svc_fd >= 0 && read_virtual_at(svc_fd, "memory.max", buf, sizeof(buf)) > 0)
                (void)mem_parse_value(buf, &p.service_max);
        p.budget_auto = pol.memory.budget_bytes == 0;
        p.budget = p.budget_auto ? gov_budget_auto(p.service_max, p.mem_total, pol.memory.reserve_bytes)
                                 : pol.memory.budget_bytes;
        enforcement = pol.memory.enforcement;

        r = 0;
        if (json)
                r = print_json(&p);
        else
                print_text(&p);
        if (r >= 0 && watch) {
                printf("\n");
                r = probe_watch(&pol, &p.d, fs_fd, proc_fd, p.budget,
                        interval ? interval : pol.pressure.sample_interval_usec, count);
                policy_done(&pol);
                return r < 0 ? EXIT_FAIL : EXIT_OK;
        }
        policy_done(&pol);
        if (r < 0)
                return log_error_errno(r, "Cannot format the probe: %m"), EXIT_FAIL;
        /* enforcement = cgroup that cannot be honoured is a failure the caller should see. */
        return p.d.n_problems > 0 && enforcement == ENFORCEMENT_CGROUP ? EXIT_UNAVAILABLE : EXIT_OK;
}
