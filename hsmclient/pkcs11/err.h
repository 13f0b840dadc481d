/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A CKR_* return value as a kek_status and one operator-usable line, and
 * which of them mean the sessions are gone (closed, logged out, token
 * removed) so that reopening them and trying once more may work.
 */
#ifndef HSMFS_P11_ERR_H
#define HSMFS_P11_ERR_H

#include <stdbool.h>

#include <p11-kit/pkcs11.h>

#include "hsmclient/kek.h"

/* The status for rv (not CKR_OK); writes "WHAT: TEXT (CKR 0xNN)[; hint]"
 * into err[KEK_ERR_MAX]. */
enum kek_status p11err(CK_RV rv, const char *what, char *err);
/* The status for rv alone. */
enum kek_status p11err_status(CK_RV rv);
/* True if rv says the session or its login is lost. */
bool p11err_lost(CK_RV rv);
/* True if rv says the object handle no longer names an object. */
bool p11err_stale_handle(CK_RV rv);

#endif
