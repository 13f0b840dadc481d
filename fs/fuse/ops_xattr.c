/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Extended attributes: only the user.* namespace, names and values
 * encrypted. Other namespaces read as absent, so that tools probing for
 * ACLs or security labels carry on.
 *
 * Formats 1 and 2 encrypt a name alone and bind a value to its name.
 * Format 3 binds both to the entry (crypto/names.h): a regular file's id
 * (so a file with xattrs has a header, made by the first setxattr if no
 * write made it), a directory's IV; the name travels inside the value,
 * so that a list opens every value. Only regular files and directories
 * have user.* xattrs, as on Linux file systems.
 *
 * When the backing fs has no room (ENOSPC) or takes no value that large
 * (E2BIG), its errno goes to the caller as it is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/log.h"
#include "content.h"
#include "ename.h"
#include "ops.h"

#define XATTR_VAL_MAX (65536 - XATTR_VAL_OVERHEAD)
#define XNAME_MAX 256
#define XSIZE_MAX 65536 /* the kernel's largest value and list */
_Static_assert(ID_LEN == DIRIV_LEN, "a directory's IV serves as its id");

/* Whether the backing entry's list of xattr names has room for bname:
 * -ENOSPC if it would pass the 64 KiB that listxattr(2) returns at most,
 * after which no xattr of the entry could be read again (format 3 lists
 * them to read one; any format to list them), as ext4 refuses an xattr
 * its inode has no room for. The backing names are longer than most
 * plaintext ones, so a file system without a limit of its own (tmpfs,
 * XFS) reaches this first; a line says so. */
static int list_room(struct inode *in, const char *bname)
{
	char proc[64], path[512];
	ssize_t n;

	inode_procpath(in->fd, proc);
	if ((n = listxattr(proc, NULL, 0)) < 0)
		return -errno;
	if ((size_t)n + strlen(bname) + 1 <= XSIZE_MAX ||
	    getxattr(proc, bname, NULL, 0) >= 0)
		return 0;
	log_err("%s: no room for another xattr: the backing list of names "
		"would pass 64 KiB", inode_path(in->fd, path, sizeof(path)));
	return -ENOSPC;
}

/* Formats 1 and 2. */

/* The backing name of a user.* xattr; -ENODATA for other namespaces. */
static int backing_name(struct fsd *fs, const char *name, char out[XNAME_MAX])
{
	if (strncmp(name, "user.", 5) != 0)
		return -ENODATA;
	if (fs->plaintext_names) {
		if (strlen(name) >= XNAME_MAX)
			return -ERANGE;
		strcpy(out, name);
		return 0;
	}
	return names_xattr_name(fs->vol.nk, name, out, XNAME_MAX) < 0 ? -ERANGE
								       : 0;
}

static int set2(struct fsd *fs, struct inode *in, const char *name,
		const char *value, size_t size, int flags)
{
	char bname[XNAME_MAX], proc[64];
	uint8_t *enc;
	int err = backing_name(fs, name, bname);

	if (err)
		return err == -ENODATA ? -EOPNOTSUPP : err;
	if (size > XATTR_VAL_MAX)
		return -E2BIG;
	if ((err = list_room(in, bname)))
		return err;
	if (!(enc = malloc(size + XATTR_VAL_OVERHEAD)))
		return -ENOMEM;
	inode_procpath(in->fd, proc);
	if (names_xattr_val_enc(fs->vol.nk, bname, (const uint8_t *)value,
				size, enc) != 0)
		err = -EIO;
	else if (setxattr(proc, bname, enc, size + XATTR_VAL_OVERHEAD,
			  flags) != 0)
		err = -errno;
	free(enc);
	return err;
}

static ssize_t get2(struct fsd *fs, struct inode *in, const char *name,
		    uint8_t *val)
{
	char bname[XNAME_MAX], proc[64], path[512];
	uint8_t *enc = malloc(XSIZE_MAX);
	ssize_t n;
	int err = backing_name(fs, name, bname);

	if (err || !enc) {
		free(enc);
		return err ? err : -ENOMEM;
	}
	inode_procpath(in->fd, proc);
	n = getxattr(proc, bname, enc, XSIZE_MAX);
	if (n < 0)
		n = -errno;
	else if ((n = names_xattr_val_dec(fs->vol.nk, bname, enc, (size_t)n,
					  val)) < 0) {
		log_err("%s: xattr %s failed authentication",
			inode_path(in->fd, path, sizeof(path)), name);
		n = -EIO;
	}
	free(enc);
	return n;
}

/* Appends the plaintext of one backing xattr name to out, if it is ours. */
static size_t list_one(struct fsd *fs, int fd, const char *bname, char *out)
{
	char plain[XNAME_MAX], path[512];
	size_t n;

	if (strncmp(bname, "user.", 5) != 0)
		return 0;
	if (fs->plaintext_names) {
		snprintf(plain, sizeof(plain), "%s", bname);
	} else if (names_xattr_name_dec(fs->vol.nk, bname, plain,
					sizeof(plain)) < 0) {
		log_err("%s: xattr name %s failed authentication; hidden",
			inode_path(fd, path, sizeof(path)), bname);
		return 0;
	}
	n = strlen(plain) + 1;
	memcpy(out, plain, n);
	return n;
}

/* The names into out (XSIZE_MAX + XNAME_MAX bytes): their length. */
static ssize_t list2(struct fsd *fs, struct inode *in, const char *raw,
		     ssize_t n, char *out)
{
	size_t used = 0;

	for (ssize_t i = 0; i < n && used < XSIZE_MAX;
	     i += (ssize_t)strlen(raw + i) + 1)
		used += list_one(fs, in->fd, raw + i, out + used);
	return (ssize_t)used;
}

static int remove2(struct fsd *fs, struct inode *in, const char *name)
{
	char bname[XNAME_MAX], proc[64];
	int err = backing_name(fs, name, bname);

	inode_procpath(in->fd, proc);
	if (!err && removexattr(proc, bname) != 0)
		err = -errno;
	return err;
}

/* Format 3. */

/* How many user.* xattrs the backing file has, or -errno. */
static int user_count(struct inode *in)
{
	char proc[64], *raw = malloc(XSIZE_MAX);
	ssize_t n;
	int count = 0;

	if (!raw)
		return -ENOMEM;
	inode_procpath(in->fd, proc);
	n = listxattr(proc, raw, XSIZE_MAX);
	if (n < 0)
		count = -errno;
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(raw + i) + 1)
		count += strncmp(raw + i, "user.", 5) == 0;
	free(raw);
	return count;
}

/* A regular file's id through a descriptor of its own. */
static int file_id(struct fsd *fs, struct inode *in, bool create,
		   uint8_t eid[ID_LEN])
{
	char proc[64];
	struct stat st;
	int fd, err;

	inode_procpath(in->fd, proc);
	/* Writable only to give an empty file its header. */
	if (fstatat(in->fd, "", &st, AT_EMPTY_PATH) != 0)
		return -errno;
	create = create && st.st_size == 0;
	fd = open(proc, (create ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = content_file_id(fs, in, fd, create, eid);
	close(fd);
	return err;
}

/* What in's xattrs are bound to. A regular file without a header gets
 * one with create; without, it is -ENODATA if it has no user.* xattrs
 * and -EIO if it has (they cannot be authentic). */
static int entry_id(struct fsd *fs, struct inode *in, bool create,
		    uint8_t eid[ID_LEN])
{
	char path[512];
	int n;

	if (in->type == S_IFDIR)
		return ename_iv(fs, in, eid);
	if (in->type != S_IFREG)
		return -EPERM;
	/* Loading a key for a file with no xattrs is a waste (an HSM call). */
	if (!create && (n = user_count(in)) <= 0)
		return n < 0 ? n : -ENODATA;
	n = file_id(fs, in, create, eid);
	if (n == -ENODATA && !create) {
		log_err("%s: user xattrs on a file without a header: not "
			"authentic", inode_path(in->fd, path, sizeof(path)));
		return -EIO;
	}
	return n;
}

/* The entry id of in and the backing name of xattr name for it: 0, or
 * -errno (-EINVAL for a name format 3 cannot hold). */
static int where3(struct fsd *fs, struct inode *in, const char *name,
		  bool create, uint8_t eid[ID_LEN], char bname[XNAME_MAX])
{
	int err = entry_id(fs, in, create, eid);

	if (err)
		return err;
	if (names_xattr3_name(fs->vol.nk, fs->plaintext_names, eid, name,
			      bname, XNAME_MAX) < 0)
		return -EINVAL;
	return 0;
}

static int set3(struct fsd *fs, struct inode *in, const char *name,
		const char *value, size_t size, int flags)
{
	char bname[XNAME_MAX], proc[64];
	uint8_t eid[ID_LEN], *enc;
	ssize_t n;
	int err;

	if (strncmp(name, "user.", 5) != 0)
		return -EOPNOTSUPP;
	if (size > XSIZE_MAX)
		return -E2BIG;
	/* A replace needs an xattr, so a header, already there. */
	if ((err = where3(fs, in, name, !(flags & XATTR_REPLACE), eid, bname)) ||
	    (err = list_room(in, bname)))
		return err;
	n = (ssize_t)(XATTR3_OVERHEAD(strlen(name) - 5) + size);
	if (!(enc = malloc((size_t)n)))
		return -ENOMEM;
	n = names_xattr3_seal(fs->vol.nk, eid, bname, name,
			      (const uint8_t *)value, size, enc, (size_t)n);
	inode_procpath(in->fd, proc);
	if (n < 0)
		err = -EIO;
	else if (setxattr(proc, bname, enc, (size_t)n, flags) != 0)
		err = -errno;
	free(enc);
	return err;
}

/* Opens backing value enc (n bytes) of bname: its length, name and value
 * in val (XSIZE_MAX bytes); -EIO and a log line if not authentic. */
static ssize_t open3(struct fsd *fs, struct inode *in,
		     const uint8_t eid[ID_LEN], const char *bname,
		     const uint8_t *enc, size_t n, char name[XNAME_MAX],
		     uint8_t *val)
{
	char path[512];
	ssize_t r = names_xattr3_open(fs->vol.nk, eid, bname, enc, n, name,
				      val, XSIZE_MAX);

	if (r >= 0)
		return r;
	log_err("%s: xattr %s failed authentication for its entry",
		inode_path(in->fd, path, sizeof(path)), bname);
	return -EIO;
}

static ssize_t get3(struct fsd *fs, struct inode *in, const char *name,
		    uint8_t *val)
{
	char bname[XNAME_MAX], proc[64], path[512], stored[XNAME_MAX];
	uint8_t eid[ID_LEN], *enc = NULL;
	ssize_t n;

	if (strncmp(name, "user.", 5) != 0 ||
	    (in->type != S_IFREG && in->type != S_IFDIR))
		return -ENODATA;
	if ((n = where3(fs, in, name, false, eid, bname)))
		return n;
	if (!(enc = malloc(XSIZE_MAX)))
		return -ENOMEM;
	inode_procpath(in->fd, proc);
	n = getxattr(proc, bname, enc, XSIZE_MAX);
	if (n < 0)
		n = -errno;
	else if ((n = open3(fs, in, eid, bname, enc, (size_t)n, stored,
			    val)) >= 0 && strcmp(stored, name) != 0) {
		/* Only a hash collision of the backing names gets here. */
		log_err("%s: xattr %s holds another name",
			inode_path(in->fd, path, sizeof(path)), bname);
		n = -EIO;
	}
	free(enc);
	return n;
}

/* Appends the name of backing xattr bname to out (at *used): 0, or -EIO
 * if its value does not authenticate, -E2BIG if the list gets too long. */
static int list3_one(struct fsd *fs, struct inode *in,
		     const uint8_t eid[ID_LEN], const char *bname,
		     uint8_t *enc, uint8_t *val, char *out, size_t *used)
{
	char proc[64], name[XNAME_MAX];
	ssize_t n;
	size_t len;

	inode_procpath(in->fd, proc);
	n = getxattr(proc, bname, enc, XSIZE_MAX);
	if (n < 0)
		return errno == ENODATA ? 0 : -errno; /* removed meanwhile */
	if ((n = open3(fs, in, eid, bname, enc, (size_t)n, name, val)) < 0)
		return (int)n;
	len = strlen(name) + 1;
	if (*used + len > XSIZE_MAX)
		return -E2BIG;
	memcpy(out + *used, name, len);
	*used += len;
	return 0;
}

static ssize_t list3(struct fsd *fs, struct inode *in, const char *raw,
		     ssize_t n, char *out)
{
	uint8_t eid[ID_LEN], *enc = NULL, *val = NULL;
	size_t used = 0;
	int err = 0;
	bool have_id = false;

	for (ssize_t i = 0; i < n && !err; i += (ssize_t)strlen(raw + i) + 1) {
		if (strncmp(raw + i, "user.", 5) != 0)
			continue;
		if (!have_id) {
			if ((err = entry_id(fs, in, false, eid)))
				break;
			have_id = true;
			enc = malloc(XSIZE_MAX);
			val = malloc(XSIZE_MAX);
			if (!enc || !val) {
				err = -ENOMEM;
				break;
			}
		}
		err = list3_one(fs, in, eid, raw + i, enc, val, out, &used);
	}
	free(enc);
	free(val);
	return err ? err : (ssize_t)used;
}

static int remove3(struct fsd *fs, struct inode *in, const char *name)
{
	char bname[XNAME_MAX], proc[64];
	uint8_t eid[ID_LEN];
	int err;

	if (strncmp(name, "user.", 5) != 0 ||
	    (in->type != S_IFREG && in->type != S_IFDIR))
		return -ENODATA;
	if ((err = where3(fs, in, name, false, eid, bname)))
		return err;
	inode_procpath(in->fd, proc);
	return removexattr(proc, bname) != 0 ? -errno : 0;
}

/* The handlers. */

void ops_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		  const char *value, size_t size, int flags)
{
	struct fsd *fs = fsd_of(req);
	struct inode *in = inode_get(fs, ino);
	int err = inode_hold(fs, in);

	if (!err) {
		err = fsd_bound(fs) ? set3(fs, in, name, value, size, flags) :
				      set2(fs, in, name, value, size, flags);
		inode_unhold(fs, in);
	}
	ops_reply_err(req, err);
}

void ops_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		  size_t size)
{
	struct fsd *fs = fsd_of(req);
	struct inode *in = inode_get(fs, ino);
	uint8_t *val = malloc(XSIZE_MAX);
	ssize_t n = !val ? -ENOMEM : inode_hold(fs, in);

	if (n == 0) {
		n = fsd_bound(fs) ? get3(fs, in, name, val) :
				    get2(fs, in, name, val);
		inode_unhold(fs, in);
	}
	if (n < 0)
		ops_reply_err(req, (int)n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else if ((size_t)n > size)
		ops_reply_err(req, -ERANGE);
	else
		fuse_reply_buf(req, (const char *)val, (size_t)n);
	free(val);
}

void ops_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fsd *fs = fsd_of(req);
	struct inode *in = inode_get(fs, ino);
	char proc[64], *raw = malloc(XSIZE_MAX);
	char *out = malloc(XSIZE_MAX + XNAME_MAX);
	ssize_t n = raw && out ? inode_hold(fs, in) : -ENOMEM;

	if (n == 0) {
		inode_procpath(in->fd, proc);
		if ((n = listxattr(proc, raw, XSIZE_MAX)) < 0)
			n = -errno;
		if (n >= 0)
			n = fsd_bound(fs) ? list3(fs, in, raw, n, out) :
					    list2(fs, in, raw, n, out);
		inode_unhold(fs, in);
	}
	if (n < 0)
		ops_reply_err(req, (int)n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else if ((size_t)n > size)
		ops_reply_err(req, -ERANGE);
	else
		fuse_reply_buf(req, out, (size_t)n);
	free(raw);
	free(out);
}

void ops_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fsd *fs = fsd_of(req);
	struct inode *in = inode_get(fs, ino);
	int err = inode_hold(fs, in);

	if (!err) {
		err = fsd_bound(fs) ? remove3(fs, in, name) :
				      remove2(fs, in, name);
		inode_unhold(fs, in);
	}
	ops_reply_err(req, err);
}
