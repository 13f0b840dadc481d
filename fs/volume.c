/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "pin.h"
#include "volume.h"

#define CREATOR "hsmfs 0.1"

void vol_opts_init(struct vol_opts *o)
{
	const char *e;

	memset(o, 0, sizeof(*o));
	o->cache_entries = 100000;
	o->cache_ttl_s = 300;
	if ((e = getenv("HSMFS_CA_FILE")) && *e)
		o->kek.ca_file = e;
	if ((e = getenv("HSMFS_KEK_SCOPE")) && *e)
		o->kek.scope = e;
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int add_endpoint(struct kek_opts *k, const char *url)
{
	int i = 0;

	while (i < KEK_MAX_ENDPOINTS && k->endpoints[i])
		i++;
	if (i == KEK_MAX_ENDPOINTS)
		return -1;
	k->endpoints[i] = url;
	return 0;
}

int vol_opts_parse(struct vol_opts *o, const char *opt, char *err,
		   size_t errlen)
{
	const char *eq = strchr(opt, '=');
	const char *val = eq ? eq + 1 : "";
	size_t klen = eq ? (size_t)(eq - opt) : strlen(opt);
	int bad = 0;

#define KEY(s) (klen == sizeof(s) - 1 && strncmp(opt, s, klen) == 0)
	if (KEY("ca_file"))
		o->kek.ca_file = val;
	else if (KEY("kek_scope"))
		o->kek.scope = val;
	else if (KEY("api_version"))
		o->kek.api_version = val;
	else if (KEY("hsm_endpoint"))
		bad = add_endpoint(&o->kek, val);
	else if (KEY("hsm_timeout"))
		bad = parse_uint(val, 600000, &o->kek.total_timeout_ms);
	else if (KEY("kek"))
		o->pin_kek = val;
	else if (KEY("no_pin"))
		o->no_pin_store = true;
	else if (KEY("dek_cache_size"))
		bad = parse_uint(val, 10000000, &o->cache_entries);
	else if (KEY("dek_cache_ttl"))
		bad = parse_uint(val, 86400 * 365, &o->cache_ttl_s);
	else
		return 0;
#undef KEY
	if (bad || !*val) {
		snprintf(err, errlen, "bad value in option '%s'", opt);
		return -1;
	}
	return 1;
}

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

/* Writes the directory IV (random when iv is NULL) into dirfd. */
int vol_write_diriv(int dirfd, const uint8_t *iv_in)
{
	uint8_t iv[DIRIV_LEN];
	int fd, err = 0;

	if (iv_in)
		memcpy(iv, iv_in, DIRIV_LEN);
	else if (keys_random(iv, sizeof(iv)) != 0)
		return -EIO;
	fd = openat(dirfd, DIRIV_NAME, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0444);
	if (fd < 0)
		return -errno;
	if (write(fd, iv, sizeof(iv)) != sizeof(iv))
		err = errno ? -errno : -EIO;
	close(fd);
	if (err)
		unlinkat(dirfd, DIRIV_NAME, 0);
	return err;
}

static int wrap_vk(struct kek *k, struct conf *c, const uint8_t *vk,
		   char *err, size_t errlen)
{
	uint8_t rec[REC_LEN];
	char kerr[KEK_ERR_MAX];
	size_t wl = 0;
	enum kek_status st;

	rec_pack(REC_MAGIC_VK, c->volume_id, vk, rec);
	st = kek_wrap(k, rec, sizeof(rec), c->vk.wrapped, &wl, c->vk.kid,
		      &c->vk.alg, kerr);
	keys_wipe(rec, sizeof(rec));
	if (st != KEK_OK) {
		snprintf(err, errlen, "cannot wrap the volume key: %s", kerr);
		return -1;
	}
	c->vk.wlen = (uint16_t)wl;
	c->vk.gen = 1;
	return 0;
}

static int create_in(int dirfd, const char *kek_url, bool plaintext,
		     const struct vol_opts *o, char *err, size_t errlen)
{
	struct conf c = { 0 };
	struct kek *k = NULL;
	struct pin p = { 0 };
	char kerr[KEK_ERR_MAX];
	uint8_t *vk = keys_alloc(KEY_LEN);
	int ret = -1, e;

	if (!vk || keys_random(vk, KEY_LEN) || keys_random(c.volume_id, ID_LEN)) {
		snprintf(err, errlen, "out of memory or randomness");
		goto out;
	}
	if (kek_open(kek_url, &o->kek, &k, kerr) != KEK_OK) {
		snprintf(err, errlen, "cannot use KEK %s: %s", kek_url, kerr);
		goto out;
	}
	snprintf(c.creator, sizeof(c.creator), CREATOR);
	snprintf(c.kek, sizeof(c.kek), "%s", kek_url);
	c.features = plaintext ? FEAT_PLAINTEXT_NAMES
			       : FEAT_ENCRYPTED_NAMES | FEAT_LONG_NAMES;
	if (wrap_vk(k, &c, vk, err, errlen) || conf_seal(&c, vk)) {
		if (!*err)
			snprintf(err, errlen, "cannot seal the config");
		goto out;
	}
	if (!plaintext && (e = vol_write_diriv(dirfd, NULL)) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", DIRIV_NAME,
			 strerror(-e));
		goto out;
	}
	if ((e = conf_store(dirfd, &c)) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", CONF_NAME,
			 strerror(-e));
		goto out;
	}
	snprintf(p.kek, sizeof(p.kek), "%s", c.kek);
	if (!o->no_pin_store &&
	    (pin_kcv(vk, p.kcv) || pin_write(c.volume_id, &p, err, errlen)))
		goto out;
	ret = 0;
out:
	kek_close(k);
	keys_free(vk, KEY_LEN);
	return ret;
}

int vol_create(const char *cipherdir, const char *kek_url,
	       bool plaintext_names, const struct vol_opts *o, char *err,
	       size_t errlen)
{
	int dirfd, ret = -1;

	err[0] = '\0';
	if (mkdir(cipherdir, 0700) != 0 && errno != EEXIST) {
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
	else if (!dir_is_empty(dirfd))
		snprintf(err, errlen, "%s is not empty", cipherdir);
	else
		ret = create_in(dirfd, kek_url, plaintext_names, o, err,
				errlen);
	close(dirfd);
	return ret;
}

/* Refuses a config whose KEK differs from what the operator expects,
 * before any request is sent to the KEK it names. */
static int check_kek_pin(struct vol *v, const struct vol_opts *o,
			 struct pin *p, int *have, char *err, size_t errlen)
{
	char path[640];

	*have = 0;
	if (o->pin_kek && strcmp(o->pin_kek, v->conf.kek) != 0) {
		snprintf(err, errlen,
			 "the volume names KEK %s, not the expected %s "
			 "(kek= option): refusing to use it",
			 v->conf.kek, o->pin_kek);
		return -1;
	}
	if (o->no_pin_store)
		return 0;
	*have = pin_read(v->conf.volume_id, p, err, errlen);
	if (*have < 0)
		return -1;
	if (*have && strcmp(p->kek, v->conf.kek) != 0) {
		pin_path(v->conf.volume_id, path, sizeof(path));
		snprintf(err, errlen,
			 "the volume config names KEK %s but this machine "
			 "pinned %s (%s): the config may have been tampered "
			 "with; if the change is intended, update the pin",
			 v->conf.kek, p->kek, path);
		return -1;
	}
	return 0;
}

static int unwrap_vk(struct vol *v, char *err, size_t errlen)
{
	uint8_t rec[KEK_WRAPPED_MAX];
	char kerr[KEK_ERR_MAX];
	size_t n = sizeof(rec);
	enum kek_status st;

	st = kek_unwrap(v->kek, v->conf.vk.kid, v->conf.vk.alg,
			v->conf.vk.wrapped, v->conf.vk.wlen, rec, &n, kerr);
	if (st != KEK_OK) {
		snprintf(err, errlen, "cannot unwrap the volume key with %s: %s",
			 v->conf.vk.kid, kerr);
		return -1;
	}
	if (rec_unpack(rec, n, REC_MAGIC_VK, v->conf.volume_id, v->vk) != 0) {
		snprintf(err, errlen,
			 "the wrapped volume key is not for this volume");
		return -1;
	}
	return 0;
}

static int check_kcv(struct vol *v, const struct vol_opts *o,
		     struct pin *p, int have, char *err, size_t errlen)
{
	uint8_t kcv[PIN_KCV_LEN];
	char path[640];

	if (pin_kcv(v->vk, kcv) != 0)
		return -1;
	if (have && !keys_equal(kcv, p->kcv, PIN_KCV_LEN)) {
		pin_path(v->conf.volume_id, path, sizeof(path));
		snprintf(err, errlen,
			 "the volume key differs from the one pinned in %s: "
			 "the config has been replaced", path);
		return -1;
	}
	if (have || o->no_pin_store)
		return 0;
	snprintf(p->kek, sizeof(p->kek), "%s", v->conf.kek);
	memcpy(p->kcv, kcv, PIN_KCV_LEN);
	pin_path(v->conf.volume_id, path, sizeof(path));
	log_info("first use of this volume on this machine: pinned its KEK "
		 "and volume key in %s", path);
	return pin_write(v->conf.volume_id, p, err, errlen);
}

static int open_keys(struct vol *v, const struct vol_opts *o, char *err,
		     size_t errlen)
{
	struct pin p;
	char kerr[KEK_ERR_MAX];
	int have;

	if (check_kek_pin(v, o, &p, &have, err, errlen))
		return -1;
	if (kek_open(v->conf.kek, &o->kek, &v->kek, kerr) != KEK_OK) {
		snprintf(err, errlen, "cannot use KEK %s: %s", v->conf.kek, kerr);
		return -1;
	}
	if (!kek_owns(v->kek, v->conf.vk.kid)) {
		snprintf(err, errlen, "volume key wrapped by %s, which is not "
			 "a version of %s", v->conf.vk.kid, v->conf.kek);
		return -1;
	}
	if (unwrap_vk(v, err, errlen))
		return -1;
	if (!conf_verify(&v->conf, v->vk)) {
		snprintf(err, errlen, "%s failed authentication: it has been "
			 "modified", CONF_NAME);
		return -1;
	}
	return check_kcv(v, o, &p, have, err, errlen);
}

int vol_open(struct vol *v, const char *cipherdir, const struct vol_opts *o,
	     char *err, size_t errlen)
{
	const char *why;

	memset(v, 0, sizeof(*v));
	err[0] = '\0';
	v->rootfd = open(cipherdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (v->rootfd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", cipherdir,
			 strerror(errno));
		return -1;
	}
	v->cipherdir = realpath(cipherdir, NULL);
	v->vk = keys_alloc(KEY_LEN);
	if (!v->cipherdir || !v->vk) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((why = conf_load(v->rootfd, &v->conf))) {
		snprintf(err, errlen, "%s/%s: %s", cipherdir, CONF_NAME, why);
		goto fail;
	}
	if (open_keys(v, o, err, errlen))
		goto fail;
	if (!(v->nk = names_keys_new(v->vk))) {
		snprintf(err, errlen, "cannot derive the name keys");
		goto fail;
	}
	v->cache = dekcache_new(o->cache_entries, o->cache_ttl_s);
	if (!v->cache) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return 0;
fail:
	vol_close(v);
	return -1;
}

void vol_close(struct vol *v)
{
	dekcache_free(v->cache);
	names_keys_free(v->nk);
	keys_free(v->vk, KEY_LEN);
	kek_close(v->kek);
	free(v->cipherdir);
	if (v->rootfd > 0)
		close(v->rootfd);
	memset(v, 0, sizeof(*v));
	v->rootfd = -1;
}

int vol_new_file_key(struct vol *v, struct hdr *h, uint8_t dek[KEY_LEN])
{
	uint8_t rec[REC_LEN], id[DEKCACHE_ID_LEN];
	char kerr[KEK_ERR_MAX];
	struct hdr_slot *s = &h->slot[0];
	size_t wl = 0;
	enum kek_status st;

	memset(h, 0, sizeof(*h));
	if (keys_random(h->file_id, ID_LEN) || keys_random(dek, KEY_LEN))
		return -EIO;
	rec_pack(REC_MAGIC_DEK, h->file_id, dek, rec);
	st = kek_wrap(v->kek, rec, sizeof(rec), s->wrapped, &wl, s->kid,
		      &s->alg, kerr);
	keys_wipe(rec, sizeof(rec));
	if (st != KEK_OK) {
		log_err("cannot wrap a new file key: %s", kerr);
		keys_wipe(dek, KEY_LEN);
		return st == KEK_E_AUTH || st == KEK_E_FORBIDDEN ? -EACCES
								 : -EIO;
	}
	atomic_fetch_add(&v->wraps, 1);
	s->wlen = (uint16_t)wl;
	s->gen = 1;
	if (hdr_slot_seal(h, 0, v->vk, dek) != 0) {
		keys_wipe(dek, KEY_LEN);
		return -EIO;
	}
	dekcache_id(s->kid, s->alg, s->wrapped, s->wlen, id);
	dekcache_put(v->cache, id, dek);
	return 0;
}

/* One slot: the cache, else the HSM. 0, or a kek_status-derived errno. */
static int slot_key(struct vol *v, const struct hdr *h, int i,
		    uint8_t dek[KEY_LEN], char *why, size_t n)
{
	const struct hdr_slot *s = &h->slot[i];
	uint8_t id[DEKCACHE_ID_LEN], rec[KEK_WRAPPED_MAX];
	char kerr[KEK_ERR_MAX];
	size_t rl = sizeof(rec);
	enum kek_status st;

	if (!kek_owns(v->kek, s->kid)) {
		snprintf(why, n, "key slot names %s, not a version of %s",
			 s->kid, v->conf.kek);
		return -EIO;
	}
	dekcache_id(s->kid, s->alg, s->wrapped, s->wlen, id);
	if (dekcache_get(v->cache, id, dek))
		return 0;
	atomic_fetch_add(&v->unwraps, 1);
	st = kek_unwrap(v->kek, s->kid, s->alg, s->wrapped, s->wlen, rec, &rl,
			kerr);
	if (st != KEK_OK) {
		atomic_fetch_add(&v->unwrap_errors, 1);
		snprintf(why, n, "cannot unwrap its key: %s", kerr);
		return st == KEK_E_AUTH || st == KEK_E_FORBIDDEN ? -EACCES
								 : -EIO;
	}
	if (rec_unpack(rec, rl, REC_MAGIC_DEK, h->file_id, dek) != 0) {
		snprintf(why, n, "wrapped key belongs to another file");
		return -EIO;
	}
	dekcache_put(v->cache, id, dek);
	return 0;
}

int vol_load_file_key(struct vol *v, const struct hdr *h,
		      uint8_t dek[KEY_LEN], const char *what)
{
	int order[HDR_SLOTS], n = hdr_slot_order(h, order), err = -EIO;
	char why[KEK_ERR_MAX + 128] = "no usable key slot";

	for (int j = 0; j < n; j++) {
		int e = slot_key(v, h, order[j], dek, why, sizeof(why));

		if (e == 0 && hdr_slot_verify(h, order[j], v->vk, dek))
			return 0;
		if (e == 0)
			snprintf(why, sizeof(why),
				 "header failed authentication");
		else if (err != -EACCES)
			err = e;
		keys_wipe(dek, KEY_LEN);
	}
	log_err("%s: %s", what, why);
	return err;
}
