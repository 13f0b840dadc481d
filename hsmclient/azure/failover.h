/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ordered list of endpoints serving the same keys, with a circuit
 * breaker each. A breaker opens after FO_FAIL_THRESHOLD consecutive
 * failures (after one connect failure when another endpoint is usable)
 * and sheds new calls for a cool-down; then one call probes it, and an
 * answer closes it. Thread-safe. Endpoints are indexes 0..count-1 and a
 * round's tried endpoints a bit set. failover_new() returns a kek_status
 * with one line in err[KEK_ERR_MAX]; the rest cannot fail.
 */
#ifndef HSMFS_AZ_FAILOVER_H
#define HSMFS_AZ_FAILOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hsmclient/kek.h"

#define FO_COOLDOWN_MS 30000     /* breaker open, an alternative exists */
#define FO_COOLDOWN_LAST_MS 5000 /* breaker open, no alternative left */
#define FO_FAIL_THRESHOLD 3      /* consecutive failures that open it */

/* What an attempt on an endpoint says about its health. */
enum fo_result {
	FO_ANSWERED, /* an HTTP answer that is not a server failure */
	FO_FAILED,   /* transport error, timeout, 5xx, 408 */
	FO_NONE,     /* no verdict (local error, no time left) */
};

struct failover;

/* bases: canonical "https://host[:port]", NULL-terminated, at most
 * KEK_MAX_ENDPOINTS + 1 (none is allowed: callers with absolute URLs). */
enum kek_status failover_new(const char *const *bases, struct failover **out,
			     char *err);
void failover_free(struct failover *f);
int failover_count(const struct failover *f);
/* Base URL of endpoint i; fixed for f's lifetime. */
const char *failover_base(const struct failover *f, int i);
/* Base of the endpoint in use now into out ("" if there is none). */
void failover_current(struct failover *f, char *out, size_t cap);

/* Claims an endpoint not in tried: a closed one first, in order; then
 * one whose cool-down is over (as the single half-open probe); then, if
 * force (the call is already retrying), the first untried one even if
 * open: a breaker sheds new calls, it does not cut short the retries of
 * one in progress. -1 if none. */
int failover_pick(struct failover *f, uint32_t tried, uint64_t now,
		  bool force);
/* Feeds the outcome of an attempt on endpoint i into its breaker, moves
 * the endpoint in use, and logs each switch with why (the cause). */
void failover_report(struct failover *f, int i, enum fo_result r,
		     bool conn_err, const char *why);

#endif
