/* SPDX-License-Identifier: Apache-2.0 */
/* /{scope}/providers/Microsoft.Authorization/roleDefinitions and
 * roleAssignments: the Managed HSM RBAC REST API (rbac.c keeps the data). */
#ifndef HSMEMU_RBACAPI_H
#define HSMEMU_RBACAPI_H

#include "api.h"

/* Routes a path holding /providers/Microsoft.Authorization/. */
enum api_op rbacapi_route(const char *m, const char *path, struct route *rt);
void rbacapi_handle(struct req *r, const struct route *rt, struct reply *rp);

#endif
