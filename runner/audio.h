/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/time-util.h"
#include "runner/sha256.h"
#include "runner/sniff.h"

/* Splitting long audio without decoding it: MP3 is cut at frame boundaries, WAV at sample-frame
 * boundaries, so every chunk is playable on its own and no codec is needed. The parsers are
 * pure functions over bytes; the planner and the chunk writer read the file through an fd in
 * small windows (constant memory whatever the file size).
 *
 * What is understood:
 *   MP3: ID3v2 tags (also several in a row, and the footer flag), MPEG-1/2/2.5 layers I-III,
 *        a Xing/Info/VBRI header frame (not audio: left out of chunks, its frame count gives the
 *        duration), trailing ID3v1 and APEv2 tags (ignored), garbage and broken frames (skipped
 *        by resynchronising on a header whose following frame is also valid). Free-format
 *        streams (bitrate index 0) are not supported: their frames are skipped like garbage.
 *   WAV: RIFF/WAVE with a fmt chunk of PCM, IEEE float, A-law, µ-law or WAVE_FORMAT_EXTENSIBLE
 *        with one of those; other chunks (LIST, bext, …) are skipped; a data size of 0 or
 *        0xFFFFFFFF (streamed WAV) or past the end means "to the end of the file". */

/* ---- MP3 ---- */

typedef struct Mp3Header {
        unsigned version; /* 10 = MPEG-1, 20 = MPEG-2, 25 = MPEG-2.5 */
        unsigned layer;   /* 1, 2 or 3 */
        unsigned bitrate_kbps;
        unsigned sample_rate;
        unsigned samples; /* per frame */
        unsigned channels;
        bool crc; /* a 16-bit CRC follows the header */
        bool padding;
        size_t frame_bytes; /* header included */
} Mp3Header;

/* Largest frame any valid header describes (MPEG-2.5 layer II, 160 kbit/s at 8 kHz, padded). */
#define MP3_FRAME_MAX 2881

/* Parses a 4-byte frame header. Returns 0, or -EINVAL when p is not a usable header (no sync,
 * reserved values, free-format or "bad" bitrate). */
int mp3_parse_header(const uint8_t *p, size_t len, Mp3Header *ret);

/* Whether two headers belong to one stream (version, layer and sample rate agree). */
bool mp3_headers_match(const Mp3Header *a, const Mp3Header *b);

/* The size of an ID3v2 tag at p (header, body and footer), or 0 when p does not start one. */
uint64_t mp3_id3v2_size(const uint8_t *p, size_t len);

/* Whether the frame at p (frame_len bytes, header h) is a Xing, Info or VBRI header frame. If so
 * and it records the number of audio frames, *ret_frames is set (else left alone). */
bool mp3_parse_vbr_frame(const uint8_t *p, size_t frame_len, const Mp3Header *h, uint64_t *ret_frames);

/* Where the audio of a file of file_size bytes ends, given its last tail_len bytes: before a
 * trailing ID3v1 tag and/or an APEv2 tag (checked in both orders). */
#define MP3_TAIL_BYTES 160
uint64_t mp3_audio_end(const uint8_t *tail, size_t tail_len, uint64_t file_size);

/* ---- WAV ---- */

#define WAV_FORMAT_PCM        0x0001
#define WAV_FORMAT_FLOAT      0x0003
#define WAV_FORMAT_ALAW       0x0006
#define WAV_FORMAT_MULAW      0x0007
#define WAV_FORMAT_EXTENSIBLE 0xFFFE
#define WAV_FMT_MAX           64 /* fmt chunks are 16, 18 or 40 bytes */

typedef struct WavInfo {
        unsigned format; /* WAV_FORMAT_*, the sub-format for WAVE_FORMAT_EXTENSIBLE */
        unsigned channels;
        unsigned sample_rate;
        unsigned block_align; /* bytes per sample frame */
        unsigned bits;
        uint64_t data_offset;
        uint64_t data_bytes;      /* whole sample frames only */
        uint8_t fmt[WAV_FMT_MAX]; /* the fmt chunk's body, copied into each chunk's header */
        size_t fmt_len;
} WavInfo;

/* Parses the WAV header in the first len bytes of a file of file_size bytes: the data chunk must
 * start within them. Returns 0, -EINVAL (not a WAV file, or a broken one), -EOPNOTSUPP (a
 * compressed or unknown format tag: *ret->format says which) or -ENODATA (no data chunk in p). */
int wav_parse(const uint8_t *p, size_t len, uint64_t file_size, WavInfo *ret);

/* Writes a canonical header (RIFF, the original fmt chunk, data) for data_bytes of sample data
 * into buf. Returns its length, or -ENOBUFS / -EFBIG (more than RIFF's 4 GiB). */
#define WAV_HEADER_MAX (12 + 8 + WAV_FMT_MAX + 8)
int wav_write_header(const WavInfo *w, uint64_t data_bytes, uint8_t *buf, size_t size);

/* ---- files ---- */

typedef struct AudioInfo {
        AudioFormat format;
        uint64_t file_size;
        uint64_t audio_offset; /* first audio frame / first sample byte */
        uint64_t audio_end;    /* end of the last whole frame / sample frame */
        uint64_t frames;       /* MP3 frames or WAV sample frames */
        usec_t duration_usec;  /* MP3: from the VBR header when present, else counted */
        unsigned sample_rate;
        unsigned channels;
        unsigned bitrate_kbps;  /* MP3: of the first frame; WAV: 0 */
        bool vbr_header;        /* MP3: a Xing/Info/VBRI frame was found (and is left out) */
        uint64_t skipped_bytes; /* MP3: garbage between frames */
        WavInfo wav;
} AudioInfo;

/* Reads the file's structure. format must be AUDIO_FORMAT_MP3 or AUDIO_FORMAT_WAV. Returns 0,
 * -EOPNOTSUPP (another format, or a WAV encoding that cannot be cut), -EINVAL (no audio found),
 * or -errno from reading; err gets a one-line reason. */
int audio_probe(int fd, AudioFormat format, AudioInfo *ret, char *err, size_t err_size);

typedef struct AudioChunk {
        uint64_t offset; /* in the source file */
        uint64_t length; /* source bytes: MP3 frames, or WAV sample data */
        usec_t start_usec;
        usec_t duration_usec;
} AudioChunk;

typedef struct AudioLimits {
        usec_t max_duration_usec; /* 0 = none */
        uint64_t max_bytes;       /* of a chunk file, WAV header included; 0 = none */
} AudioLimits;

/* Splits the audio of [from, to) (a range that starts on a frame boundary, e.g. a chunk planned
 * before, or audio_offset .. audio_end) into chunks that respect lim, greedily; a single frame
 * larger than the limits is a chunk of its own. MP3 times count from start_usec (the time of
 * from: frames vary, so only a scan knows it); WAV times follow from the offsets. Returns the
 * number of chunks (an array in *ret, free() it), or -errno with err set. */
int audio_plan(int fd, const AudioInfo *info, uint64_t from, uint64_t to, usec_t start_usec,
        const AudioLimits *lim, AudioChunk **ret, char *err, size_t err_size);

/* Limits that split a total of duration/bytes into the fewest chunks of about equal size within
 * lim, rather than full chunks and a short tail. slack_* must cover one frame. Pure. */
void audio_balance_limits(usec_t total_usec, uint64_t total_bytes, const AudioLimits *lim, usec_t slack_usec,
        uint64_t slack_bytes, AudioLimits *ret);

/* The size of the file audio_write_chunk() writes for c. */
uint64_t audio_chunk_file_size(const AudioInfo *info, const AudioChunk *c);

/* The file extension and MIME type of a chunk: "mp3", "audio/mp3" / "wav", "audio/wav". */
const char *audio_chunk_extension(const AudioInfo *info);
const char *audio_mime_type(AudioFormat f);

/* Writes chunk c of src_fd to name in dir_fd (created or truncated, mode 0600), streamed in
 * small blocks; a WAV chunk gets its own header. When ret_sha256 is not NULL it gets the hex
 * SHA-256 of the bytes written. Returns 0 or -errno. */
int audio_write_chunk(int src_fd, const AudioInfo *info, const AudioChunk *c, int dir_fd, const char *name,
        char ret_sha256[SHA256_HEX_SIZE]);
