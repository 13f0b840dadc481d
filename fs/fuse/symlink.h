/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Symlink targets as the request handlers see them. Formats 1 and 2
 * encrypt a target alone and decrypt it at each readlink. Format 3 binds
 * it to the directory's IV and the link's name (crypto/names.h); the
 * kernel's readlink names only the inode, so the target is checked when
 * the entry is looked up and kept in the inode for readlink. Because the
 * binding includes the name:
 *  - a rename re-encrypts: a new backing symlink for the new name, made
 *    under a temporary name and renamed over the destination, then the
 *    old one unlinked (a crash in between leaves both names, each valid,
 *    never a broken link); the inode the kernel knows follows the new
 *    backing symlink (so its inode number may change);
 *  - RENAME_EXCHANGE with a symlink on either side is EINVAL: two names
 *    would change binding at once, which no single backing call does;
 *  - a hard link to a symlink is EPERM: one target cannot be bound to two
 *    names.
 * Errors are -errno as the application gets them; a target that fails
 * authentication is -EIO with one log line naming the backing path.
 */
#ifndef HSMFS_FUSE_SYMLINK_H
#define HSMFS_FUSE_SYMLINK_H

#include "fsd.h"

/* Room for any backing target (PATH_MAX). */
#define SYMLINK_ENC_MAX 4096

/* The backing target of a new link name in dir: 0, -ENAMETOOLONG (a
 * target too long to store), -EIO. */
int symlink_encode(struct fsd *fs, struct inode *dir, const char *name,
		   const char *target, char out[SYMLINK_ENC_MAX]);
/* A lookup found the symlink in as name in dir: format 3 checks its
 * target for that name and keeps it. 0, -EIO, or the read's -errno. */
int symlink_found(struct fsd *fs, struct inode *dir, const char *name,
		  struct inode *in);
/* The target of in, NUL-terminated. 0, -EIO, or the read's -errno. */
int symlink_read(struct fsd *fs, struct inode *in, char out[SYMLINK_MAX + 1]);
/* Whether in may get another name: -EPERM for a format-3 symlink. */
int symlink_may_link(struct fsd *fs, struct inode *in);
/* rename(2) of backing name a (plaintext name) in d1 to b (newname) in
 * d2, if it concerns a format-3 symlink: 0 done, or -errno (-EINVAL for
 * an exchange); 1 if it does not (the caller renames as usual). */
int symlink_rename(struct fsd *fs, struct inode *d1, const char *a,
		   const char *name, struct inode *d2, const char *b,
		   const char *newname, unsigned int flags);

#endif
