/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a wrapped key is, shared by the on-disk format (crypto/) and the
 * HSM client (hsmclient/): the key-wrap algorithms, whose numbers are
 * stored in headers and whose names in hsmfs.conf, and the bounds of a
 * key id and of a wrapped key.
 */
#ifndef HSMFS_WRAP_H
#define HSMFS_WRAP_H

#define KEK_KID_MAX 256       /* full versioned key id, NUL included */
#define KEK_WRAPPED_MAX 512   /* RSA-4096 ciphertext */

/* The values are stored on disk (a header slot's alg byte). */
enum kek_alg {
	KEK_ALG_NONE = 0,
	KEK_ALG_RSA_OAEP_256 = 1,
	KEK_ALG_A256KW = 2,
	KEK_ALG_AES_KW_PAD = 3, /* CKM_AES_KEY_WRAP_PAD */
	/* Not a KEK's: wrapped locally by a volume-wrap volume's wrapping
	 * key (crypto/hdr.h); never sent to an HSM. */
	KEK_ALG_WK_SIV = 4,
};

/* The JOSE name ("RSA-OAEP-256", ...; "HSMFS-WK-AES-SIV" for the local
 * one), "none" for an unknown value. */
const char *kek_alg_name(enum kek_alg alg);
/* The algorithm of a name, KEK_ALG_NONE for an unknown one. */
enum kek_alg kek_alg_from_name(const char *name);

#endif
