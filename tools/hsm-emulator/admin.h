/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Managed HSM administration requests of the disaster-recovery
 * lifecycle: security domain (/securitydomain/...), full backup (/backup)
 * and full restore (/restore). Each needs api-version and either a bearer
 * token whose principal holds the data action (Managed HSM Administrator,
 * Backup, Restore) or the X-Emulator-Control header (ctl, standing in for
 * the HSM's initial administrator).
 */
#ifndef HSMEMU_ADMIN_H
#define HSMEMU_ADMIN_H

#include "http.h"

/* 1 if r is one of these requests (r->op set for faults and audit). */
int admin_route(struct req *r);
void admin_handle(struct req *r, struct reply *rp);
/* 1 if key operations may run now; otherwise replies why (not activated,
 * a full restore in progress) and returns 0. */
int admin_keys_allowed(struct reply *rp);
/* Base URL + path of an operation's status, for Azure-AsyncOperation. */
void admin_async_op(struct reply *rp, const char *path);

#endif
