/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-file key service: a new file's key, wrapped; an existing
 * file's key from the cache or the HSM, one unwrap per key however many
 * openers ask at once.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "filekey.h"

_Static_assert(DEKCACHE_KEY_LEN == KEY_LEN, "the DEK cache holds DEKs");

int vol_new_file_key(struct vol *v, struct hdr *h, uint8_t dek[KEY_LEN])
{
	uint8_t id[ID_LEN];

	if (keys_random(id, ID_LEN))
		return -EIO;
	return vol_new_file_key_for(v, id, h, dek);
}

int vol_new_file_key_for(struct vol *v, const uint8_t fid[ID_LEN],
			 struct hdr *h, uint8_t dek[KEY_LEN])
{
	char kerr[KEK_ERR_MAX];
	struct hdr_slot *s = &h->slot[0];
	enum kek_status st;

	memset(h, 0, sizeof(*h));
	memcpy(h->file_id, fid, ID_LEN);
	if (keys_random(dek, KEY_LEN)) {
		secmem_wipe(dek, KEY_LEN);
		return -EIO;
	}
	if (vol_volume_wrap(v)) {
		int e = vol_wk_wrap_slot(v, REC_MAGIC_DEK, h->file_id, dek, 0,
					 s, kerr, sizeof(kerr));

		if (e) {
			log_err("cannot wrap a new file key: %s", kerr);
			secmem_wipe(dek, KEY_LEN);
			return e;
		}
	} else {
		st = vol_wrap_slot(vol_kek(v), REC_MAGIC_DEK, h->file_id, dek,
				   s, kerr);
		if (st != KEK_OK) {
			log_err("cannot wrap a new file key: %s", kerr);
			secmem_wipe(dek, KEY_LEN);
			return vol_kek_errno(st);
		}
		atomic_fetch_add(&v->wraps, 1);
	}
	s->gen = 1;
	if (hdr_slot_seal(h, 0, v->vk, dek) != 0) {
		secmem_wipe(dek, KEY_LEN);
		return -EIO;
	}
	vol_file_key_cache(v, s, dek);
	return 0;
}

void vol_file_key_cache(struct vol *v, const struct hdr_slot *s,
			const uint8_t dek[KEY_LEN])
{
	uint8_t id[DEKCACHE_ID_LEN];

	dekcache_id(s->kid, s->alg, s->wrapped, s->wlen, id);
	dekcache_put(v->cache, id, dek);
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
	char kerr[KEK_ERR_MAX];
	enum kek_status st;
	int err;

	atomic_fetch_add(&v->unwraps, 1);
	err = vol_unwrap_slot(k, REC_MAGIC_DEK, h->file_id, s, dek, &st, kerr);
	if (err == -EBADMSG) {
		snprintf(why, n, "wrapped key belongs to another file");
		return -EIO;
	}
	if (err) {
		atomic_fetch_add(&v->unwrap_errors, 1);
		*stp = st;
		snprintf(why, n, "cannot unwrap its key: %s", kerr);
		return err;
	}
	dekcache_put(v->cache, id, dek);
	return 0;
}

/* volume-wrap: a slot is opened locally, no HSM involved; the cache
 * still serves, so that a revocation ends what it holds too. */
static int local_slot_key(struct vol *v, const struct hdr *h,
			  const struct hdr_slot *s, uint8_t dek[KEY_LEN],
			  enum kek_status *stp, char *why, size_t n,
			  enum vol_key_src *src)
{
	uint8_t id[DEKCACHE_ID_LEN];
	int err;

	dekcache_id(s->kid, s->alg, s->wrapped, s->wlen, id);
	if (dekcache_get(v->cache, id, dek))
		return 0;
	atomic_fetch_add(&v->local_unwraps, 1);
	*src = VOL_KEY_LOCAL;
	err = vol_wk_unwrap_slot(v, REC_MAGIC_DEK, h->file_id, s, dek, why, n);
	if (err == -EACCES)
		*stp = KEK_E_FORBIDDEN;
	if (err)
		return err == -EACCES ? -EACCES : -EIO;
	dekcache_put(v->cache, id, dek);
	return 0;
}

/* One slot: the cache, else the HSM (or, for a local slot, the wrapping
 * key). 0, or a kek_status-derived errno. */
static int slot_key(struct vol *v, const struct hdr *h, int i,
		    uint8_t dek[KEY_LEN], enum kek_status *stp, char *why,
		    size_t n, enum vol_key_src *src)
{
	const struct hdr_slot *s = &h->slot[i];
	uint8_t id[DEKCACHE_ID_LEN];
	struct kek *k;
	bool claimed;
	int err;

	if (vol_slot_known(v, s, why, n))
		return -EIO;
	/* Known: alg 4 only where local slots are (volume-wrap), any other
	 * alg only where KEK slots are (file mode, or a conversion). */
	if (s->alg == KEK_ALG_WK_SIV)
		return local_slot_key(v, h, s, dek, stp, why, n, src);
	k = vol_kek_for(v, s->kid);
	dekcache_id(s->kid, s->alg, s->wrapped, s->wlen, id);
	if (sf_get_or_claim(v, id, dek, &claimed))
		return 0;
	*src = VOL_KEY_HSM;
	err = unwrap_slot(v, k, h, s, id, dek, stp, why, n);
	if (claimed)
		sf_release(v, id);
	return err;
}

static int file_key_slot(struct vol *v, const struct hdr *h,
			 uint8_t dek[KEY_LEN], enum kek_status *st, char *why,
			 size_t whylen, enum vol_key_src *src)
{
	int order[HDR_SLOTS], n = hdr_slot_order(h, order), err = -EIO;

	*st = KEK_OK;
	*src = VOL_KEY_CACHE;
	snprintf(why, whylen, "no usable key slot");
	for (int j = 0; j < n; j++) {
		int e = slot_key(v, h, order[j], dek, st, why, whylen, src);

		if (e == 0 && (e = hdr_slot_verify(h, order[j], v->vk, dek)) == 0)
			return order[j];
		if (e == -EBADMSG)
			snprintf(why, whylen, "header failed authentication");
		else if (err != -EACCES)
			err = e;
		secmem_wipe(dek, KEY_LEN);
	}
	return err;
}

int vol_file_key_slot(struct vol *v, const struct hdr *h,
		      uint8_t dek[KEY_LEN], enum kek_status *st,
		      enum vol_key_src *src, char *why, size_t whylen)
{
	enum vol_key_src from;

	return file_key_slot(v, h, dek, st, why, whylen, src ? src : &from);
}

int vol_load_file_key(struct vol *v, const struct hdr *h,
		      uint8_t dek[KEY_LEN], const char *what,
		      enum vol_key_src *src)
{
	char why[KEK_ERR_MAX + 128];
	enum kek_status st;
	enum vol_key_src from;
	int r = file_key_slot(v, h, dek, &st, why, sizeof(why),
			      src ? src : &from);

	if (r >= 0)
		return r;
	if (what)
		log_err("%s: %s", what, why);
	return r;
}
