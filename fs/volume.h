/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A mounted (or opened) volume: its config, its KEK, the keys derived from
 * the volume key, the DEK cache. Shared by the daemon and the tools.
 */
#ifndef HSMFS_VOLUME_H
#define HSMFS_VOLUME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "crypto/conf.h"
#include "crypto/hdr.h"
#include "crypto/names.h"
#include "hsmclient/dekcache.h"
#include "hsmclient/kek.h"

struct vol_opts {
	struct kek_opts kek;
	const char *pin_kek;   /* mount -o kek=URL: the KEK this volume must use */
	/* rekey --to URL: when the config already names URL, a pin naming
	 * one of its previous_keks is accepted (a run that stopped between
	 * writing the config and updating the pin). */
	const char *rekey_to;
	bool no_pin_store;     /* skip the local pin store */
	bool pin_readonly;     /* check a pin, never write one (fsck) */
	unsigned cache_entries;
	unsigned cache_ttl_s;
};

#define VOL_KEKS_MAX (CONF_PREV_MAX + 2)

struct vol {
	int rootfd; /* the backing directory */
	char *cipherdir;
	const struct vol_opts *opts;
	struct conf conf;
	uint8_t *vk; /* volume key, locked memory */
	/* kek wraps; it and old[] unwrap (each slot goes to the one that
	 * owns its kid). Changed only by vol_reload, under kek_lock; a
	 * handle is never freed before vol_close. */
	pthread_mutex_t kek_lock;
	struct kek *kek;
	struct kek *old[VOL_KEKS_MAX];
	int nold;
	struct names_keys *nk; /* names, symlink targets, xattrs */
	struct dekcache *cache;
	atomic_ullong unwraps, unwrap_errors, wraps;
	/* Unwraps in flight, by cache id: a second opener of the same key
	 * waits for the first instead of asking the HSM again. */
	pthread_mutex_t sf_lock;
	pthread_cond_t sf_done;
	uint8_t sf_ids[32][DEKCACHE_ID_LEN];
	unsigned sf_n;
};

/* Sets the defaults every command shares, then reads HSMFS_* variables. */
void vol_opts_init(struct vol_opts *o);
/* Parses one KEK/cache option ("ca_file=...", ...). 1 taken, 0 not ours,
 * -1 bad value (err says why). */
int vol_opts_parse(struct vol_opts *o, const char *opt, char *err,
		   size_t errlen);

/* Creates a volume of the given format (conf.h) in an empty directory.
 * 0, or -1 with err set. */
int vol_create(const char *cipherdir, const char *kek_url, int format,
	       bool plaintext_names, const struct vol_opts *o, char *err,
	       size_t errlen);
/* Opens a volume: config, pin check, KEK, volume key. 0 or -1, err set.
 * The same as vol_peek then vol_unlock. */
int vol_open(struct vol *v, const char *cipherdir, const struct vol_opts *o,
	     char *err, size_t errlen);
/* The first half: config, KEK pin, KEK handles; no HSM call and no key.
 * o must outlive v. 0 or -1, err set. */
int vol_peek(struct vol *v, const char *cipherdir, const struct vol_opts *o,
	     char *err, size_t errlen);
/* The second half: unwraps the volume key, checks the config MAC and the
 * key check value, derives the name keys. 0 or -1, err set. */
int vol_unlock(struct vol *v, char *err, size_t errlen);
void vol_close(struct vol *v);
/* Re-reads the config of an unlocked volume after a rekey: checks its MAC
 * with the volume key held, checks it against the pin, opens a new KEK
 * (the old one stays, for unwrapping), and refreshes the current KEK
 * version. 0, or -1 with err set (nothing changed). */
int vol_reload(struct vol *v, char *err, size_t errlen);
/* The KEK that wraps now. */
struct kek *vol_kek(struct vol *v);
/* The handle that owns kid (current or previous KEK), or NULL. */
struct kek *vol_kek_for(struct vol *v, const char *kid);

/* Writes the directory IV (random when iv is NULL) into dirfd. */
int vol_write_diriv(int dirfd, const uint8_t *iv);
/* A fresh DEK and file id, wrapped into a new header h. 0 or -errno. */
int vol_new_file_key(struct vol *v, struct hdr *h, uint8_t dek[KEY_LEN]);
/* The DEK of a header: cache or HSM, checked against the header MAC.
 * what names the file in log lines (NULL: no log line, for prefetching);
 * *unwrapped (if not NULL) tells whether the HSM was asked. 0 or -errno
 * (EIO, EACCES). */
int vol_load_file_key(struct vol *v, const struct hdr *h,
		      uint8_t dek[KEY_LEN], const char *what, bool *unwrapped);
/* The same without logging: returns the slot that gave the DEK (>= 0), or
 * -errno with why set and *st the last HSM status (KEK_OK if the HSM
 * answered but the slot did not verify), so callers can retry throttling. */
int vol_file_key_slot(struct vol *v, const struct hdr *h,
		      uint8_t dek[KEY_LEN], enum kek_status *st, char *why,
		      size_t whylen);

#endif
