/* SPDX-License-Identifier: Apache-2.0 */
/* PKCS#11 session pool: on-demand sessions, one login, recovery. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/secmem.h"
#include "hsmclient/pkcs11/err.h"
#include "hsmclient/pkcs11/module.h"
#include "hsmclient/pkcs11/pool.h"
#include "hsmclient/pkcs11/uri.h"

#define POOL_MAX 256

struct p11pool {
	CK_FUNCTION_LIST *f;
	char token[P11_TOKEN_MAX + 1];
	char *pin; /* secure memory, or NULL */
	pthread_rwlock_t use; /* read: a session is out; write: reinit */
	pthread_mutex_t lock;
	pthread_cond_t cv;
	CK_SLOT_ID slot;
	CK_FLAGS flags;
	CK_SESSION_HANDLE idle[POOL_MAX];
	unsigned nidle, nopen, max, gen;
	bool down;           /* the module has not found the token since */
	bool refused;        /* the token refused the PIN: never tried again */
	uint64_t reinit_ms;  /* when a re-initialization may be made next */
	char last[KEK_ERR_MAX]; /* why it is down */
};

static enum kek_status open_one(struct p11pool *p, CK_SESSION_HANDLE *s,
				char *err)
{
	CK_RV rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION, NULL,
				       NULL, s);
	char what[96];

	if (rv == CKR_OK)
		return KEK_OK;
	snprintf(what, sizeof(what), "PKCS#11 token '%s': C_OpenSession",
		 p->token);
	return p11err(rv, what, err);
}

/* C_Login on s; a login the application already has is fine. */
static enum kek_status login(struct p11pool *p, CK_SESSION_HANDLE s,
			     char *err)
{
	bool prot = p->flags & CKF_PROTECTED_AUTHENTICATION_PATH;
	char what[96];
	CK_RV rv;

	if (!(p->flags & CKF_LOGIN_REQUIRED))
		return KEK_OK;
	if (!p->pin && !prot) {
		snprintf(err, KEK_ERR_MAX, "PKCS#11 token '%s' needs a PIN: "
			 "none was given (pin-source=, credential_file= "
			 "PKCS11_PIN=, or the systemd credential pkcs11-pin)",
			 p->token);
		return KEK_E_AUTH;
	}
	rv = p->f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)p->pin,
			   p->pin ? strlen(p->pin) : 0);
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN)
		return KEK_OK;
	snprintf(what, sizeof(what), "PKCS#11 token '%s': C_Login", p->token);
	return p11err(rv, what, err);
}

/* Finds the slot, opens a session, logs in: the pool's first session. */
static enum kek_status start(struct p11pool *p, char *err)
{
	CK_SESSION_HANDLE s;
	enum kek_status st;

	st = p11mod_slot(p->f, p->token, &p->slot, &p->flags, err);
	if (st == KEK_OK)
		st = open_one(p, &s, err);
	if (st != KEK_OK)
		return st;
	st = login(p, s, err);
	if (st != KEK_OK) {
		p->f->C_CloseSession(s);
		return st;
	}
	p->idle[p->nidle++] = s;
	p->nopen++;
	return KEK_OK;
}

/* Writers first: a re-initialization waiting for the sessions in use
 * must not wait for every call that comes after it too. */
static void init_use(struct p11pool *p)
{
	pthread_rwlockattr_t a;

	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(&a,
		PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&p->use, &a);
	pthread_rwlockattr_destroy(&a);
}

/* The pool is down, for err: said once, kept for its callers. */
static void set_down(struct p11pool *p, const char *err)
{
	if (!p->down)
		log_warn("PKCS#11 token '%s' is unavailable (%s); calls fail "
			 "at once, and every %d s one tries again", p->token,
			 err, P11POOL_REINIT_MS / 1000);
	p->down = true;
	snprintf(p->last, sizeof(p->last), "%s", err);
}

/* A token absent or not answering when the pool is made: the pool is
 * down from the start, as when it goes later, so that the volume can
 * be opened by an escrow KEK meanwhile. A refused login is not this:
 * it stays the caller's error (a PIN is never tried twice). */
static enum kek_status down_from_start(struct p11pool *p, const char *err)
{
	p->reinit_ms = clock_ms() + P11POOL_REINIT_MS;
	set_down(p, err);
	return KEK_OK;
}

enum kek_status p11pool_new(CK_FUNCTION_LIST *f, const char *token,
			    char *pin, unsigned max, struct p11pool **out,
			    char *err)
{
	struct p11pool *p = calloc(1, sizeof(*p));
	enum kek_status st;

	*out = NULL;
	if (!p) {
		secmem_strfree(pin);
		return KEK_E_NOMEM;
	}
	p->f = f;
	p->pin = pin;
	snprintf(p->token, sizeof(p->token), "%s", token);
	p->max = max < 1 ? 1 : max > POOL_MAX ? POOL_MAX : max;
	init_use(p);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cv, NULL);
	st = start(p, err);
	if (st == KEK_E_NOTFOUND || st == KEK_E_UNAVAILABLE)
		st = down_from_start(p, err);
	if (st != KEK_OK) {
		p11pool_free(p);
		return st;
	}
	*out = p;
	return KEK_OK;
}

/* Closes the idle sessions. Under the lock. */
static void close_idle(struct p11pool *p)
{
	for (unsigned i = 0; i < p->nidle; i++)
		p->f->C_CloseSession(p->idle[i]);
	p->nopen -= p->nidle;
	p->nidle = 0;
}

void p11pool_free(struct p11pool *p)
{
	if (!p)
		return;
	close_idle(p);
	secmem_strfree(p->pin);
	pthread_rwlock_destroy(&p->use);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

enum kek_status p11pool_get(struct p11pool *p, CK_SESSION_HANDLE *s,
			    unsigned *gen, char *err)
{
	enum kek_status st;

	pthread_rwlock_rdlock(&p->use);
	pthread_mutex_lock(&p->lock);
	while (!p->down && !p->nidle && p->nopen >= p->max)
		pthread_cond_wait(&p->cv, &p->lock);
	*gen = p->gen;
	if (p->down) {
		snprintf(err, KEK_ERR_MAX, "%s", p->last);
		pthread_mutex_unlock(&p->lock);
		pthread_rwlock_unlock(&p->use);
		return KEK_E_UNAVAILABLE;
	}
	if (p->nidle) {
		*s = p->idle[--p->nidle];
		pthread_mutex_unlock(&p->lock);
		return KEK_OK;
	}
	p->nopen++;
	pthread_mutex_unlock(&p->lock);
	st = open_one(p, s, err);
	if (st != KEK_OK) {
		pthread_mutex_lock(&p->lock);
		p->nopen--;
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->lock);
		pthread_rwlock_unlock(&p->use);
	}
	return st;
}

void p11pool_put(struct p11pool *p, CK_SESSION_HANDLE s, unsigned gen)
{
	pthread_mutex_lock(&p->lock);
	if (gen == p->gen && p->nidle < POOL_MAX) {
		p->idle[p->nidle++] = s;
	} else {
		p->f->C_CloseSession(s);
		p->nopen--;
	}
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->lock);
	pthread_rwlock_unlock(&p->use);
}

/* The token refused the PIN when the pool logged in again: down for
 * good, as a PIN tried again and again locks the token. */
static void refuse(struct p11pool *p, const char *err)
{
	p->refused = true;
	log_warn("PKCS#11 token '%s' refused the PIN (%s): it is not tried "
		 "again until the KEK is opened anew (remount)", p->token,
		 err);
	p->down = true; /* this line, not set_down's "tries again" */
	snprintf(p->last, sizeof(p->last), "%s", err);
}

/* Finalizes and initializes the module, then starts again; the pool is
 * down until that finds the token. Under both locks, no session out. */
static enum kek_status restart(struct p11pool *p, char *err)
{
	enum kek_status st;

	p->reinit_ms = clock_ms() + P11POOL_REINIT_MS;
	if (!p->down)
		log_info("PKCS#11 token '%s': re-initializing its module to "
			 "find the token and its keys again", p->token);
	st = p11mod_reinit(p->f, p->token, err);
	if (st == KEK_OK)
		st = start(p, err);
	if (st == KEK_E_NOTFOUND)
		st = KEK_E_UNAVAILABLE; /* absent now, maybe not later */
	if (st == KEK_E_AUTH) {
		refuse(p, err);
	} else if (st != KEK_OK) {
		set_down(p, err);
	} else {
		if (p->down)
			log_info("PKCS#11 token '%s' is back", p->token);
		p->down = false;
	}
	return st;
}

enum kek_status p11pool_recover(struct p11pool *p, unsigned gen, bool reinit,
				char *err)
{
	enum kek_status st = KEK_OK;

	pthread_rwlock_wrlock(&p->use);
	pthread_mutex_lock(&p->lock);
	if (gen != p->gen && !p->down)
		goto out; /* another caller reopened them */
	if (p->refused) {
		snprintf(err, KEK_ERR_MAX, "%s", p->last);
		st = KEK_E_AUTH;
		goto out;
	}
	if ((reinit || p->down) && clock_ms() < p->reinit_ms) {
		if (p->down)
			snprintf(err, KEK_ERR_MAX, "%s", p->last);
		st = p->down ? KEK_E_UNAVAILABLE : KEK_E_NOTFOUND;
		goto out;
	}
	p->gen++;
	close_idle(p);
	if (!reinit && !p->down) {
		log_info("PKCS#11 token '%s': sessions lost; reopening them "
			 "and logging in again", p->token);
		st = start(p, err);
		if (st == KEK_E_AUTH)
			refuse(p, err);
		if (st == KEK_OK || st == KEK_E_AUTH)
			goto out;
	}
	st = restart(p, err);
out:
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->lock);
	pthread_rwlock_unlock(&p->use);
	return st;
}

void p11pool_counts(struct p11pool *p, struct p11pool_counts *n)
{
	pthread_mutex_lock(&p->lock);
	n->open = p->nopen;
	n->idle = p->nidle;
	n->max = p->max;
	n->down = p->down;
	pthread_mutex_unlock(&p->lock);
}

unsigned p11pool_gen(struct p11pool *p)
{
	pthread_mutex_lock(&p->lock);
	unsigned g = p->gen;
	pthread_mutex_unlock(&p->lock);
	return g;
}
