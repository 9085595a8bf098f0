/* SPDX-License-Identifier: MIT */
/* A stand-in daemon for tests/test-client.sh: the real control server (runner/control.c) with a
 * handler that answers from a file of canned replies and logs every request it was handed.
 *
 *     control-stub SOCKET REPLIES.json REQUESTS.log [ADMIN_GROUP]
 *
 * REPLIES.json maps a cmd to its reply ({"ok":…, …}), or to an object mapping ids to replies
 * ("*" for any other id). A reply with "ok":false becomes a handler error with its "error". The
 * stub exits on SIGTERM, or by itself after a minute so that a failed test leaves nothing. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>

#include "common/json-util.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "runner/control.h"

typedef struct Stub {
        cJSON *replies;
        FILE *log;
} Stub;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
        stop = 1;
}

static int handler(void *userdata, const cJSON *request, cJSON *reply, char *err, size_t errlen)
{
        Stub *stub = userdata;
        const char *cmd = cJSON_GetObjectItem(request, "cmd")->valuestring;
        const cJSON *id = cJSON_GetObjectItem(request, "id");
        const cJSON *canned = cJSON_GetObjectItem(stub->replies, cmd), *it;
        _cleanup_free_ char *line = cJSON_PrintUnformatted(request);

        if (line) {
                fprintf(stub->log, "%s\n", line);
                fflush(stub->log);
        }
        if (canned && !cJSON_HasObjectItem(canned, "ok"))
                canned = cJSON_GetObjectItem(canned, cJSON_IsString(id) ? id->valuestring : "*")
                        ?: cJSON_GetObjectItem(canned, "*");
        if (!canned) {
                snprintf(err, errlen, "no canned reply for %s", cmd);
                return -ENOENT;
        }
        if (cJSON_IsFalse(cJSON_GetObjectItem(canned, "ok"))) {
                const cJSON *e = cJSON_GetObjectItem(canned, "error");
                snprintf(err, errlen, "%s", cJSON_IsString(e) ? e->valuestring : "");
                return -EINVAL;
        }
        cJSON_ArrayForEach(it, canned)
        {
                if (streq(it->string, "ok"))
                        continue;
                if (!cJSON_AddItemToObject(reply, it->string, cJSON_Duplicate(it, true)))
                        return -ENOMEM;
        }
        return 0;
}

int main(int argc, char *argv[])
{
        _cleanup_control_server_ ControlServer *s = NULL;
        _cleanup_(cJSON_Deletep) cJSON *replies = NULL;
        _cleanup_free_ char *text = NULL;
        _cleanup_fclose_ FILE *log = NULL;
        struct sigaction sa = { .sa_handler = on_signal };
        usec_t end = now_usec(CLOCK_MONOTONIC) + USEC_PER_MINUTE;
        char err[CONTROL_ERROR_MAX];
        size_t len;
        int r;

        if (argc != 4 && argc != 5) {
                fprintf(stderr, "usage: control-stub SOCKET REPLIES.json REQUESTS.log [ADMIN_GROUP]\n");
                return 2;
        }
        r = read_file_at(AT_FDCWD, argv[2], 1024 * 1024, &text, &len);
        if (r < 0 || !(replies = cJSON_Parse(text))) {
                fprintf(stderr, "control-stub: cannot read %s\n", argv[2]);
                return 1;
        }
        log = fopen(argv[3], "we");
        if (!log) {
                fprintf(stderr, "control-stub: cannot write %s: %m\n", argv[3]);
                return 1;
        }
        (void)sigaction(SIGTERM, &sa, NULL);
        (void)sigaction(SIGINT, &sa, NULL);
        r = control_server_open(argv[1], argc > 4 ? argv[4] : NULL, &s, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "control-stub: %s\n", err);
                return 1;
        }
        Stub stub = { .replies = replies, .log = log };
        while (!stop && now_usec(CLOCK_MONOTONIC) < end) {
                struct pollfd p = { .fd = control_server_fd(s), .events = POLLIN };
                if (poll(&p, 1, 100) > 0)
                        (void)control_server_dispatch(s, handler, &stub);
        }
        return 0;
}
