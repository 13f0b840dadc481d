/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where the Azure credential settings come from, gathered into one set:
 *   1. the environment (AZURE_TENANT_ID, AZURE_CLIENT_ID,
 *      AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH,
 *      AZURE_CLIENT_CERTIFICATE_PASSWORD, AZURE_FEDERATED_TOKEN_FILE,
 *      AZURE_AUTHORITY_HOST), or the copy azcred_seal_env made of it;
 *   2. systemd credentials: files in $CREDENTIALS_DIRECTORY named
 *      azure-tenant-id, azure-client-id, azure-client-secret,
 *      azure-client-certificate (the PEM itself) and
 *      azure-client-certificate-password;
 *   3. a credential file (kek_opts.credential_file): NAME=VALUE lines
 *      with the environment's names.
 * Each source overrides the settings it gives; one that gives a secret,
 * a certificate or a federated token file also drops those of the
 * sources before it, so that a credential is never half from one place
 * and half from another. Files holding secrets must be readable by
 * their owner (root or the caller) only (common/cfile.h). Secrets live
 * in secure memory. Calls return a kek_status and on failure write one
 * line into err[KEK_ERR_MAX].
 */
#ifndef HSMFS_AZ_CRED_H
#define HSMFS_AZ_CRED_H

#include <stdbool.h>

#include "hsmclient/kek.h"

enum azcred_var {
	AZ_TENANT,
	AZ_CLIENT,
	AZ_SECRET,
	AZ_CERT,
	AZ_CERT_PASS,
	AZ_FED,
	AZ_AUTHORITY,
	AZ_NVARS,
};

struct azcred {
	char *v[AZ_NVARS]; /* secure memory; NULL: not given */
	bool from_dir;     /* $CREDENTIALS_DIRECTORY gave something */
	bool from_file;    /* a credential file was read */
};

/* The set for one open; file may be NULL. */
enum kek_status azcred_gather(const char *file, struct azcred *c, char *err);
void azcred_clear(struct azcred *c);
/* The environment name of a setting ("AZURE_CLIENT_SECRET"). */
const char *azcred_name(enum azcred_var v);
/* True if the set names a secret, certificate or federated token. */
bool azcred_has_credential(const struct azcred *c);

/* The provider's kek_seal_env: copies the environment's settings into
 * secure memory, then overwrites the secrets' bytes in the environment
 * block and unsets them. Once. */
void azcred_seal_env(void);

#endif
