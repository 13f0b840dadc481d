/* SPDX-License-Identifier: Apache-2.0 */
/* PS256 client assertions for Entra ID certificate credentials. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/b64.h"
#include "common/secmem.h"
#include "hsmclient/azure/jwt.h"

#define JWT_LIFETIME_S 600
#define SIG_MAX 1024 /* RSA-8192 */

int jwt_x5t_s256(X509 *cert, char out[JWT_X5T_LEN])
{
	unsigned char md[32];
	unsigned int mdlen = sizeof(md);

	if (X509_digest(cert, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32)
		return -1;
	b64url_encode(md, sizeof(md), out);
	return 0;
}

int jwt_guid(char out[JWT_GUID_LEN])
{
	unsigned char r[16];

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	r[6] = (r[6] & 0x0f) | 0x40; /* version 4 */
	r[8] = (r[8] & 0x3f) | 0x80; /* RFC 4122 variant */
	snprintf(out, JWT_GUID_LEN,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
		 r[10], r[11], r[12], r[13], r[14], r[15]);
	return 0;
}

/* Serializes obj and appends its base64url form to out at *pos. */
static int append_b64_json(cJSON *obj, char *out, size_t cap, size_t *pos)
{
	char *s = cJSON_PrintUnformatted(obj);
	size_t n;

	if (!s)
		return -1;
	n = strlen(s);
	if (*pos + B64_ENC_LEN(n) + 1 > cap) {
		cJSON_free(s);
		return -1;
	}
	b64url_encode((const uint8_t *)s, n, out + *pos);
	*pos += B64_ENC_LEN(n);
	cJSON_free(s);
	return 0;
}

/* Header and claims, base64url each, joined by '.'. */
static int signing_input(const char *x5t, const char *aud,
			 const char *client_id, int64_t now, char *out,
			 size_t cap, size_t *len)
{
	cJSON *hd = cJSON_CreateObject(), *pl = cJSON_CreateObject();
	char jti[JWT_GUID_LEN];
	int rc = -1;

	*len = 0;
	if (!hd || !pl || jwt_guid(jti) != 0)
		goto out;
	if (!cJSON_AddStringToObject(hd, "alg", "PS256") ||
	    !cJSON_AddStringToObject(hd, "typ", "JWT") ||
	    !cJSON_AddStringToObject(hd, "x5t#S256", x5t) ||
	    !cJSON_AddStringToObject(pl, "aud", aud) ||
	    !cJSON_AddStringToObject(pl, "iss", client_id) ||
	    !cJSON_AddStringToObject(pl, "sub", client_id) ||
	    !cJSON_AddStringToObject(pl, "jti", jti) ||
	    !cJSON_AddNumberToObject(pl, "nbf", (double)now) ||
	    !cJSON_AddNumberToObject(pl, "iat", (double)now) ||
	    !cJSON_AddNumberToObject(pl, "exp", (double)(now + JWT_LIFETIME_S)))
		goto out;
	if (append_b64_json(hd, out, cap, len) != 0 || *len + 2 > cap)
		goto out;
	out[(*len)++] = '.';
	if (append_b64_json(pl, out, cap, len) != 0)
		goto out;
	rc = 0;
out:
	cJSON_Delete(hd);
	cJSON_Delete(pl);
	return rc;
}

/* RSASSA-PSS over SHA-256 with MGF1-SHA-256 and a digest-length salt. */
static int sign_ps256(EVP_PKEY *key, const char *msg, size_t len,
		      unsigned char *sig, size_t *siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int rc = -1;

	if (!md ||
	    EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, key) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)
		goto out;
	if (EVP_DigestSign(md, sig, siglen, (const unsigned char *)msg,
			   len) != 1)
		goto out;
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	return rc;
}

enum kek_status jwt_client_assertion(EVP_PKEY *key, const char *x5t_s256,
				     const char *aud, const char *client_id,
				     int64_t now, char **out, char *err)
{
	size_t cap = 2048 + 2 * strlen(aud) + 4 * strlen(client_id), len;
	size_t siglen = SIG_MAX;
	unsigned char sig[SIG_MAX];
	char *jwt;

	*out = NULL;
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA ||
	    (size_t)EVP_PKEY_get_size(key) > SIG_MAX) {
		snprintf(err, KEK_ERR_MAX, "certificate key must be RSA "
			 "(Entra ID client assertions are PS256)");
		return KEK_E_INVAL;
	}
	jwt = secmem_alloc(cap);
	if (!jwt)
		return KEK_E_NOMEM;
	if (signing_input(x5t_s256, aud, client_id, now, jwt, cap, &len) != 0)
		goto fail;
	if (sign_ps256(key, jwt, len, sig, &siglen) != 0 ||
	    len + 1 + B64_ENC_LEN(siglen) + 1 > cap)
		goto fail;
	jwt[len++] = '.';
	b64url_encode(sig, siglen, jwt + len);
	*out = jwt;
	return KEK_OK;
fail:
	secmem_free(jwt, cap);
	snprintf(err, KEK_ERR_MAX, "cannot build the client assertion JWT");
	return KEK_E_CRYPTO;
}
