/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fscheck: shared declarations. See fscheck.c for what the program does.
 *
 * A check is a static bool fn(void) in one of the check_*.c files, listed in
 * that file's table. It runs with its own empty scratch directory as the
 * current directory, returns true on success, and on failure returns
 * fail("what differed"), which records the first reason. The dispatcher
 * closes leaked fds, frees xalloc() memory and removes the scratch directory
 * afterwards, so a check may simply return at its first failure (but must
 * still join any thread it started).
 */
#ifndef HSMFS_FSCHECK_H
#define HSMFS_FSCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KiB 1024L
#define MiB (1024L * 1024L)
#define BLK 4096L

struct fscheck {
	const char *name;
	bool (*fn)(void);
};

/* Tables, terminated by { NULL, NULL }. Run in this order. */
extern const struct fscheck fscheck_io_checks[];
extern const struct fscheck fscheck_ns_checks[];
extern const struct fscheck fscheck_meta_checks[];
extern const struct fscheck fscheck_conc_checks[];

/* Options. */
extern bool fs_verbose;
extern uint64_t fs_seed;   /* FSCHECK_SEED */
extern long fs_random_mb;  /* FSCHECK_RANDOM_MB */
/* Limits a filesystem may document below ext4's: the longest symlink
 * target (FSCHECK_SYMLINK_MAX, default 4095) and the size of the large
 * xattr value (FSCHECK_XATTR_BIG, default 4000). */
extern long fs_symlink_max, fs_xattr_big;
extern char fs_cwd[];      /* absolute path of the running check's directory */

/* Reporting. fail() keeps the first reason and returns false; skip() marks
 * the check as skipped (counted as passed) and returns true; note() prints
 * an informational "# name: ..." line; vlog() does so only with -v. All are
 * safe to call from several threads. */
bool fail_at(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define fail(...) fail_at(__FILE__, __LINE__, __VA_ARGS__)
bool skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *errname(int err);
/* Monotonic time in seconds. */
double fs_now(void);
/* A printable, C-escaped and possibly shortened copy of a file name. */
const char *esc(const char *name);

/* Memory freed automatically after the check. Zeroed. Main thread only. */
void *xalloc(size_t len);
char *xsprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Evaluate a syscall; on a negative result fail with its text and errno. */
#define TRY(expr)                                                        \
	({                                                               \
		long try_r_ = (long)(expr);                              \
		if (try_r_ < 0)                                          \
			return fail("%s: %s", #expr, errname(errno));    \
		try_r_;                                                  \
	})

/* Expect a syscall to fail with errno err. */
#define EXPECT_ERR(expr, err)                                            \
	do {                                                             \
		errno = 0;                                               \
		long xe_r_ = (long)(expr);                               \
		if (xe_r_ >= 0)                                          \
			return fail("%s: expected %s, got success (%ld)",\
				    #expr, errname(err), xe_r_);         \
		if (errno != (err))                                      \
			return fail("%s: expected %s, got %s", #expr,    \
				    errname(err), errname(errno));       \
	} while (0)

/* Expect two integers to be equal. */
#define EXPECT_EQ(got, want)                                             \
	do {                                                             \
		long long xq_g_ = (long long)(got);                      \
		long long xq_w_ = (long long)(want);                     \
		if (xq_g_ != xq_w_)                                      \
			return fail("%s: expected %lld, got %lld", #got, \
				    xq_w_, xq_g_);                       \
	} while (0)

#define EXPECT(cond)                                                     \
	do {                                                             \
		if (!(cond))                                             \
			return fail("expected %s", #cond);               \
	} while (0)

/* Deterministic PRNG (splitmix64) and a self-describing data pattern. */
static inline uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t rnd64(uint64_t *state)
{
	return mix64(*state += 0x9e3779b97f4a7c15ULL);
}

/* rnd below n (n > 0). */
static inline uint64_t rnd_below(uint64_t *state, uint64_t n)
{
	return rnd64(state) % n;
}

/* Fill buf with the bytes that belong at file offset off for this salt. */
void pattern_fill(void *buf, uint64_t off, size_t len, uint64_t salt);

/*
 * File helpers; each fails with a reason and returns false. They are
 * called through the macros below, so that a failure is reported at the
 * line of the check that called them.
 */
extern __thread const char *fs_site_file;
extern __thread int fs_site_line;
#define AT_SITE(call) (fs_site_file = __FILE__, fs_site_line = __LINE__, (call))
#define write_at(...) AT_SITE(write_at_(__VA_ARGS__))
#define write_seq(...) AT_SITE(write_seq_(__VA_ARGS__))
#define write_file(...) AT_SITE(write_file_(__VA_ARGS__))
#define check_range(...) AT_SITE(check_range_(__VA_ARGS__))
#define check_file(...) AT_SITE(check_file_(__VA_ARGS__))
#define check_size(...) AT_SITE(check_size_(__VA_ARGS__))
#define drop_cache(...) AT_SITE(drop_cache_(__VA_ARGS__))
#define same_bytes(...) AT_SITE(same_bytes_(__VA_ARGS__))
#define check_listing(...) AT_SITE(check_listing_(__VA_ARGS__))

bool write_at_(int fd, const void *buf, size_t len, off_t off, const char *what);
bool write_seq_(int fd, const void *buf, size_t len, const char *what);
bool write_file_(const char *path, const void *buf, size_t len);
/* pread the range and compare; a short read is a failure. */
bool check_range_(int fd, off_t off, const void *want, size_t len,
		 const char *what);
/* Open path afresh, check its size, read() it to EOF and compare. */
bool check_file_(const char *path, const void *want, size_t len);
bool check_size_(int fd, off_t want, const char *what);
/* fsync and drop the clean page cache, so the next read asks the fs. */
bool drop_cache_(int fd);
/* Compare memory; on a difference fail with the first differing offset. */
bool same_bytes_(const void *got, const void *want, size_t len, off_t base,
		const char *what);
/* Directory listing with "." and "..", compared as a set with want
 * (a NULL-terminated list of names without "." and ".."). */
bool check_listing_(const char *dir, const char *const *want);
/* Remove a tree; returns 0 or an errno. */
int rm_rf(const char *path);

#endif
