/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Managed HSM local RBAC: built-in and custom role definitions with their
 * data actions, role assignments (principal, role, scope "/", "/keys" or
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
#define DA_DEL_READ DA_PREFIX "keys/deletedKeys/read/action"
#define DA_DEL_RECOVER DA_PREFIX "keys/deletedKeys/recover/action"
#define DA_DEL_PURGE DA_PREFIX "keys/deletedKeys/delete"
#define DA_KEYS_BACKUP DA_PREFIX "keys/backup/action"
#define DA_KEYS_RESTORE DA_PREFIX "keys/restore/action"
#define DA_RELEASE DA_PREFIX "keys/release/action"
#define DA_IMPORT DA_PREFIX "keys/import/action"
#define DA_EXPORT DA_PREFIX "keys/export/action"
#define DA_ENCRYPT DA_PREFIX "keys/encrypt/action"
#define DA_DECRYPT DA_PREFIX "keys/decrypt/action"
#define DA_SIGN DA_PREFIX "keys/sign/action"
#define DA_VERIFY DA_PREFIX "keys/verify/action"
#define DA_RA_READ DA_PREFIX "roleAssignments/read/action"
#define DA_RA_WRITE DA_PREFIX "roleAssignments/write/action"
#define DA_RA_DELETE DA_PREFIX "roleAssignments/delete/action"
#define DA_RD_READ DA_PREFIX "roleDefinitions/read/action"
#define DA_RD_WRITE DA_PREFIX "roleDefinitions/write/action"
#define DA_RD_DELETE DA_PREFIX "roleDefinitions/delete/action"
#define DA_SD_DOWNLOAD DA_PREFIX "securitydomain/download/action"
#define DA_SD_UPLOAD DA_PREFIX "securitydomain/upload/action"
#define DA_BK_START DA_PREFIX "backup/start/action"
#define DA_BK_STATUS DA_PREFIX "backup/status/action"
#define DA_RS_START DA_PREFIX "restore/start/action"
#define DA_RS_STATUS DA_PREFIX "restore/status/action"
#define DA_RNG DA_PREFIX "rng/action"
#define DA_DERIVE DA_PREFIX "keys/derive/action"
#define DA_SD_DOWNLOAD_READ DA_PREFIX "securitydomain/download/read"
#define DA_SD_UPLOAD_READ DA_PREFIX "securitydomain/upload/read"
#define DA_SD_TRANSFERKEY DA_PREFIX "securitydomain/transferkey/read"

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

/* Role definitions and assignments over REST; RB_* results. */
enum { RB_OK = 0, RB_NOTFOUND = -1, RB_BADPARAM = -2, RB_CONFLICT = -3, RB_NOMEM = -4 };
cJSON *rbac_roles_json(void);
int rbac_role_get(const char *name, cJSON **out);
int rbac_role_put(const char *name, const cJSON *body, cJSON **out,
		  char *err, size_t cap);
int rbac_role_delete(const char *name, cJSON **out, char *err, size_t cap);
int rbac_asg_get(const char *scope, const char *name, cJSON **out);
int rbac_asg_put(const char *scope, const char *name, const cJSON *body,
		 cJSON **out, char *err, size_t cap);
int rbac_asg_delete(const char *scope, const char *name, cJSON **out);
int rbac_asg_list(const char *scope, const char *filter, cJSON **out,
		  char *err, size_t cap);
/* Custom role definitions in state.json. */
cJSON *rbac_roles_to_json(void);
int rbac_roles_from_json(const cJSON *arr);
void rbac_roles_free_all(void);

#endif
