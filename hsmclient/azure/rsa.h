/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local half of RSA KEKs: the public key from the HSM's JsonWebKey,
 * and RSAES-OAEP wraps with it (SHA-256, MGF1-SHA-256), so that wraps
 * need no HSM call. Wraps return a kek_status and, on failure, one line
 * in err[KEK_ERR_MAX].
 */
#ifndef HSMFS_AZ_RSA_H
#define HSMFS_AZ_RSA_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "hsmclient/kek.h"

/* RSA public key from base64 (either alphabet) modulus n and exponent e;
 * NULL if malformed, under 2048 bits or with an even or unit exponent. */
EVP_PKEY *rsa_from_jwk(const char *n64, const char *e64);
/* RSA-OAEP-256 of in[] into out[KEK_WRAPPED_MAX]. */
enum kek_status rsa_wrap(EVP_PKEY *pub, const uint8_t *in, size_t inlen,
			 uint8_t *out, size_t *outlen, char *err);

#endif
