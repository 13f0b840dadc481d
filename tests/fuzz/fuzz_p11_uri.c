/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the PKCS#11 provider reads from untrusted places: kids from file
 * headers (p11uri_parse_kid) and KEK URLs from volume configs
 * (p11uri_parse, p11uri_same).
 *
 * Input: the bytes as one string (up to a NUL).
 * Invariants: an accepted kid is its own canonical form; an accepted URL
 * makes a kid (for its id, or a fixed one) that parses back to the same
 * token, label, type and id; a URL is the same as itself.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "hsmclient/pkcs11/uri.h"

static void same_key(const struct p11uri *a, const struct p11uri *b)
{
	FUZZ_ASSERT(!strcmp(a->token, b->token));
	FUZZ_ASSERT(!strcmp(a->object, b->object));
	FUZZ_ASSERT(a->type == b->type);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t id1[] = { 1 };
	char *s = malloc(size + 1), err[KEK_ERR_MAX], kid[KEK_KID_MAX];
	struct p11uri u, v;
	const uint8_t *id;
	size_t idlen;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (p11uri_parse_kid(s, &u, err) == KEK_OK) {
		FUZZ_ASSERT(p11uri_kid(&u, u.id, u.idlen, kid, err) == KEK_OK);
		FUZZ_ASSERT(!strcmp(kid, s));
	}
	if (p11uri_parse(s, &u, err) == KEK_OK) {
		FUZZ_ASSERT(p11uri_same(s, s));
		id = u.has_id ? u.id : id1;
		idlen = u.has_id ? u.idlen : 1;
		if (p11uri_kid(&u, id, idlen, kid, err) == KEK_OK) {
			FUZZ_ASSERT(p11uri_parse_kid(kid, &v, err) == KEK_OK);
			same_key(&u, &v);
			FUZZ_ASSERT(v.idlen == idlen && !memcmp(v.id, id, idlen));
		}
	}
	free(s);
	return 0;
}
