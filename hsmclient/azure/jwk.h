/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RSA public key of a JsonWebKey, as the HSM answers it (base64 in
 * either alphabet), for local wraps (hsmclient/rsa.h). No error line:
 * NULL says the key is malformed or not acceptable.
 */
#ifndef HSMFS_AZ_JWK_H
#define HSMFS_AZ_JWK_H

#include <openssl/evp.h>

/* RSA public key from modulus n and exponent e; NULL as rsa_pub_new. */
EVP_PKEY *rsa_from_jwk(const char *n64, const char *e64);

#endif
