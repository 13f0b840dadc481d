/* SPDX-License-Identifier: Apache-2.0 */
/* Single-key backup and restore, key rotation policies, HSM settings. */
#ifndef HSMEMU_KEYEXTRA_H
#define HSMEMU_KEYEXTRA_H

#include "api.h"

/* Routes /settings[/{name}] and /rng (seg: the path's segments). */
enum api_op keyextra_route(const char *m, char **seg, int n, struct route *rt);
void keyextra_handle(struct req *r, const struct route *rt, struct reply *rp);

#endif
