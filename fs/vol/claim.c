/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Claiming a volume: one writer at a time, on every host that sees the
 * backing directory. The claim is flock() on LOCK_NAME in the root, held
 * through an open descriptor: the kernel lets go when the holder exits,
 * however it exits (kill -9 included), so a crash leaves nothing stale
 * behind, as a pid file would; and Linux turns flock on NFS into an NFS
 * lock, which other clients see. flock rather than fcntl: a lock of the
 * open file description, not of the process, and flock(1) can hold or
 * probe it from a shell. Who holds it is written into the file for the
 * refusal message only; nothing trusts it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bname.h"
#include "vol.h"

#define HOLDER_MAX 512

/* Never follows a symlink or waits on a FIFO planted in the root. A
 * shared claim makes do with reading an existing file where the root
 * cannot be written (a read-only snapshot or export). */
static int open_lockfile(int rootfd, bool exclusive)
{
	int fd = bname_open_own(rootfd, LOCK_NAME, O_RDWR | O_CREAT, 0644);

	if (!exclusive && (fd == -EROFS || fd == -EACCES))
		fd = bname_open_own(rootfd, LOCK_NAME, O_RDONLY, 0);
	return fd;
}

/* The holder's own line, with whatever is not printable replaced: it
 * comes from the backing directory and goes to a terminal. */
static void read_holder(int fd, char *out, size_t n)
{
	ssize_t got = pread(fd, out, n - 1, 0);
	size_t i;

	out[got > 0 ? got : 0] = '\0';
	for (i = 0; out[i] && out[i] != '\n'; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = '?';
	out[i] = '\0';
	if (!i)
		snprintf(out, n, "another process (it has not said who yet)");
}

/* Written then cut to length, so that two shared holders writing at
 * once leave one whole first line. Informational: a failure is ignored
 * (a shared claim may hold the file read-only). */
static void write_holder(int fd, const char *what)
{
	char host[256] = "", line[HOLDER_MAX];
	int n;

	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "?");
	n = snprintf(line, sizeof(line), "%s by pid %d on %s\n", what,
		     (int)getpid(), host);
	if (n > 0 && (size_t)n < sizeof(line) &&
	    pwrite(fd, line, (size_t)n, 0) == n)
		(void)!ftruncate(fd, n);
}

int vol_claim(struct vol *v, bool exclusive, const char *what, char *err,
	      size_t errlen)
{
	char holder[HOLDER_MAX];
	int fd = open_lockfile(v->rootfd, exclusive);

	if (fd == -ENOENT && !exclusive) {
		snprintf(err, errlen, "%s: no %s and the directory cannot be "
			 "written: not locked against a read-write mount",
			 v->cipherdir, LOCK_NAME);
		return 1;
	}
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s/%s: %s", v->cipherdir,
			 LOCK_NAME, strerror(-fd));
		return -1;
	}
	if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0) {
		write_holder(fd, what);
		v->claimfd = fd;
		v->claim_alone = exclusive;
		return 0;
	}
	if (errno == EWOULDBLOCK) {
		read_holder(fd, holder, sizeof(holder));
		snprintf(err, errlen, "%s is in use: %s", v->cipherdir, holder);
	} else {
		snprintf(err, errlen, "cannot lock %s/%s: %s", v->cipherdir,
			 LOCK_NAME, strerror(errno));
	}
	close(fd);
	return -1;
}
