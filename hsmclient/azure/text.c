/* SPDX-License-Identifier: Apache-2.0 */
/* Server text made fit for one error or log line. */
#include <stdlib.h>
#include <string.h>

#include "common/fit.h"
#include "hsmclient/azure/text.h"

/* Folds src into dst, which has room for all of it. */
static void fold(char *dst, const char *src)
{
	size_t o = 0;

	for (; src && *src; src++) {
		unsigned char c = (unsigned char)*src;
		if (c == '\r' || c == '\n') {
			if (o && dst[o - 1] != ' ')
				dst[o++] = ' ';
			continue;
		}
		dst[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	while (o && dst[o - 1] == ' ')
		o--;
	dst[o] = '\0';
}

void text_line(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	char small[1024], *buf = n < sizeof(small) ? small : malloc(n + 1);

	if (!cap)
		return;
	if (!buf) {
		dst[0] = '\0';
		return;
	}
	fold(buf, src);
	fit_str(dst, cap, buf);
	if (buf != small)
		free(buf);
}
