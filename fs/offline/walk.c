/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "walk.h"

/* One directory level: its IV (when names are encrypted and it has one)
 * and the paths that lead to it. */
struct level {
	int fd;
	bool root;
	bool have_iv;
	uint8_t iv[DIRIV_LEN];
	char bpath[PATH_MAX];
	char ppath[PATH_MAX];
	bool plain_ok; /* ppath is valid */
};

static void problem(struct walk *w, const char *bpath, const char *ppath,
		    const char *what)
{
	if (w->problem)
		w->problem(w, bpath, ppath, what);
}

/* Sidecars whose entry is gone: harmless, but not ours to keep. */
static void check_sidecar(struct walk *w, const struct level *l,
			  const char *name)
{
	char bp[PATH_MAX];

	if (!names_is_sidecar(name) || !bname_sidecar_orphaned(l->fd, name))
		return;
	snprintf(bp, sizeof(bp), "%s%s%s", l->bpath, *l->bpath ? "/" : "",
		 name);
	problem(w, bp, NULL, "orphan long-name sidecar (its entry is gone)");
}

/* How names look from directory l. */
static void bdir_of(const struct walk *w, const struct level *l, int fd,
		    bool have_iv, const uint8_t *iv, struct bdir *d)
{
	d->fd = fd;
	d->root = l ? l->root : false;
	d->plaintext = w->plaintext_names;
	d->format = w->format;
	d->nk = w->nk;
	d->iv = have_iv ? iv : NULL;
}

static int walk_dir(struct walk *w, struct level *l);

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in a directory, sorted (stable reports). */
static char **list_dir(int fd, size_t *count)
{
	DIR *d = fdopendir(dup(fd));
	struct dirent *de;
	char **v = NULL, **nv;
	size_t n = 0, cap = 0;

	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if (!(nv = realloc(v, cap * sizeof(*v))))
				break;
			v = nv;
		}
		if (!(v[n] = strdup(de->d_name)))
			break;
		n++;
	}
	closedir(d);
	if (!v)
		v = calloc(1, sizeof(*v));
	if (v)
		qsort(v, n, sizeof(*v), cmp_names);
	*count = n;
	return v;
}

/* One entry: decode its name, report it, descend into directories. */
static int visit(struct walk *w, struct level *l, const char *name)
{
	struct level *c = NULL;
	struct walk_ent e = { .name = name, .dirfd = l->fd };
	struct bdir d;
	struct stat st;
	char plain[256], bp[PATH_MAX];
	const char *why = NULL;
	int ok, r = 0;

	if (fstatat(l->fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return 0; /* gone meanwhile */
	snprintf(bp, sizeof(bp), "%s%s%s", l->bpath, *l->bpath ? "/" : "",
		 name);
	e.bpath = bp;
	e.st = &st;
	bdir_of(w, l, l->fd, l->have_iv, l->iv, &d);
	e.tmp = bname_kind(&d, name) == BNAME_TMP;
	e.diriv = l->have_iv ? l->iv : NULL;
	/* Decoded even under an undecryptable parent: sidecars and names
	 * are still checked (each directory has its own IV). */
	if (!e.tmp && bname_decode(&d, name, plain, &why) == 0)
		e.plain = plain;
	ok = e.plain && l->plain_ok;
	if (!e.tmp && why)
		problem(w, bp, NULL, why);
	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	if (ok)
		snprintf(c->ppath, sizeof(c->ppath), "%s/%s", l->ppath, plain);
	e.ppath = ok ? c->ppath : NULL;
	if (w->entry && (r = w->entry(w, &e)) != 0)
		goto out;
	if (!S_ISDIR(st.st_mode) || e.tmp)
		goto out;
	c->fd = openat(l->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				    O_CLOEXEC);
	if (c->fd < 0) {
		problem(w, bp, e.ppath, "cannot open directory");
		goto out;
	}
	snprintf(c->bpath, sizeof(c->bpath), "%s", bp);
	c->plain_ok = ok;
	r = walk_dir(w, c);
	close(c->fd);
out:
	free(c);
	return r;
}

/* Reads l's IV, and reports it as the daemon would refuse it: missing or
 * invalid (its names are not decrypted), or not decrypting any of the
 * names it binds (they are still checked one by one). */
static void read_iv(struct walk *w, struct level *l)
{
	const char *why = NULL;
	char bp[PATH_MAX];
	struct bdir d;
	int err = bname_read_diriv(l->fd, w->format, w->nk, l->iv);

	l->have_iv = err == 0;
	if (err && !(why = bname_diriv_why(err)))
		why = "cannot read the directory IV";
	bdir_of(w, l, l->fd, l->have_iv, l->iv, &d);
	if (!err && w->problem)
		bname_check_diriv(&d, &why);
	if (!why)
		return;
	snprintf(bp, sizeof(bp), "%s%s%s", l->bpath, *l->bpath ? "/" : "",
		 DIRIV_NAME);
	problem(w, bp, l->plain_ok ? (*l->ppath ? l->ppath : "/") : NULL, why);
	if (err && !w->plaintext_names)
		l->plain_ok = false;
}

static int walk_dir(struct walk *w, struct level *l)
{
	struct bdir d;
	size_t n = 0;
	char **names = list_dir(l->fd, &n);
	int r = 0;

	if (!names) {
		problem(w, *l->bpath ? l->bpath : ".", l->plain_ok ?
			(*l->ppath ? l->ppath : "/") : NULL,
			"cannot read directory");
		return 0;
	}
	if (bname_has_ivs(w->format, w->plaintext_names))
		read_iv(w, l);
	bdir_of(w, l, l->fd, l->have_iv, l->iv, &d);
	for (size_t i = 0; i < n && r == 0; i++) {
		if (bname_kind(&d, names[i]) != BNAME_OWN)
			r = visit(w, l, names[i]);
		else if (!w->plaintext_names)
			check_sidecar(w, l, names[i]);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

int walk_tree(struct walk *w, int rootfd)
{
	struct level *l = calloc(1, sizeof(*l));
	int r;

	if (!l)
		return -ENOMEM;
	l->fd = rootfd;
	l->root = true;
	l->plain_ok = w->plaintext_names || w->nk;
	r = walk_dir(w, l);
	free(l);
	return r;
}

int walk_plain_path(const struct walk *w, int rootfd, const char *bpath,
		    char *out, size_t n)
{
	char *copy = strdup(bpath), *save = NULL, plain[256];
	const char *why;
	uint8_t iv[DIRIV_LEN];
	size_t len = 0;
	int fd = dup(rootfd), ret = -1;

	if (!copy || fd < 0)
		goto out;
	out[0] = '\0';
	for (char *c = strtok_r(copy, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		bool have = w->plaintext_names ||
			    bname_read_diriv(fd, w->format, w->nk, iv) == 0;
		struct bdir d;
		int next;

		bdir_of(w, NULL, fd, have, iv, &d);
		if (!have || bname_decode(&d, c, plain, &why) != 0)
			goto out;
		len += (size_t)snprintf(out + len, n > len ? n - len : 0,
					"/%s", plain);
		next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				     O_CLOEXEC);
		close(fd);
		fd = next;
		if (fd < 0 && save && *save)
			goto out;
	}
	ret = len < n ? 0 : -1;
out:
	if (fd >= 0)
		close(fd);
	free(copy);
	return ret;
}
