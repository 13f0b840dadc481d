// SPDX-License-Identifier: Apache-2.0
/*
 * fscheck: metadata checks - chmod, chown, timestamps, statfs, FIFOs and
 * user.* extended attributes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fscheck.h"

static bool mode_is(const char *path, mode_t want)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return fail("stat(%s): %s", esc(path), errname(errno));
	if ((st.st_mode & 07777) != want)
		return fail("mode of %s: expected 0%o, got 0%o", esc(path), want,
			    st.st_mode & 07777);
	return true;
}

static bool check_chmod(void)
{
	static const mode_t modes[] = { 0600, 0644, 0755, 0000, 0777, 0400,
					04755, 02755, 06711, 01644, 0640 };
	static const mode_t dir_modes[] = { 01777, 0700, 02775, 0755 };
	int fd;

	if (!write_file("f", "x", 1))
		return false;
	fd = TRY(open("f", O_RDONLY));
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (i % 2)
			TRY(fchmod(fd, modes[i]));
		else
			TRY(chmod("f", modes[i]));
		if (!mode_is("f", modes[i]))
			return false;
	}
	TRY(close(fd));
	TRY(mkdir("d", 0755));
	for (size_t i = 0; i < sizeof(dir_modes) / sizeof(dir_modes[0]); i++) {
		TRY(chmod("d", dir_modes[i]));
		if (!mode_is("d", dir_modes[i]))
			return false;
	}
	/* chmod follows symlinks. */
	TRY(symlink("f", "l"));
	TRY(chmod("l", 0604));
	if (!mode_is("f", 0604))
		return false;
	EXPECT_ERR(chmod("missing", 0644), ENOENT);
	TRY(unlink("l"));
	TRY(unlink("f"));
	TRY(rmdir("d"));
	return true;
}

static bool owner_is(const char *path, bool follow, uid_t uid, gid_t gid)
{
	struct stat st;

	if ((follow ? stat(path, &st) : lstat(path, &st)) < 0)
		return fail("stat(%s): %s", esc(path), errname(errno));
	if (st.st_uid != uid || st.st_gid != gid)
		return fail("owner of %s: expected %u:%u, got %u:%u", esc(path),
			    uid, gid, st.st_uid, st.st_gid);
	return true;
}

static bool check_chown(void)
{
	struct stat st;
	int fd;

	if (!write_file("f", "x", 1))
		return false;
	TRY(stat("f", &st));
	TRY(chown("f", st.st_uid, st.st_gid));
	TRY(chown("f", -1, -1));
	if (!owner_is("f", true, st.st_uid, st.st_gid))
		return false;
	if (geteuid() != 0) {
		TRY(unlink("f"));
		note("not root: chown to another owner not checked");
		return true;
	}

	TRY(chown("f", 12345, 23456));
	if (!owner_is("f", true, 12345, 23456))
		return false;
	fd = TRY(open("f", O_RDONLY));
	TRY(fchown(fd, 23456, -1));
	if (!owner_is("f", true, 23456, 23456))
		return false;
	TRY(fchown(fd, -1, 12345));
	if (!owner_is("f", true, 23456, 12345))
		return false;
	TRY(close(fd));

	/* lchown changes the link, not the target. */
	TRY(symlink("f", "l"));
	TRY(lchown("l", 111, 222));
	if (!owner_is("l", false, 111, 222) ||
	    !owner_is("f", true, 23456, 12345))
		return false;

	/* A change of owner clears set-user-ID and set-group-ID (with group
	 * execute) on a regular file, even when root does it. */
	TRY(chmod("f", 06755));
	TRY(chown("f", 0, 0));
	if (!mode_is("f", 0755) || !owner_is("f", true, 0, 0))
		return false;
	/* But not on a directory. */
	TRY(mkdir("d", 0755));
	TRY(chmod("d", 02755));
	TRY(chown("d", 12345, 12345));
	if (!mode_is("d", 02755))
		return false;
	TRY(rmdir("d"));
	TRY(unlink("l"));
	TRY(unlink("f"));
	return true;
}

/* A new object in a set-group-ID directory takes the directory's group,
 * whoever creates it; a new directory keeps the bit. */
static bool check_setgid_dir(void)
{
	struct stat st;
	gid_t g;
	int fd;

	if (geteuid() != 0) {
		note("not root: set-group-ID inheritance not checked");
		return true;
	}
	TRY(mkdir("d", 0755));
	g = getegid() == 23456 ? 23457 : 23456;
	TRY(chown("d", (uid_t)-1, g));
	TRY(chmod("d", 02775));
	fd = TRY(open("d/f", O_CREAT | O_EXCL | O_WRONLY, 0644));
	TRY(close(fd));
	TRY(mkdir("d/sub", 0755));
	TRY(symlink("f", "d/l"));
	TRY(mkfifo("d/p", 0644));
	if (!owner_is("d/f", true, geteuid(), g) ||
	    !owner_is("d/sub", true, geteuid(), g) ||
	    !owner_is("d/l", false, geteuid(), g) ||
	    !owner_is("d/p", false, geteuid(), g))
		return false;
	TRY(stat("d/sub", &st));
	if (!(st.st_mode & S_ISGID))
		return fail("d/sub: no set-group-ID bit from its parent");
	/* Outside it, the creator's group. */
	fd = TRY(open("f", O_CREAT | O_EXCL | O_WRONLY, 0644));
	TRY(close(fd));
	if (!owner_is("f", true, geteuid(), getegid()))
		return false;
	TRY(unlink("f"));
	TRY(unlink("d/p"));
	TRY(unlink("d/l"));
	TRY(rmdir("d/sub"));
	TRY(unlink("d/f"));
	TRY(rmdir("d"));
	return true;
}

static long long ns_of(struct timespec ts)
{
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static bool time_is(const char *what, struct timespec got, long long want)
{
	if (ns_of(got) != want)
		return fail("%s: expected %lld.%09lld, got %lld.%09ld", what,
			    want / 1000000000, want % 1000000000,
			    (long long)got.tv_sec, got.tv_nsec);
	return true;
}

/* The kernel stamps "now" from a coarse clock and a FUSE daemon from its
 * own, so "now" means within a second of the interval around the call. */
static bool time_near(const char *what, struct timespec got, long long lo,
		      long long hi)
{
	long long t = ns_of(got);

	if (t < lo - 1000000000LL || t > hi + 1000000000LL)
		return fail("%s: expected about %lld.%09lld, got %lld.%09ld",
			    what, lo / 1000000000, lo % 1000000000,
			    (long long)got.tv_sec, got.tv_nsec);
	return true;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ns_of(ts);
}

static bool check_utimens(void)
{
	const long long t1 = 1000000000LL * 1000000000 + 123456789;
	const long long t2 = 1200000000LL * 1000000000 + 987654321;
	const long long t3 = 1300000000LL * 1000000000 + 1;
	struct timespec ts[2] = { { 1000000000, 123456789 },
				  { 1200000000, 987654321 } };
	struct stat st;
	long long lo, hi;
	int fd;

	if (!write_file("f", "x", 1))
		return false;
	TRY(utimensat(AT_FDCWD, "f", ts, 0));
	TRY(stat("f", &st));
	if (!time_is("atime", st.st_atim, t1) ||
	    !time_is("mtime", st.st_mtim, t2))
		return false;

	ts[0].tv_nsec = UTIME_OMIT;
	ts[1] = (struct timespec){ 1300000000, 1 };
	TRY(utimensat(AT_FDCWD, "f", ts, 0));
	TRY(stat("f", &st));
	if (!time_is("atime after UTIME_OMIT", st.st_atim, t1) ||
	    !time_is("mtime", st.st_mtim, t3))
		return false;

	ts[1].tv_nsec = UTIME_NOW;
	lo = now_ns();
	TRY(utimensat(AT_FDCWD, "f", ts, 0));
	hi = now_ns();
	TRY(stat("f", &st));
	if (!time_is("atime after UTIME_OMIT", st.st_atim, t1) ||
	    !time_near("mtime after UTIME_NOW", st.st_mtim, lo, hi))
		return false;

	fd = TRY(open("f", O_RDWR));
	lo = now_ns();
	TRY(futimens(fd, NULL));
	hi = now_ns();
	TRY(fstat(fd, &st));
	if (!time_near("atime after futimens(NULL)", st.st_atim, lo, hi) ||
	    !time_near("mtime after futimens(NULL)", st.st_mtim, lo, hi))
		return false;

	/* write() and ftruncate() move mtime. */
	ts[0] = ts[1] = (struct timespec){ 1000000000, 5 };
	TRY(futimens(fd, ts));
	lo = now_ns();
	if (!write_at(fd, "y", 1, 0, "f"))
		return false;
	hi = now_ns();
	TRY(fstat(fd, &st));
	if (!time_near("mtime after write", st.st_mtim, lo, hi))
		return false;
	TRY(futimens(fd, ts));
	lo = now_ns();
	TRY(ftruncate(fd, 5000));
	hi = now_ns();
	TRY(fstat(fd, &st));
	if (!time_near("mtime after ftruncate", st.st_mtim, lo, hi))
		return false;
	TRY(close(fd));

	/* Nanoseconds survive a fresh lookup. */
	ts[0] = (struct timespec){ 1234567890, 999999999 };
	ts[1] = (struct timespec){ 1234567891, 1 };
	TRY(utimensat(AT_FDCWD, "f", ts, 0));
	TRY(stat("f", &st));
	if (!time_is("atime", st.st_atim, ns_of(ts[0])) ||
	    !time_is("mtime", st.st_mtim, ns_of(ts[1])))
		return false;

	/* AT_SYMLINK_NOFOLLOW sets the link's own times. */
	TRY(symlink("f", "l"));
	ts[0] = ts[1] = (struct timespec){ 1100000000, 42 };
	TRY(utimensat(AT_FDCWD, "l", ts, AT_SYMLINK_NOFOLLOW));
	TRY(lstat("l", &st));
	if (!time_is("symlink mtime", st.st_mtim, ns_of(ts[1])))
		return false;
	TRY(stat("f", &st));
	if (!time_is("target mtime after lutimes", st.st_mtim,
		     1234567891LL * 1000000000 + 1))
		return false;

	/* Creating an entry moves the directory's mtime. */
	TRY(mkdir("d", 0755));
	TRY(utimensat(AT_FDCWD, "d", ts, 0));
	lo = now_ns();
	if (!write_file("d/new", "", 0))
		return false;
	hi = now_ns();
	TRY(stat("d", &st));
	if (!time_near("directory mtime after create", st.st_mtim, lo, hi))
		return false;
	TRY(utimensat(AT_FDCWD, "d", ts, 0));
	lo = now_ns();
	TRY(unlink("d/new"));
	hi = now_ns();
	TRY(stat("d", &st));
	if (!time_near("directory mtime after unlink", st.st_mtim, lo, hi))
		return false;
	TRY(rmdir("d"));
	TRY(unlink("l"));
	TRY(unlink("f"));
	return true;
}

static bool check_statfs(void)
{
	struct statvfs sv, fsv;
	struct statfs sf;
	int fd;

	if (!write_file("f", "x", 1))
		return false;
	TRY(statvfs(".", &sv));
	TRY(statvfs("f", &fsv));
	TRY(statfs(".", &sf));
	fd = TRY(open("f", O_RDONLY));
	TRY(fstatvfs(fd, &fsv));
	TRY(close(fd));
	note("f_bsize %lu, f_frsize %lu, f_blocks %llu, f_bfree %llu, "
	     "f_bavail %llu, f_files %llu, f_ffree %llu, f_namemax %lu",
	     sv.f_bsize, sv.f_frsize, (unsigned long long)sv.f_blocks,
	     (unsigned long long)sv.f_bfree, (unsigned long long)sv.f_bavail,
	     (unsigned long long)sv.f_files, (unsigned long long)sv.f_ffree,
	     sv.f_namemax);
	EXPECT(sv.f_bsize > 0);
	EXPECT(sv.f_frsize > 0);
	EXPECT(sf.f_bsize > 0);
	EXPECT(sv.f_bfree <= sv.f_blocks);
	EXPECT(sv.f_bavail <= sv.f_bfree);
	EXPECT(sv.f_files == 0 || sv.f_ffree <= sv.f_files);
	EXPECT(sv.f_namemax > 0);
	EXPECT_EQ(fsv.f_bsize, sv.f_bsize);
	EXPECT_EQ(fsv.f_fsid, sv.f_fsid);
	TRY(unlink("f"));
	return true;
}

static bool check_fifo(void)
{
	struct stat st;
	char buf[16];
	int r, w;

	TRY(mkfifo("p", 0640));
	TRY(stat("p", &st));
	EXPECT(S_ISFIFO(st.st_mode));
	EXPECT_EQ(st.st_mode & 07777, 0640);
	EXPECT_ERR(mkfifo("p", 0640), EEXIST);

	r = TRY(open("p", O_RDONLY | O_NONBLOCK));
	EXPECT_EQ(read(r, buf, sizeof(buf)), 0); /* no writer yet: EOF */
	w = TRY(open("p", O_WRONLY | O_NONBLOCK));
	EXPECT_EQ(write(w, "fifo!", 5), 5);
	EXPECT_EQ(read(r, buf, sizeof(buf)), 5);
	if (!same_bytes(buf, "fifo!", 5, 0, "read from FIFO"))
		return false;
	EXPECT_ERR(read(r, buf, sizeof(buf)), EAGAIN);
	TRY(close(w));
	EXPECT_EQ(read(r, buf, sizeof(buf)), 0);
	TRY(close(r));
	/* No reader: a non-blocking writer gets ENXIO. */
	EXPECT_ERR(open("p", O_WRONLY | O_NONBLOCK), ENXIO);
	TRY(fstatat(AT_FDCWD, "p", &st, 0));
	EXPECT_EQ(st.st_size, 0);

	TRY(mknod("p2", S_IFIFO | 0600, 0));
	TRY(lstat("p2", &st));
	EXPECT(S_ISFIFO(st.st_mode));
	EXPECT_EQ(st.st_mode & 07777, 0600);
	TRY(mknod("r", S_IFREG | 0604, 0));
	TRY(lstat("r", &st));
	EXPECT(S_ISREG(st.st_mode));
	EXPECT_EQ(st.st_mode & 07777, 0604);
	EXPECT_EQ(st.st_size, 0);
	if (!check_listing(".", (const char *const[]){ "p", "p2", "r", NULL }))
		return false;
	TRY(rename("p", "p3"));
	TRY(lstat("p3", &st));
	EXPECT(S_ISFIFO(st.st_mode));
	TRY(unlink("p3"));
	TRY(unlink("p2"));
	TRY(unlink("r"));
	return true;
}

/* The user.* names in path's xattr list must be exactly want (NULL-ended). */
static bool xattr_list_is(const char *path, const char *const *want)
{
	ssize_t size = listxattr(path, NULL, 0), got;
	size_t nwant = 0, nfound = 0;
	char *buf, small[1];

	if (size < 0)
		return fail("listxattr(%s, size 0): %s", esc(path),
			    errname(errno));
	buf = xalloc(size + 1);
	got = listxattr(path, buf, size);
	if (got < 0)
		return fail("listxattr(%s): %s", esc(path), errname(errno));
	if (got != size)
		return fail("listxattr(%s): size query said %zd, list is %zd",
			    esc(path), size, got);
	if (size > 1) {
		errno = 0;
		if (listxattr(path, small, sizeof(small)) >= 0 || errno != ERANGE)
			return fail("listxattr(%s) into 1 byte: expected ERANGE, "
				    "got %s", esc(path),
				    errno ? errname(errno) : "success");
	}
	while (want[nwant])
		nwant++;
	for (char *p = buf; p < buf + got; p += strlen(p) + 1) {
		size_t i;

		if (strncmp(p, "user.", 5))
			continue;
		for (i = 0; i < nwant && strcmp(p, want[i]); i++)
			;
		if (i == nwant)
			return fail("listxattr(%s): unexpected %s", esc(path),
				    esc(p));
		nfound++;
	}
	if (nfound != nwant)
		return fail("listxattr(%s): %zu user.* names, expected %zu",
			    esc(path), nfound, nwant);
	return true;
}

static bool xattr_is(const char *path, const char *name, const void *want,
		     size_t len)
{
	char *buf = xalloc(len + 64);
	ssize_t n = getxattr(path, name, NULL, 0);

	if (n < 0)
		return fail("getxattr(%s, %s, size 0): %s", esc(path), name,
			    errname(errno));
	if ((size_t)n != len)
		return fail("getxattr(%s, %s) size query: expected %zu, got %zd",
			    esc(path), name, len, n);
	n = getxattr(path, name, buf, len + 64);
	if (n < 0)
		return fail("getxattr(%s, %s): %s", esc(path), name,
			    errname(errno));
	if ((size_t)n != len)
		return fail("getxattr(%s, %s): expected %zu bytes, got %zd",
			    esc(path), name, len, n);
	if (len > 1) {
		errno = 0;
		if (getxattr(path, name, buf, len - 1) >= 0 || errno != ERANGE)
			return fail("getxattr(%s, %s) into %zu bytes: expected "
				    "ERANGE, got %s", esc(path), name, len - 1,
				    errno ? errname(errno) : "success");
	}
	return same_bytes(buf, want, len, 0, name);
}

static bool xattr_checks(const char *path)
{
	size_t bn = (size_t)fs_xattr_big;
	char *big = xalloc(bn), buf[64];
	ssize_t n;
	int fd;

	if (setxattr(path, "user.empty", "", 0, 0) < 0) {
		if (errno == ENOTSUP)
			return skip("user.* xattrs not supported (ENOTSUP) "
				    "on %s", esc(path));
		return fail("setxattr(%s, user.empty, 0 bytes): %s", esc(path),
			    errname(errno));
	}
	pattern_fill(big, 0, bn, 1);
	big[1] = '\0'; /* values are binary */
	TRY(setxattr(path, "user.big", big, bn, 0));
	TRY(setxattr(path, "user.one", "x", 1, 0));
	if (!xattr_is(path, "user.empty", "", 0) ||
	    !xattr_is(path, "user.one", "x", 1) ||
	    !xattr_is(path, "user.big", big, bn) ||
	    !xattr_list_is(path, (const char *const[]){ "user.empty",
							"user.one", "user.big",
							NULL }))
		return false;
	n = getxattr(path, "user.big", buf, 1);
	if (n >= 0 || errno != ERANGE)
		return fail("getxattr(user.big) into 1 byte: expected ERANGE, "
			    "got %s", n >= 0 ? "success" : errname(errno));

	EXPECT_ERR(setxattr(path, "user.one", "y", 1, XATTR_CREATE), EEXIST);
	EXPECT_ERR(setxattr(path, "user.missing", "y", 1, XATTR_REPLACE),
		   ENODATA);
	EXPECT_ERR(getxattr(path, "user.missing", buf, sizeof(buf)), ENODATA);
	EXPECT_ERR(getxattr(path, "user.missing", NULL, 0), ENODATA);
	TRY(setxattr(path, "user.big", "y", 1, XATTR_REPLACE));
	TRY(setxattr(path, "user.new", "new value", 9, XATTR_CREATE));
	TRY(setxattr(path, "user.one", "", 0, 0));
	if (!xattr_is(path, "user.big", "y", 1) ||
	    !xattr_is(path, "user.new", "new value", 9) ||
	    !xattr_is(path, "user.one", "", 0))
		return false;
	TRY(removexattr(path, "user.one"));
	EXPECT_ERR(getxattr(path, "user.one", buf, sizeof(buf)), ENODATA);
	EXPECT_ERR(removexattr(path, "user.one"), ENODATA);

	/* Through a descriptor. */
	fd = TRY(open(path, O_RDONLY));
	TRY(fsetxattr(fd, "user.fd", "via fd", 6, 0));
	EXPECT_EQ(fgetxattr(fd, "user.fd", buf, sizeof(buf)), 6);
	if (!same_bytes(buf, "via fd", 6, 0, "fgetxattr"))
		return false;
	n = flistxattr(fd, NULL, 0);
	EXPECT_EQ(n, listxattr(path, NULL, 0));
	TRY(close(fd));
	if (!xattr_is(path, "user.fd", "via fd", 6) ||
	    !xattr_list_is(path, (const char *const[]){ "user.empty",
							"user.big", "user.new",
							"user.fd", NULL }))
		return false;

	/* Attributes follow a rename. */
	TRY(rename(path, "renamed"));
	if (!xattr_is("renamed", "user.new", "new value", 9))
		return false;
	TRY(rename("renamed", path));

	static const char *const names[] = { "user.empty", "user.big",
					     "user.new", "user.fd" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		TRY(removexattr(path, names[i]));
	return xattr_list_is(path, (const char *const[]){ NULL });
}

static bool check_xattr_file(void)
{
	if (!write_file("f", "x", 1) || !xattr_checks("f"))
		return false;
	TRY(unlink("f"));
	return true;
}

static bool check_xattr_dir(void)
{
	TRY(mkdir("d", 0755));
	if (!xattr_checks("d"))
		return false;
	TRY(rmdir("d"));
	return true;
}

const struct fscheck fscheck_meta_checks[] = {
	{ "chmod", check_chmod },
	{ "chown", check_chown },
	{ "setgid_dir", check_setgid_dir },
	{ "utimens", check_utimens },
	{ "statfs", check_statfs },
	{ "fifo", check_fifo },
	{ "xattr_file", check_xattr_file },
	{ "xattr_dir", check_xattr_dir },
	{ NULL, NULL },
};
