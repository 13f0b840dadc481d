/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Changing a volume's wrap mode (hsmfs rekey --to-wrap, FORMAT.md section
 * 8.6). The configs a conversion writes change what wraps the volume key
 * and what a key slot may be, which a running daemon does not follow
 * (vol_reload refuses them): they are written only by a process that
 * claims the volume alone, and it takes them as its own at once.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vol.h"

/* The key of generation gen that v holds, or NULL. Under wk_lock. */
static const uint8_t *held_wk(const struct vol *v, uint32_t gen)
{
	for (int i = 0; i < v->nwk; i++)
		if (v->wk[i].gen == gen)
			return v->wk[i].key;
	return NULL;
}

/* c's wrapping keys into wk: the generations v holds copied, a new one
 * unwrapped by the HSM. 0, -1 or VOL_EKEK with err. */
static int open_wks(struct vol *v, const struct conf *c,
		    struct vol_wk wk[CONF_WK_MAX], char *err, size_t errlen)
{
	char kerr[KEK_ERR_MAX];
	enum kek_status st;
	const uint8_t *have;
	int r;

	for (int i = 0; i < c->nwk; i++) {
		wk[i].gen = c->wk[i].gen;
		if (!(wk[i].key = secmem_alloc(KEY_LEN))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		pthread_rwlock_rdlock(&v->wk_lock);
		if ((have = held_wk(v, wk[i].gen)))
			memcpy(wk[i].key, have, KEY_LEN);
		pthread_rwlock_unlock(&v->wk_lock);
		if (have)
			continue;
		r = vol_unwrap_slot(v->kek, REC_MAGIC_WK, c->volume_id,
				    &c->wk[i], wk[i].key, &st, kerr);
		if (r) {
			snprintf(err, errlen, "cannot unwrap wrapping key "
				 "generation %u with %s: %s", wk[i].gen,
				 c->wk[i].kid, kerr);
			return r == -EBADMSG ? -1 : VOL_EKEK;
		}
	}
	return 0;
}

/* The volume key of c, opened the way c says (locally by one of wk, or
 * by the HSM), into k. 0, -1 or VOL_EKEK with err. */
static int open_vk(struct vol *v, const struct conf *c,
		   const struct vol_wk wk[CONF_WK_MAX], uint8_t k[KEY_LEN],
		   char *err, size_t errlen)
{
	char kerr[KEK_ERR_MAX];
	enum kek_status st;
	const uint8_t *w = NULL;
	uint32_t gen;
	int r;

	if (!(c->features & FEAT_VOLUME_WRAP)) {
		r = vol_unwrap_slot(v->kek, REC_MAGIC_VK, c->volume_id, &c->vk,
				    k, &st, kerr);
		if (r)
			snprintf(err, errlen, "cannot unwrap the volume key "
				 "with %s: %s", c->vk.kid, kerr);
		return !r ? 0 : r == -EBADMSG ? -1 : VOL_EKEK;
	}
	if (hdr_wk_kid_gen(c->vk.kid, c->volume_id, &gen) == 0)
		for (int i = 0; i < c->nwk; i++)
			if (wk[i].gen == gen)
				w = wk[i].key;
	if (!w || hdr_wk_unwrap(w, &c->vk, REC_MAGIC_VK, c->volume_id, k)) {
		snprintf(err, errlen, "the volume key does not open with its "
			 "wrapping key");
		return -1;
	}
	return 0;
}

/* c must hold v's volume key and be sealed by it. */
static int check_keys(struct vol *v, const struct conf *c,
		      const struct vol_wk wk[CONF_WK_MAX], char *err,
		      size_t errlen)
{
	uint8_t *k = secmem_alloc(KEY_LEN);
	int r = -1;

	if (!k)
		snprintf(err, errlen, "out of memory");
	else if ((r = open_vk(v, c, wk, k, err, errlen)) == 0 &&
		 (!keys_equal(k, v->vk, KEY_LEN) || conf_verify(c, v->vk))) {
		snprintf(err, errlen, "the new config does not hold this "
			 "volume's key");
		r = -1;
	}
	secmem_free(k, KEY_LEN);
	return r;
}

/* c becomes v's, and wk its wrapping keys; wk gets the ones v held. */
static void adopt(struct vol *v, const struct conf *c,
		  struct vol_wk wk[CONF_WK_MAX])
{
	struct vol_wk old[CONF_WK_MAX];

	pthread_rwlock_wrlock(&v->wk_lock);
	memcpy(old, v->wk, sizeof(old));
	memcpy(v->wk, wk, sizeof(old));
	v->nwk = c->nwk;
	v->revoked = false;
	pthread_rwlock_unlock(&v->wk_lock);
	memcpy(wk, old, sizeof(old));
	pthread_mutex_lock(&v->kek_lock);
	v->conf = *c;
	pthread_mutex_unlock(&v->kek_lock);
}

int vol_conv_store(struct vol *v, const struct conf *c, char *err,
		   size_t errlen)
{
	struct vol_wk wk[CONF_WK_MAX] = { 0 };
	int r = -1, e;

	if (v->claimfd <= 0 || !v->claim_alone)
		snprintf(err, errlen, "changing the wrap mode needs the "
			 "volume claimed alone");
	else if ((r = open_wks(v, c, wk, err, errlen)) == 0 &&
		 (r = check_keys(v, c, wk, err, errlen)) == 0 &&
		 (e = conf_store(v->rootfd, c)) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", CONF_NAME,
			 strerror(-e));
		r = -1;
	}
	if (r == 0)
		adopt(v, c, wk);
	for (int i = 0; i < CONF_WK_MAX; i++)
		secmem_free(wk[i].key, KEY_LEN);
	return r;
}
