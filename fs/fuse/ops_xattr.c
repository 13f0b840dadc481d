/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Extended attributes: only the user.* namespace, names and values
 * encrypted. Other namespaces read as absent, so that tools probing for
 * ACLs or security labels carry on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "common/log.h"
#include "ops.h"

#define XATTR_VAL_MAX (65536 - XATTR_VAL_OVERHEAD)
#define XNAME_MAX 256

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

void ops_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			   const char *value, size_t size, int flags)
{
	struct fsd *fs = fsd_of(req);
	struct inode *in = inode_get(fs, ino);
	char bname[XNAME_MAX], proc[64];
	uint8_t *enc;
	int err = backing_name(fs, name, bname);

	if (err)
		return ops_reply_err(req, err == -ENODATA ? -EOPNOTSUPP : err);
	if (size > XATTR_VAL_MAX)
		return ops_reply_err(req, -E2BIG);
	enc = malloc(size + XATTR_VAL_OVERHEAD);
	if (!enc)
		return ops_reply_err(req, -ENOMEM);
	inode_procpath(in->fd, proc);
	if (names_xattr_val_enc(fs->vol.nk, bname, (const uint8_t *)value,
				size, enc) != 0)
		err = -EIO;
	else if (setxattr(proc, bname, enc, size + XATTR_VAL_OVERHEAD,
			  flags) != 0)
		err = -errno;
	free(enc);
	ops_reply_err(req, err);
}

void ops_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			   size_t size)
{
	struct fsd *fs = fsd_of(req);
	struct inode *in = inode_get(fs, ino);
	char bname[XNAME_MAX], proc[64], path[512];
	uint8_t *enc = malloc(65536), *val = malloc(65536);
	ssize_t n, pn;
	int err = backing_name(fs, name, bname);

	if (!enc || !val)
		err = -ENOMEM;
	if (err)
		goto out;
	inode_procpath(in->fd, proc);
	n = getxattr(proc, bname, enc, 65536);
	if (n < 0) {
		err = -errno;
		goto out;
	}
	pn = names_xattr_val_dec(fs->vol.nk, bname, enc, (size_t)n, val);
	if (pn < 0) {
		log_err("%s: xattr %s failed authentication",
			inode_path(in->fd, path, sizeof(path)), name);
		err = -EIO;
	} else if (size == 0) {
		fuse_reply_xattr(req, (size_t)pn);
	} else if ((size_t)pn > size) {
		err = -ERANGE;
	} else {
		fuse_reply_buf(req, (const char *)val, (size_t)pn);
	}
out:
	free(enc);
	free(val);
	if (err)
		ops_reply_err(req, err);
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

void ops_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fsd *fs = fsd_of(req);
	struct inode *in = inode_get(fs, ino);
	char proc[64], *raw = malloc(65536), *out = malloc(65536 + XNAME_MAX);
	size_t used = 0;
	ssize_t n;
	int err = 0;

	if (!raw || !out) {
		err = -ENOMEM;
		goto out;
	}
	inode_procpath(in->fd, proc);
	n = listxattr(proc, raw, 65536);
	if (n < 0) {
		err = -errno;
		goto out;
	}
	for (ssize_t i = 0; i < n && used < 65536; i += (ssize_t)strlen(raw + i) + 1)
		used += list_one(fs, in->fd, raw + i, out + used);
	if (size == 0)
		fuse_reply_xattr(req, used);
	else if (used > size)
		err = -ERANGE;
	else
		fuse_reply_buf(req, out, used);
out:
	free(raw);
	free(out);
	if (err)
		ops_reply_err(req, err);
}

void ops_removexattr(fuse_req_t req, fuse_ino_t ino,
			      const char *name)
{
	struct fsd *fs = fsd_of(req);
	struct inode *in = inode_get(fs, ino);
	char bname[XNAME_MAX], proc[64];
	int err = backing_name(fs, name, bname);

	inode_procpath(in->fd, proc);
	if (!err && removexattr(proc, bname) != 0)
		err = -errno;
	ops_reply_err(req, err);
}
