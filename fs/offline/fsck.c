/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/clock.h"
#include "crypto/blk.h"
#include "crypto/layout.h"
#include "fs/vol/filekey.h"
#include "fs/vol/rootmode.h"
#include "fs/vol/vol.h"
#include "fsck.h"
#include "walk.h"

struct fsck {
	struct vol v;
	const char *dir;
	const struct fsck_opts *o;
	struct fsck_counts *n;
	bool peeked;
	bool plaintext;
	int lay; /* block layout, from the config */
	uint64_t start_ms, shown_ms; /* for o->progress */
};

/* The caller's progress: at once, then at most five times a second,
 * and at the end. */
static void tick(struct fsck *k, bool last)
{
	uint64_t now = clock_ms();

	if (!k->o->progress || (!last && k->shown_ms &&
				now - k->shown_ms < 200))
		return;
	k->shown_ms = now;
	k->o->progress(k->o->ctx, k->n, (double)(now - k->start_ms) / 1000,
		       last);
}

static void problem(struct fsck *k, const char *bpath, const char *ppath,
		    const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void problem(struct fsck *k, const char *bpath, const char *ppath,
		    const char *fmt, ...)
{
	char what[1024];
	va_list ap;

	k->n->problems++;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (k->o->problem)
		k->o->problem(k->o->ctx, bpath, ppath, what);
}

static void walk_problem(struct walk *w, const char *bpath,
			 const char *ppath, const char *what)
{
	problem(w->ctx, bpath, ppath, "%s", what);
}

/* Slot i alone: unwrapped with the KEK that owns it and MAC-verified. */
static int check_slot(struct fsck *k, const struct hdr *h, int i,
		      uint8_t dek[KEY_LEN], char *why, size_t n)
{
	struct hdr one = *h;
	enum kek_status st;

	memset(&one.slot[1 - i], 0, sizeof(one.slot[0]));
	k->n->slots++;
	return vol_file_key_slot(&k->v, &one, dek, &st, NULL, why, n) == i ?
	       0 : -1;
}

/* Format 3: the file's state authenticates and keeps its rules. 0, or
 * -1 with the problem reported (its holes cannot be trusted then). */
static int check_state(struct fsck *k, const struct walk_ent *e, int fd,
		       const struct hdr *h, const uint8_t dek[KEY_LEN],
		       struct fmeta *m)
{
	uint8_t mkey[KEY_LEN];
	const char *why = "cannot derive its key";
	int err = fmeta_key(dek, mkey);

	if (!err)
		err = fmeta_read(fd, mkey, h->file_id, m, &why);
	secmem_wipe(mkey, sizeof(mkey));
	if (err)
		problem(k, e->bpath, e->ppath, "file state: %s", why);
	return err ? -1 : 0;
}

/* Every block decrypts under the file's key. */
static void check_blocks(struct fsck *k, const struct walk_ent *e, int fd,
			 const struct hdr *h, const uint8_t dek[KEY_LEN],
			 int64_t psize)
{
	struct blk_key *bk = blk_key_new(dek, h->file_id);
	uint8_t c[BLK_CIPHER], r[LAY_REC], p[BLK_PLAIN];
	uint64_t nb = ((uint64_t)psize + BLK_PLAIN - 1) / BLK_PLAIN, bad;
	struct fmeta m, *mp = NULL;
	char msg[128];
	int err;

	if (!bk)
		return;
	if (k->lay == LAY_V3 && check_state(k, e, fd, h, dek, &m) == 0)
		mp = &m;
	for (uint64_t b = 0; b < nb; b++) {
		size_t len = b + 1 < nb || psize % BLK_PLAIN == 0 ?
			     BLK_PLAIN : (size_t)(psize % BLK_PLAIN);

		k->n->blocks++;
		if (b % 256 == 255)
			tick(k, false);
		if ((err = lay_read_run(k->lay, fd, bk, mp, b, 1, len, p, c, r,
					&bad)))
			problem(k, e->bpath, e->ppath, "block %llu %s",
				(unsigned long long)b,
				lay_strerror(err, msg, sizeof(msg)));
	}
	secmem_wipe(p, sizeof(p));
	blk_key_free(bk);
}

/* Slots: kids of this volume's KEKs, distinct generations; with --unwrap
 * each one verifies; with --deep every block too. */
static void check_keys(struct fsck *k, const struct walk_ent *e, int fd,
		       const struct hdr *h, int64_t psize)
{
	uint8_t dek[KEY_LEN];
	char why[KEK_ERR_MAX + 128];
	int good = -1;

	if (h->slot[0].gen && h->slot[0].gen == h->slot[1].gen)
		problem(k, e->bpath, e->ppath, "both key slots have "
			"generation %u", h->slot[0].gen);
	for (int i = 0; i < HDR_SLOTS; i++) {
		const struct hdr_slot *s = &h->slot[i];

		if (!s->gen)
			continue;
		if (vol_slot_known(&k->v, s, why, sizeof(why))) {
			problem(k, e->bpath, e->ppath, "%s (slot %d)", why,
				i);
			continue;
		}
		/* Unwrapping needs the volume key: it is what the slot
		 * MACs are keyed from. */
		if (!k->o->unwrap || !k->n->unlocked)
			continue;
		if (check_slot(k, h, i, dek, why, sizeof(why)) != 0) {
			problem(k, e->bpath, e->ppath, "key slot %d: %s", i, why);
			continue;
		}
		if (good < 0 && k->o->deep)
			check_blocks(k, e, fd, h, dek, psize);
		good = i;
		secmem_wipe(dek, sizeof(dek));
	}
}

static void check_file(struct fsck *k, const struct walk_ent *e)
{
	int64_t psize = lay_plain_size(k->lay, (uint64_t)e->st->st_size);
	const char *why;
	struct hdr h;
	int fd, err;

	k->n->files++;
	if (e->st->st_size == 0)
		return;
	if (psize < 0) {
		problem(k, e->bpath, e->ppath, "size %lld is not a valid "
			"encrypted size (truncated?)", (long long)e->st->st_size);
		if (e->st->st_size < HDR_LEN)
			return;
	}
	fd = openat(e->dirfd, e->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		problem(k, e->bpath, e->ppath, "cannot read the header: %s",
			strerror(errno));
		goto out;
	}
	if ((err = hdr_read(fd, &h, &why)) == -EINVAL) {
		problem(k, e->bpath, e->ppath, "bad header: %s", why);
		goto out;
	}
	if (err) {
		/* A disk error, or the file emptied since the walk saw it. */
		problem(k, e->bpath, e->ppath, "cannot read the header: %s",
			err == -ENOKEY ? why : strerror(-err));
		goto out;
	}
	for (int i = 0; i < HDR_SLOTS; i++)
		if (h.bad[i])
			problem(k, e->bpath, e->ppath, "key slot %d is malformed "
				"(%s); the other slot serves", i, h.bad[i]);
	if (k->peeked)
		check_keys(k, e, fd, &h, psize < 0 ? 0 : psize);
out:
	if (fd >= 0)
		close(fd);
}

/* Format 3 binds a target to the directory's IV and the link's name: a
 * link whose name or directory IV does not decrypt was reported as such
 * and has nothing to check its target against. */
static void check_symlink(struct fsck *k, const struct walk_ent *e)
{
	char enc[4096], plain[SYMLINK_MAX + 1];
	ssize_t n = readlinkat(e->dirfd, e->name, enc, sizeof(enc) - 1);
	int r;

	k->n->links++;
	if (n < 0) {
		problem(k, e->bpath, e->ppath, "cannot read the symlink");
		return;
	}
	if (!k->n->unlocked)
		return;
	if (k->lay < 3)
		r = names_symlink_decrypt(k->v.nk, enc, (size_t)n, plain,
					  sizeof(plain));
	else if (e->diriv && e->plain)
		r = names_symlink3_decrypt(k->v.nk, e->diriv, e->plain, enc,
					   (size_t)n, plain, sizeof(plain));
	else
		return;
	if (r < 0)
		problem(k, e->bpath, e->ppath, "symlink target failed "
			"authentication%s", k->lay < 3 ? "" :
			" for its name and directory");
}

/* Formats 1 and 2: names (encrypted-names volumes) and values decrypt. */
static void check_xattrs2(struct fsck *k, const struct walk_ent *e,
			  const char *path, const char *names, ssize_t len)
{
	char plain[512];
	uint8_t val[65536], out[65536];

	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(names + i) + 1) {
		const char *nm = names + i;
		ssize_t vl;

		if (strncmp(nm, "user.", 5) != 0)
			continue;
		if (!k->plaintext &&
		    names_xattr_name_dec(k->v.nk, nm, plain, sizeof(plain)) < 0) {
			problem(k, e->bpath, e->ppath, "xattr name %s failed "
				"authentication", nm);
			continue;
		}
		vl = getxattr(path, nm, val, sizeof(val));
		if (vl < 0 || names_xattr_val_dec(k->v.nk, nm, val, (size_t)vl,
						  out) < 0)
			problem(k, e->bpath, e->ppath, "xattr %s: value failed "
				"authentication", k->plaintext ? nm : plain);
	}
}

/* Format 3: the id an entry's xattrs are bound to: 0; 1 for a regular
 * file without a header; -1 if there is none to be had (a bad header or
 * IV, reported on its own). */
static int entry_id(struct fsck *k, const struct walk_ent *e,
		    uint8_t eid[ID_LEN])
{
	int fd = openat(e->dirfd, e->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	const char *why;
	struct hdr h;
	int r = -1;

	if (fd < 0)
		return -1;
	if (S_ISDIR(e->st->st_mode)) {
		r = bname_read_diriv(fd, k->lay, k->v.nk, eid) ? -1 : 0;
	} else if (S_ISREG(e->st->st_mode)) {
		r = hdr_read(fd, &h, &why);
		if (!r)
			memcpy(eid, h.file_id, ID_LEN);
		r = r == -ENOKEY ? 1 : r ? -1 : 0;
	}
	close(fd);
	return r;
}

/* Format 3: every value opens for its entry and backing name. */
static void check_xattrs3(struct fsck *k, const struct walk_ent *e,
			  const char *path, const char *names, ssize_t len)
{
	uint8_t eid[ID_LEN], val[65536], out[65536];
	char name[256];
	int r = entry_id(k, e, eid);

	if (r == 1)
		problem(k, e->bpath, e->ppath, "user xattrs on a file without "
			"a header: not authentic");
	if (r != 0)
		return;
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(names + i) + 1) {
		const char *nm = names + i;
		ssize_t vl;

		if (strncmp(nm, "user.", 5) != 0)
			continue;
		vl = getxattr(path, nm, val, sizeof(val));
		if (vl < 0 || names_xattr3_open(k->v.nk, eid, nm, val,
						(size_t)vl, name, out,
						sizeof(out)) < 0)
			problem(k, e->bpath, e->ppath, "xattr %s: value failed "
				"authentication for its entry", nm);
	}
}

/* user.* xattrs, if there are any. The entry is opened from its
 * directory (its whole path may be too long for the kernel), as the
 * daemon opens it: O_PATH, which opens no device or FIFO, and its xattrs
 * read through /proc/self/fd. */
static void check_xattrs(struct fsck *k, const struct walk_ent *e)
{
	char path[64], names[65536];
	ssize_t len, i;
	int fd;

	if (!k->n->unlocked)
		return;
	fd = openat(e->dirfd, e->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT) /* else gone since the walk saw it */
			problem(k, e->bpath, e->ppath, "cannot open it to "
				"read its xattrs: %s", strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	len = listxattr(path, names, sizeof(names));
	if (len < 0 && errno != ENOTSUP) {
		problem(k, e->bpath, e->ppath, "cannot list its xattrs: %s",
			strerror(errno));
		goto out;
	}
	for (i = 0; i < len && strncmp(names + i, "user.", 5) != 0;
	     i += (ssize_t)strlen(names + i) + 1)
		;
	if (i >= len)
		goto out;
	if (k->lay < 3)
		check_xattrs2(k, e, path, names, len);
	else
		check_xattrs3(k, e, path, names, len);
out:
	close(fd);
}

static int entry(struct walk *w, const struct walk_ent *e)
{
	struct fsck *k = w->ctx;

	tick(k, false);
	if (e->tmp && S_ISLNK(e->st->st_mode)) {
		problem(k, e->bpath, NULL, "temporary symlink of an "
			"interrupted rename (the link is intact under its "
			"name; safe to delete)");
		return 0;
	}
	if (e->tmp) {
		problem(k, e->bpath, NULL, "temporary file of an interrupted "
			"rekey --data (the original is intact; safe to "
			"delete)");
		return 0;
	}
	if (S_ISREG(e->st->st_mode))
		check_file(k, e);
	else if (S_ISLNK(e->st->st_mode))
		check_symlink(k, e);
	else if (S_ISDIR(e->st->st_mode))
		k->n->dirs++;
	if (!S_ISLNK(e->st->st_mode))
		check_xattrs(k, e);
	return 0;
}

/* Opens as much of the volume as can be: config (a problem if bad),
 * KEK handles, volume key (operational if the KEK is unreachable). */
static enum fsck_result open_volume(struct fsck *k, char *err, size_t errlen)
{
	struct conf c;
	const char *why;
	int e, fd = open(k->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", k->dir,
			 strerror(errno));
		return FSCK_ERROR;
	}
	e = conf_load(fd, &c, &why);
	close(fd);
	if (e == -ENOENT) {
		snprintf(err, errlen, "%s: %s", k->dir, why);
		return FSCK_ERROR;
	}
	if (e) {
		problem(k, CONF_NAME, NULL, "%s", why);
		return FSCK_PROBLEMS;
	}
	k->plaintext = c.features & FEAT_PLAINTEXT_NAMES;
	k->lay = c.format;
	if (vol_peek(&k->v, k->dir, &k->o->vo, err, errlen) != 0) {
		problem(k, CONF_NAME, NULL, "%s", err);
		err[0] = '\0';
		return FSCK_PROBLEMS;
	}
	k->peeked = true;
	e = vol_unlock(&k->v, err, errlen);
	k->n->unlocked = e == 0;
	if (e == VOL_EKEK)
		return k->o->unwrap ? FSCK_ERROR : FSCK_CLEAN;
	if (e) {
		problem(k, CONF_NAME, NULL, "%s", err);
		err[0] = '\0';
	}
	return FSCK_CLEAN;
}

/* The root's mode (fs/vol/rootmode.h): a record a mount would ignore. */
static void check_rootmode(struct fsck *k, int rootfd)
{
	mode_t m;
	int e = vol_rootmode_read(rootfd, &m);

	if (e && e != -ENOENT)
		problem(k, ROOTMODE_NAME, NULL, "%s: the root shows the backing "
			"directory's mode (a chmod of the mount's root writes "
			"it anew)", e == -EINVAL ? "not four octal digits and a "
			"newline" : strerror(-e));
}

static enum fsck_result run(struct fsck *k, char *err, size_t errlen)
{
	struct walk w = { .entry = entry, .problem = walk_problem, .ctx = k };
	enum fsck_result r = open_volume(k, err, errlen);
	int fd;

	if (r == FSCK_ERROR)
		return r;
	w.nk = k->n->unlocked ? k->v.nk : NULL;
	w.plaintext_names = k->plaintext;
	w.format = k->lay;
	fd = k->peeked ? dup(k->v.rootfd) :
		open(k->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || walk_tree(&w, fd) != 0) {
		snprintf(err, errlen, "cannot walk %s", k->dir);
		if (fd >= 0)
			close(fd);
		return FSCK_ERROR;
	}
	check_rootmode(k, fd);
	close(fd);
	tick(k, true);
	return k->n->problems ? FSCK_PROBLEMS : FSCK_CLEAN;
}

enum fsck_result fsck_volume(const char *dir, const struct fsck_opts *o,
			     struct fsck_counts *n, char *err, size_t errlen)
{
	struct fsck *k = calloc(1, sizeof(*k));
	enum fsck_result r;

	err[0] = '\0';
	memset(n, 0, sizeof(*n));
	if (!k) {
		snprintf(err, errlen, "out of memory");
		return FSCK_ERROR;
	}
	k->dir = dir;
	k->o = o;
	k->n = n;
	k->start_ms = clock_ms();
	r = run(k, err, errlen);
	if (k->peeked)
		vol_close(&k->v);
	free(k);
	return r;
}
