// SPDX-License-Identifier: Apache-2.0
/*
 * The operations: one table, each entry a short function that picks its
 * arguments from the thread's generator, runs the call on both sides and
 * compares. Arguments never depend on the mount's answers, only on the
 * generator and the reference, so a replay makes the same calls.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "torture.h"

#define NNAMES 8

/* A small pool, so that names collide. Long ones (160+ bytes) take the
 * hashed long-name path with a sidecar in encrypted-names volumes. */
static char long200[201], long255[256];
static const char *names[NNAMES] = {
	"a", "b", "c", "x.y",
	"\xc3\xa9t\xc3\xa9",			      /* été */
	"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", /* 日本語 */
	long200, long255,
};
static const char *labels[NNAMES] = {
	"a", "b", "c", "x.y", "ete", "nihongo", "L200", "L255",
};

/* Relative, without "..", so that they resolve alike on both sides and
 * never leave the thread's directory. */
static char tgt_300[301], tgt_3043[3044];
static const char *targets[] = {
	"a", "b", "c/a", "b/x.y", "\xc3\xa9t\xc3\xa9", "nowhere/a", long200,
	tgt_300, tgt_3043,
};
static const char *tlabels[] = {
	"a", "b", "c/a", "b/x.y", "ete", "nowhere/a", "L200", "300-byte name",
	"3043 bytes z/z/...",
};
#define NTARGETS (sizeof(targets) / sizeof(targets[0]))

static void init_names(void)
{
	memset(long200, 'L', 200);
	for (int i = 0; i < 127; i++)
		memcpy(long255 + 2 * i, "\xc3\xbc", 2); /* ü */
	long255[254] = 'x';
	memset(tgt_300, 'q', 300);
	for (int i = 0; i < 3043; i++)
		tgt_3043[i] = i % 2 ? '/' : 'z';
}

struct path {
	char p[4 * 256];   /* relative to the thread's directory */
	char show[64];
};

static void pick_path(struct ctx *c, struct path *p)
{
	unsigned depth = chance(c, 65) ? 1 : chance(c, 80) ? 2 : 3;
	size_t n = 0, m = 0;

	for (unsigned i = 0; i < depth; i++) {
		unsigned k = (unsigned)below(c, NNAMES);

		n += (size_t)snprintf(p->p + n, sizeof(p->p) - n, "%s%s",
				      i ? "/" : "", names[k]);
		m += (size_t)snprintf(p->show + m, sizeof(p->show) - m, "%s%s",
				      i ? "/" : "", labels[k]);
	}
}

static int full(struct ctx *c, int s, const struct path *p, char *buf)
{
	return snprintf(buf, PATH_MAX, "%s/%s", c->top[s], p->p);
}

static int pick_mode(struct ctx *c)
{
	static const int modes[] = { 0644, 0600, 0755, 0444, 0640, 0700, 0777,
				     0000, 0311 };

	return modes[below(c, sizeof(modes) / sizeof(modes[0]))];
}

/* The size of a slot's file, as the reference sees it; -1 if closed. */
static long long ref_size(struct slot *sl)
{
	struct stat st;

	if (sl->fd[1] < 0 || fstat(sl->fd[1], &st) != 0)
		return -1;
	return st.st_size;
}

/* Offsets near the interesting places: 0, EOF, block boundaries, far past
 * EOF (the daemon must store zeros for the gap). */
static unsigned long long pick_off(struct ctx *c, unsigned long long size)
{
	unsigned long long o, b;

	switch (below(c, 10)) {
	case 0:
		return 0;
	case 1:
		return size;
	case 2:
	case 3:
		b = below(c, size / 4096 + 3) * 4096;
		o = b + below(c, 7);
		return o >= 3 ? o - 3 : 0;
	case 4:
		return size + 1 + below(c, chance(c, 10) ? 1u << 20 : 20000);
	default:
		return below(c, size + 1);
	}
}

static size_t pick_len(struct ctx *c)
{
	switch (below(c, 8)) {
	case 0:
		return 1 + below(c, 16);
	case 1:
		return 4094 + below(c, 5);
	case 2:
		return 1 + below(c, 3 * 4096);
	case 3:
		return 1 + below(c, chance(c, 30) ? MAXIO : 65536);
	default:
		return 1 + below(c, 2048);
	}
}

/* Keeps a range inside MAXSIZE. */
static void clamp(struct ctx *c, unsigned long long *off, size_t *len)
{
	if (*len > MAXIO)
		*len = MAXIO;
	if (*off + *len > MAXSIZE)
		*off = below(c, MAXSIZE - *len);
}

/* Distinct patterns, and zeros now and then (a plaintext zero block must
 * not be confused with a missing one). */
static void fill(struct ctx *c, size_t len)
{
	uint64_t x = rnd(c) | 1;

	if (chance(c, 10)) {
		memset(c->wbuf, 0, len);
		return;
	}
	for (size_t i = 0; i < len; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(c->wbuf + i, &x, len - i < 8 ? len - i : 8);
	}
}

/* A random slot; for use rather than replacement, the next open one from
 * there, so that descriptor operations seldom find nothing to do. */
static struct slot *pick_slot(struct ctx *c, int *i)
{
	*i = (int)below(c, NSLOTS);
	return &c->slot[*i];
}

static struct slot *pick_open(struct ctx *c, int *i)
{
	int k = (int)below(c, NSLOTS);

	for (int j = 0; j < NSLOTS; j++) {
		*i = (k + j) % NSLOTS;
		if (c->slot[*i].fd[1] >= 0)
			return &c->slot[*i];
	}
	*i = k;
	return &c->slot[k];
}

static void close_slot(struct slot *sl)
{
	for (int s = 0; s < SIDES; s++) {
		if (sl->fd[s] >= 0)
			close(sl->fd[s]);
		sl->fd[s] = -1;
	}
}

void ops_close_all(struct ctx *c)
{
	for (int i = 0; i < NSLOTS; i++)
		close_slot(&c->slot[i]);
}

/* After a change through a descriptor, both files have the same size.
 * Directory sizes are the backing filesystem's business (hsmfs keeps an
 * IV in each; ext4 zeroes a removed directory's size, or not, depending
 * on how it was removed): only regular files are compared. */
static int same_fsize(struct ctx *c, struct slot *sl)
{
	struct stat st[SIDES];

	if (sl->fd[0] < 0)
		return 0;
	if (fstat(sl->fd[0], &st[0]) || fstat(sl->fd[1], &st[1]))
		return fail(c, "fstat failed: %s", strerror(errno));
	if (!S_ISREG(st[0].st_mode) || !S_ISREG(st[1].st_mode))
		return (st[0].st_mode & S_IFMT) == (st[1].st_mode & S_IFMT)
			       ? 0
			       : fail(c, "file type differs");
	if (st[0].st_size != st[1].st_size)
		return fail(c, "size afterwards: mount %lld, reference %lld",
			    (long long)st[0].st_size, (long long)st[1].st_size);
	return 0;
}

static int same_bytes(struct ctx *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (c->rbuf[0][i] != c->rbuf[1][i])
			return fail(c, "data differ at byte %zu of %zu: mount "
				    "0x%02x, reference 0x%02x", i, n,
				    c->rbuf[0][i], c->rbuf[1][i]);
	return 0;
}

static int op_create(struct ctx *c)
{
	struct path p;
	int flags = O_CREAT | O_WRONLY | O_CLOEXEC, mode;

	pick_path(c, &p);
	if (chance(c, 30))
		flags |= O_EXCL;
	if (chance(c, 30))
		flags |= O_TRUNC;
	mode = pick_mode(c);
	note(c, "create %s %s%s0%o", p.show, flags & O_EXCL ? "O_EXCL " : "",
	     flags & O_TRUNC ? "O_TRUNC " : "", mode);
	BOTH(c, openat(c->dir[s], p.p, flags, mode));
	for (int s = 0; s < SIDES; s++)
		if (c->r[s] >= 0)
			close((int)c->r[s]);
	return same_err(c);
}

static int op_open(struct ctx *c)
{
	static const int acc[] = { O_RDONLY, O_WRONLY, O_RDWR, O_RDWR };
	static const char *accs[] = { "r", "w", "rw", "rw" };
	struct path p;
	int i, a = (int)below(c, 4), flags = acc[a] | O_CLOEXEC;
	struct slot *sl = pick_slot(c, &i);

	pick_path(c, &p);
	if (chance(c, 70))
		flags |= O_CREAT;
	if (chance(c, 4) &&
	    (acc[a] != O_RDONLY || !(avoid & AVOID_RDONLY_TRUNC)))
		flags |= O_TRUNC;
	if (chance(c, 8))
		flags |= O_APPEND;
	close_slot(sl);
	note(c, "open [%d] %s %s%s%s%s", i, p.show, accs[a],
	     flags & O_CREAT ? " O_CREAT" : "", flags & O_TRUNC ? " O_TRUNC" : "",
	     flags & O_APPEND ? " O_APPEND" : "");
	BOTH(c, openat(c->dir[s], p.p, flags, 0644));
	for (int s = 0; s < SIDES; s++)
		sl->fd[s] = (int)c->r[s];
	sl->flags = flags;
	snprintf(sl->what, sizeof(sl->what), "%s", p.show);
	if (same_err(c))
		return -1;
	/* A pair must be open on both sides or on neither. */
	if (c->r[0] < 0)
		close_slot(sl);
	return 0;
}

static int op_close(struct ctx *c)
{
	int i;
	struct slot *sl = pick_open(c, &i);

	note(c, "close [%d]", i);
	BOTH(c, sl->fd[s] >= 0 ? close(sl->fd[s]) : 0);
	sl->fd[0] = sl->fd[1] = -1;
	return same(c);
}

static int op_pwrite(struct ctx *c)
{
	int i;
	struct slot *sl = pick_open(c, &i);
	long long size = ref_size(sl);
	unsigned long long off;
	size_t len;
	bool positional = chance(c, 80);

	if (size < 0)
		return 0;
	off = pick_off(c, (unsigned long long)size);
	len = pick_len(c);
	clamp(c, &off, &len);
	fill(c, len);
	if (positional) {
		note(c, "pwrite [%d] %s off %llu len %zu", i, sl->what, off, len);
		BOTH(c, pwrite(sl->fd[s], c->wbuf, len, (off_t)off));
	} else {
		note(c, "write [%d] %s len %zu", i, sl->what, len);
		BOTH(c, write(sl->fd[s], c->wbuf, len));
	}
	return same(c) || same_fsize(c, sl);
}

static int op_pread(struct ctx *c)
{
	int i;
	struct slot *sl = pick_open(c, &i);
	long long size = ref_size(sl);
	unsigned long long off;
	size_t len;
	bool drop = chance(c, 40), positional = chance(c, 80);

	if (size < 0)
		return 0;
	off = pick_off(c, (unsigned long long)size);
	len = pick_len(c);
	clamp(c, &off, &len);
	/* DONTNEED drops clean cached pages: the daemon has to answer. */
	if (drop)
		posix_fadvise(sl->fd[0], 0, 0, POSIX_FADV_DONTNEED);
	if (positional) {
		note(c, "pread [%d] %s off %llu len %zu%s", i, sl->what, off, len,
		     drop ? " after DONTNEED" : "");
		BOTH(c, pread(sl->fd[s], c->rbuf[s], len, (off_t)off));
	} else {
		note(c, "read [%d] %s len %zu%s", i, sl->what, len,
		     drop ? " after DONTNEED" : "");
		BOTH(c, read(sl->fd[s], c->rbuf[s], len));
	}
	if (same(c))
		return -1;
	return c->r[0] > 0 ? same_bytes(c, (size_t)c->r[0]) : 0;
}

static int op_lseek(struct ctx *c)
{
	static const int whence[] = { SEEK_SET, SEEK_CUR, SEEK_END };
	static const char *wn[] = { "SET", "CUR", "END" };
	int i, w = (int)below(c, 3);
	struct slot *sl = pick_open(c, &i);
	long long size = ref_size(sl), off;
	struct stat st;

	/* Directory offsets are the file system's own cookies (ext4: hashes),
	 * not comparable. */
	if (size < 0 || fstat(sl->fd[1], &st) != 0 || S_ISDIR(st.st_mode))
		return 0;
	off = w == SEEK_SET ? (long long)pick_off(c, (unsigned long long)size)
			    : (long long)below(c, 9000) - 4500;
	note(c, "lseek [%d] %s %lld SEEK_%s", i, sl->what, off, wn[w]);
	BOTH(c, lseek(sl->fd[s], off, whence[w]));
	return same(c);
}

/* 0 if the reference file holds only zero bytes in [from, to). */
static int ref_zeros(struct ctx *c, struct slot *sl, long long from,
		     long long to, const char *what)
{
	char proc[64];
	ssize_t n;
	int fd, r = 0;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", sl->fd[1]);
	fd = open(proc, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(c, "reopen the reference: %s", strerror(errno));
	for (; from < to && !r; from += n) {
		n = pread(fd, c->rbuf[1], to - from > MAXIO ? MAXIO :
					  (size_t)(to - from), (off_t)from);
		if (n <= 0) {
			r = fail(c, "reference read at %lld: %s", from,
				 n < 0 ? strerror(errno) : "short");
			break;
		}
		for (ssize_t k = 0; k < n && !r; k++)
			if (c->rbuf[1][k])
				r = fail(c, "%s, but the reference has data at "
					 "%lld", what, from + k);
	}
	close(fd);
	return r;
}

/* SEEK_DATA and SEEK_HOLE may answer differently on each side (ext4 has
 * its own idea of holes; "all data" is always a valid answer), so the
 * mount's answer is checked against the reference's bytes instead: what
 * SEEK_DATA skips is zeros, a hole SEEK_HOLE finds starts a zero block or
 * the end, and past the end both give ENXIO. Offsets are put back alike. */
static int op_seekhole(struct ctx *c)
{
	int i, data = chance(c, 50);
	struct slot *sl = pick_open(c, &i);
	long long size = ref_size(sl), off, r, pos[SIDES];
	struct stat st;

	if (size < 0 || fstat(sl->fd[1], &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	off = (long long)pick_off(c, (unsigned long long)size);
	note(c, "lseek [%d] %s %lld SEEK_%s (size %lld)", i, sl->what, off,
	     data ? "DATA" : "HOLE", size);
	for (int s = 0; s < SIDES; s++)
		pos[s] = lseek(sl->fd[s], 0, SEEK_CUR);
	BOTH(c, lseek(sl->fd[s], off, data ? SEEK_DATA : SEEK_HOLE));
	r = c->r[0];
	for (int s = 0; s < SIDES; s++)
		lseek(sl->fd[s], pos[0] >= 0 ? pos[0] : 0, SEEK_SET);
	if (off >= size)
		return same_err(c);
	if (data && c->e[0] == ENXIO)
		return ref_zeros(c, sl, off, size, "SEEK_DATA found none");
	if (c->e[0])
		return fail(c, "mount: %s", strerror(c->e[0]));
	if (r < off || r > size || (data && r == size))
		return fail(c, "mount answered %lld, outside [%lld, %lld%c", r,
			    off, size, data ? ')' : ']');
	if (data)
		return ref_zeros(c, sl, off, r, "SEEK_DATA skipped it");
	return ref_zeros(c, sl, r, r / 4096 * 4096 + 4096 < size ?
				   r / 4096 * 4096 + 4096 : size,
			 "SEEK_HOLE found a hole");
}

static unsigned long long pick_size(struct ctx *c, long long size)
{
	switch (below(c, 6)) {
	case 0:
		return 0;
	case 1:
		return below(c, (unsigned long long)size + 1);
	case 2:
		return below(c, (unsigned long long)size / 4096 + 2) * 4096 +
		       below(c, 3) - (size >= 1 ? 1 : 0);
	case 3:
		return (unsigned long long)size + below(c, 300000);
	default:
		return below(c, (unsigned long long)size + 10000);
	}
}

static int op_ftruncate(struct ctx *c)
{
	int i;
	struct slot *sl = pick_open(c, &i);
	long long size = ref_size(sl);
	unsigned long long n;

	if (size < 0)
		return 0;
	n = pick_size(c, size);
	if (n > MAXSIZE)
		n = MAXSIZE;
	note(c, "ftruncate [%d] %s %llu (was %lld)", i, sl->what, n, size);
	BOTH(c, ftruncate(sl->fd[s], (off_t)n));
	return same(c) || same_fsize(c, sl);
}

static int op_truncate(struct ctx *c)
{
	char f[SIDES][PATH_MAX];
	struct path p;
	unsigned long long n;

	pick_path(c, &p);
	n = pick_size(c, (long long)below(c, 100000));
	for (int s = 0; s < SIDES; s++)
		full(c, s, &p, f[s]);
	note(c, "truncate %s %llu", p.show, n);
	BOTH(c, truncate(f[s], (off_t)n));
	return same(c);
}

static int op_fallocate(struct ctx *c)
{
	int i, mode = chance(c, 50) ? FALLOC_FL_KEEP_SIZE : 0;
	struct slot *sl = pick_open(c, &i);
	static const char *const modes[] = { "0", "KEEP_SIZE", "PUNCH_HOLE" };
	long long size = ref_size(sl);
	unsigned long long off;
	size_t len;

	if (size < 0)
		return 0;
	off = pick_off(c, (unsigned long long)size);
	len = pick_len(c);
	clamp(c, &off, &len);
	if (punch_holes && chance(c, 40))
		mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	note(c, "fallocate [%d] %s %s off %llu len %zu (size %lld)", i, sl->what,
	     modes[(mode & FALLOC_FL_PUNCH_HOLE) ? 2 : mode ? 1 : 0], off, len,
	     size);
	BOTH(c, fallocate(sl->fd[s], mode, (off_t)off, (off_t)len));
	return same(c) || same_fsize(c, sl);
}

static int op_fsync(struct ctx *c)
{
	int i;
	struct slot *sl = pick_open(c, &i);
	bool data = chance(c, 30);

	if (sl->fd[0] < 0)
		return 0;
	note(c, "%s [%d] %s", data ? "fdatasync" : "fsync", i, sl->what);
	BOTH(c, data ? fdatasync(sl->fd[s]) : fsync(sl->fd[s]));
	return same(c);
}

/* A write through a shared mapping, pushed out with msync. */
static int op_mmap(struct ctx *c)
{
	int i;
	struct slot *sl = pick_open(c, &i);
	long long size = ref_size(sl);
	long pg = sysconf(_SC_PAGESIZE);
	unsigned long long off, start;
	size_t len, maplen;
	void *m[SIDES];

	if (size <= 0)
		return 0;
	/* Past EOF a mapping faults (SIGBUS): sizes must agree first. */
	if (same_fsize(c, sl))
		return -1;
	off = below(c, (unsigned long long)size);
	len = 1 + below(c, (unsigned long long)size - off < 65536
				   ? (unsigned long long)size - off : 65536);
	start = off & ~(unsigned long long)(pg - 1);
	maplen = (size_t)(off + len - start);
	fill(c, len);
	note(c, "mmap-write [%d] %s off %llu len %zu", i, sl->what, off, len);
	for (int s = 0; s < SIDES; s++) {
		errno = 0;
		m[s] = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED,
			    sl->fd[s], (off_t)start);
		c->r[s] = m[s] == MAP_FAILED ? -1 : 0;
		c->e[s] = m[s] == MAP_FAILED ? errno : 0;
	}
	if (same_err(c)) {
		for (int s = 0; s < SIDES; s++)
			if (m[s] != MAP_FAILED)
				munmap(m[s], maplen);
		return -1;
	}
	if (m[0] == MAP_FAILED)
		return 0;
	for (int s = 0; s < SIDES; s++)
		memcpy((char *)m[s] + (off - start), c->wbuf, len);
	BOTH(c, msync(m[s], maplen, MS_SYNC));
	for (int s = 0; s < SIDES; s++)
		munmap(m[s], maplen);
	return same(c);
}

/* The reference's inode at p if it is a symlink, else 0 (-b). */
static ino_t ref_symlink(struct ctx *c, const char *p)
{
	struct stat st;

	if (!bound_symlinks ||
	    fstatat(c->dir[1], p, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return 0;
	return S_ISLNK(st.st_mode) ? st.st_ino : 0;
}

/* Undoes an exchange of the reference's entries at paths pa and pb. Each
 * parent is opened first by the path as it was (one path may run through
 * the other entry, e.g. "b/x" and "b" when b was a symlink to a
 * directory), then the two last components are exchanged back. */
struct parent {
	int fd;
	const char *base;
};

/* The reference's directory holding path p, opened as the syscall would
 * resolve it, and p's last component. */
static struct parent ref_parent(struct ctx *c, const char *p)
{
	const char *slash = strrchr(p, '/');
	char dir[PATH_MAX];
	struct parent r = { -1, slash ? slash + 1 : p };

	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - p) : 1,
		 slash ? p : ".");
	r.fd = openat(c->dir[1], dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return r;
}

static void undo_exchange(const struct parent *a, const struct parent *b)
{
	if (a->fd >= 0 && b->fd >= 0)
		syscall(SYS_renameat2, a->fd, a->base, b->fd, b->base,
			RENAME_EXCHANGE);
}

/* What the reference did and the mount refuses (-b): undone there, and
 * given the mount's error. */
static void ref_refused(struct ctx *c, int err)
{
	c->r[1] = -1;
	c->e[1] = err;
}

static int op_rename(struct ctx *c)
{
	static const unsigned flags[] = { 0, 0, 0, RENAME_NOREPLACE,
					  RENAME_EXCHANGE };
	static const char *fn[] = { "", "", "", " NOREPLACE", " EXCHANGE" };
	struct path a, b;
	int f = (int)below(c, 5);
	struct parent pa, pb;
	ino_t la, lb;

	pick_path(c, &a);
	pick_path(c, &b);
	note(c, "rename %s -> %s%s", a.show, b.show, fn[f]);
	la = ref_symlink(c, a.p);
	lb = ref_symlink(c, b.p);
	pa = ref_parent(c, a.p);
	pb = ref_parent(c, b.p);
	BOTH(c, syscall(SYS_renameat2, c->dir[s], a.p, c->dir[s], b.p,
			flags[f]));
	/* An exchange of a link with itself never reaches the file system.
	 * Any other is undone in the reference through the parents found
	 * before it: one path may run through the other's entry ("b/x" and
	 * "b", b a link to a directory), so the same paths would not. */
	if (flags[f] == RENAME_EXCHANGE && (la || lb) && la != lb &&
	    c->r[1] == 0) {
		undo_exchange(&pa, &pb);
		ref_refused(c, EINVAL);
	}
	if (pa.fd >= 0)
		close(pa.fd);
	if (pb.fd >= 0)
		close(pb.fd);
	return same(c);
}

static int op_link(struct ctx *c)
{
	struct path a, b;
	bool link;

	pick_path(c, &a);
	pick_path(c, &b);
	note(c, "link %s -> %s", a.show, b.show);
	link = ref_symlink(c, a.p) != 0;
	BOTH(c, linkat(c->dir[s], a.p, c->dir[s], b.p, 0));
	if (link && c->r[1] == 0) {
		unlinkat(c->dir[1], b.p, 0);
		ref_refused(c, EPERM);
	}
	return same(c);
}

static int op_unlink(struct ctx *c)
{
	struct path p;

	pick_path(c, &p);
	note(c, "unlink %s", p.show);
	BOTH(c, unlinkat(c->dir[s], p.p, 0));
	return same(c);
}

static int op_mkdir(struct ctx *c)
{
	static const int modes[] = { 0755, 0700, 0777, 0711, 0555 };
	struct path p;
	int mode = modes[below(c, 5)];

	pick_path(c, &p);
	note(c, "mkdir %s 0%o", p.show, mode);
	BOTH(c, mkdirat(c->dir[s], p.p, mode));
	return same(c);
}

static int op_rmdir(struct ctx *c)
{
	struct path p;

	pick_path(c, &p);
	note(c, "rmdir %s", p.show);
	BOTH(c, unlinkat(c->dir[s], p.p, AT_REMOVEDIR));
	return same(c);
}

static int op_symlink(struct ctx *c)
{
	struct path p;
	unsigned t = (unsigned)below(c, NTARGETS);

	pick_path(c, &p);
	note(c, "symlink %s -> %s", p.show, tlabels[t]);
	BOTH(c, symlinkat(targets[t], c->dir[s], p.p));
	return same(c);
}

static int op_readlink(struct ctx *c)
{
	struct path p;

	pick_path(c, &p);
	note(c, "readlink %s", p.show);
	BOTH(c, readlinkat(c->dir[s], p.p, (char *)c->rbuf[s], 4096));
	if (same(c))
		return -1;
	return c->r[0] > 0 ? same_bytes(c, (size_t)c->r[0]) : 0;
}

static int op_chmod(struct ctx *c)
{
	int i, mode = pick_mode(c);
	struct slot *sl = pick_open(c, &i);
	struct path p;

	pick_path(c, &p);
	if (chance(c, 30) && sl->fd[0] >= 0) {
		note(c, "fchmod [%d] %s 0%o", i, sl->what, mode);
		BOTH(c, fchmod(sl->fd[s], (mode_t)mode));
	} else {
		note(c, "chmod %s 0%o", p.show, mode);
		BOTH(c, fchmodat(c->dir[s], p.p, (mode_t)mode, 0));
	}
	return same(c);
}

static int op_stat(struct ctx *c)
{
	struct stat st[SIDES];
	struct path p;
	bool follow = chance(c, 50);

	pick_path(c, &p);
	note(c, "%s %s", follow ? "stat" : "lstat", p.show);
	BOTH(c, fstatat(c->dir[s], p.p, &st[s], follow ? 0 : AT_SYMLINK_NOFOLLOW));
	if (same(c) || c->r[0] < 0)
		return c->r[0] < 0 ? 0 : -1;
	if (st[0].st_mode != st[1].st_mode || st[0].st_nlink != st[1].st_nlink ||
	    (!S_ISDIR(st[0].st_mode) && st[0].st_size != st[1].st_size))
		return fail(c, "mode/links/size: mount 0%o/%lu/%lld, reference "
			    "0%o/%lu/%lld", st[0].st_mode,
			    (unsigned long)st[0].st_nlink, (long long)st[0].st_size,
			    st[1].st_mode, (unsigned long)st[1].st_nlink,
			    (long long)st[1].st_size);
	return 0;
}

/* Reads a whole file by name on both sides, the mount's cache dropped. */
static int op_readfile(struct ctx *c)
{
	struct path p;
	int fd[SIDES];

	pick_path(c, &p);
	note(c, "read whole %s after DONTNEED", p.show);
	BOTH(c, openat(c->dir[s], p.p, O_RDONLY | O_CLOEXEC));
	for (int s = 0; s < SIDES; s++)
		fd[s] = (int)c->r[s];
	if (same_err(c) || fd[0] < 0) {
		for (int s = 0; s < SIDES; s++)
			if (fd[s] >= 0)
				close(fd[s]);
		return fd[0] < 0 && fd[1] < 0 ? 0 : -1;
	}
	posix_fadvise(fd[0], 0, 0, POSIX_FADV_DONTNEED);
	int r = tree_compare_fds(c, fd[0], fd[1], p.show);
	close(fd[0]);
	close(fd[1]);
	return r;
}

struct op {
	const char *name;
	int (*fn)(struct ctx *c);
	unsigned weight;
};

static const struct op ops[] = {
	{ "create", op_create, 8 },	  { "open", op_open, 10 },
	{ "close", op_close, 4 },	  { "pwrite", op_pwrite, 20 },
	{ "pread", op_pread, 16 },	  { "lseek", op_lseek, 2 },
	{ "seekhole", op_seekhole, 2 },
	{ "ftruncate", op_ftruncate, 5 }, { "truncate", op_truncate, 2 },
	{ "fallocate", op_fallocate, 3 }, { "fsync", op_fsync, 2 },
	{ "mmap", op_mmap, 3 },		  { "rename", op_rename, 6 },
	{ "link", op_link, 3 },		  { "unlink", op_unlink, 5 },
	{ "mkdir", op_mkdir, 4 },	  { "rmdir", op_rmdir, 3 },
	{ "symlink", op_symlink, 2 },	  { "readlink", op_readlink, 1 },
	{ "chmod", op_chmod, 2 },	  { "stat", op_stat, 3 },
	{ "readfile", op_readfile, 2 },
};

int ops_run_one(struct ctx *c)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	unsigned w, total = 0;

	pthread_once(&once, init_names);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		total += ops[i].weight;
	w = (unsigned)below(c, total);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (w < ops[i].weight)
			return ops[i].fn(c);
		w -= ops[i].weight;
	}
	return 0;
}
