/* SPDX-License-Identifier: Apache-2.0 */
/* Entra ID credentials from the environment, and a shared token cache. */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/clock.h"
#include "common/log.h"
#include "hsmclient/azure/auth.h"
#include "hsmclient/azure/cred.h"
#include "hsmclient/azure/json.h"
#include "hsmclient/azure/jwt.h"
#include "common/fit.h"
#include "hsmclient/azure/text.h"

#define ID_MAX 128
#define URL_MAX 512
#define FILE_MAX (64 * 1024)  /* federated token file */
#define FORM_MAX (AZAUTH_TOKEN_MAX * 3 + 2048)
#define BEARER "Authorization: Bearer "
#define SKEW_MS 30000

struct azauth {
	struct client *c;
	struct stats *stats;
	enum azauth_kind kind;
	char scope[256], resource[256];
	char tenant[ID_MAX], client_id[ID_MAX];
	char token_url[URL_MAX]; /* Entra v2.0 token endpoint */
	char imds_url[URL_MAX];  /* IMDS base */
	char fed_file[URL_MAX];
	char partial[160];       /* managed identity: what was incomplete */
	char *secret;            /* secure memory */
	EVP_PKEY *key;           /* certificate credential */
	char x5t[JWT_X5T_LEN];

	pthread_mutex_t lock;    /* the cached token */
	pthread_mutex_t refresh; /* one token request at a time */
	char *hdr;               /* BEARER + token, secure memory */
	uint64_t refresh_at, usable_until; /* clock_ms() */
	unsigned gen;
};

const char *azauth_kind_name(enum azauth_kind k)
{
	switch (k) {
	case AZAUTH_SECRET: return "client secret";
	case AZAUTH_CERT: return "client certificate";
	case AZAUTH_WORKLOAD: return "workload identity";
	case AZAUTH_MANAGED: return "managed identity";
	}
	return "?";
}

enum azauth_kind azauth_kind(const struct azauth *a)
{
	return a->kind;
}

/* Tenant and client ids end up in URLs and form bodies: GUIDs or domain
 * names, nothing else. */
static bool id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= ID_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-._", *s))
			return false;
	return true;
}

/* "https://host[:port]" without a trailing slash, path or query. */
static bool authority_ok(const char *s, bool allow_http)
{
	const char *p;

	if (strncmp(s, "https://", 8) == 0)
		p = s + 8;
	else if (allow_http && strncmp(s, "http://", 7) == 0)
		p = s + 7;
	else
		return false;
	if (!*p || strlen(s) >= 200)
		return false;
	for (; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-.:[]", *p))
			return false;
	return true;
}

/* Copies an authority, dropping one trailing slash. */
static void copy_base(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n && src[n - 1] == '/')
		n--;
	snprintf(dst, cap, "%.*s", (int)n, src);
}

/* Loads the RSA key and matching certificate of a PEM file. */
static enum kek_status load_cert(struct azauth *a, const char *path,
				 const char *pass, char *err)
{
	enum kek_status st = KEK_E_INVAL;
	X509 *x = NULL, *match = NULL;
	BIO *bio = NULL;

	bio = BIO_new_file(path, "r");
	if (!bio) {
		snprintf(err, KEK_ERR_MAX, "cannot read "
			 "AZURE_CLIENT_CERTIFICATE_PATH %.150s", path);
		goto out;
	}
	a->key = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)pass);
	if (!a->key) {
		snprintf(err, KEK_ERR_MAX, "no usable private key in %.150s "
			 "(wrong AZURE_CLIENT_CERTIFICATE_PASSWORD?)", path);
		goto out;
	}
	BIO_reset(bio);
	while (!match && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (X509_check_private_key(x, a->key) == 1)
			match = x;
		else
			X509_free(x);
	}
	if (!match) {
		snprintf(err, KEK_ERR_MAX, "no certificate matching the "
			 "private key in %.150s", path);
		goto out;
	}
	if (EVP_PKEY_get_base_id(a->key) != EVP_PKEY_RSA) {
		snprintf(err, KEK_ERR_MAX, "certificate key in %.150s is not "
			 "RSA (Entra ID assertions are PS256)", path);
		goto out;
	}
	if (jwt_x5t_s256(match, a->x5t) != 0) {
		st = KEK_E_CRYPTO;
		goto out;
	}
	st = KEK_OK;
out:
	ERR_clear_error();
	X509_free(match);
	BIO_free(bio);
	if (st != KEK_OK) {
		EVP_PKEY_free(a->key);
		a->key = NULL;
	}
	return st;
}

/* A credential named without the ids it needs: managed identity is
 * tried, as DefaultAzureCredential does, and its refusal says why. */
static void note_partial(struct azauth *a, const struct azcred *c)
{
	enum azcred_var given = c->v[AZ_SECRET] ? AZ_SECRET :
				c->v[AZ_CERT] ? AZ_CERT : AZ_FED;

	if (!azcred_has_credential(c))
		return;
	snprintf(a->partial, sizeof(a->partial), "%s was given without %s",
		 azcred_name(given),
		 !c->v[AZ_TENANT] ? azcred_name(AZ_TENANT) :
				    azcred_name(AZ_CLIENT));
}

/* Picks the credential as DefaultAzureCredential does. */
static enum kek_status pick_credential(struct azauth *a,
				       const struct azcred *c, char *err)
{
	const char *tenant = c->v[AZ_TENANT];
	const char *client = c->v[AZ_CLIENT];
	const char *secret = c->v[AZ_SECRET];
	const char *cert = c->v[AZ_CERT];
	const char *fed = c->v[AZ_FED];

	if (client && !id_ok(client)) {
		snprintf(err, KEK_ERR_MAX, "AZURE_CLIENT_ID is malformed");
		return KEK_E_INVAL;
	}
	if (client)
		snprintf(a->client_id, sizeof(a->client_id), "%s", client);
	if (!tenant || !client || !(secret || cert || fed)) {
		a->kind = AZAUTH_MANAGED;
		note_partial(a, c);
		return KEK_OK;
	}
	if (!id_ok(tenant)) {
		snprintf(err, KEK_ERR_MAX, "AZURE_TENANT_ID is malformed");
		return KEK_E_INVAL;
	}
	snprintf(a->tenant, sizeof(a->tenant), "%s", tenant);
	if (secret) {
		a->kind = AZAUTH_SECRET;
		a->secret = secmem_strdup(secret);
		return a->secret ? KEK_OK : KEK_E_NOMEM;
	}
	if (cert) {
		a->kind = AZAUTH_CERT;
		return load_cert(a, cert, c->v[AZ_CERT_PASS], err);
	}
	a->kind = AZAUTH_WORKLOAD;
	if (strlen(fed) >= sizeof(a->fed_file)) {
		snprintf(err, KEK_ERR_MAX, "AZURE_FEDERATED_TOKEN_FILE too long");
		return KEK_E_INVAL;
	}
	strcpy(a->fed_file, fed);
	return KEK_OK;
}

/* Token endpoint and IMDS base from the settings and the environment. */
static enum kek_status pick_endpoints(struct azauth *a, const struct azcred *c,
				      char *err)
{
	const char *auth = c->v[AZ_AUTHORITY];
	const char *imds = getenv("HSMFS_IMDS_ENDPOINT");
	char base[256];

	if (!auth)
		auth = AZAUTH_DEFAULT_AUTHORITY;
	copy_base(base, sizeof(base), auth);
	if (!authority_ok(base, false)) {
		snprintf(err, KEK_ERR_MAX, "AZURE_AUTHORITY_HOST must be "
			 "https://host[:port], got '%.100s'", auth);
		return KEK_E_INVAL;
	}
	snprintf(a->token_url, sizeof(a->token_url), "%s/%s/oauth2/v2.0/token",
		 base, a->tenant);
	if (!imds || !*imds)
		imds = AZAUTH_DEFAULT_IMDS;
	copy_base(a->imds_url, sizeof(a->imds_url), imds);
	if (!authority_ok(a->imds_url, true)) {
		snprintf(err, KEK_ERR_MAX, "HSMFS_IMDS_ENDPOINT must be "
			 "http(s)://host[:port], got '%.100s'", imds);
		return KEK_E_INVAL;
	}
	return KEK_OK;
}

enum kek_status azauth_new(struct client *c, struct stats *stats,
			   const char *scope, const char *cred_file,
			   struct azauth **out, char *err)
{
	struct azcred cr;
	struct azauth *a;
	enum kek_status st;
	size_t n = strlen(scope);

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return KEK_E_NOMEM;
	a->c = c;
	a->stats = stats;
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->refresh, NULL);
	snprintf(a->scope, sizeof(a->scope), "%s", scope);
	/* IMDS takes a v1 resource: the scope without "/.default". */
	if (n > 9 && strcmp(scope + n - 9, "/.default") == 0)
		n -= 9;
	snprintf(a->resource, sizeof(a->resource), "%.*s", (int)n, scope);
	st = azcred_gather(cred_file, &cr, err);
	if (st == KEK_OK)
		st = pick_credential(a, &cr, err);
	if (st == KEK_OK)
		st = pick_endpoints(a, &cr, err);
	azcred_clear(&cr);
	if (st != KEK_OK) {
		azauth_free(a);
		return st;
	}
	log_debug("Azure credential: %s%s%s", azauth_kind_name(a->kind),
		  a->client_id[0] ? ", client " : "", a->client_id);
	*out = a;
	return KEK_OK;
}

void azauth_free(struct azauth *a)
{
	if (!a)
		return;
	secmem_strfree(a->secret);
	secmem_strfree(a->hdr);
	EVP_PKEY_free(a->key);
	pthread_mutex_destroy(&a->lock);
	pthread_mutex_destroy(&a->refresh);
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
}

/* Appends name=value (form-urlencoded) to a secure buffer. */
static bool form_add(char *buf, size_t cap, size_t *pos, const char *name,
		     const char *val)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t p = *pos;

	if (p + strlen(name) + 3 > cap)
		return false;
	p += (size_t)sprintf(buf + p, "%s%s=", p ? "&" : "", name);
	for (; *val; val++) {
		unsigned char c = (unsigned char)*val;
		if (p + 4 > cap)
			return false;
		if (isalnum(c) || strchr("-._~", c)) {
			buf[p++] = (char)c;
		} else {
			buf[p++] = '%';
			buf[p++] = hex[c >> 4];
			buf[p++] = hex[c & 15];
		}
	}
	buf[p] = '\0';
	*pos = p;
	return true;
}

/* Tokens go into a header line: only JWT/base64 characters pass. */
static bool token_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > AZAUTH_TOKEN_MAX)
		return false;
	for (; *t; t++)
		if (!isalnum((unsigned char)*t) && !strchr("-._~+/=", *t))
			return false;
	return true;
}


/* Managed identity is what is left when no credential was given: its
 * failure (how: "refused (HTTP ...)" or "failed (...)") is told as
 * such, with everything that was looked for. */
static void managed_failed(const struct azauth *a, const char *how,
			   char *err)
{
	char who[ID_MAX + 16] = "", tail[KEK_ERR_MAX];

	if (a->client_id[0])
		snprintf(who, sizeof(who), " (client %s)", a->client_id);
	if (a->partial[0])
		snprintf(tail, sizeof(tail), "incomplete credentials: %s, and "
			 "managed identity%s %s", a->partial, who, how);
	else
		snprintf(tail, sizeof(tail), "no credentials: none of "
			 "AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, "
			 "AZURE_FEDERATED_TOKEN_FILE, credential_file= or "
			 "$CREDENTIALS_DIRECTORY was given, and managed "
			 "identity%s %s", who, how);
	fit_str(err, KEK_ERR_MAX, tail);
}

/* Error line for a refused token request; returns the status to use. */
static enum kek_status token_error(struct azauth *a, const struct http_resp *rs,
				   char *err)
{
	cJSON *j = json_parse(rs->body, rs->len);
	char code[64], desc[200];
	enum kek_status st = KEK_E_AUTH;

	json_text(j, "error", code, sizeof(code));
	/* Entra appends "Trace ID: ..." lines: folded into this one. */
	json_text(j, "error_description", desc, sizeof(desc));
	json_wipe_delete(j);
	if (rs->status == 429)
		st = KEK_E_THROTTLED;
	else if (rs->status >= 500)
		st = KEK_E_UNAVAILABLE;
	if (a->kind == AZAUTH_MANAGED) {
		char how[320];
		snprintf(how, sizeof(how), "refused (HTTP %ld%s%s%s%s)",
			 rs->status, code[0] ? " " : "", code,
			 desc[0] ? ": " : "", desc);
		managed_failed(a, how, err);
	} else
		snprintf(err, KEK_ERR_MAX, "Entra ID refused the token for "
			 "client %.40s (%s, HTTP %ld %s): %s", a->client_id,
			 azauth_kind_name(a->kind), rs->status, code, desc);
	return st;
}

/* Reads the federated token (kubelet rotates it: read it every time). */
static enum kek_status read_fed_token(const struct azauth *a, char **out,
				      char *err)
{
	FILE *f = fopen(a->fed_file, "re");
	char *buf = NULL;
	size_t n;

	*out = NULL;
	if (!f) {
		snprintf(err, KEK_ERR_MAX, "cannot read "
			 "AZURE_FEDERATED_TOKEN_FILE %.150s", a->fed_file);
		return KEK_E_AUTH;
	}
	buf = secmem_alloc(FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return KEK_E_NOMEM;
	}
	n = fread(buf, 1, FILE_MAX + 1, f);
	fclose(f);
	while (n && isspace((unsigned char)buf[n - 1]))
		n--;
	buf[n] = '\0';
	if (n == 0 || n > FILE_MAX || !token_ok(buf)) {
		secmem_free(buf, FILE_MAX + 1);
		snprintf(err, KEK_ERR_MAX, "AZURE_FEDERATED_TOKEN_FILE %.150s "
			 "holds no token", a->fed_file);
		return KEK_E_AUTH;
	}
	*out = buf;
	return KEK_OK;
}

/* The form body of a client-credentials request, in secure memory. */
static enum kek_status token_form(struct azauth *a, char **out, char *err)
{
	char *form, *assertion = NULL;
	enum kek_status st = KEK_OK;
	size_t pos = 0;
	bool ok;

	*out = NULL;
	if (a->kind == AZAUTH_CERT)
		st = jwt_client_assertion(a->key, a->x5t, a->token_url,
					  a->client_id, (int64_t)time(NULL),
					  &assertion, err);
	else if (a->kind == AZAUTH_WORKLOAD)
		st = read_fed_token(a, &assertion, err);
	if (st != KEK_OK)
		return st;
	form = secmem_alloc(FORM_MAX);
	if (!form) {
		secmem_strfree(assertion);
		return KEK_E_NOMEM;
	}
	ok = form_add(form, FORM_MAX, &pos, "grant_type", "client_credentials") &&
	     form_add(form, FORM_MAX, &pos, "client_id", a->client_id) &&
	     form_add(form, FORM_MAX, &pos, "scope", a->scope);
	if (ok && a->kind == AZAUTH_SECRET)
		ok = form_add(form, FORM_MAX, &pos, "client_secret", a->secret);
	else if (ok)
		ok = form_add(form, FORM_MAX, &pos, "client_assertion_type",
			      "urn:ietf:params:oauth:client-assertion-type:"
			      "jwt-bearer") &&
		     form_add(form, FORM_MAX, &pos, "client_assertion",
			      assertion);
	secmem_strfree(assertion);
	if (!ok) {
		secmem_free(form, FORM_MAX);
		snprintf(err, KEK_ERR_MAX, "token request too large");
		return KEK_E_INVAL;
	}
	*out = form;
	return KEK_OK;
}

/* One token request (Entra or IMDS) into rs. */
static enum kek_status token_request(struct azauth *a, uint64_t deadline,
				     struct http_resp *rs, char *err)
{
	char url[URL_MAX + 600], *form = NULL;
	struct http_req rq = { .op = KEK_OP_TOKEN };
	enum kek_status st;
	size_t pos;

	if (a->kind == AZAUTH_MANAGED) {
		snprintf(url, sizeof(url), "%s/metadata/identity/oauth2/token"
			 "?api-version=2018-02-01", a->imds_url);
		pos = strlen(url);
		if (!form_add(url, sizeof(url), &pos, "resource", a->resource) ||
		    (a->client_id[0] &&
		     !form_add(url, sizeof(url), &pos, "client_id",
			       a->client_id))) {
			snprintf(err, KEK_ERR_MAX, "IMDS URL too long");
			return KEK_E_INVAL;
		}
		rq.method = "GET";
		rq.url = url;
		rq.extra = "Metadata: true";
		rq.imds = true;
		return client_do(a->c, &rq, deadline, rs, err);
	}
	st = token_form(a, &form, err);
	if (st != KEK_OK)
		return st;
	rq.method = "POST";
	rq.url = a->token_url;
	rq.body = form;
	rq.body_len = strlen(form);
	rq.content_type = "application/x-www-form-urlencoded";
	st = client_do(a->c, &rq, deadline, rs, err);
	secmem_free(form, FORM_MAX);
	return st;
}

/* Parses a token answer into a new header and its lifetime (ms). */
enum kek_status azauth_token_parse(const struct http_resp *rs, char **hdr,
				   uint64_t *life_ms, char *err)
{
	cJSON *j = json_parse(rs->body, rs->len);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "access_token");
	long long in = json_num(j, "expires_in"), on = json_num(j, "expires_on");
	long long now = (long long)time(NULL);
	enum kek_status st = KEK_E_PROTOCOL;

	*hdr = NULL;
	if (!cJSON_IsString(t) || !token_ok(t->valuestring)) {
		snprintf(err, KEK_ERR_MAX, "token endpoint answered without a "
			 "usable access_token");
		goto out;
	}
	if (in < 0 && on > now)
		in = on - now;
	if (in <= 0)
		in = 300; /* no lifetime given: assume a short one */
	*life_ms = (uint64_t)in * 1000;
	*hdr = secmem_alloc(sizeof(BEARER) + strlen(t->valuestring));
	if (!*hdr) {
		st = KEK_E_NOMEM;
		goto out;
	}
	strcpy(*hdr, BEARER);
	strcat(*hdr, t->valuestring);
	st = KEK_OK;
out:
	json_wipe_delete(j);
	return st;
}

/* Fetches a new token; on success installs it in the cache. */
static enum kek_status fetch(struct azauth *a, uint64_t deadline, char *err)
{
	struct http_resp rs = { 0 };
	uint64_t t0 = clock_ms(), life, now;
	enum kek_status st;
	char *hdr = NULL;

	st = token_request(a, deadline, &rs, err);
	if (st == KEK_OK && rs.status != 200)
		st = token_error(a, &rs, err);
	else if (st == KEK_OK)
		st = azauth_token_parse(&rs, &hdr, &life, err);
	else if (a->kind == AZAUTH_MANAGED) {
		char how[KEK_ERR_MAX + 16];
		snprintf(how, sizeof(how), "failed (%s)", err);
		managed_failed(a, how, err);
		st = st == KEK_E_TIMEOUT ? st : KEK_E_AUTH;
	}
	http_resp_free(&rs);
	stats_record(a->stats, KEK_OP_TOKEN, st, (unsigned)(clock_ms() - t0),
		     err);
	if (st != KEK_OK)
		return st;
	now = clock_ms();
	pthread_mutex_lock(&a->lock);
	secmem_strfree(a->hdr);
	a->hdr = hdr;
	/* Refresh 5 min before expiry; short tokens at half-life. */
	a->refresh_at = now + (life > 600000 ? life - 300000 : life / 2);
	a->usable_until = now + life - (life > 10 * SKEW_MS ? SKEW_MS : life / 10);
	a->gen++;
	pthread_mutex_unlock(&a->lock);
	log_debug("Azure %s: new token, valid %llu s",
		  azauth_kind_name(a->kind), (unsigned long long)(life / 1000));
	return KEK_OK;
}

/* Copies the cached header if it is usable at all; sets *fresh if it
 * needs no refresh yet. */
static char *cache_copy(struct azauth *a, uint64_t now, unsigned *gen,
			bool *fresh)
{
	char *c = NULL;

	pthread_mutex_lock(&a->lock);
	*fresh = false;
	if (a->hdr && now < a->usable_until) {
		c = secmem_strdup(a->hdr);
		*gen = a->gen;
		*fresh = now < a->refresh_at;
	}
	pthread_mutex_unlock(&a->lock);
	return c;
}

/* Locks the refresh mutex, giving up at deadline. */
static bool lock_until(pthread_mutex_t *m, uint64_t deadline)
{
	uint64_t now = clock_ms(), left = deadline > now ? deadline - now : 0;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(left / 1000);
	ts.tv_nsec += (long)(left % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return pthread_mutex_timedlock(m, &ts) == 0;
}

enum kek_status azauth_header(struct azauth *a, uint64_t deadline,
			      char **hdr, unsigned *gen, bool *cached,
			      char *err)
{
	enum kek_status st;
	bool fresh;
	char *old;

	*cached = true;
	*hdr = cache_copy(a, clock_ms(), gen, &fresh);
	if (*hdr && fresh)
		return KEK_OK;
	/* Stale but valid: refresh unless another thread already is. */
	if (*hdr && pthread_mutex_trylock(&a->refresh) != 0)
		return KEK_OK;
	if (!*hdr && !lock_until(&a->refresh, deadline)) {
		snprintf(err, KEK_ERR_MAX, "timed out waiting for an access "
			 "token");
		return KEK_E_TIMEOUT;
	}
	old = *hdr;
	*hdr = cache_copy(a, clock_ms(), gen, &fresh);
	if (*hdr && fresh) { /* refreshed while we waited */
		secmem_strfree(old);
		pthread_mutex_unlock(&a->refresh);
		return KEK_OK;
	}
	secmem_strfree(*hdr);
	*hdr = NULL;
	st = fetch(a, deadline, err);
	if (st == KEK_OK) {
		secmem_strfree(old);
		*hdr = cache_copy(a, clock_ms(), gen, &fresh);
		*cached = false;
		st = *hdr ? KEK_OK : KEK_E_NOMEM;
	} else if (old) {
		log_warn("token refresh failed (%s); using the current token "
			 "until it expires", err);
		*hdr = old;
		st = KEK_OK;
	}
	pthread_mutex_unlock(&a->refresh);
	return st;
}

void azauth_invalidate(struct azauth *a, unsigned gen)
{
	pthread_mutex_lock(&a->lock);
	if (a->hdr && a->gen == gen) {
		secmem_strfree(a->hdr);
		a->hdr = NULL;
	}
	pthread_mutex_unlock(&a->lock);
}
