/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Finding a mount's control socket (fs/vol/mnt.c): the daemon and the
 * commands that talk to it (hsmfs status, cache flush, rekey) each
 * compute the socket's path from the mount point, so the path must be
 * the same for every spelling of that directory, and differ between
 * mount points. A stand-in daemon answers one request.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "fs/vol/mnt.h"
#include "tmpdir.h"

static char top[TMPDIR_MAX], rundir[TMPDIR_MAX + 8];
static char mnt1[TMPDIR_MAX + 8], mnt2[TMPDIR_MAX + 8];

static void cleanup(void)
{
	tmpdir_remove(top);
}

/* top/run as $HSMFS_RUN_DIR, and two mount points. */
static int setup(void)
{
	if (top[0])
		return 0;
	if (tmpdir_make(top, "mnt") != 0)
		return -1;
	atexit(cleanup);
	snprintf(rundir, sizeof(rundir), "%s/run", top);
	snprintf(mnt1, sizeof(mnt1), "%s/m1", top);
	snprintf(mnt2, sizeof(mnt2), "%s/m2", top);
	if (mkdir(rundir, 0700) || mkdir(mnt1, 0700) || mkdir(mnt2, 0700))
		return -1;
	setenv("HSMFS_RUN_DIR", rundir, 1);
	return 0;
}

/* The same path for every spelling of a mount point, another for
 * another mount point; in $HSMFS_RUN_DIR, a short name fit for a Unix
 * socket. */
static void ctl_path_stable(void)
{
	char a[108], b[108], spelled[TMPDIR_MAX + 32];
	const char *base;

	if (setup() != 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(mnt_ctl_path(mnt1, a, sizeof(a)), 0);
	CHECK(strncmp(a, rundir, strlen(rundir)) == 0 &&
	      a[strlen(rundir)] == '/');
	base = a + strlen(rundir) + 1;
	CHECK_EQ_INT(strlen(base), 16 + strlen(".sock"));
	CHECK_EQ_INT(strspn(base, "0123456789abcdef"), 16);
	CHECK(strcmp(base + 16, ".sock") == 0);

	CHECK_EQ_INT(mnt_ctl_path(mnt1, b, sizeof(b)), 0);
	CHECK(strcmp(a, b) == 0);
	snprintf(spelled, sizeof(spelled), "%s/../m1/.", mnt2);
	CHECK_EQ_INT(mnt_ctl_path(spelled, b, sizeof(b)), 0);
	CHECK(strcmp(a, b) == 0);
	snprintf(spelled, sizeof(spelled), "%s/", mnt1);
	CHECK_EQ_INT(mnt_ctl_path(spelled, b, sizeof(b)), 0);
	CHECK(strcmp(a, b) == 0);

	CHECK_EQ_INT(mnt_ctl_path(mnt2, b, sizeof(b)), 0);
	CHECK(strcmp(a, b) != 0);
	snprintf(spelled, sizeof(spelled), "%s/nonexistent", top);
	CHECK_EQ_INT(mnt_ctl_path(spelled, b, sizeof(b)), -ENOENT);
}

/* $HSMFS_RUN_DIR wins; empty, it is not set. */
static void run_dir_env(void)
{
	char buf[256], want[256];

	if (setup() != 0) {
		CHECK(0);
		return;
	}
	CHECK(strcmp(mnt_run_dir(buf, sizeof(buf)), rundir) == 0);
	setenv("HSMFS_RUN_DIR", "", 1);
	setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
	snprintf(want, sizeof(want), "%s",
		 geteuid() == 0 ? "/run/hsmfs" : "/run/user/4242/hsmfs");
	CHECK(strcmp(mnt_run_dir(buf, sizeof(buf)), want) == 0);
	setenv("HSMFS_RUN_DIR", rundir, 1);
}

struct server {
	int fd;
	char got[64];
	const char *answer;
};

/* The stand-in daemon: one connection, one request line, one answer. */
static void *serve(void *arg)
{
	struct server *s = arg;
	size_t n = 0;
	ssize_t r;
	int c = accept(s->fd, NULL, NULL);

	if (c < 0)
		return NULL;
	while (n + 1 < sizeof(s->got) &&
	       (r = read(c, s->got + n, sizeof(s->got) - 1 - n)) > 0)
		n += (size_t)r;
	s->got[n] = '\0';
	if (send(c, s->answer, strlen(s->answer), MSG_NOSIGNAL) < 0)
		s->got[0] = '\0';
	close(c);
	return NULL;
}

/* mnt_call reaches the socket of that mount point: the request arrives
 * as one line, the whole answer comes back (cut to the buffer, always
 * terminated). Without a daemon it fails with an errno. */
static void call_roundtrip(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct sockaddr_un sb = { .sun_family = AF_UNIX };
	struct server s = { .fd = -1,
			    .answer = "state: mounted\nunwraps: 3\n" };
	char out[128], tiny[8];
	pthread_t t;
	int stale;

	if (setup() != 0 ||
	    mnt_ctl_path(mnt1, sa.sun_path, sizeof(sa.sun_path)) != 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(mnt_call(mnt1, "status", out, sizeof(out)), -ENOENT);
	s.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(s.fd >= 0);
	CHECK(bind(s.fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(s.fd, 1) == 0);
	/* A socket left by a daemon that is gone: refused, not a hang. */
	CHECK(mnt_ctl_path(mnt2, sb.sun_path, sizeof(sb.sun_path)) == 0);
	stale = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(stale >= 0);
	CHECK(bind(stale, (struct sockaddr *)&sb, sizeof(sb)) == 0);
	CHECK_EQ_INT(mnt_call(mnt2, "status", out, sizeof(out)),
		     -ECONNREFUSED);
	close(stale);
	unlink(sb.sun_path);

	CHECK(pthread_create(&t, NULL, serve, &s) == 0);
	CHECK_EQ_INT(mnt_call(mnt1, "status", out, sizeof(out)), 0);
	pthread_join(t, NULL);
	CHECK(strcmp(s.got, "status\n") == 0);
	CHECK(strcmp(out, s.answer) == 0);

	CHECK(pthread_create(&t, NULL, serve, &s) == 0);
	memset(tiny, 'x', sizeof(tiny));
	CHECK_EQ_INT(mnt_call(mnt1, "cache flush", tiny, sizeof(tiny)), 0);
	pthread_join(t, NULL);
	CHECK(strcmp(s.got, "cache flush\n") == 0);
	CHECK(strcmp(tiny, "state: ") == 0);
	close(s.fd);
	unlink(sa.sun_path);
	CHECK_EQ_INT(mnt_call(mnt1, "status", out, sizeof(out)), -ENOENT);
}

/* A directory that is no hsmfs mount's source is not mounted. */
static void find_unmounted(void)
{
	char mnt[256], missing[TMPDIR_MAX + 32];

	if (setup() != 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(mnt_find(mnt1, mnt, sizeof(mnt)), 0);
	snprintf(missing, sizeof(missing), "%s/nonexistent", top);
	CHECK_EQ_INT(mnt_find(missing, mnt, sizeof(mnt)), -ENOENT);
}

CHECK_MAIN("mnt",
	   T(ctl_path_stable), T(run_dir_env), T(call_roundtrip),
	   T(find_unmounted))
