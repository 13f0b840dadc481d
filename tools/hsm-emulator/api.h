/* SPDX-License-Identifier: Apache-2.0 */
/* The data plane: routing, authorization and the /keys handlers; the
 * other handlers live in cryptoops.c, deleted.c, keyextra.c, rbacapi.c. */
#ifndef HSMEMU_API_H
#define HSMEMU_API_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "emu.h"
#include "http.h"

enum api_op {
	OP_UNKNOWN, OP_LIST, OP_GET, OP_VERSIONS, OP_CREATE, OP_ROTATE,
	OP_UPDATE, OP_DELETE, OP_WRAP, OP_UNWRAP,
	OP_ENCRYPT, OP_DECRYPT, OP_SIGN, OP_VERIFY, OP_BACKUP, OP_RESTORE,
	OP_POLICY_GET, OP_POLICY_SET, OP_DELETED_LIST, OP_DELETED_GET,
	OP_PURGE, OP_RECOVER, OP_RNG, OP_SETTINGS, OP_SETTING_GET,
	OP_RD_LIST, OP_RD_GET, OP_RD_PUT, OP_RD_DELETE,
	OP_RA_LIST, OP_RA_GET, OP_RA_PUT, OP_RA_DELETE,
};

struct route {
	enum api_op op;
	char key[EMU_NAME_MAX + 1];     /* also the key of a /keys/<name> scope */
	char version[33];
	char item[64];                  /* role, assignment or setting name */
	char scope[8 + EMU_NAME_MAX + 1];       /* RBAC scope: /, /keys, /keys/<name> */
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

/* Helpers for the handlers in other files. */
struct key_snap;
/* Persists after a change; the caller holds the store lock. */
int api_save_or_fail(char *err, size_t errcap);
/* Ends a key handler: the bundle (its version audited), or rc's error. */
void api_reply_bundle(struct req *r, struct reply *rp, int rc,
		      cJSON *bundle, const char *err);
/* 404 KeyNotFound for a key name. */
void api_not_found(struct reply *rp, const char *name);
/* maxresults (1..25) and $skiptoken; 400 and -1 if invalid. */
int api_page_args(struct req *r, struct reply *rp, size_t *skip, size_t *max);
/* {"value":page,"nextLink"} with what the collection path for nextLink. */
void api_reply_page(struct req *r, struct reply *rp, cJSON *page,
		    int more, size_t skip, size_t max, const char *what);
/* Key state checks (enabled, nbf/exp unless any_time, key_ops bit kop);
 * 0 with a 403 reply if the operation is not allowed. */
int api_key_usable(const struct key_snap *s, const char *opname, unsigned kop,
		   int any_time, struct reply *rp);

#endif
