/* SPDX-License-Identifier: Apache-2.0 */
/* Server text made fit for one error or log line. */
#include <stdio.h>
#include <string.h>

#include "hsmclient/azure/text.h"

void text_line(char *dst, size_t cap, const char *src)
{
	size_t o = 0;

	for (; src && *src && o + 1 < cap; src++) {
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

void text_fit(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src), room, cut;

	if (cap == 0)
		return;
	if (n < cap || cap < 4) {
		snprintf(dst, cap, "%s", src);
		return;
	}
	room = cap - 4; /* "..." and the NUL */
	for (cut = room; cut > 0 && src[cut] != ' '; cut--)
		;
	while (cut > 0 && strchr(" ,;:(", src[cut - 1]))
		cut--;
	if (cut == 0)
		cut = room;
	memcpy(dst, src, cut);
	memcpy(dst + cut, "...", 4);
}
