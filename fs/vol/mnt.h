/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A volume's mount seen from outside its daemon: the hsmfs mounts in
 * /proc/self/mountinfo, and the control socket through which `hsmfs
 * status`, `hsmfs cache flush` and `hsmfs rekey` talk to the daemon (a
 * Unix socket, mode 0600, named after the mount point; one request line,
 * one text answer). The daemon's side is fs/fuse/ctl.c.
 * Errors are -errno.
 */
#ifndef HSMFS_VOL_MNT_H
#define HSMFS_VOL_MNT_H

#include <stddef.h>

/* Finds where the volume in cipherdir is mounted (type fuse.hsmfs, source
 * naming that directory): 1 and mnt set, 0 not mounted, or -errno. */
int mnt_find(const char *cipherdir, char *mnt, size_t n);

/* The hsmfs mount on mountpoint (canonical, as mountinfo shows it; the
 * topmost if several are stacked): 1 with its device ("major:minor")
 * and source, 0 if there is none, or -errno. */
int mnt_at(const char *mountpoint, char *dev, size_t devlen, char *src,
	   size_t srclen);

/* The type ("fuse.hsmfs", "tmpfs", ...) of the topmost mount on
 * mountpoint (canonical): 1, 0 if nothing is mounted there, or -errno. */
int mnt_type_at(const char *mountpoint, char *type, size_t n);
/* The canonical path of a mount point, also of a dead one (which
 * answers ENOTCONN: then as mnt_canonical_name). out has PATH_MAX
 * bytes. 0 or -errno. */
int mnt_canonical(const char *path, char *out, size_t n);
/* path with its directory resolved and its last name appended as it is:
 * not followed (a symlink stays itself) and not asked (a dead mount).
 * 0, -EINVAL for a last name "." or "..", or -errno. */
int mnt_canonical_name(const char *path, char *out, size_t n);

/* Where control sockets live: $HSMFS_RUN_DIR, /run/hsmfs for root, else
 * the XDG runtime directory. */
const char *mnt_run_dir(char *buf, size_t n);
/* The socket path for a mount point (resolved to an absolute path);
 * -ENAMETOOLONG if it does not fit n (a Unix socket's 108 bytes). */
int mnt_ctl_path(const char *mountpoint, char *buf, size_t n);
/* Sends cmd to the daemon serving mountpoint, the answer into out
 * (NUL-terminated). 0, or -errno if the daemon cannot be reached. */
int mnt_call(const char *mountpoint, const char *cmd, char *out, size_t n);
/* Asks the daemon serving mountpoint to hold still: it writes no header
 * and no config of its own accord (following its KEK's versions) until
 * the returned descriptor is closed, whichever way the caller exits.
 * The descriptor (>= 0) once the daemon said so; -ENOTSUP from a daemon
 * that does not know the request; or -errno. */
int mnt_hold(const char *mountpoint);

#endif
