/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/macro.h"
#include "common/time-util.h"
#include "policies/policy.h"
#include "runner/sniff.h"

/* What the transcribe stage asks of a backend: one chunk of audio (a complete MP3 or WAV file
 * on disk) in, its transcript out. Chunks are sent one at a time and in order. Backends do not
 * log; they describe failures in a BackendError, which never contains an API key. */

typedef enum TranscribeOutcome {
        TRANSCRIBE_OK,
        TRANSCRIBE_RETRYABLE, /* worth another attempt later (after retry_after_sec when set) */
        TRANSCRIBE_PERMANENT, /* the same request would fail the same way */
        TRANSCRIBE_TOO_LONG,  /* the model's answer was cut (token limit): split the chunk, redo it */
        _TRANSCRIBE_OUTCOME_MAX,
} TranscribeOutcome;

typedef struct BackendError {
        TranscribeOutcome outcome;
        uint64_t retry_after_sec; /* 0 = not given */
        long http_status;         /* of the response that decided it; 0 = none */
        char message[1024];       /* one line */
} BackendError;

/* Progress inside a chunk: bytes uploaded of total, or a phase ("processing", "waiting 15s"). */
typedef void (*BackendProgress)(const char *phase, uint64_t done, uint64_t total, void *userdata);

typedef struct BackendContext {
        const Policy *policy;
        const char *id;
        const char *workdir; /* absolute path of the private scratch folder */
        int workdir_fd;
        int log_fd; /* the command's stderr is copied here (up to [sandbox] log_max); -EBADF = not */
        BackendProgress progress;
        void *userdata;
} BackendContext;

typedef struct BackendChunk {
        unsigned index;   /* 0-based position in the transcript */
        const char *path; /* absolute path of the chunk file */
        int fd;           /* open read-only on path */
        uint64_t size_bytes;
        usec_t start_usec;
        usec_t duration_usec;
        AudioFormat format;
        const char *sha256; /* lowercase hex of the file's bytes */
} BackendChunk;

typedef struct BackendOps {
        const char *name;
        /* Checks the configuration and loads secrets. Returns 0 or a negative errno with err. */
        int (*open)(const BackendContext *ctx, void **ret_state, BackendError *err);
        /* Returns 0 with *ret_text (malloc'ed, NUL-terminated), or a negative errno with err
         * (TRANSCRIBE_TOO_LONG included). */
        int (*transcribe)(void *state, const BackendChunk *chunk, char **ret_text, BackendError *err);
        void (*close)(void *state);
        /* The backend's own upload limit in bytes (0 = none), and its duration limit. */
        uint64_t (*max_chunk_bytes)(const Policy *p);
        usec_t (*max_chunk_usec)(const Policy *p);
} BackendOps;

extern const BackendOps backend_command_ops;
extern const BackendOps backend_gemini_ops;
extern const BackendOps backend_openai_ops;

const BackendOps *backend_ops(Backend b);

/* Fills err (first failure wins: later ones are consequences) and returns r (negative). */
int backend_fail(BackendError *err, TranscribeOutcome o, int r, const char *fmt, ...) _printf_(4, 5);

const char *transcribe_outcome_to_string(TranscribeOutcome o);

/* The command backend's runner, also used by the stage for [command] prepare: substitutes the
 * placeholders of tmpl ({audio}, {out}, {prepared}, {id}, {workdir}, {lang}; NULL values are not
 * substituted), runs it with fork + execve in this process's cgroup with a clean environment,
 * and captures stdout (into *ret_stdout when not NULL, at most [sandbox] log_max bytes) and the
 * tail of stderr (for the error message). */
typedef struct CommandVars {
        const char *audio;
        const char *out;
        const char *prepared;
        const char *id;
        const char *workdir;
        const char *lang;
} CommandVars;
int command_run(const BackendContext *ctx, char *const *tmpl, const CommandVars *vars, const char *what,
        char **ret_stdout, size_t *ret_len, BackendError *err);

/* Substitutes every placeholder in one template word. Returns a new string, or NULL (ENOMEM). */
char *command_substitute(const char *word, const CommandVars *vars);

/* ---- backend internals, exposed for tests ---- */

typedef enum GeminiFileState {
        GEMINI_FILE_PROCESSING,
        GEMINI_FILE_ACTIVE,
        GEMINI_FILE_FAILED,
} GeminiFileState;

#define GEMINI_SHA256_B64_SIZE 45

typedef struct GeminiFile {
        char name[64]; /* "files/abc-123" */
        char uri[1024];
        char sha256_base64[GEMINI_SHA256_B64_SIZE + 16];
        char error[256]; /* error.message of a FAILED file */
        GeminiFileState state;
} GeminiFile;

/* A File resource ({"file": File} when wrapped, as the final upload answer is). */
int gemini_parse_file(const char *body, size_t len, bool wrapped, GeminiFile *ret, BackendError *err);

/* A generateContent answer: the text parts of the first candidate (thoughts left out). MAX_TOKENS
 * gives TRANSCRIBE_TOO_LONG, a blocked prompt or another finishReason is permanent. */
int gemini_parse_response(const char *body, size_t len, char **ret_text, BackendError *err);

/* The base64 form of a hex SHA-256, as the Files API reports sha256Hash. "" on bad input. */
void gemini_sha256_base64(const char *hex, char ret[GEMINI_SHA256_B64_SIZE]);

/* Bytes per upload request: 8 MiB rounded down to the server's granularity (at least one
 * granule; 0 = no granularity given). */
uint64_t gemini_piece_bytes(uint64_t granularity);

/* The transcript in an OpenAI-compatible answer for response_format (json, verbose_json: "text",
 * else the segments' texts; text: the body). */
int openai_parse_response(
        const char *format, const char *body, size_t len, char **ret_text, BackendError *err);

/* {endpoint}/v1/audio/transcriptions, without doubling a /v1 the endpoint already ends with. */
char *openai_url(const char *endpoint);

/* The response_format actually sent, and the duration limit: the gpt-4o transcription models
 * only answer json and take at most 1400 s of audio. */
const char *openai_effective_format(const char *model, const char *format);
usec_t openai_model_max_usec(const char *model);
