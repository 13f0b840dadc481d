/* SPDX-License-Identifier: Apache-2.0 */
/* RSA KEKs, local half: public keys, RSA-OAEP-256 wraps, OAEP decoding. */
/* RSA_padding_check_PKCS1_OAEP_mgf1 is the constant-time OAEP decoding
 * OpenSSL's own RSA code uses; OpenSSL 3 marks it deprecated but keeps
 * it, and offers nothing else for a block decrypted elsewhere. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "hsmclient/rsa.h"

EVP_PKEY *rsa_pub_new(const uint8_t *n, size_t nl, const uint8_t *e,
		      size_t el)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *bn = NULL, *be = NULL;
	EVP_PKEY *pk = NULL;

	if (nl < 256 || nl > RSA_N_MAX || el < 1 || el > 8 || n[0] == 0 ||
	    !(e[el - 1] & 1))
		return NULL;
	bn = BN_bin2bn(n, (int)nl, NULL);
	be = BN_bin2bn(e, (int)el, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (!bn || !be || !bld || BN_is_one(be) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
	    !(params = OSSL_PARAM_BLD_to_param(bld)) ||
	    !(ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pk = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	ERR_clear_error();
	return pk;
}

enum kek_status rsa_wrap(EVP_PKEY *pub, const uint8_t *in, size_t inlen,
			 uint8_t *out, size_t *outlen, char *err)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
	enum kek_status st = KEK_E_CRYPTO;
	size_t ol = KEK_WRAPPED_MAX;

	if (inlen == 0 || inlen + 66 > (size_t)EVP_PKEY_get_size(pub)) {
		snprintf(err, KEK_ERR_MAX, "cannot wrap %zu bytes with "
			 "RSA-OAEP-256 and a %d-bit key", inlen,
			 EVP_PKEY_get_bits(pub));
		st = KEK_E_INVAL;
		goto out;
	}
	if (!c || EVP_PKEY_encrypt_init(c) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) != 1 ||
	    EVP_PKEY_encrypt(c, out, &ol, in, inlen) != 1) {
		snprintf(err, KEK_ERR_MAX, "RSA-OAEP-256 encryption failed");
		goto out;
	}
	*outlen = ol;
	st = KEK_OK;
out:
	EVP_PKEY_CTX_free(c);
	ERR_clear_error();
	return st;
}

enum kek_status rsa_oaep_decode(const uint8_t *em, size_t emlen,
				size_t modlen, uint8_t *out, size_t *outlen,
				char *err)
{
	int n = -1;

	if (emlen <= modlen && modlen <= RSA_N_MAX && *outlen <= RSA_N_MAX)
		n = RSA_padding_check_PKCS1_OAEP_mgf1(
			out, (int)*outlen, em, (int)emlen, (int)modlen, NULL,
			0, EVP_sha256(), EVP_sha256());
	ERR_clear_error();
	if (n < 0) {
		snprintf(err, KEK_ERR_MAX, "the wrapped key does not decrypt "
			 "under this KEK (RSA-OAEP-256)");
		return KEK_E_CRYPTO;
	}
	*outlen = (size_t)n;
	return KEK_OK;
}
