/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lines fitted to fixed buffers (common/fit.c): a line that fits is kept
 * as it is; a longer one is cut after a whole word and ends with "…",
 * never in the middle of a word an operator would then misread, nor of a
 * UTF-8 sequence; the result always fits, NUL included.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/fit.h"

#define ELL "\xe2\x80\xa6"

static void fits_unchanged(void)
{
	char out[32];

	CHECK_EQ_INT(fit_str(out, sizeof(out), "short line"), 10);
	CHECK(strcmp(out, "short line") == 0);
	CHECK_EQ_INT(fit_fmt(out, sizeof(out), "%d %s", 42, "x"), 4);
	CHECK(strcmp(out, "42 x") == 0);
}

static void cut_at_a_word(void)
{
	const char *line = "cannot use KEK https://h/keys/k: the HSM refused "
			   "unwrapkey on key k (Forbidden): caller lacks role";
	char out[48];
	size_t n = fit_str(out, sizeof(out), line);

	CHECK(n == strlen(out) && n < sizeof(out));
	CHECK(n >= 3 && strcmp(out + n - 3, ELL) == 0);
	/* What is kept ends a word of the line, before a space. */
	CHECK(strncmp(out, line, n - 3) == 0);
	CHECK(line[n - 3] == ' ' || line[n - 3] == ':');
	CHECK(out[n - 4] != ' ' && out[n - 4] != ':');
}

/* A word longer than half the room (a URL) is cut where it must, but
 * never inside a UTF-8 sequence. */
static void long_word_and_utf8(void)
{
	char line[200], out[40];
	size_t n;

	memset(line, 'a', 20);
	for (int i = 0; i < 40; i++)
		memcpy(line + 20 + 2 * i, "\xc3\xa9", 2); /* é */
	line[100] = '\0';
	n = fit_str(out, sizeof(out), line);
	CHECK(n < sizeof(out) && strcmp(out + n - 3, ELL) == 0);
	CHECK(((unsigned char)out[n - 4] & 0xc0) != 0xc0);
	CHECK((n - 3 - 20) % 2 == 0);
}

/* fit_fmt of a line longer than any fixed scratch buffer, in place. */
static void long_format(void)
{
	char *big = malloc(5000), out[100];

	if (!big) {
		CHECK(0);
		return;
	}
	for (int i = 0; i < 4999; i++)
		big[i] = i % 6 == 5 ? ' ' : 'w';
	big[4999] = '\0';
	CHECK(fit_fmt(out, sizeof(out), "x: %s", big) < sizeof(out));
	CHECK(strncmp(out, "x: wwwww www", 12) == 0);
	free(big);
	strcpy(out, "in place, a line that is too long for it");
	fit_str(out, 20, out);
	CHECK(strcmp(out, "in place, a line" ELL) == 0);
}

CHECK_MAIN("fit", T(fits_unchanged), T(cut_at_a_word),
	   T(long_word_and_utf8), T(long_format))
