/* SPDX-License-Identifier: Apache-2.0 */
/*
 * FUSE low-level operations on names and directories. Each handler ends
 * every path with exactly one reply; helpers return 0 or -errno. A
 * handler holds the inodes it was given (inode_hold) before anything
 * below it uses their descriptors.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/log.h"
#include "fs/vol/rootmode.h"
#include "content.h"
#include "ename.h"
#include "ops.h"
#include "prefetch.h"
#include "symlink.h"

void ops_reply_err(fuse_req_t req, int err)
{
	fuse_reply_err(req, err < 0 ? -err : err);
}

/* Backing attributes to plaintext ones: sizes without any key. */
static void fix_stat(struct fsd *fs, struct stat *st)
{
	int64_t n;

	if (S_ISREG(st->st_mode)) {
		n = content_plain_size(&fs->vol, (uint64_t)st->st_size);
		st->st_size = n < 0 ? 0 : n;
	} else if (S_ISLNK(st->st_mode)) {
		n = names_symlink_plain_len((size_t)st->st_size);
		st->st_size = n < 0 ? 0 : n;
	}
}

/* The root's mode is kept apart from its backing directory's, which
 * stays private (fs/vol/rootmode.h). */
static void root_mode_of(struct fsd *fs, const struct inode *in,
			 struct stat *st)
{
	int m = in == &fs->root ? atomic_load(&fs->root_mode) : -1;

	if (m >= 0)
		st->st_mode = S_IFDIR | (mode_t)m;
}

void ops_attr(struct fsd *fs, const struct inode *in, struct stat *st)
{
	fix_stat(fs, st);
	root_mode_of(fs, in, st);
}

int ops_stat(struct fsd *fs, struct inode *in, struct stat *st)
{
	int err = inode_hold(fs, in);

	if (err)
		return err;
	if (fstatat(in->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
		err = -errno;
	inode_unhold(fs, in);
	if (!err)
		ops_attr(fs, in, st);
	return err;
}

/* The entry of backing name b (plaintext name) in dir, registered with
 * nlookup + 1. */
static int entry_of(struct fsd *fs, struct inode *dir, const char *bname,
		    const char *name, struct fuse_entry_param *e)
{
	struct inode *in;
	struct stat st;
	int fd, err;

	memset(e, 0, sizeof(*e));
	fd = inode_openat(fs, dir->fd, bname, O_PATH | O_NOFOLLOW | O_CLOEXEC,
			  0);
	if (fd < 0)
		return fd;
	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
		err = -errno;
		close(fd);
		return err;
	}
	in = inode_ref(fs, fd, &st);
	if (!in)
		return -ENOMEM;
	err = S_ISLNK(st.st_mode) ? symlink_found(fs, dir, name, in) : 0;
	inode_unhold(fs, in);
	if (err) {
		inode_unref(fs, in, 1);
		return err;
	}
	if (S_ISREG(st.st_mode))
		prefetch_note_entry(in, dir, bname);
	fix_stat(fs, &st);
	e->ino = in == &fs->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)in;
	e->attr = st;
	e->attr_timeout = ops_attr_timeout(fs, in);
	e->entry_timeout = fs->timeout;
	return 0;
}

/* The entry of name in dir. A long name's entry found without its own
 * sidecar is an error, not a miss: the sidecar is what the listing shows. */
static int lookup_entry(struct fsd *fs, struct inode *dir, const char *name,
			struct fuse_entry_param *e)
{
	struct bname b;
	int err = ename_encode(fs, dir, name, &b);

	if (err)
		return err == -EPERM ? -ENOENT : err;
	if ((err = entry_of(fs, dir, b.name, name, e)))
		return err;
	if ((err = ename_check_sidecar(dir, &b)))
		inode_unref(fs, inode_get(fs, e->ino), 1);
	return err;
}

static void hsmfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fsd *fs = fsd_of(req);
	struct inode *dir = inode_get(fs, parent);
	struct fuse_entry_param e;
	int err = inode_hold(fs, dir);

	if (!err) {
		err = lookup_entry(fs, dir, name, &e);
		inode_unhold(fs, dir);
	}
	if (err == -ENOENT) {
		/* A negative entry: the kernel remembers the miss. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	if (err)
		return ops_reply_err(req, err);
	fuse_reply_entry(req, &e);
}

static void hsmfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n)
{
	struct fsd *fs = fsd_of(req);

	inode_unref(fs, inode_get(fs, ino), n);
	fuse_reply_none(req);
}

static void hsmfs_forget_multi(fuse_req_t req, size_t count,
			       struct fuse_forget_data *list)
{
	struct fsd *fs = fsd_of(req);

	for (size_t i = 0; i < count; i++)
		inode_unref(fs, inode_get(fs, list[i].ino), list[i].nlookup);
	fuse_reply_none(req);
}

static void hsmfs_getattr(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct fsd *fs = fsd_of(req);
	struct inode *in = inode_get(fs, ino);
	struct stat st;
	int err = ops_wb_error(in, fi);

	if (!err)
		err = ops_stat(fs, in, &st);
	if (err)
		return ops_reply_err(req, err);
	fuse_reply_attr(req, &st, ops_attr_timeout(fs, in));
}

/* Whether the group of a new object under dir needs its parent's mode.
 * Below any directory but the root, the backing kernel has already given
 * the new object a set-group-ID parent's group (the backing directory
 * carries the mode); so an object with the caller's group has the right
 * one, and only another group asks which of the two it should be. */
static bool parent_needed(struct fsd *fs, const struct inode *dir,
			  const struct fuse_ctx *ctx, const struct stat *st)
{
	if (dir == &fs->root && (atomic_load(&fs->root_mode) & S_ISGID))
		return true;
	return !st || st->st_gid != ctx->gid;
}

/* Whether dir is set-group-ID as the application sees it; if so, its
 * group in *gid. */
static bool dir_sgid(struct fsd *fs, struct inode *dir, gid_t *gid)
{
	struct stat st;

	if (fstatat(dir->fd, "", &st, AT_EMPTY_PATH) != 0)
		return false;
	root_mode_of(fs, dir, &st);
	if (!(st.st_mode & S_ISGID))
		return false;
	*gid = st.st_gid;
	return true;
}

int ops_chown_new(struct fsd *fs, const struct fuse_ctx *ctx,
		  struct inode *dir, int fd, const char *name, struct stat *st)
{
	gid_t gid = ctx->gid;

	if (!fs->chown_new)
		return 0;
	if (parent_needed(fs, dir, ctx, st))
		dir_sgid(fs, dir, &gid);
	if (st && st->st_uid == ctx->uid && st->st_gid == gid)
		return 0;
	if (fchownat(fd, name, ctx->uid, gid, AT_SYMLINK_NOFOLLOW |
		     (*name ? 0 : AT_EMPTY_PATH)) != 0)
		return -errno;
	if (st) {
		st->st_uid = ctx->uid;
		st->st_gid = gid;
	}
	return 0;
}

/* The entry of a just-made object, or it is undone. */
static int entry_new(fuse_req_t req, struct inode *dir, const struct bname *b,
		     const char *name, int isdir, struct fuse_entry_param *e)
{
	struct fsd *fs = fsd_of(req);
	int err = ops_chown_new(fs, fuse_req_ctx(req), dir, dir->fd, b->name,
				NULL);

	if (!err)
		err = entry_of(fs, dir, b->name, name, e);
	if (!err)
		return 0;
	if (isdir)
		unlinkat(dir->fd, b->name, AT_REMOVEDIR);
	else
		unlinkat(dir->fd, b->name, 0);
	bname_drop_sidecar(dir->fd, b);
	return err;
}

/* Empties and removes a directory known to hold at most its IV. */
static void remove_dir(int parentfd, const char *name)
{
	int fd = openat(parentfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW |
					      O_CLOEXEC);

	if (fd >= 0) {
		unlinkat(fd, DIRIV_NAME, 0);
		close(fd);
	}
	unlinkat(parentfd, name, AT_REMOVEDIR);
}

/* A directory appears under its name only with its IV in place (made
 * under a temporary name, then renamed), so that a crash never leaves a
 * directory whose names cannot be encrypted. */
static int make_dir(struct fsd *fs, struct inode *dir, const struct bname *b,
		    mode_t mode)
{
	char tmp[TMP_NAME_LEN + 1];
	gid_t g;
	int fd, err = 0;

	/* A set-group-ID parent's bit goes to a new directory, as the kernel
	 * gives it: the mode set below would drop it, and the root's mode
	 * is not its backing directory's. */
	if (dir_sgid(fs, dir, &g))
		mode |= S_ISGID;
	if (!bname_has_ivs(fs->vol.conf.format, fs->plaintext_names)) {
		if (mkdirat(dir->fd, b->name, mode) != 0)
			return -errno;
		if ((mode & S_ISGID) && dir == &fs->root &&
		    fchmodat(dir->fd, b->name, mode, 0) != 0)
			err = -errno;
		if (err)
			unlinkat(dir->fd, b->name, AT_REMOVEDIR);
		return err;
	}
	if (names_tmp(tmp) != 0)
		return -EIO;
	if (mkdirat(dir->fd, tmp, 0700) != 0)
		return -errno;
	fd = openat(dir->fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					 O_CLOEXEC);
	if (fd < 0)
		err = -errno;
	if (!err)
		err = bname_write_diriv(fd, fs->vol.conf.format, fs->vol.nk,
					NULL);
	if (!err && (fchmod(fd, mode) != 0 || fsync(fd) != 0))
		err = -errno;
	if (fd >= 0)
		close(fd);
	if (!err && renameat2(dir->fd, tmp, dir->fd, b->name,
			      RENAME_NOREPLACE) != 0)
		err = -errno;
	if (err)
		remove_dir(dir->fd, tmp);
	return err;
}

/* What to make under a new name: a directory, a node or a symlink. */
struct newobj {
	mode_t mode;
	dev_t rdev;
	const char *target; /* encrypted symlink target */
};

static int make_obj(struct fsd *fs, struct inode *dir, const struct bname *b,
		    const struct newobj *o)
{
	if (S_ISDIR(o->mode))
		return make_dir(fs, dir, b, o->mode & 07777);
	if (o->target)
		return symlinkat(o->target, dir->fd, b->name) ? -errno : 0;
	return mknodat(dir->fd, b->name, o->mode, o->rdev) ? -errno : 0;
}

/* A new entry in dir (held): its backing name (and a long name's
 * sidecar), the object, then its entry; the sidecar goes again if the
 * object cannot be made. */
static int make_entry(fuse_req_t req, struct inode *dir, const char *name,
		      const struct newobj *o, struct fuse_entry_param *e)
{
	struct fsd *fs = fsd_of(req);
	struct bname b;
	int err = ename_encode(fs, dir, name, &b);

	if (!err)
		err = bname_write_sidecar(dir->fd, &b);
	if (!err && (err = make_obj(fs, dir, &b, o)))
		bname_drop_sidecar(dir->fd, &b);
	if (!err)
		err = entry_new(req, dir, &b, name, S_ISDIR(o->mode), e);
	return err;
}

/* Inodes are let go before the reply: once it is sent, the kernel may
 * forget them at once. */
static void new_entry(fuse_req_t req, fuse_ino_t parent, const char *name,
		      const struct newobj *o)
{
	struct fsd *fs = fsd_of(req);
	struct inode *dir = inode_get(fs, parent);
	struct fuse_entry_param e;
	int err = inode_hold(fs, dir);

	if (!err) {
		err = make_entry(req, dir, name, o, &e);
		inode_unhold(fs, dir);
	}
	if (err)
		return ops_reply_err(req, err);
	fuse_reply_entry(req, &e);
}

static void hsmfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode)
{
	struct newobj o = { .mode = S_IFDIR | (mode & 07777) };

	new_entry(req, parent, name, &o);
}

static void hsmfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode, dev_t rdev)
{
	struct newobj o = { .mode = mode, .rdev = rdev };

	new_entry(req, parent, name, &o);
}

static void hsmfs_symlink(fuse_req_t req, const char *target,
			  fuse_ino_t parent, const char *name)
{
	struct fsd *fs = fsd_of(req);
	struct inode *dir = inode_get(fs, parent);
	char enc[SYMLINK_ENC_MAX];
	struct newobj o = { .mode = S_IFLNK | 0777, .target = enc };
	int err = inode_hold(fs, dir);

	if (!err) {
		err = symlink_encode(fs, dir, name, target, enc);
		inode_unhold(fs, dir);
	}
	if (err)
		return ops_reply_err(req, err);
	new_entry(req, parent, name, &o);
}

static void hsmfs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fsd *fs = fsd_of(req);
	struct inode *in = inode_get(fs, ino);
	char out[SYMLINK_MAX + 1];
	int err = inode_hold(fs, in);

	if (!err) {
		err = symlink_read(fs, in, out);
		inode_unhold(fs, in);
	}
	if (err)
		return ops_reply_err(req, err);
	fuse_reply_readlink(req, out);
}

/* Two inodes of one request held, or neither. */
static int hold2(struct fsd *fs, struct inode *a, struct inode *b)
{
	int err = inode_hold(fs, a);

	if (!err && (err = inode_hold(fs, b)))
		inode_unhold(fs, a);
	return err;
}

static void unhold2(struct fsd *fs, struct inode *a, struct inode *b)
{
	inode_unhold(fs, b);
	inode_unhold(fs, a);
}

/* Links in (held) as newname in dir (held). */
static int link_entry(struct fsd *fs, struct inode *in, struct inode *dir,
		      const char *newname, struct fuse_entry_param *e)
{
	char proc[64];
	struct bname b;
	int err = symlink_may_link(fs, in);

	if (!err)
		err = ename_encode(fs, dir, newname, &b);
	if (!err)
		err = bname_write_sidecar(dir->fd, &b);
	if (err)
		return err;
	inode_procpath(in->fd, proc);
	if (linkat(AT_FDCWD, proc, dir->fd, b.name, AT_SYMLINK_FOLLOW) != 0) {
		err = -errno;
		bname_drop_sidecar(dir->fd, &b);
		return err;
	}
	return entry_of(fs, dir, b.name, newname, e);
}

static void hsmfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		       const char *newname)
{
	struct fsd *fs = fsd_of(req);
	struct inode *in = inode_get(fs, ino), *dir = inode_get(fs, newparent);
	struct fuse_entry_param e;
	int err = hold2(fs, in, dir);

	if (!err) {
		err = link_entry(fs, in, dir, newname, &e);
		unhold2(fs, in, dir);
	}
	if (err)
		return ops_reply_err(req, err);
	fuse_reply_entry(req, &e);
}

static void hsmfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fsd *fs = fsd_of(req);
	struct inode *dir = inode_get(fs, parent);
	struct bname b;
	int err = inode_hold(fs, dir);

	if (err)
		return ops_reply_err(req, err);
	if (!(err = ename_encode(fs, dir, name, &b)) &&
	    unlinkat(dir->fd, b.name, 0) != 0)
		err = -errno;
	if (!err)
		bname_drop_sidecar(dir->fd, &b);
	inode_unhold(fs, dir);
	ops_reply_err(req, err);
}

/* 1 if the backing directory holds nothing but its IV. */
static int only_iv(int parentfd, const char *name)
{
	int fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					       O_CLOEXEC);
	struct dirent *de;
	DIR *d;
	int ret = 1;

	if (fd < 0)
		return -errno;
	if (!(d = fdopendir(fd))) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, DIRIV_NAME))
			ret = 0;
	closedir(d);
	return ret;
}

/* Moves the empty directory bname out of the way under a temporary name
 * (the backing fs cannot remove or replace it while its IV is there):
 * 0 done, -ENOTEMPTY if it holds entries, or another -errno. A crash
 * leaves a hidden temporary directory, never one without its IV. */
static int stash_dir(struct inode *dir, const char *bname,
		     char tmp[TMP_NAME_LEN + 1])
{
	int e = only_iv(dir->fd, bname);

	if (e <= 0)
		return e < 0 ? e : -ENOTEMPTY;
	if (names_tmp(tmp) != 0)
		return -EIO;
	if (renameat2(dir->fd, bname, dir->fd, tmp, RENAME_NOREPLACE) != 0)
		return -errno;
	/* Something may have been created in it meanwhile. */
	if (only_iv(dir->fd, tmp) != 1) {
		renameat(dir->fd, tmp, dir->fd, bname);
		return -ENOTEMPTY;
	}
	return 0;
}

/* Removes the directory name in dir (held). */
static int rmdir_entry(struct fsd *fs, struct inode *dir, const char *name)
{
	char tmp[TMP_NAME_LEN + 1];
	struct stat st;
	struct bname b;
	int err = ename_encode(fs, dir, name, &b);

	if (!err && !bname_has_ivs(fs->vol.conf.format, fs->plaintext_names)) {
		err = unlinkat(dir->fd, b.name, AT_REMOVEDIR) ? -errno : 0;
	} else if (!err) {
		if (fstatat(dir->fd, b.name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			err = -errno;
		else if (!S_ISDIR(st.st_mode))
			err = -ENOTDIR;
		else if (!(err = stash_dir(dir, b.name, tmp)))
			remove_dir(dir->fd, tmp);
	}
	if (!err)
		bname_drop_sidecar(dir->fd, &b);
	return err;
}

static void hsmfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fsd *fs = fsd_of(req);
	struct inode *dir = inode_get(fs, parent);
	int err = inode_hold(fs, dir);

	if (!err) {
		err = rmdir_entry(fs, dir, name);
		inode_unhold(fs, dir);
	}
	ops_reply_err(req, err);
}

/* rename(2) of name in d1 to newname in d2 (both held). */
static int rename_entry(struct fsd *fs, struct inode *d1, const char *name,
			struct inode *d2, const char *newname,
			unsigned int flags)
{
	char tmp[TMP_NAME_LEN + 1];
	struct bname a, b;
	int had_side = 0, stashed = 0, err;
	struct stat st;

	err = ename_encode(fs, d1, name, &a);
	if (!err)
		err = ename_encode(fs, d2, newname, &b);
	if (err)
		return err;
	if (d1 == d2 && strcmp(a.name, b.name) == 0)
		return 0;
	/* An exchange swaps what two names point to; both names, so both
	 * sidecars, stay as they are. */
	if (!(flags & RENAME_EXCHANGE)) {
		had_side = b.is_long && faccessat(d2->fd, b.name, F_OK,
						  AT_SYMLINK_NOFOLLOW) == 0;
		if ((err = bname_write_sidecar(d2->fd, &b)))
			return err;
		/* Over an empty directory: move it aside first. */
		if (bname_has_ivs(fs->vol.conf.format, fs->plaintext_names) &&
		    !(flags & RENAME_NOREPLACE) &&
		    fstatat(d1->fd, a.name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode) &&
		    fstatat(d2->fd, b.name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode)) {
			if ((err = stash_dir(d2, b.name, tmp))) {
				if (!had_side)
					bname_drop_sidecar(d2->fd, &b);
				return err;
			}
			stashed = 1;
		}
	}
	/* A format-3 symlink is re-encrypted for its new name. */
	err = symlink_rename(fs, d1, a.name, name, d2, b.name, newname, flags);
	if (err > 0 && renameat2(d1->fd, a.name, d2->fd, b.name, flags) != 0)
		err = -errno;
	atomic_fetch_add(&fs->renames, 1);
	if (err > 0)
		err = 0;
	if (err) {
		if (stashed)
			renameat(d2->fd, tmp, d2->fd, b.name);
		if (!had_side && !(flags & RENAME_EXCHANGE))
			bname_drop_sidecar(d2->fd, &b);
		return err;
	}
	if (stashed)
		remove_dir(d2->fd, tmp);
	if (!(flags & RENAME_EXCHANGE))
		bname_drop_sidecar(d1->fd, &a);
	return 0;
}

static void hsmfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			 fuse_ino_t newparent, const char *newname,
			 unsigned int flags)
{
	struct fsd *fs = fsd_of(req);
	struct inode *d1 = inode_get(fs, parent), *d2 = inode_get(fs, newparent);
	int err;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return ops_reply_err(req, -EINVAL);
	if (!(err = hold2(fs, d1, d2))) {
		err = rename_entry(fs, d1, name, d2, newname, flags);
		unhold2(fs, d1, d2);
	}
	ops_reply_err(req, err);
}

static void hsmfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fsd *fs = fsd_of(req);
	struct statvfs sv;

	(void)ino;
	if (fstatvfs(fs->vol.rootfd, &sv) != 0)
		return ops_reply_err(req, -errno);
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

struct dirh {
	DIR *dp;
	struct dirent *entry;
	off_t offset;
	int err; /* the entry at offset is refused: the next reply */
};

static void hsmfs_opendir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct fsd *fs = fsd_of(req);
	struct inode *in = inode_get(fs, ino);
	struct dirh *d = calloc(1, sizeof(*d));
	int fd, err;

	if (!d)
		return ops_reply_err(req, -ENOMEM);
	if ((err = inode_hold(fs, in))) {
		free(d);
		return ops_reply_err(req, err);
	}
	fd = inode_openat(fs, in->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC,
			  0);
	inode_unhold(fs, in);
	if (fd < 0 || !(d->dp = fdopendir(fd))) {
		err = fd < 0 ? fd : -errno;
		if (fd >= 0)
			close(fd);
		free(d);
		return ops_reply_err(req, err);
	}
	atomic_fetch_add(&fs->fds.open, 1);
	fi->fh = (uint64_t)(uintptr_t)d;
	fuse_reply_open(req, fi);
}

static struct dirh *dirh_of(struct fuse_file_info *fi)
{
	return (struct dirh *)(uintptr_t)fi->fh;
}

/* Next entry from the backing directory, or NULL at the end. */
static struct dirent *next_entry(struct dirh *d)
{
	if (!d->entry) {
		errno = 0;
		d->entry = readdir(d->dp);
	}
	return d->entry;
}

/* The plaintext name of backing entry bname: 1; 0 to leave it out (the
 * volume's own, or under skip_bad_names a name that does not decode);
 * -EIO for a name that does not decode, or for the directory's bad IV. */
static int entry_name(struct fsd *fs, struct inode *dir, struct dirh *d,
		      const char *bname, char name[256])
{
	const char *why;
	char path[512];
	int r = ename_decode(fs, dir, dirfd(d->dp), bname, name, &why);

	if (r >= 0 || r == -EIO)
		return r;
	log_err("%s/%s: %s; %s", inode_path(dir->fd, path, sizeof(path)),
		bname, why, fs->skip_bad_names ?
		"left out of the listing (skip_bad_names)" :
		"the listing fails with EIO");
	return fs->skip_bad_names ? 0 : -EIO;
}

/* Adds one entry to a READDIR(PLUS) reply: 0 added or left out, 1 full,
 * or -errno. With plus, the entry is looked up like LOOKUP would (a
 * reference the kernel will FORGET), which saves `ls -l` and `find` a
 * round trip each. */
static int add_entry(fuse_req_t req, struct inode *dir, struct dirh *d,
		     const struct dirent *de, char *buf, size_t size,
		     size_t *used, bool plus)
{
	struct fsd *fs = fsd_of(req);
	struct fuse_entry_param e = { .attr = { .st_ino = de->d_ino,
		.st_mode = (mode_t)de->d_type << 12 } };
	bool dot = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
	char name[256];
	size_t n;
	int r;

	if (dot)
		snprintf(name, sizeof(name), "%s", de->d_name);
	else if ((r = entry_name(fs, dir, d, de->d_name, name)) <= 0)
		return r;
	if (!plus) {
		n = fuse_add_direntry(req, buf + *used, size - *used, name,
				      &e.attr, de->d_off);
	} else {
		if (!dot && (r = entry_of(fs, dir, de->d_name, name, &e))) {
			if (r == -ENOENT)
				return 0; /* gone meanwhile */
			/* Named without attributes (a symlink whose target
			 * fails authentication): its lookup gets the error. */
			e.attr.st_ino = de->d_ino;
			e.attr.st_mode = (mode_t)de->d_type << 12;
		}
		n = fuse_add_direntry_plus(req, buf + *used, size - *used,
					   name, &e, de->d_off);
		if (n > size - *used && e.ino)
			inode_unref(fs, inode_get(fs, e.ino), 1);
	}
	if (n > size - *used)
		return 1;
	*used += n;
	return 0;
}

/* Fills buf from offset d->offset on: the bytes used. A refused entry
 * ends the reply and is kept in d->err for the next one, so that what was
 * listed before it still reaches the application, and nothing after. */
static size_t fill_dir(fuse_req_t req, struct inode *dir, struct dirh *d,
		       char *buf, size_t size, bool plus)
{
	struct dirent *de;
	size_t used = 0;
	int r = 0;

	while ((de = next_entry(d))) {
		if ((r = add_entry(req, dir, d, de, buf, size, &used, plus)))
			break;
		d->entry = NULL;
		d->offset = de->d_off;
	}
	if (r < 0)
		d->err = r;
	return used;
}

/* A directory whose names cannot be read lists nothing at all, not even
 * "." and "..": an empty listing would look like an empty directory. */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi, bool plus)
{
	struct fsd *fs = fsd_of(req);
	struct inode *dir = inode_get(fs, ino);
	struct dirh *d = dirh_of(fi);
	char *buf = malloc(size);
	size_t used = 0;
	int err = buf ? inode_hold(fs, dir) : -ENOMEM;

	if (err) {
		free(buf);
		return ops_reply_err(req, err);
	}
	if (off != d->offset) {
		seekdir(d->dp, off);
		d->entry = NULL;
		d->offset = off;
		d->err = 0;
	}
	if (!(err = ename_dir(fs, dir)) && !(err = d->err) &&
	    !(used = fill_dir(req, dir, d, buf, size, plus)))
		err = d->err;
	/* Let go before the reply, after which the kernel may forget it. */
	inode_unhold(fs, dir);
	if (err)
		ops_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

static void hsmfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			  off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void hsmfs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			      off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void hsmfs_releasedir(fuse_req_t req, fuse_ino_t ino,
			     struct fuse_file_info *fi)
{
	struct dirh *d = dirh_of(fi);

	(void)ino;
	closedir(d->dp);
	free(d);
	atomic_fetch_sub(&fsd_of(req)->fds.open, 1);
	fuse_reply_err(req, 0);
}

static void hsmfs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			   struct fuse_file_info *fi)
{
	int fd = dirfd(dirh_of(fi)->dp);
	int r = datasync ? fdatasync(fd) : fsync(fd);

	(void)ino;
	ops_reply_err(req, r ? -errno : 0);
}

static void set_mode(struct fsd *fs, struct inode *in,
		     struct fuse_file_info *fi, mode_t mode, int *err)
{
	char proc[64];

	if (*err)
		return;
	if (in == &fs->root) {
		pthread_mutex_lock(&fs->root_mode_lock);
		*err = vol_rootmode_write(fs->vol.rootfd, mode);
		if (!*err)
			atomic_store(&fs->root_mode, (int)(mode & 07777));
		pthread_mutex_unlock(&fs->root_mode_lock);
		return;
	}
	inode_procpath(in->fd, proc);
	if ((fi ? fchmod((int)fi->fh, mode) : chmod(proc, mode)) != 0)
		*err = -errno;
}

static void set_owner(struct inode *in, struct stat *attr, int valid,
		      int *err)
{
	uid_t uid = valid & FUSE_SET_ATTR_UID ? attr->st_uid : (uid_t)-1;
	gid_t gid = valid & FUSE_SET_ATTR_GID ? attr->st_gid : (gid_t)-1;

	if (!*err && fchownat(in->fd, "", uid, gid,
			      AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
		*err = -errno;
}

static void set_times(struct inode *in, struct stat *attr, int valid,
		      int *err)
{
	struct timespec tv[2] = { { .tv_nsec = UTIME_OMIT },
				  { .tv_nsec = UTIME_OMIT } };
	char proc[64];

	if (*err)
		return;
	if (valid & FUSE_SET_ATTR_ATIME_NOW)
		tv[0].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_ATIME)
		tv[0] = attr->st_atim;
	if (valid & FUSE_SET_ATTR_MTIME_NOW)
		tv[1].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_MTIME)
		tv[1] = attr->st_mtim;
	/* AT_EMPTY_PATH reaches symlinks too; older kernels refuse it. */
	if (utimensat(in->fd, "", tv, AT_EMPTY_PATH) == 0)
		return;
	inode_procpath(in->fd, proc);
	if (errno != EINVAL || in->type == S_IFLNK ||
	    utimensat(AT_FDCWD, proc, tv, 0) != 0)
		*err = -errno;
}

static int set_size(struct fsd *fs, struct inode *in,
		    struct fuse_file_info *fi, off_t size)
{
	char proc[64];
	bool unwrapped;
	int fd, err;

	if (in->type != S_IFREG)
		return in->type == S_IFDIR ? -EISDIR : -EINVAL;
	inode_procpath(in->fd, proc);
	fd = fi ? (int)fi->fh : inode_openat(fs, AT_FDCWD, proc,
					     O_RDWR | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	pthread_rwlock_wrlock(&in->rw);
	err = content_open(fs, in, fd, NULL, &unwrapped);
	if (!err) {
		err = content_truncate(fs, in, fd, size);
		content_close(in, fd);
	}
	pthread_rwlock_unlock(&in->rw);
	if (!fi)
		close(fd);
	return err;
}

static void hsmfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			  int valid, struct fuse_file_info *fi)
{
	struct fsd *fs = fsd_of(req);
	struct inode *in = inode_get(fs, ino);
	struct stat st;
	int err = inode_hold(fs, in);

	if (err)
		return ops_reply_err(req, err);
	if (valid & FUSE_SET_ATTR_MODE)
		set_mode(fs, in, fi, attr->st_mode, &err);
	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))
		set_owner(in, attr, valid, &err);
	if (!err && (valid & FUSE_SET_ATTR_SIZE))
		err = set_size(fs, in, fi, attr->st_size);
	if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))
		set_times(in, attr, valid, &err);
	if (!err)
		err = ops_stat(fs, in, &st);
	inode_unhold(fs, in);
	if (err)
		return ops_reply_err(req, err);
	fuse_reply_attr(req, &st, ops_attr_timeout(fs, in));
}

static void hsmfs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fsd *fs = userdata;

	conn->max_write = FSD_MAX_IO;
	conn->max_readahead = FSD_MAX_IO;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (fs->writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		fs->writeback = false;
	conn->want &= ~(unsigned)FUSE_CAP_SPLICE_READ;
}

const struct fuse_lowlevel_ops ops_table = {
	.init = hsmfs_init,
	.lookup = hsmfs_lookup,
	.forget = hsmfs_forget,
	.forget_multi = hsmfs_forget_multi,
	.getattr = hsmfs_getattr,
	.setattr = hsmfs_setattr,
	.readlink = hsmfs_readlink,
	.mknod = hsmfs_mknod,
	.mkdir = hsmfs_mkdir,
	.unlink = hsmfs_unlink,
	.rmdir = hsmfs_rmdir,
	.symlink = hsmfs_symlink,
	.rename = hsmfs_rename,
	.link = hsmfs_link,
	.statfs = hsmfs_statfs,
	.opendir = hsmfs_opendir,
	.readdir = hsmfs_readdir,
	.readdirplus = hsmfs_readdirplus,
	.releasedir = hsmfs_releasedir,
	.fsyncdir = hsmfs_fsyncdir,
	.open = ops_open,
	.create = ops_create,
	.read = ops_read,
	.write = ops_write,
	.flush = ops_flush,
	.release = ops_release,
	.fsync = ops_fsync,
	.fallocate = ops_fallocate,
	.lseek = ops_lseek,
	.setxattr = ops_setxattr,
	.getxattr = ops_getxattr,
	.listxattr = ops_listxattr,
	.removexattr = ops_removexattr,
};
