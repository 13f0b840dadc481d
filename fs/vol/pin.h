/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the operator expects of a volume, kept outside the backing
 * directory, which is untrusted: without it an attacker could point the
 * config at a KEK of their own, or, with an RSA KEK whose public half
 * anyone has, wrap a volume key of their choosing.
 *
 * The pin store: what this machine saw of the volume in a backing
 * directory on first use (its volume id, KEK URL and a check value of its
 * volume key, and its escrow KEKs), keyed by the directory's canonical
 * path, never by anything
 * read from the directory. Earlier versions kept pins by volume id; those
 * are still read, for a directory that has no pin of its own.
 *
 * The volume fingerprint: the same expectation carried by hand to a new
 * machine (-o volume=). Half A covers where requests go (volume id, KEK
 * URL) and is checked before any; half B covers the volume key.
 *
 * Pin reads and writes return as documented below, with one line in err
 * naming the pin file; the fingerprint helpers cannot fail but to parse.
 */
#ifndef HSMFS_VOL_PIN_H
#define HSMFS_VOL_PIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/conf.h"
#include "crypto/keys.h"

#define PIN_KCV_LEN 16
#define PIN_PATH_MAX 640
#define PIN_FPR_HALF 10   /* bytes in each half of a fingerprint */
#define PIN_FPR_TEXT 40   /* 32 base32 chars, 7 dashes, NUL */

struct pin {
	uint8_t volume_id[ID_LEN];
	char kek[256];
	uint8_t kcv[PIN_KCV_LEN];
	/* volume-wrap: the escrow KEKs of the volume's authenticated config
	 * as this machine last saw it; they alone may be asked before a
	 * config is authenticated. */
	char escrow[CONF_ESCROW_MAX][256];
	int nescrow;
};

enum pin_found { PIN_NONE, PIN_DIR, PIN_LEGACY };

/* Where pins live: $HSMFS_STATE_DIR, /var/lib/hsmfs for root, else the
 * XDG state directory. */
const char *pin_dir(char *buf, size_t n);
/* The canonical path of the directory open as dirfd (given is its name,
 * for when /proc is not mounted): what its pin is keyed by. malloc'd, or
 * NULL with errno set. */
char *pin_canonical(int dirfd, const char *given);
/* The pin file of a canonical directory path, and the pin an earlier
 * version kept by volume id. */
void pin_path(const char *dir, char *buf, size_t n);
void pin_legacy_path(const uint8_t volume_id[ID_LEN], char *buf, size_t n);
/* The pin of directory dir; failing that, the legacy pin of volume_id.
 * path gets the file read (the directory's pin file if none). PIN_DIR,
 * PIN_LEGACY, PIN_NONE, or -1 if a pin exists but cannot be read or is
 * malformed. */
int pin_find(const char *dir, const uint8_t volume_id[ID_LEN], struct pin *p,
	     char path[PIN_PATH_MAX], char *err, size_t errlen);
/* Writes the pin of directory dir, atomically: 0 or -1. */
int pin_write(const char *dir, const struct pin *p, char *err, size_t errlen);
/* One pin file of this machine: path, the directory its dir= line
 * names ("" for a legacy pin, which has none), and the pin; p NULL with
 * why for a file that does not read as a pin. Nonzero stops the walk. */
typedef int (*pin_fn)(void *ctx, const char *path, const char *dir,
		      const struct pin *p, const char *why);
/* Every pin of this machine (none yet: 0). 0, what fn returned to
 * stop, or -1 if the pins cannot be listed. */
int pin_each(pin_fn fn, void *ctx, char *err, size_t errlen);
/* Removes the pin of canonical directory dir and, if volume_id is not
 * NULL, the legacy pin of that id (which a directory without a pin of
 * its own would fall back to); removed[] gets the files removed ("" for
 * none). 1 something was removed, 0 there was no pin, -1 err. */
int pin_forget(const char *dir, const uint8_t *volume_id,
	       char removed[2][PIN_PATH_MAX], char *err, size_t errlen);
/* The key check value of a volume key: 0 or -errno (crypto/keys.h). */
int pin_kcv(const uint8_t vk[KEY_LEN], uint8_t kcv[PIN_KCV_LEN]);

struct pin_fpr {
	uint8_t a[PIN_FPR_HALF]; /* volume id and KEK URL */
	uint8_t b[PIN_FPR_HALF]; /* volume key check value */
};

void pin_fpr_a(const uint8_t volume_id[ID_LEN], const char *kek,
	       uint8_t a[PIN_FPR_HALF]);
void pin_fpr_b(const uint8_t kcv[PIN_KCV_LEN], uint8_t b[PIN_FPR_HALF]);
/* "xxxx-xxxx-...": base32, lower case, in groups of 4. */
void pin_fpr_format(const struct pin_fpr *f, char out[PIN_FPR_TEXT]);
/* Reads a fingerprint, dashes optional, any case: 0, or -1. */
int pin_fpr_parse(const char *s, struct pin_fpr *f);

#endif
