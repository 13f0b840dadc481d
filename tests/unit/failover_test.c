/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The circuit breakers of the HSM endpoints: failed attempts alone never
 * open the last one (faults that come and go are for retries), a call
 * that gives up on an endpoint nobody got an answer from does, an open
 * breaker sheds new calls but not the retries of calls in progress, and
 * lets one call through as a probe after its cool-down. With another
 * endpoint to go to, failures open a breaker sooner.
 */
#include <stdbool.h>

#include "check.h"
#include "common/clock.h"
#include "hsmclient/azure/failover.h"

static struct failover *make(const char *const *bases)
{
	char err[KEK_ERR_MAX];
	struct failover *f = NULL;

	CHECK_EQ_INT(failover_new(bases, &f, err), KEK_OK);
	return f;
}

/* Endpoint a new call gets, or -1: shed. */
static int new_call(struct failover *f, uint64_t now, bool *probe)
{
	return failover_pick(f, 0, 0, now, probe);
}

/* However many attempts fail, with answers in between or not, the
 * breaker stays closed until a call gives up. */
static void attempts_alone_never_open(void)
{
	static const char *const one[] = { "https://a.example", NULL };
	struct failover *f = make(one);
	bool probe;

	if (!f)
		return;
	for (int i = 0; i < 50; i++)
		failover_report(f, 0, FO_FAILED, false, "HTTP 503");
	CHECK_EQ_INT(new_call(f, clock_ms(), &probe), 0);
	CHECK(!probe);
	failover_free(f);
}

/* A call gives up, and nobody got an answer meanwhile: open. New calls
 * are shed, a call already retrying goes on, and after the cool-down
 * one call probes; its single failure opens it again, an answer closes
 * it. */
static void give_up_opens_then_probe(void)
{
	static const char *const one[] = { "https://a.example", NULL };
	struct failover *f = make(one);
	uint64_t t0 = clock_ms(), later;
	bool probe;

	if (!f)
		return;
	failover_report(f, 0, FO_FAILED, false, "HTTP 503");
	failover_gave_up(f, 0, t0, "HTTP 503");
	CHECK_EQ_INT(new_call(f, clock_ms(), &probe), -1);
	CHECK_EQ_INT(failover_pick(f, 0, 1, clock_ms(), &probe), 0);
	CHECK(!probe);
	later = clock_ms() + FO_COOLDOWN_LAST_MS;
	CHECK_EQ_INT(new_call(f, later, &probe), 0);
	CHECK(probe);
	CHECK_EQ_INT(new_call(f, later, &probe), -1); /* one probe at a time */
	failover_report(f, 0, FO_FAILED, false, "HTTP 503");
	CHECK_EQ_INT(new_call(f, clock_ms(), &probe), -1);
	later = clock_ms() + FO_COOLDOWN_LAST_MS;
	CHECK_EQ_INT(new_call(f, later, &probe), 0);
	CHECK(probe);
	failover_report(f, 0, FO_ANSWERED, false, "");
	CHECK_EQ_INT(new_call(f, clock_ms(), &probe), 0);
	CHECK(!probe);
	failover_free(f);
}

/* Another call's answer since the call began says the endpoint is up:
 * the call was unlucky, and the breaker stays closed. */
static void answer_meanwhile_keeps_closed(void)
{
	static const char *const one[] = { "https://a.example", NULL };
	struct failover *f = make(one);
	uint64_t t0 = clock_ms();
	bool probe;

	if (!f)
		return;
	failover_report(f, 0, FO_FAILED, false, "HTTP 503");
	failover_report(f, 0, FO_ANSWERED, false, "");
	failover_report(f, 0, FO_FAILED, false, "HTTP 503");
	failover_gave_up(f, 0, t0, "HTTP 503");
	CHECK_EQ_INT(new_call(f, clock_ms(), &probe), 0);
	CHECK(!probe);
	failover_free(f);
}

/* With somewhere else to go, a refused connection opens the breaker at
 * once, and calls go to the next endpoint (for the long cool-down). */
static void connect_failure_fails_over(void)
{
	static const char *const two[] = { "https://a.example",
					   "https://b.example", NULL };
	struct failover *f = make(two);
	char cur[64];
	bool probe;

	if (!f)
		return;
	failover_report(f, 0, FO_FAILED, true, "Couldn't connect");
	CHECK_EQ_INT(new_call(f, clock_ms(), &probe), 1);
	failover_current(f, cur, sizeof(cur));
	CHECK(!strcmp(cur, "https://b.example"));
	CHECK_EQ_INT(new_call(f, clock_ms() + FO_COOLDOWN_LAST_MS, &probe), 1);
	CHECK_EQ_INT(failover_pick(f, 2, 0, clock_ms() + FO_COOLDOWN_MS,
				   &probe), 0);
	CHECK(probe);
	failover_free(f);
}

/* With somewhere else to go, failed attempts in a row open a breaker
 * (that fails no call); an answer between them starts the count anew. */
static void failures_in_a_row_fail_over(void)
{
	static const char *const two[] = { "https://a.example",
					   "https://b.example", NULL };
	struct failover *f = make(two);
	bool probe;

	if (!f)
		return;
	for (int i = 1; i < FO_FAIL_THRESHOLD; i++)
		failover_report(f, 0, FO_FAILED, false, "HTTP 503");
	failover_report(f, 0, FO_ANSWERED, false, "");
	for (int i = 1; i < FO_FAIL_THRESHOLD; i++)
		failover_report(f, 0, FO_FAILED, false, "HTTP 503");
	CHECK_EQ_INT(new_call(f, clock_ms(), &probe), 0);
	failover_report(f, 0, FO_FAILED, false, "HTTP 503");
	CHECK_EQ_INT(new_call(f, clock_ms(), &probe), 1);
	failover_free(f);
}

CHECK_MAIN("failover", T(attempts_alone_never_open),
	   T(give_up_opens_then_probe), T(answer_meanwhile_keeps_closed),
	   T(connect_failure_fails_over), T(failures_in_a_row_fail_over))
