/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key prefetch for directory scans: when files of a directory are opened
 * in directory order or in name order, the keys of the next ones are
 * unwrapped ahead by worker threads (see prefetch.c). Best effort: it
 * returns no errors; failures are counted in the daemon's statistics.
 */
#ifndef HSMFS_FUSE_PREFETCH_H
#define HSMFS_FUSE_PREFETCH_H

#include "fsd.h"

/* 0, or -ENOMEM. workers 0: no prefetching. */
int prefetch_start(struct fsd *fs, unsigned workers);
void prefetch_stop(void);
/* Remembers where name was found, for a later prefetch_opened. */
void prefetch_note_entry(struct inode *in, struct inode *dir,
			 const char *bname);
/* A file was opened; unwrapped: its key was not cached. */
void prefetch_opened(struct fsd *fs, struct inode *in, bool unwrapped);
void prefetch_free(struct pfstate *pf);

#endif
