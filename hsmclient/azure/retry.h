/* SPDX-License-Identifier: Apache-2.0 */
/*
 * When to retry a request and how long to wait: exponential backoff with
 * full jitter, the server's Retry-After, and a retry budget per KEK.
 *
 * A call retries for as long as its deadline allows. The budget stops
 * retries only when they keep failing: a call that gets its answer
 * earns a tenth of a retry, one that gives up without an answer pays one
 * for each retry it made, time alone earns one every
 * RETRY_BUDGET_REFILL_MS, and the balance stays within 0 and
 * RETRY_BUDGET_MAX retries; a retry needs one whole retry in it.
 * Faults that retries overcome (each attempt failing on its own, however
 * often) cost nothing; an outage or a storm of throttling that they do
 * not overcome spends the budget within a call or two, and calls then
 * make one attempt each until answers come back, so that retries never
 * multiply the load on an HSM that is not answering.
 *
 * Nothing here fails but retry_budget_new() (NULL: out of memory); the
 * caller turns "no retry left" into a kek_status and its error line.
 */
#ifndef HSMFS_AZ_RETRY_H
#define HSMFS_AZ_RETRY_H

#include <stdbool.h>
#include <stdint.h>

/* Defaults, all in milliseconds. */
#define RETRY_BASE_MS 200          /* backoff base, full jitter */
#define RETRY_CAP_MS 2000          /* backoff cap */
#define RETRY_AFTER_CAP_MS 10000   /* longer Retry-After: give up */

#define RETRY_BUDGET_MAX 10          /* retries */
#define RETRY_BUDGET_EARN_MILLI 100  /* an answered call earns 0.1 retry */
#define RETRY_BUDGET_REFILL_MS 5000  /* time alone earns a retry */

struct retry_budget;

struct retry_budget *retry_budget_new(void);
void retry_budget_free(struct retry_budget *b);
/* True if a retry may be made now (one is left); takes nothing. */
bool retry_budget_allows(struct retry_budget *b);
/* A call ended: answered (a final answer) or not, after retries. */
void retry_budget_settle(struct retry_budget *b, bool answered,
			 unsigned retries);

/* Delay before retry number n (0-based): the server's Retry-After when it
 * gave one, else full jitter up to RETRY_BASE_MS * 2^n, capped. */
uint64_t retry_backoff_ms(unsigned n, unsigned retry_after_ms);
/* A Retry-After value in milliseconds: delta seconds (mult 1000) or an
 * HTTP date; for retry-after-ms (mult 1) milliseconds only. 0: none. */
unsigned retry_after_parse(const char *v, unsigned mult);

#endif
