/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "common/json-util.h"
#include "common/macro.h"
#include "runner/control.h"
#include "tests/fake-tree.h"
#include "tests/tap.h"

/* The control server on a real Unix socket in a temporary folder. The test is both sides: its
 * client sockets are plain non-blocking fds, and it calls control_server_dispatch() in between,
 * the way the daemon's event loop would. Client-API tests fork a child that makes the blocking
 * calls while the parent serves. */

typedef struct Env {
        FakeTree t;
        char path[PATH_MAX];
        ControlServer *s;
        bool live;
} Env;

static unsigned handler_calls;

static int handler(void *userdata, const cJSON *req, cJSON *reply, char *err, size_t errlen)
{
        const char *cmd = cJSON_GetObjectItem(req, "cmd")->valuestring;
        const cJSON *id = cJSON_GetObjectItem(req, "id");

        handler_calls++;
        if (streq(cmd, "submit")) {
                const cJSON *title = cJSON_GetObjectItem(req, "title");
                bool known = streq(id->valuestring, "known");
                cJSON_AddBoolToObject(reply, "new", !known);
                cJSON_AddStringToObject(reply, "state", known ? "done" : "queued");
                cJSON_AddStringToObject(
                        reply, "title_seen", cJSON_IsString(title) ? title->valuestring : "");
        } else if (streq(cmd, "status")) {
                cJSON_AddStringToObject(reply, "mode", "watchdog");
                cJSON_AddNumberToObject(reply, "budget_bytes", 1073741824.0);
        } else if (streq(cmd, "list")) {
                const cJSON *state = cJSON_GetObjectItem(req, "state");
                cJSON_AddStringToObject(reply, "filter", cJSON_IsString(state) ? state->valuestring : "all");
                cJSON_AddArrayToObject(reply, "episodes");
        } else if (streq(id->valuestring, "nope")) {
                snprintf(err, errlen, "episode nope not found");
                return -ENOENT;
        } else if (streq(id->valuestring, "multi")) {
                snprintf(err, errlen, "first line\nsecond line");
                return -EINVAL;
        } else if (streq(id->valuestring, "silent"))
                return -EBUSY;
        else if (streq(cmd, "retry")) {
                cJSON_AddStringToObject(reply, "state", "queued");
                cJSON_AddBoolToObject(reply, "forced", cJSON_IsTrue(cJSON_GetObjectItem(req, "force")));
        } else
                cJSON_AddStringToObject(reply, "cmd_seen", cmd);
        return 0;
}

static int env_new(Env *e, const char *name, const char *group)
{
        char err[CONTROL_ERROR_MAX];
        int r;

        *e = (Env){};
        r = fake_tree_new(&e->t);
        if (r < 0)
                return r;
        e->live = true;
        (void)chmod(e->t.path, 0755); /* children that drop privileges must reach the socket */
        if (snprintf(e->path, sizeof(e->path), "%s/%s", e->t.path, name) >= (int)sizeof(e->path))
                return -ENAMETOOLONG;
        r = control_server_open(e->path, group, &e->s, err, sizeof(err));
        if (r < 0)
                printf("# control_server_open: %s\n", err);
        return r;
}

static void env_free(Env *e)
{
        if (!e->live)
                return;
        e->s = control_server_close(e->s);
        fake_tree_free(&e->t);
        e->live = false;
}
#define _cleanup_env_ _cleanup_(env_free)

static void pump(ControlServer *s, int ms)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + (usec_t)ms * USEC_PER_MSEC;

        do {
                struct pollfd p = { .fd = control_server_fd(s), .events = POLLIN };
                if (poll(&p, 1, 5) > 0)
                        (void)control_server_dispatch(s, handler, NULL);
        } while (now_usec(CLOCK_MONOTONIC) < end);
}

static void set_addr(struct sockaddr_un *sa, const char *path)
{
        size_t len = MIN(strlen(path), sizeof(sa->sun_path) - 1);

        memcpy(sa->sun_path, path, len);
        sa->sun_path[len] = 0;
}

static int dial(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        set_addr(&sa, path);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                safe_close(fd);
                return -errno;
        }
        return fd;
}

static int send_str(int fd, const char *s)
{
        size_t len = strlen(s);
        return send(fd, s, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* Reads one reply line while serving. Returns its length, -ECONNRESET at EOF, -ETIMEDOUT. */
static int read_line(ControlServer *s, int fd, char *buf, size_t size)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + 3 * USEC_PER_SEC;
        size_t n = 0;

        while (now_usec(CLOCK_MONOTONIC) < end) {
                ssize_t k = recv(fd, buf + n, 1, MSG_DONTWAIT);
                if (k == 0)
                        return -ECONNRESET;
                if (k < 0) {
                        if (errno != EAGAIN)
                                return -errno;
                        pump(s, 1);
                        continue;
                }
                if (buf[n] == '\n') {
                        buf[n] = 0;
                        return (int)n;
                }
                if (++n + 1 >= size)
                        return -EMSGSIZE;
        }
        return -ETIMEDOUT;
}

static int exchange(ControlServer *s, int fd, const char *req, char *buf, size_t size)
{
        if (send_str(fd, req) < 0)
                return -EIO;
        return read_line(s, fd, buf, size);
}

TEST(round_trips)
{
        static const struct {
                const char *req, *want;
        } cases[] = {
                { "{\"cmd\":\"submit\",\"id\":\"8670\",\"url\":\"https://example.org/a.mp3\",\"title\":\"Ep\"}\n",
                        "{\"ok\":true,\"new\":true,\"state\":\"queued\",\"title_seen\":\"Ep\"}" },
                { "{\"cmd\":\"submit\",\"id\":\"known\",\"url\":\"https://example.org/a.mp3\"}\n",
                        "{\"ok\":true,\"new\":false,\"state\":\"done\",\"title_seen\":\"\"}" },
                { "{\"cmd\":\"status\"}\n",
                        "{\"ok\":true,\"mode\":\"watchdog\",\"budget_bytes\":1073741824}" },
                { "{\"cmd\":\"list\"}\n", "{\"ok\":true,\"filter\":\"all\",\"episodes\":[]}" },
                { "{\"cmd\":\"list\",\"state\":\"held\"}\n",
                        "{\"ok\":true,\"filter\":\"held\",\"episodes\":[]}" },
                { "{\"cmd\":\"show\",\"id\":\"8670\"}\n", "{\"ok\":true,\"cmd_seen\":\"show\"}" },
                { "{\"cmd\":\"retry\",\"id\":\"8670\",\"force\":true}\n",
                        "{\"ok\":true,\"state\":\"queued\",\"forced\":true}" },
                { "{\"cmd\":\"retry\",\"id\":\"8670\"}\n",
                        "{\"ok\":true,\"state\":\"queued\",\"forced\":false}" },
                { "{\"cmd\":\"cancel\",\"id\":\"8670\"}\n", "{\"ok\":true,\"cmd_seen\":\"cancel\"}" },
                { "{\"cmd\":\"release\",\"id\":\"a.b_c-9\",\"extra\":[1,2]}\n",
                        "{\"ok\":true,\"cmd_seen\":\"release\"}" },
                { "{\"cmd\":\"show\",\"id\":\"nope\"}\n",
                        "{\"ok\":false,\"error\":\"episode nope not found\"}" },
                { "{\"cmd\":\"cancel\",\"id\":\"multi\"}\n",
                        "{\"ok\":false,\"error\":\"first line second line\"}" },
                { "{\"cmd\":\"cancel\",\"id\":\"silent\"}\n",
                        "{\"ok\":false,\"error\":\"Device or resource busy\"}" },
        };
        _cleanup_close_ int fd = -EBADF;
        char buf[4096];
        _cleanup_env_ Env e = {};

        ASSERT_INT(env_new(&e, "control.sock", NULL), ==, 0);
        fd = dial(e.path);
        ASSERT_INT(fd, >=, 0);
        FOREACH_ARRAY (c, cases, ELEMENTSOF(cases)) {
                ASSERT_INT(exchange(e.s, fd, c->req, buf, sizeof(buf)), >, 0);
                ASSERT_STR(buf, c->want);
        }
        ASSERT_U64(control_server_stats(e.s)->requests, ELEMENTSOF(cases));
        ASSERT_U64(control_server_stats(e.s)->handler_errors, 3);
        env_free(&e);
        return 0;
}

TEST(pipelined_and_partial)
{
        _cleanup_close_ int fd = -EBADF;
        const char *req = "{\"cmd\":\"cancel\",\"id\":\"slow\"}\n";
        char buf[4096];
        _cleanup_env_ Env e = {};

        ASSERT_INT(env_new(&e, "control.sock", NULL), ==, 0);
        fd = dial(e.path);
        ASSERT_INT(fd, >=, 0);
        /* Three requests in one write, the last without its newline yet; blank lines are skipped. */
        ASSERT_INT(send_str(fd,
                           "{\"cmd\":\"status\"}\n\n{\"cmd\":\"list\"}\r\n{\"cmd\":\"show\",\"id\":\"x\"}"),
                ==, 0);
        ASSERT_INT(read_line(e.s, fd, buf, sizeof(buf)), >, 0);
        ASSERT_CONTAINS(buf, "\"mode\":\"watchdog\"");
        ASSERT_INT(read_line(e.s, fd, buf, sizeof(buf)), >, 0);
        ASSERT_CONTAINS(buf, "\"episodes\":[]");
        pump(e.s, 20);
        ASSERT_INT(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), <, 0); /* the third is not complete */
        ASSERT_INT(send_str(fd, "\n"), ==, 0);
        ASSERT_INT(read_line(e.s, fd, buf, sizeof(buf)), >, 0);
        ASSERT_STR(buf, "{\"ok\":true,\"cmd_seen\":\"show\"}");

        /* One byte at a time, serving in between. */
        for (const char *p = req; *p; p++) {
                ASSERT_INT(send(fd, p, 1, MSG_NOSIGNAL), ==, 1);
                pump(e.s, 1);
        }
        ASSERT_INT(read_line(e.s, fd, buf, sizeof(buf)), >, 0);
        ASSERT_STR(buf, "{\"ok\":true,\"cmd_seen\":\"cancel\"}");

        /* A last request without a newline, then end of input: still answered, then closed. */
        ASSERT_INT(send_str(fd, "{\"cmd\":\"status\"}"), ==, 0);
        ASSERT_INT(shutdown(fd, SHUT_WR), ==, 0);
        ASSERT_INT(read_line(e.s, fd, buf, sizeof(buf)), >, 0);
        ASSERT_CONTAINS(buf, "watchdog");
        ASSERT_INT(read_line(e.s, fd, buf, sizeof(buf)), ==, -ECONNRESET);
        pump(e.s, 10);
        ASSERT_U64(control_server_stats(e.s)->clients, 0);
        env_free(&e);
        return 0;
}

TEST(line_limit)
{
        _cleanup_free_ char *big = malloc(CONTROL_LINE_MAX + 64);
        _cleanup_close_ int fd = -EBADF;
        char buf[4096];
        size_t n, sent = 0;
        _cleanup_env_ Env e = {};

        ASSERT_TRUE(big);
        ASSERT_INT(env_new(&e, "control.sock", NULL), ==, 0);
        fd = dial(e.path);
        ASSERT_INT(fd, >=, 0);
        /* Exactly CONTROL_LINE_MAX bytes before the newline is still a request. */
        n = (size_t)snprintf(big, 64, "{\"cmd\":\"status\",\"pad\":\"");
        memset(big + n, 'x', CONTROL_LINE_MAX - n - 2);
        memcpy(big + CONTROL_LINE_MAX - 2, "\"}\n", 4);
        ASSERT_INT(strlen(big), ==, CONTROL_LINE_MAX + 1);
        while (sent < CONTROL_LINE_MAX + 1) {
                ssize_t k = send(fd, big + sent, CONTROL_LINE_MAX + 1 - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k > 0)
                        sent += (size_t)k;
                pump(e.s, 1);
        }
        ASSERT_INT(read_line(e.s, fd, buf, sizeof(buf)), >, 0);
        ASSERT_CONTAINS(buf, "\"ok\":true");

        /* One byte more and no newline: an error reply, then the connection is closed. */
        memset(big, 'x', CONTROL_LINE_MAX + 1);
        sent = 0;
        while (sent < CONTROL_LINE_MAX + 1) {
                ssize_t k = send(fd, big + sent, CONTROL_LINE_MAX + 1 - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k > 0)
                        sent += (size_t)k;
                pump(e.s, 1);
        }
        ASSERT_INT(read_line(e.s, fd, buf, sizeof(buf)), >, 0);
        ASSERT_STR(buf,
                "{\"ok\":false,\"error\":\"request line longer than 65536 bytes; closing the connection\"}");
        ASSERT_INT(read_line(e.s, fd, buf, sizeof(buf)), ==, -ECONNRESET);
        ASSERT_U64(control_server_stats(e.s)->dropped_overlong, 1);
        env_free(&e);
        return 0;
}

TEST(bad_requests)
{
        static const struct {
                const char *req, *error;
        } cases[] = {
                { "{bad\n", "malformed JSON near byte 3 of the request" },
                { "{\"cmd\":\"status\"} x\n", "malformed JSON near byte 18 of the request" },
                { "[1,2]\n", "a request must be a JSON object" },
                { "{\"id\":\"1\"}\n", "missing field 'cmd'" },
                { "{\"cmd\":7}\n", "field 'cmd' must be a string" },
                { "{\"cmd\":\"frob\"}\n",
                        "unknown cmd 'frob' (one of submit, status, list, show, retry, cancel, release)" },
                { "{\"cmd\":\"submit\",\"id\":\"1\"}\n", "missing field 'url'" },
                { "{\"cmd\":\"submit\",\"id\":\"1\",\"url\":\"\"}\n", "field 'url' is empty" },
                { "{\"cmd\":\"submit\",\"id\":\"1\",\"url\":\"u\",\"title\":3}\n",
                        "field 'title' must be a string" },
                { "{\"cmd\":\"show\"}\n", "missing field 'id'" },
                { "{\"cmd\":\"show\",\"id\":8670}\n", "field 'id' must be a string" },
                { "{\"cmd\":\"show\",\"id\":\"../etc\"}\n",
                        "field 'id' is not a valid episode id (1-128 characters of A-Z a-z 0-9 . _ -)" },
                { "{\"cmd\":\"cancel\",\"id\":\"\"}\n",
                        "field 'id' is not a valid episode id (1-128 characters of A-Z a-z 0-9 . _ -)" },
                { "{\"cmd\":\"retry\",\"id\":\"1\",\"force\":\"yes\"}\n",
                        "field 'force' must be true or false" },
                { "{\"cmd\":\"list\",\"state\":\"bogus\"}\n",
                        "field 'state' is not a state (one of queued, fetching, fetched, transcribing, done, "
                        "retry_wait, held, cancelled, failed)" },
        };
        _cleanup_close_ int fd = -EBADF;
        char buf[4096];
        _cleanup_env_ Env e = {};

        handler_calls = 0;
        ASSERT_INT(env_new(&e, "control.sock", NULL), ==, 0);
        fd = dial(e.path);
        ASSERT_INT(fd, >=, 0);
        FOREACH_ARRAY (c, cases, ELEMENTSOF(cases)) {
                _cleanup_(cJSON_Deletep) cJSON *reply = NULL;
                ASSERT_INT(exchange(e.s, fd, c->req, buf, sizeof(buf)), >, 0);
                reply = cJSON_Parse(buf);
                ASSERT_TRUE(cJSON_IsFalse(cJSON_GetObjectItem(reply, "ok")));
                ASSERT_STR(cJSON_GetStringValue(cJSON_GetObjectItem(reply, "error")), c->error);
        }
        /* None reached the handler, and the connection is still good. */
        ASSERT_INT(handler_calls, ==, 0);
        ASSERT_U64(control_server_stats(e.s)->bad_requests, ELEMENTSOF(cases));
        ASSERT_INT(exchange(e.s, fd, "{\"cmd\":\"status\"}\n", buf, sizeof(buf)), >, 0);
        ASSERT_CONTAINS(buf, "\"ok\":true");
        /* Client input echoed in an error is short and printable. */
        ASSERT_INT(exchange(e.s, fd, "{\"cmd\":\"a\\u0007bcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\"}\n",
                           buf, sizeof(buf)),
                >, 0);
        ASSERT_CONTAINS(buf, "unknown cmd 'a?bcdefghijklmnopqrstuvwxyz012345678...'");
        env_free(&e);
        return 0;
}

TEST(no_stall)
{
        _cleanup_close_ int idle = -EBADF, half = -EBADF, hog = -EBADF, good = -EBADF;
        char buf[4096];
        size_t hog_sent = 0;
        usec_t t0;
        _cleanup_env_ Env e = {};

        ASSERT_INT(env_new(&e, "control.sock", NULL), ==, 0);
        idle = dial(e.path);
        half = dial(e.path);
        hog = dial(e.path);
        good = dial(e.path);
        ASSERT_TRUE(idle >= 0 && half >= 0 && hog >= 0 && good >= 0);
        ASSERT_INT(send_str(half, "{\"cmd\":"), ==, 0);
        /* The hog sends requests and never reads a reply, until its socket is full. */
        for (;;) {
                ssize_t k = send(hog, "{\"cmd\":\"status\"}\n", 17, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k <= 0) {
                        pump(e.s, 20);
                        k = send(hog, "{\"cmd\":\"status\"}\n", 17, MSG_NOSIGNAL | MSG_DONTWAIT);
                        if (k <= 0)
                                break;
                }
                hog_sent += (size_t)k;
        }
        ASSERT_INT(hog_sent, >, 17 * 100); /* far more than one reply's worth was pipelined */
        t0 = now_usec(CLOCK_MONOTONIC);
        ASSERT_INT(exchange(e.s, good, "{\"cmd\":\"status\"}\n", buf, sizeof(buf)), >, 0);
        ASSERT_CONTAINS(buf, "\"ok\":true");
        ASSERT_INT(now_usec(CLOCK_MONOTONIC) - t0, <, USEC_PER_SEC);
        ASSERT_U64(control_server_stats(e.s)->clients, 4);
        /* Nothing can progress now, and level-triggered epoll must not say otherwise (a spin). */
        pump(e.s, 20);
        {
                struct pollfd p = { .fd = control_server_fd(e.s), .events = POLLIN };
                ASSERT_INT(poll(&p, 1, 50), ==, 0);
        }
        env_free(&e);
        return 0;
}

TEST(idle_timeout)
{
        _cleanup_close_ int fd = -EBADF, busy = -EBADF;
        char buf[256];
        _cleanup_env_ Env e = {};

        ASSERT_INT(env_new(&e, "control.sock", NULL), ==, 0);
        control_server_set_idle_timeout(e.s, 100 * USEC_PER_MSEC);
        fd = dial(e.path);
        busy = dial(e.path);
        ASSERT_TRUE(fd >= 0 && busy >= 0);
        for (int i = 0; i < 6; i++) { /* 300ms of requests keep this one open */
                ASSERT_INT(exchange(e.s, busy, "{\"cmd\":\"status\"}\n", buf, sizeof(buf)), >, 0);
                pump(e.s, 50);
        }
        ASSERT_INT(read_line(e.s, fd, buf, sizeof(buf)), ==, -ECONNRESET);
        ASSERT_U64(control_server_stats(e.s)->dropped_idle, 1);
        ASSERT_INT(exchange(e.s, busy, "{\"cmd\":\"status\"}\n", buf, sizeof(buf)), >, 0);
        env_free(&e);
        return 0;
}

TEST(too_many_clients)
{
        int fds[CONTROL_CLIENTS_MAX];
        _cleanup_close_ int extra = -EBADF, later = -EBADF;
        char buf[256];
        _cleanup_env_ Env e = {};

        ASSERT_INT(env_new(&e, "control.sock", NULL), ==, 0);
        for (unsigned i = 0; i < CONTROL_CLIENTS_MAX; i++) {
                fds[i] = dial(e.path);
                ASSERT_INT(fds[i], >=, 0);
        }
        pump(e.s, 20);
        ASSERT_U64(control_server_stats(e.s)->clients, CONTROL_CLIENTS_MAX);
        extra = dial(e.path);
        ASSERT_INT(extra, >=, 0);
        ASSERT_INT(read_line(e.s, extra, buf, sizeof(buf)), >, 0);
        ASSERT_STR(buf, "{\"ok\":false,\"error\":\"too many connections (32); try again later\"}");
        ASSERT_INT(read_line(e.s, extra, buf, sizeof(buf)), ==, -ECONNRESET);
        ASSERT_U64(control_server_stats(e.s)->refused_busy, 1);
        /* A slot that frees up can be used again. */
        safe_close(fds[0]);
        pump(e.s, 20);
        later = dial(e.path);
        ASSERT_INT(exchange(e.s, later, "{\"cmd\":\"status\"}\n", buf, sizeof(buf)), >, 0);
        ASSERT_CONTAINS(buf, "\"ok\":true");
        for (unsigned i = 1; i < CONTROL_CLIENTS_MAX; i++)
                safe_close(fds[i]);
        env_free(&e);
        return 0;
}

TEST(out_of_fds)
{
        _cleanup_close_ int a = -EBADF, b = -EBADF, probe = -EBADF;
        struct rlimit old, low;
        unsigned wakeups = 0;
        char buf[256];
        usec_t end;
        _cleanup_env_ Env e = {};

        ASSERT_INT(env_new(&e, "control.sock", NULL), ==, 0);
        control_server_set_idle_timeout(e.s, 40 * USEC_PER_MSEC); /* retries every 10ms */
        ASSERT_INT(getrlimit(RLIMIT_NOFILE, &old), ==, 0);
        /* Room for exactly two more fds: both go to our own client sockets. */
        probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ASSERT_INT(probe, >=, 0);
        low = (struct rlimit){ .rlim_cur = (rlim_t)probe + 2, .rlim_max = old.rlim_max };
        probe = safe_close(probe);
        ASSERT_INT(setrlimit(RLIMIT_NOFILE, &low), ==, 0);
        a = dial(e.path);
        b = dial(e.path);
        ASSERT_INT(control_server_dispatch(e.s, handler, NULL), ==, -EMFILE);
        /* The listener is paused rather than reported readable again and again. */
        end = now_usec(CLOCK_MONOTONIC) + 100 * USEC_PER_MSEC;
        while (now_usec(CLOCK_MONOTONIC) < end) {
                struct pollfd p = { .fd = control_server_fd(e.s), .events = POLLIN };
                if (poll(&p, 1, 1) > 0) {
                        wakeups++;
                        (void)control_server_dispatch(e.s, handler, NULL);
                }
        }
        ASSERT_INT(setrlimit(RLIMIT_NOFILE, &old), ==, 0);
        ASSERT_TRUE(a >= 0 && b >= 0);
        ASSERT_INT(wakeups, <, 30);
        ASSERT_U64(control_server_stats(e.s)->accepted, 0);
        /* With fds again, the next retry accepts what waited in the backlog. */
        ASSERT_INT(exchange(e.s, a, "{\"cmd\":\"status\"}\n", buf, sizeof(buf)), >, 0);
        ASSERT_INT(exchange(e.s, b, "{\"cmd\":\"status\"}\n", buf, sizeof(buf)), >, 0);
        ASSERT_U64(control_server_stats(e.s)->accepted, 2);
        return 0;
}

TEST(socket_file)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        ControlServer *other = NULL;
        char err[CONTROL_ERROR_MAX], path[PATH_MAX + 32], buf[256];
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        _cleanup_env_ Env e = {};
        int r;

        ASSERT_INT(fake_tree_new(&e.t), ==, 0);
        e.live = true;
        /* The parent folders are created, 0755; the socket is 0660. */
        ASSERT_INT(snprintf(e.path, sizeof(e.path), "%s/run/memgov/control.sock", e.t.path), <,
                (int)sizeof(e.path));
        ASSERT_INT(control_server_open(e.path, NULL, &e.s, err, sizeof(err)), ==, 0);
        ASSERT_INT(snprintf(path, sizeof(path), "%s/run/memgov", e.t.path), <, (int)sizeof(path));
        ASSERT_INT(stat(path, &st), ==, 0);
        ASSERT_INT(st.st_mode & 07777, ==, 0755);
        ASSERT_INT(stat(e.path, &st), ==, 0);
        ASSERT_TRUE(S_ISSOCK(st.st_mode));
        ASSERT_INT(st.st_mode & 07777, ==, 0660);

        /* A live daemon's socket is not taken over, and that daemon keeps working. */
        r = control_server_open(e.path, NULL, &other, err, sizeof(err));
        ASSERT_INT(r, ==, -EADDRINUSE);
        ASSERT_CONTAINS(err, "another memgov daemon is already listening there");
        fd = dial(e.path);
        ASSERT_INT(exchange(e.s, fd, "{\"cmd\":\"status\"}\n", buf, sizeof(buf)), >, 0);
        fd = safe_close(fd);

        /* Closing removes the socket file. */
        e.s = control_server_close(e.s);
        ASSERT_INT(access(e.path, F_OK), <, 0);

        /* A stale socket (bound, nobody listening: a dead daemon's) is replaced. */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        set_addr(&sa, e.path);
        ASSERT_INT(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
        fd = safe_close(fd);
        ASSERT_INT(control_server_open(e.path, NULL, &e.s, err, sizeof(err)), ==, 0);
        fd = dial(e.path);
        ASSERT_INT(exchange(e.s, fd, "{\"cmd\":\"status\"}\n", buf, sizeof(buf)), >, 0);
        fd = safe_close(fd);
        e.s = control_server_close(e.s);

        /* A path that is not a socket is never removed. */
        ASSERT_INT(fake_tree_write(&e.t, "run/memgov/control.sock", "precious"), ==, 0);
        ASSERT_INT(control_server_open(e.path, NULL, &e.s, err, sizeof(err)), ==, -EEXIST);
        ASSERT_CONTAINS(err, "exists and is not a socket");
        ASSERT_INT(fake_tree_read(&e.t, "run/memgov/control.sock", buf, sizeof(buf)), ==, 8);

        /* A group that does not exist is named. */
        ASSERT_INT(snprintf(path, sizeof(path), "%s/other.sock", e.t.path), <, (int)sizeof(path));
        ASSERT_INT(control_server_open(path, "no-such-group-memgov", &other, err, sizeof(err)), <, 0);
        ASSERT_CONTAINS(err, "no group 'no-such-group-memgov'");
        e.s = NULL;
        env_free(&e);
        return 0;
}

/* Runs fn in a child while serving; returns fn's exit status (or -1). */
static int run_child(ControlServer *s, int (*fn)(const char *path, void *arg), const char *path, void *arg)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC;
        int status;
        pid_t pid;

        fflush(stdout);
        pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0)
                _exit(fn(path, arg));
        while (now_usec(CLOCK_MONOTONIC) < end) {
                pid_t w = waitpid(pid, &status, WNOHANG);
                if (w == pid)
                        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
                pump(s, 5);
        }
        (void)kill(pid, SIGKILL);
        (void)waitpid(pid, &status, 0);
        return -1;
}

typedef struct Creds {
        gid_t gid;
        gid_t supplementary; /* 0 = none */
        const char *expect;  /* substring of the error, or NULL for an ok reply */
        int expect_errno;    /* of control_request() */
} Creds;

static int child_as(const char *path, void *arg)
{
        const Creds *c = arg;
        _cleanup_(cJSON_Deletep) cJSON *req = cJSON_CreateObject(), *reply = NULL;
        char err[CONTROL_ERROR_MAX] = "";
        const char *msg;
        int r;

        if (setgroups(c->supplementary ? 1 : 0, &c->supplementary) < 0 ||
                setresgid(c->gid, c->gid, c->gid) < 0 || setresuid(65534, 65534, 65534) < 0)
                return 10;
        cJSON_AddStringToObject(req, "cmd", "status");
        r = control_request(path, req, 5 * USEC_PER_SEC, &reply, err, sizeof(err));
        if (c->expect_errno)
                return r == -c->expect_errno && strstr(err, c->expect) ? 0
                                                                       : (printf("# %d %s\n", r, err), 11);
        if (r < 0)
                return printf("# %s\n", err), 12;
        msg = cJSON_GetStringValue(cJSON_GetObjectItem(reply, "error"));
        if (!c->expect)
                return cJSON_IsTrue(cJSON_GetObjectItem(reply, "ok")) ? 0 : (printf("# %s\n", msg), 13);
        return msg && streq(msg, c->expect) ? 0 : (printf("# got '%s'\n", msg ?: "(ok)"), 14);
}

TEST(peer_credentials)
{
        struct group *g = getgrnam("nogroup");
        Creds nobody = { .gid = 65534, .expect = "permission denied: root only" };
        _cleanup_env_ Env e = {};

        if (geteuid() != 0)
                return tap_skip("needs root to drop a child to nobody");
        if (!g || g->gr_gid != 65534 || !getgrgid(1))
                return tap_skip("needs group nogroup = 65534 and a group 1");

        /* Root only: nobody is refused by SO_PEERCRED (the socket file is opened up for that). */
        ASSERT_INT(env_new(&e, "root.sock", NULL), ==, 0);
        ASSERT_INT(chmod(e.path, 0666), ==, 0);
        ASSERT_INT(run_child(e.s, child_as, e.path, &nobody), ==, 0);
        ASSERT_U64(control_server_stats(e.s)->refused_auth, 1);
        ASSERT_U64(control_server_stats(e.s)->accepted, 0);
        /* With the socket's own 0660 root:root, the file system refuses first; the client says so. */
        ASSERT_INT(chmod(e.path, 0660), ==, 0);
        nobody.expect_errno = EACCES;
        nobody.expect = "only root may use";
        ASSERT_INT(run_child(e.s, child_as, e.path, &nobody), ==, 0);
        env_free(&e);

        ASSERT_INT(env_new(&e, "group.sock", "nogroup"), ==, 0);
        {
                struct stat st;
                ASSERT_INT(stat(e.path, &st), ==, 0);
                ASSERT_INT(st.st_gid, ==, 65534);
        }
        /* nogroup as the primary group, then as a supplementary one (SO_PEERGROUPS). */
        Creds primary = { .gid = 65534 }, supplementary = { .gid = 1, .supplementary = 65534 };
        ASSERT_INT(run_child(e.s, child_as, e.path, &primary), ==, 0);
        ASSERT_INT(run_child(e.s, child_as, e.path, &supplementary), ==, 0);
        ASSERT_U64(control_server_stats(e.s)->accepted, 2);
        /* Not in the group: the file system refuses, and the client names the group... */
        Creds outsider = { .gid = 1, .expect = "members of group 'nogroup'", .expect_errno = EACCES };
        ASSERT_INT(run_child(e.s, child_as, e.path, &outsider), ==, 0);
        /* ...and so does the server when the file's mode would let the process in. */
        ASSERT_INT(chmod(e.path, 0666), ==, 0);
        outsider = (Creds){ .gid = 1, .expect = "permission denied: root or group nogroup only" };
        ASSERT_INT(run_child(e.s, child_as, e.path, &outsider), ==, 0);
        ASSERT_U64(control_server_stats(e.s)->refused_auth, 1);
        env_free(&e);
        return 0;
}

static int child_client(const char *path, void *arg)
{
        _cleanup_control_client_ ControlClient *c = NULL;
        char err[CONTROL_ERROR_MAX];

        if (control_client_connect(path, 5 * USEC_PER_SEC, &c, err, sizeof(err)) < 0)
                return 20;
        /* Several calls on one connection, as a manifest submission makes them. */
        for (int i = 0; i < 50; i++) {
                _cleanup_(cJSON_Deletep) cJSON *req = cJSON_CreateObject(), *reply = NULL;
                char id[16];
                snprintf(id, sizeof(id), "ep%d", i);
                cJSON_AddStringToObject(req, "cmd", "submit");
                cJSON_AddStringToObject(req, "id", id);
                cJSON_AddStringToObject(req, "url", "https://example.org/x.mp3");
                if (control_client_call(c, req, &reply, err, sizeof(err)) < 0)
                        return 21;
                if (!cJSON_IsTrue(cJSON_GetObjectItem(reply, "new")))
                        return 22;
        }
        return 0;
}

TEST(client_api)
{
        _cleanup_(cJSON_Deletep) cJSON *req = cJSON_CreateObject(), *reply = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char err[CONTROL_ERROR_MAX], path[PATH_MAX + 32];
        _cleanup_close_ int mute = -EBADF;
        usec_t t0;
        _cleanup_env_ Env e = {};
        int r;

        ASSERT_INT(env_new(&e, "control.sock", NULL), ==, 0);
        ASSERT_INT(run_child(e.s, child_client, e.path, NULL), ==, 0);
        ASSERT_U64(control_server_stats(e.s)->requests, 50);
        cJSON_AddStringToObject(req, "cmd", "status");

        /* No daemon: the message says what to do. */
        ASSERT_INT(snprintf(path, sizeof(path), "%s/missing.sock", e.t.path), <, (int)sizeof(path));
        r = control_request(path, req, USEC_PER_SEC, &reply, err, sizeof(err));
        ASSERT_INT(r, ==, -ENOENT);
        ASSERT_TRUE(control_error_is_unreachable(r));
        ASSERT_CONTAINS(err, "no memgov daemon at ");
        ASSERT_CONTAINS(err, "(is it running? see 'systemctl status memgov')");

        /* A socket nobody listens on. */
        e.s = control_server_close(e.s);
        mute = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        set_addr(&sa, e.path);
        ASSERT_INT(bind(mute, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
        r = control_request(e.path, req, USEC_PER_SEC, &reply, err, sizeof(err));
        ASSERT_INT(r, ==, -ECONNREFUSED);
        ASSERT_CONTAINS(err, "no memgov daemon at");

        /* Listening but never answering: the timeout, not a hang. */
        ASSERT_INT(listen(mute, 4), ==, 0);
        t0 = now_usec(CLOCK_MONOTONIC);
        r = control_request(e.path, req, 200 * USEC_PER_MSEC, &reply, err, sizeof(err));
        ASSERT_INT(r, ==, -ETIMEDOUT);
        ASSERT_CONTAINS(err, "no reply from the memgov daemon at");
        ASSERT_CONTAINS(err, "within 200ms");
        ASSERT_INT(now_usec(CLOCK_MONOTONIC) - t0, <, 2 * USEC_PER_SEC);
        env_free(&e);
        return 0;
}

TEST(json_shapes)
{
        Episode ep = {
                .id = (char *)"8670",
                .url = (char *)"https://example.org/8670.mp3",
                .status = { .state = EPISODE_HELD, .attempts = 3, .oom_count = 2, .oom_at_max_count = 1 },
                .reason = (char *)"OOM-killed at job_max",
                .created_at = 1714564800ULL * USEC_PER_SEC,
                .updated_at = 1714564800ULL * USEC_PER_SEC + 1500000,
                .size_bytes = 84 * 1024 * 1024,
                .format = (char *)"mp3",
                .current_limit_bytes = 1ULL << 30,
        };
        StageRun run = {
                .run_id = 7,
                .episode_id = "8670",
                .stage = EPISODE_STAGE_TRANSCRIBE,
                .attempt = 2,
                .cgroup = "8670.transcribe.2",
                .limit_bytes = 512 * 1024 * 1024,
                .started_at = 1714564800ULL * USEC_PER_SEC,
                .result = _RUN_RESULT_INVALID,
        };
        _cleanup_(cJSON_Deletep) cJSON *je = control_episode_to_json(&ep), *jr = control_run_to_json(&run);
        _cleanup_free_ char *se = NULL, *sr = NULL;

        ASSERT_TRUE(je && jr);
        se = cJSON_PrintUnformatted(je);
        ASSERT_STR(se,
                "{\"id\":\"8670\",\"url\":\"https://example.org/8670.mp3\",\"title\":null,\"state\":\"held\","
                "\"reason\":\"OOM-killed at job_max\",\"attempts\":3,\"interruptions\":0,\"oom_count\":2,"
                "\"oom_at_max_count\":1,\"next_at\":null,\"next_at_usec\":null,"
                "\"created_at\":\"2024-05-01T12:00:00Z\",\"created_at_usec\":1714564800000000,"
                "\"updated_at\":\"2024-05-01T12:00:01Z\",\"updated_at_usec\":1714564801500000,"
                "\"size_bytes\":88080384,\"sha256\":null,\"format\":\"mp3\",\"audio_path\":null,"
                "\"transcript_path\":null,\"metadata_path\":null,\"current_limit_bytes\":1073741824}");
        /* A run still going has no end, result or duration yet. */
        sr = cJSON_PrintUnformatted(jr);
        ASSERT_STR(sr,
                "{\"run_id\":7,\"episode_id\":\"8670\",\"stage\":\"transcribe\",\"attempt\":2,"
                "\"cgroup\":\"8670.transcribe.2\",\"limit_bytes\":536870912,"
                "\"started_at\":\"2024-05-01T12:00:00Z\",\"started_at_usec\":1714564800000000,"
                "\"ended_at\":null,\"ended_at_usec\":null,\"result\":null,\"exit_code\":0,\"signal\":0,"
                "\"oom_kill\":false,\"peak_bytes\":0,\"duration_usec\":0,\"error\":null}");
        run.ended_at = run.started_at + 90 * USEC_PER_SEC;
        run.result = RUN_RESULT_OOM;
        run.oom_kill = true;
        run.error = "killed";
        cJSON_Delete(jr);
        jr = control_run_to_json(&run);
        ASSERT_STR(cJSON_GetStringValue(cJSON_GetObjectItem(jr, "result")), "oom");
        ASSERT_STR(cJSON_GetStringValue(cJSON_GetObjectItem(jr, "ended_at")), "2024-05-01T12:01:30Z");
        ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(jr, "oom_kill")));
        return 0;
}

TAP_MAIN(T(round_trips), T(pipelined_and_partial), T(line_limit), T(bad_requests), T(no_stall),
        T(idle_timeout), T(too_many_clients), T(out_of_fds), T(socket_file), T(peer_credentials),
        T(client_api), T(json_shapes))
