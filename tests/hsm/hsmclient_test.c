/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Azure KEK provider against real components: the HSM emulator
 * (build/hsm-emulator, HTTPS with its own CA, verification on) for auth,
 * key operations, errors, faults and failover; a canned-bytes TLS server
 * (fakesrv.c) only for malformed answers the emulator cannot produce.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/b64.h"
#include "common/log.h"
#include "common/secmem.h"
#include "hsmclient/azure/err.h"
#include "hsmclient/azure/jwt.h"
#include "hsmclient/azure/url.h"
#include "hsmclient/kek.h"
#include "tests/hsm/fakesrv.h"
#include "tests/unit/check.h"

static char tmpdir[256];
#define KID_VER "0123456789abcdef0123456789abcdef"
static const char *const kid_ver = KID_VER;

/* ---- helpers ---------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void clear_azure_env(void)
{
	static const char *const vars[] = {
		"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
		"AZURE_CLIENT_CERTIFICATE_PATH",
		"AZURE_CLIENT_CERTIFICATE_PASSWORD",
		"AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST",
		"HSMFS_IMDS_ENDPOINT", "http_proxy", "https_proxy",
		"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy",
	};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

static void set_secret_env(const char *authority, const char *client,
			   const char *secret)
{
	clear_azure_env();
	setenv("AZURE_TENANT_ID", "test-tenant", 1);
	setenv("AZURE_CLIENT_ID", client, 1);
	setenv("AZURE_CLIENT_SECRET", secret, 1);
	setenv("AZURE_AUTHORITY_HOST", authority, 1);
}

static void path_in_tmp(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", tmpdir, name);
}

/* ---- URL parsing, scope, ownership ----------------------------------- */

static void test_url_parse(void)
{
	static const char *const good[] = {
		"https://h1.managedhsm.azure.net/keys/k1",
		"https://h1.managedhsm.azure.net/keys/k1/",
		"https://H1.ManagedHSM.azure.net/keys/Key-2/"
		"0123456789ABCDEF0123456789abcdef",
		"https://v.vault.azure.net:443/keys/k",
		"https://127.0.0.1:8443/keys/k",
		"https://[::1]:8443/keys/k",
	};
	static const char *const bad[] = {
		"http://h1.managedhsm.azure.net/keys/k1",
		"https://user@h1.managedhsm.azure.net/keys/k1",
		"https://user:pw@h1.managedhsm.azure.net/keys/k1",
		"https://h1.managedhsm.azure.net/keys/k1?x=1",
		"https://h1.managedhsm.azure.net/keys/k1#f",
		"https://h1.managedhsm.azure.net/keys/k_1",
		"https://h1.managedhsm.azure.net/keys/k.1",
		"https://h1.managedhsm.azure.net/keys/k%41",
		"https://h1.managedhsm.azure.net/keys/",
		"https://h1.managedhsm.azure.net/secrets/k1",
		"https://h1.managedhsm.azure.net/keys/k1/123",
		"https://h1.managedhsm.azure.net/keys/k1/"
		"0123456789abcdef0123456789abcdeg",
		"https://h1.managedhsm.azure.net/keys/k1/"
		"0123456789abcdef0123456789abcdef0",
		"https://h1.managedhsm.azure.net/keys/k1/"
		"0123456789abcdef0123456789abcdef/x",
		"https://h1..azure.net/keys/k1",
		"https://h1.managedhsm.azure.net:0/keys/k1",
		"https://h1.managedhsm.azure.net:70000/keys/k1",
		"https://h1.managedhsm.azure.net:/keys/k1",
		"https://h1.managedhsm.azure.net:44x/keys/k1",
		"https:///keys/k1",
		"ftp://h1/keys/k1",
	};
	char name[200], url[300], err[KEK_ERR_MAX];
	struct az_keyurl u;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int st = azure_parse_key_url(good[i], false, &u, err);
		if (st != KEK_OK)
			fprintf(stderr, "  rejected %s: %s\n", good[i], err);
		CHECK_EQ_INT(st, KEK_OK);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int st = azure_parse_key_url(bad[i], false, &u, err);
		if (st == KEK_OK)
			fprintf(stderr, "  accepted %s\n", bad[i]);
		CHECK_EQ_INT(st, KEK_E_INVAL);
	}
	CHECK_EQ_INT(azure_parse_key_url(good[2], false, &u, err), KEK_OK);
	CHECK(strcmp(u.base, "https://h1.managedhsm.azure.net") == 0);
	CHECK(strcmp(u.name, "Key-2") == 0);
	CHECK(strcmp(u.version, "0123456789ABCDEF0123456789abcdef") == 0);
	CHECK_EQ_INT(azure_parse_key_url(good[3], false, &u, err), KEK_OK);
	CHECK(strcmp(u.base, "https://v.vault.azure.net") == 0);
	CHECK_EQ_INT(azure_parse_key_url(good[4], false, &u, err), KEK_OK);
	CHECK(strcmp(u.base, "https://127.0.0.1:8443") == 0);
	/* Kids need a version and allow no trailing slash. */
	CHECK_EQ_INT(azure_parse_key_url(good[0], true, &u, err), KEK_E_INVAL);
	CHECK_EQ_INT(azure_parse_key_url(good[2], true, &u, err), KEK_OK);
	/* Names: 1..127 characters. */
	memset(name, 'a', 127);
	name[127] = '\0';
	snprintf(url, sizeof(url), "https://h.managedhsm.azure.net/keys/%s", name);
	CHECK_EQ_INT(azure_parse_key_url(url, false, &u, err), KEK_OK);
	snprintf(url, sizeof(url), "https://h.managedhsm.azure.net/keys/%sb", name);
	CHECK_EQ_INT(azure_parse_key_url(url, false, &u, err), KEK_E_INVAL);
}

static void test_scope_rules(void)
{
	struct kek_opts o = { 0 };
	char err[KEK_ERR_MAX];
	struct kek *k = NULL;

	clear_azure_env();
	CHECK(strcmp(azure_scope_for_host("x.managedhsm.azure.net"),
		     "https://managedhsm.azure.net/.default") == 0);
	CHECK(strcmp(azure_scope_for_host("x.vault.azure.net"),
		     "https://vault.azure.net/.default") == 0);
	CHECK(azure_scope_for_host("managedhsm.azure.net") == NULL);
	CHECK(azure_scope_for_host("x.managedhsm.azure.net.evil.com") == NULL);
	CHECK(azure_scope_for_host("127.0.0.1") == NULL);

	CHECK_EQ_INT(kek_open("https://h.managedhsm.azure.net/keys/k", &o, &k,
			      err), KEK_OK);
	kek_close(k);
	CHECK_EQ_INT(kek_open("https://127.0.0.1:1/keys/k", &o, &k, err),
		     KEK_E_INVAL);
	CHECK(strstr(err, "scope") != NULL);
	o.scope = "https://managedhsm.azure.net/.default";
	o.host_named = true; /* see test_host_rule */
	CHECK_EQ_INT(kek_open("https://127.0.0.1:1/keys/k", &o, &k, err),
		     KEK_OK);
	kek_close(k);
	o.api_version = "7.6";
	CHECK_EQ_INT(kek_open("https://127.0.0.1:1/keys/k", &o, &k, err),
		     KEK_OK);
	kek_close(k);
	o.api_version = "2016-10-01";
	CHECK_EQ_INT(kek_open("https://127.0.0.1:1/keys/k", &o, &k, err),
		     KEK_E_INVAL);
	o.api_version = NULL;
	o.scope = "bad scope";
	CHECK_EQ_INT(kek_open("https://127.0.0.1:1/keys/k", &o, &k, err),
		     KEK_E_INVAL);
	CHECK_EQ_INT(kek_open("http://h.managedhsm.azure.net/keys/k", NULL, &k,
			      err), KEK_E_INVAL);
	/* Bad environment is refused at open, not at first use. */
	setenv("AZURE_AUTHORITY_HOST", "http://login.example", 1);
	CHECK_EQ_INT(kek_open("https://h.managedhsm.azure.net/keys/k", NULL,
			      &k, err), KEK_E_INVAL);
	clear_azure_env();
}

/* The Azure SDKs' challenge-resource rule: a token (and with it any
 * wrapped key) goes only to a host within the official domain of the
 * token's audience, unless the operator named the host: the URL's own
 * (host_named) or an endpoint's. Anything else is refused at open,
 * before any request, the token's included: a KEK URL may come from an
 * untrusted volume config, and an explicit scope is no licence to send
 * its token anywhere. */
static void test_host_rule(void)
{
	static const char *const mhsm = "https://managedhsm.azure.net/.default";
	static const char *const kv = "https://vault.azure.net/.default";
	static const struct {
		const char *url, *scope;
		int named;
	} cases[] = {
		{ "https://h.managedhsm.azure.net/keys/k", NULL, 1 },
		{ "https://h.managedhsm.azure.net/keys/k", "mhsm", 1 },
		{ "https://h.vault.azure.net/keys/k", NULL, 1 },
		{ "https://h.vault.azure.net/keys/k", "kv", 1 },
		{ "https://h.privatelink.managedhsm.azure.net/keys/k", "mhsm", 1 },
		{ "https://127.0.0.1:1/keys/k", "mhsm", 0 },
		{ "https://evil.example/keys/k", "mhsm", 0 },
		{ "https://h.managedhsm.azure.net.evil.com/keys/k", "mhsm", 0 },
		{ "https://managedhsm.azure.net/keys/k", "mhsm", 0 },
		{ "https://h.vault.azure.net/keys/k", "mhsm", 0 },
		{ "https://h.managedhsm.azure.net/keys/k", "kv", 0 },
		{ "https://h.managedhsm.azure.net/keys/k", "api://hsm/.default", 0 },
	};
	char err[KEK_ERR_MAX], ca[300], url[200];
	struct kek *k = NULL;
	struct fakesrv *s;

	clear_azure_env();
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		const char *sc = cases[i].scope;
		struct kek_opts o = {
			.scope = !sc ? NULL : !strcmp(sc, "mhsm") ? mhsm :
				 !strcmp(sc, "kv") ? kv : sc,
		};
		enum kek_status st = kek_open(cases[i].url, &o, &k, err);

		kek_close(k);
		k = NULL;
		if (st != (cases[i].named ? KEK_OK : KEK_E_INVAL) ||
		    (!cases[i].named && !strstr(err, "not named"))) {
			fprintf(stderr, "  %s, scope %s: %s\n", cases[i].url,
				sc ? sc : "(host's)", kek_status_str(st));
			check_failed_now = 1;
		}
		/* Named by the operator, any host takes its token. */
		o.host_named = true;
		CHECK_EQ_INT(kek_open(cases[i].url, &o, &k, err), KEK_OK);
		kek_close(k);
		k = NULL;
	}

	/* An endpoint the operator listed names its host, port included. */
	struct kek_opts o = { .scope = mhsm,
			      .endpoints = { "https://127.0.0.1:1" } };
	CHECK_EQ_INT(kek_open("https://127.0.0.1:1/keys/k", &o, &k, err),
		     KEK_OK);
	kek_close(k);
	k = NULL;
	CHECK_EQ_INT(kek_open("https://127.0.0.1:2/keys/k", &o, &k, err),
		     KEK_E_INVAL);
	CHECK(strstr(err, "127.0.0.1") && strstr(err, "*.managedhsm.azure.net"));

	/* Refused before any request: a server standing for the attacker's
	 * host (and its token endpoint) hears nothing, describe included. */
	path_in_tmp(ca, sizeof(ca), "rule-ca.pem");
	s = fake_start(ca);
	CHECK(s != NULL);
	if (!s)
		return;
	set_secret_env(fake_base(s), "c1", "s1");
	struct kek_opts f = { .ca_file = ca, .scope = mhsm,
			      .deadline_ms = 3000 };
	snprintf(url, sizeof(url), "%s/keys/kek", fake_base(s));
	CHECK_EQ_INT(kek_open(url, &f, &k, err), KEK_E_INVAL);
	CHECK(k == NULL);
	CHECK_EQ_INT(fake_count(s), 0);
	f.host_named = true;
	CHECK_EQ_INT(kek_open(url, &f, &k, err), KEK_OK);
	if (k) {
		struct kek_info info;

		kek_describe(k, &info, err);
		CHECK(fake_count(s) > 0);
		kek_close(k);
	}
	fake_stop(s);
	clear_azure_env();
}

static void test_owns(void)
{
	struct kek_opts o = {
		.endpoints = { "https://dr.managedhsm.azure.net/",
			       "https://h.managedhsm.azure.net:443" },
	};
	char err[KEK_ERR_MAX], kid[400];
	struct kek *k;
	uint8_t out[64];
	size_t outlen = sizeof(out);

	clear_azure_env();
	CHECK_EQ_INT(kek_open("https://h.managedhsm.azure.net/keys/kek", &o,
			      &k, err), KEK_OK);
	if (!k)
		return;
	snprintf(kid, sizeof(kid), "https://h.managedhsm.azure.net/keys/kek/%s",
		 kid_ver);
	CHECK(kek_owns(k, kid));
	snprintf(kid, sizeof(kid), "https://H.managedhsm.azure.net:443/keys/KEK/%s",
		 kid_ver);
	CHECK(kek_owns(k, kid));
	snprintf(kid, sizeof(kid), "https://dr.managedhsm.azure.net/keys/kek/%s",
		 kid_ver);
	CHECK(kek_owns(k, kid));
	static const char *const foreign[] = {
		"https://evil.managedhsm.azure.net/keys/kek/" KID_VER,
		"https://h.managedhsm.azure.net.evil.com/keys/kek/" KID_VER,
		"https://h.managedhsm.azure.net@evil.com/keys/kek/" KID_VER,
		"https://h.managedhsm.azure.net:8443/keys/kek/" KID_VER,
		"https://h.managedhsm.azure.net/keys/other/" KID_VER,
		"http://h.managedhsm.azure.net/keys/kek/" KID_VER,
		"https://h.managedhsm.azure.net/keys/kek/" KID_VER "/",
		"https://h.managedhsm.azure.net/keys/kek/" KID_VER "?x",
		"https://h.managedhsm.azure.net/keys/kek/0123456789abcdef",
		"https://h.managedhsm.azure.net/keys/kek//" KID_VER,
	};
	for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
		CHECK(!kek_owns(k, foreign[i]));
		/* Refused before any request: no token, no connection. */
		CHECK_EQ_INT(kek_unwrap(k, foreign[i], KEK_ALG_RSA_OAEP_256,
					(const uint8_t *)"x", 1, out, &outlen,
					err), KEK_E_INVAL);
	}
	CHECK(!kek_owns(k, "https://h.managedhsm.azure.net/keys/kek"));
	CHECK(!kek_owns(k, ""));
	kek_close(k);
}

/* ---- error bodies ----------------------------------------------------- */

static void test_error_lines(void)
{
	static const char forb[] =
		"{\"error\":{\"code\":\"Forbidden\",\"message\":\"Caller is not "
		"authorized to perform action on resource.\\r\\nCaller: "
		"appid=x;oid=y\",\"innererror\":{\"code\":\"ForbiddenByRbac\"}}}";
	static const char nf[] = "{\"error\":{\"code\":\"KeyNotFound\","
				 "\"message\":\"A key with (name/id) k was not "
				 "found in this key vault.\"}}";
	char err[KEK_ERR_MAX], big[8192];
	int st;

	st = azure_http_error(KEK_OP_UNWRAP, "kek", 403, forb, strlen(forb),
			      NULL, 0, false, err);
	CHECK_EQ_INT(st, KEK_E_FORBIDDEN);
	CHECK(strstr(err, "HSM refused unwrapkey on key kek "
			  "(Forbidden/ForbiddenByRbac): Caller") == err);
	CHECK(strstr(err, "Microsoft.KeyVault/managedHsm/keys/unwrap/action"));
	CHECK(strstr(err, "'Managed HSM Crypto Service Encryption User'"));
	CHECK(strstr(err, "'Managed HSM Crypto User'"));
	CHECK(!strchr(err, '\r') && !strchr(err, '\n'));
	CHECK(strlen(err) < KEK_ERR_MAX);
	st = azure_http_error(KEK_OP_WRAP, "kek", 403, forb, strlen(forb),
			      NULL, 0, true, err);
	CHECK(strstr(err, "Microsoft.KeyVault/vaults/keys/wrap/action"));
	/* A 403 that is not about roles gets no role hint. */
	static const char dis[] =
		"{\"error\":{\"code\":\"Forbidden\",\"message\":\"Operation "
		"unwrapKey is not allowed on a disabled key.\",\"innererror\":"
		"{\"code\":\"KeyDisabled\"}}}";
	st = azure_http_error(KEK_OP_UNWRAP, "kek", 403, dis, strlen(dis), NULL,
			      0, false, err);
	CHECK_EQ_INT(st, KEK_E_FORBIDDEN);
	CHECK(strstr(err, "disabled key") && !strstr(err, "data action"));
	/* Managed HSM's 401 has an empty body. */
	st = azure_http_error(KEK_OP_GET, "kek", 401, "", 0,
			      "Bearer authorization=\"https://login.microsoftonline"
			      ".com/t\", resource=\"https://managedhsm.azure.net\"",
			      0, false, err);
	CHECK_EQ_INT(st, KEK_E_AUTH);
	CHECK(strstr(err, "https://managedhsm.azure.net"));
	st = azure_http_error(KEK_OP_GET, "k", 404, nf, strlen(nf), NULL, 0,
			      false, err);
	CHECK_EQ_INT(st, KEK_E_NOTFOUND);
	CHECK(strstr(err, "KeyNotFound"));
	st = azure_http_error(KEK_OP_UNWRAP, "k", 400,
			      "{\"error\":{\"code\":\"BadParameter\",\"message\":"
			      "\"bad\"}}", 50, NULL, 0, false, err);
	CHECK_EQ_INT(st, KEK_E_INVAL);
	st = azure_http_error(KEK_OP_UNWRAP, "k", 429,
			      "{\"error\":{\"code\":\"Throttled\"}}", 31, NULL,
			      3000, false, err);
	CHECK_EQ_INT(st, KEK_E_THROTTLED);
	CHECK(strstr(err, "Retry-After 3 s"));
	CHECK_EQ_INT(azure_http_error(KEK_OP_UNWRAP, "k", 503, "<html>", 6,
				      NULL, 0, false, err), KEK_E_UNAVAILABLE);
	CHECK_EQ_INT(azure_http_error(KEK_OP_UNWRAP, "k", 500, NULL, 0, NULL,
				      0, false, err), KEK_E_UNAVAILABLE);
	/* Hostile bodies: wrong types, deep nesting, huge messages. */
	CHECK_EQ_INT(azure_http_error(KEK_OP_UNWRAP, "k", 403,
				      "{\"error\":[1,2]}", 15, NULL, 0, false,
				      err), KEK_E_FORBIDDEN);
	CHECK_EQ_INT(azure_http_error(KEK_OP_UNWRAP, "k", 403,
				      "{\"error\":{\"code\":7,\"message\":null,"
				      "\"innererror\":\"x\"}}", 52, NULL, 0,
				      false, err), KEK_E_FORBIDDEN);
	memset(big, '[', sizeof(big));
	CHECK_EQ_INT(azure_http_error(KEK_OP_UNWRAP, "k", 400, big,
				      sizeof(big), NULL, 0, false, err),
		     KEK_E_INVAL);
	int n = snprintf(big, sizeof(big), "{\"error\":{\"code\":\"Forbidden\","
			 "\"message\":\"");
	memset(big + n, 'm', 6000);
	snprintf(big + n + 6000, sizeof(big) - (size_t)n - 6000, "\"}}");
	st = azure_http_error(KEK_OP_UNWRAP, "k", 403, big, strlen(big), NULL,
			      0, false, err);
	CHECK_EQ_INT(st, KEK_E_FORBIDDEN);
	CHECK(strlen(err) < KEK_ERR_MAX);
	CHECK(strstr(err, "'Managed HSM Crypto User'")); /* hint survives */
}

/* ---- JWT client assertion --------------------------------------------- */

static cJSON *decode_part(const char *s, size_t n)
{
	uint8_t buf[4096];
	long l = b64url_decode(s, n, buf, sizeof(buf) - 1);

	if (l < 0)
		return NULL;
	buf[l] = '\0';
	return cJSON_Parse((const char *)buf);
}

static void test_jwt_ps256(void)
{
	const char *aud = "https://login.example/tid/oauth2/v2.0/token";
	char x5t[JWT_X5T_LEN], err[KEK_ERR_MAX], *jwt = NULL, *d1, *d2;
	uint8_t sig[1024];
	unsigned char md[32];
	unsigned int mdlen = sizeof(md);
	EVP_PKEY *key;
	X509 *cert;
	long siglen;

	CHECK_EQ_INT(fake_make_cert(&key, &cert, "client", NULL), 0);
	CHECK_EQ_INT(jwt_x5t_s256(cert, x5t), 0);
	X509_digest(cert, EVP_sha256(), md, &mdlen);
	char want[JWT_X5T_LEN];
	b64url_encode(md, mdlen, want);
	CHECK(strcmp(x5t, want) == 0 && strlen(x5t) == 43);
	CHECK_EQ_INT(jwt_client_assertion(key, x5t, aud, "client-1", 1700000000,
					  &jwt, err), KEK_OK);
	if (!jwt)
		goto out;
	d1 = strchr(jwt, '.');
	d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	CHECK(d1 && d2 && !strchr(d2 + 1, '.'));
	if (!d2)
		goto out;
	cJSON *h = decode_part(jwt, (size_t)(d1 - jwt));
	cJSON *p = decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
	CHECK(h && p);
	CHECK(strcmp(cJSON_GetObjectItem(h, "alg")->valuestring, "PS256") == 0);
	CHECK(strcmp(cJSON_GetObjectItem(h, "typ")->valuestring, "JWT") == 0);
	CHECK(strcmp(cJSON_GetObjectItem(h, "x5t#S256")->valuestring, x5t) == 0);
	CHECK(strcmp(cJSON_GetObjectItem(p, "aud")->valuestring, aud) == 0);
	CHECK(strcmp(cJSON_GetObjectItem(p, "iss")->valuestring, "client-1") == 0);
	CHECK(strcmp(cJSON_GetObjectItem(p, "sub")->valuestring, "client-1") == 0);
	CHECK(strlen(cJSON_GetObjectItem(p, "jti")->valuestring) == 36);
	CHECK_EQ_INT(cJSON_GetObjectItem(p, "nbf")->valuedouble, 1700000000);
	CHECK_EQ_INT(cJSON_GetObjectItem(p, "iat")->valuedouble, 1700000000);
	CHECK_EQ_INT(cJSON_GetObjectItem(p, "exp")->valuedouble, 1700000600);
	cJSON_Delete(h);
	cJSON_Delete(p);
	/* The signature verifies as RSASSA-PSS, SHA-256, MGF1-SHA-256, and a
	 * 32-byte salt, over "header.payload". */
	siglen = b64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof(sig));
	CHECK_EQ_INT(siglen, 256);
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	CHECK(EVP_DigestVerifyInit(mctx, &pctx, EVP_sha256(), NULL,
				   X509_get0_pubkey(cert)) == 1);
	EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
	EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256());
	EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32);
	CHECK(EVP_DigestVerify(mctx, sig, (size_t)siglen, (uint8_t *)jwt,
			       (size_t)(d2 - jwt)) == 1);
	/* ... and not once a byte of the payload changes. */
	jwt[d1 - jwt + 2] ^= 1;
	EVP_MD_CTX_free(mctx);
	mctx = EVP_MD_CTX_new();
	EVP_DigestVerifyInit(mctx, &pctx, EVP_sha256(), NULL,
			     X509_get0_pubkey(cert));
	EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
	EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32);
	CHECK(EVP_DigestVerify(mctx, sig, (size_t)siglen, (uint8_t *)jwt,
			       (size_t)(d2 - jwt)) != 1);
	EVP_MD_CTX_free(mctx);
out:
	secmem_strfree(jwt);
	EVP_PKEY_free(key);
	X509_free(cert);
}

/* ---- canned protocol faults ------------------------------------------- */

static void reply(struct fakesrv *s, const char *status, const char *body,
		  size_t blen)
{
	size_t cap = blen + 256;
	char *raw = malloc(cap);
	int n = snprintf(raw, cap, "HTTP/1.1 %s\r\nContent-Type: "
			 "application/json\r\nConnection: close\r\n"
			 "Content-Length: %zu\r\n\r\n", status, blen);
	memcpy(raw + n, body, blen);
	fake_set_reply(s, raw, (size_t)n + blen);
	free(raw);
}

/* Unwraps kid under fake server s and returns the status. */
static int fake_unwrap(struct kek *k, const char *base, const char *name,
		       size_t *outlen, char *err)
{
	char kid[KEK_KID_MAX];
	uint8_t out[64];

	snprintf(kid, sizeof(kid), "%s/keys/%s/%s", base, name, kid_ver);
	return kek_unwrap(k, kid, KEK_ALG_RSA_OAEP_256, (const uint8_t *)"abc",
			  3, out, outlen, err);
}

static void test_protocol_faults(void)
{
	char ca[300], ca2[300], url[200], body[512], err[KEK_ERR_MAX];
	struct fakesrv *s, *foreign;
	struct kek *k = NULL;
	size_t outlen;
	char *huge;

	path_in_tmp(ca, sizeof(ca), "fake-ca.pem");
	path_in_tmp(ca2, sizeof(ca2), "fake2-ca.pem");
	s = fake_start(ca);
	foreign = fake_start(ca2);
	CHECK(s && foreign);
	if (!s || !foreign)
		return;
	set_secret_env(fake_base(s), "c1", "s1");
	struct kek_opts o = { .ca_file = ca, .scope = "api://hsm/.default",
			      .total_timeout_ms = 2000, .deadline_ms = 3000,
			      .host_named = true };
	snprintf(url, sizeof(url), "%s/keys/kek", fake_base(s));
	CHECK_EQ_INT(kek_open(url, &o, &k, err), KEK_OK);
	if (!k)
		goto out;

	/* A good answer first, to prove the harness itself. */
	snprintf(body, sizeof(body), "{\"kid\":\"%s/keys/kek/%s\",\"value\":"
		 "\"AAECAwQFBgcICQoLDA0ODw\"}", fake_base(s), kid_ver);
	reply(s, "200 OK", body, strlen(body));
	outlen = 32;
	CHECK_EQ_INT(fake_unwrap(k, fake_base(s), "kek", &outlen, err), KEK_OK);
	CHECK_EQ_INT(outlen, 16);
	/* Standard base64 alphabet and padding are accepted too. */
	snprintf(body, sizeof(body), "{\"kid\":\"%s/keys/kek/%s\",\"value\":"
		 "\"+/+/+/+/+/+/+/+/+/+/+w==\"}", fake_base(s), kid_ver);
	reply(s, "200 OK", body, strlen(body));
	outlen = 32;
	CHECK_EQ_INT(fake_unwrap(k, fake_base(s), "kek", &outlen, err), KEK_OK);
	CHECK_EQ_INT(outlen, 16);
	/* More bytes than the caller's buffer. */
	outlen = 8;
	CHECK_EQ_INT(fake_unwrap(k, fake_base(s), "kek", &outlen, err),
		     KEK_E_PROTOCOL);

	/* Malformed JSON. */
	reply(s, "200 OK", "{\"kid\": \"x\", \"value\": ", 22);
	outlen = 32;
	CHECK_EQ_INT(fake_unwrap(k, fake_base(s), "kek", &outlen, err),
		     KEK_E_PROTOCOL);
	reply(s, "200 OK", "[]", 2);
	CHECK_EQ_INT(fake_unwrap(k, fake_base(s), "kek", &outlen, err),
		     KEK_E_PROTOCOL);
	reply(s, "200 OK", "{\"kid\":5,\"value\":[]}", 20);
	CHECK_EQ_INT(fake_unwrap(k, fake_base(s), "kek", &outlen, err),
		     KEK_E_PROTOCOL);
	snprintf(body, sizeof(body), "{\"kid\":\"%s/keys/kek/%s\",\"value\":"
		 "\"***\"}", fake_base(s), kid_ver);
	reply(s, "200 OK", body, strlen(body));
	CHECK_EQ_INT(fake_unwrap(k, fake_base(s), "kek", &outlen, err),
		     KEK_E_PROTOCOL);

	/* A kid naming another key, or another version. */
	snprintf(body, sizeof(body), "{\"kid\":\"%s/keys/other/%s\",\"value\":"
		 "\"AAECAwQFBgcICQoLDA0ODw\"}", fake_base(s), kid_ver);
	reply(s, "200 OK", body, strlen(body));
	CHECK_EQ_INT(fake_unwrap(k, fake_base(s), "kek", &outlen, err),
		     KEK_E_PROTOCOL);
	CHECK(strstr(err, "other") != NULL);
	snprintf(body, sizeof(body), "{\"kid\":\"%s/keys/kek/"
		 "ffffffffffffffffffffffffffffffff\",\"value\":"
		 "\"AAECAwQFBgcICQoLDA0ODw\"}", fake_base(s));
	reply(s, "200 OK", body, strlen(body));
	CHECK_EQ_INT(fake_unwrap(k, fake_base(s), "kek", &outlen, err),
		     KEK_E_PROTOCOL);

	/* Oversized body: refused at 64 KiB, never buffered whole. */
	huge = malloc(1 << 20);
	memset(huge, ' ', 1 << 20);
	huge[0] = '{';
	reply(s, "200 OK", huge, 1 << 20);
	free(huge);
	CHECK_EQ_INT(fake_unwrap(k, fake_base(s), "kek", &outlen, err),
		     KEK_E_PROTOCOL);
	CHECK(strstr(err, "larger") != NULL);

	/* Not HTTP at all. */
	fake_set_reply(s, "\x16\x03garbage\r\n\r\n", 13);
	CHECK_EQ_INT(fake_unwrap(k, fake_base(s), "kek", &outlen, err),
		     KEK_E_PROTOCOL);

	/* A kid on a foreign host: refused, and that host never sees a
	 * request (nor, therefore, a token). */
	CHECK_EQ_INT(fake_unwrap(k, fake_base(foreign), "kek", &outlen, err),
		     KEK_E_INVAL);
	CHECK_EQ_INT(fake_count(foreign), 0);
	kek_close(k);
out:
	fake_stop(s);
	fake_stop(foreign);
	clear_azure_env();
}

/* ---- the emulator -------------------------------------------------------- */

#define SCOPE "https://managedhsm.azure.net/.default"
#define MAX_EMUS 8

struct emu {
	pid_t pid;
	char dir[300], base[128], ca[340], ctl_token[128];
};

static pid_t emu_pids[MAX_EMUS];
static struct emu E1; /* the shared emulator, started by the first test */

static void kill_emus(void)
{
	for (int i = 0; i < MAX_EMUS; i++)
		if (emu_pids[i] > 0) {
			kill(emu_pids[i], SIGKILL);
			waitpid(emu_pids[i], NULL, 0);
			emu_pids[i] = 0;
		}
}

static void on_signal(int sig)
{
	kill_emus();
	signal(sig, SIG_DFL);
	raise(sig);
}

static const char *emu_bin(void)
{
	static char path[300];
	const char *b = getenv("B");

	if (getenv("HSM_EMULATOR"))
		return getenv("HSM_EMULATOR");
	snprintf(path, sizeof(path), "%s/hsm-emulator", b ? b : "build");
	return path;
}

static void read_small(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(out, 1, cap - 1, f) : 0;

	if (f)
		fclose(f);
	while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		n--;
	out[n] = '\0';
}

/* Starts an emulator on state dir (fork/exec), waits for its URL line. */
static int emu_start(struct emu *e, const char *dir, int token_lifetime)
{
	char life[16], line[200] = "";
	int pfd[2], slot = -1;
	size_t n = 0;
	uint64_t t0 = now_ms();

	for (int i = 0; i < MAX_EMUS && slot < 0; i++)
		if (!emu_pids[i])
			slot = i;
	if (slot < 0 || pipe(pfd) != 0)
		return -1;
	snprintf(life, sizeof(life), "%d", token_lifetime ? token_lifetime : 3600);
	e->pid = fork();
	if (e->pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execl(emu_bin(), "hsm-emulator", "--state", dir, "--listen",
		      "127.0.0.1:0", "--token-lifetime", life, "--log-level",
		      "error", "--activate-for-tests", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	if (e->pid < 0)
		return -1;
	emu_pids[slot] = e->pid;
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	while (now_ms() - t0 < 15000 && !strchr(line, '\n')) {
		ssize_t r = read(pfd[0], line + n, sizeof(line) - 1 - n);
		if (r > 0) {
			n += (size_t)r;
			line[n] = '\0';
		} else if (r == 0) {
			break;
		} else {
			usleep(20000);
		}
	}
	close(pfd[0]);
	if (!strchr(line, '\n')) {
		fprintf(stderr, "  emulator %s did not start\n", emu_bin());
		return -1;
	}
	*strchr(line, '\n') = '\0';
	snprintf(e->base, sizeof(e->base), "%s", line);
	snprintf(e->dir, sizeof(e->dir), "%s", dir);
	snprintf(e->ca, sizeof(e->ca), "%s/ca.pem", dir);
	char p[400];
	snprintf(p, sizeof(p), "%s/control.token", dir);
	read_small(p, e->ctl_token, sizeof(e->ctl_token));
	return 0;
}

static void emu_stop(struct emu *e)
{
	for (int i = 0; i < MAX_EMUS; i++)
		if (emu_pids[i] == e->pid)
			emu_pids[i] = 0;
	if (e->pid > 0) {
		kill(e->pid, SIGKILL);
		waitpid(e->pid, NULL, 0);
	}
	e->pid = 0;
}

static size_t sink(char *p, size_t sz, size_t n, void *arg)
{
	char *buf = arg;
	size_t have = strlen(buf), len = sz * n;

	if (have + len < 8192) {
		memcpy(buf + have, p, len);
		buf[have + len] = '\0';
	}
	return len;
}

/* A control-API call; returns the HTTP status. */
static long ctl(const struct emu *e, const char *method, const char *path,
		const char *json)
{
	char url[300], hdr[200], resp[8192] = "";
	struct curl_slist *h = NULL;
	long status = 0;
	CURL *c = curl_easy_init();

	snprintf(url, sizeof(url), "%s%s", e->base, path);
	snprintf(hdr, sizeof(hdr), "X-Emulator-Control: %s", e->ctl_token);
	h = curl_slist_append(h, hdr);
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, e->ca);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	if (json)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200 && status != 204)
		fprintf(stderr, "  control %s %s: %ld %s\n", method, path, status,
			resp);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return status;
}

static bool key_create(const struct emu *e, const char *name, const char *kty,
		       int size)
{
	char j[200];

	snprintf(j, sizeof(j), "{\"name\":\"%s\",\"kty\":\"%s\",\"key_size\":%d}",
		 name, kty, size);
	return ctl(e, "POST", "/_emulator/keys", j) == 200;
}

static bool role(const struct emu *e, const char *who, const char *r,
		 const char *scope)
{
	char j[300];

	snprintf(j, sizeof(j), "{\"principal\":\"%s\",\"role\":\"%s\","
		 "\"scope\":\"%s\"}", who, r, scope);
	return ctl(e, "POST", "/_emulator/roles", j) == 200;
}

static bool faults(const struct emu *e, const char *json)
{
	if (!json)
		return ctl(e, "DELETE", "/_emulator/faults", NULL) == 200;
	return ctl(e, "POST", "/_emulator/faults", json) == 200;
}

/* E1 with keys, a secret client with Crypto User on /keys, an auditor. */
static bool e1_up(void)
{
	static int state; /* 0 not tried, 1 up, -1 failed */
	char dir[300];

	if (state)
		return state > 0;
	state = -1;
	path_in_tmp(dir, sizeof(dir), "emu1");
	if (emu_start(&E1, dir, 0) != 0)
		return false;
	if (!key_create(&E1, "rsa2048", "RSA-HSM", 2048) ||
	    !key_create(&E1, "rsa3072", "RSA-HSM", 3072) ||
	    !key_create(&E1, "rsa4096", "RSA-HSM", 4096) ||
	    !key_create(&E1, "aes256", "oct-HSM", 256) ||
	    ctl(&E1, "POST", "/_emulator/clients",
		"{\"client_id\":\"app-secret\",\"secret\":\"s3cret-value\"}") != 200 ||
	    ctl(&E1, "POST", "/_emulator/clients",
		"{\"client_id\":\"auditor\",\"secret\":\"aud-secret\"}") != 200 ||
	    !role(&E1, "app-secret", "Managed HSM Crypto User", "/keys") ||
	    !role(&E1, "auditor", "Managed HSM Crypto Auditor", "/keys/rsa2048"))
		return false;
	state = 1;
	return true;
}

/* Opens E-hosted key name with the given client secret. */
static struct kek *open_key(const struct emu *e, const char *name,
			    struct kek_opts *o, char *err)
{
	struct kek_opts def = { 0 };
	struct kek *k = NULL;
	char url[300];

	if (!o)
		o = &def;
	o->ca_file = e->ca;
	o->scope = SCOPE;
	o->host_named = true; /* the emulator: named, as by a pin */
	snprintf(url, sizeof(url), "%s/keys/%s", e->base, name);
	if (kek_open(url, o, &k, err) != KEK_OK)
		fprintf(stderr, "  kek_open %s: %s\n", url, err);
	return k;
}

/* Wraps a random DEK and unwraps it again; returns the unwrap status. */
static int round_trip(struct kek *k, char *kid_out, char *err)
{
	uint8_t dek[32], wrapped[KEK_WRAPPED_MAX], back[64];
	size_t wlen = 0, blen = sizeof(back);
	char kid[KEK_KID_MAX];
	enum kek_alg alg;
	int st;

	RAND_bytes(dek, sizeof(dek));
	st = kek_wrap(k, dek, sizeof(dek), wrapped, &wlen, kid, &alg, err);
	if (st != KEK_OK) {
		fprintf(stderr, "  wrap: %s\n", err);
		return st;
	}
	if (kid_out)
		strcpy(kid_out, kid);
	CHECK(kek_owns(k, kid));
	st = kek_unwrap(k, kid, alg, wrapped, wlen, back, &blen, err);
	if (st != KEK_OK) {
		fprintf(stderr, "  unwrap: %s\n", err);
		return st;
	}
	CHECK_EQ_INT(blen, sizeof(dek));
	CHECK_MEM(back, dek, sizeof(dek));
	return KEK_OK;
}

static void test_emu_secret_rsa(void)
{
	static const struct { const char *name; unsigned bits; } keys[] = {
		{ "rsa2048", 2048 }, { "rsa3072", 3072 }, { "rsa4096", 4096 },
	};
	char err[KEK_ERR_MAX];
	struct kek_info info;
	struct kek_stats st;

	CHECK(e1_up());
	if (!e1_up())
		return;
	set_secret_env(E1.base, "app-secret", "s3cret-value");
	for (size_t i = 0; i < 3; i++) {
		struct kek *k = open_key(&E1, keys[i].name, NULL, err);
		CHECK(k != NULL);
		if (!k)
			continue;
		CHECK_EQ_INT(kek_describe(k, &info, err), KEK_OK);
		CHECK(strcmp(info.kty, "RSA-HSM") == 0);
		CHECK_EQ_INT(info.bits, keys[i].bits);
		CHECK_EQ_INT(info.alg, KEK_ALG_RSA_OAEP_256);
		CHECK(info.enabled);
		CHECK(kek_owns(k, info.kid));
		CHECK_EQ_INT(round_trip(k, NULL, err), KEK_OK);
		CHECK_EQ_INT(round_trip(k, NULL, err), KEK_OK);
		kek_stats(k, &st);
		/* One GET, two unwraps, one token: wraps are local. */
		CHECK_EQ_INT(st.calls[KEK_OP_GET][KEK_OUT_OK], 1);
		CHECK_EQ_INT(st.calls[KEK_OP_WRAP][KEK_OUT_OK], 0);
		CHECK_EQ_INT(st.calls[KEK_OP_UNWRAP][KEK_OUT_OK], 2);
		CHECK_EQ_INT(st.calls[KEK_OP_TOKEN][KEK_OUT_OK], 1);
		CHECK(strcmp(st.endpoint, E1.base) == 0);
		kek_close(k);
	}
}

static void test_emu_oct(void)
{
	struct kek_opts o = { 0 };
	char err[KEK_ERR_MAX];
	struct kek_info info;
	struct kek_stats st;
	struct kek *k;

	if (!e1_up())
		return;
	set_secret_env(E1.base, "app-secret", "s3cret-value");
	k = open_key(&E1, "aes256", NULL, err);
	CHECK(k != NULL);
	if (!k)
		return;
	CHECK_EQ_INT(kek_describe(k, &info, err), KEK_OK);
	CHECK(strcmp(info.kty, "oct-HSM") == 0);
	CHECK_EQ_INT(info.alg, KEK_ALG_A256KW);
	CHECK_EQ_INT(round_trip(k, NULL, err), KEK_OK);
	kek_stats(k, &st);
	CHECK_EQ_INT(st.calls[KEK_OP_WRAP][KEK_OUT_OK], 1);
	kek_close(k);
	o.alg = KEK_ALG_AES_KW_PAD;
	k = open_key(&E1, "aes256", &o, err);
	CHECK(k != NULL);
	if (!k)
		return;
	CHECK_EQ_INT(kek_describe(k, &info, err), KEK_OK);
	CHECK_EQ_INT(info.alg, KEK_ALG_AES_KW_PAD);
	CHECK_EQ_INT(round_trip(k, NULL, err), KEK_OK);
	/* KW_PAD wraps lengths A256KW cannot. */
	uint8_t in[21] = { 1 }, w[KEK_WRAPPED_MAX], b[64];
	size_t wl = 0, bl = sizeof(b);
	char kid[KEK_KID_MAX];
	enum kek_alg alg;
	CHECK_EQ_INT(kek_wrap(k, in, sizeof(in), w, &wl, kid, &alg, err), KEK_OK);
	CHECK_EQ_INT(kek_unwrap(k, kid, alg, w, wl, b, &bl, err), KEK_OK);
	CHECK_EQ_INT(bl, sizeof(in));
	kek_close(k);
}

static void test_emu_rotate(void)
{
	char err[KEK_ERR_MAX], kid1[KEK_KID_MAX], kid2[KEK_KID_MAX];
	uint8_t dek[32] = { 7 }, w1[KEK_WRAPPED_MAX], back[64];
	size_t w1len = 0, blen = sizeof(back);
	struct kek_info info;
	enum kek_alg alg;
	struct kek *k;

	if (!e1_up() || !key_create(&E1, "rot", "RSA-HSM", 2048))
		return;
	set_secret_env(E1.base, "app-secret", "s3cret-value");
	k = open_key(&E1, "rot", NULL, err);
	if (!k)
		return;
	CHECK_EQ_INT(kek_wrap(k, dek, sizeof(dek), w1, &w1len, kid1, &alg, err),
		     KEK_OK);
	CHECK_EQ_INT(ctl(&E1, "POST", "/_emulator/keys/rot/rotate", "{}"), 200);
	CHECK_EQ_INT(kek_describe(k, &info, err), KEK_OK);
	CHECK(strcmp(info.kid, kid1) != 0);
	CHECK_EQ_INT(round_trip(k, kid2, err), KEK_OK);
	CHECK(strcmp(kid2, info.kid) == 0);
	/* The DEK wrapped by the old version still unwraps. */
	CHECK_EQ_INT(kek_unwrap(k, kid1, alg, w1, w1len, back, &blen, err),
		     KEK_OK);
	CHECK_MEM(back, dek, sizeof(dek));
	kek_close(k);
}

/* Writes cert + key PEM of a fresh client certificate; returns cert PEM. */
static char *make_client_cert(const char *path)
{
	EVP_PKEY *key;
	X509 *cert;
	BIO *b = BIO_new(BIO_s_mem());
	char *pem = NULL, *data;
	long n;
	FILE *f;

	if (fake_make_cert(&key, &cert, "hsmfs-client", NULL) != 0)
		return NULL;
	f = fopen(path, "w");
	if (f) {
		PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
		PEM_write_X509(f, cert);
		fclose(f);
	}
	PEM_write_bio_X509(b, cert);
	n = BIO_get_mem_data(b, &data);
	pem = malloc((size_t)n + 1);
	memcpy(pem, data, (size_t)n);
	pem[n] = '\0';
	BIO_free(b);
	EVP_PKEY_free(key);
	X509_free(cert);
	return pem;
}

/* "a\nb" -> "a\\nb" for a JSON string. */
static void json_escape(const char *in, char *out, size_t cap)
{
	size_t o = 0;

	for (; *in && o + 3 < cap; in++) {
		if (*in == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *in;
		}
	}
	out[o] = '\0';
}

static void test_emu_cert(void)
{
	char path[300], err[KEK_ERR_MAX], esc[4096], body[4500];
	struct kek *k;
	char *pem;

	if (!e1_up())
		return;
	path_in_tmp(path, sizeof(path), "client.pem");
	pem = make_client_cert(path);
	CHECK(pem != NULL);
	if (!pem)
		return;
	json_escape(pem, esc, sizeof(esc));
	free(pem);
	snprintf(body, sizeof(body), "{\"client_id\":\"app-cert\",\"cert_pem\":"
		 "\"%s\"}", esc);
	CHECK_EQ_INT(ctl(&E1, "POST", "/_emulator/clients", body), 200);
	CHECK(role(&E1, "app-cert", "Managed HSM Crypto Service Encryption User",
		   "/keys/rsa2048"));
	clear_azure_env();
	setenv("AZURE_TENANT_ID", "test-tenant", 1);
	setenv("AZURE_CLIENT_ID", "app-cert", 1);
	setenv("AZURE_CLIENT_CERTIFICATE_PATH", path, 1);
	setenv("AZURE_AUTHORITY_HOST", E1.base, 1);
	k = open_key(&E1, "rsa2048", NULL, err);
	CHECK(k != NULL);
	if (!k)
		return;
	CHECK_EQ_INT(round_trip(k, NULL, err), KEK_OK);
	kek_close(k);
	clear_azure_env();
}

/* Writes text to dir/name with mode; the path into path. */
static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
	CHECK_EQ_INT(chmod(path, mode), 0);
}

/* Credential settings from a credential file and from systemd
 * credentials ($CREDENTIALS_DIRECTORY): a source overrides the ones
 * before it, and one that gives a certificate drops their secret. Runs
 * after test_emu_cert, whose client "app-cert" and client.pem it uses. */
static void test_emu_credentials(void)
{
	char err[KEK_ERR_MAX], file[300], dir[300], pem[300], path[400];
	char text[600], cmd[1000];
	struct kek_opts o = { 0 };
	struct kek_info info;
	struct kek *k;

	if (!e1_up())
		return;
	path_in_tmp(file, sizeof(file), "azure.cred");
	path_in_tmp(pem, sizeof(pem), "client.pem");
	snprintf(text, sizeof(text), "# test\nAZURE_TENANT_ID=test-tenant\n"
		 "AZURE_CLIENT_ID='app-secret'\n"
		 "AZURE_CLIENT_SECRET=s3cret-value\n"
		 "AZURE_AUTHORITY_HOST=%s\n", E1.base);
	write_file(file, text, 0600);
	/* The file's secret wins over the environment's wrong one. */
	set_secret_env(E1.base, "app-secret", "wrong");
	o.credential_file = file;
	k = open_key(&E1, "rsa2048", &o, err);
	CHECK(k != NULL);
	if (k) {
		CHECK_EQ_INT(round_trip(k, NULL, err), KEK_OK);
		kek_close(k);
	}
	/* Readable by others: refused at open, naming the mode. */
	CHECK_EQ_INT(chmod(file, 0640), 0);
	CHECK_EQ_INT(kek_open("https://h.managedhsm.azure.net/keys/k", &o, &k,
			      err), KEK_E_INVAL);
	CHECK(strstr(err, "mode 0640") != NULL);
	/* systemd credentials: the client certificate and id from the
	 * directory replace the environment's client and secret. */
	path_in_tmp(dir, sizeof(dir), "creds");
	CHECK_EQ_INT(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/azure-client-id", dir);
	write_file(path, "app-cert\n", 0400);
	snprintf(cmd, sizeof(cmd),
		 "install -m 0400 '%s' '%s/azure-client-certificate'", pem,
		 dir);
	CHECK_EQ_INT(system(cmd), 0);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	k = open_key(&E1, "rsa2048", NULL, err);
	CHECK(k != NULL);
	if (k) {
		CHECK_EQ_INT(round_trip(k, NULL, err), KEK_OK);
		kek_close(k);
	}
	unsetenv("CREDENTIALS_DIRECTORY");
	/* A secret without its tenant: managed identity is what is left,
	 * and its failure says what was missing. */
	clear_azure_env();
	setenv("AZURE_CLIENT_ID", "app-secret", 1);
	setenv("AZURE_CLIENT_SECRET", "s3cret-value", 1);
	setenv("HSMFS_IMDS_ENDPOINT", "http://127.0.0.1:9", 1);
	/* Bounded: managed identity's own retries would take seconds. */
	memset(&o, 0, sizeof(o));
	o.deadline_ms = 500;
	k = open_key(&E1, "rsa2048", &o, err);
	if (k) {
		CHECK_EQ_INT(kek_describe(k, &info, err), KEK_E_AUTH);
		CHECK(strstr(err, "incomplete credentials: AZURE_CLIENT_SECRET "
				  "was given without AZURE_TENANT_ID") != NULL);
		kek_close(k);
	}
	clear_azure_env();
}

/* A server certificate that does not verify: one attempt, no retry, and
 * a line that says which server and what to do. */
static void test_emu_untrusted(void)
{
	char err[KEK_ERR_MAX], ca[300], url[300];
	struct kek_opts o = { .scope = SCOPE, .host_named = true };
	struct kek_info info;
	struct kek_stats st;
	struct kek *k;

	if (!e1_up())
		return;
	/* A CA that signed nothing the emulator shows. */
	path_in_tmp(ca, sizeof(ca), "client.pem");
	o.ca_file = ca;
	set_secret_env(E1.base, "app-secret", "s3cret-value");
	snprintf(url, sizeof(url), "%s/keys/rsa2048", E1.base);
	CHECK_EQ_INT(kek_open(url, &o, &k, err), KEK_OK);
	if (!k)
		return;
	CHECK_EQ_INT(kek_describe(k, &info, err), KEK_E_UNTRUSTED);
	kek_stats(k, &st);
	CHECK_EQ_INT(st.retries, 0);
	CHECK(strncmp(err, E1.base, strlen(E1.base)) == 0);
	CHECK(strstr(err, "oauth2") == NULL); /* the server, not the path */
	CHECK(strstr(err, "give its CA with -o ca_file=PATH") != NULL);
	kek_close(k);
	clear_azure_env();
}

/* An RS256 JWT from an external issuer (a Kubernetes SA token). */
static void write_fed_token(const char *path, EVP_PKEY *key)
{
	char hdr[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", pl[400], buf[3000];
	uint8_t sig[512];
	size_t siglen = sizeof(sig), n;
	long now = (long)time(NULL);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	FILE *f;

	snprintf(pl, sizeof(pl), "{\"iss\":\"https://oidc.example/cluster\","
		 "\"sub\":\"system:serviceaccount:hsmfs:mounter\","
		 "\"aud\":\"api://AzureADTokenExchange\",\"iat\":%ld,\"nbf\":%ld,"
		 "\"exp\":%ld}", now, now, now + 3600);
	b64url_encode((uint8_t *)hdr, strlen(hdr), buf);
	n = strlen(buf);
	buf[n++] = '.';
	b64url_encode((uint8_t *)pl, strlen(pl), buf + n);
	n = strlen(buf);
	EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key);
	EVP_DigestSign(md, sig, &siglen, (uint8_t *)buf, n);
	EVP_MD_CTX_free(md);
	buf[n++] = '.';
	b64url_encode(sig, siglen, buf + n);
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "%s\n", buf);
		fclose(f);
	}
}

static void test_emu_workload(void)
{
	char path[300], err[KEK_ERR_MAX], esc[2048], body[2600], *data;
	EVP_PKEY *key = EVP_RSA_gen(2048);
	BIO *b = BIO_new(BIO_s_mem());
	struct kek *k;
	long n;

	if (!e1_up())
		goto out;
	PEM_write_bio_PUBKEY(b, key);
	n = BIO_get_mem_data(b, &data);
	data[n - 1] = '\0';
	json_escape(data, esc, sizeof(esc));
	snprintf(body, sizeof(body), "{\"client_id\":\"app-wi\",\"federated\":"
		 "{\"issuer\":\"https://oidc.example/cluster\",\"subject\":"
		 "\"system:serviceaccount:hsmfs:mounter\",\"key_pem\":\"%s\"}}",
		 esc);
	CHECK_EQ_INT(ctl(&E1, "POST", "/_emulator/clients", body), 200);
	CHECK(role(&E1, "app-wi", "Managed HSM Crypto Service Encryption User",
		   "/keys/rsa2048"));
	path_in_tmp(path, sizeof(path), "sa-token");
	write_fed_token(path, key);
	clear_azure_env();
	setenv("AZURE_TENANT_ID", "test-tenant", 1);
	setenv("AZURE_CLIENT_ID", "app-wi", 1);
	setenv("AZURE_FEDERATED_TOKEN_FILE", path, 1);
	setenv("AZURE_AUTHORITY_HOST", E1.base, 1);
	k = open_key(&E1, "rsa2048", NULL, err);
	CHECK(k != NULL);
	if (k) {
		CHECK_EQ_INT(round_trip(k, NULL, err), KEK_OK);
		kek_close(k);
	}
out:
	clear_azure_env();
	BIO_free(b);
	EVP_PKEY_free(key);
}

static void test_emu_imds(void)
{
	/* Refused connections are retried until the deadline, as any
	 * transport error: a short one keeps the test short. */
	struct kek_opts o = { .deadline_ms = 3000 };
	char err[KEK_ERR_MAX];
	struct kek *k;

	if (!e1_up())
		return;
	CHECK_EQ_INT(ctl(&E1, "POST", "/_emulator/clients",
			 "{\"client_id\":\"vm-identity\",\"managed_identity\":true}"),
		     200);
	CHECK(role(&E1, "vm-identity", "Managed HSM Crypto Service Encryption User",
		   "/keys/rsa2048"));
	clear_azure_env();
	setenv("HSMFS_IMDS_ENDPOINT", E1.base, 1);
	setenv("AZURE_CLIENT_ID", "vm-identity", 1);
	k = open_key(&E1, "rsa2048", NULL, err);
	CHECK(k != NULL);
	if (k) {
		CHECK_EQ_INT(round_trip(k, NULL, err), KEK_OK);
		kek_close(k);
	}
	/* No credential and no IMDS: a clear AUTH error at the deadline. */
	setenv("HSMFS_IMDS_ENDPOINT", "http://127.0.0.1:9", 1);
	unsetenv("AZURE_CLIENT_ID");
	k = open_key(&E1, "rsa2048", &o, err);
	if (k) {
		struct kek_info info;
		CHECK_EQ_INT(kek_describe(k, &info, err), KEK_E_AUTH);
		CHECK(strstr(err, "managed identity") != NULL);
		kek_close(k);
	}
	clear_azure_env();
}

static void test_emu_auth_errors(void)
{
	char err[KEK_ERR_MAX], dir[300];
	struct kek_info info;
	struct kek_stats st;
	struct emu other = { 0 };
	struct kek *k;

	if (!e1_up())
		return;
	/* Wrong secret: KEK_E_AUTH with Entra's own words. */
	set_secret_env(E1.base, "app-secret", "wrong");
	k = open_key(&E1, "rsa2048", NULL, err);
	if (k) {
		CHECK_EQ_INT(kek_describe(k, &info, err), KEK_E_AUTH);
		CHECK(strstr(err, "AADSTS") != NULL);
		CHECK(strstr(err, "app-secret") != NULL);
		CHECK(strstr(err, "wrong") == NULL); /* never the secret */
		kek_close(k);
	}
	/* Tokens from another authority: the HSM says 401. A fresh token is
	 * not retried; a cached one is dropped and replaced once. */
	path_in_tmp(dir, sizeof(dir), "emu-other");
	CHECK_EQ_INT(emu_start(&other, dir, 0), 0);
	if (!other.pid)
		return;
	ctl(&other, "POST", "/_emulator/clients",
	    "{\"client_id\":\"app-secret\",\"secret\":\"s3cret-value\"}");
	set_secret_env(other.base, "app-secret", "s3cret-value");
	struct kek_opts o = { 0 };
	k = open_key(&E1, "rsa2048", &o, err);
	if (k) {
		/* Trust the other emulator's CA too, for its token endpoint. */
		kek_close(k);
		char both[400];
		path_in_tmp(both, sizeof(both), "both-ca.pem");
		char cmd[1200];
		snprintf(cmd, sizeof(cmd), "cat '%s' '%s' > '%s'", E1.ca,
			 other.ca, both);
		CHECK_EQ_INT(system(cmd), 0);
		o.ca_file = both;
		o.scope = SCOPE;
		o.host_named = true;
		char url[300];
		snprintf(url, sizeof(url), "%s/keys/rsa2048", E1.base);
		CHECK_EQ_INT(kek_open(url, &o, &k, err), KEK_OK);
	}
	if (k) {
		CHECK_EQ_INT(kek_describe(k, &info, err), KEK_E_AUTH);
		kek_stats(k, &st);
		CHECK_EQ_INT(st.calls[KEK_OP_TOKEN][KEK_OUT_OK], 1);
		CHECK_EQ_INT(kek_describe(k, &info, err), KEK_E_AUTH);
		kek_stats(k, &st);
		CHECK_EQ_INT(st.calls[KEK_OP_TOKEN][KEK_OUT_OK], 2);
		CHECK(strstr(err, "401") != NULL);
		kek_close(k);
	}
	emu_stop(&other);
	clear_azure_env();
}

static void test_emu_token_refresh(void)
{
	char err[KEK_ERR_MAX], dir[300], cmd[700];
	struct emu e = { 0 };
	struct kek_stats st;
	struct kek *k;

	if (!e1_up())
		return;
	path_in_tmp(dir, sizeof(dir), "emu-short");
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", E1.dir, dir);
	CHECK_EQ_INT(system(cmd), 0);
	CHECK_EQ_INT(emu_start(&e, dir, 3), 0);
	if (!e.pid)
		return;
	set_secret_env(e.base, "app-secret", "s3cret-value");
	k = open_key(&e, "rsa2048", NULL, err);
	if (k) {
		CHECK_EQ_INT(round_trip(k, NULL, err), KEK_OK);
		usleep(1700 * 1000); /* past half-life: refreshed ahead */
		CHECK_EQ_INT(round_trip(k, NULL, err), KEK_OK);
		usleep(3200 * 1000); /* past expiry: a new one */
		CHECK_EQ_INT(round_trip(k, NULL, err), KEK_OK);
		kek_stats(k, &st);
		CHECK_EQ_INT(st.calls[KEK_OP_TOKEN][KEK_OUT_OK], 3);
		CHECK_EQ_INT(st.calls[KEK_OP_UNWRAP][KEK_OUT_CLIENT_ERR], 0);
		kek_close(k);
	}
	emu_stop(&e);
	clear_azure_env();
}

/* Wraps a DEK with k for the fault tests. */
static int wrap_one(struct kek *k, uint8_t *w, size_t *wl, char *kid,
		    enum kek_alg *alg, char *err)
{
	uint8_t dek[32] = { 1, 2, 3 };

	return kek_wrap(k, dek, sizeof(dek), w, wl, kid, alg, err);
}

static void test_emu_http_errors(void)
{
	char err[KEK_ERR_MAX], kid[KEK_KID_MAX], bad[KEK_KID_MAX];
	uint8_t w[KEK_WRAPPED_MAX], b[64];
	size_t wl = 0, bl = sizeof(b);
	struct kek_info info;
	enum kek_alg alg;
	struct kek *k;

	if (!e1_up())
		return;
	/* 403: the auditor may read the key (and wrap locally) but not
	 * unwrap. */
	set_secret_env(E1.base, "auditor", "aud-secret");
	k = open_key(&E1, "rsa2048", NULL, err);
	if (k) {
		CHECK_EQ_INT(kek_describe(k, &info, err), KEK_OK);
		CHECK_EQ_INT(wrap_one(k, w, &wl, kid, &alg, err), KEK_OK);
		CHECK_EQ_INT(kek_unwrap(k, kid, alg, w, wl, b, &bl, err),
			     KEK_E_FORBIDDEN);
		CHECK(strstr(err, "unwrap/action") != NULL);
		CHECK(strstr(err, "Managed HSM Crypto Service Encryption User"));
		kek_close(k);
	}
	set_secret_env(E1.base, "app-secret", "s3cret-value");
	/* 404: no such key; no such version. */
	k = open_key(&E1, "no-such-key", NULL, err);
	if (k) {
		CHECK_EQ_INT(kek_describe(k, &info, err), KEK_E_NOTFOUND);
		kek_close(k);
	}
	k = open_key(&E1, "rsa2048", NULL, err);
	if (!k)
		return;
	CHECK_EQ_INT(wrap_one(k, w, &wl, kid, &alg, err), KEK_OK);
	snprintf(bad, sizeof(bad), "%s/keys/rsa2048/%s", E1.base, kid_ver);
	bl = sizeof(b);
	CHECK_EQ_INT(kek_unwrap(k, bad, alg, w, wl, b, &bl, err),
		     KEK_E_NOTFOUND);
	/* 400: a ciphertext that is not one. */
	bl = sizeof(b);
	CHECK_EQ_INT(kek_unwrap(k, kid, alg, (const uint8_t *)"short", 5, b,
				&bl, err), KEK_E_INVAL);
	kek_close(k);
}

struct clear_later {
	const struct emu *e;
	unsigned ms;
};

static void *clear_faults_later(void *arg)
{
	struct clear_later *c = arg;

	usleep(c->ms * 1000);
	faults(c->e, NULL);
	return NULL;
}

/* Unwraps once with k; returns the status and the time it took. */
static int timed_unwrap(struct kek *k, const char *kid, enum kek_alg alg,
			const uint8_t *w, size_t wl, uint64_t *ms, char *err)
{
	uint8_t b[64];
	size_t bl = sizeof(b);
	uint64_t t0 = now_ms();
	int st = kek_unwrap(k, kid, alg, w, wl, b, &bl, err);

	*ms = now_ms() - t0;
	return st;
}

static void test_emu_throttle_and_5xx(void)
{
	struct kek_opts o = { .deadline_ms = 3000 };
	char err[KEK_ERR_MAX], kid[KEK_KID_MAX];
	uint8_t w[KEK_WRAPPED_MAX];
	struct clear_later cl = { &E1, 1500 };
	struct kek_stats st;
	enum kek_alg alg;
	size_t wl = 0;
	uint64_t ms;
	pthread_t t;
	struct kek *k;

	if (!e1_up())
		return;
	set_secret_env(E1.base, "app-secret", "s3cret-value");
	k = open_key(&E1, "rsa2048", &o, err);
	if (!k)
		return;
	CHECK_EQ_INT(wrap_one(k, w, &wl, kid, &alg, err), KEK_OK);
	CHECK_EQ_INT(timed_unwrap(k, kid, alg, w, wl, &ms, err), KEK_OK);

	/* 429 with Retry-After: 1 until the fault clears: succeeds. */
	CHECK(faults(&E1, "{\"throttle_rate\":1,\"retry_after\":1,"
			  "\"ops\":[\"UnwrapKey\"]}"));
	pthread_create(&t, NULL, clear_faults_later, &cl);
	CHECK_EQ_INT(timed_unwrap(k, kid, alg, w, wl, &ms, err), KEK_OK);
	CHECK(ms >= 900 && ms < 3000);
	pthread_join(t, NULL);
	kek_stats(k, &st);
	CHECK(st.retries >= 1);

	/* 429 without Retry-After, for good: THROTTLED within the deadline. */
	CHECK(faults(&E1, "{\"throttle_rate\":1,\"ops\":[\"UnwrapKey\"]}"));
	CHECK_EQ_INT(timed_unwrap(k, kid, alg, w, wl, &ms, err),
		     KEK_E_THROTTLED);
	CHECK(ms < 3500);
	CHECK(strstr(err, "throttled") != NULL);
	/* Retry-After beyond what we wait: THROTTLED at once. */
	CHECK(faults(&E1, "{\"throttle_rate\":1,\"retry_after\":60,"
			  "\"ops\":[\"UnwrapKey\"]}"));
	CHECK_EQ_INT(timed_unwrap(k, kid, alg, w, wl, &ms, err),
		     KEK_E_THROTTLED);
	CHECK(ms < 1000);
	CHECK(strstr(err, "Retry-After 60 s") != NULL);

	/* 503 for good: UNAVAILABLE within the deadline. */
	CHECK(faults(&E1, "{\"error_rate\":1,\"error_status\":503,"
			  "\"ops\":[\"UnwrapKey\"]}"));
	CHECK_EQ_INT(timed_unwrap(k, kid, alg, w, wl, &ms, err),
		     KEK_E_UNAVAILABLE);
	CHECK(ms < 3500);
	kek_close(k);
	/* 500 that clears while we back off: succeeds (fresh KEK: the
	 * breaker of the previous one is open now). */
	k = open_key(&E1, "rsa2048", &o, err);
	if (!k)
		return;
	CHECK_EQ_INT(wrap_one(k, w, &wl, kid, &alg, err), KEK_OK);
	CHECK(faults(&E1, "{\"error_rate\":1,\"error_status\":500,"
			  "\"ops\":[\"UnwrapKey\"]}"));
	cl.ms = 100;
	pthread_create(&t, NULL, clear_faults_later, &cl);
	CHECK_EQ_INT(timed_unwrap(k, kid, alg, w, wl, &ms, err), KEK_OK);
	pthread_join(t, NULL);
	kek_stats(k, &st);
	CHECK(st.retries >= 1);
	CHECK(st.calls[KEK_OP_UNWRAP][KEK_OUT_OK] == 1);
	faults(&E1, NULL);
	kek_close(k);
}

static void test_emu_timeouts(void)
{
	struct kek_opts o = { .total_timeout_ms = 500, .deadline_ms = 1500 };
	char err[KEK_ERR_MAX], kid[KEK_KID_MAX], url[200];
	uint8_t w[KEK_WRAPPED_MAX];
	enum kek_alg alg;
	size_t wl = 0;
	uint64_t ms;
	struct kek *k;

	if (!e1_up())
		return;
	set_secret_env(E1.base, "app-secret", "s3cret-value");
	k = open_key(&E1, "rsa2048", &o, err);
	if (!k)
		return;
	CHECK_EQ_INT(wrap_one(k, w, &wl, kid, &alg, err), KEK_OK);
	CHECK(faults(&E1, "{\"latency_ms\":4000,\"ops\":[\"UnwrapKey\"]}"));
	CHECK_EQ_INT(timed_unwrap(k, kid, alg, w, wl, &ms, err), KEK_E_TIMEOUT);
	CHECK(ms < 2500);
	faults(&E1, NULL);
	kek_close(k);

	/* Connection refused: nothing listens on the HSM port. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &al);
	close(fd);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/keys/rsa2048",
		 ntohs(a.sin_port));
	struct kek_opts o2 = { .ca_file = E1.ca, .scope = SCOPE,
			       .deadline_ms = 3000, .host_named = true };
	CHECK_EQ_INT(kek_open(url, &o2, &k, err), KEK_OK);
	if (!k)
		return;
	snprintf(kid, sizeof(kid), "https://127.0.0.1:%u/keys/rsa2048/%s",
		 ntohs(a.sin_port), kid_ver);
	CHECK_EQ_INT(timed_unwrap(k, kid, alg, w, wl, &ms, err),
		     KEK_E_UNAVAILABLE);
	CHECK(ms < 3500);
	/* The breaker is open now: the next call fails at once. */
	CHECK_EQ_INT(timed_unwrap(k, kid, alg, w, wl, &ms, err),
		     KEK_E_UNAVAILABLE);
	CHECK(ms < 200);
	kek_close(k);
}

struct thr_ctx {
	struct kek *k;
	int fails;
};

static void *unwrap_loop(void *arg)
{
	struct thr_ctx *c = arg;
	char err[KEK_ERR_MAX];

	for (int i = 0; i < 15; i++)
		if (round_trip(c->k, NULL, err) != KEK_OK)
			c->fails++;
	return NULL;
}

/* Many threads share one KEK: one token, pooled connections. */
static void test_emu_threads(void)
{
	struct thr_ctx c[8];
	pthread_t t[8];
	char err[KEK_ERR_MAX];
	struct kek_stats st;
	struct kek *k;

	if (!e1_up())
		return;
	set_secret_env(E1.base, "app-secret", "s3cret-value");
	k = open_key(&E1, "rsa2048", NULL, err);
	if (!k)
		return;
	for (int i = 0; i < 8; i++) {
		c[i] = (struct thr_ctx){ k, 0 };
		pthread_create(&t[i], NULL, unwrap_loop, &c[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ_INT(c[i].fails, 0);
	}
	kek_stats(k, &st);
	CHECK_EQ_INT(st.calls[KEK_OP_UNWRAP][KEK_OUT_OK], 120);
	CHECK_EQ_INT(st.calls[KEK_OP_TOKEN][KEK_OUT_OK], 1);
	CHECK(st.lat_p50_ms <= st.lat_p90_ms && st.lat_p90_ms <= st.lat_p99_ms);
	kek_close(k);
}

/* Runs fn with stderr going to a file; returns what was written. */
static char *capture_stderr(void (*fn)(void *), void *arg)
{
	char path[300];
	static char buf[8192];
	int saved = dup(2), fd;
	FILE *f;
	size_t n;

	path_in_tmp(path, sizeof(path), "stderr.log");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fflush(stderr);
	dup2(fd, 2);
	close(fd);
	fn(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	f = fopen(path, "r");
	n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	return buf;
}

struct fo_ctx {
	struct kek *k;
	const char *kid;
	enum kek_alg alg;
	const uint8_t *w;
	size_t wl;
	int st[3];
};

static void failover_calls(void *arg)
{
	struct fo_ctx *c = arg;
	char err[KEK_ERR_MAX];
	uint64_t ms;

	for (int i = 0; i < 3; i++)
		c->st[i] = timed_unwrap(c->k, c->kid, c->alg, c->w, c->wl, &ms,
					err);
}

static unsigned count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	unsigned n = 0;
	int ch;

	while (f && (ch = fgetc(f)) != EOF)
		n += ch == '\n';
	if (f)
		fclose(f);
	return n;
}

static void test_emu_failover(void)
{
	char err[KEK_ERR_MAX], kid[KEK_KID_MAX], kid2[KEK_KID_MAX];
	char d1[300], d2[300], cmd[800], audit[400], foreign[KEK_KID_MAX];
	uint8_t w[KEK_WRAPPED_MAX], b[64];
	struct emu p = { 0 }, s = { 0 };
	struct kek_info info;
	struct kek_stats st;
	enum kek_alg alg;
	size_t wl = 0, bl;
	struct kek *k;
	unsigned before;

	if (!e1_up())
		return;
	path_in_tmp(d1, sizeof(d1), "emu-primary");
	path_in_tmp(d2, sizeof(d2), "emu-dr");
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s' && cp -a '%s' '%s'",
		 E1.dir, d1, E1.dir, d2);
	CHECK_EQ_INT(system(cmd), 0);
	CHECK_EQ_INT(emu_start(&p, d1, 0), 0);
	CHECK_EQ_INT(emu_start(&s, d2, 0), 0);
	if (!p.pid || !s.pid)
		goto out;
	set_secret_env(p.base, "app-secret", "s3cret-value");
	struct kek_opts o = { .endpoints = { p.base, s.base } };
	k = open_key(&p, "rsa2048", &o, err);
	if (!k)
		goto out;
	CHECK_EQ_INT(wrap_one(k, w, &wl, kid, &alg, err), KEK_OK);
	bl = sizeof(b);
	CHECK_EQ_INT(kek_unwrap(k, kid, alg, w, wl, b, &bl, err), KEK_OK);

	/* A kid naming E1 (same keys, but not an endpoint of this KEK) is
	 * refused and E1 never hears of it. */
	snprintf(audit, sizeof(audit), "%s/audit.log", E1.dir);
	before = count_lines(audit);
	snprintf(foreign, sizeof(foreign), "%s%s", E1.base,
		 strstr(kid, "/keys/"));
	CHECK(!kek_owns(k, foreign));
	bl = sizeof(b);
	CHECK_EQ_INT(kek_unwrap(k, foreign, alg, w, wl, b, &bl, err),
		     KEK_E_INVAL);
	CHECK_EQ_INT(count_lines(audit), before);

	/* The primary goes away: unwraps continue on the DR endpoint, and
	 * the switch is logged once. */
	emu_stop(&p);
	struct fo_ctx c = { k, kid, alg, w, wl, { -1, -1, -1 } };
	char *log = capture_stderr(failover_calls, &c);
	CHECK_EQ_INT(c.st[0], KEK_OK);
	CHECK_EQ_INT(c.st[1], KEK_OK);
	CHECK_EQ_INT(c.st[2], KEK_OK);
	char want[300];
	snprintf(want, sizeof(want), "HSM endpoint %s failed (", p.base);
	CHECK(strstr(log, want) != NULL);
	snprintf(want, sizeof(want), "switching to %s", s.base);
	CHECK(strstr(log, want) != NULL);
	CHECK(strstr(strstr(log, want) + 1, want) == NULL); /* once */
	kek_stats(k, &st);
	CHECK(strcmp(st.endpoint, s.base) == 0);
	/* Kids from the DR endpoint carry its host, and are ours. */
	CHECK_EQ_INT(kek_describe(k, &info, err), KEK_OK);
	CHECK(strncmp(info.kid, s.base, strlen(s.base)) == 0);
	CHECK(kek_owns(k, info.kid));
	CHECK_EQ_INT(round_trip(k, kid2, err), KEK_OK);
	kek_close(k);
out:
	emu_stop(&p);
	emu_stop(&s);
	clear_azure_env();
}

/* ---- setup ------------------------------------------------------------ */

static void rm_tmpdir(void)
{
	char cmd[400];

	if (tmpdir[0] && !getenv("HSM_TEST_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tmpdir);
	}
}

__attribute__((constructor)) static void setup(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/hsmclient-test.XXXXXX",
		 t ? t : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		exit(2);
	}
	atexit(rm_tmpdir);
	atexit(kill_emus);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	log_init("hsmclient_test", 0,
		 getenv("HSM_TEST_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_WARN);
	clear_azure_env();
}

CHECK_MAIN("hsmclient",
	   T(test_url_parse), T(test_scope_rules), T(test_host_rule),
	   T(test_owns),
	   T(test_error_lines), T(test_jwt_ps256), T(test_protocol_faults),
	   T(test_emu_secret_rsa), T(test_emu_oct), T(test_emu_rotate),
	   T(test_emu_cert), T(test_emu_credentials), T(test_emu_untrusted),
	   T(test_emu_workload), T(test_emu_imds),
	   T(test_emu_auth_errors), T(test_emu_token_refresh),
	   T(test_emu_http_errors), T(test_emu_throttle_and_5xx),
	   T(test_emu_timeouts), T(test_emu_threads), T(test_emu_failover))
