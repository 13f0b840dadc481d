/* SPDX-License-Identifier: Apache-2.0 */
/* The FUSE daemon's state, shared by its request handlers. */
#ifndef HSMFS_FUSE_FSD_H
#define HSMFS_FUSE_FSD_H

#include "fs/vol/vol.h"
#include "inode.h"

/* The maximum FUSE request we ask for. */
#define FSD_MAX_IO (1024 * 1024)

struct fsd {
	struct vol vol;
	struct inode root;
	/* The root's permission bits (fs/vol/rootmode.h), or -1: the
	 * backing root's own. Changed under root_mode_lock. */
	atomic_int root_mode;
	pthread_mutex_t root_mode_lock;
	pthread_mutex_t table_lock;
	struct inode **table;
	size_t nbuckets, ninodes;
	struct inode_fds fds;
	bool plaintext_names;
	bool writeback;
	bool chown_new; /* running as root: new files belong to the caller */
	/* A name that does not decode is left out of its directory's
	 * listing (logged) instead of failing it with EIO. */
	bool skip_bad_names;
	double timeout; /* attr and entry cache, seconds */
	unsigned readahead_kb; /* the mount's readahead; 0: kernel default */
	uint64_t write_limit; /* block encryptions one file key may make */
	char *mountpoint; /* canonical, as mountinfo shows it; or NULL */
	struct fuse_session *se;
	atomic_ullong prefetched, prefetch_failed;
	bool audit; /* -o audit_log: file-key use is recorded (audit.h) */
	/* Entries renamed: a walk of the backing tree under way may have
	 * missed one (follow.h). */
	atomic_ullong renames;
	uint64_t started_ms; /* clock_ms() at mount, for hsmfs status */
	const char *opts_text; /* the mount options in effect, for status */
};

void audit_request(fuse_req_t req);

/* Every handler starts here, so the audit log knows who asks. */
static inline struct fsd *fsd_of(fuse_req_t req)
{
	struct fsd *fs = fuse_req_userdata(req);

	if (fs->audit)
		audit_request(req);
	return fs;
}

/* Format 3 binds symlink targets and xattrs to where they are. */
static inline bool fsd_bound(const struct fsd *fs)
{
	return fs->vol.conf.format >= 3;
}

#endif
