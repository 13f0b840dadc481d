/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which PKCS#11 module code runs, loaded and initialized through p11-kit,
 * and the slot holding a token. The trust rule: a module is code this
 * process runs with its keys, so a URI the operator did not name
 * (host_named false: it may come from an untrusted volume config) may
 * only pick a module p11-kit has registered (pkcs11.conf(5) module
 * files, written by root or the user running hsmfs): by module-name=,
 * or by a module-path= equal to a registered module's absolute path. A
 * URI the operator named may load any module-path=. Calls return a
 * kek_status and on failure write one line into err[KEK_ERR_MAX].
 */
#ifndef HSMFS_P11_MODULE_H
#define HSMFS_P11_MODULE_H

#include <stdbool.h>
#include <stddef.h>

#include <p11-kit/pkcs11.h>

#include "hsmclient/kek.h"
#include "hsmclient/pkcs11/uri.h"

/* The module u names, loaded and initialized (C_Initialize with OS
 * locking); its name or path into desc[cap] for messages. */
enum kek_status p11mod_open(const struct p11uri *u, bool host_named,
			    CK_FUNCTION_LIST **out, char *desc, size_t cap,
			    char *err);
/* Finalizes and initializes f again: a module that reads its tokens
 * only at C_Initialize (SoftHSM2 scans its token directory then) sees
 * them as they are now. No call may be in progress on f meanwhile. */
enum kek_status p11mod_reinit(CK_FUNCTION_LIST *f, const char *token,
			      char *err);
/* Finalizes (for this user of the module) and unloads; NULL is a no-op. */
void p11mod_close(CK_FUNCTION_LIST *f);
/* The slot whose present token has label token (blank-padded labels
 * compared trimmed), with the token's flags. KEK_E_NOTFOUND if none,
 * KEK_E_INVAL if more than one token has that label. */
enum kek_status p11mod_slot(CK_FUNCTION_LIST *f, const char *token,
			    CK_SLOT_ID *slot, CK_FLAGS *flags, char *err);

#endif
