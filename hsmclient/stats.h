/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Statistics of one KEK: finished operations by outcome, retries, latency
 * percentiles over a window of recent HSM calls, and the last error line.
 * Thread-safe. Recording cannot fail; stats_new() returns NULL when out of
 * memory (the caller reports KEK_E_NOMEM).
 */
#ifndef HSMFS_STATS_H
#define HSMFS_STATS_H

#include <stddef.h>

#include "hsmclient/kek.h"

/* The error line of a call refused at once because every endpoint's
 * circuit breaker is open. Such a call adds nothing new, so it does not
 * replace the last error: that keeps the cause that opened the breakers. */
#define STATS_CIRCUIT_OPEN "all HSM endpoints are failing (circuit open)"

struct stats;

struct stats *stats_new(void);
void stats_free(struct stats *s);
/* One finished operation: op is KEK_OP_*; err is its error line (NULL
 * or ignored when st is KEK_OK). Token requests count no latency. */
void stats_record(struct stats *s, int op, enum kek_status st,
		  unsigned latency_ms, const char *err);
/* One retry made. */
void stats_retry(struct stats *s);
/* A copy of the last error line ("" if none). */
void stats_last_error(struct stats *s, char *out, size_t cap);
/* Fills calls, retries, latencies and last_error of st. */
void stats_get(struct stats *s, struct kek_stats *st);

#endif
