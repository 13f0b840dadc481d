/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key material: randomness, HKDF, HMAC, constant-time comparison. Keys
 * live in common/secmem.h memory and are wiped when dropped.
 */
#ifndef HSMFS_KEYS_H
#define HSMFS_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "common/secmem.h"

#define KEY_LEN 32
#define ID_LEN 16

/* HKDF labels: one key per purpose, never one key for two. */
#define KDF_CONTENT "hsmfs v1 content"
#define KDF_HDR_MAC "hsmfs v1 header mac"
#define KDF_NAMES "hsmfs v1 names"
#define KDF_XATTR_NAME "hsmfs v1 xattr names"
#define KDF_XATTR_VAL "hsmfs v1 xattr values"
#define KDF_SYMLINK "hsmfs v1 symlinks"
#define KDF_CONF_MAC "hsmfs v1 config mac"
#define KDF_KEY_CHECK "hsmfs v1 key check"

int keys_random(void *buf, size_t n);
/* HKDF-SHA256 with an empty salt. Returns 0 or -1. */
int keys_hkdf(const uint8_t *ikm, size_t ikmlen, const char *info,
	      uint8_t *out, size_t outlen);
int keys_hmac(const uint8_t key[KEY_LEN], const uint8_t *msg, size_t n,
	      uint8_t out[32]);
int keys_equal(const void *a, const void *b, size_t n);

#endif
