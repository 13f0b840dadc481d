/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "walk.h"

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* A path grown and cut back as the walk goes down and up: bounded by
 * memory alone. */
struct path {
	char *s;
	size_t len, cap;
};

/* The walk's state besides the levels: the paths of where it is. */
struct wstate {
	struct walk *w;
	struct path bp; /* "a/b" */
	struct path pp; /* "/a/b"; valid where the level says plain_ok */
};

/* One directory level: its IV (when names are encrypted and it has
 * one). */
struct level {
	int fd;
	bool root;
	bool have_iv;
	uint8_t iv[DIRIV_LEN];
	bool plain_ok; /* the state's pp leads here */
};

/* Appends name to p, after a "/" if lead or p is not empty; *mark is
 * the length to cut back to. 0 or -ENOMEM. */
static int path_push(struct path *p, bool lead, const char *name,
		     size_t *mark)
{
	size_t sep = lead || p->len, n = strlen(name);
	size_t need = p->len + sep + n + 1;
	char *s;

	*mark = p->len;
	if (need > p->cap) {
		if (!(s = realloc(p->s, need * 2)))
			return -ENOMEM;
		p->s = s;
		p->cap = need * 2;
	}
	if (sep)
		p->s[p->len++] = '/';
	memcpy(p->s + p->len, name, n + 1);
	p->len += n;
	return 0;
}

static void path_pop(struct path *p, size_t mark)
{
	p->len = mark;
	if (p->s)
		p->s[mark] = '\0';
}

/* Where the walk is, in plaintext, for a message: NULL if unknown. */
static const char *here_plain(const struct wstate *s, const struct level *l)
{
	return l->plain_ok ? (s->pp.len ? s->pp.s : "/") : NULL;
}

static void problem(struct wstate *s, const char *ppath, const char *what)
{
	if (s->w->problem)
		s->w->problem(s->w, s->bp.len ? s->bp.s : ".", ppath, what);
}

/* Something the walk could not look at: said, and counted. */
static void missed(struct wstate *s, const char *ppath, const char *what,
		   int err)
{
	char why[160];

	snprintf(why, sizeof(why), "%s: %s", what, strerror(err));
	s->w->missed_n++;
	if (s->w->missed)
		s->w->missed(s->w, s->bp.len ? s->bp.s : ".", ppath, why);
	else
		problem(s, ppath, why);
}

/* A problem with name, one of the volume's own files where s->bp is. */
static int own_problem(struct wstate *s, const char *name,
		       const char *ppath, const char *what)
{
	size_t m;

	if (path_push(&s->bp, false, name, &m))
		return -ENOMEM;
	problem(s, ppath, what);
	path_pop(&s->bp, m);
	return 0;
}

/* Sidecars whose entry is gone: harmless, but not ours to keep. */
static int check_sidecar(struct wstate *s, const struct level *l,
			 const char *name)
{
	if (!names_is_sidecar(name) || !bname_sidecar_orphaned(l->fd, name))
		return 0;
	return own_problem(s, name, NULL,
			   "orphan long-name sidecar (its entry is gone)");
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

static int walk_dir(struct wstate *s, struct level *l);

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* The names in a directory, sorted (stable reports); NULL with errno
 * if they cannot all be had. Read through a description of its own: fd
 * keeps no offset that a later walk of the same fd would start from. */
static char **list_dir(int fd, size_t *count)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), e = 0;
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	char **v = calloc(1, sizeof(*v)), **nv;
	struct dirent *de;
	size_t n = 0, cap = 1;

	if (!d || !v) {
		e = !v ? ENOMEM : errno;
		goto out;
	}
	for (errno = 0; !e && (de = readdir(d)); errno = 0) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap && (nv = realloc(v, 2 * cap * sizeof(*v)))) {
			v = nv;
			cap *= 2;
		}
		if (n == cap || !(v[n] = strdup(de->d_name)))
			e = ENOMEM;
		else
			n++;
	}
	e = e ? e : errno;
out:
	if (d)
		closedir(d);
	else if (dfd >= 0)
		close(dfd);
	if (e) {
		free_names(v, n);
		errno = e;
		return NULL;
	}
	qsort(v, n, sizeof(*v), cmp_names);
	*count = n;
	return v;
}

/* Into directory entry e (already counted by entry()): its own level. */
static int descend(struct wstate *s, const struct walk_ent *e, bool ok)
{
	struct level c = { .plain_ok = ok };
	int r;

	c.fd = openat(e->dirfd, e->name, DIR_FLAGS);
	if (c.fd < 0) {
		missed(s, e->ppath, "cannot open directory", errno);
		return 0;
	}
	r = walk_dir(s, &c);
	close(c.fd);
	return r;
}

/* One entry, s->bp leading to it: decode its name, report it, descend
 * into directories. */
static int visit(struct wstate *s, struct level *l, const char *name)
{
	struct walk *w = s->w;
	struct walk_ent e = { .name = name, .dirfd = l->fd };
	struct bdir d;
	struct stat st;
	char plain[256];
	const char *why = NULL;
	size_t pm = 0;
	int ok, r = 0;

	if (fstatat(l->fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno != ENOENT) /* else gone meanwhile */
			missed(s, NULL, "cannot stat", errno);
		return 0;
	}
	e.bpath = s->bp.s;
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
		problem(s, NULL, why);
	if (ok && path_push(&s->pp, true, plain, &pm))
		return -ENOMEM;
	e.ppath = ok ? s->pp.s : NULL;
	if (w->entry)
		r = w->entry(w, &e);
	if (!r && S_ISDIR(st.st_mode) && !e.tmp)
		r = descend(s, &e, ok);
	if (ok)
		path_pop(&s->pp, pm);
	return r;
}

/* Reads l's IV, and reports it as the daemon would refuse it: missing or
 * invalid (its names are not decrypted), or not decrypting any of the
 * names it binds (they are still checked one by one). */
static int read_iv(struct wstate *s, struct level *l)
{
	struct walk *w = s->w;
	const char *why = NULL, *pp = here_plain(s, l);
	struct bdir d;
	int err = bname_read_diriv(l->fd, w->format, w->nk, l->iv);

	l->have_iv = err == 0;
	if (err && !(why = bname_diriv_why(err)))
		why = "cannot read the directory IV";
	bdir_of(w, l, l->fd, l->have_iv, l->iv, &d);
	if (!err && w->problem)
		bname_check_diriv(&d, &why);
	if (!why)
		return 0;
	if (err && !w->plaintext_names)
		l->plain_ok = false;
	return own_problem(s, DIRIV_NAME, pp, why);
}

static int walk_dir(struct wstate *s, struct level *l)
{
	struct walk *w = s->w;
	struct bdir d;
	size_t n = 0, m;
	char **names = list_dir(l->fd, &n);
	int r = 0;

	if (!names) {
		missed(s, here_plain(s, l), "cannot read directory", errno);
		return 0;
	}
	if (bname_has_ivs(w->format, w->plaintext_names))
		r = read_iv(s, l);
	bdir_of(w, l, l->fd, l->have_iv, l->iv, &d);
	for (size_t i = 0; i < n && r == 0; i++) {
		if (bname_kind(&d, names[i]) == BNAME_OWN) {
			if (!w->plaintext_names)
				r = check_sidecar(s, l, names[i]);
			continue;
		}
		if (path_push(&s->bp, false, names[i], &m))
			r = -ENOMEM;
		else
			r = visit(s, l, names[i]);
		path_pop(&s->bp, m);
	}
	free_names(names, n);
	return r;
}

int walk_tree(struct walk *w, int rootfd)
{
	struct wstate s = { .w = w };
	struct level l = { .fd = rootfd, .root = true };
	size_t m;
	int r;

	l.plain_ok = w->plaintext_names || w->nk;
	/* Both paths start out as "" (the root). */
	if (path_push(&s.bp, false, "", &m) || path_push(&s.pp, false, "", &m))
		r = -ENOMEM;
	else
		r = walk_dir(&s, &l);
	free(s.bp.s);
	free(s.pp.s);
	return r;
}

char *walk_plain_path(const struct walk *w, int rootfd, const char *bpath)
{
	char *copy = strdup(bpath), *save = NULL, plain[256];
	struct path out = { 0 };
	const char *why;
	uint8_t iv[DIRIV_LEN];
	int fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool ok = false;
	size_t m;

	if (!copy || fd < 0)
		goto out;
	for (char *c = strtok_r(copy, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		bool have = w->plaintext_names ||
			    bname_read_diriv(fd, w->format, w->nk, iv) == 0;
		struct bdir d;
		int next;

		bdir_of(w, NULL, fd, have, iv, &d);
		if (!have || bname_decode(&d, c, plain, &why) != 0 ||
		    path_push(&out, true, plain, &m))
			goto out;
		next = openat(fd, c, DIR_FLAGS);
		close(fd);
		fd = next;
		if (fd < 0 && save && *save)
			goto out;
	}
	ok = out.s != NULL;
out:
	if (fd >= 0)
		close(fd);
	free(copy);
	if (!ok)
		free(out.s);
	return ok ? out.s : NULL;
}

/* The next name of *p (skipping "/"s) into name, *len its length
 * (name is empty when it is too long); false at the end. */
static bool next_name(const char **p, char name[256], size_t *len)
{
	*p += strspn(*p, "/");
	*len = strcspn(*p, "/");
	if (!*len)
		return false;
	if (*len < 256)
		memcpy(name, *p, *len);
	name[*len < 256 ? *len : 0] = '\0';
	*p += *len;
	return true;
}

int walk_open_dir(int dirfd, const char *path, bool follow,
		  const char **base)
{
	int fd = -1, next, e, flags = O_PATH | O_DIRECTORY | O_CLOEXEC |
				      (follow ? 0 : O_NOFOLLOW);
	const char *p = path;
	char name[256];
	size_t len;

	*base = ".";
	/* Every name but the last, each from the one before: search
	 * permission is enough, as for a whole path. */
	while (next_name(&p, name, &len)) {
		if (!p[strspn(p, "/")]) {
			*base = p - len;
			break;
		}
		next = len < sizeof(name) ? openat(fd < 0 ? dirfd : fd, name,
						   flags) : -1;
		e = len < sizeof(name) ? errno : ENAMETOOLONG;
		if (fd >= 0)
			close(fd);
		if ((fd = next) < 0)
			return -e;
	}
	/* The directory itself, read-only where it may be read (fsync
	 * works then). */
	next = openat(fd < 0 ? dirfd : fd, ".", O_RDONLY | O_DIRECTORY |
		      O_CLOEXEC);
	if (next < 0 && errno == EACCES)
		next = openat(fd < 0 ? dirfd : fd, ".", flags);
	e = errno;
	if (fd >= 0)
		close(fd);
	return next < 0 ? -e : next;
}

/* d holds the directory of bpath (the part before base). */
static bool dir_kept(const struct walk_dir *d, const char *bpath,
		     const char *base)
{
	size_t len = (size_t)(base - bpath);

	return d->fd >= 0 && d->len == len && !memcmp(d->bdir, bpath, len);
}

/* Opens bpath's directory into d. 0 or -errno. */
static int dir_open(struct walk_dir *d, int rootfd, const char *bpath,
		    const char **base)
{
	int fd;

	walk_dir_close(d);
	if ((fd = walk_open_dir(rootfd, bpath, false, base)) < 0)
		return fd;
	d->len = (size_t)(*base - bpath);
	if (!(d->bdir = malloc(d->len + 1))) {
		close(fd);
		return -ENOMEM;
	}
	memcpy(d->bdir, bpath, d->len);
	d->bdir[d->len] = '\0';
	d->fd = fd;
	return 0;
}

int walk_open(struct walk_dir *d, int rootfd, const char *bpath, int flags)
{
	const char *base = strrchr(bpath, '/');
	bool kept;
	int fd, e;

	base = base ? base + 1 : bpath;
	kept = dir_kept(d, bpath, base);
	if (!kept && (e = dir_open(d, rootfd, bpath, &base)))
		return e;
	fd = openat(d->fd, base, flags | O_NOFOLLOW | O_CLOEXEC);
	/* The kept directory may have been removed and made anew since. */
	if (fd < 0 && errno == ENOENT && kept) {
		if ((e = dir_open(d, rootfd, bpath, &base)))
			return e;
		fd = openat(d->fd, base, flags | O_NOFOLLOW | O_CLOEXEC);
	}
	return fd < 0 ? -errno : fd;
}

void walk_dir_close(struct walk_dir *d)
{
	if (d->fd >= 0)
		close(d->fd);
	free(d->bdir);
	d->bdir = NULL;
	d->len = 0;
	d->fd = -1;
}
