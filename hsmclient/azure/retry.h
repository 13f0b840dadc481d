/* SPDX-License-Identifier: Apache-2.0 */
/*
 * When to retry a request and how long to wait: backoff with full jitter,
 * the server's Retry-After, and a retry budget per KEK so that an outage
 * does not multiply the load on the HSM. A token bucket: each request
 * deposits RETRY_BUDGET_RATIO, each retry takes 1, and the balance refills
 * at RETRY_BUDGET_FLOOR_PER_S on its own, never above RETRY_BUDGET_MAX.
 * Nothing here fails but retry_budget_new() (NULL: out of memory); the
 * caller turns "no retry left" into a kek_status and its error line.
 */
#ifndef HSMFS_AZ_RETRY_H
#define HSMFS_AZ_RETRY_H

#include <stdbool.h>
#include <stdint.h>

/* Defaults, all in milliseconds. */
#define RETRY_BASE_MS 200          /* backoff base, full jitter */
#define RETRY_CAP_MS 5000          /* backoff cap */
#define RETRY_AFTER_CAP_MS 10000   /* longer Retry-After: give up */
#define RETRY_MAX 4                /* retries per request */

#define RETRY_BUDGET_MAX 10.0
#define RETRY_BUDGET_RATIO 0.1
#define RETRY_BUDGET_FLOOR_PER_S 0.2

struct retry_budget;

struct retry_budget *retry_budget_new(void);
void retry_budget_free(struct retry_budget *b);
/* A new request: deposit its share. */
void retry_budget_deposit(struct retry_budget *b);
/* Takes one retry from the budget; false if it is spent. */
bool retry_budget_take(struct retry_budget *b);

/* Delay before retry number n (0-based): the server's Retry-After when it
 * gave one, else full jitter up to RETRY_BASE_MS * 2^n, capped. */
uint64_t retry_backoff_ms(unsigned n, unsigned retry_after_ms);
/* A Retry-After value in milliseconds: delta seconds (mult 1000) or an
 * HTTP date; for retry-after-ms (mult 1) milliseconds only. 0: none. */
unsigned retry_after_parse(const char *v, unsigned mult);

#endif
