/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The options every command that opens a volume shares: how to reach the
 * KEK (ca_file=, kek_scope=, hsm_endpoint=, credential_file=, ...), what
 * to expect of the volume (kek=, volume=, no_pin) and the DEK cache's
 * bounds. Option values are untrusted input: a bad one is refused with a
 * line saying which.
 */
#ifndef HSMFS_VOL_OPTS_H
#define HSMFS_VOL_OPTS_H

#include <stdbool.h>
#include <stddef.h>

#include "hsmclient/kek.h"
#include "pin.h"

struct vol_opts {
	struct kek_opts kek;
	const char *pin_kek;   /* mount -o kek=URL: the KEK this volume must use */
	/* -o volume=FINGERPRINT: the volume this must be (pin.h). */
	bool have_fpr;
	struct pin_fpr fpr;
	/* rekey --to URL: when the config already names URL, a pin naming
	 * one of its previous_keks is accepted (a run that stopped between
	 * writing the config and updating the pin). */
	const char *rekey_to;
	/* kek add URL: the escrow KEK being added, named by the operator. */
	const char *escrow_add;
	bool no_pin_store;     /* skip the local pin store */
	bool pin_readonly;     /* check a pin, never write one (fsck) */
	unsigned cache_entries;
	unsigned cache_ttl_s;
};

/* Sets the defaults every command shares, then reads HSMFS_* variables. */
void vol_opts_init(struct vol_opts *o);
/* Parses one KEK/cache option ("ca_file=...", ...); o keeps pointers
 * into opt. 1 taken, 0 not ours, -1 bad value (err says why). */
int vol_opts_parse(struct vol_opts *o, const char *opt, char *err,
		   size_t errlen);

#endif
