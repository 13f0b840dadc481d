/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where a file's blocks lie in its backing file. The volume config's
 * format picks one of three layouts for every file of the volume:
 *
 *  1, packed:  the 2048-byte header, then each block as nonce(12) ||
 *              ciphertext || tag(16), back to back (4124-byte strides).
 *  2, aligned: each block's ciphertext in a 4096-byte page of its own and
 *              its nonce || tag (a 28-byte record) in a record page:
 *              page 0 is the header and the records of blocks 0..72,
 *              pages 1..73 blocks 0..72; then groups of one record page
 *              (146 records) followed by the 146 pages of its blocks.
 *  3, aligned with state: as 2, but page 0 holds the header, the
 *              file's state (crypto/fmeta.h, 1024 bytes) and the records
 *              of blocks 0..35 only, so the first group is 36 blocks. A
 *              whole block whose record is all zero and which the state
 *              lists as a hole reads as zeros.
 *
 * The aligned layout exists for the backing file system's sake: a 4 KiB
 * write to the mount becomes a page-aligned 4 KiB write there, which
 * never makes it read the page from disk first. Only the last block may
 * be short, and then the file ends with it. See crypto/FORMAT.md.
 *
 * Errors (the convention of crypto/keys.h): 0 or -errno, and the three
 * ways a read of blocks fails stay apart: -ENODATA, the file ends before
 * the block does; -EBADMSG, the block is not authentic; a disk error, its
 * own errno.
 */
#ifndef HSMFS_LAYOUT_H
#define HSMFS_LAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "blk.h"
#include "fmeta.h"
#include "hdr.h"

#define LAY_PACKED 1
#define LAY_ALIGNED 2
#define LAY_V3 3
#define LAY_PAGE 4096
_Static_assert(LAY_PAGE == BLK_PLAIN, "an aligned block fills its page");
#define LAY_REC 28                                /* nonce || tag */
_Static_assert(LAY_REC == BLK_OVERHEAD, "a record is a block's overhead");
#define LAY_G0 ((LAY_PAGE - HDR_LEN) / LAY_REC)   /* 73 blocks */
#define LAY_G (LAY_PAGE / LAY_REC)                /* 146 blocks */
/* Format 3: the header and the state, then 36 records. */
#define LAY_V3_REC0 (HDR_LEN + FMETA_AREA)
#define LAY_G0_V3 ((LAY_PAGE - LAY_V3_REC0) / LAY_REC) /* 36 blocks */
_Static_assert(LAY_G0 == 73 && LAY_G == 146 && LAY_G0_V3 == 36,
	       "the group sizes are part of the format (FORMAT.md)");

/* The largest plaintext size a file may grow to (4 EiB): its backing
 * size, in every layout, still fits an off_t. Backing file systems allow
 * far less (ext4: 16 TiB); this bound only keeps the arithmetic exact. */
#define LAY_PLAIN_MAX (1ull << 62)

/* True for a layout this build reads and writes. */
int lay_valid(int lay);
/* Bytes that a file with a key and no content has: the header (formats
 * 1, 2), or the header and the state (3). */
uint64_t lay_header_len(int lay);
/* Offset of block b: its nonce (packed) or its page (aligned). */
off_t lay_data_off(int lay, uint64_t b);
/* Offset of block b's record (aligned layouts). */
off_t lay_rec_off(int lay, uint64_t b);
/* Of the n blocks from b on, how many one read or write can cover: all
 * of them (packed), or up to the end of b's group (aligned). */
uint64_t lay_run(int lay, uint64_t b, uint64_t n);
/* Backing size of a file holding psize plaintext bytes (the header
 * alone for 0: a file truncated to 0 keeps its key). */
uint64_t lay_backing_size(int lay, uint64_t psize);
/* Plaintext size of a backing file of n bytes: 0 for an empty file or a
 * header alone, -EINVAL for a size no valid file has. */
int64_t lay_plain_size(int lay, uint64_t n);

/* Reads and authenticates blocks b0 .. b0 + n - 1 (n <= lay_run(b0, n)), all
 * full but the last, which is last bytes long, into out (contiguous
 * plaintext). m is the file's state (format 3; NULL: no holes). cbuf holds
 * n * BLK_CIPHER bytes, rbuf n * LAY_REC. Returns 0; or -ENODATA (short
 * file), -EBADMSG (not authentic), the disk's -errno, or blk_open's other
 * errors, with *bad set to the block. */
int lay_read_run(int lay, int fd, const struct blk_key *k,
		 const struct fmeta *m, uint64_t b0, uint64_t n, size_t last,
		 uint8_t *out, uint8_t *cbuf, uint8_t *rbuf, uint64_t *bad);
/* Encrypts and writes the same, from in. Data goes before records, so
 * that the file never ends in a record page. 0 or -errno. */
int lay_write_run(int lay, int fd, const struct blk_key *k, uint64_t b0,
		  uint64_t n, size_t last, const uint8_t *in, uint8_t *cbuf,
		  uint8_t *rbuf);

/* A lay_read_run error in words, for "block N <this>": "is short",
 * "failed authentication", or "read error: <strerror>" in buf. */
const char *lay_strerror(int err, char *buf, size_t n);

#endif
