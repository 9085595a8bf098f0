/* SPDX-License-Identifier: MIT */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <time.h>

#include "common/json-util.h"
#include "cli/cli.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/parse.h"
#include "policies/policy.h"
#include "runner/control.h"
#include "runner/manifest.h"
#include "runner/state.h"

/* The verbs that talk to a running daemon over its control socket. Everything they print comes
 * from the daemon's reply; a key the reply lacks is simply not printed, so the client and the
 * daemon can grow independently. Human output stays within 80 columns: table cells are clipped,
 * and text from the daemon is stripped of control characters before it reaches the terminal. */

enum {
        OPT_TITLE = 1U << 0,
        OPT_MANIFEST = 1U << 1,
        OPT_STATE = 1U << 2,
        OPT_FORCE = 1U << 3,
};

typedef struct ClientOptions {
        const char *verb;
        const char *socket;
        const char *policy;
        const char *title;
        const char *manifest;
        const char *state;
        bool force;
        bool json;
} ClientOptions;

typedef struct VerbHelp {
        const char *verb;
        const char *usage;
        const char *text;
        unsigned opts;
} VerbHelp;

static const VerbHelp verb_help[] = {
        { "submit", "ID URL [--title T] | --manifest FILE",
                "Queues an episode in the running daemon, or every episode of a JSON Lines\n"
                "manifest ({\"id\":…,\"url\":…,\"title\":…} per line). Bad manifest lines are\n"
                "reported with their numbers and the others are still submitted; the exit\n"
                "status is then 1.\n",
                OPT_TITLE | OPT_MANIFEST },
        { "status", "",
                "Shows the daemon's budget, memory use, pressure, admission tokens, running\nstages and the number of episodes per state.\n",
                0 },
        { "list", "[--state S]", "Lists the episodes (those in state S only with --state).\n", OPT_STATE },
        { "show", "ID", "Shows an episode and every stage run it had.\n", 0 },
        { "retry", "ID [--force]",
                "Queues a failed, held or cancelled episode again; --force also redoes one\nthat is done.\n",
                OPT_FORCE },
        { "cancel", "ID", "Cancels an episode, stopping its running stage.\n", 0 },
        { "release", "ID", "Releases a held episode back into the queue.\n", 0 },
};

static const VerbHelp *find_help(const char *verb)
{
        FOREACH_ARRAY (h, verb_help, ELEMENTSOF(verb_help))
                if (streq(h->verb, verb))
                        return h;
        return NULL;
}

static void help(const VerbHelp *h)
{
        printf("Usage: memgov %s [OPTIONS] %s\n\n%s\n", h->verb, h->usage, h->text);
        if (h->opts & OPT_TITLE)
                printf("     --title T        the episode's title\n");
        if (h->opts & OPT_MANIFEST)
                printf("  -m --manifest FILE  submit every episode of FILE ('-' reads standard input)\n");
        if (h->opts & OPT_STATE)
                printf("     --state S        queued, fetching, fetched, transcribing, done, retry_wait,\n"
                       "                      held, cancelled or failed\n");
        if (h->opts & OPT_FORCE)
                printf("     --force          also redo an episode that is done\n");
        printf("  -s --socket PATH    the daemon's control socket (default: [paths] socket\n"
               "                      of the policy, /run/memgov/control.sock)\n"
               "  -p --policy FILE    read the socket path from this policy\n"
               "     --json           print the daemon's reply as JSON\n"
               "  -h --help           show this help\n\n"
               "Exit status: 0 done, 1 the daemon refused or failed the request, 2 usage error,\n"
               "3 no daemon could be reached.\n");
}

/* Returns 0 to go on, 1 after --help, or -EXIT_USAGE. */
static int parse_options(int argc, char *argv[], const VerbHelp *h, ClientOptions *o)
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "socket", required_argument, NULL, 's' },
                { "policy", required_argument, NULL, 'p' },
                { "json", no_argument, NULL, 'j' },
                { "title", required_argument, NULL, 't' },
                { "manifest", required_argument, NULL, 'm' },
                { "state", required_argument, NULL, 'S' },
                { "force", no_argument, NULL, 'f' },
                {},
        };
        char verb[32];
        int c;

        snprintf(verb, sizeof(verb), "%s ", h->verb);
        *o = (ClientOptions){ .verb = h->verb };
        while ((c = getopt_long(argc, argv, "hs:p:m:", options, NULL)) >= 0) {
                static const struct {
                        int c;
                        unsigned opt;
                        const char *name;
                } verb_only[] = {
                        { 't', OPT_TITLE, "--title" },
                        { 'm', OPT_MANIFEST, "--manifest" },
                        { 'S', OPT_STATE, "--state" },
                        { 'f', OPT_FORCE, "--force" },
                };
                FOREACH_ARRAY (v, verb_only, ELEMENTSOF(verb_only))
                        if (v->c == c && !(h->opts & v->opt))
                                return -usage_error(verb, "'memgov %s' has no option %s", h->verb, v->name);
                switch (c) {
                case 'h':
                        help(h);
                        return 1;
                case 's':
                        o->socket = optarg;
                        break;
                case 'p':
                        o->policy = optarg;
                        break;
                case 'j':
                        o->json = true;
                        break;
                case 't':
                        o->title = optarg;
                        break;
                case 'm':
                        o->manifest = optarg;
                        break;
                case 'S':
                        if (state_from_string(optarg) < 0)
                                return -usage_error(verb,
                                        "--state: '%s' is not one of queued, fetching, fetched, transcribing, done, "
                                        "retry_wait, held, cancelled, failed",
                                        optarg);
                        o->state = optarg;
                        break;
                case 'f':
                        o->force = true;
                        break;
                default:
                        return -usage_error(verb, "invalid option");
                }
        }
        return 0;
}

/* The socket path (from --socket or the policy) and the URL schemes the policy allows. */
static int resolve(const ClientOptions *o, char **ret_path, unsigned *ret_protocols)
{
        Policy p;

        if (o->socket && !o->policy) {
                *ret_path = strdup(o->socket);
                *ret_protocols = PROTOCOL_HTTP | PROTOCOL_HTTPS;
                return *ret_path ? 0 : log_error_errno(ENOMEM, "Out of memory");
        }
        if (cli_load_policy(o->policy, &p) < 0)
                return -EINVAL;
        *ret_path = strdup(o->socket ?: p.paths.socket);
        *ret_protocols = p.fetch.protocols;
        policy_done(&p);
        return *ret_path ? 0 : log_error_errno(ENOMEM, "Out of memory");
}

static const char *jstr(const cJSON *o, const char *key)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool jnum(const cJSON *o, const char *key, double *ret)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
                return false;
        *ret = v->valuedouble;
        return true;
}

static uint64_t to_u64(double d)
{
        return d <= 0 ? 0 : d >= 1.8e19 ? UINT64_MAX : (uint64_t)d;
}

/* Prints s without control characters, clipped to width columns ("…" marks a cut; UTF-8
 * continuation bytes take no column), padded to width when pad is set. width 0: no limit. */
static void put_clean(const char *s, size_t width, bool pad)
{
        size_t cols = 0, total = 0;

        if (!s)
                s = "-";
        for (const char *p = s; *p; p++)
                total += ((unsigned char)*p & 0xc0) != 0x80;
        for (; *s; s++) {
                unsigned char ch = (unsigned char)*s;
                bool lead = (ch & 0xc0) != 0x80;
                if (width > 0 && lead && total > width && cols + 1 == width) {
                        fputs("…", stdout);
                        cols++;
                        break;
                }
                if (width > 0 && lead && cols == width)
                        break;
                putchar(ch < 0x20 || ch == 0x7f ? '?' : ch);
                cols += lead;
        }
        for (; pad && cols < width; cols++)
                putchar(' ');
}

static const char *format_elapsed(char *buf, size_t size, usec_t u)
{
        uint64_t s = u / USEC_PER_SEC;

        if (u < USEC_PER_SEC)
                snprintf(buf, size, "%" PRIu64 "ms", u / USEC_PER_MSEC);
        else if (s < 60)
                snprintf(buf, size, "%" PRIu64 "s", s);
        else if (s < 3600)
                snprintf(buf, size, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
        else
                snprintf(buf, size, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s / 60 % 60);
        return buf;
}

/* Local time of the "KEY_usec" field, or NULL. */
static const char *jtime(const cJSON *o, const char *key, char *buf, size_t size, bool seconds)
{
        char name[64];
        double d;
        time_t t;
        struct tm tm;

        snprintf(name, sizeof(name), "%s_usec", key);
        if (!jnum(o, name, &d) || d <= 0)
                return NULL;
        t = (time_t)(d / (double)USEC_PER_SEC);
        if (!localtime_r(&t, &tm) ||
                strftime(buf, size, seconds ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%d %H:%M", &tm) == 0)
                return NULL;
        return buf;
}

static const char *jsize(const cJSON *o, const char *key, char *buf, size_t size)
{
        double d;
        return jnum(o, key, &d) ? format_size_human(buf, size, to_u64(d)) : NULL;
}

static int print_json(const cJSON *reply)
{
        _cleanup_free_ char *s = cJSON_PrintUnformatted(reply);

        if (!s)
                return log_error_errno(ENOMEM, "Out of memory");
        printf("%s\n", s);
        return 0;
}

static void field(const char *label, const char *value)
{
        if (!value)
                return;
        printf("%-12s", label);
        put_clean(value, 0, false);
        putchar('\n');
}

static void print_status(const cJSON *r)
{
        char a[FORMAT_SIZE_MAX], b[FORMAT_SIZE_MAX], line[128];
        const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(r, "tokens");
        const cJSON *running = cJSON_GetObjectItemCaseSensitive(r, "running");
        const cJSON *counts = cJSON_GetObjectItemCaseSensitive(r, "counts");
        const cJSON *it;
        double budget, usage, some, full, window;

        field("mode:", jstr(r, "mode"));
        if (jnum(r, "budget_bytes", &budget)) {
                if (jnum(r, "hard_usage_bytes", &usage)) {
                        snprintf(line, sizeof(line), "%s, hard usage %s (%.0f%%)",
                                format_size_human(a, sizeof(a), to_u64(budget)),
                                format_size_human(b, sizeof(b), to_u64(usage)),
                                budget > 0 ? usage * 100.0 / budget : 0.0);
                        field("budget:", line);
                } else
                        field("budget:", format_size_human(a, sizeof(a), to_u64(budget)));
        }
        if (jstr(r, "pressure") || jnum(r, "psi_some_avg10", &some)) {
                const char *state = jstr(r, "pressure") ?: "?";
                if (jnum(r, "psi_some_avg10", &some) && jnum(r, "psi_full_avg10", &full))
                        snprintf(line, sizeof(line), "%s (avg10 some %.2f%%, full %.2f%%)", state, some,
                                full);
                else
                        snprintf(line, sizeof(line), "%s", state);
                field("pressure:", line);
        }
        if (jnum(r, "window", &window)) {
                snprintf(line, sizeof(line), "%.0f stage%s at once", window, window == 1 ? "" : "s");
                field("window:", line);
        }
        if (cJSON_IsObject(tokens)) {
                printf("tokens:\n");
                cJSON_ArrayForEach(it, tokens)
                {
                        double n = 0;
                        const char *why = jstr(it, "reason");
                        const cJSON *kept;
                        printf("  ");
                        put_clean(it->string, 12, true);
                        printf("%3.0f", jnum(it, "tokens", &n) ? n : 0.0);
                        if (why) {
                                printf("  ");
                                put_clean(why, 79 - 19, false);
                        }
                        putchar('\n');
                        kept = cJSON_GetObjectItemCaseSensitive(it, "room_kept_for");
                        if (cJSON_IsObject(kept) && jstr(kept, "id") && jnum(kept, "bytes", &n)) {
                                char kb[32];
                                printf("      room kept for ");
                                put_clean(jstr(kept, "id"), 40, false);
                                printf(" (%s): smaller stages start only beside it\n",
                                        format_size_human(kb, sizeof(kb), (uint64_t)n));
                        }
                }
        }
        if (cJSON_IsArray(running)) {
                if (cJSON_GetArraySize(running) == 0)
                        field("running:", "nothing");
                else
                        printf("running:\n  %-20s  %-10s  %3s  %8s  %10s  %10s\n", "ID", "STAGE", "TRY",
                                "ELAPSED", "MEMORY", "LIMIT");
                cJSON_ArrayForEach(it, running)
                {
                        double attempt = 0, ms = 0;
                        printf("  ");
                        put_clean(jstr(it, "id"), 20, true);
                        printf("  ");
                        put_clean(jstr(it, "stage"), 10, true);
                        (void)jnum(it, "attempt", &attempt);
                        (void)jnum(it, "elapsed_ms", &ms);
                        printf("  %3.0f  %8s", attempt,
                                format_elapsed(line, sizeof(line), to_u64(ms) * USEC_PER_MSEC));
                        printf("  %10s", jsize(it, "memory_bytes", a, sizeof(a)) ?: "-");
                        printf("  %10s\n", jsize(it, "limit_bytes", b, sizeof(b)) ?: "-");
                }
        }
        if (cJSON_IsObject(counts)) {
                size_t len = 0;
                double total = 0;
                printf("%-12s", "episodes:");
                /* In the order of the episode's life, not the reply's. */
                for (EpisodeState s = 0; s < _EPISODE_STATE_MAX; s++) {
                        double n;
                        if (!jnum(counts, state_to_string(s), &n) || n <= 0)
                                continue;
                        snprintf(line, sizeof(line), "%s%s %.0f", total > 0 ? ", " : "", state_to_string(s),
                                n);
                        if (len + strlen(line) > 80 - 12) {
                                printf(",\n%-12s", "");
                                len = 0;
                                memmove(line, line + 2, strlen(line + 2) + 1);
                        }
                        fputs(line, stdout);
                        len += strlen(line);
                        total += n;
                }
                printf(total > 0 ? "\n" : "none\n");
        }
}

static void print_list(const ClientOptions *o, const cJSON *r)
{
        const cJSON *eps = cJSON_GetObjectItemCaseSensitive(r, "episodes"), *e;
        size_t idw = 2, n = 0;
        char buf[64];

        cJSON_ArrayForEach(e, eps)
        {
                const char *id = jstr(e, "id");
                idw = MAX(idw, id ? strlen(id) : 1);
        }
        idw = MIN(idw, (size_t)24);
        if (cJSON_GetArraySize(eps) == 0) {
                if (o->state)
                        printf("no episodes in state %s\n", o->state);
                else
                        printf("no episodes\n");
                return;
        }
        /* ID, STATE 12, TRY 3, UPDATED 16 and two spaces between; REASON gets the rest of 79. */
        printf("%-*s  %-12s  %3s  %-16s  %s\n", (int)idw, "ID", "STATE", "TRY", "UPDATED", "REASON");
        cJSON_ArrayForEach(e, eps)
        {
                const char *reason;
                double attempts = 0;
                put_clean(jstr(e, "id"), idw, true);
                printf("  ");
                put_clean(jstr(e, "state"), 12, true);
                printf("  %3.0f  ", jnum(e, "attempts", &attempts) ? attempts : 0.0);
                reason = jstr(e, "reason");
                put_clean(jtime(e, "updated_at", buf, sizeof(buf), false) ?: "-", 16, !isempty(reason));
                if (!isempty(reason)) {
                        printf("  ");
                        put_clean(reason, 79 - (idw + 2 + 12 + 2 + 3 + 2 + 16 + 2), false);
                }
                putchar('\n');
                n++;
        }
        printf("%zu episode%s\n", n, n == 1 ? "" : "s");
}

static void print_run(const cJSON *run)
{
        char result[64], a[FORMAT_SIZE_MAX], b[FORMAT_SIZE_MAX], d[32], t[64];
        const char *res = jstr(run, "result"), *cg = jstr(run, "cgroup"), *error = jstr(run, "error");
        double attempt = 0, code = 0, dur;
        const cJSON *oom = cJSON_GetObjectItemCaseSensitive(run, "oom_kill");

        if (!res)
                snprintf(result, sizeof(result), "running");
        else if (streq(res, "exit") && jnum(run, "exit_code", &code))
                snprintf(result, sizeof(result), "exit %.0f", code);
        else if (streq(res, "signal") && jnum(run, "signal", &code) && sigabbrev_np((int)code))
                snprintf(result, sizeof(result), "SIG%s", sigabbrev_np((int)code));
        else
                snprintf(result, sizeof(result), "%s", res);
        if (cJSON_IsTrue(oom) && (!res || !streq(res, "oom")))
                strcat(result, ", oom");
        (void)jnum(run, "attempt", &attempt);
        printf("  #%-2.0f ", attempt);
        put_clean(jstr(run, "stage"), 10, true);
        printf("  ");
        put_clean(result, 14, true);
        printf("  peak %s of %s", jsize(run, "peak_bytes", a, sizeof(a)) ?: "-",
                jsize(run, "limit_bytes", b, sizeof(b)) ?: "-");
        if (jnum(run, "duration_usec", &dur) && res)
                printf("  %s", format_elapsed(d, sizeof(d), to_u64(dur)));
        putchar('\n');
        printf("      started %s, cgroup ", jtime(run, "started_at", t, sizeof(t), true) ?: "-");
        put_clean(cg, 0, false);
        putchar('\n');
        if (error) {
                printf("      error: ");
                put_clean(error, 0, false);
                putchar('\n');
        }
}

static void print_show(const cJSON *r)
{
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "episode");
        const cJSON *runs = cJSON_GetObjectItemCaseSensitive(r, "runs"), *run;
        char line[256], a[FORMAT_SIZE_MAX], t[64];
        double attempts = 0, intr = 0, ooms = 0, size;
        const char *reason = jstr(e, "reason");

        field("episode:", jstr(e, "id"));
        field("title:", jstr(e, "title"));
        field("url:", jstr(e, "url"));
        if (jstr(e, "state")) {
                snprintf(line, sizeof(line), "%s%s%s", jstr(e, "state"), reason ? ": " : "", reason ?: "");
                field("state:", line);
        }
        if (jnum(e, "attempts", &attempts)) {
                (void)jnum(e, "interruptions", &intr);
                (void)jnum(e, "oom_count", &ooms);
                snprintf(line, sizeof(line), "%.0f failed, %.0f interrupted, %.0f OOM kill%s", attempts,
                        intr, ooms, ooms == 1 ? "" : "s");
                field("attempts:", line);
        }
        field("next try:", jtime(e, "next_at", t, sizeof(t), true));
        field("created:", jtime(e, "created_at", t, sizeof(t), true));
        field("updated:", jtime(e, "updated_at", t, sizeof(t), true));
        if (jnum(e, "size_bytes", &size) && size > 0) {
                snprintf(line, sizeof(line), "%s%s%s", format_size_human(a, sizeof(a), to_u64(size)),
                        jstr(e, "format") ? " " : "", jstr(e, "format") ?: "");
                field("audio:", line);
        }
        field("sha256:", jstr(e, "sha256"));
        field("audio file:", jstr(e, "audio_path"));
        field("transcript:", jstr(e, "transcript_path"));
        field("metadata:", jstr(e, "metadata_path"));
        if (jnum(e, "current_limit_bytes", &size) && size > 0)
                field("limit:", format_size_human(a, sizeof(a), to_u64(size)));
        if (cJSON_IsArray(runs)) {
                if (cJSON_GetArraySize(runs) == 0)
                        field("runs:", "none");
                else
                        printf("runs:\n");
                cJSON_ArrayForEach(run, runs) print_run(run);
        }
}

/* Exit status for a failed connect or call. */
static int unreachable(int r, const char *err)
{
        log_error("%s", err);
        return control_error_is_unreachable(r) ? EXIT_UNAVAILABLE : EXIT_FAIL;
}

static int call(const ClientOptions *o, const char *path, const cJSON *req, cJSON **ret)
{
        char err[CONTROL_ERROR_MAX];
        int r;

        r = control_request(path, req, CONTROL_TIMEOUT_USEC, ret, err, sizeof(err));
        if (r < 0)
                return unreachable(r, err);
        if (o->json)
                return print_json(*ret) < 0                             ? EXIT_FAIL
                        : cJSON_IsTrue(cJSON_GetObjectItem(*ret, "ok")) ? EXIT_OK
                                                                        : EXIT_FAIL;
        if (!cJSON_IsTrue(cJSON_GetObjectItem(*ret, "ok"))) {
                const char *msg = jstr(*ret, "error");
                log_error("%s", msg ?: "the daemon refused the request");
                return EXIT_FAIL;
        }
        return -1; /* go on and print */
}

typedef struct Submission {
        const ClientOptions *o;
        ControlClient *client;
        unsigned submitted, known, bad;
        int failure; /* exit status once the daemon is gone */
} Submission;

static cJSON *submit_request(const char *id, const char *url, const char *title)
{
        cJSON *req = cJSON_CreateObject();

        if (!req || !cJSON_AddStringToObject(req, "cmd", "submit") ||
                !cJSON_AddStringToObject(req, "id", id) || !cJSON_AddStringToObject(req, "url", url) ||
                (title && !cJSON_AddStringToObject(req, "title", title))) {
                cJSON_Delete(req);
                return NULL;
        }
        return req;
}

static int on_manifest_entry(const ManifestEntry *e, void *userdata)
{
        Submission *s = userdata;
        _cleanup_(cJSON_Deletep) cJSON *req = submit_request(e->id, e->url, e->title), *reply = NULL;
        char err[CONTROL_ERROR_MAX];
        int r;

        if (!req)
                return -ENOMEM;
        r = control_client_call(s->client, req, &reply, err, sizeof(err));
        if (r < 0) {
                s->failure = unreachable(r, err);
                return r;
        }
        if (s->o->json)
                (void)print_json(reply);
        if (!cJSON_IsTrue(cJSON_GetObjectItem(reply, "ok"))) {
                log_error(
                        "%s:%u: %s: %s", s->o->manifest, e->line, e->id, jstr(reply, "error") ?: "refused");
                s->bad++;
        } else if (cJSON_IsFalse(cJSON_GetObjectItem(reply, "new")))
                s->known++;
        else
                s->submitted++;
        return 0;
}

static int on_manifest_error(unsigned line, const char *message, void *userdata)
{
        Submission *s = userdata;

        log_error("%s", message);
        if (line > 0)
                s->bad++;
        return 0;
}

static int submit_manifest(const ClientOptions *o, const char *path, unsigned protocols)
{
        _cleanup_control_client_ ControlClient *client = NULL;
        Submission s = { .o = o };
        char err[CONTROL_ERROR_MAX];
        int r;

        r = control_client_connect(path, CONTROL_TIMEOUT_USEC, &client, err, sizeof(err));
        if (r < 0)
                return unreachable(r, err);
        s.client = client;
        r = manifest_parse_file(o->manifest, protocols, on_manifest_entry, on_manifest_error, &s);
        /* The summary goes where it does not mix with --json's one reply per line. */
        fprintf(o->json ? stderr : stdout, "%u submitted, %u already known, %u bad line%s\n", s.submitted,
                s.known, s.bad, s.bad == 1 ? "" : "s");
        if (s.failure)
                return s.failure;
        if (r < 0)
                return r == -ENOMEM ? log_error_errno(r, "Out of memory"), EXIT_FAIL : EXIT_FAIL;
        return s.bad > 0 ? EXIT_FAIL : EXIT_OK;
}

static int run_verb(int argc, char *argv[])
{
        _cleanup_(cJSON_Deletep) cJSON *req = NULL, *reply = NULL;
        const VerbHelp *h = find_help(argv[0]);
        _cleanup_free_ char *path = NULL;
        char verb[32];
        unsigned protocols;
        const char *id = NULL;
        ClientOptions o;
        int r, nargs;

        if (!h)
                return EXIT_USAGE;
        snprintf(verb, sizeof(verb), "%s ", h->verb);
        r = parse_options(argc, argv, h, &o);
        if (r != 0)
                return r > 0 ? EXIT_OK : -r;
        nargs = argc - optind;

        if (streq(h->verb, "submit")) {
                if (o.manifest && (nargs > 0 || o.title))
                        return usage_error(verb, "--manifest takes no ID, URL or --title");
                if (!o.manifest && nargs != 2)
                        return usage_error(verb, "expected ID and URL, or --manifest FILE");
        } else if (streq(h->verb, "status") || streq(h->verb, "list")) {
                if (nargs != 0)
                        return usage_error(verb, "unexpected argument '%s'", argv[optind]);
        } else if (nargs != 1)
                return usage_error(verb, nargs == 0 ? "no episode ID given" : "expected one episode ID");
        if (nargs > 0) {
                id = argv[optind];
                if (!episode_id_valid(id))
                        return usage_error(verb,
                                "'%s' is not a valid episode ID (1-128 characters of A-Z a-z 0-9 . _ -)",
                                id);
        }
        if (resolve(&o, &path, &protocols) < 0)
                return EXIT_FAIL;
        if (o.manifest)
                return submit_manifest(&o, path, protocols);

        req = streq(h->verb, "submit") ? submit_request(id, argv[optind + 1], o.title)
                                       : cJSON_CreateObject();
        if (!req || (!streq(h->verb, "submit") && !cJSON_AddStringToObject(req, "cmd", h->verb)) ||
                (id && !streq(h->verb, "submit") && !cJSON_AddStringToObject(req, "id", id)) ||
                (o.state && !cJSON_AddStringToObject(req, "state", o.state)) ||
                (streq(h->verb, "retry") && !cJSON_AddBoolToObject(req, "force", o.force)))
                return log_error_errno(ENOMEM, "Out of memory"), EXIT_FAIL;

        r = call(&o, path, req, &reply);
        if (r >= 0)
                return r;
        if (streq(h->verb, "status"))
                print_status(reply);
        else if (streq(h->verb, "list"))
                print_list(&o, reply);
        else if (streq(h->verb, "show"))
                print_show(reply);
        else if (streq(h->verb, "submit")) {
                bool known = cJSON_IsFalse(cJSON_GetObjectItem(reply, "new"));
                const char *state = jstr(reply, "state");
                printf("%s: %s%s%s%s\n", id, known ? "already known" : "submitted", state ? " (" : "",
                        state ?: "", state ? ")" : "");
        } else
                printf("%s: %s\n", id, jstr(reply, "state") ?: "ok");
        return EXIT_OK;
}

int verb_submit(int argc, char *argv[])
{
        return run_verb(argc, argv);
}

int verb_status(int argc, char *argv[])
{
        return run_verb(argc, argv);
}

int verb_list(int argc, char *argv[])
{
        return run_verb(argc, argv);
}

int verb_show(int argc, char *argv[])
{
        return run_verb(argc, argv);
}

int verb_retry(int argc, char *argv[])
{
        return run_verb(argc, argv);
}

int verb_cancel(int argc, char *argv[])
{
        return run_verb(argc, argv);
}

int verb_release(int argc, char *argv[])
{
        return run_verb(argc, argv);
}
