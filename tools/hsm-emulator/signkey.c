/* SPDX-License-Identifier: Apache-2.0 */
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/b64.h"
#include "signkey.h"

static EVP_PKEY *key;
static char kid[48];

/* RSA-2048, like Entra's token signing keys. */
int signkey_init(const char *pem)
{
	unsigned char *der = NULL, h[32];
	unsigned int hl = 0;
	BIO *b;
	int n;

	if (pem) {
		b = BIO_new_mem_buf(pem, -1);
		key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
		BIO_free(b);
		if (key && !EVP_PKEY_is_a(key, "RSA")) {
			EVP_PKEY_free(key);
			key = NULL;
		}
	} else {
		key = EVP_RSA_gen(2048);
	}
	if (!key)
		return -1;
	n = i2d_PUBKEY(key, &der);
	if (n <= 0 || !EVP_Digest(der, (size_t)n, h, &hl, EVP_sha256(), NULL)) {
		OPENSSL_free(der);
		return -1;
	}
	OPENSSL_free(der);
	b64url_encode(h, hl, kid);
	return 0;
}

/* At shutdown. */
void signkey_free(void)
{
	EVP_PKEY_free(key);
	key = NULL;
}

/* The key itself (private: it signs). */
EVP_PKEY *signkey(void)
{
	return key;
}

/* The key id tokens carry in their header. */
const char *signkey_kid(void)
{
	return kid;
}
