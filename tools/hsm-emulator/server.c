/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP plumbing on libmicrohttpd: one thread per connection (a slow or
 * delayed request never stalls others), bounded bodies, routing to the
 * token, IMDS, control and key handlers, fault injection, audit.
 */
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "admin.h"
#include "api.h"
#include "audit.h"
#include "auth.h"
#include "common/log.h"
#include "conns.h"
#include "control.h"
#include "faults.h"
#include "http.h"
#include "json.h"
#include "oidc.h"
#include "util.h"

#define CONN_TIMEOUT_S 30

static enum listener where_main = LISTEN_MAIN, where_imds = LISTEN_IMDS;

/* Request header by name (case-insensitive). */
const char *req_header(const struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* Decoded query argument by name. */
const char *req_arg(const struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* Body as a JSON object; NULL if absent or not an object. */
cJSON *req_json(const struct req *r)
{
	cJSON *j;

	if (!r->body || !r->len)
		return NULL;
	j = cJSON_ParseWithLength(r->body, r->len);
	if (j && !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

/* Outcome recorded in the audit line. */
static void set_outcome(struct reply *rp, const char *s)
{
	snprintf(rp->outcome, sizeof(rp->outcome), "%s", s);
}

/* JSON reply; a 2xx status records outcome "ok". */
void reply_json(struct reply *rp, unsigned status, cJSON *j)
{
	free(rp->body);
	rp->body = json_take_text(j);
	if (!rp->body) {
		reply_empty(rp, 500, "InternalError");
		return;
	}
	rp->len = strlen(rp->body);
	rp->status = status;
	rp->ctype = "application/json; charset=utf-8";
	if (status < 400)
		set_outcome(rp, "ok");
}

/* Key Vault error envelope; audit outcome = innererror or code. */
void reply_error(struct reply *rp, unsigned status, const char *code,
		 const char *inner, const char *fmt, ...)
{
	cJSON *doc = cJSON_CreateObject(), *e = cJSON_CreateObject();
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (doc && e) {
		cJSON_AddStringToObject(e, "code", code);
		cJSON_AddStringToObject(e, "message", msg);
		if (inner) {
			cJSON *ie = cJSON_AddObjectToObject(e, "innererror");
			if (ie)
				cJSON_AddStringToObject(ie, "code", inner);
		}
		cJSON_AddItemToObject(doc, "error", e);
		e = NULL;
	}
	cJSON_Delete(e);
	reply_json(rp, status, doc);
	set_outcome(rp, inner ? inner : code);
}

/* Reply without a body (401 challenge, 204). */
void reply_empty(struct reply *rp, unsigned status, const char *outcome)
{
	free(rp->body);
	rp->body = NULL;
	rp->len = 0;
	rp->status = status;
	rp->ctype = NULL;
	set_outcome(rp, outcome);
}

/* Sleeps in small steps so that shutdown is never held up for long. */
static void delay(int ms)
{
	while (ms > 0 && !emu_stopping) {
		int step = ms < 50 ? ms : 50;
		struct timespec ts = { 0, (long)step * 1000000L };
		nanosleep(&ts, NULL);
		ms -= step;
	}
}

/* Applies injected faults; 1 if the request is answered by the fault. */
static int apply_faults(struct req *r, struct reply *rp)
{
	struct fault_decision d;

	faults_decide(r->op, &d);
	if (d.action == FAULT_DROP) {
		rp->drop = 1;
		return 1;
	}
	delay(d.delay_ms);
	if (d.action == FAULT_THROTTLE) {
		reply_error(rp, 429, "Throttled", NULL,
			    "Request was not processed because too many requests "
			    "were received. Reason: VaultRequestTypeLimitReached");
		if (d.retry_after >= 0)
			snprintf(rp->retry_after, sizeof(rp->retry_after), "%d",
				 d.retry_after);
		return 1;
	}
	if (d.action == FAULT_ERROR) {
		reply_error(rp, (unsigned)d.status,
			    d.status == 503 ? "ServiceUnavailable" : "InternalServerError",
			    NULL, "The service is temporarily unavailable (injected fault).");
		return 1;
	}
	return 0;
}

/* Routes one complete request. */
static void dispatch(struct req *r, struct reply *rp)
{
	struct route rt;
	char tenant[65];

	if (r->bad_uri) {
		r->op = "-";
		reply_error(rp, 400, "BadParameter", NULL,
			    "The request URI contains a control character");
		return;
	}
	if (r->too_big) {
		reply_error(rp, 413, "BadParameter", "RequestTooLarge",
			    "The request body is larger than %d bytes", EMU_BODY_MAX);
		return;
	}
	if (r->where == LISTEN_MAIN && !strncmp(r->path, "/_emulator/", 11)) {
		control_handle(r, rp);
		return;
	}
	if (!strcmp(r->path, "/metadata/identity/oauth2/token")) {
		r->op = "imds";
		if (!apply_faults(r, rp))
			auth_imds(r, rp);
		return;
	}
	if (r->where == LISTEN_IMDS) {
		r->op = "-";
		reply_error(rp, 404, "NotFound", NULL, "No such endpoint");
		return;
	}
	if (oidc_handle(r, rp))
		return;
	if (auth_token_path(r->path, tenant, sizeof(tenant))) {
		r->op = "token";
		if (!apply_faults(r, rp))
			auth_token(r, tenant, rp);
		return;
	}
	if (admin_route(r)) {
		r->auth = auth_bearer(r);
		if (!apply_faults(r, rp))
			admin_handle(r, rp);
		return;
	}
	api_route(r->method, r->path, &rt);
	r->op = api_op_name(&rt);
	snprintf(r->key, sizeof(r->key), "%s", rt.key);
	snprintf(r->version, sizeof(r->version), "%s", rt.version);
	r->auth = auth_bearer(r);
	if (!apply_faults(r, rp))
		api_handle(r, &rt, rp);
}

/* Adds headers every reply carries, then the reply's own. */
static int add_headers(struct MHD_Response *resp, const struct req *r,
		       const struct reply *rp)
{
	const char *crid = req_header(r, "x-ms-client-request-id");
	char lat[24];

	snprintf(lat, sizeof(lat), "%llu", (unsigned long long)(clock_ms() - r->t0));
	if (MHD_add_response_header(resp, "x-ms-request-id", r->request_id) == MHD_NO ||
	    MHD_add_response_header(resp, "x-ms-server-latency", lat) == MHD_NO)
		return -1;
	if (crid && strlen(crid) <= 128 && valid_ident(crid, 128, "-") &&
	    MHD_add_response_header(resp, "x-ms-client-request-id", crid) == MHD_NO)
		return -1;
	if (rp->ctype && MHD_add_response_header(resp, "Content-Type", rp->ctype) == MHD_NO)
		return -1;
	if (rp->www_auth[0] &&
	    MHD_add_response_header(resp, "WWW-Authenticate", rp->www_auth) == MHD_NO)
		return -1;
	if (rp->retry_after[0] &&
	    MHD_add_response_header(resp, "Retry-After", rp->retry_after) == MHD_NO)
		return -1;
	if (rp->async_op[0] &&
	    MHD_add_response_header(resp, "Azure-AsyncOperation", rp->async_op) == MHD_NO)
		return -1;
	if (rp->no_store &&
	    (MHD_add_response_header(resp, "Cache-Control", "no-store") == MHD_NO ||
	     MHD_add_response_header(resp, "Pragma", "no-cache") == MHD_NO))
		return -1;
	return 0;
}

/* Sends the reply (or drops the connection) and writes the audit line. */
static enum MHD_Result finish(struct req *r, struct reply *rp)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	audit_write(r, rp);
	if (rp->drop)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(rp->len, rp->body ? rp->body : (char *)"",
					       rp->body ? MHD_RESPMEM_MUST_FREE
							: MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	rp->body = NULL;
	if (add_headers(resp, r, rp)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(r->conn, rp->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* 1 if the request target holds a control byte, raw or %-encoded: the
 * decoded path is a C string, so "%00" would otherwise cut it short. */
static int uri_has_ctl(const char *u)
{
	for (; *u; u++) {
		unsigned char c = (unsigned char)*u;
		if (c < 0x20 || c == 0x7f)
			return 1;
		if (c == '%' && u[1] && u[2] &&
		    ((u[1] == '0' || u[1] == '1') ||
		     ((u[1] == '7') && (u[2] == 'f' || u[2] == 'F'))) &&
		    strchr("0123456789abcdefABCDEF", u[2]))
			return 1;
	}
	return 0;
}

/* Sees the request target before libmicrohttpd decodes it; the request
 * state made here becomes the access handler's *con_cls. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct req *r = calloc(1, sizeof(*r));

	(void)cls;
	if (r)
		r->bad_uri = uri_has_ctl(uri);
	conns_busy(c);
	return r;
}

/* Fills the request state on the first access-handler callback. */
static struct req *req_new(struct req *r, struct MHD_Connection *c,
			   enum listener where, const char *url,
			   const char *method)
{
	const union MHD_ConnectionInfo *ci;

	if (!r)
		r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->started = 1;
	r->conn = c;
	r->where = where;
	r->t0 = clock_ms();
	snprintf(r->method, sizeof(r->method), "%s", method);
	if (strlen(url) > PATH_MAX_LEN)
		r->too_big = 1;
	else
		snprintf(r->path, sizeof(r->path), "%s", url);
	if (make_guid(r->request_id))
		snprintf(r->request_id, sizeof(r->request_id), "-");
	snprintf(r->remote, sizeof(r->remote), "-");
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr)
		getnameinfo(ci->client_addr,
			    ci->client_addr->sa_family == AF_INET6
				    ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in),
			    r->remote, sizeof(r->remote), NULL, 0, NI_NUMERICHOST);
	return r;
}

/* Collects body bytes up to EMU_BODY_MAX; the rest is discarded. */
static void req_append(struct req *r, const char *data, size_t n)
{
	char *nb;

	if (r->too_big)
		return;
	if (n > EMU_BODY_MAX - r->len) {
		r->too_big = 1;
		return;
	}
	nb = realloc(r->body, r->len + n + 1);
	if (!nb) {
		r->too_big = 1;
		return;
	}
	r->body = nb;
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
}

/* libmicrohttpd access handler: called once per header, body chunk, end. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct req *r = *con_cls;
	struct reply rp = { .status = 500 };
	const char *cl;
	enum MHD_Result ret;

	(void)version;
	if (!r || !r->started) {
		r = req_new(r, c, *(enum listener *)cls, url, method);
		if (!r)
			return MHD_NO;
		*con_cls = r;
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
		if (cl && strtoull(cl, NULL, 10) > EMU_BODY_MAX)
			r->too_big = 1;
		/* Even a body we refuse is read (and dropped): answering
		 * before it is read and closing would reset the connection
		 * under the client, which may then never see the 413. */
		return MHD_YES;
	}
	if (*upload_size) {
		req_append(r, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	dispatch(r, &rp);
	ret = finish(r, &rp);
	free(rp.body);
	return ret;
}

/* Frees per-request state; bodies may hold secrets, so wipe them. */
static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
		    enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;

	(void)cls;
	(void)toe;
	conns_idle(c);
	if (!r)
		return;
	if (r->body) {
		OPENSSL_cleanse(r->body, r->len);
		free(r->body);
	}
	free(r);
	*con_cls = NULL;
}

/* libmicrohttpd diagnostics go to the debug log. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_debug("http: %s", line);
}

/* Thread per connection: injected latency never stalls other clients. */
struct MHD_Daemon *server_start(int fd, enum listener where,
				const char *cert, const char *key)
{
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	enum listener *w = where == LISTEN_MAIN ? &where_main : &where_imds;

	if (cert)
		return MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL,
					on_request, w,
					MHD_OPTION_LISTEN_SOCKET, fd,
					MHD_OPTION_HTTPS_MEM_CERT, cert,
					MHD_OPTION_HTTPS_MEM_KEY, key,
					MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
					MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
					MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
					MHD_OPTION_NOTIFY_CONNECTION, conns_notify, NULL,
					MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
					MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
					MHD_OPTION_END);
	return MHD_start_daemon(flags, 0, NULL, NULL, on_request, w,
				MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
				MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
				MHD_OPTION_NOTIFY_CONNECTION, conns_notify, NULL,
				MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_END);
}
