/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ordered list of endpoints serving the same keys, with a circuit
 * breaker each. A failed attempt moves calls on to another endpoint if
 * there is one. An open breaker that leaves no endpoint fails calls, so
 * attempts alone never open the last one: faults that come and go are
 * for retries to overcome. A breaker opens when a call gives up on its
 * endpoint (its deadline reached or its retries cut short, every attempt
 * there failed) and no other call got an answer from it meanwhile; and,
 * while another endpoint is usable, on a connect failure or on
 * FO_FAIL_THRESHOLD failed attempts with no answer between them. Open,
 * it sheds new calls for a cool-down; then one call probes it with a
 * single attempt: an answer closes it, a failure opens it again.
 * Thread-safe. Endpoints are indexes 0..count-1, sets of them bit masks.
 * failover_new() returns a kek_status with one line in err[KEK_ERR_MAX];
 * the rest cannot fail.
 */
#ifndef HSMFS_AZ_FAILOVER_H
#define HSMFS_AZ_FAILOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hsmclient/kek.h"

#define FO_COOLDOWN_MS 30000     /* breaker open, an alternative exists */
#define FO_COOLDOWN_LAST_MS 2000 /* breaker open, no alternative left */
#define FO_FAIL_THRESHOLD 3      /* failed attempts that open it, while
				    another endpoint is usable */

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
 * one whose cool-down is over, as its single half-open probe (*probe
 * set); then the first one in force even if open: a breaker sheds new
 * calls, it does not cut short the retries of one in progress. -1 if
 * none. */
int failover_pick(struct failover *f, uint32_t tried, uint32_t force,
		  uint64_t now, bool *probe);
/* Feeds the outcome of an attempt on endpoint i into its breaker, moves
 * the endpoint in use, and logs each switch with why (the cause). */
void failover_report(struct failover *f, int i, enum fo_result r,
		     bool conn_err, const char *why);
/* A call that began at since (clock_ms()) gives up on endpoint i, which
 * failed every attempt it made there: opens i's breaker unless i has
 * answered some call since then. */
void failover_gave_up(struct failover *f, int i, uint64_t since,
		      const char *why);

#endif
