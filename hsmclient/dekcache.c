/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/clock.h"
#include "dekcache.h"

struct entry {
	uint8_t id[DEKCACHE_ID_LEN];
	uint8_t *dek; /* secure heap */
	int64_t born; /* ms, monotonic */
	struct entry *hnext;       /* hash chain */
	struct entry *prev, *next; /* LRU list, most recent first */
};

struct dekcache {
	pthread_mutex_t lock;
	struct entry **table;
	size_t nbuckets;
	struct entry *head, *tail;
	unsigned n, max, max_age;
	struct dekcache_stats st;
};

struct dekcache *dekcache_new(unsigned max_entries, unsigned max_age_s)
{
	struct dekcache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->nbuckets = 64;
	while (c->nbuckets < max_entries)
		c->nbuckets <<= 1;
	c->table = calloc(c->nbuckets, sizeof(*c->table));
	if (!c->table) {
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	c->max = max_entries;
	c->max_age = max_age_s;
	return c;
}

static size_t bucket(const struct dekcache *c, const uint8_t *id)
{
	size_t h;

	memcpy(&h, id, sizeof(h)); /* ids are SHA-256 outputs */
	return h & (c->nbuckets - 1);
}

static void lru_unlink(struct dekcache *c, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(struct dekcache *c, struct entry *e)
{
	e->next = c->head;
	e->prev = NULL;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static void drop(struct dekcache *c, struct entry *e)
{
	struct entry **pp = &c->table[bucket(c, e->id)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(c, e);
	OPENSSL_secure_clear_free(e->dek, DEKCACHE_KEY_LEN);
	free(e);
	c->n--;
}

static struct entry *find(struct dekcache *c, const uint8_t *id)
{
	struct entry *e = c->table[bucket(c, id)];

	while (e && CRYPTO_memcmp(e->id, id, DEKCACHE_ID_LEN) != 0)
		e = e->hnext;
	return e;
}

static int expired(const struct dekcache *c, const struct entry *e)
{
	return (int64_t)clock_ms() - e->born >= (int64_t)c->max_age * 1000;
}

int dekcache_get(struct dekcache *c, const uint8_t id[DEKCACHE_ID_LEN],
		 uint8_t dek[DEKCACHE_KEY_LEN])
{
	struct entry *e;
	int hit = 0;

	pthread_mutex_lock(&c->lock);
	e = find(c, id);
	if (e && expired(c, e)) {
		drop(c, e);
		c->st.expirations++;
		e = NULL;
	}
	if (e) {
		memcpy(dek, e->dek, DEKCACHE_KEY_LEN);
		lru_unlink(c, e);
		lru_push(c, e);
		hit = 1;
		c->st.hits++;
	} else {
		c->st.misses++;
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

void dekcache_put(struct dekcache *c, const uint8_t id[DEKCACHE_ID_LEN],
		  const uint8_t dek[DEKCACHE_KEY_LEN])
{
	struct entry *e;

	if (c->max == 0)
		return;
	pthread_mutex_lock(&c->lock);
	e = find(c, id);
	if (e)
		drop(c, e);
	while (c->n >= c->max && c->tail) {
		drop(c, c->tail);
		c->st.evictions++;
	}
	e = calloc(1, sizeof(*e));
	if (e)
		e->dek = OPENSSL_secure_malloc(DEKCACHE_KEY_LEN);
	if (!e || !e->dek) {
		free(e);
		goto out;
	}
	memcpy(e->id, id, DEKCACHE_ID_LEN);
	memcpy(e->dek, dek, DEKCACHE_KEY_LEN);
	e->born = (int64_t)clock_ms();
	e->hnext = c->table[bucket(c, id)];
	c->table[bucket(c, id)] = e;
	lru_push(c, e);
	c->n++;
	c->st.inserts++;
out:
	pthread_mutex_unlock(&c->lock);
}

void dekcache_flush(struct dekcache *c)
{
	pthread_mutex_lock(&c->lock);
	while (c->head)
		drop(c, c->head);
	c->st.flushes++;
	pthread_mutex_unlock(&c->lock);
}

void dekcache_free(struct dekcache *c)
{
	if (!c)
		return;
	dekcache_flush(c);
	pthread_mutex_destroy(&c->lock);
	free(c->table);
	free(c);
}

void dekcache_stats(struct dekcache *c, struct dekcache_stats *st)
{
	pthread_mutex_lock(&c->lock);
	*st = c->st;
	st->entries = c->n;
	st->max_entries = c->max;
	st->max_age_s = c->max_age;
	pthread_mutex_unlock(&c->lock);
}

void dekcache_id(const char *kid, int alg, const uint8_t *wrapped,
		 size_t wlen, uint8_t id[DEKCACHE_ID_LEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t a = (uint8_t)alg;

	/* NUL separates kid from alg, so no two inputs collide. */
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, kid, strlen(kid) + 1) != 1 ||
	    EVP_DigestUpdate(md, &a, 1) != 1 ||
	    EVP_DigestUpdate(md, wrapped, wlen) != 1 ||
	    EVP_DigestFinal_ex(md, id, NULL) != 1)
		memset(id, 0, DEKCACHE_ID_LEN);
	EVP_MD_CTX_free(md);
}
