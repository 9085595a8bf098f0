/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "common/macro.h"
#include "runner/audio.h"

/* The planner reads through this window; frames and chunk headers are far smaller. */
#define WINDOW_BYTES (64 * 1024)
#define COPY_BYTES   (64 * 1024)
#define NSEC_PER_SEC 1000000000ULL

_printf_(4, 5) static int fail(char *err, size_t size, int r, const char *fmt, ...)
{
        va_list ap;

        if (err && size > 0) {
                va_start(ap, fmt);
                vsnprintf(err, size, fmt, ap);
                va_end(ap);
        }
        return r;
}

static uint32_t be32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const uint8_t *p)
{
        return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static unsigned le16(const uint8_t *p)
{
        return (unsigned)p[1] << 8 | p[0];
}

static void put_le32(uint8_t *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

/* a * b / c without overflow for the sizes met here (c > 0). */
static uint64_t muldiv(uint64_t a, uint64_t b, uint64_t c)
{
        unsigned __int128 r = (unsigned __int128)a * b / c;
        return r > UINT64_MAX ? UINT64_MAX : (uint64_t)r;
}

/* ---- MP3 ---- */

int mp3_parse_header(const uint8_t *p, size_t len, Mp3Header *ret)
{
        static const uint16_t kbps[5][16] = {
                { 0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 0 }, /* MPEG-1 I */
                { 0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 0 },    /* MPEG-1 II */
                { 0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0 },     /* MPEG-1 III */
                { 0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256, 0 },    /* MPEG-2 I */
                { 0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0 }, /* MPEG-2 II, III */
        };
        static const unsigned rates[3] = { 44100, 48000, 32000 };
        unsigned vbits, lbits, bidx, ridx, table;
        uint64_t br;
        Mp3Header h = {};

        if (!p || len < 4 || p[0] != 0xFF || (p[1] & 0xE0) != 0xE0)
                return -EINVAL;
        vbits = (p[1] >> 3) & 3;
        lbits = (p[1] >> 1) & 3;
        bidx = p[2] >> 4;
        ridx = (p[2] >> 2) & 3;
        /* Reserved version, layer, sample rate and emphasis; free format (0) and "bad" (15). */
        if (vbits == 1 || lbits == 0 || bidx == 0 || bidx == 15 || ridx == 3 || (p[3] & 3) == 2)
                return -EINVAL;
        h.version = vbits == 3 ? 10 : vbits == 2 ? 20 : 25;
        h.layer = 4 - lbits;
        table = h.version == 10 ? h.layer - 1 : h.layer == 1 ? 3 : 4;
        h.bitrate_kbps = kbps[table][bidx];
        h.sample_rate = rates[ridx] >> (h.version == 10 ? 0 : h.version == 20 ? 1 : 2);
        h.samples = h.layer == 1 ? 384 : h.layer == 2 || h.version == 10 ? 1152 : 576;
        h.channels = (p[3] >> 6) == 3 ? 1 : 2;
        h.crc = !(p[1] & 1);
        h.padding = (p[2] >> 1) & 1;
        br = (uint64_t)h.bitrate_kbps * 1000;
        if (h.layer == 1)
                h.frame_bytes = (size_t)((12 * br / h.sample_rate + h.padding) * 4);
        else
                h.frame_bytes = (size_t)(h.samples / 8 * br / h.sample_rate + h.padding);
        if (ret)
                *ret = h;
        return 0;
}

bool mp3_headers_match(const Mp3Header *a, const Mp3Header *b)
{
        return a->version == b->version && a->layer == b->layer && a->sample_rate == b->sample_rate;
}

uint64_t mp3_id3v2_size(const uint8_t *p, size_t len)
{
        uint64_t size;

        if (!p || len < 10 || memcmp(p, "ID3", 3) != 0 || p[3] < 2 || p[3] > 4 || p[4] == 0xFF ||
                ((p[6] | p[7] | p[8] | p[9]) & 0x80))
                return 0;
        size = (uint64_t)p[6] << 21 | (uint64_t)p[7] << 14 | (uint64_t)p[8] << 7 | p[9];
        /* ID3v2.4 may end with a 10-byte footer, announced by flag bit 4. */
        return 10 + size + (p[3] == 4 && (p[5] & 0x10) ? 10 : 0);
}

bool mp3_parse_vbr_frame(const uint8_t *p, size_t frame_len, const Mp3Header *h, uint64_t *ret_frames)
{
        size_t side, offs[2];

        if (!p || !h || h->layer != 3)
                return false;
        side = h->version == 10 ? (h->channels == 1 ? 17 : 32) : (h->channels == 1 ? 9 : 17);
        /* Encoders put the tag right after the side information; some count a CRC before it. */
        offs[0] = 4 + side;
        offs[1] = 4 + side + 2;
        for (size_t i = 0; i < ELEMENTSOF(offs); i++) {
                const uint8_t *t = p + offs[i];
                uint32_t flags;

                if (offs[i] + 8 > frame_len || (memcmp(t, "Xing", 4) != 0 && memcmp(t, "Info", 4) != 0))
                        continue;
                flags = be32(t + 4);
                if ((flags & 1) && offs[i] + 12 <= frame_len && be32(t + 8) > 0 && ret_frames)
                        *ret_frames = be32(t + 8);
                return true;
        }
        /* VBRI (Fraunhofer): always 32 bytes after the header; frames at +14. */
        if (36 + 18 <= frame_len && memcmp(p + 36, "VBRI", 4) == 0) {
                if (be32(p + 36 + 14) > 0 && ret_frames)
                        *ret_frames = be32(p + 36 + 14);
                return true;
        }
        return false;
}

uint64_t mp3_audio_end(const uint8_t *tail, size_t tail_len, uint64_t file_size)
{
        uint64_t end = file_size, base;

        if (!tail || tail_len > file_size)
                return file_size;
        base = file_size - tail_len;
        /* ID3v1 is normally last and APEv2 before it, but writers disagree: try both twice. */
        for (int round = 0; round < 2; round++) {
                if (end >= base + 128 && memcmp(tail + (end - 128 - base), "TAG", 3) == 0)
                        end -= 128;
                if (end >= base + 32 && memcmp(tail + (end - 32 - base), "APETAGEX", 8) == 0) {
                        const uint8_t *f = tail + (end - 32 - base);
                        uint64_t total = le32(f + 12) + ((le32(f + 20) & 0x80000000U) ? 32 : 0);
                        if (le32(f + 12) >= 32 && total <= end)
                                end -= total;
                }
        }
        return end;
}

/* ---- byte sources: memory (the pure parsers) or an fd (files) ---- */

typedef struct Source {
        const uint8_t *mem; /* when set: mem_len bytes are all we can see */
        size_t mem_len;
        int fd;
        uint64_t size; /* of the whole file */
} Source;

/* Reads up to n bytes at off. Returns the count (short at the end) or -errno. */
static ssize_t source_read(const Source *s, uint64_t off, void *buf, size_t n)
{
        size_t done = 0;

        if (s->mem) {
                if (off >= s->mem_len)
                        return 0;
                n = (size_t)MIN((uint64_t)n, s->mem_len - off);
                memcpy(buf, s->mem + off, n);
                return (ssize_t)n;
        }
        while (done < n) {
                ssize_t k = pread(s->fd, (uint8_t *)buf + done, n - done, (off_t)(off + done));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                done += (size_t)k;
        }
        return (ssize_t)done;
}

/* A sliding window over an fd, so that a scan reads each byte once. */
typedef struct Reader {
        int fd;
        uint8_t *buf;
        uint64_t off;
        size_t len;
        bool eof; /* the window reaches the end of the file */
        int err;
} Reader;

/* Points at the bytes from pos on: *ret_n of them, at least want unless the file ends first.
 * Returns NULL on a read error (r->err). */
static const uint8_t *reader_at(Reader *r, uint64_t pos, size_t want, size_t *ret_n)
{
        Source s = { .fd = r->fd };
        ssize_t n;

        if (pos >= r->off && pos <= r->off + r->len && (pos - r->off + want <= r->len || r->eof)) {
                *ret_n = r->len - (size_t)(pos - r->off);
                return r->buf + (pos - r->off);
        }
        n = source_read(&s, pos, r->buf, WINDOW_BYTES);
        if (n < 0) {
                r->err = (int)n;
                return NULL;
        }
        r->off = pos;
        r->len = (size_t)n;
        r->eof = r->len < WINDOW_BYTES;
        *ret_n = r->len;
        return r->buf;
}

typedef struct Mp3Scan {
        Reader rd;
        uint64_t pos, end;
        bool synced; /* the previous frame ended at pos */
        bool have_ref;
        Mp3Header ref;
        uint64_t skipped;
} Mp3Scan;

/* The next frame at or after s->pos. Out of sync, a header counts only when the frame after it
 * is valid too (or it ends exactly at the end): a lone 0xFFEx in garbage is not a frame. Returns
 * 1 with the frame, 0 at the end, or -errno. */
static int mp3_next_frame(Mp3Scan *s, uint64_t *ret_pos, Mp3Header *ret_h)
{
        while (s->pos + 4 <= s->end) {
                const uint8_t *p, *q;
                uint64_t tag, adv;
                Mp3Header h, h2;
                size_t n;

                p = reader_at(&s->rd, s->pos, MP3_FRAME_MAX + 4, &n);
                if (!p)
                        return s->rd.err;
                n = (size_t)MIN((uint64_t)n, s->end - s->pos);
                if (mp3_parse_header(p, n, &h) == 0 && (!s->have_ref || mp3_headers_match(&s->ref, &h)) &&
                        h.frame_bytes <= n) {
                        bool ok = s->synced || h.frame_bytes == n ||
                                (h.frame_bytes + 4 <= n &&
                                        mp3_parse_header(p + h.frame_bytes, 4, &h2) == 0 &&
                                        mp3_headers_match(&h, &h2));
                        if (ok) {
                                *ret_pos = s->pos;
                                *ret_h = h;
                                s->pos += h.frame_bytes;
                                s->synced = true;
                                if (!s->have_ref) {
                                        s->ref = h;
                                        s->have_ref = true;
                                }
                                return 1;
                        }
                }
                s->synced = false;
                tag = mp3_id3v2_size(p, n);
                if (tag > 0)
                        adv = MIN(tag, s->end - s->pos);
                else {
                        q = n > 1 ? memchr(p + 1, 0xFF, n - 1) : NULL;
                        adv = q ? (uint64_t)(q - p) : MAX((uint64_t)n, 1);
                }
                s->pos += adv;
                s->skipped += adv;
        }
        return 0;
}

static uint64_t frame_nsec(const Mp3Header *h)
{
        return (uint64_t)h->samples * NSEC_PER_SEC / h->sample_rate;
}

static int mp3_probe(int fd, uint64_t size, AudioInfo *ret, char *err, size_t err_size)
{
        _cleanup_free_ uint8_t *buf = malloc(WINDOW_BYTES);
        uint8_t tail[MP3_TAIL_BYTES], head[10];
        Mp3Scan s = { .rd = { .fd = fd, .buf = buf } };
        Source src = { .fd = fd, .size = size };
        uint64_t start = 0, vbr_frames = 0, ns = 0, pos;
        size_t tail_len = (size_t)MIN(size, (uint64_t)sizeof(tail));
        Mp3Header h, first = {};
        bool seen = false;
        ssize_t n;
        int r;

        if (!buf)
                return fail(err, err_size, -ENOMEM, "out of memory");
        /* Leading ID3v2 tags (several in a row happen) are skipped in one jump each. */
        for (unsigned i = 0; i < 16; i++) {
                uint64_t tag;
                n = source_read(&src, start, head, sizeof(head));
                if (n < 0)
                        return fail(err, err_size, (int)n, "cannot read: %s", strerror((int)-n));
                tag = mp3_id3v2_size(head, (size_t)n);
                if (tag == 0 || tag > size - start)
                        break;
                start += tag;
        }
        n = source_read(&src, size - tail_len, tail, tail_len);
        if (n < 0)
                return fail(err, err_size, (int)n, "cannot read: %s", strerror((int)-n));
        s.pos = start;
        s.end = mp3_audio_end(tail, (size_t)n, size);
        if (s.end < start)
                s.end = start;

        while ((r = mp3_next_frame(&s, &pos, &h)) > 0) {
                if (!seen) {
                        size_t k;
                        const uint8_t *p = reader_at(&s.rd, pos, h.frame_bytes, &k);
                        seen = true;
                        /* Only the first frame may be a VBR header: it holds no audio. */
                        if (p && k >= h.frame_bytes &&
                                mp3_parse_vbr_frame(p, h.frame_bytes, &h, &vbr_frames)) {
                                ret->vbr_header = true;
                                continue;
                        }
                }
                if (ret->frames == 0) {
                        ret->audio_offset = pos;
                        first = h;
                }
                ret->frames++;
                ns += frame_nsec(&h);
                ret->audio_end = pos + h.frame_bytes;
        }
        if (r < 0)
                return fail(err, err_size, r, "cannot read: %s", strerror(-r));
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        if (ret->frames == 0)
                return fail(err, err_size, -EINVAL, "no MPEG audio frame found in %" PRIu64 " bytes", size);
        ret->skipped_bytes = s.skipped;
        ret->sample_rate = first.sample_rate;
        ret->channels = first.channels;
        ret->bitrate_kbps = first.bitrate_kbps;
        ret->duration_usec = vbr_frames > 0
                ? muldiv(vbr_frames, (uint64_t)first.samples * USEC_PER_SEC, first.sample_rate)
                : ns / 1000;
        return 0;
}

/* ---- WAV ---- */

static bool wav_format_supported(unsigned f)
{
        return f == WAV_FORMAT_PCM || f == WAV_FORMAT_FLOAT || f == WAV_FORMAT_ALAW || f == WAV_FORMAT_MULAW;
}

/* Walks the RIFF chunks up to the data chunk, reading only chunk headers and the fmt body. */
static int wav_walk(const Source *s, WavInfo *ret)
{
        uint8_t h[12];
        uint64_t pos = 12, riff_size;
        bool have_fmt = false;
        WavInfo w = {};
        ssize_t n;

        n = source_read(s, 0, h, 12);
        if (n < 0)
                return (int)n;
        if (n < 12 || memcmp(h, "RIFF", 4) != 0 || memcmp(h + 8, "WAVE", 4) != 0)
                return -EINVAL;
        riff_size = le32(h + 4);
        for (unsigned i = 0; i < 4096; i++) {
                uint64_t size, avail;

                n = source_read(s, pos, h, 8);
                if (n < 0)
                        return (int)n;
                if (n < 8)
                        return -ENODATA;
                size = le32(h + 4);
                if (memcmp(h, "fmt ", 4) == 0) {
                        if (size < 16 || size > WAV_FMT_MAX)
                                return -EINVAL;
                        n = source_read(s, pos + 8, w.fmt, (size_t)size);
                        if (n < 0)
                                return (int)n;
                        if ((uint64_t)n < size)
                                return -EINVAL;
                        w.fmt_len = (size_t)size;
                        w.format = le16(w.fmt);
                        w.channels = le16(w.fmt + 2);
                        w.sample_rate = le32(w.fmt + 4);
                        w.block_align = le16(w.fmt + 12);
                        w.bits = le16(w.fmt + 14);
                        if (w.format == WAV_FORMAT_EXTENSIBLE) {
                                if (size < 40)
                                        return -EINVAL;
                                w.format = le16(w.fmt + 24); /* the SubFormat GUID's first two bytes */
                        }
                        if (w.channels == 0 || w.sample_rate == 0 || w.block_align == 0)
                                return -EINVAL;
                        have_fmt = true;
                } else if (memcmp(h, "data", 4) == 0) {
                        if (!have_fmt)
                                return -EINVAL;
                        w.data_offset = pos + 8;
                        avail = s->size > w.data_offset ? s->size - w.data_offset : 0;
                        /* Streamed WAVs carry 0xFFFFFFFF, or 0 in both sizes: the data runs to the
                         * end. A size past the end is a cut file: take what is there. */
                        if (size == 0xFFFFFFFFU ||
                                (size == 0 && (riff_size == 0 || riff_size == 0xFFFFFFFFU)) || size > avail)
                                size = avail;
                        w.data_bytes = size - size % w.block_align;
                        *ret = w;
                        return wav_format_supported(w.format) ? 0 : -EOPNOTSUPP;
                }
                pos += 8 + size + (size & 1);
        }
        return -EINVAL;
}

int wav_parse(const uint8_t *p, size_t len, uint64_t file_size, WavInfo *ret)
{
        Source s = { .mem = p, .mem_len = len, .fd = -EBADF, .size = file_size };

        if (!p || !ret)
                return -EINVAL;
        *ret = (WavInfo){};
        return wav_walk(&s, ret);
}

int wav_write_header(const WavInfo *w, uint64_t data_bytes, uint8_t *buf, size_t size)
{
        size_t fmt_pad = w->fmt_len & 1, len = 12 + 8 + w->fmt_len + fmt_pad + 8;
        uint64_t riff = len - 8 + data_bytes + (data_bytes & 1);

        if (w->fmt_len < 16 || w->fmt_len > WAV_FMT_MAX || size < len)
                return -ENOBUFS;
        if (riff > UINT32_MAX)
                return -EFBIG;
        memcpy(buf, "RIFF", 4);
        put_le32(buf + 4, (uint32_t)riff);
        memcpy(buf + 8, "WAVEfmt ", 8);
        put_le32(buf + 16, (uint32_t)w->fmt_len);
        memcpy(buf + 20, w->fmt, w->fmt_len);
        if (fmt_pad)
                buf[20 + w->fmt_len] = 0;
        memcpy(buf + len - 8, "data", 4);
        put_le32(buf + len - 4, (uint32_t)data_bytes);
        return (int)len;
}

static int wav_probe(int fd, uint64_t size, AudioInfo *ret, char *err, size_t err_size)
{
        Source s = { .fd = fd, .size = size };
        int r = wav_walk(&s, &ret->wav);

        if (r == -EOPNOTSUPP)
                return fail(err, err_size, r,
                        "WAV encoding 0x%04x cannot be split (only PCM, float, A-law and µ-law can); "
                        "set [command] prepare to convert it",
                        ret->wav.format);
        if (r == -ENODATA)
                return fail(err, err_size, -EINVAL, "WAV file without a data chunk");
        if (r == -EINVAL)
                return fail(err, err_size, r, "not a valid WAV file (RIFF/WAVE with fmt and data chunks)");
        if (r < 0)
                return fail(err, err_size, r, "cannot read: %s", strerror(-r));
        ret->frames = ret->wav.data_bytes / ret->wav.block_align;
        if (ret->frames == 0)
                return fail(err, err_size, -EINVAL, "WAV file without samples");
        ret->audio_offset = ret->wav.data_offset;
        ret->audio_end = ret->wav.data_offset + ret->wav.data_bytes;
        ret->sample_rate = ret->wav.sample_rate;
        ret->channels = ret->wav.channels;
        ret->duration_usec = muldiv(ret->frames, USEC_PER_SEC, ret->wav.sample_rate);
        return 0;
}

int audio_probe(int fd, AudioFormat format, AudioInfo *ret, char *err, size_t err_size)
{
        struct stat st;

        if (!ret || fd < 0)
                return -EINVAL;
        *ret = (AudioInfo){ .format = format };
        if (fstat(fd, &st) < 0)
                return fail(err, err_size, -errno, "cannot stat: %s", strerror(errno));
        if (!S_ISREG(st.st_mode))
                return fail(err, err_size, -EINVAL, "not a regular file");
        ret->file_size = (uint64_t)st.st_size;
        switch (format) {
        case AUDIO_FORMAT_MP3:
                return mp3_probe(fd, ret->file_size, ret, err, err_size);
        case AUDIO_FORMAT_WAV:
                return wav_probe(fd, ret->file_size, ret, err, err_size);
        case AUDIO_FORMAT_UNKNOWN:
        case AUDIO_FORMAT_M4A:
        case AUDIO_FORMAT_OGG:
        case AUDIO_FORMAT_FLAC:
        case _AUDIO_FORMAT_MAX:
        default:
                return fail(err, err_size, -EOPNOTSUPP, "%s audio cannot be split without decoding",
                        audio_format_to_string(format) ?: "unknown");
        }
}

/* ---- planning ---- */

typedef struct ChunkList {
        AudioChunk *v;
        size_t n, cap;
} ChunkList;

static int chunk_push(ChunkList *l, uint64_t off, uint64_t end, uint64_t start_ns, uint64_t end_ns)
{
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 16;
                AudioChunk *v = reallocarray(l->v, cap, sizeof(AudioChunk));
                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->cap = cap;
        }
        l->v[l->n++] = (AudioChunk){
                .offset = off,
                .length = end - off,
                .start_usec = start_ns / 1000,
                .duration_usec = end_ns / 1000 - start_ns / 1000,
        };
        return 0;
}

static int mp3_plan(
        int fd, uint64_t from, uint64_t to, usec_t start_usec, const AudioLimits *lim, ChunkList *l)
{
        _cleanup_free_ uint8_t *buf = malloc(WINDOW_BYTES);
        Mp3Scan s = { .rd = { .fd = fd, .buf = buf }, .pos = from, .end = to, .synced = true };
        uint64_t max_ns = lim->max_duration_usec > 0 ? lim->max_duration_usec * 1000 : UINT64_MAX;
        uint64_t t_ns = start_usec * 1000, c_off = 0, c_end = 0, c_start_ns = 0, pos;
        bool open = false;
        Mp3Header h;
        int r;

        if (!buf)
                return -ENOMEM;
        while ((r = mp3_next_frame(&s, &pos, &h)) > 0) {
                uint64_t fns = frame_nsec(&h);
                if (open &&
                        ((t_ns - c_start_ns) + fns > max_ns ||
                                (lim->max_bytes > 0 && pos + h.frame_bytes - c_off > lim->max_bytes))) {
                        r = chunk_push(l, c_off, c_end, c_start_ns, t_ns);
                        if (r < 0)
                                return r;
                        open = false;
                }
                if (!open) {
                        c_off = pos;
                        c_start_ns = t_ns;
                        open = true;
                }
                c_end = pos + h.frame_bytes;
                t_ns += fns;
        }
        if (r < 0)
                return r;
        if (open)
                r = chunk_push(l, c_off, c_end, c_start_ns, t_ns);
        (void)posix_fadvise(fd, (off_t)from, (off_t)(to - from), POSIX_FADV_DONTNEED);
        return r;
}

static int wav_plan(const AudioInfo *info, uint64_t from, uint64_t to, const AudioLimits *lim, ChunkList *l)
{
        const WavInfo *w = &info->wav;
        uint64_t block = w->block_align, first, last, per = UINT64_MAX, header;
        uint8_t hbuf[WAV_HEADER_MAX];
        int r = wav_write_header(w, 0, hbuf, sizeof(hbuf));

        if (r < 0)
                return r;
        header = (uint64_t)r;
        from = MAX(from, w->data_offset);
        to = MIN(to, w->data_offset + w->data_bytes);
        if (to <= from)
                return 0;
        first = (from - w->data_offset) / block;
        last = (to - w->data_offset) / block;
        if (lim->max_duration_usec > 0)
                per = MIN(per, muldiv(lim->max_duration_usec, w->sample_rate, USEC_PER_SEC));
        if (lim->max_bytes > 0)
                per = MIN(per, lim->max_bytes > header ? (lim->max_bytes - header) / block : 0);
        /* RIFF sizes are 32-bit. */
        per = MIN(per, (UINT32_MAX - header - 1) / block);
        per = MAX(per, (uint64_t)1);
        for (uint64_t f = first; f < last; f += per) {
                uint64_t e = f + MIN(per, last - f);
                r = chunk_push(l, w->data_offset + f * block, w->data_offset + e * block,
                        muldiv(f, NSEC_PER_SEC, w->sample_rate), muldiv(e, NSEC_PER_SEC, w->sample_rate));
                if (r < 0)
                        return r;
        }
        return 0;
}

int audio_plan(int fd, const AudioInfo *info, uint64_t from, uint64_t to, usec_t start_usec,
        const AudioLimits *lim, AudioChunk **ret, char *err, size_t err_size)
{
        ChunkList l = {};
        int r;

        if (!info || !lim || !ret || from > to)
                return -EINVAL;
        if (info->format == AUDIO_FORMAT_MP3)
                r = mp3_plan(fd, from, to, start_usec, lim, &l);
        else if (info->format == AUDIO_FORMAT_WAV)
                r = wav_plan(info, from, to, lim, &l);
        else
                r = -EOPNOTSUPP;
        if (r >= 0 && l.n == 0)
                r = -ENODATA;
        if (r < 0) {
                free(l.v);
                if (r == -ENODATA)
                        return fail(err, err_size, r, "no audio between bytes %" PRIu64 " and %" PRIu64,
                                from, to);
                return fail(err, err_size, r, "cannot split the audio: %s", strerror(-r));
        }
        *ret = l.v;
        return (int)MIN(l.n, (size_t)INT32_MAX);
}

static uint64_t div_round_up(uint64_t a, uint64_t b)
{
        return a / b + (a % b != 0);
}

void audio_balance_limits(usec_t total_usec, uint64_t total_bytes, const AudioLimits *lim, usec_t slack_usec,
        uint64_t slack_bytes, AudioLimits *ret)
{
        uint64_t kd = lim->max_duration_usec > 0 ? div_round_up(total_usec, lim->max_duration_usec) : 1;
        uint64_t kb = lim->max_bytes > 0 ? div_round_up(total_bytes, lim->max_bytes) : 1;
        uint64_t k = MAX(MAX(kd, kb), (uint64_t)1);

        *ret = *lim;
        if (k <= 1)
                return;
        /* Only the limit that decides the count is evened out; the other one stays a ceiling. */
        if (kd == k)
                ret->max_duration_usec =
                        MIN(lim->max_duration_usec, div_round_up(total_usec, k) + slack_usec);
        if (kb == k)
                ret->max_bytes = MIN(lim->max_bytes, div_round_up(total_bytes, k) + slack_bytes);
}

uint64_t audio_chunk_file_size(const AudioInfo *info, const AudioChunk *c)
{
        uint8_t h[WAV_HEADER_MAX];
        int n;

        if (info->format != AUDIO_FORMAT_WAV)
                return c->length;
        n = wav_write_header(&info->wav, c->length, h, sizeof(h));
        return (n > 0 ? (uint64_t)n : 0) + c->length + (c->length & 1);
}

const char *audio_chunk_extension(const AudioInfo *info)
{
        return info->format == AUDIO_FORMAT_WAV ? "wav" : "mp3";
}

const char *audio_mime_type(AudioFormat f)
{
        switch (f) {
        case AUDIO_FORMAT_MP3:
                return "audio/mp3"; /* what Gemini documents; OpenAI-compatible servers accept it */
        case AUDIO_FORMAT_WAV:
                return "audio/wav";
        case AUDIO_FORMAT_M4A:
                return "audio/mp4";
        case AUDIO_FORMAT_OGG:
                return "audio/ogg";
        case AUDIO_FORMAT_FLAC:
                return "audio/flac";
        case AUDIO_FORMAT_UNKNOWN:
        case _AUDIO_FORMAT_MAX:
        default:
                return "application/octet-stream";
        }
}

static int write_all(int fd, const void *data, size_t len)
{
        const uint8_t *p = data;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

int audio_write_chunk(int src_fd, const AudioInfo *info, const AudioChunk *c, int dir_fd, const char *name,
        char ret_sha256[SHA256_HEX_SIZE])
{
        _cleanup_free_ uint8_t *buf = malloc(COPY_BYTES);
        _cleanup_close_ int fd = -EBADF;
        Source src = { .fd = src_fd };
        Sha256 sha;
        uint64_t done = 0;
        int r = 0;

        if (!buf)
                return -ENOMEM;
        if (c->offset > info->file_size || c->length > info->file_size - c->offset)
                return -EINVAL;
        fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0)
                return -errno;
        sha256_init(&sha);
        if (info->format == AUDIO_FORMAT_WAV) {
                int n = wav_write_header(&info->wav, c->length, buf, COPY_BYTES);
                if (n < 0)
                        return n;
                sha256_update(&sha, buf, (size_t)n);
                r = write_all(fd, buf, (size_t)n);
        }
        while (r >= 0 && done < c->length) {
                ssize_t n = source_read(
                        &src, c->offset + done, buf, (size_t)MIN((uint64_t)COPY_BYTES, c->length - done));
                if (n < 0)
                        return (int)n;
                if (n == 0)
                        return -EIO; /* the source shrank */
                sha256_update(&sha, buf, (size_t)n);
                r = write_all(fd, buf, (size_t)n);
                done += (uint64_t)n;
        }
        /* RIFF chunks are padded to an even size. */
        if (r >= 0 && info->format == AUDIO_FORMAT_WAV && (c->length & 1)) {
                buf[0] = 0;
                sha256_update(&sha, buf, 1);
                r = write_all(fd, buf, 1);
        }
        if (r < 0)
                return r;
        (void)posix_fadvise(src_fd, (off_t)c->offset, (off_t)c->length, POSIX_FADV_DONTNEED);
        if (ret_sha256)
                sha256_final_hex(&sha, ret_sha256);
        return 0;
}
