/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registered principals ("app registrations"): a client id, an object id,
 * and credentials: a secret (kept only as a salted hash), a certificate,
 * a federated identity (issuer, subject, audience, RSA public key), and/or
 * the managed-identity flag. Caller holds the store lock throughout.
 */
#ifndef HSMEMU_CLIENTS_H
#define HSMEMU_CLIENTS_H

#include <cjson/cJSON.h>

#include "emu.h"

#define DEFAULT_FED_AUDIENCE "api://AzureADTokenExchange"

/* Credentials copied out of the store for checking without the lock. */
struct client_creds {
	char id[EMU_ID_MAX + 1];
	char oid[37];
	int has_secret;
	unsigned char salt[16], hash[32];
	char *cert_pem;
	char *fed_issuer, *fed_subject, *fed_audience, *fed_key_pem;
};

/* Adds or extends a client from a control request; err on failure. */
int clients_add(const cJSON *req, cJSON **out, char *err, size_t errcap);
int clients_remove(const char *id_or_oid);
/* Client id for a client id or object id; NULL if unknown. */
const char *clients_resolve(const char *id_or_oid);
/* Object id of a client, NULL if unknown. */
const char *clients_oid(const char *id);
/* Copies a client's credentials; -1 if unknown. */
int clients_get_creds(const char *id, struct client_creds *c);
void client_creds_clear(struct client_creds *c);
/* 1 if secret matches the stored hash. */
int client_secret_ok(const struct client_creds *c, const char *secret);
/* Managed identity for IMDS: the given client id, or the first one. */
int clients_managed_identity(const char *want, char id[EMU_ID_MAX + 1],
			     char oid[37]);
cJSON *clients_list_json(void);
cJSON *clients_to_json(void);
int clients_from_json(const cJSON *arr);
void clients_free_all(void);

#endif
