/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Entra-like token endpoint (client secret, certificate assertion,
 * federated assertion), IMDS managed identity, and bearer checks.
 * Access tokens are RS256 JWTs under a key kept in the state directory
 * (published in the JWKS, see oidc.h), so a copy of the state directory
 * honours the same tokens.
 */
#ifndef HSMEMU_AUTH_H
#define HSMEMU_AUTH_H

#include <stddef.h>

#include "http.h"

/* 1 if path is /{tenant}/oauth2/v2.0/token; copies the tenant. */
int auth_token_path(const char *path, char *tenant, size_t cap);
void auth_token(struct req *r, const char *tenant, struct reply *rp);
void auth_imds(struct req *r, struct reply *rp);
/* Reads the bearer token; on success fills r->principal and r->oid. */
enum auth_state auth_bearer(struct req *r);
/* 401 with the Managed HSM challenge and an Unauthorized error body. */
void auth_unauthorized(const struct req *r, struct reply *rp);
/* Local RBAC: 1 if r's principal may do action on key (NULL: on the
 * whole HSM); else 0 with the service's 403 ForbiddenByRbac in rp. */
int auth_authorized(const struct req *r, struct reply *rp, const char *action,
		    const char *key);

#endif
