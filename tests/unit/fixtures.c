/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the tests of the on-disk format: see fixtures.h. */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fixtures.h"

void fill_seq(uint8_t *p, size_t n, uint8_t start)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(start + i);
}

int hex2bin(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex);

	if (n % 2 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return (int)(n / 2);
}

void print_hex(const char *what, const uint8_t *p, size_t n)
{
	fprintf(stderr, "  %s = ", what);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%02x", p[i]);
	fprintf(stderr, "\n");
}

/* RFC 5869 HKDF-SHA256 with an empty salt, on HMAC alone: a reference
 * that does not share code with keys_hkdf(). */
void ref_hkdf(const uint8_t *ikm, size_t ikmlen, const char *info,
		     uint8_t *out, size_t outlen)
{
	uint8_t zero[32] = { 0 }, prk[32], t[32], msg[32 + 64 + 1];
	unsigned len = 32;
	size_t done = 0, tl = 0, il = strlen(info);

	HMAC(EVP_sha256(), zero, sizeof(zero), ikm, ikmlen, prk, &len);
	for (uint8_t ctr = 1; done < outlen; ctr++) {
		memcpy(msg, t, tl);
		memcpy(msg + tl, info, il);
		msg[tl + il] = ctr;
		HMAC(EVP_sha256(), prk, 32, msg, tl + il + 1, t, &len);
		tl = 32;
		memcpy(out + done, t, outlen - done < 32 ? outlen - done : 32);
		done += 32;
	}
}

/* Counts positions where a buffer still equals the plaintext. */
size_t same_bytes(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += a[i] == b[i];
	return s;
}

struct blk_key *test_blk_key(uint8_t dek_start, uint8_t id_start)
{
	uint8_t dek[KEY_LEN], id[ID_LEN];

	fill_seq(dek, sizeof(dek), dek_start);
	fill_seq(id, sizeof(id), id_start);
	return blk_key_new(dek, id);
}

const uint8_t test_vk[KEY_LEN] = {
	0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a,
	0x7b, 0x7c, 0x7d, 0x7e, 0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85,
	0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f,
};

void make_slot(struct hdr_slot *s, uint32_t gen, const char *kid,
		      size_t wlen, uint8_t wstart)
{
	memset(s, 0, sizeof(*s));
	s->gen = gen;
	s->alg = KEK_ALG_AES_KW_PAD;
	snprintf(s->kid, sizeof(s->kid), "%s", kid);
	s->wlen = (uint16_t)wlen;
	fill_seq(s->wrapped, wlen, wstart);
}

/* Slot 0 sealed under test_vk and DEK 0..31; slot 1 empty or sealed. */
void make_hdr(struct hdr *h, int two)
{
	uint8_t dek[KEY_LEN];

	memset(h, 0, sizeof(*h));
	fill_seq(dek, sizeof(dek), 0);
	fill_seq(h->file_id, ID_LEN, 0xa0);
	make_slot(&h->slot[0], 1, "testkek://k/v1", 64, 0xc0);
	hdr_slot_seal(h, 0, test_vk, dek);
	if (two) {
		make_slot(&h->slot[1], 2, "testkek://k/v2", 40, 0x10);
		hdr_slot_seal(h, 1, test_vk, dek);
	}
}
