/* SPDX-License-Identifier: MIT */
#include <stdbool.h>
#include <string.h>

#include "runner/sha256.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHA_NI_PATH 1
#endif

/* FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64
 * primes. */
static const uint32_t K[64] = { 0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
        0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa,
        0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
        0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb,
        0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624,
        0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
        0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb,
        0xbef9a3f7, 0xc67178f2 };

static inline uint32_t rotr(uint32_t x, unsigned n)
{
        return (x >> n) | (x << (32 - n));
}

static void blocks_portable(uint32_t h[8], const uint8_t *p, size_t n)
{
        for (; n > 0; n--, p += 64) {
                uint32_t w[64], a, b, c, d, e, f, g, hh;

                for (unsigned t = 0; t < 16; t++)
                        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
                                (uint32_t)p[4 * t + 2] << 8 | (uint32_t)p[4 * t + 3];
                for (unsigned t = 16; t < 64; t++) {
                        uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
                        uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
                        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
                }

                a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
                for (unsigned t = 0; t < 64; t++) {
                        uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
                        uint32_t ch = (e & f) ^ (~e & g);
                        uint32_t t1 = hh + S1 + ch + K[t] + w[t];
                        uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
                        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
                        uint32_t t2 = S0 + maj;

                        hh = g;
                        g = f;
                        f = e;
                        e = d + t1;
                        d = c;
                        c = b;
                        b = a;
                        a = t1 + t2;
                }
                h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
        }
}

#ifdef HAVE_SHA_NI_PATH
/* The x86 SHA extensions (Intel SHA-NI) run two rounds per instruction, several times faster
 * than the portable code, which caps the download rate otherwise. The state is kept as the
 * register pairs the instructions expect: (A,B,E,F) and (C,D,G,H). */
__attribute__((target("sha,sse4.1,ssse3"))) static void blocks_sha_ni(
        uint32_t h[8], const uint8_t *p, size_t n)
{
        const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
        __m128i dcba = _mm_loadu_si128((const __m128i *)&h[0]);
        __m128i hgfe = _mm_loadu_si128((const __m128i *)&h[4]);
        __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
        __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
        __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
        __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);

        for (; n > 0; n--, p += 64) {
                __m128i abef0 = abef, cdgh0 = cdgh, w[4];

                for (unsigned i = 0; i < 4; i++)
                        w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), bswap);
                /* Group i holds W[4i..4i+3]; w[] keeps the last four groups. */
                for (unsigned i = 0; i < 16; i++) {
                        __m128i m;
                        if (i >= 4) {
                                __m128i t = _mm_sha256msg1_epu32(w[i & 3], w[(i + 1) & 3]);
                                t = _mm_add_epi32(t, _mm_alignr_epi8(w[(i + 3) & 3], w[(i + 2) & 3], 4));
                                w[i & 3] = _mm_sha256msg2_epu32(t, w[(i + 3) & 3]);
                        }
                        m = _mm_add_epi32(w[i & 3], _mm_loadu_si128((const __m128i *)&K[4 * i]));
                        cdgh = _mm_sha256rnds2_epu32(cdgh, abef, m);
                        abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(m, 0x0E));
                }
                abef = _mm_add_epi32(abef, abef0);
                cdgh = _mm_add_epi32(cdgh, cdgh0);
        }

        {
                __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
                __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
                _mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(feba, dchg, 0xF0));
                _mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(dchg, feba, 8));
        }
}

static bool cpu_has_sha_ni(void)
{
        unsigned a, b, c, d;

        if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) || !(c & bit_SSSE3))
                return false;
        return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_SHA);
}
#endif

static bool force_portable;

void sha256_force_portable(bool on)
{
        force_portable = on;
}

bool sha256_accelerated(void)
{
#ifdef HAVE_SHA_NI_PATH
        static int have = -1;

        if (have < 0)
                have = cpu_has_sha_ni();
        return have && !force_portable;
#else
        return false;
#endif
}

static void sha256_blocks(uint32_t h[8], const uint8_t *p, size_t n)
{
#ifdef HAVE_SHA_NI_PATH
        if (sha256_accelerated()) {
                blocks_sha_ni(h, p, n);
                return;
        }
#endif
        blocks_portable(h, p, n);
}

void sha256_init(Sha256 *s)
{
        /* §5.3.3: fractional parts of the square roots of the first 8 primes. */
        static const uint32_t H0[8] = {
                0x6a09e667,
                0xbb67ae85,
                0x3c6ef372,
                0xa54ff53a,
                0x510e527f,
                0x9b05688c,
                0x1f83d9ab,
                0x5be0cd19,
        };

        memcpy(s->state, H0, sizeof(H0));
        s->length_bytes = 0;
        s->block_len = 0;
}

void sha256_update(Sha256 *s, const void *data, size_t len)
{
        const uint8_t *p = data;

        s->length_bytes += len;
        if (s->block_len > 0) {
                size_t take = 64 - s->block_len;
                if (take > len)
                        take = len;
                memcpy(s->block + s->block_len, p, take);
                s->block_len += take;
                p += take;
                len -= take;
                if (s->block_len < 64)
                        return;
                sha256_blocks(s->state, s->block, 1);
                s->block_len = 0;
        }
        /* Whole blocks straight from the caller's buffer: no copy on the streaming path. */
        if (len >= 64) {
                sha256_blocks(s->state, p, len / 64);
                p += len & ~(size_t)63;
                len &= 63;
        }
        memcpy(s->block, p, len);
        s->block_len = len;
}

void sha256_final(Sha256 *s, uint8_t ret[SHA256_DIGEST_SIZE])
{
        uint64_t bits = s->length_bytes * 8;

        /* §5.1.1: a 1 bit, zeros up to 56 mod 64 bytes, then the 64-bit big-endian bit length. */
        s->block[s->block_len++] = 0x80;
        if (s->block_len > 56) {
                memset(s->block + s->block_len, 0, 64 - s->block_len);
                sha256_blocks(s->state, s->block, 1);
                s->block_len = 0;
        }
        memset(s->block + s->block_len, 0, 56 - s->block_len);
        for (unsigned i = 0; i < 8; i++)
                s->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
        sha256_blocks(s->state, s->block, 1);

        for (unsigned i = 0; i < 8; i++) {
                ret[4 * i] = (uint8_t)(s->state[i] >> 24);
                ret[4 * i + 1] = (uint8_t)(s->state[i] >> 16);
                ret[4 * i + 2] = (uint8_t)(s->state[i] >> 8);
                ret[4 * i + 3] = (uint8_t)s->state[i];
        }
        /* Nothing of the message lingers in the context. */
        memset(s->block, 0, sizeof(s->block));
}

void sha256_final_hex(Sha256 *s, char ret[SHA256_HEX_SIZE])
{
        static const char hex[] = "0123456789abcdef";
        uint8_t md[SHA256_DIGEST_SIZE];

        sha256_final(s, md);
        for (unsigned i = 0; i < SHA256_DIGEST_SIZE; i++) {
                ret[2 * i] = hex[md[i] >> 4];
                ret[2 * i + 1] = hex[md[i] & 15];
        }
        ret[2 * SHA256_DIGEST_SIZE] = 0;
}
