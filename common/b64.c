/* SPDX-License-Identifier: Apache-2.0 */
#include "b64.h"

static const char url_alpha[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void b64url_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | in[i + 1] << 8 | in[i + 2];
		out[o++] = url_alpha[v >> 18 & 63];
		out[o++] = url_alpha[v >> 12 & 63];
		out[o++] = url_alpha[v >> 6 & 63];
		out[o++] = url_alpha[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = url_alpha[v >> 18 & 63];
		out[o++] = url_alpha[v >> 12 & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | in[i + 1] << 8;
		out[o++] = url_alpha[v >> 18 & 63];
		out[o++] = url_alpha[v >> 12 & 63];
		out[o++] = url_alpha[v >> 6 & 63];
	}
	out[o] = '\0';
}

static int dec_char(char c, int lenient)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || (lenient && c == '+'))
		return 62;
	if (c == '_' || (lenient && c == '/'))
		return 63;
	return -1;
}

static long decode(const char *in, size_t n, uint8_t *out, size_t cap,
		   int lenient)
{
	uint32_t acc = 0;
	size_t o = 0;
	int bits = 0;

	if (lenient)
		while (n > 0 && in[n - 1] == '=')
			n--;
	if (n % 4 == 1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v = dec_char(in[i], lenient);
		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= cap)
				return -1;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* Leftover bits must be zero, or two encodings decode alike. */
	if (!lenient && (acc & ((1u << bits) - 1)))
		return -1;
	return (long)o;
}

long b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
	return decode(in, n, out, cap, 0);
}

long b64_decode_any(const char *in, size_t n, uint8_t *out, size_t cap)
{
	return decode(in, n, out, cap, 1);
}

int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
