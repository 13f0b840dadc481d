/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Re-validating the KEK of a volume-wrap volume. Its file keys are
 * unwrapped without the HSM, so a disabled or deleted KEK would go
 * unnoticed until unmount; a thread therefore asks the HSM every
 * kek_check seconds (and hsmfs cache flush asks at once) to unwrap the
 * config's wrapping key. A refusal wipes the wrapping keys, every cached
 * file key and every thread's cipher context; no answer (an outage, 503,
 * throttling) wipes nothing and is asked again at the next interval. A
 * file-mode volume needs none of it: every cold open asks the HSM.
 */
#ifndef HSMFS_FUSE_KEKCHECK_H
#define HSMFS_FUSE_KEKCHECK_H

#include "fsd.h"

/* Starts checking every secs seconds (volume-wrap volumes only): 0 or
 * -errno. */
int kekcheck_start(struct fsd *fs, unsigned secs);
void kekcheck_stop(void);
/* Checks now, in the caller's thread, logging the outcome: as
 * vol_kek_check. */
int kekcheck_now(struct fsd *fs);

#endif
