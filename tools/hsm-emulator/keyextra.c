/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A key backup is an opaque blob: the key's stored form sealed with
 * AES-256-GCM under a key derived from this HSM's secret, so only an HSM
 * with the same state (a copy of the state directory, like one restored
 * from the same security domain) can restore it. Layout, base64url:
 * "hsmemu-kb1" || nonce (12) || ciphertext || tag (16).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "common/b64.h"
#include "json.h"
#include "keyextra.h"
#include "keys.h"
#include "store.h"
#include "util.h"

#define MAGIC "hsmemu-kb1"
#define MAGIC_LEN 10
#define NONCE_LEN 12
#define TAG_LEN 16
#define BLOB_MAX (EMU_BODY_MAX)

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

/* The sealing key: HMAC-SHA-256 of a label under the HSM secret. */
static int blob_key(uint8_t key[32])
{
	static const char label[] = "hsm-emulator key backup v1";
	unsigned int n = 0;

	return HMAC(EVP_sha256(), store_secret(), TOKEN_KEY_LEN,
		    (const uint8_t *)label, sizeof(label) - 1, key, &n) && n == 32 ? 0 : -1;
}

/* AES-256-GCM over in; out has room for inlen + 16. */
static int gcm(int enc, const uint8_t *key, const uint8_t *nonce, const uint8_t *in,
	       size_t inlen, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, f = 0, ok;

	ok = c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce, enc) &&
	     EVP_CipherUpdate(c, NULL, &n, (const uint8_t *)MAGIC, MAGIC_LEN) &&
	     EVP_CipherUpdate(c, out, &n, in, (int)inlen) &&
	     (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag)) &&
	     EVP_CipherFinal_ex(c, out + n, &f) &&
	     (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag));
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

/* Seals a key's stored form into the base64url blob. */
static char *seal(const char *text)
{
	size_t n = strlen(text), total = MAGIC_LEN + NONCE_LEN + n + TAG_LEN;
	uint8_t key[32], *buf = malloc(total);
	char *out = NULL;

	if (!buf || blob_key(key))
		goto out;
	memcpy(buf, MAGIC, MAGIC_LEN);
	if (RAND_bytes(buf + MAGIC_LEN, NONCE_LEN) != 1 ||
	    gcm(1, key, buf + MAGIC_LEN, (const uint8_t *)text, n,
		buf + MAGIC_LEN + NONCE_LEN, buf + total - TAG_LEN))
		goto out;
	out = b64url_alloc(buf, total);
out:
	OPENSSL_cleanse(key, sizeof(key));
	free(buf);
	return out;
}

/* Opens a blob into the key's stored form; NULL if it is not ours. */
static cJSON *unseal(const char *value)
{
	size_t vl = strlen(value);
	uint8_t key[32], *buf = malloc(vl + 1), *pt = NULL;
	long n = buf ? b64_decode_any(value, vl, buf, vl) : -1;
	cJSON *doc = NULL;
	size_t ctlen;

	if (n < MAGIC_LEN + NONCE_LEN + TAG_LEN + 2 || memcmp(buf, MAGIC, MAGIC_LEN) ||
	    blob_key(key))
		goto out;
	ctlen = (size_t)n - MAGIC_LEN - NONCE_LEN - TAG_LEN;
	pt = malloc(ctlen + 16);
	if (pt && !gcm(0, key, buf + MAGIC_LEN, buf + MAGIC_LEN + NONCE_LEN, ctlen, pt,
		       buf + n - TAG_LEN))
		doc = cJSON_ParseWithLength((const char *)pt, ctlen);
	if (pt)
		OPENSSL_cleanse(pt, ctlen);
out:
	OPENSSL_cleanse(key, sizeof(key));
	free(pt);
	free(buf);
	return doc;
}

/* POST /keys/{name}/backup: {"value": blob}. */
static void backup(struct req *r, const struct route *rt, struct reply *rp)
{
	cJSON *doc = NULL, *o;
	char *text = NULL, *blob = NULL;
	int rc;

	(void)r;
	store_lock();
	rc = keys_backup(rt->key, &doc);
	store_unlock();
	if (rc == KE_NOTFOUND) {
		api_not_found(rp, rt->key);
		return;
	}
	text = doc ? cJSON_PrintUnformatted(doc) : NULL;
	blob = text ? seal(text) : NULL;
	o = blob ? cJSON_CreateObject() : NULL;
	if (o && cJSON_AddStringToObject(o, "value", blob))
		reply_json(rp, 200, o);
	else {
		cJSON_Delete(o);
		reply_error(rp, 500, "InternalError", NULL, "cannot make the backup");
	}
	if (text) {
		OPENSSL_cleanse(text, strlen(text));
		free(text);
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
	char err[300];
	int rc;

	doc = v ? unseal(v) : NULL;
	cJSON_Delete(body);
	if (!doc) {
		reply_error(rp, 400, "BadParameter", NULL,
			    "The backup blob is invalid or was not made by this HSM");
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
