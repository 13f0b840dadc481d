/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the Azure provider reads from the network and exposes for tests:
 * error bodies (azure_http_error), key ids in answers
 * (azure_parse_key_url) and endpoint bases (azure_parse_base).
 *
 * Input: byte 0 picks the operation and Key Vault vs Managed HSM, byte 1
 * the HTTP status, byte 2 the Retry-After; the rest is the response body,
 * up to a NUL, then a WWW-Authenticate value / URL.
 * Invariants: the error line is one bounded, NUL-terminated line without
 * control bytes from the body; an accepted key id is canonical and parses
 * again to the same fields.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "common/secmem.h"
#include "hsmclient/azure/auth.h"
#include "hsmclient/azure/err.h"
#include "hsmclient/azure/provider.h"
#include "hsmclient/azure/url.h"

static const long statuses[] = { 400, 401, 403, 404, 408, 409, 429, 500,
				 502, 503, 504, 200, 302, 418, 0, 999 };

static int has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static void check_url(const char *s)
{
	char err[KEK_ERR_MAX], canon[KEK_KID_MAX + 64];
	char base[HTTP_BASE_MAX], host[HTTP_BASE_MAX];
	struct az_keyurl u, v;

	for (int kid = 0; kid < 2; kid++) {
		err[0] = '\0';
		if (azure_parse_key_url(s, kid, &u, err) != KEK_OK) {
			FUZZ_ASSERT(err[0] != '\0');
			FUZZ_ASSERT(strlen(err) < KEK_ERR_MAX);
			continue;
		}
		FUZZ_ASSERT(strncmp(u.base, "https://", 8) == 0);
		FUZZ_ASSERT(u.name[0] != '\0');
		FUZZ_ASSERT(strspn(u.name, "abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") ==
			    strlen(u.name));
		FUZZ_ASSERT(u.version[0] == '\0' ||
			    strlen(u.version) == AZ_VERSION_LEN);
		FUZZ_ASSERT(!kid || u.version[0] != '\0');
		FUZZ_ASSERT(strspn(u.version, "0123456789abcdefABCDEF") ==
			    strlen(u.version));
		snprintf(canon, sizeof(canon), "%s/keys/%s%s%s", u.base,
			 u.name, u.version[0] ? "/" : "", u.version);
		FUZZ_ASSERT(azure_parse_key_url(canon, kid, &v, err) == KEK_OK);
		FUZZ_ASSERT(strcmp(u.base, v.base) == 0);
		FUZZ_ASSERT(strcmp(u.host, v.host) == 0);
		FUZZ_ASSERT(strcmp(u.name, v.name) == 0);
		FUZZ_ASSERT(strcmp(u.version, v.version) == 0);
	}
	if (azure_parse_base(s, base, host, err) == KEK_OK) {
		FUZZ_ASSERT(strncmp(base, "https://", 8) == 0);
		FUZZ_ASSERT(host[0] != '\0');
		FUZZ_ASSERT(azure_parse_base(base, u.base, u.host, err) ==
			    KEK_OK);
		FUZZ_ASSERT(strcmp(base, u.base) == 0);
		(void)azure_scope_for_host(host);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[KEK_ERR_MAX + 1];
	const uint8_t *nul;
	size_t blen;
	char *body, *tail;
	int op;

	if (size < 3 || size > HTTP_BODY_MAX)
		return 0;
	op = data[0] & 3;
	nul = memchr(data + 3, 0, size - 3);
	blen = nul ? (size_t)(nul - (data + 3)) : size - 3;
	/* Exact-size copies: reads past the end are caught by ASan. */
	body = malloc(blen ? blen : 1);
	tail = malloc(size - 3 - blen + 1);
	FUZZ_ASSERT(body && tail);
	memcpy(body, data + 3, blen);
	if (nul)
		memcpy(tail, nul + 1, size - 3 - blen - 1);
	tail[nul ? size - 3 - blen - 1 : 0] = '\0';

	memset(err, 0x55, sizeof(err));
	(void)azure_http_error(op, "hsmfs-kek", statuses[data[1] & 15], body,
			       blen, "", data[2] * 1000u, data[0] & 4, err);
	FUZZ_ASSERT(memchr(err, '\0', KEK_ERR_MAX) != NULL);
	FUZZ_ASSERT(err[0] != '\0');
	FUZZ_ASSERT(!has_ctl(err));
	/* With a WWW-Authenticate value. */
	(void)azure_http_error(op, "hsmfs-kek", 401, body, blen, tail, 0,
			       data[0] & 4, err);
	FUZZ_ASSERT(memchr(err, '\0', KEK_ERR_MAX) != NULL);
	FUZZ_ASSERT(!has_ctl(err));

	/* The same bytes as a key bundle and as a wrap/unwrap result. */
	(void)azure_parse_answers(body, blen, err);
	FUZZ_ASSERT(memchr(err, '\0', KEK_ERR_MAX) != NULL);
	/* The same bytes as a token endpoint's answer. */
	{
		struct http_resp rs = { .status = 200, .body = body,
					.len = blen };
		uint64_t life = 0;
		char *hdr = NULL;

		if (azauth_token_parse(&rs, &hdr, &life, err) == KEK_OK) {
			FUZZ_ASSERT(hdr && strncmp(hdr, "Authorization: Bearer ", 22) == 0);
			FUZZ_ASSERT(life > 0);
			secmem_strfree(hdr);
		} else {
			FUZZ_ASSERT(hdr == NULL);
		}
	}
	check_url(tail);
	free(body);
	free(tail);
	return 0;
}
