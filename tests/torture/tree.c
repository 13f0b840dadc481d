// SPDX-License-Identifier: Apache-2.0
/*
 * Whole-tree comparison: names, types, modes, link counts, sizes, symlink
 * targets and every byte of every file. Before reading a file of the mount
 * its dirty pages are written and its cached pages dropped, so that the
 * daemon, not the page cache, supplies the bytes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "torture.h"

#define MAXENT 512

struct listing {
	char *name[MAXENT];
	int n;
};

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list(int dfd, struct listing *l)
{
	DIR *d = fdopendir(dup(dfd));
	struct dirent *de;

	l->n = 0;
	if (!d)
		return -errno;
	/* The dup shares the offset of a descriptor read before. */
	rewinddir(d);
	while ((de = readdir(d)) && l->n < MAXENT)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			l->name[l->n++] = strdup(de->d_name);
	closedir(d);
	qsort(l->name, (size_t)l->n, sizeof(l->name[0]), cmp);
	return 0;
}

static void unlist(struct listing *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->name[i]);
}

/* Short printable form of a path for messages. */
static const char *show(const char *p, char *buf, size_t n)
{
	size_t j = 0;

	for (size_t i = 0; p[i] && j + 8 < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		size_t run = 1;

		while (p[i + run] == p[i])
			run++;
		if (run > 4) {
			j += (size_t)snprintf(buf + j, n - j, "%c{%zu}",
					      ch < 0x80 ? ch : '?', run);
			i += run - 1;
		} else {
			buf[j++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
		}
	}
	buf[j] = '\0';
	return buf;
}

int tree_compare_fds(struct ctx *c, int fd0, int fd1, const char *name)
{
	unsigned long long at = 0;

	for (;;) {
		ssize_t n0 = read(fd0, c->rbuf[0], 65536);
		int e0 = errno;
		ssize_t n1 = read(fd1, c->rbuf[1], 65536);
		int e1 = errno;

		if (n0 < 0 && n1 < 0 && e0 == e1)
			return 0; /* a directory, say */
		if (n0 < 0 || n1 < 0 || n0 != n1)
			return fail(c, "reading %s at %llu: mount %zd (%s), "
				    "reference %zd", name, at, n0,
				    n0 < 0 ? strerror(e0) : "ok", n1);
		if (n0 == 0)
			return 0;
		for (ssize_t i = 0; i < n0; i++)
			if (c->rbuf[0][i] != c->rbuf[1][i])
				return fail(c, "%s differs at byte %llu: mount "
					    "0x%02x, reference 0x%02x", name,
					    at + (unsigned long long)i,
					    c->rbuf[0][i], c->rbuf[1][i]);
		at += (unsigned long long)n0;
	}
}

static int compare_entry(struct ctx *c, int d0, int d1, const char *name,
			 const char *path);

static int compare_dir(struct ctx *c, int d0, int d1, const char *path)
{
	struct listing l[SIDES];
	char sub[PATH_MAX], b1[256], b2[256];
	int ret = 0;

	if (list(d0, &l[0]) || list(d1, &l[1]))
		return fail(c, "cannot list %s: %s", path, strerror(errno));
	for (int i = 0; !ret && (i < l[0].n || i < l[1].n); i++) {
		const char *n0 = i < l[0].n ? l[0].name[i] : "(none)";
		const char *n1 = i < l[1].n ? l[1].name[i] : "(none)";

		if (strcmp(n0, n1)) {
			ret = fail(c, "%s: entry %d is %s on the mount, %s on "
				   "the reference", path, i, show(n0, b1, 80),
				   show(n1, b2, 80));
			break;
		}
		snprintf(sub, sizeof(sub), "%s/%s", path, show(n0, b1, 200));
		ret = compare_entry(c, d0, d1, n0, sub);
	}
	unlist(&l[0]);
	unlist(&l[1]);
	return ret;
}

static int compare_entry(struct ctx *c, int d0, int d1, const char *name,
			 const char *path)
{
	struct stat st[SIDES];
	char t[SIDES][4096];
	int fd[SIDES] = { -1, -1 }, ret = 0;

	for (int s = 0; s < SIDES; s++)
		if (fstatat(s ? d1 : d0, name, &st[s], AT_SYMLINK_NOFOLLOW))
			return fail(c, "%s: stat on side %d: %s", path, s,
				    strerror(errno));
	if (st[0].st_mode != st[1].st_mode || st[0].st_nlink != st[1].st_nlink)
		return fail(c, "%s: mode/links: mount 0%o/%lu, reference "
			    "0%o/%lu", path, st[0].st_mode,
			    (unsigned long)st[0].st_nlink, st[1].st_mode,
			    (unsigned long)st[1].st_nlink);
	if (!S_ISDIR(st[0].st_mode) && st[0].st_size != st[1].st_size)
		return fail(c, "%s: size: mount %lld, reference %lld", path,
			    (long long)st[0].st_size, (long long)st[1].st_size);
	if (S_ISLNK(st[0].st_mode)) {
		ssize_t n0 = readlinkat(d0, name, t[0], sizeof(t[0]));
		ssize_t n1 = readlinkat(d1, name, t[1], sizeof(t[1]));

		if (n0 != n1 || n0 < 0 || memcmp(t[0], t[1], (size_t)n0))
			return fail(c, "%s: symlink targets differ (%zd, %zd "
				    "bytes)", path, n0, n1);
		return 0;
	}
	if (!S_ISDIR(st[0].st_mode) && !S_ISREG(st[0].st_mode))
		return 0;
	for (int s = 0; s < SIDES; s++) {
		fd[s] = openat(s ? d1 : d0, name, O_RDONLY | O_NOFOLLOW |
						  O_CLOEXEC);
		if (fd[s] < 0) {
			ret = fail(c, "%s: open on side %d: %s", path, s,
				   strerror(errno));
			goto out;
		}
	}
	if (S_ISDIR(st[0].st_mode)) {
		ret = compare_dir(c, fd[0], fd[1], path);
	} else {
		/* Write back, then drop: the daemon answers the reads. */
		fsync(fd[0]);
		posix_fadvise(fd[0], 0, 0, POSIX_FADV_DONTNEED);
		ret = tree_compare_fds(c, fd[0], fd[1], path);
	}
out:
	for (int s = 0; s < SIDES; s++)
		if (fd[s] >= 0)
			close(fd[s]);
	return ret;
}

int tree_compare(struct ctx *c)
{
	char top[32];

	snprintf(top, sizeof(top), "t%d", c->id);
	return compare_dir(c, c->dir[0], c->dir[1], top);
}
