/* SPDX-License-Identifier: Apache-2.0 */
/* KEK versions on a token: objects of one label told apart by CKA_ID. */
#include <stdio.h>
#include <string.h>

#include "hsmclient/pkcs11/err.h"
#include "hsmclient/pkcs11/keys.h"
#include "hsmclient/rsa.h"

#define FIND_MAX 64 /* objects of one label considered */

/* Handles of objects of class cls and label (and CKA_ID id if given). */
static CK_RV find(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s,
		  CK_OBJECT_CLASS cls, const char *label, const uint8_t *id,
		  size_t idlen, CK_OBJECT_HANDLE *h, CK_ULONG *n)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, (void *)id, idlen },
	};
	CK_RV rv = f->C_FindObjectsInit(s, t, id ? 3 : 2);

	*n = 0;
	if (rv != CKR_OK)
		return rv;
	rv = f->C_FindObjects(s, h, FIND_MAX, n);
	f->C_FindObjectsFinal(s);
	return rv;
}

/* CKA_ID of h into id[P11_ID_MAX]. */
static CK_RV get_id(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s,
		    CK_OBJECT_HANDLE h, uint8_t *id, size_t *idlen)
{
	CK_ATTRIBUTE a = { CKA_ID, id, P11_ID_MAX };
	CK_RV rv = f->C_GetAttributeValue(s, h, &a, 1);

	*idlen = rv == CKR_OK && a.ulValueLen != CK_UNAVAILABLE_INFORMATION ?
			 a.ulValueLen : 0;
	return rv == CKR_BUFFER_TOO_SMALL ? CKR_OK : rv;
}

/* The object to use among h[n]: the one with the greatest CKA_ID, or the
 * only one with CKA_ID id. */
static enum kek_status pick(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s,
			    const struct p11uri *u, const CK_OBJECT_HANDLE *h,
			    CK_ULONG n, bool exact, struct p11key *k,
			    CK_RV *rv, char *err)
{
	uint8_t id[P11_ID_MAX];
	size_t idlen;

	if (exact && n > 1) {
		snprintf(err, KEK_ERR_MAX, "PKCS#11 token '%s' has %lu objects "
			 "labelled '%.64s' with the same CKA_ID", u->token,
			 (unsigned long)n, u->object);
		return KEK_E_INVAL;
	}
	k->idlen = 0;
	for (CK_ULONG i = 0; i < n; i++) {
		*rv = get_id(f, s, h[i], id, &idlen);
		if (*rv != CKR_OK)
			return p11err(*rv, "PKCS#11 C_GetAttributeValue(CKA_ID)",
				      err);
		if (!idlen)
			continue; /* no CKA_ID, or one too long: no version */
		if (k->idlen &&
		    p11uri_id_cmp(id, idlen, k->id, k->idlen) == 0) {
			snprintf(err, KEK_ERR_MAX, "PKCS#11 token '%s': two "
				 "objects labelled '%.64s' share a CKA_ID",
				 u->token, u->object);
			return KEK_E_INVAL;
		}
		if (!k->idlen ||
		    p11uri_id_cmp(id, idlen, k->id, k->idlen) > 0) {
			memcpy(k->id, id, idlen);
			k->idlen = idlen;
			k->h = h[i];
		}
	}
	if (k->idlen)
		return KEK_OK;
	snprintf(err, KEK_ERR_MAX, "PKCS#11 token '%s' has no %s labelled "
		 "'%.64s'%s", u->token, u->type == P11_TYPE_PRIVATE ?
		 "private key" : "secret key", u->object,
		 exact ? " with that CKA_ID" : " with a CKA_ID");
	return KEK_E_NOTFOUND;
}

/* Type, size and permitted operations of k->h. */
static enum kek_status attrs(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s,
			     const struct p11uri *u, struct p11key *k,
			     CK_RV *last, char *err)
{
	CK_KEY_TYPE kt = (CK_KEY_TYPE)-1;
	CK_BBOOL un = 0, de = 0, wr = 0, en = 0, ex = 0, se = 1;
	CK_ULONG vlen = 0;
	CK_ATTRIBUTE a[] = {
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_UNWRAP, &un, sizeof(un) },
		{ CKA_DECRYPT, &de, sizeof(de) },
		{ CKA_WRAP, &wr, sizeof(wr) },
		{ CKA_ENCRYPT, &en, sizeof(en) },
		{ CKA_EXTRACTABLE, &ex, sizeof(ex) },
		{ CKA_SENSITIVE, &se, sizeof(se) },
		{ CKA_VALUE_LEN, &vlen, sizeof(vlen) },
	};
	CK_KEY_TYPE want = u->type == P11_TYPE_PRIVATE ? CKK_RSA : CKK_AES;
	CK_ULONG n = u->type == P11_TYPE_PRIVATE ? 7 : 8;
	CK_RV rv = f->C_GetAttributeValue(s, k->h, a, n);

	/* Attributes a token does not have for this key come back with
	 * CKR_ATTRIBUTE_TYPE_INVALID, their values untouched (the defaults
	 * above: allowed nothing, sensitive), the others filled in. */
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID &&
	    rv != CKR_ATTRIBUTE_SENSITIVE) {
		*last = rv;
		return p11err(rv, "PKCS#11 C_GetAttributeValue", err);
	}
	if (kt != want) {
		snprintf(err, KEK_ERR_MAX, "PKCS#11 key '%.64s' is not an %s "
			 "key (type=%s)", u->object, want == CKK_RSA ? "RSA" :
			 "AES", p11uri_type_name(u->type));
		return KEK_E_INVAL;
	}
	k->unwrap = un;
	k->decrypt = de;
	k->wrap = wr;
	k->encrypt = en;
	k->exposed = ex || !se;
	k->bits = want == CKK_AES ? (unsigned)vlen * 8 : 0;
	return KEK_OK;
}

/* CKA_MODULUS and CKA_PUBLIC_EXPONENT of h, as a public key. */
static EVP_PKEY *pub_of(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s,
			CK_OBJECT_HANDLE h)
{
	uint8_t nb[RSA_N_MAX], eb[8];
	CK_ATTRIBUTE a[] = {
		{ CKA_MODULUS, nb, sizeof(nb) },
		{ CKA_PUBLIC_EXPONENT, eb, sizeof(eb) },
	};

	if (f->C_GetAttributeValue(s, h, a, 2) != CKR_OK ||
	    a[0].ulValueLen > sizeof(nb) || a[1].ulValueLen > sizeof(eb))
		return NULL;
	return rsa_pub_new(nb, a[0].ulValueLen, eb, a[1].ulValueLen);
}

/* The public half of RSA version k: the public-key object of its label
 * and CKA_ID, or the modulus on the private key. Both, if the token
 * shows both, must be one key: DEKs wrapped to a public key the private
 * key does not match could never be unwrapped (or only by whoever
 * planted it). */
static enum kek_status rsa_pub(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s,
			       const struct p11uri *u, struct p11key *k,
			       char *err)
{
	CK_OBJECT_HANDLE h[FIND_MAX];
	CK_ULONG n = 0;
	EVP_PKEY *own = pub_of(f, s, k->h);

	if (find(f, s, CKO_PUBLIC_KEY, u->object, k->id, k->idlen, h, &n) ==
		    CKR_OK && n == 1)
		k->pub = pub_of(f, s, h[0]);
	if (k->pub && own && EVP_PKEY_eq(k->pub, own) != 1) {
		snprintf(err, KEK_ERR_MAX, "PKCS#11 key '%.64s': the public "
			 "key of the same label and CKA_ID is not the private "
			 "key's (its CKA_MODULUS differs)", u->object);
		EVP_PKEY_free(own);
		return KEK_E_INVAL;
	}
	if (!k->pub) {
		k->pub = own;
		own = NULL;
	}
	EVP_PKEY_free(own);
	if (!k->pub) {
		snprintf(err, KEK_ERR_MAX, "PKCS#11 key '%.64s': no RSA public "
			 "key of 2048 to 4096 bits found (a public-key object "
			 "with the same label and CKA_ID, or CKA_MODULUS on the "
			 "private key)", u->object);
		return KEK_E_INVAL;
	}
	k->bits = (unsigned)EVP_PKEY_get_bits(k->pub);
	return KEK_OK;
}

enum kek_status p11keys_find(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s,
			     const struct p11uri *u, const uint8_t *id,
			     size_t idlen, bool want_pub, struct p11key *k,
			     CK_RV *rv, char *err)
{
	CK_OBJECT_CLASS cls = u->type == P11_TYPE_PRIVATE ? CKO_PRIVATE_KEY :
							    CKO_SECRET_KEY;
	CK_OBJECT_HANDLE h[FIND_MAX];
	CK_ULONG n;
	enum kek_status st;

	memset(k, 0, sizeof(*k));
	*rv = find(f, s, cls, u->object, id, idlen, h, &n);
	if (*rv != CKR_OK)
		return p11err(*rv, "PKCS#11 C_FindObjects", err);
	st = pick(f, s, u, h, n, id != NULL, k, rv, err);
	if (st == KEK_OK)
		st = attrs(f, s, u, k, rv, err);
	if (st == KEK_OK && want_pub && u->type == P11_TYPE_PRIVATE)
		st = rsa_pub(f, s, u, k, err);
	if (st != KEK_OK) {
		EVP_PKEY_free(k->pub);
		k->pub = NULL;
	}
	return st;
}
