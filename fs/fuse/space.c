/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/log.h"
#include "fstate.h"
#include "space.h"

/* Where block b's stored form begins: its page (or, packed, its nonce),
 * or the page of its record if that comes first. */
static uint64_t block_start(int lay, uint64_t b)
{
	if (lay == LAY_PACKED)
		return (uint64_t)lay_data_off(lay, b);
	return (uint64_t)lay_rec_off(lay, b) / LAY_PAGE * LAY_PAGE;
}

#define SMALL_FILE (1u << 20)

/* Whether a backing file may be hi bytes long and the backing fs has the
 * hi - lo bytes free, changing nothing: -EFBIG or -ENOSPC. lseek refuses
 * an offset past the largest file the backing fs allows with EINVAL (the
 * descriptor's offset is never used: content goes by pread and pwrite).
 * The free space is only a first look that saves a hopeless reservation
 * from taking all there is, for a moment, from everyone else. */
static int fits(int fd, uint64_t lo, uint64_t hi)
{
	struct statvfs sv;

	/* A file that stays within its first MiB needs neither look (two
	 * syscalls a small file): every file system Linux mounts allows a
	 * file that long, and a reservation that fails can take no more than
	 * that from the others, for a moment; reserve() still gives the
	 * errno. */
	if (hi <= SMALL_FILE)
		return 0;
	if (lseek(fd, (off_t)hi, SEEK_SET) < 0)
		return errno == EINVAL ? -EFBIG : -errno;
	if (fstatvfs(fd, &sv) == 0 && sv.f_frsize > 0 &&
	    (hi - lo) / sv.f_frsize > sv.f_bfree)
		return -ENOSPC;
	return 0;
}

/* Allocates [lo, hi) of the backing file without moving its size. A file
 * system without fallocate reserves nothing: the caller undoes instead. */
static int reserve(int fd, uint64_t lo, uint64_t hi)
{
	if (hi <= lo ||
	    fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)lo, (off_t)(hi - lo)) == 0)
		return 0;
	return errno == EOPNOTSUPP ? 0 : -errno;
}

/* pread of exactly n bytes: 0 or -errno. */
static int get(int fd, uint8_t *p, size_t n, off_t off)
{
	ssize_t r = pread(fd, p, n, off);

	if (r == (ssize_t)n)
		return 0;
	return r < 0 ? -errno : -EIO;
}

/* The old last block as stored, when a growth rewrites it: a partial
 * block becomes whole (or longer), under a new nonce. */
static int save_tail(const struct inode *in, int fd, struct space_undo *u)
{
	uint64_t lb;
	off_t at;
	int err;

	u->tail_len = 0;
	if (u->psize == 0 || u->psize % BLK_PLAIN == 0)
		return 0;
	lb = (uint64_t)u->psize / BLK_PLAIN;
	at = lay_data_off(in->lay, lb);
	if ((err = get(fd, u->tail, (size_t)(u->bsize - (uint64_t)at), at)))
		return err;
	if (in->lay != LAY_PACKED &&
	    (err = get(fd, u->rec, LAY_REC, lay_rec_off(in->lay, lb))))
		return err;
	u->tail_len = (size_t)(u->bsize - (uint64_t)at);
	return 0;
}

int space_grow(struct inode *in, int fd, uint64_t from, uint64_t end,
	       struct space_undo *u)
{
	uint64_t lo, hi;
	int err;

	u->armed = false;
	if (end <= (uint64_t)in->psize)
		return 0;
	if (end > LAY_PLAIN_MAX)
		return -EFBIG;
	u->psize = in->psize;
	u->bsize = in->key ? lay_backing_size(in->lay, (uint64_t)in->psize) : 0;
	hi = lay_backing_size(in->lay, end);
	/* From the end on; or, if the blocks before from are left out (a
	 * hole), from the first one written. */
	lo = u->bsize;
	if (from > (uint64_t)in->psize &&
	    block_start(in->lay, from / BLK_PLAIN) > lo)
		lo = block_start(in->lay, from / BLK_PLAIN);
	if ((err = fits(fd, lo, hi)) || (err = save_tail(in, fd, u)))
		return err;
	u->have_state = in->state != NULL;
	if (in->state)
		u->state = *in->state;
	if ((err = reserve(fd, lo, hi))) {
		/* What a failed fallocate did allocate lies past the end. */
		(void)!ftruncate(fd, (off_t)u->bsize);
		return err;
	}
	u->armed = true;
	return 0;
}

/* pwrite of all n bytes: 0 or -errno. */
static int put(int fd, const uint8_t *p, size_t n, off_t off)
{
	ssize_t w = pwrite(fd, p, n, off);

	if (w == (ssize_t)n)
		return 0;
	return w < 0 ? -errno : -EIO;
}

/* The holes as they were (a failed growth may have listed or cut some),
 * with the count of blocks encrypted as it is now: it never goes back. */
static int put_holes(struct inode *in, int fd, const struct space_undo *u)
{
	struct fmeta m;

	if (!u->have_state || !in->state ||
	    (in->state->nholes == u->state.nholes &&
	     !memcmp(in->state->hole, u->state.hole,
		     u->state.nholes * sizeof(*u->state.hole))))
		return 0;
	m = *in->state;
	m.nholes = u->state.nholes;
	memcpy(m.hole, u->state.hole, sizeof(m.hole));
	return fstate_set(in, fd, &m);
}

/* The old last block back in place, as it was stored: its pages are
 * still there, so this needs no new space. */
static int put_tail(const struct inode *in, int fd, const struct space_undo *u)
{
	uint64_t lb = ((uint64_t)u->psize - 1) / BLK_PLAIN;
	int err;

	if (!u->tail_len)
		return 0;
	if ((err = put(fd, u->tail, u->tail_len, lay_data_off(in->lay, lb))))
		return err;
	if (in->lay == LAY_PACKED)
		return 0;
	return put(fd, u->rec, LAY_REC, lay_rec_off(in->lay, lb));
}

void space_undo(struct inode *in, int fd, const struct space_undo *u)
{
	char path[512];
	int err = 0;

	if (!u->armed)
		return;
	in->psize = u->psize;
	/* Cutting frees what was written and what was reserved; with the old
	 * last block put back the file is byte for byte what it was. */
	if (ftruncate(fd, (off_t)u->bsize) != 0)
		err = -errno;
	if (!err)
		err = put_tail(in, fd, u);
	if (!err)
		err = put_holes(in, fd, u);
	if (err)
		log_err("%s: cannot undo a failed write: %s; its last block may "
			"fail authentication", inode_path(fd, path, sizeof(path)),
			strerror(-err));
}

int space_fill(struct inode *in, int fd, uint64_t b0, uint64_t b1,
	       size_t last)
{
	if (!in->state || fmeta_overlap(in->state, b0, b1 - b0 + 1) < 0)
		return 0;
	return reserve(fd, block_start(in->lay, b0),
		       (uint64_t)lay_data_off(in->lay, b1) + last);
}

int space_reserve(struct inode *in, int fd, uint64_t end)
{
	uint64_t bsize = in->key ? lay_backing_size(in->lay,
						    (uint64_t)in->psize) : 0;
	int err;

	if (end > LAY_PLAIN_MAX)
		return -EFBIG;
	if ((err = reserve(fd, 0, lay_backing_size(in->lay, end))))
		(void)!ftruncate(fd, (off_t)bsize);
	return err;
}
