/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Names, symlink targets and xattrs, all under keys derived from the
 * volume key.
 *
 * A file name becomes base64url(AES-256-SIV(pad16(name), AD = directory
 * IV)): deterministic, so lookup works, but bound to its directory. An
 * encoded name longer than 255 bytes is stored as "hsmfs.longname.<hash>"
 * with a sidecar "<that>.name" holding the encoded name. Symlink targets and
 * xattr values use AES-256-GCM with random nonces.
 *
 * Errors (the convention of crypto/keys.h): a length (or 0), else -errno;
 * -EBADMSG when the SIV or GCM tag does not verify and for nothing else;
 * -EINVAL for malformed input (not base64url, impossible length, a
 * forbidden name, too small an output buffer); -EIO or -ENOMEM if the
 * cipher could not run.
 */
#ifndef HSMFS_NAMES_H
#define HSMFS_NAMES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/b64.h"
#include "keys.h"

#define DIRIV_LEN 16
#define DIRIV_NAME "hsmfs.diriv"
#define CONF_NAME "hsmfs.conf"
/* In the root: the file a daemon or rekey --data holds a lock on while it
 * uses the volume (fs/vol/claim.c). Its content says who holds it, for
 * messages only; a reader ignores the file. */
#define LOCK_NAME "hsmfs.lock"
/* In the root: the mode of the volume's root directory ("0755\n"), so
 * that the backing directory itself may stay private (fs/vol/rootmode.c).
 * Without it the root shows the backing directory's mode. */
#define ROOTMODE_NAME "hsmfs.rootmode"
#define LONG_PREFIX "hsmfs.longname."
/* A temporary entry ("hsmfs.tmp." and 16 hex digits): a directory being
 * made or removed, a file being re-encrypted. Never shown; fsck reports
 * one left by a crash. */
#define TMP_PREFIX "hsmfs.tmp."
#define TMP_NAME_LEN (sizeof(TMP_PREFIX) - 1 + 16)
#define LONG_SUFFIX ".name"
/* "hsmfs.longname." + base64url(SHA-256) */
#define LONG_NAME_LEN (sizeof(LONG_PREFIX) - 1 + 43)
#define NAME_ENC_MAX 400 /* base64 of 16 + 256 bytes, and some */
_Static_assert(B64_ENC_LEN(16 + 256) + 1 <= NAME_ENC_MAX,
	       "a SIV tag and the longest padded name, encoded, fit");
/* nonce(12) || ciphertext || tag(16), for symlink targets and xattrs. */
#define XATTR_VAL_OVERHEAD 28
/* The longest target whose encoding fits a 4095-byte backing symlink. */
#define SYMLINK_MAX 3043
_Static_assert(B64_ENC_LEN(SYMLINK_MAX + XATTR_VAL_OVERHEAD) <= 4095 &&
	       B64_ENC_LEN(SYMLINK_MAX + 1 + XATTR_VAL_OVERHEAD) > 4095,
	       "SYMLINK_MAX is the longest target that fits PATH_MAX - 1");

struct names_keys {
	uint8_t names[2 * KEY_LEN]; /* AES-256-SIV takes 512 bits */
	uint8_t xattr_names[2 * KEY_LEN];
	uint8_t xattr_vals[KEY_LEN];
	uint8_t symlink[KEY_LEN];
	uint8_t xattr_hash[KEY_LEN]; /* format 3 */
	uint8_t diriv_mac[KEY_LEN];  /* format 3 */
};

/* Derives all of them from the volume key into locked memory. */
struct names_keys *names_keys_new(const uint8_t vk[KEY_LEN]);
void names_keys_free(struct names_keys *k);

/* Encrypts name (1..255 bytes, no '/') into out as a NUL-terminated
 * base64url string; returns its length, or -errno. */
int names_encrypt(const struct names_keys *k, const uint8_t diriv[DIRIV_LEN],
		  const char *name, size_t len, char out[NAME_ENC_MAX]);
/* Decrypts an encoded name; returns the plaintext length (out is NUL
 * terminated, >= 256 bytes), -EBADMSG if it is not authentic, -EINVAL if
 * it is no name ("." and ".." included). */
int names_decrypt(const struct names_keys *k, const uint8_t diriv[DIRIV_LEN],
		  const char *enc, size_t len, char out[256]);
/* The on-disk name for an encoded name that is longer than 255. */
void names_long(const char *enc, size_t len, char out[LONG_NAME_LEN + 1]);
int names_is_long(const char *name);     /* "hsmfs.longname.X" */
int names_is_sidecar(const char *name);  /* "hsmfs.longname.X.name" */
int names_is_tmp(const char *name);      /* "hsmfs.tmp.<16 hex>" */
/* A fresh random temporary name. 0, or -EIO without randomness. */
int names_tmp(char out[TMP_NAME_LEN + 1]);

/* Symlink targets: plaintext -> base64url(nonce || ct || tag). Returns
 * the encoded length. */
int names_symlink_encrypt(const struct names_keys *k, const char *target,
			  size_t len, char *out, size_t cap);
/* Returns the plaintext length; out gets a NUL. */
int names_symlink_decrypt(const struct names_keys *k, const char *enc,
			  size_t len, char *out, size_t cap);
/* Plaintext length of an encrypted target of len bytes, without a key;
 * -EINVAL for a length no encrypted target has. */
ssize_t names_symlink_plain_len(size_t len);

/* user.* xattrs: "user." + base64url(SIV(name)); value GCM, AAD = name.
 * Names: the length of the result. Values: 0 (enc, out holds n +
 * XATTR_VAL_OVERHEAD bytes) or the plaintext length (dec). */
int names_xattr_name(const struct names_keys *k, const char *name,
		     char *out, size_t cap);
int names_xattr_name_dec(const struct names_keys *k, const char *enc,
			 char *out, size_t cap);
int names_xattr_val_enc(const struct names_keys *k, const char *encname,
			const uint8_t *val, size_t n, uint8_t *out);
ssize_t names_xattr_val_dec(const struct names_keys *k, const char *encname,
			    const uint8_t *in, size_t n, uint8_t *out);

/*
 * Format 3 binds what format 2 left free to move:
 *  - a directory's IV file holds IV(16) || tag(16), the tag the first 16
 *    bytes of HMAC-SHA256(diriv key, IV), so that a changed IV is refused
 *    even in an empty directory;
 *  - a symlink target's AAD is "hsmfs symlink v3" || the directory's IV ||
 *    the link's own (plaintext) name: moved to another name, copied over
 *    another link, it no longer authenticates;
 *  - an xattr belongs to an entry id (a regular file's file id, a
 *    directory's IV): its backing name is "user." + base64url(the first
 *    16 bytes of HMAC-SHA256(xattr hash key, entry id || name)) (or, with
 *    plaintext names, the name itself), and its backing value is
 *    nonce || GCM(xattr values key, AAD = "hsmfs xattr v3" || entry id ||
 *    backing name, len(name) || name || value) || tag, name being all
 *    that follows "user." (1..250 bytes, any byte but NUL).
 */
#define DIRIV3_LEN (2 * DIRIV_LEN)
#define XATTR3_NAME_MAX 250 /* after "user.": XATTR_NAME_MAX is 255 */
#define XATTR3_HASH_NAME_LEN (5 + 22) /* "user." + base64url(16 bytes) */
#define XATTR3_OVERHEAD(namelen) (XATTR_VAL_OVERHEAD + 1 + (namelen))

/* The tag of a directory IV: 0, -EIO. */
int names_diriv_tag(const struct names_keys *k, const uint8_t iv[DIRIV_LEN],
		    uint8_t tag[DIRIV_LEN]);
/* Symlink targets bound to (directory IV, name); as the functions above. */
int names_symlink3_encrypt(const struct names_keys *k,
			   const uint8_t diriv[DIRIV_LEN], const char *name,
			   const char *target, size_t len, char *out,
			   size_t cap);
int names_symlink3_decrypt(const struct names_keys *k,
			   const uint8_t diriv[DIRIV_LEN], const char *name,
			   const char *enc, size_t len, char *out, size_t cap);
/* The backing name of xattr name ("user.X") of entry eid: its length, or
 * -EINVAL (not user.*, or X empty, too long or holding a NUL). */
int names_xattr3_name(const struct names_keys *k, int plaintext,
		      const uint8_t eid[ID_LEN], const char *name, char *out,
		      size_t cap);
/* Seals value (n bytes) for backing name bname: out gets
 * XATTR3_OVERHEAD(strlen(name) - 5) + n bytes; returns that length. */
ssize_t names_xattr3_seal(const struct names_keys *k,
			  const uint8_t eid[ID_LEN], const char *bname,
			  const char *name, const uint8_t *val, size_t n,
			  uint8_t *out, size_t cap);
/* Opens a backing value: the value's length, with its name ("user.X",
 * NUL-terminated) in name[256] and the value in val (cap bytes; -ERANGE
 * if it does not fit); -EBADMSG if not authentic for (eid, bname). */
ssize_t names_xattr3_open(const struct names_keys *k,
			  const uint8_t eid[ID_LEN], const char *bname,
			  const uint8_t *in, size_t n, char name[256],
			  uint8_t *val, size_t cap);

#endif
