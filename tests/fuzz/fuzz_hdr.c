/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hdr_parse() on the first 2048 bytes of any backing file, then what the
 * daemon does next with an accepted header: slot order, MAC check.
 * Invariant: an accepted header re-encodes to exactly the same bytes (the
 * parser accepts one spelling of each header, so nothing it ignored can
 * ride along unauthenticated).
 */
#include <errno.h>
#include <string.h>

#include "crypto/hdr.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[HDR_LEN], again[HDR_LEN];
	int order[HDR_SLOTS], n, spare, err;
	const char *why = NULL;
	struct hdr h;

	memset(buf, 0, sizeof(buf));
	memcpy(buf, data, size < HDR_LEN ? size : HDR_LEN);
	err = hdr_parse(buf, &h, &why);
	/* Malformed is -EINVAL with a reason, and nothing else. */
	FUZZ_ASSERT(err == 0 || (err == -EINVAL && why != NULL));
	if (err)
		return 0;

	/* A header with no slot set aside re-encodes to the same bytes. */
	hdr_encode(&h, again);
	if (!h.bad[0] && !h.bad[1])
		FUZZ_ASSERT(memcmp(buf, again, HDR_LEN) == 0);

	n = hdr_slot_order(&h, order);
	FUZZ_ASSERT(n >= 1 && n <= HDR_SLOTS);
	for (int i = 0; i < n; i++) {
		FUZZ_ASSERT(order[i] >= 0 && order[i] < HDR_SLOTS);
		FUZZ_ASSERT(h.slot[order[i]].gen != 0);
		FUZZ_ASSERT(strlen(h.slot[order[i]].kid) > 0);
		FUZZ_ASSERT(h.slot[order[i]].wlen >= 1 &&
			    h.slot[order[i]].wlen <= HDR_WRAPPED_MAX);
		err = hdr_slot_verify(&h, order[i], fuzz_vk, fuzz_dek);
		FUZZ_ASSERT(err == 0 || err == -EBADMSG);
	}
	if (n == 2)
		FUZZ_ASSERT(h.slot[order[0]].gen >= h.slot[order[1]].gen);
	spare = hdr_spare_slot(&h);
	FUZZ_ASSERT(spare == 0 || spare == 1);
	/* The spare is never the only (or the newest) slot in use. */
	FUZZ_ASSERT(spare != order[0] || (n == 2 && h.slot[0].gen ==
					  h.slot[1].gen));
	return 0;
}
