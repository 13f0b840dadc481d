/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "common/clock.h"
#include "workq.h"

int workq_init(struct workq *q, size_t cap)
{
	*q = (struct workq){ 0 };
	if (!(q->work = calloc(cap + 1, sizeof(*q->work))))
		return -ENOMEM;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	return 0;
}

void workq_destroy(struct workq *q)
{
	if (!q->work)
		return;
	free(q->work);
	free(q->retry);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	*q = (struct workq){ 0 };
}

void workq_add(struct workq *q, size_t id)
{
	q->work[q->nwork++].id = id;
}

/* The retry item due first, or nretry if none. Under lock. */
static size_t first_due(const struct workq *q)
{
	size_t best = q->nretry;

	for (size_t i = 0; i < q->nretry; i++)
		if (best == q->nretry ||
		    q->retry[i].not_before < q->retry[best].not_before)
			best = i;
	return best;
}

/* Waits on the queue's condition at most ms. Under lock. */
static void wait_ms(struct workq *q, uint64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)(ms * 1000000);
	ts.tv_sec += ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	pthread_cond_timedwait(&q->cond, &q->lock, &ts);
}

bool workq_take(struct workq *q, struct workq_item *it)
{
	bool got = false;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		uint64_t now = clock_ms();
		size_t best = first_due(q);

		if (best < q->nretry && q->retry[best].not_before <= now) {
			*it = q->retry[best];
			q->retry[best] = q->retry[--q->nretry];
			got = true;
		} else if (q->head < q->nwork) {
			*it = q->work[q->head++];
			got = true;
		}
		if (got || (best == q->nretry && q->inflight == 0))
			break;
		if (best < q->nretry) {
			uint64_t wait = q->retry[best].not_before - now;

			wait_ms(q, wait > 200 ? 200 : wait);
		} else {
			pthread_cond_wait(&q->cond, &q->lock);
		}
	}
	if (got)
		q->inflight++;
	pthread_mutex_unlock(&q->lock);
	return got;
}

bool workq_retry(struct workq *q, struct workq_item *it, unsigned max_tries,
		 uint64_t delay_ms)
{
	struct workq_item *n;
	bool ok = false;

	pthread_mutex_lock(&q->lock);
	if (++it->tries >= max_tries)
		goto out;
	if (q->nretry == q->capretry) {
		size_t cap = q->capretry ? q->capretry * 2 : 64;

		if (!(n = realloc(q->retry, cap * sizeof(*n))))
			goto out;
		q->retry = n;
		q->capretry = cap;
	}
	it->not_before = clock_ms() + delay_ms;
	q->retry[q->nretry++] = *it;
	q->inflight--;
	ok = true;
	pthread_cond_broadcast(&q->cond);
out:
	pthread_mutex_unlock(&q->lock);
	return ok;
}

void workq_done(struct workq *q)
{
	pthread_mutex_lock(&q->lock);
	q->inflight--;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void rate_init(struct rate *r, double per_s)
{
	*r = (struct rate){ .per_s = per_s, .last_ms = clock_ms() };
	pthread_mutex_init(&r->lock, NULL);
}

void rate_destroy(struct rate *r)
{
	pthread_mutex_destroy(&r->lock);
}

/* How long a taker must wait now; refills the bucket. Under lock. */
static uint64_t rate_wait(struct rate *r)
{
	uint64_t now = clock_ms();
	double cap = r->per_s > 1 ? r->per_s : 1;

	if (r->hold_until > now)
		return r->hold_until - now;
	if (r->per_s <= 0)
		return 0;
	r->tokens += (double)(now - r->last_ms) * r->per_s / 1000;
	r->last_ms = now;
	if (r->tokens > cap)
		r->tokens = cap;
	return r->tokens < 1 ?
	       (uint64_t)ceil((1 - r->tokens) * 1000 / r->per_s) : 0;
}

void rate_take(struct rate *r)
{
	uint64_t wait;

	pthread_mutex_lock(&r->lock);
	while ((wait = rate_wait(r)) > 0) {
		pthread_mutex_unlock(&r->lock);
		clock_sleep_ms(wait);
		pthread_mutex_lock(&r->lock);
	}
	if (r->per_s > 0)
		r->tokens -= 1;
	pthread_mutex_unlock(&r->lock);
}

void rate_hold(struct rate *r, uint64_t ms)
{
	pthread_mutex_lock(&r->lock);
	r->hold_until = clock_ms() + ms;
	pthread_mutex_unlock(&r->lock);
}
