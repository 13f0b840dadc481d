// SPDX-License-Identifier: Apache-2.0
/*
 * crashwriter [-c] [-s SEED] DIR STATEDIR: a writer for crash tests. It
 * changes the files DIR/f0..f7 (appends, pwrites past EOF, truncates,
 * write-fsync-rename replacements, unlink and re-create) and keeps their
 * exact content in memory. Each time a file is known durable (fsync on it
 * returned 0, or it was renamed into place after one), the expected bytes
 * go to STATEDIR/NAME.sync and a line "sync NAME" to STATEDIR/journal;
 * before a file is touched again, a line "dirty NAME". The daemon may be
 * killed at any point: the writer stops at the first error. A checker
 * then replays the journal: a file whose last line is "sync" must hold
 * exactly NAME.sync.
 *   -c  creation mode: many new small files DIR/nN (and directories dN),
 *       each fsynced; "sync" lines as above.
 * STATEDIR must not be on the mount under test.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NFILES 8
#define MAXLEN (512 * 1024)

static const char *dir, *state;
static int journal = -1;
static uint64_t rng;
static uint8_t *model[NFILES], buf[MAXLEN];
static size_t len[NFILES];

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1Dull;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static void die(const char *what)
{
	/* The expected end: the daemon is gone (ENOTCONN, ECONNABORTED). */
	fprintf(stderr, "crashwriter: %s: %s\n", what, strerror(errno));
	exit(errno == ENOTCONN || errno == ECONNABORTED ? 0 : 1);
}

static void jot(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* O_APPEND, one write: whole lines, even if we are killed. */
	if (write(journal, line, (size_t)n) != n)
		exit(1);
}

/* Records bytes as durable: a snapshot first, then the journal line. */
static void synced(const char *name, const uint8_t *data, size_t n)
{
	char tmp[4096], fin[4096];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", state, name);
	snprintf(fin, sizeof(fin), "%s/%s.sync", state, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, data, n) != (ssize_t)n || close(fd) ||
	    rename(tmp, fin))
		exit(1);
	jot("sync %s\n", name);
}

static void path(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static void fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

/* One change to file k through fd; the model follows. */
static void change(int k, int fd)
{
	size_t off, n;

	switch (below(4)) {
	case 0: /* append */
		n = 1 + below(20000);
		if (len[k] + n > MAXLEN)
			n = MAXLEN - len[k];
		fill(buf, n);
		if (pwrite(fd, buf, n, (off_t)len[k]) != (ssize_t)n)
			die("append");
		memcpy(model[k] + len[k], buf, n);
		len[k] += n;
		break;
	case 1: /* pwrite anywhere, also past EOF (a zero gap) */
		off = below(len[k] + 20000);
		n = 1 + below(9000);
		if (off + n > MAXLEN)
			off = MAXLEN - n;
		fill(buf, n);
		if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
			die("pwrite");
		if (off > len[k])
			memset(model[k] + len[k], 0, off - len[k]);
		memcpy(model[k] + off, buf, n);
		if (off + n > len[k])
			len[k] = off + n;
		break;
	case 2: /* truncate down or up */
		n = below(len[k] + 10000);
		if (n > MAXLEN)
			n = MAXLEN;
		if (ftruncate(fd, (off_t)n))
			die("ftruncate");
		if (n > len[k])
			memset(model[k] + len[k], 0, n - len[k]);
		len[k] = n;
		break;
	default: /* overwrite within */
		if (!len[k])
			return;
		off = below(len[k]);
		n = 1 + below(len[k] - off);
		fill(buf, n);
		if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
			die("overwrite");
		memcpy(model[k] + off, buf, n);
	}
}

static void step(void)
{
	int k = (int)below(NFILES), fd;
	char p[4096], t[4096], name[16];

	snprintf(name, sizeof(name), "f%d", k);
	path(p, sizeof(p), name);
	jot("dirty %s\n", name);
	switch (below(8)) {
	case 0: { /* replace: write a temporary, fsync, rename over */
		size_t n = below(60000);

		snprintf(t, sizeof(t), "%s/%s.tmp", dir, name);
		fill(buf, n);
		fd = open(t, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, buf, n) != (ssize_t)n || fsync(fd))
			die("write temporary");
		close(fd);
		if (rename(t, p))
			die("rename");
		memcpy(model[k], buf, n);
		len[k] = n;
		synced(name, model[k], len[k]);
		return;
	}
	case 1: /* unlink and create again */
		if (unlink(p) && errno != ENOENT)
			die("unlink");
		len[k] = 0;
		break;
	default:
		break;
	}
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		die("open");
	for (int i = (int)below(3); i >= 0; i--)
		change(k, fd);
	if (below(100) < 40) {
		if (below(2) ? fsync(fd) : fdatasync(fd))
			die("fsync");
		synced(name, model[k], len[k]);
	}
	close(fd);
}

/* Creation mode: new files (and directories), each written and fsynced,
 * so that kills land in header creation and first writes. */
static void create_step(unsigned long i)
{
	char p[4096], name[32];
	size_t n = below(3) ? 1 + below(9000) : 0;
	int fd;

	if (below(10) == 0) {
		snprintf(name, sizeof(name), "d%lu", i);
		path(p, sizeof(p), name);
		if (mkdir(p, 0755))
			die("mkdir");
		return;
	}
	snprintf(name, sizeof(name), "n%lu", i);
	path(p, sizeof(p), name);
	fill(buf, n);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		die("create");
	if (write(fd, buf, n) != (ssize_t)n || fsync(fd))
		die("write new");
	close(fd);
	synced(name, buf, n);
}

int main(int argc, char *argv[])
{
	char j[4096];
	int opt, creating = 0;

	rng = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull | 1;
	while ((opt = getopt(argc, argv, "cs:")) != -1) {
		if (opt == 'c')
			creating = 1;
		else if (opt == 's')
			rng = strtoull(optarg, NULL, 0) | 1;
		else
			return 2;
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: crashwriter [-c] [-s SEED] DIR STATEDIR\n");
		return 2;
	}
	dir = argv[optind];
	state = argv[optind + 1];
	snprintf(j, sizeof(j), "%s/journal", state);
	journal = open(j, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (journal < 0)
		die(j);
	for (int k = 0; k < NFILES; k++)
		if (!(model[k] = calloc(1, MAXLEN)))
			return 1;
	/* Bounded: the test kills the daemon long before this ends. */
	for (unsigned long i = 0; i < 1000000; i++) {
		if (creating)
			create_step(i);
		else
			step();
	}
	return 0;
}
