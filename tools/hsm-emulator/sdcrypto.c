/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "common/b64.h"
#include "json.h"
#include "sdcrypto.h"
#include "util.h"

#define IV_LEN 16
#define TAG_LEN 32              /* HMAC-SHA-512 truncated to half */
#define JWE_MAX (1024 * 1024)   /* no security domain part comes near */
#define GF 257u

static const char hdr_rsa[] = "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256CBC-HS512\",\"kid\":\"not used\"}";

/* A JWE split into its five parts, decoded, and its parsed header. */
struct jwe {
	char *hdr_b64;
	cJSON *hdr;
	uint8_t *ek, *ct;
	size_t ekn, ctn;
	uint8_t iv[IV_LEN], tag[TAG_LEN];
};

/* Frees a parsed JWE. */
static void jwe_free(struct jwe *j)
{
	free(j->hdr_b64);
	cJSON_Delete(j->hdr);
	free(j->ek);
	free(j->ct);
	memset(j, 0, sizeof(*j));
}

/* HMAC-SHA-512 over the concatenation of n parts. */
static int hmac512(const uint8_t *key, size_t klen, const uint8_t *const *part,
		   const size_t *len, int n, uint8_t out[64])
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM p[2];
	size_t outl = 0;
	int ok;

	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA512", 0);
	p[1] = OSSL_PARAM_construct_end();
	ok = c && EVP_MAC_init(c, key, klen, p);
	for (int i = 0; ok && i < n; i++)
		ok = EVP_MAC_update(c, part[i], len[i]);
	ok = ok && EVP_MAC_final(c, out, &outl, 64) && outl == 64;
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(mac);
	return ok ? 0 : -1;
}

/* The MAC of RFC 7518 5.2.2.1: over the header's base64 (the AAD), the IV,
 * the ciphertext and the AAD's length in bits (64-bit big endian). */
static int jwe_mac(const uint8_t *mac_key, const char *hdr_b64,
		   const uint8_t iv[IV_LEN], const uint8_t *ct, size_t ctn,
		   uint8_t tag[TAG_LEN])
{
	uint8_t full[64], al[8];
	uint64_t bits = (uint64_t)strlen(hdr_b64) * 8;
	const uint8_t *part[4] = { (const uint8_t *)hdr_b64, iv, ct, al };
	size_t len[4] = { strlen(hdr_b64), IV_LEN, ctn, sizeof(al) };
	int rc;

	for (int i = 0; i < 8; i++)
		al[i] = (uint8_t)(bits >> (56 - 8 * i));
	rc = hmac512(mac_key, 32, part, len, 4, full);
	if (!rc)
		memcpy(tag, full, TAG_LEN);
	OPENSSL_cleanse(full, sizeof(full));
	return rc;
}

/* AES-256-CBC with PKCS#7 padding, either way; *out malloc'd. */
static int aes_cbc(const uint8_t *key, const uint8_t iv[IV_LEN], int enc,
		   const uint8_t *in, size_t n, uint8_t **out, size_t *outn)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t *buf = malloc(n + IV_LEN);
	int a = 0, b = 0, ok;

	ok = c && buf && n < JWE_MAX &&
	     EVP_CipherInit_ex(c, EVP_aes_256_cbc(), NULL, key, iv, enc) &&
	     EVP_CipherUpdate(c, buf, &a, in, (int)n) &&
	     EVP_CipherFinal_ex(c, buf + a, &b);
	EVP_CIPHER_CTX_free(c);
	if (!ok) {
		if (buf)
			OPENSSL_cleanse(buf, n + IV_LEN);
		free(buf);
		return -1;
	}
	*out = buf;
	*outn = (size_t)a + (size_t)b;
	return 0;
}

/* Appends "." and the base64url of b to s (which grows). */
static int append_b64(char **s, size_t *len, const uint8_t *b, size_t n)
{
	char *ns = realloc(*s, *len + 1 + B64_ENC_LEN(n) + 1);

	if (!ns)
		return -1;
	*s = ns;
	ns[(*len)++] = '.';
	b64url_encode(b, n, ns + *len);
	*len += strlen(ns + *len);
	return 0;
}

/* header.ek.iv.ct.tag with A256CBC-HS512 under cek. */
static char *jwe_build(const char *hdr_json, const uint8_t *ek, size_t ekn,
		       const uint8_t cek[SD_CEK_LEN], const uint8_t *pt, size_t n)
{
	uint8_t iv[IV_LEN], tag[TAG_LEN], *ct = NULL;
	size_t ctn = 0, len;
	char *s = b64url_alloc((const uint8_t *)hdr_json, strlen(hdr_json));

	if (!s || RAND_bytes(iv, sizeof(iv)) != 1 ||
	    aes_cbc(cek + 32, iv, 1, pt, n, &ct, &ctn) ||
	    jwe_mac(cek, s, iv, ct, ctn, tag))
		goto fail;
	len = strlen(s);
	if (append_b64(&s, &len, ek, ekn) || append_b64(&s, &len, iv, IV_LEN) ||
	    append_b64(&s, &len, ct, ctn) || append_b64(&s, &len, tag, TAG_LEN))
		goto fail;
	free(ct);
	return s;
fail:
	free(ct);
	free(s);
	return NULL;
}

/* Decodes one base64url part into a fresh buffer (or a fixed one). */
static int part(const char *p, size_t n, uint8_t **out, size_t *outn,
		uint8_t *fixed, size_t fixed_len)
{
	uint8_t *buf = fixed ? fixed : malloc(n + 1);
	long r;

	if (!buf)
		return -1;
	r = b64_decode_any(p, n, buf, fixed ? fixed_len : n + 1);
	if (r < 0 || (fixed && (size_t)r != fixed_len)) {
		if (!fixed)
			free(buf);
		return -1;
	}
	if (!fixed) {
		*out = buf;
		*outn = (size_t)r;
	}
	return 0;
}

/* Splits and decodes a compact JWE; checks enc and the MAC's inputs. */
static int jwe_parse(const char *compact, struct jwe *j)
{
	const char *p[5], *dot;
	size_t l[5];
	uint8_t hdr[2048];
	long hl;

	memset(j, 0, sizeof(*j));
	if (!compact || strlen(compact) > JWE_MAX)
		return -1;
	p[0] = compact;
	for (int i = 0; i < 5; i++) {
		dot = strchr(p[i], '.');
		if ((i < 4) != (dot != NULL))
			return -1;
		l[i] = dot ? (size_t)(dot - p[i]) : strlen(p[i]);
		if (i < 4)
			p[i + 1] = dot + 1;
	}
	hl = b64_decode_any(p[0], l[0], hdr, sizeof(hdr) - 1);
	if (hl <= 0)
		return -1;
	hdr[hl] = '\0';
	j->hdr = cJSON_Parse((const char *)hdr);
	j->hdr_b64 = strndup(p[0], l[0]);
	if (!j->hdr || !j->hdr_b64 || !json_str(j->hdr, "enc") ||
	    strcmp(json_str(j->hdr, "enc"), "A256CBC-HS512") ||
	    part(p[1], l[1], &j->ek, &j->ekn, NULL, 0) ||
	    part(p[2], l[2], NULL, NULL, j->iv, IV_LEN) ||
	    part(p[3], l[3], &j->ct, &j->ctn, NULL, 0) ||
	    part(p[4], l[4], NULL, NULL, j->tag, TAG_LEN)) {
		jwe_free(j);
		return -1;
	}
	return 0;
}

/* MAC first (constant time), then decrypt. */
static int jwe_decrypt(const struct jwe *j, const uint8_t cek[SD_CEK_LEN],
		       uint8_t **pt, size_t *n)
{
	uint8_t tag[TAG_LEN];

	if (jwe_mac(cek, j->hdr_b64, j->iv, j->ct, j->ctn, tag) ||
	    CRYPTO_memcmp(tag, j->tag, TAG_LEN))
		return -1;
	return aes_cbc(cek + 32, j->iv, 0, j->ct, j->ctn, pt, n);
}

/* RSA-OAEP with SHA-256 (or SHA-1) for both hash functions. */
static EVP_PKEY_CTX *oaep_ctx(EVP_PKEY *k, int encrypt, const EVP_MD *md)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);

	if (!c || (encrypt ? EVP_PKEY_encrypt_init(c) : EVP_PKEY_decrypt_init(c)) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(c, md) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(c, md) <= 0) {
		EVP_PKEY_CTX_free(c);
		return NULL;
	}
	return c;
}

/* The CEK goes to pub with RSA-OAEP-256. */
char *jwe_seal_rsa(EVP_PKEY *pub, const uint8_t *pt, size_t n)
{
	uint8_t cek[SD_CEK_LEN], ek[1024];
	size_t ekn = sizeof(ek);
	EVP_PKEY_CTX *c = oaep_ctx(pub, 1, EVP_sha256());
	char *s = NULL;

	if (c && RAND_bytes(cek, sizeof(cek)) == 1 &&
	    EVP_PKEY_encrypt(c, ek, &ekn, cek, sizeof(cek)) > 0)
		s = jwe_build(hdr_rsa, ek, ekn, cek, pt, n);
	EVP_PKEY_CTX_free(c);
	OPENSSL_cleanse(cek, sizeof(cek));
	return s;
}

/* The CLI also writes RSA-OAEP; RSA1_5 is not taken. */
int jwe_open_rsa(EVP_PKEY *priv, const char *compact, uint8_t **pt, size_t *n)
{
	struct jwe j;
	uint8_t cek[1024];
	size_t cekn = sizeof(cek);
	const char *alg;
	EVP_PKEY_CTX *c = NULL;
	int ret = -1;

	if (jwe_parse(compact, &j))
		return -1;
	alg = json_str(j.hdr, "alg");
	if (alg && (!strcmp(alg, "RSA-OAEP-256") || !strcmp(alg, "RSA-OAEP")))
		c = oaep_ctx(priv, 0, strcmp(alg, "RSA-OAEP") ? EVP_sha256() : EVP_sha1());
	if (c && EVP_PKEY_decrypt(c, cek, &cekn, j.ek, j.ekn) > 0 &&
	    cekn == SD_CEK_LEN)
		ret = jwe_decrypt(&j, cek, pt, n);
	EVP_PKEY_CTX_free(c);
	OPENSSL_cleanse(cek, sizeof(cek));
	jwe_free(&j);
	return ret;
}

/* Header {"alg":"dir","enc":"A256CBC-HS512","kid":kid}, no encrypted key. */
char *jwe_seal_dir(const uint8_t cek[SD_CEK_LEN], const char *kid,
		   const uint8_t *pt, size_t n)
{
	cJSON *h = cJSON_CreateObject();
	char *hj, *s = NULL;

	if (!h || !cJSON_AddStringToObject(h, "alg", "dir") ||
	    !cJSON_AddStringToObject(h, "enc", "A256CBC-HS512") ||
	    !cJSON_AddStringToObject(h, "kid", kid)) {
		cJSON_Delete(h);
		return NULL;
	}
	hj = json_take_text(h);
	if (hj)
		s = jwe_build(hj, NULL, 0, cek, pt, n);
	free(hj);
	return s;
}

/* A "dir" JWE carries no encrypted key. */
int jwe_open_dir(const uint8_t cek[SD_CEK_LEN], const char *compact,
		 uint8_t **pt, size_t *n)
{
	struct jwe j;
	const char *alg;
	int ret = -1;

	if (jwe_parse(compact, &j))
		return -1;
	alg = json_str(j.hdr, "alg");
	if (alg && !strcmp(alg, "dir") && !j.ekn)
		ret = jwe_decrypt(&j, cek, pt, n);
	jwe_free(&j);
	return ret;
}

/* K(1) = HMAC(key, [1]_32 || label || 0x00 || context || [512]_32): one
 * HMAC-SHA-512 block is all 512 bits. */
int sd_kdf(const uint8_t *key, size_t klen, const char *label,
	   uint8_t out[SD_CEK_LEN])
{
	static const uint8_t one[4] = { 0, 0, 0, 1 }, bits[4] = { 0, 0, 2, 0 };
	static const uint8_t zero = 0;
	const uint8_t *part[4] = { one, (const uint8_t *)label, &zero, bits };
	size_t len[4] = { 4, strlen(label), 1, 4 };

	return hmac512(key, klen, part, len, 4, out);
}

/* a^255 = a^-1 in GF(257). */
static unsigned gf_inv(unsigned a)
{
	unsigned r = 1;

	for (int i = 0; i < 255; i++)
		r = r * a % GF;
	return r;
}

/* Uniform in 0..256, by rejection from 16 random bits. */
static int gf_random(unsigned *v)
{
	uint16_t w;

	do {
		if (RAND_bytes((uint8_t *)&w, sizeof(w)) != 1)
			return -1;
	} while (w >= 65535 - 65535 % GF);
	*v = w % GF;
	return 0;
}

/* Word x << 9 | y, little endian, at word i of share s. */
static void put_word(uint8_t *s, size_t i, unsigned x, unsigned y)
{
	unsigned w = x << 9 | y;

	s[2 * i] = (uint8_t)(w & 0xff);
	s[2 * i + 1] = (uint8_t)(w >> 8);
}

/* A random polynomial of degree required-1 per byte, its constant term
 * the byte; share x (1..shares) holds its values at x. */
int shamir_split(const uint8_t *secret, size_t n, int shares, int required,
		 uint8_t **out)
{
	unsigned c[SD_MAX_SHARES];
	int i, ret = -1;

	if (shares < 1 || shares > SD_MAX_SHARES || required < 1 || required > shares)
		return -1;
	for (i = 0; i < shares; i++)
		out[i] = NULL;
	for (i = 0; i < shares; i++)
		if (!(out[i] = malloc(2 * n)))
			goto out;
	for (size_t b = 0; b < n; b++) {
		c[0] = secret[b];
		for (int k = 1; k < required; k++)
			if (gf_random(&c[k]))
				goto out;
		for (unsigned x = 1; x <= (unsigned)shares; x++) {
			unsigned y = 0;
			for (int k = required - 1; k >= 0; k--)
				y = (y * x + c[k]) % GF;
			put_word(out[x - 1], b, x, y);
		}
	}
	ret = 0;
out:
	OPENSSL_cleanse(c, sizeof(c));
	for (i = 0; ret && i < shares; i++) {
		if (out[i])
			OPENSSL_cleanse(out[i], 2 * n);
		free(out[i]);
		out[i] = NULL;
	}
	return ret;
}

/* Lagrange interpolation at 0 of one byte's k points. */
static int combine_byte(uint8_t *const *shares, int k, size_t b, uint8_t *out)
{
	unsigned x[SD_MAX_SHARES], y[SD_MAX_SHARES], s = 0;

	for (int i = 0; i < k; i++) {
		unsigned w = shares[i][2 * b] | (unsigned)shares[i][2 * b + 1] << 8;
		x[i] = w >> 9;
		y[i] = w & 0x1ff;
		if (!x[i] || y[i] >= GF)
			return -1;
		for (int j = 0; j < i; j++)
			if (x[j] == x[i])
				return -1;
	}
	for (int i = 0; i < k; i++) {
		unsigned num = 1, den = 1;
		for (int j = 0; j < k; j++) {
			if (j == i)
				continue;
			num = num * x[j] % GF;
			den = den * ((x[j] + GF - x[i]) % GF) % GF;
		}
		s = (s + y[i] * (num * gf_inv(den) % GF)) % GF;
	}
	if (s > 255)
		return -1;
	*out = (uint8_t)s;
	return 0;
}

/* Byte by byte; a value of 256 means the shares do not fit together. */
int shamir_combine(uint8_t *const *shares, int k, size_t n, uint8_t *secret)
{
	if (k < 1 || k > SD_MAX_SHARES)
		return -1;
	for (size_t b = 0; b < n; b++)
		if (combine_byte(shares, k, b, &secret[b])) {
			OPENSSL_cleanse(secret, n);
			return -1;
		}
	return 0;
}

/* x5t / x5t#S256: base64url of the DER's digest. */
int sd_thumbprint(X509 *x, const EVP_MD *md, char out[48])
{
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	if (!X509_digest(x, md, d, &n) || B64_ENC_LEN(n) >= 48)
		return -1;
	b64url_encode(d, n, out);
	return 0;
}

/* x5c entries are standard base64 (with padding) of DER. */
X509 *sd_cert_from_x5c(const cJSON *jwk)
{
	const cJSON *x5c = cJSON_GetObjectItemCaseSensitive(jwk, "x5c");
	const cJSON *first = cJSON_GetArrayItem(x5c, 0);
	const uint8_t *p;
	uint8_t *der;
	long n;
	X509 *x = NULL;

	if (!cJSON_IsArray(x5c) || !cJSON_IsString(first) ||
	    strlen(first->valuestring) > 16384)
		return NULL;
	der = malloc(strlen(first->valuestring) + 1);
	if (!der)
		return NULL;
	n = b64_decode_any(first->valuestring, strlen(first->valuestring), der,
			   strlen(first->valuestring) + 1);
	p = der;
	if (n > 0)
		x = d2i_X509(NULL, &p, n);
	if (x && p != der + n) {
		X509_free(x);
		x = NULL;
	}
	free(der);
	return x;
}

/* An RSA component as base64url of its big-endian bytes. */
static int add_bn(cJSON *o, EVP_PKEY *k, const char *param, const char *name)
{
	BIGNUM *bn = NULL;
	uint8_t buf[1024];
	char *s = NULL;
	int n, ret = -1;

	if (!EVP_PKEY_get_bn_param(k, param, &bn))
		return -1;
	n = BN_num_bytes(bn);
	if (n > 0 && n <= (int)sizeof(buf) && BN_bn2bin(bn, buf) == n &&
	    (s = b64url_alloc(buf, (size_t)n)) && cJSON_AddStringToObject(o, name, s))
		ret = 0;
	free(s);
	BN_free(bn);
	return ret;
}

/* The JWK the CLI sends for each certificate (and the HSM for its
 * exchange key). */
cJSON *sd_cert_jwk(X509 *x, const char *kid, const char *const *ops)
{
	cJSON *j = cJSON_CreateObject(), *a;
	EVP_PKEY *k = X509_get0_pubkey(x);
	uint8_t *der = NULL;
	char t1[48], t256[48], *x5c = NULL;
	int n = i2d_X509(x, &der);

	if (!j || !k || !EVP_PKEY_is_a(k, "RSA") || n <= 0 ||
	    sd_thumbprint(x, EVP_sha1(), t1) || sd_thumbprint(x, EVP_sha256(), t256))
		goto fail;
	x5c = malloc(4 * ((size_t)n / 3 + 1) + 1);
	if (!x5c)
		goto fail;
	EVP_EncodeBlock((uint8_t *)x5c, der, n);
	cJSON_AddStringToObject(j, "kid", kid);
	cJSON_AddStringToObject(j, "kty", "RSA");
	a = cJSON_AddArrayToObject(j, "key_ops");
	for (int i = 0; a && ops[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(ops[i]));
	cJSON_AddStringToObject(j, "alg", "RSA-OAEP-256");
	if (add_bn(j, k, OSSL_PKEY_PARAM_RSA_N, "n") ||
	    add_bn(j, k, OSSL_PKEY_PARAM_RSA_E, "e"))
		goto fail;
	a = cJSON_AddArrayToObject(j, "x5c");
	if (!a)
		goto fail;
	cJSON_AddItemToArray(a, cJSON_CreateString(x5c));
	cJSON_AddStringToObject(j, "x5t", t1);
	cJSON_AddStringToObject(j, "x5t#S256", t256);
	OPENSSL_free(der);
	free(x5c);
	return j;
fail:
	OPENSSL_free(der);
	free(x5c);
	cJSON_Delete(j);
	return NULL;
}
