/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One line into a fixed buffer: a line that does not fit is cut at a
 * word (never in the middle of one, or of a UTF-8 sequence) and ends with
 * "…", so that an operator sees that something was left out and can still
 * read what is there. It cannot fail: it shortens.
 */
#ifndef HSMFS_FIT_H
#define HSMFS_FIT_H

#include <stdarg.h>
#include <stddef.h>

/* Copies src into dst (cap bytes, NUL included), shortened as above if
 * needed. dst may be src. Returns the length written. */
size_t fit_str(char *dst, size_t cap, const char *src);
/* snprintf, shortened as above instead of cut anywhere. */
size_t fit_fmt(char *dst, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
size_t fit_vfmt(char *dst, size_t cap, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#endif
