/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The operator's configuration files (cmd.h): the machine's, read by
 * every command that opens a volume, and a volume's, named by -o conf=.
 * One option a line, as -o takes it (no commas needed: the line is the
 * option); '#' starts a comment line. They decide where tokens and keys
 * go, so common/cfile.h checks who may have written them first.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "common/cfile.h"

#define MACHINE_CONF "/etc/hsmfs/hsmfs.conf"

/* What the volume's file named beyond options (one per command). */
static struct {
	char path[4096];
	const char *cipherdir, *mountpoint;
} vf;

static const char *machine_path(void)
{
	const char *e = getenv("HSMFS_CONF");

	return e && *e ? e : MACHINE_CONF;
}

/* Options meant for mount only are checked, then left to it. */
static int mount_opt_cb(void *ctx, const char *opt, char *why, size_t n)
{
	(void)ctx;
	(void)why;
	(void)n;
	return cmd_mount_opt_check(opt);
}

/* cipherdir= and mountpoint=: what hsmfs mount takes when its arguments
 * are left out; only a volume's file may say them. */
static int place(const char *opt, bool volume, const char **dst,
		 char *err, size_t n)
{
	const char *val = strchr(opt, '=') + 1;

	if (!volume) {
		snprintf(err, n, "%.*s belongs in a volume's file (-o conf=)",
			 (int)(val - opt), opt);
		return -1;
	}
	if (!*val) {
		snprintf(err, n, "bad value in option '%s'", opt);
		return -1;
	}
	*dst = val;
	return 0;
}

static int file_opt(const char *opt, bool volume, struct vol_opts *o,
		    cmd_opt_fn other, void *ctx,
		    char *err, size_t n)
{
	if (!strncmp(opt, "cipherdir=", 10))
		return place(opt, volume, &vf.cipherdir, err, n);
	if (!strncmp(opt, "mountpoint=", 11))
		return place(opt, volume, &vf.mountpoint, err, n);
	if (!strncmp(opt, "conf=", 5)) {
		snprintf(err, n, "conf= cannot be given in a file");
		return -1;
	}
	return cmd_apply_opt(opt, o, other ? other : mount_opt_cb, ctx, err,
			     n);
}

/* Applies every line of path. 0, or -1 after printing why. The file
 * stays in memory: the options point into it. */
static int load(const char *path, bool volume, struct vol_opts *o,
		cmd_opt_fn other, void *ctx)
{
	char err[512];
	struct cfile f;
	char *line;

	if (cfile_open(&f, path, CFILE_TRUSTED, err, sizeof(err))) {
		fprintf(stderr, "hsmfs: %s\n", err);
		return -1;
	}
	while ((line = cfile_next(&f)))
		if (file_opt(line, volume, o, other, ctx, err, sizeof(err))) {
			fprintf(stderr, "hsmfs: %s:%u: %s\n", path, f.line,
				err);
			return -1;
		}
	return 0;
}

int cmd_conf_machine(int argc, char *argv[], struct vol_opts *o,
		     cmd_opt_fn other, void *ctx)
{
	const char *path = machine_path();

	if (cmd_wants_help(argc, argv))
		return CMD_GO_ON;
	if (access(path, R_OK) != 0 && errno == ENOENT)
		return CMD_GO_ON;
	/* A user whom the administrator keeps out of the machine's file
	 * still gets to run hsmfs, with the command line alone. */
	if (access(path, R_OK) != 0 && errno == EACCES && geteuid() != 0) {
		fprintf(stderr, "hsmfs: %s: %s: its defaults are not used\n",
			path, strerror(errno));
		return CMD_GO_ON;
	}
	return load(path, false, o, other, ctx) ? EXIT_USAGE : CMD_GO_ON;
}

/* NAME: NAME.conf in "volumes" beside the machine's file; PATH: as is. */
static int volume_path(const char *name, char *out, size_t n)
{
	const char *m = machine_path(), *slash = strrchr(m, '/');

	if (strchr(name, '/')) {
		snprintf(out, n, "%s", name);
		return 0;
	}
	if (!*name || name[0] == '.' ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789._@-") != strlen(name)) {
		fprintf(stderr, "hsmfs: conf=%s: a volume's name is letters, "
			"digits, '.', '_', '@' and '-' (or give a path)\n",
			name);
		return -1;
	}
	snprintf(out, n, "%.*svolumes/%s.conf",
		 slash ? (int)(slash - m + 1) : 0, m, name);
	return 0;
}

int cmd_conf_volume(const char *name, struct vol_opts *o,
		    cmd_opt_fn other, void *ctx)
{
	if (vf.path[0]) {
		fprintf(stderr, "hsmfs: one conf= per command (%s already "
			"read)\n", vf.path);
		return -1;
	}
	if (volume_path(name, vf.path, sizeof(vf.path)))
		return -1;
	return load(vf.path, true, o, other, ctx);
}

const char *cmd_conf_cipherdir(void)
{
	return vf.cipherdir;
}

const char *cmd_conf_mountpoint(void)
{
	return vf.mountpoint;
}

const char *cmd_conf_file(void)
{
	return vf.path[0] ? vf.path : NULL;
}
