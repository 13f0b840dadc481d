/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The audit log: a file opened once, appended to with one write per
 * record (O_APPEND keeps records whole when several threads write, and
 * lets logrotate's copytruncate work).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "common/b64.h"
#include "common/log.h"
#include "fs/vol/bname.h"
#include "inode.h"

#define AUDIT_LINE_MAX (2 * PATH_MAX + 1024)

static struct {
	int fd;
	char root[PATH_MAX]; /* the backing root as /proc shows paths */
	size_t rootlen;
} A = { .fd = -1 };

/* Who sent the request a thread serves; pid 0: nobody (a worker). */
static __thread struct {
	uid_t uid;
	gid_t gid;
	pid_t pid;
} who;

int audit_open(struct fsd *fs, const char *path, char *err, size_t n)
{
	char proc[64];
	ssize_t l;

	A.fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
	if (A.fd < 0) {
		snprintf(err, n, "audit_log %s: %s", path, strerror(errno));
		return -1;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fs->vol.rootfd);
	l = readlink(proc, A.root, sizeof(A.root) - 1);
	A.rootlen = l > 0 ? (size_t)l : 0;
	A.root[A.rootlen] = '\0';
	return 0;
}

void audit_close(void)
{
	if (A.fd >= 0)
		close(A.fd);
	A.fd = -1;
}

void audit_request(fuse_req_t req)
{
	const struct fuse_ctx *c;

	if (A.fd < 0)
		return;
	c = fuse_req_ctx(req);
	who.uid = c->uid;
	who.gid = c->gid;
	who.pid = c->pid;
}

void audit_opener(struct inode *in)
{
	if (A.fd < 0 || !who.pid)
		return;
	in->w_uid = who.uid;
	in->w_gid = who.gid;
	in->w_pid = who.pid;
}

const char *audit_src(enum vol_key_src src)
{
	switch (src) {
	case VOL_KEY_HSM:
		return "hsm";
	case VOL_KEY_LOCAL:
		return "wrapping-key";
	case VOL_KEY_CACHE:
		break;
	}
	return "cache";
}

/* Length of the UTF-8 sequence at s (1-4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 :
		   s[0] >= 0xe0 && s[0] < 0xf0 ? 3 :
		   s[0] >= 0xf0 && s[0] < 0xf5 ? 4 : 0;

	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* s as the body of a JSON string into out: 0, or -1 if s is not UTF-8
 * (a file name may be any bytes) or does not fit. */
static int json_str(const char *s, char *out, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	while (*p) {
		size_t l = utf8_len(p);

		if (!l || o + 7 >= n)
			return -1;
		if (*p == '"' || *p == '\\')
			o += (size_t)snprintf(out + o, n - o, "\\%c", *p);
		else if (*p < 0x20)
			o += (size_t)snprintf(out + o, n - o, "\\u%04x", *p);
		else
			memcpy(out + o, p, l), o += l;
		p += l;
	}
	out[o] = '\0';
	return 0;
}

/* "path":"..." (or "path_b64" for a name that is not UTF-8), or
 * "backing_path" when the path cannot be decoded. */
static void path_member(struct fsd *fs, int fd, char *out, size_t n)
{
	char bpath[PATH_MAX], plain[PATH_MAX], esc[2 * PATH_MAX];
	struct bdir root = {
		.fd = fs->vol.rootfd, .root = true,
		.plaintext = fs->plaintext_names,
		.format = fs->vol.conf.format, .nk = fs->vol.nk,
	};
	const char *rel = inode_path(fd, bpath, sizeof(bpath));
	const char *key = "path";

	if (A.rootlen && !strncmp(rel, A.root, A.rootlen) &&
	    rel[A.rootlen] == '/')
		rel += A.rootlen + 1;
	if (bname_plain_path(&root, rel, plain, sizeof(plain)) != 0) {
		key = "backing_path";
		snprintf(plain, sizeof(plain), "%s", rel);
	}
	if (json_str(plain, esc, sizeof(esc)) == 0) {
		snprintf(out, n, "\"%s\":\"%s\"", key, esc);
		return;
	}
	if (B64_ENC_LEN(strlen(plain)) < sizeof(esc)) {
		b64url_encode((const uint8_t *)plain, strlen(plain), esc);
		snprintf(out, n, "\"%s_b64\":\"%s\"", key, esc);
	}
}

static const char *errname(int res)
{
	const char *n = strerrorname_np(-res);

	return n ? n : "error";
}

static void now_text(char out[32])
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + 19, 13, ".%03dZ", (int)(tv.tv_usec / 1000));
}

/* ,"uid":..,"gid":..,"pid":.. of the request, else of in's opener. */
static void who_members(const struct inode *in, char *out, size_t n)
{
	*out = '\0';
	if (who.pid)
		snprintf(out, n, ",\"uid\":%u,\"gid\":%u,\"pid\":%d",
			 (unsigned)who.uid, (unsigned)who.gid, (int)who.pid);
	else if (in && in->w_pid)
		snprintf(out, n, ",\"uid\":%u,\"gid\":%u,\"pid\":%d",
			 (unsigned)in->w_uid, (unsigned)in->w_gid,
			 (int)in->w_pid);
}

int audit_key(struct fsd *fs, struct inode *in, const char *event, int fd,
	      const struct hdr *h, int slot, const char *src, int res)
{
	char line[AUDIT_LINE_MAX], path[2 * PATH_MAX + 32], t[32];
	char id[B64_ENC_LEN(ID_LEN) + 1], kid[2 * HDR_KID_MAX + 8] = "";
	char req[96] = "";
	int len;

	if (A.fd < 0)
		return 0;
	now_text(t);
	path_member(fs, fd, path, sizeof(path));
	b64url_encode(h->file_id, ID_LEN, id);
	if (slot >= 0 && slot < HDR_SLOTS &&
	    json_str(h->slot[slot].kid, kid + 8, sizeof(kid) - 10) == 0) {
		memcpy(kid, ",\"kid\":\"", 8);
		strcat(kid, "\"");
	}
	who_members(in, req, sizeof(req));
	len = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"event\":\"%s\","
		       "%s,\"file_id\":\"%s\"%s,\"key\":\"%s\"%s,"
		       "\"result\":\"%s\"}\n", t, event, path, id, kid,
		       res ? "none" : src, req, res ? errname(res) : "ok");
	if (len < 0 || (size_t)len >= sizeof(line) ||
	    write(A.fd, line, (size_t)len) != len) {
		log_err("audit_log: cannot write a record (%s): refusing the "
			"file key", len > 0 && (size_t)len < sizeof(line) ?
			strerror(errno) : "too long");
		return -EIO;
	}
	return 0;
}
