/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Azure key URLs and key ids (kids), endpoint bases and token scopes:
 *   https://NAME.managedhsm.azure.net/keys/KEY[/VERSION]
 *   https://NAME.vault.azure.net/keys/KEY[/VERSION]
 *   https://ANY-HOST[:PORT]/keys/KEY[/VERSION]  (with an explicit scope)
 * KEY is [0-9a-zA-Z-]{1,127}; VERSION is 32 hex digits (what Azure
 * generates). Kids come back from untrusted file headers and HSM answers,
 * so anything else is refused. Parsers return a kek_status and, on
 * failure, write one line into err[KEK_ERR_MAX].
 */
#ifndef HSMFS_AZ_URL_H
#define HSMFS_AZ_URL_H

#include <stdbool.h>

#include "hsmclient/azure/http.h"
#include "hsmclient/kek.h"

#define AZ_NAME_MAX 128    /* key name, NUL included */
#define AZ_VERSION_LEN 32
#define AZ_SCOPE_MAX 200   /* explicit token scope, NUL excluded */

/* A parsed key URL or kid. base is canonical: lower case, no ":443". */
struct az_keyurl {
	char base[HTTP_BASE_MAX];
	char host[HTTP_BASE_MAX];
	char name[AZ_NAME_MAX];
	char version[AZ_VERSION_LEN + 1]; /* "" if none */
};

/* Parses a KEK URL (kid false: version optional, one trailing slash
 * allowed) or a kid (kid true: base/keys/NAME/VERSION exactly). */
enum kek_status azure_parse_key_url(const char *url, bool kid,
				    struct az_keyurl *u, char err[KEK_ERR_MAX]);
/* Parses "https://host[:port][/]" into its canonical form. */
enum kek_status azure_parse_base(const char *s, char base[HTTP_BASE_MAX],
				 char host[HTTP_BASE_MAX],
				 char err[KEK_ERR_MAX]);
/* Token scope of a well-known Azure host, or NULL. */
const char *azure_scope_for_host(const char *host);
/* The domain whose hosts a token of this scope may go to unasked
 * (".managedhsm.azure.net"), or NULL for a scope of no Azure domain. */
const char *azure_domain_for_scope(const char *scope);
/* True if an explicit scope may go into a token request: 1..AZ_SCOPE_MAX
 * printable characters, no spaces or quotes. */
bool azure_scope_ok(const char *scope);

#endif
