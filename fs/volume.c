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
#include "common/parse.h"
#include "pin.h"
#include "volume.h"

_Static_assert(DEKCACHE_KEY_LEN == KEY_LEN, "the DEK cache holds DEKs");

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
	secmem_wipe(rec, sizeof(rec));
	if (st != KEK_OK) {
		snprintf(err, errlen, "cannot wrap the volume key: %s", kerr);
		return -1;
	}
	c->vk.wlen = (uint16_t)wl;
	c->vk.gen = 1;
	return 0;
}

static int create_in(int dirfd, const char *kek_url, int format,
		     bool plaintext, const struct vol_opts *o, char *err,
		     size_t errlen)
{
	struct conf c = { 0 };
	struct kek *k = NULL;
	struct pin p = { 0 };
	char kerr[KEK_ERR_MAX];
	uint8_t *vk = secmem_alloc(KEY_LEN);
	int ret = -1, e;

	if (!vk || keys_random(vk, KEY_LEN) || keys_random(c.volume_id, ID_LEN)) {
		snprintf(err, errlen, "out of memory or randomness");
		goto out;
	}
	if (kek_open(kek_url, &o->kek, &k, kerr) != KEK_OK) {
		snprintf(err, errlen, "cannot use KEK %s: %s", kek_url, kerr);
		goto out;
	}
	c.format = (uint8_t)format;
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
	secmem_free(vk, KEY_LEN);
	return ret;
}

int vol_create(const char *cipherdir, const char *kek_url, int format,
	       bool plaintext_names, const struct vol_opts *o, char *err,
	       size_t errlen)
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
		ret = create_in(dirfd, kek_url, format, plaintext_names, o, err,
				errlen);
	/* A failed init leaves the directory as it found it. */
	if (ret && empty) {
		unlinkat(dirfd, DIRIV_NAME, 0);
		unlinkat(dirfd, CONF_NAME ".tmp", 0);
	}
	close(dirfd);
	if (ret && made)
		rmdir(cipherdir);
	return ret;
}

/* A pin naming one of the config's previous KEKs is accepted only for
 * the rekey --to that wrote that config: it stopped before the pin. */
static int pin_is_previous(const struct vol *v, const struct vol_opts *o,
			   const struct pin *p)
{
	if (!o->rekey_to || strcmp(o->rekey_to, v->conf.kek) != 0)
		return 0;
	for (int i = 0; i < v->conf.nprev; i++)
		if (strcmp(p->kek, v->conf.prev_kek[i]) == 0)
			return 1;
	return 0;
}

/* Refuses a config whose KEK differs from what the operator expects,
 * before any request is sent to the KEK it names. */
static int check_kek_pin(struct vol *v, const struct vol_opts *o,
			 char *err, size_t errlen)
{
	struct pin p;
	char path[640];
	int have;

	if (o->pin_kek && strcmp(o->pin_kek, v->conf.kek) != 0) {
		snprintf(err, errlen,
			 "the volume names KEK %s, not the expected %s "
			 "(kek= option): refusing to use it",
			 v->conf.kek, o->pin_kek);
		return -1;
	}
	if (o->no_pin_store)
		return 0;
	have = pin_read(v->conf.volume_id, &p, err, errlen);
	if (have < 0)
		return -1;
	if (have && strcmp(p.kek, v->conf.kek) != 0 &&
	    !pin_is_previous(v, o, &p)) {
		pin_path(v->conf.volume_id, path, sizeof(path));
		snprintf(err, errlen,
			 "the volume config names KEK %s but this machine "
			 "pinned %s (%s): the config may have been tampered "
			 "with; if the change is intended, update the pin",
			 v->conf.kek, p.kek, path);
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

	/* An HSM that throttles us is there and asks for patience: a few
	 * more tries, backing off, before the volume is refused. */
	for (unsigned wait = 1;; wait *= 2) {
		n = sizeof(rec);
		st = kek_unwrap(v->kek, v->conf.vk.kid, v->conf.vk.alg,
				v->conf.vk.wrapped, v->conf.vk.wlen, rec, &n,
				kerr);
		if (st != KEK_E_THROTTLED || wait > 8)
			break;
		sleep(wait);
	}
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

/* Checks the volume key against the pin, or pins it on first use. */
static int check_kcv(struct vol *v, char *err, size_t errlen)
{
	uint8_t kcv[PIN_KCV_LEN];
	char path[640];
	struct pin p;
	int have;

	if (v->opts->no_pin_store)
		return 0;
	if ((have = pin_read(v->conf.volume_id, &p, err, errlen)) < 0 ||
	    pin_kcv(v->vk, kcv) != 0)
		return -1;
	pin_path(v->conf.volume_id, path, sizeof(path));
	if (have && !keys_equal(kcv, p.kcv, PIN_KCV_LEN)) {
		snprintf(err, errlen,
			 "the volume key differs from the one pinned in %s: "
			 "the config has been replaced", path);
		return -1;
	}
	if (have || v->opts->pin_readonly)
		return 0;
	snprintf(p.kek, sizeof(p.kek), "%s", v->conf.kek);
	memcpy(p.kcv, kcv, PIN_KCV_LEN);
	log_info("first use of this volume on this machine: pinned its KEK "
		 "and volume key in %s", path);
	return pin_write(v->conf.volume_id, &p, err, errlen);
}

/* The mount's hsm_endpoint list serves the KEK it was given for; any
 * other KEK (a previous one, or the target of a rekey --to) is reached
 * at its own host. */
static enum kek_status open_other(const char *url, const struct vol_opts *o,
				  struct kek **k, char *kerr)
{
	struct kek_opts ko = o->kek;

	memset(ko.endpoints, 0, sizeof(ko.endpoints));
	return kek_open(url, &ko, k, kerr);
}

static int open_keks(struct vol *v, const struct vol_opts *o, char *err,
		     size_t errlen)
{
	char kerr[KEK_ERR_MAX];

	if (kek_open(v->conf.kek, &o->kek, &v->kek, kerr) != KEK_OK) {
		snprintf(err, errlen, "cannot use KEK %s: %s", v->conf.kek, kerr);
		return -1;
	}
	if (!kek_owns(v->kek, v->conf.vk.kid)) {
		snprintf(err, errlen, "volume key wrapped by %s, which is not "
			 "a version of %s", v->conf.vk.kid, v->conf.kek);
		return -1;
	}
	for (int i = 0; i < v->conf.nprev; i++) {
		if (open_other(v->conf.prev_kek[i], o, &v->old[v->nold],
			       kerr) != KEK_OK) {
			snprintf(err, errlen, "cannot use previous KEK %s: %s",
				 v->conf.prev_kek[i], kerr);
			return -1;
		}
		v->nold++;
	}
	return 0;
}

int vol_peek(struct vol *v, const char *cipherdir, const struct vol_opts *o,
	     char *err, size_t errlen)
{
	const char *why;

	memset(v, 0, sizeof(*v));
	pthread_mutex_init(&v->kek_lock, NULL);
	v->opts = o;
	err[0] = '\0';
	v->rootfd = open(cipherdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (v->rootfd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", cipherdir,
			 strerror(errno));
		return -1;
	}
	v->cipherdir = realpath(cipherdir, NULL);
	if (!v->cipherdir) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (conf_load(v->rootfd, &v->conf, &why)) {
		snprintf(err, errlen, "%s/%s: %s", cipherdir, CONF_NAME, why);
		goto fail;
	}
	if (check_kek_pin(v, o, err, errlen) || open_keks(v, o, err, errlen))
		goto fail;
	return 0;
fail:
	vol_close(v);
	return -1;
}

/* Puts a MAC check's failure into words: bad when the bytes are not
 * authentic, else that the MAC of what could not be computed. Returns e. */
static int mac_result(int e, const char *bad, const char *what, char *out,
		      size_t n)
{
	if (e == -EBADMSG)
		snprintf(out, n, "%s", bad);
	else if (e)
		snprintf(out, n, "cannot check the MAC of %s: %s", what,
			 strerror(-e));
	return e;
}

static int verify_conf(const struct vol *v, const struct conf *c, char *err,
		       size_t errlen)
{
	return mac_result(conf_verify(c, v->vk), CONF_NAME " failed "
			  "authentication: it has been modified", CONF_NAME,
			  err, errlen) ? -1 : 0;
}

int vol_unlock(struct vol *v, char *err, size_t errlen)
{
	if (!v->vk && !(v->vk = secmem_alloc(KEY_LEN))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (unwrap_vk(v, err, errlen))
		return -1;
	if (verify_conf(v, &v->conf, err, errlen))
		return -1;
	if (check_kcv(v, err, errlen))
		return -1;
	if (!(v->nk = names_keys_new(v->vk))) {
		snprintf(err, errlen, "cannot derive the name keys");
		return -1;
	}
	v->cache = dekcache_new(v->opts->cache_entries, v->opts->cache_ttl_s);
	if (!v->cache) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&v->sf_lock, NULL);
	pthread_cond_init(&v->sf_done, NULL);
	return 0;
}

int vol_open(struct vol *v, const char *cipherdir, const struct vol_opts *o,
	     char *err, size_t errlen)
{
	if (vol_peek(v, cipherdir, o, err, errlen))
		return -1;
	if (vol_unlock(v, err, errlen) == 0)
		return 0;
	vol_close(v);
	return -1;
}

void vol_close(struct vol *v)
{
	if (v->cache) {
		pthread_mutex_destroy(&v->sf_lock);
		pthread_cond_destroy(&v->sf_done);
	}
	dekcache_free(v->cache);
	names_keys_free(v->nk);
	secmem_free(v->vk, KEY_LEN);
	kek_close(v->kek);
	for (int i = 0; i < v->nold; i++)
		kek_close(v->old[i]);
	free(v->cipherdir);
	if (v->rootfd > 0)
		close(v->rootfd);
	pthread_mutex_destroy(&v->kek_lock);
	memset(v, 0, sizeof(*v));
	v->rootfd = -1;
}

struct kek *vol_kek(struct vol *v)
{
	struct kek *k;

	pthread_mutex_lock(&v->kek_lock);
	k = v->kek;
	pthread_mutex_unlock(&v->kek_lock);
	return k;
}

struct kek *vol_kek_for(struct vol *v, const char *kid)
{
	struct kek *k = NULL;

	pthread_mutex_lock(&v->kek_lock);
	if (kek_owns(v->kek, kid))
		k = v->kek;
	for (int i = v->nold - 1; !k && i >= 0; i--)
		if (kek_owns(v->old[i], kid))
			k = v->old[i];
	pthread_mutex_unlock(&v->kek_lock);
	return k;
}

/* A reloaded config must be this volume's, sealed by its volume key, and
 * agree with the pin: the same rules as at mount time. */
static int reload_check(struct vol *v, const struct conf *c, char *err,
			size_t errlen)
{
	const struct vol_opts *o = v->opts;
	uint8_t kcv[PIN_KCV_LEN];
	struct pin p;
	int have;

	if (!keys_equal(c->volume_id, v->conf.volume_id, ID_LEN) ||
	    c->features != v->conf.features) {
		snprintf(err, errlen, "%s failed authentication", CONF_NAME);
		return -1;
	}
	if (verify_conf(v, c, err, errlen))
		return -1;
	if (o->pin_kek && strcmp(o->pin_kek, c->kek) != 0) {
		snprintf(err, errlen, "mounted with kek=%s but the config now "
			 "names %s: remount with the new kek= option",
			 o->pin_kek, c->kek);
		return -1;
	}
	if (o->no_pin_store)
		return 0;
	if ((have = pin_read(c->volume_id, &p, err, errlen)) < 0 ||
	    pin_kcv(v->vk, kcv) != 0)
		return -1;
	if (have && (strcmp(p.kek, c->kek) != 0 ||
		     !keys_equal(kcv, p.kcv, PIN_KCV_LEN))) {
		snprintf(err, errlen, "the config names KEK %s but the pin "
			 "names %s: refusing it", c->kek, p.kek);
		return -1;
	}
	return 0;
}

int vol_reload(struct vol *v, char *err, size_t errlen)
{
	struct kek *nk = NULL, *cur = vol_kek(v);
	char kerr[KEK_ERR_MAX];
	struct kek_info info;
	struct conf c;
	const char *why;
	int same;

	err[0] = '\0';
	if (conf_load(v->rootfd, &c, &why)) {
		snprintf(err, errlen, "%s: %s", CONF_NAME, why);
		return -1;
	}
	if (reload_check(v, &c, err, errlen))
		return -1;
	pthread_mutex_lock(&v->kek_lock);
	same = strcmp(c.kek, v->conf.kek) == 0;
	pthread_mutex_unlock(&v->kek_lock);
	if (!same && v->nold == VOL_KEKS_MAX) {
		snprintf(err, errlen, "too many KEKs in use: remount");
		return -1;
	}
	if (!same && open_other(c.kek, v->opts, &nk, kerr) != KEK_OK) {
		snprintf(err, errlen, "cannot use KEK %s: %s", c.kek, kerr);
		return -1;
	}
	/* Also picks up a rotation: wraps use the version described. */
	if (kek_describe(nk ? nk : cur, &info, kerr) != KEK_OK ||
	    !kek_owns(nk ? nk : cur, c.vk.kid)) {
		snprintf(err, errlen, "cannot use KEK %s: %s", c.kek,
			 kek_owns(nk ? nk : cur, c.vk.kid) ? kerr :
			 "the volume key is not wrapped by it");
		kek_close(nk);
		return -1;
	}
	pthread_mutex_lock(&v->kek_lock);
	if (nk) {
		v->old[v->nold++] = v->kek;
		v->kek = nk;
	}
	v->conf = c;
	pthread_mutex_unlock(&v->kek_lock);
	return 0;
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
	st = kek_wrap(vol_kek(v), rec, sizeof(rec), s->wrapped, &wl, s->kid,
		      &s->alg, kerr);
	secmem_wipe(rec, sizeof(rec));
	if (st != KEK_OK) {
		log_err("cannot wrap a new file key: %s", kerr);
		secmem_wipe(dek, KEY_LEN);
		return st == KEK_E_AUTH || st == KEK_E_FORBIDDEN ? -EACCES
								 : -EIO;
	}
	atomic_fetch_add(&v->wraps, 1);
	s->wlen = (uint16_t)wl;
	s->gen = 1;
	if (hdr_slot_seal(h, 0, v->vk, dek) != 0) {
		secmem_wipe(dek, KEY_LEN);
		return -EIO;
	}
	dekcache_id(s->kid, s->alg, s->wrapped, s->wlen, id);
	dekcache_put(v->cache, id, dek);
	return 0;
}

static int sf_find(struct vol *v, const uint8_t *id)
{
	for (unsigned i = 0; i < v->sf_n; i++)
		if (memcmp(v->sf_ids[i], id, DEKCACHE_ID_LEN) == 0)
			return (int)i;
	return -1;
}

/* The cached key (1), or 0 after registering as its unwrapper: an unwrap
 * of the same key already under way is waited for, not repeated. */
static int sf_get_or_claim(struct vol *v, const uint8_t *id,
			   uint8_t dek[KEY_LEN], bool *claimed)
{
	int hit = 0;

	*claimed = false;
	pthread_mutex_lock(&v->sf_lock);
	while (!(hit = dekcache_get(v->cache, id, dek)) && sf_find(v, id) >= 0)
		pthread_cond_wait(&v->sf_done, &v->sf_lock);
	if (!hit && v->sf_n < sizeof(v->sf_ids) / sizeof(v->sf_ids[0])) {
		memcpy(v->sf_ids[v->sf_n++], id, DEKCACHE_ID_LEN);
		*claimed = true;
	}
	pthread_mutex_unlock(&v->sf_lock);
	return hit;
}

static void sf_release(struct vol *v, const uint8_t *id)
{
	int i;

	pthread_mutex_lock(&v->sf_lock);
	if ((i = sf_find(v, id)) >= 0)
		memcpy(v->sf_ids[i], v->sf_ids[--v->sf_n], DEKCACHE_ID_LEN);
	pthread_cond_broadcast(&v->sf_done);
	pthread_mutex_unlock(&v->sf_lock);
}

/* Asks the HSM for a slot's DEK and caches it. */
static int unwrap_slot(struct vol *v, struct kek *k, const struct hdr *h,
		       const struct hdr_slot *s, const uint8_t *id,
		       uint8_t dek[KEY_LEN], enum kek_status *stp, char *why,
		       size_t n)
{
	uint8_t rec[KEK_WRAPPED_MAX];
	char kerr[KEK_ERR_MAX];
	size_t rl = sizeof(rec);
	enum kek_status st;

	atomic_fetch_add(&v->unwraps, 1);
	st = kek_unwrap(k, s->kid, s->alg, s->wrapped, s->wlen, rec, &rl, kerr);
	if (st != KEK_OK) {
		atomic_fetch_add(&v->unwrap_errors, 1);
		*stp = st;
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

/* One slot: the cache, else the HSM. 0, or a kek_status-derived errno. */
static int slot_key(struct vol *v, const struct hdr *h, int i,
		    uint8_t dek[KEY_LEN], enum kek_status *stp, char *why,
		    size_t n, bool *unwrapped)
{
	const struct hdr_slot *s = &h->slot[i];
	struct kek *k = vol_kek_for(v, s->kid);
	uint8_t id[DEKCACHE_ID_LEN];
	bool claimed;
	int err;

	if (!k) {
		snprintf(why, n, "key slot names %s, not a version of %s",
			 s->kid, v->conf.kek);
		return -EIO;
	}
	dekcache_id(s->kid, s->alg, s->wrapped, s->wlen, id);
	if (sf_get_or_claim(v, id, dek, &claimed))
		return 0;
	*unwrapped = true;
	err = unwrap_slot(v, k, h, s, id, dek, stp, why, n);
	if (claimed)
		sf_release(v, id);
	return err;
}

static int file_key_slot(struct vol *v, const struct hdr *h,
			 uint8_t dek[KEY_LEN], enum kek_status *st, char *why,
			 size_t whylen, bool *unwrapped)
{
	int order[HDR_SLOTS], n = hdr_slot_order(h, order), err = -EIO;

	*st = KEK_OK;
	*unwrapped = false;
	snprintf(why, whylen, "no usable key slot");
	for (int j = 0; j < n; j++) {
		int e = slot_key(v, h, order[j], dek, st, why, whylen,
				 unwrapped);

		if (e == 0)
			e = mac_result(hdr_slot_verify(h, order[j], v->vk, dek),
				       "header failed authentication",
				       "the header", why, whylen);
		if (e == 0)
			return order[j];
		if (e != -EBADMSG && err != -EACCES)
			err = e;
		secmem_wipe(dek, KEY_LEN);
	}
	return err;
}

int vol_file_key_slot(struct vol *v, const struct hdr *h,
		      uint8_t dek[KEY_LEN], enum kek_status *st, char *why,
		      size_t whylen)
{
	bool unwrapped;

	return file_key_slot(v, h, dek, st, why, whylen, &unwrapped);
}

int vol_load_file_key(struct vol *v, const struct hdr *h,
		      uint8_t dek[KEY_LEN], const char *what, bool *unwrapped)
{
	char why[KEK_ERR_MAX + 128];
	enum kek_status st;
	bool asked;
	int r = file_key_slot(v, h, dek, &st, why, sizeof(why),
			      unwrapped ? unwrapped : &asked);

	if (r >= 0)
		return 0;
	if (what)
		log_err("%s: %s", what, why);
	return r;
}
