/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key material: randomness, HKDF, HMAC, constant-time comparison. Keys
 * live in common/secmem.h memory and are wiped when dropped.
 *
 * Errors, the same in every crypto/ header: a function returns 0 (or a
 * length or count >= 0) or -errno.
 *   -EBADMSG  not authentic: a GCM tag, SIV tag or HMAC did not verify.
 *             Nothing else returns it.
 *   -EINVAL   malformed input (or an argument out of range); parsers that
 *             can say why also set *why to a static string naming the rule
 *             broken.
 *   -ENODATA  a file ends before what was to be read (a short file), told
 *             apart from a disk error and from -EBADMSG.
 *   -ENOKEY   an empty file: no header, so no key yet (hdr_read).
 *   -ENOMEM   out of memory.
 *   -ERANGE   an xattr value larger than the buffer given for it.
 *   -EIO      randomness, key derivation or a cipher failed locally.
 *   other     a disk error keeps its own errno (-EIO, -ENOSPC, ...).
 * Functions returning a pointer return NULL on error; predicates
 * (keys_equal, lay_valid, names_is_*) return 1 or 0.
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
/* Format 3 */
#define KDF_XATTR_HASH "hsmfs v3 xattr names"
#define KDF_DIRIV_MAC "hsmfs v3 directory iv"
/* Volume-wrap volumes: the AES-256-SIV key of slots wrapped locally. */
#define KDF_WK_SIV "hsmfs v3 wrapping key"

#define KEYS_SIV_KEY 64 /* AES-256-SIV: two AES-256 keys */
#define KEYS_SIV_TAG 16

/* n random bytes: 0, or -EIO. */
int keys_random(void *buf, size_t n);
/* HKDF-SHA256 with an empty salt: 0, -ENOMEM or -EIO. */
int keys_hkdf(const uint8_t *ikm, size_t ikmlen, const char *info,
	      uint8_t *out, size_t outlen);
/* HMAC-SHA256: 0 or -EIO. */
int keys_hmac(const uint8_t key[KEY_LEN], const uint8_t *msg, size_t n,
	      uint8_t out[32]);
/* AES-256-SIV (RFC 5297) with one associated-data component: out =
 * tag(16) || ciphertext(n). Seal: 0, -ENOMEM or -EIO. Open (n counts the
 * tag): 0, -EBADMSG (out wiped), -EINVAL (too short), -ENOMEM or -EIO. */
int keys_siv_seal(const uint8_t key[KEYS_SIV_KEY], const uint8_t *ad,
		  size_t adlen, const uint8_t *in, size_t n, uint8_t *out);
int keys_siv_open(const uint8_t key[KEYS_SIV_KEY], const uint8_t *ad,
		  size_t adlen, const uint8_t *in, size_t n, uint8_t *out);
/* 1 if equal, 0 if not, in time independent of the bytes. */
int keys_equal(const void *a, const void *b, size_t n);

#endif
