/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The inodes the kernel knows. Each holds an O_PATH descriptor of its
 * backing file (passthrough_ll style): no path strings, so renames
 * elsewhere in the tree never invalidate anything. The table is keyed by
 * the backing (ino, dev); the FUSE inode number is the struct's address.
 */
#ifndef HSMFS_FUSE_INODE_H
#define HSMFS_FUSE_INODE_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "crypto/blk.h"
#include "crypto/fmeta.h"
#include "crypto/names.h"

struct fsd;
struct pfstate;

enum inode_iv {
	INODE_IV_UNKNOWN, /* not judged yet (zero: a fresh inode) */
	INODE_IV_OK,
	INODE_IV_BAD,     /* missing, invalid, or names do not decrypt */
};

struct inode {
	struct inode *hnext;
	int fd; /* O_PATH | O_NOFOLLOW */
	ino_t ino;
	dev_t dev;
	mode_t type;
	uint64_t nlookup; /* guarded by the table lock */

	/* Directories: the IV that binds encrypted names to them, and the
	 * verdict on it. An inode's IV never changes while it lives, so
	 * the verdict is settled once (under iv_lock) and then only read. */
	pthread_mutex_t iv_lock;
	_Atomic int iv_state; /* enum inode_iv */
	uint8_t iv[DIRIV_LEN]; /* set once iv_state is INODE_IV_OK */
	/* Symlinks of format 3: the target, checked for the name the entry
	 * was looked up by (symlink.h); set once under iv_lock, since a
	 * backing symlink never changes. */
	char *target;

	/* Regular files: content lock (writers exclusive, so that partial
	 * block read-modify-writes never race), and while open the content
	 * key and the plaintext size. */
	pthread_rwlock_t rw;
	unsigned opens;
	struct blk_key *key; /* NULL: not loaded, or the file has no header */
	int64_t psize;
	uint8_t lay; /* the volume's block layout */
	/* Format 3: the file's state, its MAC key (locked memory), and how
	 * many blocks its key has encrypted; state->writes is what the file
	 * says, which stays ahead of used until the state is written back. */
	struct fmeta *state;
	uint8_t *state_key;
	uint64_t used, write_limit;
	/* With the write-back cache: the -errno of a write-back that failed,
	 * until the writer is told (ops_wb_error). */
	_Atomic int wb_err;

	/* Where the kernel last found this file (parent and a hash of the
	 * backing name), for the prefetcher; and, on directories, its
	 * sequential-scan state. */
	_Atomic uint64_t pf_pino, pf_pdev, pf_hash;
	struct pfstate *pf;
};

int inode_table_init(struct fsd *fs);
void inode_table_free(struct fsd *fs);
/* The root inode, set up from the backing directory. 0 or -errno. */
int inode_root_init(struct fsd *fs, const char *cipherdir);
struct inode *inode_get(struct fsd *fs, fuse_ino_t ino);
/* Finds or adds the inode of fd's file (takes over fd), nlookup + 1. */
struct inode *inode_ref(struct fsd *fs, int fd, const struct stat *st);
void inode_unref(struct fsd *fs, struct inode *in, uint64_t n);
/* The inode of (ino, dev) if the kernel knows it, nlookup + 1; or NULL. */
struct inode *inode_find(struct fsd *fs, ino_t ino, dev_t dev);
/* Points the inode of old (if the kernel knows it) at fd's file, new,
 * which replaced it under its name: the kernel keeps the inode's number
 * for the renamed entry. Takes over fd. Nothing if new is known already. */
void inode_rebind(struct fsd *fs, const struct stat *old, int fd,
		  const struct stat *new);
/* The backing path of an fd, for log lines. */
const char *inode_path(int fd, char *buf, size_t n);
/* /proc/self/fd/N for calls that take no O_PATH descriptor. */
void inode_procpath(int fd, char buf[64]);

#endif
