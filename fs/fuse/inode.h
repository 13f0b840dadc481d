/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The inodes the kernel knows, keyed by the backing (ino, dev); the FUSE
 * inode number is the struct's address. Each reaches its backing file
 * through an O_PATH descriptor (passthrough_ll style): no path strings,
 * so renames elsewhere in the tree never invalidate anything.
 *
 * The kernel keeps inodes for as long as memory allows, far more than a
 * process may have descriptors, so an inode does not keep its descriptor:
 * it keeps a file handle of its backing file (name_to_handle_at), and
 * the descriptors of the inodes used last are cached, at most half of
 * RLIMIT_NOFILE (and INODE_FDS_MAX); the others are opened again from
 * their handle when used (open_by_handle_at). Where handles cannot be
 * had (a daemon without CAP_DAC_READ_SEARCH, a backing filesystem
 * without them), each inode keeps its descriptor while it lives, and
 * RLIMIT_NOFILE bounds the files in use, as said in one log line at
 * mount.
 *
 * in->fd is valid only while the inode is held (inode_hold); a held
 * descriptor is never closed. Functions returning int give 0 (or a
 * descriptor) or -errno; out of descriptors (-EMFILE, -ENFILE) they have
 * closed the cached ones and tried once more, and log the limit.
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

/* The most descriptors cached, whatever the limit: each pins a backing
 * dentry and inode, and reopening one costs about a microsecond. */
#define INODE_FDS_MAX 65536

struct inode {
	struct inode *hnext;
	int fd; /* O_PATH | O_NOFOLLOW, or -1; valid while held */
	/* The backing file's handle, made when its descriptor is first to
	 * be closed (most inodes never are, and a lookup need not pay for
	 * it); pinned: none can be had, fd stays open while the inode
	 * lives. Below, under the descriptor lock (struct inode_fds). */
	struct file_handle *fh;
	bool pinned;
	unsigned holds, fh_gen;
	struct inode *lru_prev, *lru_next; /* cached descriptors, newest first */
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
	/* Who opened the file for writing last (audit log: the kernel's
	 * write-back names nobody); pid 0: nobody yet. */
	uid_t w_uid;
	gid_t w_gid;
	pid_t w_pid;
	/* With the write-back cache: the -errno of a write-back that failed,
	 * until the writer is told (ops_wb_error). */
	_Atomic int wb_err;

	/* Where the kernel last found this file (parent and a hash of the
	 * backing name), for the prefetcher; and, on directories, its
	 * sequential-scan state. */
	_Atomic uint64_t pf_pino, pf_pdev, pf_hash;
	struct pfstate *pf;
};

/* The descriptors of inodes: those cached (not pinned), newest first. */
struct inode_fds {
	pthread_mutex_t lock;
	struct inode *head, *tail;
	/* Atomic: read without the lock (add, status). */
	atomic_size_t cached, max;
	unsigned adds; /* the limit is read again every so many */
	bool handles;
	int mount_id;
	atomic_uint open; /* files and directories open through the mount */
};

/* After inode_root_init: also probes for file handles. */
int inode_table_init(struct fsd *fs);
void inode_table_free(struct fsd *fs);
/* The root inode, set up from the backing directory. 0 or -errno. */
int inode_root_init(struct fsd *fs, const char *cipherdir);
struct inode *inode_get(struct fsd *fs, fuse_ino_t ino);
/* Finds or adds the inode of fd's file (takes over fd), nlookup + 1, and
 * held; NULL when out of memory. */
struct inode *inode_ref(struct fsd *fs, int fd, const struct stat *st);
/* nlookup + 1 of an inode the caller has a reference to. */
void inode_grab(struct fsd *fs, struct inode *in);
void inode_unref(struct fsd *fs, struct inode *in, uint64_t n);
/* Makes in->fd valid until inode_unhold, opening it again from the file
 * handle if it was closed: 0, -ESTALE (the backing file is gone), or
 * another -errno. Holds nest. */
int inode_hold(struct fsd *fs, struct inode *in);
void inode_unhold(struct fsd *fs, struct inode *in);
/* openat(2) for the request handlers: out of descriptors, closes the
 * cached ones and tries once more, then logs which limit was reached.
 * A descriptor or -errno. */
int inode_openat(struct fsd *fs, int dirfd, const char *name, int flags,
		 mode_t mode);
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
