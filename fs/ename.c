/* SPDX-License-Identifier: Apache-2.0 */
/* Plaintext names to backing names and back. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "fsd.h"

/* In plaintext-names mode the root's config must stay out of reach. */
static int reserved(struct fsd *fs, struct inode *dir, const char *name)
{
	return dir == &fs->root &&
	       (strcmp(name, CONF_NAME) == 0 ||
		strcmp(name, CONF_NAME ".tmp") == 0);
}

int ename_diriv(struct fsd *fs, struct inode *dir, uint8_t iv[DIRIV_LEN])
{
	uint8_t buf[DIRIV_LEN + 1], zero[DIRIV_LEN] = { 0 };
	char path[512];
	ssize_t n = -1;
	int fd, err = 0;

	pthread_mutex_lock(&dir->iv_lock);
	if (dir->have_iv)
		goto out;
	fd = openat(dir->fd, DIRIV_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf));
		close(fd);
	}
	if (n != DIRIV_LEN || memcmp(buf, zero, DIRIV_LEN) == 0) {
		log_err("%s: missing or invalid %s",
			inode_path(dir->fd, path, sizeof(path)), DIRIV_NAME);
		err = -EIO;
		goto out;
	}
	memcpy(dir->iv, buf, DIRIV_LEN);
	dir->have_iv = true;
out:
	if (!err)
		memcpy(iv, dir->iv, DIRIV_LEN);
	pthread_mutex_unlock(&dir->iv_lock);
	(void)fs;
	return err;
}

int ename_encode(struct fsd *fs, struct inode *dir, const char *name,
		 struct bname *b)
{
	uint8_t iv[DIRIV_LEN];
	size_t len = strlen(name);
	int n, err;

	memset(b, 0, sizeof(*b));
	if (len > 255)
		return -ENAMETOOLONG;
	if (fs->plaintext_names) {
		if (reserved(fs, dir, name))
			return -EPERM;
		memcpy(b->name, name, len + 1);
		return 0;
	}
	if ((err = ename_diriv(fs, dir, iv)))
		return err;
	n = names_encrypt(fs->vol.nk, iv, name, len, b->enc);
	if (n < 0)
		return -EIO;
	if (n <= 255) {
		memcpy(b->name, b->enc, (size_t)n + 1);
		return 0;
	}
	b->is_long = true;
	names_long(b->enc, (size_t)n, b->name);
	return 0;
}

static void sidecar_name(const struct bname *b, char *out, size_t n)
{
	snprintf(out, n, "%s%s", b->name, LONG_SUFFIX);
}

int ename_write_sidecar(int dirfd, const struct bname *b)
{
	char side[NAME_ENC_MAX + 8];
	size_t len = strlen(b->enc);
	int fd, err = 0;

	if (!b->is_long)
		return 0;
	sidecar_name(b, side, sizeof(side));
	fd = openat(dirfd, side, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
				 O_CLOEXEC, 0400);
	if (fd < 0 && errno == EACCES) {
		/* An old sidecar of the same name holds the same bytes. */
		return 0;
	}
	if (fd < 0)
		return -errno;
	if (write(fd, b->enc, len) != (ssize_t)len)
		err = errno ? -errno : -EIO;
	close(fd);
	return err;
}

void ename_drop_sidecar(int dirfd, const struct bname *b)
{
	char side[NAME_ENC_MAX + 8];

	if (!b->is_long)
		return;
	sidecar_name(b, side, sizeof(side));
	unlinkat(dirfd, side, 0);
}

/* Reads and checks the sidecar of a long name into enc. */
static int read_sidecar(int dirfd, const char *bname, char enc[NAME_ENC_MAX])
{
	char side[NAME_ENC_MAX + 8], check[LONG_NAME_LEN + 1];
	ssize_t n = -1;
	int fd;

	snprintf(side, sizeof(side), "%s%s", bname, LONG_SUFFIX);
	fd = openat(dirfd, side, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, enc, NAME_ENC_MAX - 1);
		close(fd);
	}
	if (n <= 255)
		return -1;
	enc[n] = '\0';
	names_long(enc, (size_t)n, check);
	return strcmp(check, bname) == 0 ? (int)n : -1;
}

int ename_decode(struct fsd *fs, struct inode *dir, int dirfd,
		 const char *bname, char out[256])
{
	char enc[NAME_ENC_MAX], path[512];
	uint8_t iv[DIRIV_LEN];
	const char *src = bname;
	int n = (int)strlen(bname);

	if (fs->plaintext_names) {
		if (reserved(fs, dir, bname) || n > 255)
			return 0;
		memcpy(out, bname, (size_t)n + 1);
		return 1;
	}
	if (strcmp(bname, DIRIV_NAME) == 0 || names_is_sidecar(bname) ||
	    names_is_tmp(bname) ||
	    (dir == &fs->root && strcmp(bname, CONF_NAME) == 0))
		return 0;
	if (ename_diriv(fs, dir, iv))
		return -1;
	if (names_is_long(bname)) {
		n = read_sidecar(dirfd, bname, enc);
		src = enc;
	}
	if (n < 0 || names_decrypt(fs->vol.nk, iv, src, (size_t)n, out) < 0) {
		log_err("%s/%s: name failed authentication; entry hidden",
			inode_path(dir->fd, path, sizeof(path)), bname);
		return -1;
	}
	return 1;
}
