/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What can be said of a volume without any key and without the HSM
 * (hsmfs info, hsmfs kek list): its config as it is, read by
 * crypto/conf.c and NOT authenticated (that needs the volume key), and
 * what this machine's pin of the directory says of it. Nothing here
 * sends a request anywhere. 0, or -1 with one line in err.
 */
#ifndef HSMFS_VOL_INFO_H
#define HSMFS_VOL_INFO_H

#include <limits.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "crypto/conf.h"
#include "pin.h"

struct vol_info {
	char dir[PATH_MAX];      /* canonical: what the pin is keyed by */
	struct conf conf;        /* as read: not authenticated */
	struct stat conf_st;     /* hsmfs.conf's size and times */
	/* The pin: enum pin_found, or -1 if one is there but does not read
	 * (pin_err says why). */
	int pin_found;
	char pin_err[PIN_PATH_MAX + 64];
	char pin_file[PIN_PATH_MAX];
	struct pin pin;
	bool pin_volume_ok, pin_kek_ok; /* it names this volume id, KEK */
	bool pinned[CONF_ESCROW_MAX];   /* it lists escrow KEK i */
	/* The fingerprint, when the pin holds this volume's key check value
	 * (the config alone cannot give it). */
	bool have_fpr;
	char fpr[PIN_FPR_TEXT];
	char mounted_on[PATH_MAX]; /* "" if not mounted here */
};

int vol_info(const char *cipherdir, struct vol_info *out, char *err,
	     size_t errlen);

#endif
