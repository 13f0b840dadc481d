/* SPDX-License-Identifier: Apache-2.0 */
/* One HTTP request and its reply, as the handlers see them. */
#ifndef HSMEMU_HTTP_H
#define HSMEMU_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "emu.h"

#define PATH_MAX_LEN 1024

enum listener { LISTEN_MAIN, LISTEN_IMDS };

/* Outcome of reading the bearer token, before faults are applied. */
enum auth_state { AUTH_NONE, AUTH_OK, AUTH_INVALID, AUTH_EXPIRED };

struct req {
	struct MHD_Connection *conn;
	enum listener where;
	char method[16];
	char path[PATH_MAX_LEN + 1];
	char *body;             /* NUL-terminated, at most EMU_BODY_MAX */
	size_t len;
	int too_big;
	int bad_uri;            /* control byte in the raw request target */
	int started;            /* first access-handler callback seen */
	uint64_t t0;            /* monotonic ms at arrival */
	char remote[64];
	char request_id[37];
	enum auth_state auth;
	/* Filled while handling, for the audit line. */
	const char *op;
	char principal[EMU_ID_MAX + 1];
	char oid[37];
	char key[EMU_NAME_MAX + 1];
	char version[33];
};

struct reply {
	unsigned status;
	char *body;             /* malloc'd or NULL */
	size_t len;
	const char *ctype;
	char outcome[48];       /* "ok" or an error code, for the audit */
	char www_auth[400];
	char retry_after[24];
	char async_op[400];     /* Azure-AsyncOperation of a long-running op */
	int no_store;           /* Cache-Control: no-store (tokens) */
	int drop;               /* close the connection without answering */
};

const char *req_header(const struct req *r, const char *name);
const char *req_arg(const struct req *r, const char *name);
/* Request body as a JSON object, or NULL. */
cJSON *req_json(const struct req *r);

/* Replies with j (freed) as the body. */
void reply_json(struct reply *rp, unsigned status, cJSON *j);
/* Replies {"error":{"code","message","innererror"?}}. */
void reply_error(struct reply *rp, unsigned status, const char *code,
		 const char *inner, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void reply_empty(struct reply *rp, unsigned status, const char *outcome);

/* Starts a daemon on a bound, listening socket; TLS if cert is given. */
struct MHD_Daemon *server_start(int fd, enum listener where,
				const char *cert, const char *key);

#endif
