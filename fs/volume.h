/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A mounted (or opened) volume: its config, its KEK, the keys derived from
 * the volume key, the DEK cache. Shared by the daemon and the tools.
 */
#ifndef HSMFS_VOLUME_H
#define HSMFS_VOLUME_H

#include <stdatomic.h>
#include <stdbool.h>

#include "crypto/conf.h"
#include "crypto/hdr.h"
#include "crypto/names.h"
#include "hsmclient/dekcache.h"
#include "hsmclient/kek.h"

struct vol_opts {
	struct kek_opts kek;
	const char *pin_kek;   /* mount -o kek=URL: the KEK this volume must use */
	bool no_pin_store;     /* skip the local pin store */
	unsigned cache_entries;
	unsigned cache_ttl_s;
};

struct vol {
	int rootfd; /* the backing directory */
	char *cipherdir;
	struct conf conf;
	uint8_t *vk; /* volume key, locked memory */
	struct kek *kek;
	struct names_keys *nk; /* names, symlink targets, xattrs */
	struct dekcache *cache;
	atomic_ullong unwraps, unwrap_errors, wraps;
};

/* Sets the defaults every command shares, then reads HSMFS_* variables. */
void vol_opts_init(struct vol_opts *o);
/* Parses one KEK/cache option ("ca_file=...", ...). 1 taken, 0 not ours,
 * -1 bad value (err says why). */
int vol_opts_parse(struct vol_opts *o, const char *opt, char *err,
		   size_t errlen);

/* Creates a volume in an empty directory. 0, or -1 with err set. */
int vol_create(const char *cipherdir, const char *kek_url,
	       bool plaintext_names, const struct vol_opts *o, char *err,
	       size_t errlen);
/* Opens a volume: config, pin check, KEK, volume key. 0 or -1, err set. */
int vol_open(struct vol *v, const char *cipherdir, const struct vol_opts *o,
	     char *err, size_t errlen);
void vol_close(struct vol *v);

/* Writes the directory IV (random when iv is NULL) into dirfd. */
int vol_write_diriv(int dirfd, const uint8_t *iv);
/* A fresh DEK and file id, wrapped into a new header h. 0 or -errno. */
int vol_new_file_key(struct vol *v, struct hdr *h, uint8_t dek[KEY_LEN]);
/* The DEK of a header: cache or HSM, checked against the header MAC.
 * what names the file in log lines. 0 or -errno (EIO, EACCES). */
int vol_load_file_key(struct vol *v, const struct hdr *h,
		      uint8_t dek[KEY_LEN], const char *what);

#endif
