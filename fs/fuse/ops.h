/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The FUSE low-level operations: one const table (ops.c) of handlers on
 * names and directories (ops.c), open files (ops_file.c) and extended
 * attributes (ops_xattr.c). Each handler ends every path with exactly
 * one reply; the helpers under it return 0 or -errno.
 */
#ifndef HSMFS_FUSE_OPS_H
#define HSMFS_FUSE_OPS_H

#include "fsd.h"

extern const struct fuse_lowlevel_ops ops_table;

/* Fills st for the kernel: plaintext sizes, our inode number. */
int ops_stat(struct fsd *fs, struct inode *in, struct stat *st);
/* The same for backing attributes of in the caller has read itself. */
void ops_attr(struct fsd *fs, const struct inode *in, struct stat *st);
/* A new object (name in fd, or fd itself for "") made by the daemon goes
 * to the caller, when the daemon runs as root, with the group of a
 * set-group-ID parent dir as the kernel would give it. st: the object's
 * attributes (updated), or NULL if not read yet. */
int ops_chown_new(struct fsd *fs, const struct fuse_ctx *ctx,
		  struct inode *dir, int fd, const char *name, struct stat *st);
/* fuse_reply_err for 0 or -errno. */
void ops_reply_err(fuse_req_t req, int err);

/* ops_file.c */
void ops_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ops_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		mode_t mode, struct fuse_file_info *fi);
void ops_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	      struct fuse_file_info *fi);
void ops_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	       off_t off, struct fuse_file_info *fi);
void ops_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ops_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ops_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	       struct fuse_file_info *fi);
void ops_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	       struct fuse_file_info *fi);
void ops_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
		   off_t len, struct fuse_file_info *fi);
/* For a GETATTR: the error of a failed write-back of in, taken once by a
 * request that carries a file handle (fi); else 0. */
int ops_wb_error(struct inode *in, const struct fuse_file_info *fi);
/* How long the kernel may keep in's attributes: fs->timeout, or 0 while
 * a write-back error waits to be told. */
double ops_attr_timeout(const struct fsd *fs, struct inode *in);

/* ops_xattr.c */
void ops_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		  const char *value, size_t size, int flags);
void ops_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		  size_t size);
void ops_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void ops_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif
