/* SPDX-License-Identifier: MIT */
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common/macro.h"
#include "common/parse.h"
#include "runner/control.h"
#include "runner/state.h"

/* The client side of the control socket (the memgov verbs) and the JSON shapes both sides share. */

struct ControlClient {
        int fd;
        char *path;
        usec_t timeout_usec;
        char *in; /* bytes received after the last reply */
        size_t in_len, in_size;
};

_printf_(4, 5) static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
        va_list ap;

        if (err && errlen > 0) {
                int saved = errno;
                errno = -r; /* for %m */
                va_start(ap, fmt);
                vsnprintf(err, errlen, fmt, ap);
                va_end(ap);
                errno = saved;
        }
        return r;
}

static usec_t deadline_after(usec_t timeout)
{
        usec_t now = now_usec(CLOCK_MONOTONIC);
        return timeout == USEC_INFINITY || timeout > USEC_INFINITY - now ? USEC_INFINITY : now + timeout;
}

/* Waits for events on fd until deadline. Returns 1, 0 on timeout, -errno. */
static int wait_fd(int fd, short events, usec_t deadline)
{
        for (;;) {
                struct pollfd p = { .fd = fd, .events = events };
                usec_t now = now_usec(CLOCK_MONOTONIC);
                int ms, n;

                if (deadline != USEC_INFINITY && now >= deadline)
                        return 0;
                ms = deadline == USEC_INFINITY ? -1
                                               : (int)MIN((deadline - now + 999) / 1000, (usec_t)INT32_MAX);
                n = poll(&p, 1, ms);
                if (n > 0)
                        return 1;
                if (n < 0 && errno != EINTR)
                        return -errno;
        }
}

/* The socket's group is the admin group (the daemon sets it), so the message can name it. */
static int access_denied(const char *path, char *err, size_t errlen)
{
        struct stat st;
        struct group *g;

        if (stat(path, &st) < 0 || st.st_gid == 0)
                return fail(err, errlen, -EACCES,
                        "permission denied on %s: only root may use the memgov daemon's control socket",
                        path);
        g = getgrgid(st.st_gid);
        if (g)
                return fail(err, errlen, -EACCES,
                        "permission denied on %s: only root and members of group '%s' may use it (add the user "
                        "with 'usermod -aG %s USER', then log in again)",
                        path, g->gr_name, g->gr_name);
        return fail(err, errlen, -EACCES,
                "permission denied on %s: only root and members of group %u may use it", path,
                (unsigned)st.st_gid);
}

int control_client_connect(
        const char *path, usec_t timeout_usec, ControlClient **ret, char *err, size_t errlen)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        usec_t deadline = deadline_after(timeout_usec);
        _cleanup_close_ int fd = -EBADF;
        ControlClient *c;

        if (isempty(path) || strlen(path) >= sizeof(sa.sun_path))
                return fail(err, errlen, -EINVAL, "'%s' is not a usable socket path", path ? path : "");
        memcpy(sa.sun_path, path, strlen(path));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return fail(err, errlen, -errno, "cannot create a Unix socket: %m");
        while (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
                switch (errno) {
                case EINTR:
                        continue;
                case EAGAIN: /* the daemon's backlog is full: it is busy, not gone */
                        if (now_usec(CLOCK_MONOTONIC) >= deadline)
                                return fail(err, errlen, -ETIMEDOUT,
                                        "the memgov daemon at %s does not accept connections (busy?)", path);
                        (void)poll(NULL, 0, 10);
                        continue;
                case ENOENT:
                case ECONNREFUSED:
                        return fail(err, errlen, -errno,
                                "no memgov daemon at %s (is it running? see 'systemctl status memgov')",
                                path);
                case EACCES:
                case EPERM:
                        return access_denied(path, err, errlen);
                default:
                        return fail(err, errlen, -errno, "cannot connect to %s: %m", path);
                }
        }
        c = calloc(1, sizeof(*c));
        if (!c)
                return fail(err, errlen, -ENOMEM, "out of memory");
        c->path = strdup(path);
        if (!c->path) {
                free(c);
                return fail(err, errlen, -ENOMEM, "out of memory");
        }
        c->fd = TAKE_FD(fd);
        c->timeout_usec = timeout_usec;
        *ret = c;
        return 0;
}

ControlClient *control_client_close(ControlClient *c)
{
        if (!c)
                return NULL;
        safe_close(c->fd);
        free(c->path);
        free(c->in);
        free(c);
        return NULL;
}

static int client_send(ControlClient *c, const char *data, size_t len, usec_t deadline)
{
        while (len > 0) {
                ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        int r;
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                return -errno;
                        r = wait_fd(c->fd, POLLOUT, deadline);
                        if (r <= 0)
                                return r == 0 ? -ETIMEDOUT : r;
                        continue;
                }
                data += n;
                len -= (size_t)n;
        }
        return 0;
}

/* Reads until a complete line is buffered; returns its length (without the '\n'). */
static ssize_t client_read_line(ControlClient *c, usec_t deadline)
{
        size_t scanned = 0;

        for (;;) {
                char *nl = c->in_len > scanned ? memchr(c->in + scanned, '\n', c->in_len - scanned) : NULL;
                ssize_t n;
                int r;

                if (nl)
                        return nl - c->in;
                scanned = c->in_len;
                if (c->in_len > CONTROL_REPLY_MAX)
                        return -EMSGSIZE;
                if (c->in_size - c->in_len < 4096) {
                        size_t size = MAX(c->in_size * 2, (size_t)16384);
                        char *p = realloc(c->in, size);
                        if (!p)
                                return -ENOMEM;
                        c->in = p;
                        c->in_size = size;
                }
                n = recv(c->fd, c->in + c->in_len, c->in_size - c->in_len, MSG_DONTWAIT);
                if (n > 0) {
                        c->in_len += (size_t)n;
                        continue;
                }
                if (n == 0)
                        return -ECONNRESET;
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN)
                        return -errno;
                r = wait_fd(c->fd, POLLIN, deadline);
                if (r <= 0)
                        return r == 0 ? -ETIMEDOUT : r;
        }
}

int control_client_call(ControlClient *c, const cJSON *request, cJSON **ret_reply, char *err, size_t errlen)
{
        usec_t deadline = deadline_after(c->timeout_usec);
        _cleanup_free_ char *text = cJSON_PrintUnformatted(request);
        cJSON *reply;
        ssize_t len;
        size_t n;
        int r;

        if (!text)
                return fail(err, errlen, -ENOMEM, "out of memory");
        n = strlen(text);
        text[n] = '\n'; /* cJSON allocates exactly n + 1 bytes */
        r = client_send(c, text, n + 1, deadline);
        /* A daemon that refuses us writes its reason and closes: read it rather than report EPIPE. */
        if (r < 0 && r != -EPIPE && r != -ECONNRESET)
                return fail(err, errlen, r,
                        r == -ETIMEDOUT ? "the memgov daemon at %s does not take requests (timed out)"
                                        : "cannot send to the memgov daemon at %s: %m",
                        c->path);
        len = client_read_line(c, deadline);
        if (len == -ETIMEDOUT) {
                char d[FORMAT_DURATION_MAX];
                return fail(err, errlen, -ETIMEDOUT, "no reply from the memgov daemon at %s within %s",
                        c->path, format_duration(d, sizeof(d), c->timeout_usec));
        }
        if (len == -ECONNRESET)
                return fail(err, errlen, -ECONNRESET,
                        "the memgov daemon at %s closed the connection without a reply (did it stop?)",
                        c->path);
        if (len == -EMSGSIZE)
                return fail(
                        err, errlen, -EBADMSG, "the reply of the memgov daemon at %s is too long", c->path);
        if (len < 0)
                return fail(err, errlen, (int)len, "cannot read from the memgov daemon at %s: %m", c->path);
        reply = cJSON_ParseWithLength(c->in, (size_t)len);
        memmove(c->in, c->in + len + 1, c->in_len - (size_t)len - 1);
        c->in_len -= (size_t)len + 1;
        if (!reply || !cJSON_IsObject(reply) ||
                !cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(reply, "ok"))) {
                cJSON_Delete(reply);
                return fail(err, errlen, -EBADMSG, "malformed reply from the memgov daemon at %s", c->path);
        }
        *ret_reply = reply;
        return 0;
}

int control_request(const char *path, const cJSON *request, usec_t timeout_usec, cJSON **ret_reply,
        char *err, size_t errlen)
{
        _cleanup_control_client_ ControlClient *c = NULL;
        int r;

        r = control_client_connect(path, timeout_usec, &c, err, errlen);
        if (r < 0)
                return r;
        return control_client_call(c, request, ret_reply, err, errlen);
}

bool control_error_is_unreachable(int r)
{
        switch (-r) {
        case ECONNREFUSED:
        case ENOENT:
        case EACCES:
        case EPERM:
        case ETIMEDOUT:
        case ECONNRESET:
        case EPIPE:
                return true;
        default:
                return false;
        }
}

const char *control_format_timestamp(char *buf, size_t size, usec_t usec)
{
        time_t t = (time_t)(usec / USEC_PER_SEC);
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(buf, size, "?");
        return buf;
}

static bool add_string(cJSON *o, const char *key, const char *value)
{
        return value ? !!cJSON_AddStringToObject(o, key, value) : !!cJSON_AddNullToObject(o, key);
}

static bool add_number(cJSON *o, const char *key, double value)
{
        return !!cJSON_AddNumberToObject(o, key, value);
}

cJSON *control_json_add_u64(cJSON *o, const char *key, uint64_t value)
{
        char buf[DECIMAL_STR_MAX(uint64_t)];

        /* As a double, cJSON would print 1714564800000000 as 1.7145648e+15. */
        snprintf(buf, sizeof(buf), "%" PRIu64, value);
        return cJSON_AddRawToObject(o, key, buf);
}

static bool add_u64(cJSON *o, const char *key, uint64_t value)
{
        return !!control_json_add_u64(o, key, value);
}

/* "KEY": RFC 3339 or null, "KEY_usec": the raw value or null. */
static bool add_time(cJSON *o, const char *key, usec_t usec)
{
        char name[64], buf[CONTROL_TIMESTAMP_MAX];

        snprintf(name, sizeof(name), "%s_usec", key);
        if (usec == 0)
                return cJSON_AddNullToObject(o, key) && cJSON_AddNullToObject(o, name);
        return cJSON_AddStringToObject(o, key, control_format_timestamp(buf, sizeof(buf), usec)) &&
                add_u64(o, name, usec);
}

cJSON *control_episode_to_json(const Episode *e)
{
        cJSON *o = cJSON_CreateObject();
        bool ok = o;

        ok = ok && add_string(o, "id", e->id) && add_string(o, "url", e->url) &&
                add_string(o, "title", e->title) &&
                add_string(o, "state", state_to_string(e->status.state)) &&
                add_string(o, "reason", isempty(e->reason) ? NULL : e->reason) &&
                add_number(o, "attempts", e->status.attempts) &&
                add_number(o, "interruptions", e->status.interruptions) &&
                add_number(o, "oom_count", e->status.oom_count) &&
                add_number(o, "oom_at_max_count", e->status.oom_at_max_count) &&
                add_time(o, "next_at", e->status.next_at) && add_time(o, "created_at", e->created_at) &&
                add_time(o, "updated_at", e->updated_at) && add_u64(o, "size_bytes", e->size_bytes) &&
                add_string(o, "sha256", e->sha256) && add_string(o, "format", e->format) &&
                add_string(o, "audio_path", e->audio_path) &&
                add_string(o, "transcript_path", e->transcript_path) &&
                add_string(o, "metadata_path", e->metadata_path) &&
                add_u64(o, "current_limit_bytes", e->current_limit_bytes);
        if (!ok) {
                cJSON_Delete(o);
                return NULL;
        }
        return o;
}

cJSON *control_run_to_json(const StageRun *r)
{
        bool running = r->ended_at == 0;
        cJSON *o = cJSON_CreateObject();
        bool ok = o;

        ok = ok && add_number(o, "run_id", (double)r->run_id) &&
                add_string(o, "episode_id", r->episode_id) &&
                add_string(o, "stage", state_stage_to_string(r->stage)) &&
                add_number(o, "attempt", r->attempt) && add_string(o, "cgroup", r->cgroup) &&
                add_u64(o, "limit_bytes", r->limit_bytes) && add_time(o, "started_at", r->started_at) &&
                add_time(o, "ended_at", r->ended_at) &&
                add_string(o, "result", running ? NULL : state_result_to_string(r->result)) &&
                add_number(o, "exit_code", r->exit_code) && add_number(o, "signal", r->signal) &&
                !!cJSON_AddBoolToObject(o, "oom_kill", r->oom_kill) &&
                add_u64(o, "peak_bytes", r->peak_bytes) && add_u64(o, "duration_usec", r->duration_usec) &&
                add_string(o, "error", isempty(r->error) ? NULL : r->error);
        if (!ok) {
                cJSON_Delete(o);
                return NULL;
        }
        return o;
}
