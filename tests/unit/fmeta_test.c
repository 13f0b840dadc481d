/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crypto/fmeta: a format-3 file's state (write count, holes) in its two
 * copies. The MAC is recomputed here from the documented construction
 * with plain OpenSSL calls, so that a change of the format breaks a test
 * before it breaks a volume.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>

#include "check.h"
#include "crypto/fmeta.h"
#include "fixtures.h"

static uint8_t dek[KEY_LEN], mkey[KEY_LEN], id[ID_LEN];

static void setup(void)
{
	fill_seq(dek, sizeof(dek), 3);
	fill_seq(id, sizeof(id), 9);
	CHECK_EQ_INT(fmeta_key(dek, mkey), 0);
}

/* The documented MAC: HMAC-SHA256 under HKDF-SHA256(DEK, empty salt,
 * "hsmfs v3 file meta") over file id || copy[0..992). */
static void fmeta_mac_known_answer(void)
{
	struct fmeta m = { .writes = 77, .nholes = 1,
			   .hole = { { 5, 6 } } };
	uint8_t copy[FMETA_LEN], k[KEY_LEN], msg[ID_LEN + FMETA_MACED], mac[32];
	unsigned int ml = 32;
	size_t kl = KEY_LEN;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);

	setup();
	CHECK(c && EVP_PKEY_derive_init(c) == 1 &&
	      EVP_PKEY_CTX_set_hkdf_md(c, EVP_sha256()) == 1 &&
	      EVP_PKEY_CTX_set1_hkdf_key(c, dek, KEY_LEN) == 1 &&
	      EVP_PKEY_CTX_add1_hkdf_info(c, (const uint8_t *)"hsmfs v3 file meta",
					  18) == 1 &&
	      EVP_PKEY_derive(c, k, &kl) == 1);
	EVP_PKEY_CTX_free(c);
	CHECK_MEM(k, mkey, KEY_LEN);
	CHECK_EQ_INT(fmeta_encode(&m, 4, mkey, id, copy), 0);
	CHECK_MEM(copy, "HSMM\0\0\0\4\0\0\0\0\0\0\0\x4d\0\1", 18);
	CHECK_MEM(copy + 24, "\0\0\0\0\0\0\0\5\0\0\0\0\0\0\0\6", 16);
	memcpy(msg, id, ID_LEN);
	memcpy(msg + ID_LEN, copy, FMETA_MACED);
	HMAC(EVP_sha256(), k, KEY_LEN, msg, sizeof(msg), mac, &ml);
	CHECK_MEM(copy + FMETA_MACED, mac, 32);
}

/* All zero is no state (a file that has a header has one); written states
 * come back with the newest copy winning, and a torn newer copy leaves the
 * older one serving. */
static void fmeta_copies(void)
{
	uint8_t area[FMETA_AREA] = { 0 };
	struct fmeta m = { 0 }, r;
	const char *why;

	setup();
	CHECK_EQ_INT(fmeta_parse(area, mkey, id, &r, &why), -EBADMSG);
	m.writes = 10;
	CHECK_EQ_INT(fmeta_encode(&m, 1, mkey, id, area), 0);
	m.writes = 20;
	CHECK_EQ_INT(fmeta_encode(&m, 2, mkey, id, area + FMETA_LEN), 0);
	CHECK_EQ_INT(fmeta_parse(area, mkey, id, &r, &why), 0);
	CHECK_EQ_INT(r.gen, 2);
	CHECK_EQ_INT(r.copy, 1);
	CHECK_EQ_INT(r.writes, 20);
	area[FMETA_LEN + 500] ^= 1; /* torn */
	CHECK_EQ_INT(fmeta_parse(area, mkey, id, &r, &why), 0);
	CHECK_EQ_INT(r.writes, 10);
	area[7] ^= 1; /* both bad */
	CHECK_EQ_INT(fmeta_parse(area, mkey, id, &r, &why), -EBADMSG);
	/* Another file's state is not this one's. */
	CHECK_EQ_INT(fmeta_encode(&m, 1, mkey, id, area), 0);
	id[0] ^= 1;
	CHECK_EQ_INT(fmeta_parse(area, mkey, id, &r, &why), -EBADMSG);
	id[0] ^= 1;
}

/* Every single-bit change of a sealed copy is refused. */
static void fmeta_every_flip_detected(void)
{
	uint8_t area[FMETA_AREA] = { 0 };
	struct fmeta m = { .writes = 3, .nholes = 1, .hole = { { 1, 1 } } }, r;
	const char *why;
	int ok = 1;

	setup();
	CHECK_EQ_INT(fmeta_encode(&m, 1, mkey, id, area), 0);
	for (size_t i = 0; i < FMETA_LEN * 8; i++) {
		area[i / 8] ^= (uint8_t)(1 << (i % 8));
		if (fmeta_parse(area, mkey, id, &r, &why) != -EBADMSG)
			ok = 0;
		area[i / 8] ^= (uint8_t)(1 << (i % 8));
	}
	CHECK(ok);
}

/* An authentic copy must still keep the rules: holes in order and apart,
 * counts in range; the encoder refuses what breaks them. */
static void fmeta_rules(void)
{
	uint8_t area[FMETA_AREA] = { 0 };
	struct fmeta m = { .nholes = 2, .hole = { { 10, 5 }, { 15, 1 } } }, r;
	const char *why;

	setup();
	CHECK_EQ_INT(fmeta_encode(&m, 1, mkey, id, area), 0);
	CHECK_EQ_INT(fmeta_parse(area, mkey, id, &r, &why), -EINVAL);
	m.hole[1].first = 16;
	CHECK_EQ_INT(fmeta_encode(&m, 1, mkey, id, area), 0);
	CHECK_EQ_INT(fmeta_parse(area, mkey, id, &r, &why), 0);
	CHECK_EQ_INT(r.nholes, 2);
	m.hole[1].count = 0;
	CHECK_EQ_INT(fmeta_encode(&m, 1, mkey, id, area), 0);
	CHECK_EQ_INT(fmeta_parse(area, mkey, id, &r, &why), -EINVAL);
	m.writes = FMETA_WRITES_MAX + 1;
	CHECK_EQ_INT(fmeta_encode(&m, 1, mkey, id, area), -EINVAL);
	m.nholes = FMETA_HOLES_MAX + 1;
	m.writes = 0;
	CHECK_EQ_INT(fmeta_encode(&m, 1, mkey, id, area), -EINVAL);
}

/* Written to a file: the first write fills both copies, later ones
 * alternate, and a file too short for the area is -ENODATA. */
static void fmeta_file(void)
{
	struct fmeta m = { 0 }, r;
	const char *why;
	char path[] = "/tmp/hsmfs-fmeta-XXXXXX";
	int fd = mkstemp(path);

	setup();
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	unlink(path);
	CHECK_EQ_INT(ftruncate(fd, 3000), 0);
	CHECK_EQ_INT(fmeta_read(fd, mkey, id, &r, &why), -ENODATA);
	CHECK_EQ_INT(ftruncate(fd, 4096), 0);
	CHECK_EQ_INT(fmeta_read(fd, mkey, id, &r, &why), -EBADMSG);
	m.writes = 5;
	CHECK_EQ_INT(fmeta_write(fd, mkey, id, &m), 0);
	CHECK_EQ_INT(m.gen, 1);
	m.writes = 6;
	CHECK_EQ_INT(fmeta_write(fd, mkey, id, &m), 0);
	CHECK_EQ_INT(m.gen, 2);
	CHECK_EQ_INT(m.copy, 1);
	CHECK_EQ_INT(fmeta_read(fd, mkey, id, &r, &why), 0);
	CHECK_EQ_INT(r.writes, 6);
	m.writes = 7;
	CHECK_EQ_INT(fmeta_write(fd, mkey, id, &m), 0);
	CHECK_EQ_INT(m.copy, 0);
	CHECK_EQ_INT(fmeta_read(fd, mkey, id, &r, &why), 0);
	CHECK_EQ_INT(r.writes, 7);
	CHECK_EQ_INT(r.gen, 3);
	close(fd);
}

/* Holes merge with what they touch, cuts shorten or split them, and a
 * state with no room says so and stays as it was. */
static void fmeta_hole_lists(void)
{
	struct fmeta m = { 0 }, before;

	CHECK_EQ_INT(fmeta_add_hole(&m, 10, 5), 0);
	CHECK_EQ_INT(fmeta_add_hole(&m, 20, 5), 0);
	CHECK_EQ_INT(fmeta_add_hole(&m, 15, 5), 0); /* touches both */
	CHECK_EQ_INT(m.nholes, 1);
	CHECK(m.hole[0].first == 10 && m.hole[0].count == 15);
	CHECK_EQ_INT(fmeta_add_hole(&m, 0, 2), 0);
	CHECK_EQ_INT(m.nholes, 2);
	CHECK(m.hole[0].first == 0 && m.hole[1].first == 10);
	CHECK_EQ_INT(fmeta_cut(&m, 12, 3), 0); /* split */
	CHECK_EQ_INT(m.nholes, 3);
	CHECK(m.hole[1].first == 10 && m.hole[1].count == 2);
	CHECK(m.hole[2].first == 15 && m.hole[2].count == 10);
	CHECK_EQ_INT(fmeta_cut(&m, 15, 1), 0); /* front */
	CHECK(m.hole[2].first == 16 && m.hole[2].count == 9);
	CHECK_EQ_INT(fmeta_cut(&m, 20, 0), 0); /* the tail, to the end */
	CHECK(m.nholes == 3 && m.hole[2].count == 4);
	CHECK_EQ_INT(fmeta_cut(&m, 0, 100), 0);
	CHECK_EQ_INT(m.nholes, 0);
	for (uint64_t i = 0; i < FMETA_HOLES_MAX; i++)
		CHECK_EQ_INT(fmeta_add_hole(&m, 10 * i, 5), 0);
	before = m;
	CHECK_EQ_INT(fmeta_add_hole(&m, 10000, 1), -ENOSPC);
	CHECK_EQ_INT(fmeta_cut(&m, 1, 1), -ENOSPC);
	CHECK_MEM(&m, &before, sizeof(m));
	CHECK_EQ_INT(fmeta_add_hole(&m, 5, 5), 0); /* joins two: room */
	CHECK_EQ_INT(m.nholes, FMETA_HOLES_MAX - 1);
	CHECK_EQ_INT(fmeta_in_hole(&m, 7), 1);
	CHECK_EQ_INT(fmeta_in_hole(&m, 16), 0);
}

CHECK_MAIN("fmeta", T(fmeta_mac_known_answer), T(fmeta_copies),
	   T(fmeta_every_flip_detected), T(fmeta_rules), T(fmeta_file),
	   T(fmeta_hole_lists))
