/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTPS transport on libcurl: one HTTP exchange per http_attempt(), over a
 * pool of reusable easy handles (each keeps its connections alive) with
 * shared DNS and TLS-session caches, certificate verification always on.
 * It knows nothing of endpoints, retries or Azure: it says what the
 * exchange means (answer, throttled, failed, fatal) and leaves the rest to
 * the caller. Failures are a kek_status plus a short cause (why) for the
 * caller's one error line. A stop request (common/stop.h) ends an
 * exchange at once: HTTP_FATAL, KEK_E_UNAVAILABLE.
 */
#ifndef HSMFS_AZ_HTTP_H
#define HSMFS_AZ_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hsmclient/kek.h"

#define HTTP_BODY_MAX (64 * 1024) /* longer responses are refused */
#define HTTP_BASE_MAX 128         /* "https://host[:port]", NUL included */
#define HTTP_URL_MAX 1024

/* Defaults, all in milliseconds. */
#define HTTP_CONNECT_MS 3000     /* TCP + TLS connect, per attempt */
#define HTTP_TOTAL_MS 10000      /* whole attempt */

struct http;

struct http_req {
	int op;                   /* KEK_OP_*, for log lines */
	const char *method;       /* "GET" or "POST" */
	const char *url;          /* absolute URL; NULL: endpoints + path */
	const char *path;         /* appended to an endpoint's base */
	const char *body;         /* POST body (may hold secrets) */
	size_t body_len;
	const char *content_type; /* POST only */
	const char *auth;         /* "Authorization: Bearer ..." or NULL */
	const char *extra;        /* one more header line, or NULL */
	bool imds;                /* IMDS: http allowed, no proxy, short
				     connect, 404/410 retried */
};

struct http_resp {
	long status;
	char *body;               /* NUL-terminated; wiped on free */
	size_t len, cap;
	bool oversize;
	unsigned retry_after_ms;  /* from Retry-After / retry-after-ms */
	char endpoint[HTTP_BASE_MAX]; /* base that answered */
	char www_auth[256];       /* WWW-Authenticate, truncated */
};

/* What one exchange says about what to do next. */
enum http_verdict {
	HTTP_DONE,     /* final response: return it */
	HTTP_THROTTLE, /* 429 (and IMDS 404/410): back off, same endpoint */
	HTTP_FAIL,     /* transport error, 5xx, 408, timeout: fail over */
	HTTP_FATAL,    /* protocol or local error: stop */
};

/* ca_file: extra trusted CAs (PEM) on top of the system's, or NULL;
 * connect_ms 0: HTTP_CONNECT_MS. */
enum kek_status http_new(const char *ca_file, unsigned connect_ms,
			 struct http **out, char *err);
void http_free(struct http *h);

/* One exchange with url within timeout_ms. Sets *st (KEK_OK when an HTTP
 * status arrived, in rs->status), *conn_err (the connection could not be
 * made at all) and, unless HTTP_DONE, why[] (the cause, for the error
 * line and the failover log). */
enum http_verdict http_attempt(struct http *h, const char *url,
			       const struct http_req *rq, uint64_t timeout_ms,
			       struct http_resp *rs, enum kek_status *st,
			       bool *conn_err, char *why, size_t whylen);

/* Empties a response for the next attempt, wiping what it held. */
void http_resp_reset(struct http_resp *rs);
void http_resp_free(struct http_resp *rs);

/* True for 408, 429, 500, 502, 503, 504. */
bool http_status_retryable(long status);

#endif
