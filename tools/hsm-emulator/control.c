/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "api.h"
#include "backup.h"
#include "clients.h"
#include "control.h"
#include "domain.h"
#include "faults.h"
#include "json.h"
#include "keys.h"
#include "rbac.h"
#include "store.h"
#include "util.h"

#define ALL 1000000

/* Exact method and path match. */
static int is(const struct req *r, const char *method, const char *path)
{
	return !strcmp(r->method, method) && !strcmp(r->path, path);
}

/* "/_emulator/<coll>/<name>[/<action>]" -> name (and action). */
static int sub_path(const char *path, const char *coll, char *name,
		    size_t cap, const char **action)
{
	size_t n = strlen(coll);
	const char *p, *slash;

	if (strncmp(path, coll, n) || path[n] != '/')
		return 0;
	p = path + n + 1;
	slash = strchr(p, '/');
	*action = slash ? slash + 1 : "";
	n = slash ? (size_t)(slash - p) : strlen(p);
	if (!n || n >= cap)
		return 0;
	memcpy(name, p, n);
	name[n] = '\0';
	return 1;
}

/* Saves after a change made under the lock; 500 on failure. */
static int saved(struct reply *rp)
{
	if (!store_save())
		return 1;
	reply_error(rp, 500, "InternalError", NULL, "cannot persist the emulator state");
	return 0;
}

/* GET shows, POST replaces, DELETE clears the fault settings. */
static void faults_ctl(struct req *r, struct reply *rp)
{
	char err[300];
	cJSON *j;

	if (!strcmp(r->method, "POST")) {
		j = req_json(r);
		if (!j || faults_set(j, err, sizeof(err))) {
			reply_error(rp, 400, "BadParameter", NULL, "%s",
				    j ? err : "body must be a JSON object");
			cJSON_Delete(j);
			return;
		}
		cJSON_Delete(j);
	} else if (!strcmp(r->method, "DELETE")) {
		faults_clear();
	} else if (strcmp(r->method, "GET")) {
		reply_error(rp, 405, "BadParameter", NULL, "GET, POST or DELETE");
		return;
	}
	reply_json(rp, 200, faults_get());
}

/* POST /_emulator/keys {name, kty, key_size, ...}. */
static void key_create(struct req *r, struct reply *rp)
{
	cJSON *j = req_json(r), *b = NULL;
	const char *name = json_str(j, "name");
	char err[300];
	int rc;

	if (!key_name_ok(name)) {
		reply_error(rp, 400, "BadParameter", NULL, "name must be 1-127 of [0-9a-zA-Z-]");
		cJSON_Delete(j);
		return;
	}
	snprintf(r->key, sizeof(r->key), "%s", name);
	rc = keyops_create(name, j, &b, err, sizeof(err));
	cJSON_Delete(j);
	if (rc)
		reply_key_error(rp, rc, err);
	else
		reply_json(rp, 200, b);
}

/* GET /_emulator/keys: all keys, latest version attributes. */
static void key_list(struct reply *rp)
{
	cJSON *doc = cJSON_CreateObject(), *page;
	int more;

	store_lock();
	page = keys_list(0, ALL, &more);
	store_unlock();
	if (doc && page)
		cJSON_AddItemToObject(doc, "value", page);
	else
		cJSON_Delete(page);
	reply_json(rp, 200, doc);
}

/* /_emulator/keys/<name>/{rotate,update,purge,recover} and DELETE
 * /_emulator/keys/<name> (a soft delete, as on the data plane). */
static void key_item(struct req *r, struct reply *rp, const char *name,
		     const char *action)
{
	cJSON *j = NULL, *b = NULL;
	char err[300];
	int rc;

	snprintf(r->key, sizeof(r->key), "%s", name);
	if (!strcmp(r->method, "POST") && !strcmp(action, "rotate")) {
		rc = keyops_rotate(name, &b, err, sizeof(err));
	} else if (!strcmp(r->method, "POST") && !strcmp(action, "update")) {
		j = req_json(r);
		const char *ver = json_str(j, "version");
		rc = KE_BADPARAM;
		snprintf(err, sizeof(err), "body must be a JSON object");
		if (j && (!ver || !ver[0] || key_version_ok(ver)))
			rc = keyops_update(name, ver, j, &b, err, sizeof(err));
		cJSON_Delete(j);
	} else if (!strcmp(r->method, "POST") &&
		   (!strcmp(action, "purge") || !strcmp(action, "recover"))) {
		store_lock();
		rc = !strcmp(action, "purge") ? keys_deleted_get(name, &b) : keys_recover(name, &b);
		if (!rc && !strcmp(action, "purge"))
			rc = keys_purge(name);
		if (!rc && !saved(rp)) {
			store_unlock();
			cJSON_Delete(b);
			return;
		}
		store_unlock();
		snprintf(err, sizeof(err), "no deleted key %s", name);
	} else if (!strcmp(r->method, "DELETE") && !action[0]) {
		store_lock();
		rc = keys_delete(name, &b);
		if (!rc && !saved(rp)) {
			store_unlock();
			cJSON_Delete(b);
			return;
		}
		store_unlock();
		snprintf(err, sizeof(err), "key %s not found", name);
	} else {
		reply_error(rp, 404, "NotFound", NULL, "unknown control operation");
		return;
	}
	if (rc)
		reply_key_error(rp, rc, err);
	else
		reply_json(rp, 200, b);
}

/* POST /_emulator/clients; the body may hold a secret, so wipe it. */
static void client_add(struct req *r, struct reply *rp)
{
	cJSON *j = req_json(r), *out = NULL;
	char err[300];
	int rc;

	if (!j) {
		reply_error(rp, 400, "BadParameter", NULL, "body must be a JSON object");
		return;
	}
	store_lock();
	rc = clients_add(j, &out, err, sizeof(err));
	if (!rc && !saved(rp)) {
		store_unlock();
		cJSON_Delete(out);
		goto out;
	}
	store_unlock();
	if (rc)
		reply_error(rp, 400, "BadParameter", NULL, "%s", err);
	else
		reply_json(rp, 200, out);
out:
	cjson_wipe(j);
	cJSON_Delete(j);
}

/* DELETE /_emulator/clients/{id}. */
static void client_remove(struct reply *rp, const char *id)
{
	int rc;

	store_lock();
	rc = clients_remove(id);
	if (!rc && !saved(rp)) {
		store_unlock();
		return;
	}
	store_unlock();
	if (rc)
		reply_error(rp, 404, "NotFound", NULL, "no client %s", id);
	else
		reply_empty(rp, 204, "ok");
}

/* Lists clients or role assignments under the lock. */
static void list(struct reply *rp, cJSON *(*fn)(void))
{
	cJSON *doc = cJSON_CreateObject(), *arr;

	store_lock();
	arr = fn();
	store_unlock();
	if (doc && arr)
		cJSON_AddItemToObject(doc, "value", arr);
	else
		cJSON_Delete(arr);
	reply_json(rp, 200, doc);
}

/* POST /_emulator/roles and /_emulator/roles/remove. */
static void role_change(struct req *r, struct reply *rp, int remove)
{
	cJSON *j = req_json(r), *out = NULL;
	const char *p = json_str(j, "principal"), *role = json_str(j, "role");
	const char *scope = json_str(j, "scope");
	char err[300];
	int rc;

	if (!scope)
		scope = "/";
	store_lock();
	if (remove) {
		rc = rbac_remove(p, role, scope);
		snprintf(err, sizeof(err), "no such role assignment");
	} else {
		rc = rbac_assign(p, role, scope, &out, err, sizeof(err));
	}
	if (!rc && !saved(rp)) {
		store_unlock();
		cJSON_Delete(out);
		cJSON_Delete(j);
		return;
	}
	store_unlock();
	cJSON_Delete(j);
	if (rc)
		reply_error(rp, remove ? 404 : 400, remove ? "NotFound" : "BadParameter",
			    NULL, "%s", err);
	else if (remove)
		reply_empty(rp, 204, "ok");
	else
		reply_json(rp, 200, out);
}

/* GET /_emulator/status: base URL, tenant, token lifetime. */
static void status(struct reply *rp)
{
	cJSON *o = cJSON_CreateObject();

	if (o) {
		cJSON_AddStringToObject(o, "url", emu.base);
		cJSON_AddStringToObject(o, "tenant", emu.tenant);
		cJSON_AddNumberToObject(o, "token_lifetime", emu.token_lifetime);
		cJSON_AddStringToObject(o, "activation_status", domain_status());
	}
	reply_json(rp, 200, o);
}

/* Control requests bypass faults so an outage can always be ended. */
void control_handle(struct req *r, struct reply *rp)
{
	const char *tok = req_header(r, "X-Emulator-Control"), *action;
	char name[EMU_ID_MAX + 1];

	r->op = "control";
	if (!tok || !ct_streq(tok, store_control_token())) {
		reply_error(rp, 401, "Unauthorized", NULL,
			    "X-Emulator-Control must carry the content of control.token");
		return;
	}
	snprintf(r->principal, sizeof(r->principal), "control");
	if (!strcmp(r->path, "/_emulator/faults"))
		faults_ctl(r, rp);
	else if (is(r, "GET", "/_emulator/status"))
		status(rp);
	else if (!strcmp(r->path, "/_emulator/jobs"))
		backup_control(r, rp);
	else if (!strncmp(r->path, "/_emulator/keys", 15) && !admin_keys_allowed(rp))
		return;
	else if (is(r, "POST", "/_emulator/keys"))
		key_create(r, rp);
	else if (is(r, "GET", "/_emulator/keys"))
		key_list(rp);
	else if (sub_path(r->path, "/_emulator/keys", name, sizeof(name), &action) &&
		 key_name_ok(name))
		key_item(r, rp, name, action);
	else if (is(r, "POST", "/_emulator/clients"))
		client_add(r, rp);
	else if (is(r, "GET", "/_emulator/clients"))
		list(rp, clients_list_json);
	else if (!strcmp(r->method, "DELETE") &&
		 sub_path(r->path, "/_emulator/clients", name, sizeof(name), &action) &&
		 !action[0])
		client_remove(rp, name);
	else if (is(r, "POST", "/_emulator/roles"))
		role_change(r, rp, 0);
	else if (is(r, "POST", "/_emulator/roles/remove"))
		role_change(r, rp, 1);
	else if (is(r, "GET", "/_emulator/roles"))
		list(rp, rbac_list_json);
	else
		reply_error(rp, 404, "NotFound", NULL, "unknown control endpoint");
}
