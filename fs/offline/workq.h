/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A work queue for the offline tools' worker threads: items (indexes the
 * caller gives meaning to) taken in order, an item put back to be tried
 * again after a delay, and the end once nothing is queued, waiting or in
 * a worker's hands. And a rate limiter for HSM calls: a token bucket,
 * and a pause for every worker after one of them was throttled.
 */
#ifndef HSMFS_OFFLINE_WORKQ_H
#define HSMFS_OFFLINE_WORKQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct workq_item {
	size_t id;
	unsigned tries;      /* times it was put back */
	uint64_t not_before; /* clock_ms() */
};

struct workq {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct workq_item *work, *retry;
	size_t nwork, head, nretry, capretry;
	unsigned inflight;
};

/* 0, or -ENOMEM. cap: how many items will be added. */
int workq_init(struct workq *q, size_t cap);
void workq_destroy(struct workq *q);
/* Before the workers start. */
void workq_add(struct workq *q, size_t id);
/* The next item, waiting for one whose delay has passed; false when all
 * work is done. */
bool workq_take(struct workq *q, struct workq_item *it);
/* Puts a taken item back, to be taken again after delay_ms; false once
 * it has had max_tries, and the caller finishes it with workq_done. */
bool workq_retry(struct workq *q, struct workq_item *it, unsigned max_tries,
		 uint64_t delay_ms);
/* A taken item is finished. */
void workq_done(struct workq *q);

struct rate {
	pthread_mutex_t lock;
	double per_s;  /* 0: no bound */
	double tokens;
	uint64_t last_ms, hold_until;
};

void rate_init(struct rate *r, double per_s);
void rate_destroy(struct rate *r);
/* Waits for a token (a burst of one second's worth), and out any hold. */
void rate_take(struct rate *r);
/* Every taker waits ms from now: the HSM asked us to slow down. */
void rate_hold(struct rate *r, uint64_t ms);

#endif
