/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The volume config, "hsmfs.conf" at the root of the backing directory:
 * JSON with the format version, feature flags, the KEK URL and the volume
 * key wrapped by it, authenticated by an HMAC under a key derived from the
 * volume key. Unknown fields and unknown feature flags are refused.
 *
 * Errors (the convention of crypto/keys.h): 0 or -errno; -EINVAL with
 * *why for a config that does not parse, -EBADMSG for a MAC that does not
 * verify and for nothing else, a file system error as its own errno.
 */
#ifndef HSMFS_CONF_H
#define HSMFS_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "hdr.h"

/* Formats: 1, blocks packed after the header; 2, blocks page-aligned
 * (crypto/layout.h); 3 (what init writes), page-aligned with each file's
 * state (write count, holes) and with symlink targets, xattrs and
 * directory IVs bound to where they belong (crypto/names.h). */
#define CONF_FORMAT 3
#define CONF_MAX_BYTES 65536
/* KEKs a rekey --to moved away from, still needed to unwrap file keys
 * not yet rewrapped. */
#define CONF_PREV_MAX 4
/* Wrapping-key generations a volume-wrap config holds: the current one,
 * and the one a rekey --wrapping-key is moving file keys away from. */
#define CONF_WK_MAX 2
/* Escrow KEKs a volume-wrap config may hold besides its own KEK. */
#define CONF_ESCROW_MAX 3

enum conf_feature {
	FEAT_ENCRYPTED_NAMES = 1u << 0,
	FEAT_LONG_NAMES = 1u << 1,
	FEAT_PLAINTEXT_NAMES = 1u << 2,
	/* Format 3: file keys wrapped locally by a wrapping key, which the
	 * KEK wraps in "wrapping_keys" (FORMAT.md section 8). */
	FEAT_VOLUME_WRAP = 1u << 3,
};

/* "wrap_conversion", volume-wrap only: a conversion between the wrap
 * modes under way (FORMAT.md section 8.6); while it is there a key slot
 * may be wrapped locally or by the KEK. */
enum conf_conversion {
	CONF_CONV_NONE = 0,
	CONF_CONV_TO_VOLUME,
	CONF_CONV_TO_FILE,
};

/* volume-wrap: an escrow KEK, which opens the volume as the config's own
 * KEK does: every wrapping-key generation of the config wrapped by it
 * (FORMAT.md section 8.7). */
struct conf_escrow {
	char kek[HDR_KID_MAX + 1];
	struct hdr_slot wk[CONF_WK_MAX]; /* the generations of conf.wk */
};

struct conf {
	uint8_t format; /* the block layout, LAY_PACKED or LAY_ALIGNED */
	char creator[64];
	uint8_t volume_id[ID_LEN];
	unsigned features;
	char kek[HDR_KID_MAX + 1]; /* URL given at init */
	/* The wrapped volume key (gen unused): by the KEK, or with
	 * volume-wrap locally by a wrapping key (alg KEK_ALG_WK_SIV). */
	struct hdr_slot vk;
	/* volume-wrap only: "wrapping_keys", each wrapped by the KEK, gen
	 * its generation, in increasing order; the last wraps new keys. */
	struct hdr_slot wk[CONF_WK_MAX];
	int nwk;
	/* Optional "previous_keks": older KEK URLs, oldest first. */
	char prev_kek[CONF_PREV_MAX][HDR_KID_MAX + 1];
	int nprev;
	enum conf_conversion conversion;
	/* Optional "escrow_keks" (volume-wrap only), in the config's order. */
	struct conf_escrow escrow[CONF_ESCROW_MAX];
	int nescrow;
	uint8_t mac[32];
};

/* Parses and checks structure: 0, or -EINVAL with *why. */
int conf_parse(const char *json, size_t n, struct conf *c, const char **why);
/* The config's spelling of one feature flag ("volume-wrap"), or NULL. */
const char *conf_feature_name(unsigned bit);
/* The config's spelling of a conversion: "to-volume", "to-file", or
 * NULL for none. */
const char *conf_conversion_name(enum conf_conversion cv);
/* Serializes to a malloc'ed NUL-terminated JSON string, NULL on error. */
char *conf_serialize(const struct conf *c);
/* Computes the MAC into c->mac: 0, -EINVAL (no valid format), -EIO or
 * -ENOMEM. */
int conf_seal(struct conf *c, const uint8_t vk[KEY_LEN]);
/* Checks it: 0, -EBADMSG if the config has been modified, or as
 * conf_seal if the MAC could not be computed. */
int conf_verify(const struct conf *c, const uint8_t vk[KEY_LEN]);

/* The index of the escrow KEK named url in c, or -1. */
int conf_escrow_find(const struct conf *c, const char *url);
/* Removes escrow KEK i from c (the caller seals c again). */
void conf_escrow_drop(struct conf *c, int i);

/* Reads dir/hsmfs.conf (via a directory fd): 0, or -errno with *why:
 * -ENOENT (no hsmfs.conf: not an hsmfs volume), the open or read error,
 * -EINVAL (too large, or does not parse), -ENOMEM. */
int conf_load(int dirfd, struct conf *c, const char **why);
/* Writes it atomically: tmp file, fsync, rename, fsync dir. 0 or -errno. */
int conf_store(int dirfd, const struct conf *c);

#endif
