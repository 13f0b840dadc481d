/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Data rekey: a fresh DEK for a file, every block re-encrypted. The file
 * keeps its id, which format 3 binds the file's xattrs to: blocks are
 * sealed under the new key (with id || block number as associated data,
 * as before), and the wrapped record and the header MAC bind the id to
 * the new DEK, so nothing needs a new id. The new file is written in full
 * to a temporary file next to the old one, synced, and renamed over it,
 * so that each name holds the old file or the new one, never a mix.
 * Metadata follows: mode, owner, access and modification times, user.*
 * xattrs (bound to the volume key and, in format 3, the file id: copied
 * as stored). In format 3, page 0 gets a fresh state that counts the
 * blocks the new key encrypted. Hard links are kept: every other name of
 * the file is pointed at the new inode (a link under a temporary name,
 * renamed over it) before the first one. Only on an unmounted volume: the
 * daemon caches pages and keys of the files it has open. The run holds
 * the volume's lock (vol_claim) as a read-write mount would, so that
 * neither starts while the other runs, on this host or another.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "crypto/blk.h"
#include "crypto/layout.h"
#include "fs/vol/mnt.h"
#include "fs/vol/filekey.h"
#include "rekey.h"
#include "walk.h"

struct dfile {
	char *bpath;
	char *ppath; /* NULL: the name does not decrypt */
	dev_t dev;
	ino_t ino;
	nlink_t nlink;
	bool selected;
	bool done;
};

struct rd {
	struct vol v;
	const struct rekey_ui *ui;
	struct dfile *f;
	size_t n, cap;
	unsigned long rekeyed, names, empty, failed, tmps;
	unsigned long missed; /* directories the walk could not read */
};

static int collect(struct walk *w, const struct walk_ent *e)
{
	struct rd *d = w->ctx;
	struct dfile *nf;

	if (e->tmp) {
		/* Left by an interrupted run: the original is intact. */
		if (unlinkat(e->dirfd, e->name, 0) == 0)
			d->tmps++;
		return 0;
	}
	if (!S_ISREG(e->st->st_mode))
		return 0;
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 256;
		if (!(nf = realloc(d->f, d->cap * sizeof(*nf))))
			return -ENOMEM;
		d->f = nf;
	}
	nf = &d->f[d->n];
	memset(nf, 0, sizeof(*nf));
	nf->bpath = strdup(e->bpath);
	nf->ppath = e->ppath ? strdup(e->ppath) : NULL;
	nf->dev = e->st->st_dev;
	nf->ino = e->st->st_ino;
	nf->nlink = e->st->st_nlink;
	if (!nf->bpath)
		return -ENOMEM;
	d->n++;
	return 0;
}

/* A directory the walk could not read: its files are not rekeyed, or
 * one asked for may be there; either way the run fails. */
static void missed(struct walk *w, const char *bpath, const char *ppath,
		   const char *why)
{
	struct rd *d = w->ctx;

	d->missed++;
	rekey_say(d->ui, "FAILED %s/%s%s%s%s: %s", d->v.cipherdir, bpath,
		  ppath ? " (" : "", ppath ? ppath : "", ppath ? ")" : "",
		  why);
}

/* "a//b/" -> "/a/b", to compare with the walk's plaintext paths; out has
 * strlen(in) + 2 bytes. */
static void normalize(const char *in, char *out)
{
	size_t o = 0;

	for (const char *p = in; *p; p++) {
		if (*p == '/' && (o == 0 || out[o - 1] == '/'))
			continue;
		if (o == 0)
			out[o++] = '/';
		out[o++] = *p;
	}
	if (o > 1 && out[o - 1] == '/')
		o--;
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
}

static int select_paths(struct rd *d, char **paths, int npaths)
{
	char *want = NULL;
	int bad = 0;

	for (size_t i = 0; i < d->n && npaths == 0; i++)
		d->f[i].selected = true;
	for (int k = 0; k < npaths; k++) {
		bool found = false;

		free(want);
		if (!(want = malloc(strlen(paths[k]) + 2))) {
			rekey_error(d->ui, "out of memory");
			return -1;
		}
		normalize(paths[k], want);
		for (size_t i = 0; i < d->n; i++)
			if (d->f[i].ppath && !strcmp(d->f[i].ppath, want))
				found = d->f[i].selected = true;
		if (!found) {
			rekey_error(d->ui, "%s: no such regular file in "
				    "the volume", want);
			bad = 1;
		}
	}
	free(want);
	return bad ? -1 : 0;
}

/* Splits "a/b/c" into an open directory "a/b" and the name "c"; -1 with
 * errno if the directory cannot be opened. */
static int open_parent(int rootfd, const char *bpath, const char **base)
{
	int fd = walk_open_dir(rootfd, bpath, false, base);

	if (fd < 0)
		errno = -fd;
	return fd < 0 ? -1 : fd;
}

/* Every block of src decrypted with the old key and encrypted with the
 * new one into dst, after dst's header. */
static int copy_blocks(int lay, int src, int dst, int64_t psize,
		       const struct blk_key *ok, const struct fmeta *om,
		       const struct blk_key *nk, char *why, size_t n)
{
	uint8_t c[BLK_CIPHER], r[LAY_REC], p[BLK_PLAIN];
	uint64_t nblocks = ((uint64_t)psize + BLK_PLAIN - 1) / BLK_PLAIN, bad;
	char msg[128];
	int ret = -1, err;

	for (uint64_t b = 0; b < nblocks; b++) {
		size_t len = b + 1 < nblocks || psize % BLK_PLAIN == 0 ?
			     BLK_PLAIN : (size_t)(psize % BLK_PLAIN);

		if ((err = lay_read_run(lay, src, ok, om, b, 1, len, p, c, r,
					&bad))) {
			snprintf(why, n, "block %llu %s: file left as it was",
				 (unsigned long long)b,
				 lay_strerror(err, msg, sizeof(msg)));
			goto out;
		}
		if ((err = lay_write_run(lay, dst, nk, b, 1, len, p, c, r))) {
			snprintf(why, n, "cannot write: %s", strerror(-err));
			goto out;
		}
	}
	ret = 0;
out:
	secmem_wipe(p, sizeof(p));
	return ret;
}

/* user.* xattrs as stored: names and values are bound to the volume key,
 * the xattr name and (format 3) the file id, not to the file's DEK. */
static int copy_xattrs(int src, int dst, char *why, size_t n)
{
	char names[65536];
	uint8_t val[65536];
	ssize_t len = flistxattr(src, names, sizeof(names));

	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(names + i) + 1) {
		ssize_t vl;

		if (strncmp(names + i, "user.", 5) != 0)
			continue;
		vl = fgetxattr(src, names + i, val, sizeof(val));
		if (vl < 0 || fsetxattr(dst, names + i, val, (size_t)vl, 0)) {
			snprintf(why, n, "cannot copy xattr: %s",
				 strerror(errno));
			return -1;
		}
	}
	return len < 0 && errno != ENOTSUP ? -1 : 0;
}

static int copy_meta(int src, int dst, const struct stat *st, char *why,
		     size_t n)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	if (copy_xattrs(src, dst, why, n))
		return -1;
	if ((fchown(dst, st->st_uid, st->st_gid) != 0 && errno != EPERM) ||
	    fchmod(dst, st->st_mode & 07777) != 0 ||
	    futimens(dst, ts) != 0 || fsync(dst) != 0) {
		snprintf(why, n, "cannot set metadata: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Format 3: the old file's state (for its holes) into om, and the new
 * file's first state into buf after its header: the exact count of the
 * blocks about to be encrypted, no holes. */
static int states(int src, const struct hdr *oh, const uint8_t *odek,
		  struct fmeta *om, const struct hdr *nh, const uint8_t *ndek,
		  int64_t psize, uint8_t *buf, char *why, size_t n)
{
	struct fmeta nm = { .writes = ((uint64_t)psize + BLK_PLAIN - 1) /
				      BLK_PLAIN };
	uint8_t mkey[KEY_LEN];
	const char *pwhy;
	int err = fmeta_key(odek, mkey);

	if (!err && (err = fmeta_read(src, mkey, oh->file_id, om, &pwhy)))
		snprintf(why, n, "%s", pwhy);
	if (!err && (err = fmeta_key(ndek, mkey)) == 0)
		err = fmeta_encode_first(&nm, mkey, nh->file_id,
					 buf + FMETA_OFF);
	secmem_wipe(mkey, sizeof(mkey));
	if (err && !*why)
		snprintf(why, n, "cannot derive the file's state key");
	return err ? -1 : 0;
}

/* Writes the new file into tmp: header, blocks, metadata, synced. */
static int write_new(struct rd *d, int src, int dst, const struct stat *st,
		     char *why, size_t n)
{
	uint8_t buf[LAY_PAGE] = { 0 }, *odek = secmem_alloc(KEY_LEN),
				    *ndek = secmem_alloc(KEY_LEN);
	struct blk_key *ok = NULL, *nk = NULL;
	struct hdr oh, nh;
	struct fmeta om;
	int lay = d->v.conf.format;
	size_t hl = (size_t)lay_header_len(lay);
	int64_t psize = lay_plain_size(lay, (uint64_t)st->st_size);
	const char *pwhy;
	int ret = -1, err;

	why[0] = '\0';
	if (!odek || !ndek || psize < 0) {
		snprintf(why, n, psize < 0 ? "invalid size (truncated?)" :
			 "out of memory");
		goto out;
	}
	if ((err = hdr_read(src, &oh, &pwhy))) {
		if (err == -EINVAL || err == -ENOKEY)
			snprintf(why, n, "bad header: %s", pwhy);
		else
			snprintf(why, n, "cannot read the header: %s",
				 strerror(-err));
		goto out;
	}
	if (vol_load_file_key(&d->v, &oh, odek, "rekey --data", NULL) < 0 ||
	    vol_new_file_key_for(&d->v, oh.file_id, &nh, ndek) != 0) {
		snprintf(why, n, "cannot unwrap or wrap its key (see above)");
		goto out;
	}
	ok = blk_key_new(odek, oh.file_id);
	nk = blk_key_new(ndek, nh.file_id);
	if (!ok || !nk || (lay == LAY_V3 &&
			   states(src, &oh, odek, &om, &nh, ndek, psize, buf,
				  why, n))) {
		if (!*why)
			snprintf(why, n, "out of memory");
		goto out;
	}
	hdr_encode(&nh, buf);
	if (pwrite(dst, buf, hl, 0) != (ssize_t)hl) {
		snprintf(why, n, "cannot write the header");
		goto out;
	}
	if (copy_blocks(lay, src, dst, psize, ok, lay == LAY_V3 ? &om : NULL,
			nk, why, n) == 0 &&
	    copy_meta(src, dst, st, why, n) == 0)
		ret = 0;
out:
	blk_key_free(ok);
	blk_key_free(nk);
	secmem_free(odek, KEY_LEN);
	secmem_free(ndek, KEY_LEN);
	return ret;
}

/* Points the other names of the file at the new inode: link under a
 * temporary name, then rename over the name. */
static int relink(struct rd *d, int tdir, const char *tmp, const char *bp,
		  char *why, size_t n)
{
	const char *base;
	char t2[TMP_NAME_LEN + 1];
	int dfd = open_parent(d->v.rootfd, bp, &base), ret = -1;

	if (names_tmp(t2) != 0)
		t2[0] = '\0';
	if (dfd < 0 || !t2[0] || linkat(tdir, tmp, dfd, t2, 0) != 0 ||
	    renameat(dfd, t2, dfd, base) != 0) {
		snprintf(why, n, "cannot re-link %s: %s", bp, strerror(errno));
		if (dfd >= 0)
			unlinkat(dfd, t2, 0);
	} else {
		ret = fsync(dfd) == 0 ? 0 : -1;
	}
	if (dfd >= 0)
		close(dfd);
	return ret;
}

/* One inode, all its names (the indexes in idx). */
static int rekey_inode(struct rd *d, size_t *idx, size_t k, char *why,
		       size_t n)
{
	const char *base;
	char tmp[TMP_NAME_LEN + 1];
	struct stat st;
	int dfd = open_parent(d->v.rootfd, d->f[idx[0]].bpath, &base);
	int src = -1, dst = -1, ret = -1;

	if (names_tmp(tmp) != 0) {
		snprintf(why, n, "no randomness for a temporary name");
		goto out;
	}
	if (dfd < 0 || (src = openat(dfd, base, O_RDONLY | O_NOFOLLOW |
					       O_CLOEXEC)) < 0 ||
	    fstat(src, &st) != 0) {
		snprintf(why, n, "cannot open: %s", strerror(errno));
		goto out;
	}
	if (st.st_size == 0) {
		ret = 1; /* empty: no key at all */
		goto out;
	}
	dst = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
			       O_CLOEXEC, 0600);
	if (dst < 0) {
		snprintf(why, n, "cannot create a temporary file: %s",
			 strerror(errno));
		goto out;
	}
	if (write_new(d, src, dst, &st, why, n) != 0)
		goto out;
	for (size_t i = 1; i < k; i++)
		if (relink(d, dfd, tmp, d->f[idx[i]].bpath, why, n) != 0)
			goto out;
	if (renameat(dfd, tmp, dfd, base) != 0 || fsync(dfd) != 0) {
		snprintf(why, n, "cannot rename: %s", strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (ret < 0 && dst >= 0)
		unlinkat(dfd, tmp, 0);
	if (dst >= 0)
		close(dst);
	if (src >= 0)
		close(src);
	if (dfd >= 0)
		close(dfd);
	return ret;
}

static void one_group(struct rd *d, size_t first, size_t *idx)
{
	struct dfile *f = &d->f[first];
	char why[512] = "";
	size_t k = 0;
	int r;

	for (size_t i = first; i < d->n; i++)
		if (d->f[i].dev == f->dev && d->f[i].ino == f->ino) {
			idx[k++] = i;
			d->f[i].done = true;
		}
	if (k < f->nlink) {
		snprintf(why, sizeof(why), "has %lu links but only %zu names "
			 "inside the volume: not rewritten",
			 (unsigned long)f->nlink, k);
		r = -1;
	} else {
		r = rekey_inode(d, idx, k, why, sizeof(why));
	}
	if (r == 1) {
		d->empty++;
		return;
	}
	if (r == 0) {
		d->rekeyed++;
		d->names += k;
		rekey_say(d->ui, "rekeyed %s%s", f->ppath ? f->ppath : f->bpath,
			  k > 1 ? " (and its other links)" : "");
		return;
	}
	d->failed++;
	rekey_say(d->ui, "FAILED %s/%s%s%s%s: %s", d->v.cipherdir, f->bpath,
		  f->ppath ? " (" : "", f->ppath ? f->ppath : "",
		  f->ppath ? ")" : "", why);
}

static enum rekey_result run(struct rd *d, char **paths, int npaths)
{
	struct walk w = {
		.nk = d->v.nk,
		.plaintext_names = d->v.conf.features & FEAT_PLAINTEXT_NAMES,
		.format = d->v.conf.format,
		.entry = collect,
		.missed = missed,
		.ctx = d,
	};
	size_t *idx;
	int e = walk_tree(&w, d->v.rootfd);

	if (e) {
		rekey_error(d->ui, "cannot walk the volume: %s", strerror(-e));
		return REKEY_FAILED;
	}
	if (d->tmps)
		rekey_say(d->ui, "removed %lu temporary files of an "
			  "interrupted run", d->tmps);
	if (select_paths(d, paths, npaths) != 0 ||
	    !(idx = calloc(d->n + 1, sizeof(*idx))))
		return REKEY_FAILED;
	/* An inode is selected through any of its names. */
	for (size_t i = 0; i < d->n; i++)
		for (size_t j = 0; d->f[i].selected && j < d->n; j++)
			if (d->f[j].dev == d->f[i].dev &&
			    d->f[j].ino == d->f[i].ino)
				d->f[j].selected = true;
	for (size_t i = 0; i < d->n; i++)
		if (d->f[i].selected && !d->f[i].done)
			one_group(d, i, idx);
	free(idx);
	d->failed += d->missed;
	rekey_say(d->ui, "files: rekeyed %lu (%lu names), empty %lu, "
		  "failed %lu", d->rekeyed, d->names, d->empty, d->failed);
	return d->failed ? REKEY_FAILED : REKEY_OK;
}

enum rekey_result rekey_data(const char *cipherdir, struct rekey_opts *o,
			      char **paths, int npaths)
{
	struct rd d = { .ui = &o->ui };
	char err[VOL_ERR_MAX], mnt[4096];
	enum rekey_result ret;
	int m = mnt_find(cipherdir, mnt, sizeof(mnt));

	if (m == 1) {
		rekey_error(d.ui, "%s is mounted on %s: rekey --data rewrites "
			    "whole files and needs the volume unmounted (hsmfs "
			    "umount %s)", cipherdir, mnt, mnt);
		return REKEY_FAILED;
	}
	if (m < 0) {
		rekey_error(d.ui, "%s: %s", cipherdir, strerror(-m));
		return REKEY_FAILED;
	}
	/* The same lock as a read-write mount: held by a daemon on another
	 * host (NFS), the volume is in use though no mount here says so. */
	if (vol_peek(&d.v, cipherdir, &o->vo, err, sizeof(err)) != 0) {
		rekey_error(d.ui, "%s", err);
		return REKEY_FAILED;
	}
	if (vol_claim(&d.v, true, "hsmfs rekey --data", err, sizeof(err)) ||
	    vol_unlock(&d.v, err, sizeof(err))) {
		rekey_error(d.ui, "%s", err);
		vol_close(&d.v);
		return REKEY_FAILED;
	}
	ret = run(&d, paths, npaths);
	for (size_t i = 0; i < d.n; i++) {
		free(d.f[i].bpath);
		free(d.f[i].ppath);
	}
	free(d.f);
	vol_close(&d.v);
	return ret;
}
