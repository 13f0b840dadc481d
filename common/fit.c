/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fit.h"

#define ELLIPSIS "\xe2\x80\xa6" /* U+2026, three bytes */
#define ELL_LEN 3

/* A byte inside a UTF-8 sequence, not its start. */
static int utf8_cont(char c)
{
	return ((unsigned char)c & 0xc0) == 0x80;
}

/* Where to cut src so that it keeps at most max bytes: after the last
 * word that fits, if that keeps at least half; else at max, moved back
 * to the start of a UTF-8 sequence (a word longer than half a line, such
 * as a URL, is cut where it must). */
static size_t cut_at(const char *src, size_t max)
{
	size_t cut = max;

	while (cut > max / 2 && src[cut] != ' ')
		cut--;
	if (cut <= max / 2)
		for (cut = max; cut && utf8_cont(src[cut]);)
			cut--;
	/* No dangling separator before the ellipsis. */
	while (cut && strchr(" ,;:(", src[cut - 1]))
		cut--;
	return cut;
}

size_t fit_str(char *dst, size_t cap, const char *src)
{
	size_t len = strlen(src), cut;

	if (!cap)
		return 0;
	if (len < cap) {
		memmove(dst, src, len + 1);
		return len;
	}
	if (cap <= ELL_LEN + 1) {
		cut = cut_at(src, cap - 1);
		memmove(dst, src, cut);
		dst[cut] = '\0';
		return cut;
	}
	cut = cut_at(src, cap - 1 - ELL_LEN);
	memmove(dst, src, cut);
	memcpy(dst + cut, ELLIPSIS, ELL_LEN + 1);
	return cut + ELL_LEN;
}

size_t fit_vfmt(char *dst, size_t cap, const char *fmt, va_list ap)
{
	char small[2048], *big = NULL;
	va_list ap2;
	size_t r;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	if (n >= (int)sizeof(small) && (big = malloc((size_t)n + 1)))
		vsnprintf(big, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		small[0] = '\0';
	r = fit_str(dst, cap, big ? big : small);
	free(big);
	return r;
}

size_t fit_fmt(char *dst, size_t cap, const char *fmt, ...)
{
	va_list ap;
	size_t r;

	va_start(ap, fmt);
	r = fit_vfmt(dst, cap, fmt, ap);
	va_end(ap);
	return r;
}
