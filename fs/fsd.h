/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The FUSE daemon's state. Each inode we have told the kernel about holds
 * an O_PATH descriptor of its backing file (passthrough_ll style): no path
 * strings, so renames elsewhere in the tree never invalidate anything.
 */
#ifndef HSMFS_FSD_H
#define HSMFS_FSD_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "crypto/blk.h"
#include "volume.h"

struct inode {
	struct inode *hnext;
	int fd; /* O_PATH | O_NOFOLLOW */
	ino_t ino;
	dev_t dev;
	mode_t type;
	uint64_t nlookup; /* guarded by the table lock */

	/* Directories: the IV that binds encrypted names to them. */
	pthread_mutex_t iv_lock;
	bool have_iv;
	uint8_t iv[DIRIV_LEN];

	/* Regular files: content lock (writers exclusive, so that partial
	 * block read-modify-writes never race), and while open the content
	 * key and the plaintext size. */
	pthread_rwlock_t rw;
	unsigned opens;
	struct blk_key *key; /* NULL: not loaded, or the file has no header */
	int64_t psize;
	uint8_t lay; /* the volume's block layout */

	/* Where the kernel last found this file (parent and a hash of the
	 * backing name), for the prefetcher; and, on directories, its
	 * sequential-scan state. */
	_Atomic uint64_t pf_pino, pf_pdev, pf_hash;
	struct pfstate *pf;
};

struct fsd {
	struct vol vol;
	struct inode root;
	pthread_mutex_t table_lock;
	struct inode **table;
	size_t nbuckets, ninodes;
	bool plaintext_names;
	bool writeback;
	bool chown_new; /* running as root: new files belong to the caller */
	double timeout; /* attr and entry cache, seconds */
	unsigned readahead_kb; /* the mount's readahead; 0: kernel default */
	char *mountpoint; /* canonical, as mountinfo shows it; or NULL */
	struct fuse_session *se;
	atomic_ullong prefetched, prefetch_failed;
};

static inline struct fsd *fsd_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* inode.c */
int inode_table_init(struct fsd *fs);
void inode_table_free(struct fsd *fs);
struct inode *inode_get(struct fsd *fs, fuse_ino_t ino);
/* Finds or adds the inode of fd's file (takes over fd), nlookup + 1. */
struct inode *inode_ref(struct fsd *fs, int fd, const struct stat *st);
void inode_unref(struct fsd *fs, struct inode *in, uint64_t n);
/* The inode of (ino, dev) if the kernel knows it, nlookup + 1; or NULL. */
struct inode *inode_find(struct fsd *fs, ino_t ino, dev_t dev);
/* The backing path of an fd, for log lines. */
const char *inode_path(int fd, char *buf, size_t n);
/* /proc/self/fd/N for calls that take no O_PATH descriptor. */
void inode_procpath(int fd, char buf[64]);

/* ename.c: plaintext names <-> backing names */
struct bname {
	char name[NAME_ENC_MAX]; /* what the backing directory holds */
	char enc[NAME_ENC_MAX];  /* the full encrypted name */
	bool is_long;
};
/* -ENAMETOOLONG, -EPERM (reserved), -EIO, or 0. */
int ename_encode(struct fsd *fs, struct inode *dir, const char *name,
		 struct bname *b);
int ename_write_sidecar(int dirfd, const struct bname *b);
void ename_drop_sidecar(int dirfd, const struct bname *b);
/* 1 and out set, 0 for our own files (skip quietly), -1 bad name (logged). */
int ename_decode(struct fsd *fs, struct inode *dir, int dirfd,
		 const char *bname, char out[256]);
int ename_diriv(struct fsd *fs, struct inode *dir, uint8_t iv[DIRIV_LEN]);

/* content.c: encrypted file content. The caller holds in->rw. */
int content_open(struct fsd *fs, struct inode *in, int fd, bool *unwrapped);
void content_close(struct inode *in);
ssize_t content_read(struct inode *in, int fd, size_t size, off_t off,
		     const uint8_t **out);
ssize_t content_write(struct fsd *fs, struct inode *in, int fd,
		      const uint8_t *buf, size_t size, off_t off);
int content_truncate(struct fsd *fs, struct inode *in, int fd, off_t size);
/* The plaintext size of a backing file of n bytes in volume v; -1 if no
 * valid file has that size. */
int64_t content_plain_size(const struct vol *v, uint64_t n);

/* prefetch.c: when files of a directory are opened in directory order, the
 * keys of the next ones are unwrapped ahead, in parallel. */
int prefetch_start(struct fsd *fs, unsigned workers);
void prefetch_stop(void);
/* Remembers where name was found, for a later prefetch_opened. */
void prefetch_note_entry(struct inode *in, struct inode *dir,
			 const char *bname);
/* A file was opened; unwrapped: its key was not cached. */
void prefetch_opened(struct fsd *fs, struct inode *in, bool unwrapped);
void prefetch_free(struct pfstate *pf);

/* ops*.c */
extern const struct fuse_lowlevel_ops hsmfs_ops;
void ops_file_init(struct fuse_lowlevel_ops *ops);
void ops_xattr_init(struct fuse_lowlevel_ops *ops);
/* Fills st for the kernel: plaintext sizes, our inode number. */
int ops_stat(struct fsd *fs, struct inode *in, struct stat *st);
/* The maximum FUSE request we ask for. */
#define FSD_MAX_IO (1024 * 1024)

#endif
