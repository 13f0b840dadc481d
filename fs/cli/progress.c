/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"

static bool drawn; /* a line is on the terminal, not ended */

bool progress_wanted(bool quiet)
{
	return !quiet && isatty(2);
}

/* "[#####-----] " for done of total. */
static void bar(unsigned long done, unsigned long total)
{
	int fill = total ? (int)(30 * (done < total ? done : total) / total)
			 : 30;
	char b[31];

	memset(b, '#', (size_t)fill);
	memset(b + fill, '-', (size_t)(30 - fill));
	b[30] = '\0';
	fprintf(stderr, "[%s] %lu/%lu", b, done, total);
}

void progress_draw(unsigned long done, unsigned long total, const char *unit,
		   const char *extra, double secs, bool last)
{
	double rate = secs > 0 ? (double)done / secs : 0;

	fputc('\r', stderr);
	if (total)
		bar(done, total);
	else
		fprintf(stderr, "%lu", done);
	fprintf(stderr, " %s%s%s  %.1f/s  ", unit, extra ? ", " : "",
		extra ? extra : "", rate);
	if (!total)
		fprintf(stderr, "%.0f s", secs);
	else if (rate > 0 && done < total)
		fprintf(stderr, "ETA %lus",
			(unsigned long)((double)(total - done) / rate));
	else
		fprintf(stderr, "ETA -");
	fputs("\033[K", stderr);
	if (last)
		fputc('\n', stderr);
	fflush(stderr);
	drawn = !last;
}

void progress_clear(void)
{
	if (!drawn)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	drawn = false;
}
