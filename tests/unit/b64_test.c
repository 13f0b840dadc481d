/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common/b64: base64url as names and config fields use it.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "common/b64.h"

/* Names and config fields use RFC 4648 base64url without padding; the
 * strict decoder accepts exactly one spelling of each byte string. */
static void b64_vectors(void)
{
	static const char *const v[][2] = {
		{ "", "" },          { "f", "Zg" },         { "fo", "Zm8" },
		{ "foo", "Zm9v" },   { "foob", "Zm9vYg" },  { "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" },
	};
	static const uint8_t hi[] = { 0xfb, 0xff, 0xbf };
	char enc[32];
	uint8_t dec[32];

	for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++) {
		size_t n = strlen(v[i][0]);

		memset(enc, 'x', sizeof(enc));
		b64url_encode((const uint8_t *)v[i][0], n, enc);
		CHECK(strcmp(enc, v[i][1]) == 0);
		CHECK_EQ_INT(B64_ENC_LEN(n), strlen(v[i][1]));
		CHECK_EQ_INT(b64url_decode(v[i][1], strlen(v[i][1]), dec,
					   sizeof(dec)), n);
		CHECK_MEM(dec, v[i][0], n);
		CHECK_EQ_INT(b64_decode_any(v[i][1], strlen(v[i][1]), dec,
					    sizeof(dec)), n);
		CHECK_MEM(dec, v[i][0], n);
	}
	/* The URL alphabet's two special characters. */
	b64url_encode(hi, sizeof(hi), enc);
	CHECK(strcmp(enc, "-_-_") == 0);
	CHECK_EQ_INT(b64url_decode("-_-_", 4, dec, sizeof(dec)), 3);
	CHECK_MEM(dec, hi, 3);

	/* Strict: no padding, no standard alphabet, no impossible length,
	 * no set trailing bits, nothing past cap. */
	CHECK_EQ_INT(b64url_decode("Zg==", 4, dec, sizeof(dec)), -1);
	CHECK_EQ_INT(b64url_decode("Zm8=", 4, dec, sizeof(dec)), -1);
	CHECK_EQ_INT(b64url_decode("+/+/", 4, dec, sizeof(dec)), -1);
	CHECK_EQ_INT(b64url_decode("ab+c", 4, dec, sizeof(dec)), -1);
	CHECK_EQ_INT(b64url_decode("ab/c", 4, dec, sizeof(dec)), -1);
	CHECK_EQ_INT(b64url_decode("Zm9vY", 5, dec, sizeof(dec)), -1);
	CHECK_EQ_INT(b64url_decode("Z", 1, dec, sizeof(dec)), -1);
	CHECK_EQ_INT(b64url_decode("Zh", 2, dec, sizeof(dec)), -1);
	CHECK_EQ_INT(b64url_decode("Zm9", 3, dec, sizeof(dec)), -1);
	CHECK_EQ_INT(b64url_decode("Zm9vYmFy", 8, dec, 5), -1);
	CHECK_EQ_INT(b64url_decode("Zm9vYmFy", 8, dec, 6), 6);
	CHECK_EQ_INT(b64url_decode("Zm 9", 4, dec, sizeof(dec)), -1);
	CHECK_EQ_INT(b64url_decode("Zm\n9v", 5, dec, sizeof(dec)), -1);

	/* Lenient: both alphabets and padding (network answers). */
	CHECK_EQ_INT(b64_decode_any("Zg==", 4, dec, sizeof(dec)), 1);
	CHECK_EQ_INT(dec[0], 'f');
	CHECK_EQ_INT(b64_decode_any("Zm8=", 4, dec, sizeof(dec)), 2);
	CHECK_MEM(dec, "fo", 2);
	CHECK_EQ_INT(b64_decode_any("+/+/", 4, dec, sizeof(dec)), 3);
	CHECK_MEM(dec, hi, 3);
	CHECK_EQ_INT(b64_decode_any("-_-_", 4, dec, sizeof(dec)), 3);
	CHECK_MEM(dec, hi, 3);
	CHECK_EQ_INT(b64_decode_any("Zm9vYmFy", 8, dec, 5), -1);
	CHECK_EQ_INT(b64_decode_any("Zm=9", 4, dec, sizeof(dec)), -1);
	CHECK_EQ_INT(b64_decode_any("Zm9vY", 5, dec, sizeof(dec)), -1);
}

/* Every byte string encodes to base64url that decodes back to it. */
static void b64_all_lengths(void)
{
	uint8_t in[200], out[200];
	char enc[300];
	unsigned bad = 0;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 151 + 7);
	for (size_t n = 0; n <= sizeof(in); n++) {
		b64url_encode(in, n, enc);
		if (strlen(enc) != B64_ENC_LEN(n) ||
		    b64url_decode(enc, strlen(enc), out, sizeof(out)) !=
			    (long)n ||
		    memcmp(in, out, n) != 0)
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
}

/* Percent-escapes in PKCS#11 URIs and form bodies: either case. */
static void hex_digits(void)
{
	static const char lower[] = "0123456789abcdef";
	static const char upper[] = "0123456789ABCDEF";

	for (int i = 0; i < 16; i++) {
		CHECK_EQ_INT(hex_digit(lower[i]), i);
		CHECK_EQ_INT(hex_digit(upper[i]), i);
	}
	CHECK_EQ_INT(hex_digit('g'), -1);
	CHECK_EQ_INT(hex_digit('G'), -1);
	CHECK_EQ_INT(hex_digit('/'), -1);
	CHECK_EQ_INT(hex_digit(':'), -1);
	CHECK_EQ_INT(hex_digit('@'), -1);
	CHECK_EQ_INT(hex_digit('`'), -1);
	CHECK_EQ_INT(hex_digit('\0'), -1);
}

CHECK_MAIN("b64", T(b64_vectors), T(b64_all_lengths), T(hex_digits))
