/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The FUSE daemon (fs/fuse/) as `hsmfs mount` starts it: this is the
 * whole of its interface; nothing of libfuse or of the daemon's state is
 * seen outside fs/fuse. Functions return 0, or -1 with one line in err.
 */
#ifndef HSMFS_DAEMON_H
#define HSMFS_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs/vol/opts.h"

struct daemon_opts {
	struct vol_opts vol;
	const char *cipherdir, *mountpoint;
	bool foreground; /* stay attached, log to stderr */
	bool debug;
	bool writeback;
	bool allow_other, default_perms;
	bool ro;       /* -o ro: a shared claim on the volume, not alone */
	bool nonempty; /* mount over a directory that has entries */
	bool allow_unlocked_keys; /* go on when key memory cannot be locked */
	bool skip_bad_names; /* list a directory without its bad names */
	/* -o dev or -o suid (the last given): device nodes and set-user-ID
	 * bits work in the mount, which only root may ask for. */
	const char *root_opt;
	double timeout;
	unsigned threads, prefetch, readahead;
	/* Format 3: block encryptions one file key may make before writes
	 * to that file are refused (at most, and by default, 2^32). */
	uint64_t write_limit;
	/* volume-wrap: seconds between re-validations of the KEK. */
	unsigned kek_check;
	/* -o audit_log=PATH: a JSON line per file-key use (fs/fuse/audit.h) */
	const char *audit_log;
	/* -o follow_kek_versions[=S]: seconds between reads of the KEK's
	 * current version (0: not followed); -o rekey_rate: unwraps a
	 * second of the background rewrap that follows a new version. */
	unsigned follow_s, rekey_rate;
	char kernel_opts[512]; /* ro, noatime, ...: ",opt" each */
	/* -o log=PATH|syslog|stderr: where the daemon logs (default: stderr
	 * with -f, else syslog); a file is opened before daemonizing. */
	const char *log;
	int log_fd;
	/* Why daemon_opt refused a value: the values allowed ("1..256"). */
	char why[96];
};

void daemon_opts_init(struct daemon_opts *d);
/* Takes one mount option that is not a volume option (no_writeback,
 * timeout=, ro, ...): 0, -EINVAL for a bad value (d->why says which
 * values are allowed), -ENOENT if unknown. */
int daemon_opt(struct daemon_opts *d, const char *opt);
/* Checks the mount point (a directory, not a mount of hsmfs, not dead,
 * empty unless nonempty), opens and claims the volume (one read-write
 * mount at a time, or any number of read-only ones), mounts it and
 * serves: in the foreground until it is unmounted, or else in a daemon,
 * returning once the mount is ready. */
int daemon_mount(struct daemon_opts *d, char *err, size_t errlen);

#endif
