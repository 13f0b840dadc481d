/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "common/b64.h"
#include "names.h"

#define SIV_TAG KEYS_SIV_TAG
#define GCM_NONCE 12
#define GCM_TAG 16
_Static_assert(GCM_NONCE + GCM_TAG == XATTR_VAL_OVERHEAD,
	       "names.h states the GCM overhead");

static pthread_once_t once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *gcm;

static void init_once(void)
{
	gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

static int ciphers(void)
{
	pthread_once(&once, init_once);
	return gcm ? 0 : -EIO;
}

struct names_keys *names_keys_new(const uint8_t vk[KEY_LEN])
{
	struct names_keys *k = secmem_alloc(sizeof(*k));

	if (!k)
		return NULL;
	if (keys_hkdf(vk, KEY_LEN, KDF_NAMES, k->names, sizeof(k->names)) ||
	    keys_hkdf(vk, KEY_LEN, KDF_XATTR_NAME, k->xattr_names,
		      sizeof(k->xattr_names)) ||
	    keys_hkdf(vk, KEY_LEN, KDF_XATTR_VAL, k->xattr_vals,
		      sizeof(k->xattr_vals)) ||
	    keys_hkdf(vk, KEY_LEN, KDF_SYMLINK, k->symlink,
		      sizeof(k->symlink)) ||
	    keys_hkdf(vk, KEY_LEN, KDF_XATTR_HASH, k->xattr_hash,
		      sizeof(k->xattr_hash)) ||
	    keys_hkdf(vk, KEY_LEN, KDF_DIRIV_MAC, k->diriv_mac,
		      sizeof(k->diriv_mac))) {
		secmem_free(k, sizeof(*k));
		return NULL;
	}
	return k;
}

void names_keys_free(struct names_keys *k)
{
	secmem_free(k, sizeof(*k));
}

/* PKCS#7 to a multiple of 16, so that only a length class leaks. */
static size_t pad16(const char *in, size_t n, uint8_t *out)
{
	size_t p = 16 - n % 16;

	memcpy(out, in, n);
	memset(out + n, (int)p, p);
	return n + p;
}

static int unpad16(const uint8_t *in, size_t n)
{
	uint8_t p;

	if (n == 0 || n % 16)
		return -EINVAL;
	p = in[n - 1];
	if (p == 0 || p > 16 || p > n)
		return -EINVAL;
	for (size_t i = n - p; i < n; i++)
		if (in[i] != p)
			return -EINVAL;
	return (int)(n - p);
}

static int seal_name(const uint8_t key[64], const uint8_t *ad, size_t adlen,
		     const char *name, size_t len, char *out, size_t cap)
{
	uint8_t padded[272], ct[SIV_TAG + 272];
	size_t pn;
	int err;

	if (len == 0 || len > 255 || memchr(name, '/', len) ||
	    memchr(name, '\0', len))
		return -EINVAL;
	pn = pad16(name, len, padded);
	if (B64_ENC_LEN(SIV_TAG + pn) + 1 > cap)
		return -EINVAL;
	if ((err = keys_siv_seal(key, ad, adlen, padded, pn, ct)))
		return err;
	b64url_encode(ct, SIV_TAG + pn, out);
	return (int)B64_ENC_LEN(SIV_TAG + pn);
}

static int open_name(const uint8_t key[64], const uint8_t *ad, size_t adlen,
		     const char *enc, size_t len, char *out, size_t cap)
{
	uint8_t ct[SIV_TAG + 272], pt[272];
	long n = b64url_decode(enc, len, ct, sizeof(ct));
	int pl;

	if (n < SIV_TAG + 16 || (n - SIV_TAG) % 16)
		return -EINVAL;
	if ((pl = keys_siv_open(key, ad, adlen, ct, (size_t)n, pt)))
		return pl;
	/* Authentic but no name: made by a holder of the key, still refused. */
	pl = unpad16(pt, (size_t)n - SIV_TAG);
	if (pl <= 0 || (size_t)pl >= cap || memchr(pt, '/', (size_t)pl) ||
	    memchr(pt, '\0', (size_t)pl))
		pl = -EINVAL;
	else
		memcpy(out, pt, (size_t)pl);
	secmem_wipe(pt, sizeof(pt));
	if (pl < 0)
		return pl;
	out[pl] = '\0';
	return pl;
}

int names_encrypt(const struct names_keys *k, const uint8_t diriv[DIRIV_LEN],
		  const char *name, size_t len, char out[NAME_ENC_MAX])
{
	return seal_name(k->names, diriv, DIRIV_LEN, name, len, out,
			 NAME_ENC_MAX);
}

int names_decrypt(const struct names_keys *k, const uint8_t diriv[DIRIV_LEN],
		  const char *enc, size_t len, char out[256])
{
	int n = open_name(k->names, diriv, DIRIV_LEN, enc, len, out, 256);

	if (n < 0)
		return n;
	if (strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
		return -EINVAL;
	return n;
}

void names_long(const char *enc, size_t len, char out[LONG_NAME_LEN + 1])
{
	uint8_t h[SHA256_DIGEST_LENGTH];

	SHA256((const uint8_t *)enc, len, h);
	memcpy(out, LONG_PREFIX, sizeof(LONG_PREFIX) - 1);
	b64url_encode(h, sizeof(h), out + sizeof(LONG_PREFIX) - 1);
}

int names_is_long(const char *name)
{
	return strncmp(name, LONG_PREFIX, sizeof(LONG_PREFIX) - 1) == 0 &&
	       strlen(name) == LONG_NAME_LEN;
}

int names_is_sidecar(const char *name)
{
	return strncmp(name, LONG_PREFIX, sizeof(LONG_PREFIX) - 1) == 0 &&
	       strlen(name) == LONG_NAME_LEN + sizeof(LONG_SUFFIX) - 1 &&
	       strcmp(name + LONG_NAME_LEN, LONG_SUFFIX) == 0;
}

int names_is_tmp(const char *name)
{
	size_t p = sizeof(TMP_PREFIX) - 1;

	return strncmp(name, TMP_PREFIX, p) == 0 &&
	       strlen(name) == TMP_NAME_LEN &&
	       strspn(name + p, "0123456789abcdef") == 16;
}

int names_tmp(char out[TMP_NAME_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t r[8];
	size_t p = sizeof(TMP_PREFIX) - 1;

	int err = keys_random(r, sizeof(r));

	if (err)
		return err;
	memcpy(out, TMP_PREFIX, p);
	for (int i = 0; i < 8; i++) {
		out[p + 2 * i] = hex[r[i] >> 4];
		out[p + 2 * i + 1] = hex[r[i] & 15];
	}
	out[TMP_NAME_LEN] = '\0';
	return 0;
}

/* out = nonce || ct || tag; AES-256-GCM. */
static int gcm_seal(const uint8_t key[KEY_LEN], const uint8_t *aad,
		    size_t aadlen, const uint8_t *in, size_t n, uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int len, ret = c ? ciphers() : -ENOMEM;

	if (!ret)
		ret = keys_random(out, GCM_NONCE);
	if (ret)
		goto out;
	ret = -EIO;
	if (EVP_EncryptInit_ex2(c, gcm, key, out, NULL) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &len, aad, (int)aadlen) != 1 ||
	    (n && EVP_EncryptUpdate(c, out + GCM_NONCE, &len, in,
				    (int)n) != 1) ||
	    EVP_EncryptFinal_ex(c, out + GCM_NONCE + n, &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, GCM_TAG,
				out + GCM_NONCE + n) != 1)
		goto out;
	ret = 0;
out:
	EVP_CIPHER_CTX_free(c);
	return ret;
}

static ssize_t gcm_open(const uint8_t key[KEY_LEN], const uint8_t *aad,
			size_t aadlen, const uint8_t *in, size_t n,
			uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	size_t pn = n - GCM_NONCE - GCM_TAG;
	ssize_t ret = c ? ciphers() : -ENOMEM;
	int len;

	if (!ret && n < GCM_NONCE + GCM_TAG)
		ret = -EINVAL;
	if (ret)
		goto out;
	ret = -EIO;
	if (EVP_DecryptInit_ex2(c, gcm, key, in, NULL) != 1 ||
	    EVP_DecryptUpdate(c, NULL, &len, aad, (int)aadlen) != 1 ||
	    (pn && EVP_DecryptUpdate(c, out, &len, in + GCM_NONCE,
				     (int)pn) != 1) ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, GCM_TAG,
				(void *)(in + GCM_NONCE + pn)) != 1)
		goto wipe;
	if (EVP_DecryptFinal_ex(c, out + pn, &len) != 1) {
		ret = -EBADMSG;
		goto wipe;
	}
	ret = (ssize_t)pn;
	goto out;
wipe:
	secmem_wipe(out, pn);
out:
	EVP_CIPHER_CTX_free(c);
	return ret;
}

static const uint8_t symlink_aad[] = "hsmfs symlink";

/* A target sealed under aad (both formats' one path). */
static int symlink_seal(const struct names_keys *k, const uint8_t *aad,
			size_t an, const char *target, size_t len, char *out,
			size_t cap)
{
	uint8_t ct[SYMLINK_MAX + GCM_NONCE + GCM_TAG];
	size_t cn = len + GCM_NONCE + GCM_TAG;
	int err;

	if (len == 0 || len > SYMLINK_MAX || B64_ENC_LEN(cn) + 1 > cap)
		return -EINVAL;
	if ((err = gcm_seal(k->symlink, aad, an, (const uint8_t *)target, len,
			    ct)))
		return err;
	b64url_encode(ct, cn, out);
	return (int)B64_ENC_LEN(cn);
}

static int symlink_open(const struct names_keys *k, const uint8_t *aad,
			size_t an, const char *enc, size_t len, char *out,
			size_t cap)
{
	uint8_t ct[SYMLINK_MAX + GCM_NONCE + GCM_TAG];
	long n = b64url_decode(enc, len, ct, sizeof(ct));
	ssize_t pn;

	if (n <= GCM_NONCE + GCM_TAG ||
	    (size_t)n - GCM_NONCE - GCM_TAG >= cap)
		return -EINVAL;
	pn = gcm_open(k->symlink, aad, an, ct, (size_t)n, (uint8_t *)out);
	if (pn < 0)
		return (int)pn;
	if (pn == 0 || memchr(out, '\0', (size_t)pn))
		return -EINVAL;
	out[pn] = '\0';
	return (int)pn;
}

int names_symlink_encrypt(const struct names_keys *k, const char *target,
			  size_t len, char *out, size_t cap)
{
	return symlink_seal(k, symlink_aad, sizeof(symlink_aad), target, len,
			    out, cap);
}

int names_symlink_decrypt(const struct names_keys *k, const char *enc,
			  size_t len, char *out, size_t cap)
{
	return symlink_open(k, symlink_aad, sizeof(symlink_aad), enc, len, out,
			    cap);
}

ssize_t names_symlink_plain_len(size_t len)
{
	size_t raw = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);

	if (len % 4 == 1 || raw <= GCM_NONCE + GCM_TAG)
		return -EINVAL;
	return (ssize_t)(raw - GCM_NONCE - GCM_TAG);
}

static const uint8_t xattr_ad[] = "hsmfs xattr name";

int names_xattr_name(const struct names_keys *k, const char *name,
		     char *out, size_t cap)
{
	int n;

	if (strncmp(name, "user.", 5) != 0 || cap < 6)
		return -EINVAL;
	memcpy(out, "user.", 5);
	n = seal_name(k->xattr_names, xattr_ad, sizeof(xattr_ad), name + 5,
		      strlen(name + 5), out + 5, cap - 5);
	return n < 0 ? n : n + 5;
}

int names_xattr_name_dec(const struct names_keys *k, const char *enc,
			 char *out, size_t cap)
{
	int n;

	if (strncmp(enc, "user.", 5) != 0 || cap < 6)
		return -EINVAL;
	memcpy(out, "user.", 5);
	n = open_name(k->xattr_names, xattr_ad, sizeof(xattr_ad), enc + 5,
		      strlen(enc + 5), out + 5, cap - 5);
	return n < 0 ? n : n + 5;
}

int names_xattr_val_enc(const struct names_keys *k, const char *encname,
			const uint8_t *val, size_t n, uint8_t *out)
{
	return gcm_seal(k->xattr_vals, (const uint8_t *)encname,
			strlen(encname), val, n, out);
}

ssize_t names_xattr_val_dec(const struct names_keys *k, const char *encname,
			    const uint8_t *in, size_t n, uint8_t *out)
{
	return gcm_open(k->xattr_vals, (const uint8_t *)encname,
			strlen(encname), in, n, out);
}

/* Format 3. */

int names_diriv_tag(const struct names_keys *k, const uint8_t iv[DIRIV_LEN],
		    uint8_t tag[DIRIV_LEN])
{
	uint8_t mac[32];

	if (keys_hmac(k->diriv_mac, iv, DIRIV_LEN, mac))
		return -EIO;
	memcpy(tag, mac, DIRIV_LEN);
	return 0;
}

/* Format 3's associated data: label || a 16-byte id (a directory IV, an
 * entry id) || a name (up to 255 bytes), the name last so that its length
 * needs no field. aad holds BOUND_AAD_MAX bytes; returns the length. */
#define BOUND_AAD_MAX (16 + 16 + 255)
static size_t bound_aad(const char *label, const uint8_t id[16],
			const char *name, uint8_t *aad)
{
	size_t l = strlen(label), n = strnlen(name, 255);

	memcpy(aad, label, l);
	memcpy(aad + l, id, 16);
	memcpy(aad + l + 16, name, n);
	return l + 16 + n;
}

int names_symlink3_encrypt(const struct names_keys *k,
			   const uint8_t diriv[DIRIV_LEN], const char *name,
			   const char *target, size_t len, char *out,
			   size_t cap)
{
	uint8_t aad[BOUND_AAD_MAX];
	size_t an = bound_aad("hsmfs symlink v3", diriv, name, aad);

	return symlink_seal(k, aad, an, target, len, out, cap);
}

int names_symlink3_decrypt(const struct names_keys *k,
			   const uint8_t diriv[DIRIV_LEN], const char *name,
			   const char *enc, size_t len, char *out, size_t cap)
{
	uint8_t aad[BOUND_AAD_MAX];
	size_t an = bound_aad("hsmfs symlink v3", diriv, name, aad);

	return symlink_open(k, aad, an, enc, len, out, cap);
}

/* The part of an xattr name after "user.": its length, or -EINVAL. */
static int xattr3_rest(const char *name)
{
	size_t n;

	if (strncmp(name, "user.", 5) != 0)
		return -EINVAL;
	n = strnlen(name + 5, XATTR3_NAME_MAX + 1);
	return n == 0 || n > XATTR3_NAME_MAX ? -EINVAL : (int)n;
}

int names_xattr3_name(const struct names_keys *k, int plaintext,
		      const uint8_t eid[ID_LEN], const char *name, char *out,
		      size_t cap)
{
	uint8_t msg[ID_LEN + XATTR3_NAME_MAX], mac[32];
	int n = xattr3_rest(name);

	if (n < 0)
		return n;
	if (plaintext) {
		if ((size_t)n + 6 > cap)
			return -EINVAL;
		memcpy(out, name, (size_t)n + 6);
		return n + 5;
	}
	if (cap < XATTR3_HASH_NAME_LEN + 1)
		return -EINVAL;
	memcpy(msg, eid, ID_LEN);
	memcpy(msg + ID_LEN, name + 5, (size_t)n);
	if (keys_hmac(k->xattr_hash, msg, ID_LEN + (size_t)n, mac))
		return -EIO;
	memcpy(out, "user.", 5);
	b64url_encode(mac, 16, out + 5);
	return XATTR3_HASH_NAME_LEN;
}

ssize_t names_xattr3_seal(const struct names_keys *k,
			  const uint8_t eid[ID_LEN], const char *bname,
			  const char *name, const uint8_t *val, size_t n,
			  uint8_t *out, size_t cap)
{
	uint8_t aad[BOUND_AAD_MAX], *pt;
	int nl = xattr3_rest(name);
	size_t pn, an = bound_aad("hsmfs xattr v3", eid, bname, aad);
	int err;

	if (nl < 0)
		return nl;
	pn = 1 + (size_t)nl + n;
	if (pn + XATTR_VAL_OVERHEAD > cap)
		return -ERANGE;
	if (!(pt = malloc(pn)))
		return -ENOMEM;
	pt[0] = (uint8_t)nl;
	memcpy(pt + 1, name + 5, (size_t)nl);
	if (n)
		memcpy(pt + 1 + nl, val, n);
	err = gcm_seal(k->xattr_vals, aad, an, pt, pn, out);
	secmem_wipe(pt, pn);
	free(pt);
	return err ? err : (ssize_t)(pn + XATTR_VAL_OVERHEAD);
}

ssize_t names_xattr3_open(const struct names_keys *k,
			  const uint8_t eid[ID_LEN], const char *bname,
			  const uint8_t *in, size_t n, char name[256],
			  uint8_t *val, size_t cap)
{
	uint8_t aad[BOUND_AAD_MAX], *pt;
	size_t an = bound_aad("hsmfs xattr v3", eid, bname, aad), pn, nl;
	ssize_t r;

	if (n < XATTR_VAL_OVERHEAD + 2)
		return -EINVAL;
	pn = n - XATTR_VAL_OVERHEAD;
	if (!(pt = malloc(pn)))
		return -ENOMEM;
	r = gcm_open(k->xattr_vals, aad, an, in, n, pt);
	if (r < 0)
		goto out;
	nl = pt[0];
	if (nl == 0 || nl > XATTR3_NAME_MAX || nl + 1 > pn ||
	    memchr(pt + 1, '\0', nl)) {
		r = -EINVAL;
		goto out;
	}
	r = (ssize_t)(pn - 1 - nl);
	if ((size_t)r > cap) {
		r = -ERANGE;
		goto out;
	}
	memcpy(name, "user.", 5);
	memcpy(name + 5, pt + 1, nl);
	name[5 + nl] = '\0';
	if (r)
		memcpy(val, pt + 1 + nl, (size_t)r);
out:
	secmem_wipe(pt, pn);
	free(pt);
	return r;
}
