/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crypto/keys: HKDF, HMAC, randomness and constant-time comparison, the
 * ground every key of the format is derived from.
 */
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "check.h"
#include "crypto/keys.h"
#include "fixtures.h"

/* RFC 5869 test case 3 (SHA-256, empty salt, empty info): keys_hkdf is
 * standard HKDF, and so is the reference the other tests rely on. */
static void keys_hkdf_rfc5869(void)
{
	static const char okm_hex[] =
		"8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c73"
		"8d2d9d201395faa4b61a96c8";
	uint8_t ikm[22], okm[42], got[42], ref[42];

	memset(ikm, 0x0b, sizeof(ikm));
	CHECK_EQ_INT(hex2bin(okm_hex, okm, sizeof(okm)), 42);
	CHECK_EQ_INT(keys_hkdf(ikm, sizeof(ikm), "", got, sizeof(got)), 0);
	CHECK_MEM(got, okm, sizeof(okm));
	ref_hkdf(ikm, sizeof(ikm), "", ref, sizeof(ref));
	CHECK_MEM(ref, okm, sizeof(okm));
}

/* Each purpose label gives its own key, and the output depends on every
 * byte of the input key. */
static void keys_hkdf_labels(void)
{
	static const char *const labels[] = {
		KDF_CONTENT, KDF_HDR_MAC, KDF_NAMES, KDF_XATTR_NAME,
		KDF_XATTR_VAL, KDF_SYMLINK, KDF_CONF_MAC, KDF_KEY_CHECK,
	};
	enum { N = sizeof(labels) / sizeof(labels[0]) };
	uint8_t ikm[KEY_LEN], out[N][KEY_LEN], ref[KEY_LEN], again[KEY_LEN];

	fill_seq(ikm, sizeof(ikm), 0x20);
	for (size_t i = 0; i < N; i++) {
		CHECK_EQ_INT(keys_hkdf(ikm, sizeof(ikm), labels[i], out[i],
				       KEY_LEN), 0);
		ref_hkdf(ikm, sizeof(ikm), labels[i], ref, sizeof(ref));
		CHECK_MEM(out[i], ref, KEY_LEN);
		for (size_t j = 0; j < i; j++)
			CHECK(memcmp(out[i], out[j], KEY_LEN) != 0);
	}
	ikm[KEY_LEN - 1] ^= 1;
	CHECK_EQ_INT(keys_hkdf(ikm, sizeof(ikm), labels[0], again, KEY_LEN),
		     0);
	CHECK(memcmp(again, out[0], KEY_LEN) != 0);
}

/* keys_hmac is HMAC-SHA256 under a 32-byte key. */
static void keys_hmac_matches(void)
{
	uint8_t key[KEY_LEN], msg[100], mac[32], ref[32];
	unsigned len = sizeof(ref);

	fill_seq(key, sizeof(key), 1);
	fill_seq(msg, sizeof(msg), 0x80);
	HMAC(EVP_sha256(), key, sizeof(key), msg, sizeof(msg), ref, &len);
	CHECK_EQ_INT(keys_hmac(key, msg, sizeof(msg), mac), 0);
	CHECK_MEM(mac, ref, sizeof(ref));
	CHECK_EQ_INT(keys_hmac(key, msg, 0, mac), 0);
	CHECK(memcmp(mac, ref, sizeof(ref)) != 0);
}

/* Randomness fills the buffer (two draws differ), and comparison is a
 * plain yes or no. */
static void keys_random_equal(void)
{
	uint8_t a[32], b[32];

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	CHECK_EQ_INT(keys_random(a, sizeof(a)), 0);
	CHECK_EQ_INT(keys_random(b, sizeof(b)), 0);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	CHECK_EQ_INT(keys_equal(a, a, sizeof(a)), 1);
	CHECK_EQ_INT(keys_equal(a, b, sizeof(a)), 0);
	memcpy(b, a, sizeof(a));
	b[31] ^= 0x80;
	CHECK_EQ_INT(keys_equal(a, b, sizeof(a)), 0);
	CHECK_EQ_INT(keys_equal(a, b, 31), 1);
}

CHECK_MAIN("keys",
	   T(keys_hkdf_rfc5869), T(keys_hkdf_labels), T(keys_hmac_matches),
	   T(keys_random_equal))
