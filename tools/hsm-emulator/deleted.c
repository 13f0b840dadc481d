/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "deleted.h"
#include "keys.h"
#include "store.h"

/* Routes /deletedkeys[/{name}[/recover]]. */
enum api_op deleted_route(const char *m, char **seg, int n, struct route *rt)
{
	if (n == 1 || (n == 2 && !seg[1][0]))
		return !strcmp(m, "GET") ? OP_DELETED_LIST : OP_UNKNOWN;
	if (key_name_ok(seg[1]))
		snprintf(rt->key, sizeof(rt->key), "%s", seg[1]);
	else
		rt->bad_key = 1;
	if (n == 2)
		return !strcmp(m, "GET") ? OP_DELETED_GET :
		       !strcmp(m, "DELETE") ? OP_PURGE : OP_UNKNOWN;
	if (n == 3 && !strcasecmp(seg[2], "recover") && !strcmp(m, "POST"))
		return OP_RECOVER;
	return OP_UNKNOWN;
}

/* The service's 404 for a deleted key that is not there. */
static void not_deleted(struct reply *rp, const char *name)
{
	reply_error(rp, 404, "KeyNotFound", NULL, "Deleted Key not found: %s", name);
}

/* GET /deletedkeys: one page of DeletedKeyItems. */
static void list(struct req *r, struct reply *rp)
{
	size_t skip, max;
	cJSON *page;
	int more;

	if (api_page_args(r, rp, &skip, &max))
		return;
	store_lock();
	page = keys_deleted_list(skip, max, &more);
	store_unlock();
	api_reply_page(r, rp, page, more, skip, max, "/deletedkeys");
}

/* Purge and recover change the store, so they persist under the lock. */
static int change(const struct route *rt, cJSON **bundle, char *err, size_t cap)
{
	int rc;

	store_lock();
	rc = rt->op == OP_PURGE ? keys_purge(rt->key) : keys_recover(rt->key, bundle);
	if (!rc)
		rc = api_save_or_fail(err, cap);
	store_unlock();
	return rc;
}

/* GET|DELETE /deletedkeys/{name}, POST /deletedkeys/{name}/recover. */
void deleted_handle(struct req *r, const struct route *rt, struct reply *rp)
{
	cJSON *b = NULL;
	char err[100] = "out of memory";
	int rc;

	if (rt->op == OP_DELETED_LIST) {
		list(r, rp);
		return;
	}
	if (rt->op == OP_DELETED_GET) {
		store_lock();
		rc = keys_deleted_get(rt->key, &b);
		store_unlock();
	} else {
		rc = change(rt, &b, err, sizeof(err));
	}
	if (rc == KE_NOTFOUND) {
		not_deleted(rp, rt->key);
		return;
	}
	if (!rc && rt->op == OP_PURGE)
		reply_empty(rp, 204, "ok");
	else
		api_reply_bundle(r, rp, rc, b, err);
}
