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

#include "fs/vol/opts.h"

enum rekey_result {
	REKEY_OK,          /* done; --check: only the current version */
	REKEY_FAILED,      /* some files failed, or the run could not go on */
	REKEY_OLD_NEEDED,  /* --check: older KEK versions still referenced */
	REKEY_CANNOT_TELL, /* --check: an operational error */
};

struct rekey_opts {
	struct vol_opts vo;
	const char *to;   /* --to URL, or NULL: the config's KEK */
	unsigned jobs;    /* worker threads */
	double max_rate;  /* unwraps per second, 0: unbounded */
	bool check;       /* report only */
	bool quiet;       /* no progress bar */
};

/* hsmfs rekey [--check]. */
enum rekey_result rekey_kek(const char *cipherdir, struct rekey_opts *o);
/* hsmfs rekey --data: paths are plaintext paths from the volume root;
 * none means every file. */
enum rekey_result rekey_data(const char *cipherdir, struct rekey_opts *o, char **paths,
	       int npaths);
/* The version part of a key id (after the last '/'). */
const char *rekey_kid_version(const char *kid);

#endif
