/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File header: 2048 bytes in front of a non-empty file's blocks.
 *
 *   0   4  magic "HSMF"          16  16 file id
 *   4   2  version (1)           32  slot 0 (1008 bytes)
 *   6   2  flags (0)           1040  slot 1 (1008 bytes)
 *   8   4  header length (2048)
 *  12   4  plaintext block size (4096)
 *
 * A slot holds the DEK wrapped by a KEK version, and a MAC under a key
 * derived from the volume key and that DEK. Two slots let a rewrap write
 * the spare slot while the other stays valid (LUKS style): a torn write
 * never loses the file.
 * Integers are big-endian. See crypto/FORMAT.md.
 *
 * Errors (the convention of crypto/keys.h): 0 or -errno; -EINVAL with
 * *why for bytes that are not a header, -EBADMSG for a slot whose MAC does
 * not verify and for nothing else, -ENOKEY for an empty file, a disk
 * error as its own errno.
 */
#ifndef HSMFS_HDR_H
#define HSMFS_HDR_H

#include <stddef.h>
#include <stdint.h>

#include "common/wrap.h"
#include "keys.h"

#define HDR_LEN 2048
#define HDR_FIXED_LEN 32
#define HDR_SLOT_LEN 1008
#define HDR_SLOTS 2
_Static_assert(HDR_FIXED_LEN + HDR_SLOTS * HDR_SLOT_LEN == HDR_LEN,
	       "the fixed part and the slots fill the header");
#define HDR_VERSION 1
/* A slot: gen(4) alg(1) kid length(1) wrapped length(2), kid(256),
 * wrapped key(512), then the MAC(32) over all that, then zeros. */
#define HDR_KID_MAX 255
_Static_assert(HDR_KID_MAX + 1 == KEK_KID_MAX,
	       "a kid the HSM names fits a slot, its length fits a byte");
#define HDR_WRAPPED_MAX 512
_Static_assert(HDR_WRAPPED_MAX == KEK_WRAPPED_MAX,
	       "a key the HSM wraps fits a slot");
#define HDR_SLOT_MACED 776 /* slot bytes covered by the slot MAC */
_Static_assert(HDR_SLOT_MACED == 8 + HDR_KID_MAX + 1 + HDR_WRAPPED_MAX &&
	       HDR_SLOT_MACED + 32 <= HDR_SLOT_LEN,
	       "kid, wrapped key and MAC lie inside the slot");

/* The record a KEK wraps: magic(8) || id(16) || key(32). Binding the file
 * or volume id means a wrapped key cannot serve in another header. */
#define REC_LEN (8 + ID_LEN + KEY_LEN)
#define REC_MAGIC_DEK "HSMFSDK1"
#define REC_MAGIC_VK "HSMFSVK1"
#define REC_MAGIC_WK "HSMFSWK1"

/* Volume-wrap volumes (FORMAT.md section 8): a slot (or the config's
 * volume key) wrapped locally by the volume's wrapping key WK of one
 * generation: alg KEK_ALG_WK_SIV, kid "hsmfs-wk:<volume id>:<generation>"
 * (base64url, decimal), wrapped = AES-256-SIV(HKDF(WK, KDF_WK_SIV), AD =
 * the kid, the record), tag first. Such a kid is never sent anywhere. */
#define HDR_WK_KID_PREFIX "hsmfs-wk:"
#define HDR_WK_WRAPPED_LEN (KEYS_SIV_TAG + REC_LEN)

struct hdr_slot {
	uint32_t gen; /* 0: empty */
	enum kek_alg alg;
	char kid[HDR_KID_MAX + 1];
	uint16_t wlen;
	uint8_t wrapped[HDR_WRAPPED_MAX];
	uint8_t mac[32];
};

struct hdr {
	uint8_t file_id[ID_LEN];
	struct hdr_slot slot[HDR_SLOTS];
	/* Why a slot was set aside as malformed (NULL if it was not). Such a
	 * slot reads as empty: a write of one slot torn by a power cut must
	 * not take the other, intact slot down with it. */
	const char *bad[HDR_SLOTS];
};

/* Parses and checks the structure (not the MACs): 0 (at least one
 * well-formed slot in use), or -EINVAL with *why naming the rule broken. */
int hdr_parse(const uint8_t buf[HDR_LEN], struct hdr *h, const char **why);
/* Reads and parses the header at offset 0 of a backing file: 0 with h
 * filled; -ENOKEY for an empty file (no header, no key yet); -EINVAL for
 * bytes that are not a header, a file too short for one included; the
 * read's own -errno for a disk error. *why is set on every error. */
int hdr_read(int fd, struct hdr *h, const char **why);
/* The same, reading len >= HDR_LEN bytes from offset 0 into buf in one
 * go (what follows the header too, for a reader that needs it next);
 * *got says how many the file had. */
int hdr_read_head(int fd, uint8_t *buf, size_t len, size_t *got,
		  struct hdr *h, const char **why);
/* Serializes the whole header (MACs as stored in h). */
void hdr_encode(const struct hdr *h, uint8_t buf[HDR_LEN]);
/* Byte offset of slot i inside the header. */
unsigned hdr_slot_offset(int i);

/* Computes slot i's MAC, keyed from the volume key and the DEK, into h.
 * 0, -EIO or -ENOMEM. */
int hdr_slot_seal(struct hdr *h, int i, const uint8_t vk[KEY_LEN],
		  const uint8_t dek[KEY_LEN]);
/* 0 if slot i's MAC verifies, -EBADMSG if not; -EIO or -ENOMEM if it
 * could not be computed. */
int hdr_slot_verify(const struct hdr *h, int i, const uint8_t vk[KEY_LEN],
		    const uint8_t dek[KEY_LEN]);
/* Slot indexes with gen != 0, highest generation first; returns count. */
int hdr_slot_order(const struct hdr *h, int order[HDR_SLOTS]);
/* The slot to write next: empty, or the one with the lower generation. */
int hdr_spare_slot(const struct hdr *h);

void rec_pack(const char magic[8], const uint8_t id[ID_LEN],
	      const uint8_t key[KEY_LEN], uint8_t rec[REC_LEN]);
/* Checks length, magic and id, copies the key out. 0, or -EINVAL if rec
 * is not that kind of record for that id. rec is wiped either way. */
int rec_unpack(uint8_t *rec, size_t n, const char magic[8],
	       const uint8_t id[ID_LEN], uint8_t key[KEY_LEN]);

/* The kid of wrapping-key generation gen (> 0) of a volume. */
void hdr_wk_kid(const uint8_t volume_id[ID_LEN], uint32_t gen,
		char kid[HDR_KID_MAX + 1]);
/* The generation a local kid names: 0 with *gen set, or -EINVAL if it is
 * malformed or names another volume. */
int hdr_wk_kid_gen(const char *kid, const uint8_t volume_id[ID_LEN],
		   uint32_t *gen);
/* The one way a key is wrapped locally: the record magic || id || key
 * sealed with wk (generation gen of volume volume_id) into s (alg, kid,
 * wrapped; gen and mac are the caller's). 0, -EIO or -ENOMEM. */
int hdr_wk_wrap(const uint8_t wk[KEY_LEN], const uint8_t volume_id[ID_LEN],
		uint32_t gen, const char magic[8], const uint8_t id[ID_LEN],
		const uint8_t key[KEY_LEN], struct hdr_slot *s);
/* And back: 0 with key set; -EBADMSG if s does not open with wk or holds
 * a record bound to another magic or id; -EINVAL if s is not a local
 * slot; -EIO or -ENOMEM. Nothing of the record is left behind. */
int hdr_wk_unwrap(const uint8_t wk[KEY_LEN], const struct hdr_slot *s,
		  const char magic[8], const uint8_t id[ID_LEN],
		  uint8_t key[KEY_LEN]);

#endif
