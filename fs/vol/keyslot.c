/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key slots: the only place a key is wrapped into a slot or unwrapped out
 * of one. What a KEK wraps is a record binding the key to its file or
 * volume (crypto/hdr.h), never the bare key. A volume-wrap volume
 * wraps file keys (and its volume key) locally with its wrapping key:
 * the vol_wk_ functions.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/fit.h"
#include "vol.h"

int vol_kek_errno(enum kek_status st)
{
	if (st == KEK_OK)
		return 0;
	return st == KEK_E_AUTH || st == KEK_E_FORBIDDEN ? -EACCES : -EIO;
}

void vol_kek_failed(char *err, size_t errlen, enum kek_status st,
		    const char *kerr, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (st == KEK_E_UNTRUSTED) {
		snprintf(err, errlen, "%s", kerr);
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < errlen)
		fit_fmt(err + n, errlen - (size_t)n, ": %s", kerr);
}

enum kek_status vol_wrap_slot(struct kek *k, const char magic[8],
			      const uint8_t id[ID_LEN],
			      const uint8_t key[KEY_LEN], struct hdr_slot *s,
			      char kerr[KEK_ERR_MAX])
{
	uint8_t rec[REC_LEN];
	size_t wl = 0;
	enum kek_status st;

	rec_pack(magic, id, key, rec);
	st = kek_wrap(k, rec, sizeof(rec), s->wrapped, &wl, s->kid, &s->alg,
		      kerr);
	secmem_wipe(rec, sizeof(rec));
	if (st == KEK_OK)
		s->wlen = (uint16_t)wl;
	return st;
}

int vol_unwrap_slot(struct kek *k, const char magic[8],
		    const uint8_t id[ID_LEN], const struct hdr_slot *s,
		    uint8_t key[KEY_LEN], enum kek_status *st,
		    char kerr[KEK_ERR_MAX])
{
	uint8_t rec[KEK_WRAPPED_MAX];
	size_t rl = sizeof(rec);

	/* A local slot's kid is no KEK's: it goes nowhere. */
	if (s->alg == KEK_ALG_WK_SIV) {
		*st = KEK_E_INVAL;
		snprintf(kerr, KEK_ERR_MAX, "the key is wrapped locally");
		return -EIO;
	}

	*st = kek_unwrap(k, s->kid, s->alg, s->wrapped, s->wlen, rec, &rl,
			 kerr);
	if (*st != KEK_OK) {
		/* A provider may have written part of a key before failing. */
		secmem_wipe(rec, sizeof(rec));
		return vol_kek_errno(*st);
	}
	/* rec_unpack wipes rec whatever it finds. */
	if (rec_unpack(rec, rl, magic, id, key) != 0) {
		snprintf(kerr, KEK_ERR_MAX, "the wrapped key is bound to "
			 "another file or volume");
		return -EBADMSG;
	}
	return 0;
}

/* The held key of generation gen (0: the newest), under wk_lock. */
static const struct vol_wk *wk_find(const struct vol *v, uint32_t gen)
{
	for (int i = v->nwk - 1; i >= 0; i--)
		if (!gen || v->wk[i].gen == gen)
			return &v->wk[i];
	return NULL;
}

uint32_t vol_wk_current(struct vol *v)
{
	uint32_t g = 0;

	pthread_rwlock_rdlock(&v->wk_lock);
	if (v->nwk > 0)
		g = v->wk[v->nwk - 1].gen;
	pthread_rwlock_unlock(&v->wk_lock);
	return g;
}

int vol_wk_wrap_slot(struct vol *v, const char magic[8],
		     const uint8_t id[ID_LEN], const uint8_t key[KEY_LEN],
		     uint32_t gen, struct hdr_slot *s, char *why, size_t n)
{
	const struct vol_wk *w;
	int err = -EIO;

	pthread_rwlock_rdlock(&v->wk_lock);
	if (!(w = wk_find(v, gen)))
		snprintf(why, n, "no wrapping key of generation %u", gen);
	else if (!w->key)
		snprintf(why, n, "the KEK was revoked: keys wiped"), err = -EACCES;
	else if ((err = hdr_wk_wrap(w->key, v->conf.volume_id, w->gen, magic,
				    id, key, s)))
		snprintf(why, n, "cannot wrap the key locally");
	pthread_rwlock_unlock(&v->wk_lock);
	return err ? (err == -EACCES ? -EACCES : -EIO) : 0;
}

/* The generation a local slot names, if this volume holds it: 0, or -1
 * with why. Under wk_lock. */
static int slot_gen(const struct vol *v, const struct hdr_slot *s,
		    uint32_t *gen, char *why, size_t n)
{
	if (s->alg != KEK_ALG_WK_SIV) {
		snprintf(why, n, "key slot is wrapped by %s, not by this "
			 "volume's wrapping key", s->kid);
		return -1;
	}
	if (hdr_wk_kid_gen(s->kid, v->conf.volume_id, gen) != 0) {
		snprintf(why, n, "key slot names %s, not a wrapping key of "
			 "this volume", s->kid);
		return -1;
	}
	if (!wk_find(v, *gen)) {
		snprintf(why, n, "key slot names wrapping key generation %u, "
			 "which the config does not hold", *gen);
		return -1;
	}
	return 0;
}

int vol_wk_unwrap_slot(struct vol *v, const char magic[8],
		       const uint8_t id[ID_LEN], const struct hdr_slot *s,
		       uint8_t key[KEY_LEN], char *why, size_t n)
{
	const struct vol_wk *w;
	uint32_t gen;
	int err = -EIO;

	pthread_rwlock_rdlock(&v->wk_lock);
	if (slot_gen(v, s, &gen, why, n) != 0)
		goto out;
	w = wk_find(v, gen);
	if (!w->key) {
		snprintf(why, n, "the KEK was revoked: keys wiped");
		err = -EACCES;
		goto out;
	}
	err = hdr_wk_unwrap(w->key, s, magic, id, key);
	if (err == -EBADMSG)
		snprintf(why, n, "wrapped key does not open with wrapping key "
			 "generation %u, or belongs to another file", gen);
	else if (err)
		snprintf(why, n, "cannot unwrap the key locally");
	if (err && err != -EBADMSG)
		err = -EIO;
out:
	pthread_rwlock_unlock(&v->wk_lock);
	if (err)
		secmem_wipe(key, KEY_LEN);
	return err;
}

int vol_slot_known(struct vol *v, const struct hdr_slot *s, char *why,
		   size_t n)
{
	uint32_t gen;
	int r;

	if (!vol_volume_wrap(v) ||
	    (vol_converting(v) && s->alg != KEK_ALG_WK_SIV)) {
		if (vol_kek_for(v, s->kid))
			return 0;
		snprintf(why, n, "key slot names %s, not a version of %s",
			 s->kid, v->conf.kek);
		return -1;
	}
	pthread_rwlock_rdlock(&v->wk_lock);
	r = slot_gen(v, s, &gen, why, n);
	pthread_rwlock_unlock(&v->wk_lock);
	return r;
}

enum kek_status vol_wk_rewrap(struct vol *v, struct kek *k, struct conf *c,
			      char kerr[KEK_ERR_MAX])
{
	enum kek_status st = KEK_OK;

	pthread_rwlock_rdlock(&v->wk_lock);
	for (int i = 0; i < c->nwk && st == KEK_OK; i++) {
		const struct vol_wk *w = wk_find(v, c->wk[i].gen);
		uint32_t gen = c->wk[i].gen;

		if (!w || !w->key) {
			snprintf(kerr, KEK_ERR_MAX, "wrapping key generation "
				 "%u is not held", gen);
			st = KEK_E_INVAL;
			break;
		}
		st = vol_wrap_slot(k, REC_MAGIC_WK, c->volume_id, w->key,
				   &c->wk[i], kerr);
		c->wk[i].gen = gen;
	}
	pthread_rwlock_unlock(&v->wk_lock);
	return st;
}

/* A new generation's wk wrapped by every escrow KEK of c, into its
 * entries' slot c->nwk. */
static enum kek_status escrows_wrap(struct kek *const *escrow, struct conf *c,
				    uint32_t gen, const uint8_t wk[KEY_LEN],
				    char kerr[KEK_ERR_MAX])
{
	char why[KEK_ERR_MAX];
	enum kek_status st;

	for (int i = 0; i < c->nescrow; i++) {
		struct hdr_slot *s = &c->escrow[i].wk[c->nwk];

		memset(s, 0, sizeof(*s));
		st = vol_wrap_slot(escrow[i], REC_MAGIC_WK, c->volume_id, wk,
				   s, why);
		if (st != KEK_OK) {
			fit_fmt(kerr, KEK_ERR_MAX, "escrow KEK %s: %s",
				c->escrow[i].kek, why);
			return st;
		}
		s->gen = gen;
	}
	return KEK_OK;
}

enum kek_status vol_wk_add(struct vol *v, struct kek *k,
			   struct kek *const *escrow, struct conf *c,
			   char kerr[KEK_ERR_MAX])
{
	uint8_t *wk = secmem_alloc(KEY_LEN);
	struct hdr_slot *s = &c->wk[c->nwk];
	uint32_t gen = c->nwk > 0 ? c->wk[c->nwk - 1].gen + 1 : 1;
	enum kek_status st = KEK_E_NOMEM;

	if (c->nwk >= CONF_WK_MAX || gen == 0) {
		snprintf(kerr, KEK_ERR_MAX, "no room for another generation");
		st = KEK_E_INVAL;
		goto out;
	}
	if (!wk || keys_random(wk, KEY_LEN)) {
		snprintf(kerr, KEK_ERR_MAX, "out of memory or randomness");
		goto out;
	}
	memset(s, 0, sizeof(*s));
	if ((st = vol_wrap_slot(k, REC_MAGIC_WK, c->volume_id, wk, s,
				kerr)) != KEK_OK ||
	    (st = escrows_wrap(escrow, c, gen, wk, kerr)) != KEK_OK)
		goto out;
	s->gen = gen;
	/* The volume key follows the newest generation, so that the one
	 * being retired can go without touching it again. */
	if (hdr_wk_wrap(wk, c->volume_id, gen, REC_MAGIC_VK, c->volume_id,
			v->vk, &c->vk)) {
		snprintf(kerr, KEK_ERR_MAX, "cannot wrap the volume key");
		st = KEK_E_CRYPTO;
		goto out;
	}
	c->vk.gen = 1;
	c->nwk++;
out:
	secmem_free(wk, KEY_LEN);
	return st;
}

int vol_wk_drop_old(struct conf *c)
{
	if (c->nwk < 2)
		return 0;
	c->wk[0] = c->wk[c->nwk - 1];
	memset(&c->wk[1], 0, sizeof(c->wk[1]) * (CONF_WK_MAX - 1));
	for (int i = 0; i < c->nescrow; i++) {
		struct hdr_slot *w = c->escrow[i].wk;

		w[0] = w[c->nwk - 1];
		memset(&w[1], 0, sizeof(w[1]) * (CONF_WK_MAX - 1));
	}
	c->nwk = 1;
	return 1;
}

/* The new escrow KEK unwraps what it wrapped, s, back to the key v holds:
 * it serves this volume (role, key enabled), before the config says so. */
static enum kek_status escrow_proves(struct vol *v, struct kek *k,
				     const struct hdr_slot *s,
				     const uint8_t *want,
				     char kerr[KEK_ERR_MAX])
{
	uint8_t *back = secmem_alloc(KEY_LEN);
	enum kek_status st = KEK_E_NOMEM;
	char why[KEK_ERR_MAX];

	if (!back) {
		snprintf(kerr, KEK_ERR_MAX, "out of memory");
		return st;
	}
	if (vol_unwrap_slot(k, REC_MAGIC_WK, v->conf.volume_id, s, back, &st,
			    why) != 0) {
		fit_fmt(kerr, KEK_ERR_MAX, "it wraps but cannot unwrap: %s",
			why);
		st = st == KEK_OK ? KEK_E_CRYPTO : st;
	} else if (!keys_equal(back, want, KEY_LEN)) {
		snprintf(kerr, KEK_ERR_MAX, "it unwrapped another key");
		st = KEK_E_CRYPTO;
	}
	secmem_free(back, KEY_LEN);
	return st;
}

enum kek_status vol_escrow_add(struct vol *v, struct kek *k, const char *url,
			       struct conf *c, char kerr[KEK_ERR_MAX])
{
	struct conf_escrow *e = &c->escrow[c->nescrow];
	const struct vol_wk *w = NULL;
	enum kek_status st = KEK_OK;

	if (c->nescrow >= CONF_ESCROW_MAX) {
		snprintf(kerr, KEK_ERR_MAX, "no room for another escrow KEK");
		return KEK_E_INVAL;
	}
	memset(e, 0, sizeof(*e));
	snprintf(e->kek, sizeof(e->kek), "%s", url);
	pthread_rwlock_rdlock(&v->wk_lock);
	for (int i = 0; i < c->nwk && st == KEK_OK; i++) {
		if (!(w = wk_find(v, c->wk[i].gen)) || !w->key) {
			snprintf(kerr, KEK_ERR_MAX, "wrapping key generation "
				 "%u is not held", c->wk[i].gen);
			st = KEK_E_INVAL;
			break;
		}
		st = vol_wrap_slot(k, REC_MAGIC_WK, c->volume_id, w->key,
				   &e->wk[i], kerr);
		e->wk[i].gen = c->wk[i].gen;
	}
	/* Held across the unwrap: kek add's own volume, no other thread. */
	if (st == KEK_OK && w)
		st = escrow_proves(v, k, &e->wk[c->nwk - 1], w->key, kerr);
	pthread_rwlock_unlock(&v->wk_lock);
	if (st == KEK_OK)
		c->nescrow++;
	return st;
}

enum kek_status vol_conf_rewrap(struct vol *v, struct kek *k, struct conf *c,
				char kerr[KEK_ERR_MAX])
{
	if (vol_volume_wrap(v))
		return vol_wk_rewrap(v, k, c, kerr);
	return vol_wrap_slot(k, REC_MAGIC_VK, c->volume_id, v->vk, &c->vk,
			     kerr);
}
