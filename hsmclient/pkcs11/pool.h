/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sessions of one token: opened on demand up to a bound (the
 * caller's concurrency), logged in once (CKU_USER; login state belongs
 * to the application, so every session shares it), and reopened when
 * the token says they are lost: p11pool_recover closes them all, finds
 * the slot again by token label (a token re-inserted may come back in
 * another slot), opens one and logs in again. Each reopening starts a
 * new generation; a session of an older one is closed when handed back,
 * and object handles found before it are stale.
 *
 * A module may know its tokens only as they were at C_Initialize
 * (SoftHSM2 scans its token directory then, and a token whose files
 * went away stays listed, empty, until the next one). When reopening
 * does not find the token, or the caller asks (a key not found), the
 * pool finalizes and initializes the module again, at most once every
 * P11POOL_REINIT_MS: while that does not bring the token back the pool
 * is down, and its calls fail at once with the cause until the next
 * attempt. A login refused then is never tried again: the pool stays
 * down, as a PIN tried every few seconds would lock the token. A
 * re-initialization waits until no session is in use (a
 * session handed out holds the module's use, which it takes before
 * the pool's lock), so no call runs in the module while it happens.
 * Thread-safe. Calls return a kek_status and on failure write one line
 * into err[KEK_ERR_MAX].
 */
#ifndef HSMFS_P11_POOL_H
#define HSMFS_P11_POOL_H

#include <stdbool.h>

#include <p11-kit/pkcs11.h>

#include "hsmclient/kek.h"

#define P11POOL_REINIT_MS 2000

struct p11pool;

/* Opens a session on the token labelled token and logs in with pin
 * (secure memory, owned by the pool from now on, may be NULL: then the
 * token must need no login, or have a protected authentication path).
 * A token that is absent or does not answer gives a pool that is down
 * (a warning logged), not an error: its calls fail until it is back. */
enum kek_status p11pool_new(CK_FUNCTION_LIST *f, const char *token,
			    char *pin, unsigned max, struct p11pool **out,
			    char *err);
void p11pool_free(struct p11pool *p);
/* A session for one operation, and its generation. Waits while max
 * sessions are in use. KEK_E_UNAVAILABLE while the pool is down:
 * p11pool_recover then says whether it is up again. */
enum kek_status p11pool_get(struct p11pool *p, CK_SESSION_HANDLE *s,
			    unsigned *gen, char *err);
/* Hands s back (closes it if its generation is over). */
void p11pool_put(struct p11pool *p, CK_SESSION_HANDLE s, unsigned gen);
/* The sessions of generation gen were found lost: reopens, unless
 * another caller already did; re-initializes the module if the token
 * is not found then, or (reinit) at once, when the caller found no key
 * where one should be. For reinit, KEK_E_NOTFOUND (err untouched) if a
 * re-initialization was made less than P11POOL_REINIT_MS ago: the
 * caller's own error stands. */
enum kek_status p11pool_recover(struct p11pool *p, unsigned gen, bool reinit,
				char *err);
/* How many sessions are open and idle now, the bound, whether down. */
struct p11pool_counts {
	unsigned open, idle, max;
	bool down;
};
void p11pool_counts(struct p11pool *p, struct p11pool_counts *n);
/* The current generation. */
unsigned p11pool_gen(struct p11pool *p);

#endif
