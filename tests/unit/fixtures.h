/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers and fixed keys shared by the unit tests of the on-disk format
 * (crypto/): byte patterns, hex, a reference HKDF built on HMAC alone, and
 * the headers and slots the tests start from.
 */
#ifndef HSMFS_TEST_FIXTURES_H
#define HSMFS_TEST_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/blk.h"
#include "crypto/hdr.h"
#include "crypto/keys.h"

/* p[i] = start + i. */
void fill_seq(uint8_t *p, size_t n, uint8_t start);
/* Hex to bytes: the byte count, or -1. */
int hex2bin(const char *hex, uint8_t *out, size_t cap);
/* To stderr, for re-pinning a known answer on purpose. */
void print_hex(const char *what, const uint8_t *p, size_t n);
/* RFC 5869 HKDF-SHA256 with an empty salt, on HMAC alone: a reference
 * that does not share code with keys_hkdf(). */
void ref_hkdf(const uint8_t *ikm, size_t ikmlen, const char *info,
	      uint8_t *out, size_t outlen);
/* Counts positions where a buffer still equals the plaintext. */
size_t same_bytes(const uint8_t *a, const uint8_t *b, size_t n);

/* A content key from DEK dek_start.. and file id id_start.. */
struct blk_key *test_blk_key(uint8_t dek_start, uint8_t id_start);

/* The volume key every test seals and verifies with. */
extern const uint8_t test_vk[KEY_LEN];
/* A slot of generation gen (alg AES-KW-PAD) with wlen bytes wstart.. */
void make_slot(struct hdr_slot *s, uint32_t gen, const char *kid,
	       size_t wlen, uint8_t wstart);
/* Slot 0 sealed under test_vk and DEK 0..31; slot 1 empty or sealed. */
void make_hdr(struct hdr *h, int two);

#endif
