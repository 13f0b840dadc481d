/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "ename.h"

/* Reads a directory's IV once; later calls copy it from the inode. */
int ename_iv(struct fsd *fs, struct inode *dir, uint8_t iv[DIRIV_LEN])
{
	char path[512];
	int err = 0;

	pthread_mutex_lock(&dir->iv_lock);
	if (!dir->have_iv &&
	    (err = bname_read_diriv(dir->fd, fs->vol.conf.format, fs->vol.nk,
				    dir->iv))) {
		log_err("%s: missing or invalid %s",
			inode_path(dir->fd, path, sizeof(path)), DIRIV_NAME);
		err = -EIO;
	}
	if (!err) {
		dir->have_iv = true;
		memcpy(iv, dir->iv, DIRIV_LEN);
	}
	pthread_mutex_unlock(&dir->iv_lock);
	return err;
}

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

int ename_decode(struct fsd *fs, struct inode *dir, int dirfd,
		 const char *bname, char out[256])
{
	uint8_t iv[DIRIV_LEN];
	const char *why;
	char path[512];
	struct bdir d;

	bdir_of(fs, dir, dirfd, &d);
	if (bname_kind(&d, bname) != BNAME_ENTRY)
		return 0;
	if (!d.plaintext) {
		if (ename_iv(fs, dir, iv))
			return -1;
		d.iv = iv;
	}
	if (bname_decode(&d, bname, out, &why) == 0)
		return 1;
	log_err("%s/%s: %s; entry hidden",
		inode_path(dir->fd, path, sizeof(path)), bname,
		why ? why : "name cannot be decrypted");
	return -1;
}
