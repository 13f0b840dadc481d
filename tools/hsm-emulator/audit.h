/* SPDX-License-Identifier: Apache-2.0 */
/* DIR/audit.log: one JSON object per request, flushed per line. */
#ifndef HSMEMU_AUDIT_H
#define HSMEMU_AUDIT_H

#include "http.h"

int audit_open(void);
void audit_close(void);
void audit_write(const struct req *r, const struct reply *rp);

#endif
