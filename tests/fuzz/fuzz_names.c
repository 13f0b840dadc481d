/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every decoder of names found in a backing directory: file names,
 * symlink targets, xattr names, and both base64 decoders, all on the
 * same input, with the keys the seeds were made with.
 * Invariants: the strict decoder accepts exactly the encoder's output
 * (one spelling per byte string); a decrypted name is a legal name that
 * encrypts back to the same entry; symlink lengths match stat's view.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "crypto/names.h"
#include "fuzz.h"

#define IN_MAX 8192

static struct names_keys *keys(void)
{
	static struct names_keys *k;

	if (!k)
		k = names_keys_new(fuzz_vk);
	FUZZ_ASSERT(k != NULL);
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char str[IN_MAX + 1], out[IN_MAX + 1], enc[IN_MAX + 1];
	static uint8_t bin[IN_MAX];
	const struct names_keys *k = keys();
	long n, m;
	int r;

	if (size > IN_MAX)
		return 0;
	/* A copy without a NUL after it, so reads past size are caught. */
	{
		char *in = malloc(size ? size : 1);

		FUZZ_ASSERT(in != NULL);
		memcpy(in, data, size);
		r = names_decrypt(k, fuzz_diriv, in, size, out);
		FUZZ_ASSERT(r >= 0 || r == -EINVAL || r == -EBADMSG);
		if (r >= 0) {
			FUZZ_ASSERT(r >= 1 && r <= 255);
			FUZZ_ASSERT(out[r] == '\0');
			FUZZ_ASSERT(strlen(out) == (size_t)r);
			FUZZ_ASSERT(!memchr(out, '/', (size_t)r));
			FUZZ_ASSERT(strcmp(out, ".") && strcmp(out, ".."));
			FUZZ_ASSERT(names_encrypt(k, fuzz_diriv, out,
						  (size_t)r, enc) ==
				    (int)size);
			FUZZ_ASSERT(memcmp(enc, in, size) == 0);
		}
		r = names_symlink_decrypt(k, in, size, out, sizeof(out));
		FUZZ_ASSERT(r >= 0 || r == -EINVAL || r == -EBADMSG);
		if (r >= 0) {
			FUZZ_ASSERT(r >= 1 && r <= SYMLINK_MAX);
			FUZZ_ASSERT(strlen(out) == (size_t)r);
			FUZZ_ASSERT(names_symlink_plain_len(size) == r);
		}
		n = b64url_decode(in, size, bin, sizeof(bin));
		if (n >= 0) {
			FUZZ_ASSERT((size_t)n <= sizeof(bin));
			FUZZ_ASSERT(B64_ENC_LEN((size_t)n) == size);
			b64url_encode(bin, (size_t)n, enc);
			FUZZ_ASSERT(memcmp(enc, in, size) == 0);
			if (n > 28)
				FUZZ_ASSERT(names_symlink_plain_len(size) ==
					    n - 28);
			/* The lenient decoder agrees on strict input. */
			m = b64_decode_any(in, size, (uint8_t *)out,
					   sizeof(out));
			FUZZ_ASSERT(m == n);
			FUZZ_ASSERT(memcmp(out, bin, (size_t)n) == 0);
		}
		n = b64_decode_any(in, size, bin, sizeof(bin));
		FUZZ_ASSERT(n <= (long)sizeof(bin));
		/* A short cap is respected, never overrun. */
		n = b64_decode_any(in, size, bin, 7);
		FUZZ_ASSERT(n <= 7);
		n = b64url_decode(in, size, bin, 7);
		FUZZ_ASSERT(n <= 7);
		free(in);
	}
	/* xattr names arrive NUL-terminated from listxattr. */
	memcpy(str, data, size);
	str[size] = '\0';
	r = names_xattr_name_dec(k, str, out, 256);
	if (r >= 0) {
		FUZZ_ASSERT(r > 5 && r < 256);
		FUZZ_ASSERT(strncmp(out, "user.", 5) == 0);
		FUZZ_ASSERT(strlen(out) == (size_t)r);
		FUZZ_ASSERT(names_xattr_name(k, out, enc, sizeof(enc)) ==
			    (int)strlen(str));
		FUZZ_ASSERT(strcmp(enc, str) == 0);
	}
	/* An xattr value stored under the fixed name. */
	{
		static uint8_t val[IN_MAX];
		ssize_t vn = names_xattr_val_dec(k, "user.AAAA", data, size,
						 val);

		FUZZ_ASSERT(vn < 0 || (size_t)vn + XATTR_VAL_OVERHEAD == size);
	}
	return 0;
}
