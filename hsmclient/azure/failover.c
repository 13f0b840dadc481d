/* SPDX-License-Identifier: Apache-2.0 */
/* Endpoint failover with a circuit breaker per endpoint. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "hsmclient/azure/failover.h"
#include "hsmclient/azure/http.h"

#define FO_MAX (KEK_MAX_ENDPOINTS + 1)

struct ep {
	char base[HTTP_BASE_MAX];
	unsigned fails;       /* failed attempts since its last answer */
	uint64_t answered_at; /* clock_ms() of its last answer, 0: none */
	uint64_t open_until;  /* 0: closed */
	bool probing;         /* a half-open probe is in flight */
};

struct failover {
	pthread_mutex_t lock; /* the breakers and cur */
	struct ep ep[FO_MAX];
	int nep, cur;
};

enum kek_status failover_new(const char *const *bases, struct failover **out,
			     char *err)
{
	struct failover *f;

	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return KEK_E_NOMEM;
	pthread_mutex_init(&f->lock, NULL);
	for (int i = 0; bases && bases[i]; i++) {
		if (i == FO_MAX || strlen(bases[i]) >= HTTP_BASE_MAX) {
			snprintf(err, KEK_ERR_MAX,
				 "too many or too long endpoints");
			failover_free(f);
			return KEK_E_INVAL;
		}
		strcpy(f->ep[i].base, bases[i]);
		f->nep = i + 1;
	}
	*out = f;
	return KEK_OK;
}

void failover_free(struct failover *f)
{
	if (!f)
		return;
	pthread_mutex_destroy(&f->lock);
	free(f);
}

int failover_count(const struct failover *f)
{
	return f->nep;
}

const char *failover_base(const struct failover *f, int i)
{
	return f->ep[i].base;
}

void failover_current(struct failover *f, char *out, size_t cap)
{
	pthread_mutex_lock(&f->lock);
	snprintf(out, cap, "%s", f->nep ? f->ep[f->cur].base : "");
	pthread_mutex_unlock(&f->lock);
}

int failover_pick(struct failover *f, uint32_t tried, uint32_t force,
		  uint64_t now, bool *probe)
{
	int i, r = -1;

	*probe = false;
	pthread_mutex_lock(&f->lock);
	for (i = 0; i < f->nep && r < 0; i++)
		if (!(tried & 1u << i) && !f->ep[i].open_until)
			r = i;
	for (i = 0; i < f->nep && r < 0; i++)
		if (!(tried & 1u << i) && !f->ep[i].probing &&
		    now >= f->ep[i].open_until) {
			f->ep[i].probing = *probe = true;
			r = i;
		}
	for (i = 0; i < f->nep && r < 0; i++)
		if (!(tried & 1u << i) && (force & 1u << i))
			r = i;
	pthread_mutex_unlock(&f->lock);
	return r;
}

/* Closed, or open with its cool-down over and no probe in flight. */
static bool usable(const struct ep *e, uint64_t now)
{
	return !e->open_until || (!e->probing && now >= e->open_until);
}

/* Next usable endpoint after a failure at i, without claiming it. */
static int next_usable(const struct failover *f, int i, uint64_t now)
{
	for (int j = 0; j < f->nep; j++)
		if (j != i && usable(&f->ep[j], now))
			return j;
	return -1;
}

/* Endpoint i answered: close its breaker and prefer it again. */
static void answered(struct failover *f, int i)
{
	struct ep *e = &f->ep[i];
	int old = f->cur;
	bool was_open = e->open_until != 0;

	e->fails = 0;
	e->answered_at = clock_ms();
	e->open_until = 0;
	f->cur = i;
	if (i < old || was_open)
		log_info("HSM endpoint %s answers again; using it", e->base);
}

/* Opens (or keeps open) endpoint i's breaker for a cool-down: the long
 * one if calls have somewhere else to go (j >= 0). */
static void trip(struct ep *e, int j, uint64_t now)
{
	e->open_until = now + (j >= 0 ? FO_COOLDOWN_MS : FO_COOLDOWN_LAST_MS);
}

/* Endpoint i failed an attempt: calls move off it if they can. Its
 * breaker opens again if it was open (a failed probe, or a retry let
 * through). Closed, it opens on attempts alone only while another
 * endpoint is usable, when opening it fails no call: at once if no
 * connection could be made (a refused one will not answer the next call
 * either), else after FO_FAIL_THRESHOLD failures with no answer between
 * them. */
static void failed(struct failover *f, int i, bool conn_err, const char *why)
{
	uint64_t now = clock_ms();
	struct ep *e = &f->ep[i];
	int j = next_usable(f, i, now);

	e->fails++;
	if (e->open_until ||
	    (j >= 0 && (conn_err || e->fails >= FO_FAIL_THRESHOLD)))
		trip(e, j, now);
	if (f->cur == i && j >= 0) {
		f->cur = j;
		log_warn("HSM endpoint %s failed (%s); switching to %s",
			 e->base, why, f->ep[j].base);
	}
}

void failover_report(struct failover *f, int i, enum fo_result r,
		     bool conn_err, const char *why)
{
	pthread_mutex_lock(&f->lock);
	f->ep[i].probing = false;
	if (r == FO_ANSWERED)
		answered(f, i);
	else if (r == FO_FAILED)
		failed(f, i, conn_err, why);
	pthread_mutex_unlock(&f->lock);
}

/* A whole call's attempts failed there, and nobody else had an answer
 * either: the endpoint is down, not unlucky, and further calls would
 * only wait for their deadline too. */
void failover_gave_up(struct failover *f, int i, uint64_t since,
		      const char *why)
{
	uint64_t now = clock_ms();
	struct ep *e = &f->ep[i];
	int j;

	pthread_mutex_lock(&f->lock);
	if (!e->open_until && e->answered_at < since) {
		j = next_usable(f, i, now);
		trip(e, j, now);
		if (j < 0)
			log_warn("HSM endpoint %s is not answering (%s); "
				 "calls fail at once, and every %u s one "
				 "tries it again", e->base, why,
				 FO_COOLDOWN_LAST_MS / 1000);
	}
	pthread_mutex_unlock(&f->lock);
}
