/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mode of the volume's root directory. Every other directory's mode
 * is its backing directory's own, but the backing root is what keeps the
 * whole backing tree from other users of the host (hsmfs init makes it
 * 0700): the root's mode is kept apart, in ROOTMODE_NAME in the backing
 * root, so that a root shown as 0755 to the users of an allow_other
 * mount does not open the backing tree to everyone. Like every mode it is
 * not authenticated. A volume without the file (made by an earlier
 * version) shows the backing root's mode until its root is chmod'ed.
 *
 * Functions return 0 or -errno.
 */
#ifndef HSMFS_VOL_ROOTMODE_H
#define HSMFS_VOL_ROOTMODE_H

#include <sys/types.h>

/* The root's permission bits (07777): -ENOENT if there is no file,
 * -EINVAL if it is not a regular file holding four octal digits and a
 * newline. */
int vol_rootmode_read(int rootfd, mode_t *mode);
/* Records mode & 07777, in place and synced. */
int vol_rootmode_write(int rootfd, mode_t mode);
/* The mode the root of a new volume gets: 0777 less the umask, as
 * mkdir(2) would make it. */
mode_t vol_rootmode_default(void);

#endif
