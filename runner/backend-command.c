/* SPDX-License-Identifier: MIT */
/* The command backend: a transcriber program on this host, started from the policy's argv
 * template without a shell. It runs in this stage's process and so in the stage's cgroup: its
 * memory is the stage's memory, limited by the stage's memory.max.
 *
 * How a failing command is classified:
 *   - exit status 0: success;
 *   - exit status 75 (EX_TEMPFAIL from sysexits.h): retryable, for wrappers that know better;
 *   - killed by a signal: retryable. Inside a stage cgroup this is almost always the kernel's
 *     OOM killer or memgov's own timeout; the runner attributes it (memory.events) and escalates
 *     the memory limit for the next attempt;
 *   - any other exit status, or a program that cannot be executed: permanent. A transcriber
 *     that fails on an input fails on it again; retrying only burns the budget. */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "common/strv.h"
#include "runner/backend.h"

#define EXIT_TEMPFAIL 75
#define TAIL_BYTES    2048
#define READ_BYTES    (64 * 1024)
#define DEFAULT_PATH  "/usr/local/bin:/usr/bin:/bin"
#define MESSAGE_TAIL  300

char *command_substitute(const char *word, const CommandVars *vars)
{
        const struct {
                const char *name;
                const char *value;
        } table[] = {
                { "{audio}", vars->audio },
                { "{out}", vars->out },
                { "{prepared}", vars->prepared },
                { "{id}", vars->id },
                { "{workdir}", vars->workdir },
                { "{lang}", vars->lang },
        };
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return NULL;
        for (const char *p = word; *p;) {
                bool done = false;
                for (size_t i = 0; i < ELEMENTSOF(table) && *p == '{'; i++)
                        if (table[i].value && strneq(p, table[i].name, strlen(table[i].name))) {
                                fputs(table[i].value, f);
                                p += strlen(table[i].name);
                                done = true;
                                break;
                        }
                if (!done)
                        fputc(*p++, f);
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* Resolved in the parent: the child must not allocate, and execvp() may. */
static char *find_program(const char *name)
{
        const char *path = getenv("PATH");
        _cleanup_free_ char *copy = NULL;
        char *save = NULL;

        if (strchr(name, '/'))
                return access(name, X_OK) == 0 ? strdup(name) : NULL;
        copy = strdup(isempty(path) ? DEFAULT_PATH : path);
        if (!copy)
                return NULL;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                char *full;
                struct stat st;
                if (asprintf(&full, "%s/%s", *dir ? dir : ".", name) < 0)
                        return NULL;
                if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0)
                        return full;
                free(full);
        }
        return NULL;
}

/* Pipes created by the parent are moved above 0-2, so the child's dup2() calls cannot clash. */
static int pipe_above_stdio(int p[2])
{
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        for (int i = 0; i < 2; i++)
                if (p[i] <= 2) {
                        int fd = fcntl(p[i], F_DUPFD_CLOEXEC, 3);
                        if (fd < 0)
                                return -errno;
                        close(p[i]);
                        p[i] = fd;
                }
        return 0;
}

static void close_pair(int p[2])
{
        p[0] = safe_close(p[0]);
        p[1] = safe_close(p[1]);
}

_noreturn_ static void child(const char *path, char *const *argv, char *const *envp, const char *dir, int in,
        int out, int err, int errpipe)
{
        sigset_t all;
        int e;

        /* Only async-signal-safe calls from here on. */
        (void)sigfillset(&all);
        (void)sigprocmask(SIG_UNBLOCK, &all, NULL);
        (void)signal(SIGPIPE, SIG_DFL);
        if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
                goto fail;
#if HAVE_CLOSE_RANGE
        if (errpipe > 3)
                (void)close_range(3, (unsigned)errpipe - 1, 0);
        (void)close_range((unsigned)errpipe + 1, ~0U, 0);
#else
        for (int fd = 3; fd < 4096; fd++)
                if (fd != errpipe)
                        (void)close(fd);
#endif
        if (chdir(dir) < 0)
                goto fail;
        execve(path, argv, envp);
fail:
        e = errno;
        (void)!write(errpipe, &e, sizeof(e));
        _exit(127);
}

typedef struct Capture {
        char *out; /* stdout, when kept */
        size_t out_len;
        bool out_keep;
        bool out_overflow;
        char tail[TAIL_BYTES]; /* the last bytes of stderr, as a ring */
        uint64_t err_total;
        uint64_t log_written;
} Capture;

static int take_stdout(Capture *c, const char *buf, size_t n, uint64_t max)
{
        char *b;

        if (!c->out_keep || c->out_overflow)
                return 0;
        if (c->out_len + n > max) {
                c->out_overflow = true;
                return 0;
        }
        b = realloc(c->out, c->out_len + n + 1);
        if (!b)
                return -ENOMEM;
        memcpy(b + c->out_len, buf, n);
        c->out = b;
        c->out_len += n;
        c->out[c->out_len] = 0;
        return 0;
}

static void take_stderr(Capture *c, int log_fd, const char *buf, size_t n, uint64_t max)
{
        for (size_t i = 0; i < n; i++)
                c->tail[(c->err_total + i) % TAIL_BYTES] = buf[i];
        c->err_total += n;
        if (log_fd >= 0 && c->log_written < max) {
                size_t k = (size_t)MIN((uint64_t)n, max - c->log_written);
                if (write(log_fd, buf, k) > 0)
                        c->log_written += k;
        }
}

/* The last line(s) of stderr, at most MESSAGE_TAIL bytes, as one line. */
static void stderr_tail(const Capture *c, char *buf, size_t size)
{
        size_t have = (size_t)MIN(c->err_total, (uint64_t)TAIL_BYTES), n = MIN(have, (size_t)MESSAGE_TAIL);
        uint64_t start = c->err_total - n;
        size_t len = 0;

        for (size_t i = 0; i < n && len + 1 < size; i++) {
                char ch = c->tail[(start + i) % TAIL_BYTES];
                buf[len++] = (unsigned char)ch < 0x20 || ch == 0x7f ? ' ' : ch;
        }
        while (len > 0 && buf[len - 1] == ' ')
                len--;
        buf[len] = 0;
        /* Leading spaces from the line breaks are noise. */
        memmove(buf, buf + strspn(buf, " "), strlen(buf + strspn(buf, " ")) + 1);
}

static int pump(int out_fd, int err_fd, Capture *c, const BackendContext *ctx, uint64_t max)
{
        _cleanup_free_ char *buf = malloc(READ_BYTES);
        struct pollfd fds[2] = { { .fd = out_fd, .events = POLLIN }, { .fd = err_fd, .events = POLLIN } };
        int r;

        if (!buf)
                return -ENOMEM;
        while (fds[0].fd >= 0 || fds[1].fd >= 0) {
                if (poll(fds, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (int i = 0; i < 2; i++) {
                        ssize_t n;
                        if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        n = read(fds[i].fd, buf, READ_BYTES);
                        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                                continue;
                        if (n <= 0) {
                                fds[i].fd = -1;
                                continue;
                        }
                        if (i == 0) {
                                r = take_stdout(c, buf, (size_t)n, max);
                                if (r < 0)
                                        return r;
                        } else
                                take_stderr(c, ctx->log_fd, buf, (size_t)n, max);
                }
        }
        return 0;
}

int command_run(const BackendContext *ctx, char *const *tmpl, const CommandVars *vars, const char *what,
        char **ret_stdout, size_t *ret_len, BackendError *err)
{
        _cleanup_strv_free_ char **argv = NULL, **envp = NULL;
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int devnull = -EBADF;
        int out[2] = { -EBADF, -EBADF }, errp[2] = { -EBADF, -EBADF }, execp[2] = { -EBADF, -EBADF };
        uint64_t max = ctx->policy->sandbox.log_max_bytes;
        const char *host_path = getenv("PATH");
        Capture cap = { .out_keep = ret_stdout != NULL };
        char tail[MESSAGE_TAIL + 1];
        size_t n = strv_length(tmpl);
        int status = 0, exec_errno = 0, r;
        pid_t pid;

        if (n == 0)
                return backend_fail(err, TRANSCRIBE_PERMANENT, -EINVAL, "%s: the command is empty", what);
        argv = calloc(n + 1, sizeof(char *));
        envp = calloc(5, sizeof(char *));
        if (!argv || !envp)
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++)
                if (!(argv[i] = command_substitute(tmpl[i], vars)))
                        return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        /* A clean environment: nothing of the daemon's (API keys, tokens) reaches the program. */
        if (asprintf(&envp[0], "PATH=%s", isempty(host_path) ? DEFAULT_PATH : host_path) < 0 ||
                asprintf(&envp[1], "HOME=%s", ctx->workdir) < 0 ||
                asprintf(&envp[2], "TMPDIR=%s", ctx->workdir) < 0 || !(envp[3] = strdup("LANG=C.UTF-8")))
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        path = find_program(argv[0]);
        if (!path)
                return backend_fail(err, TRANSCRIBE_PERMANENT, -ENOENT,
                        "%s: '%s' not found or not executable (PATH=%s)", what, argv[0],
                        isempty(host_path) ? DEFAULT_PATH : host_path);

        devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull >= 0 && devnull <= 2) { /* a parent without stdin: keep 0-2 free for dup2() */
                int fd = fcntl(devnull, F_DUPFD_CLOEXEC, 3);
                safe_close(devnull);
                devnull = fd;
        }
        if (devnull < 0 || (r = pipe_above_stdio(out)) < 0 || (r = pipe_above_stdio(errp)) < 0 ||
                (r = pipe_above_stdio(execp)) < 0) {
                r = devnull < 0 ? -errno : r;
                close_pair(out);
                close_pair(errp);
                close_pair(execp);
                return backend_fail(
                        err, TRANSCRIBE_RETRYABLE, r, "%s: cannot create pipes: %s", what, strerror(-r));
        }
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close_pair(out);
                close_pair(errp);
                close_pair(execp);
                return backend_fail(err, TRANSCRIBE_RETRYABLE, r, "%s: fork: %s", what, strerror(-r));
        }
        if (pid == 0)
                child(path, argv, envp, ctx->workdir, devnull, out[1], errp[1], execp[1]);
        out[1] = safe_close(out[1]);
        errp[1] = safe_close(errp[1]);
        execp[1] = safe_close(execp[1]);

        r = pump(out[0], errp[0], &cap, ctx, max);
        if (read(execp[0], &exec_errno, sizeof(exec_errno)) != sizeof(exec_errno))
                exec_errno = 0;
        close_pair(out);
        close_pair(errp);
        close_pair(execp);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        r = r < 0 ? r : -errno;
                        break;
                }
        if (r < 0) {
                free(cap.out);
                return backend_fail(err, TRANSCRIBE_RETRYABLE, r, "%s: %s", what, strerror(-r));
        }

        stderr_tail(&cap, tail, sizeof(tail));
        if (exec_errno != 0)
                r = backend_fail(err, TRANSCRIBE_PERMANENT, -exec_errno, "%s: cannot execute %s: %s", what,
                        path, strerror(exec_errno));
        else if (WIFSIGNALED(status))
                r = backend_fail(err, TRANSCRIBE_RETRYABLE, -EINTR,
                        "%s: %s was killed by signal %d (%s)%s%s", what, argv[0], WTERMSIG(status),
                        strsignal(WTERMSIG(status)), tail[0] ? ": " : "", tail);
        else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
                r = backend_fail(err,
                        WEXITSTATUS(status) == EXIT_TEMPFAIL ? TRANSCRIBE_RETRYABLE : TRANSCRIBE_PERMANENT,
                        -EPROTO, "%s: %s exited with status %d%s%s", what, argv[0], WEXITSTATUS(status),
                        tail[0] ? ": " : "", tail);
        else if (cap.out_overflow)
                r = backend_fail(err, TRANSCRIBE_PERMANENT, -EFBIG,
                        "%s: %s wrote more than [sandbox] log_max (%" PRIu64 " bytes) to standard output",
                        what, argv[0], max);
        if (r < 0) {
                free(cap.out);
                return r;
        }
        if (ret_stdout) {
                *ret_stdout = cap.out ? cap.out : strdup("");
                if (!*ret_stdout)
                        return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
                if (ret_len)
                        *ret_len = cap.out_len;
        }
        return 0;
}

typedef struct CommandState {
        BackendContext ctx;
} CommandState;

static int command_open(const BackendContext *ctx, void **ret_state, BackendError *err)
{
        CommandState *s = calloc(1, sizeof(*s));

        if (!s)
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        s->ctx = *ctx;
        *ret_state = s;
        return 0;
}

static int command_transcribe(void *state, const BackendChunk *chunk, char **ret_text, BackendError *err)
{
        CommandState *s = state;
        const Policy *p = s->ctx.policy;
        _cleanup_free_ char *out = NULL, *out_txt = NULL;
        char what[64];
        int r;

        /* whisper-cli -otxt -of {out} writes {out}.txt: both names are looked for. */
        if (asprintf(&out, "%s/%s.%u.transcript", s->ctx.workdir, s->ctx.id, chunk->index) < 0 ||
                asprintf(&out_txt, "%s.txt", out) < 0)
                return backend_fail(err, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        (void)unlink(out);
        (void)unlink(out_txt);
        CommandVars vars = {
                .audio = chunk->path,
                .out = out,
                .id = s->ctx.id,
                .workdir = s->ctx.workdir,
                .lang = p->transcribe.language ?: "auto",
        };
        snprintf(what, sizeof(what), "chunk %u", chunk->index + 1);
        if (p->command.output == COMMAND_OUTPUT_STDOUT)
                return command_run(&s->ctx, p->command.argv, &vars, what, ret_text, NULL, err);

        r = command_run(&s->ctx, p->command.argv, &vars, what, NULL, NULL, err);
        if (r < 0)
                return r;
        r = read_file_at(AT_FDCWD, out, p->sandbox.log_max_bytes, ret_text, NULL);
        if (r == -ENOENT)
                r = read_file_at(AT_FDCWD, out_txt, p->sandbox.log_max_bytes, ret_text, NULL);
        (void)unlink(out);
        (void)unlink(out_txt);
        if (r == -ENOENT)
                return backend_fail(err, TRANSCRIBE_PERMANENT, r,
                        "%s: %s exited with status 0 but wrote no transcript to {out} (%s)", what,
                        p->command.argv[0], out);
        if (r == -EFBIG)
                return backend_fail(err, TRANSCRIBE_PERMANENT, r,
                        "%s: the transcript in %s is larger than [sandbox] log_max (%" PRIu64 " bytes)",
                        what, out, p->sandbox.log_max_bytes);
        if (r < 0)
                return backend_fail(
                        err, TRANSCRIBE_RETRYABLE, r, "%s: cannot read %s: %s", what, out, strerror(-r));
        return 0;
}

static void command_close(void *state)
{
        free(state);
}

static uint64_t command_max_bytes(const Policy *p)
{
        return 0;
}

static usec_t command_max_usec(const Policy *p)
{
        return 0;
}

const BackendOps backend_command_ops = {
        .name = "command",
        .open = command_open,
        .transcribe = command_transcribe,
        .close = command_close,
        .max_chunk_bytes = command_max_bytes,
        .max_chunk_usec = command_max_usec,
};
