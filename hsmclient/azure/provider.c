/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Azure Managed HSM / Key Vault KEK provider: open (options, endpoints,
 * credential), describe (GET key), wrap (local RSA-OAEP-256, or remote for
 * oct keys), unwrap, owns and stats.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/b64.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/secmem.h"
#include "hsmclient/azure/auth.h"
#include "hsmclient/azure/client.h"
#include "hsmclient/azure/cred.h"
#include "hsmclient/azure/err.h"
#include "hsmclient/azure/json.h"
#include "hsmclient/azure/provider.h"
#include "hsmclient/azure/jwk.h"
#include "hsmclient/rsa.h"
#include "hsmclient/stats.h"
#include "hsmclient/azure/text.h"
#include "hsmclient/azure/url.h"

#define PATH_MAX_ 512
#define BODY_MAX_ (64 + B64_ENC_LEN(KEK_WRAPPED_MAX))

struct azkek {
	struct kek base;
	struct client *c;
	struct stats *stats;
	struct azauth *auth;
	char name[AZ_NAME_MAX];
	char pin[AZ_VERSION_LEN + 1]; /* pinned version, or "" */
	char api[8];
	char scope[AZ_SCOPE_MAX + 1];
	char eps[CLIENT_MAX_EP][HTTP_BASE_MAX];
	int nep;
	bool vault; /* Key Vault role names in hints */
	enum kek_alg want;
	unsigned deadline_ms;

	pthread_mutex_t lock; /* the cached key below */
	bool described;
	struct kek_info info;
	char version[AZ_VERSION_LEN + 1];
	bool can_wrap;
	EVP_PKEY *pub; /* RSA public key */
};

/* ---- kids ------------------------------------------------------------ */

/* True if kid is a well-formed kid of this key, of version ver unless
 * ver is "" (any); *u is the parsed kid. Kids come from file headers and
 * HSM answers, both untrusted. */
static bool kid_names_key(const struct azkek *k, const char *kid,
			  const char *ver, struct az_keyurl *u)
{
	char e[KEK_ERR_MAX];

	return azure_parse_key_url(kid, true, u, e) == KEK_OK &&
	       strcasecmp(u->name, k->name) == 0 &&
	       (!ver[0] || strcasecmp(u->version, ver) == 0);
}

/* True if kid names a version of this key on one of its endpoints. */
static bool owns_kid(const struct azkek *k, const char *kid,
		     struct az_keyurl *u)
{
	if (!kid || strnlen(kid, KEK_KID_MAX) >= KEK_KID_MAX ||
	    !kid_names_key(k, kid, "", u))
		return false;
	for (int i = 0; i < k->nep; i++)
		if (strcmp(u->base, k->eps[i]) == 0)
			return true;
	return false;
}

/* The kid to hand out for name/version as served by endpoint base: the
 * HSM's own kid when we own it, else one built on the answering base. */
static void out_kid(const struct azkek *k, const char *hsm_kid,
		    const char *base, const char *version, char *kid)
{
	struct az_keyurl u;

	if (owns_kid(k, hsm_kid, &u)) {
		snprintf(kid, KEK_KID_MAX, "%s", hsm_kid);
		return;
	}
	if (!base[0])
		base = k->eps[0];
	snprintf(kid, KEK_KID_MAX, "%s/keys/%s/%s", base, k->name, version);
}

/* ---- calls ------------------------------------------------------------ */

/* One authenticated HSM request: token, request, and on a 401 with a
 * cached token one retry with a fresh token. Maps non-2xx to errors. */
static enum kek_status az_call(struct azkek *k, int op, const char *method,
			       const char *path, const char *body,
			       uint64_t deadline, struct http_resp *rs,
			       char *err)
{
	struct http_req rq = { .op = op, .method = method, .path = path,
			       .body = body, .body_len = body ? strlen(body) : 0,
			       .content_type = body ? "application/json" : NULL };
	enum kek_status st;
	unsigned gen;
	bool cached;
	char *hdr;

	for (int tries = 0;; tries++) {
		st = azauth_header(k->auth, deadline, &hdr, &gen, &cached, err);
		if (st != KEK_OK)
			return st;
		rq.auth = hdr;
		st = client_do(k->c, &rq, deadline, rs, err);
		secmem_strfree(hdr);
		if (st != KEK_OK)
			return st;
		if (rs->status == 401 && cached && tries == 0) {
			log_info("HSM refused the cached access token; "
				 "fetching a new one");
			azauth_invalidate(k->auth, gen);
			continue;
		}
		if (rs->status >= 200 && rs->status < 300)
			return KEK_OK;
		return azure_http_error(op, k->name, rs->status, rs->body,
					rs->len, rs->www_auth,
					rs->retry_after_ms, k->vault, err);
	}
}

/* Records a finished remote operation in the statistics. */
static enum kek_status done(struct azkek *k, int op, uint64_t t0,
			    enum kek_status st, const char *err)
{
	stats_record(k->stats, op, st, (unsigned)(clock_ms() - t0),
		     st == KEK_OK ? NULL : err);
	return st;
}

/* Checks a {"kid","value"} answer for key version ver and decodes value
 * into out (at most *outlen bytes). */
static enum kek_status op_result(const struct azkek *k,
				 const struct http_resp *rs, const char *ver,
				 uint8_t *out, size_t *outlen, char *kid,
				 char *err)
{
	uint8_t tmp[KEK_WRAPPED_MAX];
	enum kek_status st = KEK_E_PROTOCOL;
	cJSON *j = json_parse(rs->body, rs->len);
	const cJSON *jk = cJSON_GetObjectItemCaseSensitive(j, "kid");
	const cJSON *jv = cJSON_GetObjectItemCaseSensitive(j, "value");
	struct az_keyurl u;
	long n;

	if (!cJSON_IsString(jk) || !cJSON_IsString(jv)) {
		snprintf(err, KEK_ERR_MAX, "HSM answer for key %s is not "
			 "{\"kid\",\"value\"} JSON", k->name);
		goto out;
	}
	if (!kid_names_key(k, jk->valuestring, ver, &u)) {
		char shown[101];

		text_line(shown, sizeof(shown), jk->valuestring);
		snprintf(err, KEK_ERR_MAX, "HSM answered for key id '%s', "
			 "not for %s version %s", shown, k->name, ver);
		goto out;
	}
	n = b64_decode_any(jv->valuestring, strlen(jv->valuestring), tmp,
			   sizeof(tmp));
	if (n <= 0 || (size_t)n > *outlen) {
		snprintf(err, KEK_ERR_MAX, "HSM answer for key %s: value is "
			 "not base64 or not 1..%zu bytes", k->name, *outlen);
		goto out;
	}
	memcpy(out, tmp, (size_t)n);
	*outlen = (size_t)n;
	if (kid)
		out_kid(k, jk->valuestring, rs->endpoint, u.version, kid);
	st = KEK_OK;
out:
	OPENSSL_cleanse(tmp, sizeof(tmp));
	json_wipe_delete(j);
	return st;
}

/* {"alg":ALG,"value":B64URL(in)} in secure memory. */
static char *op_body(enum kek_alg alg, const uint8_t *in, size_t inlen)
{
	char *b = secmem_alloc(BODY_MAX_);
	size_t n;

	if (!b)
		return NULL;
	n = (size_t)snprintf(b, BODY_MAX_, "{\"alg\":\"%s\",\"value\":\"",
			     kek_alg_name(alg));
	b64url_encode(in, inlen, b + n);
	strcat(b, "\"}");
	return b;
}

/* ---- describe --------------------------------------------------------- */

/* True if the JSON array ops lists op (no array: all allowed). */
static bool has_op(const cJSON *ops, const char *op)
{
	const cJSON *o;

	if (!cJSON_IsArray(ops))
		return true;
	cJSON_ArrayForEach(o, ops)
		if (cJSON_IsString(o) && strcmp(o->valuestring, op) == 0)
			return true;
	return false;
}

/* Key type and size from a JsonWebKey into info (and *pub for RSA). */
static enum kek_status key_material(struct azkek *k, const cJSON *key,
				    struct kek_info *info, EVP_PKEY **pub,
				    char *err)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(key, "n");
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(key, "e");
	const cJSON *sz = cJSON_GetObjectItemCaseSensitive(key, "key_size");
	int bits;

	if (strcmp(info->kty, "RSA") == 0 || strcmp(info->kty, "RSA-HSM") == 0) {
		if (k->want != KEK_ALG_NONE && k->want != KEK_ALG_RSA_OAEP_256)
			goto badalg;
		if (!cJSON_IsString(n) || !cJSON_IsString(e) ||
		    !(*pub = rsa_from_jwk(n->valuestring, e->valuestring))) {
			snprintf(err, KEK_ERR_MAX, "HSM key %s: bad RSA public "
				 "key in the answer", k->name);
			return KEK_E_PROTOCOL;
		}
		bits = EVP_PKEY_get_bits(*pub);
		if (bits != 2048 && bits != 3072 && bits != 4096) {
			snprintf(err, KEK_ERR_MAX, "HSM key %s: RSA-%d is not "
				 "supported (2048, 3072, 4096)", k->name, bits);
			return KEK_E_INVAL;
		}
		info->bits = (unsigned)bits;
		info->alg = KEK_ALG_RSA_OAEP_256;
		return KEK_OK;
	}
	if (strcmp(info->kty, "oct") == 0 || strcmp(info->kty, "oct-HSM") == 0) {
		if (k->want == KEK_ALG_RSA_OAEP_256)
			goto badalg;
		/* Managed HSM does not report the size of AES keys. */
		if (cJSON_IsNumber(sz) && sz->valuedouble > 0 &&
		    sz->valuedouble <= 4096)
			info->bits = (unsigned)sz->valuedouble;
		info->alg = k->want ? k->want : KEK_ALG_A256KW;
		if (info->alg == KEK_ALG_A256KW && info->bits &&
		    info->bits != 256) {
			snprintf(err, KEK_ERR_MAX, "HSM key %s is AES-%u; A256KW "
				 "needs AES-256", k->name, info->bits);
			return KEK_E_INVAL;
		}
		return KEK_OK;
	}
	snprintf(err, KEK_ERR_MAX, "HSM key %s has type %s; use RSA-HSM "
		 "(2048/3072/4096) or oct-HSM 256", k->name, info->kty);
	return KEK_E_INVAL;
badalg:
	snprintf(err, KEK_ERR_MAX, "algorithm %s does not fit key %s (%s)",
		 kek_alg_name(k->want), k->name, info->kty);
	return KEK_E_INVAL;
}

/* Parses a KeyBundle into info, version, can_wrap and *pub. */
static enum kek_status parse_bundle(struct azkek *k, const struct http_resp *rs,
				    struct kek_info *info, char *version,
				    bool *can_wrap, EVP_PKEY **pub, char *err)
{
	cJSON *j = json_parse(rs->body, rs->len);
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(j, "key");
	const cJSON *attr = cJSON_GetObjectItemCaseSensitive(j, "attributes");
	const cJSON *kid = cJSON_GetObjectItemCaseSensitive(key, "kid");
	const cJSON *kty = cJSON_GetObjectItemCaseSensitive(key, "kty");
	const cJSON *en = cJSON_GetObjectItemCaseSensitive(attr, "enabled");
	enum kek_status st = KEK_E_PROTOCOL;
	struct az_keyurl u;

	*pub = NULL;
	if (!cJSON_IsObject(key) || !cJSON_IsString(kid) ||
	    !cJSON_IsString(kty) || strlen(kty->valuestring) >= sizeof(info->kty)) {
		snprintf(err, KEK_ERR_MAX, "HSM answer for key %s is not a key "
			 "bundle", k->name);
		goto out;
	}
	if (!kid_names_key(k, kid->valuestring, k->pin, &u)) {
		char shown[101];

		text_line(shown, sizeof(shown), kid->valuestring);
		snprintf(err, KEK_ERR_MAX, "HSM answered with key id '%s' "
			 "for key %s%s%s", shown, k->name,
			 k->pin[0] ? "/" : "", k->pin);
		goto out;
	}
	strcpy(info->kty, kty->valuestring);
	info->enabled = !cJSON_IsBool(en) || cJSON_IsTrue(en);
	*can_wrap = has_op(cJSON_GetObjectItemCaseSensitive(key, "key_ops"),
			   "wrapKey");
	st = key_material(k, key, info, pub, err);
	if (st != KEK_OK)
		goto out;
	strcpy(version, u.version);
	out_kid(k, kid->valuestring, rs->endpoint, u.version, info->kid);
out:
	json_wipe_delete(j);
	if (st != KEK_OK) {
		EVP_PKEY_free(*pub);
		*pub = NULL;
	}
	return st;
}

/* The key-bundle and operation-result parsers on untrusted bytes, for
 * the fuzz target: a key "hsmfs-kek" on one endpoint, as if answered. */
enum kek_status azure_parse_answers(const char *body, size_t len, char *err)
{
	static const char ver[] = "0123456789abcdef0123456789abcdef";
	struct azkek k = { .nep = 1 };
	struct http_resp rs = { .status = 200, .body = (char *)body,
				.len = len };
	struct kek_info info = { 0 };
	char version[AZ_VERSION_LEN + 1], kid[KEK_KID_MAX];
	uint8_t out[KEK_WRAPPED_MAX];
	size_t outlen = sizeof(out);
	EVP_PKEY *pub = NULL;
	bool can_wrap;
	enum kek_status a, b;

	snprintf(k.name, sizeof(k.name), "hsmfs-kek");
	snprintf(k.eps[0], sizeof(k.eps[0]), "https://hsm.example");
	snprintf(rs.endpoint, sizeof(rs.endpoint), "https://hsm.example");
	a = parse_bundle(&k, &rs, &info, version, &can_wrap, &pub, err);
	EVP_PKEY_free(pub);
	b = op_result(&k, &rs, ver, out, &outlen, kid, err);
	OPENSSL_cleanse(out, sizeof(out));
	return a == KEK_OK ? a : b;
}

static enum kek_status az_describe(struct kek *kk, struct kek_info *info,
				   char *err)
{
	struct azkek *k = (struct azkek *)kk;
	uint64_t t0 = clock_ms();
	struct http_resp rs = { 0 };
	char path[PATH_MAX_], version[AZ_VERSION_LEN + 1];
	struct kek_info ni = { 0 };
	EVP_PKEY *pub = NULL;
	enum kek_status st;
	bool can_wrap = true;

	snprintf(path, sizeof(path), "/keys/%s/%s?api-version=%s", k->name,
		 k->pin, k->api);
	st = az_call(k, KEK_OP_GET, "GET", path, NULL, t0 + k->deadline_ms,
		     &rs, err);
	if (st == KEK_OK)
		st = parse_bundle(k, &rs, &ni, version, &can_wrap, &pub, err);
	http_resp_free(&rs);
	if (st != KEK_OK)
		return done(k, KEK_OP_GET, t0, st, err);
	pthread_mutex_lock(&k->lock);
	EVP_PKEY_free(k->pub);
	k->pub = pub;
	k->info = ni;
	strcpy(k->version, version);
	k->can_wrap = can_wrap;
	k->described = true;
	pthread_mutex_unlock(&k->lock);
	*info = ni;
	return done(k, KEK_OP_GET, t0, KEK_OK, err);
}

/* ---- wrap / unwrap ---------------------------------------------------- */

/* Remote wrapkey with version ver (oct keys). */
static enum kek_status wrap_remote(struct azkek *k, enum kek_alg alg,
				   const char *ver, const uint8_t *in,
				   size_t inlen, uint8_t *out, size_t *outlen,
				   char *kid, char *err)
{
	uint64_t t0 = clock_ms();
	struct http_resp rs = { 0 };
	char path[PATH_MAX_], *body;
	enum kek_status st;

	if (inlen == 0 || inlen > KEK_WRAPPED_MAX - 16 ||
	    (alg == KEK_ALG_A256KW && (inlen < 16 || inlen % 8))) {
		snprintf(err, KEK_ERR_MAX, "cannot wrap %zu bytes with %s",
			 inlen, kek_alg_name(alg));
		return KEK_E_INVAL;
	}
	body = op_body(alg, in, inlen);
	if (!body)
		return KEK_E_NOMEM;
	snprintf(path, sizeof(path), "/keys/%s/%s/wrapkey?api-version=%s",
		 k->name, ver, k->api);
	st = az_call(k, KEK_OP_WRAP, "POST", path, body, t0 + k->deadline_ms,
		     &rs, err);
	secmem_strfree(body);
	*outlen = KEK_WRAPPED_MAX;
	if (st == KEK_OK)
		st = op_result(k, &rs, ver, out, outlen, kid, err);
	http_resp_free(&rs);
	return done(k, KEK_OP_WRAP, t0, st, err);
}

static enum kek_status az_wrap(struct kek *kk, const uint8_t *in,
			       size_t inlen, uint8_t *out, size_t *outlen,
			       char kid[KEK_KID_MAX], enum kek_alg *alg,
			       char *err)
{
	struct azkek *k = (struct azkek *)kk;
	char ver[AZ_VERSION_LEN + 1];
	struct kek_info info;
	enum kek_status st;
	EVP_PKEY *pub = NULL;
	bool can_wrap;

	pthread_mutex_lock(&k->lock);
	bool described = k->described;
	pthread_mutex_unlock(&k->lock);
	if (!described && (st = az_describe(kk, &info, err)) != KEK_OK)
		return st;
	pthread_mutex_lock(&k->lock);
	info = k->info;
	strcpy(ver, k->version);
	can_wrap = k->can_wrap;
	if (k->pub && EVP_PKEY_up_ref(k->pub))
		pub = k->pub;
	pthread_mutex_unlock(&k->lock);
	if (!info.enabled || !can_wrap) {
		snprintf(err, KEK_ERR_MAX, "HSM key %s version %s %s", k->name,
			 ver, !info.enabled ? "is disabled" :
			 "does not allow wrapKey (key_ops)");
		st = KEK_E_FORBIDDEN;
		goto out;
	}
	if (info.alg == KEK_ALG_RSA_OAEP_256) {
		st = pub ? rsa_wrap(pub, in, inlen, out, outlen, err) :
			   KEK_E_PROTOCOL;
		if (st == KEK_OK)
			snprintf(kid, KEK_KID_MAX, "%s", info.kid);
	} else {
		st = wrap_remote(k, info.alg, ver, in, inlen, out, outlen, kid,
				 err);
	}
	if (st == KEK_OK)
		*alg = info.alg;
out:
	EVP_PKEY_free(pub);
	return st;
}

static enum kek_status az_unwrap(struct kek *kk, const char *kid,
				 enum kek_alg alg, const uint8_t *in,
				 size_t inlen, uint8_t *out, size_t *outlen,
				 char *err)
{
	struct azkek *k = (struct azkek *)kk;
	uint64_t t0 = clock_ms();
	struct http_resp rs = { 0 };
	char path[PATH_MAX_], *body;
	enum kek_alg kalg;
	struct az_keyurl u;
	enum kek_status st;

	if (!owns_kid(k, kid, &u)) {
		snprintf(err, KEK_ERR_MAX, "key id '%.120s' does not belong to "
			 "KEK %s", kid ? kid : "(null)", k->name);
		return KEK_E_INVAL;
	}
	pthread_mutex_lock(&k->lock);
	kalg = k->described ? k->info.alg : KEK_ALG_NONE;
	pthread_mutex_unlock(&k->lock);
	if (alg < KEK_ALG_RSA_OAEP_256 || alg > KEK_ALG_AES_KW_PAD ||
	    inlen == 0 || inlen > KEK_WRAPPED_MAX ||
	    (kalg != KEK_ALG_NONE &&
	     (kalg == KEK_ALG_RSA_OAEP_256) != (alg == KEK_ALG_RSA_OAEP_256))) {
		snprintf(err, KEK_ERR_MAX, "cannot unwrap %zu bytes with %s "
			 "under key %s", inlen, kek_alg_name(alg), k->name);
		return KEK_E_INVAL;
	}
	body = op_body(alg, in, inlen);
	if (!body)
		return KEK_E_NOMEM;
	snprintf(path, sizeof(path), "/keys/%s/%s/unwrapkey?api-version=%s",
		 k->name, u.version, k->api);
	st = az_call(k, KEK_OP_UNWRAP, "POST", path, body,
		     t0 + k->deadline_ms, &rs, err);
	secmem_strfree(body);
	if (st == KEK_OK)
		st = op_result(k, &rs, u.version, out, outlen, NULL, err);
	http_resp_free(&rs);
	return done(k, KEK_OP_UNWRAP, t0, st, err);
}

static bool az_owns(struct kek *kk, const char *kid)
{
	struct az_keyurl u;

	return owns_kid((const struct azkek *)kk, kid, &u);
}

static void az_stats(struct kek *kk, struct kek_stats *st)
{
	struct azkek *k = (struct azkek *)kk;

	stats_get(k->stats, st);
	client_endpoint(k->c, st->endpoint, sizeof(st->endpoint));
}

/* ---- open / close ----------------------------------------------------- */

static void az_close(struct kek *kk)
{
	struct azkek *k = (struct azkek *)kk;

	if (!k)
		return;
	azauth_free(k->auth);
	client_free(k->c);
	stats_free(k->stats);
	EVP_PKEY_free(k->pub);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

/* Adds a canonical base to the endpoint list unless present. */
static enum kek_status add_ep(struct azkek *k, const char *base, char *err)
{
	for (int i = 0; i < k->nep; i++)
		if (strcmp(k->eps[i], base) == 0)
			return KEK_OK;
	if (k->nep == CLIENT_MAX_EP) {
		snprintf(err, KEK_ERR_MAX, "at most %d HSM endpoints",
			 KEK_MAX_ENDPOINTS);
		return KEK_E_INVAL;
	}
	/* Every kid this KEK can produce must fit KEK_KID_MAX. */
	if (strlen(base) + 6 + strlen(k->name) + 1 + AZ_VERSION_LEN >=
	    KEK_KID_MAX) {
		snprintf(err, KEK_ERR_MAX, "HSM endpoint %.100s and key name "
			 "make key ids too long", base);
		return KEK_E_INVAL;
	}
	strcpy(k->eps[k->nep++], base);
	return KEK_OK;
}

/* The challenge-resource rule of the Azure SDKs: a token goes to a host
 * within the official domain of its audience, or to one the operator
 * named (the endpoints, and the URL's own host if host_named). named is
 * how many of k->eps came from the endpoints option. */
static enum kek_status check_host(const struct azkek *k, int named,
				  const struct az_keyurl *u,
				  const struct kek_opts *o, const char *scope,
				  char *err)
{
	const char *own = azure_scope_for_host(u->host);
	const char *domain = azure_domain_for_scope(scope);

	if (o->host_named || (own && strcmp(own, scope) == 0))
		return KEK_OK;
	for (int i = 0; i < named; i++)
		if (strcmp(k->eps[i], u->base) == 0)
			return KEK_OK;
	if (domain)
		snprintf(err, KEK_ERR_MAX, "host %.80s is not within *%s, the "
			 "domain of token scope %s, and was not named by the "
			 "operator: nothing is sent to it", u->host, domain,
			 scope);
	else
		snprintf(err, KEK_ERR_MAX, "host %.80s was not named by the "
			 "operator, and token scope %.80s has no Azure domain "
			 "of its own: nothing is sent to it", u->host, scope);
	return KEK_E_INVAL;
}

/* Options: endpoints, scope, api-version, algorithm, deadline. */
static enum kek_status apply_opts(struct azkek *k, const struct az_keyurl *u,
				  const struct kek_opts *o, char *err)
{
	char base[HTTP_BASE_MAX], host[HTTP_BASE_MAX];
	const char *scope = o->scope;
	enum kek_status st;
	int named;

	for (int i = 0; i < KEK_MAX_ENDPOINTS && o->endpoints[i]; i++) {
		st = azure_parse_base(o->endpoints[i], base, host, err);
		if (st == KEK_OK)
			st = add_ep(k, base, err);
		if (st != KEK_OK)
			return st;
	}
	named = k->nep;
	st = add_ep(k, u->base, err); /* the URL's own host, last if listed */
	if (st != KEK_OK)
		return st;
	if (!scope)
		scope = azure_scope_for_host(u->host);
	if (!scope || !azure_scope_ok(scope)) {
		snprintf(err, KEK_ERR_MAX, scope ? "bad token scope" :
			 "host %.80s is not *.managedhsm.azure.net or "
			 "*.vault.azure.net: give the token scope explicitly",
			 u->host);
		return KEK_E_INVAL;
	}
	st = check_host(k, named, u, o, scope, err);
	if (st != KEK_OK)
		return st;
	strcpy(k->scope, scope);
	k->vault = strstr(scope, "vault.azure") != NULL;
	if (o->api_version && strcmp(o->api_version, "7.4") != 0 &&
	    strcmp(o->api_version, "7.5") != 0 &&
	    strcmp(o->api_version, "7.6") != 0) {
		snprintf(err, KEK_ERR_MAX, "api-version %.20s not supported "
			 "(7.4, 7.5, 7.6)", o->api_version);
		return KEK_E_INVAL;
	}
	snprintf(k->api, sizeof(k->api), "%s",
		 o->api_version ? o->api_version : AZ_API_DEFAULT);
	if (o->alg != KEK_ALG_NONE && o->alg != KEK_ALG_RSA_OAEP_256 &&
	    o->alg != KEK_ALG_A256KW && o->alg != KEK_ALG_AES_KW_PAD) {
		snprintf(err, KEK_ERR_MAX, "unknown KEK algorithm");
		return KEK_E_INVAL;
	}
	k->want = o->alg;
	k->deadline_ms = o->deadline_ms ? o->deadline_ms : AZ_DEADLINE_MS;
	return KEK_OK;
}

static enum kek_status az_open(const char *url, const struct kek_opts *o,
			       struct kek **out, char *err)
{
	static const struct kek_opts none = { 0 };
	const char *eps[CLIENT_MAX_EP + 1] = { 0 };
	struct client_cfg cfg = { 0 };
	struct az_keyurl u;
	struct azkek *k;
	enum kek_status st;

	*out = NULL;
	if (!o)
		o = &none;
	st = azure_parse_key_url(url, false, &u, err);
	if (st != KEK_OK)
		return st;
	k = calloc(1, sizeof(*k));
	if (!k)
		return KEK_E_NOMEM;
	k->base.prov = &azure_provider;
	pthread_mutex_init(&k->lock, NULL);
	strcpy(k->name, u.name);
	strcpy(k->pin, u.version);
	st = apply_opts(k, &u, o, err);
	if (st != KEK_OK)
		goto fail;
	for (int i = 0; i < k->nep; i++)
		eps[i] = k->eps[i];
	cfg.ca_file = o->ca_file;
	cfg.connect_ms = o->connect_timeout_ms;
	cfg.total_ms = o->total_timeout_ms;
	cfg.endpoints = eps;
	k->stats = stats_new();
	cfg.stats = k->stats;
	st = k->stats ? client_new(&cfg, &k->c, err) : KEK_E_NOMEM;
	if (st == KEK_OK)
		st = azauth_new(k->c, k->stats, k->scope, o->credential_file,
				&k->auth, err);
	if (st != KEK_OK)
		goto fail;
	*out = &k->base;
	return KEK_OK;
fail:
	az_close(&k->base);
	return st;
}

const struct kek_provider azure_provider = {
	.scheme = "https",
	.open = az_open,
	.close = az_close,
	.describe = az_describe,
	.wrap = az_wrap,
	.unwrap = az_unwrap,
	.owns = az_owns,
	.stats = az_stats,
	.seal_env = azcred_seal_env,
};
