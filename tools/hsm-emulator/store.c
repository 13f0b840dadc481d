/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "clients.h"
#include "common/b64.h"
#include "common/log.h"
#include "domain.h"
#include "emu.h"
#include "json.h"
#include "keys.h"
#include "rbac.h"
#include "signkey.h"
#include "store.h"
#include "util.h"

#define STATE_MAX (64 * 1024 * 1024)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* Signed the tokens (HS256) before signkey.c; still kept in state.json so
 * that an emulator from before can load a state made now. */
static uint8_t token_key[TOKEN_KEY_LEN];
static char control_token[65];

/* Serialises all access to keys, clients and role assignments. */
void store_lock(void)
{
	pthread_mutex_lock(&lock);
}

/* Releases the store lock. */
void store_unlock(void)
{
	pthread_mutex_unlock(&lock);
}

/* Expected value of X-Emulator-Control. */
const char *store_control_token(void)
{
	return control_token;
}

/* Reads a small one-line file, or creates it with fresh content. */
static int small_file(const char *name, char *val, size_t cap, mode_t mode,
		      int (*gen)(char *, size_t))
{
	char path[600], *buf = NULL;
	size_t len;

	if (state_path(path, sizeof(path), name))
		return -1;
	if (read_file(path, &buf, &len, cap - 1) == 0) {
		buf[strcspn(buf, "\r\n")] = '\0';
		snprintf(val, cap, "%s", buf);
		OPENSSL_cleanse(buf, len);
		free(buf);
		if (val[0])
			return 0;
	}
	if (gen(val, cap))
		return -1;
	char line[160];
	snprintf(line, sizeof(line), "%s\n", val);
	return write_file_atomic(path, line, strlen(line), mode);
}

/* Tenant id for the 401 challenge. */
static int gen_tenant(char *v, size_t cap)
{
	(void)cap;
	return make_guid(v);
}

/* Random control-API token. */
static int gen_control(char *v, size_t cap)
{
	(void)cap;
	return rand_hex(v, 32);
}

/* Restores every module from the parsed state document. */
static int load_doc(cJSON *doc)
{
	cJSON *tk = cJSON_GetObjectItemCaseSensitive(doc, "token_key");
	long n;

	if (!cJSON_IsString(tk))
		return -1;
	n = b64_decode_any(tk->valuestring, strlen(tk->valuestring),
			   token_key, sizeof(token_key));
	if (n != TOKEN_KEY_LEN)
		return -1;
	/* A state made before tokens were RS256 gets a signing key now. */
	if (signkey_init(json_str(doc, "signing_key")))
		return -1;
	if (keys_from_json(cJSON_GetObjectItemCaseSensitive(doc, "keys")) ||
	    clients_from_json(cJSON_GetObjectItemCaseSensitive(doc, "clients")) ||
	    rbac_roles_from_json(cJSON_GetObjectItemCaseSensitive(doc, "role_definitions")) ||
	    rbac_from_json(cJSON_GetObjectItemCaseSensitive(doc, "roles")))
		return -1;
	return 0;
}

/* Fresh state dirs get a new token key and an empty state.json. */
int store_open(void)
{
	char path[600], *buf = NULL;
	size_t len = 0;
	cJSON *doc = NULL;
	int ret = -1;

	if (small_file("tenant", emu.tenant, sizeof(emu.tenant), 0644,
		       gen_tenant) ||
	    small_file("control.token", control_token, sizeof(control_token),
		       0600, gen_control)) {
		log_err("cannot create tenant/control.token in %s", emu.dir);
		return -1;
	}
	if (state_path(path, sizeof(path), "state.json"))
		return -1;
	if (read_file(path, &buf, &len, STATE_MAX)) {
		if (errno != ENOENT) {
			log_err("cannot read %s", path);
			return -1;
		}
		if (RAND_bytes(token_key, sizeof(token_key)) != 1 ||
		    signkey_init(NULL))
			return -1;
		store_lock();
		ret = store_save();
		store_unlock();
		return ret;
	}
	doc = domain_state_open(cJSON_ParseWithLength(buf, len));
	if (!doc || load_doc(doc)) {
		log_err("%s is corrupt", path);
		goto out;
	}
	/* Saved at once if sealed from the first start with a security
	 * domain on, or if a state made before tokens were RS256 just got
	 * its signing key. */
	store_lock();
	ret = domain_active() || !json_str(doc, "signing_key") ? store_save() : 0;
	store_unlock();
out:
	cJSON_Delete(doc);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return ret;
}

/* Drops in-memory state and wipes the token key. */
void store_close(void)
{
	store_lock();
	keys_free_all();
	clients_free_all();
	rbac_free_all();
	rbac_roles_free_all();
	OPENSSL_cleanse(token_key, sizeof(token_key));
	signkey_free();
	OPENSSL_cleanse(control_token, sizeof(control_token));
	store_unlock();
}

/* Whole-state snapshot written with tmp + fsync + rename. */
int store_save(void)
{
	cJSON *doc = cJSON_CreateObject();
	char path[600], *text = NULL, *tk = NULL, *sk = NULL;
	int ret = -1;

	if (!doc || state_path(path, sizeof(path), "state.json"))
		goto out;
	tk = b64url_alloc(token_key, sizeof(token_key));
	sk = pkey_to_pem(signkey());
	if (!tk || !sk || !cJSON_AddNumberToObject(doc, "format", 1) ||
	    !cJSON_AddStringToObject(doc, "token_key", tk) ||
	    !cJSON_AddStringToObject(doc, "signing_key", sk) ||
	    !cJSON_AddItemToObject(doc, "keys", keys_to_json()) ||
	    !cJSON_AddItemToObject(doc, "clients", clients_to_json()) ||
	    !cJSON_AddItemToObject(doc, "role_definitions", rbac_roles_to_json()) ||
	    !cJSON_AddItemToObject(doc, "roles", rbac_to_json()))
		goto out;
	text = domain_state_text(doc);
	if (!text || write_file_atomic(path, text, strlen(text), 0600))
		goto out;
	ret = 0;
out:
	if (ret)
		log_err("cannot save state to %s", emu.dir);
	if (text) {
		OPENSSL_cleanse(text, strlen(text));
		free(text);
	}
	if (tk) {
		OPENSSL_cleanse(tk, strlen(tk));
		free(tk);
	}
	if (sk) {
		OPENSSL_cleanse(sk, strlen(sk));
		free(sk);
	}
	/* The document holds private keys too: wipe its strings. */
	cjson_wipe(doc);
	cJSON_Delete(doc);
	return ret;
}
