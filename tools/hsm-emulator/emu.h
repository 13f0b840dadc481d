/* SPDX-License-Identifier: Apache-2.0 */
/* Process-wide settings of the emulator, fixed before any thread starts. */
#ifndef HSMEMU_EMU_H
#define HSMEMU_EMU_H

#include <signal.h>

#define EMU_BODY_MAX (64 * 1024)   /* largest request body accepted */
#define EMU_NAME_MAX 127            /* key names: 1..127 of [0-9A-Za-z-] */
#define EMU_ID_MAX 128              /* client ids */

struct emu_config {
	char dir[512];          /* state directory */
	char base[160];         /* https://host:port, no trailing slash */
	char tenant[64];        /* tenant used in the 401 challenge */
	int token_lifetime;     /* seconds */
	int retention_days;     /* soft-delete retention, 7..90 (default 90) */
};

extern struct emu_config emu;
/* Set by the signal thread; long sleeps poll it so shutdown is prompt. */
extern volatile sig_atomic_t emu_stopping;

#endif
