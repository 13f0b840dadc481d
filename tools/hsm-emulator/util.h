/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers: time, randomness, files, names. */
#ifndef HSMEMU_UTIL_H
#define HSMEMU_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "common/clock.h"

int64_t now_unix(void);
/* RFC 3339 UTC with milliseconds, e.g. 2024-01-02T03:04:05.678Z. */
void rfc3339_now(char out[32]);
/* 2*n lowercase hex chars of fresh randomness; out has 2*n+1 bytes. */
int rand_hex(char *out, size_t n);
/* Random version-4 GUID, 36 chars + NUL. */
int make_guid(char out[37]);
/* Uniform double in [0,1). */
double rand_unit(void);
/* Reads a whole file (at most max bytes) into a NUL-terminated buffer. */
int read_file(const char *path, char **buf, size_t *len, size_t max);
/* Writes path via tmp + fsync + rename + directory fsync. */
int write_file_atomic(const char *path, const void *buf, size_t len,
		      mode_t mode);
/* Constant-time comparison of two NUL-terminated strings. */
int ct_streq(const char *a, const char *b);
/* 1 if s is 1..max chars of [0-9A-Za-z] or chars in extra. */
int valid_ident(const char *s, size_t max, const char *extra);
/* base64url (no padding) of in, malloc'd; NULL on allocation failure. */
char *b64url_alloc(const uint8_t *in, size_t n);
/* Adds a public key number (RSA n, e; EC x, y) as a base64url JWK member;
 * pad > 0 gives the fixed length EC coordinates have. 0 or -1. */
int jwk_add_bn(cJSON *o, EVP_PKEY *pkey, const char *param, const char *name,
	       int pad);
/* A private key as PEM text, malloc'd (the caller wipes it); NULL on
 * failure. For the state file only. */
char *pkey_to_pem(EVP_PKEY *pkey);
/* Path DIR/name into out; -1 if it does not fit. */
int state_path(char *out, size_t cap, const char *name);

#endif
