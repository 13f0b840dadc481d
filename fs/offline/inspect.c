/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/conf.h"
#include "crypto/layout.h"
#include "inspect.h"

/* The block layout of the volume a file lies in: the format of the
 * nearest hsmfs.conf above it. 0 if there is none (a file copied out of
 * its volume). */
static int find_layout(const char *file)
{
	char dir[PATH_MAX], *slash;
	struct conf c;
	const char *why;
	int fd, err;

	if (!realpath(file, dir))
		return 0;
	while ((slash = strrchr(dir, '/'))) {
		slash[slash == dir] = '\0';
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return 0;
		err = conf_load(fd, &c, &why);
		close(fd);
		if (!err)
			return c.format;
		if (err != -ENOENT || !strcmp(dir, "/"))
			return 0;
	}
	return 0;
}

int inspect_file(const char *path, int lay, struct inspect *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;

	memset(out, 0, sizeof(*out));
	if (fd < 0)
		return -errno;
	if (fstat(fd, &out->st) != 0)
		err = -errno;
	else if (!S_ISREG(out->st.st_mode))
		err = S_ISDIR(out->st.st_mode) ? -EISDIR : -EINVAL;
	if (!err)
		out->hdr_err = hdr_read(fd, &out->h, &out->why);
	close(fd);
	if (err)
		return err;
	out->lay = lay ? lay : find_layout(path);
	out->lay_known = out->lay != 0;
	if (!out->lay)
		out->lay = CONF_FORMAT;
	out->psize = lay_plain_size(out->lay, (uint64_t)out->st.st_size);
	return 0;
}
