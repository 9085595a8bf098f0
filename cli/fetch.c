/* SPDX-License-Identifier: MIT */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/parse.h"
#include "policies/policy.h"
#include "runner/fetch.h"

static void help(void)
{
        printf("Usage: memgov fetch [--policy FILE] [--progress] URL OUT\n\n"
               "Downloads URL to OUT (the download stage; the daemon runs it in the job's cgroup).\n"
               "The bytes go to OUT's name with its extension replaced by .part (8670.audio ->\n"
               "8670.part) in OUT's folder; a later run resumes it. OUT appears only when complete.\n"
               "Prints one JSON line on standard output:\n"
               "  {\"ok\":true,\"size\":N,\"sha256\":\"…\",\"format\":\"mp3\",\"status\":200,\"url\":\"…\",…}\n"
               "  {\"ok\":false,\"retryable\":true,\"retry_after\":30,\"error\":\"…\",…}\n"
               "and exits 0 on success, 1 on failure, 2 on a usage error.\n\n"
               "  -p --policy FILE  take the [fetch] settings from FILE (default: built-in defaults)\n"
               "     --progress     print progress lines on standard error\n"
               "     --part NAME    the partial file's name in OUT's folder\n"
               "     --keep-cache   do not drop the file's page cache while writing (benchmarks)\n"
               "     --min-free SIZE  free space to keep in OUT's file system (default: 5%%, at most 64M)\n"
               "  -h --help         show this help\n");
}

static void on_progress(uint64_t done, uint64_t total, void *userdata)
{
        char a[FORMAT_SIZE_MAX], b[FORMAT_SIZE_MAX];

        if (total > 0)
                fprintf(stderr, "fetch: %s / %s (%u%%)\n", format_size_human(a, sizeof(a), done),
                        format_size_human(b, sizeof(b), total), (unsigned)(done * 100 / total));
        else
                fprintf(stderr, "fetch: %s\n", format_size_human(a, sizeof(a), done));
}

/* The one line the scheduler parses. Returns 0 or -ENOMEM. */
static int print_result(const FetchResult *r, const char *error)
{
        cJSON *o = cJSON_CreateObject();
        bool ok = !error && r->outcome == FETCH_OK;
        bool good = o && cJSON_AddBoolToObject(o, "ok", ok);

        if (ok) {
                good = good && cJSON_AddNumberToObject(o, "size", (double)r->size_bytes) &&
                        cJSON_AddStringToObject(o, "sha256", r->sha256) &&
                        cJSON_AddStringToObject(o, "format", audio_format_to_string(r->format));
        } else {
                good = good &&
                        cJSON_AddBoolToObject(o, "retryable", !error && r->outcome == FETCH_RETRYABLE) &&
                        cJSON_AddStringToObject(o, "error", error ?: r->error);
                if (good && r->retry_after_sec > 0)
                        good = cJSON_AddNumberToObject(o, "retry_after", (double)r->retry_after_sec);
                if (good && r->size_bytes > 0)
                        good = cJSON_AddNumberToObject(o, "partial_size", (double)r->size_bytes);
        }
        if (good && r->http_status > 0)
                good = cJSON_AddNumberToObject(o, "status", (double)r->http_status);
        if (good && r->final_url)
                good = cJSON_AddStringToObject(o, "url", r->final_url);
        if (good && r->redirects > 0)
                good = cJSON_AddNumberToObject(o, "redirects", r->redirects);
        if (good && r->resumed_from_bytes > 0)
                good = cJSON_AddNumberToObject(o, "resumed_from", (double)r->resumed_from_bytes);
        if (!good) {
                cJSON_Delete(o);
                return -ENOMEM;
        }
        return cli_print_json_line(o);
}

_printf_(1, 2) static int fail_early(const char *fmt, ...)
{
        FetchResult r = { .outcome = FETCH_PERMANENT };
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        log_error("%s", msg);
        (void)print_result(&r, msg);
        return EXIT_FAIL;
}

/* "dir/8670.audio" -> "8670.part"; a name without an extension just gets ".part". */
static int part_name_for(const char *name, char *buf, size_t size)
{
        const char *dot = strrchr(name, '.');
        size_t stem = dot && dot != name ? (size_t)(dot - name) : strlen(name);

        if ((size_t)snprintf(buf, size, "%.*s.part", (int)stem, name) >= size)
                return -ENAMETOOLONG;
        /* "x.part" as OUT would be its own partial file. */
        return streq(buf, name) ? -EINVAL : 0;
}

int verb_fetch(int argc, char *argv[])
{
        enum { ARG_PROGRESS = 0x100, ARG_KEEP_CACHE, ARG_PART, ARG_MIN_FREE };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "policy", required_argument, NULL, 'p' },
                { "progress", no_argument, NULL, ARG_PROGRESS },
                { "keep-cache", no_argument, NULL, ARG_KEEP_CACHE },
                { "part", required_argument, NULL, ARG_PART },
                { "min-free", required_argument, NULL, ARG_MIN_FREE },
                {},
        };
        const char *policy_path = NULL, *part = NULL;
        bool progress = false, keep_cache = false;
        uint64_t min_free = FETCH_MIN_FREE_AUTO;
        _cleanup_free_ char *out_dir = NULL, *out_base = NULL;
        _cleanup_close_ int spool_fd = -EBADF;
        Policy policy;
        FetchParams params;
        FetchResult res;
        char part_buf[256];
        int c, r;

        while ((c = getopt_long(argc, argv, "hp:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return EXIT_OK;
                case 'p':
                        policy_path = optarg;
                        break;
                case ARG_PROGRESS:
                        progress = true;
                        break;
                case ARG_KEEP_CACHE:
                        keep_cache = true;
                        break;
                case ARG_PART:
                        part = optarg;
                        break;
                case ARG_MIN_FREE:
                        if (parse_size(optarg, false, &min_free) < 0)
                                return usage_error(
                                        "fetch ", "--min-free: '%s' is not a size such as 64M", optarg);
                        break;
                default:
                        return usage_error("fetch ", "invalid option");
                }
        if (argc - optind != 2)
                return usage_error("fetch ", "expected URL and OUT, got %d arguments", argc - optind);

        const char *url = argv[optind], *out = argv[optind + 1];
        if (isempty(url) || isempty(out))
                return usage_error("fetch ", "URL and OUT must not be empty");
        out_dir = strdup(out);
        out_base = strdup(out);
        if (!out_dir || !out_base)
                return log_error_errno(-ENOMEM, "Out of memory"), EXIT_FAIL;
        const char *base = basename(out_base), *dir = dirname(out_dir);
        if (isempty(base) || streq(base, ".") || streq(base, "..") || streq(base, "/") ||
                out[strlen(out) - 1] == '/')
                return usage_error("fetch ", "OUT must name a file, not '%s'", out);
        if (!part) {
                if (part_name_for(base, part_buf, sizeof(part_buf)) < 0)
                        return usage_error("fetch ", "cannot derive a partial file name from '%s'", base);
                part = part_buf;
        }

        r = cli_load_policy(policy_path, &policy);
        if (r < 0)
                return r == -ENOMEM ? fail_early("out of memory")
                                    : fail_early("%s: invalid policy, see the errors above",
                                              policy_path ?: "(defaults)");

        spool_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (spool_fd < 0) {
                policy_done(&policy);
                return fail_early("%s: cannot open the output folder", dir);
        }

        /* A peer that closes the socket must give an error, not kill the stage. */
        (void)signal(SIGPIPE, SIG_IGN);

        fetch_params_init(&params, &policy);
        params.url = url;
        params.spool_fd = spool_fd;
        params.name = base;
        params.part_name = part;
        params.drop_page_cache = !keep_cache;
        params.min_free_bytes = min_free;
        params.progress = progress ? on_progress : NULL;

        r = fetch_run(&params, &res);
        if (r < 0)
                log_error("%s", res.error);
        if (print_result(&res, NULL) < 0)
                log_error("Out of memory while printing the result");
        fetch_result_done(&res);
        policy_done(&policy);
        return r < 0 ? EXIT_FAIL : EXIT_OK;
}
