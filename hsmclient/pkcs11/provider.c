/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 KEK provider: open (URI, module, PIN, sessions), describe (the
 * current version), wrap (local RSA-OAEP-256, or in the HSM for AES),
 * unwrap (in the HSM), owns and stats.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/secmem.h"
#include "hsmclient/pkcs11/err.h"
#include "hsmclient/pkcs11/keys.h"
#include "hsmclient/pkcs11/module.h"
#include "hsmclient/pkcs11/pin.h"
#include "hsmclient/pkcs11/pool.h"
#include "hsmclient/pkcs11/provider.h"
#include "hsmclient/pkcs11/uri.h"
#include "hsmclient/rsa.h"
#include "hsmclient/stats.h"

#define CACHE_N 8 /* versions whose handles are kept */

struct cached {
	struct p11key k; /* without pub */
	unsigned gen;    /* of the pool when found; 0: empty slot */
};

struct p11kek {
	struct kek base;
	struct p11uri u;
	CK_FUNCTION_LIST *f;
	struct p11pool *pool;
	struct stats *stats;
	enum kek_alg want;

	pthread_mutex_t lock; /* what follows */
	bool described;
	struct kek_info info;
	struct p11key cur; /* the version wraps use; cur.pub for RSA */
	bool raw_rsa;      /* the token decrypts RSA but not OAEP-SHA-256 */
	bool warned;
	uint8_t used[P11_ID_MAX]; /* the version used last, for status */
	size_t usedlen;
	const char *how_mech, *how_call; /* the last unwrap's, for status */
	struct cached cache[CACHE_N];
	unsigned next;
};

/* One operation's session. rv: the last CKR_* it got, which decides
 * whether the sessions are lost (or a handle stale) and one more try
 * may work. */
struct call {
	struct p11kek *k;
	CK_SESSION_HANDLE s;
	unsigned gen;
	CK_RV rv;
};

typedef enum kek_status (*op_fn)(struct call *c, void *arg, char *err);

static enum kek_status ckr(struct call *c, CK_RV rv, const char *what,
			   char *err)
{
	char w[200];

	c->rv = rv;
	snprintf(w, sizeof(w), "PKCS#11 key '%.64s' on token '%s': %s",
		 c->k->u.object, c->k->u.token, what);
	return p11err(rv, w, err);
}

/* ---- version handles --------------------------------------------------- */

static void cache_drop(struct p11kek *k)
{
	pthread_mutex_lock(&k->lock);
	memset(k->cache, 0, sizeof(k->cache));
	pthread_mutex_unlock(&k->lock);
}

/* Version id of the key, its handle from the cache if found in this
 * generation of sessions (the pool's gen + 1, so that 0 is empty). */
static enum kek_status version(struct call *c, const uint8_t *id,
			       size_t idlen, struct p11key *out, char *err)
{
	struct p11kek *k = c->k;
	enum kek_status st;

	pthread_mutex_lock(&k->lock);
	for (int i = 0; i < CACHE_N; i++) {
		struct cached *e = &k->cache[i];

		if (e->gen == c->gen + 1 &&
		    !p11uri_id_cmp(e->k.id, e->k.idlen, id, idlen)) {
			*out = e->k;
			pthread_mutex_unlock(&k->lock);
			return KEK_OK;
		}
	}
	pthread_mutex_unlock(&k->lock);
	st = p11keys_find(k->f, c->s, &k->u, id, idlen, false, out, &c->rv,
			  err);
	if (st != KEK_OK)
		return st;
	pthread_mutex_lock(&k->lock);
	k->cache[k->next].k = *out;
	k->cache[k->next].gen = c->gen + 1;
	k->next = (k->next + 1) % CACHE_N;
	pthread_mutex_unlock(&k->lock);
	return KEK_OK;
}

/* Notes version id as the one used last, and how it unwrapped (mech
 * and call: static strings). */
static void used(struct p11kek *k, const uint8_t *id, size_t idlen,
		 const char *mech, const char *call)
{
	pthread_mutex_lock(&k->lock);
	memcpy(k->used, id, idlen);
	k->usedlen = idlen;
	k->how_mech = mech;
	k->how_call = call;
	pthread_mutex_unlock(&k->lock);
}

/* ---- sessions ------------------------------------------------------------ */

/* Runs fn on a pooled session; if the sessions turn out lost, reopens
 * them (and logs in) and tries once more; if a handle turns out stale
 * (the object was deleted or the token re-inserted), finds it again and
 * tries once more; if the key is not found, has the module look at its
 * tokens again (p11pool_recover's reinit, rate-limited) and tries once
 * more: a deleted key stays not found, a token the module lost sight of
 * is found again. */
static enum kek_status with_session(struct p11kek *k, op_fn fn, void *arg,
				    char *err)
{
	bool recovered = false, refound = false, reinit = false;
	enum kek_status st;

	for (;;) {
		struct call c = { .k = k };

		st = p11pool_get(k->pool, &c.s, &c.gen, err);
		if (st == KEK_OK) {
			st = fn(&c, arg, err);
			p11pool_put(k->pool, c.s, c.gen);
		} else if (st == KEK_E_UNAVAILABLE) {
			c.rv = CKR_SESSION_HANDLE_INVALID;
		}
		if (st == KEK_OK)
			return st;
		if (p11err_lost(c.rv) && !recovered) {
			recovered = true;
			st = p11pool_recover(k->pool, c.gen, false, err);
			if (st != KEK_OK)
				return st;
		} else if (p11err_stale_handle(c.rv) && !refound) {
			refound = true;
			cache_drop(k);
		} else if (st == KEK_E_NOTFOUND && !reinit) {
			reinit = true;
			if (p11pool_recover(k->pool, c.gen, true, err) ==
			    KEK_E_NOTFOUND)
				return st;
		} else {
			return st;
		}
		stats_retry(k->stats);
	}
}

static enum kek_status done(struct p11kek *k, int op, uint64_t t0,
			    enum kek_status st, const char *err)
{
	stats_record(k->stats, op, st, (unsigned)(clock_ms() - t0),
		     st == KEK_OK ? NULL : err);
	return st;
}

/* ---- describe ------------------------------------------------------------ */

/* The algorithm hsmfs uses with k's key of the URI's type. */
static enum kek_status key_alg(const struct p11kek *k, unsigned bits,
			       enum kek_alg *alg, char *err)
{
	bool rsa = k->u.type == P11_TYPE_PRIVATE;

	*alg = rsa ? KEK_ALG_RSA_OAEP_256 :
		     k->want ? k->want : KEK_ALG_AES_KW_PAD;
	if (rsa && (bits == 2048 || bits == 3072 || bits == 4096) &&
	    (!k->want || k->want == KEK_ALG_RSA_OAEP_256))
		return KEK_OK;
	if (!rsa && *alg == KEK_ALG_AES_KW_PAD &&
	    (!bits || bits == 128 || bits == 192 || bits == 256))
		return KEK_OK;
	if (!rsa && *alg == KEK_ALG_A256KW && (!bits || bits == 256))
		return KEK_OK;
	snprintf(err, KEK_ERR_MAX, "PKCS#11 key '%.64s' (%s-%u) does not fit "
		 "algorithm %s: use RSA 2048/3072/4096 (RSA-OAEP-256) or AES "
		 "(CKM_AES_KEY_WRAP_PAD; A256KW needs AES-256)", k->u.object,
		 rsa ? "RSA" : "AES", bits, kek_alg_name(*alg));
	return KEK_E_INVAL;
}

static enum kek_status op_describe(struct call *c, void *arg, char *err)
{
	struct p11kek *k = c->k;
	struct p11key *key = arg;

	return p11keys_find(k->f, c->s, &k->u, k->u.has_id ? k->u.id : NULL,
			    k->u.idlen, true, key, &c->rv, err);
}

static enum kek_status p11_describe(struct kek *kk, struct kek_info *info,
				    char *err)
{
	struct p11kek *k = (struct p11kek *)kk;
	uint64_t t0 = clock_ms();
	struct kek_info ni = { 0 };
	struct p11key key;
	enum kek_status st;

	st = with_session(k, op_describe, &key, err);
	if (st != KEK_OK)
		return done(k, KEK_OP_GET, t0, st, err);
	st = key_alg(k, key.bits, &ni.alg, err);
	if (st == KEK_OK)
		st = p11uri_kid(&k->u, key.id, key.idlen, ni.kid, err);
	if (st != KEK_OK) {
		EVP_PKEY_free(key.pub);
		return done(k, KEK_OP_GET, t0, st, err);
	}
	snprintf(ni.kty, sizeof(ni.kty), "%s",
		 k->u.type == P11_TYPE_PRIVATE ? "RSA-HSM" : "oct-HSM");
	ni.bits = key.bits;
	ni.enabled = key.unwrap || key.decrypt;
	pthread_mutex_lock(&k->lock);
	if (key.exposed && !k->warned)
		log_warn("PKCS#11 key '%s' on token '%s' is extractable or not "
			 "sensitive: its value can leave the HSM", k->u.object,
			 k->u.token);
	k->warned |= key.exposed;
	EVP_PKEY_free(k->cur.pub);
	k->cur = key;
	k->info = ni;
	k->described = true;
	memcpy(k->used, key.id, key.idlen);
	k->usedlen = key.idlen;
	pthread_mutex_unlock(&k->lock);
	*info = ni;
	return done(k, KEK_OP_GET, t0, KEK_OK, err);
}

/* ---- wrap ---------------------------------------------------------------- */

#define SESSION_KEY_N 5

/* The template of a session key holding a DEK for a moment (to wrap it,
 * or unwrapped): generic secret, never on the token, private, readable
 * by hsmfs; one more attribute (type, value) last, in t[SESSION_KEY_N]. */
static void session_key(CK_ATTRIBUTE t[SESSION_KEY_N + 1],
			CK_ATTRIBUTE_TYPE type, void *value, CK_ULONG len)
{
	static CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	static CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	const CK_ATTRIBUTE fixed[SESSION_KEY_N] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &yes, sizeof(yes) },
	};

	memcpy(t, fixed, sizeof(fixed));
	t[SESSION_KEY_N] = (CK_ATTRIBUTE){ type, value, len };
}

struct wrap_args {
	struct p11key key;
	CK_MECHANISM_TYPE mech;
	const uint8_t *in;
	size_t inlen;
	uint8_t *out;
	size_t *outlen;
};

/* C_WrapKey of a session key holding in[] (the key needs CKA_WRAP), or
 * C_Encrypt (CKA_ENCRYPT). */
static enum kek_status op_wrap(struct call *c, void *arg, char *err)
{
	struct wrap_args *a = arg;
	CK_MECHANISM m = { a->mech, NULL, 0 };
	CK_ATTRIBUTE t[SESSION_KEY_N + 1];
	CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
	CK_ULONG n = KEK_WRAPPED_MAX;
	uint8_t id[P11_ID_MAX];
	size_t idlen = a->key.idlen;
	enum kek_status st;
	CK_RV rv;

	session_key(t, CKA_VALUE, (void *)a->in, a->inlen);
	memcpy(id, a->key.id, idlen);
	st = version(c, id, idlen, &a->key, err);
	if (st != KEK_OK)
		return st;
	if (a->key.wrap) {
		rv = c->k->f->C_CreateObject(c->s, t, SESSION_KEY_N + 1,
					     &o);
		if (rv != CKR_OK)
			return ckr(c, rv, "C_CreateObject (the key to wrap)",
				   err);
		rv = c->k->f->C_WrapKey(c->s, &m, a->key.h, o, a->out, &n);
		c->k->f->C_DestroyObject(c->s, o);
	} else if (a->key.encrypt) {
		rv = c->k->f->C_EncryptInit(c->s, &m, a->key.h);
		if (rv == CKR_OK)
			rv = c->k->f->C_Encrypt(c->s, (CK_BYTE_PTR)a->in,
						a->inlen, a->out, &n);
	} else {
		snprintf(err, KEK_ERR_MAX, "PKCS#11 key '%.64s' allows neither "
			 "CKA_WRAP nor CKA_ENCRYPT", c->k->u.object);
		return KEK_E_FORBIDDEN;
	}
	if (rv != CKR_OK)
		return ckr(c, rv, a->key.wrap ? "C_WrapKey" : "C_Encrypt", err);
	*a->outlen = n;
	return KEK_OK;
}

static enum kek_status p11_wrap(struct kek *kk, const uint8_t *in,
				size_t inlen, uint8_t *out, size_t *outlen,
				char kid[KEK_KID_MAX], enum kek_alg *alg,
				char *err)
{
	struct p11kek *k = (struct p11kek *)kk;
	struct wrap_args a = { .in = in, .inlen = inlen, .out = out,
			       .outlen = outlen };
	struct kek_info info;
	EVP_PKEY *pub = NULL;
	enum kek_status st;
	uint64_t t0;

	pthread_mutex_lock(&k->lock);
	bool described = k->described;
	pthread_mutex_unlock(&k->lock);
	if (!described && (st = p11_describe(kk, &info, err)) != KEK_OK)
		return st;
	pthread_mutex_lock(&k->lock);
	info = k->info;
	a.key = k->cur;
	a.key.pub = NULL;
	if (k->cur.pub && EVP_PKEY_up_ref(k->cur.pub))
		pub = k->cur.pub;
	pthread_mutex_unlock(&k->lock);
	if (!info.enabled) {
		snprintf(err, KEK_ERR_MAX, "PKCS#11 key '%.64s' allows neither "
			 "CKA_UNWRAP nor CKA_DECRYPT: what it wraps could not "
			 "be unwrapped", k->u.object);
		st = KEK_E_FORBIDDEN;
	} else if (info.alg == KEK_ALG_RSA_OAEP_256) {
		st = pub ? rsa_wrap(pub, in, inlen, out, outlen, err) :
			   KEK_E_PROTOCOL;
	} else if (inlen == 0 || inlen > KEK_WRAPPED_MAX - 16 ||
		   (info.alg == KEK_ALG_A256KW && (inlen < 16 || inlen % 8))) {
		snprintf(err, KEK_ERR_MAX, "cannot wrap %zu bytes with %s",
			 inlen, kek_alg_name(info.alg));
		st = KEK_E_INVAL;
	} else {
		t0 = clock_ms();
		a.mech = info.alg == KEK_ALG_A256KW ? CKM_AES_KEY_WRAP :
						      CKM_AES_KEY_WRAP_PAD;
		st = done(k, KEK_OP_WRAP, t0,
			  with_session(k, op_wrap, &a, err), err);
	}
	if (st == KEK_OK) {
		snprintf(kid, KEK_KID_MAX, "%s", info.kid);
		*alg = info.alg;
	}
	EVP_PKEY_free(pub);
	return st;
}

/* ---- unwrap -------------------------------------------------------------- */

struct unwrap_args {
	const uint8_t *id;
	size_t idlen;
	enum kek_alg alg;
	const uint8_t *in;
	size_t inlen;
	uint8_t *out;
	size_t *outlen;
	const char *mech, *call; /* what unwrapped, once it did */
};

/* The OAEP-SHA-256 mechanism, params in *p. */
static CK_MECHANISM oaep(CK_RSA_PKCS_OAEP_PARAMS *p)
{
	*p = (CK_RSA_PKCS_OAEP_PARAMS){ .hash_alg = CKM_SHA256,
					.mgf = CKG_MGF1_SHA256,
					.source = CKZ_DATA_SPECIFIED };
	return (CK_MECHANISM){ CKM_RSA_PKCS_OAEP, p, sizeof(*p) };
}

/* C_UnwrapKey into a session key hsmfs may read (not sensitive,
 * extractable, never on the token), its value read, the key destroyed
 * at once. */
static CK_RV unwrap_key(struct call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE h,
			const struct unwrap_args *a)
{
	static CK_BBOOL no = CK_FALSE;
	CK_FUNCTION_LIST *f = c->k->f;
	CK_ATTRIBUTE t[SESSION_KEY_N + 1];
	CK_ATTRIBUTE v = { CKA_VALUE, NULL, 0 };
	CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
	CK_RV rv;

	session_key(t, CKA_SENSITIVE, &no, sizeof(no));
	rv = f->C_UnwrapKey(c->s, m, h, (CK_BYTE_PTR)a->in, a->inlen, t,
			    SESSION_KEY_N + 1, &o);
	if (rv != CKR_OK)
		return rv;
	rv = f->C_GetAttributeValue(c->s, o, &v, 1);
	/* No DEK is 0 bytes long: opencryptoki 3.8 answers 0 for a key it
	 * unwrapped (a template without CKA_SENSITIVE, CKA_EXTRACTABLE). */
	if (rv == CKR_OK && (v.ulValueLen == CK_UNAVAILABLE_INFORMATION ||
			     v.ulValueLen == 0 || v.ulValueLen > *a->outlen))
		rv = CKR_WRAPPED_KEY_LEN_RANGE;
	if (rv == CKR_OK) {
		v.pValue = a->out;
		rv = f->C_GetAttributeValue(c->s, o, &v, 1);
		*a->outlen = v.ulValueLen;
	}
	f->C_DestroyObject(c->s, o);
	return rv;
}

/* C_Decrypt into out (at most *outlen bytes). */
static CK_RV decrypt(struct call *c, CK_MECHANISM *m, CK_OBJECT_HANDLE h,
		     const uint8_t *in, size_t inlen, uint8_t *out,
		     size_t *outlen)
{
	CK_FUNCTION_LIST *f = c->k->f;
	uint8_t *tmp = secmem_alloc(KEK_WRAPPED_MAX);
	CK_ULONG n = KEK_WRAPPED_MAX;
	CK_RV rv;

	if (!tmp)
		return CKR_HOST_MEMORY;
	rv = f->C_DecryptInit(c->s, m, h);
	if (rv == CKR_OK)
		rv = f->C_Decrypt(c->s, (CK_BYTE_PTR)in, inlen, tmp, &n);
	if (rv == CKR_OK && n > *outlen)
		rv = CKR_WRAPPED_KEY_LEN_RANGE;
	if (rv == CKR_OK) {
		memcpy(out, tmp, n);
		*outlen = n;
	}
	secmem_free(tmp, KEK_WRAPPED_MAX);
	return rv;
}

/* Unwraps with m in the HSM: C_UnwrapKey if the key allows it, else
 * C_Decrypt; a->call says which answered. A token whose policy refuses
 * the readable session key (Luna Cloud HSM keeps unwrapped keys
 * sensitive; an unwrap template may too; opencryptoki 3.8's soft token
 * lets no unwrap template set CKA_SENSITIVE false or CKA_EXTRACTABLE
 * true: CKR_ATTRIBUTE_READ_ONLY) gets C_Decrypt, if the key allows
 * that. */
static CK_RV in_hsm(struct call *c, CK_MECHANISM *m, const struct p11key *key,
		    struct unwrap_args *a)
{
	CK_RV rv = CKR_KEY_FUNCTION_NOT_PERMITTED;

	a->call = "C_UnwrapKey";
	if (key->unwrap)
		rv = unwrap_key(c, m, key->h, a);
	if (key->decrypt &&
	    (!key->unwrap || rv == CKR_TEMPLATE_INCONSISTENT ||
	     rv == CKR_ATTRIBUTE_VALUE_INVALID ||
	     rv == CKR_ATTRIBUTE_READ_ONLY ||
	     rv == CKR_ACTION_PROHIBITED)) {
		a->call = "C_Decrypt";
		rv = decrypt(c, m, key->h, a->in, a->inlen, a->out,
			     a->outlen);
	}
	return rv;
}

/* Raw RSA in the HSM, OAEP decoded here: for tokens that decrypt RSA
 * but not with OAEP-SHA-256 (SoftHSM 2.6 does OAEP with SHA-1 only). */
static enum kek_status raw_rsa(struct call *c, CK_OBJECT_HANDLE h,
			       struct unwrap_args *a, char *err)
{
	CK_MECHANISM m = { CKM_RSA_X_509, NULL, 0 };
	uint8_t *em = secmem_alloc(KEK_WRAPPED_MAX);
	size_t emlen = KEK_WRAPPED_MAX;
	enum kek_status st;
	CK_RV rv;

	if (!em)
		return KEK_E_NOMEM;
	rv = decrypt(c, &m, h, a->in, a->inlen, em, &emlen);
	if (rv != CKR_OK)
		st = ckr(c, rv, "C_Decrypt (CKM_RSA_X_509)", err);
	else
		st = rsa_oaep_decode(em, emlen, a->inlen, a->out, a->outlen,
				     err);
	secmem_free(em, KEK_WRAPPED_MAX);
	a->mech = "CKM_RSA_X_509 (OAEP-SHA-256 decoded here)";
	a->call = "C_Decrypt";
	return st;
}

/* The status of a failed unwrap. Some tokens (SoftHSM2) answer a
 * wrapped key that fails its integrity check with CKR_GENERAL_ERROR or
 * CKR_FUNCTION_FAILED, which otherwise say the device failed: if the
 * session still answers, the bytes were bad, not the token. */
static enum kek_status unwrap_failed(struct call *c, CK_RV rv,
				     const char *what, char *err)
{
	CK_SESSION_INFO si;
	enum kek_status st = ckr(c, rv, what, err);
	size_t n = strlen(err);

	if ((rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED) &&
	    c->k->f->C_GetSessionInfo(c->s, &si) == CKR_OK) {
		snprintf(err + n, KEK_ERR_MAX - n, "; the token answers "
			 "otherwise: the wrapped key is taken as damaged");
		return KEK_E_CRYPTO;
	}
	return st;
}

/* True if rv says the token does not do OAEP with SHA-256. */
static bool no_oaep256(CK_RV rv)
{
	return rv == CKR_MECHANISM_INVALID || rv == CKR_MECHANISM_PARAM_INVALID ||
	       rv == CKR_ARGUMENTS_BAD;
}

/* Whether the token refuses OAEP-SHA-256 with key, judged on bytes the
 * key's public half wrapped here, never on a header's: a forged wrapped
 * key must not switch the provider to raw RSA. */
static bool oaep256_refused(struct call *c, const struct p11key *key)
{
	uint8_t r[32], ct[KEK_WRAPPED_MAX], back[64];
	size_t ctlen = sizeof(ct), blen = sizeof(back);
	struct unwrap_args a = { .in = ct, .out = back, .outlen = &blen };
	CK_RSA_PKCS_OAEP_PARAMS p;
	CK_MECHANISM m = oaep(&p);
	char e[KEK_ERR_MAX];
	struct p11key pk;
	bool refused = false;

	if (RAND_bytes(r, sizeof(r)) != 1 ||
	    p11keys_find(c->k->f, c->s, &c->k->u, key->id, key->idlen, true,
			 &pk, &c->rv, e) != KEK_OK)
		return false;
	if (pk.pub && rsa_wrap(pk.pub, r, sizeof(r), ct, &ctlen, e) == KEK_OK) {
		a.inlen = ctlen;
		refused = no_oaep256(in_hsm(c, &m, key, &a));
	}
	EVP_PKEY_free(pk.pub);
	OPENSSL_cleanse(back, sizeof(back));
	return refused;
}

static enum kek_status unwrap_rsa(struct call *c, const struct p11key *key,
				  struct unwrap_args *a, char *err)
{
	struct p11kek *k = c->k;
	CK_RSA_PKCS_OAEP_PARAMS p;
	CK_MECHANISM m = oaep(&p);
	bool raw;
	CK_RV rv;

	pthread_mutex_lock(&k->lock);
	raw = k->raw_rsa;
	pthread_mutex_unlock(&k->lock);
	if (raw && key->decrypt)
		return raw_rsa(c, key->h, a, err);
	a->mech = "CKM_RSA_PKCS_OAEP (SHA-256, MGF1-SHA-256)";
	rv = in_hsm(c, &m, key, a);
	if (rv == CKR_OK)
		return KEK_OK;
	if (!no_oaep256(rv) || !key->decrypt || !oaep256_refused(c, key))
		return unwrap_failed(c, rv, key->unwrap ?
				     "C_UnwrapKey (RSA-OAEP-256)" :
				     "C_Decrypt (RSA-OAEP-256)", err);
	pthread_mutex_lock(&k->lock);
	if (!k->raw_rsa)
		log_info("PKCS#11 token '%s' does not do RSA-OAEP with SHA-256 "
			 "(CKR 0x%lx): unwrapping with CKM_RSA_X_509 and "
			 "decoding OAEP here", k->u.token, (unsigned long)rv);
	k->raw_rsa = true;
	pthread_mutex_unlock(&k->lock);
	return raw_rsa(c, key->h, a, err);
}

static enum kek_status unwrap_aes(struct call *c, const struct p11key *key,
				  struct unwrap_args *a, char *err)
{
	bool kw = a->alg == KEK_ALG_A256KW;
	CK_MECHANISM m = { kw ? CKM_AES_KEY_WRAP : CKM_AES_KEY_WRAP_PAD,
			   NULL, 0 };
	CK_RV rv;

	a->mech = kw ? "CKM_AES_KEY_WRAP" : "CKM_AES_KEY_WRAP_PAD";
	rv = in_hsm(c, &m, key, a);
	if (rv == CKR_OK)
		return KEK_OK;
	return unwrap_failed(c, rv, key->unwrap ? "C_UnwrapKey" : "C_Decrypt",
			     err);
}

static enum kek_status op_unwrap(struct call *c, void *arg, char *err)
{
	struct unwrap_args *a = arg;
	struct p11key key;
	enum kek_status st;

	st = version(c, a->id, a->idlen, &key, err);
	if (st != KEK_OK)
		return st;
	if (!key.unwrap && !key.decrypt) {
		snprintf(err, KEK_ERR_MAX, "PKCS#11 key '%.64s' on token '%s' "
			 "allows neither CKA_UNWRAP nor CKA_DECRYPT",
			 c->k->u.object, c->k->u.token);
		return KEK_E_FORBIDDEN;
	}
	if (c->k->u.type == P11_TYPE_PRIVATE)
		return unwrap_rsa(c, &key, a, err);
	return unwrap_aes(c, &key, a, err);
}

/* The version of kid if it is one of this key; kids are untrusted. */
static bool kid_version(const struct p11kek *k, const char *kid,
			struct p11uri *v)
{
	char e[KEK_ERR_MAX];

	return p11uri_parse_kid(kid, v, e) == KEK_OK &&
	       !strcmp(v->token, k->u.token) &&
	       !strcmp(v->object, k->u.object) && v->type == k->u.type;
}

static enum kek_status p11_unwrap(struct kek *kk, const char *kid,
				  enum kek_alg alg, const uint8_t *in,
				  size_t inlen, uint8_t *out, size_t *outlen,
				  char *err)
{
	struct p11kek *k = (struct p11kek *)kk;
	bool rsa = k->u.type == P11_TYPE_PRIVATE;
	struct unwrap_args a = { .alg = alg, .in = in, .inlen = inlen,
				 .out = out, .outlen = outlen };
	uint64_t t0 = clock_ms();
	struct p11uri v;
	enum kek_status st;

	if (!kid_version(k, kid, &v)) {
		snprintf(err, KEK_ERR_MAX, "key id '%.120s' does not belong to "
			 "KEK %s", kid ? kid : "(null)", k->u.object);
		return KEK_E_INVAL;
	}
	if (inlen == 0 || inlen > KEK_WRAPPED_MAX ||
	    (rsa ? alg != KEK_ALG_RSA_OAEP_256 :
		   alg != KEK_ALG_AES_KW_PAD && alg != KEK_ALG_A256KW)) {
		snprintf(err, KEK_ERR_MAX, "cannot unwrap %zu bytes with %s "
			 "under key %s", inlen, kek_alg_name(alg), k->u.object);
		return KEK_E_INVAL;
	}
	/* An RSA ciphertext is as long as the modulus: anything else is
	 * damage, whatever a token would make of it. */
	if (rsa && inlen != 256 && inlen != 384 && inlen != 512) {
		snprintf(err, KEK_ERR_MAX, "the wrapped key is %zu bytes, not "
			 "an RSA-2048/3072/4096 ciphertext", inlen);
		return KEK_E_CRYPTO;
	}
	a.id = v.id;
	a.idlen = v.idlen;
	st = with_session(k, op_unwrap, &a, err);
	if (st == KEK_OK)
		used(k, v.id, v.idlen, a.mech, a.call);
	return done(k, KEK_OP_UNWRAP, t0, st, err);
}

static bool p11_owns(struct kek *kk, const char *kid)
{
	struct p11uri v;

	return kid_version((const struct p11kek *)kk, kid, &v);
}

/* ---- about: what status and info say -------------------------------- */

static void about_line(struct kek_about *a, const char *key,
		       const char *label, const char *value)
{
	snprintf(a->key, sizeof(a->key), "%s", key);
	snprintf(a->label, sizeof(a->label), "%s", label);
	snprintf(a->value, sizeof(a->value), "%s", value);
}

/* id as hex digits into hex[2 * P11_ID_MAX + 1]. */
static void id_hex(const uint8_t *id, size_t n, char *hex)
{
	hex[0] = '\0';
	for (size_t i = 0; i < n; i++)
		sprintf(hex + 2 * i, "%02x", id[i]);
}

/* The lines a URL gives: token, object and type, module (the next free
 * line is returned). */
static struct kek_about *about_uri(const struct p11uri *u,
				   struct kek_about *a)
{
	char v[sizeof(a->value)];

	about_line(a++, "token", "p11 token:", u->token);
	snprintf(v, sizeof(v), "%.128s (%s)", u->object,
		 u->type == P11_TYPE_PRIVATE ? "RSA private key" : "AES key");
	about_line(a++, "object", "p11 object:", v);
	if (u->module_name[0])
		snprintf(v, sizeof(v), "%.150s (registered with p11-kit)",
			 u->module_name);
	else
		snprintf(v, sizeof(v), "%.190s", u->module_path);
	about_line(a++, "module", "p11 module:", v);
	return a;
}

static void p11_about(const char *url, struct kek_about *about)
{
	struct p11uri u;
	char err[KEK_ERR_MAX];

	if (p11uri_parse(url, &u, err) != KEK_OK)
		return;
	about = about_uri(&u, about);
	if (u.has_id) {
		char hex[2 * P11_ID_MAX + 1];

		id_hex(u.id, u.idlen, hex);
		about_line(about, "id", "p11 CKA_ID:", hex);
	}
}

/* Which mechanism and call the token ran for the last unwrap: how an
 * operator sees that the token does OAEP-SHA-256 itself, or that raw
 * RSA is in use. */
static void about_unwrap(struct p11kek *k, struct kek_about *a)
{
	char v[sizeof(a->value)];

	pthread_mutex_lock(&k->lock);
	if (k->how_mech)
		snprintf(v, sizeof(v), "%s by %s in the token (the last "
			 "unwrap)", k->how_mech, k->how_call);
	else
		snprintf(v, sizeof(v), "- (no unwrap yet)");
	pthread_mutex_unlock(&k->lock);
	about_line(a, "unwrap", "p11 unwrap:", v);
}

static void p11_stats(struct kek *kk, struct kek_stats *st)
{
	struct p11kek *k = (struct p11kek *)kk;
	char hex[2 * P11_ID_MAX + 1], v[sizeof(st->about[0].value)];
	struct kek_about *a;
	struct p11pool_counts n;

	stats_get(k->stats, st);
	snprintf(st->endpoint, sizeof(st->endpoint), "%s", k->u.token);
	st->no_tokens = true;
	a = about_uri(&k->u, st->about);
	pthread_mutex_lock(&k->lock);
	id_hex(k->used, k->usedlen, hex);
	pthread_mutex_unlock(&k->lock);
	snprintf(v, sizeof(v), "%s (the version used last; %s)",
		 hex[0] ? hex : "-", k->u.has_id ? "pinned by the URL" :
		 "new keys: the greatest CKA_ID");
	about_line(a++, "id", "p11 CKA_ID:", v);
	about_unwrap(k, a++);
	p11pool_counts(k->pool, &n);
	snprintf(v, sizeof(v), "%u sessions open, %u idle, at most %u%s", n.open,
		 n.idle, n.max, n.down ? "; the token is unavailable" : "");
	about_line(a, "sessions", "p11 pool:", v);
}

/* ---- open / close -------------------------------------------------------- */

static void p11_close(struct kek *kk)
{
	struct p11kek *k = (struct p11kek *)kk;

	if (!k)
		return;
	p11pool_free(k->pool);
	p11mod_close(k->f);
	stats_free(k->stats);
	EVP_PKEY_free(k->cur.pub);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

static enum kek_status p11_open(const char *url, const struct kek_opts *o,
				struct kek **out, char *err)
{
	static const struct kek_opts none = { 0 };
	char module[P11_PATH_MAX];
	struct p11kek *k;
	enum kek_status st;
	char *pin = NULL;

	*out = NULL;
	if (!o)
		o = &none;
	if (o->alg != KEK_ALG_NONE && o->alg != KEK_ALG_RSA_OAEP_256 &&
	    o->alg != KEK_ALG_A256KW && o->alg != KEK_ALG_AES_KW_PAD) {
		snprintf(err, KEK_ERR_MAX, "unknown KEK algorithm");
		return KEK_E_INVAL;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return KEK_E_NOMEM;
	k->base.prov = &pkcs11_provider;
	k->want = o->alg;
	pthread_mutex_init(&k->lock, NULL);
	st = p11uri_parse(url, &k->u, err);
	if (st == KEK_OK)
		st = (k->stats = stats_new()) ? KEK_OK : KEK_E_NOMEM;
	if (st == KEK_OK)
		st = p11mod_open(&k->u, o->host_named, &k->f, module,
				 sizeof(module), err);
	if (st == KEK_OK)
		st = p11pin_get(&k->u, o, &pin, err);
	if (st == KEK_OK)
		st = p11pool_new(k->f, k->u.token, pin, o->concurrency ?
				 o->concurrency : P11_SESSIONS_DEFAULT,
				 &k->pool, err);
	else
		secmem_strfree(pin);
	if (st != KEK_OK) {
		p11_close(&k->base);
		return st;
	}
	*out = &k->base;
	return KEK_OK;
}

const struct kek_provider pkcs11_provider = {
	.scheme = P11_SCHEME,
	.opaque = true,
	.open = p11_open,
	.close = p11_close,
	.describe = p11_describe,
	.wrap = p11_wrap,
	.unwrap = p11_unwrap,
	.owns = p11_owns,
	.stats = p11_stats,
	.about = p11_about,
	.url_same = p11uri_same,
};
