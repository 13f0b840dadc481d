/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HSM error answers: maps a non-2xx answer of Managed HSM or Key Vault
 * ({"error":{"code","message","innererror":{"code"}}}) to a kek_status and
 * one operator-usable line in err[KEK_ERR_MAX]: what was refused, the
 * server's code and message (shortened so that the hint always fits), and
 * for 401/403/429 what to do about it.
 */
#ifndef HSMFS_AZ_ERR_H
#define HSMFS_AZ_ERR_H

#include <stdbool.h>
#include <stddef.h>

#include "hsmclient/kek.h"

/* op is KEK_OP_*, key the key name; vault selects Key Vault role names
 * over Managed HSM's in a 403 hint. */
enum kek_status azure_http_error(int op, const char *key, long status,
				 const char *body, size_t len,
				 const char *www_auth, unsigned retry_after_ms,
				 bool vault, char err[KEK_ERR_MAX]);

#endif
