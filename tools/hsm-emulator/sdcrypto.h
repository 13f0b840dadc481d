/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cryptography of a Managed HSM security domain file, as the Azure
 * CLI's security-domain commands read and write it; used on both sides
 * (the HSM that makes and takes a security domain, and ctl's offline
 * quorum steps):
 * - compact JWE with enc A256CBC-HS512 (RFC 7518 5.2), alg RSA-OAEP-256 to
 *   a certificate's key, or "dir" under a key derived from a master key;
 * - the SP 800-108 counter-mode KDF with HMAC-SHA-512 that derives those;
 * - Shamir secret sharing of the master key, byte by byte over GF(257):
 *   share word = x << 9 | y, stored as little-endian 16-bit words.
 * Functions returning int give 0 on success and -1 on failure.
 */
#ifndef HSMEMU_SDCRYPTO_H
#define HSMEMU_SDCRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#define SD_MASTER_LEN 32        /* the master key the shares make up */
#define SD_CEK_LEN 64           /* A256CBC-HS512: MAC key, then AES key */
#define SD_MAX_SHARES 10
#define SD_MIN_SHARES 3
#define SD_MIN_QUORUM 2

/* Compact JWE of pt to pub (RSA-OAEP-256, a fresh CEK); malloc'd. */
char *jwe_seal_rsa(EVP_PKEY *pub, const uint8_t *pt, size_t n);
/* Opens an RSA-OAEP-256 (or RSA-OAEP) JWE; *pt malloc'd, wiped by caller. */
int jwe_open_rsa(EVP_PKEY *priv, const char *compact, uint8_t **pt, size_t *n);
/* "dir" JWE under cek, with kid in the header; malloc'd. */
char *jwe_seal_dir(const uint8_t cek[SD_CEK_LEN], const char *kid,
		   const uint8_t *pt, size_t n);
int jwe_open_dir(const uint8_t cek[SD_CEK_LEN], const char *compact,
		 uint8_t **pt, size_t *n);

/* SP 800-108 counter KDF, HMAC-SHA-512, empty context, 512 bits out. */
int sd_kdf(const uint8_t *key, size_t klen, const char *label,
	   uint8_t out[SD_CEK_LEN]);

/* Splits secret (n bytes) into `shares` byte strings of 2n bytes each
 * (out[i], malloc'd), any `required` of which give it back. */
int shamir_split(const uint8_t *secret, size_t n, int shares, int required,
		 uint8_t **out);
/* Combines k shares of 2n bytes each into secret (n bytes); -1 if they
 * are malformed (not a share of any secret), never if merely wrong. */
int shamir_combine(uint8_t *const *shares, int k, size_t n, uint8_t *secret);

/* base64url SHA-256 (or SHA-1) of a certificate's DER, as x5t#S256. */
int sd_thumbprint(X509 *x, const EVP_MD *md, char out[48]);
/* The certificate of x5c[0] (standard base64 DER), or NULL. */
X509 *sd_cert_from_x5c(const cJSON *jwk);
/* A JWK of a certificate's RSA key as the security-domain calls carry it:
 * kid, kty, key_ops, alg RSA-OAEP-256, n, e, x5c, x5t, x5t#S256. */
cJSON *sd_cert_jwk(X509 *x, const char *kid, const char *const *ops);

#endif
