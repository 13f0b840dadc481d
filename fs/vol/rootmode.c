/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bname.h"
#include "rootmode.h"

/* "0755\n": four octal digits, always, so that a rewrite in place is one
 * short write of the same length. */
#define REC_LEN 5

int vol_rootmode_read(int rootfd, mode_t *mode)
{
	char buf[REC_LEN + 1];
	mode_t m = 0;
	ssize_t n;
	int fd = bname_open_own(rootfd, ROOTMODE_NAME, O_RDONLY, 0);

	if (fd < 0)
		return fd;
	n = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	if (n < 0)
		return -errno;
	if (n != REC_LEN || buf[REC_LEN - 1] != '\n')
		return -EINVAL;
	for (int i = 0; i < REC_LEN - 1; i++) {
		if (buf[i] < '0' || buf[i] > '7')
			return -EINVAL;
		m = m * 8 + (mode_t)(buf[i] - '0');
	}
	*mode = m;
	return 0;
}

int vol_rootmode_write(int rootfd, mode_t mode)
{
	char buf[REC_LEN + 1];
	int fd = bname_open_own(rootfd, ROOTMODE_NAME, O_WRONLY | O_CREAT,
				0644), err = 0;
	ssize_t n;

	if (fd < 0)
		return fd;
	snprintf(buf, sizeof(buf), "%04o\n", (unsigned)(mode & 07777));
	n = pwrite(fd, buf, REC_LEN, 0);
	if (n != REC_LEN)
		err = n < 0 ? -errno : -EIO;
	else if (ftruncate(fd, REC_LEN) != 0 || fsync(fd) != 0)
		err = -errno;
	close(fd);
	return err;
}

mode_t vol_rootmode_default(void)
{
	mode_t mask = umask(0);

	umask(mask);
	return 0777 & ~mask;
}
