/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "ename.h"
#include "symlink.h"

int symlink_encode(struct fsd *fs, struct inode *dir, const char *name,
		   const char *target, char out[SYMLINK_ENC_MAX])
{
	uint8_t iv[DIRIV_LEN];
	size_t len = strlen(target);
	int n;

	if (!fsd_bound(fs))
		n = names_symlink_encrypt(fs->vol.nk, target, len, out,
					  SYMLINK_ENC_MAX);
	else if ((n = ename_iv(fs, dir, iv)) == 0)
		n = names_symlink3_encrypt(fs->vol.nk, iv, name, target, len,
					   out, SYMLINK_ENC_MAX);
	if (n == -EINVAL)
		return -ENAMETOOLONG;
	return n < 0 ? n : 0;
}

/* The target of the backing symlink fd (O_PATH), checked for name in
 * dir. */
static int read_bound(struct fsd *fs, struct inode *dir, const char *name,
		      int fd, char out[SYMLINK_MAX + 1])
{
	char enc[SYMLINK_ENC_MAX], path[512];
	uint8_t iv[DIRIV_LEN];
	ssize_t n = readlinkat(fd, "", enc, sizeof(enc) - 1);
	int err;

	if (n < 0)
		return -errno;
	if ((err = ename_iv(fs, dir, iv)))
		return err;
	if (names_symlink3_decrypt(fs->vol.nk, iv, name, enc, (size_t)n, out,
				   SYMLINK_MAX + 1) >= 0)
		return 0;
	log_err("%s: symlink target failed authentication for its name and "
		"directory", inode_path(fd, path, sizeof(path)));
	return -EIO;
}

int symlink_found(struct fsd *fs, struct inode *dir, const char *name,
		  struct inode *in)
{
	char target[SYMLINK_MAX + 1];
	int err;

	if (!fsd_bound(fs))
		return 0;
	if ((err = read_bound(fs, dir, name, in->fd, target)))
		return err;
	pthread_mutex_lock(&in->iv_lock);
	if (!in->target && !(in->target = strdup(target)))
		err = -ENOMEM;
	pthread_mutex_unlock(&in->iv_lock);
	return err;
}

/* Formats 1 and 2: the target is authentic wherever it lies. */
static int read_unbound(struct fsd *fs, struct inode *in,
			char out[SYMLINK_MAX + 1])
{
	char enc[SYMLINK_ENC_MAX], path[512];
	ssize_t n = readlinkat(in->fd, "", enc, sizeof(enc) - 1);

	if (n < 0)
		return -errno;
	if (names_symlink_decrypt(fs->vol.nk, enc, (size_t)n, out,
				  SYMLINK_MAX + 1) >= 0)
		return 0;
	log_err("%s: symlink target failed authentication",
		inode_path(in->fd, path, sizeof(path)));
	return -EIO;
}

int symlink_read(struct fsd *fs, struct inode *in, char out[SYMLINK_MAX + 1])
{
	char path[512];
	bool have;

	if (!fsd_bound(fs))
		return read_unbound(fs, in, out);
	pthread_mutex_lock(&in->iv_lock);
	if ((have = in->target))
		snprintf(out, SYMLINK_MAX + 1, "%s", in->target);
	pthread_mutex_unlock(&in->iv_lock);
	if (have)
		return 0;
	/* Every inode the kernel knows came from a lookup: not reached. */
	log_err("%s: symlink target was never checked",
		inode_path(in->fd, path, sizeof(path)));
	return -EIO;
}

int symlink_may_link(struct fsd *fs, struct inode *in)
{
	return fsd_bound(fs) && in->type == S_IFLNK ? -EPERM : 0;
}

/* The renamed link keeps its owner and times, as a backing rename would
 * (best effort: a daemon that is not root cannot give files away). */
static void keep_meta(int dirfd, const char *name, const struct stat *st)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	(void)!fchownat(dirfd, name, st->st_uid, st->st_gid,
			AT_SYMLINK_NOFOLLOW);
	(void)!utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
}

/* One end of a rename: a directory, a backing name, its plaintext. */
struct end {
	struct inode *dir;
	const char *bname, *name;
};

/* A backing symlink tmp in dirfd holding enc, with the owner and times of
 * st: its descriptor (O_PATH) with *nst, or -errno. */
static int make_tmp(int dirfd, const char *tmp, const char *enc,
		    const struct stat *st, struct stat *nst)
{
	int err, fd;

	if (symlinkat(enc, dirfd, tmp) != 0)
		return -errno;
	keep_meta(dirfd, tmp, st);
	fd = openat(dirfd, tmp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, nst) == 0)
		return fd;
	err = -errno;
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmp, 0);
	return err;
}

/* The link fd (stat st) at from, re-encrypted for to: made under a
 * temporary name, renamed over the destination, then the old name
 * removed, so that a crash leaves the old link, or both, never neither
 * nor a broken one. */
static int move(struct fsd *fs, const struct end *from, int fd,
		const struct stat *st, const struct end *to,
		unsigned int flags)
{
	char target[SYMLINK_MAX + 1], enc[SYMLINK_ENC_MAX];
	char tmp[TMP_NAME_LEN + 1], path[512];
	struct stat nst;
	int err, nfd;

	if ((err = read_bound(fs, from->dir, from->name, fd, target)) ||
	    (err = symlink_encode(fs, to->dir, to->name, target, enc)))
		return err;
	if (names_tmp(tmp) != 0)
		return -EIO;
	if ((nfd = make_tmp(to->dir->fd, tmp, enc, st, &nst)) < 0)
		return nfd;
	if (renameat2(to->dir->fd, tmp, to->dir->fd, to->bname,
		      flags & RENAME_NOREPLACE) != 0) {
		err = -errno;
		close(nfd);
		unlinkat(to->dir->fd, tmp, 0);
		return err;
	}
	if (unlinkat(from->dir->fd, from->bname, 0) != 0)
		log_err("%s/%s: cannot remove a renamed symlink's old name: %s",
			inode_path(from->dir->fd, path, sizeof(path)),
			from->bname, strerror(errno));
	inode_rebind(fs, st, nfd, &nst);
	return 0;
}

/* 1 if bname in dir is a symlink. */
static int is_link(struct inode *dir, const char *bname)
{
	struct stat st;

	return fstatat(dir->fd, bname, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISLNK(st.st_mode);
}

int symlink_rename(struct fsd *fs, struct inode *d1, const char *a,
		   const char *name, struct inode *d2, const char *b,
		   const char *newname, unsigned int flags)
{
	struct end from = { d1, a, name }, to = { d2, b, newname };
	struct stat st;
	int fd, ret = 1;

	if (!fsd_bound(fs))
		return 1;
	if (flags & RENAME_EXCHANGE)
		return is_link(d1, a) || is_link(d2, b) ? -EINVAL : 1;
	fd = openat(d1->fd, a, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 1; /* the usual rename reports it */
	if (fstat(fd, &st) == 0 && S_ISLNK(st.st_mode))
		ret = move(fs, &from, fd, &st, &to, flags);
	close(fd);
	return ret;
}
