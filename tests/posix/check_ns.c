// SPDX-License-Identifier: Apache-2.0
/*
 * fscheck: namespace checks - unlink, mkdir/rmdir, readdir, odd and long
 * names, rename and renameat2, hard links, symlinks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fscheck.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static int rename2(const char *from, const char *to, unsigned int flags)
{
	return syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, flags);
}

static ino_t ino_of(const char *path)
{
	struct stat st;

	return lstat(path, &st) < 0 ? 0 : st.st_ino;
}

static nlink_t nlink_of(const char *path)
{
	struct stat st;

	return lstat(path, &st) < 0 ? 0 : st.st_nlink;
}

/* A name of exactly len bytes, distinct per (len, tag). */
static char *name_of_len(size_t len, char tag)
{
	char *s = xalloc(len + 1);
	int n = snprintf(s, len + 1, "%c%zu-", tag, len);

	for (size_t i = n; i < len; i++)
		s[i] = 'a' + i % 26;
	return s;
}

static bool check_unlink_open(void)
{
	uint8_t *data = xalloc(5000);
	struct stat st;
	char buf[8];
	int fd;

	pattern_fill(data, 0, 5000, 1);
	if (!write_file("f", data, 5000))
		return false;
	fd = TRY(open("f", O_RDWR));
	TRY(unlink("f"));
	EXPECT_ERR(stat("f", &st), ENOENT);
	EXPECT_ERR(open("f", O_RDONLY), ENOENT);
	if (!check_listing(".", (const char *const[]){ NULL }))
		return false;
	/* The open descriptor still has the file. */
	TRY(fstat(fd, &st));
	EXPECT_EQ(st.st_nlink, 0);
	EXPECT_EQ(st.st_size, 5000);
	if (!check_range(fd, 0, data, 5000, "read after unlink") ||
	    !write_at(fd, "more", 4, 5000, "write after unlink") ||
	    !check_range(fd, 5000, "more", 4, "read back after unlink"))
		return false;
	/* A new file of the same name is a different file. */
	if (!write_file("f", "new", 3) || !check_file("f", "new", 3) ||
	    !check_range(fd, 0, data, 5000, "old fd after re-create"))
		return false;
	EXPECT_EQ(pread(fd, buf, sizeof(buf), 5004), 0);
	TRY(close(fd));
	if (!check_file("f", "new", 3))
		return false;
	TRY(unlink("f"));

	EXPECT_ERR(unlink("f"), ENOENT);
	EXPECT_ERR(unlink("missing/f"), ENOENT);
	TRY(mkdir("d", 0755));
	EXPECT_ERR(unlink("d"), EISDIR);
	TRY(rmdir("d"));
	return true;
}

/*
 * Directory link counts: ext4 gives a new directory 2 links and adds one
 * to its parent. A filesystem that reports 1 for directories (btrfs-like,
 * "count unknown", understood by find and fts) is accepted with a note;
 * any other value fails.
 */
static bool dir_nlink_ok(const char *dir, nlink_t want, bool *unknown)
{
	nlink_t got = nlink_of(dir);

	if (got == want)
		return true;
	if (got == 1) {
		*unknown = true;
		return true;
	}
	return fail("st_nlink of directory %s: expected %lu, got %lu",
		    esc(dir), (unsigned long)want, (unsigned long)got);
}

static bool check_mkdir_rmdir(void)
{
	bool unknown = false;
	nlink_t parent = nlink_of(".");
	struct stat st;

	TRY(mkdir("d", 0755));
	TRY(stat("d", &st));
	EXPECT(S_ISDIR(st.st_mode));
	if (!dir_nlink_ok("d", 2, &unknown) ||
	    !dir_nlink_ok(".", parent + 1, &unknown))
		return false;
	EXPECT_ERR(mkdir("d", 0755), EEXIST);
	if (!write_file("f", "x", 1))
		return false;
	EXPECT_ERR(mkdir("f", 0755), EEXIST);
	EXPECT_ERR(mkdir("missing/d", 0755), ENOENT);
	EXPECT_ERR(mkdir("f/d", 0755), ENOTDIR);

	TRY(mkdir("d/sub", 0755));
	if (!dir_nlink_ok("d", 3, &unknown))
		return false;
	if (!write_file("d/file", "y", 1))
		return false;
	EXPECT_ERR(rmdir("d"), ENOTEMPTY);
	TRY(rmdir("d/sub"));
	if (!dir_nlink_ok("d", 2, &unknown))
		return false;
	EXPECT_ERR(rmdir("d"), ENOTEMPTY);
	TRY(unlink("d/file"));
	EXPECT_ERR(rmdir("d/."), EINVAL);
	TRY(rmdir("d"));
	if (!dir_nlink_ok(".", parent, &unknown))
		return false;
	EXPECT_ERR(rmdir("d"), ENOENT);
	EXPECT_ERR(stat("d", &st), ENOENT);
	EXPECT_ERR(rmdir("f"), ENOTDIR);
	EXPECT_ERR(rmdir("missing"), ENOENT);
	TRY(unlink("f"));
	if (unknown)
		note("directories report st_nlink 1 (accepted; ext4 counts "
		     "subdirectories)");
	return true;
}

static bool check_readdir(void)
{
	int fd;

	if (!check_listing(".", (const char *const[]){ NULL }))
		return false;
	if (!write_file("a", "a", 1) || !write_file("b", "b", 1))
		return false;
	TRY(mkdir("c", 0755));
	TRY(symlink("a", "d"));
	TRY(mkfifo("p", 0644));
	if (!check_listing(".", (const char *const[]){ "a", "b", "c", "d", "p",
						       NULL }) ||
	    !check_listing("c", (const char *const[]){ NULL }))
		return false;

	TRY(unlink("a"));
	TRY(unlink("p"));
	TRY(rename("b", "e"));
	TRY(rename("c", "f"));
	if (!check_listing(".", (const char *const[]){ "d", "e", "f", NULL }))
		return false;
	fd = TRY(open("f/x", O_CREAT | O_WRONLY, 0644));
	TRY(close(fd));
	if (!check_listing("f", (const char *const[]){ "x", NULL }))
		return false;
	TRY(rename("f/x", "y"));
	if (!check_listing(".", (const char *const[]){ "d", "e", "f", "y",
						       NULL }) ||
	    !check_listing("f", (const char *const[]){ NULL }))
		return false;
	TRY(rename("e", "f/e"));
	if (!check_listing(".", (const char *const[]){ "d", "f", "y", NULL }) ||
	    !check_listing("f", (const char *const[]){ "e", NULL }))
		return false;
	TRY(unlink("f/e"));
	TRY(rmdir("f"));
	TRY(unlink("d"));
	TRY(unlink("y"));
	return check_listing(".", (const char *const[]){ NULL });
}

/* readdir over a directory; counts how often each large-NNNNN name is seen
 * and optionally unlinks every entry right after it is returned. */
enum { LARGE_N = 10000 };

static const char *large_name(int i)
{
	static char buf[128];
	int n = snprintf(buf, sizeof(buf), "large-%05d-", i);

	memset(buf + n, 'x', i % 64);
	buf[n + i % 64] = '\0';
	return buf;
}

static bool scan_large(int *seen, bool unlink_each)
{
	struct dirent *de;
	int dots = 0;
	DIR *d;

	memset(seen, 0, LARGE_N * sizeof(*seen));
	d = opendir(".");
	if (!d)
		return fail("opendir: %s", errname(errno));
	errno = 0;
	while ((de = readdir(d))) {
		int i;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) {
			dots++;
			continue;
		}
		if (sscanf(de->d_name, "large-%5d-", &i) != 1 || i < 0 ||
		    i >= LARGE_N || strcmp(de->d_name, large_name(i))) {
			closedir(d);
			return fail("readdir: unexpected entry %s",
				    esc(de->d_name));
		}
		if (seen[i]++) {
			closedir(d);
			return fail("readdir: %s listed twice",
				    esc(de->d_name));
		}
		if (unlink_each && unlink(de->d_name) < 0) {
			int err = errno;

			closedir(d);
			return fail("unlink(%s) while reading the directory: "
				    "%s", esc(de->d_name), errname(err));
		}
		errno = 0;
	}
	if (errno) {
		int err = errno;

		closedir(d);
		return fail("readdir: %s", errname(err));
	}
	closedir(d);
	if (dots != 2)
		return fail("readdir: \".\" and \"..\" seen %d times, expected 2",
			    dots);
	return true;
}

static bool expect_seen(const int *seen, int parity, const char *what)
{
	for (int i = 0; i < LARGE_N; i++) {
		int want = parity < 0 || i % 2 == parity;

		if (seen[i] != want)
			return fail("%s: %s %s", what, esc(large_name(i)),
				    want ? "missing" : "listed but removed");
	}
	return true;
}

static bool check_readdir_large(void)
{
	int *seen = xalloc(LARGE_N * sizeof(*seen));

	for (int i = 0; i < LARGE_N; i++) {
		int fd = open(large_name(i), O_CREAT | O_EXCL | O_WRONLY, 0644);

		if (fd < 0)
			return fail("creating entry %d (%s): %s", i,
				    esc(large_name(i)), errname(errno));
		close(fd);
	}
	if (!scan_large(seen, false) ||
	    !expect_seen(seen, -1, "10000 entries"))
		return false;
	for (int i = 0; i < LARGE_N; i += 2)
		TRY(unlink(large_name(i)));
	if (!scan_large(seen, false) ||
	    !expect_seen(seen, 1, "after unlinking every other entry"))
		return false;
	/* rm -rf style: unlink each entry as readdir returns it. Entries
	 * not yet returned must still all be returned. */
	if (!scan_large(seen, true) ||
	    !expect_seen(seen, 1, "unlinking while reading"))
		return false;
	return check_listing(".", (const char *const[]){ NULL });
}

/* Names that stress encoding: lengths around 175 (where some encrypted
 * filesystems switch to long-name storage), 254/255, UTF-8, control and
 * non-UTF-8 bytes. */
static bool check_names(void)
{
	static const char *const odd[] = {
		"x", "\xc3\xa9\xe6\xbc\xa2\xe5\xad\x97\xf0\x9f\x99\x82",
		"with space", " leading space", "trailing space ", "new\nline",
		"ctl\x01" "byte", "tab\there", "\x7f", "high\xff\xfe" "bytes",
		"\xff", "back\\slash", "quote\"'", "*?[]<>|:", ".hidden", "...",
		"-dash", "#hash%percent", "Abc", "abc", "ABC", "a.b.c.d",
	};
	const size_t nodd = sizeof(odd) / sizeof(odd[0]);
	static const size_t lens[] = { 175, 176, 177, 178, 179, 180, 254, 255 };
	const size_t nlens = sizeof(lens) / sizeof(lens[0]);
	const char **all = xalloc((nodd + nlens + 4) * sizeof(*all));
	char *emoji = xalloc(256), *highs = xalloc(256), *longdir, *inner;
	char *toolong = name_of_len(256, 'T');
	size_t n = 0;
	struct stat st;

	for (size_t i = 0; i < nodd; i++)
		all[n++] = odd[i];
	for (size_t i = 0; i < nlens; i++)
		all[n++] = name_of_len(lens[i], 'L');
	for (int i = 0; i < 63; i++) /* 63 x 4-byte emoji + 3 = 255 bytes */
		memcpy(emoji + 4 * i, "\xf0\x9f\x99\x82", 4);
	memcpy(emoji + 252, "end", 3);
	all[n++] = emoji;
	memset(highs, 0xff, 255);
	all[n++] = highs;
	all[n] = NULL;

	for (size_t i = 0; i < n; i++) {
		if (!write_file(all[i], all[i], strlen(all[i])))
			return false;
		if (lstat(all[i], &st) < 0)
			return fail("lstat(%s): %s", esc(all[i]),
				    errname(errno));
		if (!S_ISREG(st.st_mode) || st.st_size != (off_t)strlen(all[i]))
			return fail("lstat(%s): mode 0%o size %lld",
				    esc(all[i]), st.st_mode,
				    (long long)st.st_size);
	}
	if (!check_listing(".", all))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!check_file(all[i], all[i], strlen(all[i])))
			return false;

	/* A 255-byte directory holding a 255-byte file. */
	longdir = name_of_len(255, 'D');
	inner = xsprintf("%s/%s", longdir, name_of_len(255, 'I'));
	TRY(mkdir(longdir, 0755));
	if (!write_file(inner, "inner", 5) || !check_file(inner, "inner", 5))
		return false;
	TRY(unlink(inner));
	TRY(rmdir(longdir));

	/* 256 bytes is too long, for every operation. */
	EXPECT_ERR(open(toolong, O_CREAT | O_WRONLY, 0644), ENAMETOOLONG);
	EXPECT_ERR(open(toolong, O_RDONLY), ENAMETOOLONG);
	EXPECT_ERR(stat(toolong, &st), ENAMETOOLONG);
	EXPECT_ERR(mkdir(toolong, 0755), ENAMETOOLONG);
	EXPECT_ERR(symlink("x", toolong), ENAMETOOLONG);
	EXPECT_ERR(link("x", toolong), ENAMETOOLONG);
	EXPECT_ERR(rename("x", toolong), ENAMETOOLONG);
	EXPECT_ERR(mkfifo(toolong, 0644), ENAMETOOLONG);
	if (!check_file("x", "x", 1))
		return false;

	for (size_t i = 0; i < n; i++)
		if (unlink(all[i]) < 0)
			return fail("unlink(%s): %s", esc(all[i]),
				    errname(errno));
	return check_listing(".", (const char *const[]){ NULL });
}

static bool check_rename_file(void)
{
	ino_t ino;
	int fd;

	if (!write_file("a", "AAAA", 4) || !write_file("b", "BBBBBB", 6) ||
	    !write_file("c", "CC", 2))
		return false;
	ino = ino_of("a");
	TRY(rename("a", "n"));
	EXPECT_ERR(access("a", F_OK), ENOENT);
	EXPECT_EQ(ino_of("n"), ino);
	if (!check_file("n", "AAAA", 4))
		return false;

	/* Over an existing file: its content is gone, the source inode
	 * stays, and a descriptor open on the old target keeps it. */
	fd = TRY(open("c", O_RDONLY));
	ino = ino_of("b");
	TRY(rename("b", "c"));
	EXPECT_ERR(access("b", F_OK), ENOENT);
	EXPECT_EQ(ino_of("c"), ino);
	if (!check_file("c", "BBBBBB", 6) ||
	    !check_range(fd, 0, "CC", 2, "fd open on the replaced file") ||
	    !check_listing(".", (const char *const[]){ "c", "n", NULL }))
		return false;
	TRY(close(fd));

	TRY(rename("n", "n"));
	if (!check_file("n", "AAAA", 4))
		return false;
	EXPECT_ERR(rename("missing", "x"), ENOENT);
	EXPECT_ERR(rename("n", "missing/x"), ENOENT);

	TRY(mkdir("d", 0755));
	TRY(mkdir("e", 0755));
	EXPECT_ERR(rename("c", "d"), EISDIR);
	EXPECT_ERR(rename("e", "c"), ENOTDIR);
	if (!check_file("c", "BBBBBB", 6) ||
	    !check_listing("d", (const char *const[]){ NULL }))
		return false;

	/* Across directories and back. */
	ino = ino_of("n");
	TRY(rename("n", "d/moved"));
	EXPECT_EQ(ino_of("d/moved"), ino);
	if (!check_file("d/moved", "AAAA", 4) ||
	    !check_listing("d", (const char *const[]){ "moved", NULL }))
		return false;
	TRY(rename("d/moved", "e/again"));
	TRY(rename("e/again", "back"));
	if (!check_file("back", "AAAA", 4) ||
	    !check_listing("d", (const char *const[]){ NULL }) ||
	    !check_listing("e", (const char *const[]){ NULL }))
		return false;

	/* An open descriptor follows the file through a rename. */
	fd = TRY(open("back", O_RDWR));
	TRY(rename("back", "d/renamed"));
	if (!write_at(fd, "Z", 1, 0, "write after rename"))
		return false;
	TRY(close(fd));
	if (!check_file("d/renamed", "ZAAA", 4))
		return false;
	TRY(unlink("d/renamed"));
	TRY(unlink("c"));
	TRY(rmdir("d"));
	TRY(rmdir("e"));
	return true;
}

static bool check_rename_dir(void)
{
	bool unknown = false;
	nlink_t p1, p2;
	ino_t ino;
	struct stat a, b;

	TRY(mkdir("d1", 0755));
	if (!write_file("d1/f", "inside", 6))
		return false;
	ino = ino_of("d1");
	TRY(rename("d1", "d2"));
	EXPECT_ERR(access("d1", F_OK), ENOENT);
	EXPECT_EQ(ino_of("d2"), ino);
	if (!check_file("d2/f", "inside", 6))
		return false;

	/* Over an empty directory. */
	TRY(mkdir("empty", 0755));
	TRY(rename("d2", "empty"));
	EXPECT_EQ(ino_of("empty"), ino);
	EXPECT_ERR(access("d2", F_OK), ENOENT);
	if (!check_file("empty/f", "inside", 6))
		return false;

	/* Over a non-empty one, or into itself. */
	TRY(mkdir("x", 0755));
	EXPECT_ERR(rename("x", "empty"), ENOTEMPTY);
	EXPECT_ERR(rename("empty", "empty/sub"), EINVAL);
	TRY(mkdir("empty/sub", 0755));
	EXPECT_ERR(rename("empty", "empty/sub/deeper"), EINVAL);
	TRY(rmdir("empty/sub"));
	if (!check_file("empty/f", "inside", 6))
		return false;

	/* Across parents: ".." follows, link counts move. */
	TRY(mkdir("p1", 0755));
	TRY(mkdir("p2", 0755));
	p1 = nlink_of("p1");
	p2 = nlink_of("p2");
	TRY(rename("empty", "p1/c"));
	TRY(rename("p1/c", "p2/c"));
	if (!check_file("p2/c/f", "inside", 6) ||
	    !check_listing("p1", (const char *const[]){ NULL }) ||
	    !check_listing("p2", (const char *const[]){ "c", NULL }) ||
	    !check_listing("p2/c", (const char *const[]){ "f", NULL }))
		return false;
	TRY(stat("p2/c/..", &a));
	TRY(stat("p2", &b));
	if (a.st_ino != b.st_ino)
		return fail("p2/c/.. is not p2 after moving c into p2");
	if (!dir_nlink_ok("p1", p1, &unknown) ||
	    !dir_nlink_ok("p2", p2 + 1, &unknown))
		return false;

	TRY(unlink("p2/c/f"));
	TRY(rmdir("p2/c"));
	TRY(rmdir("p2"));
	TRY(rmdir("p1"));
	TRY(rmdir("x"));
	return check_listing(".", (const char *const[]){ NULL });
}

static bool check_renameat2(void)
{
	ino_t ia, ib;
	struct stat st;

	if (!write_file("a", "aaa", 3) || !write_file("b", "bbbbb", 5))
		return false;
	if (rename2("a", "b", RENAME_NOREPLACE) == 0)
		return fail("renameat2(a, b, RENAME_NOREPLACE) over an existing "
			    "file succeeded");
	if (errno != EEXIST)
		return fail("renameat2(RENAME_NOREPLACE) onto an existing "
			    "file: expected EEXIST, got %s", errname(errno));
	if (!check_file("a", "aaa", 3) || !check_file("b", "bbbbb", 5))
		return false;
	TRY(rename2("a", "c", RENAME_NOREPLACE));
	EXPECT_ERR(access("a", F_OK), ENOENT);
	if (!check_file("c", "aaa", 3))
		return false;
	TRY(rename2("c", "a", RENAME_NOREPLACE));

	ia = ino_of("a");
	ib = ino_of("b");
	TRY(rename2("a", "b", RENAME_EXCHANGE));
	if (!check_file("a", "bbbbb", 5) || !check_file("b", "aaa", 3))
		return false;
	EXPECT_EQ(ino_of("a"), ib);
	EXPECT_EQ(ino_of("b"), ia);
	EXPECT_ERR(rename2("a", "missing", RENAME_EXCHANGE), ENOENT);
	EXPECT_ERR(rename2("a", "b", RENAME_EXCHANGE | RENAME_NOREPLACE),
		   EINVAL);

	/* A file with a directory, and across directories. */
	TRY(mkdir("d", 0755));
	if (!write_file("d/x", "x", 1))
		return false;
	TRY(rename2("a", "d", RENAME_EXCHANGE));
	TRY(lstat("a", &st));
	EXPECT(S_ISDIR(st.st_mode));
	if (!check_file("a/x", "x", 1) || !check_file("d", "bbbbb", 5))
		return false;
	TRY(rename2("b", "a/x", RENAME_EXCHANGE));
	if (!check_file("b", "x", 1) || !check_file("a/x", "aaa", 3) ||
	    !check_listing(".", (const char *const[]){ "a", "b", "d", NULL }))
		return false;
	TRY(unlink("a/x"));
	TRY(rmdir("a"));
	TRY(unlink("b"));
	TRY(unlink("d"));
	return true;
}

/* 255-byte names renamed to short ones and back, and between lengths
 * around the 175-byte long-name threshold. */
static bool check_rename_long(void)
{
	const char *l1 = name_of_len(255, 'A'), *l2 = name_of_len(255, 'B');
	const char *chain[] = { l1, "s", l1, l2, name_of_len(176, 'C'),
				name_of_len(180, 'D'), name_of_len(175, 'E'),
				"short", l1 };
	const char *dir = name_of_len(255, 'F'), *inner;

	if (!write_file(l1, "long", 4))
		return false;
	for (size_t i = 1; i < sizeof(chain) / sizeof(chain[0]); i++) {
		if (rename(chain[i - 1], chain[i]) < 0)
			return fail("rename(%s, %s): %s", esc(chain[i - 1]),
				    esc(chain[i]), errname(errno));
		if (!check_file(chain[i], "long", 4) ||
		    !check_listing(".", (const char *const[]){ chain[i], NULL }))
			return false;
	}

	inner = xsprintf("%s/%s", dir, l2);
	TRY(mkdir(dir, 0755));
	if (!write_file(inner, "inner", 5))
		return false;
	TRY(rename(dir, "sd"));
	if (!check_file(xsprintf("sd/%s", l2), "inner", 5))
		return false;
	TRY(rename("sd", dir));
	if (!check_file(inner, "inner", 5))
		return false;
	TRY(rename(inner, xsprintf("%s/i", dir)));
	TRY(rename(xsprintf("%s/i", dir), l2));
	if (!check_file(l2, "inner", 5) ||
	    !check_listing(dir, (const char *const[]){ NULL }))
		return false;
	TRY(rmdir(dir));
	TRY(unlink(l1));
	TRY(unlink(l2));
	return true;
}

static bool check_hardlink(void)
{
	static const char orig[] = "one two three";
	struct stat st;
	ino_t ino;
	int fd1, fd;

	if (!write_file("f1", orig, 13))
		return false;
	fd1 = TRY(open("f1", O_RDWR));
	ino = ino_of("f1");
	TRY(link("f1", "f2"));
	EXPECT_EQ(nlink_of("f1"), 2);
	EXPECT_EQ(nlink_of("f2"), 2);
	EXPECT_EQ(ino_of("f2"), ino);
	TRY(fstat(fd1, &st));
	EXPECT_EQ(st.st_nlink, 2);
	if (!check_file("f2", orig, 13))
		return false;

	/* Writes through one name show through the other. */
	fd = TRY(open("f2", O_RDWR));
	if (!write_at(fd, "ONE", 3, 0, "write via f2"))
		return false;
	TRY(close(fd));
	if (!check_file("f1", "ONE two three", 13) ||
	    !check_range(fd1, 0, "ONE two three", 13, "fd on f1"))
		return false;
	TRY(rename("f2", "f3"));
	fd = TRY(open("f3", O_RDWR));
	if (!write_at(fd, "TWO", 3, 4, "write via renamed link"))
		return false;
	TRY(close(fd));
	if (!check_file("f1", "ONE TWO three", 13) ||
	    !check_range(fd1, 0, "ONE TWO three", 13, "fd on f1"))
		return false;

	TRY(mkdir("d", 0755));
	TRY(link("f1", "d/f4"));
	EXPECT_EQ(nlink_of("f3"), 3);
	EXPECT_EQ(ino_of("d/f4"), ino);
	EXPECT_ERR(link("f1", "f3"), EEXIST);
	EXPECT_ERR(link("d", "dl"), EPERM);
	EXPECT_ERR(link("missing", "x"), ENOENT);

	/* Unlinking one name keeps the others. */
	TRY(unlink("f1"));
	EXPECT_EQ(nlink_of("f3"), 2);
	TRY(fstat(fd1, &st));
	EXPECT_EQ(st.st_nlink, 2);
	if (!check_file("f3", "ONE TWO three", 13) ||
	    !write_at(fd1, "XXX", 3, 8, "write via the unlinked name's fd") ||
	    !check_file("f3", "ONE TWO XXXee", 13) ||
	    !check_file("d/f4", "ONE TWO XXXee", 13))
		return false;
	TRY(truncate("f3", 3));
	if (!check_file("d/f4", "ONE", 3))
		return false;
	TRY(unlink("f3"));
	TRY(unlink("d/f4"));
	TRY(fstat(fd1, &st));
	EXPECT_EQ(st.st_nlink, 0);
	TRY(close(fd1));
	TRY(rmdir("d"));
	return true;
}

static bool symlink_is(const char *path, const char *target)
{
	size_t len = strlen(target);
	char *buf = xalloc(len + 16);
	struct stat st;
	ssize_t n;

	n = readlink(path, buf, len + 16);
	if (n < 0)
		return fail("readlink(%s): %s", esc(path), errname(errno));
	if ((size_t)n != len || memcmp(buf, target, len))
		return fail("readlink(%s): expected %zu bytes %s, got %zd bytes",
			    esc(path), len, esc(target), n);
	if (lstat(path, &st) < 0)
		return fail("lstat(%s): %s", esc(path), errname(errno));
	if (!S_ISLNK(st.st_mode))
		return fail("lstat(%s): not a symlink (mode 0%o)", esc(path),
			    st.st_mode);
	if (st.st_size != (off_t)len)
		return fail("lstat(%s).st_size: expected %zu, got %lld",
			    esc(path), len, (long long)st.st_size);
	return true;
}

static bool check_symlink(void)
{
	char *longrel = xalloc(1100), *abs, buf[8];
	static const char odd[] = "\xc3\xa9 \xe6\xbc\xa2\xff\n/x";
	struct stat st;
	size_t n = 0;
	int fd;

	if (!write_file("target", "T-content", 9))
		return false;
	/* 1-byte, relative, dangling, odd-byte targets. */
	TRY(symlink("x", "one"));
	TRY(symlink("target", "rel"));
	TRY(symlink("nowhere/x", "dangling"));
	TRY(symlink(odd, "odd"));
	/* "./" repeated, still resolving to target: 1000+ bytes. */
	while (n < 1000)
		n += sprintf(longrel + n, "./");
	strcpy(longrel + n, "target");
	TRY(symlink(longrel, "long"));
	abs = xsprintf("%s/target", fs_cwd);
	TRY(symlink(abs, "abs"));
	if (!symlink_is("one", "x") || !symlink_is("rel", "target") ||
	    !symlink_is("dangling", "nowhere/x") || !symlink_is("odd", odd) ||
	    !symlink_is("long", longrel) || !symlink_is("abs", abs))
		return false;

	/* Following. */
	if (!check_file("rel", "T-content", 9) ||
	    !check_file("long", "T-content", 9) ||
	    !check_file("abs", "T-content", 9))
		return false;
	TRY(stat("rel", &st));
	EXPECT(S_ISREG(st.st_mode));
	EXPECT_EQ(st.st_size, 9);
	EXPECT_ERR(stat("dangling", &st), ENOENT);
	EXPECT_ERR(open("dangling", O_RDONLY), ENOENT);
	EXPECT_ERR(open("rel", O_RDONLY | O_NOFOLLOW), ELOOP);
	fd = TRY(open("rel", O_RDWR));
	if (!write_at(fd, "t", 1, 0, "write through a symlink"))
		return false;
	TRY(close(fd));
	if (!check_file("target", "t-content", 9))
		return false;

	/* readlink edge cases. */
	EXPECT_EQ(readlink("rel", buf, 3), 3);
	if (!same_bytes(buf, "tar", 3, 0, "readlink into 3 bytes"))
		return false;
	EXPECT_ERR(readlink("target", buf, sizeof(buf)), EINVAL);
	EXPECT_ERR(readlink("missing", buf, sizeof(buf)), ENOENT);
	EXPECT_ERR(symlink("x", "rel"), EEXIST);
	EXPECT_ERR(symlink("x", "target"), EEXIST);

	/* Loops. */
	TRY(symlink("loop2", "loop1"));
	TRY(symlink("loop1", "loop2"));
	EXPECT_ERR(stat("loop1", &st), ELOOP);
	EXPECT_ERR(open("loop1", O_RDONLY), ELOOP);

	/* A symlink to a directory. */
	TRY(mkdir("d", 0755));
	if (!write_file("d/in", "in", 2))
		return false;
	TRY(symlink("d", "dl"));
	TRY(stat("dl", &st));
	EXPECT(S_ISDIR(st.st_mode));
	if (!check_file("dl/in", "in", 2) ||
	    !check_listing("dl", (const char *const[]){ "in", NULL }))
		return false;
	EXPECT_ERR(rmdir("dl"), ENOTDIR);
	TRY(unlink("dl"));
	if (!check_file("d/in", "in", 2))
		return false;

	/* Renaming a symlink keeps its target. */
	TRY(rename("long", "long2"));
	if (!symlink_is("long2", longrel))
		return false;

	TRY(unlink("d/in"));
	TRY(rmdir("d"));
	static const char *const links[] = { "one", "rel", "dangling", "odd",
					     "long2", "abs", "loop1", "loop2",
					     "target" };
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		TRY(unlink(links[i]));
	return check_listing(".", (const char *const[]){ NULL });
}

/* The longest target the filesystem takes works and one byte more is
 * ENAMETOOLONG: 4095 bytes (PATH_MAX - 1) on ext4, or the documented
 * FSCHECK_SYMLINK_MAX. */
static bool check_symlink_max(void)
{
	long max = fs_symlink_max;
	char *target = xalloc(PATH_MAX + 1);

	for (int i = 0; i < PATH_MAX; i++)
		target[i] = i % 200 == 199 ? '/' : 'a' + i % 26;
	target[max] = '\0';
	TRY(symlink(target, "max"));
	if (!symlink_is("max", target))
		return false;
	TRY(rename("max", "max2"));
	if (!symlink_is("max2", target))
		return false;
	target[max] = 'z';
	target[max + 1] = '\0';
	EXPECT_ERR(symlink(target, "over"), ENAMETOOLONG);
	TRY(unlink("max2"));
	return true;
}

const struct fscheck fscheck_ns_checks[] = {
	{ "unlink_open", check_unlink_open },
	{ "mkdir_rmdir", check_mkdir_rmdir },
	{ "readdir", check_readdir },
	{ "readdir_large", check_readdir_large },
	{ "names", check_names },
	{ "rename_file", check_rename_file },
	{ "rename_dir", check_rename_dir },
	{ "renameat2", check_renameat2 },
	{ "rename_long", check_rename_long },
	{ "hardlink", check_hardlink },
	{ "symlink", check_symlink },
	{ "symlink_max", check_symlink_max },
	{ NULL, NULL },
};
