/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A format-3 file's state (crypto/fmeta.h) as an open inode keeps it: the
 * count of blocks its key has encrypted, which the file's stored count
 * stays ahead of (raised in steps before blocks are written, set exact
 * when a writer closes: a crash can only overcount), and its holes. The
 * caller holds the inode's rw lock for write. Functions return 0 or
 * -errno as the application gets it, logging why with the file's path.
 * On inodes of formats 1 and 2 (no state) every call does nothing.
 */
#ifndef HSMFS_FUSE_FSTATE_H
#define HSMFS_FUSE_FSTATE_H

#include "inode.h"

/* The state of a file just opened, from its DEK; -EIO if it is not
 * authentic. area: its FMETA_AREA bytes as already read with the header,
 * or NULL to read them. */
int fstate_load(struct inode *in, int fd, const uint8_t dek[KEY_LEN],
		const uint8_t *area);
/* A new file's first state, both copies, into area (FMETA_AREA bytes). */
int fstate_first(struct inode *in, const uint8_t dek[KEY_LEN],
		 uint8_t *area);
/* Writes the exact count back through a writable fd, if it changed. */
void fstate_save(struct inode *in, int fd);
void fstate_drop(struct inode *in);
/* Counts n block encryptions against the key's budget: -EIO, logged with
 * the way out, once the budget would be passed. */
int fstate_spend(struct inode *in, int fd, uint64_t n);
/* Writes m as the file's next state. */
int fstate_set(struct inode *in, int fd, const struct fmeta *m);

#endif
