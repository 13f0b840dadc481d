/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Microsoft Entra ID credentials and the access-token cache, configured
 * from the same settings as the Azure SDKs' DefaultAzureCredential
 * (from the environment, systemd credentials or a credential file:
 * cred.h), tried in its order:
 *   1. EnvironmentCredential: AZURE_TENANT_ID + AZURE_CLIENT_ID +
 *      AZURE_CLIENT_SECRET (wins) or AZURE_CLIENT_CERTIFICATE_PATH
 *      (+ AZURE_CLIENT_CERTIFICATE_PASSWORD);
 *   2. WorkloadIdentityCredential: AZURE_TENANT_ID + AZURE_CLIENT_ID +
 *      AZURE_FEDERATED_TOKEN_FILE (re-read for every token);
 *   3. ManagedIdentityCredential: IMDS (HSMFS_IMDS_ENDPOINT overrides
 *      http://169.254.169.254; AZURE_CLIENT_ID picks a user-assigned one).
 * AZURE_AUTHORITY_HOST overrides https://login.microsoftonline.com.
 * Secrets live in secure memory and are wiped when dropped. Calls return a
 * kek_status and on failure write one line into err[KEK_ERR_MAX].
 */
#ifndef HSMFS_AZ_AUTH_H
#define HSMFS_AZ_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/secmem.h"
#include "hsmclient/azure/client.h"
#include "hsmclient/stats.h"
#include "hsmclient/kek.h"

#define AZAUTH_TOKEN_MAX (16 * 1024)
#define AZAUTH_DEFAULT_AUTHORITY "https://login.microsoftonline.com"
#define AZAUTH_DEFAULT_IMDS "http://169.254.169.254"

enum azauth_kind {
	AZAUTH_SECRET,
	AZAUTH_CERT,
	AZAUTH_WORKLOAD,
	AZAUTH_MANAGED,
};

struct azauth;

/* Gathers the credential settings (cred.h: the environment, systemd
 * credentials, cred_file if not NULL) and picks a credential; no network
 * I/O. scope is "<resource>/.default". c carries token requests; token
 * requests are counted in stats. */
enum kek_status azauth_new(struct client *c, struct stats *stats,
			   const char *scope, const char *cred_file,
			   struct azauth **out, char *err);
void azauth_free(struct azauth *a);
enum azauth_kind azauth_kind(const struct azauth *a);
const char *azauth_kind_name(enum azauth_kind k);

/* A copy of "Authorization: Bearer <token>" in secure memory (free with
 * secmem_strfree), fetching or refreshing the token within deadline.
 * *gen names the token; *cached is true if it came from the cache. */
enum kek_status azauth_header(struct azauth *a, uint64_t deadline,
			      char **hdr, unsigned *gen, bool *cached,
			      char *err);
/* Drops token gen (after a 401) so the next call fetches a new one. */
void azauth_invalidate(struct azauth *a, unsigned gen);

/* Parses a token endpoint's (or IMDS's) 200 answer into an Authorization
 * header value (secure memory: free with secmem_strfree) and its lifetime.
 * Exposed for the fuzzer: the body is untrusted network input. */
enum kek_status azauth_token_parse(const struct http_resp *rs, char **hdr,
				   uint64_t *life_ms, char *err);

#endif
