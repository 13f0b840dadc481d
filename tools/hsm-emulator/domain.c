/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "common/b64.h"
#include "common/log.h"
#include "domain.h"
#include "emu.h"
#include "json.h"
#include "util.h"

#define ID_LEN 16
#define NONCE_LEN 12
#define GCM_TAG_LEN 16
#define SEALED_MAX (64 * 1024 * 1024)
#define STATE_PURPOSE "state"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t secret[DOMAIN_SECRET_LEN];
static int active;

/* The id as a GUID-shaped string. */
static void id_text(const uint8_t *id, char out[37])
{
	static const char hex[] = "0123456789abcdef";
	int o = 0;

	for (int i = 0; i < ID_LEN; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[id[i] >> 4];
		out[o++] = hex[id[i] & 15];
	}
	out[o] = '\0';
}

/* A version-4 GUID id and a random key. */
int domain_generate(uint8_t s[DOMAIN_SECRET_LEN])
{
	if (RAND_bytes(s, DOMAIN_SECRET_LEN) != 1)
		return -1;
	s[6] = (uint8_t)((s[6] & 0x0f) | 0x40);
	s[8] = (uint8_t)((s[8] & 0x3f) | 0x80);
	return 0;
}

/* Writes DIR/domain.key, then takes s as the secret. */
int domain_install(const uint8_t s[DOMAIN_SECRET_LEN])
{
	char path[600], id[37];

	if (state_path(path, sizeof(path), "domain.key") ||
	    write_file_atomic(path, s, DOMAIN_SECRET_LEN, 0600)) {
		log_err("cannot write %s/domain.key", emu.dir);
		return -1;
	}
	pthread_mutex_lock(&lock);
	memcpy(secret, s, DOMAIN_SECRET_LEN);
	__atomic_store_n(&active, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&lock);
	id_text(s, id);
	log_info("security domain %s installed: the HSM is activated", id);
	return 0;
}

/* A missing DIR/domain.key means provisioned, not activated. */
int domain_open(int activate)
{
	char path[600], *buf = NULL;
	size_t len = 0;
	uint8_t s[DOMAIN_SECRET_LEN];
	int ret = -1;

	if (state_path(path, sizeof(path), "domain.key"))
		return -1;
	if (read_file(path, &buf, &len, DOMAIN_SECRET_LEN + 1)) {
		if (errno != ENOENT) {
			log_err("cannot read %s", path);
			return -1;
		}
		if (!activate)
			return 0;
		ret = domain_generate(s) || domain_install(s) ? -1 : 0;
		OPENSSL_cleanse(s, sizeof(s));
		return ret;
	}
	if (len != DOMAIN_SECRET_LEN) {
		log_err("%s is corrupt", path);
	} else {
		pthread_mutex_lock(&lock);
		memcpy(secret, buf, DOMAIN_SECRET_LEN);
		active = 1;
		pthread_mutex_unlock(&lock);
		ret = 0;
	}
	OPENSSL_cleanse(buf, len);
	free(buf);
	return ret;
}

/* Wipes the secret at shutdown. */
void domain_close(void)
{
	pthread_mutex_lock(&lock);
	OPENSSL_cleanse(secret, sizeof(secret));
	active = 0;
	pthread_mutex_unlock(&lock);
}

/* Read without the lock: it only ever goes from 0 to 1 while running. */
int domain_active(void)
{
	return __atomic_load_n(&active, __ATOMIC_ACQUIRE);
}

/* ARM's activationStatus names. */
const char *domain_status(void)
{
	return domain_active() ? "Active" : "NotActivated";
}

/* Empty when provisioned. */
void domain_id(char out[37])
{
	out[0] = '\0';
	pthread_mutex_lock(&lock);
	if (active)
		id_text(secret, out);
	pthread_mutex_unlock(&lock);
}

/* HKDF-SHA-256 of the domain key, salted with its id, one key per use. */
static int derive(const char *purpose, uint8_t key[32], char id[37])
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *c = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	char info[64];
	uint8_t s[DOMAIN_SECRET_LEN];
	OSSL_PARAM p[5];
	int ok = 0;

	pthread_mutex_lock(&lock);
	memcpy(s, secret, sizeof(s));
	ok = active;
	pthread_mutex_unlock(&lock);
	snprintf(info, sizeof(info), "hsm-emulator %s", purpose);
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, s + ID_LEN,
						 DOMAIN_SECRET_LEN - ID_LEN);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, s, ID_LEN);
	p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, strlen(info));
	p[4] = OSSL_PARAM_construct_end();
	ok = ok && c && EVP_KDF_derive(c, key, 32, p) > 0;
	if (ok)
		id_text(s, id);
	OPENSSL_cleanse(s, sizeof(s));
	EVP_KDF_CTX_free(c);
	EVP_KDF_free(kdf);
	return ok ? 0 : -1;
}

/* AES-256-GCM of n bytes; AAD binds the purpose and the domain id. */
static int gcm(int enc, const uint8_t key[32], const char *aad,
	       const uint8_t *nonce, const uint8_t *in, size_t n,
	       uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int a = 0, b = 0, ok;

	ok = c && n < SEALED_MAX &&
	     EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce, enc) &&
	     EVP_CipherUpdate(c, NULL, &a, (const uint8_t *)aad, (int)strlen(aad)) &&
	     (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN, tag)) &&
	     EVP_CipherUpdate(c, out, &a, in, (int)n) &&
	     EVP_CipherFinal_ex(c, out + a, &b) &&
	     (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN, tag));
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

/* nonce | ciphertext | tag of doc's compact text. */
cJSON *domain_seal(const cJSON *doc, const char *purpose)
{
	uint8_t key[32], *buf = NULL;
	char id[37], aad[128], *text = cJSON_PrintUnformatted(doc), *b64 = NULL;
	size_t n = text ? strlen(text) : 0;
	cJSON *env = NULL;

	if (!text || derive(purpose, key, id))
		goto out;
	buf = malloc(NONCE_LEN + n + GCM_TAG_LEN);
	snprintf(aad, sizeof(aad), "%s %s", purpose, id);
	if (!buf || RAND_bytes(buf, NONCE_LEN) != 1 ||
	    gcm(1, key, aad, buf, (uint8_t *)text, n, buf + NONCE_LEN, buf + NONCE_LEN + n))
		goto out;
	b64 = b64url_alloc(buf, NONCE_LEN + n + GCM_TAG_LEN);
	env = cJSON_CreateObject();
	if (!b64 || !env || !cJSON_AddNumberToObject(env, "format", 2) ||
	    !cJSON_AddStringToObject(env, "security_domain", id) ||
	    !cJSON_AddStringToObject(env, "sealed", b64)) {
		cJSON_Delete(env);
		env = NULL;
	}
out:
	OPENSSL_cleanse(key, sizeof(key));
	if (text) {
		OPENSSL_cleanse(text, n);
		free(text);
	}
	if (buf)
		OPENSSL_cleanse(buf, NONCE_LEN + n);
	free(buf);
	free(b64);
	return env;
}

/* Opens nonce | ciphertext | tag into the document it holds. */
static cJSON *open_sealed(const char *b64, const char *purpose,
			  const uint8_t key[32], const char *id)
{
	size_t cap = strlen(b64);
	uint8_t *buf = malloc(cap + 1), *pt = malloc(cap + 1);
	long n = buf ? b64_decode_any(b64, cap, buf, cap + 1) : -1;
	char aad[128];
	cJSON *doc = NULL;
	size_t m;

	snprintf(aad, sizeof(aad), "%s %s", purpose, id);
	if (pt && n >= NONCE_LEN + GCM_TAG_LEN) {
		m = (size_t)n - NONCE_LEN - GCM_TAG_LEN;
		if (!gcm(0, key, aad, buf, buf + NONCE_LEN, m, pt, buf + NONCE_LEN + m))
			doc = cJSON_ParseWithLength((const char *)pt, m);
		OPENSSL_cleanse(pt, m);
	}
	free(buf);
	free(pt);
	return doc;
}

/* The envelope must name this HSM's domain before anything is tried. */
cJSON *domain_unseal(const cJSON *env, const char *purpose, char *err,
		     size_t errcap)
{
	const char *sid = json_str(env, "security_domain"), *b64 = json_str(env, "sealed");
	uint8_t key[32];
	char id[37];
	cJSON *doc = NULL;

	if (!sid || !b64 || strlen(b64) > SEALED_MAX) {
		snprintf(err, errcap, "not a sealed document");
		return NULL;
	}
	if (derive(purpose, key, id)) {
		snprintf(err, errcap, "this HSM has no security domain (it is not activated)");
		return NULL;
	}
	if (strcmp(sid, id))
		snprintf(err, errcap, "it belongs to security domain %.40s; this HSM holds security domain %s",
			 sid, id);
	else if (!(doc = open_sealed(b64, purpose, key, id)))
		snprintf(err, errcap, "it does not open under security domain %s (damaged or forged)", id);
	OPENSSL_cleanse(key, sizeof(key));
	return doc;
}

/* Before activation there is nothing secret to seal (no keys exist). */
char *domain_state_text(const cJSON *doc)
{
	cJSON *env;

	if (!domain_active())
		return cJSON_Print(doc);
	env = domain_seal(doc, STATE_PURPOSE);
	return env ? json_take_text(env) : NULL;
}

/* A plain state.json (provisioned, or from before sealing) is taken as is. */
cJSON *domain_state_open(cJSON *doc)
{
	char err[200];
	cJSON *inner;

	if (!doc || !cJSON_GetObjectItemCaseSensitive(doc, "sealed"))
		return doc;
	inner = domain_unseal(doc, STATE_PURPOSE, err, sizeof(err));
	if (!inner)
		log_err("state.json cannot be opened: %s", err);
	cJSON_Delete(doc);
	return inner;
}
