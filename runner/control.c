/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>

#include "common/json-util.h"
#include "common/macro.h"
#include "runner/control.h"
#include "runner/manifest.h"
#include "runner/state.h"

/* The server runs inside the daemon's single-threaded event loop, so nothing here may block:
 * every socket is non-blocking, a connection is only read when its previous reply has been
 * written (a client that does not read its replies stops being read, so it cannot make us buffer
 * without bound), and a connection that does nothing for the idle timeout is closed. The
 * daemon's epoll waits on one fd, an epoll of our own over the listening socket, an idle timer
 * and the connections. */

#define ACCEPT_BATCH 64U
#define IN_CHUNK     4096U

typedef struct Conn {
        int fd;
        char *in; /* received bytes not yet handled; in_start of them are consumed */
        size_t in_len, in_start, in_size;
        char *out; /* the reply being written */
        size_t out_len, out_off;
        usec_t last_active;
        uint32_t events; /* as registered with epoll */
        bool eof;        /* the peer shut down its side: answer what is complete, then close */
        bool closing;    /* write what is queued, then close */
        struct Conn *prev, *next;
} Conn;

struct ControlServer {
        int listen_fd;
        int epoll_fd;
        int timer_fd;
        char *path;
        dev_t dev; /* of the socket file we bound, so close never removes another's socket */
        ino_t ino;
        bool have_gid;
        gid_t gid;
        char *group;
        usec_t idle_usec;
        bool accept_paused; /* out of fds: the listener would stay readable and the daemon spin */
        Conn *conns;
        ControlStats stats;
};

typedef enum FieldType {
        FIELD_ID,
        FIELD_STRING,
        FIELD_BOOL,
        FIELD_STATE,
} FieldType;

typedef struct Field {
        const char *name;
        FieldType type;
        bool required;
} Field;

typedef struct Command {
        const char *name;
        Field fields[3];
} Command;

static const Command commands[] = {
        { "submit",
                { { "id", FIELD_ID, true }, { "url", FIELD_STRING, true },
                        { "title", FIELD_STRING, false } } },
        { "status", {} },
        { "list", { { "state", FIELD_STATE, false } } },
        { "show", { { "id", FIELD_ID, true } } },
        { "retry", { { "id", FIELD_ID, true }, { "force", FIELD_BOOL, false } } },
        { "cancel", { { "id", FIELD_ID, true } } },
        { "release", { { "id", FIELD_ID, true } } },
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

/* Replies are one line: control characters in a handler's message would break the framing. */
static void one_line(char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        *s = ' ';
}

/* Echoes a short, printable piece of client input into a message, never more. */
static const char *quote_input(const char *in, char *buf, size_t size)
{
        size_t i = 0;

        for (; in[i] && i + 4 < size; i++)
                buf[i] = (unsigned char)in[i] < 0x20 || (unsigned char)in[i] >= 0x7f ? '?' : in[i];
        /* Cut short, i + 4 == size: room for "..." and the NUL. */
        strcpy(buf + i, in[i] ? "..." : "");
        return buf;
}

static void timer_arm(ControlServer *s, bool on)
{
        /* The sweep runs a few times per idle period, and only while there are connections. */
        usec_t interval = CLAMP(s->idle_usec / 4, 5 * USEC_PER_MSEC, 10 * USEC_PER_SEC);
        struct itimerspec its = {};

        if (on)
                its.it_value = its.it_interval = usec_to_timespec(interval);
        (void)timerfd_settime(s->timer_fd, 0, &its, NULL);
}

static void accept_pause(ControlServer *s, bool pause)
{
        struct epoll_event ev = { .events = pause ? 0 : EPOLLIN, .data.ptr = &s->listen_fd };

        if (s->accept_paused == pause || epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, s->listen_fd, &ev) < 0)
                return;
        s->accept_paused = pause;
        /* The idle timer retries even when no connection closes to free an fd. */
        timer_arm(s, pause || s->stats.clients > 0);
}

static void conn_free(ControlServer *s, Conn *c)
{
        (void)epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
        safe_close(c->fd);
        if (c->prev)
                c->prev->next = c->next;
        else
                s->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        free(c->in);
        free(c->out);
        free(c);
        if (--s->stats.clients == 0 && !s->accept_paused)
                timer_arm(s, false);
        accept_pause(s, false);
}

/* Queues reply (one at a time: the queue is empty when this is called). */
static int conn_queue(Conn *c, const cJSON *reply)
{
        char *text = cJSON_PrintUnformatted(reply);
        size_t len;

        if (!text)
                return -ENOMEM;
        len = strlen(text);
        if (len > CONTROL_REPLY_MAX) {
                char msg[128];
                free(text);
                snprintf(msg, sizeof(msg),
                        "{\"ok\":false,\"error\":\"the reply (%zu bytes) is larger than the limit of %u bytes\"}",
                        len, CONTROL_REPLY_MAX);
                text = strdup(msg);
                if (!text)
                        return -ENOMEM;
                len = strlen(text);
        }
        /* cJSON allocated at least len + 1 bytes; the '\n' takes the place of the NUL. */
        text[len] = '\n';
        c->out = text;
        c->out_len = len + 1;
        c->out_off = 0;
        return 0;
}

static int conn_queue_error(Conn *c, const char *msg)
{
        _cleanup_(cJSON_Deletep) cJSON *reply = NULL;
        char line[CONTROL_ERROR_MAX];

        snprintf(line, sizeof(line), "%s", msg);
        one_line(line);
        reply = cJSON_CreateObject();
        if (!reply || !cJSON_AddFalseToObject(reply, "ok") || !cJSON_AddStringToObject(reply, "error", line))
                return -ENOMEM;
        return conn_queue(c, reply);
}

static int validate_field(const cJSON *req, const Field *f, char *err, size_t errlen)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, f->name);

        if (!v || cJSON_IsNull(v))
                return f->required ? fail(err, errlen, -EINVAL, "missing field '%s'", f->name) : 0;
        switch (f->type) {
        case FIELD_BOOL:
                if (!cJSON_IsBool(v))
                        return fail(err, errlen, -EINVAL, "field '%s' must be true or false", f->name);
                return 0;
        case FIELD_ID:
        case FIELD_STRING:
        case FIELD_STATE:
                break;
        }
        if (!cJSON_IsString(v))
                return fail(err, errlen, -EINVAL, "field '%s' must be a string", f->name);
        if (f->type == FIELD_ID && !episode_id_valid(v->valuestring))
                return fail(err, errlen, -EINVAL,
                        "field '%s' is not a valid episode id (1-128 characters of A-Z a-z 0-9 . _ -)",
                        f->name);
        if (f->type == FIELD_STATE && state_from_string(v->valuestring) < 0) {
                char names[256] = "";
                for (EpisodeState st = 0; st < _EPISODE_STATE_MAX; st++) {
                        if (st > 0)
                                strcat(names, ", ");
                        strcat(names, state_to_string(st));
                }
                return fail(err, errlen, -EINVAL, "field '%s' is not a state (one of %s)", f->name, names);
        }
        if (f->type == FIELD_STRING && f->required && isempty(v->valuestring))
                return fail(err, errlen, -EINVAL, "field '%s' is empty", f->name);
        return 0;
}

/* Transport-level checks, so a handler only ever sees well-formed requests. */
static int validate_request(const cJSON *req, char *err, size_t errlen)
{
        const cJSON *cmd;
        char q[40];

        if (!cJSON_IsObject(req))
                return fail(err, errlen, -EINVAL, "a request must be a JSON object");
        cmd = cJSON_GetObjectItemCaseSensitive(req, "cmd");
        if (!cmd)
                return fail(err, errlen, -EINVAL, "missing field 'cmd'");
        if (!cJSON_IsString(cmd))
                return fail(err, errlen, -EINVAL, "field 'cmd' must be a string");
        FOREACH_ARRAY (c, commands, ELEMENTSOF(commands)) {
                if (!streq(c->name, cmd->valuestring))
                        continue;
                FOREACH_ARRAY (f, c->fields, ELEMENTSOF(c->fields)) {
                        int r;
                        if (!f->name)
                                break;
                        r = validate_field(req, f, err, errlen);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        return fail(err, errlen, -EINVAL,
                "unknown cmd '%s' (one of submit, status, list, show, retry, cancel, release)",
                quote_input(cmd->valuestring, q, sizeof(q)));
}

static int conn_handle_line(
        ControlServer *s, Conn *c, const char *line, size_t len, ControlHandler handler, void *userdata)
{
        _cleanup_(cJSON_Deletep) cJSON *req = NULL, *reply = NULL;
        char err[CONTROL_ERROR_MAX] = "";
        const char *end = NULL;
        int r;

        while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r'))
                len--;
        if (len == 0)
                return 0; /* blank lines are not requests and get no reply */
        if (memchr(line, 0, len)) {
                s->stats.bad_requests++;
                return conn_queue_error(c, "malformed request: NUL byte in the line");
        }
        req = cJSON_ParseWithLengthOpts(line, len, &end, false);
        if (req && end) /* the buffer is not NUL-terminated: stay within len */
                while (end < line + len && (*end == ' ' || *end == '\t' || *end == '\r'))
                        end++;
        if (!req || end < line + len) {
                size_t at = end && end >= line && end <= line + len ? (size_t)(end - line) : 0;
                s->stats.bad_requests++;
                snprintf(err, sizeof(err), "malformed JSON near byte %zu of the request", at + 1);
                return conn_queue_error(c, err);
        }
        r = validate_request(req, err, sizeof(err));
        if (r < 0) {
                s->stats.bad_requests++;
                return conn_queue_error(c, err);
        }

        reply = cJSON_CreateObject();
        if (!reply || !cJSON_AddTrueToObject(reply, "ok"))
                return -ENOMEM;
        s->stats.requests++;
        r = handler(userdata, req, reply, err, sizeof(err));
        if (r < 0) {
                s->stats.handler_errors++;
                if (err[0] == 0)
                        snprintf(err, sizeof(err), "%s", strerror(-r));
                return conn_queue_error(c, err);
        }
        return conn_queue(c, reply);
}

static int conn_read(Conn *c)
{
        ssize_t n;

        if (c->in_len == c->in_size) {
                /* Up to one longest line and its newline: a full buffer without one is overlong. */
                size_t size = MIN(MAX(c->in_size * 2, (size_t)IN_CHUNK), (size_t)CONTROL_LINE_MAX + 1);
                char *p;
                if (size <= c->in_size)
                        return 0;
                p = realloc(c->in, size);
                if (!p)
                        return -ENOMEM;
                c->in = p;
                c->in_size = size;
        }
        n = recv(c->fd, c->in + c->in_len, c->in_size - c->in_len, MSG_DONTWAIT);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        if (n == 0)
                c->eof = true;
        c->in_len += (size_t)n;
        return (int)(n > 0);
}

/* Answers complete lines until a reply is waiting to be written. */
static int conn_process(ControlServer *s, Conn *c, ControlHandler handler, void *userdata)
{
        int r = 0;

        while (!c->closing && c->out_len == 0) {
                char *start = c->in + c->in_start;
                size_t avail = c->in_len - c->in_start, len;
                char *nl = avail > 0 ? memchr(start, '\n', avail) : NULL;

                if (nl)
                        len = (size_t)(nl - start);
                else if (avail > CONTROL_LINE_MAX || (c->eof && avail > 0))
                        len = avail; /* overlong, or a last line without its newline */
                else
                        break;
                c->in_start += nl ? len + 1 : len;
                if (len > CONTROL_LINE_MAX) {
                        char msg[96];
                        s->stats.dropped_overlong++;
                        snprintf(msg, sizeof(msg),
                                "request line longer than %u bytes; closing the connection",
                                CONTROL_LINE_MAX);
                        c->closing = true;
                        c->in_start = c->in_len;
                        r = conn_queue_error(c, msg);
                        break;
                }
                c->last_active = now_usec(CLOCK_MONOTONIC);
                r = conn_handle_line(s, c, start, len, handler, userdata);
                if (r < 0)
                        break;
        }
        if (c->in_start > 0) {
                memmove(c->in, c->in + c->in_start, c->in_len - c->in_start);
                c->in_len -= c->in_start;
                c->in_start = 0;
        }
        return r;
}

static int conn_flush(Conn *c)
{
        while (c->out_off < c->out_len) {
                ssize_t n = send(
                        c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? 0 : -errno;
                }
                c->out_off += (size_t)n;
                c->last_active = now_usec(CLOCK_MONOTONIC);
        }
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_off = 0;
        return 0;
}

static bool conn_has_line(const Conn *c)
{
        size_t avail = c->in_len - c->in_start;
        return avail > CONTROL_LINE_MAX || (c->eof && avail > 0) ||
                (avail > 0 && memchr(c->in + c->in_start, '\n', avail));
}

static void conn_event(ControlServer *s, Conn *c, uint32_t events, ControlHandler handler, void *userdata)
{
        uint32_t want;
        int r = 0;

        if (!c->eof && !c->closing && c->out_len == 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                r = conn_read(c);
        while (r >= 0) {
                r = conn_process(s, c, handler, userdata);
                if (r < 0 || c->out_len == 0)
                        break;
                r = conn_flush(c);
                if (r < 0 || c->out_len > 0 || !conn_has_line(c))
                        break;
        }
        if (r < 0) {
                s->stats.dropped_error++;
                conn_free(s, c);
                return;
        }
        if (c->out_len == 0 && (c->closing || c->eof)) {
                conn_free(s, c);
                return;
        }
        /* Level-triggered: ask only for what can make progress, or epoll would spin. */
        want = c->out_len > 0 ? EPOLLOUT : EPOLLIN;
        if (want != c->events) {
                struct epoll_event ev = { .events = want, .data.ptr = c };
                if (epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
                        s->stats.dropped_error++;
                        conn_free(s, c);
                        return;
                }
                c->events = want;
        }
}

/* Supplementary groups as the kernel recorded them at connect(), like SO_PEERCRED: reading
 * /proc/PID/status instead would race with the peer exiting and its pid being reused, and
 * getgrouplist() would ask NSS (possibly over the network, blocking the daemon) for the groups
 * the user may have rather than those the process has. */
static int peer_has_group(int fd, gid_t gid)
{
        gid_t small[64], *groups = small;
        _cleanup_free_ gid_t *big = NULL;
        socklen_t len = sizeof(small);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
                if (errno != ERANGE)
                        return -errno;
                big = malloc(len);
                if (!big)
                        return -ENOMEM;
                groups = big;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
                        return -errno;
        }
        for (size_t i = 0; i < len / sizeof(gid_t); i++)
                if (groups[i] == gid)
                        return 1;
        return 0;
}

static int peer_allowed(const ControlServer *s, int fd)
{
        struct ucred uc;
        socklen_t len = sizeof(uc);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
                return -errno;
        if (uc.uid == 0)
                return 1;
        if (!s->have_gid)
                return 0;
        if (uc.gid == s->gid)
                return 1;
        return peer_has_group(fd, s->gid);
}

/* Best effort: the connection is new, so its socket buffer has room for one short line. */
static void refuse(int fd, const char *msg)
{
        Conn c = { .fd = fd };

        if (conn_queue_error(&c, msg) >= 0)
                (void)send(fd, c.out, c.out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        free(c.out);
}

static int server_accept(ControlServer *s)
{
        for (unsigned i = 0; i < ACCEPT_BATCH; i++) {
                _cleanup_close_ int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                struct epoll_event ev = { .events = EPOLLIN };
                char msg[CONTROL_ERROR_MAX];
                Conn *c;
                int r;

                if (fd < 0) {
                        if (errno == EAGAIN)
                                return 0;
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                                accept_pause(s, true);
                        return -errno;
                }
                r = peer_allowed(s, fd);
                if (r <= 0) {
                        /* The group name comes from the policy, checked to be a plain name. */
                        if (s->have_gid)
                                snprintf(msg, sizeof(msg), "permission denied: root or group %s only",
                                        s->group);
                        else
                                snprintf(msg, sizeof(msg), "permission denied: root only");
                        refuse(fd, msg);
                        s->stats.refused_auth++;
                        continue;
                }
                if (s->stats.clients >= CONTROL_CLIENTS_MAX) {
                        snprintf(msg, sizeof(msg), "too many connections (%u); try again later",
                                CONTROL_CLIENTS_MAX);
                        refuse(fd, msg);
                        s->stats.refused_busy++;
                        continue;
                }
                c = calloc(1, sizeof(*c));
                if (!c)
                        return -ENOMEM;
                c->fd = fd;
                c->events = EPOLLIN;
                c->last_active = now_usec(CLOCK_MONOTONIC);
                ev.data.ptr = c;
                if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                        free(c);
                        return -errno;
                }
                TAKE_FD(fd);
                c->next = s->conns;
                if (s->conns)
                        s->conns->prev = c;
                s->conns = c;
                if (s->stats.clients++ == 0)
                        timer_arm(s, true);
                s->stats.accepted++;
        }
        return 0;
}

static void server_sweep_idle(ControlServer *s)
{
        usec_t now = now_usec(CLOCK_MONOTONIC);
        uint64_t expirations;

        (void)read(s->timer_fd, &expirations, sizeof(expirations));
        accept_pause(s, false);
        for (Conn *c = s->conns, *next; c; c = next) {
                next = c->next;
                if (now - c->last_active >= s->idle_usec) {
                        s->stats.dropped_idle++;
                        conn_free(s, c);
                }
        }
}

int control_server_dispatch(ControlServer *s, ControlHandler handler, void *userdata)
{
        struct epoll_event events[16];
        bool listener = false, timer = false;
        int n;

        n = epoll_wait(s->epoll_fd, events, ELEMENTSOF(events), 0);
        if (n < 0)
                return errno == EINTR ? 0 : -errno;
        /* Connections first: a connection freed here cannot appear again in this batch, and new
         * ones are only accepted afterwards. */
        for (int i = 0; i < n; i++) {
                if (events[i].data.ptr == &s->listen_fd)
                        listener = true;
                else if (events[i].data.ptr == &s->timer_fd)
                        timer = true;
                else
                        conn_event(s, events[i].data.ptr, events[i].events, handler, userdata);
        }
        if (timer)
                server_sweep_idle(s);
        return listener ? server_accept(s) : 0;
}

static int mkdir_parents(const char *path)
{
        _cleanup_free_ char *p = strdup(path);
        char *slash;

        if (!p)
                return -ENOMEM;
        slash = strrchr(p, '/');
        if (!slash || slash == p)
                return 0;
        *slash = 0;
        for (char *q = p + 1;; q++) {
                char ch = *q;
                if (ch != '/' && ch != 0)
                        continue;
                *q = 0;
                if (mkdir(p, 0755) == 0)
                        (void)chmod(p, 0755); /* whatever the umask */
                else if (errno != EEXIST)
                        return -errno;
                *q = ch;
                if (!ch)
                        return 0;
        }
}

/* 1 when something accepts connections at sa, 0 when nobody does (a stale file), -errno. */
static int socket_is_live(const struct sockaddr_un *sa)
{
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
                return 1;
        if (errno == EAGAIN || errno == EINPROGRESS) /* a full backlog is still a live daemon */
                return 1;
        if (errno == ECONNREFUSED || errno == ENOENT)
                return 0;
        return -errno;
}

static int server_bind(ControlServer *s, const struct sockaddr_un *sa, char *err, size_t errlen)
{
        struct stat st;
        int r;

        if (bind(s->listen_fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
                return 0;
        if (errno != EADDRINUSE)
                return fail(err, errlen, -errno, "%s: cannot create the control socket: %m", s->path);
        if (lstat(s->path, &st) == 0 && !S_ISSOCK(st.st_mode))
                return fail(err, errlen, -EEXIST,
                        "%s exists and is not a socket; not replacing it (remove it or set [paths] socket)",
                        s->path);
        r = socket_is_live(sa);
        if (r < 0)
                return fail(err, errlen, r, "%s: cannot check the existing socket: %m", s->path);
        if (r > 0)
                return fail(err, errlen, -EADDRINUSE,
                        "%s: another memgov daemon is already listening there (stop it first, or set another "
                        "[paths] socket)",
                        s->path);
        /* Nobody answers: the socket of a daemon that died. The daemon's ledger lock keeps two
         * daemons of one state directory from racing here. */
        if (unlink(s->path) < 0 && errno != ENOENT)
                return fail(err, errlen, -errno, "%s: cannot remove the stale socket: %m", s->path);
        if (bind(s->listen_fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0)
                return fail(err, errlen, -errno, "%s: cannot create the control socket: %m", s->path);
        return 0;
}

int control_server_open(
        const char *path, const char *admin_group, ControlServer **ret, char *err, size_t errlen)
{
        _cleanup_control_server_ ControlServer *s = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct epoll_event ev = { .events = EPOLLIN };
        struct stat st;
        int r;

        if (isempty(path) || strlen(path) >= sizeof(sa.sun_path))
                return fail(err, errlen, -EINVAL, "%s: not a usable socket path (1-%zu bytes)",
                        path ? path : "", sizeof(sa.sun_path) - 1);
        memcpy(sa.sun_path, path, strlen(path));

        s = calloc(1, sizeof(*s));
        if (!s)
                return fail(err, errlen, -ENOMEM, "out of memory");
        s->listen_fd = s->epoll_fd = s->timer_fd = -EBADF;
        s->idle_usec = CONTROL_IDLE_USEC;
        s->path = strdup(path);
        if (!s->path)
                return fail(err, errlen, -ENOMEM, "out of memory");
        if (admin_group) {
                struct group *g;
                errno = 0;
                g = getgrnam(admin_group);
                if (!g)
                        return fail(err, errlen, errno > 0 ? -errno : -ENOENT,
                                "[daemon] admin_group: no group '%s' on this host (create it with 'groupadd "
                                "--system %s', or leave admin_group empty for root only)",
                                admin_group, admin_group);
                s->gid = g->gr_gid;
                s->have_gid = true;
                s->group = strdup(admin_group);
                if (!s->group)
                        return fail(err, errlen, -ENOMEM, "out of memory");
        }

        r = mkdir_parents(path);
        if (r < 0)
                return fail(err, errlen, r, "%s: cannot create its directory: %m", path);
        s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->listen_fd < 0)
                return fail(err, errlen, -errno, "cannot create a Unix socket: %m");
        r = server_bind(s, &sa, err, errlen);
        if (r < 0)
                return r;
        /* Nobody can connect before listen(), so the mode and group are right before anyone can. */
        if (chmod(path, 0660) < 0 || (s->have_gid && chown(path, (uid_t)-1, s->gid) < 0)) {
                r = -errno;
                (void)unlink(path);
                return fail(err, errlen, r, "%s: cannot set the socket's mode or group: %m", path);
        }
        if (stat(path, &st) < 0)
                return fail(err, errlen, -errno, "%s: %m", path);
        s->dev = st.st_dev;
        s->ino = st.st_ino;
        if (listen(s->listen_fd, SOMAXCONN) < 0)
                return fail(err, errlen, -errno, "%s: cannot listen: %m", path);

        s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (s->epoll_fd < 0 || s->timer_fd < 0)
                return fail(err, errlen, -errno, "cannot create the control socket's event fds: %m");
        ev.data.ptr = &s->listen_fd;
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->listen_fd, &ev) < 0)
                return fail(err, errlen, -errno, "epoll: %m");
        ev.data.ptr = &s->timer_fd;
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->timer_fd, &ev) < 0)
                return fail(err, errlen, -errno, "epoll: %m");
        *ret = TAKE_PTR(s);
        return 0;
}

ControlServer *control_server_close(ControlServer *s)
{
        struct stat st;

        if (!s)
                return NULL;
        while (s->conns)
                conn_free(s, s->conns);
        if (s->listen_fd >= 0 && s->ino != 0 && stat(s->path, &st) == 0 && st.st_dev == s->dev &&
                st.st_ino == s->ino)
                (void)unlink(s->path);
        safe_close(s->listen_fd);
        safe_close(s->epoll_fd);
        safe_close(s->timer_fd);
        free(s->path);
        free(s->group);
        free(s);
        return NULL;
}

int control_server_fd(const ControlServer *s)
{
        return s->epoll_fd;
}

const ControlStats *control_server_stats(const ControlServer *s)
{
        return &s->stats;
}

void control_server_set_idle_timeout(ControlServer *s, usec_t usec)
{
        s->idle_usec = MAX(usec, 10 * USEC_PER_MSEC);
        if (s->stats.clients > 0)
                timer_arm(s, true);
}
