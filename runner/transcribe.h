/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

#include "common/time-util.h"
#include "policies/policy.h"
#include "runner/audio.h"
#include "runner/backend.h"

/* The transcribe stage: one episode's audio file in, <out_dir>/<id>.txt and <out_dir>/<id>.json
 * out. In order:
 *   1. the file is hashed (SHA-256) and its format sniffed;
 *   2. [command] prepare, when set, converts it to <workdir>/<id>.prepared.wav, and that file is
 *      what gets split: always for the command backend (its transcriber may need a format of
 *      its own), and for gemini and openai only when the episode is not MP3 or WAV (they take
 *      those as they are; converting would only make the upload bigger);
 *   3. MP3 and WAV are split without decoding (runner/audio.h) into chunks of at most
 *      [transcribe] chunk_duration and at most max_chunk_size bytes (or the backend's own
 *      limit), of about equal size; other formats without prepare are a permanent error;
 *   4. chunks are written to the workdir one at a time, sent to the backend in order, and
 *      removed; a chunk the model's output limit cut (Gemini MAX_TOKENS) is split in two by
 *      time and redone, down to CHUNK_SPLIT_MIN_USEC;
 *   5. the transcript is stitched: each chunk's text with surrounding white space removed,
 *      chunks joined by one newline (chunk cuts fall between frames, not between sentences, so
 *      nothing better than a line break is known), and a final newline;
 *   6. <id>.txt then <id>.json are written with write_atomic_at() (temporary file, fsync,
 *      rename, directory fsync): a present .json means a complete .txt.
 * When the audio fits in one chunk the original file is sent as it is (no copy).
 *
 * <id>.json (version 1):
 *   {"version":1, "id":"8670",
 *    "source":{"file":"/spool/8670.audio","size":N,"sha256":"hex","format":"mp3",
 *              "duration":seconds,"prepared":null|{"size":N,"format":"wav"}},
 *    "backend":"gemini", "model":"gemini-2.5-flash", "language":null|"en",
 *    "chunks":[{"index":0,"offset":N,"length":N,"start":s,"duration":s,"bytes":N,
 *               "chars":N,"split":0,"seconds":s}, …],
 *    "chars":N,
 *    "timings":{"started":"RFC 3339 UTC","finished":"…","total":s,"hash":s,"prepare":s,
 *               "split":s,"transcribe":s},
 *    "memory":{}}
 * Offsets and lengths are bytes of the file that was split (the prepared file when there is
 * one); start and duration are seconds. "split" counts the halvings that produced a chunk.
 * "memory" is left for the caller (the scheduler) to record peak memory per stage, e.g.
 * {"fetch":{"peak_bytes":N},"transcribe":{"peak_bytes":N}}. */

#define CHUNK_SPLIT_MIN_USEC  (2 * USEC_PER_SEC)
#define CHUNK_SPLIT_MAX_DEPTH 8

typedef void (*TranscribeProgress)(
        unsigned chunk, unsigned n_chunks, const char *phase, uint64_t done, uint64_t total, void *userdata);

typedef struct TranscribeParams {
        const Policy *policy;
        const char *id;         /* episode_id_valid() */
        const char *audio_path; /* the fetched episode */
        const char *out_dir;
        const char *workdir; /* scratch space; NULL = "<audio's folder>/<id>.work", removed after */
        int log_fd;          /* the command backend's stderr goes here too; -EBADF = nowhere */
        TranscribeProgress progress;
        void *userdata;
} TranscribeParams;

typedef struct TranscribeResult {
        TranscribeOutcome outcome; /* TRANSCRIBE_OK, _RETRYABLE or _PERMANENT */
        uint64_t retry_after_sec;
        long http_status;
        uint64_t chars; /* of the transcript */
        unsigned chunks;
        usec_t duration_usec;
        char error[1024]; /* one line; "" on success */
} TranscribeResult;

/* Runs the stage. ret is always filled. Returns 0, or a negative errno with ret->error. */
int transcribe_run(const TranscribeParams *p, TranscribeResult *ret);

/* The chunk limits for a policy and backend: chunk_duration and the smaller of max_chunk_size
 * and the backend's limits. Pure. */
AudioLimits transcribe_limits(const Policy *p, const BackendOps *ops);

/* Appends text (surrounding white space removed) to a transcript held in *buf and *len, with one
 * newline before it unless it is the first non-empty text. Returns 0 or -ENOMEM. */
int transcribe_append(char **buf, size_t *len, const char *text);
