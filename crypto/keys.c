/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <pthread.h>

#include "keys.h"

int keys_random(void *buf, size_t n)
{
	return RAND_bytes(buf, (int)n) == 1 ? 0 : -EIO;
}

int keys_hkdf(const uint8_t *ikm, size_t ikmlen, const char *info,
	      uint8_t *out, size_t outlen)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[4];
	int ret = -EIO;

	if (!kdf)
		return -EIO;
	kctx = EVP_KDF_CTX_new(kdf);
	if (!kctx) {
		ret = -ENOMEM;
		goto out;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						     (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						      (void *)ikm, ikmlen);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
						      (void *)info,
						      strlen(info));
	params[3] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, outlen, params) == 1)
		ret = 0;
out:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ret;
}

int keys_hmac(const uint8_t key[KEY_LEN], const uint8_t *msg, size_t n,
	      uint8_t out[32])
{
	unsigned int len = 32;

	if (!HMAC(EVP_sha256(), key, KEY_LEN, msg, n, out, &len))
		return -EIO;
	return 0;
}

int keys_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

static pthread_once_t siv_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *siv;

static void siv_init(void)
{
	siv = EVP_CIPHER_fetch(NULL, "AES-256-SIV", NULL);
}

/* A context for AES-256-SIV in *c: 0, -ENOMEM, or -EIO if OpenSSL has
 * no SIV (*c may then be set, to be freed). */
static int siv_ctx(EVP_CIPHER_CTX **c)
{
	*c = EVP_CIPHER_CTX_new();
	pthread_once(&siv_once, siv_init);
	return !*c ? -ENOMEM : !siv ? -EIO : 0;
}

int keys_siv_seal(const uint8_t key[KEYS_SIV_KEY], const uint8_t *ad,
		  size_t adlen, const uint8_t *in, size_t n, uint8_t *out)
{
	EVP_CIPHER_CTX *c;
	int len, ret = siv_ctx(&c);

	if (ret)
		goto out;
	ret = -EIO;
	if (EVP_EncryptInit_ex2(c, siv, key, NULL, NULL) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &len, ad, (int)adlen) != 1 ||
	    EVP_EncryptUpdate(c, out + KEYS_SIV_TAG, &len, in, (int)n) != 1 ||
	    EVP_EncryptFinal_ex(c, out + KEYS_SIV_TAG + len, &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, KEYS_SIV_TAG,
				out) != 1)
		goto out;
	ret = 0;
out:
	EVP_CIPHER_CTX_free(c);
	return ret;
}

int keys_siv_open(const uint8_t key[KEYS_SIV_KEY], const uint8_t *ad,
		  size_t adlen, const uint8_t *in, size_t n, uint8_t *out)
{
	EVP_CIPHER_CTX *c;
	int len, ret = siv_ctx(&c);

	if (!ret && n <= KEYS_SIV_TAG)
		ret = -EINVAL;
	if (ret)
		goto out;
	ret = -EIO;
	if (EVP_DecryptInit_ex2(c, siv, key, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, KEYS_SIV_TAG,
				(void *)in) != 1 ||
	    EVP_DecryptUpdate(c, NULL, &len, ad, (int)adlen) != 1)
		goto out;
	/* SIV checks the tag as it decrypts: either call may refuse. */
	if (EVP_DecryptUpdate(c, out, &len, in + KEYS_SIV_TAG,
			      (int)(n - KEYS_SIV_TAG)) != 1 ||
	    EVP_DecryptFinal_ex(c, out + len, &len) != 1) {
		secmem_wipe(out, n - KEYS_SIV_TAG);
		ret = -EBADMSG;
		goto out;
	}
	ret = 0;
out:
	EVP_CIPHER_CTX_free(c);
	return ret;
}
