/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Persistent state: keys, clients, role assignments and the token signing
 * key (signkey.h), in DIR/state.json (mode 0600). One mutex guards all of
 * it; functions documented "caller holds the store lock" must only run
 * under it.
 */
#ifndef HSMEMU_STORE_H
#define HSMEMU_STORE_H

#include <stdint.h>

#define TOKEN_KEY_LEN 32

/* Loads or initialises DIR/state.json, DIR/tenant and DIR/control.token. */
int store_open(void);
void store_close(void);
void store_lock(void);
void store_unlock(void);
/* Writes the whole state crash-safely; caller holds the store lock. */
int store_save(void);
/* Control API token (hex); constant after store_open. */
const char *store_control_token(void);

#endif
