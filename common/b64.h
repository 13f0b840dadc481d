/* SPDX-License-Identifier: Apache-2.0 */
/* base64url (RFC 4648 section 5) without padding, a tolerant decoder,
 * and the hex digit of percent-escapes. */
#ifndef HSMFS_B64_H
#define HSMFS_B64_H

#include <stddef.h>
#include <stdint.h>

/* Encoded length of n bytes, without the NUL. */
#define B64_ENC_LEN(n) (((n) * 4 + 2) / 3)

/* Writes B64_ENC_LEN(n) chars and a NUL into out (size >= that + 1). */
void b64url_encode(const uint8_t *in, size_t n, char *out);
/* Strict: only the URL alphabet, no padding, no trailing bits set.
 * Returns the decoded length, or -1 if malformed or longer than cap. */
long b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap);
/* Lenient, for network input: accepts both alphabets and '=' padding. */
long b64_decode_any(const char *in, size_t n, uint8_t *out, size_t cap);
/* The value of one hex digit of either case, or -1. */
int hex_digit(char c);

#endif
