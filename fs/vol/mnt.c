/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "mnt.h"

/* Undoes the octal escapes (space, tab, newline, backslash) of fields. */
static void unescape(char *s)
{
	char *d = s;

	for (; *s; s++, d++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] &&
		    s[3]) {
			*d = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				    (s[3] - '0'));
			s += 3;
		} else {
			*d = *s;
		}
	}
	*d = '\0';
}

/* One mount: dev as "major:minor", mount point, source (for hsmfs, the
 * cipherdir as given to mount) and type ("fuse.hsmfs"), unescaped.
 * Nonzero stops the walk. */
typedef int (*mnt_fn)(void *ctx, const char *dev, const char *mnt,
		      const char *src, const char *type);

/* Calls fn on each mount (only those of type fuse.hsmfs unless all), in
 * mount order. Returns what fn returned to stop, 0 after the last mount,
 * or -errno. */
static int mnt_walk(bool all, mnt_fn fn, void *ctx)
{
	char *line = NULL, *save, *f[11];
	size_t cap = 0;
	int ret = 0;
	FILE *fp = fopen("/proc/self/mountinfo", "re");

	if (!fp)
		return -errno;
	while (!ret && getline(&line, &cap, fp) > 0) {
		int nf = 0, dash;

		for (char *t = strtok_r(line, " \n", &save); t && nf < 11;
		     t = strtok_r(NULL, " \n", &save))
			f[nf++] = t;
		/* id parent maj:min root mountpoint opts [optional...] - type src */
		for (dash = 6; dash < nf && strcmp(f[dash], "-"); dash++)
			;
		if (dash + 2 >= nf || (!all && strcmp(f[dash + 1], "fuse.hsmfs")))
			continue;
		unescape(f[4]);
		unescape(f[dash + 2]);
		ret = fn(ctx, f[2], f[4], f[dash + 2], f[dash + 1]);
	}
	free(line);
	fclose(fp);
	return ret;
}

const char *mnt_run_dir(char *buf, size_t n)
{
	const char *e = getenv("HSMFS_RUN_DIR");

	if (e && *e)
		snprintf(buf, n, "%s", e);
	else if (geteuid() == 0)
		snprintf(buf, n, "/run/hsmfs");
	else if ((e = getenv("XDG_RUNTIME_DIR")) && *e)
		snprintf(buf, n, "%s/hsmfs", e);
	else
		snprintf(buf, n, "/tmp/hsmfs-%u", (unsigned)geteuid());
	return buf;
}

int mnt_ctl_path(const char *mountpoint, char *buf, size_t n)
{
	char *abs = realpath(mountpoint, NULL), dir[PATH_MAX];
	uint8_t h[SHA256_DIGEST_LENGTH];
	int len;

	if (!abs)
		return -errno;
	SHA256((const uint8_t *)abs, strlen(abs), h);
	free(abs);
	len = snprintf(buf, n, "%s/%02x%02x%02x%02x%02x%02x%02x%02x.sock",
		       mnt_run_dir(dir, sizeof(dir)), h[0], h[1], h[2], h[3],
		       h[4], h[5], h[6], h[7]);
	/* A socket path longer than sun_path is not cut short elsewhere. */
	return len < 0 || (size_t)len >= n ? -ENAMETOOLONG : 0;
}

int mnt_call(const char *mountpoint, const char *cmd, char *out, size_t n)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char line[PATH_MAX + 32];
	size_t got = 0;
	ssize_t r;
	int s, err;

	if ((err = mnt_ctl_path(mountpoint, sa.sun_path, sizeof(sa.sun_path))))
		return err;
	if (snprintf(line, sizeof(line), "%s\n", cmd) >= (int)sizeof(line))
		return -ENAMETOOLONG;
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	/* One send, then our side shut: the daemon reads the request up to
	 * there, answers and closes. */
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    send(s, line, strlen(line), MSG_NOSIGNAL) < 0) {
		err = -errno;
		close(s);
		return err;
	}
	shutdown(s, SHUT_WR);
	while (got + 1 < n && (r = read(s, out + got, n - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = '\0';
	close(s);
	return 0;
}

/* The daemon may first finish the header it is writing: an HSM call
 * bounded by its hsm_timeout. */
#define HOLD_WAIT_S 60

int mnt_hold(const char *mountpoint)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = HOLD_WAIT_S };
	char ans[64];
	ssize_t r;
	int s, err;

	if ((err = mnt_ctl_path(mountpoint, sa.sun_path, sizeof(sa.sun_path))))
		return err;
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    send(s, "hold\n", 5, MSG_NOSIGNAL) != 5 ||
	    (r = read(s, ans, sizeof(ans) - 1)) < 0) {
		err = -errno;
		close(s);
		return err == -EAGAIN ? -ETIMEDOUT : err;
	}
	ans[r] = '\0';
	if (strncmp(ans, "held", 4) != 0) {
		close(s);
		return -ENOTSUP;
	}
	return s;
}

/* True if a mount's source (the daemon's fsname: the cipherdir as given
 * to mount) names the directory real. */
static int same_dir(const char *src, const char *real)
{
	char *r;
	int same;

	if (strcmp(src, real) == 0)
		return 1;
	if (!(r = realpath(src, NULL)))
		return 0;
	same = strcmp(r, real) == 0;
	free(r);
	return same;
}

struct find {
	const char *real;
	char *mnt;
	size_t n;
};

static int match_source(void *ctx, const char *dev, const char *mnt,
			const char *src, const char *type)
{
	struct find *f = ctx;

	(void)dev;
	(void)type;
	if (!same_dir(src, f->real))
		return 0;
	snprintf(f->mnt, f->n, "%s", mnt);
	return 1;
}

int mnt_find(const char *cipherdir, char *mnt, size_t n)
{
	struct find f = { .real = realpath(cipherdir, NULL), .mnt = mnt, .n = n };
	int r;

	if (!f.real)
		return -errno;
	r = mnt_walk(false, match_source, &f);
	free((char *)f.real);
	return r;
}

struct at {
	const char *mnt;
	char *dev, *src;
	size_t devlen, srclen;
	bool found;
};

/* The last match wins: the topmost of mounts stacked on one point. */
static int match_point(void *ctx, const char *dev, const char *mnt,
		       const char *src, const char *type)
{
	struct at *a = ctx;

	if (strcmp(mnt, a->mnt))
		return 0;
	snprintf(a->dev, a->devlen, "%s", a->src ? dev : type);
	if (a->src)
		snprintf(a->src, a->srclen, "%s", src);
	a->found = true;
	return 0;
}

int mnt_at(const char *mountpoint, char *dev, size_t devlen, char *src,
	   size_t srclen)
{
	struct at a = { .mnt = mountpoint, .dev = dev, .src = src,
			.devlen = devlen, .srclen = srclen };
	int r = mnt_walk(false, match_point, &a);

	return r < 0 ? r : a.found;
}

int mnt_type_at(const char *mountpoint, char *type, size_t n)
{
	struct at a = { .mnt = mountpoint, .dev = type, .devlen = n };
	int r = mnt_walk(true, match_point, &a);

	return r < 0 ? r : a.found;
}

int mnt_canonical_name(const char *path, char *out, size_t n)
{
	char *copy = strdup(path), *slash, *dir;
	const char *base;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (size_t l = strlen(copy); l > 1 && copy[l - 1] == '/';)
		copy[--l] = '\0';
	slash = strrchr(copy, '/');
	base = slash ? slash + 1 : copy;
	if (slash)
		*slash = '\0';
	dir = realpath(slash == copy ? "/" : slash ? copy : ".", NULL);
	if (!dir)
		r = -errno;
	else if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		r = -EINVAL;
	else if (snprintf(out, n, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "",
			  base) >= (int)n)
		r = -ENAMETOOLONG;
	free(dir);
	free(copy);
	return r;
}

int mnt_canonical(const char *path, char *out, size_t n)
{
	if (n >= PATH_MAX && realpath(path, out))
		return 0;
	if (n >= PATH_MAX && errno != ENOTCONN)
		return -errno;
	/* A dead mount, which stat would ask in vain. */
	return mnt_canonical_name(path, out, n);
}
