/* SPDX-License-Identifier: Apache-2.0 */
/*
 * When the HSM client retries: how long the HSM asks us to wait
 * (Retry-After, retry-after-ms), how long we wait otherwise, and the
 * retry budget, which must let retries overcome faults however frequent
 * and stop them only when they keep failing.
 */
#include "check.h"
#include "hsmclient/azure/retry.h"

static void seconds_and_ms(void)
{
	CHECK_EQ_INT(retry_after_parse("5", 1000), 5000);
	CHECK_EQ_INT(retry_after_parse("120, more", 1000), 120000);
	CHECK_EQ_INT(retry_after_parse("250", 1), 250);
	CHECK_EQ_INT(retry_after_parse("soon", 1), 0);
}

/* A huge value is at most a day: never wrapped around to a short wait
 * that would be retried at once. */
static void huge_values_clamp(void)
{
	CHECK_EQ_INT(retry_after_parse("4294968", 1000), 86400000);
	CHECK_EQ_INT(retry_after_parse("99999999999999", 1000), 86400000);
	CHECK_EQ_INT(retry_after_parse("99999999999999", 1), 86400000);
	CHECK_EQ_INT(retry_after_parse("86400", 1000), 86400000);
}

/* Full jitter under a doubling bound, capped; a Retry-After is waited
 * exactly, whatever the retry's number. */
static void backoff_bounds(void)
{
	uint64_t bound, d, most = 0;

	for (unsigned n = 0; n < 12; n++) {
		bound = (uint64_t)RETRY_BASE_MS << n;
		if (bound > RETRY_CAP_MS)
			bound = RETRY_CAP_MS;
		for (int i = 0; i < 200; i++) {
			d = retry_backoff_ms(n, 0);
			CHECK(d <= bound);
			if (n == 11 && d > most)
				most = d;
		}
		CHECK_EQ_INT(retry_backoff_ms(n, 1500), 1500);
	}
	/* 200 draws under the cap: at least one in its upper half. */
	CHECK(most > RETRY_CAP_MS / 2);
}

/* Calls that get their answer after retries, as with faults that come
 * and go, never spend the budget, however many retries they needed. */
static void budget_kept_by_answered_calls(void)
{
	struct retry_budget *b = retry_budget_new();

	if (!b)
		return;
	for (int i = 0; i < 1000; i++) {
		CHECK(retry_budget_allows(b));
		retry_budget_settle(b, true, (unsigned)(i % 8));
	}
	CHECK(retry_budget_allows(b));
	retry_budget_free(b);
}

/* Calls that give up pay for their retries: a call or two that retried
 * for nothing spend it all, and then no call retries until answered
 * calls (or time) earn a retry back. */
static void budget_spent_by_failing_calls(void)
{
	struct retry_budget *b = retry_budget_new();
	int earned = 0;

	if (!b)
		return;
	retry_budget_settle(b, false, 6);
	CHECK(retry_budget_allows(b));
	retry_budget_settle(b, false, 6);
	CHECK(!retry_budget_allows(b));
	/* Deep in debt does not mean a long way back: it stays at 0. */
	retry_budget_settle(b, false, 1000);
	while (!retry_budget_allows(b) && earned < 100) {
		retry_budget_settle(b, true, 0);
		earned++;
	}
	CHECK(earned >= 9 && earned <= 10); /* 1 / RETRY_BUDGET_EARN */
	retry_budget_free(b);
}

CHECK_MAIN("retry", T(seconds_and_ms), T(huge_values_clamp),
	   T(backoff_bounds), T(budget_kept_by_answered_calls),
	   T(budget_spent_by_failing_calls))
