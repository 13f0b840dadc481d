/* SPDX-License-Identifier: Apache-2.0 */
/* encrypt, decrypt, sign and verify with a key, and POST /rng. */
#ifndef HSMEMU_CRYPTOOPS_H
#define HSMEMU_CRYPTOOPS_H

#include "api.h"

void cryptoops_handle(struct req *r, const struct route *rt, struct reply *rp);

#endif
