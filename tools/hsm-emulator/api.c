/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cryptoops.h"
#include "deleted.h"
#include "keyextra.h"
#include "rbacapi.h"

#include <openssl/crypto.h>

#include "admin.h"
#include "api.h"
#include "auth.h"
#include "common/b64.h"
#include "json.h"
#include "keys.h"
#include "rbac.h"
#include "store.h"
#include "util.h"

#define MAX_SEGS 5
#define PAGE_MAX 25
#define WRAP_IN_MAX 8192

static const struct {
	const char *name;
	const char *action;
} ops[] = {
	[OP_UNKNOWN] = { "Unknown", NULL },
	[OP_LIST] = { "ListKeys", DA_KEYS_READ },
	[OP_GET] = { "GetKey", DA_KEYS_READ },
	[OP_VERSIONS] = { "ListKeyVersions", DA_KEYS_READ },
	[OP_CREATE] = { "CreateKey", DA_KEYS_CREATE },
	[OP_ROTATE] = { "RotateKey", DA_KEYS_ROTATE },
	[OP_UPDATE] = { "UpdateKey", DA_KEYS_WRITE },
	[OP_DELETE] = { "DeleteKey", DA_KEYS_DELETE },
	[OP_WRAP] = { "WrapKey", DA_KEYS_WRAP },
	[OP_UNWRAP] = { "UnwrapKey", DA_KEYS_UNWRAP },
	[OP_ENCRYPT] = { "Encrypt", DA_ENCRYPT },
	[OP_DECRYPT] = { "Decrypt", DA_DECRYPT },
	[OP_SIGN] = { "Sign", DA_SIGN },
	[OP_VERIFY] = { "Verify", DA_VERIFY },
	[OP_BACKUP] = { "BackupKey", DA_KEYS_BACKUP },
	[OP_RESTORE] = { "RestoreKey", DA_KEYS_RESTORE },
	[OP_POLICY_GET] = { "GetRotationPolicy", DA_KEYS_READ },
	[OP_POLICY_SET] = { "SetRotationPolicy", DA_KEYS_WRITE },
	[OP_DELETED_LIST] = { "ListDeletedKeys", DA_DEL_READ },
	[OP_DELETED_GET] = { "GetDeletedKey", DA_DEL_READ },
	[OP_PURGE] = { "PurgeDeletedKey", DA_DEL_PURGE },
	[OP_RECOVER] = { "RecoverDeletedKey", DA_DEL_RECOVER },
	[OP_RNG] = { "GetRandomBytes", DA_RNG },
	[OP_SETTINGS] = { "GetSettings", NULL },
	[OP_SETTING_GET] = { "GetSetting", NULL },
	[OP_RD_LIST] = { "ListRoleDefinitions", DA_RD_READ },
	[OP_RD_GET] = { "GetRoleDefinition", DA_RD_READ },
	[OP_RD_PUT] = { "SetRoleDefinition", DA_RD_WRITE },
	[OP_RD_DELETE] = { "DeleteRoleDefinition", DA_RD_DELETE },
	[OP_RA_LIST] = { "ListRoleAssignments", DA_RA_READ },
	[OP_RA_GET] = { "GetRoleAssignment", DA_RA_READ },
	[OP_RA_PUT] = { "CreateRoleAssignment", DA_RA_WRITE },
	[OP_RA_DELETE] = { "DeleteRoleAssignment", DA_RA_DELETE },
};

/* Operation names double as audit "operation" and fault "ops" filter. */
const char *api_op_name(const struct route *rt)
{
	return ops[rt->op].name;
}

/* Splits "/a/b/" into {"a","b",""}; -1 if more than MAX_SEGS. */
static int split(char *path, char *seg[MAX_SEGS])
{
	int n = 0;
	char *p = path + 1;

	if (path[0] != '/')
		return -1;
	for (;;) {
		char *slash = strchr(p, '/');
		if (n == MAX_SEGS)
			return -1;
		seg[n++] = p;
		if (!slash)
			return n;
		*slash = '\0';
		p = slash + 1;
	}
}

/* A version segment: empty (latest) or 32 hex; anything else never matches. */
static void set_version(struct route *rt, const char *v)
{
	if (strlen(v) >= sizeof(rt->version) || (v[0] && !key_version_ok(v)))
		rt->bad_version = 1;
	else
		snprintf(rt->version, sizeof(rt->version), "%s", v);
}

/* encrypt, decrypt, sign and verify take the same path forms as wrapkey. */
static enum api_op crypto_op(const char *seg)
{
	if (!strcasecmp(seg, "encrypt"))
		return OP_ENCRYPT;
	if (!strcasecmp(seg, "decrypt"))
		return OP_DECRYPT;
	if (!strcasecmp(seg, "sign"))
		return OP_SIGN;
	if (!strcasecmp(seg, "verify"))
		return OP_VERIFY;
	return OP_UNKNOWN;
}

/* Routes /keys/{name}[/{version|action}][/{action}]. */
static enum api_op route_key(const char *m, char **seg, int n, struct route *rt)
{
	int get = !strcmp(m, "GET"), post = !strcmp(m, "POST");
	int patch = !strcmp(m, "PATCH"), del = !strcmp(m, "DELETE");

	if (n == 2 || (n == 3 && !seg[2][0]))
		return get ? OP_GET : patch ? OP_UPDATE :
		       (del && n == 2) ? OP_DELETE : OP_UNKNOWN;
	if (n == 3) {
		if (!strcasecmp(seg[2], "create"))
			return post ? OP_CREATE : OP_UNKNOWN;
		if (!strcasecmp(seg[2], "rotate"))
			return post ? OP_ROTATE : OP_UNKNOWN;
		if (!strcasecmp(seg[2], "versions"))
			return get ? OP_VERSIONS : OP_UNKNOWN;
		if (!strcasecmp(seg[2], "wrapkey"))
			return post ? OP_WRAP : OP_UNKNOWN;
		if (!strcasecmp(seg[2], "unwrapkey"))
			return post ? OP_UNWRAP : OP_UNKNOWN;
		if (!strcasecmp(seg[2], "backup"))
			return post ? OP_BACKUP : OP_UNKNOWN;
		if (!strcasecmp(seg[2], "rotationpolicy"))
			return get ? OP_POLICY_GET : !strcmp(m, "PUT") ? OP_POLICY_SET : OP_UNKNOWN;
		if (post && crypto_op(seg[2]) != OP_UNKNOWN)
			return crypto_op(seg[2]);
		set_version(rt, seg[2]);
		return get ? OP_GET : patch ? OP_UPDATE : OP_UNKNOWN;
	}
	if (n == 4 && post) {
		set_version(rt, seg[2]);
		if (!strcasecmp(seg[3], "wrapkey"))
			return OP_WRAP;
		if (!strcasecmp(seg[3], "unwrapkey"))
			return OP_UNWRAP;
		return crypto_op(seg[3]);
	}
	return OP_UNKNOWN;
}

/* Path routing only; auth, api-version and RBAC come later in api_handle. */
void api_route(const char *method, const char *path, struct route *rt)
{
	char buf[PATH_MAX_LEN + 1], *seg[MAX_SEGS];
	int n;

	memset(rt, 0, sizeof(*rt));
	if (strcasestr(path, "/providers/Microsoft.Authorization/")) {
		rt->op = rbacapi_route(method, path, rt);
		return;
	}
	snprintf(buf, sizeof(buf), "%s", path);
	n = split(buf, seg);
	if (n >= 1 && !strcmp(seg[0], "deletedkeys")) {
		rt->op = deleted_route(method, seg, n, rt);
		return;
	}
	if (n >= 1 && (!strcmp(seg[0], "rng") || !strcmp(seg[0], "settings"))) {
		rt->op = keyextra_route(method, seg, n, rt);
		return;
	}
	if (n < 1 || strcmp(seg[0], "keys"))
		return;
	if (n == 1 || (n == 2 && !seg[1][0])) {
		rt->op = !strcmp(method, "GET") ? OP_LIST : OP_UNKNOWN;
		return;
	}
	if (n == 2 && !strcmp(method, "POST") && !strcasecmp(seg[1], "restore")) {
		rt->op = OP_RESTORE;
		return;
	}
	if (key_name_ok(seg[1]))
		snprintf(rt->key, sizeof(rt->key), "%s", seg[1]);
	else
		rt->bad_key = 1;
	rt->op = route_key(method, seg, n, rt);
	if (rt->op == OP_UNKNOWN)
		rt->key[0] = rt->version[0] = '\0';
}

/* Maps KE_* codes onto the service's error codes. */
void reply_key_error(struct reply *rp, int rc, const char *err)
{
	if (rc == KE_NOTFOUND)
		reply_error(rp, 404, "KeyNotFound", NULL, "%s", err);
	else if (rc == KE_CONFLICT)
		reply_error(rp, 409, "Conflict", "ObjectIsDeletedButRecoverable", "%s", err);
	else if (rc == KE_BADPARAM)
		reply_error(rp, 400, "BadParameter", NULL, "%s", err);
	else
		reply_error(rp, 500, "InternalError", NULL, "%s", err);
}

/* Persists after a change; the caller holds the store lock. */
static int save_or_fail(char *err, size_t errcap)
{
	if (!store_save())
		return KE_OK;
	snprintf(err, errcap, "cannot persist the emulator state");
	return KE_NOMEM;
}

/* Generates key material for p outside the lock, then adds it as a new
 * key (rotate 0) or a new version (rotate 1) and persists. */
static int generate_and_add(const char *name, struct key_params *p,
			    int rotate, cJSON **bundle, char *err,
			    size_t errcap)
{
	struct key_material m = { 0 };
	int rc = key_generate(p, &m);

	if (rc) {
		snprintf(err, errcap, "key generation failed");
		goto out;
	}
	store_lock();
	rc = keys_add(name, p, &m, rotate, bundle, err, errcap);
	if (!rc)
		rc = save_or_fail(err, errcap);
	store_unlock();
out:
	key_material_clear(&m);
	key_params_clear(p);
	return rc;
}

/* Create: validate, generate outside the lock, then add and persist. */
int keyops_create(const char *name, const cJSON *body, cJSON **bundle,
		  char *err, size_t errcap)
{
	struct key_params p;
	int rc = keys_parse_create(body, &p, err, errcap);

	if (rc) {
		key_params_clear(&p);
		return rc;
	}
	return generate_and_add(name, &p, 0, bundle, err, errcap);
}

/* Rotate: a new version like the latest one, made outside the lock. */
int keyops_rotate(const char *name, cJSON **bundle, char *err, size_t errcap)
{
	struct key_params p;
	int rc;

	store_lock();
	rc = keys_rotate_params(name, &p);
	store_unlock();
	if (rc) {
		snprintf(err, errcap, "A key with (name/id) %s was not found in this key vault", name);
		return rc;
	}
	return generate_and_add(name, &p, 1, bundle, err, errcap);
}

/* Update attributes/key_ops/tags of one version and persist. */
int keyops_update(const char *name, const char *ver, const cJSON *body,
		  cJSON **bundle, char *err, size_t errcap)
{
	int rc;

	store_lock();
	rc = keys_update(name, ver, body, bundle, err, errcap);
	if (!rc)
		rc = save_or_fail(err, errcap);
	store_unlock();
	return rc;
}

/* Records the version a bundle names (its kid's last part) for audit. */
static void note_version(struct req *r, const cJSON *bundle)
{
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(bundle, "key");
	const char *kid = json_str(key, "kid"), *slash;

	if (kid && (slash = strrchr(kid, '/')) && key_version_ok(slash + 1))
		snprintf(r->version, sizeof(r->version), "%s", slash + 1);
}

/* Ends a key handler: the bundle, or the error for rc. */
static void reply_bundle(struct req *r, struct reply *rp, int rc,
			 cJSON *bundle, const char *err)
{
	if (rc) {
		cJSON_Delete(bundle);
		reply_key_error(rp, rc, err);
		return;
	}
	if (!bundle) {
		reply_error(rp, 500, "InternalError", NULL, "out of memory");
		return;
	}
	note_version(r, bundle);
	reply_json(rp, 200, bundle);
}

/* The service's 404 for a missing key or version. */
static void not_found(struct reply *rp, const char *name)
{
	reply_error(rp, 404, "KeyNotFound", NULL,
		    "A key with (name/id) %s was not found in this key vault", name);
}

/* GET /keys/{name}[/{version}]: KeyBundle. */
static void handle_get(struct req *r, const struct route *rt, struct reply *rp)
{
	cJSON *b = NULL;
	int rc;

	store_lock();
	rc = keys_get(rt->key, rt->version, &b);
	store_unlock();
	if (rc == KE_NOTFOUND) {
		not_found(rp, rt->key);
		return;
	}
	reply_bundle(r, rp, rc, b, "out of memory");
}

/* Paging arguments: maxresults 1..25, $skiptoken an offset. */
static int page_args(struct req *r, struct reply *rp, size_t *skip, size_t *max)
{
	const char *m = req_arg(r, "maxresults"), *s = req_arg(r, "$skiptoken");
	char *end;
	unsigned long v;

	*max = PAGE_MAX;
	*skip = 0;
	if (m) {
		v = strtoul(m, &end, 10);
		if (!m[0] || *end || v < 1 || v > PAGE_MAX) {
			reply_error(rp, 400, "BadParameter", NULL,
				    "maxresults must be between 1 and 25");
			return -1;
		}
		*max = v;
	}
	if (s) {
		v = strtoul(s, &end, 10);
		if (!s[0] || *end || v > 1000000) {
			reply_error(rp, 400, "BadParameter", NULL, "invalid $skiptoken");
			return -1;
		}
		*skip = v;
	}
	return 0;
}

/* KeyListResult with a nextLink when more items remain. */
static void reply_page(struct req *r, struct reply *rp, cJSON *page,
		       int more, size_t skip, size_t max, const char *what)
{
	cJSON *doc = cJSON_CreateObject();
	char next[600];

	if (!doc || !page) {
		cJSON_Delete(doc);
		cJSON_Delete(page);
		reply_error(rp, 500, "InternalError", NULL, "out of memory");
		return;
	}
	cJSON_AddItemToObject(doc, "value", page);
	if (more) {
		snprintf(next, sizeof(next), "%s%s?api-version=%s&maxresults=%zu&$skiptoken=%zu",
			 emu.base, what, req_arg(r, "api-version"), max,
			 skip + cJSON_GetArraySize(page));
		cJSON_AddStringToObject(doc, "nextLink", next);
	} else {
		cJSON_AddNullToObject(doc, "nextLink");
	}
	reply_json(rp, 200, doc);
}

/* GET /keys and /keys/{name}/versions: one page of KeyItems. */
static void handle_list(struct req *r, const struct route *rt, struct reply *rp)
{
	size_t skip, max;
	cJSON *page = NULL;
	int more = 0, rc = KE_OK;
	char what[16 + EMU_NAME_MAX];

	if (page_args(r, rp, &skip, &max))
		return;
	store_lock();
	if (rt->op == OP_LIST)
		page = keys_list(skip, max, &more);
	else
		rc = keys_list_versions(rt->key, skip, max, &more, &page);
	store_unlock();
	if (rc == KE_NOTFOUND) {
		not_found(rp, rt->key);
		return;
	}
	if (rt->op == OP_LIST)
		snprintf(what, sizeof(what), "/keys");
	else
		snprintf(what, sizeof(what), "/keys/%s/versions", rt->key);
	reply_page(r, rp, page, more, skip, max, what);
}

/* POST /keys/{name}/create. */
static void handle_create(struct req *r, const struct route *rt, struct reply *rp)
{
	cJSON *body = req_json(r), *b = NULL;
	char err[300];
	int rc;

	if (!body) {
		reply_error(rp, 400, "BadParameter", NULL, "The request body must be a JSON object");
		return;
	}
	rc = keyops_create(rt->key, body, &b, err, sizeof(err));
	cJSON_Delete(body);
	reply_bundle(r, rp, rc, b, err);
}

/* POST /keys/{name}/rotate (no body). */
static void handle_rotate(struct req *r, const struct route *rt, struct reply *rp)
{
	cJSON *b = NULL;
	char err[300];
	int rc = keyops_rotate(rt->key, &b, err, sizeof(err));

	reply_bundle(r, rp, rc, b, err);
}

/* PATCH /keys/{name}[/{version}]. */
static void handle_update(struct req *r, const struct route *rt, struct reply *rp)
{
	cJSON *body = req_json(r), *b = NULL;
	char err[300];
	int rc;

	if (!body) {
		reply_error(rp, 400, "BadParameter", NULL, "The request body must be a JSON object");
		return;
	}
	rc = keyops_update(rt->key, rt->version, body, &b, err, sizeof(err));
	cJSON_Delete(body);
	reply_bundle(r, rp, rc, b, err);
}

/* DELETE /keys/{name}: DeletedKeyBundle. */
static void handle_delete(struct req *r, const struct route *rt, struct reply *rp)
{
	cJSON *b = NULL;
	char err[100];
	int rc;

	store_lock();
	rc = keys_delete(rt->key, &b);
	if (!rc)
		rc = save_or_fail(err, sizeof(err));
	store_unlock();
	if (rc == KE_NOTFOUND) {
		not_found(rp, rt->key);
		return;
	}
	reply_bundle(r, rp, rc, b, "cannot persist the emulator state");
}

/* Key state checks of a crypto operation: enabled, nbf/exp, key_ops.
 * Operations with the private key (unwrap, decrypt, verify) still work
 * outside nbf/exp, as in the service. */
int api_key_usable(const struct key_snap *s, const char *opname, unsigned kop,
		   int any_time, struct reply *rp)
{
	int64_t now = now_unix();

	if (!s->enabled) {
		reply_error(rp, 403, "Forbidden", "KeyDisabled",
			    "Operation \"%s\" is not allowed on a disabled key: %s/%s",
			    opname, s->name, s->version);
		return 0;
	}
	if (!any_time && s->nbf && now < s->nbf) {
		reply_error(rp, 403, "Forbidden", "KeyNotYetValid",
			    "Operation \"%s\" is not allowed before the key's nbf time: %s/%s",
			    opname, s->name, s->version);
		return 0;
	}
	if (!any_time && s->exp && now >= s->exp) {
		reply_error(rp, 403, "Forbidden", "KeyExpired",
			    "Operation \"%s\" is not allowed on an expired key: %s/%s",
			    opname, s->name, s->version);
		return 0;
	}
	if (!(s->ops & kop)) {
		reply_error(rp, 403, "Forbidden", "KeyOperationForbidden",
			    "Operation \"%s\" is not permitted by the key_ops of %s/%s",
			    opname, s->name, s->version);
		return 0;
	}
	return 1;
}

/* Builds {"kid","value"} for a wrap/unwrap result. */
static void reply_result(struct reply *rp, const struct key_snap *s,
			 const uint8_t *out, size_t n)
{
	cJSON *doc = cJSON_CreateObject();
	char kid[400], *v = b64url_alloc(out, n);

	snprintf(kid, sizeof(kid), "%s/keys/%s/%s", emu.base, s->name, s->version);
	if (!doc || !v || !cJSON_AddStringToObject(doc, "kid", kid) ||
	    !cJSON_AddStringToObject(doc, "value", v)) {
		cJSON_Delete(doc);
		reply_error(rp, 500, "InternalError", NULL, "out of memory");
	} else {
		reply_json(rp, 200, doc);
	}
	if (v) {
		OPENSSL_cleanse(v, strlen(v));
		free(v);
	}
}

/* POST .../wrapkey|unwrapkey: crypto runs on a snapshot, outside the lock. */
static void handle_wrap(struct req *r, const struct route *rt, struct reply *rp)
{
	int unwrap = rt->op == OP_UNWRAP;
	cJSON *body = req_json(r);
	const char *alg = json_str(body, "alg"), *val = json_str(body, "value");
	uint8_t in[WRAP_IN_MAX], out[WRAP_IN_MAX + 64];
	size_t outlen = sizeof(out);
	struct key_snap s;
	char err[300];
	long inlen;
	int rc;

	memset(&s, 0, sizeof(s));
	if (!alg || !val) {
		reply_error(rp, 400, "BadParameter", NULL,
			    "The request body must contain \"alg\" and \"value\" strings");
		goto out;
	}
	inlen = b64_decode_any(val, strlen(val), in, sizeof(in));
	if (inlen <= 0) {
		reply_error(rp, 400, "BadParameter", NULL,
			    "\"value\" must be base64url, 1..%d bytes", WRAP_IN_MAX);
		goto out;
	}
	store_lock();
	rc = keys_snap(rt->key, rt->version, &s);
	store_unlock();
	if (rc == KE_NOTFOUND) {
		not_found(rp, rt->key);
		goto out;
	}
	snprintf(r->version, sizeof(r->version), "%s", s.version);
	if (rc || !api_key_usable(&s, unwrap ? "unwrapKey" : "wrapKey",
				      unwrap ? KOP_UNWRAP : KOP_WRAP, unwrap, rp)) {
		if (rc)
			reply_error(rp, 500, "InternalError", NULL, "out of memory");
		goto out;
	}
	rc = key_wrap(&s, alg, unwrap, in, (size_t)inlen, out, &outlen, err, sizeof(err));
	if (rc)
		reply_key_error(rp, rc, err);
	else
		reply_result(rp, &s, out, outlen);
out:
	OPENSSL_cleanse(in, sizeof(in));
	OPENSSL_cleanse(out, sizeof(out));
	key_snap_clear(&s);
	cjson_wipe(body);
	cJSON_Delete(body);
}

/* The versions of the Key Vault / Managed HSM data plane the service
 * accepts, from 7.3 to the dated ones current SDKs send; the emulator
 * answers all of them with the same bodies. */
static const char *const api_versions[] = {
	"7.3", "7.4", "7.5", "7.6-preview.1", "7.6-preview.2", "7.6",
	"2025-06-01-preview", "2025-07-01", "2026-01-01-preview",
	"2026-03-01-preview",
};
#define API_LATEST "2025-07-01"

/* api-version is required and must be one the service knows. */
int api_version_ok(struct req *r, struct reply *rp)
{
	const char *v = req_arg(r, "api-version");

	for (size_t i = 0; v && i < sizeof(api_versions) / sizeof(*api_versions); i++)
		if (!strcmp(v, api_versions[i]))
			return 1;
	if (v)
		reply_error(rp, 400, "BadParameter", NULL,
			    "The specified version (%.20s) is not recognized. "
			    "Consider using the latest supported version (" API_LATEST ").", v);
	else
		reply_error(rp, 400, "BadParameter", NULL,
			    "The api-version query parameter is required.");
	return 0;
}

/* Local RBAC: the caller needs the operation's data action at scope. */
static int authorized(struct req *r, const struct route *rt, struct reply *rp)
{
	const char *action = ops[rt->op].action;

	if (!action)
		return 1;       /* HSM settings: any authenticated caller reads */
	return auth_authorized(r, rp, action, rt->key[0] ? rt->key : NULL);
}

/* Order as the service: 401, api-version, route, RBAC, then the key. */
void api_handle(struct req *r, const struct route *rt, struct reply *rp)
{
	if (r->auth != AUTH_OK) {
		auth_unauthorized(r, rp);
		return;
	}
	if (!api_version_ok(r, rp))
		return;
	if (rt->op == OP_UNKNOWN) {
		reply_error(rp, 404, "NotFound", NULL, "No operation %s %.200s",
			    r->method, r->path);
		return;
	}
	if (rt->bad_key) {
		reply_error(rp, 400, "BadParameter", NULL,
			    "Key names are 1-127 characters of 0-9, a-z, A-Z and -");
		return;
	}
	if (!admin_keys_allowed(rp) || !authorized(r, rt, rp))
		return;
	if (rt->bad_version) {
		not_found(rp, rt->key);
		return;
	}
	switch (rt->op) {
	case OP_LIST:
	case OP_VERSIONS:
		handle_list(r, rt, rp);
		break;
	case OP_GET:
		handle_get(r, rt, rp);
		break;
	case OP_CREATE:
		handle_create(r, rt, rp);
		break;
	case OP_ROTATE:
		handle_rotate(r, rt, rp);
		break;
	case OP_UPDATE:
		handle_update(r, rt, rp);
		break;
	case OP_DELETE:
		handle_delete(r, rt, rp);
		break;
	case OP_WRAP:
	case OP_UNWRAP:
		handle_wrap(r, rt, rp);
		break;
	case OP_ENCRYPT:
	case OP_DECRYPT:
	case OP_SIGN:
	case OP_VERIFY:
	case OP_RNG:
		cryptoops_handle(r, rt, rp);
		break;
	case OP_DELETED_LIST:
	case OP_DELETED_GET:
	case OP_PURGE:
	case OP_RECOVER:
		deleted_handle(r, rt, rp);
		break;
	case OP_BACKUP:
	case OP_RESTORE:
	case OP_POLICY_GET:
	case OP_POLICY_SET:
	case OP_SETTINGS:
	case OP_SETTING_GET:
		keyextra_handle(r, rt, rp);
		break;
	case OP_RD_LIST:
	case OP_RD_GET:
	case OP_RD_PUT:
	case OP_RD_DELETE:
	case OP_RA_LIST:
	case OP_RA_GET:
	case OP_RA_PUT:
	case OP_RA_DELETE:
		rbacapi_handle(r, rt, rp);
		break;
	default:
		reply_error(rp, 404, "NotFound", NULL, "No such operation");
	}
}

/* ---- for the handlers in other files (see api.h) ---- */

int api_save_or_fail(char *err, size_t errcap)
{
	return save_or_fail(err, errcap);
}

void api_reply_bundle(struct req *r, struct reply *rp, int rc, cJSON *bundle,
		      const char *err)
{
	reply_bundle(r, rp, rc, bundle, err);
}

void api_not_found(struct reply *rp, const char *name)
{
	not_found(rp, name);
}

int api_page_args(struct req *r, struct reply *rp, size_t *skip, size_t *max)
{
	return page_args(r, rp, skip, max);
}

void api_reply_page(struct req *r, struct reply *rp, cJSON *page, int more,
		    size_t skip, size_t max, const char *what)
{
	reply_page(r, rp, page, more, skip, max, what);
}
