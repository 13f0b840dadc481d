/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Managed HSM local RBAC: built-in role definitions with their data
 * actions, role assignments (principal, role, scope "/", "/keys" or
 * "/keys/<name>"), and the per-request check. Caller holds the store lock
 * except for rbac_granting_roles, which reads constant tables only.
 */
#ifndef HSMEMU_RBAC_H
#define HSMEMU_RBAC_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define DA_PREFIX "Microsoft.KeyVault/managedHsm/"
#define DA_KEYS_READ DA_PREFIX "keys/read/action"
#define DA_KEYS_WRITE DA_PREFIX "keys/write/action"
#define DA_KEYS_ROTATE DA_PREFIX "keys/rotate/action"
#define DA_KEYS_CREATE DA_PREFIX "keys/create"
#define DA_KEYS_DELETE DA_PREFIX "keys/delete"
#define DA_KEYS_WRAP DA_PREFIX "keys/wrap/action"
#define DA_KEYS_UNWRAP DA_PREFIX "keys/unwrap/action"

/* 1 if principal holds action on key (NULL key = HSM-wide request). */
int rbac_allowed(const char *principal, const char *action, const char *key);
/* Comma-separated names of built-in roles that grant action. */
void rbac_granting_roles(const char *action, char *out, size_t cap);
int rbac_assign(const char *principal, const char *role, const char *scope,
		cJSON **out, char *err, size_t errcap);
int rbac_remove(const char *principal, const char *role, const char *scope);
void rbac_remove_principal(const char *principal);
cJSON *rbac_list_json(void);
cJSON *rbac_to_json(void);
int rbac_from_json(const cJSON *arr);
void rbac_free_all(void);

#endif
