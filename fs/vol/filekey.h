/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-file key service of an unlocked volume: a fresh DEK for a new
 * file, and an existing file's DEK from the cache or the HSM (one unwrap
 * per key however many openers ask at once), always checked against the
 * header MAC. Errors are -errno as the application sees them: -EACCES
 * when the HSM refuses the caller, -EIO for the rest.
 */
#ifndef HSMFS_VOL_FILEKEY_H
#define HSMFS_VOL_FILEKEY_H

#include "vol.h"

/* A fresh DEK and file id, wrapped into a new header h. 0 or -errno. */
int vol_new_file_key(struct vol *v, struct hdr *h, uint8_t dek[KEY_LEN]);
/* The same for a given file id: rekey --data keeps a file's id, which
 * format 3 binds the file's xattrs to. */
int vol_new_file_key_for(struct vol *v, const uint8_t id[ID_LEN],
			 struct hdr *h, uint8_t dek[KEY_LEN]);
/* Caches dek as the key of slot s, as an unwrap of it would. */
void vol_file_key_cache(struct vol *v, const struct hdr_slot *s,
			const uint8_t dek[KEY_LEN]);

/* Where a file key came from. */
enum vol_key_src {
	VOL_KEY_CACHE, /* the DEK cache */
	VOL_KEY_HSM,   /* a slot unwrapped by the HSM */
	VOL_KEY_LOCAL, /* a slot unwrapped by the wrapping key */
};

/* The DEK of a header. what names the file in the log line of a failure
 * (NULL: no log line, for prefetching); *src (if not NULL) tells where
 * it came from. The slot that gave it (>= 0), or -errno (EIO, EACCES). */
int vol_load_file_key(struct vol *v, const struct hdr *h,
		      uint8_t dek[KEY_LEN], const char *what,
		      enum vol_key_src *src);
/* The same without logging: returns the slot that gave the DEK (>= 0), or
 * -errno with why set and *st the last HSM status (KEK_OK if the HSM
 * answered but the slot did not verify), so callers can retry throttling
 * and report the cause (and name the file only then). */
int vol_file_key_slot(struct vol *v, const struct hdr *h,
		      uint8_t dek[KEY_LEN], enum kek_status *st,
		      enum vol_key_src *src, char *why, size_t whylen);

#endif
