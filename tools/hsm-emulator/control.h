/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The /_emulator/ control API (faults, keys, clients, role assignments),
 * authorized by the X-Emulator-Control header = DIR/control.token.
 */
#ifndef HSMEMU_CONTROL_H
#define HSMEMU_CONTROL_H

#include "http.h"

void control_handle(struct req *r, struct reply *rp);

#endif
