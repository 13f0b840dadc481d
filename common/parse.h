/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Numbers from options, arguments and network answers. The whole string
 * must be the number: "abc", "", "12x" and out-of-range values are
 * refused, never read as 0. Each returns 0, or -1 leaving *out alone.
 */
#ifndef HSMFS_PARSE_H
#define HSMFS_PARSE_H

#include <stdint.h>

/* Decimal digits only (no sign, no space), at most max. */
int parse_u64(const char *s, uint64_t max, uint64_t *out);
int parse_uint(const char *s, unsigned max, unsigned *out);
/* A decimal number (strtod syntax, finite) within [min, max]. */
int parse_double(const char *s, double min, double max, double *out);

#endif
