/* SPDX-License-Identifier: MIT */
/* The MP3 and WAV parsers and the splitter (runner/audio.c) on arbitrary bytes: nothing may
 * crash, and every plan must describe chunks that lie inside the audio, in order, without
 * overlap, within the limits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/macro.h"
#include "runner/audio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                         \
        do {                                                             \
                if (!(x)) {                                              \
                        fprintf(stderr, "fuzz-audio: failed: %s\n", #x); \
                        abort();                                         \
                }                                                        \
        } while (0)

static void check_pure(const uint8_t *data, size_t size)
{
        size_t tail = MIN(size, (size_t)MP3_TAIL_BYTES);
        uint8_t hdr[WAV_HEADER_MAX];
        uint64_t frames = 0;
        Mp3Header h;
        WavInfo w, back;
        int n;

        if (mp3_parse_header(data, size, &h) == 0) {
                CHECK(h.frame_bytes >= 4 && h.frame_bytes <= MP3_FRAME_MAX);
                CHECK(h.sample_rate >= 8000 && h.samples >= 384);
                (void)mp3_parse_vbr_frame(data, MIN(size, h.frame_bytes), &h, &frames);
        }
        (void)mp3_id3v2_size(data, size);
        CHECK(mp3_audio_end(data + size - tail, tail, size) <= size);

        if (wav_parse(data, size, size, &w) == 0) {
                CHECK(w.block_align > 0 && w.data_bytes % w.block_align == 0);
                CHECK(w.data_offset <= size && w.data_bytes <= size - w.data_offset);
                /* A rewritten header reads back as the same format. */
                n = wav_write_header(&w, w.data_bytes, hdr, sizeof(hdr));
                CHECK(n > 0);
                CHECK(wav_parse(hdr, (size_t)n, (uint64_t)n + w.data_bytes, &back) == 0);
                CHECK(back.format == w.format && back.channels == w.channels &&
                        back.block_align == w.block_align && back.data_bytes == w.data_bytes &&
                        back.data_offset == (uint64_t)n);
        }
}

static void check_plan(int fd, const AudioInfo *info, const AudioLimits *lim)
{
        AudioChunk *c = NULL;
        char err[256];
        uint64_t end = info->audio_offset;
        uint8_t hdr[WAV_HEADER_MAX];
        int n = audio_plan(fd, info, info->audio_offset, info->audio_end, 0, lim, &c, err, sizeof(err));
        int header =
                info->format == AUDIO_FORMAT_WAV ? wav_write_header(&info->wav, 0, hdr, sizeof(hdr)) : 0;

        if (n <= 0) {
                CHECK(n < 0);
                return;
        }
        for (int i = 0; i < n; i++) {
                CHECK(c[i].length > 0 && c[i].offset >= end && c[i].offset + c[i].length <= info->audio_end);
                if (i > 0)
                        CHECK(c[i].start_usec == c[i - 1].start_usec + c[i - 1].duration_usec);
                if (info->format == AUDIO_FORMAT_WAV) {
                        CHECK(c[i].length % info->wav.block_align == 0);
                        CHECK(c[i].offset == end); /* sample data has no gaps */
                        if (lim->max_bytes > 0 && (uint64_t)header + info->wav.block_align <= lim->max_bytes)
                                CHECK(audio_chunk_file_size(info, &c[i]) <= lim->max_bytes);
                } else {
                        /* Every MP3 frame is shorter than 2881 bytes and 144 ms. */
                        if (lim->max_bytes >= MP3_FRAME_MAX)
                                CHECK(c[i].length <= lim->max_bytes);
                        if (lim->max_duration_usec >= 144 * USEC_PER_MSEC)
                                CHECK(c[i].duration_usec <= lim->max_duration_usec);
                }
                end = c[i].offset + c[i].length;
        }
        if (info->format == AUDIO_FORMAT_WAV)
                CHECK(end == info->audio_end);
        free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const AudioLimits limits[] = {
                { .max_duration_usec = USEC_PER_SEC },
                { .max_bytes = 4096 },
                { .max_duration_usec = 10 * USEC_PER_MSEC, .max_bytes = 100 },
        };
        static const AudioFormat formats[] = { AUDIO_FORMAT_MP3, AUDIO_FORMAT_WAV };
        char err[256];
        int fd;

        if (size > 1024 * 1024)
                return 0;
        check_pure(data, size);

        fd = memfd_create("fuzz-audio", MFD_CLOEXEC);
        if (fd < 0)
                abort();
        if (size > 0 && write(fd, data, size) != (ssize_t)size)
                abort();
        for (size_t f = 0; f < ELEMENTSOF(formats); f++) {
                AudioInfo info;
                if (audio_probe(fd, formats[f], &info, err, sizeof(err)) < 0)
                        continue;
                CHECK(info.frames > 0 && info.audio_offset < info.audio_end && info.audio_end <= size);
                for (size_t l = 0; l < ELEMENTSOF(limits); l++)
                        check_plan(fd, &info, &limits[l]);
        }
        close(fd);
        return 0;
}
