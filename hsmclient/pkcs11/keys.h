/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The versions of a KEK on its token. A version is an object of the
 * URI's label and class (CKO_PRIVATE_KEY for type=private, else
 * CKO_SECRET_KEY) told apart by CKA_ID; rotating the KEK is making a new
 * object with the same label and a greater CKA_ID. The current version
 * is the greatest CKA_ID (unsigned big-endian, the longer greater);
 * p11keys_find finds it, or the one with a given CKA_ID, and reads what
 * hsmfs needs: key type and size, the operations the key allows, and
 * for RSA the public key (from the public-key object of the same label
 * and CKA_ID, else from the private key's own CKA_MODULUS and
 * CKA_PUBLIC_EXPONENT). Calls return a kek_status and on failure write
 * one line into err[KEK_ERR_MAX].
 */
#ifndef HSMFS_P11_KEYS_H
#define HSMFS_P11_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#include "hsmclient/kek.h"
#include "hsmclient/pkcs11/uri.h"

struct p11key {
	CK_OBJECT_HANDLE h;
	uint8_t id[P11_ID_MAX];
	size_t idlen;
	unsigned bits;
	bool unwrap, decrypt; /* CKA_UNWRAP, CKA_DECRYPT */
	bool wrap, encrypt;   /* CKA_WRAP, CKA_ENCRYPT (AES) */
	bool exposed;         /* extractable or not sensitive */
	EVP_PKEY *pub;        /* RSA only; the caller frees it */
};

/* The version of u's key whose CKA_ID is id[idlen], or the current one if
 * id is NULL; its public key too if want_pub. KEK_E_NOTFOUND if there is
 * none; KEK_E_INVAL if two objects share label and CKA_ID, or the key is
 * not the URI's type. *rv: the CKR_* of a PKCS#11 call that failed
 * (CKR_OK if none did), so that the caller can tell a lost session. */
enum kek_status p11keys_find(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s,
			     const struct p11uri *u, const uint8_t *id,
			     size_t idlen, bool want_pub, struct p11key *k,
			     CK_RV *rv, char *err);

#endif
