/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local audit of file-key use (-o audit_log=PATH): one JSON line per
 * file key a file was opened or created with, and per open refused for
 * want of its key: when, which file (plaintext path and file id), which
 * key slot (KEK version or wrapping-key generation), where the key came
 * from (the HSM, the volume's wrapping key, the cache, or new), and who
 * asked (uid, gid, pid of the request; none for the prefetcher). The
 * HSM's own log shows only the HSM's calls: in volume mode, one per mount
 * and per re-validation; this shows every file.
 *
 * Records are written before the key is used and the log is never
 * skipped: a record that cannot be written refuses the open (-EIO, one
 * line in the daemon's log). audit_open: 0 or -1 with err.
 */
#ifndef HSMFS_FUSE_AUDIT_H
#define HSMFS_FUSE_AUDIT_H

#include "fsd.h"
#include "inode.h"
#include "fs/vol/filekey.h"

/* Opens (creates, 0600, appending) the log for fs: 0, or -1 with err. */
int audit_open(struct fsd *fs, const char *path, char *err, size_t n);
void audit_close(void);
/* Remembers who sent the request this thread serves (while the log is
 * open). */
void audit_request(fuse_req_t req);
/* The requester of this thread opens in for writing: the one a later
 * key creation is recorded for, if the request that makes it (a
 * write-back) names nobody. */
void audit_opener(struct inode *in);
/* One record. event: "open", "create" or "prefetch"; in the file's
 * inode (NULL: unknown); fd the backing file; slot the slot of h that
 * gave the key (or < 0 when res says why not); res 0 or the -errno the
 * application got. 0, or -EIO if the record could not be written (the
 * caller refuses the key). */
int audit_key(struct fsd *fs, struct inode *in, const char *event, int fd,
	      const struct hdr *h, int slot, const char *src, int res);
/* A key source's name in the log. */
const char *audit_src(enum vol_key_src src);

#endif
