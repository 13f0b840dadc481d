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

#define MAX_CUSTOM_ROLES 50      /* Managed HSM: custom role definitions */

struct role {
	const char *id;
	const char *name;
	const char *description;
	const char *const *actions;     /* dataActions, NULL-terminated */
	const char *const *not_actions; /* notDataActions */
	int custom;
};


/* The built-in roles as the service defines them (GET roleDefinitions). */
static const char *const admin_da[] = {
	DA_RA_DELETE, DA_RA_READ, DA_RA_WRITE, DA_RD_READ, DA_RD_WRITE,
	DA_RD_DELETE, DA_SD_DOWNLOAD, DA_SD_DOWNLOAD_READ, DA_SD_UPLOAD,
	DA_SD_UPLOAD_READ, DA_SD_TRANSFERKEY, DA_BK_START, DA_RS_START,
	DA_BK_STATUS, DA_RS_STATUS, NULL,
};
/* Role management and deleted keys only: no key creation or use. */
static const char *const officer_da[] = {
	DA_RA_DELETE, DA_RA_READ, DA_RA_WRITE, DA_RD_READ, DA_RD_WRITE,
	DA_RD_DELETE, DA_DEL_READ, DA_DEL_PURGE, DA_DEL_RECOVER, DA_EXPORT, NULL,
};
static const char *const user_da[] = {
	DA_RD_READ, DA_RA_READ, DA_KEYS_READ, DA_KEYS_WRITE, DA_KEYS_DELETE,
	DA_KEYS_CREATE, DA_KEYS_ROTATE, DA_IMPORT, DA_RELEASE, DA_KEYS_BACKUP,
	DA_KEYS_RESTORE, DA_ENCRYPT, DA_DECRYPT, DA_KEYS_WRAP, DA_KEYS_UNWRAP,
	DA_SIGN, DA_VERIFY, DA_DERIVE, DA_RNG, NULL,
};
static const char *const policy_da[] = {
	DA_RD_READ, DA_RD_WRITE, DA_RD_DELETE, DA_RA_READ, DA_RA_WRITE,
	DA_RA_DELETE, NULL,
};
static const char *const auditor_da[] = {
	DA_RA_READ, DA_RD_READ, DA_KEYS_READ, DA_DEL_READ, NULL,
};
static const char *const sencrypt_da[] = {
	DA_KEYS_READ, DA_KEYS_WRAP, DA_KEYS_UNWRAP, NULL,
};
static const char *const srelease_da[] = { DA_RELEASE, NULL };
static const char *const backup_da[] = {
	DA_BK_START, DA_BK_STATUS, DA_KEYS_BACKUP, NULL,
};
static const char *const restore_da[] = {
	DA_RS_START, DA_RS_STATUS, DA_KEYS_RESTORE, NULL,
};
static const char *const none_da[] = { NULL };

static const struct role roles[] = {
	{ "a290e904-7015-4bba-90c8-60543313cdb4", "Managed HSM Administrator", "", admin_da, none_da, 0 },
	{ "515eb02d-2335-4d2d-92f2-b1cbdf9c3778", "Managed HSM Crypto Officer", "", officer_da, none_da, 0 },
	{ "21dbd100-6940-42c2-9190-5d6cb909625b", "Managed HSM Crypto User", "", user_da, none_da, 0 },
	{ "4bd23610-cdcf-4971-bdee-bdc562cc28e4", "Managed HSM Policy Administrator", "", policy_da, none_da, 0 },
	{ "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3", "Managed HSM Crypto Auditor", "", auditor_da, none_da, 0 },
	{ "33413926-3206-4cdd-b39a-83574fe37a17", "Managed HSM Crypto Service Encryption User", "", sencrypt_da, none_da, 0 },
	{ "21dbd100-6940-42c2-9190-5d6cb909625c", "Managed HSM Crypto Service Release User", "", srelease_da, none_da, 0 },
	{ "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8", "Managed HSM Backup", "", backup_da, none_da, 0 },
	{ "6efe6056-5259-49d2-8b3d-d3d73544b20b", "Managed HSM Restore", "", restore_da, none_da, 0 },
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

static struct role **custom;             /* custom role definitions */
static void role_free(struct role *r);
static size_t ncustom;

/* 1 if s names role r: display name (any case, "Managed HSM " optional
 * for built-ins), GUID, or a full role definition id ending in it. */
static int role_is(const struct role *r, const char *s)
{
	size_t n = strlen(s);

	if (!strcasecmp(s, r->id) || !strcasecmp(s, r->name))
		return 1;
	if (!r->custom && !strcasecmp(s, r->name + strlen("Managed HSM ")))
		return 1;
	return n > 36 && s[n - 37] == '/' && !strcasecmp(s + n - 36, r->id);
}

/* Built-in or custom role by name, GUID or id. */
static const struct role *role_find(const char *s)
{
	for (size_t i = 0; i < NROLES; i++)
		if (role_is(&roles[i], s))
			return &roles[i];
	for (size_t i = 0; i < ncustom; i++)
		if (role_is(custom[i], s))
			return custom[i];
	return NULL;
}

/* 1 if action is in a NULL-terminated list. */
static int listed(const char *const *list, const char *action)
{
	for (; *list; list++)
		if (!strcmp(*list, action))
			return 1;
	return 0;
}

/* Whether a role grants a data action (notDataActions take it away). */
static int role_has(const struct role *r, const char *action)
{
	return listed(r->actions, action) && !listed(r->not_actions, action);
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
static cJSON *assignment_json(const struct assignment *a, int rest)
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
	cJSON_AddStringToObject(p, "principalId", oid ? oid : "");
	if (rest)
		return o;
	/* The control API also names the role and the client. */
	cJSON_AddStringToObject(p, "roleName", a->role->name);
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
	*out = assignment_json(&asg[i], 0);
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
		cJSON_AddItemToArray(arr, assignment_json(&asg[i], 0));
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

/* Drops the custom role definitions at shutdown (after the assignments,
 * which point at them). */
void rbac_roles_free_all(void)
{
	for (size_t i = 0; i < ncustom; i++)
		role_free(custom[i]);
	free(custom);
	custom = NULL;
	ncustom = 0;
}

/* ---- role definitions and assignments over REST ---- */

static const char *const known_da[] = {
	DA_KEYS_READ, DA_KEYS_WRITE, DA_KEYS_ROTATE, DA_KEYS_CREATE,
	DA_KEYS_DELETE, DA_KEYS_WRAP, DA_KEYS_UNWRAP, DA_DEL_READ, DA_DEL_RECOVER,
	DA_DEL_PURGE, DA_KEYS_BACKUP, DA_KEYS_RESTORE, DA_RELEASE, DA_IMPORT, DA_EXPORT,
	DA_ENCRYPT, DA_DECRYPT, DA_SIGN, DA_VERIFY, DA_DERIVE, DA_RA_READ,
	DA_RA_WRITE, DA_RA_DELETE, DA_RD_READ, DA_RD_WRITE, DA_RD_DELETE,
	DA_SD_DOWNLOAD, DA_SD_DOWNLOAD_READ, DA_SD_UPLOAD, DA_SD_UPLOAD_READ,
	DA_SD_TRANSFERKEY, DA_BK_START, DA_BK_STATUS, DA_RS_START, DA_RS_STATUS,
	DA_RNG, NULL,
};

/* Frees a custom role (its strings and lists are owned). */
static void role_free(struct role *r)
{
	if (!r)
		return;
	for (const char *const *a = r->actions; a && *a; a++)
		free((char *)*a);
	for (const char *const *a = r->not_actions; a && *a; a++)
		free((char *)*a);
	free((void *)r->actions);
	free((void *)r->not_actions);
	free((char *)r->id);
	free((char *)r->name);
	free((char *)r->description);
	free(r);
}

/* A JSON array of strings as an owned NULL-terminated list of known data
 * actions; an absent array is an empty list. */
static const char *const *action_list(const cJSON *arr, int *bad)
{
	int n = arr ? cJSON_GetArraySize(arr) : 0, i = 0;
	const char **l;
	const cJSON *it;

	if (arr && !cJSON_IsArray(arr)) {
		*bad = 1;
		return NULL;
	}
	l = calloc((size_t)n + 1, sizeof(*l));
	if (!l)
		return NULL;
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it) || !listed(known_da, it->valuestring) ||
		    !(l[i] = strdup(it->valuestring))) {
			*bad = 1;
			break;
		}
		i++;
	}
	return l;
}

/* RoleDefinition as the service returns it. */
static cJSON *role_json(const struct role *r)
{
	cJSON *o = cJSON_CreateObject(), *p, *perms, *pm, *a;
	char id[200];

	if (!o)
		return NULL;
	snprintf(id, sizeof(id),
		 "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/%s", r->id);
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "name", r->id);
	cJSON_AddStringToObject(o, "type", "Microsoft.Authorization/roleDefinitions");
	p = cJSON_AddObjectToObject(o, "properties");
	if (!p)
		return o;
	a = cJSON_AddArrayToObject(p, "assignableScopes");
	if (a)
		cJSON_AddItemToArray(a, cJSON_CreateString("/"));
	cJSON_AddStringToObject(p, "description", r->description);
	perms = cJSON_AddArrayToObject(p, "permissions");
	pm = cJSON_CreateObject();
	if (perms && pm) {
		cJSON_AddArrayToObject(pm, "actions");
		a = cJSON_AddArrayToObject(pm, "dataActions");
		for (const char *const *d = r->actions; a && *d; d++)
			cJSON_AddItemToArray(a, cJSON_CreateString(*d));
		cJSON_AddArrayToObject(pm, "notActions");
		a = cJSON_AddArrayToObject(pm, "notDataActions");
		for (const char *const *d = r->not_actions; a && *d; d++)
			cJSON_AddItemToArray(a, cJSON_CreateString(*d));
		cJSON_AddItemToArray(perms, pm);
	} else {
		cJSON_Delete(pm);
	}
	cJSON_AddStringToObject(p, "roleName", r->name);
	cJSON_AddStringToObject(p, "type", r->custom ? "CustomRole" : "AKVBuiltInRole");
	return o;
}

/* Every role definition, built-in first. */
cJSON *rbac_roles_json(void)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr && i < NROLES; i++)
		cJSON_AddItemToArray(arr, role_json(&roles[i]));
	for (size_t i = 0; arr && i < ncustom; i++)
		cJSON_AddItemToArray(arr, role_json(custom[i]));
	return arr;
}

/* One role definition by its name (GUID). */
int rbac_role_get(const char *name, cJSON **out)
{
	const struct role *r = role_find(name);

	if (!r || strcasecmp(r->id, name))
		return RB_NOTFOUND;
	*out = role_json(r);
	return *out ? RB_OK : RB_NOMEM;
}

/* Index of a custom role by GUID, or -1. */
static long custom_pos(const char *name)
{
	for (size_t i = 0; i < ncustom; i++)
		if (!strcasecmp(custom[i]->id, name))
			return (long)i;
	return -1;
}

/* Builds a custom role from a RoleDefinitionCreateParameters body. */
static struct role *role_from_body(const char *name, const cJSON *props,
				   char *err, size_t cap)
{
	const cJSON *perms = cJSON_GetObjectItemCaseSensitive(props, "permissions");
	const cJSON *pm = cJSON_IsArray(perms) ? cJSON_GetArrayItem(perms, 0) : NULL;
	const char *rn = json_str(props, "roleName"), *desc = json_str(props, "description");
	const char *type = json_str(props, "type");
	struct role *r = calloc(1, sizeof(*r));
	int bad = 0;

	if (!r)
		return NULL;
	r->custom = 1;
	r->id = strdup(name);
	r->name = strdup(rn && rn[0] ? rn : name);
	r->description = strdup(desc ? desc : "");
	r->actions = action_list(cJSON_GetObjectItemCaseSensitive(pm, "dataActions"), &bad);
	r->not_actions = action_list(cJSON_GetObjectItemCaseSensitive(pm, "notDataActions"), &bad);
	if (bad || (perms && !cJSON_IsArray(perms)) || (type && strcmp(type, "CustomRole")) ||
	    strlen(r->name ? r->name : "") > 256) {
		snprintf(err, cap, "The role definition is invalid: type must be CustomRole and "
			 "permissions may name only Managed HSM data actions");
		role_free(r);
		return NULL;
	}
	if (!r->id || !r->name || !r->description || !r->actions || !r->not_actions) {
		snprintf(err, cap, "out of memory");
		role_free(r);
		return NULL;
	}
	return r;
}

/* PUT roleDefinitions/{name}: creates or replaces a custom role. */
int rbac_role_put(const char *name, const cJSON *body, cJSON **out,
		  char *err, size_t cap)
{
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(body, "properties");
	const struct role *same;
	struct role *r, **nc;
	long i;

	for (size_t k = 0; k < NROLES; k++)
		if (!strcasecmp(roles[k].id, name)) {
			snprintf(err, cap, "Cannot re-use the name/GUID matching that of a built-in role");
			return RB_BADPARAM;
		}
	if (strlen(name) != 36 || !valid_ident(name, 36, "-") || !cJSON_IsObject(props)) {
		snprintf(err, cap, "The role definition name must be a GUID and the body must have properties");
		return RB_BADPARAM;
	}
	r = role_from_body(name, props, err, cap);
	if (!r)
		return RB_BADPARAM;
	same = role_find(r->name);
	if (same && strcasecmp(same->id, name)) {
		snprintf(err, cap, "A role definition named '%.100s' already exists", r->name);
		role_free(r);
		return RB_CONFLICT;
	}
	i = custom_pos(name);
	if (i >= 0) {
		/* Assignments point at the role: update it in place. */
		struct role *old = custom[i];
		struct role tmp = *old;
		*old = *r;
		*r = tmp;
		role_free(r);
		*out = role_json(old);
		return RB_OK;
	}
	nc = ncustom < MAX_CUSTOM_ROLES ? realloc(custom, (ncustom + 1) * sizeof(*nc)) : NULL;
	if (!nc) {
		snprintf(err, cap, "At most %d custom role definitions", MAX_CUSTOM_ROLES);
		role_free(r);
		return RB_BADPARAM;
	}
	custom = nc;
	custom[ncustom++] = r;
	*out = role_json(r);
	return RB_OK;
}

/* DELETE roleDefinitions/{name}: custom roles no assignment uses. */
int rbac_role_delete(const char *name, cJSON **out, char *err, size_t cap)
{
	long i = custom_pos(name);

	if (i < 0) {
		snprintf(err, cap, role_find(name) ? "Built-in roles cannot be deleted"
						   : "Requested role definition not found");
		return role_find(name) ? RB_BADPARAM : RB_NOTFOUND;
	}
	for (size_t k = 0; k < nasg; k++)
		if (asg[k].role == custom[i]) {
			snprintf(err, cap, "The role definition has role assignments; remove them first");
			return RB_CONFLICT;
		}
	*out = role_json(custom[i]);
	role_free(custom[i]);
	memmove(custom + i, custom + i + 1, (ncustom - (size_t)i - 1) * sizeof(*custom));
	ncustom--;
	return RB_OK;
}

/* Index of an assignment by name (GUID), or -1. */
static long asg_pos(const char *name)
{
	for (size_t i = 0; i < nasg; i++)
		if (!strcasecmp(asg[i].id, name))
			return (long)i;
	return -1;
}

/* GET roleAssignments/{name} (at the scope it was made). */
int rbac_asg_get(const char *scope, const char *name, cJSON **out)
{
	long i = asg_pos(name);

	if (i < 0 || strcasecmp(asg[i].scope, scope))
		return RB_NOTFOUND;
	*out = assignment_json(&asg[i], 1);
	return *out ? RB_OK : RB_NOMEM;
}

/* PUT roleAssignments/{name} {"properties":{roleDefinitionId, principalId}}. */
int rbac_asg_put(const char *scope, const char *name, const cJSON *body,
		 cJSON **out, char *err, size_t cap)
{
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(body, "properties");
	const char *rd = json_str(props, "roleDefinitionId"), *pid = json_str(props, "principalId");
	const char *client = pid ? clients_resolve(pid) : NULL;
	const struct role *r = rd ? role_find(rd) : NULL;

	if (strlen(name) != 36 || !valid_ident(name, 36, "-") || !rd || !pid) {
		snprintf(err, cap, "The role assignment name must be a GUID, with properties "
			 "roleDefinitionId and principalId");
		return RB_BADPARAM;
	}
	if (!scope_ok(scope)) {
		snprintf(err, cap, "Scope must be /, /keys or /keys/<key name>");
		return RB_BADPARAM;
	}
	if (!r) {
		snprintf(err, cap, "Requested role definition not found");
		return RB_NOTFOUND;
	}
	if (!client) {
		snprintf(err, cap, "Principal %.64s does not exist in the directory", pid);
		return RB_BADPARAM;
	}
	if (asg_pos(name) >= 0 || asg_find(client, r, scope) >= 0) {
		snprintf(err, cap, "The role assignment already exists");
		return RB_CONFLICT;
	}
	if (asg_add(name, client, r, scope)) {
		snprintf(err, cap, "Too many role assignments");
		return RB_BADPARAM;
	}
	*out = assignment_json(&asg[nasg - 1], 1);
	return RB_OK;
}

/* DELETE roleAssignments/{name}: answers the deleted assignment. */
int rbac_asg_delete(const char *scope, const char *name, cJSON **out)
{
	long i = asg_pos(name);

	if (i < 0 || strcasecmp(asg[i].scope, scope))
		return RB_NOTFOUND;
	*out = assignment_json(&asg[i], 1);
	memmove(asg + i, asg + i + 1, (nasg - (size_t)i - 1) * sizeof(*asg));
	nasg--;
	return RB_OK;
}

/* Whether an assignment's scope is at or above scope ("/" and "/keys"
 * both mean the whole HSM). */
static int at_or_above(const char *asg_scope, const char *scope)
{
	return !strcmp(asg_scope, "/") || !strcasecmp(asg_scope, scope) ||
	       (!strcmp(asg_scope, "/keys") && strcmp(scope, "/"));
}

/* GET roleAssignments[?$filter=atScope() and/or principalId eq '<id>']:
 * without atScope() the assignments below the scope are listed too. */
int rbac_asg_list(const char *scope, const char *filter, cJSON **out,
		  char *err, size_t cap)
{
	char pid[64] = "";
	const char *p, *client = NULL;
	int at = 0;

	if (filter && filter[0]) {
		at = strstr(filter, "atScope()") != NULL;
		p = strstr(filter, "principalId eq '");
		if (p && sscanf(p, "principalId eq '%63[^']'", pid) != 1)
			pid[0] = '\0';
		if (!at && !pid[0]) {
			snprintf(err, cap, "Supported filters: atScope(), principalId eq '{id}'");
			return RB_BADPARAM;
		}
		if (pid[0] && !(client = clients_resolve(pid)))
			client = "";
	}
	*out = cJSON_CreateArray();
	for (size_t i = 0; *out && i < nasg; i++) {
		size_t sl = strlen(scope);
		int below = !strcmp(scope, "/") ||
			    (!strncasecmp(asg[i].scope, scope, sl) &&
			     (!asg[i].scope[sl] || asg[i].scope[sl] == '/'));
		if (client && strcmp(asg[i].principal, client))
			continue;
		if (at_or_above(asg[i].scope, scope) || (!at && below))
			cJSON_AddItemToArray(*out, assignment_json(&asg[i], 1));
	}
	return *out ? RB_OK : RB_NOMEM;
}

/* State-file form of the custom role definitions. */
cJSON *rbac_roles_to_json(void)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr && i < ncustom; i++)
		cJSON_AddItemToArray(arr, role_json(custom[i]));
	return arr;
}

/* Loads custom role definitions (before the assignments that use them);
 * one already there under the same GUID is replaced. */
int rbac_roles_from_json(const cJSON *arr)
{
	const cJSON *o;
	char err[200];
	cJSON *out;

	if (!arr)
		return 0;
	if (!cJSON_IsArray(arr))
		return -1;
	cJSON_ArrayForEach(o, arr) {
		const char *name = json_str(o, "name");
		out = NULL;
		if (!name || rbac_role_put(name, o, &out, err, sizeof(err)))
			return -1;
		cJSON_Delete(out);
	}
	return 0;
}
