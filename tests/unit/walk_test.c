/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The offline tools' walk (fs/offline/walk.c) on a tree whose paths pass
 * PATH_MAX: every entry is seen with its whole path, opened again by that
 * path, and named in plaintext; and a second walk of the same root
 * descriptor sees what the first one saw (rekey walks twice: the second
 * walk decides whether an old KEK may be dropped). A plaintext-names
 * volume of format 2: no IVs, the backing names are the names.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "crypto/layout.h"
#include "fs/offline/walk.h"
#include "tmpdir.h"

#define LEVELS 120 /* of 40-byte names: 4,920 bytes of path, and "/f" */

static char top[TMPDIR_MAX];
static char *deepest; /* its backing path */

/* A chain of LEVELS directories with a file f at the bottom holding
 * "deep", and a file "top" in the root; made one level at a time. */
static int make_tree(void)
{
	char name[41];
	size_t len = 0;
	int fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC), next;

	deepest = malloc(LEVELS * 41 + 2);
	if (fd < 0 || !deepest || tmpdir_write_at(fd, "top", "top", 3))
		return -1;
	for (int i = 0; i < LEVELS; i++) {
		snprintf(name, sizeof(name), "%039d%c", i, 'd');
		len += (size_t)sprintf(deepest + len, "%s/", name);
		if (mkdirat(fd, name, 0700) != 0 ||
		    (next = openat(fd, name, O_RDONLY | O_DIRECTORY)) < 0)
			return -1;
		close(fd);
		fd = next;
	}
	strcpy(deepest + len, "f");
	next = tmpdir_write_at(fd, "f", "deep", 4);
	close(fd);
	return next;
}

struct seen {
	unsigned long entries;
	bool deepest, plain_ok;
};

static int count(struct walk *w, const struct walk_ent *e)
{
	struct seen *s = w->ctx;

	s->entries++;
	if (!strcmp(e->bpath, deepest)) {
		s->deepest = true;
		s->plain_ok = e->ppath && e->ppath[0] == '/' &&
			      !strcmp(e->ppath + 1, deepest);
	}
	return 0;
}

static struct walk walk_of(struct seen *s)
{
	return (struct walk){ .plaintext_names = true, .format = LAY_ALIGNED,
			      .entry = count, .ctx = s };
}

static void deep_tree(void)
{
	struct seen s = { 0 };
	struct walk w = walk_of(&s);
	struct walk_dir d = WALK_DIR_INIT;
	const char *base;
	char buf[8] = "";
	char *plain;
	int root, fd;

	CHECK(tmpdir_make(top, "walk") == 0 && make_tree() == 0);
	CHECK(strlen(deepest) > PATH_MAX);
	root = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(root >= 0);
	CHECK_EQ_INT(walk_tree(&w, root), 0);
	CHECK_EQ_INT(s.entries, LEVELS + 2);
	CHECK(s.deepest && s.plain_ok);
	CHECK_EQ_INT(w.missed_n, 0);

	/* Opened again by its whole path, twice (the directory kept). */
	for (int i = 0; i < 2; i++) {
		fd = walk_open(&d, root, deepest, O_RDONLY);
		CHECK(fd >= 0 && pread(fd, buf, 4, 0) == 4 &&
		      !memcmp(buf, "deep", 4));
		if (fd >= 0)
			close(fd);
	}
	CHECK(d.fd >= 0);
	CHECK_EQ_INT(walk_open(&d, root, "top", O_RDONLY) >= 0, 1);
	walk_dir_close(&d);
	CHECK_EQ_INT(walk_open(&d, root, "nothing/f", O_RDONLY), -ENOENT);
	walk_dir_close(&d);

	fd = walk_open_dir(root, deepest, false, &base);
	CHECK(fd >= 0 && !strcmp(base, "f") && faccessat(fd, base, R_OK, 0) == 0);
	if (fd >= 0)
		close(fd);

	plain = walk_plain_path(&w, root, deepest);
	CHECK(plain && plain[0] == '/' && !strcmp(plain + 1, deepest));
	free(plain);
	close(root);
}

/* rekey walks once to work and once to check before it drops an old KEK:
 * the second walk of the same descriptor must not start where the first
 * one's reading of the root left off. */
static void walked_twice(void)
{
	struct seen a = { 0 }, b = { 0 };
	struct walk wa = walk_of(&a), wb = walk_of(&b);
	int root = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	CHECK(root >= 0);
	CHECK_EQ_INT(walk_tree(&wa, root), 0);
	CHECK_EQ_INT(walk_tree(&wb, root), 0);
	CHECK_EQ_INT(b.entries, a.entries);
	CHECK(a.entries == LEVELS + 2 && b.deepest);
	close(root);
	tmpdir_remove(top);
	free(deepest);
}

CHECK_MAIN("walk", T(deep_tree), T(walked_twice))
