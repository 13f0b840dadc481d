/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The progress line of long commands (rekey, fsck): on stderr, redrawn
 * in place, and only on a terminal: a log or a pipe gets none.
 */
#ifndef HSMFS_CLI_PROGRESS_H
#define HSMFS_CLI_PROGRESS_H

#include <stdbool.h>

/* True unless quiet or stderr is not a terminal. */
bool progress_wanted(bool quiet);
/* done of total unit ("files"; total 0: not known, so no bar and no
 * ETA), with extra ("1234 blocks", or NULL) after it; last ends the
 * line. */
void progress_draw(unsigned long done, unsigned long total, const char *unit,
		   const char *extra, double secs, bool last);
/* Clears a line drawn and not ended, so that another line can take its
 * place. */
void progress_clear(void);

#endif
