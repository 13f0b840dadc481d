/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DEK cache: unwrapped data keys by the hash of their wrapped form,
 * bounded by entries and by age, in locked memory, wiped on eviction, on
 * flush and when freed. A hit saves an HSM round trip per open.
 */
#ifndef HSMFS_DEKCACHE_H
#define HSMFS_DEKCACHE_H

#include <stdint.h>

#define DEKCACHE_ID_LEN 32
#define DEKCACHE_KEY_LEN 32

struct dekcache;

struct dekcache_stats {
	unsigned long long hits, misses, inserts, evictions, expirations,
		flushes;
	unsigned entries, max_entries, max_age_s;
};

/* max_entries 0 disables caching. */
struct dekcache *dekcache_new(unsigned max_entries, unsigned max_age_s);
void dekcache_free(struct dekcache *c);
/* Copies the cached key into dek and returns 1; 0 on a miss. */
int dekcache_get(struct dekcache *c, const uint8_t id[DEKCACHE_ID_LEN],
		 uint8_t dek[DEKCACHE_KEY_LEN]);
void dekcache_put(struct dekcache *c, const uint8_t id[DEKCACHE_ID_LEN],
		  const uint8_t dek[DEKCACHE_KEY_LEN]);
/* Drops (and wipes) every entry. */
void dekcache_flush(struct dekcache *c);
void dekcache_stats(struct dekcache *c, struct dekcache_stats *st);
/* The cache id of a wrapped key: SHA-256 over kid, alg and bytes. */
void dekcache_id(const char *kid, int alg, const uint8_t *wrapped,
		 size_t wlen, uint8_t id[DEKCACHE_ID_LEN]);

#endif
