/* SPDX-License-Identifier: Apache-2.0 */
/* One logical HSM request: endpoint choice, attempts, retries, deadline. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "hsmclient/azure/client.h"
#include "hsmclient/azure/failover.h"
#include "hsmclient/azure/retry.h"

#define MIN_ATTEMPT_MS 50 /* less time left than this: no attempt */
#define WHY_MAX 160

struct client {
	struct http *http;
	struct failover *fo;
	struct retry_budget *budget;
	struct stats *stats;
	unsigned total_ms;
};

/* One logical request in progress. */
struct call {
	const struct http_req *rq;
	uint64_t deadline;
	struct http_resp *rs;
	enum kek_status st;        /* of the last attempt */
	bool have_resp;            /* the last attempt got an HTTP answer */
	unsigned retries;
	uint32_t tried;            /* endpoints tried in this round */
	char why[WHY_MAX];         /* cause of the last failure */
	char where[HTTP_BASE_MAX]; /* whom it was talking to */
};

/* How a call without a final answer ends. */
enum call_end { CALL_GO_ON, CALL_DEADLINE, CALL_EXHAUSTED };

enum kek_status client_new(const struct client_cfg *cfg, struct client **out,
			   char *err)
{
	enum kek_status st = KEK_E_NOMEM;
	struct client *c;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return KEK_E_NOMEM;
	c->stats = cfg->stats;
	c->total_ms = cfg->total_ms ? cfg->total_ms : HTTP_TOTAL_MS;
	c->budget = retry_budget_new();
	if (!c->budget)
		goto fail;
	st = failover_new(cfg->endpoints, &c->fo, err);
	if (st == KEK_OK)
		st = http_new(cfg->ca_file, cfg->connect_ms, &c->http, err);
	if (st != KEK_OK)
		goto fail;
	*out = c;
	return KEK_OK;
fail:
	client_free(c);
	return st;
}

void client_free(struct client *c)
{
	if (!c)
		return;
	http_free(c->http);
	failover_free(c->fo);
	retry_budget_free(c->budget);
	free(c);
}

void client_endpoint(struct client *c, char *out, size_t cap)
{
	failover_current(c->fo, out, cap);
}

/* "where: why extra", where and why bounded so that extra always fits. */
static enum kek_status give_up(const char *where, enum kek_status st,
			       const char *why, const char *extra, char *err)
{
	snprintf(err, KEK_ERR_MAX, "%.120s: %.90s%s", where, why, extra);
	return st;
}

/* Every endpoint's breaker is open: fail at once, quoting what opened
 * them rather than waiting for a timeout. */
static enum kek_status shed(struct client *c, char *err)
{
	char why[WHY_MAX];

	stats_last_error(c->stats, why, sizeof(why));
	return give_up(STATS_CIRCUIT_OPEN, KEK_E_UNAVAILABLE, why, "", err);
}

/* The final status and line of a call that ends without a final answer;
 * with a retryable answer in hand, the caller maps that instead. */
static enum kek_status finish(const struct call *k, enum call_end e,
			      char *err)
{
	enum kek_status st = k->st;

	if (k->have_resp)
		return KEK_OK;
	if (e == CALL_DEADLINE) {
		if (st != KEK_E_UNAVAILABLE && st != KEK_E_TIMEOUT)
			st = KEK_E_TIMEOUT;
		return give_up(k->where, st, k->why,
			       " (operation deadline reached)", err);
	}
	return give_up(k->where, st, k->why,
		       k->retries ? " (retries exhausted)" : "", err);
}

/* The endpoint for the next attempt, or -1 if this round tried them all.
 * An absolute URL (token endpoint, IMDS) is a single endpoint outside
 * the failover list. */
static int choose(struct client *c, const struct call *k, uint64_t now)
{
	if (k->rq->url)
		return k->tried & 1u ? -1 : 0;
	return failover_pick(c->fo, k->tried, now, k->retries > 0);
}

static enum fo_result fo_result_of(enum http_verdict a)
{
	switch (a) {
	case HTTP_DONE:
	case HTTP_THROTTLE:
		return FO_ANSWERED;
	case HTTP_FAIL:
		return FO_FAILED;
	case HTTP_FATAL:
		break;
	}
	return FO_NONE;
}

/* One attempt on endpoint i with what is left of the deadline. */
static enum http_verdict try_endpoint(struct client *c, struct call *k, int i,
				      uint64_t now)
{
	const struct http_req *rq = k->rq;
	uint64_t left = k->deadline - now;
	char url[HTTP_URL_MAX];
	bool conn_err = false;
	enum http_verdict a;

	if (rq->url)
		snprintf(url, sizeof(url), "%s", rq->url);
	else
		snprintf(url, sizeof(url), "%s%s", failover_base(c->fo, i),
			 rq->path);
	if (!rq->auth || strncmp(url, "https://", 8) == 0) {
		http_resp_reset(k->rs);
		a = http_attempt(c->http, url, rq,
				 left < c->total_ms ? left : c->total_ms,
				 k->rs, &k->st, &conn_err, k->why,
				 sizeof(k->why));
	} else {
		snprintf(k->why, sizeof(k->why), "bearer token refused on "
			 "a non-https URL");
		k->st = KEK_E_INVAL;
		a = HTTP_FATAL;
	}
	if (!rq->url) {
		failover_report(c->fo, i, fo_result_of(a), conn_err, k->why);
		snprintf(k->where, sizeof(k->where), "%s",
			 failover_base(c->fo, i));
		snprintf(k->rs->endpoint, sizeof(k->rs->endpoint), "%s",
			 failover_base(c->fo, i));
	}
	k->have_resp = k->st == KEK_OK;
	return a;
}

/* Waits before the next round, if the retry limits and deadline allow. */
static enum call_end wait_retry(struct client *c, struct call *k)
{
	unsigned after = k->rs->retry_after_ms;
	uint64_t delay;

	if (k->retries >= RETRY_MAX || after > RETRY_AFTER_CAP_MS)
		return CALL_EXHAUSTED;
	delay = retry_backoff_ms(k->retries, after);
	if (clock_ms() + delay + MIN_ATTEMPT_MS >= k->deadline)
		return CALL_DEADLINE;
	if (!retry_budget_take(c->budget))
		return CALL_EXHAUSTED;
	stats_retry(c->stats);
	clock_sleep_ms(delay);
	k->retries++;
	k->tried = 0;
	return CALL_GO_ON;
}

enum kek_status client_do(struct client *c, const struct http_req *rq,
			  uint64_t deadline, struct http_resp *rs, char *err)
{
	struct call k = { .rq = rq, .deadline = deadline, .rs = rs,
			  .st = KEK_E_UNAVAILABLE, .why = "no attempt made" };
	enum call_end e = CALL_GO_ON;
	enum http_verdict a;
	uint64_t now;
	int i;

	http_resp_reset(rs);
	retry_budget_deposit(c->budget);
	if (rq->url)
		snprintf(k.where, sizeof(k.where), "%.*s",
			 (int)strcspn(rq->url, "?"), rq->url);
	else
		snprintf(k.where, sizeof(k.where), "%s",
			 failover_count(c->fo) ? failover_base(c->fo, 0) :
						 "no endpoint");
	while (e == CALL_GO_ON) {
		now = clock_ms();
		i = choose(c, &k, now);
		if (i < 0 && !k.tried)
			return shed(c, err);
		if (i >= 0 && now + MIN_ATTEMPT_MS >= deadline) {
			if (!rq->url)
				failover_report(c->fo, i, FO_NONE, false, "");
			return finish(&k, CALL_DEADLINE, err);
		}
		if (i >= 0) {
			a = try_endpoint(c, &k, i, now);
			if (a == HTTP_DONE)
				return KEK_OK;
			if (a == HTTP_FATAL)
				return give_up(k.where, k.st, k.why, "", err);
			k.tried |= 1u << i;
			if (a == HTTP_FAIL)
				continue; /* fail over first; choose() says
					     when none is left */
		}
		e = wait_retry(c, &k);
	}
	return finish(&k, e, err);
}
