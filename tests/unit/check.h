/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A tiny unit-test harness. A test file defines TESTS(...) with its test
 * functions; each CHECK failure prints the expression and line and marks the
 * test failed. main() runs them all and ends with "N passed, N failed".
 */
#ifndef HSMFS_CHECK_H
#define HSMFS_CHECK_H

#include <stdio.h>
#include <string.h>

extern int check_failed_now;

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "  %s:%d: CHECK(%s) failed\n",     \
				__FILE__, __LINE__, #cond);                \
			check_failed_now = 1;                              \
		}                                                          \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                 \
	do {                                                               \
		long long a_ = (long long)(a), b_ = (long long)(b);        \
		if (a_ != b_) {                                            \
			fprintf(stderr, "  %s:%d: %s == %lld, want %lld\n",\
				__FILE__, __LINE__, #a, a_, b_);           \
			check_failed_now = 1;                              \
		}                                                          \
	} while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

struct check_test {
	const char *name;
	void (*fn)(void);
};

#define T(fn) { #fn, fn }

int check_run(const char *suite, const struct check_test *tests, int n);

#define CHECK_MAIN(suite, ...)                                             \
	int main(void)                                                     \
	{                                                                  \
		static const struct check_test t_[] = { __VA_ARGS__ };     \
		return check_run(suite, t_, sizeof(t_) / sizeof(t_[0]));  \
	}

#endif
