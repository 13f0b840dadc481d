/* SPDX-License-Identifier: Apache-2.0 */
/* libcurl transport: pooled handles, CA trust, one exchange per attempt. */
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/stop.h"
#include "hsmclient/azure/http.h"
#include "hsmclient/azure/retry.h"
#include "common/fit.h"
#include "hsmclient/azure/text.h"

#define POOL_MAX 16
#define BODY_START 4096
#define IMDS_CONNECT_MS 1000
#define CTYPE_MAX 96 /* "Content-Type: ..." */
#define POLL_MS 1000 /* longest wait between two looks at a transfer */

/* An easy handle and the multi handle it runs in: the multi handle keeps
 * the live connections, and lets a transfer wait on the stop descriptor
 * too, so that a stop request ends it at once. */
struct pair {
	CURL *easy;
	CURLM *multi;
};

struct http {
	STACK_OF(X509) *cas;
	unsigned connect_ms;
	CURLSH *share;
	pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];

	pthread_mutex_t lock; /* the pool */
	struct pair pool[POOL_MAX];
	int npool;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

/* curl's heap holds what goes to and comes from the HSM: bearer tokens,
 * and keys unwrapped, in base64. Whatever curl frees is wiped first. */
static void wipe_free(void *p)
{
	if (!p)
		return;
	OPENSSL_cleanse(p, malloc_usable_size(p));
	free(p);
}

/* A copy, so that the old block is wiped too (realloc would free it as
 * it is). */
static void *wipe_realloc(void *p, size_t n)
{
	size_t old = p ? malloc_usable_size(p) : 0;
	void *q = malloc(n ? n : 1);

	if (!q)
		return NULL;
	if (p)
		memcpy(q, p, old < n ? old : n);
	wipe_free(p);
	return q;
}

/* curl_global_init is not thread-safe: run it exactly once. */
static void global_init(void)
{
	global_rc = curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc,
					 wipe_free, wipe_realloc, strdup,
					 calloc);
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

/* Each new TLS context (OpenSSL backend) wipes the plaintext of the
 * records it receives once curl has read it (answers hold unwrapped
 * keys), and trusts the extra CAs. */
static CURLcode ssl_ctx_cb(CURL *c, void *sslctx, void *arg)
{
	struct http *h = arg;
	X509_STORE *store = SSL_CTX_get_cert_store(sslctx);

	(void)c;
	SSL_CTX_set_options(sslctx, SSL_OP_CLEANSE_PLAINTEXT);
	for (int i = 0; i < sk_X509_num(h->cas); i++)
		X509_STORE_add_cert(store, sk_X509_value(h->cas, i));
	ERR_clear_error();
	return CURLE_OK;
}

/* Shares DNS and TLS sessions between the handles of one KEK. */
static bool share_init(struct http *h)
{
	h->share = curl_share_init();
	if (!h->share)
		return false;
	curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock_cb);
	curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock_cb);
	curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	return true;
}

enum kek_status http_new(const char *ca_file, unsigned connect_ms,
			 struct http **out, char *err)
{
	enum kek_status st = KEK_E_NOMEM;
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
	h->connect_ms = connect_ms ? connect_ms : HTTP_CONNECT_MS;
	if (ca_file && !(h->cas = load_cas(ca_file, err))) {
		st = KEK_E_INVAL;
		goto fail;
	}
	if (!share_init(h))
		goto fail;
	*out = h;
	return KEK_OK;
fail:
	http_free(h);
	return st;
}

static void pair_free(struct pair *c)
{
	if (c->multi)
		curl_multi_cleanup(c->multi);
	if (c->easy)
		curl_easy_cleanup(c->easy);
	c->multi = NULL;
	c->easy = NULL;
}

void http_free(struct http *h)
{
	if (!h)
		return;
	for (int i = 0; i < h->npool; i++)
		pair_free(&h->pool[i]);
	if (h->share)
		curl_share_cleanup(h->share);
	sk_X509_pop_free(h->cas, X509_free);
	pthread_mutex_destroy(&h->lock);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&h->share_lock[i]);
	free(h);
}

/* Takes an idle pair (with its live connections) or makes one. */
static bool pool_get(struct http *h, struct pair *c)
{
	bool got = false;

	pthread_mutex_lock(&h->lock);
	if (h->npool > 0) {
		*c = h->pool[--h->npool];
		got = true;
	}
	pthread_mutex_unlock(&h->lock);
	if (got)
		return true;
	c->easy = curl_easy_init();
	c->multi = curl_multi_init();
	if (c->easy && c->multi)
		return true;
	pair_free(c);
	return false;
}

/* Returns a pair to the pool; its connections stay open for reuse. */
static void pool_put(struct http *h, struct pair *c)
{
	curl_easy_reset(c->easy);
	pthread_mutex_lock(&h->lock);
	if (h->npool < POOL_MAX) {
		h->pool[h->npool++] = *c;
		c->easy = NULL;
		c->multi = NULL;
	}
	pthread_mutex_unlock(&h->lock);
	pair_free(c);
}

void http_resp_free(struct http_resp *rs)
{
	if (rs->body)
		OPENSSL_clear_free(rs->body, rs->cap);
	memset(rs, 0, sizeof(*rs));
}

void http_resp_reset(struct http_resp *rs)
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
			rs->retry_after_ms = retry_after_parse(v, 1000);
	} else if (strcasecmp(line, "retry-after-ms") == 0 ||
		   strcasecmp(line, "x-ms-retry-after-ms") == 0) {
		rs->retry_after_ms = retry_after_parse(v, 1);
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
	curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
	curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, h);
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

/* A certificate that does not verify will not verify on the next try
 * either, and the usual cause is a private CA hsmfs was not given. */
static void untrusted(const char *detail, char *why, size_t whylen)
{
	static const char *const noise[] = { "SSL certificate problem: ",
					     "SSL: " };
	char line[CURL_ERROR_SIZE + 160];
	bool ca = strstr(detail, "issuer") || strstr(detail, "self-signed") ||
		  strstr(detail, "self signed");

	for (size_t i = 0; i < sizeof(noise) / sizeof(*noise); i++)
		if (!strncmp(detail, noise[i], strlen(noise[i])))
			detail += strlen(noise[i]);
	snprintf(line, sizeof(line), "TLS certificate not trusted (%s)%s",
		 detail, ca ? ": give its CA with -o ca_file=PATH or in "
			      "/etc/hsmfs/hsmfs.conf" : "");
	fit_str(why, whylen, line);
}

/* Classifies a transport error; fills why[] and *st. */
static enum http_verdict classify_curl(CURL *c, CURLcode rc,
				       const char *ebuf, struct http_resp *rs,
				       enum kek_status *st, char *why,
				       size_t whylen)
{
	const char *raw = ebuf[0] ? ebuf : curl_easy_strerror(rc);
	size_t room = whylen > 64 ? whylen - 32 : whylen; /* our prefix */
	char detail[CURL_ERROR_SIZE];
	curl_off_t conn_us = 0;

	/* curl's text in whole words: why must hold it after our prefix. */
	fit_str(detail, room < sizeof(detail) ? room : sizeof(detail), raw);
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &conn_us);
		snprintf(why, whylen, "%s timeout: %s",
			 conn_us ? "response" : "connect", detail);
		*st = KEK_E_TIMEOUT;
		return HTTP_FAIL;
	case CURLE_WRITE_ERROR:
		if (rs->oversize) {
			snprintf(why, whylen,
				 "response body larger than %d bytes",
				 HTTP_BODY_MAX);
			*st = KEK_E_PROTOCOL;
			return HTTP_FATAL;
		}
		snprintf(why, whylen, "out of memory reading response");
		*st = KEK_E_NOMEM;
		return HTTP_FATAL;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		untrusted(raw, why, whylen);
		*st = KEK_E_UNTRUSTED;
		return HTTP_FATAL;
	case CURLE_URL_MALFORMAT:
		snprintf(why, whylen, "bad URL: %s", detail);
		*st = KEK_E_INVAL;
		return HTTP_FATAL;
	case CURLE_UNSUPPORTED_PROTOCOL: /* also: an HTTP/0.9 answer */
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_BAD_CONTENT_ENCODING:
		snprintf(why, whylen, "malformed HTTP response: %s", detail);
		*st = KEK_E_PROTOCOL;
		return HTTP_FATAL;
	case CURLE_OUT_OF_MEMORY:
		snprintf(why, whylen, "out of memory");
		*st = KEK_E_NOMEM;
		return HTTP_FATAL;
	case CURLE_ABORTED_BY_CALLBACK:
		snprintf(why, whylen, "the program is stopping");
		*st = KEK_E_UNAVAILABLE;
		return HTTP_FATAL;
	default:
		snprintf(why, whylen, "%s", detail);
		*st = KEK_E_UNAVAILABLE;
		return HTTP_FAIL;
	}
}

/* Classifies an HTTP answer; fills why[] unless it is final. */
static enum http_verdict classify_status(const struct http_req *rq,
					 const struct http_resp *rs, char *why,
					 size_t whylen)
{
	enum http_verdict a;

	/* IMDS answers 404/410 while the identity is being set up. */
	if (rs->status == 429 ||
	    (rq->imds && (rs->status == 404 || rs->status == 410)))
		a = HTTP_THROTTLE;
	else if (http_status_retryable(rs->status))
		a = HTTP_FAIL;
	else
		a = HTTP_DONE;
	if (a != HTTP_DONE)
		snprintf(why, whylen, "HTTP %ld", rs->status);
	return a;
}

/* The request's header lines, in nodes[6]; ctype[CTYPE_MAX] holds one. */
static void headers(const struct http_req *rq, struct curl_slist *nodes,
		    char *ctype)
{
	int n = 0;

	hdr_add(nodes, &n, "Accept: application/json");
	hdr_add(nodes, &n, "Expect:");
	if (rq->content_type) {
		snprintf(ctype, CTYPE_MAX, "Content-Type: %s",
			 rq->content_type);
		hdr_add(nodes, &n, ctype);
	}
	if (rq->extra)
		hdr_add(nodes, &n, rq->extra);
	if (rq->auth)
		hdr_add(nodes, &n, rq->auth);
}

/* Runs the transfer as curl_easy_perform() would, but also waits on the
 * stop descriptor: a stop request ends it (CURLE_ABORTED_BY_CALLBACK)
 * rather than its timeout. */
static CURLcode perform(struct pair *c)
{
	struct curl_waitfd w = { .fd = stop_fd(), .events = CURL_WAIT_POLLIN };
	CURLcode rc = CURLE_ABORTED_BY_CALLBACK;
	CURLMcode mc;
	CURLMsg *m;
	int running = 1, left;

	if (curl_multi_add_handle(c->multi, c->easy) != CURLM_OK)
		return CURLE_OUT_OF_MEMORY;
	while (running && !stop_requested()) {
		mc = curl_multi_perform(c->multi, &running);
		if (mc == CURLM_OK && running)
			mc = curl_multi_poll(c->multi, &w, w.fd >= 0, POLL_MS,
					     NULL);
		if (mc != CURLM_OK) {
			rc = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY :
							 CURLE_FAILED_INIT;
			break;
		}
	}
	while ((m = curl_multi_info_read(c->multi, &left)))
		if (m->msg == CURLMSG_DONE && m->easy_handle == c->easy)
			rc = m->data.result;
	curl_multi_remove_handle(c->multi, c->easy);
	return rc;
}

enum http_verdict http_attempt(struct http *h, const char *url,
			       const struct http_req *rq, uint64_t timeout_ms,
			       struct http_resp *rs, enum kek_status *st,
			       bool *conn_err, char *why, size_t whylen)
{
	struct curl_slist nodes[6];
	char ebuf[CURL_ERROR_SIZE] = "", ctype[CTYPE_MAX];
	enum http_verdict a;
	struct pair c;
	CURLcode rc;

	*conn_err = false;
	if (!pool_get(h, &c)) {
		snprintf(why, whylen, "out of memory");
		*st = KEK_E_NOMEM;
		return HTTP_FATAL;
	}
	headers(rq, nodes, ctype);
	setup(h, c.easy, url, rq, timeout_ms, nodes, rs, ebuf);
	rc = perform(&c);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c.easy, CURLINFO_RESPONSE_CODE, &rs->status);
		*st = KEK_OK;
		a = classify_status(rq, rs, why, whylen);
	} else {
		a = classify_curl(c.easy, rc, ebuf, rs, st, why, whylen);
		*conn_err = rc == CURLE_COULDNT_CONNECT ||
			    rc == CURLE_COULDNT_RESOLVE_HOST ||
			    (rc == CURLE_OPERATION_TIMEDOUT &&
			     strstr(why, "connect timeout"));
	}
	/* The headers and body live on the caller's stack (and may be
	 * secret): the pooled handle must not keep pointers to them. */
	curl_easy_setopt(c.easy, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c.easy, CURLOPT_POSTFIELDS, NULL);
	pool_put(h, &c);
	return a;
}
