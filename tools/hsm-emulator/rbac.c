/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clients.h"
#include "json.h"
#include "keys.h"
#include "rbac.h"
#include "util.h"

#define MAX_ASSIGNMENTS 2000

#define DA_DEL_READ DA_PREFIX "keys/deletedKeys/read/action"
#define DA_DEL_RECOVER DA_PREFIX "keys/deletedKeys/recover/action"
#define DA_DEL_PURGE DA_PREFIX "keys/deletedKeys/delete"
#define DA_BACKUP DA_PREFIX "keys/backup/action"
#define DA_RESTORE DA_PREFIX "keys/restore/action"
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

struct role {
	const char *id;
	const char *name;
	const char *const *actions;     /* NULL-terminated */
};

static const char *const admin_da[] = {
	DA_RA_READ, DA_RA_WRITE, DA_RA_DELETE, DA_RD_READ, DA_RD_WRITE,
	DA_RD_DELETE, DA_SD_DOWNLOAD, DA_SD_UPLOAD, DA_BK_START, DA_BK_STATUS,
	DA_RS_START, DA_RS_STATUS, NULL,
};
static const char *const officer_da[] = {
	DA_KEYS_READ, DA_KEYS_WRITE, DA_KEYS_ROTATE, DA_KEYS_CREATE,
	DA_KEYS_DELETE, DA_DEL_READ, DA_DEL_RECOVER, DA_DEL_PURGE, DA_EXPORT,
	DA_RA_READ, DA_RA_WRITE, DA_RA_DELETE, DA_RD_READ, NULL,
};
static const char *const user_da[] = {
	DA_KEYS_READ, DA_KEYS_WRITE, DA_KEYS_ROTATE, DA_KEYS_CREATE,
	DA_KEYS_DELETE, DA_DEL_READ, DA_BACKUP, DA_RESTORE, DA_IMPORT,
	DA_ENCRYPT, DA_DECRYPT, DA_KEYS_WRAP, DA_KEYS_UNWRAP, DA_SIGN,
	DA_VERIFY, DA_RNG, NULL,
};
static const char *const policy_da[] = {
	DA_RA_READ, DA_RA_WRITE, DA_RA_DELETE, DA_RD_READ, NULL,
};
static const char *const auditor_da[] = {
	DA_KEYS_READ, DA_DEL_READ, DA_RA_READ, DA_RD_READ, NULL,
};
static const char *const sencrypt_da[] = {
	DA_KEYS_READ, DA_KEYS_WRAP, DA_KEYS_UNWRAP, NULL,
};
static const char *const srelease_da[] = { DA_KEYS_READ, DA_RELEASE, NULL };
static const char *const backup_da[] = {
	DA_BK_START, DA_BK_STATUS, DA_BACKUP, NULL,
};
static const char *const restore_da[] = {
	DA_RS_START, DA_RS_STATUS, DA_RESTORE, NULL,
};

static const struct role roles[] = {
	{ "a290e904-7015-4bba-90c8-60543313cdb4", "Managed HSM Administrator", admin_da },
	{ "515eb02d-2335-4d2d-92f2-b1cbdf9c3778", "Managed HSM Crypto Officer", officer_da },
	{ "21dbd100-6940-42c2-9190-5d6cb909625b", "Managed HSM Crypto User", user_da },
	{ "4bd23610-cdcf-4971-bdee-bdc562cc28e4", "Managed HSM Policy Administrator", policy_da },
	{ "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3", "Managed HSM Crypto Auditor", auditor_da },
	{ "33413926-3206-4cdd-b39a-83574fe37a17", "Managed HSM Crypto Service Encryption User", sencrypt_da },
	{ "21dbd100-6940-42c2-9190-5d6cb909625c", "Managed HSM Crypto Service Release User", srelease_da },
	{ "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8", "Managed HSM Backup", backup_da },
	{ "6efe6056-5259-49d2-8b3d-d3d73544b20b", "Managed HSM Restore", restore_da },
};
#define NROLES (sizeof(roles) / sizeof(roles[0]))

struct assignment {
	char id[37];
	char principal[EMU_ID_MAX + 1];
	const struct role *role;
	char scope[8 + EMU_NAME_MAX + 1];
};

static struct assignment *asg;
static size_t nasg;

/* Role by display name (any case, "Managed HSM " optional) or GUID. */
static const struct role *role_find(const char *s)
{
	for (size_t i = 0; i < NROLES; i++) {
		const char *short_name = roles[i].name + strlen("Managed HSM ");
		if (!strcasecmp(s, roles[i].name) || !strcasecmp(s, short_name) ||
		    !strcasecmp(s, roles[i].id))
			return &roles[i];
		/* Full role definition id form ends in the GUID. */
		size_t n = strlen(s);
		if (n > 36 && !strcasecmp(s + n - 36, roles[i].id) && s[n - 37] == '/')
			return &roles[i];
	}
	return NULL;
}

/* Whether a role grants a data action. */
static int role_has(const struct role *r, const char *action)
{
	for (const char *const *a = r->actions; *a; a++)
		if (!strcmp(*a, action))
			return 1;
	return 0;
}

/* "/", "/keys" and "/keys/<valid key name>" are the scopes that exist. */
static int scope_ok(const char *scope)
{
	if (!strcmp(scope, "/") || !strcmp(scope, "/keys"))
		return 1;
	return !strncmp(scope, "/keys/", 6) && key_name_ok(scope + 6);
}

/* A scope covers a key if it is HSM-wide or names that key. */
static int scope_covers(const char *scope, const char *key)
{
	if (!strcmp(scope, "/") || !strcmp(scope, "/keys"))
		return 1;
	return key && !strcasecmp(scope + 6, key);
}

/* Any matching assignment grants (no deny assignments). */
int rbac_allowed(const char *principal, const char *action, const char *key)
{
	for (size_t i = 0; i < nasg; i++)
		if (!strcmp(asg[i].principal, principal) &&
		    scope_covers(asg[i].scope, key) && role_has(asg[i].role, action))
			return 1;
	return 0;
}

/* For 403 messages: which roles would grant action. */
void rbac_granting_roles(const char *action, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < NROLES && n < cap; i++) {
		if (!role_has(&roles[i], action))
			continue;
		int w = snprintf(out + n, cap - n, "%s%s", n ? ", " : "", roles[i].name);
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

/* RoleAssignment as the service returns it, plus clientId. */
static cJSON *assignment_json(const struct assignment *a)
{
	cJSON *o = cJSON_CreateObject(), *p = cJSON_CreateObject();
	char id[400], rd[200];
	const char *oid = clients_oid(a->principal);

	if (!o || !p) {
		cJSON_Delete(o);
		cJSON_Delete(p);
		return NULL;
	}
	snprintf(id, sizeof(id), "%s%sproviders/Microsoft.Authorization/roleAssignments/%s",
		 a->scope, strcmp(a->scope, "/") ? "/" : "", a->id);
	snprintf(rd, sizeof(rd),
		 "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/%s",
		 a->role->id);
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "name", a->id);
	cJSON_AddStringToObject(o, "type", "Microsoft.Authorization/roleAssignments");
	cJSON_AddItemToObject(o, "properties", p);
	cJSON_AddStringToObject(p, "scope", a->scope);
	cJSON_AddStringToObject(p, "roleDefinitionId", rd);
	cJSON_AddStringToObject(p, "roleName", a->role->name);
	cJSON_AddStringToObject(p, "principalId", oid ? oid : "");
	cJSON_AddStringToObject(p, "clientId", a->principal);
	return o;
}

/* Finds an assignment by its triple; -1 if none. */
static long asg_find(const char *principal, const struct role *r,
		     const char *scope)
{
	for (size_t i = 0; i < nasg; i++)
		if (!strcmp(asg[i].principal, principal) && asg[i].role == r &&
		    !strcasecmp(asg[i].scope, scope))
			return (long)i;
	return -1;
}

/* Appends an assignment after validating every part of it. */
static int asg_add(const char *id, const char *principal, const struct role *r,
		   const char *scope)
{
	struct assignment *na;

	if (nasg >= MAX_ASSIGNMENTS)
		return -1;
	na = realloc(asg, (nasg + 1) * sizeof(*asg));
	if (!na)
		return -1;
	asg = na;
	memset(&asg[nasg], 0, sizeof(asg[nasg]));
	snprintf(asg[nasg].id, sizeof(asg[nasg].id), "%s", id);
	snprintf(asg[nasg].principal, sizeof(asg[nasg].principal), "%s", principal);
	asg[nasg].role = r;
	snprintf(asg[nasg].scope, sizeof(asg[nasg].scope), "%s", scope);
	nasg++;
	return 0;
}

/* Idempotent: assigning twice returns the existing assignment. */
int rbac_assign(const char *principal, const char *role, const char *scope,
		cJSON **out, char *err, size_t errcap)
{
	const char *id = principal ? clients_resolve(principal) : NULL;
	const struct role *r = role ? role_find(role) : NULL;
	char guid[37];
	long i;

	if (!id) {
		snprintf(err, errcap, "unknown principal (add the client first)");
		return -1;
	}
	if (!r) {
		snprintf(err, errcap, "unknown role '%.64s'", role ? role : "");
		return -1;
	}
	if (!scope || !scope_ok(scope)) {
		snprintf(err, errcap, "scope must be /, /keys or /keys/<name>");
		return -1;
	}
	i = asg_find(id, r, scope);
	if (i < 0) {
		if (make_guid(guid) || asg_add(guid, id, r, scope)) {
			snprintf(err, errcap, "cannot add role assignment");
			return -1;
		}
		i = (long)nasg - 1;
	}
	*out = assignment_json(&asg[i]);
	return 0;
}

/* Removes the assignment with that principal, role and scope. */
int rbac_remove(const char *principal, const char *role, const char *scope)
{
	const char *id = principal ? clients_resolve(principal) : NULL;
	const struct role *r = role ? role_find(role) : NULL;
	long i;

	if (!id || !r || !scope)
		return -1;
	i = asg_find(id, r, scope);
	if (i < 0)
		return -1;
	memmove(asg + i, asg + i + 1, (nasg - (size_t)i - 1) * sizeof(*asg));
	nasg--;
	return 0;
}

/* Drops every assignment of a removed client. */
void rbac_remove_principal(const char *principal)
{
	size_t o = 0;

	for (size_t i = 0; i < nasg; i++)
		if (strcmp(asg[i].principal, principal))
			asg[o++] = asg[i];
	nasg = o;
}

/* All assignments for the control API. */
cJSON *rbac_list_json(void)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr && i < nasg; i++)
		cJSON_AddItemToArray(arr, assignment_json(&asg[i]));
	return arr;
}

/* State-file form of the assignments. */
cJSON *rbac_to_json(void)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr && i < nasg; i++) {
		cJSON *o = cJSON_CreateObject();
		if (!o) {
			cJSON_Delete(arr);
			return NULL;
		}
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "id", asg[i].id);
		cJSON_AddStringToObject(o, "principal", asg[i].principal);
		cJSON_AddStringToObject(o, "role", asg[i].role->id);
		cJSON_AddStringToObject(o, "scope", asg[i].scope);
	}
	return arr;
}

/* Loads assignments; any bad entry fails the load. */
int rbac_from_json(const cJSON *arr)
{
	const cJSON *o;

	if (!arr)
		return 0;
	if (!cJSON_IsArray(arr))
		return -1;
	cJSON_ArrayForEach(o, arr) {
		const char *id = json_str(o, "id"), *p = json_str(o, "principal");
		const char *role = json_str(o, "role"), *scope = json_str(o, "scope");
		const struct role *r = role ? role_find(role) : NULL;
		if (!id || strlen(id) != 36 || !valid_ident(p, EMU_ID_MAX, "-._") ||
		    !r || !scope || !scope_ok(scope) || asg_add(id, p, r, scope))
			return -1;
	}
	return 0;
}

/* Drops all assignments at shutdown. */
void rbac_free_all(void)
{
	free(asg);
	asg = NULL;
	nasg = 0;
}
