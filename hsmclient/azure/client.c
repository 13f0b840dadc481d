/* SPDX-License-Identifier: Apache-2.0 */
/* One logical HSM request: endpoint choice, attempts, retries, deadline. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/stop.h"
#include "hsmclient/azure/client.h"
#include "hsmclient/azure/failover.h"
#include "hsmclient/azure/retry.h"

#define MIN_ATTEMPT_MS 50 /* less time left than this: no attempt */
#define WHY_MAX 256 /* holds curl's longest message after our prefix */
_Static_assert(HTTP_BASE_MAX + WHY_MAX + 64 <= KEK_ERR_MAX,
	       "an error line holds where, why and a note whole");

struct client {
	struct http *http;
	struct failover *fo;
	struct retry_budget *budget;
	struct stats *stats;
	unsigned total_ms;
};

/* One logical request in progress. Sets of endpoints are bit masks. */
struct call {
	const struct http_req *rq;
	uint64_t t0, deadline;
	struct http_resp *rs;
	enum kek_status st;        /* of the last attempt */
	bool have_resp;            /* the last attempt got an HTTP answer */
	unsigned retries;
	uint32_t tried;            /* endpoints tried in this round */
	uint32_t failed, answered; /* by endpoints, in this call */
	uint32_t probed;           /* endpoints it was the half-open probe of */
	char why[WHY_MAX];         /* cause of the last failure */
	char where[HTTP_BASE_MAX]; /* whom it was talking to */
};

/* Where a call stands after a round of attempts, or a wait. */
enum call_end {
	CALL_GO_ON,    /* retry */
	CALL_DONE,     /* a final answer */
	CALL_FATAL,    /* an error no retry can mend */
	CALL_DEADLINE, /* no time left for another attempt */
	CALL_NO_RETRY, /* Retry-After too long, or only failed probes */
	CALL_BUDGET,   /* the retry budget is spent */
	CALL_STOPPED,  /* the program is stopping */
};

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

/* "where: why extra": where (HTTP_BASE_MAX), why (WHY_MAX) and extra
 * (a note) fit KEK_ERR_MAX whole. For a certificate that is not trusted
 * where is the server alone: the path is not what is refused. */
static enum kek_status give_up(const char *where, enum kek_status st,
			       const char *why, const char *extra, char *err)
{
	const char *host = strstr(where, "://");
	int n = (int)strlen(where);

	if (st == KEK_E_UNTRUSTED && host)
		n = (int)(host + 3 - where) + (int)strcspn(host + 3, "/");
	snprintf(err, KEK_ERR_MAX, "%.*s: %s%s", n, where, why, extra);
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

/* The call gives up: each endpoint that failed it and never answered
 * it may be down, which its breaker decides. */
static void gave_up(struct client *c, const struct call *k)
{
	uint32_t m = k->failed & ~k->answered;

	for (int i = 0; m && i < failover_count(c->fo); i++)
		if (m & 1u << i)
			failover_gave_up(c->fo, i, k->t0, k->why);
}

/* The final status and line of a call that ends without a final answer;
 * with a retryable answer in hand, the caller maps that instead. Its
 * retries were for nothing: the budget is charged for them. */
static enum kek_status finish(struct client *c, const struct call *k,
			      enum call_end e, char *err)
{
	static const char *const note[] = {
		[CALL_DEADLINE] = " (operation deadline reached)",
		[CALL_NO_RETRY] = " (circuit open)",
		[CALL_BUDGET] = " (retries keep failing: retry budget spent)",
		[CALL_STOPPED] = " (stopping)",
	};
	enum kek_status st = k->st;

	retry_budget_settle(c->budget, false, k->retries);
	if (e == CALL_DEADLINE || e == CALL_BUDGET)
		gave_up(c, k);
	if (k->have_resp)
		return KEK_OK;
	if (e == CALL_DEADLINE && st != KEK_E_UNAVAILABLE &&
	    st != KEK_E_TIMEOUT)
		st = KEK_E_TIMEOUT;
	return give_up(k->where, st, k->why, note[e] ? note[e] : "", err);
}

/* The endpoint for the next attempt, or -1 if this round tried them all.
 * A retry may go to an open breaker, unless the call came to it as its
 * probe: a probe is one attempt (a call already retrying that happens to
 * probe keeps its retries). An absolute URL (token endpoint, IMDS) is a
 * single endpoint outside the failover list. */
static int choose(struct client *c, struct call *k, uint64_t now)
{
	uint32_t force = k->retries ? ~k->probed : 0;
	bool probe;
	int i;

	if (k->rq->url)
		return k->tried & 1u ? -1 : 0;
	i = failover_pick(c->fo, k->tried, force, now, &probe);
	if (i >= 0 && probe && !k->retries)
		k->probed |= 1u << i;
	return i;
}

/* Every endpoint was this call's probe, and none answered: each of
 * their breakers is open again, and there is nowhere to retry. */
static bool only_failed_probes(const struct client *c, const struct call *k)
{
	int n = failover_count(c->fo);
	uint32_t all = n < 32 ? (1u << n) - 1 : ~0u;

	return !k->rq->url && n > 0 && (k->probed & ~k->answered) == all;
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
		if (fo_result_of(a) == FO_FAILED)
			k->failed |= 1u << i;
		else if (fo_result_of(a) == FO_ANSWERED)
			k->answered |= 1u << i;
	}
	k->have_resp = k->st == KEK_OK;
	return a;
}

/* Waits before the next round, if the deadline, the breakers and the
 * retry budget allow; a stop request cuts the wait short. */
static enum call_end wait_retry(struct client *c, struct call *k)
{
	unsigned after = k->rs->retry_after_ms;
	uint64_t delay;

	if (after > RETRY_AFTER_CAP_MS || only_failed_probes(c, k))
		return CALL_NO_RETRY;
	delay = retry_backoff_ms(k->retries, after);
	if (clock_ms() + delay + MIN_ATTEMPT_MS >= k->deadline)
		return CALL_DEADLINE;
	if (!retry_budget_allows(c->budget))
		return CALL_BUDGET;
	if (!stop_sleep_ms(delay))
		return CALL_STOPPED;
	stats_retry(c->stats);
	k->retries++;
	k->tried = 0;
	return CALL_GO_ON;
}

/* One round: attempts on each endpoint not yet tried in it, moving on
 * after each failure, until an answer or none is left. */
static enum call_end try_round(struct client *c, struct call *k)
{
	enum http_verdict a;
	uint64_t now;
	int i;

	for (;;) {
		if (stop_requested())
			return CALL_STOPPED;
		now = clock_ms();
		i = choose(c, k, now);
		if (i < 0)
			return k->tried ? CALL_GO_ON : CALL_NO_RETRY;
		if (now + MIN_ATTEMPT_MS >= k->deadline) {
			if (!k->rq->url)
				failover_report(c->fo, i, FO_NONE, false, "");
			return CALL_DEADLINE;
		}
		a = try_endpoint(c, k, i, now);
		k->tried |= 1u << i;
		if (a == HTTP_DONE)
			return CALL_DONE;
		if (a == HTTP_FATAL)
			return CALL_FATAL;
		if (a == HTTP_THROTTLE)
			return CALL_GO_ON; /* wait, then the same endpoint */
	}
}

enum kek_status client_do(struct client *c, const struct http_req *rq,
			  uint64_t deadline, struct http_resp *rs, char *err)
{
	struct call k = { .rq = rq, .t0 = clock_ms(), .deadline = deadline,
			  .rs = rs, .st = KEK_E_UNAVAILABLE,
			  .why = "no attempt made" };
	enum call_end e;

	http_resp_reset(rs);
	if (rq->url)
		snprintf(k.where, sizeof(k.where), "%.*s",
			 (int)strcspn(rq->url, "?"), rq->url);
	else
		snprintf(k.where, sizeof(k.where), "%s",
			 failover_count(c->fo) ? failover_base(c->fo, 0) :
						 "no endpoint");
	e = try_round(c, &k);
	/* Every breaker open, and this is no probe: fail at once. */
	if (e == CALL_NO_RETRY && !k.tried)
		return shed(c, err);
	while (e == CALL_GO_ON) {
		e = wait_retry(c, &k);
		if (e == CALL_GO_ON)
			e = try_round(c, &k);
	}
	if (e != CALL_DONE)
		return finish(c, &k, e, err);
	retry_budget_settle(c->budget, true, k.retries);
	return KEK_OK;
}
