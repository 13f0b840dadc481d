/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crypto/hdr: the file header, its key slots and their MACs, and the
 * record a KEK wraps.
 * Known-answer vectors are computed here from the documented construction
 * with plain OpenSSL calls and also pinned as hex, so that any change of
 * the format (or of what it derives keys from) breaks a test before it
 * breaks a volume.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "check.h"
#include "crypto/hdr.h"
#include "fixtures.h"

/* A header written with two key slots (mid-rewrap) reads back with both
 * slots intact, and re-encodes to the same bytes. */
static void hdr_roundtrip(void)
{
	static uint8_t buf[HDR_LEN], buf2[HDR_LEN];
	struct hdr h, p;
	uint8_t dek[KEY_LEN];
	const char *why;

	fill_seq(dek, sizeof(dek), 0);
	make_hdr(&h, 1);
	hdr_encode(&h, buf);
	CHECK_EQ_INT(hdr_parse(buf, &p, &why), 0);
	CHECK_MEM(p.file_id, h.file_id, ID_LEN);
	for (int i = 0; i < HDR_SLOTS; i++) {
		CHECK_EQ_INT(p.slot[i].gen, h.slot[i].gen);
		CHECK_EQ_INT(p.slot[i].alg, h.slot[i].alg);
		CHECK(strcmp(p.slot[i].kid, h.slot[i].kid) == 0);
		CHECK_EQ_INT(p.slot[i].wlen, h.slot[i].wlen);
		CHECK_MEM(p.slot[i].wrapped, h.slot[i].wrapped, h.slot[i].wlen);
		CHECK_MEM(p.slot[i].mac, h.slot[i].mac, 32);
		CHECK_EQ_INT(hdr_slot_verify(&p, i, test_vk, dek), 0);
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
	CHECK_EQ_INT(hdr_parse(buf, &p, &why), 0);
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
		{ "alg 5", S0 + 4, 5, 0, 0, "algorithm" },
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
	CHECK_EQ_INT(hdr_parse(good, &p, &why), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		memcpy(buf, good, HDR_LEN);
		buf[bad[i].off] = (uint8_t)bad[i].val;
		if (bad[i].off2)
			buf[bad[i].off2] = (uint8_t)bad[i].val2;
		/* The only slot in use broken: the header is refused.
		 * The empty slot broken: set aside, the other one serves. */
		why = NULL;
		if (hdr_parse(buf, &p, &why) == 0)
			why = p.bad[0] ? p.bad[0] : p.bad[1];
		else
			CHECK(why != NULL);
		if (!why || !strstr(why, bad[i].why)) {
			fprintf(stderr, "  %s: got %s\n", bad[i].what,
				why ? why : "(accepted)");
			check_failed_now = 1;
		}
	}

	/* All-zero file id. */
	memcpy(buf, good, HDR_LEN);
	memset(buf + 16, 0, ID_LEN);
	CHECK_EQ_INT(hdr_parse(buf, &p, &why), -EINVAL);
	CHECK(why && strstr(why, "file id"));

	/* No slot in use. */
	memcpy(buf, good, HDR_LEN);
	memset(buf + S0, 0, HDR_SLOT_LEN);
	CHECK_EQ_INT(hdr_parse(buf, &p, &why), -EINVAL);
	CHECK(why && strstr(why, "no key slot"));

	/* The same defects in slot 1 next to a good slot 0 (a torn rewrap):
	 * slot 1 is set aside, slot 0 still serves; both broken: refused. */
	make_hdr(&h, 1);
	hdr_encode(&h, good);
	CHECK_EQ_INT(hdr_parse(good, &p, &why), 0);
	CHECK(p.bad[0] == NULL && p.bad[1] == NULL);
	memcpy(buf, good, HDR_LEN);
	buf[S1 + 4] = 9;
	CHECK_EQ_INT(hdr_parse(buf, &p, &why), 0);
	CHECK(p.bad[1] && strstr(p.bad[1], "algorithm"));
	CHECK(p.slot[1].gen == 0 && p.slot[0].gen != 0);
	memcpy(buf, good, HDR_LEN);
	buf[S1 + 900] = 1;
	CHECK(hdr_parse(buf, &p, &why) == 0 && p.bad[1] != NULL);
	buf[S0 + 4] = 9;
	CHECK_EQ_INT(hdr_parse(buf, &p, &why), -EINVAL);
	CHECK(why && strstr(why, "algorithm"));
	/* An all-zero file (a crash before the header was written). */
	memset(buf, 0, HDR_LEN);
	CHECK_EQ_INT(hdr_parse(buf, &p, &why), -EINVAL);
	CHECK(why && strstr(why, "magic"));
}

/* Nobody without the volume key and the DEK can change any header byte
 * the MAC covers: every single-byte flip is caught, by the parser or by
 * the MAC, and the MAC depends on both keys. */
static void hdr_every_flip_detected(void)
{
	static uint8_t good[HDR_LEN], buf[HDR_LEN];
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };
	uint8_t dek[KEY_LEN], dek2[KEY_LEN], vk2[KEY_LEN];
	unsigned missed = 0, other = 0;
	const char *why;
	struct hdr h, p;
	int err;

	fill_seq(dek, sizeof(dek), 0);
	make_hdr(&h, 1);
	hdr_encode(&h, good);
	CHECK_EQ_INT(hdr_parse(good, &p, &why), 0);
	CHECK_EQ_INT(hdr_slot_verify(&p, 0, test_vk, dek), 0);

	for (size_t m = 0; m < sizeof(masks); m++) {
		for (unsigned i = 0; i < HDR_FIXED_LEN + HDR_SLOT_MACED; i++) {
			unsigned off = i < HDR_FIXED_LEN ? i : S0 + i -
								HDR_FIXED_LEN;

			memcpy(buf, good, HDR_LEN);
			buf[off] ^= masks[m];
			if (hdr_parse(buf, &p, &why) != 0)
				continue;
			err = hdr_slot_verify(&p, 0, test_vk, dek);
			/* Past the parser, only the MAC can say no. */
			other += err != 0 && err != -EBADMSG;
			if (err == 0) {
				fprintf(stderr, "  flip ^%02x at %u accepted\n",
					masks[m], off);
				missed++;
			}
		}
		/* The stored MAC itself. */
		for (unsigned i = 0; i < 32; i++) {
			memcpy(buf, good, HDR_LEN);
			buf[S0 + HDR_SLOT_MACED + i] ^= masks[m];
			CHECK_EQ_INT(hdr_parse(buf, &p, &why), 0);
			if (hdr_slot_verify(&p, 0, test_vk, dek) != -EBADMSG)
				missed++;
		}
	}
	CHECK_EQ_INT(missed, 0);
	CHECK_EQ_INT(other, 0);

	/* A slot is bound to its volume key and its DEK. */
	CHECK_EQ_INT(hdr_parse(good, &p, &why), 0);
	memcpy(vk2, test_vk, KEY_LEN);
	vk2[31] ^= 1;
	memcpy(dek2, dek, KEY_LEN);
	dek2[0] ^= 1;
	CHECK_EQ_INT(hdr_slot_verify(&p, 0, vk2, dek), -EBADMSG);
	CHECK_EQ_INT(hdr_slot_verify(&p, 0, test_vk, dek2), -EBADMSG);
	/* Slot 1's MAC does not verify as slot 0's and vice versa. */
	memcpy(&p.slot[0].mac, h.slot[1].mac, 32);
	CHECK_EQ_INT(hdr_slot_verify(&p, 0, test_vk, dek), -EBADMSG);
}

/* Writes n bytes of p into a fresh temporary file; its fd, or -1. */
static int temp_file(const uint8_t *p, size_t n)
{
	char path[] = "/tmp/hsmfs-hdr-XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	unlink(path);
	if (n && pwrite(fd, p, n, 0) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	return fd;
}

/* hdr_read tells apart what a caller acts on differently: an empty file
 * (no key yet), bytes that are no header (a short file included), a disk
 * error, and a good header, which reads as hdr_parse reads it. */
static void hdr_read_cases(void)
{
	static uint8_t good[HDR_LEN + 100];
	uint8_t dek[KEY_LEN];
	const char *why;
	struct hdr h, p;
	int fd;

	make_hdr(&h, 1);
	hdr_encode(&h, good);
	fill_seq(good + HDR_LEN, 100, 0); /* blocks follow the header */

	fd = temp_file(good, 0);
	why = NULL;
	CHECK_EQ_INT(hdr_read(fd, &p, &why), -ENOKEY);
	CHECK(why && strstr(why, "empty"));
	close(fd);

	fd = temp_file(good, 100);
	why = NULL;
	CHECK_EQ_INT(hdr_read(fd, &p, &why), -EINVAL);
	CHECK(why && strstr(why, "too short"));
	close(fd);

	fd = temp_file(good, HDR_LEN - 1);
	CHECK_EQ_INT(hdr_read(fd, &p, &why), -EINVAL);
	close(fd);

	fd = temp_file(good, sizeof(good));
	CHECK_EQ_INT(hdr_read(fd, &p, &why), 0);
	CHECK_MEM(p.file_id, h.file_id, ID_LEN);
	CHECK_EQ_INT(p.slot[1].gen, 2);
	fill_seq(dek, sizeof(dek), 0);
	CHECK_EQ_INT(hdr_slot_verify(&p, 0, test_vk, dek), 0);
	CHECK_EQ_INT(hdr_slot_verify(&p, 1, test_vk, dek), 0);
	close(fd);

	good[0] = 'h';
	fd = temp_file(good, HDR_LEN);
	why = NULL;
	CHECK_EQ_INT(hdr_read(fd, &p, &why), -EINVAL);
	CHECK(why && strstr(why, "magic"));
	close(fd);

	/* A descriptor that cannot be read: the read's own errno. */
	fd = open("/dev/null", O_WRONLY);
	CHECK_EQ_INT(hdr_read(fd, &p, &why), -EBADF);
	close(fd);
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
	CHECK_EQ_INT(rec_unpack(rec, REC_LEN, REC_MAGIC_DEK, id, out), -EINVAL);
	CHECK_MEM(rec, zero, REC_LEN);
	CHECK(memcmp(out, key, KEY_LEN) != 0);

	rec_pack(REC_MAGIC_DEK, id, key, rec);
	CHECK_EQ_INT(rec_unpack(rec, REC_LEN, REC_MAGIC_DEK, other, out),
		     -EINVAL);
	CHECK_MEM(rec, zero, REC_LEN);
	CHECK(memcmp(out, key, KEY_LEN) != 0);

	rec_pack(REC_MAGIC_DEK, id, key, rec);
	CHECK_EQ_INT(rec_unpack(rec, REC_LEN - 1, REC_MAGIC_DEK, id, out),
		     -EINVAL);
	CHECK_MEM(rec, zero, REC_LEN - 1);
	CHECK(memcmp(out, key, KEY_LEN) != 0);

	rec_pack(REC_MAGIC_DEK, id, key, rec);
	rec[REC_LEN] = 0x55;
	CHECK_EQ_INT(rec_unpack(rec, REC_LEN + 1, REC_MAGIC_DEK, id, out),
		     -EINVAL);
	CHECK_MEM(rec, zero, REC_LEN + 1);
	CHECK(memcmp(out, key, KEY_LEN) != 0);
}

/* Volume wrapping: the kid names one generation of one volume, in one
 * spelling; a slot opens only with its wrapping key, for its own file and
 * kind of key, and every byte of it counts. */
static void wk_slots(void)
{
	static const char *const bad[] = {
		"hsmfs-wk:AAECAwQFBgcICQoLDA0ODw:0",
		"hsmfs-wk:AAECAwQFBgcICQoLDA0ODw:01",
		"hsmfs-wk:AAECAwQFBgcICQoLDA0ODw:+1",
		"hsmfs-wk:AAECAwQFBgcICQoLDA0ODw:4294967296",
		"hsmfs-wk:AAECAwQFBgcICQoLDA0ODx:1",
		"hsmfs-wk:AAECAwQFBgcICQoLDA0ODw:",
		"hsmfs-wk:AAECAwQFBgcICQoLDA0ODw:1x",
	};
	uint8_t vid[ID_LEN], fid[ID_LEN], wk[KEY_LEN], wk2[KEY_LEN];
	uint8_t dek[KEY_LEN], out[KEY_LEN];
	struct hdr_slot s, t;
	uint32_t g = 0;

	fill_seq(vid, sizeof(vid), 0);
	fill_seq(fid, sizeof(fid), 0x40);
	fill_seq(wk, sizeof(wk), 0x80);
	fill_seq(wk2, sizeof(wk2), 0x81);
	fill_seq(dek, sizeof(dek), 0x10);
	hdr_wk_kid(vid, 7, s.kid);
	CHECK(strcmp(s.kid, "hsmfs-wk:AAECAwQFBgcICQoLDA0ODw:7") == 0);
	CHECK_EQ_INT(hdr_wk_kid_gen(s.kid, vid, &g), 0);
	CHECK_EQ_INT(g, 7);
	CHECK_EQ_INT(hdr_wk_kid_gen("hsmfs-wk:AAECAwQFBgcICQoLDA0ODw:4294967295",
				    vid, &g), 0);
	CHECK(g == 4294967295u);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		CHECK_EQ_INT(hdr_wk_kid_gen(bad[i], vid, &g), -EINVAL);

	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(hdr_wk_wrap(wk, vid, 3, REC_MAGIC_DEK, fid, dek, &s), 0);
	CHECK_EQ_INT(s.alg, KEK_ALG_WK_SIV);
	CHECK_EQ_INT(s.wlen, HDR_WK_WRAPPED_LEN);
	CHECK_EQ_INT(hdr_wk_unwrap(wk, &s, REC_MAGIC_DEK, fid, out), 0);
	CHECK_MEM(out, dek, KEY_LEN);
	CHECK_EQ_INT(hdr_wk_unwrap(wk2, &s, REC_MAGIC_DEK, fid, out), -EBADMSG);
	CHECK_EQ_INT(hdr_wk_unwrap(wk, &s, REC_MAGIC_VK, fid, out), -EBADMSG);
	CHECK_EQ_INT(hdr_wk_unwrap(wk, &s, REC_MAGIC_DEK, vid, out), -EBADMSG);
	/* Another generation's kid is associated data: refused. */
	t = s;
	hdr_wk_kid(vid, 4, t.kid);
	CHECK_EQ_INT(hdr_wk_unwrap(wk, &t, REC_MAGIC_DEK, fid, out), -EBADMSG);
	for (unsigned i = 0; i < s.wlen; i++) {
		t = s;
		t.wrapped[i] ^= 0x20;
		CHECK_EQ_INT(hdr_wk_unwrap(wk, &t, REC_MAGIC_DEK, fid, out),
			     -EBADMSG);
	}
}

CHECK_MAIN("hdr",
	   T(hdr_roundtrip), T(hdr_mac_known_answer),
	   T(hdr_rejects_corruption), T(hdr_every_flip_detected),
	   T(hdr_read_cases), T(hdr_slot_choice), T(rec_binding),
	   T(wk_slots))
