/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The operator's settings files (common/cfile.c): who may have written
 * one is checked before it is read (a file that decides where tokens go
 * writable by others, a secret readable by others, a file of another
 * user: refused, naming the mode or owner), and the lines come out
 * trimmed, comments and blank lines skipped, with their numbers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "common/cfile.h"

static char dir[64];

/* dir/name holding text, with mode; its path in path. */
static void put(char *path, size_t n, const char *name, const char *text,
		mode_t mode)
{
	FILE *f;

	snprintf(path, n, "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
	CHECK_EQ_INT(chmod(path, mode), 0);
}

/* Opening path with p fails, err holding want. */
static void refused(const char *path, enum cfile_policy p, const char *want)
{
	char err[512] = "";
	struct cfile f;

	CHECK_EQ_INT(cfile_open(&f, path, p, err, sizeof(err)), -1);
	if (!strstr(err, want)) {
		fprintf(stderr, "  \"%s\" lacks \"%s\"\n", err, want);
		check_failed_now = 1;
	}
	CHECK(f.buf == NULL);
}

static void lines(void)
{
	char path[128], err[512];
	struct cfile f;
	char *s;

	put(path, sizeof(path), "a.conf",
	    "# comment\n\n  ca_file=/etc/ca.pem  \r\n\t# indented comment\n"
	    "allow_other\nlast=no newline", 0644);
	CHECK_EQ_INT(cfile_open(&f, path, CFILE_TRUSTED, err, sizeof(err)), 0);
	s = cfile_next(&f);
	CHECK(s && !strcmp(s, "ca_file=/etc/ca.pem"));
	CHECK_EQ_INT(f.line, 3);
	s = cfile_next(&f);
	CHECK(s && !strcmp(s, "allow_other"));
	CHECK_EQ_INT(f.line, 5);
	s = cfile_next(&f);
	CHECK(s && !strcmp(s, "last=no newline"));
	CHECK_EQ_INT(f.line, 6);
	CHECK(cfile_next(&f) == NULL);
	CHECK(cfile_next(&f) == NULL);
	cfile_close(&f);
}

/* A systemd credential is the whole file, newline dropped; a '#' in it
 * is part of the secret. */
static void value(void)
{
	char path[128], err[512];
	struct cfile f;

	put(path, sizeof(path), "secret", "#s3cret value\n", 0400);
	CHECK_EQ_INT(cfile_open(&f, path, CFILE_PRIVATE, err, sizeof(err)), 0);
	CHECK(f.secret);
	CHECK(!strcmp(cfile_value(&f), "#s3cret value"));
	cfile_close(&f);
}

/* NAME=VALUE split in place; one pair of quotes goes, nothing else. */
static void split(void)
{
	char a[] = "PKCS11_PIN=\"12 34\"", b[] = "X='a\"b'", c[] = "X=\"a'",
	     d[] = "X=", e[] = "no setting", g[] = "X=a=b";
	char *v;

	CHECK((v = cfile_split(a)) && !strcmp(a, "PKCS11_PIN") &&
	      !strcmp(v, "12 34"));
	CHECK((v = cfile_split(b)) && !strcmp(v, "a\"b"));
	CHECK((v = cfile_split(c)) && !strcmp(v, "\"a'"));
	CHECK((v = cfile_split(d)) && !strcmp(v, ""));
	CHECK(cfile_split(e) == NULL);
	CHECK((v = cfile_split(g)) && !strcmp(g, "X") && !strcmp(v, "a=b"));
}

static void policy(void)
{
	char path[128], err[512];
	struct cfile f;

	put(path, sizeof(path), "gw.conf", "x=1\n", 0664);
	refused(path, CFILE_TRUSTED, "has mode 0664");
	put(path, sizeof(path), "ow.conf", "x=1\n", 0646);
	refused(path, CFILE_TRUSTED, "has mode 0646");
	/* Readable by all is fine for a configuration, not for secrets. */
	put(path, sizeof(path), "r.conf", "x=1\n", 0644);
	CHECK_EQ_INT(cfile_open(&f, path, CFILE_TRUSTED, err, sizeof(err)), 0);
	cfile_close(&f);
	refused(path, CFILE_PRIVATE, "has mode 0644");
	put(path, sizeof(path), "g.cred", "x=1\n", 0640);
	refused(path, CFILE_PRIVATE, "has mode 0640");
	put(path, sizeof(path), "p.cred", "x=1\n", 0600);
	CHECK_EQ_INT(cfile_open(&f, path, CFILE_PRIVATE, err, sizeof(err)), 0);
	cfile_close(&f);
	if (geteuid() == 0) {
		CHECK_EQ_INT(chown(path, 65534, 65534), 0);
		refused(path, CFILE_PRIVATE, "owned by uid 65534");
		refused(path, CFILE_TRUSTED, "owned by uid 65534");
	}
	snprintf(path, sizeof(path), "%s", dir);
	refused(path, CFILE_TRUSTED, "not a regular file");
	snprintf(path, sizeof(path), "%s/missing", dir);
	refused(path, CFILE_TRUSTED, "cannot open");
}

static void size_bound(void)
{
	char path[128];
	char *big = malloc(CFILE_MAX + 2);

	CHECK(big != NULL);
	if (!big)
		return;
	memset(big, 'x', CFILE_MAX + 1);
	big[CFILE_MAX + 1] = '\0';
	put(path, sizeof(path), "big.conf", big, 0644);
	refused(path, CFILE_TRUSTED, "larger than");
	free(big);
}

static void cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

__attribute__((constructor)) static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/hsmfs-cfile-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(2);
	}
	atexit(cleanup);
}

CHECK_MAIN("cfile", T(lines), T(value), T(split), T(policy),
	   T(size_bound))
