/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A format-3 file's own state, beside its header in page 0: how many
 * blocks its key has encrypted (so that the 2^32 random-nonce budget of
 * one AES-GCM key is counted, not assumed) and which blocks are holes.
 *
 *   page 0:  header (2048) | copy 0 (512) | copy 1 (512) | records of
 *            blocks 0..35 (crypto/layout.h)
 *
 * A copy: magic "HSMM"(4) gen(4) writes(8) nholes(2) zero(6),
 * 28 holes of first block(8) || block count(8), zero(8), then an
 * HMAC-SHA256 (32) under HKDF(DEK, "hsmfs v3 file meta") over the file id
 * and the copy's first 480 bytes. Two copies for the reason the header has
 * two slots: an update writes the spare one, so a torn write never loses
 * the state. Every file with a header has one (it is written with the
 * header): zeroing both copies would otherwise reset the count and drop
 * the holes. Integers are big-endian. See crypto/FORMAT.md.
 *
 * Errors (the convention of crypto/keys.h): 0 or -errno; -EBADMSG when
 * neither copy is authentic, -EINVAL with
 * *why for a copy that authenticates but breaks a rule, -ENODATA for a
 * file too short to hold the area, a disk error as its own errno.
 */
#ifndef HSMFS_FMETA_H
#define HSMFS_FMETA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "keys.h"

#define FMETA_OFF 2048
#define FMETA_LEN 512
#define FMETA_COPIES 2
#define FMETA_AREA (FMETA_COPIES * FMETA_LEN)
#define FMETA_HOLES_MAX 28
#define FMETA_MACED 480
_Static_assert(24 + FMETA_HOLES_MAX * 16 + 8 == FMETA_MACED &&
	       FMETA_MACED + 32 == FMETA_LEN, "a copy's fields fill it");
/* NIST SP 800-38D: at most 2^32 encryptions with random 96-bit nonces
 * under one key. */
#define FMETA_WRITES_MAX (1ull << 32)
#define KDF_FILE_META "hsmfs v3 file meta"

struct fmeta_hole {
	uint64_t first, count;
};

struct fmeta {
	uint32_t gen;   /* of the copy in use; 0: none written yet */
	int copy;       /* the copy in use (0 or 1) */
	uint64_t writes; /* block encryptions under this key, at most */
	unsigned nholes;
	struct fmeta_hole hole[FMETA_HOLES_MAX];
};

/* The MAC key, derived from the file's DEK: 0, -ENOMEM or -EIO. */
int fmeta_key(const uint8_t dek[KEY_LEN], uint8_t mkey[KEY_LEN]);
/* Parses and authenticates the area (both copies, FMETA_AREA bytes): the
 * authentic copy with the higher generation wins. 0, -EBADMSG, -EINVAL
 * (why set) or -EIO. */
int fmeta_parse(const uint8_t *area, const uint8_t mkey[KEY_LEN],
		const uint8_t file_id[ID_LEN], struct fmeta *m,
		const char **why);
/* Reads the area at FMETA_OFF of fd and parses it. */
int fmeta_read(int fd, const uint8_t mkey[KEY_LEN],
	       const uint8_t file_id[ID_LEN], struct fmeta *m,
	       const char **why);
/* Writes m as the next generation into the spare copy (both copies when
 * none was written yet), m->gen updated. 0 or -errno; m is unchanged on
 * error. */
int fmeta_write(int fd, const uint8_t mkey[KEY_LEN],
		const uint8_t file_id[ID_LEN], struct fmeta *m);
/* Encodes generation gen of m into one copy (FMETA_LEN bytes). */
int fmeta_encode(const struct fmeta *m, uint32_t gen,
		 const uint8_t mkey[KEY_LEN], const uint8_t file_id[ID_LEN],
		 uint8_t *out);
/* A new file's first state: generation 1 of m in both copies of area
 * (FMETA_AREA bytes), as fmeta_write would write it. */
int fmeta_encode_first(const struct fmeta *m, const uint8_t mkey[KEY_LEN],
		       const uint8_t file_id[ID_LEN], uint8_t *area);
/* Lists blocks [first, first + count) as a hole, merged with holes they
 * touch. 0, or -ENOSPC if the state has no room (m unchanged). */
int fmeta_add_hole(struct fmeta *m, uint64_t first, uint64_t count);
/* Takes blocks [first, first + count) out of every hole (count 0: to the
 * end). 0, or -ENOSPC if a hole would split and there is no room for
 * the second half (m unchanged). */
int fmeta_cut(struct fmeta *m, uint64_t first, uint64_t count);
/* The index of the first hole that meets [first, first + count), or -1. */
int fmeta_overlap(const struct fmeta *m, uint64_t first, uint64_t count);
/* 1 if block b lies in one of m's holes. */
int fmeta_in_hole(const struct fmeta *m, uint64_t b);

#endif
