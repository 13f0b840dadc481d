/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>

#include "common/b64.h"
#include "json.h"
#include "oidc.h"
#include "signkey.h"
#include "store.h"
#include "util.h"

#define OPENID_SUFFIX "/v2.0/.well-known/openid-configuration"
#define JWKS_SUFFIX "/discovery/v2.0/keys"
#define TENANT_MAX 64

/* "/{tenant}<suffix>" -> tenant, the token endpoint's rule for tenants. */
static int tenant_path(const char *path, const char *suffix, char *tenant)
{
	size_t n = strlen(path), sl = strlen(suffix);

	if (path[0] != '/' || n <= sl + 1 || strcmp(path + n - sl, suffix) ||
	    n - sl - 1 > TENANT_MAX)
		return 0;
	memcpy(tenant, path + 1, n - sl - 1);
	tenant[n - sl - 1] = '\0';
	return valid_ident(tenant, TENANT_MAX, "-._");
}

/* Adds "<base>/<tenant><rest>" as member k. */
static void add_url(cJSON *o, const char *k, const char *tenant, const char *rest)
{
	char u[400];

	snprintf(u, sizeof(u), "%s/%s%s", emu.base, tenant, rest);
	cJSON_AddStringToObject(o, k, u);
}

/* Adds an array of strings. */
static void add_strings(cJSON *o, const char *k, const char *const *v)
{
	cJSON *a = cJSON_AddArrayToObject(o, k);

	for (; a && *v; v++)
		cJSON_AddItemToArray(a, cJSON_CreateString(*v));
}

/* The v2.0 OpenID configuration, in Entra's shape; only the token
 * endpoint and the JWKS are served, but clients want all four URLs. */
static void openid_config(struct reply *rp, const char *tenant)
{
	static const char *const auth_methods[] = {
		"client_secret_post", "private_key_jwt", "client_secret_basic", NULL };
	static const char *const algs[] = { "RS256", NULL };
	static const char *const subj[] = { "pairwise", NULL };
	static const char *const resp[] = { "code", "id_token", "code id_token",
					    "id_token token", NULL };
	static const char *const scopes[] = { "openid", "profile", "email",
					      "offline_access", NULL };
	cJSON *o = cJSON_CreateObject();
	int generic = !strcmp(tenant, "common") || !strcmp(tenant, "organizations") ||
		      !strcmp(tenant, "consumers");

	if (o) {
		add_url(o, "token_endpoint", tenant, "/oauth2/v2.0/token");
		add_strings(o, "token_endpoint_auth_methods_supported", auth_methods);
		add_url(o, "jwks_uri", tenant, JWKS_SUFFIX);
		add_strings(o, "subject_types_supported", subj);
		add_strings(o, "id_token_signing_alg_values_supported", algs);
		add_strings(o, "response_types_supported", resp);
		add_strings(o, "scopes_supported", scopes);
		/* Entra names no tenant in the issuer of its generic tenants. */
		add_url(o, "issuer", generic ? "{tenantid}" : tenant, "/v2.0");
		cJSON_AddBoolToObject(o, "request_uri_parameter_supported", 0);
		add_url(o, "authorization_endpoint", tenant, "/oauth2/v2.0/authorize");
		add_url(o, "device_authorization_endpoint", tenant, "/oauth2/v2.0/devicecode");
		add_url(o, "end_session_endpoint", tenant, "/oauth2/v2.0/logout");
		cJSON_AddStringToObject(o, "tenant_region_scope", "WW");
		cJSON_AddStringToObject(o, "cloud_instance_name", "hsm-emulator");
	}
	reply_json(rp, 200, o);
}

/* The JWKS: the public half of the token signing key. */
static void jwks(struct reply *rp, const char *tenant)
{
	cJSON *doc = cJSON_CreateObject(), *keys, *k = cJSON_CreateObject();
	char iss[300];

	snprintf(iss, sizeof(iss), "%s/%s/v2.0", emu.base, tenant);
	keys = doc ? cJSON_AddArrayToObject(doc, "keys") : NULL;
	if (!keys || !k || jwk_add_bn(k, signkey(), OSSL_PKEY_PARAM_RSA_N, "n", 0) ||
	    jwk_add_bn(k, signkey(), OSSL_PKEY_PARAM_RSA_E, "e", 0)) {
		cJSON_Delete(k);
		cJSON_Delete(doc);
		reply_error(rp, 500, "InternalError", NULL, "cannot export the signing key");
		return;
	}
	cJSON_AddStringToObject(k, "kty", "RSA");
	cJSON_AddStringToObject(k, "use", "sig");
	cJSON_AddStringToObject(k, "alg", "RS256");
	cJSON_AddStringToObject(k, "kid", signkey_kid());
	cJSON_AddStringToObject(k, "issuer", iss);
	cJSON_AddItemToArray(keys, k);
	reply_json(rp, 200, doc);
}

/* /common/discovery/instance: this host is its own (only) cloud; any
 * other authority is an unknown instance, as on Entra. */
static void instance_discovery(struct req *r, struct reply *rp)
{
	const char *ae = req_arg(r, "authorization_endpoint");
	size_t bl = strlen(emu.base);
	char tenant[TENANT_MAX + 1] = "common", host[160];
	cJSON *o, *md, *m, *al;
	const char *t, *slash;

	if (!ae || strncasecmp(ae, emu.base, bl) || ae[bl] != '/') {
		o = cJSON_CreateObject();
		if (o) {
			cJSON_AddStringToObject(o, "error", "invalid_instance");
			cJSON_AddStringToObject(o, "error_description",
						"AADSTS50049: Unknown or invalid instance.");
			md = cJSON_AddArrayToObject(o, "error_codes");
			if (md)
				cJSON_AddItemToArray(md, cJSON_CreateNumber(50049));
		}
		reply_json(rp, 400, o);
		snprintf(rp->outcome, sizeof(rp->outcome), "invalid_instance");
		return;
	}
	t = ae + bl + 1;
	slash = strchr(t, '/');
	if (slash && (size_t)(slash - t) <= TENANT_MAX) {
		memcpy(tenant, t, (size_t)(slash - t));
		tenant[slash - t] = '\0';
		if (!valid_ident(tenant, TENANT_MAX, "-._"))
			snprintf(tenant, sizeof(tenant), "common");
	}
	snprintf(host, sizeof(host), "%s", emu.base + strlen("https://"));
	o = cJSON_CreateObject();
	if (o) {
		add_url(o, "tenant_discovery_endpoint", tenant, OPENID_SUFFIX);
		cJSON_AddStringToObject(o, "api-version", "1.1");
		md = cJSON_AddArrayToObject(o, "metadata");
		m = cJSON_CreateObject();
		if (md && m) {
			cJSON_AddStringToObject(m, "preferred_network", host);
			cJSON_AddStringToObject(m, "preferred_cache", host);
			al = cJSON_AddArrayToObject(m, "aliases");
			if (al)
				cJSON_AddItemToArray(al, cJSON_CreateString(host));
			cJSON_AddItemToArray(md, m);
		} else {
			cJSON_Delete(m);
		}
	}
	reply_json(rp, 200, o);
}

/* Routes the discovery paths; GET only. */
int oidc_handle(struct req *r, struct reply *rp)
{
	char tenant[TENANT_MAX + 1];
	int openid = tenant_path(r->path, OPENID_SUFFIX, tenant);
	int keys = !openid && tenant_path(r->path, JWKS_SUFFIX, tenant);
	int inst = !strcmp(r->path, "/common/discovery/instance");

	if (!openid && !keys && !inst)
		return 0;
	r->op = "discovery";
	if (strcmp(r->method, "GET"))
		reply_error(rp, 405, "BadParameter", NULL, "Only GET is supported");
	else if (openid)
		openid_config(rp, tenant);
	else if (keys)
		jwks(rp, tenant);
	else
		instance_discovery(r, rp);
	return 1;
}
