/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Raises the readahead of our mount (see readahead.h). The device number
 * comes from /proc/self/mountinfo: a stat of the mount point would be a
 * FUSE request to ourselves.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
	char dev[32], src[PATH_MAX];
	int err;

	if (!fs->mountpoint) {
		log_info("readahead stays at the kernel default: mount point "
			 "unknown");
		return;
	}
	err = mnt_at(fs->mountpoint, dev, sizeof(dev), src, sizeof(src));
	if (err <= 0) {
		err = err ? err : -ENOENT;
		log_info("readahead stays at the kernel default: %s not found "
			 "in /proc/self/mountinfo: %s", fs->mountpoint,
			 strerror(-err));
		return;
	}
	if ((err = write_ra(dev, fs->readahead_kb))) {
		log_info("readahead stays at the kernel default: cannot write "
			 "/sys/class/bdi/%s/read_ahead_kb: %s", dev,
			 strerror(-err));
		return;
	}
	log_debug("readahead of %s (bdi %s) set to %u KiB", fs->mountpoint,
		  dev, fs->readahead_kb);
}

void readahead_apply(struct fsd *fs)
{
	if (!fs->readahead_kb)
		return;
	ra_fs = fs;
	pthread_once(&ra_once, apply_once);
}
