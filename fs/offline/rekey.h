/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rekeying a volume. Two kinds:
 *
 *  - KEK rekey: every file's DEK (and the volume key) rewrapped to the
 *    KEK's current version, or to another KEK. Content untouched; each
 *    header is rewritten slot by slot (write the spare slot, sync, clear
 *    the old one, sync), so it is crash-safe and resumable with no state
 *    of its own: the headers are the state. Works on a mounted volume.
 *    A volume-wrap volume's KEK rekey changes only the config; its
 *    wrapping key is replaced by --wrapping-key, every header rewrapped
 *    locally in the same crash-safe way, with the config holding both
 *    generations until no header names the old one.
 *  - wrap-mode conversion (--to-wrap): a file-mode volume becomes a
 *    volume-wrap one or back, on a volume claimed alone. The config
 *    records the conversion first (and, to volume mode, gains a wrapping
 *    key); every header is then rewrapped the other way, slot by slot as
 *    above; the config drops the conversion last. Meanwhile a slot may
 *    be of either kind, and the volume mounts and reads as usual.
 *  - data rekey: a fresh DEK and re-encrypted content for some files,
 *    each written to a temporary file and renamed over the original.
 *    Only on an unmounted volume.
 *
 * Nothing here prints: what a run does and finds goes to the caller's
 * rekey_ui, which the CLI turns into lines, a progress bar and reports.
 */
#ifndef HSMFS_OFFLINE_REKEY_H
#define HSMFS_OFFLINE_REKEY_H

#include <stdbool.h>
#include <stddef.h>

#include "crypto/conf.h"
#include "crypto/hdr.h"
#include "fs/vol/opts.h"

enum rekey_result {
	REKEY_OK,          /* done; --check: only the current version */
	REKEY_FAILED,      /* some files failed, or the run could not go on */
	REKEY_OLD_NEEDED,  /* --check: older KEK versions still referenced */
	REKEY_CANNOT_TELL, /* --check: an operational error */
};

/* A KEK version and what references it. */
struct rekey_kid {
	char kid[KEK_KID_MAX];
	unsigned long files;
	bool vk;      /* the config's volume key too */
	bool current; /* the target's current version */
};

struct rekey_failure {
	const char *bpath; /* from the volume root, whole */
	const char *ppath; /* plaintext path, or NULL */
	char why[300];
};

/* What a KEK rekey found and did; valid during the report call only. */
struct rekey_report {
	const char *cipherdir;
	const char *target_kid;
	unsigned long files, done, rewrapped, current, empty, gone, failed;
	/* Of failed: directories the walk could not read (fails names
	 * them); --check cannot tell what lies under them. */
	unsigned long missed;
	double secs;
	const struct rekey_kid *kids;
	size_t nkids;
	const struct rekey_failure *fails;
	size_t nfails;
	/* --check */
	const char *vk_kid;
	bool vk_current;
	const char (*prev_keks)[HDR_KID_MAX + 1];
	int nprev;
	bool old_needed; /* an older version or KEK is still referenced */
	bool volume_wrap;
	enum conf_conversion conversion; /* one under way */
	unsigned long local_files, kek_files; /* --check: files by kind of
						 slot (both: counted twice) */
};

struct rekey_ui {
	/* What the run is doing or found, one line ("config: ..."). */
	void (*say)(void *ctx, const char *line);
	/* Why something failed, one line. */
	void (*error)(void *ctx, const char *line);
	/* Files done so far, about five times a second while workers run,
	 * and once more with last set; NULL: not called. */
	void (*progress)(void *ctx, unsigned long done, unsigned long total,
			 double secs, bool last);
	/* A KEK rekey's outcome: after the work (before previous KEKs are
	 * dropped), or for --check. */
	void (*report)(void *ctx, const struct rekey_report *rep);
	void *ctx;
};

struct rekey_opts {
	struct vol_opts vo;
	const char *to;   /* --to URL, or NULL: the config's KEK */
	unsigned jobs;    /* worker threads */
	double max_rate;  /* unwraps per second, 0: unbounded */
	bool check;       /* report only */
	/* volume-wrap: a new wrapping key, every header rewrapped locally */
	bool wrapping_key;
	/* --to-wrap: convert to this mode (CONF_CONV_NONE: no conversion) */
	enum conf_conversion to_wrap;
	struct rekey_ui ui;
};

/* One formatted line to ui->say or ui->error, for the engines. */
void rekey_say(const struct rekey_ui *ui, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void rekey_error(const struct rekey_ui *ui, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* hsmfs rekey [--check]. */
enum rekey_result rekey_kek(const char *cipherdir, struct rekey_opts *o);
/* hsmfs rekey --data: paths are plaintext paths from the volume root;
 * none means every file. */
enum rekey_result rekey_data(const char *cipherdir, struct rekey_opts *o,
			     char **paths, int npaths);

#endif
