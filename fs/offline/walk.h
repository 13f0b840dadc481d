/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A walk over a volume's backing tree, outside the daemon: every backing
 * entry with its backing path and, where the names decrypt, its plaintext
 * path. Shared by rekey and fsck (inspect opens files the same way). It
 * reports what it finds wrong about names on the way (directory IVs,
 * long-name sidecars, names that fail authentication) and never changes
 * anything. Problems go to the caller's problem(); the walk itself fails
 * only with -errno when memory runs out, or with what the caller's
 * entry() returned.
 *
 * A backing path is some four to five times as long as its plaintext
 * path and may well pass PATH_MAX (4096 bytes), which the kernel takes at
 * most in one path. So nothing here hands the kernel a whole path: the
 * walk holds one open directory per level (a descriptor each: depth + 2
 * in all) and reaches each entry from its parent, and an entry collected
 * for later is opened again one name at a time (walk_open). The paths
 * given to the caller are whole, for messages and to open again.
 */
#ifndef HSMFS_OFFLINE_WALK_H
#define HSMFS_OFFLINE_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "fs/vol/bname.h"

struct walk_ent {
	const char *bpath; /* from the backing root, e.g. "AbC/xYz" */
	const char *ppath; /* "/dir/file", or NULL: a name did not decrypt */
	const char *name;  /* the backing name */
	const char *plain; /* its plaintext name, or NULL: it does not decrypt */
	int dirfd;         /* the directory holding it: open name there */
	const uint8_t *diriv; /* that directory's IV, or NULL: none valid */
	const struct stat *st;
	bool tmp;          /* a leftover temporary entry (rekey --data, a
			    * symlink's rename in format 3) */
};

struct walk {
	const struct names_keys *nk; /* NULL: names are not decrypted */
	bool plaintext_names;
	int format; /* the volume's (conf.h) */
	/* Every entry but the volume's own files (config, IVs, sidecars);
	 * a directory comes before its children. Nonzero stops the walk. */
	int (*entry)(struct walk *w, const struct walk_ent *e);
	/* One problem with an entry (ppath may be NULL). */
	void (*problem)(struct walk *w, const char *bpath, const char *ppath,
			const char *what);
	/* What the walk could not look at: a directory it cannot open or
	 * list (out of descriptors, say), whose entries it never saw, or
	 * an entry it cannot stat. NULL: problem() hears of it. */
	void (*missed)(struct walk *w, const char *bpath, const char *ppath,
		       const char *why);
	unsigned long missed_n; /* how many, whoever heard of them */
	void *ctx;
};

/* Walks the tree under rootfd. 0 (a root that cannot be read is
 * missed()), -ENOMEM, or what entry() returned to stop it. */
int walk_tree(struct walk *w, int rootfd);
/* The plaintext path ("/a/b") of a backing path, malloc'd; NULL if a name
 * on the way does not decrypt (or no memory). */
char *walk_plain_path(const struct walk *w, int rootfd, const char *bpath);

/* The directory holding the last name of path, reached from dirfd one
 * name at a time (symlinks on the way followed only if follow: a backing
 * path never has any); *base is that last name, in path. A descriptor of
 * its own (read-only, so that fsync works, where the directory may be
 * read; else O_PATH), or -errno. */
int walk_open_dir(int dirfd, const char *path, bool follow,
		  const char **base);

/* The directory walk_open used last, kept for the next entry of the same
 * directory; one per thread. */
struct walk_dir {
	char *bdir; /* its backing path, with the final "/" */
	size_t len;
	int fd;     /* -1: none */
};
#define WALK_DIR_INIT { NULL, 0, -1 }

/* Opens the entry at bpath (from rootfd) with flags | O_NOFOLLOW |
 * O_CLOEXEC, through d. A descriptor, or -errno (-ENOENT: it or a
 * directory on the way is not there). */
int walk_open(struct walk_dir *d, int rootfd, const char *bpath, int flags);
void walk_dir_close(struct walk_dir *d);

#endif
