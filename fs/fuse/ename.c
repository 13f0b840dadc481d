/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "ename.h"

static void bdir_of(struct fsd *fs, struct inode *dir, int fd,
		    struct bdir *d)
{
	d->fd = fd;
	d->root = dir == &fs->root;
	d->plaintext = fs->plaintext_names;
	d->format = fs->vol.conf.format;
	d->nk = fs->vol.nk;
	d->iv = NULL;
}

/* Reads dir's IV into dir->iv and judges it: the verdict, with *why for a
 * bad one; INODE_IV_UNKNOWN if it reads well but the directory cannot be
 * listed to judge it (it serves, and is judged again next time); or
 * -errno if it cannot be read just now. */
static int judge_iv(struct fsd *fs, struct inode *dir, const char **why)
{
	struct bdir d;
	int err = bname_read_diriv(dir->fd, fs->vol.conf.format, fs->vol.nk,
				   dir->iv);

	/* A MAC that fails (-EBADMSG) is a verdict like a malformed IV. */
	if (err)
		return (*why = bname_diriv_why(err)) ? INODE_IV_BAD : err;
	bdir_of(fs, dir, dir->fd, &d);
	d.iv = dir->iv;
	err = bname_check_diriv(&d, why);
	if (err == -EBADMSG)
		return INODE_IV_BAD;
	return err ? INODE_IV_UNKNOWN : INODE_IV_OK;
}

/* The first request that needs dir's IV judges it, under its lock; a bad
 * one is logged then, and only then. */
static int settle_iv(struct fsd *fs, struct inode *dir, uint8_t iv[DIRIV_LEN])
{
	const char *why = NULL;
	char path[512];
	int v;

	pthread_mutex_lock(&dir->iv_lock);
	v = atomic_load_explicit(&dir->iv_state, memory_order_relaxed);
	if (v == INODE_IV_UNKNOWN)
		v = judge_iv(fs, dir, &why);
	if (v == INODE_IV_OK || v == INODE_IV_BAD)
		atomic_store_explicit(&dir->iv_state, v, memory_order_release);
	if (v == INODE_IV_OK || v == INODE_IV_UNKNOWN)
		memcpy(iv, dir->iv, DIRIV_LEN);
	pthread_mutex_unlock(&dir->iv_lock);
	if (why)
		log_err("%s/%s: %s; the directory gives EIO",
			inode_path(dir->fd, path, sizeof(path)), DIRIV_NAME,
			why);
	else if (v < 0)
		log_err("%s/%s: cannot read: %s",
			inode_path(dir->fd, path, sizeof(path)), DIRIV_NAME,
			strerror(-v));
	return v == INODE_IV_OK || v == INODE_IV_UNKNOWN ? 0 : -EIO;
}

int ename_iv(struct fsd *fs, struct inode *dir, uint8_t iv[DIRIV_LEN])
{
	switch (atomic_load_explicit(&dir->iv_state, memory_order_acquire)) {
	case INODE_IV_OK:
		memcpy(iv, dir->iv, DIRIV_LEN);
		return 0;
	case INODE_IV_BAD:
		return -EIO;
	}
	return settle_iv(fs, dir, iv);
}

int ename_dir(struct fsd *fs, struct inode *dir)
{
	uint8_t iv[DIRIV_LEN];

	return bname_has_ivs(fs->vol.conf.format, fs->plaintext_names) ?
	       ename_iv(fs, dir, iv) : 0;
}

enum bname_kind ename_kind(struct fsd *fs, struct inode *dir,
			   const char *bname)
{
	struct bdir d;

	bdir_of(fs, dir, dir->fd, &d);
	return bname_kind(&d, bname);
}

int ename_encode(struct fsd *fs, struct inode *dir, const char *name,
		 struct bname *b)
{
	uint8_t iv[DIRIV_LEN];
	struct bdir d;
	int err;

	bdir_of(fs, dir, dir->fd, &d);
	if (strlen(name) > 255)
		return -ENAMETOOLONG;
	if (!d.plaintext) {
		if ((err = ename_iv(fs, dir, iv)))
			return err;
		d.iv = iv;
	}
	err = bname_encode(&d, name, b);
	return err == -ENOKEY ? -EIO : err;
}

int ename_check_sidecar(struct inode *dir, const struct bname *b)
{
	const char *why;
	char path[512];

	if (bname_check_sidecar(dir->fd, b, &why) == 0)
		return 0;
	log_err("%s/%s: %s", inode_path(dir->fd, path, sizeof(path)), b->name,
		why);
	return -EIO;
}

int ename_decode(struct fsd *fs, struct inode *dir, int dirfd,
		 const char *bname, char out[256], const char **why)
{
	uint8_t iv[DIRIV_LEN];
	struct bdir d;
	int err;

	*why = NULL;
	bdir_of(fs, dir, dirfd, &d);
	if (bname_kind(&d, bname) != BNAME_ENTRY)
		return 0;
	if (!d.plaintext) {
		if ((err = ename_iv(fs, dir, iv)))
			return err;
		d.iv = iv;
	}
	err = bname_decode(&d, bname, out, why);
	if (err && !*why)
		return -EIO; /* no keys: cannot happen in the daemon */
	return err ? err : 1;
}
