/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "keys.h"

#include "rbac.h"
#include "rbacapi.h"
#include "store.h"

/* Routes /{scope}/providers/Microsoft.Authorization/role{Definitions,
 * Assignments}[/{name}]; the scope may come with extra slashes ("///"
 * for "/", as the SDKs send it). */
enum api_op rbacapi_route(const char *m, const char *path, struct route *rt)
{
	static const char mid[] = "/providers/Microsoft.Authorization/";
	const char *p = strcasestr(path, mid), *rest, *s = path;
	int get = !strcmp(m, "GET"), put = !strcmp(m, "PUT"), del = !strcmp(m, "DELETE");
	int defs;
	size_t n;

	while (*s == '/' && s < p)
		s++;
	n = (size_t)(p - s);
	while (n && s[n - 1] == '/')
		n--;
	if (n + 2 > sizeof(rt->scope))
		return OP_UNKNOWN;
	rt->scope[0] = '/';
	memcpy(rt->scope + 1, s, n);
	rt->scope[n + 1] = '\0';
	if (!strncasecmp(rt->scope, "/keys/", 6)) {
		if (key_name_ok(rt->scope + 6))
			snprintf(rt->key, sizeof(rt->key), "%s", rt->scope + 6);
		else
			rt->bad_key = 1;
	}
	rest = p + strlen(mid);
	defs = !strncasecmp(rest, "roleDefinitions", 15);
	if (!defs && strncasecmp(rest, "roleAssignments", 15))
		return OP_UNKNOWN;
	rest += 15;
	if (!rest[0] || !strcmp(rest, "/"))
		return get ? (defs ? OP_RD_LIST : OP_RA_LIST) : OP_UNKNOWN;
	if (rest[0] != '/' || strchr(rest + 1, '/') || strlen(rest + 1) >= sizeof(rt->item))
		return OP_UNKNOWN;
	snprintf(rt->item, sizeof(rt->item), "%s", rest + 1);
	if (get)
		return defs ? OP_RD_GET : OP_RA_GET;
	if (put)
		return defs ? OP_RD_PUT : OP_RA_PUT;
	return del ? (defs ? OP_RD_DELETE : OP_RA_DELETE) : OP_UNKNOWN;
}

/* RB_* failures in the service's codes. */
static void rb_error(struct reply *rp, int rc, int defs, const char *err)
{
	if (rc == RB_NOTFOUND)
		reply_error(rp, 404, defs ? "RoleDefinitionNotFound" : "RoleAssignmentNotFound",
			    NULL, "%s", err[0] ? err : defs ? "Requested role definition not found"
							    : "Requested role assignment not found");
	else if (rc == RB_CONFLICT)
		reply_error(rp, 409, "Conflict", NULL, "%s", err);
	else if (rc == RB_BADPARAM)
		reply_error(rp, 400, "BadParameter", NULL, "%s", err);
	else
		reply_error(rp, 500, "InternalError", NULL, "out of memory");
}

/* {"value":[...]} without paging: the lists are short. */
static void reply_list(struct reply *rp, cJSON *arr)
{
	cJSON *doc = cJSON_CreateObject();

	if (!doc || !arr) {
		cJSON_Delete(doc);
		cJSON_Delete(arr);
		reply_error(rp, 500, "InternalError", NULL, "out of memory");
		return;
	}
	cJSON_AddItemToObject(doc, "value", arr);
	reply_json(rp, 200, doc);
}

/* Runs one RBAC operation under the store lock; changes are persisted. */
void rbacapi_handle(struct req *r, const struct route *rt, struct reply *rp)
{
	int defs = rt->op == OP_RD_LIST || rt->op == OP_RD_GET ||
		   rt->op == OP_RD_PUT || rt->op == OP_RD_DELETE;
	int change = rt->op == OP_RD_PUT || rt->op == OP_RD_DELETE ||
		     rt->op == OP_RA_PUT || rt->op == OP_RA_DELETE;
	cJSON *body = NULL, *out = NULL;
	char err[300] = "";
	int rc = RB_OK;

	if ((rt->op == OP_RD_PUT || rt->op == OP_RA_PUT) && !(body = req_json(r))) {
		reply_error(rp, 400, "BadParameter", NULL, "The request body must be a JSON object");
		return;
	}
	store_lock();
	switch (rt->op) {
	case OP_RD_LIST: out = rbac_roles_json(); break;
	case OP_RD_GET: rc = rbac_role_get(rt->item, &out); break;
	case OP_RD_PUT: rc = rbac_role_put(rt->item, body, &out, err, sizeof(err)); break;
	case OP_RD_DELETE: rc = rbac_role_delete(rt->item, &out, err, sizeof(err)); break;
	case OP_RA_LIST:
		rc = rbac_asg_list(rt->scope, req_arg(r, "$filter"), &out, err, sizeof(err));
		break;
	case OP_RA_GET: rc = rbac_asg_get(rt->scope, rt->item, &out); break;
	case OP_RA_PUT: rc = rbac_asg_put(rt->scope, rt->item, body, &out, err, sizeof(err)); break;
	case OP_RA_DELETE: rc = rbac_asg_delete(rt->scope, rt->item, &out); break;
	default: rc = RB_NOTFOUND;
	}
	if (!rc && change && api_save_or_fail(err, sizeof(err)))
		rc = RB_NOMEM;
	store_unlock();
	cJSON_Delete(body);
	if (rc) {
		cJSON_Delete(out);
		rb_error(rp, rc, defs, err);
	} else if (rt->op == OP_RD_LIST || rt->op == OP_RA_LIST) {
		reply_list(rp, out);
	} else {
		reply_json(rp, rt->op == OP_RD_PUT || rt->op == OP_RA_PUT ? 201 : 200, out);
	}
}
