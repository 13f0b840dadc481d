/* SPDX-License-Identifier: Apache-2.0 */
/* FUSE low-level operations on open files. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "crypto/layout.h"
#include "audit.h"
#include "content.h"
#include "space.h"
#include "ename.h"
#include "ops.h"
#include "prefetch.h"
#include "readahead.h"

/* Backing open flags: always readable, because a partial block write has
 * to read the block; writable whenever we may write (O_TRUNC truncates
 * even a read-only open); never O_APPEND (pwrite would ignore offsets) or
 * O_DIRECT (ciphertext offsets are not aligned). */
static int backing_flags(int flags, bool writeback)
{
	int acc = flags & O_ACCMODE;

	if (acc != O_RDONLY || writeback || (flags & O_TRUNC))
		acc = O_RDWR;
	flags &= ~(O_ACCMODE | O_APPEND | O_DIRECT | O_CREAT | O_EXCL |
		   O_TRUNC | O_NOCTTY | O_NOFOLLOW);
	return flags | acc | O_CLOEXEC;
}

/* Loads the file's key and applies O_TRUNC under the content lock, then
 * lets the prefetcher know (outside the lock: it may start HSM calls). */
static int open_content(struct fsd *fs, struct inode *in, int fd, int flags,
			const struct stat *st)
{
	bool unwrapped = false;
	int err;

	pthread_rwlock_wrlock(&in->rw);
	if ((flags & O_ACCMODE) != O_RDONLY)
		audit_opener(in);
	err = content_open(fs, in, fd, st, &unwrapped);
	if (!err && (flags & O_TRUNC) &&
	    (err = content_truncate(fs, in, fd, 0)))
		content_close(in, fd);
	pthread_rwlock_unlock(&in->rw);
	if (!err)
		prefetch_opened(fs, in, unwrapped);
	return err;
}

static int open_fd(struct fsd *fs, struct inode *in, int flags)
{
	char proc[64];
	int fd = inode_hold(fs, in);

	if (fd < 0)
		return fd;
	inode_procpath(in->fd, proc);
	fd = inode_openat(fs, AT_FDCWD, proc, backing_flags(flags,
			  fs->writeback), 0);
	/* A read-only open of a file we may only read, without writeback. */
	if (fd == -EACCES && (flags & O_ACCMODE) == O_RDONLY)
		fd = inode_openat(fs, AT_FDCWD, proc, backing_flags(flags,
				  false), 0);
	inode_unhold(fs, in);
	return fd;
}

void ops_open(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fsd *fs = fsd_of(req);
	struct inode *in = inode_get(fs, ino);
	int fd, err;

	/* Every read follows an open: raise the readahead before the first
	 * (the kernel copies it into the file when the open returns). */
	readahead_apply(fs);
	fd = open_fd(fs, in, fi->flags);
	if (fd < 0)
		return ops_reply_err(req, fd);
	if ((err = open_content(fs, in, fd, fi->flags, NULL))) {
		close(fd);
		return ops_reply_err(req, err);
	}
	fi->fh = (uint64_t)fd;
	/* Only this daemon changes the backing files: pages stay valid. */
	fi->keep_cache = 1;
	atomic_fetch_add(&fs->fds.open, 1);
	fuse_reply_open(req, fi);
}

/* Creates and opens name in dir (held): the open descriptor, in *inp the
 * new file's inode, registered (nlookup + 1), and in *st its backing
 * attributes. */
static int create_file(struct fsd *fs, const struct fuse_ctx *ctx,
		       struct inode *dir, const char *name, mode_t mode,
		       int flags, struct inode **inp, struct stat *st)
{
	struct bname b;
	int bflags = backing_flags(flags, fs->writeback) | O_NOFOLLOW;
	int fd, pfd = -1, err = ename_encode(fs, dir, name, &b);
	bool made = true;

	if (!err)
		err = bname_write_sidecar(dir->fd, &b);
	if (err)
		return err;
	fd = inode_openat(fs, dir->fd, b.name, bflags | O_CREAT | O_EXCL, mode);
	/* A file that is there after all (put there behind the mount) is
	 * opened as it is, not given to the caller. */
	if (fd == -EEXIST && !(flags & O_EXCL)) {
		made = false;
		fd = inode_openat(fs, dir->fd, b.name, bflags, 0);
	}
	if (fd < 0)
		return fd;
	if (fstat(fd, st) != 0)
		err = -errno;
	if (!err && made)
		err = ops_chown_new(fs, ctx, dir, fd, "", st);
	if (!err && (pfd = inode_openat(fs, dir->fd, b.name, O_PATH |
					O_NOFOLLOW | O_CLOEXEC, 0)) < 0)
		err = pfd;
	if (!err && !(*inp = inode_ref(fs, pfd, st)))
		err = -ENOMEM;
	if (err) {
		close(fd);
		return err;
	}
	inode_unhold(fs, *inp);
	prefetch_note_entry(*inp, dir, b.name);
	return fd;
}

void ops_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		mode_t mode, struct fuse_file_info *fi)
{
	struct fsd *fs = fsd_of(req);
	struct inode *dir = inode_get(fs, parent), *in = NULL;
	struct fuse_entry_param e = { 0 };
	int fd, err;

	readahead_apply(fs);
	if ((fd = inode_hold(fs, dir)) == 0) {
		fd = create_file(fs, fuse_req_ctx(req), dir, name, mode,
				 fi->flags, &in, &e.attr);
		inode_unhold(fs, dir);
	}
	if (fd < 0)
		return ops_reply_err(req, fd);
	if ((err = open_content(fs, in, fd, fi->flags, &e.attr))) {
		inode_unref(fs, in, 1);
		close(fd);
		return ops_reply_err(req, err);
	}
	/* O_TRUNC of a file that was there: its size changed. */
	if (fi->flags & O_TRUNC)
		ops_stat(fs, in, &e.attr);
	else
		ops_attr(fs, in, &e.attr);
	e.ino = (fuse_ino_t)(uintptr_t)in;
	e.attr_timeout = e.entry_timeout = fs->timeout;
	fi->fh = (uint64_t)fd;
	fi->keep_cache = 1;
	atomic_fetch_add(&fs->fds.open, 1);
	fuse_reply_create(req, &e, fi);
}

void ops_read(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	struct fsd *fs = fsd_of(req);
	struct inode *in = inode_get(fs, ino);
	const uint8_t *out = NULL;
	ssize_t n;

	pthread_rwlock_rdlock(&in->rw);
	n = content_read(in, (int)fi->fh, size, off, &out);
	pthread_rwlock_unlock(&in->rw);
	/* out is this thread's own buffer: safe to send after unlocking. */
	if (n < 0)
		return ops_reply_err(req, (int)n);
	fuse_reply_buf(req, (const char *)out, (size_t)n);
}

/*
 * With the write-back cache a write() only fills the kernel's cache: the
 * WRITE that fails (a full backing disk) comes later from the kernel's
 * write-back, which marks the file's mapping for fsync and close to
 * report, and nothing stops a writer that never syncs from filling the
 * cache on and on. So the error waits on the inode and the kernel is told
 * the inode's attributes are stale: its next buffered write() to the file
 * asks for them first (a GETATTR with the file handle, which stat() never
 * sends) and fails with what that GETATTR answers, before taking any data.
 * The error is given once: the writer stops, or tries again when space
 * may have been freed, and a further failure is told anew. Until it is
 * told, the file's attributes expire at once wherever we give them (a
 * stat or a listing would otherwise mark them fresh and let the writer
 * through); a reader that finds them expired may take the error too. One
 * log line per failure told, since a writer may never look.
 */
static void wb_failed(struct fsd *fs, struct inode *in, fuse_ino_t ino,
		      int fd, int err)
{
	char path[512];

	if (atomic_exchange(&in->wb_err, err) == 0)
		log_err("%s: write-back of cached data failed: %s; the next "
			"write to the file gets the error",
			inode_path(fd, path, sizeof(path)), strerror(-err));
	fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
}

int ops_wb_error(struct inode *in, const struct fuse_file_info *fi)
{
	return fi ? atomic_exchange(&in->wb_err, 0) : 0;
}

double ops_attr_timeout(const struct fsd *fs, struct inode *in)
{
	return atomic_load(&in->wb_err) ? 0 : fs->timeout;
}

void ops_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
			size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fsd *fs = fsd_of(req);
	struct inode *in = inode_get(fs, ino);
	ssize_t n;

	pthread_rwlock_wrlock(&in->rw);
	/* Without writeback caching the kernel's offset for O_APPEND may be
	 * stale; the end of file is what we know under the lock. */
	if (!fs->writeback && (fi->flags & O_APPEND))
		off = in->psize;
	n = content_write(fs, in, (int)fi->fh, (const uint8_t *)buf, size, off);
	pthread_rwlock_unlock(&in->rw);
	if (n < 0 && fs->writeback && fi->writepage)
		wb_failed(fs, in, ino, (int)fi->fh, (int)n);
	if (n < 0)
		return ops_reply_err(req, (int)n);
	fuse_reply_write(req, (size_t)n);
}

void ops_flush(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

void ops_release(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct fsd *fs = fsd_of(req);
	struct inode *in = inode_get(fs, ino);

	pthread_rwlock_wrlock(&in->rw);
	content_close(in, (int)fi->fh);
	/* Closed by all: close() reported any write-back error already. */
	if (in->opens == 0)
		atomic_store(&in->wb_err, 0);
	pthread_rwlock_unlock(&in->rw);
	close((int)fi->fh);
	atomic_fetch_sub(&fs->fds.open, 1);
	fuse_reply_err(req, 0);
}

void ops_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	int fd = (int)fi->fh;
	int r = datasync ? fdatasync(fd) : fsync(fd);

	(void)ino;
	ops_reply_err(req, r ? -errno : 0);
}

/* Both mode 0 and KEEP_SIZE reserve the backing space of the range first,
 * so that later writes into it (its holes included) cannot run out of
 * space; mode 0 then extends the file like truncate. PUNCH_HOLE (with
 * KEEP_SIZE, as Linux requires) zeros a range, whole blocks becoming a
 * hole (format 3). */
void ops_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			    off_t off, off_t len, struct fuse_file_info *fi)
{
	struct fsd *fs = fsd_of(req);
	struct inode *in = inode_get(fs, ino);
	int fd = (int)fi->fh, err = 0;
	uint64_t end = (uint64_t)off + (uint64_t)len;

	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE))
		return ops_reply_err(req, -EOPNOTSUPP);
	if (off < 0 || len <= 0 || ((mode & FALLOC_FL_PUNCH_HOLE) &&
				    !(mode & FALLOC_FL_KEEP_SIZE)))
		return ops_reply_err(req, -EINVAL);
	pthread_rwlock_wrlock(&in->rw);
	if (end > LAY_PLAIN_MAX) {
		err = -EFBIG;
	} else if (mode & FALLOC_FL_PUNCH_HOLE) {
		err = content_punch(in, fd, (uint64_t)off, (uint64_t)len);
	} else if ((err = space_reserve(in, fd, end))) {
		/* nothing changed */
	} else if (!(mode & FALLOC_FL_KEEP_SIZE) && (int64_t)end > in->psize) {
		err = content_truncate(fs, in, fd, (off_t)end);
	}
	pthread_rwlock_unlock(&in->rw);
	ops_reply_err(req, err);
}

void ops_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	       struct fuse_file_info *fi)
{
	struct fsd *fs = fsd_of(req);
	struct inode *in = inode_get(fs, ino);
	off_t r;

	(void)fi;
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return ops_reply_err(req, -EINVAL);
	/* The kernel asks without writing its dirty pages back first: with
	 * the write-back cache, data (and size) it holds would be missed and
	 * a copy made by SEEK_DATA would lose it. Invalidating the range
	 * from off makes the kernel write those pages back (its launder)
	 * before it drops them; the writes are served by other threads,
	 * so no lock of ours may be held here. */
	if (fs->writeback)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, off, 0);
	pthread_rwlock_rdlock(&in->rw);
	r = content_seek(in, off, whence);
	pthread_rwlock_unlock(&in->rw);
	if (r < 0)
		return ops_reply_err(req, (int)r);
	fuse_reply_lseek(req, r);
}
