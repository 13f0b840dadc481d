/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checking a volume's backing directory, changing nothing: everything is
 * opened read-only and no pin is written.
 *
 * Levels: structure (config syntax, IVs, sidecars, headers, sizes) needs
 * no key; names, symlink targets and xattrs need the volume key (one
 * unwrap); unwrap also unwraps and verifies every key slot; deep also
 * decrypts every block. Without unwrap an unreachable KEK is not fatal:
 * the structure is checked, and err says why the rest was not.
 *
 * Each problem goes to the caller as it is found; the result and the
 * counts at the end. Nothing here prints.
 */
#ifndef HSMFS_OFFLINE_FSCK_H
#define HSMFS_OFFLINE_FSCK_H

#include <stdbool.h>
#include <stddef.h>

#include "fs/vol/opts.h"

enum fsck_result {
	FSCK_CLEAN,
	FSCK_PROBLEMS,
	FSCK_ERROR, /* the check could not be made: err says why */
};

struct fsck_counts;

struct fsck_opts {
	struct vol_opts vo;
	bool unwrap, deep;
	/* One problem: its backing path from the volume root, its
	 * plaintext path (NULL where the names do not decrypt), what. */
	void (*problem)(void *ctx, const char *bpath, const char *ppath,
			const char *what);
	/* How far the check is: about five times a second while it runs,
	 * and once more with last set; NULL: not called. */
	void (*progress)(void *ctx, const struct fsck_counts *n, double secs,
			 bool last);
	void *ctx;
};

struct fsck_counts {
	unsigned long problems, files, dirs, links, slots, blocks;
	bool unlocked; /* names, symlinks, xattrs and slots were checked */
};

/* err (errlen bytes) gets why the check failed, or why it was partial
 * (the KEK could not be used), or stays empty. */
enum fsck_result fsck_volume(const char *dir, const struct fsck_opts *o,
			     struct fsck_counts *n, char *err, size_t errlen);

#endif
