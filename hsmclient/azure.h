/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KEK provider for Azure Managed HSM and Azure Key Vault ("https" URLs):
 *   https://NAME.managedhsm.azure.net/keys/KEY[/VERSION]
 *   https://NAME.vault.azure.net/keys/KEY[/VERSION]
 *   https://ANY-HOST[:PORT]/keys/KEY[/VERSION]  (with kek_opts.scope)
 * KEY is [0-9a-zA-Z-]{1,127}; VERSION is 32 hex digits (what Azure
 * generates). RSA keys wrap locally with the cached public key; unwraps
 * and all oct-key operations go to the HSM.
 */
#ifndef HSMFS_AZURE_H
#define HSMFS_AZURE_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"
#include "kek.h"

#define AZ_NAME_MAX 128    /* key name, NUL included */
#define AZ_VERSION_LEN 32
#define AZ_DEADLINE_MS 15000
#define AZ_API_DEFAULT "7.4"

extern const struct kek_provider azure_provider;

/* A parsed key URL or kid. base is canonical: lower case, no ":443". */
struct az_keyurl {
	char base[HTTP_BASE_MAX];
	char host[HTTP_BASE_MAX];
	char name[AZ_NAME_MAX];
	char version[AZ_VERSION_LEN + 1]; /* "" if none */
};

/* The helpers below are exposed for tests. */

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
/* Maps a non-2xx HSM answer to a status and one operator-usable line.
 * op is KEK_OP_*; vault selects Key Vault role names over Managed HSM's. */
enum kek_status azure_http_error(int op, const char *key, long status,
				 const char *body, size_t len,
				 const char *www_auth, unsigned retry_after_ms,
				 bool vault, char err[KEK_ERR_MAX]);

/* Runs the key-bundle and unwrap-result parsers over an HSM answer, for
 * the fuzzer (the bytes are untrusted network input). */
enum kek_status azure_parse_answers(const char *body, size_t len, char *err);

#endif
