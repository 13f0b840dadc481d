/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Server text (error codes, messages, key ids) made fit to quote in one
 * error or log line. Server bytes are untrusted: a CR/LF in them must not
 * forge a second log line. No status: it cannot fail, it truncates.
 */
#ifndef HSMFS_AZ_TEXT_H
#define HSMFS_AZ_TEXT_H

#include <stddef.h>

/* CR/LF folded into one space, other control bytes replaced by '?',
 * trailing spaces dropped, at most cap - 1 bytes (cut at a word, with
 * "…": common/fit.h). dst may be src. */
void text_line(char *dst, size_t cap, const char *src);

#endif
