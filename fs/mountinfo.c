/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mountinfo.h"

/* Undoes the octal escapes (space, tab, newline, backslash) of fields. */
static void unescape(char *s)
{
	char *d = s;

	for (; *s; s++, d++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] &&
		    s[3]) {
			*d = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				    (s[3] - '0'));
			s += 3;
		} else {
			*d = *s;
		}
	}
	*d = '\0';
}

int mountinfo_each(mountinfo_fn fn, void *ctx)
{
	char *line = NULL, *save, *f[11];
	size_t cap = 0;
	int ret = 0;
	FILE *fp = fopen("/proc/self/mountinfo", "re");

	if (!fp)
		return -errno;
	while (!ret && getline(&line, &cap, fp) > 0) {
		int nf = 0, dash;

		for (char *t = strtok_r(line, " \n", &save); t && nf < 11;
		     t = strtok_r(NULL, " \n", &save))
			f[nf++] = t;
		/* id parent maj:min root mountpoint opts [optional...] - type src */
		for (dash = 6; dash < nf && strcmp(f[dash], "-"); dash++)
			;
		if (dash + 2 >= nf || strcmp(f[dash + 1], "fuse.hsmfs"))
			continue;
		unescape(f[4]);
		unescape(f[dash + 2]);
		ret = fn(ctx, f[2], f[4], f[dash + 2]);
	}
	free(line);
	fclose(fp);
	return ret;
}
