/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File content: plaintext offsets to encrypted blocks. A backing file is
 * empty (an empty file) or a header followed by blocks; only the last block
 * may be short. Gaps are filled with encrypted zero blocks, never holes, so
 * that a zeroed block is detected like any other change.
 *
 * In format 3 every block a file key encrypts is counted against the
 * budget of one AES-GCM key with random nonces (crypto/fmeta.h): the
 * file's state holds a count that stays ahead of what was encrypted (it
 * is raised in steps before the blocks are written, and set to the exact
 * count when a writer closes), so that a crash can only overcount.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "crypto/layout.h"
#include "fs/vol/filekey.h"
#include "content.h"

/* How far ahead of the blocks encrypted the stored count is raised: one
 * state write per 256 MiB written. */
#define STATE_STEP (1u << 16)

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
	secmem_free(in->state_key, KEY_LEN);
	in->state_key = NULL;
	free(in->state);
	in->state = NULL;
}

/* Format 3: the state's key from the DEK, and the state (a fresh one for
 * a file made by a build that wrote none yet: all zero). */
static int new_state(struct inode *in, const uint8_t dek[KEY_LEN])
{
	if (!(in->state = calloc(1, sizeof(*in->state))) ||
	    !(in->state_key = secmem_alloc(KEY_LEN)))
		return -ENOMEM;
	return fmeta_key(dek, in->state_key) ? -EIO : 0;
}

static int load_state(struct inode *in, int fd, const uint8_t dek[KEY_LEN],
		      const char *path)
{
	const char *why;
	int err;

	if ((err = new_state(in, dek)))
		return err;
	err = fmeta_read(fd, in->state_key, in->key->file_id, in->state, &why);
	if (err) {
		log_err("%s: %s", path, why);
		return err == -EBADMSG || err == -EINVAL || err == -ENODATA ?
		       -EIO : err;
	}
	in->used = in->state->writes;
	return 0;
}

/* Loads header and key on the first open; the caller holds rw for write.
 * *unwrapped says whether that took an HSM call. */
int content_open(struct fsd *fs, struct inode *in, int fd, bool *unwrapped)
{
	uint8_t dek[KEY_LEN];
	char path[512];
	struct hdr h;
	struct stat st;
	const char *why;
	int err;

	*unwrapped = false;
	if (in->opens++ > 0)
		return 0;
	if (fstat(fd, &st) != 0)
		return in->opens--, -errno;
	in->lay = fs->vol.conf.format;
	in->write_limit = fs->write_limit;
	in->psize = lay_plain_size(in->lay, (uint64_t)st.st_size);
	if (in->psize == 0 && st.st_size == 0)
		return 0;
	inode_path(fd, path, sizeof(path));
	if (in->psize < 0) {
		in->opens--;
		log_err("%s: size %lld is not a valid encrypted size "
			"(truncated?)", path, (long long)st.st_size);
		return -EIO;
	}
	if ((err = hdr_read(fd, &h, &why)) == -EINVAL) {
		in->opens--;
		log_err("%s: bad header: %s", path, why);
		return -EIO;
	}
	if (err) {
		/* A disk error, or the file emptied since fstat. */
		in->opens--;
		log_err("%s: cannot read header: %s", path,
			err == -ENOKEY ? why : strerror(-err));
		return err == -ENOKEY ? -EIO : err;
	}
	err = vol_load_file_key(&fs->vol, &h, dek, path, unwrapped);
	if (!err && !(in->key = blk_key_new(dek, h.file_id)))
		err = -ENOMEM;
	if (!err && in->lay == LAY_V3)
		err = load_state(in, fd, dek, path);
	secmem_wipe(dek, sizeof(dek));
	if (err)
		drop_keys(in), in->opens--;
	return err;
}

/* Writes the exact count back if it differs from what the file says. A
 * descriptor that cannot write leaves it for a writer's close. */
static void save_state(struct inode *in, int fd)
{
	struct fmeta m;
	char path[512];
	int err, fl = fcntl(fd, F_GETFL);

	if (!in->state || in->used == in->state->writes || fl < 0 ||
	    (fl & O_ACCMODE) == O_RDONLY)
		return;
	m = *in->state;
	m.writes = in->used;
	if ((err = fmeta_write(fd, in->state_key, in->key->file_id, &m)))
		log_err("%s: cannot write the file's state: %s",
			inode_path(fd, path, sizeof(path)), strerror(-err));
	else
		*in->state = m;
}

void content_close(struct inode *in, int fd)
{
	if (in->key)
		save_state(in, fd);
	if (in->opens > 0 && --in->opens > 0)
		return;
	drop_keys(in);
	in->psize = 0;
}

/* The first write to an empty file: a new DEK, wrapped into a header. */
/* Format 3: a new file's state, both copies, after its header in buf. */
static int first_state(struct inode *in, const struct hdr *h,
		       const uint8_t dek[KEY_LEN], uint8_t *buf)
{
	int err = new_state(in, dek);

	if (err)
		return err;
	in->used = 0;
	in->state->writes = STATE_STEP < in->write_limit ? STATE_STEP :
			    in->write_limit;
	if ((err = fmeta_encode(in->state, 1, in->state_key, h->file_id,
				buf + FMETA_OFF)))
		return err;
	memcpy(buf + FMETA_OFF + FMETA_LEN, buf + FMETA_OFF, FMETA_LEN);
	in->state->gen = 1;
	return 0;
}

static int make_header(struct fsd *fs, struct inode *in, int fd)
{
	uint8_t buf[LAY_PAGE] = { 0 }, dek[KEY_LEN];
	size_t n;
	struct hdr h;
	int err;

	if ((err = vol_new_file_key(&fs->vol, &h, dek)))
		return err;
	in->lay = fs->vol.conf.format;
	in->write_limit = fs->write_limit;
	n = (size_t)lay_header_len(in->lay);
	hdr_encode(&h, buf);
	if (!(in->key = blk_key_new(dek, h.file_id)))
		err = -ENOMEM;
	else if (in->lay == LAY_V3)
		err = first_state(in, &h, dek, buf);
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
	if ((err = content_open(fs, in, fd, &unwrapped)))
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

/* Counts n block encryptions against the key's budget, raising the count
 * the file stores before the blocks exist. */
static int spend(struct inode *in, int fd, uint64_t n)
{
	char path[512];
	struct fmeta m;
	int err;

	if (!in->state)
		return 0;
	if (in->used + n > in->write_limit) {
		log_err("%s: its key has encrypted %llu blocks, the most one "
			"key may (write_limit): refusing to write; "
			"`hsmfs rekey --data` gives it a fresh key",
			inode_path(fd, path, sizeof(path)),
			(unsigned long long)in->used);
		return -EIO;
	}
	if (in->used + n > in->state->writes) {
		m = *in->state;
		m.writes = in->used + n + STATE_STEP;
		if (m.writes > in->write_limit)
			m.writes = in->write_limit;
		if ((err = fmeta_write(fd, in->state_key, in->key->file_id,
				       &m)))
			return err;
		*in->state = m;
	}
	in->used += n;
	return 0;
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

/* Encrypts and writes blocks b0..b1 from in, all whole but the last
 * (last bytes), one layout run at a time. */
static int write_blocks(struct inode *in, int fd, uint64_t b0, uint64_t b1,
			size_t last, const uint8_t *p, struct iobuf *io)
{
	uint64_t n;
	int err;

	if ((err = spend(in, fd, b1 - b0 + 1)))
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

/* Extends the file with zeros up to size (no holes, see above). */
static int extend(struct inode *in, int fd, uint64_t size, struct iobuf *io)
{
	uint64_t off = (uint64_t)in->psize;

	while (off < size) {
		uint64_t n = size - off;
		int err;

		if (n > sizeof(zeros))
			n = sizeof(zeros);
		if ((err = write_range(in, fd, zeros, (size_t)n, off, io)))
			return err;
		off += n;
	}
	return 0;
}

ssize_t content_write(struct fsd *fs, struct inode *in, int fd,
		      const uint8_t *buf, size_t size, off_t off)
{
	struct iobuf *io = iobuf();
	int err;

	if (!io)
		return -ENOMEM;
	if (off < 0)
		return -EINVAL;
	if (size == 0)
		return 0;
	if (!in->key && (err = make_header(fs, in, fd)))
		return err;
	if ((uint64_t)off > (uint64_t)in->psize &&
	    (err = extend(in, fd, (uint64_t)off, io)))
		return err;
	if ((err = write_range(in, fd, buf, size, (uint64_t)off, io)))
		return err;
	return (ssize_t)size;
}

static int shrink(struct inode *in, int fd, uint64_t size, struct iobuf *io)
{
	uint64_t lb = (size - 1) / BLK_PLAIN;
	size_t keep = (size_t)(size - lb * BLK_PLAIN);
	int err;

	if (keep < BLK_PLAIN) {
		if ((err = read_blocks(in, fd, lb, lb, io->p, io)))
			return err;
		/* Cut before rewriting: a crash in between leaves a shorter
		 * but valid file. (One between an aligned block and its
		 * record fails that block, like any torn write.) */
		if (ftruncate(fd, (off_t)lay_backing_size(in->lay,
							  lb * BLK_PLAIN)) != 0)
			return -errno;
		if ((err = write_blocks(in, fd, lb, lb, keep, io->p, io)))
			return err;
	} else if (ftruncate(fd, (off_t)lay_backing_size(in->lay, size)) != 0) {
		return -errno;
	}
	in->psize = (int64_t)size;
	return 0;
}

int content_truncate(struct fsd *fs, struct inode *in, int fd, off_t size)
{
	struct iobuf *io = iobuf();
	int err;

	if (!io)
		return -ENOMEM;
	if (size < 0)
		return -EINVAL;
	if ((int64_t)size == in->psize)
		return 0;
	if ((int64_t)size > in->psize) {
		if (!in->key && (err = make_header(fs, in, fd)))
			return err;
		return extend(in, fd, (uint64_t)size, io);
	}
	if (size == 0) {
		/* The header stays: the next write needs no new DEK. */
		if (ftruncate(fd, (off_t)lay_header_len(in->lay)) != 0)
			return -errno;
		in->psize = 0;
		return 0;
	}
	return shrink(in, fd, (uint64_t)size, io);
}
