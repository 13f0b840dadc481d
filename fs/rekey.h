/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rekeying a volume. Two kinds:
 *
 *  - KEK rekey: every file's DEK (and the volume key) rewrapped to the
 *    KEK's current version, or to another KEK. Content untouched; each
 *    header is rewritten slot by slot (write the spare slot, sync, clear
 *    the old one, sync), so it is crash-safe and resumable with no state
 *    of its own: the headers are the state. Works on a mounted volume.
 *  - data rekey: a fresh DEK and re-encrypted content for some files,
 *    each written to a temporary file and renamed over the original.
 *    Only on an unmounted volume.
 */
#ifndef HSMFS_REKEY_H
#define HSMFS_REKEY_H

#include <stdbool.h>

#include "volume.h"

/* Exit codes beyond cmd.h's, as fsck(8) has them. */
#define REKEY_EXIT_OLD 1     /* --check: older KEK versions still needed */
#define REKEY_EXIT_ERROR 8   /* --check: cannot tell (operational error) */

struct rekey_opts {
	struct vol_opts vo;
	const char *to;   /* --to URL, or NULL: the config's KEK */
	unsigned jobs;    /* worker threads */
	double max_rate;  /* unwraps per second, 0: unbounded */
	bool check;       /* report only */
	bool quiet;       /* no progress bar */
};

/* hsmfs rekey [--check]: returns the exit code. */
int rekey_kek(const char *cipherdir, struct rekey_opts *o);
/* hsmfs rekey --data: paths are plaintext paths from the volume root;
 * none means every file. Returns the exit code. */
int rekey_data(const char *cipherdir, struct rekey_opts *o, char **paths,
	       int npaths);
/* The version part of a key id (after the last '/'). */
const char *rekey_kid_version(const char *kid);

#endif
