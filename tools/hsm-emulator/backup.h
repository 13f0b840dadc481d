/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Full backup and full restore (routed by admin.c, caller authorized).
 *
 * The "blob container" of a storageResourceUri https://ACCOUNT.<host>/
 * CONTAINER is the directory ROOT/ACCOUNT/CONTAINER under --blob-root;
 * both names must be valid Azure Storage names (lowercase letters, digits,
 * hyphens), so no request reaches outside ROOT. A backup is a folder
 * mhsm-emulator-<UTC time> holding backup.json: every key with all its
 * versions and attributes, and the role assignments, sealed under the
 * security domain. One backup or restore runs at a time, in its own
 * thread; key operations are refused while a restore runs.
 */
#ifndef HSMEMU_BACKUP_H
#define HSMEMU_BACKUP_H

#include "http.h"

/* --blob-root; without it every backup and restore is refused. */
int backup_set_root(const char *dir);
void backup_start(struct req *r, struct reply *rp, const char *job);
void backup_status(struct req *r, struct reply *rp, const char *job);
void restore_start(struct req *r, struct reply *rp, const char *job);
void restore_status(struct req *r, struct reply *rp, const char *job);
/* 1 while a full restore runs (or waits, held). */
int backup_restoring(void);
/* Control API /_emulator/jobs: {"hold": bool} keeps new jobs waiting
 * (InProgress) until released, so tests can see one run. */
void backup_control(struct req *r, struct reply *rp);
/* Waits for a running job at shutdown. */
void backup_shutdown(void);

#endif
