/* SPDX-License-Identifier: MIT */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/parse.h"
#include "policies/policy.h"
#include "runner/manifest.h"
#include "runner/transcribe.h"

static void help(void)
{
        printf("Usage: memgov transcribe -p POLICY --id ID --audio FILE --out-dir DIR [--workdir DIR] [--progress]\n\n"
               "Transcribes one episode (the transcribe stage; the daemon runs it in the job's cgroup)\n"
               "with the policy's [transcribe] backend. Long MP3 and WAV audio is split without\n"
               "decoding; other formats need [command] prepare. Writes DIR/ID.txt (the transcript)\n"
               "and DIR/ID.json (metadata), each atomically, .txt first.\n"
               "Prints one JSON line on standard output:\n"
               "  {\"ok\":true,\"chars\":N,\"chunks\":N,\"duration\":S,\"backend\":\"…\"}\n"
               "  {\"ok\":false,\"retryable\":true,\"retry_after\":N,\"error\":\"…\"}\n"
               "and exits 0 on success, 1 on failure, 2 on a usage error.\n\n"
               "  -p --policy FILE  the policy (default: built-in defaults)\n"
               "     --id ID        the episode id (names the outputs)\n"
               "     --audio FILE   the episode's audio\n"
               "     --out-dir DIR  where ID.txt and ID.json go\n"
               "     --workdir DIR  scratch space for chunks (default: FILE's folder/ID.work, removed after)\n"
               "     --progress     print progress lines on standard error\n"
               "  -h --help         show this help\n");
}

static void on_progress(
        unsigned chunk, unsigned n, const char *phase, uint64_t done, uint64_t total, void *userdata)
{
        char a[FORMAT_SIZE_MAX], b[FORMAT_SIZE_MAX];

        if (total > 0)
                fprintf(stderr, "transcribe: chunk %u/%u: %s %s / %s (%u%%)\n", chunk + 1, n, phase,
                        format_size_human(a, sizeof(a), done), format_size_human(b, sizeof(b), total),
                        (unsigned)(done * 100 / total));
        else if (n > 0)
                fprintf(stderr, "transcribe: chunk %u/%u: %s\n", chunk + 1, n, phase);
        else
                fprintf(stderr, "transcribe: %s\n", phase);
}

/* The one line the scheduler parses. Returns 0 or -ENOMEM. */
static int print_result(const TranscribeResult *r, const char *backend, const char *error)
{
        cJSON *o = cJSON_CreateObject();
        bool ok = !error && r->outcome == TRANSCRIBE_OK;
        bool good = o && cJSON_AddBoolToObject(o, "ok", ok);

        if (ok)
                good = good && cJSON_AddNumberToObject(o, "chars", (double)r->chars) &&
                        cJSON_AddNumberToObject(o, "chunks", r->chunks) &&
                        cJSON_AddNumberToObject(o, "duration", (double)(r->duration_usec / 1000) / 1000.0) &&
                        cJSON_AddStringToObject(o, "backend", backend);
        else {
                good = good &&
                        cJSON_AddBoolToObject(
                                o, "retryable", !error && r->outcome == TRANSCRIBE_RETRYABLE) &&
                        cJSON_AddNumberToObject(o, "retry_after", (double)r->retry_after_sec) &&
                        cJSON_AddStringToObject(o, "error", error ?: r->error);
                if (good && r->http_status > 0)
                        good = cJSON_AddNumberToObject(o, "status", (double)r->http_status);
        }
        if (!good) {
                cJSON_Delete(o);
                return -ENOMEM;
        }
        return cli_print_json_line(o);
}

_printf_(1, 2) static int fail_early(const char *fmt, ...)
{
        TranscribeResult r = { .outcome = TRANSCRIBE_PERMANENT };
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        log_error("%s", msg);
        (void)print_result(&r, "", msg);
        return EXIT_FAIL;
}

int verb_transcribe(int argc, char *argv[])
{
        enum { ARG_ID = 0x100, ARG_AUDIO, ARG_OUT_DIR, ARG_WORKDIR, ARG_PROGRESS };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "policy", required_argument, NULL, 'p' },
                { "id", required_argument, NULL, ARG_ID },
                { "audio", required_argument, NULL, ARG_AUDIO },
                { "out-dir", required_argument, NULL, ARG_OUT_DIR },
                { "workdir", required_argument, NULL, ARG_WORKDIR },
                { "progress", no_argument, NULL, ARG_PROGRESS },
                {},
        };
        const char *policy_path = NULL, *id = NULL, *audio = NULL, *out_dir = NULL, *workdir = NULL;
        bool progress = false;
        TranscribeParams params;
        TranscribeResult res;
        Policy policy;
        int c, r;

        while ((c = getopt_long(argc, argv, "hp:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return EXIT_OK;
                case 'p':
                        policy_path = optarg;
                        break;
                case ARG_ID:
                        id = optarg;
                        break;
                case ARG_AUDIO:
                        audio = optarg;
                        break;
                case ARG_OUT_DIR:
                        out_dir = optarg;
                        break;
                case ARG_WORKDIR:
                        workdir = optarg;
                        break;
                case ARG_PROGRESS:
                        progress = true;
                        break;
                default:
                        return usage_error("transcribe ", "invalid option");
                }
        if (optind < argc)
                return usage_error("transcribe ", "unexpected argument '%s'", argv[optind]);
        if (!id || !audio || !out_dir)
                return usage_error("transcribe ", "--id, --audio and --out-dir are required");
        if (!episode_id_valid(id))
                return usage_error("transcribe ",
                        "--id: '%s' is not an episode id (1-128 characters of A-Z a-z 0-9 . _ -)", id);
        if (isempty(audio) || isempty(out_dir) || (workdir && isempty(workdir)))
                return usage_error("transcribe ", "--audio, --out-dir and --workdir must not be empty");

        r = cli_load_policy(policy_path, &policy);
        if (r < 0)
                return r == -ENOMEM ? fail_early("out of memory")
                                    : fail_early("%s: invalid policy, see the errors above",
                                              policy_path ?: "(defaults)");

        /* A peer that closes the socket must give an error, not kill the stage. */
        (void)signal(SIGPIPE, SIG_IGN);

        params = (TranscribeParams){
                .policy = &policy,
                .id = id,
                .audio_path = audio,
                .out_dir = out_dir,
                .workdir = workdir,
                .log_fd = STDERR_FILENO,
                .progress = progress ? on_progress : NULL,
        };
        r = transcribe_run(&params, &res);
        if (r < 0)
                log_error("%s", res.error);
        if (print_result(&res, backend_to_string(policy.transcribe.backend), NULL) < 0)
                log_error("Out of memory while printing the result");
        policy_done(&policy);
        return r < 0 ? EXIT_FAIL : EXIT_OK;
}
