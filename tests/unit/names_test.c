/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crypto/names: file names, symlink targets and xattrs under keys
 * derived from the volume key.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "check.h"
#include "common/b64.h"
#include "crypto/names.h"
#include "fixtures.h"

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

		CHECK_EQ_INT(names_encrypt(k, dir_a, name, 256, enc), -EINVAL);
		CHECK_EQ_INT(names_encrypt(k, dir_a, name, 0, enc), -EINVAL);
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
			CHECK_EQ_INT(n, -EINVAL);
		if (n >= 0) /* authentic, but no name */
			CHECK_EQ_INT(names_decrypt(k, dir_a, enc, (size_t)n,
						   dec), -EINVAL);
	}
	CHECK_EQ_INT(names_encrypt(k, dir_a, "a\0b", 3, enc), -EINVAL);
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
	CHECK_EQ_INT(names_decrypt(k, dir_b, ea, (size_t)na, dec), -EBADMSG);
	CHECK_EQ_INT(names_decrypt(k, dir_a, eb, (size_t)nb, dec), -EBADMSG);
	CHECK_EQ_INT(names_decrypt(k, dir_a, ea, (size_t)na, dec), 10);
	/* Another volume's key cannot read it either. */
	CHECK_EQ_INT(names_decrypt(k2, dir_a, ea, (size_t)na, dec), -EBADMSG);
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
	/* The first character always decodes: that edit fails the SIV tag. */
	memcpy(t, enc, (size_t)n + 1);
	t[0] = t[0] == 'A' ? 'B' : 'A';
	CHECK_EQ_INT(names_decrypt(k, dir_a, t, (size_t)n, dec), -EBADMSG);

	/* Characters outside base64url, and '=' padding. */
	{
		static const char bad[] = "+/=.~ \n\x80";

		for (size_t b = 0; b < sizeof(bad) - 1; b++) {
			memcpy(t, enc, (size_t)n + 1);
			t[n / 2] = bad[b];
			CHECK_EQ_INT(names_decrypt(k, dir_a, t, (size_t)n, dec),
				     -EINVAL);
		}
		memcpy(t, enc, (size_t)n);
		memcpy(t + n, "==", 3);
		CHECK_EQ_INT(names_decrypt(k, dir_a, t, (size_t)n + 2, dec),
			     -EINVAL);
		memcpy(t + n, "=", 2);
		CHECK_EQ_INT(names_decrypt(k, dir_a, t, (size_t)n + 1, dec),
			     -EINVAL);
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
	CHECK_EQ_INT(names_decrypt(k, dir_a, "", 0, dec), -EINVAL);
	CHECK_EQ_INT(names_decrypt(k, dir_a, "hsmfs.conf", 10, dec), -EINVAL);
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
					   sizeof(enc)), -EINVAL);
	CHECK_EQ_INT(names_symlink_encrypt(k, target, 0, enc, sizeof(enc)),
		     -EINVAL);
	/* Too small an output buffer is refused, not overrun. */
	CHECK_EQ_INT(names_symlink_encrypt(k, target, 100, enc, 50), -EINVAL);

	for (size_t len = 1; len <= 300; len++) {
		n = names_symlink_encrypt(k, target, len, enc, sizeof(enc));
		if (n <= 0 || names_symlink_plain_len((size_t)n) != (ssize_t)len)
			wrong++;
	}
	CHECK_EQ_INT(wrong, 0);
	/* Lengths no encrypted target can have: impossible base64 lengths,
	 * and those too short to hold more than nonce and tag. */
	CHECK_EQ_INT(names_symlink_plain_len(0), -EINVAL);
	CHECK_EQ_INT(names_symlink_plain_len(1), -EINVAL);
	CHECK_EQ_INT(names_symlink_plain_len(37), -EINVAL);
	/* 28 bytes: nonce and tag of an empty target. */
	CHECK_EQ_INT(names_symlink_plain_len(38), -EINVAL);
	CHECK_EQ_INT(names_symlink_plain_len(39), 1);
	CHECK_EQ_INT(names_symlink_plain_len(41), -EINVAL);

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
	/* The first character always decodes: the GCM tag refuses it. */
	{
		char c = enc[0];

		enc[0] = c == 'A' ? 'B' : 'A';
		CHECK_EQ_INT(names_symlink_decrypt(k, enc, (size_t)n, dec,
						   sizeof(dec)), -EBADMSG);
		enc[0] = c;
	}
	CHECK_EQ_INT(names_symlink_decrypt(k, enc, (size_t)n - 4, dec,
					   sizeof(dec)), -EBADMSG);
	/* An output buffer too small for the target is refused. */
	CHECK_EQ_INT(names_symlink_decrypt(k, enc, (size_t)n, dec, 14),
		     -EINVAL);
	CHECK_EQ_INT(names_symlink_decrypt(k, enc, (size_t)n, dec, 15), 14);
	CHECK(strcmp(dec, "../shared/data") == 0);
	/* A target is not a name: it does not decrypt as one. */
	CHECK_EQ_INT(names_decrypt(k, dir_a, enc, (size_t)n, dec), -EINVAL);
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
	CHECK_EQ_INT(names_xattr_name(k, "trusted.x", dec, sizeof(dec)),
		     -EINVAL);
	CHECK_EQ_INT(names_xattr_name(k, "user.", dec, sizeof(dec)), -EINVAL);
	CHECK_EQ_INT(names_xattr_name_dec(k, "trusted.x", dec, sizeof(dec)),
		     -EINVAL);
	/* An xattr name is not a file name (different key). */
	CHECK_EQ_INT(names_decrypt(k, dir_a, ea + 5, (size_t)na - 5, dec),
		     -EBADMSG);

	for (size_t i = 0; i < sizeof(val); i++)
		val[i] = (uint8_t)(i * 13 + 1);
	for (size_t i = 0; i < sizeof(vlens) / sizeof(*vlens); i++) {
		size_t n = vlens[i], cn = n + XATTR_VAL_OVERHEAD;

		CHECK_EQ_INT(names_xattr_val_enc(k, ea, val, n, ct), 0);
		memset(back, 0x5a, sizeof(back));
		CHECK_EQ_INT(names_xattr_val_dec(k, ea, ct, cn, back), n);
		CHECK_MEM(back, val, n);
		CHECK_EQ_INT(names_xattr_val_dec(k, eb, ct, cn, back),
			     -EBADMSG);
		if (n)
			CHECK_EQ_INT(same_bytes(back, val, n) == n, 0);
		ct[cn - 1] ^= 1;
		CHECK_EQ_INT(names_xattr_val_dec(k, ea, ct, cn, back),
			     -EBADMSG);
		CHECK_EQ_INT(names_xattr_val_dec(k, ea, ct, cn - 1, back),
			     n ? -EBADMSG : -EINVAL);
	}
	CHECK_EQ_INT(names_xattr_val_dec(k, ea, ct, XATTR_VAL_OVERHEAD - 1,
					 back), -EINVAL);
	CHECK_EQ_INT(names_xattr_val_dec(k, ea, ct, 0, back), -EINVAL);
	names_keys_free(k);
}

/* Format 3: a symlink target reads back only under the directory and the
 * name it was written for. */
static void names_symlinks_bound(void)
{
	struct names_keys *k = test_names_keys();
	char enc[4096], dec[SYMLINK_MAX + 1];
	int n;

	n = names_symlink3_encrypt(k, dir_a, "link", "../target", 9, enc,
				   sizeof(enc));
	CHECK(n > 0);
	CHECK_EQ_INT(names_symlink3_decrypt(k, dir_a, "link", enc, (size_t)n,
					    dec, sizeof(dec)), 9);
	CHECK(strcmp(dec, "../target") == 0);
	CHECK_EQ_INT(names_symlink3_decrypt(k, dir_b, "link", enc, (size_t)n,
					    dec, sizeof(dec)), -EBADMSG);
	CHECK_EQ_INT(names_symlink3_decrypt(k, dir_a, "link2", enc, (size_t)n,
					    dec, sizeof(dec)), -EBADMSG);
	CHECK_EQ_INT(names_symlink3_decrypt(k, dir_a, "lin", enc, (size_t)n,
					    dec, sizeof(dec)), -EBADMSG);
	/* A format-2 target is not a format-3 one, nor the other way. */
	CHECK_EQ_INT(names_symlink_decrypt(k, enc, (size_t)n, dec,
					   sizeof(dec)), -EBADMSG);
	names_keys_free(k);
}

/* Format 3 xattrs: names of any byte up to 250 after "user.", hashed per
 * entry; values bound to the entry and to their backing name. */
static void names_xattrs_bound(void)
{
	struct names_keys *k = test_names_keys();
	const uint8_t e1[ID_LEN] = { 1 }, e2[ID_LEN] = { 2 };
	char name[260] = "user.", b1[256], b2[256], bp[260], got[256];
	uint8_t ct[600], val[300];
	ssize_t cn;

	memset(name + 5, '/', 250);
	name[255] = '\0';
	CHECK_EQ_INT(names_xattr3_name(k, 0, e1, name, b1, sizeof(b1)),
		     XATTR3_HASH_NAME_LEN);
	CHECK_EQ_INT(names_xattr3_name(k, 0, e2, name, b2, sizeof(b2)),
		     XATTR3_HASH_NAME_LEN);
	CHECK(strcmp(b1, b2) != 0);
	CHECK(strncmp(b1, "user.", 5) == 0 && is_b64url(b1 + 5, 22));
	CHECK_EQ_INT(names_xattr3_name(k, 1, e1, name, bp, sizeof(bp)), 255);
	CHECK(strcmp(bp, name) == 0);
	name[5 + 250] = 'x';
	name[5 + 251] = '\0';
	CHECK_EQ_INT(names_xattr3_name(k, 0, e1, name, bp, sizeof(bp)),
		     -EINVAL);
	CHECK_EQ_INT(names_xattr3_name(k, 0, e1, "user.", bp, sizeof(bp)),
		     -EINVAL);
	CHECK_EQ_INT(names_xattr3_name(k, 0, e1, "trusted.x", bp, sizeof(bp)),
		     -EINVAL);
	name[5 + 250] = '\0';

	cn = names_xattr3_seal(k, e1, b1, name, (const uint8_t *)"v", 1, ct,
			       sizeof(ct));
	CHECK_EQ_INT(cn, XATTR3_OVERHEAD(250) + 1);
	CHECK_EQ_INT(names_xattr3_open(k, e1, b1, ct, (size_t)cn, got, val,
				       sizeof(val)), 1);
	CHECK(strcmp(got, name) == 0 && val[0] == 'v');
	CHECK_EQ_INT(names_xattr3_open(k, e1, b1, ct, (size_t)cn, got, val, 0),
		     -ERANGE);
	CHECK_EQ_INT(names_xattr3_open(k, e2, b1, ct, (size_t)cn, got, val,
				       sizeof(val)), -EBADMSG);
	CHECK_EQ_INT(names_xattr3_open(k, e1, b2, ct, (size_t)cn, got, val,
				       sizeof(val)), -EBADMSG);
	ct[20] ^= 1;
	CHECK_EQ_INT(names_xattr3_open(k, e1, b1, ct, (size_t)cn, got, val,
				       sizeof(val)), -EBADMSG);
	CHECK_EQ_INT(names_xattr3_seal(k, e1, b1, name, val, 10, ct, 100),
		     -ERANGE);
	/* An empty value is a value. */
	cn = names_xattr3_seal(k, e1, b1, "user.e", NULL, 0, ct, sizeof(ct));
	CHECK_EQ_INT(cn, XATTR3_OVERHEAD(1));
	CHECK_EQ_INT(names_xattr3_open(k, e1, b1, ct, (size_t)cn, got, val,
				       sizeof(val)), 0);
	CHECK(strcmp(got, "user.e") == 0);
	names_keys_free(k);
}

CHECK_MAIN("names",
	   T(names_roundtrip), T(names_any_bytes), T(names_reject_special),
	   T(names_bound_to_dir), T(names_tamper), T(names_long_names),
	   T(names_symlinks), T(names_xattrs), T(names_symlinks_bound),
	   T(names_xattrs_bound))
