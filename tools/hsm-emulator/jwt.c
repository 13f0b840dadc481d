/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rsa.h>

#include "common/b64.h"
#include "jwt.h"
#include "util.h"

#define PART_MAX 8192

/* Decodes one base64url part as a JSON object. */
static cJSON *decode_part(const char *s, size_t n)
{
	uint8_t buf[PART_MAX + 1];
	long len = b64_decode_any(s, n, buf, PART_MAX);
	cJSON *j;

	if (len <= 0)
		return NULL;
	j = cJSON_ParseWithLength((const char *)buf, (size_t)len);
	if (j && !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		j = NULL;
	}
	return j;
}

/* Exactly three parts; header and claims must be JSON objects. */
int jwt_parse(const char *token, struct jwt *j)
{
	const char *d1, *d2;
	size_t n;
	long sl;

	memset(j, 0, sizeof(*j));
	n = strnlen(token, JWT_MAX + 1);
	if (n > JWT_MAX)
		return -1;
	d1 = memchr(token, '.', n);
	d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - token)) : NULL;
	if (!d1 || !d2 || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - token)))
		return -1;
	j->header = decode_part(token, (size_t)(d1 - token));
	j->claims = decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
	sl = b64_decode_any(d2 + 1, n - (size_t)(d2 + 1 - token), j->sig,
			    sizeof(j->sig));
	j->text = strndup(token, n);
	if (!j->header || !j->claims || sl <= 0 || !j->text) {
		jwt_free(j);
		return -1;
	}
	j->sig_len = (size_t)sl;
	j->signed_len = (size_t)(d2 - token);
	return 0;
}

/* Frees and wipes a parsed token. */
void jwt_free(struct jwt *j)
{
	cJSON_Delete(j->header);
	cJSON_Delete(j->claims);
	if (j->text) {
		OPENSSL_cleanse(j->text, strlen(j->text));
		free(j->text);
	}
	memset(j, 0, sizeof(*j));
}

/* Only RS256 and PS256 are accepted (no "none", no HMAC). */
int jwt_verify_rsa(const struct jwt *j, EVP_PKEY *pub)
{
	const cJSON *alg = cJSON_GetObjectItemCaseSensitive(j->header, "alg");
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	int pss, ret = -1;

	if (!cJSON_IsString(alg) || !pub || !EVP_PKEY_is_a(pub, "RSA"))
		return -1;
	if (!strcmp(alg->valuestring, "PS256"))
		pss = 1;
	else if (!strcmp(alg->valuestring, "RS256"))
		pss = 0;
	else
		return -1;
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, pub) != 1)
		goto out;
	if (pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) <= 0))
		goto out;
	if (EVP_DigestVerify(md, j->sig, j->sig_len, (const uint8_t *)j->text,
			     j->signed_len) == 1)
		ret = 0;
out:
	EVP_MD_CTX_free(md);
	return ret;
}

/* aud may be a string or an array of strings. */
int jwt_aud_has(const struct jwt *j, const char *aud)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(j->claims, "aud"), *it;

	if (cJSON_IsString(a))
		return !strcmp(a->valuestring, aud);
	if (!cJSON_IsArray(a))
		return 0;
	cJSON_ArrayForEach(it, a)
		if (cJSON_IsString(it) && !strcmp(it->valuestring, aud))
			return 1;
	return 0;
}

/* base64url of a JSON document's compact text. */
static char *b64_json(const cJSON *j)
{
	char *txt = cJSON_PrintUnformatted(j), *s;

	if (!txt)
		return NULL;
	s = b64url_alloc((const uint8_t *)txt, strlen(txt));
	free(txt);
	return s;
}

/* Access tokens are RS256 JWTs, as Entra's; kid names the JWKS entry. */
int jwt_sign_rs256(const cJSON *claims, EVP_PKEY *key, const char *kid,
		   char **out)
{
	cJSON *hdr = cJSON_CreateObject();
	char *h = NULL, *c = NULL, *tok = NULL, *sig = NULL;
	uint8_t sigbuf[1024];
	size_t siglen = sizeof(sigbuf), n;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ret = -1;

	if (!hdr || !md || !cJSON_AddStringToObject(hdr, "typ", "JWT") ||
	    !cJSON_AddStringToObject(hdr, "alg", "RS256") ||
	    !cJSON_AddStringToObject(hdr, "kid", kid))
		goto out;
	h = b64_json(hdr);
	c = b64_json(claims);
	if (!h || !c)
		goto out;
	n = strlen(h) + strlen(c) + 2 + B64_ENC_LEN(sizeof(sigbuf)) + 1;
	tok = malloc(n);
	if (!tok)
		goto out;
	snprintf(tok, n, "%s.%s", h, c);
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, sigbuf, &siglen, (const uint8_t *)tok, strlen(tok)) != 1)
		goto out;
	sig = b64url_alloc(sigbuf, siglen);
	if (!sig)
		goto out;
	strcat(tok, ".");
	strcat(tok, sig);
	*out = tok;
	tok = NULL;
	ret = 0;
out:
	EVP_MD_CTX_free(md);
	cJSON_Delete(hdr);
	free(h);
	free(c);
	free(sig);
	free(tok);
	return ret;
}

/* Only RS256 under key: a token signed any other way is not ours. */
int jwt_verify_rs256(const char *token, EVP_PKEY *key, struct jwt *j)
{
	const cJSON *alg;

	if (jwt_parse(token, j))
		return -1;
	alg = cJSON_GetObjectItemCaseSensitive(j->header, "alg");
	if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "RS256") ||
	    jwt_verify_rsa(j, key)) {
		jwt_free(j);
		return -1;
	}
	return 0;
}
