/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTPS client for the KEK providers, on libcurl.
 *
 * One struct http per KEK: a pool of reusable easy handles (each keeps its
 * connections alive), a share for DNS and TLS sessions, an ordered list of
 * endpoints with a circuit breaker each, a retry budget and statistics.
 * http_do() runs one logical request: it picks an endpoint, retries with
 * backoff and fails over within the caller's deadline, and returns either a
 * final HTTP response (any status) or a transport-level kek_status.
 * It knows nothing about Azure; mapping statuses to errors is the caller's.
 */
#ifndef HSMFS_HTTP_H
#define HSMFS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "kek.h"

#define HTTP_BODY_MAX (64 * 1024) /* longer responses are refused */
#define HTTP_BASE_MAX 128         /* "https://host[:port]", NUL included */
#define HTTP_URL_MAX 1024
#define HTTP_MAX_EP (KEK_MAX_ENDPOINTS + 1)

/* Defaults, all in milliseconds. */
#define HTTP_CONNECT_MS 3000     /* TCP + TLS connect, per attempt */
#define HTTP_TOTAL_MS 10000      /* whole attempt */
#define HTTP_RETRY_BASE_MS 200   /* backoff base, full jitter */
#define HTTP_RETRY_CAP_MS 5000   /* backoff cap */
#define HTTP_RETRY_AFTER_CAP_MS 10000 /* longer Retry-After: give up */
#define HTTP_MAX_RETRIES 4
#define HTTP_COOLDOWN_MS 30000   /* breaker open, an alternative exists */
#define HTTP_COOLDOWN_LAST_MS 5000 /* breaker open, no alternative left */
#define HTTP_FAIL_THRESHOLD 3    /* consecutive failures that open it */

struct http;

struct http_cfg {
	const char *ca_file;          /* extra trusted CAs (PEM), or NULL */
	unsigned connect_ms;          /* 0: HTTP_CONNECT_MS */
	unsigned total_ms;            /* 0: HTTP_TOTAL_MS */
	const char *const *endpoints; /* canonical bases, NULL-terminated */
};

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

/* Monotonic milliseconds. */
uint64_t clock_ms(void);

enum kek_status http_new(const struct http_cfg *cfg, struct http **out,
			 char *err);
void http_free(struct http *h);

/* Runs a request until a final response, the retry limits or deadline
 * (clock_ms() based, common/clock.h). KEK_OK means rs->status is set (any status). */
enum kek_status http_do(struct http *h, const struct http_req *rq,
			uint64_t deadline, struct http_resp *rs, char *err);
void http_resp_free(struct http_resp *rs);

/* True for 408, 429, 500, 502, 503, 504. */
bool http_status_retryable(long status);

/* Statistics: one record per finished provider operation. */
void http_record(struct http *h, int op, enum kek_status st,
		 unsigned latency_ms, const char *err);
void http_stats(struct http *h, struct kek_stats *st);

/* Server text made fit for one log line: CR/LF folded, controls
 * replaced, at most cap - 1 bytes. dst may be src. */
void http_text_line(char *dst, size_t cap, const char *src);

#endif
