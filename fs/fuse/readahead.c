/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Raises the readahead of our mount (see readahead.h). The device number
 * comes from /proc/self/mountinfo: a stat of the mount point would be a
 * FUSE request to ourselves.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "fsd.h"
#include "fs/vol/mnt.h"
#include "readahead.h"

static struct fsd *_Atomic ra_fs;
static pthread_once_t ra_once = PTHREAD_ONCE_INIT;

struct want {
	const char *mnt;
	char dev[32];
};

/* Keeps the device of the mount on w->mnt; the last match wins (the
 * topmost mount: ours, just made). */
static int match_mnt(void *ctx, const char *dev, const char *mnt,
		     const char *src)
{
	struct want *w = ctx;

	(void)src;
	if (!strcmp(mnt, w->mnt))
		snprintf(w->dev, sizeof(w->dev), "%s", dev);
	return 0;
}

/* Writes kb to the bdi of device dev. 0, or -errno. */
static int write_ra(const char *dev, unsigned kb)
{
	char path[96], val[16];
	int fd, len, err = 0;

	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return -errno;
	len = snprintf(val, sizeof(val), "%u\n", kb);
	if (write(fd, val, (size_t)len) != len)
		err = -errno;
	close(fd);
	return err;
}

/* The pthread_once body: one attempt, one log line. */
static void apply_once(void)
{
	struct fsd *fs = ra_fs;
	struct want w = { .mnt = fs->mountpoint };
	int err;

	if (!fs->mountpoint) {
		log_info("readahead stays at the kernel default: mount point "
			 "unknown");
		return;
	}
	if ((err = mnt_each(match_mnt, &w)) == 0 && !w.dev[0])
		err = -ENOENT;
	if (err) {
		log_info("readahead stays at the kernel default: %s not found "
			 "in /proc/self/mountinfo: %s", fs->mountpoint,
			 strerror(-err));
		return;
	}
	if ((err = write_ra(w.dev, fs->readahead_kb))) {
		log_info("readahead stays at the kernel default: cannot write "
			 "/sys/class/bdi/%s/read_ahead_kb: %s", w.dev,
			 strerror(-err));
		return;
	}
	log_debug("readahead of %s (bdi %s) set to %u KiB", fs->mountpoint,
		  w.dev, fs->readahead_kb);
}

void readahead_apply(struct fsd *fs)
{
	if (!fs->readahead_kb)
		return;
	ra_fs = fs;
	pthread_once(&ra_once, apply_once);
}
