/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Temporary directories for unit tests that need real files (backing
 * directories, pin stores, test KEKs): made under /tmp, removed with
 * everything in them, so that each run starts from nothing.
 */
#ifndef HSMFS_TEST_TMPDIR_H
#define HSMFS_TEST_TMPDIR_H

#include <stddef.h>

#define TMPDIR_MAX 64

/* Makes /tmp/hsmfs-TAG-XXXXXX into path. 0, or -1. */
int tmpdir_make(char path[TMPDIR_MAX], const char *tag);
/* Removes path and everything under it (read-only files too). */
void tmpdir_remove(const char *path);
/* Writes n bytes to name (relative to dirfd, or AT_FDCWD), replacing
 * what was there. 0, or -1. */
int tmpdir_write_at(int dirfd, const char *name, const void *p, size_t n);

#endif
