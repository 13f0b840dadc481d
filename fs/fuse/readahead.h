/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel readahead of our own mount. FUSE caps it at what the daemon
 * answers in INIT, itself capped at what the kernel offered (128 KiB);
 * each read request is decrypted serially, so bigger readahead (bigger,
 * overlapped requests) reads much faster. Only the mount's bdi in sysfs
 * goes higher, and only once the INIT reply has been processed (the
 * kernel lowers ra_pages to the reply then). Best effort: failures are
 * logged once, never returned.
 */
#ifndef HSMFS_FUSE_READAHEAD_H
#define HSMFS_FUSE_READAHEAD_H

struct fsd;

/* Sets read_ahead_kb of the mount to fs->readahead_kb (0: leaves it),
 * once per daemon; call from a request handler (INIT is done). Failures
 * are logged, never returned. */
void readahead_apply(struct fsd *fs);

#endif
