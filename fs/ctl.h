/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control socket of a mounted volume: a Unix socket, mode 0600, named
 * after the mount point, through which `hsmfs status`, `hsmfs cache
 * flush` and `hsmfs rekey` (request "reload") talk to the daemon. One
 * request line, one text answer.
 */
#ifndef HSMFS_CTL_H
#define HSMFS_CTL_H

#include <stddef.h>

struct fsd;

/* The socket path for a mount point (resolved to an absolute path). */
int ctl_path(const char *mountpoint, char *buf, size_t n);
/* Starts serving on path (from ctl_path, computed before mounting: the
 * mount point cannot be resolved until the daemon serves). 0 or -errno. */
int ctl_start(struct fsd *fs, const char *path);
void ctl_stop(void);
/* Client side: sends cmd, writes the answer to stdout. 0 ok, -1 error. */
int ctl_request(const char *mountpoint, const char *cmd);
/* Client side: sends cmd, the answer into out (NUL-terminated). 0, or
 * -errno if the daemon cannot be reached. */
int ctl_call(const char *mountpoint, const char *cmd, char *out, size_t n);
/* Finds where the volume in cipherdir is mounted (type fuse.hsmfs, source
 * naming that directory): 1 and mnt set, 0 not mounted, or -errno. */
int ctl_find_mount(const char *cipherdir, char *mnt, size_t n);

#endif
