/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RSA key that signs access tokens (RS256), kept in state.json so that
 * a copy of the state directory honours the same tokens, and published in
 * the JWKS under its kid. Set up once by store_open, constant after.
 */
#ifndef HSMEMU_SIGNKEY_H
#define HSMEMU_SIGNKEY_H

#include <openssl/evp.h>

/* Loads the key from its PEM, or makes a new one for NULL; 0 on success. */
int signkey_init(const char *pem);
void signkey_free(void);
EVP_PKEY *signkey(void);
/* base64url SHA-256 of the public key's DER (SubjectPublicKeyInfo). */
const char *signkey_kid(void);

#endif
