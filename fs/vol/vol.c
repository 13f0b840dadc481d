/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opening a volume, and the trust rules that go with it: a config is used
 * only if its KEK is the one the operator expects (kek=, the pin) before
 * any request goes to it, and its MAC and the volume key's check value
 * verify after.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "pin.h"
#include "vol.h"

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
	char kerr[KEK_ERR_MAX];
	enum kek_status st;
	int r;

	/* An HSM that throttles us is there and asks for patience: a few
	 * more tries, backing off, before the volume is refused. */
	for (unsigned wait = 1;; wait *= 2) {
		r = vol_unwrap_slot(v->kek, REC_MAGIC_VK, v->conf.volume_id,
				    &v->conf.vk, v->vk, &st, kerr);
		if (r == 0 || st != KEK_E_THROTTLED || wait > 8)
			break;
		sleep(wait);
	}
	if (r == -EBADMSG) {
		snprintf(err, errlen,
			 "the wrapped volume key is not for this volume");
		return -1;
	}
	if (r) {
		snprintf(err, errlen, "cannot unwrap the volume key with %s: %s",
			 v->conf.vk.kid, kerr);
		return VOL_EKEK;
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
enum kek_status vol_kek_open_other(const char *url, const struct vol_opts *o,
				   struct kek **k, char kerr[KEK_ERR_MAX])
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
		if (vol_kek_open_other(v->conf.prev_kek[i], o, &v->old[v->nold],
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

/* The config's MAC: "modified" only when it is not authentic, not when
 * it could not be computed. */
static int verify_conf(const struct vol *v, const struct conf *c, char *err,
		       size_t errlen)
{
	int e = conf_verify(c, v->vk);

	if (e == -EBADMSG)
		snprintf(err, errlen, "%s failed authentication: it has been "
			 "modified", CONF_NAME);
	else if (e)
		snprintf(err, errlen, "cannot check the MAC of %s: %s",
			 CONF_NAME, strerror(-e));
	return e ? -1 : 0;
}

int vol_unlock(struct vol *v, char *err, size_t errlen)
{
	int e;

	if (!v->vk && !(v->vk = secmem_alloc(KEY_LEN))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((e = unwrap_vk(v, err, errlen)))
		return e;
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
	int e;

	if (vol_peek(v, cipherdir, o, err, errlen))
		return -1;
	if ((e = vol_unlock(v, err, errlen)) == 0)
		return 0;
	vol_close(v);
	return e;
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
	/* Alone, the holder's line is ours: a stale one would name us to
	 * whoever next finds the lock taken by something that wrote none. */
	if (v->claimfd > 0 && v->claim_alone)
		(void)!ftruncate(v->claimfd, 0);
	if (v->claimfd > 0)
		close(v->claimfd);
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
	if (!same && vol_kek_open_other(c.kek, v->opts, &nk, kerr) != KEK_OK) {
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
