/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/macro.h"
#include "runner/sniff.h"

static const char *const audio_format_table[_AUDIO_FORMAT_MAX] = {
        [AUDIO_FORMAT_UNKNOWN] = "unknown",
        [AUDIO_FORMAT_MP3] = "mp3",
        [AUDIO_FORMAT_WAV] = "wav",
        [AUDIO_FORMAT_M4A] = "m4a",
        [AUDIO_FORMAT_OGG] = "ogg",
        [AUDIO_FORMAT_FLAC] = "flac",
};

const char *audio_format_to_string(AudioFormat f)
{
        if ((unsigned)f >= _AUDIO_FORMAT_MAX)
                return NULL;
        return audio_format_table[f];
}

int audio_format_from_string(const char *s)
{
        if (!s)
                return -EINVAL;
        for (unsigned i = 0; i < _AUDIO_FORMAT_MAX; i++)
                if (streq(audio_format_table[i], s))
                        return (int)i;
        return -EINVAL;
}

/* An ID3v2 header: "ID3", major version 2–4, a revision that is not 0xFF, and a "syncsafe" size
 * whose bytes all have the top bit clear. The checks keep text that starts with "ID3" out. */
static bool is_id3v2(const uint8_t *p, size_t len)
{
        if (len < 10 || memcmp(p, "ID3", 3) != 0)
                return false;
        if (p[3] < 2 || p[3] > 4 || p[4] == 0xFF)
                return false;
        return !((p[6] | p[7] | p[8] | p[9]) & 0x80);
}

/* An MPEG-1/2/2.5 audio frame header (any layer). 0xFFFx alone matches too much (ADTS AAC, random
 * binary), so the reserved values of version, layer, bitrate and sample rate are rejected. */
static bool is_mpeg_audio_frame(const uint8_t *p, size_t len)
{
        unsigned version, layer, bitrate, rate;

        if (len < 4 || p[0] != 0xFF || (p[1] & 0xE0) != 0xE0)
                return false;
        version = (p[1] >> 3) & 3;
        layer = (p[1] >> 1) & 3;
        bitrate = p[2] >> 4;
        rate = (p[2] >> 2) & 3;
        return version != 1 && layer != 0 && bitrate != 15 && rate != 3;
}

AudioFormat sniff_audio_format(const void *data, size_t len)
{
        const uint8_t *p = data;

        if (!p)
                return AUDIO_FORMAT_UNKNOWN;
        if (is_id3v2(p, len) || is_mpeg_audio_frame(p, len))
                return AUDIO_FORMAT_MP3;
        if (len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WAVE", 4) == 0)
                return AUDIO_FORMAT_WAV;
        if (len >= 8 && memcmp(p + 4, "ftyp", 4) == 0)
                return AUDIO_FORMAT_M4A;
        if (len >= 4 && memcmp(p, "OggS", 4) == 0)
                return AUDIO_FORMAT_OGG;
        if (len >= 4 && memcmp(p, "fLaC", 4) == 0)
                return AUDIO_FORMAT_FLAC;
        return AUDIO_FORMAT_UNKNOWN;
}
