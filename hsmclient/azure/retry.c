/* SPDX-License-Identifier: Apache-2.0 */
/* Backoff, Retry-After and the retry budget. */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "common/clock.h"
#include "hsmclient/azure/retry.h"

struct retry_budget {
	pthread_mutex_t lock;
	double balance;
	uint64_t t; /* clock_ms() of the last refill */
};

struct retry_budget *retry_budget_new(void)
{
	struct retry_budget *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	pthread_mutex_init(&b->lock, NULL);
	b->balance = RETRY_BUDGET_MAX;
	b->t = clock_ms();
	return b;
}

void retry_budget_free(struct retry_budget *b)
{
	if (!b)
		return;
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* Adds what time has earned since the last refill. Lock held. */
static void refill(struct retry_budget *b, uint64_t now)
{
	b->balance += (double)(now - b->t) / 1000.0 * RETRY_BUDGET_FLOOR_PER_S;
	b->t = now;
	if (b->balance > RETRY_BUDGET_MAX)
		b->balance = RETRY_BUDGET_MAX;
}

void retry_budget_deposit(struct retry_budget *b)
{
	pthread_mutex_lock(&b->lock);
	refill(b, clock_ms());
	b->balance += RETRY_BUDGET_RATIO;
	if (b->balance > RETRY_BUDGET_MAX)
		b->balance = RETRY_BUDGET_MAX;
	pthread_mutex_unlock(&b->lock);
}

bool retry_budget_take(struct retry_budget *b)
{
	bool ok;

	pthread_mutex_lock(&b->lock);
	refill(b, clock_ms());
	ok = b->balance >= 1.0;
	if (ok)
		b->balance -= 1.0;
	pthread_mutex_unlock(&b->lock);
	return ok;
}

/* Uniform random number in [0, n]. */
static uint64_t rand_upto(uint64_t n)
{
	uint64_t r = 0;

	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint64_t)random();
	return n ? r % (n + 1) : 0;
}

uint64_t retry_backoff_ms(unsigned n, unsigned retry_after_ms)
{
	uint64_t cap = RETRY_BASE_MS << (n < 10 ? n : 10);

	if (retry_after_ms)
		return retry_after_ms;
	if (cap > RETRY_CAP_MS)
		cap = RETRY_CAP_MS;
	return rand_upto(cap);
}

unsigned retry_after_parse(const char *v, unsigned mult)
{
	unsigned long n;
	time_t t;

	/* A prefix parse on purpose: "120, ..." or a trailing space from a
	 * sloppy server still counts, and a huge value is clamped. */
	if (isdigit((unsigned char)*v)) {
		n = strtoul(v, NULL, 10);
		/* At most a day, clamped before the multiplication so that
		 * a huge value never wraps to a short wait. */
		if (n > 86400UL * 1000 / mult)
			n = 86400UL * 1000 / mult;
		return (unsigned)(n * mult);
	}
	if (mult != 1000)
		return 0;
	t = curl_getdate(v, NULL);
	if (t <= time(NULL))
		return 0;
	return (unsigned)((t - time(NULL)) > 86400 ? 86400000 :
			  (t - time(NULL)) * 1000);
}
