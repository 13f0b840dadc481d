/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's side of the control socket (fs/vol/mnt.h has the path and
 * the client): status, flush and reload requests, answered from a thread
 * of its own. Only root and the daemon's own user are answered.
 */
#ifndef HSMFS_FUSE_CTL_H
#define HSMFS_FUSE_CTL_H

#include "fsd.h"

/* Starts serving on path (from mnt_ctl_path, computed before mounting:
 * the mount point cannot be resolved once the daemon serves it). 0 or
 * -errno. */
int ctl_start(struct fsd *fs, const char *path);
void ctl_stop(void);

#endif
