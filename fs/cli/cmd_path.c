/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hsmfs path: which backing entry holds a plaintext path, and which
 * plaintext path a backing entry is, with the one name transform of
 * fs/vol/bname.h. The names need the volume key: a mounted volume's
 * daemon answers over its control socket; an unmounted one is opened as
 * fsck opens it (one unwrap by the HSM).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "common/log.h"
#include "common/secmem.h"
#include "fs/vol/mnt.h"
#include "fs/vol/vol.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hsmfs path MOUNTPOINT PLAINPATH\n"
		"       hsmfs path --backing [-o OPT,...] CIPHERDIR BACKINGPATH\n"
		"\n"
		"The first form prints the backing path (in the encrypted directory)\n"
		"of the file or directory at PLAINPATH: a path in the volume (\"/a/b\"\n"
		"or \"a/b\") or under MOUNTPOINT (\"MOUNTPOINT/a/b\"). A long name's\n"
		"entry is hsmfs.longname.*, its name in the sidecar beside it (.name).\n"
		"\n"
		"The second prints the plaintext path in the volume (\"/a/b\") of the\n"
		"backing entry BACKINGPATH (as fsck and the daemon's log name it:\n"
		"under CIPHERDIR, or relative to it). If the volume is mounted, its\n"
		"daemon answers; if not, the volume is opened, which costs one HSM\n"
		"call (-o: HSM access as for fsck: ca_file=, kek_scope=, ...).\n"
		"\n"
		"Names need the volume key: only root and the user who mounted a\n"
		"volume may ask its daemon.\n");
}

/* The daemon's answer: "ok PATH", or "error: why". */
static int ask(const char *mnt, const char *req, const char *arg)
{
	/* An answer names the backing directory and a path in it, each up
	 * to PATH_MAX. */
	char cmd[PATH_MAX + 32], out[2 * PATH_MAX + 64];
	int e;

	if (snprintf(cmd, sizeof(cmd), "%s %s", req, arg) >= (int)sizeof(cmd)) {
		fprintf(stderr, "hsmfs path: %s: path too long\n", arg);
		return EXIT_FAIL;
	}
	if ((e = mnt_call(mnt, cmd, out, sizeof(out)))) {
		fprintf(stderr, "hsmfs path: the daemon of %s cannot be asked "
			"(%s): it is not served by this user\n", mnt,
			strerror(-e));
		return EXIT_FAIL;
	}
	/* mnt_call cuts an answer to the buffer: a path cut short is
	 * another path. */
	if (strlen(out) + 1 >= sizeof(out)) {
		fprintf(stderr, "hsmfs path: %s: the answer is too long\n",
			arg);
		return EXIT_FAIL;
	}
	if (strncmp(out, "ok ", 3)) {
		fprintf(stderr, "hsmfs path: %s%s", !strncmp(out, "error: ", 7) ?
			out + 7 : out, strchr(out, '\n') ? "" : "\n");
		return EXIT_FAIL;
	}
	printf("%s\n", out + 3);
	return EXIT_OK;
}

/* The part of path below dir ("" for dir itself), or NULL. */
static const char *below(const char *dir, const char *path)
{
	size_t l = strlen(dir);

	if (!strcmp(dir, "/"))
		return path + 1;
	if (strncmp(path, dir, l) || (path[l] && path[l] != '/'))
		return NULL;
	return path + l + (path[l] == '/');
}

static int to_backing(const char *mountpoint, const char *ppath)
{
	char mnt[PATH_MAX], type[64], full[PATH_MAX];
	const char *rel = NULL;
	int r;

	if ((r = mnt_canonical(mountpoint, mnt, sizeof(mnt))) ||
	    (r = mnt_type_at(mnt, type, sizeof(type))) < 0) {
		fprintf(stderr, "hsmfs path: %s: %s\n", mountpoint,
			strerror(-r));
		return EXIT_FAIL;
	}
	if (r == 0 || strcmp(type, "fuse.hsmfs")) {
		fprintf(stderr, "hsmfs path: %s is not a mount of hsmfs (for an "
			"unmounted volume, mount it first)\n", mountpoint);
		return EXIT_FAIL;
	}
	/* MOUNTPOINT/a/b, however the mount point was spelled. */
	if (ppath[0] == '/' && mnt_canonical_name(ppath, full,
						  sizeof(full)) == 0)
		rel = below(mnt, full);
	return ask(mnt, "backing-path", rel ? rel : ppath);
}

/* BACKINGPATH from CIPHERDIR's root: the path as given if it lies in
 * cipherdir, else as a path relative to it. */
static int backing_rel(const char *cdir, const char *given, char *rel,
		       size_t n)
{
	char full[PATH_MAX], joined[2 * PATH_MAX];
	const char *b = NULL;

	if (mnt_canonical_name(given, full, sizeof(full)) == 0)
		b = below(cdir, full);
	if (!b && given[0] != '/') {
		snprintf(joined, sizeof(joined), "%s/%s", cdir, given);
		if (mnt_canonical_name(joined, full, sizeof(full)) == 0)
			b = below(cdir, full);
	}
	if (!b && realpath(given, full) && !strcmp(full, cdir))
		b = "";
	if (!b)
		return -1;
	snprintf(rel, n, "%s", b);
	return 0;
}

/* The volume opened as fsck opens it: no pin written, a small cache. */
static int plain_offline(const char *cdir, const char *rel,
			 struct vol_opts *o)
{
	char err[VOL_ERR_MAX], out[PATH_MAX];
	const char *why;
	struct vol v;
	int r;

	o->pin_readonly = true;
	o->cache_entries = 16;
	if (secmem_init(1u << 20, &why))
		fprintf(stderr, "hsmfs path: %s: keys stay in ordinary "
			"memory\n", why);
	if (vol_open(&v, cdir, o, err, sizeof(err))) {
		fprintf(stderr, "hsmfs path: %s\n", err);
		return EXIT_FAIL;
	}
	r = vol_plain_path(&v, rel, out, sizeof(out), err, sizeof(err));
	vol_close(&v);
	if (r) {
		fprintf(stderr, "hsmfs path: %s\n", err);
		return EXIT_FAIL;
	}
	printf("%s\n", out);
	return EXIT_OK;
}

static int to_plain(const char *cipherdir, const char *given,
		    struct vol_opts *o)
{
	char cdir[PATH_MAX], rel[PATH_MAX], mnt[PATH_MAX];
	int m;

	if (!realpath(cipherdir, cdir)) {
		fprintf(stderr, "hsmfs path: %s: %s\n", cipherdir,
			strerror(errno));
		return EXIT_FAIL;
	}
	if (backing_rel(cdir, given, rel, sizeof(rel))) {
		fprintf(stderr, "hsmfs path: %s is not in %s\n", given, cdir);
		return EXIT_FAIL;
	}
	m = mnt_find(cdir, mnt, sizeof(mnt));
	return m == 1 ? ask(mnt, "plain-path", rel)
		      : plain_offline(cdir, rel, o);
}

int path_main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "backing", no_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vol_opts o;
	bool backing = false;
	int c, r;

	vol_opts_init(&o);
	log_init("hsmfs", 0, LOG_LVL_WARN);
	while ((c = cmd_getopt(argc, argv, "+ho:", longopts)) != -1) {
		if (c == 'b')
			backing = true;
		else if ((r = cmd_other_opt(c, &o, usage)) != CMD_GO_ON)
			return r;
	}
	if ((r = cmd_operands(argc, argv, 2, 2, backing ?
			      (const char *const[]){ "CIPHERDIR", "BACKINGPATH" } :
			      (const char *const[]){ "MOUNTPOINT", "PLAINPATH" })) !=
	    CMD_GO_ON)
		return r;
	if (!backing && argv[optind + 1][0] == '\0')
		return cmd_usage_error("empty PLAINPATH");
	return backing ? to_plain(argv[optind], argv[optind + 1], &o)
		       : to_backing(argv[optind], argv[optind + 1]);
}
