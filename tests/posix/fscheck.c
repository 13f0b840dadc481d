// SPDX-License-Identifier: Apache-2.0
/*
 * fscheck - does a directory behave like ext4, as an application sees it?
 *
 * A standalone POSIX behaviour checker in the spirit of libfuse's
 * test/test_syscalls.c, written for hsmfs (a FUSE filesystem with a
 * multithreaded daemon and the kernel writeback cache on) but meant to pass
 * unchanged on ext4 and tmpfs. It uses the file API only: no assumptions
 * about st_blocks, inode numbers across remounts or d_type.
 *
 *   make build/tests/fscheck
 *   build/tests/fscheck [-v] [-t NAME[,NAME...]] [-l] DIR
 *
 *   -l   list the checks and exit
 *   -t   run only the named checks (comma-separated)
 *   -v   verbose: timings and details
 *
 * It creates DIR/fscheck.XXXXXX, runs each check in its own subdirectory
 * there and removes everything afterwards. Output, one line per check:
 *
 *   ok   NAME
 *   skip NAME: why          (counted as passed)
 *   FAIL NAME: what differed (expected vs got, errno names) [file:line]
 *
 * Lines starting with '#' are information. The last line of a run is
 * "fscheck: N passed, N failed"; the exit status is 0 when nothing failed,
 * 1 when something did and 2 on a usage or setup error.
 *
 * Environment: FSCHECK_SEED=N replays the randomised checks (by default the
 * seed comes from the time and pid; it is printed at start),
 * FSCHECK_RANDOM_MB=N sets the size of the random_io file (default 64).
 * Run as root to include chown to another owner.
 *
 * Where ext4 and POSIX leave room, the choice is documented at the check:
 * fallocate (mode 0 required, other modes may be EOPNOTSUPP), mkdir_rmdir
 * (directories may report st_nlink 1), xattr_* (ENOTSUP means skip),
 * readers_writer (a read racing a write of the same block may mix old and
 * new data, as on ext4; every other read must be exact).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fscheck.h"

bool fs_verbose;
uint64_t fs_seed;
long fs_random_mb = 64;
long fs_symlink_max = PATH_MAX - 1, fs_xattr_big = 4000;
char fs_cwd[2 * PATH_MAX];

static const struct fscheck *const groups[] = {
	fscheck_io_checks,
	fscheck_ns_checks,
	fscheck_meta_checks,
	fscheck_conc_checks,
};

static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *cur_name = "";
static char why[2048];
static bool failed_now, skipped_now;

struct alloc {
	struct alloc *next;
	max_align_t data[];
};
static struct alloc *allocs;

/* --- reporting ------------------------------------------------------- */

const char *errname(int err)
{
	static __thread char buf[32];
	const char *name = strerrorname_np(err);

	if (name)
		return name;
	snprintf(buf, sizeof(buf), "errno %d", err);
	return buf;
}

bool fail_at(const char *file, int line, const char *fmt, ...)
{
	const char *base = strrchr(file, '/');
	va_list ap;

	pthread_mutex_lock(&report_lock);
	if (!failed_now) {
		int n;

		va_start(ap, fmt);
		n = vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < sizeof(why))
			snprintf(why + n, sizeof(why) - n, " [%s:%d]",
				 base ? base + 1 : file, line);
		failed_now = true;
	}
	pthread_mutex_unlock(&report_lock);
	return false;
}

bool skip(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&report_lock);
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	skipped_now = true;
	pthread_mutex_unlock(&report_lock);
	return true;
}

static void __attribute__((format(printf, 1, 0)))
vnote(const char *fmt, va_list ap)
{
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	pthread_mutex_lock(&report_lock);
	printf("# %s: %s\n", cur_name, line);
	pthread_mutex_unlock(&report_lock);
}

void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vnote(fmt, ap);
	va_end(ap);
}

void vlog(const char *fmt, ...)
{
	va_list ap;

	if (!fs_verbose)
		return;
	va_start(ap, fmt);
	vnote(fmt, ap);
	va_end(ap);
}

const char *esc(const char *name)
{
	size_t len = strlen(name), shown = len > 48 ? 24 : len;
	char *out = xalloc(shown * 4 + 64), *p = out;

	*p++ = '"';
	for (size_t i = 0; i < shown; i++) {
		unsigned char c = name[i];

		if (c == '"' || c == '\\')
			p += sprintf(p, "\\%c", c);
		else if (c == '\n')
			p += sprintf(p, "\\n");
		else if (c < 0x20 || c >= 0x7f)
			p += sprintf(p, "\\x%02x", c);
		else
			*p++ = c;
	}
	*p++ = '"';
	if (shown < len)
		sprintf(p, "... (%zu bytes)", len);
	else
		*p = '\0';
	return out;
}

/* --- memory ---------------------------------------------------------- */

void *xalloc(size_t len)
{
	struct alloc *a = calloc(1, sizeof(*a) + len);

	if (!a) {
		fprintf(stderr, "fscheck: out of memory (%zu bytes)\n", len);
		exit(2);
	}
	a->next = allocs;
	allocs = a;
	return a->data;
}

char *xsprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	s = xalloc(n + 1);
	va_start(ap, fmt);
	vsnprintf(s, n + 1, fmt, ap);
	va_end(ap);
	return s;
}

static void free_allocs(void)
{
	while (allocs) {
		struct alloc *next = allocs->next;

		free(allocs);
		allocs = next;
	}
}

/* --- data and file helpers ------------------------------------------- */

__thread const char *fs_site_file;
__thread int fs_site_line;

/* A helper's failure is reported where the check called it. */
#define site_fail(...)                                                   \
	fail_at(fs_site_file ? fs_site_file : __FILE__,                  \
		fs_site_file ? fs_site_line : __LINE__, __VA_ARGS__)

void pattern_fill(void *buf, uint64_t off, size_t len, uint64_t salt)
{
	uint8_t *p = buf;
	size_t i = 0;

	while (i < len) {
		uint64_t o = off + i;
		uint64_t word = mix64((o >> 3) ^ (salt * 0x9e3779b97f4a7c15ULL));

		for (unsigned k = o & 7; k < 8 && i < len; k++, i++)
			p[i] = (uint8_t)(word >> (8 * k));
	}
}

bool same_bytes_(const void *got, const void *want, size_t len, off_t base,
		const char *what)
{
	const uint8_t *g = got, *w = want;
	size_t i, n = 0;

	if (!memcmp(got, want, len))
		return true;
	for (i = 0; g[i] == w[i]; i++)
		;
	for (size_t j = i; j < len && j < i + BLK; j++)
		n += g[j] != w[j];
	return site_fail("%s: first difference at offset %lld: expected 0x%02x, "
		    "got 0x%02x (%zu bytes differ in the %zu from there)",
		    what, (long long)(base + i), w[i], g[i], n,
		    len - i < (size_t)BLK ? len - i : (size_t)BLK);
}

bool write_at_(int fd, const void *buf, size_t len, off_t off,
	      const char *what)
{
	const char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0)
			return site_fail("%s: pwrite(%zu bytes at %lld): %s", what,
				    len, (long long)off, errname(errno));
		if (n == 0)
			return site_fail("%s: pwrite(%zu bytes at %lld) returned 0",
				    what, len, (long long)off);
		p += n;
		len -= n;
		off += n;
	}
	return true;
}

bool write_seq_(int fd, const void *buf, size_t len, const char *what)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n <= 0)
			return site_fail("%s: write(%zu bytes): %s", what, len,
				    n ? errname(errno) : "returned 0");
		p += n;
		len -= n;
	}
	return true;
}

bool write_file_(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	bool ok;

	if (fd < 0)
		return site_fail("open(%s, O_CREAT|O_TRUNC): %s", esc(path),
			    errname(errno));
	ok = write_seq_(fd, buf, len, esc(path));
	if (close(fd) < 0 && ok)
		ok = site_fail("close(%s): %s", esc(path), errname(errno));
	return ok;
}

bool check_range_(int fd, off_t off, const void *want, size_t len,
		 const char *what)
{
	size_t chunk = len < (size_t)MiB ? len : (size_t)MiB;
	uint8_t *buf = malloc(chunk ? chunk : 1);
	const uint8_t *w = want;
	bool ok = true;

	if (!buf)
		return site_fail("out of memory");
	for (size_t done = 0; ok && done < len;) {
		size_t n = len - done < chunk ? len - done : chunk;
		ssize_t r = pread(fd, buf, n, off + done);

		if (r < 0)
			ok = site_fail("%s: pread(%zu at %lld): %s", what, n,
				  (long long)(off + done), errname(errno));
		else if (r == 0)
			ok = site_fail("%s: pread at %lld hit EOF, %zu bytes "
				       "short", what, (long long)(off + done),
				       len - done);
		else
			ok = same_bytes_(buf, w + done, r, off + done, what);
		done += r > 0 ? (size_t)r : 0;
	}
	free(buf);
	return ok;
}

bool check_size_(int fd, off_t want, const char *what)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return site_fail("%s: fstat: %s", what, errname(errno));
	if (st.st_size != want)
		return site_fail("%s: size: expected %lld, got %lld", what,
			    (long long)want, (long long)st.st_size);
	return true;
}

bool check_file_(const char *path, const void *want, size_t len)
{
	/* An odd chunk size, so reads start everywhere inside blocks. */
	enum { CHUNK = 12345 };
	const char *what = esc(path);
	char *buf = malloc(CHUNK);
	int fd = open(path, O_RDONLY);
	size_t done = 0;
	bool ok = true;

	if (!buf || fd < 0) {
		ok = site_fail("open(%s): %s", what,
			       buf ? errname(errno) : "ENOMEM");
		goto out;
	}
	if (!check_size_(fd, len, what)) {
		ok = false;
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf, CHUNK);

		if (r < 0) {
			ok = site_fail("%s: read at %zu: %s", what, done,
				  errname(errno));
			break;
		}
		if (r == 0)
			break;
		if (done + r > len) {
			ok = site_fail("%s: read past the expected %zu bytes", what,
				  len);
			break;
		}
		if (!(ok = same_bytes_(buf, (const char *)want + done, r, done,
				      what)))
			break;
		done += r;
	}
	if (ok && done != len)
		ok = site_fail("%s: read() hit EOF after %zu bytes, expected "
			       "%zu", what, done, len);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ok;
}

bool drop_cache_(int fd)
{
	int err;

	if (fsync(fd) < 0)
		return site_fail("fsync: %s", errname(errno));
	err = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	if (err)
		return site_fail("posix_fadvise(DONTNEED): %s", errname(err));
	return true;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

bool check_listing_(const char *dir, const char *const *want)
{
	size_t nwant = 0, ngot = 0, cap = 16;
	const char **w, **got;
	struct dirent *de;
	DIR *d;

	while (want[nwant])
		nwant++;
	w = xalloc((nwant + 2) * sizeof(*w));
	memcpy(w, want, nwant * sizeof(*w));
	w[nwant++] = ".";
	w[nwant++] = "..";
	qsort(w, nwant, sizeof(*w), cmp_str);

	d = opendir(dir);
	if (!d)
		return site_fail("opendir(%s): %s", esc(dir), errname(errno));
	got = xalloc(cap * sizeof(*got));
	errno = 0;
	while ((de = readdir(d))) {
		if (ngot == cap) {
			const char **bigger = xalloc(2 * cap * sizeof(*got));

			memcpy(bigger, got, cap * sizeof(*got));
			got = bigger;
			cap *= 2;
		}
		got[ngot] = xalloc(strlen(de->d_name) + 1);
		strcpy((char *)got[ngot++], de->d_name);
	}
	if (errno) {
		int err = errno;

		closedir(d);
		return site_fail("readdir(%s): %s", esc(dir), errname(err));
	}
	closedir(d);
	qsort(got, ngot, sizeof(*got), cmp_str);

	for (size_t i = 0, j = 0; i < nwant || j < ngot;) {
		int c = i == nwant ? 1 : j == ngot ? -1 : strcmp(w[i], got[j]);

		if (j + 1 < ngot && !strcmp(got[j], got[j + 1]))
			return site_fail("readdir(%s): %s listed twice", esc(dir),
				    esc(got[j]));
		if (c < 0)
			return site_fail("readdir(%s): %s missing (%zu entries "
				    "expected, %zu listed)", esc(dir),
				    esc(w[i]), nwant, ngot);
		if (c > 0)
			return site_fail("readdir(%s): unexpected entry %s (%zu "
				    "entries expected, %zu listed)", esc(dir),
				    esc(got[j]), nwant, ngot);
		i++;
		j++;
	}
	return true;
}

static int rm_one(const char *path, const struct stat *st, int type,
		  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(path) < 0 ? errno : 0;
	return unlink(path) < 0 ? errno : 0;
}

int rm_rf(const char *path)
{
	int r = nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);

	return r < 0 ? errno : r;
}

/* --- dispatcher ------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr,
		"usage: fscheck [-v] [-t NAME[,NAME...]] [-x NAME[,...]] [-l] DIR\n"
		"  -l  list checks   -t  run only these   -x  skip these\n"
		"  -v  verbose\n"
		"  env FSCHECK_SEED=N (replay),"
		" FSCHECK_RANDOM_MB=N (default 64),\n"
		"      FSCHECK_SYMLINK_MAX=N (default 4095),"
		" FSCHECK_XATTR_BIG=N (default 4000)\n");
	exit(2);
}

double fs_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

enum { MAX_FD = 1024 };

static void snapshot_fds(bool *open_fds)
{
	for (int fd = 0; fd < MAX_FD; fd++)
		open_fds[fd] = fcntl(fd, F_GETFD) != -1;
}

static void close_leaked_fds(const bool *open_fds)
{
	for (int fd = 0; fd < MAX_FD; fd++)
		if (!open_fds[fd] && fcntl(fd, F_GETFD) != -1)
			close(fd);
}

/* Run one check in root/NAME; prints its line, returns whether it passed. */
static bool run_one(const struct fscheck *c, const char *root)
{
	static bool open_fds[MAX_FD];
	double t0 = fs_now();
	bool ok;
	int err;

	cur_name = c->name;
	failed_now = skipped_now = false;
	why[0] = '\0';
	snprintf(fs_cwd, sizeof(fs_cwd), "%s/%s", root, c->name);
	snapshot_fds(open_fds);

	if (mkdir(c->name, 0755) < 0 || chdir(c->name) < 0) {
		ok = fail("cannot set up %s: %s", fs_cwd, errname(errno));
	} else {
		ok = c->fn();
		if (ok && failed_now) /* a thread failed, the check went on */
			ok = false;
		if (chdir(root) < 0)
			ok = fail("chdir(%s): %s", root, errname(errno));
	}
	close_leaked_fds(open_fds);
	free_allocs();
	err = rm_rf(c->name);
	if (err && ok)
		ok = fail("cleanup: cannot remove %s: %s", fs_cwd, errname(err));

	if (!ok)
		printf("FAIL %s: %s\n", c->name, why);
	else if (skipped_now)
		printf("skip %s: %s\n", c->name, why);
	else
		printf("ok   %s\n", c->name);
	vlog("%.3f s", fs_now() - t0);
	return ok;
}

static const struct fscheck *find(const char *name, size_t len)
{
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
		for (const struct fscheck *c = groups[g]; c->name; c++)
			if (strlen(c->name) == len && !strncmp(c->name, name, len))
				return c;
	return NULL;
}

static bool selected(const struct fscheck *c, const char *only)
{
	const char *p = only;

	if (!only)
		return true;
	while (*p) {
		size_t len = strcspn(p, ",");

		if (len == strlen(c->name) && !strncmp(p, c->name, len))
			return true;
		p += len + (p[len] == ',');
	}
	return false;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return dflt;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end) {
		fprintf(stderr, "fscheck: bad %s=%s\n", name, s);
		exit(2);
	}
	return v;
}

int main(int argc, char *argv[])
{
	char base[PATH_MAX], root[PATH_MAX + 32];
	const char *only = NULL, *skip = NULL;
	int opt, passed = 0, failed = 0, err;
	bool list = false;

	while ((opt = getopt(argc, argv, "vt:x:lh")) != -1) {
		switch (opt) {
		case 'v':
			fs_verbose = true;
			break;
		case 't':
			only = optarg;
			break;
		case 'x':
			skip = optarg;
			break;
		case 'l':
			list = true;
			break;
		default:
			usage();
		}
	}
	if (list) {
		for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
			for (const struct fscheck *c = groups[g]; c->name; c++)
				printf("%s\n", c->name);
		return 0;
	}
	if (optind != argc - 1)
		usage();
	for (const char *p = only; p && *p;) {
		size_t len = strcspn(p, ",");

		if (len && !find(p, len)) {
			fprintf(stderr, "fscheck: no check named '%.*s' (-l lists "
				"them)\n", (int)len, p);
			return 2;
		}
		p += len + (p[len] == ',');
	}

	fs_seed = env_u64("FSCHECK_SEED",
			  mix64((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32)));
	fs_random_mb = (long)env_u64("FSCHECK_RANDOM_MB", 64);
	fs_symlink_max = (long)env_u64("FSCHECK_SYMLINK_MAX", PATH_MAX - 1);
	fs_xattr_big = (long)env_u64("FSCHECK_XATTR_BIG", 4000);
	if (fs_symlink_max < 1 || fs_symlink_max > PATH_MAX - 1 ||
	    fs_xattr_big < 2 || fs_xattr_big > 65536) {
		fprintf(stderr, "fscheck: bad FSCHECK_SYMLINK_MAX or "
			"FSCHECK_XATTR_BIG\n");
		return 2;
	}
	if (fs_random_mb < 1 || fs_random_mb > 4096) {
		fprintf(stderr, "fscheck: FSCHECK_RANDOM_MB must be 1..4096\n");
		return 2;
	}

	umask(0);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!realpath(argv[optind], base)) {
		fprintf(stderr, "fscheck: %s: %s\n", argv[optind],
			strerror(errno));
		return 2;
	}
	if (strlen(base) + 64 > sizeof(root)) {
		fprintf(stderr, "fscheck: %s: path too long\n", base);
		return 2;
	}
	snprintf(root, sizeof(root), "%s/fscheck.XXXXXX", base);
	if (!mkdtemp(root) || chdir(root) < 0) {
		fprintf(stderr, "fscheck: cannot create %s: %s\n", root,
			strerror(errno));
		return 2;
	}
	printf("# fscheck in %s, seed %llu (FSCHECK_SEED=%llu replays)\n", root,
	       (unsigned long long)fs_seed, (unsigned long long)fs_seed);

	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		for (const struct fscheck *c = groups[g]; c->name; c++) {
			if (!selected(c, only) || (skip && selected(c, skip))) {
				if (skip && selected(c, skip))
					printf("# %s skipped (-x)\n", c->name);
				continue;
			}
			if (run_one(c, root))
				passed++;
			else
				failed++;
		}
	}

	err = chdir("/") < 0 ? errno : rm_rf(root);
	if (err)
		fprintf(stderr, "fscheck: warning: cannot remove %s: %s\n",
			root, strerror(err));
	printf("fscheck: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
