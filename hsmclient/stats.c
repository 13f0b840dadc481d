/* SPDX-License-Identifier: Apache-2.0 */
/* Per-KEK operation counters, latency percentiles and the last error. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsmclient/stats.h"

#define LAT_WIN 512

struct stats {
	pthread_mutex_t lock;
	unsigned long long calls[4][3], retries;
	uint32_t lat[LAT_WIN];
	unsigned lat_n, lat_i;
	char last_error[KEK_ERR_MAX];
};

struct stats *stats_new(void)
{
	struct stats *s = calloc(1, sizeof(*s));

	if (s)
		pthread_mutex_init(&s->lock, NULL);
	return s;
}

void stats_free(struct stats *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Client errors are the caller's to fix; server errors the HSM's. */
static int outcome(enum kek_status st)
{
	if (st == KEK_OK)
		return KEK_OUT_OK;
	if (st == KEK_E_UNAVAILABLE || st == KEK_E_TIMEOUT ||
	    st == KEK_E_PROTOCOL || st == KEK_E_THROTTLED)
		return KEK_OUT_SERVER_ERR;
	return KEK_OUT_CLIENT_ERR;
}

void stats_record(struct stats *s, int op, enum kek_status st,
		  unsigned latency_ms, const char *err)
{
	if (op < 0 || op > KEK_OP_TOKEN)
		return;
	pthread_mutex_lock(&s->lock);
	s->calls[op][outcome(st)]++;
	if (op != KEK_OP_TOKEN) {
		s->lat[s->lat_i] = latency_ms;
		s->lat_i = (s->lat_i + 1) % LAT_WIN;
		if (s->lat_n < LAT_WIN)
			s->lat_n++;
	}
	if (st != KEK_OK && err &&
	    strncmp(err, STATS_CIRCUIT_OPEN,
		    sizeof(STATS_CIRCUIT_OPEN) - 1) != 0)
		snprintf(s->last_error, sizeof(s->last_error), "%s", err);
	pthread_mutex_unlock(&s->lock);
}

void stats_retry(struct stats *s)
{
	pthread_mutex_lock(&s->lock);
	s->retries++;
	pthread_mutex_unlock(&s->lock);
}

void stats_last_error(struct stats *s, char *out, size_t cap)
{
	pthread_mutex_lock(&s->lock);
	snprintf(out, cap, "%s", s->last_error);
	pthread_mutex_unlock(&s->lock);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Value at percentile p of a sorted window of n samples. */
static unsigned pct(const uint32_t *v, unsigned n, unsigned p)
{
	unsigned idx;

	if (!n)
		return 0;
	idx = (n * p + 99) / 100;
	return v[idx ? idx - 1 : 0];
}

void stats_get(struct stats *s, struct kek_stats *st)
{
	uint32_t win[LAT_WIN];
	unsigned n;

	/* Sort a copy: the lock is not held for the sort. */
	pthread_mutex_lock(&s->lock);
	memcpy(st->calls, s->calls, sizeof(st->calls));
	st->retries = s->retries;
	n = s->lat_n;
	memcpy(win, s->lat, sizeof(win));
	snprintf(st->last_error, sizeof(st->last_error), "%s", s->last_error);
	pthread_mutex_unlock(&s->lock);
	qsort(win, n, sizeof(win[0]), cmp_u32);
	st->lat_p50_ms = pct(win, n, 50);
	st->lat_p90_ms = pct(win, n, 90);
	st->lat_p99_ms = pct(win, n, 99);
}
