/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Client assertions for Microsoft Entra ID certificate credentials:
 * a JWT signed PS256 (RSASSA-PSS, SHA-256, MGF1-SHA-256, 32-byte salt)
 * with header x5t#S256 = base64url(SHA-256(certificate DER)). The
 * assertion returns a kek_status and on failure one line in
 * err[KEK_ERR_MAX]; the two helpers return 0, or -1 on failure.
 */
#ifndef HSMFS_AZ_JWT_H
#define HSMFS_AZ_JWT_H

#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "hsmclient/kek.h"

#define JWT_X5T_LEN 44  /* 43 base64url chars + NUL */
#define JWT_GUID_LEN 37 /* 36 chars + NUL */

/* base64url SHA-256 thumbprint of cert into out. 0 on success. */
int jwt_x5t_s256(X509 *cert, char out[JWT_X5T_LEN]);
/* A random (version 4) GUID. 0 on success. */
int jwt_guid(char out[JWT_GUID_LEN]);
/* Builds and signs the assertion: aud, iss = sub = client_id, jti random,
 * nbf = iat = now, exp = now + 600. *out is secure memory: free it with
 * secmem_strfree() (common/secmem.h). */
enum kek_status jwt_client_assertion(EVP_PKEY *key, const char *x5t_s256,
				     const char *aud, const char *client_id,
				     int64_t now, char **out, char *err);

#endif
