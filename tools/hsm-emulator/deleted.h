/* SPDX-License-Identifier: Apache-2.0 */
/* /deletedkeys: list, get, purge and recover soft-deleted keys. */
#ifndef HSMEMU_DELETED_H
#define HSMEMU_DELETED_H

#include "api.h"

/* Routes /deletedkeys[/{name}[/recover]] (seg: the path's segments). */
enum api_op deleted_route(const char *m, char **seg, int n, struct route *rt);
void deleted_handle(struct req *r, const struct route *rt, struct reply *rp);

#endif
