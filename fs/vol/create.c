/* SPDX-License-Identifier: Apache-2.0 */
/* hsmfs init's engine: a new volume in an empty directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bname.h"
#include "pin.h"
#include "rootmode.h"
#include "vol.h"

#define CREATOR "hsmfs 0.1"

static int dir_is_empty(int dirfd)
{
	DIR *d = fdopendir(dup(dirfd));
	struct dirent *de;
	int empty = 1;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = 0;
	closedir(d);
	return empty;
}

static int wrap_vk(struct kek *k, struct conf *c, const uint8_t *vk,
		   char *err, size_t errlen)
{
	char kerr[KEK_ERR_MAX];
	enum kek_status st;

	st = vol_wrap_slot(k, REC_MAGIC_VK, c->volume_id, vk, &c->vk, kerr);
	if (st != KEK_OK) {
		vol_kek_failed(err, errlen, st, kerr,
			       "cannot wrap the volume key");
		return -1;
	}
	c->vk.gen = 1;
	return 0;
}

/* volume-wrap: a wrapping key of generation 1, wrapped by the KEK, and
 * the volume key wrapped locally by it. */
static int wrap_wk(struct kek *k, struct conf *c, const uint8_t *vk,
		   char *err, size_t errlen)
{
	uint8_t *wk = secmem_alloc(KEY_LEN);
	char kerr[KEK_ERR_MAX];
	enum kek_status st;
	int ret = -1;

	if (!wk || keys_random(wk, KEY_LEN)) {
		snprintf(err, errlen, "out of memory or randomness");
		goto out;
	}
	st = vol_wrap_slot(k, REC_MAGIC_WK, c->volume_id, wk, &c->wk[0], kerr);
	if (st != KEK_OK) {
		vol_kek_failed(err, errlen, st, kerr,
			       "cannot wrap the wrapping key");
		goto out;
	}
	c->wk[0].gen = 1;
	c->nwk = 1;
	if (hdr_wk_wrap(wk, c->volume_id, 1, REC_MAGIC_VK, c->volume_id, vk,
			&c->vk)) {
		snprintf(err, errlen, "cannot wrap the volume key");
		goto out;
	}
	c->vk.gen = 1;
	ret = 0;
out:
	secmem_free(wk, KEY_LEN);
	return ret;
}

/* The root's IV; format 3 tags it with a key from the volume key. */
static int write_root_iv(int dirfd, int format, const uint8_t vk[KEY_LEN])
{
	struct names_keys *nk = format >= 3 ? names_keys_new(vk) : NULL;
	int e;

	if (format >= 3 && !nk)
		return -ENOMEM;
	e = bname_write_diriv(dirfd, format, nk, NULL);
	names_keys_free(nk);
	return e;
}

/* The pin of the new volume (init knows the truth: it made it), and its
 * fingerprint. */
static int pin_new(int dirfd, const char *cipherdir, const struct conf *c,
		   const uint8_t *vk, const struct vol_opts *o,
		   char fpr[PIN_FPR_TEXT], char *err, size_t errlen)
{
	struct pin p = { 0 };
	struct pin_fpr f;
	char *dir = NULL;
	int ret = -1;

	if (pin_kcv(vk, p.kcv)) {
		snprintf(err, errlen, "cannot derive the key check value");
		return -1;
	}
	pin_fpr_a(c->volume_id, c->kek, f.a);
	pin_fpr_b(p.kcv, f.b);
	if (fpr)
		pin_fpr_format(&f, fpr);
	if (o->no_pin_store)
		return 0;
	if (!(dir = pin_canonical(dirfd, cipherdir))) {
		snprintf(err, errlen, "cannot resolve %s: %s", cipherdir,
			 strerror(errno));
		goto out;
	}
	memcpy(p.volume_id, c->volume_id, ID_LEN);
	snprintf(p.kek, sizeof(p.kek), "%s", c->kek);
	ret = pin_write(dir, &p, err, errlen);
out:
	free(dir);
	return ret;
}

static int create_in(int dirfd, const char *cipherdir, const char *kek_url,
		     int format, unsigned flags, const struct vol_opts *o,
		     char fpr[PIN_FPR_TEXT], char *err, size_t errlen)
{
	struct kek_opts ko = o->kek;
	struct conf c = { 0 };
	struct kek *k = NULL;
	char kerr[KEK_ERR_MAX];
	uint8_t *vk = secmem_alloc(KEY_LEN);
	bool plaintext = flags & VOL_PLAINTEXT_NAMES;
	int ret = -1, e;

	if ((flags & VOL_VOLUME_WRAP) && format < 3) {
		snprintf(err, errlen, "volume wrapping needs format 3");
		goto out;
	}
	if (!vk || keys_random(vk, KEY_LEN) || keys_random(c.volume_id, ID_LEN)) {
		snprintf(err, errlen, "out of memory or randomness");
		goto out;
	}
	/* The operator typed this URL. */
	ko.host_named = true;
	if (kek_open(kek_url, &ko, &k, kerr) != KEK_OK) {
		snprintf(err, errlen, "cannot use KEK %s: %s", kek_url, kerr);
		goto out;
	}
	c.format = (uint8_t)format;
	snprintf(c.creator, sizeof(c.creator), CREATOR);
	snprintf(c.kek, sizeof(c.kek), "%s", kek_url);
	c.features = plaintext ? FEAT_PLAINTEXT_NAMES
			       : FEAT_ENCRYPTED_NAMES | FEAT_LONG_NAMES;
	if (flags & VOL_VOLUME_WRAP)
		c.features |= FEAT_VOLUME_WRAP;
	if (((flags & VOL_VOLUME_WRAP) ? wrap_wk(k, &c, vk, err, errlen)
				       : wrap_vk(k, &c, vk, err, errlen)) ||
	    conf_seal(&c, vk)) {
		if (!*err)
			snprintf(err, errlen, "cannot seal the config");
		goto out;
	}
	if (bname_has_ivs(format, plaintext) &&
	    (e = write_root_iv(dirfd, format, vk)) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", DIRIV_NAME,
			 strerror(-e));
		goto out;
	}
	/* The root shows what mkdir would make; the backing directory
	 * keeps its own mode (0700 if made here). */
	if ((e = vol_rootmode_write(dirfd, vol_rootmode_default())) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", ROOTMODE_NAME,
			 strerror(-e));
		goto out;
	}
	if ((e = conf_store(dirfd, &c)) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", CONF_NAME,
			 strerror(-e));
		goto out;
	}
	if (pin_new(dirfd, cipherdir, &c, vk, o, fpr, err, errlen))
		goto out;
	ret = 0;
out:
	kek_close(k);
	secmem_free(vk, KEY_LEN);
	return ret;
}

int vol_create(const char *cipherdir, const char *kek_url, int format,
	       unsigned flags, const struct vol_opts *o,
	       char fpr[PIN_FPR_TEXT], char *err, size_t errlen)
{
	int dirfd, ret = -1, made = 0, empty = 0;

	err[0] = '\0';
	if (mkdir(cipherdir, 0700) == 0)
		made = 1;
	else if (errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", cipherdir,
			 strerror(errno));
		return -1;
	}
	dirfd = open(cipherdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", cipherdir,
			 strerror(errno));
		return -1;
	}
	if (faccessat(dirfd, CONF_NAME, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		snprintf(err, errlen, "%s is already an hsmfs volume",
			 cipherdir);
	else if (!(empty = dir_is_empty(dirfd)))
		snprintf(err, errlen, "%s is not empty", cipherdir);
	else
		ret = create_in(dirfd, cipherdir, kek_url, format, flags, o,
				fpr, err, errlen);
	/* A failed init leaves the directory as it found it. */
	if (ret && empty) {
		unlinkat(dirfd, DIRIV_NAME, 0);
		unlinkat(dirfd, ROOTMODE_NAME, 0);
		unlinkat(dirfd, CONF_NAME ".tmp", 0);
	}
	close(dirfd);
	if (ret && made)
		rmdir(cipherdir);
	return ret;
}
