/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hsmfs mounts in /proc/self/mountinfo: how the commands find a
 * volume's mount point, and how the daemon finds its own device number
 * without a request to itself.
 */
#ifndef HSMFS_MOUNTINFO_H
#define HSMFS_MOUNTINFO_H

/* One fuse.hsmfs mount: dev as "major:minor", mount point and source
 * (the cipherdir as given to mount), unescaped. Nonzero stops the walk. */
typedef int (*mountinfo_fn)(void *ctx, const char *dev, const char *mnt,
			    const char *src);

/* Calls fn on each hsmfs mount, in mount order. Returns what fn returned
 * to stop, 0 after the last mount, or -errno. */
int mountinfo_each(mountinfo_fn fn, void *ctx);

#endif
