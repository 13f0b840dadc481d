/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "clients.h"
#include "common/b64.h"
#include "json.h"
#include "rbac.h"
#include "util.h"

#define MAX_CLIENTS 1000
#define MAX_SECRET 1024
#define MAX_PEM 16384
#define MAX_ISSUER 512

struct client {
	char id[EMU_ID_MAX + 1];
	char oid[37];
	int has_secret;
	unsigned char salt[16], hash[32];
	char *cert_pem;
	char *fed_issuer, *fed_subject, *fed_audience, *fed_key_pem;
	int managed;
};

static struct client **clients;
static size_t nclients;

/* Salted SHA-256 of a secret; the secret itself is never stored. */
static int secret_hash(const unsigned char salt[16], const char *secret,
		       unsigned char out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok;

	ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(md, salt, 16) &&
	     EVP_DigestUpdate(md, secret, strlen(secret)) &&
	     EVP_DigestFinal_ex(md, out, &n) && n == 32;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

/* Constant-time check of a presented secret. */
int client_secret_ok(const struct client_creds *c, const char *secret)
{
	unsigned char h[32];
	int ok;

	if (!c->has_secret || strlen(secret) > MAX_SECRET ||
	    secret_hash(c->salt, secret, h))
		return 0;
	ok = CRYPTO_memcmp(h, c->hash, sizeof(h)) == 0;
	OPENSSL_cleanse(h, sizeof(h));
	return ok;
}

/* Frees a client and wipes its hash and salt. */
static void client_free(struct client *c)
{
	if (!c)
		return;
	free(c->cert_pem);
	free(c->fed_issuer);
	free(c->fed_subject);
	free(c->fed_audience);
	free(c->fed_key_pem);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

/* Linear lookup by client id or object id (few clients). */
static struct client *find(const char *id_or_oid)
{
	for (size_t i = 0; i < nclients; i++)
		if (!strcmp(clients[i]->id, id_or_oid) ||
		    !strcasecmp(clients[i]->oid, id_or_oid))
			return clients[i];
	return NULL;
}

/* Canonical client id for a client id or object id. */
const char *clients_resolve(const char *id_or_oid)
{
	struct client *c = id_or_oid ? find(id_or_oid) : NULL;

	return c ? c->id : NULL;
}

/* Object id used in tokens and role assignments. */
const char *clients_oid(const char *id)
{
	struct client *c = find(id);

	return c ? c->oid : NULL;
}

/* Parses PEM text as a certificate and re-encodes only the certificate. */
static char *clean_cert(const char *pem)
{
	BIO *in = BIO_new_mem_buf(pem, -1), *out = BIO_new(BIO_s_mem());
	X509 *x = in ? PEM_read_bio_X509(in, NULL, NULL, NULL) : NULL;
	EVP_PKEY *pub = x ? X509_get0_pubkey(x) : NULL;
	char *data, *s = NULL;
	long n;

	if (pub && EVP_PKEY_is_a(pub, "RSA") && out && PEM_write_bio_X509(out, x)) {
		n = BIO_get_mem_data(out, &data);
		s = n > 0 ? strndup(data, (size_t)n) : NULL;
	}
	X509_free(x);
	BIO_free(in);
	BIO_free(out);
	return s;
}

/* Parses an RSA public key PEM and re-encodes it (SubjectPublicKeyInfo). */
static char *clean_pubkey(const char *pem)
{
	BIO *in = BIO_new_mem_buf(pem, -1), *out = BIO_new(BIO_s_mem());
	EVP_PKEY *k = in ? PEM_read_bio_PUBKEY(in, NULL, NULL, NULL) : NULL;
	char *data, *s = NULL;
	long n;

	if (k && EVP_PKEY_is_a(k, "RSA") && out && PEM_write_bio_PUBKEY(out, k)) {
		n = BIO_get_mem_data(out, &data);
		s = n > 0 ? strndup(data, (size_t)n) : NULL;
	}
	EVP_PKEY_free(k);
	BIO_free(in);
	BIO_free(out);
	return s;
}

/* Replaces a heap string. */
static int set_str(char **dst, const char *src)
{
	char *s = strdup(src);

	if (!s)
		return -1;
	free(*dst);
	*dst = s;
	return 0;
}

/* Stores a fresh salt and the salted hash of secret. */
static int set_secret(struct client *c, const char *secret)
{
	if (!secret[0] || strlen(secret) > MAX_SECRET ||
	    RAND_bytes(c->salt, sizeof(c->salt)) != 1 ||
	    secret_hash(c->salt, secret, c->hash))
		return -1;
	c->has_secret = 1;
	return 0;
}

/* Federated credential: issuer, subject, optional audience, RSA key. */
static int set_federated(struct client *c, const cJSON *f, char *err,
			 size_t cap)
{
	const char *iss = json_str(f, "issuer"), *sub = json_str(f, "subject");
	const char *aud = json_str(f, "audience"), *key = json_str(f, "key_pem");
	char *clean;

	if (!iss || !sub || !key || !iss[0] || !sub[0] ||
	    strlen(iss) > MAX_ISSUER || strlen(sub) > MAX_ISSUER ||
	    (aud && strlen(aud) > MAX_ISSUER) || strlen(key) > MAX_PEM) {
		snprintf(err, cap, "federated needs issuer, subject and key_pem");
		return -1;
	}
	clean = clean_pubkey(key);
	if (!clean) {
		snprintf(err, cap, "federated key_pem is not an RSA public key PEM");
		return -1;
	}
	free(c->fed_key_pem);
	c->fed_key_pem = clean;
	if (set_str(&c->fed_issuer, iss) || set_str(&c->fed_subject, sub) ||
	    set_str(&c->fed_audience, aud ? aud : DEFAULT_FED_AUDIENCE))
		return -1;
	return 0;
}

/* Applies the credentials given in a control request to c. */
static int apply_creds(struct client *c, const cJSON *req, char *err,
		       size_t cap)
{
	const char *secret = json_str(req, "secret"), *cert = json_str(req, "cert_pem");
	const cJSON *fed = cJSON_GetObjectItemCaseSensitive(req, "federated");
	int mi = 0;

	if (secret && set_secret(c, secret)) {
		snprintf(err, cap, "secret must be 1..%d bytes", MAX_SECRET);
		return -1;
	}
	if (cert) {
		char *clean = strlen(cert) <= MAX_PEM ? clean_cert(cert) : NULL;
		if (!clean) {
			snprintf(err, cap, "cert_pem is not a PEM certificate with an RSA key");
			return -1;
		}
		free(c->cert_pem);
		c->cert_pem = clean;
	}
	if (fed && set_federated(c, fed, err, cap))
		return -1;
	if (json_bool(req, "managed_identity", &mi) < 0) {
		snprintf(err, cap, "managed_identity must be a boolean");
		return -1;
	}
	if (mi)
		c->managed = 1;
	return 0;
}

/* Public view of a client: no secret hash, no key material. */
static cJSON *client_summary(const struct client *c)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "client_id", c->id);
	cJSON_AddStringToObject(o, "object_id", c->oid);
	cJSON_AddBoolToObject(o, "secret", c->has_secret);
	cJSON_AddBoolToObject(o, "certificate", c->cert_pem != NULL);
	if (c->fed_issuer) {
		cJSON_AddStringToObject(o, "federated_issuer", c->fed_issuer);
		cJSON_AddStringToObject(o, "federated_subject", c->fed_subject);
		cJSON_AddStringToObject(o, "federated_audience", c->fed_audience);
	}
	cJSON_AddBoolToObject(o, "managed_identity", c->managed);
	return o;
}

/* Creates a client, or adds credentials to an existing one. */
int clients_add(const cJSON *req, cJSON **out, char *err, size_t errcap)
{
	const char *id = json_str(req, "client_id");
	struct client *c, **nc;
	int is_new = 0;

	if (!valid_ident(id, EMU_ID_MAX, "-._")) {
		snprintf(err, errcap, "client_id must be 1..%d of [A-Za-z0-9._-]",
			 EMU_ID_MAX);
		return -1;
	}
	c = find(id);
	if (!c) {
		if (nclients >= MAX_CLIENTS) {
			snprintf(err, errcap, "too many clients");
			return -1;
		}
		c = calloc(1, sizeof(*c));
		if (!c || make_guid(c->oid))
			goto nomem;
		snprintf(c->id, sizeof(c->id), "%s", id);
		is_new = 1;
	}
	if (apply_creds(c, req, err, errcap)) {
		/* An existing client may be half-updated; it stays valid. */
		if (is_new)
			client_free(c);
		return -1;
	}
	if (is_new) {
		nc = realloc(clients, (nclients + 1) * sizeof(*nc));
		if (!nc)
			goto nomem;
		clients = nc;
		clients[nclients++] = c;
	}
	*out = client_summary(c);
	return 0;
nomem:
	if (is_new)
		client_free(c);
	snprintf(err, errcap, "out of memory");
	return -1;
}

/* Removes a client and its role assignments. */
int clients_remove(const char *id_or_oid)
{
	for (size_t i = 0; i < nclients; i++) {
		struct client *c = clients[i];
		if (strcmp(c->id, id_or_oid) && strcasecmp(c->oid, id_or_oid))
			continue;
		rbac_remove_principal(c->id);
		memmove(clients + i, clients + i + 1,
			(nclients - i - 1) * sizeof(*clients));
		nclients--;
		client_free(c);
		return 0;
	}
	return -1;
}

/* strdup that keeps NULL as NULL. */
static int dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	return src && !(*dst = strdup(src)) ? -1 : 0;
}

/* Copies credentials so checks run without the store lock. */
int clients_get_creds(const char *id, struct client_creds *cc)
{
	struct client *c = find(id);

	memset(cc, 0, sizeof(*cc));
	if (!c || strcmp(c->id, id))
		return -1;
	memcpy(cc->id, c->id, sizeof(cc->id));
	memcpy(cc->oid, c->oid, sizeof(cc->oid));
	cc->has_secret = c->has_secret;
	memcpy(cc->salt, c->salt, sizeof(cc->salt));
	memcpy(cc->hash, c->hash, sizeof(cc->hash));
	if (dup_opt(&cc->cert_pem, c->cert_pem) ||
	    dup_opt(&cc->fed_issuer, c->fed_issuer) ||
	    dup_opt(&cc->fed_subject, c->fed_subject) ||
	    dup_opt(&cc->fed_audience, c->fed_audience) ||
	    dup_opt(&cc->fed_key_pem, c->fed_key_pem)) {
		client_creds_clear(cc);
		return -1;
	}
	return 0;
}

/* Frees and wipes a credentials copy. */
void client_creds_clear(struct client_creds *c)
{
	free(c->cert_pem);
	free(c->fed_issuer);
	free(c->fed_subject);
	free(c->fed_audience);
	free(c->fed_key_pem);
	OPENSSL_cleanse(c, sizeof(*c));
}

/* The identity IMDS serves: the requested one or the first. */
int clients_managed_identity(const char *want, char id[EMU_ID_MAX + 1],
			     char oid[37])
{
	for (size_t i = 0; i < nclients; i++) {
		struct client *c = clients[i];
		if (!c->managed || (want && strcmp(want, c->id) &&
				    strcasecmp(want, c->oid)))
			continue;
		memcpy(id, c->id, EMU_ID_MAX + 1);
		memcpy(oid, c->oid, 37);
		return 0;
	}
	return -1;
}

/* Summaries of all clients for the control API. */
cJSON *clients_list_json(void)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr && i < nclients; i++)
		cJSON_AddItemToArray(arr, client_summary(clients[i]));
	return arr;
}

/* Adds a string member only when set. */
static void add_opt(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
}

/* State-file form of all clients (secret only as salted hash). */
cJSON *clients_to_json(void)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr && i < nclients; i++) {
		struct client *c = clients[i];
		cJSON *o = cJSON_CreateObject();
		if (!o) {
			cJSON_Delete(arr);
			return NULL;
		}
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "client_id", c->id);
		cJSON_AddStringToObject(o, "object_id", c->oid);
		if (c->has_secret) {
			char salt[B64_ENC_LEN(16) + 1], hash[B64_ENC_LEN(32) + 1];
			b64url_encode(c->salt, sizeof(c->salt), salt);
			b64url_encode(c->hash, sizeof(c->hash), hash);
			cJSON_AddStringToObject(o, "secret_salt", salt);
			cJSON_AddStringToObject(o, "secret_sha256", hash);
		}
		add_opt(o, "cert_pem", c->cert_pem);
		add_opt(o, "federated_issuer", c->fed_issuer);
		add_opt(o, "federated_subject", c->fed_subject);
		add_opt(o, "federated_audience", c->fed_audience);
		add_opt(o, "federated_key_pem", c->fed_key_pem);
		cJSON_AddBoolToObject(o, "managed_identity", c->managed);
	}
	return arr;
}

/* Restores one stored client; every field is re-validated. */
static struct client *client_from_json(const cJSON *o)
{
	struct client *c = calloc(1, sizeof(*c));
	const char *id = json_str(o, "client_id"), *oid = json_str(o, "object_id");
	const char *salt = json_str(o, "secret_salt"), *hash = json_str(o, "secret_sha256");
	const char *s;

	if (!c || !valid_ident(id, EMU_ID_MAX, "-._") || !oid || strlen(oid) != 36)
		goto fail;
	snprintf(c->id, sizeof(c->id), "%s", id);
	memcpy(c->oid, oid, 37);
	if (salt && hash) {
		if (b64_decode_any(salt, strlen(salt), c->salt, 16) != 16 ||
		    b64_decode_any(hash, strlen(hash), c->hash, 32) != 32)
			goto fail;
		c->has_secret = 1;
	}
	if ((s = json_str(o, "cert_pem")) && !(c->cert_pem = clean_cert(s)))
		goto fail;
	if ((s = json_str(o, "federated_key_pem")) &&
	    !(c->fed_key_pem = clean_pubkey(s)))
		goto fail;
	if (dup_opt(&c->fed_issuer, json_str(o, "federated_issuer")) ||
	    dup_opt(&c->fed_subject, json_str(o, "federated_subject")) ||
	    dup_opt(&c->fed_audience, json_str(o, "federated_audience")))
		goto fail;
	if (!c->fed_issuer != !c->fed_key_pem || !c->fed_issuer != !c->fed_subject ||
	    !c->fed_issuer != !c->fed_audience)
		goto fail;
	if (json_bool(o, "managed_identity", &c->managed) < 0)
		goto fail;
	return c;
fail:
	client_free(c);
	return NULL;
}

/* Loads clients from the state file; any bad entry fails the load. */
int clients_from_json(const cJSON *arr)
{
	const cJSON *o;

	if (!arr)
		return 0;
	if (!cJSON_IsArray(arr))
		return -1;
	cJSON_ArrayForEach(o, arr) {
		struct client *c = client_from_json(o), **nc;
		if (!c || find(c->id))
			goto fail;
		nc = realloc(clients, (nclients + 1) * sizeof(*nc));
		if (!nc)
			goto fail;
		clients = nc;
		clients[nclients++] = c;
		continue;
fail:
		client_free(c);
		return -1;
	}
	return 0;
}

/* Drops all clients at shutdown. */
void clients_free_all(void)
{
	for (size_t i = 0; i < nclients; i++)
		client_free(clients[i]);
	free(clients);
	clients = NULL;
	nclients = 0;
}
