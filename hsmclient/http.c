/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcurl wrapper: connection reuse, timeouts, retries with backoff and a
 * retry budget, endpoint failover with a circuit breaker, statistics.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/clock.h"
#include "common/log.h"
#include "http.h"

#define POOL_MAX 16
#define LAT_WIN 512
#define BODY_START 4096
#define MIN_ATTEMPT_MS 50
#define IMDS_CONNECT_MS 1000
#define CA_FILE_MAX (1024 * 1024)

/* Retry budget: each request deposits RATIO, each retry costs 1; the
 * balance refills at FLOOR per second on its own and never exceeds MAX. */
#define BUDGET_MAX 10.0
#define BUDGET_RATIO 0.1
#define BUDGET_FLOOR_PER_S 0.2

struct ep {
	char base[HTTP_BASE_MAX];
	unsigned fails;      /* consecutive failed attempts */
	uint64_t open_until; /* 0: closed */
	bool probing;        /* a half-open probe is in flight */
};

struct http {
	STACK_OF(X509) *cas;
	unsigned connect_ms, total_ms;
	CURLSH *share;
	pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];

	pthread_mutex_t lock; /* everything below */
	CURL *pool[POOL_MAX];
	int npool;
	struct ep ep[HTTP_MAX_EP];
	int nep, cur;
	double budget;
	uint64_t budget_t;
	unsigned long long calls[4][3], retries;
	uint32_t lat[LAT_WIN];
	unsigned lat_n, lat_i;
	char last_error[KEK_ERR_MAX];
};

/* What one attempt says about what to do next. */
enum att {
	ATT_DONE,   /* final response: return it */
	ATT_THROTTLE, /* 429 (and IMDS 404/410): back off, same endpoint */
	ATT_FAIL,   /* transport error, 5xx, 408, timeout: fail over */
	ATT_FATAL,  /* protocol or local error: stop */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

/* curl_global_init is not thread-safe: run it exactly once. */
static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Uniform random number in [0, n]. */
static uint64_t rand_upto(uint64_t n)
{
	uint64_t r = 0;

	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint64_t)random();
	return n ? r % (n + 1) : 0;
}

static void share_lock_cb(CURL *c, curl_lock_data d, curl_lock_access a,
			  void *arg)
{
	struct http *h = arg;

	(void)c;
	(void)a;
	pthread_mutex_lock(&h->share_lock[d]);
}

static void share_unlock_cb(CURL *c, curl_lock_data d, void *arg)
{
	struct http *h = arg;

	(void)c;
	pthread_mutex_unlock(&h->share_lock[d]);
}

/* Reads every certificate of a PEM file; the system CAs stay trusted. */
static STACK_OF(X509) *load_cas(const char *path, char *err)
{
	STACK_OF(X509) *sk = NULL;
	BIO *bio = BIO_new_file(path, "r");
	X509 *x;

	if (!bio) {
		snprintf(err, KEK_ERR_MAX, "cannot read CA file %.150s", path);
		return NULL;
	}
	sk = sk_X509_new_null();
	while (sk && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		if (!sk_X509_push(sk, x))
			X509_free(x);
	ERR_clear_error();
	BIO_free(bio);
	if (!sk || sk_X509_num(sk) == 0) {
		snprintf(err, KEK_ERR_MAX, "no certificate in CA file %.150s",
			 path);
		sk_X509_pop_free(sk, X509_free);
		return NULL;
	}
	return sk;
}

/* Adds the extra CAs to each new TLS context (OpenSSL backend). */
static CURLcode ssl_ctx_cb(CURL *c, void *sslctx, void *arg)
{
	struct http *h = arg;
	X509_STORE *store = SSL_CTX_get_cert_store(sslctx);

	(void)c;
	for (int i = 0; i < sk_X509_num(h->cas); i++)
		X509_STORE_add_cert(store, sk_X509_value(h->cas, i));
	ERR_clear_error();
	return CURLE_OK;
}

enum kek_status http_new(const struct http_cfg *cfg, struct http **out,
			 char *err)
{
	struct http *h;

	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		snprintf(err, KEK_ERR_MAX, "curl_global_init failed");
		return KEK_E_NOMEM;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return KEK_E_NOMEM;
	pthread_mutex_init(&h->lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&h->share_lock[i], NULL);
	h->connect_ms = cfg->connect_ms ? cfg->connect_ms : HTTP_CONNECT_MS;
	h->total_ms = cfg->total_ms ? cfg->total_ms : HTTP_TOTAL_MS;
	h->budget = BUDGET_MAX;
	h->budget_t = clock_ms();
	for (int i = 0; cfg->endpoints && cfg->endpoints[i]; i++) {
		if (i == HTTP_MAX_EP ||
		    strlen(cfg->endpoints[i]) >= HTTP_BASE_MAX) {
			snprintf(err, KEK_ERR_MAX, "too many or too long endpoints");
			http_free(h);
			return KEK_E_INVAL;
		}
		strcpy(h->ep[i].base, cfg->endpoints[i]);
		h->nep = i + 1;
	}
	if (cfg->ca_file && !(h->cas = load_cas(cfg->ca_file, err))) {
		http_free(h);
		return KEK_E_INVAL;
	}
	h->share = curl_share_init();
	if (!h->share) {
		http_free(h);
		return KEK_E_NOMEM;
	}
	curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock_cb);
	curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock_cb);
	curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	*out = h;
	return KEK_OK;
}

void http_free(struct http *h)
{
	if (!h)
		return;
	for (int i = 0; i < h->npool; i++)
		curl_easy_cleanup(h->pool[i]);
	if (h->share)
		curl_share_cleanup(h->share);
	sk_X509_pop_free(h->cas, X509_free);
	pthread_mutex_destroy(&h->lock);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&h->share_lock[i]);
	free(h);
}

/* Takes an idle easy handle (with its live connections) or makes one. */
static CURL *pool_get(struct http *h)
{
	CURL *c = NULL;

	pthread_mutex_lock(&h->lock);
	if (h->npool > 0)
		c = h->pool[--h->npool];
	pthread_mutex_unlock(&h->lock);
	return c ? c : curl_easy_init();
}

/* Returns a handle to the pool; its connections stay open for reuse. */
static void pool_put(struct http *h, CURL *c)
{
	curl_easy_reset(c);
	pthread_mutex_lock(&h->lock);
	if (h->npool < POOL_MAX) {
		h->pool[h->npool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&h->lock);
	if (c)
		curl_easy_cleanup(c);
}

void http_resp_free(struct http_resp *rs)
{
	if (rs->body)
		OPENSSL_clear_free(rs->body, rs->cap);
	memset(rs, 0, sizeof(*rs));
}

/* Resets a response for the next attempt, wiping what it held. */
static void resp_reset(struct http_resp *rs)
{
	if (rs->body)
		OPENSSL_cleanse(rs->body, rs->cap);
	rs->len = 0;
	rs->status = 0;
	rs->oversize = false;
	rs->retry_after_ms = 0;
	rs->endpoint[0] = '\0';
	rs->www_auth[0] = '\0';
	if (rs->body)
		rs->body[0] = '\0';
}

/* Body sink: grows to HTTP_BODY_MAX, then aborts the transfer. */
static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct http_resp *rs = arg;
	size_t len = sz * n, need = rs->len + len + 1, cap;
	char *nb;

	if (rs->len + len > HTTP_BODY_MAX) {
		rs->oversize = true;
		return 0;
	}
	if (need > rs->cap) {
		cap = rs->cap ? rs->cap : BODY_START;
		while (cap < need)
			cap *= 2;
		nb = OPENSSL_malloc(cap);
		if (!nb)
			return 0;
		if (rs->body) {
			memcpy(nb, rs->body, rs->len);
			OPENSSL_clear_free(rs->body, rs->cap);
		}
		rs->body = nb;
		rs->cap = cap;
	}
	memcpy(rs->body + rs->len, p, len);
	rs->len += len;
	rs->body[rs->len] = '\0';
	return len;
}

/* Parses a Retry-After value: delta seconds or an HTTP date. */
static unsigned parse_retry_after(const char *v, unsigned mult)
{
	char *end;
	unsigned long n;
	time_t t;

	if (isdigit((unsigned char)*v)) {
		n = strtoul(v, &end, 10);
		if (n > 86400UL * 1000)
			n = 86400UL * 1000;
		return (unsigned)(n * mult);
	}
	if (mult != 1000)
		return 0;
	t = curl_getdate(v, NULL);
	if (t <= time(NULL))
		return 0;
	return (unsigned)((t - time(NULL)) > 86400 ? 86400000 :
			  (t - time(NULL)) * 1000);
}

/* Header sink: Retry-After (seconds), retry-after-ms, WWW-Authenticate. */
static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct http_resp *rs = arg;
	size_t len = sz * n, k;
	char line[512];

	if (len >= sizeof(line))
		return len; /* nothing we read is that long */
	memcpy(line, p, len);
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	line[len] = '\0';
	if (strncmp(line, "HTTP/", 5) == 0) {
		rs->retry_after_ms = 0;
		rs->www_auth[0] = '\0';
		return sz * n;
	}
	char *colon = strchr(line, ':');
	if (!colon)
		return sz * n;
	*colon = '\0';
	char *v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	if (strcasecmp(line, "Retry-After") == 0) {
		if (!rs->retry_after_ms)
			rs->retry_after_ms = parse_retry_after(v, 1000);
	} else if (strcasecmp(line, "retry-after-ms") == 0 ||
		   strcasecmp(line, "x-ms-retry-after-ms") == 0) {
		rs->retry_after_ms = parse_retry_after(v, 1);
	} else if (strcasecmp(line, "WWW-Authenticate") == 0) {
		k = strlen(v);
		if (k >= sizeof(rs->www_auth))
			k = sizeof(rs->www_auth) - 1;
		memcpy(rs->www_auth, v, k);
		rs->www_auth[k] = '\0';
	}
	return sz * n;
}

bool http_status_retryable(long s)
{
	return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 ||
	       s == 504;
}

/* Links a header line into a caller-owned list (curl does not copy or
 * free it, so a secret header never lands in an unwiped heap copy). */
static void hdr_add(struct curl_slist *nodes, int *n, const char *line)
{
	nodes[*n].data = (char *)line;
	nodes[*n].next = NULL;
	if (*n > 0)
		nodes[*n - 1].next = &nodes[*n];
	(*n)++;
}

/* Sets every option of one attempt on a fresh or reset handle. */
static void setup(struct http *h, CURL *c, const char *url,
		  const struct http_req *rq, uint64_t timeout_ms,
		  struct curl_slist *hdrs, struct http_resp *rs, char *ebuf)
{
	unsigned conn = h->connect_ms;

	if (rq->imds && conn > IMDS_CONNECT_MS)
		conn = IMDS_CONNECT_MS;
	if (conn > timeout_ms)
		conn = (unsigned)timeout_ms;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR,
			 rq->imds && !rq->auth ? "http,https" : "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (h->cas) {
		curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
		curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, h);
	}
	curl_easy_setopt(c, CURLOPT_SHARE, h->share);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)conn);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "hsmfs-hsmclient/1");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, rs);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, rs);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	if (rq->imds)
		curl_easy_setopt(c, CURLOPT_PROXY, ""); /* IMDS: never proxied */
	if (strcmp(rq->method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)rq->body_len);
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
}

/* Classifies a transport error; fills why[] and *st. */
static enum att classify_curl(CURL *c, CURLcode rc, const char *ebuf,
			      struct http_resp *rs, enum kek_status *st,
			      char *why, size_t whylen)
{
	const char *detail = ebuf[0] ? ebuf : curl_easy_strerror(rc);
	curl_off_t conn_us = 0;

	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &conn_us);
		snprintf(why, whylen, "%s timeout: %s",
			 conn_us ? "response" : "connect", detail);
		*st = KEK_E_TIMEOUT;
		return ATT_FAIL;
	case CURLE_WRITE_ERROR:
		if (rs->oversize) {
			snprintf(why, whylen,
				 "response body larger than %d bytes",
				 HTTP_BODY_MAX);
			*st = KEK_E_PROTOCOL;
			return ATT_FATAL;
		}
		snprintf(why, whylen, "out of memory reading response");
		*st = KEK_E_NOMEM;
		return ATT_FATAL;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		snprintf(why, whylen, "TLS certificate verification failed: %s",
			 detail);
		*st = KEK_E_UNAVAILABLE;
		return ATT_FAIL;
	case CURLE_URL_MALFORMAT:
		snprintf(why, whylen, "bad URL: %s", detail);
		*st = KEK_E_INVAL;
		return ATT_FATAL;
	case CURLE_UNSUPPORTED_PROTOCOL: /* also: an HTTP/0.9 answer */
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_BAD_CONTENT_ENCODING:
		snprintf(why, whylen, "malformed HTTP response: %s", detail);
		*st = KEK_E_PROTOCOL;
		return ATT_FATAL;
	case CURLE_OUT_OF_MEMORY:
		snprintf(why, whylen, "out of memory");
		*st = KEK_E_NOMEM;
		return ATT_FATAL;
	default:
		snprintf(why, whylen, "%s", detail);
		*st = KEK_E_UNAVAILABLE;
		return ATT_FAIL;
	}
}

/* One HTTP exchange with url. */
static enum att attempt(struct http *h, const char *url,
			const struct http_req *rq, uint64_t timeout_ms,
			struct http_resp *rs, enum kek_status *st, bool *conn_err,
			char *why, size_t whylen)
{
	struct curl_slist nodes[6];
	char ebuf[CURL_ERROR_SIZE] = "", ctype[96];
	CURLcode rc;
	enum att a;
	int n = 0;
	CURL *c;

	*conn_err = false;
	c = pool_get(h);
	if (!c) {
		snprintf(why, whylen, "out of memory");
		*st = KEK_E_NOMEM;
		return ATT_FATAL;
	}
	hdr_add(nodes, &n, "Accept: application/json");
	hdr_add(nodes, &n, "Expect:");
	if (rq->content_type) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s",
			 rq->content_type);
		hdr_add(nodes, &n, ctype);
	}
	if (rq->extra)
		hdr_add(nodes, &n, rq->extra);
	if (rq->auth)
		hdr_add(nodes, &n, rq->auth);
	setup(h, c, url, rq, timeout_ms, nodes, rs, ebuf);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs->status);
		*st = KEK_OK;
		if (rs->status == 429 ||
		    (rq->imds && (rs->status == 404 || rs->status == 410)))
			a = ATT_THROTTLE;
		else if (http_status_retryable(rs->status))
			a = ATT_FAIL;
		else
			a = ATT_DONE;
		if (a != ATT_DONE)
			snprintf(why, whylen, "HTTP %ld", rs->status);
	} else {
		a = classify_curl(c, rc, ebuf, rs, st, why, whylen);
		*conn_err = rc == CURLE_COULDNT_CONNECT ||
			    rc == CURLE_COULDNT_RESOLVE_HOST ||
			    (rc == CURLE_OPERATION_TIMEDOUT &&
			     strstr(why, "connect timeout"));
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
	pool_put(h, c);
	return a;
}

/* An endpoint not failed in this round: closed first, in order; then one
 * whose cool-down is over (a single half-open probe); then, for a call
 * already retrying (force), the first one even if open: a breaker sheds
 * new calls, it does not cut short the retries of one in progress.
 * -1 if none. */
static int pick(struct http *h, uint32_t tried, uint64_t now, bool force)
{
	int i, r = -1;

	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->nep && r < 0; i++)
		if (!(tried & 1u << i) && !h->ep[i].open_until)
			r = i;
	for (i = 0; i < h->nep && r < 0; i++)
		if (!(tried & 1u << i) && !h->ep[i].probing &&
		    now >= h->ep[i].open_until) {
			h->ep[i].probing = true;
			r = i;
		}
	for (i = 0; i < h->nep && r < 0 && force; i++)
		if (!(tried & 1u << i))
			r = i;
	pthread_mutex_unlock(&h->lock);
	return r;
}

/* Next usable endpoint after a failure at i, without claiming it. */
static int next_usable(struct http *h, int i, uint64_t now)
{
	for (int j = 0; j < h->nep; j++)
		if (j != i && (!h->ep[j].open_until ||
			       (!h->ep[j].probing && now >= h->ep[j].open_until)))
			return j;
	return -1;
}

/* Feeds an attempt's outcome into endpoint i's breaker; logs switches. */
static void ep_report(struct http *h, int i, enum att a, bool conn_err,
		      const char *why)
{
	uint64_t now = clock_ms();
	struct ep *e = &h->ep[i];
	int j, old;

	pthread_mutex_lock(&h->lock);
	e->probing = false;
	if (a == ATT_DONE || a == ATT_THROTTLE) {
		e->fails = 0;
		e->open_until = 0;
		old = h->cur;
		h->cur = i;
		if (i < old)
			log_info("HSM endpoint %s answers again; using it",
				 e->base);
	} else if (a == ATT_FAIL) {
		j = next_usable(h, i, now);
		e->fails++;
		if (e->open_until ||
		    e->fails >= (conn_err && j >= 0 ? 1 : HTTP_FAIL_THRESHOLD))
			e->open_until = now + (j >= 0 ? HTTP_COOLDOWN_MS :
						  HTTP_COOLDOWN_LAST_MS);
		if (h->cur == i && j >= 0) {
			h->cur = j;
			log_warn("HSM endpoint %s failed (%s); switching to %s",
				 e->base, why, h->ep[j].base);
		} else if (h->cur == i && e->fails == HTTP_FAIL_THRESHOLD) {
			log_warn("HSM endpoint %s failed %u times in a row (%s); "
				 "no other endpoint to switch to", e->base,
				 e->fails, why);
		}
	}
	pthread_mutex_unlock(&h->lock);
}

/* Retry budget: deposit for a new request, refill by time. */
static void budget_refill(struct http *h, uint64_t now)
{
	h->budget += (double)(now - h->budget_t) / 1000.0 * BUDGET_FLOOR_PER_S;
	h->budget_t = now;
	if (h->budget > BUDGET_MAX)
		h->budget = BUDGET_MAX;
}

static void budget_deposit(struct http *h)
{
	pthread_mutex_lock(&h->lock);
	budget_refill(h, clock_ms());
	h->budget += BUDGET_RATIO;
	if (h->budget > BUDGET_MAX)
		h->budget = BUDGET_MAX;
	pthread_mutex_unlock(&h->lock);
}

/* Takes one retry from the budget; false if it is spent. */
static bool budget_take(struct http *h)
{
	bool ok;

	pthread_mutex_lock(&h->lock);
	budget_refill(h, clock_ms());
	ok = h->budget >= 1.0;
	if (ok) {
		h->budget -= 1.0;
		h->retries++;
	}
	pthread_mutex_unlock(&h->lock);
	return ok;
}

/* Delay before retry number n (0-based): full jitter, or Retry-After. */
static uint64_t backoff_ms(unsigned n, unsigned retry_after_ms)
{
	uint64_t cap = HTTP_RETRY_BASE_MS << (n < 10 ? n : 10);

	if (retry_after_ms)
		return retry_after_ms;
	if (cap > HTTP_RETRY_CAP_MS)
		cap = HTTP_RETRY_CAP_MS;
	return rand_upto(cap);
}

/* Final error line for a call that ends without a usable response. */
#define CIRCUIT_OPEN "all HSM endpoints are failing (circuit open)"

static enum kek_status give_up(const char *where, enum kek_status st,
			       const char *why, const char *extra, char *err)
{
	snprintf(err, KEK_ERR_MAX, "%.120s: %.90s%s", where, why, extra);
	return st;
}

enum kek_status http_do(struct http *h, const struct http_req *rq,
			uint64_t deadline, struct http_resp *rs, char *err)
{
	char url[HTTP_URL_MAX], why[160] = "no attempt made", where[HTTP_BASE_MAX];
	enum kek_status st = KEK_E_UNAVAILABLE;
	bool have_resp = false, conn_err;
	unsigned retries = 0;
	uint32_t tried = 0;
	uint64_t now, delay;
	enum att a;
	int i;

	resp_reset(rs);
	budget_deposit(h);
	if (rq->url)
		snprintf(where, sizeof(where), "%.*s",
			 (int)strcspn(rq->url, "?"), rq->url);
	else
		snprintf(where, sizeof(where), "%s",
			 h->nep ? h->ep[0].base : "no endpoint");
	for (;;) {
		now = clock_ms();
		if (rq->url)
			i = (tried & 1u) ? -1 : 0;
		else
			i = pick(h, tried, now, retries > 0);
		if (i < 0 && !tried) {
			pthread_mutex_lock(&h->lock);
			snprintf(why, sizeof(why), "%s", h->last_error);
			pthread_mutex_unlock(&h->lock);
			return give_up(CIRCUIT_OPEN, KEK_E_UNAVAILABLE, why,
				       "", err);
		}
		if (i < 0)
			goto retry;
		if (now + MIN_ATTEMPT_MS >= deadline) {
			if (!rq->url)
				ep_report(h, i, ATT_FATAL, false, "");
			goto deadline;
		}
		if (rq->url)
			snprintf(url, sizeof(url), "%s", rq->url);
		else
			snprintf(url, sizeof(url), "%s%s", h->ep[i].base,
				 rq->path);
		if (!rq->auth || strncmp(url, "https://", 8) == 0) {
			resp_reset(rs);
			a = attempt(h, url, rq,
				    deadline - now < h->total_ms ?
					    deadline - now : h->total_ms,
				    rs, &st, &conn_err, why, sizeof(why));
		} else {
			snprintf(why, sizeof(why), "bearer token refused on "
				 "a non-https URL");
			st = KEK_E_INVAL;
			a = ATT_FATAL;
		}
		if (!rq->url) {
			ep_report(h, i, a, conn_err, why);
			snprintf(where, sizeof(where), "%s", h->ep[i].base);
			snprintf(rs->endpoint, sizeof(rs->endpoint), "%s",
				 h->ep[i].base);
		}
		have_resp = st == KEK_OK;
		if (a == ATT_DONE)
			return KEK_OK;
		if (a == ATT_FATAL)
			return give_up(where, st, why, "", err);
		tried |= 1u << i;
		if (a == ATT_FAIL)
			continue; /* fail over first; pick() says if none left */
retry:
		if (retries >= HTTP_MAX_RETRIES)
			goto exhausted;
		if (rs->retry_after_ms > HTTP_RETRY_AFTER_CAP_MS)
			goto exhausted;
		delay = backoff_ms(retries, rs->retry_after_ms);
		if (clock_ms() + delay + MIN_ATTEMPT_MS >= deadline)
			goto deadline;
		if (!budget_take(h))
			goto exhausted;
		clock_sleep_ms(delay);
		retries++;
		tried = 0;
	}
deadline:
	if (have_resp)
		return KEK_OK; /* the caller maps the last status */
	return give_up(where, st == KEK_E_UNAVAILABLE || st == KEK_E_TIMEOUT ?
			      st : KEK_E_TIMEOUT, why,
		       " (operation deadline reached)", err);
exhausted:
	if (have_resp)
		return KEK_OK;
	return give_up(where, st, why, retries ? " (retries exhausted)" : "",
		       err);
}

void http_record(struct http *h, int op, enum kek_status st,
		 unsigned latency_ms, const char *err)
{
	int out = KEK_OUT_OK;

	if (op < 0 || op > KEK_OP_TOKEN)
		return;
	if (st == KEK_E_UNAVAILABLE || st == KEK_E_TIMEOUT ||
	    st == KEK_E_PROTOCOL || st == KEK_E_THROTTLED)
		out = KEK_OUT_SERVER_ERR;
	else if (st != KEK_OK)
		out = KEK_OUT_CLIENT_ERR;
	pthread_mutex_lock(&h->lock);
	h->calls[op][out]++;
	if (op != KEK_OP_TOKEN) {
		h->lat[h->lat_i] = latency_ms;
		h->lat_i = (h->lat_i + 1) % LAT_WIN;
		if (h->lat_n < LAT_WIN)
			h->lat_n++;
	}
	/* A call failed fast by the open circuit adds nothing: keep the
	 * error that opened it, or each such call would quote the last. */
	if (st != KEK_OK && err &&
	    strncmp(err, CIRCUIT_OPEN, sizeof(CIRCUIT_OPEN) - 1) != 0)
		snprintf(h->last_error, sizeof(h->last_error), "%s", err);
	pthread_mutex_unlock(&h->lock);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Value at percentile p of a sorted window of n samples. */
static unsigned pct(const uint32_t *v, unsigned n, unsigned p)
{
	unsigned idx;

	if (!n)
		return 0;
	idx = (n * p + 99) / 100;
	return v[idx ? idx - 1 : 0];
}

void http_stats(struct http *h, struct kek_stats *st)
{
	uint32_t win[LAT_WIN];
	unsigned n;

	pthread_mutex_lock(&h->lock);
	memcpy(st->calls, h->calls, sizeof(st->calls));
	st->retries = h->retries;
	n = h->lat_n;
	memcpy(win, h->lat, sizeof(win));
	if (h->nep)
		snprintf(st->endpoint, sizeof(st->endpoint), "%s",
			 h->ep[h->cur].base);
	snprintf(st->last_error, sizeof(st->last_error), "%s", h->last_error);
	pthread_mutex_unlock(&h->lock);
	qsort(win, n, sizeof(win[0]), cmp_u32);
	st->lat_p50_ms = pct(win, n, 50);
	st->lat_p90_ms = pct(win, n, 90);
	st->lat_p99_ms = pct(win, n, 99);
}

/* One line of server text for an error message: CR/LF folded, control
 * bytes replaced, bounded. dst may be src. */
void http_text_line(char *dst, size_t cap, const char *src)
{
	size_t o = 0;

	for (; src && *src && o + 1 < cap; src++) {
		unsigned char c = (unsigned char)*src;
		if (c == '\r' || c == '\n') {
			if (o && dst[o - 1] != ' ')
				dst[o++] = ' ';
			continue;
		}
		dst[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	while (o && dst[o - 1] == ' ')
		o--;
	dst[o] = '\0';
}
