/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tmpdir.h"

int tmpdir_make(char path[TMPDIR_MAX], const char *tag)
{
	snprintf(path, TMPDIR_MAX, "/tmp/hsmfs-%s-XXXXXX", tag);
	return mkdtemp(path) ? 0 : -1;
}

static int rm_one(const char *path, const struct stat *st, int type,
		  struct FTW *ftw)
{
	(void)st, (void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void tmpdir_remove(const char *path)
{
	if (path && path[0])
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int tmpdir_write_at(int dirfd, const char *name, const void *p, size_t n)
{
	int fd, ok;

	/* Volume files are read-only (0400): replace them rather than
	 * open them for writing. */
	unlinkat(dirfd, name, 0);
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return -1;
	ok = write(fd, p, n) == (ssize_t)n;
	return close(fd) == 0 && ok ? 0 : -1;
}
