/* SPDX-License-Identifier: Apache-2.0 */
/*
 * conf_parse() on any hsmfs.conf (it is read, and the wrapped volume key
 * in it sent to the KEK, before its MAC can be checked).
 * Invariant: an accepted config serializes to one that parses back to
 * the same fields, so what init writes is what mount reads.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/conf.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why = NULL;
	struct conf c, d;
	char *json;
	int err = conf_parse((const char *)data, size, &c, &why);

	FUZZ_ASSERT(err == 0 || (err == -EINVAL && why != NULL));
	if (err)
		return 0;
	FUZZ_ASSERT(c.features & (FEAT_ENCRYPTED_NAMES | FEAT_PLAINTEXT_NAMES));
	FUZZ_ASSERT(c.vk.alg != KEK_ALG_NONE);
	FUZZ_ASSERT(c.vk.wlen >= 1 && c.vk.wlen <= HDR_WRAPPED_MAX);
	err = conf_verify(&c, fuzz_vk);
	FUZZ_ASSERT(err == 0 || err == -EBADMSG);

	json = conf_serialize(&c);
	FUZZ_ASSERT(json != NULL);
	FUZZ_ASSERT(conf_parse(json, strlen(json), &d, &why) == 0);
	FUZZ_ASSERT(strcmp(c.creator, d.creator) == 0);
	FUZZ_ASSERT(memcmp(c.volume_id, d.volume_id, ID_LEN) == 0);
	FUZZ_ASSERT(c.features == d.features);
	FUZZ_ASSERT(strcmp(c.kek, d.kek) == 0);
	FUZZ_ASSERT(c.vk.alg == d.vk.alg);
	FUZZ_ASSERT(strcmp(c.vk.kid, d.vk.kid) == 0);
	FUZZ_ASSERT(c.vk.wlen == d.vk.wlen);
	FUZZ_ASSERT(memcmp(c.vk.wrapped, d.vk.wrapped, c.vk.wlen) == 0);
	FUZZ_ASSERT(memcmp(c.mac, d.mac, 32) == 0);
	free(json);
	return 0;
}
