/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bname.h"

#define CONF_TMP_NAME CONF_NAME ".tmp"

enum bname_kind bname_kind(const struct bdir *d, const char *name)
{
	if (d->root && (!strcmp(name, CONF_NAME) ||
			!strcmp(name, CONF_TMP_NAME) ||
			!strcmp(name, LOCK_NAME) ||
			!strcmp(name, ROOTMODE_NAME)))
		return BNAME_OWN;
	if (!strcmp(name, DIRIV_NAME) && bname_has_ivs(d->format, d->plaintext))
		return BNAME_OWN;
	if (d->plaintext)
		return d->format >= 3 && names_is_tmp(name) ? BNAME_TMP :
							     BNAME_ENTRY;
	if (names_is_sidecar(name))
		return BNAME_OWN;
	return names_is_tmp(name) ? BNAME_TMP : BNAME_ENTRY;
}

bool bname_has_ivs(int format, bool plaintext)
{
	return format >= 3 || !plaintext;
}

int bname_encode(const struct bdir *d, const char *name, struct bname *b)
{
	size_t len = strlen(name);
	int n;

	memset(b, 0, sizeof(*b));
	if (len > 255)
		return -ENAMETOOLONG;
	if (d->plaintext) {
		if (bname_kind(d, name) != BNAME_ENTRY)
			return -EPERM;
		memcpy(b->name, name, len + 1);
		return 0;
	}
	if (!d->nk || !d->iv)
		return -ENOKEY;
	n = names_encrypt(d->nk, d->iv, name, len, b->enc);
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

int bname_open_own(int dirfd, const char *name, int flags, mode_t mode)
{
	struct stat st;
	int fd;

	fd = openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
		    mode);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		return fd;
	close(fd);
	return -EINVAL;
}

static void sidecar_of(const char *name, char *out, size_t n)
{
	snprintf(out, n, "%s%s", name, LONG_SUFFIX);
}

/* Reads and checks a long name's sidecar into enc: its length, or
 * -EINVAL with why. */
static int read_sidecar(int dirfd, const char *name, char enc[NAME_ENC_MAX],
			const char **why)
{
	char side[NAME_ENC_MAX + 8], check[LONG_NAME_LEN + 1];
	ssize_t n;
	int fd;

	sidecar_of(name, side, sizeof(side));
	fd = bname_open_own(dirfd, side, O_RDONLY, 0);
	if (fd < 0) {
		*why = "long name without its " LONG_SUFFIX " sidecar";
		return -EINVAL;
	}
	n = read(fd, enc, NAME_ENC_MAX - 1);
	close(fd);
	if (n <= 255) {
		*why = "long-name sidecar too short";
		return -EINVAL;
	}
	enc[n] = '\0';
	names_long(enc, (size_t)n, check);
	if (strcmp(check, name) != 0) {
		*why = "long-name sidecar does not match the entry name";
		return -EINVAL;
	}
	return (int)n;
}

int bname_decode(const struct bdir *d, const char *name, char out[256],
		 const char **why)
{
	char enc[NAME_ENC_MAX];
	const char *src = name;
	int n = (int)strlen(name);

	*why = NULL;
	if (d->plaintext) {
		snprintf(out, 256, "%s", name);
		return 0;
	}
	if (names_is_long(name)) {
		if ((n = read_sidecar(d->fd, name, enc, why)) < 0)
			return n;
		src = enc;
	}
	if (!d->nk || !d->iv)
		return -ENOKEY;
	if (names_decrypt(d->nk, d->iv, src, (size_t)n, out) < 0) {
		*why = "name failed authentication";
		return -EBADMSG;
	}
	return 0;
}

/* A directory of the walk below as names see it: its IV read into iv. */
static int dir_of(const struct bdir *root, int dirfd, bool top,
		  uint8_t iv[DIRIV_LEN], struct bdir *d)
{
	int err;

	*d = *root;
	d->fd = dirfd;
	d->root = top;
	d->iv = NULL;
	if (!bname_has_ivs(d->format, d->plaintext))
		return 0;
	if ((err = bname_read_diriv(dirfd, d->format, d->nk, iv)))
		return err;
	d->iv = iv;
	return 0;
}

/* Appends "/" and name to out (no "/" first if slash_first is false and
 * out is empty). */
static int append(char *out, size_t n, bool slash_first, const char *name)
{
	size_t l = strlen(out);

	if (snprintf(out + l, n - l, "%s%s", l || slash_first ? "/" : "",
		     name) >= (int)(n - l))
		return -ENAMETOOLONG;
	return 0;
}

/* One step of a path walk: component comp of directory d, its name in
 * the path built into out, and the backing name to go on from (into
 * next). */
typedef int (*step_fn)(const struct bdir *d, const char *comp,
		       char next[NAME_ENC_MAX], char *out, size_t n);

/* Backing to plaintext: the entry is comp itself. */
static int plain_step(const struct bdir *d, const char *comp,
		      char next[NAME_ENC_MAX], char *out, size_t n)
{
	char plain[256];
	const char *why;
	int err = bname_decode(d, comp, plain, &why);

	snprintf(next, NAME_ENC_MAX, "%s", comp);
	return err ? err : append(out, n, true, plain);
}

/* Plaintext to backing: the entry is comp's backing name, which must be
 * there. */
static int backing_step(const struct bdir *d, const char *comp,
			char next[NAME_ENC_MAX], char *out, size_t n)
{
	struct bname b;
	struct stat st;
	int err;

	if ((err = bname_encode(d, comp, &b)) || (err = append(out, n, false,
							     b.name)))
		return err;
	snprintf(next, NAME_ENC_MAX, "%s", b.name);
	return fstatat(d->fd, b.name, &st, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

/* Walks path from the root, one component at a time, each in the
 * directory the one before names. */
static int walk_path(const struct bdir *root, const char *path, step_fn step,
		     char *out, size_t n)
{
	char comp[NAME_ENC_MAX], next[NAME_ENC_MAX];
	uint8_t iv[DIRIV_LEN];
	int dirfd = dup(root->fd), fd, err = dirfd < 0 ? -errno : 0;
	struct bdir d;
	bool top = true;

	*out = '\0';
	while (!err && *(path += strspn(path, "/"))) {
		size_t l = strcspn(path, "/");

		if (l >= sizeof(comp)) {
			err = -ENAMETOOLONG;
			break;
		}
		memcpy(comp, path, l);
		comp[l] = '\0';
		path += l;
		/* Never above the root, never in place. */
		if (!strcmp(comp, ".") || !strcmp(comp, "..")) {
			err = -EINVAL;
			break;
		}
		if ((err = dir_of(root, dirfd, top, iv, &d)) ||
		    (err = step(&d, comp, next, out, n)) ||
		    !*(path + strspn(path, "/")))
			break;
		fd = openat(dirfd, next, O_PATH | O_DIRECTORY | O_NOFOLLOW |
			    O_CLOEXEC);
		err = fd < 0 ? -errno : 0;
		close(dirfd);
		dirfd = fd;
		top = false;
	}
	if (dirfd >= 0)
		close(dirfd);
	return err;
}

int bname_plain_path(const struct bdir *root, const char *bpath,
		     char *out, size_t n)
{
	return walk_path(root, bpath, plain_step, out, n);
}

int bname_backing_path(const struct bdir *root, const char *ppath,
		       char *out, size_t n)
{
	return walk_path(root, ppath, backing_step, out, n);
}

int bname_check_sidecar(int dirfd, const struct bname *b, const char **why)
{
	char enc[NAME_ENC_MAX];
	int n;

	*why = NULL;
	if (!b->is_long)
		return 0;
	if ((n = read_sidecar(dirfd, b->name, enc, why)) < 0)
		return n;
	if (strcmp(enc, b->enc) == 0)
		return 0;
	*why = "long-name sidecar does not match the entry name";
	return -EINVAL;
}

int bname_write_sidecar(int dirfd, const struct bname *b)
{
	char side[NAME_ENC_MAX + 8];
	size_t len = strlen(b->enc);
	int fd, err = 0;

	if (!b->is_long)
		return 0;
	sidecar_of(b->name, side, sizeof(side));
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

void bname_drop_sidecar(int dirfd, const struct bname *b)
{
	char side[NAME_ENC_MAX + 8];

	if (!b->is_long)
		return;
	sidecar_of(b->name, side, sizeof(side));
	unlinkat(dirfd, side, 0);
}

bool bname_sidecar_orphaned(int dirfd, const char *sidecar)
{
	char entry[NAME_ENC_MAX];
	size_t n = strlen(sidecar) - (sizeof(LONG_SUFFIX) - 1);

	if (n >= sizeof(entry))
		return false;
	memcpy(entry, sidecar, n);
	entry[n] = '\0';
	return faccessat(dirfd, entry, F_OK, AT_SYMLINK_NOFOLLOW) != 0;
}

static size_t diriv_len(int format)
{
	return format >= 3 ? DIRIV3_LEN : DIRIV_LEN;
}

int bname_read_diriv(int dirfd, int format, const struct names_keys *nk,
		     uint8_t iv[DIRIV_LEN])
{
	uint8_t buf[DIRIV3_LEN + 1], zero[DIRIV_LEN] = { 0 }, tag[DIRIV_LEN];
	ssize_t n;
	int fd, err;

	fd = bname_open_own(dirfd, DIRIV_NAME, O_RDONLY, 0);
	if (fd < 0)
		return fd;
	n = read(fd, buf, sizeof(buf));
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err)
		return err;
	if ((size_t)n != diriv_len(format) ||
	    memcmp(buf, zero, DIRIV_LEN) == 0)
		return -EINVAL;
	if (format >= 3 && nk) {
		if (names_diriv_tag(nk, buf, tag))
			return -EIO;
		if (!keys_equal(tag, buf + DIRIV_LEN, DIRIV_LEN))
			return -EBADMSG;
	}
	memcpy(iv, buf, DIRIV_LEN);
	return 0;
}

const char *bname_diriv_why(int err)
{
	switch (err) {
	case -ENOENT:
	case -EINVAL:
	case -ELOOP: /* a symlink */
		return "missing or invalid directory IV: the names in this "
		       "directory cannot be decrypted";
	case -EBADMSG:
		return "directory IV failed authentication: the names in this "
		       "directory cannot be decrypted";
	}
	return NULL;
}

/* The next entry of dp that is an application's, or NULL. */
static struct dirent *next_entry(const struct bdir *d, DIR *dp)
{
	struct dirent *de;

	while ((de = readdir(dp)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    bname_kind(d, de->d_name) == BNAME_ENTRY)
			return de;
	return NULL;
}

int bname_check_diriv(const struct bdir *d, const char **why)
{
	int fd, r, tried = 0, ok = 0, bad = 0;
	const char *ignored; /* a name's own reason */
	struct dirent *de;
	char out[256];
	DIR *dp;

	*why = NULL;
	if (d->plaintext || !d->nk || !d->iv)
		return 0;
	fd = openat(d->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (!(dp = fdopendir(fd))) {
		r = -errno;
		close(fd);
		return r;
	}
	while (!ok && tried++ < BNAME_IV_SAMPLE && (de = next_entry(d, dp))) {
		r = bname_decode(d, de->d_name, out, &ignored);
		ok = r == 0;
		bad += r == -EBADMSG;
	}
	closedir(dp);
	if (ok || !bad)
		return 0;
	*why = "no name in this directory decrypts with its IV: the IV, or "
	       "every name tried, was changed";
	return -EBADMSG;
}

int bname_write_diriv(int dirfd, int format, const struct names_keys *nk,
		      const uint8_t *iv_in)
{
	uint8_t iv[DIRIV3_LEN];
	size_t n = diriv_len(format);
	int fd, err = 0;

	if (iv_in)
		memcpy(iv, iv_in, DIRIV_LEN);
	else if (keys_random(iv, DIRIV_LEN) != 0)
		return -EIO;
	if (format >= 3 && (!nk || names_diriv_tag(nk, iv, iv + DIRIV_LEN)))
		return nk ? -EIO : -ENOKEY;
	fd = openat(dirfd, DIRIV_NAME, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0444);
	if (fd < 0)
		return -errno;
	errno = 0;
	if (write(fd, iv, n) != (ssize_t)n)
		err = errno ? -errno : -EIO;
	close(fd);
	if (err)
		unlinkat(dirfd, DIRIV_NAME, 0);
	return err;
}
