/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The on-disk format v1: content blocks, file headers, names, symlink
 * targets, xattrs, the volume config and base64url. Known-answer vectors
 * are computed here from the documented construction with plain OpenSSL
 * calls and also pinned as hex, so that any change of the format (or of
 * what it derives keys from) breaks a test before it breaks a volume.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "check.h"
#include "common/b64.h"
#include "crypto/blk.h"
#include "crypto/conf.h"
#include "crypto/hdr.h"
#include "crypto/keys.h"
#include "crypto/layout.h"
#include "crypto/names.h"

/* ---- helpers ------------------------------------------------------- */

static void fill_seq(uint8_t *p, size_t n, uint8_t start)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(start + i);
}

static int hex2bin(const char *hex, uint8_t *out, size_t cap)
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

static void print_hex(const char *what, const uint8_t *p, size_t n)
{
	fprintf(stderr, "  %s = ", what);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%02x", p[i]);
	fprintf(stderr, "\n");
}

/* RFC 5869 HKDF-SHA256 with an empty salt, on HMAC alone: a reference
 * that does not share code with keys_hkdf(). */
static void ref_hkdf(const uint8_t *ikm, size_t ikmlen, const char *info,
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
static size_t same_bytes(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += a[i] == b[i];
	return s;
}

static const uint8_t kat_nonce[BLK_NONCE] = {
	0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
};

/* ---- content blocks ------------------------------------------------ */

static struct blk_key *test_blk_key(uint8_t dek_start, uint8_t id_start)
{
	uint8_t dek[KEY_LEN], id[ID_LEN];

	fill_seq(dek, sizeof(dek), dek_start);
	fill_seq(id, sizeof(id), id_start);
	return blk_key_new(dek, id);
}

/* Data of any length written through the mount reads back unchanged,
 * including short tails and exactly full blocks. */
static void blk_roundtrip(void)
{
	static const size_t sizes[] = { 1, 15, 16, 4095, 4096 };
	static uint8_t pt[BLK_PLAIN], ct[BLK_CIPHER], back[BLK_PLAIN];
	struct blk_key *k = test_blk_key(0, 0xa0);

	CHECK(k != NULL);
	if (!k)
		return;
	for (size_t i = 0; i < BLK_PLAIN; i++)
		pt[i] = (uint8_t)(i * 7 + 1);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(*sizes); s++) {
		size_t n = sizes[s];

		memset(back, 0, sizeof(back));
		CHECK_EQ_INT(blk_encrypt(k, 3, pt, n, NULL, ct), 0);
		CHECK_EQ_INT(blk_decrypt(k, 3, ct, n + BLK_OVERHEAD, back), n);
		CHECK_MEM(back, pt, n);
		/* The ciphertext is not the plaintext. */
		CHECK(memcmp(ct + BLK_NONCE, pt, n) != 0);
	}
	/* Random nonces: the same block written twice differs on disk. */
	{
		static uint8_t ct2[BLK_CIPHER];

		CHECK_EQ_INT(blk_encrypt(k, 3, pt, 64, NULL, ct), 0);
		CHECK_EQ_INT(blk_encrypt(k, 3, pt, 64, NULL, ct2), 0);
		CHECK(memcmp(ct, ct2, 64 + BLK_OVERHEAD) != 0);
	}
	/* Sizes outside 1..4096 are refused, not truncated. */
	CHECK_EQ_INT(blk_encrypt(k, 0, pt, 0, NULL, ct), -1);
	blk_key_free(k);
}

static const char blk_kat_pt[] = "hsmfs known answer\n";
/* nonce || ct || tag for the inputs described in blk_known_answer. */
static const char blk_kat_hex[] =
	"111111111111111111111111"
	"0e08607e4e41d59fef58f722e5e1447f8476cdb8114c6d"
	"261e4340359fbe3d7296c7a5";

/* The content format is frozen: a block written by this version decrypts
 * with the documented construction (HKDF content key, AES-256-GCM, AAD =
 * file id || u64 BE block number), and stays byte-identical. */
static void blk_known_answer(void)
{
	uint8_t dek[KEY_LEN], id[ID_LEN], ck[KEY_LEN], aad[ID_LEN + 8];
	size_t n = sizeof(blk_kat_pt) - 1;
	uint8_t ref[BLK_NONCE + sizeof(blk_kat_pt) + BLK_TAG];
	uint8_t got[sizeof(ref)], pinned[sizeof(ref)];
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	struct blk_key *k;
	int len;

	fill_seq(dek, sizeof(dek), 0);
	fill_seq(id, sizeof(id), 0xa0);
	ref_hkdf(dek, sizeof(dek), "hsmfs v1 content", ck, sizeof(ck));
	memcpy(aad, id, ID_LEN);
	memset(aad + ID_LEN, 0, 8);
	aad[ID_LEN + 7] = 7;
	memcpy(ref, kat_nonce, BLK_NONCE);
	CHECK(c != NULL);
	CHECK(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, ck,
				 kat_nonce) == 1);
	CHECK(EVP_EncryptUpdate(c, NULL, &len, aad, sizeof(aad)) == 1);
	CHECK(EVP_EncryptUpdate(c, ref + BLK_NONCE, &len,
				(const uint8_t *)blk_kat_pt, (int)n) == 1);
	CHECK(EVP_EncryptFinal_ex(c, ref + BLK_NONCE + len, &len) == 1);
	CHECK(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, BLK_TAG,
				  ref + BLK_NONCE + n) == 1);
	EVP_CIPHER_CTX_free(c);

	k = blk_key_new(dek, id);
	CHECK(k != NULL);
	if (!k)
		return;
	CHECK_EQ_INT(blk_encrypt(k, 7, (const uint8_t *)blk_kat_pt, n,
				 kat_nonce, got), 0);
	CHECK_MEM(got, ref, n + BLK_OVERHEAD);
	CHECK_EQ_INT(hex2bin(blk_kat_hex, pinned, sizeof(pinned)),
		     n + BLK_OVERHEAD);
	CHECK_MEM(got, pinned, n + BLK_OVERHEAD);
	if (memcmp(got, pinned, n + BLK_OVERHEAD) != 0)
		print_hex("blk kat", got, n + BLK_OVERHEAD);
	blk_key_free(k);
}

/* A block cannot be moved to another position or file, decrypted with
 * another file's key, or altered in any byte; a rejected block leaves no
 * plaintext behind in the caller's buffer. */
static void blk_rejects_misuse(void)
{
	static uint8_t pt[BLK_PLAIN], ct[BLK_CIPHER], out[BLK_PLAIN];
	struct blk_key *k = test_blk_key(0, 0xa0);
	struct blk_key *other_id = test_blk_key(0, 0xb0);
	struct blk_key *other_key = test_blk_key(1, 0xa0);
	size_t n = 1000, bad = 0, leaked = 0;

	CHECK(k && other_id && other_key);
	if (!k || !other_id || !other_key)
		goto out;
	for (size_t i = 0; i < n; i++)
		pt[i] = (uint8_t)(0x41 + i % 26); /* no zero byte */
	CHECK_EQ_INT(blk_encrypt(k, 5, pt, n, NULL, ct), 0);

	memset(out, 0xee, sizeof(out));
	CHECK_EQ_INT(blk_decrypt(k, 6, ct, n + BLK_OVERHEAD, out), -1);
	CHECK_EQ_INT(same_bytes(out, pt, n), 0);
	CHECK_EQ_INT(blk_decrypt(k, 5 + (1ull << 32), ct, n + BLK_OVERHEAD,
				 out), -1);
	CHECK_EQ_INT(same_bytes(out, pt, n), 0);
	memset(out, 0xee, sizeof(out));
	CHECK_EQ_INT(blk_decrypt(other_id, 5, ct, n + BLK_OVERHEAD, out), -1);
	CHECK_EQ_INT(same_bytes(out, pt, n), 0);
	memset(out, 0xee, sizeof(out));
	CHECK_EQ_INT(blk_decrypt(other_key, 5, ct, n + BLK_OVERHEAD, out), -1);
	CHECK_EQ_INT(same_bytes(out, pt, n), 0);

	for (size_t i = 0; i < n + BLK_OVERHEAD; i++) {
		ct[i] ^= 0x01;
		memset(out, 0xee, n);
		if (blk_decrypt(k, 5, ct, n + BLK_OVERHEAD, out) != -1)
			bad++;
		leaked += same_bytes(out, pt, n);
		ct[i] ^= 0x01;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(leaked, 0);

	/* Truncated or overlong blocks. */
	CHECK_EQ_INT(blk_decrypt(k, 5, ct, n + BLK_OVERHEAD - 1, out), -1);
	CHECK_EQ_INT(blk_decrypt(k, 5, ct, BLK_OVERHEAD, out), -1);
	CHECK_EQ_INT(blk_decrypt(k, 5, ct, BLK_CIPHER + 1, out), -1);
	/* And the untouched block still decrypts. */
	CHECK_EQ_INT(blk_decrypt(k, 5, ct, n + BLK_OVERHEAD, out), n);
	CHECK_MEM(out, pt, n);
out:
	blk_key_free(k);
	blk_key_free(other_id);
	blk_key_free(other_key);
}

/* stat() shows the plaintext size of a file from its backing size, and a
 * backing size no valid file can have is recognised as corrupt. */
static void blk_sizes(void)
{
	static const struct {
		uint64_t plain, cipher;
	} v[] = {
		{ 0, 0 },       { 1, 29 },       { 4095, 4123 },
		{ 4096, 4124 }, { 4097, 4153 },  { 8192, 8248 },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++) {
		CHECK_EQ_INT(blk_cipher_size(v[i].plain), v[i].cipher);
		CHECK_EQ_INT(blk_plain_size(v[i].cipher), v[i].plain);
	}
	for (uint64_t full = 0; full < 3; full++)
		for (uint64_t r = 1; r <= BLK_OVERHEAD; r++)
			CHECK_EQ_INT(blk_plain_size(full * BLK_CIPHER + r), -1);
	for (uint64_t p = 0; p < 3 * BLK_PLAIN; p += 61)
		CHECK_EQ_INT(blk_plain_size(blk_cipher_size(p)), p);
}

/* The aligned layout, pinned: the header page holds the records of
 * blocks 0..72, whose data fill pages 1..73; then a record page and the
 * 146 pages of its group. A reader of this format depends on exactly
 * these offsets. */
static void lay_offsets(void)
{
	CHECK_EQ_INT(LAY_G0, 73);
	CHECK_EQ_INT(LAY_G, 146);
	CHECK_EQ_INT(lay_data_off(LAY_ALIGNED, 0), 4096);
	CHECK_EQ_INT(lay_data_off(LAY_ALIGNED, 72), 73 * 4096);
	CHECK_EQ_INT(lay_data_off(LAY_ALIGNED, 73), 75 * 4096);
	CHECK_EQ_INT(lay_data_off(LAY_ALIGNED, 218), 220 * 4096);
	CHECK_EQ_INT(lay_data_off(LAY_ALIGNED, 219), 222 * 4096);
	CHECK_EQ_INT(lay_data_off(LAY_PACKED, 2), 2048 + 2 * 4124);
	CHECK_EQ_INT(lay_run(LAY_ALIGNED, 0, UINT64_MAX), 73);
	CHECK_EQ_INT(lay_run(LAY_ALIGNED, 72, UINT64_MAX), 1);
	CHECK_EQ_INT(lay_run(LAY_ALIGNED, 73, UINT64_MAX), 146);
	CHECK_EQ_INT(lay_run(LAY_ALIGNED, 100, UINT64_MAX), 119);
	CHECK_EQ_INT(lay_run(LAY_PACKED, 5, 1u << 30), 1u << 30);
	CHECK_EQ_INT(lay_run(LAY_ALIGNED, 100, 7), 7);
	/* Every data page aligned, each block after the last. */
	for (uint64_t b = 1; b < 2000; b++) {
		off_t o = lay_data_off(LAY_ALIGNED, b);

		CHECK(o % 4096 == 0 && o > lay_data_off(LAY_ALIGNED, b - 1));
	}
}

/* Sizes map both ways in both layouts, and a size that ends in the
 * header page or a record page is no valid file. */
static void lay_sizes(void)
{
	static const struct {
		uint64_t plain, aligned;
	} v[] = {
		{ 0, 2048 },
		{ 1, 4097 },
		{ 4096, 8192 },
		{ 4097, 8193 },
		{ 73 * 4096, 74 * 4096 },
		{ 73 * 4096 + 1, 75 * 4096 + 1 },
	};
	const uint64_t edges[] = { 0, 1, 4095, 4096, 4097, 72 * 4096 + 7,
				   73 * 4096, 73 * 4096 + 1, 219 * 4096,
				   219 * 4096 + 4095, 1ull << 40 };

	for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++) {
		CHECK_EQ_INT(lay_backing_size(LAY_ALIGNED, v[i].plain),
			     v[i].aligned);
		CHECK_EQ_INT(lay_plain_size(LAY_ALIGNED, v[i].aligned),
			     v[i].plain);
	}
	CHECK_EQ_INT(lay_plain_size(LAY_ALIGNED, 0), 0);
	for (int lay = LAY_PACKED; lay <= LAY_ALIGNED; lay++) {
		for (size_t i = 0; i < sizeof(edges) / sizeof(*edges); i++)
			CHECK_EQ_INT(lay_plain_size(lay, lay_backing_size(
					     lay, edges[i])), edges[i]);
		for (uint64_t p = 1; p < 600 * 4096; p += 4093)
			CHECK_EQ_INT(lay_plain_size(lay, lay_backing_size(lay, p)),
				     p);
		CHECK_EQ_INT(lay_plain_size(lay, 2047), -1);
	}
	CHECK_EQ_INT(lay_plain_size(LAY_ALIGNED, 2049), -1);
	CHECK_EQ_INT(lay_plain_size(LAY_ALIGNED, 4096), -1);
	CHECK_EQ_INT(lay_plain_size(LAY_ALIGNED, 74 * 4096 + 28), -1);
	CHECK_EQ_INT(lay_plain_size(LAY_ALIGNED, 221 * 4096 + 1), -1);
}

/* A file written through layout runs reads back through them; a changed
 * record (nonce or tag) or a swapped data page is refused. */
static void lay_runs(void)
{
	const uint8_t dek[KEY_LEN] = { 9 }, id[ID_LEN] = { 1, 2, 3 };
	struct blk_key *k = blk_key_new(dek, id);
	const uint64_t nb = 300, last = 1000;
	uint8_t *in = malloc(nb * BLK_PLAIN), *out = malloc(nb * BLK_PLAIN);
	uint8_t *c = malloc(nb * BLK_CIPHER), *r = malloc(nb * LAY_REC);
	char path[] = "/tmp/hsmfs-lay-XXXXXX";
	int fd = mkstemp(path);
	uint64_t bad, n;

	CHECK(k && in && out && c && r && fd >= 0);
	if (!k || !in || !out || !c || !r || fd < 0)
		goto out;
	unlink(path);
	for (int lay = LAY_PACKED; lay <= LAY_ALIGNED; lay++) {
		CHECK_EQ_INT(ftruncate(fd, 0), 0);
		fill_seq(in, nb * BLK_PLAIN, (uint8_t)lay);
		for (uint64_t b = 0; b < nb; b += n) {
			n = lay_run(lay, b, nb - b);
			CHECK_EQ_INT(lay_write_run(lay, fd, k, b, n,
						   b + n == nb ? last : BLK_PLAIN,
						   in + b * BLK_PLAIN, c, r), 0);
		}
		CHECK_EQ_INT(lseek(fd, 0, SEEK_END),
			     lay_backing_size(lay, (nb - 1) * BLK_PLAIN + last));
		for (uint64_t b = 0; b < nb; b += n) {
			n = lay_run(lay, b, nb - b);
			CHECK_EQ_INT(lay_read_run(lay, fd, k, b, n,
						  b + n == nb ? last : BLK_PLAIN,
						  out + b * BLK_PLAIN, c, r, &bad), 0);
		}
		CHECK_MEM(out, in, (nb - 1) * BLK_PLAIN + last);
	}
	/* Aligned: block 80's tag lies in the record page at 74 * 4096. */
	c[0] = 0;
	CHECK_EQ_INT(pread(fd, c, 1, 74 * 4096 + 7 * LAY_REC + 20), 1);
	c[0] ^= 1;
	CHECK_EQ_INT(pwrite(fd, c, 1, 74 * 4096 + 7 * LAY_REC + 20), 1);
	CHECK_EQ_INT(lay_read_run(LAY_ALIGNED, fd, k, 73, 10, BLK_PLAIN, out,
				  c, r, &bad), LAY_EAUTH);
	CHECK_EQ_INT(bad, 80);
	CHECK_EQ_INT(lay_read_run(LAY_ALIGNED, fd, k, 81, 1, BLK_PLAIN, out,
				  c, r, &bad), 0);
	/* Block 2's page where block 1's was. */
	CHECK_EQ_INT(pread(fd, c, 4096, 3 * 4096), 4096);
	CHECK_EQ_INT(pwrite(fd, c, 4096, 2 * 4096), 4096);
	CHECK_EQ_INT(lay_read_run(LAY_ALIGNED, fd, k, 0, 3, BLK_PLAIN, out,
				  c, r, &bad), LAY_EAUTH);
	CHECK_EQ_INT(bad, 1);
	/* The last block asked for longer than it is. */
	CHECK_EQ_INT(lay_read_run(LAY_ALIGNED, fd, k, nb - 1, 1, BLK_PLAIN, out,
				  c, r, &bad), LAY_ESHORT);
out:
	if (fd >= 0)
		close(fd);
	free(in);
	free(out);
	free(c);
	free(r);
	blk_key_free(k);
}

/* ---- headers ------------------------------------------------------- */

static const uint8_t test_vk[KEY_LEN] = {
	0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a,
	0x7b, 0x7c, 0x7d, 0x7e, 0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85,
	0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f,
};

static void make_slot(struct hdr_slot *s, uint32_t gen, const char *kid,
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
static void make_hdr(struct hdr *h, int two)
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

/* A header written with two key slots (mid-rewrap) reads back with both
 * slots intact, and re-encodes to the same bytes. */
static void hdr_roundtrip(void)
{
	static uint8_t buf[HDR_LEN], buf2[HDR_LEN];
	struct hdr h, p;
	uint8_t dek[KEY_LEN];

	fill_seq(dek, sizeof(dek), 0);
	make_hdr(&h, 1);
	hdr_encode(&h, buf);
	CHECK(hdr_parse(buf, &p) == NULL);
	CHECK_MEM(p.file_id, h.file_id, ID_LEN);
	for (int i = 0; i < HDR_SLOTS; i++) {
		CHECK_EQ_INT(p.slot[i].gen, h.slot[i].gen);
		CHECK_EQ_INT(p.slot[i].alg, h.slot[i].alg);
		CHECK(strcmp(p.slot[i].kid, h.slot[i].kid) == 0);
		CHECK_EQ_INT(p.slot[i].wlen, h.slot[i].wlen);
		CHECK_MEM(p.slot[i].wrapped, h.slot[i].wrapped, h.slot[i].wlen);
		CHECK_MEM(p.slot[i].mac, h.slot[i].mac, 32);
		CHECK(hdr_slot_verify(&p, i, test_vk, dek));
	}
	hdr_encode(&p, buf2);
	CHECK_MEM(buf, buf2, HDR_LEN);
	CHECK_EQ_INT(hdr_slot_offset(0), 32);
	CHECK_EQ_INT(hdr_slot_offset(1), 32 + HDR_SLOT_LEN);

	/* The longest kid and wrapped key the format allows. */
	memset(h.slot[1].kid, 'x', HDR_KID_MAX);
	h.slot[1].kid[HDR_KID_MAX] = '\0';
	h.slot[1].wlen = HDR_WRAPPED_MAX;
	memset(h.slot[1].wrapped, 0x5a, HDR_WRAPPED_MAX);
	hdr_encode(&h, buf);
	CHECK(hdr_parse(buf, &p) == NULL);
	CHECK_EQ_INT(strlen(p.slot[1].kid), HDR_KID_MAX);
	CHECK_EQ_INT(p.slot[1].wlen, HDR_WRAPPED_MAX);
}

static const char hdr_mac_hex[] = 
	"c71f64714144cdf84260f533a66a39121e81077bb23ce489a6d8f3516673d9b0";

/* The header MAC is frozen: HMAC-SHA256 keyed by HKDF(VK || DEK, "hsmfs
 * v1 header mac") over the 32 fixed bytes and the slot's first 776
 * bytes, laid out as documented; computed here byte by byte. */
static void hdr_mac_known_answer(void)
{
	static uint8_t buf[HDR_LEN];
	uint8_t dek[KEY_LEN], ikm[2 * KEY_LEN], mk[KEY_LEN], mac[32];
	uint8_t msg[HDR_FIXED_LEN + HDR_SLOT_MACED], pinned[32];
	const char *kid = "testkek://k/v1";
	unsigned len = 32;
	struct hdr h;

	make_hdr(&h, 0);
	fill_seq(dek, sizeof(dek), 0);

	memset(msg, 0, sizeof(msg));
	memcpy(msg, "HSMF", 4);
	msg[5] = 1;                     /* version */
	msg[10] = 0x08;                 /* header length 2048 */
	msg[14] = 0x10;                 /* block size 4096 */
	fill_seq(msg + 16, ID_LEN, 0xa0);
	msg[32 + 3] = 1;                /* gen */
	msg[32 + 4] = 3;                /* alg */
	msg[32 + 5] = (uint8_t)strlen(kid);
	msg[32 + 7] = 64;               /* wrapped length */
	memcpy(msg + 32 + 8, kid, strlen(kid));
	fill_seq(msg + 32 + 264, 64, 0xc0);

	memcpy(ikm, test_vk, KEY_LEN);
	memcpy(ikm + KEY_LEN, dek, KEY_LEN);
	ref_hkdf(ikm, sizeof(ikm), "hsmfs v1 header mac", mk, sizeof(mk));
	HMAC(EVP_sha256(), mk, sizeof(mk), msg, sizeof(msg), mac, &len);

	CHECK_MEM(h.slot[0].mac, mac, 32);
	CHECK_EQ_INT(hex2bin(hdr_mac_hex, pinned, sizeof(pinned)), 32);
	CHECK_MEM(h.slot[0].mac, pinned, 32);
	if (memcmp(h.slot[0].mac, pinned, 32) != 0)
		print_hex("hdr mac", h.slot[0].mac, 32);

	/* The encoded header is exactly that layout plus the MAC. */
	hdr_encode(&h, buf);
	CHECK_MEM(buf, msg, sizeof(msg));
	CHECK_MEM(buf + 32 + HDR_SLOT_MACED, mac, 32);
	for (size_t i = 32 + HDR_SLOT_MACED + 32; i < HDR_LEN; i++)
		if (buf[i]) {
			CHECK(buf[i] == 0);
			break;
		}
}

struct hdr_bad {
	const char *what;
	unsigned off;     /* byte to set */
	int val;          /* value, or -1: xor 0x01 */
	unsigned off2;    /* second byte, 0: none */
	int val2;
	const char *why;  /* substring of the reason */
};

#define S0 32u
#define S1 (32u + HDR_SLOT_LEN)

/* Each structural defect of a header is refused with a reason the
 * operator can act on, before any key is involved. */
static void hdr_rejects_corruption(void)
{
	static const struct hdr_bad bad[] = {
		{ "magic", 0, 'h', 0, 0, "magic" },
		{ "version 2", 5, 2, 0, 0, "version" },
		{ "version 0x101", 4, 1, 0, 0, "version" },
		{ "flags", 7, 1, 0, 0, "flags" },
		{ "flags high", 6, 0x80, 0, 0, "flags" },
		{ "header length", 10, 0x10, 0, 0, "geometry" },
		{ "block size", 14, 0x20, 0, 0, "geometry" },
		{ "alg 0", S0 + 4, 0, 0, 0, "algorithm" },
		{ "alg 4", S0 + 4, 4, 0, 0, "algorithm" },
		{ "alg 255", S0 + 4, 255, 0, 0, "algorithm" },
		{ "kid_len 0", S0 + 5, 0, 0, 0, "key id" },
		{ "kid control byte", S0 + 8 + 3, 0x1f, 0, 0, "key id" },
		{ "kid NUL inside", S0 + 8 + 3, 0, 0, 0, "key id" },
		{ "kid space", S0 + 8 + 3, ' ', 0, 0, "key id" },
		{ "kid DEL", S0 + 8 + 3, 0x7f, 0, 0, "key id" },
		{ "kid high byte", S0 + 8 + 3, 0xc3, 0, 0, "key id" },
		{ "kid padding", S0 + 8 + 14, 'x', 0, 0, "key id" },
		{ "kid padding end", S0 + 8 + 255, 1, 0, 0, "key id" },
		{ "wrapped len 0", S0 + 7, 0, 0, 0, "wrapped" },
		{ "wrapped len 513", S0 + 6, 2, S0 + 7, 1, "wrapped" },
		{ "wrapped len 65535", S0 + 6, 0xff, S0 + 7, 0xff, "wrapped" },
		{ "wrapped padding", S0 + 264 + 64, 1, 0, 0, "wrapped" },
		{ "wrapped padding end", S0 + 264 + 511, 1, 0, 0, "wrapped" },
		{ "reserved", S0 + 808, 1, 0, 0, "reserved" },
		{ "reserved end", S0 + 1007, 1, 0, 0, "reserved" },
		{ "empty slot stray byte", S1 + 500, 1, 0, 0, "empty slot" },
		{ "empty slot stray last", S1 + 1007, 1, 0, 0, "empty slot" },
		{ "empty slot stray mac", S1 + 776, 1, 0, 0, "empty slot" },
		{ "empty slot stray alg", S1 + 4, 3, 0, 0, "empty slot" },
		{ "gen 0 with data", S0 + 3, 0, 0, 0, "empty slot" },
	};
	static uint8_t good[HDR_LEN], buf[HDR_LEN];
	struct hdr h, p;
	const char *why;

	make_hdr(&h, 0);
	hdr_encode(&h, good);
	CHECK(hdr_parse(good, &p) == NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		memcpy(buf, good, HDR_LEN);
		buf[bad[i].off] = (uint8_t)bad[i].val;
		if (bad[i].off2)
			buf[bad[i].off2] = (uint8_t)bad[i].val2;
		/* The only slot in use broken: the header is refused.
		 * The empty slot broken: set aside, the other one serves. */
		why = hdr_parse(buf, &p);
		if (!why)
			why = p.bad[0] ? p.bad[0] : p.bad[1];
		if (!why || !strstr(why, bad[i].why)) {
			fprintf(stderr, "  %s: got %s\n", bad[i].what,
				why ? why : "(accepted)");
			check_failed_now = 1;
		}
	}

	/* All-zero file id. */
	memcpy(buf, good, HDR_LEN);
	memset(buf + 16, 0, ID_LEN);
	why = hdr_parse(buf, &p);
	CHECK(why && strstr(why, "file id"));

	/* No slot in use. */
	memcpy(buf, good, HDR_LEN);
	memset(buf + S0, 0, HDR_SLOT_LEN);
	why = hdr_parse(buf, &p);
	CHECK(why && strstr(why, "no key slot"));

	/* The same defects in slot 1 next to a good slot 0 (a torn rewrap):
	 * slot 1 is set aside, slot 0 still serves; both broken: refused. */
	make_hdr(&h, 1);
	hdr_encode(&h, good);
	CHECK(hdr_parse(good, &p) == NULL);
	CHECK(p.bad[0] == NULL && p.bad[1] == NULL);
	memcpy(buf, good, HDR_LEN);
	buf[S1 + 4] = 9;
	CHECK(hdr_parse(buf, &p) == NULL);
	CHECK(p.bad[1] && strstr(p.bad[1], "algorithm"));
	CHECK(p.slot[1].gen == 0 && p.slot[0].gen != 0);
	memcpy(buf, good, HDR_LEN);
	buf[S1 + 900] = 1;
	CHECK(hdr_parse(buf, &p) == NULL && p.bad[1] != NULL);
	buf[S0 + 4] = 9;
	CHECK(hdr_parse(buf, &p) != NULL);
	/* An all-zero file (a crash before the header was written). */
	memset(buf, 0, HDR_LEN);
	CHECK(hdr_parse(buf, &p) != NULL);
}

/* Nobody without the volume key and the DEK can change any header byte
 * the MAC covers: every single-byte flip is caught, by the parser or by
 * the MAC, and the MAC depends on both keys. */
static void hdr_every_flip_detected(void)
{
	static uint8_t good[HDR_LEN], buf[HDR_LEN];
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };
	uint8_t dek[KEY_LEN], dek2[KEY_LEN], vk2[KEY_LEN];
	unsigned missed = 0;
	struct hdr h, p;

	fill_seq(dek, sizeof(dek), 0);
	make_hdr(&h, 1);
	hdr_encode(&h, good);
	CHECK(hdr_parse(good, &p) == NULL);
	CHECK(hdr_slot_verify(&p, 0, test_vk, dek));

	for (size_t m = 0; m < sizeof(masks); m++) {
		for (unsigned i = 0; i < HDR_FIXED_LEN + HDR_SLOT_MACED; i++) {
			unsigned off = i < HDR_FIXED_LEN ? i : S0 + i -
								HDR_FIXED_LEN;

			memcpy(buf, good, HDR_LEN);
			buf[off] ^= masks[m];
			if (hdr_parse(buf, &p) == NULL &&
			    hdr_slot_verify(&p, 0, test_vk, dek)) {
				fprintf(stderr, "  flip ^%02x at %u accepted\n",
					masks[m], off);
				missed++;
			}
		}
		/* The stored MAC itself. */
		for (unsigned i = 0; i < 32; i++) {
			memcpy(buf, good, HDR_LEN);
			buf[S0 + HDR_SLOT_MACED + i] ^= masks[m];
			CHECK(hdr_parse(buf, &p) == NULL);
			if (hdr_slot_verify(&p, 0, test_vk, dek))
				missed++;
		}
	}
	CHECK_EQ_INT(missed, 0);

	/* A slot is bound to its volume key and its DEK. */
	CHECK(hdr_parse(good, &p) == NULL);
	memcpy(vk2, test_vk, KEY_LEN);
	vk2[31] ^= 1;
	memcpy(dek2, dek, KEY_LEN);
	dek2[0] ^= 1;
	CHECK(!hdr_slot_verify(&p, 0, vk2, dek));
	CHECK(!hdr_slot_verify(&p, 0, test_vk, dek2));
	/* Slot 1's MAC does not verify as slot 0's and vice versa. */
	memcpy(&p.slot[0].mac, h.slot[1].mac, 32);
	CHECK(!hdr_slot_verify(&p, 0, test_vk, dek));
}

/* Reads pick the newest slot; a rewrap overwrites the older one, never
 * the slot currently in use. */
static void hdr_slot_choice(void)
{
	static const struct {
		uint32_t g0, g1;
		int n, first, spare;
	} v[] = {
		{ 0, 0, 0, -1, 0 }, { 1, 0, 1, 0, 1 }, { 0, 1, 1, 1, 0 },
		{ 3, 2, 2, 0, 1 },  { 2, 3, 2, 1, 0 },
	};
	struct hdr h;
	int order[HDR_SLOTS];

	for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++) {
		memset(&h, 0, sizeof(h));
		h.slot[0].gen = v[i].g0;
		h.slot[1].gen = v[i].g1;
		order[0] = order[1] = -1;
		CHECK_EQ_INT(hdr_slot_order(&h, order), v[i].n);
		if (v[i].n > 0)
			CHECK_EQ_INT(order[0], v[i].first);
		if (v[i].n == 2)
			CHECK_EQ_INT(order[1], 1 - v[i].first);
		CHECK_EQ_INT(hdr_spare_slot(&h), v[i].spare);
	}
}

/* An unwrapped key is only used if the KEK returned the record for this
 * very file (or volume); a mismatch is refused and the plaintext record
 * is wiped either way. */
static void rec_binding(void)
{
	uint8_t id[ID_LEN], key[KEY_LEN], out[KEY_LEN], rec[REC_LEN + 1];
	uint8_t zero[REC_LEN + 1] = { 0 };
	uint8_t other[ID_LEN];

	fill_seq(id, sizeof(id), 0xa0);
	fill_seq(key, sizeof(key), 0x30);
	memcpy(other, id, ID_LEN);
	other[15] ^= 1;

	rec_pack(REC_MAGIC_DEK, id, key, rec);
	CHECK_MEM(rec, "HSMFSDK1", 8);
	CHECK_MEM(rec + 8, id, ID_LEN);
	CHECK_MEM(rec + 24, key, KEY_LEN);
	memset(out, 0, sizeof(out));
	CHECK_EQ_INT(rec_unpack(rec, REC_LEN, REC_MAGIC_DEK, id, out), 0);
	CHECK_MEM(out, key, KEY_LEN);
	CHECK_MEM(rec, zero, REC_LEN);

	/* A volume-key record is not a DEK record. */
	rec_pack(REC_MAGIC_VK, id, key, rec);
	memset(out, 0, sizeof(out));
	CHECK_EQ_INT(rec_unpack(rec, REC_LEN, REC_MAGIC_DEK, id, out), -1);
	CHECK_MEM(rec, zero, REC_LEN);
	CHECK(memcmp(out, key, KEY_LEN) != 0);

	rec_pack(REC_MAGIC_DEK, id, key, rec);
	CHECK_EQ_INT(rec_unpack(rec, REC_LEN, REC_MAGIC_DEK, other, out), -1);
	CHECK_MEM(rec, zero, REC_LEN);
	CHECK(memcmp(out, key, KEY_LEN) != 0);

	rec_pack(REC_MAGIC_DEK, id, key, rec);
	CHECK_EQ_INT(rec_unpack(rec, REC_LEN - 1, REC_MAGIC_DEK, id, out), -1);
	CHECK_MEM(rec, zero, REC_LEN - 1);
	CHECK(memcmp(out, key, KEY_LEN) != 0);

	rec_pack(REC_MAGIC_DEK, id, key, rec);
	rec[REC_LEN] = 0x55;
	CHECK_EQ_INT(rec_unpack(rec, REC_LEN + 1, REC_MAGIC_DEK, id, out), -1);
	CHECK_MEM(rec, zero, REC_LEN + 1);
	CHECK(memcmp(out, key, KEY_LEN) != 0);
}

/* ---- names --------------------------------------------------------- */

static struct names_keys *test_names_keys(void)
{
	return names_keys_new(test_vk);
}

static const uint8_t dir_a[DIRIV_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8,
					  9, 10, 11, 12, 13, 14, 15, 16 };
static const uint8_t dir_b[DIRIV_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8,
					  9, 10, 11, 12, 13, 14, 15, 17 };

static int is_b64url(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '_'))
			return 0;
	return 1;
}

/* Encrypts and decrypts name in dir_a; returns the encoded length. */
static int name_rt(const struct names_keys *k, const char *name, size_t len)
{
	char enc[NAME_ENC_MAX], again[NAME_ENC_MAX], dec[256];
	int n = names_encrypt(k, dir_a, name, len, enc);

	if (n < 0) {
		fprintf(stderr, "  names_encrypt(%zu bytes) failed\n", len);
		check_failed_now = 1;
		return -1;
	}
	CHECK_EQ_INT(strlen(enc), n);
	CHECK(is_b64url(enc, (size_t)n)); /* no '/', no NUL, no '.' */
	CHECK(n < NAME_ENC_MAX);
	/* Deterministic: lookup of the same name finds the same entry. */
	CHECK_EQ_INT(names_encrypt(k, dir_a, name, len, again), n);
	CHECK(strcmp(enc, again) == 0);
	memset(dec, 0x5a, sizeof(dec));
	CHECK_EQ_INT(names_decrypt(k, dir_a, enc, (size_t)n, dec), len);
	CHECK_MEM(dec, name, len);
	CHECK_EQ_INT(dec[len], '\0');
	return n;
}

/* Expected encoded length: base64url(16-byte tag || PKCS#7-padded name). */
static size_t enc_len_for(size_t len)
{
	return B64_ENC_LEN(16 + (len / 16 + 1) * 16);
}

/* Every legal file name survives a trip through the directory, on both
 * sides of the point where the encoded name needs a long-name sidecar. */
static void names_roundtrip(void)
{
	static const size_t lens[] = { 1, 2, 15, 16, 143, 144, 159, 160,
				       175, 176, 254, 255 };
	struct names_keys *k = test_names_keys();
	char name[257];
	size_t thr = 0;
	int n;

	CHECK(k != NULL);
	if (!k)
		return;
	for (size_t i = 0; i < sizeof(lens) / sizeof(*lens); i++) {
		for (size_t j = 0; j < lens[i]; j++)
			name[j] = (char)('a' + j % 26);
		n = name_rt(k, name, lens[i]);
		CHECK_EQ_INT(n, enc_len_for(lens[i]));
	}
	/* The threshold: the first name length whose encoding exceeds 255
	 * bytes (NAME_MAX) and so needs hsmfs.longname. */
	for (size_t len = 1; len <= 255; len++)
		if (enc_len_for(len) > 255) {
			thr = len;
			break;
		}
	CHECK_EQ_INT(thr, 160);
	memset(name, 'q', sizeof(name));
	CHECK(name_rt(k, name, thr - 1) <= 255);
	CHECK(name_rt(k, name, thr) > 255);

	/* 256 bytes is over NAME_MAX; 0 bytes is no name. */
	{
		char enc[NAME_ENC_MAX];

		CHECK_EQ_INT(names_encrypt(k, dir_a, name, 256, enc), -1);
		CHECK_EQ_INT(names_encrypt(k, dir_a, name, 0, enc), -1);
	}
	names_keys_free(k);
}

/* Names are bytes: UTF-8, control bytes, 0xff, newlines and spaces all
 * come back exactly. */
static void names_any_bytes(void)
{
	static const char *const v[] = {
		"\xc3\xa9\xe6\xbc\xa2\xe5\xad\x97\xf0\x9f\x99\x82",
		"\x01", "\x7f", "\xff", "\n", " ", "  two  spaces ",
		"line\nbreak", "tab\there", "...", ".a", "..b", "-", "_",
		"hsmfs.conf", "hsmfs.diriv", "a\xff\xfe\x80z",
	};
	struct names_keys *k = test_names_keys();

	CHECK(k != NULL);
	if (!k)
		return;
	for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++)
		name_rt(k, v[i], strlen(v[i]));
	names_keys_free(k);
}

/* "." and ".." can never be smuggled in as encrypted entries; names
 * holding '/' or NUL are not even encrypted. */
static void names_reject_special(void)
{
	static const char *const v[] = { ".", "..", "a/b", "/" };
	struct names_keys *k = test_names_keys();
	char enc[NAME_ENC_MAX], dec[256];
	int n;

	CHECK(k != NULL);
	if (!k)
		return;
	for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++) {
		n = names_encrypt(k, dir_a, v[i], strlen(v[i]), enc);
		if (i >= 2)
			CHECK_EQ_INT(n, -1);
		if (n >= 0)
			CHECK_EQ_INT(names_decrypt(k, dir_a, enc, (size_t)n,
						   dec), -1);
	}
	CHECK_EQ_INT(names_encrypt(k, dir_a, "a\0b", 3, enc), -1);
	names_keys_free(k);
}

/* An entry is bound to its directory: the same name elsewhere encrypts
 * differently (no cross-directory correlation), and moving an encrypted
 * entry into another directory does not make it readable there. */
static void names_bound_to_dir(void)
{
	struct names_keys *k = test_names_keys();
	struct names_keys *k2;
	char ea[NAME_ENC_MAX], eb[NAME_ENC_MAX], dec[256];
	uint8_t vk2[KEY_LEN];
	int na, nb;

	memcpy(vk2, test_vk, KEY_LEN);
	vk2[0] ^= 0x80;
	k2 = names_keys_new(vk2);
	CHECK(k && k2);
	if (!k || !k2)
		goto out;
	na = names_encrypt(k, dir_a, "report.txt", 10, ea);
	nb = names_encrypt(k, dir_b, "report.txt", 10, eb);
	CHECK(na > 0 && na == nb);
	CHECK(strcmp(ea, eb) != 0);
	CHECK_EQ_INT(names_decrypt(k, dir_b, ea, (size_t)na, dec), -1);
	CHECK_EQ_INT(names_decrypt(k, dir_a, eb, (size_t)nb, dec), -1);
	CHECK_EQ_INT(names_decrypt(k, dir_a, ea, (size_t)na, dec), 10);
	/* Another volume's key cannot read it either. */
	CHECK_EQ_INT(names_decrypt(k2, dir_a, ea, (size_t)na, dec), -1);
out:
	names_keys_free(k);
	names_keys_free(k2);
}

/* Any edit of an encrypted name in the backing directory is detected:
 * every single-character substitution, truncation or extension fails. */
static void names_tamper(void)
{
	static const char alpha[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789-_";
	struct names_keys *k = test_names_keys();
	char enc[NAME_ENC_MAX + 8], t[NAME_ENC_MAX + 8], dec[256];
	unsigned accepted = 0;
	int n;

	CHECK(k != NULL);
	if (!k)
		return;
	n = names_encrypt(k, dir_a, "quarterly-results.ods", 21, enc);
	CHECK(n > 0);
	if (n <= 0)
		goto out;
	for (int i = 0; i < n; i++) {
		for (size_t a = 0; a < sizeof(alpha) - 1; a++) {
			if (alpha[a] == enc[i])
				continue;
			memcpy(t, enc, (size_t)n + 1);
			t[i] = alpha[a];
			if (names_decrypt(k, dir_a, t, (size_t)n, dec) >= 0)
				accepted++;
		}
	}
	CHECK_EQ_INT(accepted, 0);

	/* Characters outside base64url, and '=' padding. */
	{
		static const char bad[] = "+/=.~ \n\x80";

		for (size_t b = 0; b < sizeof(bad) - 1; b++) {
			memcpy(t, enc, (size_t)n + 1);
			t[n / 2] = bad[b];
			CHECK_EQ_INT(names_decrypt(k, dir_a, t, (size_t)n, dec),
				     -1);
		}
		memcpy(t, enc, (size_t)n);
		memcpy(t + n, "==", 3);
		CHECK_EQ_INT(names_decrypt(k, dir_a, t, (size_t)n + 2, dec), -1);
		memcpy(t + n, "=", 2);
		CHECK_EQ_INT(names_decrypt(k, dir_a, t, (size_t)n + 1, dec), -1);
	}
	/* Wrong lengths: every truncation, and extensions. */
	for (int len = 0; len < n; len++)
		if (names_decrypt(k, dir_a, enc, (size_t)len, dec) >= 0)
			accepted++;
	memcpy(t, enc, (size_t)n);
	memcpy(t + n, "AAAAAAAA", 9);
	for (int extra = 1; extra <= 8; extra++)
		if (names_decrypt(k, dir_a, t, (size_t)(n + extra), dec) >= 0)
			accepted++;
	CHECK_EQ_INT(accepted, 0);
	/* Not base64url of anything SIV made. */
	CHECK_EQ_INT(names_decrypt(k, dir_a, "", 0, dec), -1);
	CHECK_EQ_INT(names_decrypt(k, dir_a, "hsmfs.conf", 10, dec), -1);
out:
	names_keys_free(k);
}

/* Encoded names too long for the backing filesystem map to a fixed-size
 * "hsmfs.longname.<hash>" entry with a ".name" sidecar, and the two kinds
 * of entry are told apart from each other and from normal names. */
static void names_long_names(void)
{
	char a[LONG_NAME_LEN + 1], b[LONG_NAME_LEN + 1];
	char side[LONG_NAME_LEN + sizeof(LONG_SUFFIX) + 1];
	char expect[LONG_NAME_LEN + 1];
	uint8_t h[32];
	char enc[300];

	memset(enc, 'Q', sizeof(enc));
	names_long(enc, 256, a);
	CHECK_EQ_INT(strlen(a), LONG_NAME_LEN);
	CHECK_EQ_INT(LONG_NAME_LEN, 58);
	SHA256((const uint8_t *)enc, 256, h);
	memcpy(expect, "hsmfs.longname.", 15);
	b64url_encode(h, sizeof(h), expect + 15);
	CHECK(strcmp(a, expect) == 0);
	CHECK(is_b64url(a + 15, 43));
	CHECK(names_is_long(a));
	CHECK(!names_is_sidecar(a));

	enc[100] = 'R';
	names_long(enc, 256, b);
	CHECK(strcmp(a, b) != 0);
	names_long(enc, 257, b);
	CHECK(strcmp(a, b) != 0);

	snprintf(side, sizeof(side), "%s%s", a, LONG_SUFFIX);
	CHECK(names_is_sidecar(side));
	CHECK(!names_is_long(side));

	CHECK(!names_is_long("hsmfs.longname."));
	CHECK(!names_is_long("hsmfs.longname.abc"));
	CHECK(!names_is_long("hsmfs.conf"));
	CHECK(!names_is_long("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	CHECK(!names_is_sidecar("hsmfs.longname.abc.name"));
	side[strlen(side) - 1] = 'x';
	CHECK(!names_is_sidecar(side));
	snprintf(side, sizeof(side), "%s.nam", a);
	CHECK(!names_is_sidecar(side));
}

/* Symlink targets of any legal length read back exactly, stat() reports
 * their plaintext length without a key, and tampering is detected. */
static void names_symlinks(void)
{
	static const size_t lens[] = { 1, 2, 100, 1000, SYMLINK_MAX };
	static char target[SYMLINK_MAX + 2], enc[8192], dec[SYMLINK_MAX + 1];
	struct names_keys *k = test_names_keys();
	unsigned wrong = 0, accepted = 0;
	int n;

	CHECK(k != NULL);
	if (!k)
		return;
	for (size_t i = 0; i < sizeof(target); i++)
		target[i] = (char)(i % 3 ? '/' : 'a' + i % 26);
	for (size_t i = 0; i < sizeof(lens) / sizeof(*lens); i++) {
		n = names_symlink_encrypt(k, target, lens[i], enc, sizeof(enc));
		CHECK(n > 0);
		if (n <= 0)
			continue;
		CHECK_EQ_INT(strlen(enc), n);
		CHECK(is_b64url(enc, (size_t)n));
		CHECK_EQ_INT(names_symlink_plain_len((size_t)n), lens[i]);
		memset(dec, 0x5a, sizeof(dec));
		CHECK_EQ_INT(names_symlink_decrypt(k, enc, (size_t)n, dec,
						   sizeof(dec)), lens[i]);
		CHECK_MEM(dec, target, lens[i]);
		CHECK_EQ_INT(dec[lens[i]], '\0');
	}
	CHECK_EQ_INT(names_symlink_encrypt(k, target, SYMLINK_MAX + 1, enc,
					   sizeof(enc)), -1);
	CHECK_EQ_INT(names_symlink_encrypt(k, target, 0, enc, sizeof(enc)),
		     -1);
	/* Too small an output buffer is refused, not overrun. */
	CHECK_EQ_INT(names_symlink_encrypt(k, target, 100, enc, 50), -1);

	for (size_t len = 1; len <= 300; len++) {
		n = names_symlink_encrypt(k, target, len, enc, sizeof(enc));
		if (n <= 0 || names_symlink_plain_len((size_t)n) != (ssize_t)len)
			wrong++;
	}
	CHECK_EQ_INT(wrong, 0);
	/* Lengths no encrypted target can have: impossible base64 lengths,
	 * and those too short to hold more than nonce and tag. */
	CHECK_EQ_INT(names_symlink_plain_len(0), -1);
	CHECK_EQ_INT(names_symlink_plain_len(1), -1);
	CHECK_EQ_INT(names_symlink_plain_len(37), -1);
	CHECK_EQ_INT(names_symlink_plain_len(38), -1); /* 28 bytes: empty */
	CHECK_EQ_INT(names_symlink_plain_len(39), 1);
	CHECK_EQ_INT(names_symlink_plain_len(41), -1);

	/* Tampering: every character of a short target's encoding. */
	n = names_symlink_encrypt(k, "../shared/data", 14, enc, sizeof(enc));
	CHECK(n > 0);
	for (int i = 0; i < n; i++) {
		char c = enc[i];

		enc[i] = c == 'A' ? 'B' : 'A';
		if (names_symlink_decrypt(k, enc, (size_t)n, dec,
					  sizeof(dec)) >= 0)
			accepted++;
		enc[i] = c;
	}
	CHECK_EQ_INT(accepted, 0);
	CHECK_EQ_INT(names_symlink_decrypt(k, enc, (size_t)n - 4, dec,
					   sizeof(dec)), -1);
	/* An output buffer too small for the target is refused. */
	CHECK_EQ_INT(names_symlink_decrypt(k, enc, (size_t)n, dec, 14), -1);
	CHECK_EQ_INT(names_symlink_decrypt(k, enc, (size_t)n, dec, 15), 14);
	CHECK(strcmp(dec, "../shared/data") == 0);
	/* A target is not a name: it does not decrypt as one. */
	CHECK_EQ_INT(names_decrypt(k, dir_a, enc, (size_t)n, dec), -1);
	names_keys_free(k);
}

/* user.* xattr names and values round trip; a value is bound to its
 * (encrypted) name, so values cannot be swapped between attributes. */
static void names_xattrs(void)
{
	static const size_t vlens[] = { 0, 1, 4000 };
	static uint8_t val[4000], ct[4000 + XATTR_VAL_OVERHEAD], back[4000];
	struct names_keys *k = test_names_keys();
	char ea[512], eb[512], dec[512];
	int na, nb;

	CHECK(k != NULL);
	if (!k)
		return;
	na = names_xattr_name(k, "user.mime_type", ea, sizeof(ea));
	nb = names_xattr_name(k, "user.comment", eb, sizeof(eb));
	CHECK(na > 5 && nb > 5);
	CHECK_EQ_INT(strlen(ea), na);
	CHECK(strncmp(ea, "user.", 5) == 0);
	CHECK(is_b64url(ea + 5, (size_t)na - 5));
	CHECK_EQ_INT(names_xattr_name_dec(k, ea, dec, sizeof(dec)), 14);
	CHECK(strcmp(dec, "user.mime_type") == 0);
	CHECK_EQ_INT(names_xattr_name_dec(k, eb, dec, sizeof(dec)), 12);
	CHECK(strcmp(dec, "user.comment") == 0);
	/* Only the user namespace is encrypted; the rest is refused. */
	CHECK_EQ_INT(names_xattr_name(k, "trusted.x", dec, sizeof(dec)), -1);
	CHECK_EQ_INT(names_xattr_name(k, "user.", dec, sizeof(dec)), -1);
	CHECK_EQ_INT(names_xattr_name_dec(k, "trusted.x", dec, sizeof(dec)),
		     -1);
	/* An xattr name is not a file name (different key). */
	CHECK_EQ_INT(names_decrypt(k, dir_a, ea + 5, (size_t)na - 5, dec), -1);

	for (size_t i = 0; i < sizeof(val); i++)
		val[i] = (uint8_t)(i * 13 + 1);
	for (size_t i = 0; i < sizeof(vlens) / sizeof(*vlens); i++) {
		size_t n = vlens[i], cn = n + XATTR_VAL_OVERHEAD;

		CHECK_EQ_INT(names_xattr_val_enc(k, ea, val, n, ct), 0);
		memset(back, 0x5a, sizeof(back));
		CHECK_EQ_INT(names_xattr_val_dec(k, ea, ct, cn, back), n);
		CHECK_MEM(back, val, n);
		CHECK_EQ_INT(names_xattr_val_dec(k, eb, ct, cn, back), -1);
		if (n)
			CHECK_EQ_INT(same_bytes(back, val, n) == n, 0);
		ct[cn - 1] ^= 1;
		CHECK_EQ_INT(names_xattr_val_dec(k, ea, ct, cn, back), -1);
		CHECK_EQ_INT(names_xattr_val_dec(k, ea, ct, cn - 1, back), -1);
	}
	CHECK_EQ_INT(names_xattr_val_dec(k, ea, ct, XATTR_VAL_OVERHEAD - 1,
					 back), -1);
	CHECK_EQ_INT(names_xattr_val_dec(k, ea, ct, 0, back), -1);
	names_keys_free(k);
}

/* ---- volume config ------------------------------------------------- */

static void make_conf(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	c->format = CONF_FORMAT;
	snprintf(c->creator, sizeof(c->creator), "hsmfs 1.0");
	fill_seq(c->volume_id, ID_LEN, 0x60);
	c->features = FEAT_ENCRYPTED_NAMES | FEAT_LONG_NAMES;
	snprintf(c->kek, sizeof(c->kek), "testkek://k");
	make_slot(&c->vk, 1, "testkek://k/v1", 64, 0xc0);
	conf_seal(c, test_vk);
}

static int conf_same(const struct conf *a, const struct conf *b)
{
	return strcmp(a->creator, b->creator) == 0 &&
	       memcmp(a->volume_id, b->volume_id, ID_LEN) == 0 &&
	       a->features == b->features && strcmp(a->kek, b->kek) == 0 &&
	       a->vk.alg == b->vk.alg && strcmp(a->vk.kid, b->vk.kid) == 0 &&
	       a->vk.wlen == b->vk.wlen &&
	       memcmp(a->vk.wrapped, b->vk.wrapped, a->vk.wlen) == 0 &&
	       memcmp(a->mac, b->mac, 32) == 0;
}

/* The config written at init is read back field for field at mount and
 * verifies under the volume key, and only under it. */
static void conf_roundtrip(void)
{
	struct conf c, p;
	uint8_t vk2[KEY_LEN];
	char *json;

	make_conf(&c);
	CHECK(conf_verify(&c, test_vk));
	json = conf_serialize(&c);
	CHECK(json != NULL);
	if (!json)
		return;
	CHECK(conf_parse(json, strlen(json), &p) == NULL);
	CHECK(conf_same(&c, &p));
	CHECK(conf_verify(&p, test_vk));
	memcpy(vk2, test_vk, KEY_LEN);
	vk2[5] ^= 4;
	CHECK(!conf_verify(&p, vk2));
	free(json);

	/* The other names mode. */
	c.features = FEAT_PLAINTEXT_NAMES;
	conf_seal(&c, test_vk);
	json = conf_serialize(&c);
	CHECK(json && conf_parse(json, strlen(json), &p) == NULL);
	CHECK(conf_same(&c, &p));
	CHECK(conf_verify(&p, test_vk));
	free(json);
}

/* Replaces (or with val NULL, removes) root[key] or root[key][sub] of a
 * serialized config and parses the result. */
static const char *conf_edit(const char *json, const char *key,
			     const char *sub, const char *val,
			     struct conf *out)
{
	cJSON *root = cJSON_Parse(json), *obj = root, *v;
	const char *why;
	char *s;

	if (sub)
		obj = cJSON_GetObjectItemCaseSensitive(root, key);
	if (!obj)
		return "(test: no such object)";
	if (sub)
		key = sub;
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	if (val) {
		v = cJSON_Parse(val);
		if (!v) {
			cJSON_Delete(root);
			return "(test: bad JSON value)";
		}
		cJSON_AddItemToObject(obj, key, v);
	}
	s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!s)
		return "(test: print failed)";
	why = conf_parse(s, strlen(s), out);
	free(s);
	return why;
}

/* A config hsmfs does not fully understand is refused with a reason, not
 * half-used: unknown fields and flags, other formats, missing or
 * malformed fields. */
static void conf_rejects(void)
{
	static const struct {
		const char *key, *sub, *val, *why;
	} bad[] = {
		{ "compression", NULL, "\"zstd\"", "unknown field" },
		{ "Format", NULL, "1", "unknown field" },
		{ "features", NULL, "[\"encrypted-names\",\"zstd\"]",
		  "unknown feature" },
		{ "features", NULL, "[\"encrypted-names\",\"plaintext-names\"]",
		  "exactly one" },
		{ "features", NULL, "[\"long-names\"]", "exactly one" },
		{ "features", NULL, "[]", "exactly one" },
		{ "features", NULL, "[\"encrypted-names\",\"encrypted-names\"]",
		  "duplicate" },
		{ "features", NULL, "[1]", "not a string" },
		{ "features", NULL, "\"encrypted-names\"", "features" },
		{ "format", NULL, "3", "format" },
		{ "format", NULL, "0", "format" },
		{ "format", NULL, "1.5", "format" },
		{ "format", NULL, "\"1\"", "format" },
		{ "creator", NULL, NULL, "missing" },
		{ "format", NULL, NULL, "format" },
		{ "volume_id", NULL, NULL, "missing" },
		{ "features", NULL, NULL, "features" },
		{ "kek", NULL, NULL, "missing" },
		{ "volume_key", NULL, NULL, "volume_key" },
		{ "mac", NULL, NULL, "missing" },
		{ "volume_key", "alg", NULL, "missing" },
		{ "volume_key", "kid", NULL, "missing" },
		{ "volume_key", "wrapped", NULL, "missing" },
		{ "volume_key", "alg", "\"AES-GCM\"", "algorithm" },
		{ "volume_key", "alg", "\"none\"", "algorithm" },
		{ "volume_key", "alg", "3", "missing" },
		{ "volume_key", "wrapped", "\"\"", "base64" },
		{ "volume_key", "wrapped", "\"AA+A\"", "base64" },
		{ "volume_key", "future", "1", "unknown field" },
		{ "volume_key", "kid", "\"testkek://k/v1\\nforged log line\"",
		  "key id" },
		{ "volume_key", "kid", "\"with space\"", "key id" },
		{ "volume_id", NULL, "\"YGFiY2RlZmdoaWprbG1ubw\"", NULL },
		/* 15 and 17 bytes */
		{ "volume_id", NULL, "\"YGFiY2RlZmdoaWprbG1u\"", "base64" },
		{ "volume_id", NULL, "\"YGFiY2RlZmdoaWprbG1ub3A\"", "base64" },
		{ "volume_id", NULL, "\"YGFiY2RlZmdoaWprbG1ub+\"", "base64" },
		{ "volume_id", NULL, "\"YGFiY2RlZmdoaWprbG1ubw==\"", "base64" },
		{ "volume_id", NULL, "\"YGFiY2RlZmdoaWprbG1ubx\"", "base64" },
		{ "volume_id", NULL, "7", "missing" },
		{ "mac", NULL, "\"AAAA\"", "base64" },
		{ "creator", NULL,
		  "\"0123456789012345678901234567890123456789"
		  "012345678901234567890123\"", "too long" },
		{ "creator", NULL, "null", "missing" },
	};
	struct conf c, p;
	const char *why;
	char *json;

	make_conf(&c);
	json = conf_serialize(&c);
	CHECK(json != NULL);
	if (!json)
		return;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		why = conf_edit(json, bad[i].key, bad[i].sub, bad[i].val, &p);
		if (!bad[i].why) { /* a control: the edit itself is fine */
			if (why) {
				fprintf(stderr, "  control %s: %s\n", bad[i].key,
					why);
				check_failed_now = 1;
			}
			continue;
		}
		if (!why || !strstr(why, bad[i].why)) {
			fprintf(stderr, "  %s%s%s = %s: got %s\n", bad[i].key,
				bad[i].sub ? "." : "",
				bad[i].sub ? bad[i].sub : "",
				bad[i].val ? bad[i].val : "(removed)",
				why ? why : "(accepted)");
			check_failed_now = 1;
		}
	}

	/* Not JSON at all, or not an object. */
	why = conf_parse("hello", 5, &p);
	CHECK(why && strstr(why, "JSON"));
	why = conf_parse("[1,2]", 5, &p);
	CHECK(why != NULL);
	why = conf_parse("", 0, &p);
	CHECK(why != NULL);
	/* Valid JSON cut short. */
	why = conf_parse(json, strlen(json) / 2, &p);
	CHECK(why != NULL);
	/* A kek URL longer than any kid. */
	{
		char big[400];

		memset(big, 'k', sizeof(big));
		big[0] = '"';
		big[300] = '"';
		big[301] = '\0';
		why = conf_edit(json, "kek", NULL, big, &p);
		CHECK(why && strstr(why, "too long"));
		why = conf_edit(json, "volume_key", "kid", big, &p);
		CHECK(why && strstr(why, "too long"));
	}
	free(json);
}

/* Edits that keep the config well-formed still do not get past the MAC:
 * nobody without the volume key can point a volume at another KEK, swap
 * its wrapped key, or change its features. */
static void conf_mac_covers_all(void)
{
	static const struct {
		const char *key, *sub, *val;
	} edits[] = {
		{ "kek", NULL, "\"testkek://evil\"" },
		{ "kek", NULL, "\"testkek://k/\"" },
		{ "volume_key", "kid", "\"testkek://k/v2\"" },
		{ "volume_key", "alg", "\"A256KW\"" },
		/* a prefix of the real wrapped key */
		{ "volume_key", "wrapped", "\"wMHCw8TF\"" },
		{ "volume_key", "wrapped", "\"AAAA\"" },
		{ "creator", NULL, "\"hsmfs 1.1\"" },
		{ "creator", NULL, "\"\"" },
		{ "features", NULL, "[\"encrypted-names\"]" },
		{ "features", NULL, "[\"plaintext-names\",\"long-names\"]" },
		{ "volume_id", NULL, "\"YGFiY2RlZmdoaWprbG1ucA\"" },
		{ "mac", NULL,
		  "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"" },
	};
	struct conf c, p;
	const char *why;
	char *json;

	make_conf(&c);
	json = conf_serialize(&c);
	CHECK(json != NULL);
	if (!json)
		return;
	CHECK(conf_parse(json, strlen(json), &p) == NULL && conf_verify(&p,
								       test_vk));
	for (size_t i = 0; i < sizeof(edits) / sizeof(*edits); i++) {
		why = conf_edit(json, edits[i].key, edits[i].sub, edits[i].val,
				&p);
		if (why) {
			fprintf(stderr, "  %s: parse failed: %s\n",
				edits[i].val, why);
			check_failed_now = 1;
			continue;
		}
		if (conf_verify(&p, test_vk)) {
			fprintf(stderr, "  %s%s%s = %s: MAC still verifies\n",
				edits[i].key, edits[i].sub ? "." : "",
				edits[i].sub ? edits[i].sub : "", edits[i].val);
			check_failed_now = 1;
		}
	}
	/* And one flipped bit of the MAC itself. */
	CHECK(conf_parse(json, strlen(json), &p) == NULL);
	p.mac[31] ^= 1;
	CHECK(!conf_verify(&p, test_vk));
	free(json);

	/* One bit of the wrapped volume key, or of the volume id. */
	make_conf(&c);
	c.vk.wrapped[10] ^= 1;
	json = conf_serialize(&c);
	CHECK(json && conf_parse(json, strlen(json), &p) == NULL);
	CHECK(!conf_verify(&p, test_vk));
	free(json);
	make_conf(&c);
	c.volume_id[0] ^= 1;
	json = conf_serialize(&c);
	CHECK(json && conf_parse(json, strlen(json), &p) == NULL);
	CHECK(!conf_verify(&p, test_vk));
	free(json);
}

/* A config of at most 64 KiB is read; anything larger is refused before
 * it is parsed. */
static void conf_size_limit(void)
{
	char *big = malloc(CONF_MAX_BYTES + 2), *json;
	struct conf c, p;
	size_t n;

	CHECK(big != NULL);
	make_conf(&c);
	json = conf_serialize(&c);
	CHECK(json != NULL);
	if (!big || !json)
		goto out;
	n = strlen(json);
	memset(big, ' ', CONF_MAX_BYTES + 1);
	memcpy(big, json, n);
	CHECK(conf_parse(big, CONF_MAX_BYTES, &p) == NULL);
	CHECK(conf_verify(&p, test_vk));
	CHECK(strstr(conf_parse(big, CONF_MAX_BYTES + 1, &p) ?: "",
		     "too large") != NULL);
out:
	free(big);
	free(json);
}

/* init stores the config atomically and mount loads the same config
 * back; a missing or oversized file is reported as such. */
static void conf_store_load(void)
{
	char dir[] = "/tmp/hsmfs-conf-XXXXXX", path[64];
	struct conf c, p;
	const char *why;
	int dfd, fd;

	CHECK(mkdtemp(dir) != NULL);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 0);
	if (dfd < 0)
		return;
	why = conf_load(dfd, &p);
	CHECK(why && strstr(why, "no hsmfs.conf"));

	make_conf(&c);
	CHECK_EQ_INT(conf_store(dfd, &c), 0);
	CHECK(conf_load(dfd, &p) == NULL);
	CHECK(conf_same(&c, &p));
	CHECK(conf_verify(&p, test_vk));
	/* Stored again (a rewrap of the volume key) replaces it. */
	make_slot(&c.vk, 1, "testkek://k/v2", 72, 0x01);
	conf_seal(&c, test_vk);
	CHECK_EQ_INT(conf_store(dfd, &c), 0);
	CHECK(conf_load(dfd, &p) == NULL);
	CHECK(conf_same(&c, &p));
	CHECK(conf_verify(&p, test_vk));
	CHECK(faccessat(dfd, "hsmfs.conf.tmp", F_OK, 0) != 0);

	/* Oversized file. */
	snprintf(path, sizeof(path), "%s/hsmfs.conf", dir);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(ftruncate(fd, CONF_MAX_BYTES + 1) == 0);
		close(fd);
	}
	why = conf_load(dfd, &p);
	CHECK(why && strstr(why, "too large"));
	unlink(path);
	close(dfd);
	rmdir(dir);
}

/* ---- base64url ----------------------------------------------------- */

/* Names and config fields use RFC 4648 base64url without padding; the
 * strict decoder accepts exactly one spelling of each byte string. */
static void b64_vectors(void)
{
	static const char *const v[][2] = {
		{ "", "" },          { "f", "Zg" },         { "fo", "Zm8" },
		{ "foo", "Zm9v" },   { "foob", "Zm9vYg" },  { "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" },
	};
	static const uint8_t hi[] = { 0xfb, 0xff, 0xbf };
	char enc[32];
	uint8_t dec[32];

	for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++) {
		size_t n = strlen(v[i][0]);

		memset(enc, 'x', sizeof(enc));
		b64url_encode((const uint8_t *)v[i][0], n, enc);
		CHECK(strcmp(enc, v[i][1]) == 0);
		CHECK_EQ_INT(B64_ENC_LEN(n), strlen(v[i][1]));
		CHECK_EQ_INT(b64url_decode(v[i][1], strlen(v[i][1]), dec,
					   sizeof(dec)), n);
		CHECK_MEM(dec, v[i][0], n);
		CHECK_EQ_INT(b64_decode_any(v[i][1], strlen(v[i][1]), dec,
					    sizeof(dec)), n);
		CHECK_MEM(dec, v[i][0], n);
	}
	/* The URL alphabet's two special characters. */
	b64url_encode(hi, sizeof(hi), enc);
	CHECK(strcmp(enc, "-_-_") == 0);
	CHECK_EQ_INT(b64url_decode("-_-_", 4, dec, sizeof(dec)), 3);
	CHECK_MEM(dec, hi, 3);

	/* Strict: no padding, no standard alphabet, no impossible length,
	 * no set trailing bits, nothing past cap. */
	CHECK_EQ_INT(b64url_decode("Zg==", 4, dec, sizeof(dec)), -1);
	CHECK_EQ_INT(b64url_decode("Zm8=", 4, dec, sizeof(dec)), -1);
	CHECK_EQ_INT(b64url_decode("+/+/", 4, dec, sizeof(dec)), -1);
	CHECK_EQ_INT(b64url_decode("ab+c", 4, dec, sizeof(dec)), -1);
	CHECK_EQ_INT(b64url_decode("ab/c", 4, dec, sizeof(dec)), -1);
	CHECK_EQ_INT(b64url_decode("Zm9vY", 5, dec, sizeof(dec)), -1);
	CHECK_EQ_INT(b64url_decode("Z", 1, dec, sizeof(dec)), -1);
	CHECK_EQ_INT(b64url_decode("Zh", 2, dec, sizeof(dec)), -1);
	CHECK_EQ_INT(b64url_decode("Zm9", 3, dec, sizeof(dec)), -1);
	CHECK_EQ_INT(b64url_decode("Zm9vYmFy", 8, dec, 5), -1);
	CHECK_EQ_INT(b64url_decode("Zm9vYmFy", 8, dec, 6), 6);
	CHECK_EQ_INT(b64url_decode("Zm 9", 4, dec, sizeof(dec)), -1);
	CHECK_EQ_INT(b64url_decode("Zm\n9v", 5, dec, sizeof(dec)), -1);

	/* Lenient: both alphabets and padding (network answers). */
	CHECK_EQ_INT(b64_decode_any("Zg==", 4, dec, sizeof(dec)), 1);
	CHECK_EQ_INT(dec[0], 'f');
	CHECK_EQ_INT(b64_decode_any("Zm8=", 4, dec, sizeof(dec)), 2);
	CHECK_MEM(dec, "fo", 2);
	CHECK_EQ_INT(b64_decode_any("+/+/", 4, dec, sizeof(dec)), 3);
	CHECK_MEM(dec, hi, 3);
	CHECK_EQ_INT(b64_decode_any("-_-_", 4, dec, sizeof(dec)), 3);
	CHECK_MEM(dec, hi, 3);
	CHECK_EQ_INT(b64_decode_any("Zm9vYmFy", 8, dec, 5), -1);
	CHECK_EQ_INT(b64_decode_any("Zm=9", 4, dec, sizeof(dec)), -1);
	CHECK_EQ_INT(b64_decode_any("Zm9vY", 5, dec, sizeof(dec)), -1);
}

/* Every byte string encodes to base64url that decodes back to it. */
static void b64_all_lengths(void)
{
	uint8_t in[200], out[200];
	char enc[300];
	unsigned bad = 0;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 151 + 7);
	for (size_t n = 0; n <= sizeof(in); n++) {
		b64url_encode(in, n, enc);
		if (strlen(enc) != B64_ENC_LEN(n) ||
		    b64url_decode(enc, strlen(enc), out, sizeof(out)) !=
			    (long)n ||
		    memcmp(in, out, n) != 0)
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
}

CHECK_MAIN("format",
	   T(blk_roundtrip), T(blk_known_answer), T(blk_rejects_misuse),
	   T(blk_sizes),
	   T(lay_offsets),
	   T(lay_sizes),
	   T(lay_runs),
	   T(hdr_roundtrip), T(hdr_mac_known_answer),
	   T(hdr_rejects_corruption), T(hdr_every_flip_detected),
	   T(hdr_slot_choice), T(rec_binding),
	   T(names_roundtrip), T(names_any_bytes), T(names_reject_special),
	   T(names_bound_to_dir), T(names_tamper), T(names_long_names),
	   T(names_symlinks), T(names_xattrs),
	   T(conf_roundtrip), T(conf_rejects), T(conf_mac_covers_all),
	   T(conf_size_limit), T(conf_store_load),
	   T(b64_vectors), T(b64_all_lengths))
