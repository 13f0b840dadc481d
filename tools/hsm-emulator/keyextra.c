/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A key backup is an opaque blob: the key's stored form sealed under the
 * HSM's security domain (domain_seal, purpose "key backup"), base64url of
 * the sealed envelope's text. Like the service's, it restores only into
 * an HSM of the same security domain: this one, a copy of its state, or
 * one recovered from its security domain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "domain.h"
#include "json.h"
#include "keyextra.h"
#include "keys.h"
#include "store.h"
#include "util.h"

#define BLOB_PURPOSE "key backup"

/* Routes /rng and /settings[/{name}]. */
enum api_op keyextra_route(const char *m, char **seg, int n, struct route *rt)
{
	if (!strcmp(seg[0], "rng") && n == 1)
		return !strcmp(m, "POST") ? OP_RNG : OP_UNKNOWN;
	if (strcmp(seg[0], "settings") || strcmp(m, "GET"))
		return OP_UNKNOWN;
	if (n == 1 || (n == 2 && !seg[1][0]))
		return OP_SETTINGS;
	if (n == 2 && strlen(seg[1]) < sizeof(rt->item)) {
		snprintf(rt->item, sizeof(rt->item), "%s", seg[1]);
		return OP_SETTING_GET;
	}
	return OP_UNKNOWN;
}

/* The key's stored form, sealed, as base64url text. */
static char *seal(const cJSON *doc)
{
	cJSON *env = domain_seal(doc, BLOB_PURPOSE);
	char *text = env ? cJSON_PrintUnformatted(env) : NULL, *out;

	cJSON_Delete(env);
	out = text ? b64url_alloc((const uint8_t *)text, strlen(text)) : NULL;
	free(text);
	return out;
}

/* The stored form inside a blob; NULL (reason in err) if it is not one of
 * this security domain. */
static cJSON *unseal(const char *value, char *err, size_t cap)
{
	size_t vl = strlen(value);
	uint8_t *buf = malloc(vl + 1);
	long n = buf ? b64_decode_any(value, vl, buf, vl) : -1;
	cJSON *env = n > 0 ? cJSON_ParseWithLength((const char *)buf, (size_t)n) : NULL;
	cJSON *doc = env ? domain_unseal(env, BLOB_PURPOSE, err, cap) : NULL;

	if (!env)
		snprintf(err, cap, "not a key backup");
	cJSON_Delete(env);
	free(buf);
	return doc;
}

/* POST /keys/{name}/backup: {"value": blob}. */
static void backup(struct req *r, const struct route *rt, struct reply *rp)
{
	cJSON *doc = NULL, *o;
	char *blob = NULL;
	int rc;

	(void)r;
	store_lock();
	rc = keys_backup(rt->key, &doc);
	store_unlock();
	if (rc == KE_NOTFOUND) {
		api_not_found(rp, rt->key);
		return;
	}
	blob = doc ? seal(doc) : NULL;
	o = blob ? cJSON_CreateObject() : NULL;
	if (o && cJSON_AddStringToObject(o, "value", blob))
		reply_json(rp, 200, o);
	else {
		cJSON_Delete(o);
		reply_error(rp, 500, "InternalError", NULL, "cannot make the backup");
	}
	free(blob);
	cjson_wipe(doc);
	cJSON_Delete(doc);
}

/* POST /keys/restore {"value": blob}: the key under its old name. */
static void restore(struct req *r, struct reply *rp)
{
	cJSON *body = req_json(r), *doc, *b = NULL;
	const char *v = json_str(body, "value");
	char err[300] = "no \"value\"";
	int rc;

	doc = v ? unseal(v, err, sizeof(err)) : NULL;
	cJSON_Delete(body);
	if (!doc) {
		reply_error(rp, 400, "BadParameter", NULL, "The backup blob cannot be restored: %s", err);
		return;
	}
	snprintf(r->key, sizeof(r->key), "%s", json_str(doc, "name") ? json_str(doc, "name") : "");
	store_lock();
	rc = keys_restore(doc, &b, err, sizeof(err));
	if (!rc)
		rc = api_save_or_fail(err, sizeof(err));
	store_unlock();
	cjson_wipe(doc);
	cJSON_Delete(doc);
	api_reply_bundle(r, rp, rc, b, err);
}

/* GET|PUT /keys/{name}/rotationpolicy. */
static void policy(struct req *r, const struct route *rt, struct reply *rp)
{
	cJSON *body = NULL, *out = NULL;
	char err[300] = "out of memory";
	int rc;

	if (rt->op == OP_POLICY_SET && !(body = req_json(r))) {
		reply_error(rp, 400, "BadParameter", NULL, "The request body must be a JSON object");
		return;
	}
	store_lock();
	if (rt->op == OP_POLICY_GET) {
		rc = keys_policy_get(rt->key, &out);
	} else {
		rc = keys_policy_set(rt->key, body, &out, err, sizeof(err));
		if (!rc)
			rc = api_save_or_fail(err, sizeof(err));
	}
	store_unlock();
	cJSON_Delete(body);
	if (rc == KE_NOTFOUND)
		api_not_found(rp, rt->key);
	else if (rc) {
		cJSON_Delete(out);
		reply_key_error(rp, rc, err);
	} else
		reply_json(rp, 200, out);
}

/* The one Managed HSM account setting, at its default. */
static cJSON *setting_json(void)
{
	cJSON *o = cJSON_CreateObject();

	if (o) {
		cJSON_AddStringToObject(o, "name", "AllowKeyManagementOperationsThroughARM");
		cJSON_AddStringToObject(o, "value", "false");
		cJSON_AddStringToObject(o, "type", "boolean");
	}
	return o;
}

/* GET /settings and /settings/{name}. */
static void settings(const struct route *rt, struct reply *rp)
{
	cJSON *o, *a;

	if (rt->op == OP_SETTING_GET) {
		if (strcmp(rt->item, "AllowKeyManagementOperationsThroughARM"))
			reply_error(rp, 404, "NotFound", NULL, "Setting %s not found", rt->item);
		else
			reply_json(rp, 200, setting_json());
		return;
	}
	o = cJSON_CreateObject();
	a = o ? cJSON_AddArrayToObject(o, "settings") : NULL;
	if (a)
		cJSON_AddItemToArray(a, setting_json());
	reply_json(rp, 200, o);
}

/* Dispatches the operations of this file. */
void keyextra_handle(struct req *r, const struct route *rt, struct reply *rp)
{
	switch (rt->op) {
	case OP_BACKUP: backup(r, rt, rp); break;
	case OP_RESTORE: restore(r, rp); break;
	case OP_POLICY_GET:
	case OP_POLICY_SET: policy(r, rt, rp); break;
	default: settings(rt, rp);
	}
}
