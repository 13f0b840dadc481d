/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backing space for file content, so that a full or size-limited backing
 * file system fails a request with its own errno (ENOSPC, EDQUOT, EFBIG)
 * and leaves the file as it was, never with blocks that lack their
 * records or a size past what was acknowledged.
 *
 * A change that grows a file first asks whether the backing file may be
 * that long and whether the backing fs has the room, then reserves the
 * room (fallocate with FALLOC_FL_KEEP_SIZE: the size still moves only as
 * blocks are written, so a crash leaves no block without its record), all
 * before anything is written. What can still fail after that (a backing
 * fs without fallocate, a disk error) is undone: the backing file is cut
 * back to its old size and its old last block put back as it was stored.
 * Writing into a format-3 hole needs pages the backing file may lack too.
 *
 * The caller holds the inode's rw lock for write. Functions return 0 or
 * -errno as the application gets it.
 */
#ifndef HSMFS_FUSE_SPACE_H
#define HSMFS_FUSE_SPACE_H

#include <stdbool.h>
#include <stdint.h>

#include "crypto/layout.h"
#include "inode.h"

/* What putting a file back after a failed growth takes. */
struct space_undo {
	bool armed;               /* a growth was prepared */
	int64_t psize;            /* plaintext size before */
	uint64_t bsize;           /* backing size before (0: no header) */
	size_t tail_len;          /* the old last block as stored, if partial */
	uint8_t tail[BLK_CIPHER];
	uint8_t rec[LAY_REC];     /* and its record (aligned layouts) */
	bool have_state;          /* format 3: the holes before */
	struct fmeta state;
};

/* Prepares growing in's content to end plaintext bytes, writing blocks
 * from plaintext offset from (at most the current size: a gap is filled)
 * on: -EFBIG if the backing file may not be that long, -ENOSPC (or the
 * backing fs's errno) if the room cannot be had, nothing changed. A size
 * that does not grow the file prepares nothing. */
int space_grow(struct inode *in, int fd, uint64_t from, uint64_t end,
	       struct space_undo *u);
/* After a prepared growth failed: the backing size, the old last block,
 * the holes and the plaintext size as they were (logged if that fails
 * too). The caller drops the key of a file that had no header. */
void space_undo(struct inode *in, int fd, const struct space_undo *u);
/* fallocate's reservation of plaintext [0, end), the file unchanged:
 * -EFBIG, or the backing fs's errno with what a failed fallocate took
 * past the end of the file given back. */
int space_reserve(struct inode *in, int fd, uint64_t end);
/* Reserves the pages that writing blocks b0..b1 (the last `last` bytes
 * long) takes where they lie in a format-3 hole. */
int space_fill(struct inode *in, int fd, uint64_t b0, uint64_t b1,
	       size_t last);

#endif
