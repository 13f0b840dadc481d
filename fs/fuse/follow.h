/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Following the KEK's versions (-o follow_kek_versions): a thread asks
 * the HSM for the KEK's current version (one key GET) every interval.
 * A new version wraps new file keys at once: the GET itself refreshes
 * the version (and public key) the provider wraps with. What is already
 * wrapped then moves to it:
 *
 *  - volume-wrap: the config's wrapping keys are wrapped again by the new
 *    version and the config stored atomically (vol_conf_follow); no
 *    header is touched and, with an RSA key, no other HSM call is made.
 *  - file mode: every header is rewrapped in the background, slot by
 *    slot under its lock (vol_rewrap_file), at most rekey_rate unwraps a
 *    second, at the lowest CPU and I/O priority. Once a walk of the whole
 *    backing tree found nothing left to move (nothing failed, nothing
 *    renamed meanwhile), the config's volume key follows last. A config
 *    whose volume key is not on the current version is therefore the
 *    mark of an unfinished move: a mount that finds it walks again, and
 *    headers already moved cost a read each, no HSM call.
 *
 * hsmfs rekey asks the daemon to hold still while it runs (follow_hold):
 * no header or config is written by this thread until it lets go; the
 * thread then checks again and starts its walk over.
 */
#ifndef HSMFS_FUSE_FOLLOW_H
#define HSMFS_FUSE_FOLLOW_H

#include <stdio.h>

#include "fsd.h"

#define FOLLOW_INTERVAL_S 3600 /* -o follow_kek_versions alone */
#define FOLLOW_RATE 50         /* unwraps a second: -o rekey_rate */

/* Starts following every interval_s seconds (0: not at all), at most
 * rate unwraps a second; a read-only mount only checks. 0 or -errno. */
int follow_start(struct fsd *fs, unsigned interval_s, unsigned rate,
		 bool ro);
void follow_stop(void);
/* The lines of hsmfs status: the version in use, when it was asked, how
 * the move goes. Nothing when not following. */
void follow_status(FILE *f);
/* Serves one "hold" request on connection c (its own from now on), in a
 * thread of its own: answers "held" once nothing is being written, then
 * writes nothing until the client closes c, whichever way it exits. */
void follow_hold(int c);

#endif
