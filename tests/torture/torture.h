/* SPDX-License-Identifier: Apache-2.0 */
/*
 * torture: applies one seeded random sequence of file system operations to
 * a mount under test and to a reference directory, and compares results.
 * Side 0 is always the mount, side 1 the reference.
 */
#ifndef HSMFS_TORTURE_H
#define HSMFS_TORTURE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIDES 2
#define NSLOTS 6	     /* descriptors kept open across operations */
#define NLOG 64		     /* operations remembered for a report */
#define LOGLINE 384
#define MAXIO (320 * 1024)   /* largest single read or write */
#define MAXSIZE (3u << 20)   /* files stay below this, to bound run time */

struct slot {
	int fd[SIDES];
	int flags;
	char what[96];
};

struct ctx {
	int id;
	uint64_t seed, rng;
	unsigned long op, nops, every;
	unsigned long nsucc, nfail; /* both sides succeeded / both failed */
	bool verbose;
	int dir[SIDES];		   /* this thread's directory on each side */
	char top[SIDES][1024]; /* and its path */
	struct slot slot[NSLOTS];
	long r[SIDES];		   /* the last operation's results */
	int e[SIDES];
	char what[LOGLINE];	   /* the operation being done */
	char log[NLOG][LOGLINE];
	uint8_t *wbuf, *rbuf[SIDES];
};

/* Runs EXPR once per side s, recording the result and errno. */
#define BOTH(c, expr)                                                      \
	do {                                                               \
		for (int s = 0; s < SIDES; s++) {                          \
			errno = 0;                                         \
			(c)->r[s] = (long)(expr);                          \
			(c)->e[s] = (c)->r[s] < 0 ? errno : 0;             \
		}                                                          \
	} while (0)

/* Known hsmfs bugs the operations can steer around (-x), so that a run
 * goes on finding others; torture.sh checks each one on its own. */
enum { AVOID_RDONLY_TRUNC = 1 };
extern unsigned avoid;
/* -b: the mount binds symlink targets to their names (hsmfs format 3), so
 * link(2) of a symlink is EPERM there and RENAME_EXCHANGE with one EINVAL;
 * where the reference did either, it is undone and given that error. */
extern bool bound_symlinks;
extern bool punch_holes; /* -p */

/* torture.c */
uint64_t rnd(struct ctx *c);
uint64_t below(struct ctx *c, uint64_t n);
bool chance(struct ctx *c, unsigned percent);
void note(struct ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int fail(struct ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int same(struct ctx *c);
int same_err(struct ctx *c);

/* ops.c */
int ops_run_one(struct ctx *c);
void ops_close_all(struct ctx *c);

/* tree.c: 0 if both trees under the thread's directories are alike. */
int tree_compare(struct ctx *c);
/* Reads both files to the end through fds and compares the bytes. */
int tree_compare_fds(struct ctx *c, int fd0, int fd1, const char *name);

#endif
