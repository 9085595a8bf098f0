/* SPDX-License-Identifier: MIT */
/* The splitter (runner/audio.c) on synthetic MP3 and WAV files built here byte by byte, so every
 * expected frame count, offset and duration is known exactly. Real encoder output (lame, sox,
 * espeak-ng) is covered by tests/test-transcribe.sh. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "common/macro.h"
#include "runner/audio.h"
#include "tests/fake-tree.h"
#include "tests/tap.h"

/* MPEG-1 layer III, 128 kbit/s, 44.1 kHz, joint stereo, no CRC: 417 bytes (418 padded). */
#define HDR0 0xFF
#define HDR1 0xFB
#define HDR2 0x90
#define HDR3 0x40

typedef struct Buf {
        uint8_t *p;
        size_t n, cap;
} Buf;

static void put(Buf *b, const void *d, size_t n)
{
        if (b->n + n > b->cap) {
                b->cap = (b->n + n) * 2;
                b->p = realloc(b->p, b->cap);
                if (!b->p)
                        abort();
        }
        memcpy(b->p + b->n, d, n);
        b->n += n;
}

static void put_byte(Buf *b, uint8_t c, size_t n)
{
        for (size_t i = 0; i < n; i++)
                put(b, &c, 1);
}

static void put_le(Buf *b, uint32_t v, int bytes)
{
        for (int i = 0; i < bytes; i++)
                put_byte(b, (uint8_t)(v >> (8 * i)), 1);
}

/* One frame; the payload is a pattern that holds no 0xFF, so it never looks like a header. */
static void put_frame(Buf *b, bool pad, unsigned seq)
{
        uint8_t h[4] = { HDR0, HDR1, (uint8_t)(HDR2 | (pad ? 2 : 0)), HDR3 };
        size_t len = 417 + pad;

        put(b, h, 4);
        for (size_t i = 4; i < len; i++)
                put_byte(b, (uint8_t)((seq * 7 + i) % 251), 1);
}

static void put_xing(Buf *b, uint32_t frames)
{
        size_t start = b->n;
        uint8_t h[4] = { HDR0, HDR1, HDR2, HDR3 };

        put(b, h, 4);
        put_byte(b, 0, 32); /* side information, stereo */
        put(b, "Xing", 4);
        put(b, (uint8_t[]){ 0, 0, 0, 1 }, 4);
        put(b,
                (uint8_t[]){ (uint8_t)(frames >> 24), (uint8_t)(frames >> 16), (uint8_t)(frames >> 8),
                        (uint8_t)frames },
                4);
        put_byte(b, 0, 417 - (b->n - start));
}

static int memfd_of(const Buf *b)
{
        int fd = memfd_create("audio", MFD_CLOEXEC);

        if (fd < 0 || write(fd, b->p, b->n) != (ssize_t)b->n)
                abort();
        return fd;
}

TEST(mp3_header)
{
        Mp3Header h;

        ASSERT_INT(mp3_parse_header((uint8_t[]){ 0xFF, 0xFB, 0x90, 0x40 }, 4, &h), ==, 0);
        ASSERT_INT(h.version, ==, 10);
        ASSERT_INT(h.layer, ==, 3);
        ASSERT_INT(h.bitrate_kbps, ==, 128);
        ASSERT_INT(h.sample_rate, ==, 44100);
        ASSERT_INT(h.samples, ==, 1152);
        ASSERT_INT(h.channels, ==, 2);
        ASSERT_INT(h.frame_bytes, ==, 417);
        ASSERT_TRUE(!h.crc);
        ASSERT_INT(mp3_parse_header((uint8_t[]){ 0xFF, 0xFB, 0x92, 0x40 }, 4, &h), ==, 0);
        ASSERT_INT(h.frame_bytes, ==, 418);
        /* MPEG-2 layer III, 32 kbit/s, 16 kHz, mono, CRC: 576 samples, 72 * 32000 / 16000. */
        ASSERT_INT(mp3_parse_header((uint8_t[]){ 0xFF, 0xF2, 0x48, 0xC0 }, 4, &h), ==, 0);
        ASSERT_INT(h.version, ==, 20);
        ASSERT_INT(h.samples, ==, 576);
        ASSERT_INT(h.sample_rate, ==, 16000);
        ASSERT_INT(h.channels, ==, 1);
        ASSERT_INT(h.frame_bytes, ==, 144);
        ASSERT_TRUE(h.crc);
        /* MPEG-2.5 layer III, 8 kbit/s, 8 kHz. */
        ASSERT_INT(mp3_parse_header((uint8_t[]){ 0xFF, 0xE3, 0x18, 0xC0 }, 4, &h), ==, 0);
        ASSERT_INT(h.version, ==, 25);
        ASSERT_INT(h.sample_rate, ==, 8000);
        ASSERT_INT(h.frame_bytes, ==, 72);
        /* MPEG-1 layer II, 32 kbit/s, 44.1 kHz: 144 * 32000 / 44100. */
        ASSERT_INT(mp3_parse_header((uint8_t[]){ 0xFF, 0xFD, 0x10, 0x00 }, 4, &h), ==, 0);
        ASSERT_INT(h.layer, ==, 2);
        ASSERT_INT(h.frame_bytes, ==, 104);
        /* MPEG-1 layer I, 448 kbit/s, 32 kHz, padded: (12 * 448000 / 32000 + 1) * 4. */
        ASSERT_INT(mp3_parse_header((uint8_t[]){ 0xFF, 0xFF, 0xEA, 0x00 }, 4, &h), ==, 0);
        ASSERT_INT(h.layer, ==, 1);
        ASSERT_INT(h.samples, ==, 384);
        ASSERT_INT(h.frame_bytes, ==, 676);
        /* The largest frame: MPEG-2.5 layer II, 160 kbit/s, 8 kHz, padded. */
        ASSERT_INT(mp3_parse_header((uint8_t[]){ 0xFF, 0xE5, 0xEA, 0x00 }, 4, &h), ==, 0);
        ASSERT_INT(h.frame_bytes, ==, MP3_FRAME_MAX);

        /* Rejected: free format, bad bitrate, reserved version, layer, rate, emphasis, no sync. */
        ASSERT_INT(mp3_parse_header((uint8_t[]){ 0xFF, 0xFB, 0x00, 0x40 }, 4, &h), ==, -EINVAL);
        ASSERT_INT(mp3_parse_header((uint8_t[]){ 0xFF, 0xFB, 0xF0, 0x40 }, 4, &h), ==, -EINVAL);
        ASSERT_INT(mp3_parse_header((uint8_t[]){ 0xFF, 0xEB, 0x90, 0x40 }, 4, &h), ==, -EINVAL);
        ASSERT_INT(mp3_parse_header((uint8_t[]){ 0xFF, 0xF9, 0x90, 0x40 }, 4, &h), ==, -EINVAL);
        ASSERT_INT(mp3_parse_header((uint8_t[]){ 0xFF, 0xFB, 0x9C, 0x40 }, 4, &h), ==, -EINVAL);
        ASSERT_INT(mp3_parse_header((uint8_t[]){ 0xFF, 0xFB, 0x90, 0x42 }, 4, &h), ==, -EINVAL);
        ASSERT_INT(mp3_parse_header((uint8_t[]){ 0xFF, 0x7B, 0x90, 0x40 }, 4, &h), ==, -EINVAL);
        ASSERT_INT(mp3_parse_header((uint8_t[]){ 0xFF, 0xFB, 0x90 }, 3, &h), ==, -EINVAL);
        return 0;
}

TEST(id3v2_size)
{
        ASSERT_U64(mp3_id3v2_size((uint8_t *)"ID3\x04\x00\x00\x00\x00\x02\x01", 10), 10 + 257);
        /* The footer flag of ID3v2.4 adds 10 bytes; in v2.3 the bit means nothing. */
        ASSERT_U64(mp3_id3v2_size((uint8_t *)"ID3\x04\x00\x10\x00\x00\x02\x01", 10), 10 + 257 + 10);
        ASSERT_U64(mp3_id3v2_size((uint8_t *)"ID3\x03\x00\x10\x00\x00\x02\x01", 10), 10 + 257);
        ASSERT_U64(mp3_id3v2_size((uint8_t *)"ID3\x04\x00\x00\x00\x00\x82\x01", 10), 0);
        ASSERT_U64(mp3_id3v2_size((uint8_t *)"ID3\x05\x00\x00\x00\x00\x02\x01", 10), 0);
        ASSERT_U64(mp3_id3v2_size((uint8_t *)"ID3\x04\x00\x00\x00", 8), 0);
        return 0;
}

TEST(vbr_frames)
{
        Buf b = {};
        Mp3Header h;
        uint64_t frames = 0;

        put_xing(&b, 1234);
        ASSERT_INT(mp3_parse_header(b.p, b.n, &h), ==, 0);
        ASSERT_TRUE(mp3_parse_vbr_frame(b.p, b.n, &h, &frames));
        ASSERT_U64(frames, 1234);

        /* "Info" (LAME's CBR tag) without a frame count, in a mono frame: side info is 17 bytes. */
        memset(b.p + 4, 0, b.n - 4);
        b.p[3] = 0xC0;
        memcpy(b.p + 4 + 17, "Info\0\0\0\0", 8);
        frames = 7;
        ASSERT_INT(mp3_parse_header(b.p, b.n, &h), ==, 0);
        ASSERT_TRUE(mp3_parse_vbr_frame(b.p, b.n, &h, &frames));
        ASSERT_U64(frames, 7);

        /* VBRI sits 32 bytes after the header. */
        memset(b.p + 4, 0, b.n - 4);
        memcpy(b.p + 36, "VBRI\0\1\0\0\0\0\0\0\0\0\0\0\x01\x00", 18);
        ASSERT_TRUE(mp3_parse_vbr_frame(b.p, b.n, &h, &frames));
        ASSERT_U64(frames, 256);

        memset(b.p + 4, 0, b.n - 4);
        ASSERT_TRUE(!mp3_parse_vbr_frame(b.p, b.n, &h, &frames));
        free(b.p);
        return 0;
}

TEST(mp3_trailing_tags)
{
        Buf b = {};
        uint64_t audio;

        put_byte(&b, 0x55, 1000);
        audio = b.n;
        /* APEv2: items, then a 32-byte footer; size counts items + footer, flag bit 31 = header. */
        put(&b, "APETAGEX", 8);
        put_le(&b, 2000, 4);
        put_le(&b, 64, 4);
        put_le(&b, 0, 4);
        put_le(&b, 0x80000000U, 4);
        put_byte(&b, 0, 8);
        put_byte(&b, 0x20, 32); /* items */
        put(&b, "APETAGEX", 8);
        put_le(&b, 2000, 4);
        put_le(&b, 64, 4);
        put_le(&b, 1, 4);
        put_le(&b, 0x80000000U, 4);
        put_byte(&b, 0, 8);
        ASSERT_U64(mp3_audio_end(b.p + b.n - MP3_TAIL_BYTES, MP3_TAIL_BYTES, b.n), audio);
        put(&b, "TAG", 3);
        put_byte(&b, 0x20, 125);
        ASSERT_U64(mp3_audio_end(b.p + b.n - MP3_TAIL_BYTES, MP3_TAIL_BYTES, b.n), audio);
        ASSERT_U64(mp3_audio_end(b.p, 100, 100), 100);
        free(b.p);
        return 0;
}

/* ID3v2 tag, Xing frame, n frames (padding every third), garbage after frame 'junk_at'
 * (including a fake header that the next frame does not confirm), ID3v1. */
static void make_mp3(Buf *b, unsigned n, unsigned junk_at, uint64_t *ret_audio_offset)
{
        put(b, "ID3\x04\x00\x00\x00\x00\x00\x40", 10);
        put_byte(b, 0, 64);
        put_xing(b, n);
        *ret_audio_offset = b->n;
        for (unsigned i = 0; i < n; i++) {
                put_frame(b, i % 3 == 0, i);
                if (i == junk_at) {
                        put_byte(b, 0, 100);
                        put(b, (uint8_t[]){ 0xFF, 0xFB, 0x90, 0x40 }, 4);
                        put_byte(b, 0x11, 200);
                }
        }
        put(b, "TAG", 3);
        put_byte(b, 0x20, 125);
}

static uint64_t frame_len(unsigned i)
{
        return 417 + (i % 3 == 0);
}

TEST(mp3_probe_and_plan)
{
        Buf b = {};
        AudioInfo info;
        AudioChunk *c = NULL;
        AudioLimits lim = { .max_duration_usec = 5 * USEC_PER_SEC };
        uint64_t audio_offset, expect_end, nframes = 0;
        char err[256] = "";
        int fd, n;

        make_mp3(&b, 1000, 500, &audio_offset);
        fd = memfd_of(&b);
        ASSERT_INT(audio_probe(fd, AUDIO_FORMAT_MP3, &info, err, sizeof(err)), ==, 0);
        ASSERT_U64(info.frames, 1000);
        ASSERT_TRUE(info.vbr_header);
        ASSERT_U64(info.audio_offset, audio_offset);
        expect_end = b.n - 128;
        ASSERT_U64(info.audio_end, expect_end);
        ASSERT_U64(info.skipped_bytes, 304);
        ASSERT_INT(info.sample_rate, ==, 44100);
        /* From the Xing frame count: 1000 * 1152 / 44100 s. */
        ASSERT_U64(info.duration_usec, 26122448);

        n = audio_plan(fd, &info, info.audio_offset, info.audio_end, 0, &lim, &c, err, sizeof(err));
        ASSERT_INT(n, ==, 6); /* 191 frames fit in 5 s */
        for (int i = 0; i < n; i++) {
                ASSERT_TRUE(c[i].duration_usec <= lim.max_duration_usec);
                ASSERT_TRUE(c[i].offset >= info.audio_offset && c[i].offset + c[i].length <= info.audio_end);
                ASSERT_INT(b.p[c[i].offset], ==, 0xFF); /* starts on a frame */
                if (i > 0)
                        ASSERT_U64(c[i].start_usec, c[i - 1].start_usec + c[i - 1].duration_usec);
                nframes += c[i].duration_usec * 44100 / 1152 / USEC_PER_SEC + 1;
        }
        ASSERT_U64(c[0].offset, audio_offset);
        ASSERT_U64(c[n - 1].offset + c[n - 1].length, expect_end);
        ASSERT_U64(c[n - 1].start_usec + c[n - 1].duration_usec, 26122448);
        ASSERT_TRUE(nframes >= 1000 && nframes <= 1006);
        free(c);

        /* A byte limit: every chunk at most 20000 bytes, the frames still whole. */
        lim = (AudioLimits){ .max_bytes = 20000 };
        n = audio_plan(fd, &info, info.audio_offset, info.audio_end, 0, &lim, &c, err, sizeof(err));
        ASSERT_TRUE(n >= 21);
        for (int i = 0; i < n; i++)
                ASSERT_TRUE(c[i].length <= 20000);
        /* The garbage after frame 500 is not counted as time. */
        ASSERT_U64(c[n - 1].start_usec + c[n - 1].duration_usec, 26122448);
        free(c);
        close(fd);
        free(b.p);
        return 0;
}

TEST(mp3_resync)
{
        Buf b = {};
        AudioInfo info;
        uint64_t audio_offset, broken;
        char err[256] = "";
        int fd;

        /* Leading garbage without an ID3 tag, a broken header in the middle, a cut last frame. */
        put_byte(&b, 0xFF, 3);
        put_byte(&b, 0x00, 50);
        make_mp3(&b, 50, 1000, &audio_offset);
        b.n -= 128; /* no ID3v1 */
        broken = audio_offset;
        for (unsigned i = 0; i < 20; i++)
                broken += frame_len(i);
        b.p[broken + 2] = 0xF0; /* bitrate index 15 */
        b.n -= 100;             /* the last frame is cut */
        fd = memfd_of(&b);
        ASSERT_INT(audio_probe(fd, AUDIO_FORMAT_MP3, &info, err, sizeof(err)), ==, 0);
        ASSERT_U64(info.frames, 48);
        /* The ID3 tag is not at 0, so it is skipped as garbage; the Xing frame is still found. */
        ASSERT_TRUE(info.vbr_header);
        ASSERT_U64(info.audio_end, b.n - (417 + (49 % 3 == 0)) + 100);
        close(fd);
        free(b.p);

        /* Nothing but garbage. */
        b = (Buf){};
        put_byte(&b, 0xFF, 5000);
        fd = memfd_of(&b);
        ASSERT_INT(audio_probe(fd, AUDIO_FORMAT_MP3, &info, err, sizeof(err)), ==, -EINVAL);
        ASSERT_CONTAINS(err, "no MPEG audio frame");
        close(fd);
        free(b.p);
        return 0;
}

static void make_wav(Buf *b, unsigned rate, unsigned channels, unsigned frames, bool extensible, bool list,
        uint32_t data_size_field)
{
        unsigned block = channels * 2;

        put(b, "RIFF", 4);
        put_le(b, 0, 4);
        put(b, "WAVE", 4);
        if (list) {
                put(b, "LIST", 4);
                put_le(b, 5, 4);
                put(b, "INFOx", 5);
                put_byte(b, 0, 1); /* padding of the odd chunk */
        }
        put(b, "fmt ", 4);
        put_le(b, extensible ? 40 : 16, 4);
        put_le(b, extensible ? WAV_FORMAT_EXTENSIBLE : WAV_FORMAT_PCM, 2);
        put_le(b, channels, 2);
        put_le(b, rate, 4);
        put_le(b, rate * block, 4);
        put_le(b, block, 2);
        put_le(b, 16, 2);
        if (extensible) {
                put_le(b, 22, 2);
                put_le(b, 16, 2);
                put_le(b, 3, 4);
                put(b, "\x01\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\xAA\x00\x38\x9B\x71", 16);
        }
        put(b, "data", 4);
        put_le(b, data_size_field ? data_size_field : frames * block, 4);
        /* Sample frame i holds i in every channel: chunks can be checked for what they contain. */
        for (unsigned i = 0; i < frames; i++)
                for (unsigned c = 0; c < channels; c++)
                        put_le(b, i & 0xFFFF, 2);
}

TEST(wav_parse)
{
        Buf b = {};
        WavInfo w;

        make_wav(&b, 8000, 1, 100, false, false, 0);
        ASSERT_INT(wav_parse(b.p, b.n, b.n, &w), ==, 0);
        ASSERT_INT(w.format, ==, WAV_FORMAT_PCM);
        ASSERT_INT(w.channels, ==, 1);
        ASSERT_INT(w.sample_rate, ==, 8000);
        ASSERT_INT(w.block_align, ==, 2);
        ASSERT_U64(w.data_offset, 44);
        ASSERT_U64(w.data_bytes, 200);
        free(b.p);

        /* EXTENSIBLE, an odd LIST chunk first, data size "unknown" (streamed). */
        b = (Buf){};
        make_wav(&b, 16000, 2, 100, true, true, 0xFFFFFFFFU);
        ASSERT_INT(wav_parse(b.p, b.n, b.n, &w), ==, 0);
        ASSERT_INT(w.format, ==, WAV_FORMAT_PCM);
        ASSERT_INT(w.channels, ==, 2);
        ASSERT_INT(w.fmt_len, ==, 40);
        ASSERT_U64(w.data_offset, 12 + 14 + 48 + 8);
        ASSERT_U64(w.data_bytes, 400);
        /* A cut file: the size field says more than is there; a half sample frame is dropped. */
        ASSERT_INT(wav_parse(b.p, b.n - 3, b.n - 3, &w), ==, 0);
        ASSERT_U64(w.data_bytes, 396);
        /* The data chunk beyond what was read. */
        ASSERT_INT(wav_parse(b.p, 30, b.n, &w), ==, -ENODATA);
        free(b.p);

        b = (Buf){};
        make_wav(&b, 8000, 1, 10, false, false, 0);
        b.p[20] = 0x11; /* IMA ADPCM */
        ASSERT_INT(wav_parse(b.p, b.n, b.n, &w), ==, -EOPNOTSUPP);
        ASSERT_INT(w.format, ==, 0x11);
        memcpy(b.p + 12, "junk", 4); /* no fmt before data */
        ASSERT_INT(wav_parse(b.p, b.n, b.n, &w), ==, -EINVAL);
        memcpy(b.p + 8, "AVI ", 4);
        ASSERT_INT(wav_parse(b.p, b.n, b.n, &w), ==, -EINVAL);
        free(b.p);
        return 0;
}

TEST(wav_plan_and_write)
{
        Buf b = {};
        FakeTree t;
        AudioInfo info;
        AudioChunk *c = NULL;
        AudioLimits lim = { .max_duration_usec = 3 * USEC_PER_SEC }, bal;
        char err[256] = "", sha[SHA256_HEX_SIZE];
        uint8_t out[8192];
        WavInfo w;
        int fd, cfd, n, len;

        make_wav(&b, 1000, 2, 10000, true, true, 0); /* 10 s at 1 kHz */
        fd = memfd_of(&b);
        ASSERT_INT(audio_probe(fd, AUDIO_FORMAT_WAV, &info, err, sizeof(err)), ==, 0);
        ASSERT_U64(info.duration_usec, 10 * USEC_PER_SEC);
        ASSERT_U64(info.frames, 10000);

        n = audio_plan(fd, &info, info.audio_offset, info.audio_end, 0, &lim, &c, err, sizeof(err));
        ASSERT_INT(n, ==, 4);
        ASSERT_U64(c[0].duration_usec, 3 * USEC_PER_SEC);
        ASSERT_U64(c[3].start_usec, 9 * USEC_PER_SEC);
        ASSERT_U64(c[3].length, 1000 * 4);

        /* Chunk 1 written: a valid WAV whose samples are frames 3000..5999. */
        ASSERT_INT(fake_tree_new(&t), ==, 0);
        ASSERT_U64(audio_chunk_file_size(&info, &c[1]), 12 + 48 + 8 + 12000);
        ASSERT_INT(audio_write_chunk(fd, &info, &c[1], t.fd, "c1.wav", sha), ==, 0);
        ASSERT_INT(strlen(sha), ==, 64);
        cfd = openat(t.fd, "c1.wav", O_RDONLY | O_CLOEXEC);
        ASSERT_INT(cfd, >=, 0);
        len = (int)read(cfd, out, sizeof(out));
        close(cfd);
        ASSERT_INT(len, ==, (int)sizeof(out)); /* the file is larger than the buffer */
        ASSERT_INT(wav_parse(out, (size_t)len, audio_chunk_file_size(&info, &c[1]), &w), ==, 0);
        ASSERT_U64(w.data_bytes, 12000);
        ASSERT_INT(w.channels, ==, 2);
        ASSERT_INT(w.fmt_len, ==, 40);
        ASSERT_INT(out[w.data_offset] | out[w.data_offset + 1] << 8, ==, 3000);
        ASSERT_INT(
                memcmp(out + 4,
                        (uint8_t[]){ (12 + 48 + 8 + 12000 - 8) & 0xFF, (12 + 48 + 8 + 12000 - 8) >> 8 }, 2),
                ==, 0);
        free(c);

        /* Balanced: 10 s in 3 s pieces are 4 chunks of 2.5 s rather than 3 + 3 + 3 + 1. */
        audio_balance_limits(info.duration_usec, info.audio_end - info.audio_offset, &lim, 1000, 4096, &bal);
        n = audio_plan(fd, &info, info.audio_offset, info.audio_end, 0, &bal, &c, err, sizeof(err));
        ASSERT_INT(n, ==, 4);
        ASSERT_U64(c[0].duration_usec, 2501 * USEC_PER_MSEC);
        ASSERT_U64(c[3].duration_usec, 2497 * USEC_PER_MSEC);

        /* Halving one chunk (what a MAX_TOKENS answer leads to) gives two. */
        AudioChunk whole = c[0], *h = NULL;
        AudioLimits half = { .max_duration_usec = whole.duration_usec / 2 + 200 * USEC_PER_MSEC };
        free(c);
        n = audio_plan(fd, &info, whole.offset, whole.offset + whole.length, whole.start_usec, &half, &h,
                err, sizeof(err));
        ASSERT_INT(n, ==, 2);
        ASSERT_U64(h[0].offset, whole.offset);
        ASSERT_U64(h[1].offset + h[1].length, whole.offset + whole.length);
        free(h);

        /* A byte limit counts the header: 68 bytes of header + 4 bytes per frame. */
        lim = (AudioLimits){ .max_bytes = 68 + 4000 };
        n = audio_plan(fd, &info, info.audio_offset, info.audio_end, 0, &lim, &c, err, sizeof(err));
        ASSERT_INT(n, ==, 10);
        ASSERT_U64(audio_chunk_file_size(&info, &c[0]), 68 + 4000);
        free(c);

        fake_tree_free(&t);
        close(fd);
        free(b.p);
        return 0;
}

TEST(mp3_write_chunk)
{
        Buf b = {};
        FakeTree t;
        AudioInfo info, back;
        AudioChunk *c = NULL;
        AudioLimits lim = { .max_duration_usec = 2 * USEC_PER_SEC };
        uint64_t off;
        char err[256];
        int fd, n;

        make_mp3(&b, 200, 1000, &off);
        fd = memfd_of(&b);
        ASSERT_INT(audio_probe(fd, AUDIO_FORMAT_MP3, &info, err, sizeof(err)), ==, 0);
        n = audio_plan(fd, &info, info.audio_offset, info.audio_end, 0, &lim, &c, err, sizeof(err));
        ASSERT_INT(n, ==, 3);
        ASSERT_INT(fake_tree_new(&t), ==, 0);
        ASSERT_INT(audio_write_chunk(fd, &info, &c[1], t.fd, "c1.mp3", NULL), ==, 0);
        close(fd);
        fd = openat(t.fd, "c1.mp3", O_RDONLY | O_CLOEXEC);
        ASSERT_INT(fd, >=, 0);
        /* The chunk is frames only: no tags, no Xing frame, and it probes as the same frames. */
        ASSERT_INT(audio_probe(fd, AUDIO_FORMAT_MP3, &back, err, sizeof(err)), ==, 0);
        ASSERT_TRUE(!back.vbr_header);
        ASSERT_U64(back.audio_offset, 0);
        ASSERT_U64(back.file_size, c[1].length);
        ASSERT_U64(back.duration_usec / 1000, c[1].duration_usec / 1000);
        ASSERT_STR(audio_chunk_extension(&info), "mp3");
        ASSERT_STR(audio_mime_type(AUDIO_FORMAT_MP3), "audio/mp3");
        close(fd);
        free(c);
        fake_tree_free(&t);
        free(b.p);
        return 0;
}

TEST(unsupported)
{
        char err[256] = "";
        AudioInfo info;
        Buf b = {};
        int fd;

        put(&b, "fLaC", 4);
        fd = memfd_of(&b);
        ASSERT_INT(audio_probe(fd, AUDIO_FORMAT_FLAC, &info, err, sizeof(err)), ==, -EOPNOTSUPP);
        ASSERT_CONTAINS(err, "flac");
        ASSERT_INT(audio_probe(fd, AUDIO_FORMAT_WAV, &info, err, sizeof(err)), ==, -EINVAL);
        close(fd);
        free(b.p);
        return 0;
}

TAP_MAIN(T(mp3_header), T(id3v2_size), T(vbr_frames), T(mp3_trailing_tags), T(mp3_probe_and_plan),
        T(mp3_resync), T(wav_parse), T(wav_plan_and_write), T(mp3_write_chunk), T(unsupported))
