// SPDX-License-Identifier: Apache-2.0
/*
 * fscheck: file data checks - open flags, pread/pwrite, truncate, holes,
 * fallocate, fsync, mmap and a large sequential file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fscheck.h"

static bool check_create_rw(void)
{
	static const char msg[] = "hello, world\n";
	const size_t len = sizeof(msg) - 1;
	struct stat st;
	char buf[64];
	int fd;

	fd = TRY(open("f", O_CREAT | O_EXCL | O_WRONLY, 0644));
	if (!write_seq(fd, msg, len, "f"))
		return false;
	EXPECT_EQ(lseek(fd, 0, SEEK_CUR), len);
	EXPECT_ERR(read(fd, buf, 1), EBADF);
	TRY(fstat(fd, &st));
	EXPECT(S_ISREG(st.st_mode));
	EXPECT_EQ(st.st_size, len);
	EXPECT_EQ(st.st_nlink, 1);
	TRY(close(fd));
	if (!check_file("f", msg, len))
		return false;

	/* Mixed read() and write() on one O_RDWR descriptor. */
	fd = TRY(open("f", O_RDWR));
	EXPECT_EQ(read(fd, buf, 5), 5);
	if (!same_bytes(buf, "hello", 5, 0, "read"))
		return false;
	if (!write_seq(fd, "XX", 2, "f"))
		return false;
	EXPECT_EQ(read(fd, buf, sizeof(buf)), 6);
	if (!same_bytes(buf, "world\n", 6, 7, "read after write"))
		return false;
	EXPECT_EQ(read(fd, buf, sizeof(buf)), 0);
	TRY(close(fd));
	if (!check_file("f", "helloXXworld\n", len))
		return false;

	fd = TRY(open("f", O_RDONLY));
	EXPECT_ERR(write(fd, "x", 1), EBADF);
	TRY(close(fd));
	TRY(unlink("f"));
	EXPECT_ERR(stat("f", &st), ENOENT);
	return true;
}

static bool check_open_errors(void)
{
	char buf[8];
	int fd;

	EXPECT_ERR(open("missing", O_RDONLY), ENOENT);
	EXPECT_ERR(open("missing", O_RDWR), ENOENT);
	EXPECT_ERR(open("nodir/f", O_CREAT | O_WRONLY, 0644), ENOENT);
	if (!write_file("f", "data", 4))
		return false;
	EXPECT_ERR(open("f", O_RDONLY | O_DIRECTORY), ENOTDIR);
	EXPECT_ERR(open("f/x", O_RDONLY), ENOTDIR);
	EXPECT_ERR(open("f/x", O_CREAT | O_WRONLY, 0644), ENOTDIR);
	TRY(mkdir("d", 0755));
	EXPECT_ERR(open("d", O_WRONLY), EISDIR);
	EXPECT_ERR(open("d", O_RDWR), EISDIR);
	EXPECT_ERR(open("d", O_CREAT | O_WRONLY, 0644), EISDIR);
	fd = TRY(open("d", O_RDONLY));
	EXPECT_ERR(read(fd, buf, sizeof(buf)), EISDIR);
	TRY(close(fd));
	fd = TRY(open("d", O_RDONLY | O_DIRECTORY));
	TRY(close(fd));
	TRY(rmdir("d"));
	TRY(unlink("f"));
	return true;
}

/* Two O_APPEND descriptors interleave, and each one's position is the end
 * of the file after its write. On Linux pwrite() on an O_APPEND descriptor
 * appends too (see BUGS in pwrite(2)); ext4 does, so we check it. */
static bool check_o_append(void)
{
	char want[1024], rec[16];
	size_t len = 5;
	int fa, fb, fc;

	memcpy(want, "start", 5);
	if (!write_file("f", want, len))
		return false;
	fa = TRY(open("f", O_WRONLY | O_APPEND));
	fb = TRY(open("f", O_WRONLY | O_APPEND));
	fc = TRY(open("f", O_RDWR));
	for (int i = 0; i < 100; i++) {
		int fd = i % 2 ? fb : fa;

		snprintf(rec, sizeof(rec), "%c%02d", i % 2 ? 'B' : 'A', i);
		if (i == 40) {
			/* A plain descriptor overwrites in the middle. */
			if (!write_at(fc, "s", 1, 0, "overwrite"))
				return false;
			want[0] = 's';
		}
		if (i == 60)
			TRY(lseek(fd, 0, SEEK_SET));
		if (i == 80) {
			/* Appends, and leaves the position alone. */
			off_t pos = TRY(lseek(fd, 0, SEEK_CUR));

			EXPECT_EQ(pwrite(fd, rec, 3, 0), 3);
			EXPECT_EQ(lseek(fd, 0, SEEK_CUR), pos);
		} else {
			if (!write_seq(fd, rec, 3, "append"))
				return false;
			EXPECT_EQ(lseek(fd, 0, SEEK_CUR), len + 3);
		}
		memcpy(want + len, rec, 3);
		len += 3;
		if (!check_size(fa, len, "f"))
			return false;
	}
	TRY(close(fa));
	TRY(close(fb));
	if (!check_range(fc, 0, want, len, "via the O_RDWR fd"))
		return false;
	TRY(close(fc));
	if (!check_file("f", want, len))
		return false;
	TRY(unlink("f"));
	return true;
}

static bool check_o_trunc(void)
{
	char *data = xalloc(10000), buf[16];
	struct stat st;
	int fd, reader;

	pattern_fill(data, 0, 10000, 1);
	if (!write_file("f", data, 10000))
		return false;
	reader = TRY(open("f", O_RDONLY));
	fd = TRY(open("f", O_WRONLY | O_TRUNC));
	if (!check_size(fd, 0, "after O_TRUNC"))
		return false;
	TRY(stat("f", &st));
	EXPECT_EQ(st.st_size, 0);
	/* A descriptor opened before the truncation sees an empty file. */
	EXPECT_EQ(pread(reader, buf, sizeof(buf), 0), 0);
	EXPECT_EQ(pread(reader, buf, sizeof(buf), 5000), 0);
	if (!write_seq(fd, "xy", 2, "f"))
		return false;
	TRY(close(fd));
	if (!check_file("f", "xy", 2) ||
	    !check_range(reader, 0, "xy", 2, "old fd"))
		return false;
	fd = TRY(open("f", O_RDWR | O_TRUNC));
	TRY(close(fd));
	if (!check_file("f", "", 0))
		return false;
	TRY(close(reader));
	TRY(unlink("f"));
	return true;
}

static bool check_o_excl(void)
{
	struct stat st;
	int fd;

	fd = TRY(open("f", O_CREAT | O_EXCL | O_WRONLY, 0644));
	TRY(close(fd));
	EXPECT_ERR(open("f", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
	EXPECT_ERR(open("f", O_CREAT | O_EXCL | O_RDONLY, 0644), EEXIST);
	TRY(mkdir("d", 0755));
	EXPECT_ERR(open("d", O_CREAT | O_EXCL | O_RDONLY, 0644), EEXIST);
	/* O_EXCL does not follow a symlink, dangling or not. */
	TRY(symlink("f", "l"));
	EXPECT_ERR(open("l", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
	TRY(symlink("target", "dangling"));
	EXPECT_ERR(open("dangling", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
	EXPECT_ERR(stat("target", &st), ENOENT);
	/* Without O_EXCL, O_CREAT through a dangling symlink creates the
	 * target. */
	fd = TRY(open("dangling", O_CREAT | O_WRONLY, 0640));
	TRY(close(fd));
	TRY(stat("target", &st));
	EXPECT(S_ISREG(st.st_mode));
	EXPECT_EQ(st.st_mode & 07777, 0640);
	TRY(unlink("dangling"));
	TRY(unlink("target"));
	TRY(unlink("l"));
	TRY(unlink("f"));
	TRY(rmdir("d"));
	return true;
}

/* main() sets umask 0, so the mode given to open() and mkdir() is the mode
 * the file gets. */
static bool check_o_creat_mode(void)
{
	static const mode_t modes[] = { 0600, 0644, 0640, 0755, 0777, 0000,
					0444, 0711, 0200, 0070 };
	static const mode_t dir_modes[] = { 0700, 0755, 0777, 0750, 0711 };
	struct stat st;
	char name[16];
	int fd;

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		snprintf(name, sizeof(name), "m%04o", modes[i]);
		fd = TRY(open(name, O_CREAT | O_EXCL | O_WRONLY, modes[i]));
		TRY(fstat(fd, &st));
		if ((st.st_mode & 07777) != modes[i])
			return fail("open(%s, O_CREAT, 0%o): fstat mode 0%o",
				    name, modes[i], st.st_mode & 07777);
		TRY(close(fd));
		TRY(stat(name, &st));
		if ((st.st_mode & 07777) != modes[i])
			return fail("open(%s, O_CREAT, 0%o): stat mode 0%o",
				    name, modes[i], st.st_mode & 07777);
		/* O_CREAT on an existing file leaves its mode alone. */
		if ((modes[i] & 0400) || geteuid() == 0) {
			fd = TRY(open(name, O_CREAT | O_RDONLY, 0666));
			TRY(close(fd));
		}
		TRY(stat(name, &st));
		if ((st.st_mode & 07777) != modes[i])
			return fail("re-open with O_CREAT changed mode 0%o to 0%o",
				    modes[i], st.st_mode & 07777);
		TRY(unlink(name));
	}
	for (size_t i = 0; i < sizeof(dir_modes) / sizeof(dir_modes[0]); i++) {
		snprintf(name, sizeof(name), "d%04o", dir_modes[i]);
		TRY(mkdir(name, dir_modes[i]));
		TRY(stat(name, &st));
		if ((st.st_mode & 07777) != dir_modes[i])
			return fail("mkdir(%s, 0%o): mode 0%o", name,
				    dir_modes[i], st.st_mode & 07777);
		TRY(rmdir(name));
	}

	/* A file created read-only still gives a writable descriptor. */
	fd = TRY(open("ro", O_CREAT | O_EXCL | O_RDWR, 0444));
	if (!write_seq(fd, "still writable", 14, "ro"))
		return false;
	TRY(close(fd));
	if (!check_file("ro", "still writable", 14))
		return false;
	TRY(unlink("ro"));

	/* The umask applies. */
	umask(022);
	fd = open("um", O_CREAT | O_EXCL | O_WRONLY, 0666);
	umask(0);
	if (fd < 0)
		return fail("open with umask 022: %s", errname(errno));
	TRY(fstat(fd, &st));
	EXPECT_EQ(st.st_mode & 07777, 0644);
	TRY(close(fd));
	TRY(unlink("um"));
	return true;
}

/* pwrite() and pread() at offsets and sizes around 4096-byte blocks. */
static bool check_pread_pwrite(void)
{
	static const size_t sizes[] = { 1, 4095, 4096, 4097, 8191, 65537,
					131072 + 7 };
	static const off_t offs[] = { 0, 1, 4095, 4096, 4097, 8191, 8192, 12287,
				      65535, 65537, 131072 + 7, 1048575 };
	const size_t cap = 1048575 + 131072 + 7;
	uint8_t *ref = xalloc(cap), *buf = xalloc(cap);
	off_t size = 0;
	int fd, n = 0;

	fd = TRY(open("f", O_CREAT | O_RDWR, 0644));
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		for (size_t j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
			off_t off = offs[i];
			size_t len = sizes[j];
			const char *what = xsprintf("pwrite %zu at %lld", len,
						    (long long)off);

			pattern_fill(ref + off, off, len, ++n);
			if (!write_at(fd, ref + off, len, off, what) ||
			    !check_range(fd, off, ref + off, len, what))
				return false;
			if (off + (off_t)len > size)
				size = off + len;
			if (!check_size(fd, size, what))
				return false;
		}
	}
	EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 0);

	/* Reads at the same offsets and sizes, clipped at EOF. */
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		for (size_t j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
			off_t off = offs[i];
			size_t want = off + sizes[j] > (size_t)size ?
					      (size_t)(size - off) : sizes[j];
			ssize_t r = pread(fd, buf, sizes[j], off);

			if (r != (ssize_t)want)
				return fail("pread(%zu at %lld): expected %zu, "
					    "got %zd (%s)", sizes[j],
					    (long long)off, want, r,
					    r < 0 ? errname(errno) : "short");
			if (!same_bytes(buf, ref + off, want, off, "pread"))
				return false;
		}
	}
	/* Past EOF: short, then nothing. */
	EXPECT_EQ(pread(fd, buf, 100, size - 10), 10);
	if (!same_bytes(buf, ref + size - 10, 10, size - 10, "tail"))
		return false;
	EXPECT_EQ(pread(fd, buf, 100, size), 0);
	EXPECT_EQ(pread(fd, buf, 100, size + 5000), 0);
	EXPECT_EQ(pread(fd, buf, 1, 1L << 40), 0);

	if (!check_range(fd, 0, ref, size, "whole file") ||
	    !check_file("f", ref, size) || !drop_cache(fd) ||
	    !check_file("f", ref, size))
		return false;
	TRY(close(fd));
	TRY(unlink("f"));
	return true;
}

/* Change the size of f (by path or by fd) and mirror it into ref. */
static bool resize(int fd, uint8_t *ref, off_t *size, off_t to, bool by_path)
{
	const char *what = xsprintf("%s from %lld to %lld",
				    by_path ? "truncate" : "ftruncate",
				    (long long)*size, (long long)to);
	struct stat st;

	if ((by_path ? truncate("f", to) : ftruncate(fd, to)) < 0)
		return fail("%s: %s", what, errname(errno));
	if (to < *size)
		memset(ref + to, 0, *size - to);
	*size = to;
	if (stat("f", &st) < 0)
		return fail("stat: %s", errname(errno));
	if (st.st_size != to)
		return fail("%s: stat size %lld", what, (long long)st.st_size);
	return check_size(fd, to, what) && check_range(fd, 0, ref, to, what);
}

static bool check_truncate(void)
{
	static const struct {
		off_t to;
		bool by_path;
	} steps[] = {
		{ 5000, false },     { 8192, true },	  { 4096, false },
		{ 0, true },	     { 16 * MiB + 5, false }, { 4097, true },
		{ 3 * BLK + 1, false }, { 1, true },	  { 0, false },
	};
	const size_t cap = 16 * MiB + 5;
	uint8_t *ref = xalloc(cap);
	off_t size = 3 * BLK + 100;
	int fd;

	pattern_fill(ref, 0, size, 1);
	if (!write_file("f", ref, size))
		return false;
	fd = TRY(open("f", O_RDWR));
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (!resize(fd, ref, &size, steps[i].to, steps[i].by_path))
			return false;
		/* Refill what is there, so the next shrink has data to
		 * lose. */
		if (size && size < (off_t)(1 * MiB)) {
			pattern_fill(ref, 0, size, 10 + i);
			if (!write_at(fd, ref, size, 0, "refill"))
				return false;
		}
	}

	/* Shrink into a block, then grow or write past the old end: the old
	 * tail of that block must not come back. */
	for (int way = 0; way < 3; way++) {
		const off_t cut[] = { 5000, 4100, 8191 };

		size = 0;
		pattern_fill(ref, 0, 3 * BLK, 20 + way);
		if (!write_at(fd, ref, 3 * BLK, 0, "fill"))
			return false;
		size = 3 * BLK;
		if (!resize(fd, ref, &size, cut[way], false))
			return false;
		if (way == 0) {
			if (!resize(fd, ref, &size, 3 * BLK, true))
				return false;
		} else {
			off_t at = way == 1 ? 7000 : 10000;

			ref[at] = 'W';
			if (!write_at(fd, "W", 1, at, "write past EOF"))
				return false;
			size = at + 1;
		}
		if (!check_range(fd, 0, ref, size, "after shrink and grow") ||
		    !resize(fd, ref, &size, 0, false))
			return false;
	}
	pattern_fill(ref, 0, 3 * BLK, 30);
	if (!write_at(fd, ref, 3 * BLK, 0, "fill"))
		return false;
	size = 3 * BLK;
	if (!resize(fd, ref, &size, 6000, true) ||
	    !resize(fd, ref, &size, 2 * MiB + 3, false) ||
	    !drop_cache(fd) || !check_file("f", ref, size))
		return false;

	EXPECT_ERR(ftruncate(fd, -1), EINVAL);
	EXPECT_ERR(truncate("missing", 0), ENOENT);
	TRY(mkdir("d", 0755));
	EXPECT_ERR(truncate("d", 0), EISDIR);
	TRY(close(fd));
	fd = TRY(open("f", O_RDONLY));
	EXPECT_ERR(ftruncate(fd, 0), EINVAL);
	TRY(close(fd));
	TRY(rmdir("d"));
	TRY(unlink("f"));
	return true;
}

static bool check_sparse(void)
{
	const off_t far = 10 * MiB + 3, farther = 20 * MiB;
	uint8_t *ref = xalloc(farther + 3);
	char buf[8];
	off_t size;
	int fd;

	fd = TRY(open("f", O_CREAT | O_EXCL | O_RDWR, 0644));
	memcpy(ref + far, "TAIL!", 5);
	if (!write_at(fd, "TAIL!", 5, far, "write at 10 MiB + 3"))
		return false;
	size = far + 5;
	if (!check_size(fd, size, "sparse"))
		return false;
	EXPECT_EQ(lseek(fd, 0, SEEK_END), size);
	EXPECT_EQ(lseek(fd, -2, SEEK_END), size - 2);
	EXPECT_EQ(read(fd, buf, sizeof(buf)), 2);
	if (!same_bytes(buf, "L!", 2, size - 2, "read at SEEK_END - 2"))
		return false;
	EXPECT_EQ(read(fd, buf, sizeof(buf)), 0);
	EXPECT_EQ(lseek(fd, -5, SEEK_CUR), far);
	EXPECT_EQ(lseek(fd, 0, SEEK_CUR), far);
	EXPECT_ERR(lseek(fd, -1, SEEK_SET), EINVAL);
	EXPECT_ERR(lseek(fd, -size - 1, SEEK_END), EINVAL);
	if (!check_range(fd, 0, ref, size, "hole before the data"))
		return false;

	/* A byte in the middle of the hole. */
	ref[5 * MiB + 1] = 'M';
	if (!write_at(fd, "M", 1, 5 * MiB + 1, "write into the hole") ||
	    !check_range(fd, 0, ref, size, "after a write into the hole"))
		return false;

	/* Seek past EOF, then write(). */
	EXPECT_EQ(lseek(fd, farther, SEEK_SET), farther);
	EXPECT_EQ(read(fd, buf, sizeof(buf)), 0);
	if (!write_seq(fd, "END", 3, "write after lseek past EOF"))
		return false;
	memcpy(ref + farther, "END", 3);
	size = farther + 3;
	EXPECT_EQ(lseek(fd, 0, SEEK_END), size);
	if (!check_range(fd, 0, ref, size, "after write past EOF") ||
	    !drop_cache(fd) || !check_file("f", ref, size))
		return false;
	TRY(close(fd));
	TRY(unlink("f"));
	return true;
}

/* Mode 0 must work. FALLOC_FL_KEEP_SIZE and FALLOC_FL_PUNCH_HOLE are
 * checked when supported; EOPNOTSUPP for them is reported as a note and
 * passes (FUSE filesystems may not implement them). */
static bool check_fallocate(void)
{
	uint8_t *ref = xalloc(2 * MiB);
	off_t size = 100;
	int fd;

	fd = TRY(open("f", O_CREAT | O_EXCL | O_RDWR, 0644));
	pattern_fill(ref, 0, size, 1);
	if (!write_at(fd, ref, size, 0, "f"))
		return false;
	if (fallocate(fd, 0, 0, 3 * BLK + 5) < 0)
		return fail("fallocate(mode 0, 0, %ld): %s", 3 * BLK + 5,
			    errname(errno));
	size = 3 * BLK + 5;
	if (!check_size(fd, size, "fallocate mode 0") ||
	    !check_range(fd, 0, ref, size, "fallocate mode 0"))
		return false;
	TRY(fallocate(fd, 0, 50, 10));
	if (!check_size(fd, size, "fallocate inside") ||
	    !check_range(fd, 0, ref, size, "fallocate inside"))
		return false;
	TRY(fallocate(fd, 0, 20000, 100));
	size = 20100;
	if (!check_size(fd, size, "fallocate past EOF") ||
	    !check_range(fd, 0, ref, size, "fallocate past EOF"))
		return false;
	EXPECT_ERR(fallocate(fd, 0, 0, 0), EINVAL);

	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, size, MiB) < 0) {
		if (errno != EOPNOTSUPP)
			return fail("fallocate(KEEP_SIZE): %s", errname(errno));
		note("FALLOC_FL_KEEP_SIZE: EOPNOTSUPP (allowed)");
	} else {
		if (!check_size(fd, size, "FALLOC_FL_KEEP_SIZE") ||
		    !check_range(fd, 0, ref, size, "FALLOC_FL_KEEP_SIZE"))
			return false;
		TRY(ftruncate(fd, size + 2 * BLK));
		size += 2 * BLK;
		ref[25000] = 'K';
		if (!write_at(fd, "K", 1, 25000, "write in preallocated") ||
		    !check_size(fd, size, "after KEEP_SIZE and ftruncate") ||
		    !check_range(fd, 0, ref, size, "after KEEP_SIZE"))
			return false;
	}

	pattern_fill(ref, 0, 2 * BLK, 2);
	if (!write_at(fd, ref, 2 * BLK, 0, "refill"))
		return false;
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 10,
		      5000) < 0) {
		if (errno != EOPNOTSUPP)
			return fail("fallocate(PUNCH_HOLE): %s", errname(errno));
		note("FALLOC_FL_PUNCH_HOLE: EOPNOTSUPP (allowed)");
	} else {
		memset(ref + 10, 0, 5000);
		if (!check_size(fd, size, "FALLOC_FL_PUNCH_HOLE") ||
		    !check_range(fd, 0, ref, size, "FALLOC_FL_PUNCH_HOLE"))
			return false;
	}
	if (!drop_cache(fd) || !check_file("f", ref, size))
		return false;
	TRY(close(fd));
	TRY(unlink("f"));
	return true;
}

static bool check_fsync(void)
{
	int fd, dfd;

	fd = TRY(open("f", O_CREAT | O_RDWR, 0644));
	if (!write_seq(fd, "sync me", 7, "f"))
		return false;
	TRY(fsync(fd));
	if (!write_seq(fd, " again", 6, "f"))
		return false;
	TRY(fdatasync(fd));
	TRY(syncfs(fd));
	TRY(close(fd));
	fd = TRY(open("f", O_RDONLY));
	TRY(fsync(fd));
	TRY(fdatasync(fd));
	TRY(close(fd));

	dfd = TRY(open(".", O_RDONLY | O_DIRECTORY));
	TRY(fsync(dfd));
	TRY(fdatasync(dfd));
	TRY(close(dfd));
	TRY(mkdir("d", 0755));
	dfd = TRY(open("d", O_RDONLY | O_DIRECTORY));
	TRY(fsync(dfd));
	TRY(close(dfd));
	if (!check_file("f", "sync me again", 13))
		return false;
	TRY(rmdir("d"));
	TRY(unlink("f"));
	return true;
}

/* A shared writable mapping is coherent with pread/pwrite and with other
 * descriptors; it can be written in a part added by ftruncate. */
static bool check_mmap(void)
{
	const size_t maplen = 5 * BLK;
	uint8_t *ref = xalloc(maplen), *map, *priv;
	off_t size = 10000;
	bool ok = false;
	int fd;

	pattern_fill(ref, 0, size, 1);
	if (!write_file("f", ref, size))
		return false;
	fd = TRY(open("f", O_RDWR));
	map = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return fail("mmap(MAP_SHARED): %s", errname(errno));

	/* Beyond EOF up to the page end reads as zeros. */
	if (!same_bytes(map, ref, 3 * BLK, 0, "mapping after mmap"))
		goto out;

	memcpy(map + 4090, "MMAPWRITE", 9);
	memcpy(ref + 4090, "MMAPWRITE", 9);
	map[0] = ref[0] = 'M';
	map[9999] = ref[9999] = 'E';
	if (msync(map, 3 * BLK, MS_SYNC) < 0) {
		fail("msync: %s", errname(errno));
		goto out;
	}
	if (!check_range(fd, 0, ref, size, "pread after msync") ||
	    !check_file("f", ref, size))
		goto out;

	/* pwrite() is visible through the mapping. */
	memcpy(ref + 8190, "PWRITE", 6);
	if (!write_at(fd, "PWRITE", 6, 8190, "pwrite") ||
	    !same_bytes(map, ref, size, 0, "mapping after pwrite"))
		goto out;

	/* Grow the file under the mapping and write into the new part. */
	if (ftruncate(fd, 20000) < 0) {
		fail("ftruncate(20000): %s", errname(errno));
		goto out;
	}
	size = 20000;
	if (!same_bytes(map, ref, size, 0, "mapping after ftruncate up"))
		goto out;
	memset(map + 12000, 'N', 8000);
	memset(ref + 12000, 'N', 8000);
	map[10500] = ref[10500] = 'n';
	if (msync(map, maplen, MS_SYNC) < 0) {
		fail("msync: %s", errname(errno));
		goto out;
	}
	if (!check_size(fd, size, "after writing the mapping") ||
	    !check_range(fd, 0, ref, size, "pread of the grown part") ||
	    !check_file("f", ref, size))
		goto out;
	ok = true;
out:
	munmap(map, maplen);
	if (!ok)
		return false;
	if (!check_size(fd, size, "after munmap") || !drop_cache(fd) ||
	    !check_file("f", ref, size))
		return false;

	/* MAP_PRIVATE writes stay private. */
	priv = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (priv == MAP_FAILED)
		return fail("mmap(MAP_PRIVATE): %s", errname(errno));
	memset(priv, 'P', 100);
	munmap(priv, maplen);
	if (!check_file("f", ref, size))
		return false;
	TRY(close(fd));
	TRY(unlink("f"));
	return true;
}

/* 32 MiB written and read back sequentially in 128 KiB and 1 MiB chunks. */
static bool seq_pass(int fd, size_t wchunk, size_t rchunk, uint64_t salt)
{
	const off_t total = 32 * MiB;
	uint8_t *buf = xalloc(MiB), *want = xalloc(MiB);

	TRY(lseek(fd, 0, SEEK_SET));
	for (off_t off = 0; off < total; off += wchunk) {
		pattern_fill(buf, off, wchunk, salt);
		if (!write_seq(fd, buf, wchunk, "sequential write"))
			return false;
	}
	if (!check_size(fd, total, "after sequential write"))
		return false;
	TRY(lseek(fd, 0, SEEK_SET));
	for (off_t off = 0; off < total; off += rchunk) {
		ssize_t r = read(fd, buf, rchunk);

		if (r != (ssize_t)rchunk)
			return fail("read(%zu) at %lld: got %zd (%s)", rchunk,
				    (long long)off, r,
				    r < 0 ? errname(errno) : "short");
		pattern_fill(want, off, rchunk, salt);
		if (!same_bytes(buf, want, rchunk, off, "sequential read"))
			return false;
	}
	EXPECT_EQ(read(fd, buf, rchunk), 0);
	return true;
}

static bool check_large_seq(void)
{
	uint8_t *buf = xalloc(MiB), *want = xalloc(MiB);
	int fd, fd2;

	fd = TRY(open("f", O_CREAT | O_EXCL | O_RDWR, 0644));
	if (!seq_pass(fd, 128 * KiB, MiB, 1) ||
	    !seq_pass(fd, MiB, 128 * KiB, 2) || !drop_cache(fd))
		return false;
	fd2 = TRY(open("f", O_RDONLY));
	for (off_t off = 0; off < 32 * MiB; off += MiB) {
		ssize_t r = read(fd2, buf, MiB);

		if (r != MiB)
			return fail("read(1 MiB) at %lld after dropping the "
				    "cache: got %zd (%s)", (long long)off, r,
				    r < 0 ? errname(errno) : "short");
		pattern_fill(want, off, MiB, 2);
		if (!same_bytes(buf, want, MiB, off, "read from a new fd"))
			return false;
	}
	TRY(close(fd2));
	TRY(close(fd));
	TRY(unlink("f"));
	return true;
}

const struct fscheck fscheck_io_checks[] = {
	{ "create_rw", check_create_rw },
	{ "open_errors", check_open_errors },
	{ "o_append", check_o_append },
	{ "o_trunc", check_o_trunc },
	{ "o_excl", check_o_excl },
	{ "o_creat_mode", check_o_creat_mode },
	{ "pread_pwrite", check_pread_pwrite },
	{ "truncate", check_truncate },
	{ "sparse", check_sparse },
	{ "fallocate", check_fallocate },
	{ "fsync", check_fsync },
	{ "mmap", check_mmap },
	{ "large_seq", check_large_seq },
	{ NULL, NULL },
};
