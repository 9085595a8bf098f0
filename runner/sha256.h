/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* SHA-256 (FIPS 180-4), streaming. Written here rather than taken from libcrypto only because
 * configure.ac does not link libcrypto directly yet; the interface is small enough to swap. */

#define SHA256_DIGEST_SIZE 32
#define SHA256_HEX_SIZE    (2 * SHA256_DIGEST_SIZE + 1)

typedef struct Sha256 {
        uint32_t state[8];
        uint64_t length_bytes;
        uint8_t block[64];
        size_t block_len;
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t len);
void sha256_final(Sha256 *s, uint8_t ret[SHA256_DIGEST_SIZE]);

/* Whether the x86 SHA extensions are used (detected at run time); sha256_force_portable(true)
 * turns them off, so tests can check both implementations against each other. */
bool sha256_accelerated(void);
void sha256_force_portable(bool on);

/* Finishes s and writes the lowercase hex digest (NUL-terminated) to ret. */
void sha256_final_hex(Sha256 *s, char ret[SHA256_HEX_SIZE]);
