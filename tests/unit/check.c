/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>

#include "check.h"

int check_failed_now;

int check_run(const char *suite, const struct check_test *tests, int n)
{
	const char *only = getenv("CHECK_ONLY");
	int passed = 0, failed = 0;

	for (int i = 0; i < n; i++) {
		if (only && strcmp(only, tests[i].name) != 0)
			continue;
		check_failed_now = 0;
		tests[i].fn();
		if (check_failed_now) {
			failed++;
			printf("FAIL %s/%s\n", suite, tests[i].name);
		} else {
			passed++;
			printf("ok   %s/%s\n", suite, tests[i].name);
		}
		fflush(stdout);
	}
	printf("%s: %d passed, %d failed\n", suite, passed, failed);
	return failed ? 1 : 0;
}
