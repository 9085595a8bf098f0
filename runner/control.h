/* SPDX-License-Identifier: MIT */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"
#include "common/time-util.h"
#include "runner/ledger.h"

/* The daemon's control socket: a Unix stream socket speaking JSON Lines, one request object per
 * line and one reply object per line, several requests per connection, answered in order.
 *
 * Requests ("id" is always checked with episode_id_valid() before a handler sees it):
 *     {"cmd":"submit","id":ID,"url":URL,"title":T}   title optional; the URL is the handler's to
 *                                                    check (it knows the policy's protocols)
 *     {"cmd":"status"}
 *     {"cmd":"list","state":S}                       state optional, a state_to_string() name
 *     {"cmd":"show","id":ID}
 *     {"cmd":"retry","id":ID,"force":B}              force optional, false by default
 *     {"cmd":"cancel","id":ID}
 *     {"cmd":"release","id":ID}
 * Unknown keys are ignored, so newer clients can talk to older daemons.
 *
 * Replies are {"ok":true, …} or {"ok":false,"error":"one line"}. The "ok" fields per command,
 * which the handler fills and the client verbs print:
 *     submit   "new": true when the episode was added, false when the id was known already;
 *              "state": its state now
 *     status   "mode": "cgroup"|"watchdog", "budget_bytes", "hard_usage_bytes",
 *              "psi_some_avg10", "psi_full_avg10" (percent, as the kernel prints them),
 *              "pressure": "open" or the reason admission is closed by pressure,
 *              "window": the AIMD concurrency window,
 *              "tokens": {CLASS: {"tokens": N, "reason": "why not more" or null}},
 *              "running": [{"id", "stage", "attempt", "elapsed_ms", "memory_bytes",
 *                           "limit_bytes"}],
 *              "counts": {STATE: N}
 *     list     "episodes": [control_episode_to_json(), …]
 *     show     "episode": control_episode_to_json(), "runs": [control_run_to_json(), …]
 *     retry, cancel, release
 *              "state": the episode's state after the command (and "episode" if the handler
 *              likes)
 * Every key is optional to the client: it prints what the reply contains. */

#define CONTROL_LINE_MAX      (64U * 1024U)        /* longest request line, without its '\n' */
#define CONTROL_REPLY_MAX     (8U * 1024U * 1024U) /* longest reply line; larger ones become errors */
#define CONTROL_CLIENTS_MAX   32U
#define CONTROL_IDLE_USEC     (5 * USEC_PER_MINUTE) /* a connection without requests is closed */
#define CONTROL_TIMEOUT_USEC  (10 * USEC_PER_SEC)   /* the client's default wait for a reply */
#define CONTROL_ERROR_MAX     512
#define CONTROL_TIMESTAMP_MAX 32

/* Called for each valid request. Returns 0 after adding its fields to reply (which already holds
 * "ok":true), or a negative errno with a one-line message in err, which the client receives as
 * {"ok":false,"error":err} (strerror() of the errno when err is left empty). It runs in the
 * daemon's event loop, so it must not block. */
typedef int (*ControlHandler)(void *userdata, const cJSON *request, cJSON *reply, char *err, size_t errlen);

/* What the server saw, for the daemon's log lines and metrics. Counters only grow. */
typedef struct ControlStats {
        uint64_t accepted;         /* connections that passed authentication */
        uint64_t refused_auth;     /* connections refused: not root, not in the admin group */
        uint64_t refused_busy;     /* connections refused: CONTROL_CLIENTS_MAX already open */
        uint64_t requests;         /* requests passed to the handler */
        uint64_t handler_errors;   /* of those, the ones the handler failed */
        uint64_t bad_requests;     /* refused before the handler: malformed, unknown, ill-typed */
        uint64_t dropped_overlong; /* connections closed for a line longer than CONTROL_LINE_MAX */
        uint64_t dropped_idle;     /* connections closed after the idle timeout */
        uint64_t dropped_error;    /* connections closed for a socket error or lack of memory */
        unsigned clients;          /* open now */
} ControlStats;

typedef struct ControlServer ControlServer;

/* Creates the socket at path, mode 0660, owned by root and, when admin_group is not NULL, by that
 * group; creates the parent directory (0755) when missing. A socket file nobody answers on is a
 * leftover of a dead daemon and is replaced; when a daemon answers, this fails with -EADDRINUSE;
 * a path that is not a socket is never removed (-EEXIST). Returns 0, or -errno with a one-line
 * message in err.
 *
 * Besides the file's mode, every connection is checked when it is accepted: the peer must be uid
 * 0, or have admin_group as its primary group (SO_PEERCRED) or as a supplementary group
 * (SO_PEERGROUPS). Both are the credentials the kernel recorded at connect(), so there is no race
 * with the peer exiting and its pid being reused (as reading /proc/PID/status would have), and no
 * NSS lookup that could block the daemon (as getgrouplist() would). Limits: a process that joins
 * or leaves the group after connecting keeps its connect-time rights for that connection; a user
 * added to the group must log in again, as for any group; the group's gid is looked up once,
 * here. Others get {"ok":false,"error":"permission denied: root or group G only"} (or "root
 * only") and are disconnected. */
int control_server_open(
        const char *path, const char *admin_group, ControlServer **ret, char *err, size_t errlen);

/* Removes the socket file (if it is still ours) and closes every connection. Accepts NULL. */
ControlServer *control_server_close(ControlServer *s);
static inline void control_server_closep(ControlServer **s)
{
        control_server_close(*s);
}
#define _cleanup_control_server_ _cleanup_(control_server_closep)

/* One fd for the daemon's epoll (EPOLLIN): readable whenever control_server_dispatch() has
 * something to do. */
int control_server_fd(const ControlServer *s);

/* Accepts, reads, answers and writes whatever is ready, without ever blocking, then returns 0
 * (or -errno for a failure of the server itself, not of one client). */
int control_server_dispatch(ControlServer *s, ControlHandler handler, void *userdata);

const ControlStats *control_server_stats(const ControlServer *s);

/* For tests and for daemons that want a different idle timeout (at least 10ms). */
void control_server_set_idle_timeout(ControlServer *s, usec_t usec);

/* The client side. One connection that can carry several requests (a manifest submission sends
 * one per episode). connect fails with -ECONNREFUSED or -ENOENT when no daemon listens at path,
 * -EACCES when the socket's permissions keep the caller out, -ETIMEDOUT; err says what to do. */
typedef struct ControlClient ControlClient;

int control_client_connect(
        const char *path, usec_t timeout_usec, ControlClient **ret, char *err, size_t errlen);

/* Sends request and waits for its reply, at most the connect timeout. Returns 0 with the parsed
 * reply object in *ret_reply (also when it says "ok":false), -ETIMEDOUT, -ECONNRESET when the
 * daemon closed the connection, -EBADMSG for a reply that is not a JSON object, -errno. */
int control_client_call(ControlClient *c, const cJSON *request, cJSON **ret_reply, char *err, size_t errlen);

ControlClient *control_client_close(ControlClient *c);
static inline void control_client_closep(ControlClient **c)
{
        control_client_close(*c);
}
#define _cleanup_control_client_ _cleanup_(control_client_closep)

/* connect + call + close. */
int control_request(const char *path, const cJSON *request, usec_t timeout_usec, cJSON **ret_reply,
        char *err, size_t errlen);

/* True for the errors of control_client_connect()/call() that mean "no daemon to talk to". */
bool control_error_is_unreachable(int r);

/* The JSON shapes shared by the daemon's handler and the client verbs. Times are given twice: as
 * RFC 3339 UTC strings ("created_at") and as CLOCK_REALTIME microseconds ("created_at_usec");
 * a time that is not set (0) is null. Sizes are bytes, states and results their state.h names.
 * Return NULL when out of memory. */
cJSON *control_episode_to_json(const Episode *e);
cJSON *control_run_to_json(const StageRun *r);

/* Adds an exact integer (cJSON's doubles print large ones in exponent form). Returns the item or
 * NULL when out of memory. For byte counts and microseconds in any reply. */
cJSON *control_json_add_u64(cJSON *o, const char *key, uint64_t value);

/* "2024-05-01T12:00:00Z" (seconds, UTC) into buf of at least CONTROL_TIMESTAMP_MAX bytes. */
const char *control_format_timestamp(char *buf, size_t size, usec_t usec);
