/* SPDX-License-Identifier: Apache-2.0 */
/* RSA public keys of JsonWebKeys. */
#include <string.h>

#include <openssl/crypto.h>

#include "common/b64.h"
#include "hsmclient/azure/jwk.h"
#include "hsmclient/rsa.h"

EVP_PKEY *rsa_from_jwk(const char *n64, const char *e64)
{
	uint8_t n[RSA_N_MAX], e[8];
	long nl = b64_decode_any(n64, strlen(n64), n, sizeof(n));
	long el = b64_decode_any(e64, strlen(e64), e, sizeof(e));

	if (nl < 1 || el < 1)
		return NULL;
	return rsa_pub_new(n, (size_t)nl, e, (size_t)el);
}
