/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key slots: the only place a key is wrapped into a slot or unwrapped out
 * of one. What a KEK wraps is a record binding the key to its file or
 * volume (crypto/hdr.h), never the bare key.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vol.h"

int vol_kek_errno(enum kek_status st)
{
	if (st == KEK_OK)
		return 0;
	return st == KEK_E_AUTH || st == KEK_E_FORBIDDEN ? -EACCES : -EIO;
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
