/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small text files an operator writes for hsmfs: the machine and volume
 * configurations, credential files, systemd credentials. A file that
 * decides where tokens go, or holds a secret, is only as trustworthy as
 * whoever may write it, so that is checked before a byte is read: the
 * owner must be root or the user running hsmfs, and nobody else may
 * write it (CFILE_PRIVATE: nor read it). Lines are settings: leading
 * and trailing blanks dropped, blank lines and lines whose first
 * non-blank is '#' skipped.
 *
 * cfile_open returns 0, or -1 with one line in err naming the file.
 */
#ifndef HSMFS_CFILE_H
#define HSMFS_CFILE_H

#include <stdbool.h>
#include <stddef.h>

#define CFILE_MAX (64 * 1024) /* bigger files are refused */

enum cfile_policy {
	CFILE_TRUSTED, /* not writable by group or others */
	CFILE_PRIVATE, /* no access at all for group or others; the buffer
			* is secure memory (common/secmem.h) */
};

struct cfile {
	char *buf;   /* the whole file, NUL-terminated */
	size_t cap;
	bool secret; /* buf is secure memory */
	char *next;  /* where cfile_next goes on */
	unsigned line; /* number of the line cfile_next returned last */
};

int cfile_open(struct cfile *f, const char *path, enum cfile_policy p,
	       char *err, size_t errlen);
/* The next setting, NUL-terminated in place, or NULL at the end. */
char *cfile_next(struct cfile *f);
/* A setting "NAME=VALUE" (of cfile_next) split in place: NUL-terminates
 * the name and returns the value, without one pair of enclosing quotes
 * ('...' or "..."); NULL if there is no '='. */
char *cfile_split(char *setting);
/* The whole file as one value (a systemd credential): trailing blanks
 * and newlines dropped, nothing else. */
char *cfile_value(struct cfile *f);
/* Wipes and frees the buffer. A trusted file whose settings point into
 * the buffer for good is simply never closed. */
void cfile_close(struct cfile *f);

#endif
