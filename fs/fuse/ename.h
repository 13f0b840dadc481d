/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Names as the request handlers see them: fs/vol/bname.h with each
 * directory's IV read and judged once, the verdict kept in its inode.
 * -errno. A directory whose IV is missing, invalid or does not decrypt
 * its names is -EIO to everything that needs its names (listing, lookup,
 * every new entry), logged once per inode with its backing path; never
 * an empty or partial view of it.
 */
#ifndef HSMFS_FUSE_ENAME_H
#define HSMFS_FUSE_ENAME_H

#include "fs/vol/bname.h"
#include "fsd.h"

/* 0 if dir's names can be read and made (always with plaintext names
 * before format 3), or -EIO. */
int ename_dir(struct fsd *fs, struct inode *dir);
/* dir's IV once judged good (after the first request, one atomic load):
 * 0 and iv set, or -EIO. */
int ename_iv(struct fsd *fs, struct inode *dir, uint8_t iv[DIRIV_LEN]);
/* -ENAMETOOLONG, -EPERM (reserved), -EIO, or 0. */
int ename_encode(struct fsd *fs, struct inode *dir, const char *name,
		 struct bname *b);
/* 0 if b, found in dir, is short or its sidecar is b's; else -EIO,
 * logged: a long name's entry is only reachable through its sidecar. */
int ename_check_sidecar(struct inode *dir, const struct bname *b);
/* 1 and out set; 0 for the volume's own and temporary entries; -EIO if
 * dir's IV is bad; -EBADMSG or -EINVAL for a name that does not decode,
 * with *why, not logged (what it means is the caller's). dirfd is the
 * directory being read. */
int ename_decode(struct fsd *fs, struct inode *dir, int dirfd,
		 const char *bname, char out[256], const char **why);
/* The kind of a backing name in dir. */
enum bname_kind ename_kind(struct fsd *fs, struct inode *dir,
			   const char *bname);

#endif
