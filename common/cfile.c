/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfile.h"
#include "secmem.h"

/* Who may have written the file, and who may read it. */
static int check_owner(const char *path, const struct stat *st,
		       enum cfile_policy p, char *err, size_t errlen)
{
	mode_t bad = p == CFILE_PRIVATE ? 077 : 022;

	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		return -1;
	}
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		snprintf(err, errlen, "%s is owned by uid %u: it must belong "
			 "to root%s", path, (unsigned)st->st_uid,
			 geteuid() ? " or to the user running hsmfs" : "");
		return -1;
	}
	if (st->st_mode & bad) {
		snprintf(err, errlen, "%s has mode %04o: %s (chmod %s %s)",
			 path, (unsigned)(st->st_mode & 07777),
			 p == CFILE_PRIVATE ?
				"it holds secrets, so only its owner may "
				"read it" :
				"it decides where keys and tokens go, so "
				"only its owner may write it",
			 p == CFILE_PRIVATE ? "600" : "go-w", path);
		return -1;
	}
	if (st->st_size > CFILE_MAX) {
		snprintf(err, errlen, "%s is larger than %d bytes", path,
			 CFILE_MAX);
		return -1;
	}
	return 0;
}

static int read_all(int fd, struct cfile *f, const char *path, char *err,
		    size_t errlen)
{
	size_t n = 0;
	ssize_t r;

	while (n + 1 < f->cap) {
		r = read(fd, f->buf + n, f->cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "cannot read %s: %s", path,
				 strerror(errno));
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n + 1 >= f->cap) {
		snprintf(err, errlen, "%s grew while it was read", path);
		return -1;
	}
	f->buf[n] = '\0';
	return 0;
}

int cfile_open(struct cfile *f, const char *path, enum cfile_policy p,
	       char *err, size_t errlen)
{
	struct stat st;
	int fd, r = -1;

	memset(f, 0, sizeof(*f));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path,
			 strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "cannot stat %s: %s", path,
			 strerror(errno));
		goto out;
	}
	if (check_owner(path, &st, p, err, errlen))
		goto out;
	f->secret = p == CFILE_PRIVATE;
	f->cap = (size_t)st.st_size + 2; /* one more: a file that grew */
	f->buf = f->secret ? secmem_alloc(f->cap) : calloc(1, f->cap);
	if (!f->buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	r = read_all(fd, f, path, err, errlen);
	f->next = f->buf;
out:
	close(fd);
	if (r)
		cfile_close(f);
	return r;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

char *cfile_next(struct cfile *f)
{
	char *s, *e;

	while (f->next && *f->next) {
		s = f->next;
		e = strchr(s, '\n');
		f->next = e ? e + 1 : NULL;
		if (e)
			*e = '\0';
		f->line++;
		while (blank(*s))
			s++;
		for (e = s + strlen(s); e > s && blank(e[-1]);)
			*--e = '\0';
		if (*s && *s != '#')
			return s;
	}
	return NULL;
}

char *cfile_split(char *setting)
{
	char *eq = strchr(setting, '='), *val;
	size_t n;

	if (!eq)
		return NULL;
	*eq = '\0';
	val = eq + 1;
	n = strlen(val);
	if (n >= 2 && (val[0] == '"' || val[0] == '\'') &&
	    val[n - 1] == val[0]) {
		val[n - 1] = '\0';
		val++;
	}
	return val;
}

char *cfile_value(struct cfile *f)
{
	size_t n = strlen(f->buf);

	while (n && (blank(f->buf[n - 1]) || f->buf[n - 1] == '\n'))
		f->buf[--n] = '\0';
	return f->buf;
}

void cfile_close(struct cfile *f)
{
	if (f->secret)
		secmem_free(f->buf, f->cap);
	else
		free(f->buf);
	f->buf = f->next = NULL;
}
