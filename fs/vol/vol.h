/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A volume, opened: its config, its KEKs, the volume key and the keys
 * derived from it, the DEK cache. The daemon and the offline tools open
 * volumes only through here, so the trust rules (config MAC, pin, which
 * KEK may be asked) live in one place.
 *
 * Functions that can fail for a reason an operator must read return 0 or
 * -1 and write one line into err (errlen bytes); nothing here prints.
 * Opening and unlocking tell apart, as VOL_EKEK, a KEK that could not be
 * used (unreachable, refusing): an operational failure, not a fault of
 * the volume. Calls on the file-key path (filekey.h) return -errno.
 */
#ifndef HSMFS_VOL_VOL_H
#define HSMFS_VOL_VOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "crypto/conf.h"
#include "crypto/hdr.h"
#include "crypto/names.h"
#include "hsmclient/dekcache.h"
#include "hsmclient/kek.h"
#include "opts.h"

#define VOL_KEKS_MAX (CONF_PREV_MAX + 2)
#define VOL_ERR_MAX 768 /* an err buffer that holds any of our lines */
#define VOL_EKEK (-2)   /* the KEK could not be used; err says why */

/* A wrapping key of a volume-wrap volume (one per generation the config
 * holds), in locked memory; key is NULL while revoked. */
struct vol_wk {
	uint32_t gen;
	uint8_t *key;
};

struct vol {
	int rootfd; /* the backing directory */
	int claimfd; /* holds the lock of vol_claim, if taken */
	bool claim_alone; /* exclusively */
	char *cipherdir;
	const struct vol_opts *opts;
	struct conf conf;
	uint8_t *vk; /* volume key, locked memory */
	/* kek wraps; it and old[] unwrap (each slot goes to the one that
	 * owns its kid). Changed only by vol_reload, under kek_lock; a
	 * handle is never freed before vol_close. */
	pthread_mutex_t kek_lock;
	/* Serializes what re-reads or rewrites the config in this process
	 * (vol_reload, vol_conf_follow); held around kek_lock, never in it. */
	pthread_mutex_t conf_lock;
	struct kek *kek;
	struct kek *old[VOL_KEKS_MAX];
	int nold;
	/* What the operator expects of the volume, found at peek: this
	 * machine's pin of the directory, and whether a pin or a
	 * fingerprint vouches for the volume (its config's KEKs may then be
	 * asked, once vol_unlock has authenticated it). */
	struct pin pin;
	int pin_found; /* enum pin_found */
	char pin_file[PIN_PATH_MAX];
	bool vouched;
	/* volume-wrap: the config's wrapping keys, unwrapped, by increasing
	 * generation (the last wraps new file keys). wk_lock is read-held
	 * while a key is used, write-held to change them. revoked: the KEK
	 * refused a re-validation, so every wrapping key was wiped; a later
	 * re-validation that succeeds unwraps them again. */
	pthread_rwlock_t wk_lock;
	struct vol_wk wk[CONF_WK_MAX];
	int nwk;
	bool revoked;
	/* volume-wrap: the escrow KEK that opened the volume because the
	 * config's own could not be used, and re-validates it; esc_url is
	 * "" when the config's KEK did (or has since become that KEK: rekey
	 * --to it). Under kek_lock; the handle lives until vol_close. */
	struct kek *esc_kek;
	char esc_url[HDR_KID_MAX + 1];
	atomic_ullong local_unwraps, checks, check_failures;
	atomic_llong checked_ms; /* clock_ms of the last good re-validation */
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

/* vol_create's flags. */
#define VOL_PLAINTEXT_NAMES 1u
#define VOL_VOLUME_WRAP 2u /* file keys wrapped by a wrapping key */

/* Creates a volume of the given format (conf.h) in an empty directory
 * and pins it there (unless no_pin); fpr, if not NULL, gets its
 * fingerprint. flags: VOL_PLAINTEXT_NAMES, VOL_VOLUME_WRAP (format 3). */
int vol_create(const char *cipherdir, const char *kek_url, int format,
	       unsigned flags, const struct vol_opts *o,
	       char fpr[PIN_FPR_TEXT], char *err, size_t errlen);
/* Opens a volume: config, pin check, KEK, volume key. The same as
 * vol_peek then vol_unlock. 0, -1 or VOL_EKEK. */
int vol_open(struct vol *v, const char *cipherdir, const struct vol_opts *o,
	     char *err, size_t errlen);
/* The first half: the config, checked against what the operator expects
 * (kek=, volume=, this machine's pin of the directory), then the KEK
 * handles; no HSM call and no key. A config naming another volume or
 * KEK than expected is refused here, before any request. o must
 * outlive v. */
int vol_peek(struct vol *v, const char *cipherdir, const struct vol_opts *o,
	     char *err, size_t errlen);
/* The second half: unwraps the volume key, checks the config MAC, the
 * key check value against the pin and the fingerprint, pins the volume
 * on first use, derives the name keys. 0, -1, or VOL_EKEK when the
 * volume key could not be unwrapped. Only after it may a previous KEK
 * of the config be asked anything. */
int vol_unlock(struct vol *v, char *err, size_t errlen);
/* The fingerprint of an unlocked volume (pin.h): 0, or -1. */
int vol_fingerprint(struct vol *v, char out[PIN_FPR_TEXT]);
/* rekey --to moved the volume to kek: this machine's pin of the
 * directory follows (same volume, same key check value). 1 updated, 0
 * nothing to update (no pin: the first mount makes one), -1 err. */
int vol_pin_follow(struct vol *v, const char *kek, char *err, size_t errlen);
/* kek add and remove: this machine's pin of the directory lists the
 * escrow KEKs of c, an authenticated config of v's volume (a mount and a
 * reload do it on their own). 1 updated, 0 nothing to update, -1 err. */
int vol_pin_escrows(struct vol *v, const struct conf *c, char *err,
		    size_t errlen);
/* The KEK that opened a volume-wrap volume and re-validates it, its URL
 * into url: true if that is an escrow KEK, false for the config's own. */
bool vol_opened_by(struct vol *v, char url[HDR_KID_MAX + 1]);
void vol_close(struct vol *v);
/* Claims a peeked volume until vol_close: exclusive for a writer (a
 * read-write mount, rekey --data), shared for a reader (read-only
 * mounts: any number of them, never with a writer). The lock is flock on
 * LOCK_NAME in the root, which NFS clients share and which the kernel
 * drops when the holder exits, however it exits. what ("mounted
 * read-write on /mnt") goes into the file, for the line another claimant
 * gets: "<cipherdir> is in use: <what> by pid N on HOST". 0; -1, err
 * naming the holder or why the lock could not be tried; or, for a shared
 * claim on a root that cannot be written and has no lock file yet, 1:
 * not claimed, err says so. */
int vol_claim(struct vol *v, bool exclusive, const char *what, char *err,
	      size_t errlen);
/* Re-reads the config of an unlocked volume after a rekey: checks its MAC
 * with the volume key held, checks it against the pin, opens a new KEK
 * (the old one stays, for unwrapping), and refreshes the current KEK
 * version. Nothing changes on failure. */
int vol_reload(struct vol *v, char *err, size_t errlen);
/* The daemon following its KEK's versions: the config on disk, re-read
 * and checked as vol_reload does, has what the KEK wraps in it (its
 * wrapping keys, or its volume key) wrapped again by the KEK's current
 * version kid (from kek_describe of vol_kek) unless it is on it, sealed,
 * stored atomically and held as v's config. A config that names another
 * KEK or holds another wrapping-key generation than v is refused (reload
 * first). 1 stored, 0 already on kid, -1 err. */
int vol_conf_follow(struct vol *v, const char *kid, char *err, size_t errlen);
/* The KEK that wraps now. */
struct kek *vol_kek(struct vol *v);
/* The handle that owns kid (current or previous KEK), or NULL. */
struct kek *vol_kek_for(struct vol *v, const char *kid);
/* Opens a KEK other than the mount's own (a previous one, a rekey
 * target): the hsm_endpoint list serves only the KEK it was given for.
 * Its host counts as named if the operator named url (kek=, rekey --to,
 * the pin), or if url is a KEK of the config and a pin or fingerprint
 * vouched for the volume. */
enum kek_status vol_kek_open_other(const struct vol *v, const char *url,
				   struct kek **k, char kerr[KEK_ERR_MAX]);

/* hsmfs path, on an unlocked volume (fs/vol/path.c): the backing path
 * ("x/y", from the root) of the entry at plaintext path ppath, and the
 * plaintext path ("/a/b") of backing path bpath. 0, or -1 with err. */
int vol_backing_path(struct vol *v, const char *ppath, char *out, size_t n,
		     char *err, size_t errlen);
int vol_plain_path(struct vol *v, const char *bpath, char *out, size_t n,
		   char *err, size_t errlen);

/* True for a volume-wrap volume: file keys never go to the HSM. */
static inline bool vol_volume_wrap(const struct vol *v)
{
	return v->conf.features & FEAT_VOLUME_WRAP;
}

/* True while a conversion between the wrap modes is under way (hsmfs
 * rekey --to-wrap): a key slot may then be wrapped locally or by a KEK. */
static inline bool vol_converting(const struct vol *v)
{
	return v->conf.conversion != CONF_CONV_NONE;
}

/* Writes config c, a change of wrap mode (a conversion's start, end or
 * direction), and makes it v's: what vol_reload refuses to follow, so v
 * must be claimed exclusively (no daemon serves the volume). Before
 * anything is written, c must open to v's volume key: a wrapping key v
 * does not hold yet, or a volume key c has the KEK wrap, is unwrapped by
 * the HSM, so that no config the KEK cannot open is ever stored. The
 * MAC must verify. 0, or -1 (VOL_EKEK: the KEK could not be used) with
 * err; v is unchanged unless c was stored. */
int vol_conv_store(struct vol *v, const struct conf *c, char *err,
		   size_t errlen);

/* Re-validates the KEK of a volume-wrap volume: one unwrap, by the HSM,
 * of the config's current wrapping key. 0: the KEK serves (wrapping keys
 * unwrapped again if they had been wiped); 1: the KEK refused (disabled,
 * deleted, access withdrawn): every wrapping key and cached file key is
 * wiped, now or before; -1: no answer (unreachable, throttled, timed
 * out): nothing changes, try again later. err says why for 1 and -1. */
int vol_kek_check(struct vol *v, char *err, size_t errlen);

/* What an HSM failure is to an application: -EACCES when the caller may
 * not use the key (credentials, role, disabled key), else -EIO. */
int vol_kek_errno(enum kek_status st);

/* The line for a failed KEK call: "<fmt...>: kerr"; for a certificate
 * that is not trusted kerr alone, which names the server and the cure:
 * which key was being asked adds nothing to that. */
void vol_kek_failed(char *err, size_t errlen, enum kek_status st,
		    const char *kerr, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* The one way a key goes into a key slot: the record magic || id || key
 * wrapped by k (its current version) into s (kid, alg, wrapped bytes;
 * gen and mac are the caller's). */
enum kek_status vol_wrap_slot(struct kek *k, const char magic[8],
			      const uint8_t id[ID_LEN],
			      const uint8_t key[KEY_LEN], struct hdr_slot *s,
			      char kerr[KEK_ERR_MAX]);
/* And the way back: unwraps s with k and checks the record's magic and
 * id. 0; -EBADMSG if the record is bound to another id; or the HSM's
 * failure as -EACCES (credentials, role, disabled key) or -EIO, with *st
 * its status. kerr says why. */
int vol_unwrap_slot(struct kek *k, const char magic[8],
		    const uint8_t id[ID_LEN], const struct hdr_slot *s,
		    uint8_t key[KEY_LEN], enum kek_status *st,
		    char kerr[KEK_ERR_MAX]);

/* The same for a volume-wrap volume's wrapping key, locally: wraps the
 * record with generation gen (0: the newest) into s. 0; -EACCES while
 * revoked; -EIO (why says). */
int vol_wk_wrap_slot(struct vol *v, const char magic[8],
		     const uint8_t id[ID_LEN], const uint8_t key[KEY_LEN],
		     uint32_t gen, struct hdr_slot *s, char *why, size_t n);
/* Unwraps a locally wrapped s with the generation its kid names. 0;
 * -EACCES while revoked; -EIO for a slot this volume cannot open (not a
 * local slot, another volume's, a generation the config lacks);
 * -EBADMSG if it does not open or is bound to another id. */
int vol_wk_unwrap_slot(struct vol *v, const char magic[8],
		       const uint8_t id[ID_LEN], const struct hdr_slot *s,
		       uint8_t key[KEY_LEN], char *why, size_t n);
/* Whether this volume knows how to unwrap s, without unwrapping: its kid
 * is a version of one of the volume's KEKs (file mode), or it is wrapped
 * locally by a generation the config holds (volume-wrap); during a
 * conversion either. 0, or -1 with why. */
int vol_slot_known(struct vol *v, const struct hdr_slot *s, char *why,
		   size_t n);
/* KEK rotation of a volume-wrap volume: every wrapping key of config c
 * (which v holds) wrapped again by k's current version; the volume key
 * and file keys, wrapped locally, stay as they are. */
enum kek_status vol_wk_rewrap(struct vol *v, struct kek *k, struct conf *c,
			      char kerr[KEK_ERR_MAX]);
/* What the KEK wraps in config c (which v holds), wrapped again by k's
 * current version: every wrapping key of a volume-wrap volume, or the
 * volume key. The caller seals and stores c. */
enum kek_status vol_conf_rewrap(struct vol *v, struct kek *k, struct conf *c,
				char kerr[KEK_ERR_MAX]);
/* rekey --wrapping-key: a new generation (the newest + 1, or 1 for a
 * config that has none yet: a conversion to volume mode) of random
 * bytes wrapped by k into c, and by escrow[i] into c's escrow KEK i (one
 * handle each), and c's volume key wrapped locally by it. The caller
 * stores c; the retired generation stays until no header names it. */
enum kek_status vol_wk_add(struct vol *v, struct kek *k,
			   struct kek *const *escrow, struct conf *c,
			   char kerr[KEK_ERR_MAX]);
/* kek add: escrow KEK url (opened as k) appended to c, wrapping every
 * generation c holds (v holds them unwrapped); then k unwraps the newest
 * again, so that a KEK that cannot serve the volume is never added. */
enum kek_status vol_escrow_add(struct vol *v, struct kek *k, const char *url,
			       struct conf *c, char kerr[KEK_ERR_MAX]);
/* Drops every generation of c but the newest, from its escrow KEKs too:
 * 1 if one was dropped. */
int vol_wk_drop_old(struct conf *c);
/* The newest wrapping-key generation (0 in file mode). */
uint32_t vol_wk_current(struct vol *v);

#endif
