/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HSM client of one KEK: runs one logical HTTPS request (an HSM call
 * or a token request) to a final answer. It picks an endpoint (failover),
 * makes the attempt (http), retries with backoff within the retry budget
 * (retry) and fails over, all within the caller's deadline, or until the
 * program requests a stop (common/stop.h). It returns either a final
 * HTTP answer of any status, for the caller to map, or a transport-level
 * kek_status with one line in err[KEK_ERR_MAX]. It knows nothing about
 * Azure.
 */
#ifndef HSMFS_AZ_CLIENT_H
#define HSMFS_AZ_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "hsmclient/azure/http.h"
#include "hsmclient/stats.h"
#include "hsmclient/kek.h"

#define CLIENT_MAX_EP (KEK_MAX_ENDPOINTS + 1)

struct client;

struct client_cfg {
	const char *ca_file;          /* extra trusted CAs (PEM), or NULL */
	unsigned connect_ms;          /* 0: HTTP_CONNECT_MS */
	unsigned total_ms;            /* 0: HTTP_TOTAL_MS */
	const char *const *endpoints; /* canonical bases, NULL-terminated */
	struct stats *stats;          /* retries and the last error; the
					 caller's, it must outlive the client */
};

enum kek_status client_new(const struct client_cfg *cfg, struct client **out,
			   char *err);
void client_free(struct client *c);

/* Runs rq until a final answer, the retry limits, the deadline (clock_ms()
 * based, common/clock.h) or a stop request. KEK_OK means rs->status is
 * set (any status); rs->endpoint names the base that answered. */
enum kek_status client_do(struct client *c, const struct http_req *rq,
			  uint64_t deadline, struct http_resp *rs, char *err);
/* Base URL of the endpoint in use now ("" if none). */
void client_endpoint(struct client *c, char *out, size_t cap);

#endif
