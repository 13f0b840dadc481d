/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A backing file's header and sizes, read without any key: nothing here
 * needs the KEK or the volume key, so it works on a copy of one file
 * anywhere (backups, support cases).
 */
#ifndef HSMFS_OFFLINE_INSPECT_H
#define HSMFS_OFFLINE_INSPECT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "crypto/hdr.h"

struct inspect {
	struct stat st;
	/* hdr_read's result: 0 (h is the header), -ENOKEY (an empty
	 * file), -EINVAL (why says what is wrong) or a read error. */
	int hdr_err;
	const char *why;
	struct hdr h;
	int lay;          /* the volume's format */
	bool lay_known;   /* from a hsmfs.conf above the file, or given */
	int64_t psize;    /* < 0: no valid file has the backing size */
};

/* Reads the file at path; lay 0: the format of the volume the file lies
 * in, else CONF_FORMAT. 0, or -errno if the file cannot be opened or is
 * not a regular file (-EISDIR, -EINVAL). */
int inspect_file(const char *path, int lay, struct inspect *out);

#endif
