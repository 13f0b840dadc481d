/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Names as the request handlers see them: fs/vol/bname.h with each
 * directory's IV read once and kept in its inode. -errno; a directory
 * whose IV is missing or invalid is -EIO, logged once per look.
 */
#ifndef HSMFS_FUSE_ENAME_H
#define HSMFS_FUSE_ENAME_H

#include "fs/vol/bname.h"
#include "fsd.h"

/* The directory's IV (kept in its inode after the first read): 0, or
 * -EIO for one that is missing or invalid. */
int ename_iv(struct fsd *fs, struct inode *dir, uint8_t iv[DIRIV_LEN]);
/* -ENAMETOOLONG, -EPERM (reserved), -EIO, or 0. */
int ename_encode(struct fsd *fs, struct inode *dir, const char *name,
		 struct bname *b);
/* 1 and out set; 0 for the volume's own and temporary entries (skipped
 * quietly); -1 for a name that does not decode (logged). dirfd is the
 * directory being read. */
int ename_decode(struct fsd *fs, struct inode *dir, int dirfd,
		 const char *bname, char out[256]);
/* The kind of a backing name in dir. */
enum bname_kind ename_kind(struct fsd *fs, struct inode *dir,
			   const char *bname);

#endif
