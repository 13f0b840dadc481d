/* SPDX-License-Identifier: Apache-2.0 */
/* The /keys data plane: routing, authorization and key handlers. */
#ifndef HSMEMU_API_H
#define HSMEMU_API_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "emu.h"
#include "http.h"

enum api_op {
	OP_UNKNOWN, OP_LIST, OP_GET, OP_VERSIONS, OP_CREATE, OP_ROTATE,
	OP_UPDATE, OP_DELETE, OP_WRAP, OP_UNWRAP,
};

struct route {
	enum api_op op;
	char key[EMU_NAME_MAX + 1];
	char version[33];
	int bad_key;            /* key name malformed */
	int bad_version;        /* version can never exist */
};

/* Maps method + path onto an operation; never fails (OP_UNKNOWN). */
void api_route(const char *method, const char *path, struct route *rt);
/* Operation name for audit and fault filters, e.g. "UnwrapKey". */
const char *api_op_name(const struct route *rt);
void api_handle(struct req *r, const struct route *rt, struct reply *rp);
/* 1 if the request's api-version is one the service accepts; else 400. */
int api_version_ok(struct req *r, struct reply *rp);

/* Key management shared with the control API; KE_* results. */
int keyops_create(const char *name, const cJSON *body, cJSON **bundle,
		  char *err, size_t errcap);
int keyops_rotate(const char *name, cJSON **bundle, char *err, size_t errcap);
int keyops_update(const char *name, const char *ver, const cJSON *body,
		  cJSON **bundle, char *err, size_t errcap);
/* Replies for a KE_* failure code with its message. */
void reply_key_error(struct reply *rp, int rc, const char *err);

#endif
