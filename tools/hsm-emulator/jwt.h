/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Compact JWS (JWT) parsing and checking: RS256/PS256 client assertions
 * and the emulator's own RS256 access tokens. Inputs are untrusted.
 */
#ifndef HSMEMU_JWT_H
#define HSMEMU_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#define JWT_MAX 16384

struct jwt {
	cJSON *header;
	cJSON *claims;
	char *text;             /* copy of the token */
	size_t signed_len;      /* length of "header.payload" */
	uint8_t sig[1024];
	size_t sig_len;
};

/* Splits and decodes a compact JWS; -1 if malformed or too large. */
int jwt_parse(const char *token, struct jwt *j);
void jwt_free(struct jwt *j);
/* Verifies an RS256 or PS256 signature with pub; 0 if valid. */
int jwt_verify_rsa(const struct jwt *j, EVP_PKEY *pub);
/* 1 if the aud claim (string or array) contains aud. */
int jwt_aud_has(const struct jwt *j, const char *aud);
/* Signs claims with RS256 under key, kid in the header; *out malloc'd. */
int jwt_sign_rs256(const cJSON *claims, EVP_PKEY *key, const char *kid,
		   char **out);
/* Parses a token and checks its RS256 signature under key. */
int jwt_verify_rs256(const char *token, EVP_PKEY *key, struct jwt *j);

#endif
