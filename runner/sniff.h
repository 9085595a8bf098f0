/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/* The real container of a downloaded episode, from its first bytes: feeds' type= attributes and
 * Content-Type headers are too often wrong to decide how to split or transcode a file. */
typedef enum AudioFormat {
        AUDIO_FORMAT_UNKNOWN,
        AUDIO_FORMAT_MP3,  /* ID3v2 tag or an MPEG audio frame header */
        AUDIO_FORMAT_WAV,  /* RIFF....WAVE */
        AUDIO_FORMAT_M4A,  /* ISO base media (MP4/M4A/M4B): ....ftyp */
        AUDIO_FORMAT_OGG,  /* OggS (Vorbis, Opus, …) */
        AUDIO_FORMAT_FLAC, /* fLaC */
        _AUDIO_FORMAT_MAX,
} AudioFormat;

/* How many leading bytes sniff_audio_format() looks at; fewer are fine (shorter files). */
#define SNIFF_BYTES 12

AudioFormat sniff_audio_format(const void *data, size_t len);

/* "mp3", "wav", "m4a", "ogg", "flac", "unknown". */
const char *audio_format_to_string(AudioFormat f);
/* The inverse; returns -EINVAL for anything else. */
int audio_format_from_string(const char *s);
