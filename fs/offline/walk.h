/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A walk over a volume's backing tree, outside the daemon: every backing
 * entry with its backing path and, where the names decrypt, its plaintext
 * path. Shared by rekey and fsck. It reports what it finds wrong about
 * names on the way (directory IVs, long-name sidecars, names that fail
 * authentication) and never changes anything. Problems go to the
 * caller's problem(); the walk itself fails only with -errno when the
 * root cannot be read, or with what the caller's entry() returned.
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
	int dirfd;         /* the directory holding it */
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
	void *ctx;
};

/* Walks the tree under rootfd. 0, -errno if the root cannot be read, or
 * what entry() returned to stop it. */
int walk_tree(struct walk *w, int rootfd);
/* The plaintext path of a backing path, or -1 if a name on the way does
 * not decrypt. */
int walk_plain_path(const struct walk *w, int rootfd, const char *bpath,
		    char *out, size_t n);

#endif
