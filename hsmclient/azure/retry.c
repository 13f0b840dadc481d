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

#define MILLI 1000 /* the balance is kept in thousandths of a retry */

struct retry_budget {
	pthread_mutex_t lock;
	int64_t balance;
	uint64_t t; /* clock_ms() up to which time has been paid in */
};

struct retry_budget *retry_budget_new(void)
{
	struct retry_budget *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	pthread_mutex_init(&b->lock, NULL);
	b->balance = RETRY_BUDGET_MAX * MILLI;
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

/* Adds what time has earned since it was last paid in; the remainder
 * of a thousandth is kept for the next time. Lock held. */
static void refill(struct retry_budget *b, uint64_t now)
{
	uint64_t gain = (now - b->t) * MILLI / RETRY_BUDGET_REFILL_MS;

	b->t += gain * RETRY_BUDGET_REFILL_MS / MILLI;
	b->balance += (int64_t)gain;
	if (b->balance > RETRY_BUDGET_MAX * MILLI)
		b->balance = RETRY_BUDGET_MAX * MILLI;
}

bool retry_budget_allows(struct retry_budget *b)
{
	bool ok;

	pthread_mutex_lock(&b->lock);
	refill(b, clock_ms());
	ok = b->balance >= MILLI;
	pthread_mutex_unlock(&b->lock);
	return ok;
}

/* Retries are paid for only once they have failed: a call that retried
 * its way to an answer was worth them, whatever they cost the HSM. */
void retry_budget_settle(struct retry_budget *b, bool answered,
			 unsigned retries)
{
	pthread_mutex_lock(&b->lock);
	refill(b, clock_ms());
	if (answered)
		b->balance += RETRY_BUDGET_EARN_MILLI;
	else
		b->balance -= (int64_t)retries * MILLI;
	if (b->balance > RETRY_BUDGET_MAX * MILLI)
		b->balance = RETRY_BUDGET_MAX * MILLI;
	if (b->balance < 0)
		b->balance = 0;
	pthread_mutex_unlock(&b->lock);
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
