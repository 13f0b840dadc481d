/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File content: plaintext offsets to encrypted blocks. A backing file is
 * empty (an empty file) or a header followed by blocks; only the last block
 * may be short. Before format 3, gaps are filled with encrypted zero
 * blocks, never backing holes, so that a zeroed block is detected like any
 * other change. A change that grows a file has its backing space first,
 * or is undone (space.h).
 *
 * In format 3 every block a file key encrypts is counted (fstate.h), and
 * a gap of whole blocks becomes a hole that the file's authenticated state
 * lists; a zeroed block outside that list still fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/stop.h"
#include "crypto/layout.h"
#include "fs/vol/filekey.h"
#include "audit.h"
#include "content.h"
#include "fstate.h"
#include "space.h"

/* Blocks per I/O: a whole maximal request, plus one at either end. */
#define IO_BLOCKS (FSD_MAX_IO / BLK_PLAIN + 2)

struct iobuf {
	uint8_t c[IO_BLOCKS * BLK_CIPHER];
	uint8_t r[IO_BLOCKS * LAY_REC];
	uint8_t p[IO_BLOCKS * BLK_PLAIN];
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t buf_key;
static uint8_t zeros[FSD_MAX_IO];

static void make_key(void)
{
	pthread_key_create(&buf_key, free);
}

/* Each FUSE thread gets its buffers once, not per request or block. */
static struct iobuf *iobuf(void)
{
	struct iobuf *b;

	pthread_once(&once, make_key);
	b = pthread_getspecific(buf_key);
	if (!b) {
		b = malloc(sizeof(*b));
		if (b && pthread_setspecific(buf_key, b) != 0) {
			free(b);
			b = NULL;
		}
	}
	return b;
}

int64_t content_plain_size(const struct vol *v, uint64_t n)
{
	return lay_plain_size(v->conf.format, n);
}

/* Logs a failed read of a block; corrupt content is EIO to the reader,
 * a disk error keeps its own errno. */
static int block_error(int fd, int err, uint64_t block)
{
	char path[512], msg[128];

	log_err("%s: block %llu %s", inode_path(fd, path, sizeof(path)),
		(unsigned long long)block, lay_strerror(err, msg, sizeof(msg)));
	return err == -ENODATA || err == -EBADMSG ? -EIO : err;
}

static void drop_keys(struct inode *in)
{
	blk_key_free(in->key);
	in->key = NULL;
	fstate_drop(in);
}

/* Loads header and key on the first open; the caller holds rw for write.
 * *unwrapped says whether that took an HSM call. */
int content_open(struct fsd *fs, struct inode *in, int fd,
		 const struct stat *known, bool *unwrapped)
{
	uint8_t dek[KEY_LEN];
	uint8_t head[HDR_LEN + FMETA_AREA];
	char path[512], kwhy[KEK_ERR_MAX + 128];
	size_t hn, got;
	struct hdr h;
	struct stat st;
	enum vol_key_src src = VOL_KEY_CACHE;
	enum kek_status kst;
	const char *why;
	int err, slot;

	*unwrapped = false;
	if (in->opens++ > 0)
		return 0;
	if (known)
		st = *known;
	else if (fstat(fd, &st) != 0)
		return in->opens--, -errno;
	in->lay = fs->vol.conf.format;
	in->write_limit = fs->write_limit;
	in->psize = lay_plain_size(in->lay, (uint64_t)st.st_size);
	if (in->psize == 0 && st.st_size == 0)
		return 0;
	/* The path is looked up (a readlink) only for a line logged. */
	if (in->psize < 0) {
		in->opens--;
		log_err("%s: size %lld is not a valid encrypted size "
			"(truncated?)", inode_path(fd, path, sizeof(path)),
			(long long)st.st_size);
		return -EIO;
	}
	/* Header and state in one read (format 3: both in page 0). */
	hn = (size_t)lay_header_len(in->lay);
	if ((err = hdr_read_head(fd, head, hn, &got, &h, &why)) == -EINVAL) {
		in->opens--;
		log_err("%s: bad header: %s",
			inode_path(fd, path, sizeof(path)), why);
		return -EIO;
	}
	if (err) {
		/* A disk error, or the file emptied since fstat. */
		in->opens--;
		log_err("%s: cannot read header: %s",
			inode_path(fd, path, sizeof(path)),
			err == -ENOKEY ? why : strerror(-err));
		return err == -ENOKEY ? -EIO : err;
	}
	slot = vol_file_key_slot(&fs->vol, &h, dek, &kst, &src, kwhy,
				 sizeof(kwhy));
	if (slot < 0)
		log_err("%s: %s", inode_path(fd, path, sizeof(path)), kwhy);
	*unwrapped = src == VOL_KEY_HSM;
	err = audit_key(fs, in, "open", fd, &h, slot, audit_src(src),
			slot < 0 ? slot : 0);
	if (slot < 0)
		err = slot;
	if (!err && !(in->key = blk_key_new(dek, h.file_id)))
		err = -ENOMEM;
	if (!err)
		err = fstate_load(in, fd, dek, in->lay == LAY_V3 &&
				  got == hn ? head + FMETA_OFF : NULL);
	secmem_wipe(dek, sizeof(dek));
	if (err)
		drop_keys(in), in->opens--;
	return err;
}

void content_close(struct inode *in, int fd)
{
	if (in->key)
		fstate_save(in, fd);
	if (in->opens > 0 && --in->opens > 0)
		return;
	drop_keys(in);
	in->psize = 0;
}

/* The first write to an empty file: a new DEK, wrapped into a header. */
static int make_header(struct fsd *fs, struct inode *in, int fd)
{
	uint8_t buf[LAY_PAGE] = { 0 }, dek[KEY_LEN];
	size_t n;
	struct hdr h;
	int err;

	if ((err = vol_new_file_key(&fs->vol, &h, dek)))
		return err;
	if ((err = audit_key(fs, in, "create", fd, &h, 0, "new", 0))) {
		secmem_wipe(dek, sizeof(dek));
		return err;
	}
	in->lay = fs->vol.conf.format;
	in->write_limit = fs->write_limit;
	n = (size_t)lay_header_len(in->lay);
	hdr_encode(&h, buf);
	if (!(in->key = blk_key_new(dek, h.file_id)))
		err = -ENOMEM;
	else
		err = fstate_first(in, dek, buf + FMETA_OFF);
	errno = 0;
	if (!err && pwrite(fd, buf, n, 0) != (ssize_t)n)
		err = errno ? -errno : -EIO;
	secmem_wipe(dek, sizeof(dek));
	if (err) {
		drop_keys(in);
		(void)!ftruncate(fd, 0);
	}
	in->psize = 0;
	return err;
}

int content_file_id(struct fsd *fs, struct inode *in, int fd, bool create,
		    uint8_t id[ID_LEN])
{
	bool unwrapped;
	int err;

	pthread_rwlock_wrlock(&in->rw);
	if ((err = content_open(fs, in, fd, NULL, &unwrapped)))
		goto out;
	if (!in->key && create)
		err = make_header(fs, in, fd);
	if (!err && !in->key)
		err = -ENODATA;
	if (!err)
		memcpy(id, in->key->file_id, ID_LEN);
	content_close(in, fd);
out:
	pthread_rwlock_unlock(&in->rw);
	return err;
}

/* Length of block b (which starts before psize) in a file of psize. */
static size_t blk_len(int64_t psize, uint64_t b)
{
	uint64_t left = (uint64_t)psize - b * BLK_PLAIN;

	return left < BLK_PLAIN ? (size_t)left : BLK_PLAIN;
}

/* Decrypts blocks b0..b1 into out, one layout run at a time. */
static int read_blocks(struct inode *in, int fd, uint64_t b0, uint64_t b1,
		       uint8_t *out, struct iobuf *io)
{
	uint64_t n, bad;
	int r;

	for (; b0 <= b1; b0 += n, out += n * BLK_PLAIN) {
		n = lay_run(in->lay, b0, b1 - b0 + 1);
		r = lay_read_run(in->lay, fd, in->key, in->state, b0, n,
				 blk_len(in->psize, b0 + n - 1), out, io->c,
				 io->r, &bad);
		if (r)
			return block_error(fd, r, bad);
	}
	return 0;
}

static int put_blocks(struct inode *in, int fd, uint64_t b0, uint64_t b1,
		      size_t last, const uint8_t *p, struct iobuf *io)
{
	uint64_t n;
	int err;

	if ((err = space_fill(in, fd, b0, b1, last)) ||
	    (err = fstate_spend(in, fd, b1 - b0 + 1)))
		return err;
	for (; b0 <= b1; b0 += n, p += n * BLK_PLAIN) {
		n = lay_run(in->lay, b0, b1 - b0 + 1);
		err = lay_write_run(in->lay, fd, in->key, b0, n,
				    b0 + n - 1 == b1 ? last : BLK_PLAIN, p,
				    io->c, io->r);
		if (err)
			return err;
	}
	return 0;
}

/* Format 3: blocks b0..b1 now hold data, so they leave the holes (a
 * listed block would read as zeros if its data and record were zeroed).
 * A hole that would split when the state has no room for another loses
 * its tail instead, filled with encrypted zeros first. */
static int uncover(struct inode *in, int fd, uint64_t b0, uint64_t b1,
		   struct iobuf *io)
{
	struct fmeta m;
	uint64_t end, n;
	int i, err;

	if (!in->state || (i = fmeta_overlap(in->state, b0, b1 - b0 + 1)) < 0)
		return 0;
	m = *in->state;
	if (fmeta_cut(&m, b0, b1 - b0 + 1) == 0)
		return fstate_set(in, fd, &m);
	end = in->state->hole[i].first + in->state->hole[i].count;
	for (uint64_t b = b1 + 1; b < end; b += n) {
		n = end - b < sizeof(zeros) / BLK_PLAIN ?
		    end - b : sizeof(zeros) / BLK_PLAIN;
		if ((err = put_blocks(in, fd, b, b + n - 1, BLK_PLAIN, zeros,
				      io)))
			return err;
	}
	m = *in->state;
	if ((err = fmeta_cut(&m, b0, end - b0)))
		return err;
	return fstate_set(in, fd, &m);
}

/* Encrypts and writes blocks b0..b1 from p, all whole but the last (last
 * bytes), one layout run at a time. */
static int write_blocks(struct inode *in, int fd, uint64_t b0, uint64_t b1,
			size_t last, const uint8_t *p, struct iobuf *io)
{
	int err = put_blocks(in, fd, b0, b1, last, p, io);

	return err ? err : uncover(in, fd, b0, b1, io);
}

ssize_t content_read(struct inode *in, int fd, size_t size, off_t off,
		     const uint8_t **out)
{
	struct iobuf *io = iobuf();
	uint64_t end, b0;
	int err;

	if (!io)
		return -ENOMEM;
	if (off < 0 || (int64_t)off >= in->psize || size == 0 || !in->key)
		return 0;
	if (size > FSD_MAX_IO)
		size = FSD_MAX_IO;
	end = (uint64_t)off + size;
	if (end > (uint64_t)in->psize)
		end = (uint64_t)in->psize;
	b0 = (uint64_t)off / BLK_PLAIN;
	if ((err = read_blocks(in, fd, b0, (end - 1) / BLK_PLAIN, io->p, io)))
		return err;
	*out = io->p + ((uint64_t)off - b0 * BLK_PLAIN);
	return (ssize_t)(end - (uint64_t)off);
}

/* Writes plaintext [off, off + len) that lies within IO_BLOCKS - 2 blocks
 * and starts at or before the current end of file. */
static int write_chunk(struct inode *in, int fd, const uint8_t *data,
		       size_t len, uint64_t off, struct iobuf *io)
{
	uint64_t end = off + len, b0 = off / BLK_PLAIN, b1 = (end - 1) / BLK_PLAIN;
	uint64_t psize = (uint64_t)in->psize;
	size_t nl = 0;
	int err;

	for (uint64_t b = b0; b <= b1; b++) {
		uint64_t bs = b * BLK_PLAIN;
		uint8_t *blk = io->p + (b - b0) * BLK_PLAIN;
		size_t old = bs < psize ? blk_len(in->psize, b) : 0;
		size_t ws = (size_t)((off > bs ? off : bs) - bs);
		size_t we = (size_t)((end < bs + BLK_PLAIN ? end : bs + BLK_PLAIN) - bs);

		/* Read-modify-write only where old bytes survive. */
		if ((ws > 0 || we < old) && old > 0 &&
		    (err = read_blocks(in, fd, b, b, blk, io)))
			return err;
		memcpy(blk + ws, data + (bs + ws - off), we - ws);
		nl = we > old ? we : old;
	}
	if ((err = write_blocks(in, fd, b0, b1, nl, io->p, io)))
		return err;
	if (end > psize)
		in->psize = (int64_t)end;
	return 0;
}

static int write_range(struct inode *in, int fd, const uint8_t *data,
		       size_t len, uint64_t off, struct iobuf *io)
{
	const size_t max = (IO_BLOCKS - 2) * BLK_PLAIN;

	while (len > 0) {
		/* Chunks end on block boundaries so each block is whole. */
		size_t n = max - (size_t)(off % BLK_PLAIN);
		int err;

		if (n > len)
			n = len;
		if ((err = write_chunk(in, fd, data, n, off, io)))
			return err;
		data += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* Format 3: the records of blocks [b0, b1) that lie in the backing file
 * (a shrink leaves those of its last group behind) are zeroed, so that
 * the blocks read as the hole they are about to be. */
static int clear_records(struct inode *in, int fd, uint64_t b0, uint64_t b1)
{
	static const uint8_t zrec[LAY_G * LAY_REC];
	uint64_t n = lay_run(in->lay, b0, b1 - b0);
	off_t at = lay_rec_off(in->lay, b0);
	struct stat st;

	if (fstat(fd, &st) != 0)
		return -errno;
	if (at >= st.st_size)
		return 0;
	return pwrite(fd, zrec, n * LAY_REC, at) == (ssize_t)(n * LAY_REC) ?
	       0 : -errno;
}

/* Format 3: a gap of whole blocks becomes a hole, listed in the state
 * before the new last block makes the file longer; what is written costs
 * time and space, not the new size. 1 if there is no such gap or no room
 * in the state: the caller fills it. */
static int extend_sparse(struct inode *in, int fd, uint64_t size,
			 struct iobuf *io)
{
	uint64_t first = ((uint64_t)in->psize + BLK_PLAIN - 1) / BLK_PLAIN;
	uint64_t last = (size - 1) / BLK_PLAIN;
	struct fmeta m;
	int err;

	if (!in->state || last <= first)
		return 1;
	m = *in->state;
	if (fmeta_add_hole(&m, first, last - first))
		return 1;
	/* The old last block, whole: it is no longer the last. */
	if ((uint64_t)in->psize < first * BLK_PLAIN &&
	    (err = write_range(in, fd, zeros,
			       (size_t)(first * BLK_PLAIN - (uint64_t)in->psize),
			       (uint64_t)in->psize, io)))
		return err;
	if ((err = clear_records(in, fd, first, last)) ||
	    (err = fstate_set(in, fd, &m)))
		return err;
	in->psize = (int64_t)(last * BLK_PLAIN);
	return write_range(in, fd, zeros, (size_t)(size - last * BLK_PLAIN),
			   last * BLK_PLAIN, io);
}

/* Zeros over [from, to) of a file that holds them already. A truncate
 * to gigabytes may take minutes: a stop request ends it between chunks
 * (EINTR), and the caller undoes the growth like any failed one. */
static int write_zeros(struct inode *in, int fd, uint64_t from, uint64_t to,
		       struct iobuf *io)
{
	while (from < to) {
		uint64_t n = to - from < sizeof(zeros) ? to - from :
							 sizeof(zeros);
		int err;

		if (stop_requested())
			return -EINTR;
		if ((err = write_range(in, fd, zeros, (size_t)n, from, io)))
			return err;
		from += n;
	}
	return 0;
}

/* Extends the file with zeros up to size: a hole where the format has
 * them, else encrypted zero blocks. */
static int extend(struct inode *in, int fd, uint64_t size, struct iobuf *io)
{
	int err = extend_sparse(in, fd, size, io);

	if (err <= 0)
		return err;
	return write_zeros(in, fd, (uint64_t)in->psize, size, io);
}

/* Where growing the file to size starts writing: in format 3 a gap of
 * whole blocks becomes a hole (extend_sparse), so only from the new last
 * block on; else from the end of the file. Space is reserved from there:
 * a gap filled after all (no room in the state) is undone if it fails. */
static uint64_t grow_from(const struct inode *in, uint64_t size)
{
	uint64_t first = ((uint64_t)in->psize + BLK_PLAIN - 1) / BLK_PLAIN;
	uint64_t last = (size - 1) / BLK_PLAIN;

	return in->lay == LAY_V3 && last > first ? last * BLK_PLAIN :
						   (uint64_t)in->psize;
}

/* A growth that failed: the file as it was (space.h), without the key
 * of a header that was not there before. */
static int undo(struct inode *in, int fd, const struct space_undo *u, int err)
{
	space_undo(in, fd, u);
	if (u->armed && u->bsize == 0)
		drop_keys(in);
	return err;
}

ssize_t content_write(struct fsd *fs, struct inode *in, int fd,
		      const uint8_t *buf, size_t size, off_t off)
{
	struct iobuf *io = iobuf();
	struct space_undo u;
	uint64_t from = (uint64_t)in->psize;
	int err;

	if (!io)
		return -ENOMEM;
	if (off < 0)
		return -EINVAL;
	if (size == 0)
		return 0;
	if ((uint64_t)off > from)
		from = grow_from(in, (uint64_t)off);
	if ((err = space_grow(in, fd, from, (uint64_t)off + size, &u)))
		return err;
	if (!in->key && (err = make_header(fs, in, fd)))
		return undo(in, fd, &u, err);
	if ((uint64_t)off > (uint64_t)in->psize &&
	    (err = extend(in, fd, (uint64_t)off, io)))
		return undo(in, fd, &u, err);
	if ((err = write_range(in, fd, buf, size, (uint64_t)off, io)))
		return undo(in, fd, &u, err);
	return (ssize_t)size;
}

/* Format 3: holes past block b (the new end) leave the state. */
static int drop_holes(struct inode *in, int fd, uint64_t b)
{
	struct fmeta m;

	if (!in->state || fmeta_overlap(in->state, b, UINT64_MAX - b) < 0)
		return 0;
	m = *in->state;
	if (fmeta_cut(&m, b, 0))
		return -EIO; /* a tail cut never splits */
	return fstate_set(in, fd, &m);
}

static int shrink(struct inode *in, int fd, uint64_t size, struct iobuf *io)
{
	uint64_t lb = (size - 1) / BLK_PLAIN;
	size_t keep = (size_t)(size - lb * BLK_PLAIN);
	int err;

	if (size == 0) {
		/* The header stays: the next write needs no new DEK. */
		if (ftruncate(fd, (off_t)lay_header_len(in->lay)) != 0)
			return -errno;
		in->psize = 0;
		return drop_holes(in, fd, 0);
	}
	/* The last block is never a hole: it holds the file's size. */
	if (keep < BLK_PLAIN || fmeta_in_hole(in->state, lb)) {
		if ((err = read_blocks(in, fd, lb, lb, io->p, io)))
			return err;
		/* Cut before rewriting: a crash in between leaves a shorter
		 * but valid file. (One between an aligned block and its
		 * record fails that block, like any torn write.) */
		if (ftruncate(fd, (off_t)lay_backing_size(in->lay,
							  lb * BLK_PLAIN)) != 0)
			return -errno;
		/* The holes from lb on go before lb is rewritten: a hole
		 * that ran past the new end would otherwise split there,
		 * and with no room for the split its tail would be filled
		 * with zeros, making the file longer again. */
		if ((err = drop_holes(in, fd, lb)) ||
		    (err = write_blocks(in, fd, lb, lb, keep, io->p, io)))
			return err;
	} else if (ftruncate(fd, (off_t)lay_backing_size(in->lay, size)) != 0) {
		return -errno;
	}
	in->psize = (int64_t)size;
	return drop_holes(in, fd, lb + 1);
}

/* Format 3: blocks [b0, b1) become a hole: listed first (while their data
 * still reads), then their records zeroed and their pages given back. */
static int punch_blocks(struct inode *in, int fd, uint64_t b0, uint64_t b1)
{
	static const uint8_t zrec[LAY_G * LAY_REC];
	struct fmeta m = *in->state;
	uint64_t n;
	int err;

	if (fmeta_add_hole(&m, b0, b1 - b0))
		return 1;
	if ((err = fstate_set(in, fd, &m)))
		return err;
	for (; b0 < b1; b0 += n) {
		n = lay_run(in->lay, b0, b1 - b0);
		if (pwrite(fd, zrec, n * LAY_REC, lay_rec_off(in->lay, b0)) !=
		    (ssize_t)(n * LAY_REC))
			return -errno;
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      lay_data_off(in->lay, b0),
			      (off_t)(n * BLK_PLAIN)) != 0 &&
		    errno != EOPNOTSUPP)
			return -errno;
	}
	return 0;
}

int content_punch(struct inode *in, int fd, uint64_t off, uint64_t len)
{
	struct iobuf *io = iobuf();
	uint64_t end = off + len, b0, b1, last;
	int err;

	if (!io)
		return -ENOMEM;
	if (!in->state && in->lay != LAY_V3)
		return -EOPNOTSUPP;
	if (end > (uint64_t)in->psize || end < off)
		end = (uint64_t)in->psize;
	if (off >= end)
		return 0;
	/* Whole blocks in between, never the last: it holds the size. */
	last = ((uint64_t)in->psize - 1) / BLK_PLAIN;
	b0 = (off + BLK_PLAIN - 1) / BLK_PLAIN;
	b1 = end / BLK_PLAIN < last ? end / BLK_PLAIN : last;
	if (b0 >= b1 || (err = punch_blocks(in, fd, b0, b1)) > 0)
		b0 = b1 = end / BLK_PLAIN + 1; /* no room: zeros throughout */
	else if (err)
		return err;
	/* The edges, and everything if no hole could be listed: zeros. */
	if (b0 > b1)
		return write_zeros(in, fd, off, end, io);
	if ((err = write_zeros(in, fd, off, b0 * BLK_PLAIN < end ?
				   b0 * BLK_PLAIN : end, io)))
		return err;
	return write_zeros(in, fd, b1 * BLK_PLAIN > off ? b1 * BLK_PLAIN : off,
			   end, io);
}

off_t content_seek(struct inode *in, off_t off, int whence)
{
	uint64_t b = (uint64_t)off / BLK_PLAIN, at = (uint64_t)off;
	const struct fmeta_hole *h = NULL;

	if (off < 0 || off >= in->psize)
		return -ENXIO;
	/* The first hole that ends after b (holes never touch: the block
	 * after one is data). The end of the file is a hole too. */
	for (unsigned i = 0; in->state && i < in->state->nholes && !h; i++)
		if (in->state->hole[i].first + in->state->hole[i].count > b)
			h = &in->state->hole[i];
	if (whence == SEEK_DATA) {
		if (h && h->first <= b)
			at = (h->first + h->count) * BLK_PLAIN;
		return at < (uint64_t)in->psize ? (off_t)at : -ENXIO;
	}
	if (!h)
		return in->psize;
	at = h->first <= b ? at : h->first * BLK_PLAIN;
	return at < (uint64_t)in->psize ? (off_t)at : in->psize;
}

int content_truncate(struct fsd *fs, struct inode *in, int fd, off_t size)
{
	struct iobuf *io = iobuf();
	struct space_undo u;
	int err;

	if (!io)
		return -ENOMEM;
	if (size < 0)
		return -EINVAL;
	if ((int64_t)size == in->psize)
		return 0;
	if ((int64_t)size < in->psize)
		return shrink(in, fd, (uint64_t)size, io);
	if ((err = space_grow(in, fd, grow_from(in, (uint64_t)size),
			      (uint64_t)size, &u)))
		return err;
	if ((!in->key && (err = make_header(fs, in, fd))) ||
	    (err = extend(in, fd, (uint64_t)size, io)))
		return undo(in, fd, &u, err);
	return 0;
}
