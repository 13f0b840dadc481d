/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Escrow KEKs of a volume-wrap volume (hsmfs kek list, add, remove):
 * further KEKs, each wrapping every wrapping-key generation of the
 * config, so that any one of them opens the volume when the volume's own
 * KEK cannot be used (crypto/FORMAT.md section 8.7). Adding and removing
 * change the config alone (one atomic write, no file touched); this
 * machine's pin follows, and a mounted daemon is told to reload.
 *
 * Nothing here prints: each function returns 0, or -1 with one line in
 * err; what add and remove did goes to ui->say, one line at a time.
 */
#ifndef HSMFS_OFFLINE_ESCROW_H
#define HSMFS_OFFLINE_ESCROW_H

#include <stdbool.h>
#include <stddef.h>

#include "crypto/conf.h"
#include "fs/vol/opts.h"

struct escrow_ui {
	void (*say)(void *ctx, const char *line);
	void *ctx;
};

/* What hsmfs kek list shows, without any key: the config as it is (not
 * authenticated), and what this machine's pin of the directory says. */
struct escrow_listing {
	struct conf conf;
	int pin_found;   /* enum pin_found */
	bool pin_agrees; /* the pin names this volume and KEK */
	bool pinned[CONF_ESCROW_MAX]; /* the pin lists escrow KEK i */
	char pin_file[PIN_PATH_MAX];
};

int escrow_list(const char *cipherdir, struct escrow_listing *out, char *err,
		size_t errlen);
/* Opens the volume with any KEK that serves it, wraps every wrapping-key
 * generation with url, which must then unwrap one back, and stores the
 * config with url among its escrow KEKs. o is the command's options. */
int escrow_add(const char *cipherdir, const char *url, struct vol_opts *o,
	       const struct escrow_ui *ui, char *err, size_t errlen);
/* Drops escrow KEK url from the config (the volume's own KEK is never
 * dropped: rekey --to replaces it). */
int escrow_remove(const char *cipherdir, const char *url, struct vol_opts *o,
		  const struct escrow_ui *ui, char *err, size_t errlen);

#endif
