/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backing names: what a plaintext name becomes in the backing directory,
 * and back. The one home of these rules for the daemon, the walk of the
 * offline tools and the prefetcher, so that they never disagree about
 * what a backing entry means:
 *
 *  - in the root, "hsmfs.conf", "hsmfs.conf.tmp", "hsmfs.lock" (the
 *    lock a daemon holds while mounted) and "hsmfs.rootmode" (the root's
 *    mode, rootmode.h) are the volume's own;
 *  - with encrypted names, every directory's "hsmfs.diriv" (its IV) and
 *    every long name's sidecar "hsmfs.longname.X.name" are the volume's
 *    own, and "hsmfs.tmp.<16 hex>" is a temporary entry (a directory
 *    being made or removed, a file being re-encrypted);
 *  - with plaintext names, format 3 keeps "hsmfs.diriv" and
 *    "hsmfs.tmp.<16 hex>" too (its directories have IVs in both modes);
 *  - everything else is an entry: an encrypted name (base64url, or
 *    "hsmfs.longname.X" with the encrypted name in its sidecar), or with
 *    plaintext names the name itself.
 *
 * Errors are -errno: -EBADMSG a name (or an IV) that is not authentic,
 * -EINVAL a malformed IV or sidecar, with *why naming what is wrong.
 */
#ifndef HSMFS_VOL_BNAME_H
#define HSMFS_VOL_BNAME_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypto/names.h"

/* A backing directory as names see it. */
struct bdir {
	int fd;                      /* the directory (O_PATH is enough) */
	bool root;                   /* the volume's root */
	bool plaintext;              /* a plaintext-names volume */
	int format;                  /* the volume's format (conf.h) */
	const struct names_keys *nk; /* NULL: names cannot be checked here */
	const uint8_t *iv;           /* its IV (DIRIV_LEN), NULL if unknown */
};

/* A name as stored: the backing name, and for a long name the encrypted
 * name its sidecar holds. */
struct bname {
	char name[NAME_ENC_MAX];
	char enc[NAME_ENC_MAX];
	bool is_long;
};

enum bname_kind {
	BNAME_ENTRY, /* an application's entry */
	BNAME_OWN,   /* the volume's own: config, lock, IV, sidecar */
	BNAME_TMP,   /* a temporary entry: never shown */
};

enum bname_kind bname_kind(const struct bdir *d, const char *name);

/* Name (1..255 bytes) to its backing name. 0, -ENAMETOOLONG, -EPERM
 * (a name the volume keeps for itself), -ENOKEY (no keys or IV), -EIO. */
int bname_encode(const struct bdir *d, const char *name, struct bname *b);
/* The plaintext of an entry's backing name into out. 0; -EBADMSG (not
 * authentic) or -EINVAL (a long name whose sidecar is missing, short or
 * for another name), both with *why; -ENOKEY if d has no keys or IV (not
 * checkable here: *why is NULL). A long name's sidecar is checked first,
 * so that a walk without keys still reports a bad one. */
int bname_decode(const struct bdir *d, const char *name, char out[256],
		 const char **why);

/* The plaintext path ("/a/b") of an entry found by its backing path
 * bpath ("x/y", from the root root->fd), decoding each component in its
 * directory. 0; -errno if a directory cannot be opened or its IV read;
 * -EBADMSG or -EINVAL (as bname_decode) if a name does not decode, or
 * -EINVAL for a "." or ".." component. */
int bname_plain_path(const struct bdir *root, const char *bpath,
		     char *out, size_t n);

/* And the other way: the backing path ("x/y", "" for the root) of the
 * entry at plaintext path ppath ("/a/b" or "a/b"), encoding each
 * component in its directory, as the daemon does. 0; -ENOENT if an entry
 * on the way is not there; -EINVAL for a "." or ".." component; -EPERM,
 * -ENAMETOOLONG, -ENOKEY as bname_encode; or a directory's -errno. */
int bname_backing_path(const struct bdir *root, const char *ppath,
		       char *out, size_t n);

/* Opens one of the volume's own files (IV, sidecar, lock): a regular
 * file, never a symlink, and never waited on (a FIFO put there by whoever
 * controls the backing directory would block the open or the read). The
 * fd; -EINVAL if it is not a regular file, or the open's -errno. */
int bname_open_own(int dirfd, const char *name, int flags, mode_t mode);

/* A long name's sidecar: written before the entry, removed after it. */
int bname_write_sidecar(int dirfd, const struct bname *b);
void bname_drop_sidecar(int dirfd, const struct bname *b);
/* True for a sidecar whose entry is gone. */
bool bname_sidecar_orphaned(int dirfd, const char *sidecar);

/* A long name's sidecar, for an entry found through its plaintext name:
 * 0 if b is short or its sidecar holds b's encrypted name; -EINVAL with
 * *why if the sidecar is missing or holds anything else. */
int bname_check_sidecar(int dirfd, const struct bname *b, const char **why);

/* True if directories of this volume have IVs. */
bool bname_has_ivs(int format, bool plaintext);
/* A directory's IV: 0, -ENOENT if it has none, -EINVAL if it is not a
 * regular file of the format's size or all zero, -EBADMSG if its tag
 * (format 3) does not verify, or the read's -errno. nk NULL reads a
 * format-3 IV without checking its tag (a walk without keys). */
int bname_read_diriv(int dirfd, int format, const struct names_keys *nk,
		     uint8_t iv[DIRIV_LEN]);
/* Why a directory's IV is refused after bname_read_diriv failed with
 * err: the words the daemon's log and fsck share; NULL for an error that
 * says nothing about the IV itself (it could not be read just now). */
const char *bname_diriv_why(int err);
/* How many of a directory's entries judge its IV. */
#define BNAME_IV_SAMPLE 3
/* Judges the IV d->iv, read well-formed, by the names it binds (an IV of
 * formats 1 and 2 has no MAC of its own): 0 if one of the directory's
 * first BNAME_IV_SAMPLE entries decodes with it, or none can tell (no
 * entries, no keys, or long names whose sidecar is bad); -EBADMSG with
 * *why if none decodes and one fails authentication; or -errno if the
 * directory cannot be listed. */
int bname_check_diriv(const struct bdir *d, const char **why);
/* Writes a directory's IV, random when iv is NULL (format 3 needs nk for
 * its tag). 0 or -errno. */
int bname_write_diriv(int dirfd, int format, const struct names_keys *nk,
		      const uint8_t *iv);

#endif
