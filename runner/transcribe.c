/* SPDX-License-Identifier: MIT */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "common/json-util.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "runner/manifest.h"
#include "runner/transcribe.h"

#define HASH_BYTES      (64 * 1024)
#define WAV_SLACK_BYTES 4096 /* a WAV header and a sample frame */
#define MP3_SLACK_BYTES (2 * MP3_FRAME_MAX)
#define SLACK_USEC      (200 * USEC_PER_MSEC) /* more than any MP3 frame lasts (144 ms) */

const char *transcribe_outcome_to_string(TranscribeOutcome o)
{
        static const char *const table[_TRANSCRIBE_OUTCOME_MAX] = {
                [TRANSCRIBE_OK] = "ok",
                [TRANSCRIBE_RETRYABLE] = "retryable",
                [TRANSCRIBE_PERMANENT] = "permanent",
                [TRANSCRIBE_TOO_LONG] = "too-long",
        };
        return (unsigned)o < _TRANSCRIBE_OUTCOME_MAX ? table[o] : NULL;
}

int backend_fail(BackendError *err, TranscribeOutcome o, int r, const char *fmt, ...)
{
        va_list ap;

        if (!err || err->message[0])
                return r;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        err->outcome = o;
        return r;
}

const BackendOps *backend_ops(Backend b)
{
        switch (b) {
        case BACKEND_COMMAND:
                return &backend_command_ops;
        case BACKEND_GEMINI:
                return &backend_gemini_ops;
        case BACKEND_OPENAI:
                return &backend_openai_ops;
        case _BACKEND_MAX:
        default:
                return NULL;
        }
}

static uint64_t min_nonzero(uint64_t a, uint64_t b)
{
        return a == 0 ? b : b == 0 ? a : MIN(a, b);
}

AudioLimits transcribe_limits(const Policy *p, const BackendOps *ops)
{
        return (AudioLimits){
                .max_duration_usec = min_nonzero(p->transcribe.chunk_duration_usec, ops->max_chunk_usec(p)),
                .max_bytes = min_nonzero(p->transcribe.max_chunk_size_bytes, ops->max_chunk_bytes(p)),
        };
}

int transcribe_append(char **buf, size_t *len, const char *text)
{
        const char *s = text ?: "";
        size_t n, sep;
        char *b;

        while (*s && isspace((unsigned char)*s))
                s++;
        n = strlen(s);
        while (n > 0 && isspace((unsigned char)s[n - 1]))
                n--;
        if (n == 0)
                return 0;
        sep = *len > 0 ? 1 : 0;
        b = realloc(*buf, *len + sep + n + 1);
        if (!b)
                return -ENOMEM;
        if (sep)
                b[(*len)++] = '\n';
        memcpy(b + *len, s, n);
        *len += n;
        b[*len] = 0;
        *buf = b;
        return 0;
}

typedef struct Chunk {
        AudioChunk a;
        bool whole; /* the source file itself is sent */
        unsigned depth;
        uint64_t bytes;
        uint64_t chars;
        usec_t usec;
} Chunk;

typedef struct Stage {
        const TranscribeParams *p;
        TranscribeResult *res;
        BackendError err;
        const BackendOps *ops;
        void *backend;
        int audio_fd, src_fd, out_fd, work_fd;
        char *audio_abs, *workdir, *prepared;
        bool work_created;
        char sha256[SHA256_HEX_SIZE];
        uint64_t audio_size;
        AudioFormat audio_format;
        AudioInfo info;
        Chunk *chunks;
        size_t n_chunks;
        unsigned cur;
        char *text;
        size_t text_len;
        usec_t t0, t_hash, t_prepare, t_split, t_transcribe;
        usec_t started_realtime;
} Stage;

_printf_(4, 5) static int fail(Stage *s, TranscribeOutcome o, int r, const char *fmt, ...)
{
        char msg[sizeof(s->err.message)];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return backend_fail(&s->err, o, r, "%s", msg);
}

static uint64_t utf8_chars(const char *s, size_t len)
{
        uint64_t n = 0;
        for (size_t i = 0; i < len; i++)
                n += ((unsigned char)s[i] & 0xC0) != 0x80;
        return n;
}

/* SHA-256 and the first bytes of a file, read once and dropped from the page cache. */
static int hash_fd(int fd, char ret_hex[SHA256_HEX_SIZE], uint8_t head[SNIFF_BYTES], size_t *ret_head)
{
        _cleanup_free_ uint8_t *buf = malloc(HASH_BYTES);
        uint64_t off = 0;
        size_t h = 0;
        Sha256 sha;

        if (!buf)
                return -ENOMEM;
        sha256_init(&sha);
        for (;;) {
                ssize_t n = pread(fd, buf, HASH_BYTES, (off_t)off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                if (head && h < SNIFF_BYTES) {
                        size_t k = MIN((size_t)n, SNIFF_BYTES - h);
                        memcpy(head + h, buf, k);
                        h += k;
                }
                sha256_update(&sha, buf, (size_t)n);
                off += (uint64_t)n;
        }
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        sha256_final_hex(&sha, ret_hex);
        if (ret_head)
                *ret_head = h;
        return 0;
}

static int open_input(Stage *s)
{
        const TranscribeParams *p = s->p;
        uint8_t head[SNIFF_BYTES];
        struct stat st;
        size_t head_len = 0;
        usec_t t = now_usec(CLOCK_MONOTONIC);
        int r;

        s->audio_fd = open(p->audio_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (s->audio_fd < 0)
                return fail(s, TRANSCRIBE_PERMANENT, -errno, "%s: cannot open: %s", p->audio_path,
                        strerror(errno));
        if (fstat(s->audio_fd, &st) < 0 || !S_ISREG(st.st_mode))
                return fail(s, TRANSCRIBE_PERMANENT, -EINVAL, "%s: not a regular file", p->audio_path);
        s->audio_size = (uint64_t)st.st_size;
        s->audio_abs = realpath(p->audio_path, NULL);
        if (!s->audio_abs)
                return fail(s, TRANSCRIBE_RETRYABLE, -errno, "%s: %s", p->audio_path, strerror(errno));
        r = hash_fd(s->audio_fd, s->sha256, head, &head_len);
        if (r < 0)
                return fail(s, TRANSCRIBE_RETRYABLE, r, "%s: cannot read: %s", p->audio_path, strerror(-r));
        s->audio_format = sniff_audio_format(head, head_len);
        s->t_hash = now_usec(CLOCK_MONOTONIC) - t;

        s->out_fd = open(p->out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->out_fd < 0)
                return fail(s, TRANSCRIBE_PERMANENT, -errno, "%s: cannot open the output folder: %s",
                        p->out_dir, strerror(errno));
        return 0;
}

static int make_workdir(Stage *s)
{
        const TranscribeParams *p = s->p;
        _cleanup_free_ char *dir = NULL;

        if (p->workdir)
                dir = strdup(p->workdir);
        else {
                _cleanup_free_ char *copy = strdup(s->audio_abs);
                if (copy && asprintf(&dir, "%s/%s.work", dirname(copy), p->id) < 0)
                        dir = NULL;
        }
        if (!dir)
                return fail(s, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        /* The default folder is the stage's own, also when a killed attempt left it behind. */
        s->work_created = !p->workdir;
        if (mkdir(dir, 0700) == 0)
                s->work_created = true;
        else if (errno != EEXIST)
                return fail(s, TRANSCRIBE_RETRYABLE, -errno, "%s: cannot create the work folder: %s", dir,
                        strerror(errno));
        /* Absolute: the command runs in it and gets chunk paths that must still resolve. */
        s->workdir = realpath(dir, NULL);
        if (!s->workdir)
                return fail(s, TRANSCRIBE_RETRYABLE, -errno, "%s: %s", dir, strerror(errno));
        s->work_fd = open(s->workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->work_fd < 0)
                return fail(s, TRANSCRIBE_RETRYABLE, -errno, "%s: %s", s->workdir, strerror(errno));
        return 0;
}

/* The work folder is private to this stage: what the transcriber left in it goes too. */
static void rm_rf_at(int parent_fd, const char *name, unsigned depth)
{
        int fd;
        DIR *d;

        if (unlinkat(parent_fd, name, 0) == 0 || (errno != EISDIR && errno != EPERM) || depth > 16)
                return;
        fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return;
        }
        for (struct dirent *de; (de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        rm_rf_at(dirfd(d), de->d_name, depth + 1);
        closedir(d);
        (void)unlinkat(parent_fd, name, AT_REMOVEDIR);
}

static void backend_progress(const char *phase, uint64_t done, uint64_t total, void *userdata)
{
        Stage *s = userdata;

        if (s->p->progress)
                s->p->progress(s->cur, (unsigned)s->n_chunks, phase, done, total, s->p->userdata);
}

static BackendContext context(Stage *s)
{
        return (BackendContext){
                .policy = s->p->policy,
                .id = s->p->id,
                .workdir = s->workdir,
                .workdir_fd = s->work_fd,
                .log_fd = s->p->log_fd,
                .progress = backend_progress,
                .userdata = s,
        };
}

static int run_prepare(Stage *s)
{
        const Policy *pol = s->p->policy;
        BackendContext ctx = context(s);
        uint8_t head[SNIFF_BYTES];
        usec_t t = now_usec(CLOCK_MONOTONIC);
        struct stat st;
        ssize_t n;
        int r;

        if (asprintf(&s->prepared, "%s/%s.prepared.wav", s->workdir, s->p->id) < 0)
                return fail(s, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        (void)unlink(s->prepared);
        CommandVars vars = {
                .audio = s->audio_abs,
                .prepared = s->prepared,
                .id = s->p->id,
                .workdir = s->workdir,
                .lang = pol->transcribe.language ?: "auto",
        };
        backend_progress("preparing", 0, 0, s);
        r = command_run(&ctx, pol->command.prepare, &vars, "prepare", NULL, NULL, &s->err);
        if (r < 0)
                return r;
        s->src_fd = open(s->prepared, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (s->src_fd < 0 || fstat(s->src_fd, &st) < 0 || st.st_size == 0)
                return fail(s, TRANSCRIBE_PERMANENT, -ENOENT,
                        "prepare: %s exited with status 0 but wrote nothing to {prepared} (%s)",
                        pol->command.prepare[0], s->prepared);
        n = pread(s->src_fd, head, sizeof(head), 0);
        if (n < 0)
                return fail(s, TRANSCRIBE_RETRYABLE, -errno, "%s: cannot read: %s", s->prepared,
                        strerror(errno));
        s->info.format = sniff_audio_format(head, (size_t)n);
        s->t_prepare = now_usec(CLOCK_MONOTONIC) - t;
        return 0;
}

/* The command backend's transcriber may need its own format (pocketsphinx: 16 kHz WAV), so
 * prepare always runs for it; remote backends take MP3 and WAV as they are (a conversion would
 * only make the upload bigger) and need prepare only for what cannot be split. */
static bool needs_prepare(const Stage *s)
{
        const Policy *pol = s->p->policy;

        if (!pol->command.prepare)
                return false;
        return pol->transcribe.backend == BACKEND_COMMAND ||
                (s->audio_format != AUDIO_FORMAT_MP3 && s->audio_format != AUDIO_FORMAT_WAV);
}

/* More than one frame lasts: what balanced or halved limits add so the cut lands after the mark. */
static usec_t slack_usec(const Stage *s)
{
        if (s->info.format == AUDIO_FORMAT_WAV && s->info.sample_rate > 0)
                return USEC_PER_SEC / s->info.sample_rate + 1;
        return SLACK_USEC;
}

static int plan(Stage *s)
{
        const Policy *pol = s->p->policy;
        AudioFormat f = s->prepared ? s->info.format : s->audio_format;
        AudioLimits lim = transcribe_limits(pol, s->ops), bal;
        AudioChunk *v = NULL;
        char why[256] = "";
        const char *name = s->prepared ?: s->p->audio_path;
        usec_t t = now_usec(CLOCK_MONOTONIC);
        int n;

        if (f != AUDIO_FORMAT_MP3 && f != AUDIO_FORMAT_WAV)
                return fail(s, TRANSCRIBE_PERMANENT, -EOPNOTSUPP,
                        "%s is %s audio: memgov splits only MP3 and WAV without decoding; set [command] prepare to "
                        "convert it (e.g. prepare = ffmpeg -i {audio} -ar 16000 -ac 1 {prepared})",
                        name, f == AUDIO_FORMAT_UNKNOWN ? "unrecognised" : audio_format_to_string(f));
        n = audio_probe(s->src_fd, f, &s->info, why, sizeof(why));
        if (n < 0)
                return fail(s, TRANSCRIBE_PERMANENT, n, "%s: %s", name, why);
        audio_balance_limits(s->info.duration_usec, s->info.audio_end - s->info.audio_offset, &lim,
                slack_usec(s), f == AUDIO_FORMAT_WAV ? WAV_SLACK_BYTES : MP3_SLACK_BYTES, &bal);
        n = audio_plan(
                s->src_fd, &s->info, s->info.audio_offset, s->info.audio_end, 0, &bal, &v, why, sizeof(why));
        if (n < 0)
                return fail(s, TRANSCRIBE_PERMANENT, n, "%s: %s", name, why);
        s->chunks = calloc((size_t)n, sizeof(Chunk));
        if (!s->chunks) {
                free(v);
                return fail(s, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        }
        for (int i = 0; i < n; i++)
                s->chunks[i].a = v[i];
        s->n_chunks = (size_t)n;
        free(v);
        /* One chunk that fits: the file goes as it is, tags and all, without a copy. */
        s->chunks[0].whole = n == 1 && (lim.max_bytes == 0 || s->info.file_size <= lim.max_bytes);
        s->t_split = now_usec(CLOCK_MONOTONIC) - t;
        return 0;
}

/* Replaces chunk i by its two halves (by time). */
static int split_chunk(Stage *s, size_t i)
{
        Chunk c = s->chunks[i];
        AudioLimits half = { .max_duration_usec = c.a.duration_usec / 2 + slack_usec(s) };
        AudioChunk *v = NULL;
        Chunk *grown;
        char why[256] = "";
        int n;

        /* The backend's TRANSCRIBE_TOO_LONG is replaced by the verdict. */
        s->err = (BackendError){};
        if (c.a.duration_usec < 2 * CHUNK_SPLIT_MIN_USEC || c.depth >= CHUNK_SPLIT_MAX_DEPTH)
                return fail(s, TRANSCRIBE_PERMANENT, -E2BIG,
                        "%s: chunk %zu (%.1f s at %.1f s) still exceeds the model's output limit after %u splits",
                        s->p->id, i + 1, (double)c.a.duration_usec / USEC_PER_SEC,
                        (double)c.a.start_usec / USEC_PER_SEC, c.depth);
        n = audio_plan(s->src_fd, &s->info, c.a.offset, c.a.offset + c.a.length, c.a.start_usec, &half, &v,
                why, sizeof(why));
        if (n < 2) {
                free(n > 0 ? v : NULL);
                return fail(s, TRANSCRIBE_PERMANENT, -E2BIG,
                        "%s: chunk %zu exceeds the model's output limit and cannot be split further: %s",
                        s->p->id, i + 1, n < 0 ? why : "one frame");
        }
        grown = reallocarray(s->chunks, s->n_chunks + (size_t)n - 1, sizeof(Chunk));
        if (!grown) {
                free(v);
                return fail(s, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        }
        s->chunks = grown;
        memmove(s->chunks + i + n, s->chunks + i + 1, (s->n_chunks - i - 1) * sizeof(Chunk));
        for (int k = 0; k < n; k++)
                s->chunks[i + (size_t)k] = (Chunk){ .a = v[k], .depth = c.depth + 1 };
        s->n_chunks += (size_t)n - 1;
        free(v);
        s->err = (BackendError){};
        return 0;
}

static int transcribe_chunk(Stage *s, size_t i, char **ret_text)
{
        Chunk *c = &s->chunks[i];
        _cleanup_free_ char *name = NULL, *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        char sha[SHA256_HEX_SIZE];
        BackendChunk bc;
        int r;

        if (c->whole) {
                fd = fcntl(s->src_fd, F_DUPFD_CLOEXEC, 3);
                path = strdup(s->prepared ?: s->audio_abs);
                if (fd < 0 || !path)
                        return fail(s, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
                if (s->prepared) {
                        r = hash_fd(fd, sha, NULL, NULL);
                        if (r < 0)
                                return fail(s, TRANSCRIBE_RETRYABLE, r, "%s: %s", path, strerror(-r));
                } else
                        memcpy(sha, s->sha256, sizeof(sha));
                c->bytes = s->info.file_size;
        } else {
                if (asprintf(&name, "%s.chunk-%zu.%s", s->p->id, i + 1, audio_chunk_extension(&s->info)) <
                                0 ||
                        asprintf(&path, "%s/%s", s->workdir, name) < 0)
                        return fail(s, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
                backend_progress("cutting", 0, 0, s);
                r = audio_write_chunk(s->src_fd, &s->info, &c->a, s->work_fd, name, sha);
                if (r < 0) {
                        (void)unlinkat(s->work_fd, name, 0);
                        return fail(s, r == -ENOSPC ? TRANSCRIBE_RETRYABLE : TRANSCRIBE_PERMANENT, r,
                                "cannot write chunk %zu to %s: %s", i + 1, s->workdir, strerror(-r));
                }
                fd = openat(s->work_fd, name, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return fail(s, TRANSCRIBE_RETRYABLE, -errno, "%s: %s", path, strerror(errno));
                c->bytes = audio_chunk_file_size(&s->info, &c->a);
        }
        bc = (BackendChunk){
                .index = (unsigned)i,
                .path = path,
                .fd = fd,
                .size_bytes = c->bytes,
                .start_usec = c->a.start_usec,
                .duration_usec = c->a.duration_usec,
                .format = s->info.format,
                .sha256 = sha,
        };
        r = s->ops->transcribe(s->backend, &bc, ret_text, &s->err);
        if (name)
                (void)unlinkat(s->work_fd, name, 0);
        return r;
}

static int transcribe_all(Stage *s)
{
        usec_t t = now_usec(CLOCK_MONOTONIC);

        for (size_t i = 0; i < s->n_chunks;) {
                _cleanup_free_ char *text = NULL;
                usec_t t_chunk = now_usec(CLOCK_MONOTONIC);
                int r;

                s->cur = (unsigned)i;
                backend_progress("starting", 0, 0, s);
                r = transcribe_chunk(s, i, &text);
                if (r < 0 && s->err.outcome == TRANSCRIBE_TOO_LONG) {
                        r = split_chunk(s, i);
                        if (r < 0)
                                return r;
                        continue; /* the first half is chunk i now */
                }
                if (r < 0) {
                        char msg[sizeof(s->err.message)];
                        snprintf(msg, sizeof(msg), "%s: chunk %zu/%zu (at %.1f s): %.900s", s->p->id, i + 1,
                                s->n_chunks, (double)s->chunks[i].a.start_usec / USEC_PER_SEC,
                                s->err.message);
                        memcpy(s->err.message, msg, sizeof(msg));
                        return r;
                }
                s->chunks[i].chars = utf8_chars(text ?: "", strlen(text ?: ""));
                s->chunks[i].usec = now_usec(CLOCK_MONOTONIC) - t_chunk;
                if (transcribe_append(&s->text, &s->text_len, text) < 0)
                        return fail(s, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
                i++;
        }
        s->t_transcribe = now_usec(CLOCK_MONOTONIC) - t;
        return 0;
}

static double seconds(usec_t u)
{
        return round((double)u / 1000.0) / 1000.0;
}

static void format_time(usec_t realtime, char *buf, size_t size)
{
        time_t sec = (time_t)(realtime / USEC_PER_SEC);
        struct tm tm;

        if (!gmtime_r(&sec, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(buf, size, "%s", "");
}

static char *metadata_json(Stage *s)
{
        const Policy *pol = s->p->policy;
        _cleanup_(cJSON_Deletep) cJSON *j = cJSON_CreateObject();
        cJSON *src, *chunks, *tim, *prep;
        const char *model = pol->transcribe.backend == BACKEND_GEMINI ? pol->gemini.model
                : pol->transcribe.backend == BACKEND_OPENAI
                ? pol->openai.model
                : (pol->command.argv ? pol->command.argv[0] : NULL);
        char started[64], finished[64];
        usec_t now = now_usec(CLOCK_REALTIME);
        bool ok = j;

        format_time(s->started_realtime, started, sizeof(started));
        format_time(now, finished, sizeof(finished));
        ok = ok && cJSON_AddNumberToObject(j, "version", 1) && cJSON_AddStringToObject(j, "id", s->p->id);
        ok = ok && (src = cJSON_AddObjectToObject(j, "source")) &&
                cJSON_AddStringToObject(src, "file", s->audio_abs) &&
                cJSON_AddNumberToObject(src, "size", (double)s->audio_size) &&
                cJSON_AddStringToObject(src, "sha256", s->sha256) &&
                cJSON_AddStringToObject(src, "format", audio_format_to_string(s->audio_format)) &&
                cJSON_AddNumberToObject(src, "duration", seconds(s->info.duration_usec));
        if (ok && s->prepared)
                ok = (prep = cJSON_AddObjectToObject(src, "prepared")) &&
                        cJSON_AddNumberToObject(prep, "size", (double)s->info.file_size) &&
                        cJSON_AddStringToObject(prep, "format", audio_format_to_string(s->info.format));
        else if (ok)
                ok = cJSON_AddNullToObject(src, "prepared");
        ok = ok && cJSON_AddStringToObject(j, "backend", backend_to_string(pol->transcribe.backend));
        ok = ok && (model ? cJSON_AddStringToObject(j, "model", model) : cJSON_AddNullToObject(j, "model"));
        ok = ok &&
                (pol->transcribe.language ? cJSON_AddStringToObject(j, "language", pol->transcribe.language)
                                          : cJSON_AddNullToObject(j, "language"));
        ok = ok && (chunks = cJSON_AddArrayToObject(j, "chunks"));
        for (size_t i = 0; ok && i < s->n_chunks; i++) {
                const Chunk *c = &s->chunks[i];
                cJSON *o = cJSON_CreateObject();
                ok = o && cJSON_AddItemToArray(chunks, o) &&
                        cJSON_AddNumberToObject(o, "index", (double)i) &&
                        cJSON_AddNumberToObject(o, "offset", (double)c->a.offset) &&
                        cJSON_AddNumberToObject(o, "length", (double)c->a.length) &&
                        cJSON_AddNumberToObject(o, "start", seconds(c->a.start_usec)) &&
                        cJSON_AddNumberToObject(o, "duration", seconds(c->a.duration_usec)) &&
                        cJSON_AddNumberToObject(o, "bytes", (double)c->bytes) &&
                        cJSON_AddNumberToObject(o, "chars", (double)c->chars) &&
                        cJSON_AddNumberToObject(o, "split", c->depth) &&
                        cJSON_AddNumberToObject(o, "seconds", seconds(c->usec));
        }
        ok = ok && cJSON_AddNumberToObject(j, "chars", (double)s->res->chars);
        ok = ok && (tim = cJSON_AddObjectToObject(j, "timings")) &&
                cJSON_AddStringToObject(tim, "started", started) &&
                cJSON_AddStringToObject(tim, "finished", finished) &&
                cJSON_AddNumberToObject(tim, "total", seconds(now_usec(CLOCK_MONOTONIC) - s->t0)) &&
                cJSON_AddNumberToObject(tim, "hash", seconds(s->t_hash)) &&
                cJSON_AddNumberToObject(tim, "prepare", seconds(s->t_prepare)) &&
                cJSON_AddNumberToObject(tim, "split", seconds(s->t_split)) &&
                cJSON_AddNumberToObject(tim, "transcribe", seconds(s->t_transcribe));
        ok = ok && cJSON_AddObjectToObject(j, "memory");
        return ok ? cJSON_Print(j) : NULL;
}

static int write_outputs(Stage *s)
{
        _cleanup_free_ char *txt = NULL, *json = NULL, *txt_name = NULL, *json_name = NULL;
        size_t len = s->text_len;
        int r;

        if (asprintf(&txt_name, "%s.txt", s->p->id) < 0 || asprintf(&json_name, "%s.json", s->p->id) < 0)
                return fail(s, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        txt = malloc(len + 2);
        if (!txt)
                return fail(s, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        memcpy(txt, s->text ?: "", len);
        if (len > 0)
                txt[len++] = '\n';
        s->res->chars = utf8_chars(s->text ?: "", s->text_len);
        /* The transcript first: a .json always describes a complete .txt. */
        r = write_atomic_at(s->out_fd, txt_name, txt, len, 0644);
        if (r < 0)
                return fail(s, TRANSCRIBE_RETRYABLE, r, "%s/%s: cannot write: %s", s->p->out_dir, txt_name,
                        strerror(-r));
        json = metadata_json(s);
        if (!json)
                return fail(s, TRANSCRIBE_RETRYABLE, -ENOMEM, "out of memory");
        r = write_atomic_at(s->out_fd, json_name, json, strlen(json), 0644);
        if (r < 0)
                return fail(s, TRANSCRIBE_RETRYABLE, r, "%s/%s: cannot write: %s", s->p->out_dir, json_name,
                        strerror(-r));
        return 0;
}

static void cleanup(Stage *s)
{
        if (s->backend)
                s->ops->close(s->backend);
        if (s->work_fd >= 0 && s->prepared)
                (void)unlink(s->prepared);
        if (s->work_created && s->workdir) {
                _cleanup_free_ char *copy = strdup(s->workdir), *copy2 = strdup(s->workdir);
                int parent = copy ? open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -EBADF;
                if (parent >= 0 && copy2)
                        rm_rf_at(parent, basename(copy2), 0);
                safe_close(parent);
        }
        if (s->src_fd != s->audio_fd)
                safe_close(s->src_fd);
        safe_close(s->audio_fd);
        safe_close(s->out_fd);
        safe_close(s->work_fd);
        free(s->audio_abs);
        free(s->workdir);
        free(s->prepared);
        free(s->chunks);
        free(s->text);
}

int transcribe_run(const TranscribeParams *p, TranscribeResult *ret)
{
        Stage s = {
                .p = p,
                .res = ret,
                .audio_fd = -EBADF,
                .src_fd = -EBADF,
                .out_fd = -EBADF,
                .work_fd = -EBADF,
                .t0 = now_usec(CLOCK_MONOTONIC),
                .started_realtime = now_usec(CLOCK_REALTIME),
        };
        BackendContext ctx;
        int r;

        if (!ret)
                return -EINVAL;
        *ret = (TranscribeResult){ .outcome = TRANSCRIBE_PERMANENT };
        if (!p || !p->policy || !p->id || !episode_id_valid(p->id) || isempty(p->audio_path) ||
                isempty(p->out_dir)) {
                snprintf(ret->error, sizeof(ret->error), "invalid transcribe parameters (episode id '%s')",
                        p && p->id ? p->id : "");
                return -EINVAL;
        }
        s.ops = backend_ops(p->policy->transcribe.backend);
        r = s.ops ? open_input(&s) : fail(&s, TRANSCRIBE_PERMANENT, -EINVAL, "unknown backend");
        if (r >= 0)
                r = make_workdir(&s);
        if (r >= 0) {
                ctx = context(&s);
                r = s.ops->open(&ctx, &s.backend, &s.err);
        }
        if (r >= 0 && needs_prepare(&s))
                r = run_prepare(&s);
        else if (r >= 0)
                s.src_fd = s.audio_fd;
        if (r >= 0)
                r = plan(&s);
        if (r >= 0)
                r = transcribe_all(&s);
        if (r >= 0)
                r = write_outputs(&s);

        ret->chunks = (unsigned)s.n_chunks;
        ret->duration_usec = s.info.duration_usec;
        if (r < 0) {
                if (!s.err.message[0])
                        fail(&s, TRANSCRIBE_RETRYABLE, r, "%s", strerror(-r));
                ret->outcome =
                        s.err.outcome == TRANSCRIBE_RETRYABLE ? TRANSCRIBE_RETRYABLE : TRANSCRIBE_PERMANENT;
                ret->retry_after_sec = s.err.retry_after_sec;
                ret->http_status = s.err.http_status;
                snprintf(ret->error, sizeof(ret->error), "%s", s.err.message);
        } else
                ret->outcome = TRANSCRIBE_OK;
        cleanup(&s);
        return r < 0 ? r : 0;
}
