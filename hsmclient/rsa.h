/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local half of RSA KEKs, shared by the providers: a public key from
 * its modulus and exponent, RSAES-OAEP wraps with it (SHA-256,
 * MGF1-SHA-256), so that wraps need no HSM call; and the OAEP decoding
 * of a raw RSA decryption, for HSMs that decrypt RSA but not
 * OAEP-SHA-256. Calls that can fail return a kek_status and, on failure,
 * one line in err[KEK_ERR_MAX].
 */
#ifndef HSMFS_RSA_H
#define HSMFS_RSA_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "hsmclient/kek.h"

#define RSA_N_MAX 512 /* RSA-4096 */

/* RSA public key from big-endian modulus n and exponent e; NULL if
 * malformed, under 2048 bits or with an even or unit exponent. */
EVP_PKEY *rsa_pub_new(const uint8_t *n, size_t nl, const uint8_t *e,
		      size_t el);
/* RSA-OAEP-256 of in[] into out[KEK_WRAPPED_MAX]. */
enum kek_status rsa_wrap(EVP_PKEY *pub, const uint8_t *in, size_t inlen,
			 uint8_t *out, size_t *outlen, char *err);
/* The message of em[], a raw RSA decryption (RSAES-OAEP encoded block,
 * SHA-256, MGF1-SHA-256, empty label) of a key of modlen bytes, into
 * out (*outlen: its size in, the message's length out). Decoding runs in
 * constant time and every failure is the same KEK_E_CRYPTO, so that no
 * caller can tell where a block went wrong. */
enum kek_status rsa_oaep_decode(const uint8_t *em, size_t emlen,
				size_t modlen, uint8_t *out, size_t *outlen,
				char *err);

#endif
