/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The file is reached one name at a time and the volume above it found
 * through "..", never by a whole path: a backing path may be longer than
 * the kernel takes in one (PATH_MAX), and such a file is inspected all
 * the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/conf.h"
#include "crypto/layout.h"
#include "inspect.h"
#include "walk.h"

/* The block layout of the volume a file lies in: the format of the
 * nearest hsmfs.conf above it, from dir (the file's directory) up. 0 if
 * there is none (a file copied out of its volume). */
static int find_layout(int dir)
{
	struct stat st, up;
	struct conf c;
	const char *why;
	int fd = dir, next, lay = 0, err;

	while (fstat(fd, &st) == 0) {
		if ((err = conf_load(fd, &c, &why)) != -ENOENT) {
			lay = err ? 0 : c.format;
			break;
		}
		next = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd != dir)
			close(fd);
		/* "/" is its own parent. */
		if ((fd = next) < 0 || (fstat(fd, &up) == 0 &&
					up.st_dev == st.st_dev &&
					up.st_ino == st.st_ino))
			break;
	}
	if (fd >= 0 && fd != dir)
		close(fd);
	return lay;
}

/* The directory holding path's last name, as open(2) would reach it
 * (symlinks on the way followed), one name at a time. */
static int open_dir(const char *path, const char **base)
{
	int top = path[0] == '/' ? open("/", O_PATH | O_DIRECTORY |
					O_CLOEXEC) : AT_FDCWD;
	int fd = top == -1 ? -errno : walk_open_dir(top, path, true, base);

	if (top >= 0)
		close(top);
	return fd;
}

int inspect_file(const char *path, int lay, struct inspect *out)
{
	const char *base;
	int dir = open_dir(path, &base), fd = -1, err = 0;

	memset(out, 0, sizeof(*out));
	if (dir < 0)
		return dir;
	if ((fd = openat(dir, base, O_RDONLY | O_CLOEXEC)) < 0 ||
	    fstat(fd, &out->st) != 0)
		err = -errno;
	else if (!S_ISREG(out->st.st_mode))
		err = S_ISDIR(out->st.st_mode) ? -EISDIR : -EINVAL;
	if (!err) {
		out->hdr_err = hdr_read(fd, &out->h, &out->why);
		out->lay = lay ? lay : find_layout(dir);
	}
	if (fd >= 0)
		close(fd);
	close(dir);
	if (err)
		return err;
	out->lay_known = out->lay != 0;
	if (!out->lay)
		out->lay = CONF_FORMAT;
	out->psize = lay_plain_size(out->lay, (uint64_t)out->st.st_size);
	return 0;
}
