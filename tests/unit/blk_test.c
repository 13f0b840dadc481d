/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crypto/blk: content blocks, AES-256-GCM per 4096-byte block.
 * Known-answer vectors are computed here from the documented construction
 * with plain OpenSSL calls and also pinned as hex, so that any change of
 * the format (or of what it derives keys from) breaks a test before it
 * breaks a volume.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "check.h"
#include "crypto/blk.h"
#include "fixtures.h"

static const uint8_t kat_nonce[BLK_NONCE] = {
	0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
};

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
		/* The ciphertext is not the plaintext (from 16 bytes on:
		 * one random byte equals its plaintext once in 256). */
		CHECK(n < 16 || memcmp(ct + BLK_NONCE, pt, n) != 0);
	}
	/* Random nonces: the same block written twice differs on disk. */
	{
		static uint8_t ct2[BLK_CIPHER];

		CHECK_EQ_INT(blk_encrypt(k, 3, pt, 64, NULL, ct), 0);
		CHECK_EQ_INT(blk_encrypt(k, 3, pt, 64, NULL, ct2), 0);
		CHECK(memcmp(ct, ct2, 64 + BLK_OVERHEAD) != 0);
	}
	/* Sizes outside 1..4096 are refused, not truncated. */
	CHECK_EQ_INT(blk_encrypt(k, 0, pt, 0, NULL, ct), -EINVAL);
	CHECK_EQ_INT(blk_encrypt(k, 0, pt, BLK_PLAIN + 1, NULL, ct), -EINVAL);
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
	CHECK_EQ_INT(blk_decrypt(k, 6, ct, n + BLK_OVERHEAD, out), -EBADMSG);
	CHECK_EQ_INT(same_bytes(out, pt, n), 0);
	CHECK_EQ_INT(blk_decrypt(k, 5 + (1ull << 32), ct, n + BLK_OVERHEAD,
				 out), -EBADMSG);
	CHECK_EQ_INT(same_bytes(out, pt, n), 0);
	memset(out, 0xee, sizeof(out));
	CHECK_EQ_INT(blk_decrypt(other_id, 5, ct, n + BLK_OVERHEAD, out),
		     -EBADMSG);
	CHECK_EQ_INT(same_bytes(out, pt, n), 0);
	memset(out, 0xee, sizeof(out));
	CHECK_EQ_INT(blk_decrypt(other_key, 5, ct, n + BLK_OVERHEAD, out),
		     -EBADMSG);
	CHECK_EQ_INT(same_bytes(out, pt, n), 0);

	for (size_t i = 0; i < n + BLK_OVERHEAD; i++) {
		ct[i] ^= 0x01;
		memset(out, 0xee, n);
		if (blk_decrypt(k, 5, ct, n + BLK_OVERHEAD, out) != -EBADMSG)
			bad++;
		leaked += same_bytes(out, pt, n);
		ct[i] ^= 0x01;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(leaked, 0);

	/* Truncated or overlong blocks. */
	CHECK_EQ_INT(blk_decrypt(k, 5, ct, n + BLK_OVERHEAD - 1, out),
		     -EBADMSG);
	CHECK_EQ_INT(blk_decrypt(k, 5, ct, BLK_OVERHEAD, out), -EINVAL);
	CHECK_EQ_INT(blk_decrypt(k, 5, ct, BLK_CIPHER + 1, out), -EINVAL);
	/* And the untouched block still decrypts. */
	CHECK_EQ_INT(blk_decrypt(k, 5, ct, n + BLK_OVERHEAD, out), n);
	CHECK_MEM(out, pt, n);
out:
	blk_key_free(k);
	blk_key_free(other_id);
	blk_key_free(other_key);
}

/* The parts API (the aligned layout's): a flipped byte of the data, the
 * nonce or the tag is -EBADMSG and wipes the output; lengths out of range
 * are -EINVAL, never "not authentic". */
static void blk_open_errors(void)
{
	static uint8_t pt[BLK_PLAIN], ct[BLK_PLAIN], out[BLK_PLAIN];
	uint8_t nonce[BLK_NONCE], tag[BLK_TAG];
	struct blk_key *k = test_blk_key(0, 0xa0);
	const size_t n = 100;

	CHECK(k != NULL);
	if (!k)
		return;
	fill_seq(pt, n, 0x41);
	CHECK_EQ_INT(blk_seal(k, 9, pt, n, nonce, ct, tag), 0);
	CHECK_EQ_INT(blk_open(k, 9, nonce, ct, n, tag, out), 0);
	CHECK_MEM(out, pt, n);
	ct[50] ^= 0x10;
	CHECK_EQ_INT(blk_open(k, 9, nonce, ct, n, tag, out), -EBADMSG);
	CHECK_EQ_INT(same_bytes(out, pt, n), 0);
	ct[50] ^= 0x10;
	nonce[0] ^= 1;
	CHECK_EQ_INT(blk_open(k, 9, nonce, ct, n, tag, out), -EBADMSG);
	nonce[0] ^= 1;
	tag[BLK_TAG - 1] ^= 0x80;
	CHECK_EQ_INT(blk_open(k, 9, nonce, ct, n, tag, out), -EBADMSG);
	tag[BLK_TAG - 1] ^= 0x80;
	CHECK_EQ_INT(blk_open(k, 9, nonce, ct, 0, tag, out), -EINVAL);
	CHECK_EQ_INT(blk_open(k, 9, nonce, ct, BLK_PLAIN + 1, tag, out),
		     -EINVAL);
	CHECK_EQ_INT(blk_seal(k, 9, pt, 0, nonce, ct, tag), -EINVAL);
	CHECK_EQ_INT(blk_open(k, 9, nonce, ct, n, tag, out), 0);
	blk_key_free(k);
}

/* Encrypts and decrypts with the key arg 200 times; the count of wrong
 * results. */
static void *roundtrips(void *arg)
{
	const struct blk_key *k = arg;
	uint8_t pt[256], ct[256 + BLK_OVERHEAD], back[256];
	uintptr_t wrong = 0;

	fill_seq(pt, sizeof(pt), 0x30);
	for (int i = 0; i < 200; i++)
		if (blk_encrypt(k, (uint64_t)i, pt, sizeof(pt), NULL, ct) != 0 ||
		    blk_decrypt(k, (uint64_t)i, ct, sizeof(ct), back) !=
			    (ssize_t)sizeof(pt) ||
		    memcmp(back, pt, sizeof(pt)) != 0)
			wrong++;
	return (void *)wrong;
}

/* Freeing a key and wiping every context, while other threads cipher with
 * another key, never gives them a wrong result (their contexts key
 * themselves again); threads that exited leave nothing behind for a later
 * wipe to touch (ASan and valgrind would see it). */
static void blk_wipes_contexts(void)
{
	struct blk_key *k = test_blk_key(2, 0xc0);
	pthread_t th[4];
	void *wrong;
	int started = 0;

	CHECK(k != NULL);
	if (!k)
		return;
	for (int i = 0; i < 4; i++)
		started += pthread_create(&th[i], NULL, roundtrips, k) == 0;
	CHECK_EQ_INT(started, 4);
	for (int i = 0; i < 100; i++) {
		struct blk_key *t = test_blk_key((uint8_t)i, 0xd0);

		CHECK_EQ_INT((uintptr_t)roundtrips(t), 0);
		blk_key_free(t);
		blk_wipe_all();
	}
	for (int i = 0; i < started; i++) {
		pthread_join(th[i], &wrong);
		CHECK_EQ_INT((uintptr_t)wrong, 0);
	}
	blk_wipe_all();
	CHECK_EQ_INT((uintptr_t)roundtrips(k), 0);
	blk_key_free(k);
	blk_key_free(NULL);
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
			CHECK_EQ_INT(blk_plain_size(full * BLK_CIPHER + r),
				     -EINVAL);
	for (uint64_t p = 0; p < 3 * BLK_PLAIN; p += 61)
		CHECK_EQ_INT(blk_plain_size(blk_cipher_size(p)), p);
}

static int nonce_cmp(const void *a, const void *b)
{
	return memcmp(a, b, BLK_NONCE);
}

/* Nonces are drawn in bulk: across many pools they never repeat, and a
 * child of fork does not take the nonces its parent takes next. */
static void blk_nonces_unique(void)
{
	enum { N = 3000 };
	static uint8_t nonces[N + 2][BLK_NONCE], ct[BLK_CIPHER];
	struct blk_key *k = test_blk_key(0, 0xa3);
	uint8_t pt[16] = { 0 };
	int p[2], st = 0, dups = 0;
	pid_t pid;

	CHECK(k != NULL);
	if (!k)
		return;
	for (int i = 0; i < N; i++) {
		CHECK_EQ_INT(blk_encrypt(k, 1, pt, sizeof(pt), NULL, ct), 0);
		memcpy(nonces[i], ct, BLK_NONCE);
	}
	CHECK(pipe(p) == 0);
	if ((pid = fork()) == 0) {
		blk_encrypt(k, 1, pt, sizeof(pt), NULL, ct);
		_exit(write(p[1], ct, BLK_NONCE) == BLK_NONCE ? 0 : 1);
	}
	CHECK(pid > 0);
	CHECK(read(p[0], nonces[N], BLK_NONCE) == BLK_NONCE);
	waitpid(pid, &st, 0);
	close(p[0]);
	close(p[1]);
	CHECK_EQ_INT(blk_encrypt(k, 1, pt, sizeof(pt), NULL, ct), 0);
	memcpy(nonces[N + 1], ct, BLK_NONCE);
	qsort(nonces, N + 2, BLK_NONCE, nonce_cmp);
	for (int i = 1; i < N + 2; i++)
		dups += !memcmp(nonces[i - 1], nonces[i], BLK_NONCE);
	CHECK_EQ_INT(dups, 0);
	blk_key_free(k);
}

CHECK_MAIN("blk",
	   T(blk_nonces_unique),
	   T(blk_roundtrip), T(blk_known_answer), T(blk_rejects_misuse),
	   T(blk_open_errors), T(blk_wipes_contexts), T(blk_sizes))
