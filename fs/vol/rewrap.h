/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rewrapping one file header to a target key, crash-safely: the spare
 * slot is written and synced, then the old slot cleared and synced, so
 * that every instant leaves at least one slot that opens the file. The
 * one home of that protocol, for hsmfs rekey and for the daemon that
 * follows its KEK's versions. The headers are the only state: a header
 * whose newest slot names the target is left alone, so a run killed at
 * any point is finished by running again.
 *
 * The target is a KEK's current version (file mode) or, for a
 * volume-wrap volume, its newest wrapping-key generation, wrapped
 * locally; during a conversion between the modes, the target mode's. Errors: each call says what it returns; why gets one line.
 */
#ifndef HSMFS_VOL_REWRAP_H
#define HSMFS_VOL_REWRAP_H

#include "vol.h"

/* Where slots are moved to. */
struct vol_rewrap_to {
	struct kek *kek;               /* wraps new slots (file mode) */
	char kid[KEK_KID_MAX];         /* its current version's kid */
	char wk_kid[HDR_KID_MAX + 1];  /* volume-wrap: the newest generation */
};

enum vol_rewrap_out {
	VOL_RW_DONE,    /* rewrapped (or a stale old slot cleared) */
	VOL_RW_CURRENT, /* already on the target: nothing written */
	VOL_RW_RETRY,   /* the HSM was throttled or unavailable: try later */
	VOL_RW_FAILED,  /* why says */
	VOL_RW_EMPTY,   /* an empty file: no header, no key */
	VOL_RW_UNREADABLE, /* the header cannot be read or parsed (why) */
};

/* Whether kid (a slot's, or a key the config wraps) names the target: a
 * version of the target KEK (any of its hosts: kids are compared parsed,
 * not as strings) that is its current one, or for a locally wrapped slot
 * the newest wrapping key. */
bool vol_rewrap_current(const struct vol_rewrap_to *t, const char *kid);
/* Whether a slot naming kid needs no rewrap in v: on the target, and
 * during a wrap conversion (FORMAT.md 8.6) of the target mode's kind. */
bool vol_rewrap_done(const struct vol *v, const struct vol_rewrap_to *t,
		     const char *kid);
/* Whether st is worth a retry later (throttled, unavailable, timeout). */
bool vol_rewrap_retryable(enum kek_status st);
/* The rewrap itself, of header h read from fd (opened read-write) whose
 * DEK, known from slot vi, is dek: the spare slot first, then the old
 * one cleared. h follows what was written; *st is the HSM's status. */
enum vol_rewrap_out vol_rewrap_slots(struct vol *v,
				     const struct vol_rewrap_to *t, int fd,
				     struct hdr *h, int vi,
				     const uint8_t dek[KEY_LEN],
				     enum kek_status *st, char *why, size_t n);

/* A whole header's move, on fd (a backing file opened read-write). Two
 * rewrappers of one header (the daemon following its KEK's versions and
 * hsmfs rekey, on any host sharing the backing directory) take turns:
 * each holds an exclusive lock on the header's bytes (an open file
 * description lock) from reading the header to its last write, so that
 * neither clears a slot the other has just written. Under it: the header
 * read; nothing more if its only slot is on the target; else before(ctx)
 * (a rate limit: an HSM unwrap may follow), the DEK from a slot, and
 * vol_rewrap_slots. *st is the HSM's last status (KEK_OK if it was not
 * asked or answered). A filesystem without such locks is written
 * without. */
enum vol_rewrap_out vol_rewrap_file(struct vol *v,
				    const struct vol_rewrap_to *t, int fd,
				    struct hdr *h, void (*before)(void *ctx),
				    void *ctx, enum kek_status *st, char *why,
				    size_t n);
/* Whether what config c wraps with the KEK (its wrapping keys, or its
 * volume key) is on the target version. */
bool vol_rewrap_conf_current(const struct vol_rewrap_to *t,
			     const struct conf *c);

#endif
