/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "auth.h"
#include "clients.h"
#include "common/b64.h"
#include "json.h"
#include "rbac.h"
#include "jwt.h"
#include "signkey.h"
#include "store.h"
#include "util.h"

#define MHSM_RESOURCE "https://managedhsm.azure.net"
#define VAULT_RESOURCE "https://vault.azure.net"
#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define FORM_FIELDS 16
#define CLOCK_SKEW 300
#define CERT_ASSERTION_MAX_LIFE 3600
#define FED_ASSERTION_MAX_LIFE 86400

/* ---- form bodies ---- */

struct form {
	int n;
	char *k[FORM_FIELDS], *v[FORM_FIELDS];
};

/* application/x-www-form-urlencoded decoding of s[0..n); NUL rejected. */
static char *url_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%') {
			int hi, lo;
			if (i + 2 >= n)
				goto bad;
			hi = hex_digit(s[i + 1]);
			lo = hex_digit(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				goto bad;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
bad:
	OPENSSL_cleanse(out, n + 1);
	free(out);
	return NULL;
}

/* Form values may be secrets: wipe before freeing. */
static void form_free(struct form *f)
{
	for (int i = 0; i < f->n; i++) {
		OPENSSL_cleanse(f->k[i], strlen(f->k[i]));
		OPENSSL_cleanse(f->v[i], strlen(f->v[i]));
		free(f->k[i]);
		free(f->v[i]);
	}
	f->n = 0;
}

/* Splits a form body into at most FORM_FIELDS decoded pairs. */
static int form_parse(const char *body, size_t len, struct form *f)
{
	const char *p = body, *end = body + len;

	memset(f, 0, sizeof(*f));
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		if (stop > p) {
			if (!eq || f->n == FORM_FIELDS)
				goto bad;
			f->k[f->n] = url_decode(p, (size_t)(eq - p));
			f->v[f->n] = url_decode(eq + 1, (size_t)(stop - eq - 1));
			if (!f->k[f->n] || !f->v[f->n]) {
				free(f->k[f->n]);
				free(f->v[f->n]);
				goto bad;
			}
			f->n++;
		}
		p = stop + 1;
	}
	return 0;
bad:
	form_free(f);
	return -1;
}

/* First value of key; NULL if absent. */
static const char *form_get(const struct form *f, const char *key)
{
	for (int i = 0; i < f->n; i++)
		if (!strcmp(f->k[i], key))
			return f->v[i];
	return NULL;
}

/* ---- tokens ---- */

/* Resource for a v2 scope ("<resource>/.default"), or NULL. */
static const char *scope_resource(const char *scope, char *buf, size_t cap)
{
	size_t n = scope ? strlen(scope) : 0;
	const char *suffix = "/.default";

	if (n <= strlen(suffix) || n >= cap || strcmp(scope + n - strlen(suffix), suffix))
		return NULL;
	memcpy(buf, scope, n - strlen(suffix));
	buf[n - strlen(suffix)] = '\0';
	if (!strcmp(buf, MHSM_RESOURCE) || !strcmp(buf, VAULT_RESOURCE) ||
	    !strcmp(buf, emu.base))
		return buf;
	return NULL;
}

/* Same, for an IMDS v1 resource (a trailing slash is tolerated). */
static const char *imds_resource(const char *res, char *buf, size_t cap)
{
	size_t n = res ? strlen(res) : 0;

	if (!n || n >= cap)
		return NULL;
	memcpy(buf, res, n + 1);
	if (buf[n - 1] == '/')
		buf[n - 1] = '\0';
	if (!strcmp(buf, MHSM_RESOURCE) || !strcmp(buf, VAULT_RESOURCE) ||
	    !strcmp(buf, emu.base))
		return buf;
	return NULL;
}

/* Signs an access token for a principal; *exp gets its expiry. */
static char *issue_token(const char *client_id, const char *oid,
			 const char *tenant, const char *resource, int64_t *exp)
{
	cJSON *c = cJSON_CreateObject();
	int64_t now = now_unix();
	char iss[300], uti[33], *tok = NULL;

	*exp = now + emu.token_lifetime;
	snprintf(iss, sizeof(iss), "%s/%s/v2.0", emu.base, tenant);
	if (!c || rand_hex(uti, 16))
		goto out;
	cJSON_AddStringToObject(c, "aud", resource);
	cJSON_AddStringToObject(c, "iss", iss);
	cJSON_AddNumberToObject(c, "iat", (double)now);
	cJSON_AddNumberToObject(c, "nbf", (double)now);
	cJSON_AddNumberToObject(c, "exp", (double)*exp);
	cJSON_AddStringToObject(c, "appid", client_id);
	cJSON_AddStringToObject(c, "oid", oid);
	cJSON_AddStringToObject(c, "sub", oid);
	cJSON_AddStringToObject(c, "tid", tenant);
	cJSON_AddStringToObject(c, "idtyp", "app");
	cJSON_AddStringToObject(c, "uti", uti);
	if (jwt_sign_rs256(c, signkey(), signkey_kid(), &tok))
		tok = NULL;
out:
	cJSON_Delete(c);
	return tok;
}

/* Checks signature, expiry and that the client still exists. */
enum auth_state auth_bearer(struct req *r)
{
	const char *h = req_header(r, "Authorization"), *appid, *oid, *cid;
	enum auth_state st = AUTH_INVALID;
	struct jwt j;
	int64_t exp = 0;

	if (!h || strncasecmp(h, "Bearer ", 7))
		return AUTH_NONE;
	h += 7;
	while (*h == ' ')
		h++;
	if (jwt_verify_rs256(h, signkey(), &j))
		return AUTH_INVALID;
	appid = json_str(j.claims, "appid");
	if (json_int(j.claims, "exp", 0, INT64_MAX / 2, &exp) != 1 || !appid)
		goto out;
	if (exp <= now_unix()) {
		st = AUTH_EXPIRED;
		goto out;
	}
	/* A removed client's tokens stop working at once. */
	store_lock();
	oid = clients_oid(appid);
	cid = clients_resolve(appid);
	if (oid && cid && !strcmp(cid, appid)) {
		snprintf(r->principal, sizeof(r->principal), "%s", appid);
		snprintf(r->oid, sizeof(r->oid), "%s", oid);
		st = AUTH_OK;
	}
	store_unlock();
out:
	jwt_free(&j);
	return st;
}

/* The challenge, with the service's error body. */
void auth_unauthorized(const struct req *r, struct reply *rp)
{
	snprintf(rp->www_auth, sizeof(rp->www_auth),
		 "Bearer authorization=\"%s/%s\", resource=\"" MHSM_RESOURCE "\"",
		 emu.base, emu.tenant);
	if (r->auth == AUTH_NONE) {
		reply_error(rp, 401, "Unauthorized", NULL,
			    "Request is missing a Bearer or PoP token.");
		return;
	}
	reply_error(rp, 401, "Unauthorized", NULL, "%s",
		    r->auth == AUTH_EXPIRED ? "The access token has expired."
					    : "The access token is invalid.");
	snprintf(rp->outcome, sizeof(rp->outcome), "%s",
		 r->auth == AUTH_EXPIRED ? "TokenExpired" : "InvalidToken");
}

/* ---- token endpoint ---- */

/* Any tenant is accepted in the token path. */
int auth_token_path(const char *path, char *tenant, size_t cap)
{
	const char *suffix = "/oauth2/v2.0/token";
	const char *slash;
	size_t n;

	if (path[0] != '/' || !(slash = strchr(path + 1, '/')))
		return 0;
	n = (size_t)(slash - path - 1);
	if (n == 0 || n >= cap || strcmp(slash, suffix))
		return 0;
	memcpy(tenant, path + 1, n);
	tenant[n] = '\0';
	return valid_ident(tenant, 64, "-._");
}

/* Entra-shaped error: error, error_description with AADSTS code, ids. */
static void entra_error(struct reply *rp, unsigned status, const char *err,
			int code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void entra_error(struct reply *rp, unsigned status, const char *err,
			int code, const char *fmt, ...)
{
	cJSON *o = cJSON_CreateObject(), *codes;
	char msg[700], desc[1000], trace[37], corr[37], ts[32];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	make_guid(trace);
	make_guid(corr);
	rfc3339_now(ts);
	snprintf(desc, sizeof(desc), "AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
		 code, msg, trace, corr, ts);
	if (o) {
		cJSON_AddStringToObject(o, "error", err);
		cJSON_AddStringToObject(o, "error_description", desc);
		codes = cJSON_AddArrayToObject(o, "error_codes");
		if (codes)
			cJSON_AddItemToArray(codes, cJSON_CreateNumber(code));
		cJSON_AddStringToObject(o, "timestamp", ts);
		cJSON_AddStringToObject(o, "trace_id", trace);
		cJSON_AddStringToObject(o, "correlation_id", corr);
	}
	reply_json(rp, status, o);
	snprintf(rp->outcome, sizeof(rp->outcome), "%s", err);
	rp->no_store = 1;
}

/* Assertion time window: exp ahead (within max_life), nbf not ahead. */
static int check_times(const struct jwt *j, int64_t max_life, struct reply *rp)
{
	int64_t now = now_unix(), exp = 0, nbf = 0;

	if (json_int(j->claims, "exp", 0, INT64_MAX / 2, &exp) != 1 ||
	    json_int(j->claims, "nbf", 0, INT64_MAX / 2, &nbf) < 0) {
		entra_error(rp, 400, "invalid_request", 50027,
			    "JWT token is invalid or malformed (exp/nbf).");
		return -1;
	}
	if (exp <= now - 60 || nbf > now + CLOCK_SKEW || exp > now + max_life + CLOCK_SKEW) {
		entra_error(rp, 401, "invalid_client", 700024,
			    "Client assertion is not within its valid time range. "
			    "Current time: %lld, assertion valid from %lld, expiry time of assertion %lld.",
			    (long long)now, (long long)nbf, (long long)exp);
		return -1;
	}
	return 0;
}

/* base64url SHA-256 / SHA-1 thumbprints of a certificate's DER. */
static int thumbprints(X509 *x, char s256[48], char s1[32])
{
	unsigned char *der = NULL, h[32];
	unsigned int hl;
	int n = i2d_X509(x, &der), ret = -1;

	if (n <= 0)
		return -1;
	if (EVP_Digest(der, (size_t)n, h, &hl, EVP_sha256(), NULL) && hl == 32) {
		b64url_encode(h, 32, s256);
		if (EVP_Digest(der, (size_t)n, h, &hl, EVP_sha1(), NULL) && hl == 20) {
			b64url_encode(h, 20, s1);
			ret = 0;
		}
	}
	OPENSSL_free(der);
	return ret;
}

/* Certificate credential: thumbprint, signature, iss/sub/aud, times. */
static int check_cert_assertion(const struct client_creds *c, const struct jwt *j,
				const char *tenant, struct reply *rp)
{
	BIO *b = BIO_new_mem_buf(c->cert_pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	const char *t256 = json_str(j->header, "x5t#S256"), *t1 = json_str(j->header, "x5t");
	const char *iss = json_str(j->claims, "iss"), *sub = json_str(j->claims, "sub");
	char s256[48], s1[32], aud[400];
	int ret = -1;

	BIO_free(b);
	if (!x || thumbprints(x, s256, s1)) {
		entra_error(rp, 500, "server_error", 50000, "Registered certificate is unusable.");
		goto out;
	}
	if (!(t256 && !strcmp(t256, s256)) && !(t1 && !strcmp(t1, s1))) {
		entra_error(rp, 401, "invalid_client", 700027,
			    "The certificate with identifier used to sign the client assertion "
			    "is not registered on application (x5t#S256 or x5t must match).");
		goto out;
	}
	if (jwt_verify_rsa(j, X509_get0_pubkey(x))) {
		entra_error(rp, 401, "invalid_client", 700027,
			    "Client assertion failed signature validation (PS256 or RS256).");
		goto out;
	}
	snprintf(aud, sizeof(aud), "%s/%s/oauth2/v2.0/token", emu.base, tenant);
	if (!iss || !sub || strcmp(iss, c->id) || strcmp(sub, c->id)) {
		entra_error(rp, 401, "invalid_client", 700021,
			    "Client assertion iss and sub must both be the client id.");
		goto out;
	}
	if (!jwt_aud_has(j, aud)) {
		entra_error(rp, 401, "invalid_client", 700212,
			    "Client assertion audience must be '%s'.", aud);
		goto out;
	}
	ret = check_times(j, CERT_ASSERTION_MAX_LIFE, rp);
out:
	X509_free(x);
	return ret;
}

/* Federated credential: issuer/subject/audience match and RSA signature. */
static int check_fed_assertion(const struct client_creds *c, const struct jwt *j,
			       struct reply *rp)
{
	const char *iss = json_str(j->claims, "iss"), *sub = json_str(j->claims, "sub");
	BIO *b = BIO_new_mem_buf(c->fed_key_pem, -1);
	EVP_PKEY *k = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
	int ret = -1;

	BIO_free(b);
	if (!iss || !sub || strcmp(iss, c->fed_issuer) || strcmp(sub, c->fed_subject) ||
	    !jwt_aud_has(j, c->fed_audience)) {
		entra_error(rp, 400, "invalid_request", 70021,
			    "No matching federated identity record found for presented "
			    "assertion. Assertion Issuer: '%.200s'. Assertion Subject: '%.200s'.",
			    iss ? iss : "", sub ? sub : "");
		goto out;
	}
	if (!k || jwt_verify_rsa(j, k)) {
		entra_error(rp, 401, "invalid_client", 700027,
			    "Client assertion failed signature validation.");
		goto out;
	}
	ret = check_times(j, FED_ASSERTION_MAX_LIFE, rp);
out:
	EVP_PKEY_free(k);
	return ret;
}

/* client_assertion: a certificate assertion if iss is the client itself. */
static int check_assertion(const struct client_creds *c, const struct form *f,
			   const char *tenant, struct reply *rp)
{
	const char *type = form_get(f, "client_assertion_type");
	const char *iss;
	struct jwt j;
	int ret;

	if (!type || strcmp(type, ASSERTION_TYPE)) {
		entra_error(rp, 400, "invalid_request", 900144,
			    "client_assertion_type must be " ASSERTION_TYPE ".");
		return -1;
	}
	if (jwt_parse(form_get(f, "client_assertion"), &j)) {
		entra_error(rp, 400, "invalid_request", 50027,
			    "JWT token is invalid or malformed.");
		return -1;
	}
	iss = json_str(j.claims, "iss");
	if (c->cert_pem && (!c->fed_issuer || (iss && !strcmp(iss, c->id))))
		ret = check_cert_assertion(c, &j, tenant, rp);
	else if (c->fed_issuer)
		ret = check_fed_assertion(c, &j, rp);
	else {
		entra_error(rp, 401, "invalid_client", 700027,
			    "No certificate or federated credential is registered for '%s'.", c->id);
		ret = -1;
	}
	jwt_free(&j);
	return ret;
}

/* Successful token answer, as Entra v2 returns it. */
static void reply_token(struct reply *rp, const char *tok)
{
	cJSON *o = cJSON_CreateObject();

	if (o) {
		cJSON_AddStringToObject(o, "token_type", "Bearer");
		cJSON_AddNumberToObject(o, "expires_in", emu.token_lifetime);
		cJSON_AddNumberToObject(o, "ext_expires_in", emu.token_lifetime);
		cJSON_AddStringToObject(o, "access_token", tok);
	}
	reply_json(rp, 200, o);
	rp->no_store = 1;
}

/* Validates the grant; 0 with c filled if the client authenticated. */
static int token_client(struct req *r, const struct form *f, const char *tenant,
			struct client_creds *c, struct reply *rp)
{
	const char *id = form_get(f, "client_id"), *secret = form_get(f, "client_secret");
	const char *assertion = form_get(f, "client_assertion"), *gt = form_get(f, "grant_type");

	if (!gt) {
		entra_error(rp, 400, "invalid_request", 900144,
			    "The request body must contain the following parameter: 'grant_type'.");
		return -1;
	}
	if (strcmp(gt, "client_credentials")) {
		entra_error(rp, 400, "unsupported_grant_type", 70003,
			    "The app requested an unsupported grant type '%.40s'.", gt);
		return -1;
	}
	if (!id || !valid_ident(id, EMU_ID_MAX, "-._")) {
		entra_error(rp, 400, "invalid_request", 900144,
			    "The request body must contain the following parameter: 'client_id'.");
		return -1;
	}
	snprintf(r->principal, sizeof(r->principal), "%s", id);
	store_lock();
	int found = clients_get_creds(id, c) == 0;
	store_unlock();
	if (!found) {
		entra_error(rp, 400, "unauthorized_client", 700016,
			    "Application with identifier '%s' was not found in the directory '%s'.",
			    id, tenant);
		return -1;
	}
	snprintf(r->oid, sizeof(r->oid), "%s", c->oid);
	if (assertion && secret) {
		entra_error(rp, 400, "invalid_request", 900144,
			    "Send either client_secret or client_assertion, not both.");
		return -1;
	}
	if (assertion)
		return check_assertion(c, f, tenant, rp);
	if (!secret) {
		entra_error(rp, 401, "invalid_client", 7000216,
			    "'client_assertion', 'client_secret' or 'request' is required for "
			    "the 'client_credentials' grant type.");
		return -1;
	}
	if (!client_secret_ok(c, secret)) {
		entra_error(rp, 401, "invalid_client", 7000215,
			    "Invalid client secret provided. Ensure the secret being sent in the "
			    "request is the client secret value, not the client secret ID, for a "
			    "secret added to app '%s'.", id);
		return -1;
	}
	return 0;
}

/* POST /{tenant}/oauth2/v2.0/token: client_credentials only. */
void auth_token(struct req *r, const char *tenant, struct reply *rp)
{
	struct client_creds c = { 0 };
	struct form f = { 0 };
	char resbuf[200], *tok = NULL;
	const char *resource;
	int64_t exp;

	if (strcmp(r->method, "POST")) {
		entra_error(rp, 405, "invalid_request", 900561,
			    "The endpoint only accepts POST requests.");
		return;
	}
	if (!r->body || form_parse(r->body, r->len, &f)) {
		entra_error(rp, 400, "invalid_request", 900144,
			    "The request body must be application/x-www-form-urlencoded.");
		return;
	}
	if (!form_get(&f, "scope")) {
		entra_error(rp, 400, "invalid_request", 900144,
			    "The request body must contain the following parameter: 'scope'.");
		goto out;
	}
	resource = scope_resource(form_get(&f, "scope"), resbuf, sizeof(resbuf));
	if (!resource) {
		entra_error(rp, 400, "invalid_scope", 70011,
			    "The provided value for the input parameter 'scope' is not valid. "
			    "Use " MHSM_RESOURCE "/.default, " VAULT_RESOURCE "/.default or %s/.default.",
			    emu.base);
		goto out;
	}
	if (token_client(r, &f, tenant, &c, rp))
		goto out;
	tok = issue_token(c.id, c.oid, tenant, resource, &exp);
	if (!tok) {
		entra_error(rp, 500, "server_error", 50000, "Cannot issue a token.");
		goto out;
	}
	reply_token(rp, tok);
out:
	if (tok) {
		OPENSSL_cleanse(tok, strlen(tok));
		free(tok);
	}
	client_creds_clear(&c);
	form_free(&f);
}

/* ---- IMDS ---- */

/* IMDS errors are flat {"error","error_description"}. */
static void imds_error(struct reply *rp, unsigned status, const char *err,
		       const char *desc)
{
	cJSON *o = cJSON_CreateObject();

	if (o) {
		cJSON_AddStringToObject(o, "error", err);
		cJSON_AddStringToObject(o, "error_description", desc);
	}
	reply_json(rp, status, o);
	snprintf(rp->outcome, sizeof(rp->outcome), "%s", err);
}

/* IMDS answers carry every number as a string. */
static void reply_imds(struct reply *rp, const char *tok, const char *cid,
		       const char *resource, int64_t exp)
{
	cJSON *o = cJSON_CreateObject();
	char n[24];

	if (o) {
		cJSON_AddStringToObject(o, "access_token", tok);
		cJSON_AddStringToObject(o, "client_id", cid);
		snprintf(n, sizeof(n), "%d", emu.token_lifetime);
		cJSON_AddStringToObject(o, "expires_in", n);
		snprintf(n, sizeof(n), "%lld", (long long)exp);
		cJSON_AddStringToObject(o, "expires_on", n);
		cJSON_AddStringToObject(o, "ext_expires_in", n);
		snprintf(n, sizeof(n), "%lld", (long long)(exp - emu.token_lifetime));
		cJSON_AddStringToObject(o, "not_before", n);
		cJSON_AddStringToObject(o, "resource", resource);
		cJSON_AddStringToObject(o, "token_type", "Bearer");
	}
	reply_json(rp, 200, o);
	rp->no_store = 1;
}

/* GET /metadata/identity/oauth2/token: token for a managed identity. */
void auth_imds(struct req *r, struct reply *rp)
{
	const char *md = req_header(r, "Metadata"), *res = req_arg(r, "resource");
	const char *want = req_arg(r, "client_id");
	char id[EMU_ID_MAX + 1], oid[37], resbuf[200], *tok;
	int64_t exp;
	int rc;

	if (!want)
		want = req_arg(r, "object_id");
	if (!md || strcasecmp(md, "true")) {
		imds_error(rp, 400, "bad_request_102", "Required metadata header not specified");
		return;
	}
	if (strcmp(r->method, "GET")) {
		imds_error(rp, 405, "invalid_request", "Only GET is supported");
		return;
	}
	if (!req_arg(r, "api-version")) {
		imds_error(rp, 400, "invalid_request", "Required query variable 'api-version' is missing");
		return;
	}
	if (!imds_resource(res, resbuf, sizeof(resbuf))) {
		imds_error(rp, 400, "invalid_resource",
			   "AADSTS500011: The resource principal was not found in the tenant.");
		return;
	}
	store_lock();
	rc = clients_managed_identity(want, id, oid);
	store_unlock();
	if (rc) {
		imds_error(rp, 400, "invalid_request", "Identity not found");
		return;
	}
	snprintf(r->principal, sizeof(r->principal), "%s", id);
	snprintf(r->oid, sizeof(r->oid), "%s", oid);
	tok = issue_token(id, oid, emu.tenant, resbuf, &exp);
	if (!tok) {
		imds_error(rp, 500, "server_error", "Cannot issue a token");
		return;
	}
	reply_imds(rp, tok, id, resbuf, exp);
	OPENSSL_cleanse(tok, strlen(tok));
	free(tok);
}

int auth_authorized(const struct req *r, struct reply *rp, const char *action,
		    const char *key)
{
	char roles[300];
	int ok;

	store_lock();
	ok = rbac_allowed(r->principal, action, key);
	store_unlock();
	if (ok)
		return 1;
	rbac_granting_roles(action, roles, sizeof(roles));
	reply_error(rp, 403, "Forbidden", "ForbiddenByRbac",
		    "Caller is not authorized to perform action on resource.\r\n"
		    "If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n"
		    "Caller: appid=%s;oid=%s\r\nAction: '%s'\r\nResource: '%s%s'\r\n"
		    "Roles that grant this action: %s",
		    r->principal, r->oid, action, key ? "/keys/" : "/",
		    key ? key : "", roles);
	return 0;
}
