/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "blk.h"

#define NONCE_POOL 256

static _Atomic uint64_t next_serial = 1;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t tls_key;
static EVP_CIPHER *gcm;

/* Per-thread cipher contexts, keyed for the last blk_key they saw. A
 * keyed context holds the file's key schedule in ordinary memory, so
 * every context is on a list where blk_key_free and blk_wipe_all find
 * it. Its thread holds lock while it ciphers; a wiper only for the
 * reset, so the lock is all but never contended. */
struct blk_tls {
	pthread_mutex_t lock;
	EVP_CIPHER_CTX *enc, *dec;
	uint64_t enc_serial, dec_serial; /* 0: the context holds no key */
	struct blk_tls *prev, *next;
	/* Random nonces drawn in bulk: one RAND_bytes call costs more than
	 * sealing a block (a syscall of its fork check, among others).
	 * Nonces are stored in the clear anyway; a fork empties the pool. */
	uint8_t nonces[NONCE_POOL * BLK_NONCE];
	unsigned nonces_left;
};

/* Lock order: reg_lock, then a context's lock. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct blk_tls *reg;

static void tls_link(struct blk_tls *t)
{
	pthread_mutex_lock(&reg_lock);
	t->next = reg;
	if (reg)
		reg->prev = t;
	reg = t;
	pthread_mutex_unlock(&reg_lock);
}

static void tls_unlink(struct blk_tls *t)
{
	pthread_mutex_lock(&reg_lock);
	if (t->prev)
		t->prev->next = t->next;
	else if (reg == t)
		reg = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->prev = t->next = NULL;
	pthread_mutex_unlock(&reg_lock);
}

/* Runs at thread exit: off the list first, so no wiper can reach it. */
static void tls_free(void *p)
{
	struct blk_tls *t = p;

	tls_unlink(t);
	EVP_CIPHER_CTX_free(t->enc); /* cleanses the key schedule */
	EVP_CIPHER_CTX_free(t->dec);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* A child must not use nonces its parent may use too. */
static void forked(void)
{
	struct blk_tls *t = pthread_getspecific(tls_key);

	if (t)
		t->nonces_left = 0;
}

static void init_once(void)
{
	pthread_key_create(&tls_key, tls_free);
	pthread_atfork(NULL, NULL, forked);
	gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

/* This thread's contexts: 0, -EIO without AES-GCM, or -ENOMEM. */
static int tls_get(struct blk_tls **out)
{
	struct blk_tls *t;

	pthread_once(&once, init_once);
	if (!gcm)
		return -EIO;
	t = pthread_getspecific(tls_key);
	if (t) {
		*out = t;
		return 0;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	tls_link(t);
	t->enc = EVP_CIPHER_CTX_new();
	t->dec = EVP_CIPHER_CTX_new();
	if (!t->enc || !t->dec || pthread_setspecific(tls_key, t) != 0) {
		tls_free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

/* Resets (which cleanses) a context keyed for serial, or keyed at all
 * when serial is 0. */
static void ctx_wipe(EVP_CIPHER_CTX *c, uint64_t *cserial, uint64_t serial)
{
	if (*cserial == 0 || (serial && *cserial != serial))
		return;
	EVP_CIPHER_CTX_reset(c);
	*cserial = 0;
}

static void wipe(uint64_t serial)
{
	pthread_mutex_lock(&reg_lock);
	for (struct blk_tls *t = reg; t; t = t->next) {
		pthread_mutex_lock(&t->lock);
		ctx_wipe(t->enc, &t->enc_serial, serial);
		ctx_wipe(t->dec, &t->dec_serial, serial);
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_unlock(&reg_lock);
}

void blk_wipe_all(void)
{
	wipe(0);
}

struct blk_key *blk_key_new(const uint8_t dek[KEY_LEN],
			    const uint8_t file_id[ID_LEN])
{
	struct blk_key *k = secmem_alloc(sizeof(*k));

	if (!k)
		return NULL;
	if (keys_hkdf(dek, KEY_LEN, KDF_CONTENT, k->key, KEY_LEN) != 0) {
		secmem_free(k, sizeof(*k));
		return NULL;
	}
	memcpy(k->file_id, file_id, ID_LEN);
	k->serial = atomic_fetch_add(&next_serial, 1);
	return k;
}

void blk_key_free(struct blk_key *k)
{
	if (!k)
		return;
	wipe(k->serial);
	secmem_free(k, sizeof(*k));
}

static void make_aad(const struct blk_key *k, uint64_t blockno,
		     uint8_t aad[ID_LEN + 8])
{
	memcpy(aad, k->file_id, ID_LEN);
	for (int i = 0; i < 8; i++)
		aad[ID_LEN + i] = (uint8_t)(blockno >> (56 - 8 * i));
}

/* Sets key (only when the context last saw another key) and nonce. A
 * failed init may have keyed the context partly: it is reset then. */
static int ctx_setup(EVP_CIPHER_CTX *c, uint64_t *serial,
		     const struct blk_key *k, const uint8_t *nonce, int enc)
{
	if (*serial == k->serial)
		return EVP_CipherInit_ex(c, NULL, NULL, NULL, nonce, enc) == 1 ?
		       0 : -EIO;
	*serial = 0;
	if (EVP_CipherInit_ex(c, gcm, NULL, k->key, nonce, enc) != 1) {
		EVP_CIPHER_CTX_reset(c);
		return -EIO;
	}
	*serial = k->serial;
	return 0;
}

/* seal with this thread's encryption context, its lock held. */
static int seal_locked(struct blk_tls *t, const struct blk_key *k,
		       uint64_t blockno, const uint8_t *in, size_t n,
		       const uint8_t *nonce, uint8_t *ct, uint8_t *tag)
{
	uint8_t aad[ID_LEN + 8];
	int len, fin, err;

	if ((err = ctx_setup(t->enc, &t->enc_serial, k, nonce, 1)))
		return err;
	make_aad(k, blockno, aad);
	if (EVP_EncryptUpdate(t->enc, NULL, &len, aad, sizeof(aad)) != 1 ||
	    EVP_EncryptUpdate(t->enc, ct, &len, in, (int)n) != 1 ||
	    EVP_EncryptFinal_ex(t->enc, ct + len, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(t->enc, EVP_CTRL_AEAD_GET_TAG, BLK_TAG,
				tag) != 1)
		return -EIO;
	return 0;
}

/* The next of this thread's random nonces; t->lock held. */
static int nonce_take(struct blk_tls *t, uint8_t nonce[BLK_NONCE])
{
	int err;

	if (t->nonces_left == 0) {
		if ((err = keys_random(t->nonces, sizeof(t->nonces))))
			return err;
		t->nonces_left = NONCE_POOL;
	}
	t->nonces_left--;
	memcpy(nonce, t->nonces + t->nonces_left * BLK_NONCE, BLK_NONCE);
	return 0;
}

/* Encrypts n (checked by the caller) bytes under nonce, a fresh random
 * one written there first if fresh is set; ct and tag may lie anywhere,
 * so that one code path serves the packed and the aligned layouts. */
static int seal(const struct blk_key *k, uint64_t blockno, const uint8_t *in,
		size_t n, uint8_t *nonce, bool fresh, uint8_t *ct,
		uint8_t *tag)
{
	struct blk_tls *t;
	int err;

	if ((err = tls_get(&t)))
		return err;
	pthread_mutex_lock(&t->lock);
	if (!fresh || !(err = nonce_take(t, nonce)))
		err = seal_locked(t, k, blockno, in, n, nonce, ct, tag);
	pthread_mutex_unlock(&t->lock);
	return err;
}

int blk_encrypt(const struct blk_key *k, uint64_t blockno, const uint8_t *in,
		size_t n, const uint8_t *nonce, uint8_t *out)
{
	if (n == 0 || n > BLK_PLAIN)
		return -EINVAL;
	if (nonce)
		memcpy(out, nonce, BLK_NONCE);
	return seal(k, blockno, in, n, out, !nonce, out + BLK_NONCE,
		    out + BLK_NONCE + n);
}

int blk_seal(const struct blk_key *k, uint64_t blockno, const uint8_t *in,
	     size_t n, uint8_t *nonce, uint8_t *ct, uint8_t *tag)
{
	if (n == 0 || n > BLK_PLAIN)
		return -EINVAL;
	return seal(k, blockno, in, n, nonce, true, ct, tag);
}

/* blk_open with this thread's decryption context, its lock held. */
static int open_locked(struct blk_tls *t, const struct blk_key *k,
		       uint64_t blockno, const uint8_t *nonce,
		       const uint8_t *ct, size_t n, const uint8_t *tag,
		       uint8_t *out)
{
	uint8_t aad[ID_LEN + 8], tagc[BLK_TAG];
	int len, fin, err;

	if ((err = ctx_setup(t->dec, &t->dec_serial, k, nonce, 0)))
		return err;
	make_aad(k, blockno, aad);
	memcpy(tagc, tag, BLK_TAG);
	if (EVP_DecryptUpdate(t->dec, NULL, &len, aad, sizeof(aad)) != 1 ||
	    EVP_DecryptUpdate(t->dec, out, &len, ct, (int)n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(t->dec, EVP_CTRL_AEAD_SET_TAG, BLK_TAG,
				tagc) != 1) {
		secmem_wipe(out, n);
		return -EIO;
	}
	if (EVP_DecryptFinal_ex(t->dec, out + len, &fin) != 1) {
		/* Never leave unauthenticated plaintext behind. */
		secmem_wipe(out, n);
		return -EBADMSG;
	}
	return 0;
}

int blk_open(const struct blk_key *k, uint64_t blockno, const uint8_t *nonce,
	     const uint8_t *ct, size_t n, const uint8_t *tag, uint8_t *out)
{
	struct blk_tls *t;
	int err;

	if (n == 0 || n > BLK_PLAIN)
		return -EINVAL;
	if ((err = tls_get(&t)))
		return err;
	pthread_mutex_lock(&t->lock);
	err = open_locked(t, k, blockno, nonce, ct, n, tag, out);
	pthread_mutex_unlock(&t->lock);
	return err;
}

ssize_t blk_decrypt(const struct blk_key *k, uint64_t blockno,
		    const uint8_t *in, size_t cn, uint8_t *out)
{
	size_t n = cn - BLK_OVERHEAD;
	int err;

	if (cn <= BLK_OVERHEAD || cn > BLK_CIPHER)
		return -EINVAL;
	err = blk_open(k, blockno, in, in + BLK_NONCE, n, in + BLK_NONCE + n,
		       out);
	return err ? err : (ssize_t)n;
}

int64_t blk_plain_size(uint64_t cbytes)
{
	uint64_t full = cbytes / BLK_CIPHER, rem = cbytes % BLK_CIPHER;

	if (rem != 0 && rem <= BLK_OVERHEAD)
		return -EINVAL;
	return (int64_t)(full * BLK_PLAIN + (rem ? rem - BLK_OVERHEAD : 0));
}

uint64_t blk_cipher_size(uint64_t psize)
{
	uint64_t full = psize / BLK_PLAIN, rem = psize % BLK_PLAIN;

	return full * BLK_CIPHER + (rem ? rem + BLK_OVERHEAD : 0);
}
