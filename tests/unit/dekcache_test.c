/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DEK cache: hits save an HSM round trip per open, but a cached key
 * must never outlive its bounds (entries, age, flush) and never be handed
 * out for another wrapped key.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "hsmclient/dekcache.h"

static void make_id(uint8_t id[DEKCACHE_ID_LEN], unsigned n)
{
	/* Real ids are SHA-256 outputs; spread n over the first bytes so
	 * that ids land in different buckets, and keep the rest fixed. */
	memset(id, 0x33, DEKCACHE_ID_LEN);
	id[0] = (uint8_t)(n * 37);
	id[1] = (uint8_t)(n >> 8);
	id[2] = (uint8_t)n;
	id[31] = (uint8_t)(n * 11);
}

static void make_dek(uint8_t dek[DEKCACHE_KEY_LEN], unsigned n)
{
	for (unsigned i = 0; i < DEKCACHE_KEY_LEN; i++)
		dek[i] = (uint8_t)(n * 31 + i * 7 + (n >> 8));
}

/* A key put into the cache comes back unchanged for its id, and an id
 * never stored is a miss that leaves the caller's buffer alone. */
static void put_get_miss(void)
{
	struct dekcache *c = dekcache_new(8, 300);
	uint8_t id[DEKCACHE_ID_LEN], id2[DEKCACHE_ID_LEN];
	uint8_t dek[DEKCACHE_KEY_LEN], out[DEKCACHE_KEY_LEN];
	uint8_t mark[DEKCACHE_KEY_LEN];

	CHECK(c != NULL);
	if (!c)
		return;
	make_id(id, 1);
	make_id(id2, 2);
	make_dek(dek, 1);
	memset(out, 0, sizeof(out));
	CHECK_EQ_INT(dekcache_get(c, id, out), 0);
	dekcache_put(c, id, dek);
	CHECK_EQ_INT(dekcache_get(c, id, out), 1);
	CHECK_MEM(out, dek, DEKCACHE_KEY_LEN);

	memset(mark, 0xee, sizeof(mark));
	memcpy(out, mark, sizeof(out));
	CHECK_EQ_INT(dekcache_get(c, id2, out), 0);
	CHECK_MEM(out, mark, DEKCACHE_KEY_LEN);

	/* An id differing in its last byte only is another key. */
	memcpy(id2, id, DEKCACHE_ID_LEN);
	id2[31] ^= 1;
	CHECK_EQ_INT(dekcache_get(c, id2, out), 0);

	/* Putting the same id again replaces the key, not duplicates it. */
	make_dek(dek, 99);
	dekcache_put(c, id, dek);
	CHECK_EQ_INT(dekcache_get(c, id, out), 1);
	CHECK_MEM(out, dek, DEKCACHE_KEY_LEN);
	{
		struct dekcache_stats st;

		dekcache_stats(c, &st);
		CHECK_EQ_INT(st.entries, 1);
	}
	dekcache_free(c);
}

/* When full, the cache drops the key least recently *used* (not the
 * oldest inserted), so a hot file keeps its key. */
static void lru_eviction(void)
{
	struct dekcache *c = dekcache_new(3, 300);
	uint8_t id[5][DEKCACHE_ID_LEN], dek[DEKCACHE_KEY_LEN];
	uint8_t out[DEKCACHE_KEY_LEN];
	struct dekcache_stats st;

	CHECK(c != NULL);
	if (!c)
		return;
	for (unsigned i = 0; i < 5; i++)
		make_id(id[i], 100 + i);
	for (unsigned i = 0; i < 3; i++) {
		make_dek(dek, i);
		dekcache_put(c, id[i], dek);
	}
	/* Use 0 (the oldest insert): 1 becomes least recently used. */
	CHECK_EQ_INT(dekcache_get(c, id[0], out), 1);
	make_dek(dek, 3);
	dekcache_put(c, id[3], dek);
	CHECK_EQ_INT(dekcache_get(c, id[1], out), 0);
	CHECK_EQ_INT(dekcache_get(c, id[0], out), 1);
	make_dek(dek, 0);
	CHECK_MEM(out, dek, DEKCACHE_KEY_LEN);
	CHECK_EQ_INT(dekcache_get(c, id[2], out), 1);
	CHECK_EQ_INT(dekcache_get(c, id[3], out), 1);
	/* Now 0 is least recently used. */
	make_dek(dek, 4);
	dekcache_put(c, id[4], dek);
	CHECK_EQ_INT(dekcache_get(c, id[0], out), 0);
	CHECK_EQ_INT(dekcache_get(c, id[2], out), 1);
	CHECK_EQ_INT(dekcache_get(c, id[3], out), 1);
	CHECK_EQ_INT(dekcache_get(c, id[4], out), 1);
	CHECK_MEM(out, dek, DEKCACHE_KEY_LEN);
	dekcache_stats(c, &st);
	CHECK_EQ_INT(st.entries, 3);
	CHECK_EQ_INT(st.evictions, 2);
	dekcache_free(c);
}

/* dek_cache_ttl bounds how long an unwrapped key stays in memory: once
 * its age is reached the key is gone and counted as expired. */
static void max_age_expiry(void)
{
	struct dekcache *c = dekcache_new(8, 1);
	uint8_t id[DEKCACHE_ID_LEN], dek[DEKCACHE_KEY_LEN];
	uint8_t out[DEKCACHE_KEY_LEN];
	struct timespec ts = { 1, 100 * 1000 * 1000 };
	struct dekcache_stats st;

	CHECK(c != NULL);
	if (!c)
		return;
	make_id(id, 7);
	make_dek(dek, 7);
	dekcache_put(c, id, dek);
	nanosleep(&ts, NULL);
	CHECK_EQ_INT(dekcache_get(c, id, out), 0);
	dekcache_stats(c, &st);
	CHECK_EQ_INT(st.expirations, 1);
	CHECK_EQ_INT(st.entries, 0);
	CHECK_EQ_INT(st.misses, 1);
	CHECK_EQ_INT(st.hits, 0);
	CHECK_EQ_INT(st.max_age_s, 1);
	dekcache_free(c);

	/* A long TTL keeps the key across the same wait's worth of use. */
	c = dekcache_new(8, 3600);
	CHECK(c != NULL);
	if (!c)
		return;
	dekcache_put(c, id, dek);
	CHECK_EQ_INT(dekcache_get(c, id, out), 1);
	CHECK_MEM(out, dek, DEKCACHE_KEY_LEN);
	dekcache_free(c);
}

/* A flush (KEK rotation, SIGHUP, umount) drops every key: nothing is
 * served from the cache afterwards, and it fills again normally. */
static void flush_drops_all(void)
{
	struct dekcache *c = dekcache_new(64, 300);
	uint8_t id[DEKCACHE_ID_LEN], dek[DEKCACHE_KEY_LEN];
	uint8_t out[DEKCACHE_KEY_LEN];
	struct dekcache_stats st;
	unsigned hits = 0;

	CHECK(c != NULL);
	if (!c)
		return;
	for (unsigned i = 0; i < 40; i++) {
		make_id(id, i);
		make_dek(dek, i);
		dekcache_put(c, id, dek);
	}
	dekcache_flush(c);
	for (unsigned i = 0; i < 40; i++) {
		make_id(id, i);
		hits += (unsigned)dekcache_get(c, id, out);
	}
	CHECK_EQ_INT(hits, 0);
	dekcache_stats(c, &st);
	CHECK_EQ_INT(st.entries, 0);
	CHECK_EQ_INT(st.flushes, 1);
	make_id(id, 3);
	make_dek(dek, 3);
	dekcache_put(c, id, dek);
	CHECK_EQ_INT(dekcache_get(c, id, out), 1);
	CHECK_MEM(out, dek, DEKCACHE_KEY_LEN);
	dekcache_flush(c);
	dekcache_flush(c); /* empty: still fine */
	dekcache_stats(c, &st);
	CHECK_EQ_INT(st.flushes, 3);
	CHECK_EQ_INT(st.entries, 0);
	dekcache_free(c);
}

/* The statistics an operator reads (hsmfs stats) count exactly what
 * happened. */
static void stats_exact(void)
{
	struct dekcache *c = dekcache_new(2, 300);
	uint8_t id[4][DEKCACHE_ID_LEN], dek[DEKCACHE_KEY_LEN];
	uint8_t out[DEKCACHE_KEY_LEN];
	struct dekcache_stats st;

	CHECK(c != NULL);
	if (!c)
		return;
	for (unsigned i = 0; i < 4; i++)
		make_id(id[i], 500 + i);
	make_dek(dek, 1);
	dekcache_stats(c, &st);
	CHECK_EQ_INT(st.hits + st.misses + st.inserts + st.evictions +
			     st.expirations + st.flushes, 0);
	CHECK_EQ_INT(st.max_entries, 2);
	CHECK_EQ_INT(st.max_age_s, 300);

	dekcache_get(c, id[0], out);   /* miss 1 */
	dekcache_put(c, id[0], dek);   /* insert 1 */
	dekcache_get(c, id[0], out);   /* hit 1 */
	dekcache_get(c, id[0], out);   /* hit 2 */
	dekcache_put(c, id[1], dek);   /* insert 2 */
	dekcache_put(c, id[2], dek);   /* insert 3, evicts id[0] */
	dekcache_put(c, id[3], dek);   /* insert 4, evicts id[1] */
	dekcache_get(c, id[0], out);   /* miss 2 */
	dekcache_get(c, id[3], out);   /* hit 3 */
	dekcache_put(c, id[3], dek);   /* insert 5, replaces: no eviction */
	dekcache_flush(c);             /* flush 1 */
	dekcache_get(c, id[3], out);   /* miss 3 */

	dekcache_stats(c, &st);
	CHECK_EQ_INT(st.hits, 3);
	CHECK_EQ_INT(st.misses, 3);
	CHECK_EQ_INT(st.inserts, 5);
	CHECK_EQ_INT(st.evictions, 2);
	CHECK_EQ_INT(st.expirations, 0);
	CHECK_EQ_INT(st.flushes, 1);
	CHECK_EQ_INT(st.entries, 0);
	CHECK_EQ_INT(st.max_entries, 2);
	dekcache_free(c);
}

/* A cached key is found only for the very same wrapped key: another
 * KEK version (kid), another algorithm or one changed wrapped byte is
 * another cache entry. */
static void id_binds_inputs(void)
{
	uint8_t w[64], w2[64], a[DEKCACHE_ID_LEN], b[DEKCACHE_ID_LEN];
	const char *kid = "https://h.managedhsm.azure.net/keys/k/"
			  "0123456789abcdef0123456789abcdef";
	unsigned same = 0;

	for (unsigned i = 0; i < sizeof(w); i++)
		w[i] = (uint8_t)(i * 3);
	dekcache_id(kid, 3, w, sizeof(w), a);
	dekcache_id(kid, 3, w, sizeof(w), b);
	CHECK_MEM(a, b, DEKCACHE_ID_LEN);

	dekcache_id("https://h.managedhsm.azure.net/keys/k/"
		    "0123456789abcdef0123456789abcdee", 3, w, sizeof(w), b);
	CHECK(memcmp(a, b, DEKCACHE_ID_LEN) != 0);
	dekcache_id("testkek://k/v1", 3, w, sizeof(w), b);
	CHECK(memcmp(a, b, DEKCACHE_ID_LEN) != 0);
	dekcache_id(kid, 2, w, sizeof(w), b);
	CHECK(memcmp(a, b, DEKCACHE_ID_LEN) != 0);
	dekcache_id(kid, 1, w, sizeof(w), b);
	CHECK(memcmp(a, b, DEKCACHE_ID_LEN) != 0);
	dekcache_id(kid, 3, w, sizeof(w) - 1, b);
	CHECK(memcmp(a, b, DEKCACHE_ID_LEN) != 0);
	for (unsigned i = 0; i < sizeof(w); i++) {
		memcpy(w2, w, sizeof(w));
		w2[i] ^= 0x40;
		dekcache_id(kid, 3, w2, sizeof(w2), b);
		same += memcmp(a, b, DEKCACHE_ID_LEN) == 0;
	}
	CHECK_EQ_INT(same, 0);
	/* kid "ab" + alg 'c' is not kid "abc" + another alg. */
	dekcache_id("ab", 'c', (const uint8_t *)"d", 1, a);
	dekcache_id("abc", 0, (const uint8_t *)"d", 1, b);
	CHECK(memcmp(a, b, DEKCACHE_ID_LEN) != 0);
}

/* dek_cache_entries=0 turns caching off: nothing is ever served. */
static void disabled_caches_nothing(void)
{
	struct dekcache *c = dekcache_new(0, 300);
	uint8_t id[DEKCACHE_ID_LEN], dek[DEKCACHE_KEY_LEN];
	uint8_t out[DEKCACHE_KEY_LEN];
	struct dekcache_stats st;

	CHECK(c != NULL);
	if (!c)
		return;
	make_id(id, 1);
	make_dek(dek, 1);
	dekcache_put(c, id, dek);
	CHECK_EQ_INT(dekcache_get(c, id, out), 0);
	dekcache_stats(c, &st);
	CHECK_EQ_INT(st.entries, 0);
	CHECK_EQ_INT(st.inserts, 0);
	CHECK_EQ_INT(st.max_entries, 0);
	dekcache_free(c);
}

#define THREADS 8
#define ITERS 20000
#define IDS 96

struct hammer {
	struct dekcache *c;
	unsigned seed;
	unsigned bad, hits;
};

static void *hammer_run(void *arg)
{
	struct hammer *h = arg;
	uint8_t id[DEKCACHE_ID_LEN], dek[DEKCACHE_KEY_LEN];
	uint8_t out[DEKCACHE_KEY_LEN];
	unsigned x = h->seed;

	for (unsigned i = 0; i < ITERS; i++) {
		unsigned n;

		x = x * 1103515245u + 12345u;
		n = (x >> 8) % IDS;
		make_id(id, n);
		if ((x >> 20) % 3 == 0) {
			make_dek(dek, n);
			dekcache_put(h->c, id, dek);
		} else if (dekcache_get(h->c, id, out)) {
			make_dek(dek, n);
			h->hits++;
			if (memcmp(out, dek, DEKCACHE_KEY_LEN) != 0)
				h->bad++;
		}
		if (i % 5000 == 4999 && h->seed == 1)
			dekcache_flush(h->c);
	}
	return NULL;
}

/* Many FUSE threads opening files at once share the cache: a key read
 * back always belongs to the id asked for, and the counters add up. */
static void concurrent_hammer(void)
{
	struct dekcache *c = dekcache_new(32, 300);
	struct hammer h[THREADS];
	pthread_t t[THREADS];
	struct dekcache_stats st;
	unsigned bad = 0, hits = 0;
	int started = 0;

	CHECK(c != NULL);
	if (!c)
		return;
	for (int i = 0; i < THREADS; i++) {
		h[i] = (struct hammer){ .c = c, .seed = (unsigned)i + 1 };
		if (pthread_create(&t[i], NULL, hammer_run, &h[i]) == 0)
			started++;
		else
			break;
	}
	CHECK_EQ_INT(started, THREADS);
	for (int i = 0; i < started; i++) {
		pthread_join(t[i], NULL);
		bad += h[i].bad;
		hits += h[i].hits;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK(hits > 0);
	dekcache_stats(c, &st);
	CHECK(st.entries <= 32);
	CHECK_EQ_INT(st.hits, hits);
	CHECK_EQ_INT(st.hits + st.misses + st.inserts,
		     (unsigned long long)started * ITERS);
	dekcache_free(c);
}

CHECK_MAIN("dekcache",
	   T(put_get_miss), T(lru_eviction), T(max_age_expiry),
	   T(flush_drops_all), T(stats_exact), T(id_binds_inputs),
	   T(disabled_caches_nothing), T(concurrent_hammer))
