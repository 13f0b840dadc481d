/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File content: plaintext offsets to encrypted blocks (crypto/layout.h).
 * The caller holds the inode's rw lock (write for all but reads).
 * Errors are -errno as the application gets them; a block that is short
 * or not authentic is -EIO with one log line naming the file and why.
 */
#ifndef HSMFS_FUSE_CONTENT_H
#define HSMFS_FUSE_CONTENT_H

#include <sys/types.h>

#include "fsd.h"

/* Loads header and key on the first open; *unwrapped says whether that
 * took an HSM call. st: fd's attributes if the caller has just read
 * them (a file it created), or NULL. */
int content_open(struct fsd *fs, struct inode *in, int fd,
		 const struct stat *st, bool *unwrapped);
/* Every close through a writable fd saves the file's state (format 3);
 * the last close drops the key. */
void content_close(struct inode *in, int fd);
/* Up to size bytes at off into this thread's buffer (*out); the count. */
ssize_t content_read(struct inode *in, int fd, size_t size, off_t off,
		     const uint8_t **out);
ssize_t content_write(struct fsd *fs, struct inode *in, int fd,
		      const uint8_t *buf, size_t size, off_t off);
int content_truncate(struct fsd *fs, struct inode *in, int fd, off_t size);
/* Zeros len bytes at off, the size unchanged: whole blocks become a hole
 * (format 3; -EOPNOTSUPP before). */
int content_punch(struct inode *in, int fd, uint64_t off, uint64_t len);
/* SEEK_DATA or SEEK_HOLE from off: the offset, or -ENXIO past the end. */
off_t content_seek(struct inode *in, off_t off, int whence);
/* The file id (format 3 binds a file's xattrs to it), from the header as
 * an open checks it; takes the rw lock itself. A file without a header
 * gets one if create is set (a new key, as its first write would), else
 * is -ENODATA. fd is a descriptor of the file, writable for create. */
int content_file_id(struct fsd *fs, struct inode *in, int fd, bool create,
		    uint8_t id[ID_LEN]);
/* The plaintext size of a backing file of n bytes in volume v; -1 if no
 * valid file has that size. */
int64_t content_plain_size(const struct vol *v, uint64_t n);

#endif
