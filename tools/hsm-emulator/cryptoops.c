/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RSA encrypt/decrypt share the wrap algorithms (RSA-OAEP-256, RSA-OAEP,
 * RSA1_5); oct keys do AES-GCM (the HSM picks the 12-byte IV and returns
 * it with the tag) and AES-CBC with or without PKCS#7 padding (the IV is
 * the caller's or made here). Sign and verify take a digest: RS256..512
 * and PS256..512 for RSA, ES256/ES384/ES512/ES256K for EC, signatures as
 * JWS (r || s).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "common/b64.h"
#include "cryptoops.h"
#include "json.h"
#include "keys.h"
#include "store.h"
#include "util.h"

#define DATA_MAX 16384
#define RNG_MAX 128

/* A base64url member decoded into a fresh buffer; -1 if absent/bad. */
static long member(const cJSON *body, const char *k, uint8_t **out)
{
	const char *v = json_str(body, k);
	size_t vl = v ? strlen(v) : 0;
	long n;

	*out = NULL;
	if (!v)
		return -1;
	*out = malloc(vl + 1);
	if (!*out)
		return -1;
	n = b64_decode_any(v, vl, *out, vl + 1 < DATA_MAX ? vl + 1 : DATA_MAX);
	if (n < 0 || (n == 0 && v[0])) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return n;
}

/* Frees a decoded member after wiping it. */
static void drop(uint8_t *p, long n)
{
	if (p && n > 0)
		OPENSSL_cleanse(p, (size_t)n);
	free(p);
}

/* Adds a base64url member. */
static int add_b64(cJSON *o, const char *k, const uint8_t *p, size_t n)
{
	char *s = b64url_alloc(p, n);
	int ok = s && cJSON_AddStringToObject(o, k, s);

	if (s)
		OPENSSL_cleanse(s, strlen(s));
	free(s);
	return ok ? 0 : -1;
}

struct sym {
	const uint8_t *in, *iv, *aad, *tag;
	size_t inlen, ivlen, aadlen, taglen;
	uint8_t *out;
	size_t outlen;
	uint8_t iv_out[16], tag_out[16];
	size_t iv_out_len;
	int gcm;
};

/* AES cipher for alg if it fits the key size; sets gcm/pad. */
static const EVP_CIPHER *aes_cipher(const char *alg, int bits, int *gcm, int *pad)
{
	char want[16];
	const char *kinds[] = { "GCM", "CBC", "CBCPAD" };

	for (int i = 0; i < 3; i++) {
		snprintf(want, sizeof(want), "A%d%s", bits, kinds[i]);
		if (strcmp(alg, want))
			continue;
		*gcm = i == 0;
		*pad = i == 2;
		if (i == 0)
			return bits == 128 ? EVP_aes_128_gcm() : bits == 192 ? EVP_aes_192_gcm()
									  : EVP_aes_256_gcm();
		return bits == 128 ? EVP_aes_128_cbc() : bits == 192 ? EVP_aes_192_cbc()
								   : EVP_aes_256_cbc();
	}
	return NULL;
}

/* AES-GCM or AES-CBC(PAD) for an oct key; the IV (and tag) go in x. */
static int aes_crypt(const struct key_snap *s, const char *alg, int dec, struct sym *x,
		     char *err, size_t cap)
{
	int gcm, pad, n = 0, f = 0, ok;
	const EVP_CIPHER *c = aes_cipher(alg, s->bits, &gcm, &pad);
	EVP_CIPHER_CTX *ctx;

	if (!c) {
		snprintf(err, cap, "Algorithm '%.32s' is not supported for an oct-HSM key of %d bits",
			 alg, s->bits);
		return KE_BADPARAM;
	}
	x->gcm = gcm;
	x->iv_out_len = gcm ? 12 : 16;
	if (x->iv && x->ivlen != x->iv_out_len) {
		snprintf(err, cap, "iv must be %zu bytes for %s", x->iv_out_len, alg);
		return KE_BADPARAM;
	}
	if (dec && (!x->iv || (gcm && x->taglen != 16))) {
		snprintf(err, cap, "%s decryption needs iv%s", alg, gcm ? " and a 16-byte tag" : "");
		return KE_BADPARAM;
	}
	if (!gcm && !pad && x->inlen % 16) {
		snprintf(err, cap, "%s needs a multiple of 16 bytes (use %.4sCBCPAD)", alg, alg);
		return KE_BADPARAM;
	}
	/* GCM nonces are always the HSM's own on encryption. */
	if (x->iv && !(gcm && !dec))
		memcpy(x->iv_out, x->iv, x->ivlen);
	else if (RAND_bytes(x->iv_out, (int)x->iv_out_len) != 1)
		return KE_CRYPTO;
	ctx = EVP_CIPHER_CTX_new();
	ok = ctx && EVP_CipherInit_ex(ctx, c, NULL, NULL, NULL, !dec) &&
	     (!gcm || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL)) &&
	     EVP_CipherInit_ex(ctx, NULL, NULL, s->k, x->iv_out, !dec) &&
	     EVP_CIPHER_CTX_set_padding(ctx, pad) &&
	     (!gcm || !x->aad || EVP_CipherUpdate(ctx, NULL, &n, x->aad, (int)x->aadlen)) &&
	     EVP_CipherUpdate(ctx, x->out, &n, x->in, (int)x->inlen) &&
	     (!gcm || !dec || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, (void *)x->tag)) &&
	     EVP_CipherFinal_ex(ctx, x->out + n, &f) &&
	     (!gcm || dec || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, x->tag_out));
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		snprintf(err, cap, dec ? "The ciphertext could not be decrypted (%s)"
				       : "Cannot encrypt with %s", alg);
		return KE_BADPARAM;
	}
	x->outlen = (size_t)n + (size_t)f;
	return KE_OK;
}

/* Reads the request body's parameters for encrypt/decrypt. */
static int read_sym(const cJSON *body, struct sym *x, uint8_t **bufs, long *lens)
{
	static const char *const names[] = { "value", "iv", "aad", "tag" };

	for (int i = 0; i < 4; i++) {
		lens[i] = member(body, names[i], &bufs[i]);
		if (lens[i] < 0 && json_str(body, names[i]))
			return -1;
	}
	if (lens[0] < 0)
		return -1;
	x->in = bufs[0];
	x->inlen = (size_t)lens[0];
	x->iv = bufs[1];
	x->ivlen = lens[1] > 0 ? (size_t)lens[1] : 0;
	x->aad = bufs[2];
	x->aadlen = lens[2] > 0 ? (size_t)lens[2] : 0;
	x->tag = bufs[3];
	x->taglen = lens[3] > 0 ? (size_t)lens[3] : 0;
	x->out = malloc(x->inlen + 600);
	return x->out ? 0 : -1;
}

/* KeyOperationResult {kid, value, iv?, tag?, aad?}. */
static void reply_op(struct reply *rp, const struct key_snap *s, const struct sym *x,
		     int dec, int sym)
{
	cJSON *o = cJSON_CreateObject();
	char kid[400];

	snprintf(kid, sizeof(kid), "%s/keys/%s/%s", emu.base, s->name, s->version);
	if (!o || !cJSON_AddStringToObject(o, "kid", kid) ||
	    add_b64(o, "value", x->out, x->outlen) ||
	    (sym && !dec && add_b64(o, "iv", x->iv_out, x->iv_out_len)) ||
	    (sym && !dec && x->gcm && add_b64(o, "tag", x->tag_out, 16)) ||
	    (sym && !dec && x->gcm && x->aad && add_b64(o, "aad", x->aad, x->aadlen))) {
		cjson_wipe(o);
		cJSON_Delete(o);
		reply_error(rp, 500, "InternalError", NULL, "out of memory");
		return;
	}
	reply_json(rp, 200, o);
}

/* POST .../encrypt|decrypt. */
static void encrypt_decrypt(const struct key_snap *s, const cJSON *body, int dec,
			    struct reply *rp)
{
	const char *alg = json_str(body, "alg");
	struct sym x = { 0 };
	uint8_t *bufs[4] = { 0 };
	long lens[4] = { 0 };
	char err[300];
	int rc;

	if (!alg || read_sym(body, &x, bufs, lens)) {
		reply_error(rp, 400, "BadParameter", NULL,
			    "The body needs \"alg\" and a base64url \"value\" of at most %d bytes",
			    DATA_MAX);
		goto out;
	}
	if (!api_key_usable(s, dec ? "decrypt" : "encrypt", dec ? KOP_DECRYPT : KOP_ENCRYPT,
			    dec, rp))
		goto out;
	x.outlen = x.inlen + 600;
	if (s->kty == KTY_RSA)
		rc = key_wrap(s, alg, dec, x.in, x.inlen, x.out, &x.outlen, err, sizeof(err));
	else if (s->kty == KTY_OCT)
		rc = aes_crypt(s, alg, dec, &x, err, sizeof(err));
	else
		rc = KE_BADPARAM, snprintf(err, sizeof(err), "EC-HSM keys do not encrypt");
	if (rc)
		reply_key_error(rp, rc, err);
	else
		reply_op(rp, s, &x, dec, s->kty == KTY_OCT);
out:
	if (x.out)
		OPENSSL_cleanse(x.out, x.inlen + 600);
	free(x.out);
	for (int i = 0; i < 4; i++)
		drop(bufs[i], lens[i]);
}

/* Digest and padding of a signature algorithm for the key's type. */
static const EVP_MD *sig_alg(const struct key_snap *s, const char *alg, int *pss)
{
	static const enum crv es_crv[] = { CRV_P256, CRV_P384, CRV_P521 };
	const EVP_MD *mds[] = { EVP_sha256(), EVP_sha384(), EVP_sha512() };
	const char *sizes[] = { "256", "384", "512" };

	*pss = 0;
	for (int i = 0; i < 3; i++) {
		if (s->kty == KTY_RSA && alg[0] && (alg[0] == 'R' || alg[0] == 'P') &&
		    alg[1] == 'S' && !strcmp(alg + 2, sizes[i])) {
			*pss = alg[0] == 'P';
			return mds[i];
		}
		if (s->kty == KTY_EC && !strncmp(alg, "ES", 2) && !strcmp(alg + 2, sizes[i]) &&
		    s->crv == es_crv[i])
			return mds[i];
	}
	if (s->kty == KTY_EC && !strcmp(alg, "ES256K") && s->crv == CRV_P256K)
		return EVP_sha256();
	return NULL;
}

/* An EVP_PKEY_CTX set up for sign or verify of a digest with md. */
static EVP_PKEY_CTX *sig_ctx(const struct key_snap *s, const EVP_MD *md, int pss, int sign)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(s->pkey, NULL);

	if (c && (sign ? EVP_PKEY_sign_init(c) : EVP_PKEY_verify_init(c)) > 0 &&
	    EVP_PKEY_CTX_set_signature_md(c, md) > 0 &&
	    (s->kty != KTY_RSA ||
	     (EVP_PKEY_CTX_set_rsa_padding(c, pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) > 0 &&
	      (!pss || EVP_PKEY_CTX_set_rsa_pss_saltlen(c, RSA_PSS_SALTLEN_DIGEST) > 0))))
		return c;
	EVP_PKEY_CTX_free(c);
	return NULL;
}

/* ECDSA DER <-> JWS r||s (each half the coordinate size). */
static int der_to_jws(const uint8_t *der, size_t dl, int bits, uint8_t *out, size_t *ol)
{
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &der, (long)dl);
	int half = (bits + 7) / 8, ok;

	ok = sig && BN_bn2binpad(ECDSA_SIG_get0_r(sig), out, half) == half &&
	     BN_bn2binpad(ECDSA_SIG_get0_s(sig), out + half, half) == half;
	ECDSA_SIG_free(sig);
	*ol = (size_t)half * 2;
	return ok ? 0 : -1;
}

static int jws_to_der(const uint8_t *jws, size_t jl, int bits, uint8_t **der, int *dl)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	size_t half = (size_t)(bits + 7) / 8;
	BIGNUM *r, *s;

	*der = NULL;
	if (!sig || jl != 2 * half) {
		ECDSA_SIG_free(sig);
		return -1;
	}
	r = BN_bin2bn(jws, (int)half, NULL);
	s = BN_bin2bn(jws + half, (int)half, NULL);
	if (!r || !s || !ECDSA_SIG_set0(sig, r, s)) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(sig);
		return -1;
	}
	*dl = i2d_ECDSA_SIG(sig, der);
	ECDSA_SIG_free(sig);
	return *dl > 0 ? 0 : -1;
}

/* POST .../sign {alg, value: digest} and .../verify {alg, digest, value}. */
static void sign_verify(const struct key_snap *s, const cJSON *body, int verify,
			struct reply *rp)
{
	const char *alg = json_str(body, "alg");
	uint8_t *dg = NULL, *sg = NULL, out[1024], *der = NULL;
	long dl = member(body, verify ? "digest" : "value", &dg);
	long sl = verify ? member(body, "value", &sg) : 0;
	size_t ol = sizeof(out);
	const EVP_MD *md;
	EVP_PKEY_CTX *c = NULL;
	cJSON *o;
	int pss, dlen, ok;
	char kid[400];

	if (!alg || dl <= 0 || sl < 0) {
		reply_error(rp, 400, "BadParameter", NULL, verify
			    ? "The body needs \"alg\", \"digest\" and \"value\" (base64url)"
			    : "The body needs \"alg\" and \"value\" (the digest, base64url)");
		goto out;
	}
	if (!api_key_usable(s, verify ? "verify" : "sign", verify ? KOP_VERIFY : KOP_SIGN,
			    verify, rp))
		goto out;
	md = s->kty == KTY_OCT ? NULL : sig_alg(s, alg, &pss);
	if (!md) {
		reply_error(rp, 400, "BadParameter", NULL,
			    "Algorithm '%.16s' does not fit this key", alg);
		goto out;
	}
	if (dl != EVP_MD_get_size(md)) {
		reply_error(rp, 400, "BadParameter", NULL, "The digest must be %d bytes for %s",
			    EVP_MD_get_size(md), alg);
		goto out;
	}
	c = sig_ctx(s, md, pss, !verify);
	if (!c) {
		reply_error(rp, 500, "InternalError", NULL, "cannot set up %s", alg);
		goto out;
	}
	snprintf(kid, sizeof(kid), "%s/keys/%s/%s", emu.base, s->name, s->version);
	o = cJSON_CreateObject();
	if (verify) {
		if (s->kty == KTY_EC)
			ok = !jws_to_der(sg, (size_t)sl, s->bits, &der, &dlen) &&
			     EVP_PKEY_verify(c, der, (size_t)dlen, dg, (size_t)dl) == 1;
		else
			ok = EVP_PKEY_verify(c, sg, (size_t)sl, dg, (size_t)dl) == 1;
		cJSON_AddBoolToObject(o, "value", ok);
		reply_json(rp, 200, o);
		goto out;
	}
	if (EVP_PKEY_sign(c, out, &ol, dg, (size_t)dl) <= 0 ||
	    (s->kty == KTY_EC && der_to_jws((der = OPENSSL_memdup(out, ol)), ol, s->bits, out, &ol))) {
		cJSON_Delete(o);
		reply_error(rp, 500, "InternalError", NULL, "signing failed");
		goto out;
	}
	cJSON_AddStringToObject(o, "kid", kid);
	add_b64(o, "value", out, ol);
	reply_json(rp, 200, o);
out:
	OPENSSL_free(der);
	EVP_PKEY_CTX_free(c);
	drop(dg, dl);
	drop(sg, sl);
}

/* POST /rng {"count": 1..128}. */
static void rng(struct req *r, struct reply *rp)
{
	cJSON *body = req_json(r), *o;
	uint8_t buf[RNG_MAX];
	int64_t n = 0;

	if (json_int(body, "count", 1, RNG_MAX, &n) != 1) {
		cJSON_Delete(body);
		reply_error(rp, 400, "BadParameter", NULL,
			    "GetRandomBytesRequest: count cannot be greater than 128 or less than 1");
		return;
	}
	cJSON_Delete(body);
	o = cJSON_CreateObject();
	if (RAND_bytes(buf, (int)n) != 1 || !o || add_b64(o, "value", buf, (size_t)n)) {
		cJSON_Delete(o);
		reply_error(rp, 500, "InternalError", NULL, "no random bytes");
		return;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	reply_json(rp, 200, o);
}

/* Crypto runs on a snapshot of the key version, outside the lock. */
void cryptoops_handle(struct req *r, const struct route *rt, struct reply *rp)
{
	cJSON *body;
	struct key_snap s;
	int rc;

	if (rt->op == OP_RNG) {
		rng(r, rp);
		return;
	}
	body = req_json(r);
	if (!body) {
		reply_error(rp, 400, "BadParameter", NULL, "The request body must be a JSON object");
		return;
	}
	store_lock();
	rc = keys_snap(rt->key, rt->version, &s);
	store_unlock();
	if (rc == KE_NOTFOUND)
		api_not_found(rp, rt->key);
	else if (rc)
		reply_error(rp, 500, "InternalError", NULL, "out of memory");
	else {
		snprintf(r->version, sizeof(r->version), "%s", s.version);
		if (rt->op == OP_ENCRYPT || rt->op == OP_DECRYPT)
			encrypt_decrypt(&s, body, rt->op == OP_DECRYPT, rp);
		else
			sign_verify(&s, body, rt->op == OP_VERIFY, rp);
	}
	key_snap_clear(&s);
	cjson_wipe(body);
	cJSON_Delete(body);
}
