/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hsmfs: an encrypted FUSE filesystem whose per-file keys are wrapped by a
 * key in a hardware security module.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "common/fit.h"

/* The Makefile bakes in the release and, in a git checkout, where it
 * was built from; a build without either says the release alone. */
#ifndef HSMFS_VERSION
#define HSMFS_VERSION "0.1.0"
#endif

static int version_main(int argc, char *argv[]);

static const struct {
	const char *name;
	int (*main)(int argc, char *argv[]);
	const char *desc;
} cmds[] = {
	{ "init", init_main, "Creates an encrypted volume in a directory" },
	{ "mount", mount_main, "Mounts a volume" },
	{ "umount", umount_main, "Unmounts a mount of hsmfs (-z: lazily)" },
	{ "status", status_main, "Shows a mount's key cache and HSM statistics" },
	{ "cache", cache_main, "cache flush: wipes a mount's cached keys" },
	{ "rekey", rekey_main, "Rewraps file keys to a new KEK version or KEK" },
	{ "kek", kek_main, "Lists, adds, removes escrow KEKs (volume mode)" },
	{ "fsck", fsck_main, "Checks a volume, changing nothing" },
	{ "info", info_main, "Shows a volume's config and pin (no key, no HSM)" },
	{ "inspect", inspect_main, "Prints a backing file's header (no key)" },
	{ "path", path_main, "Maps a plaintext path to its backing path, or back" },
	{ "pin", pin_main, "Lists this machine's pins, or forgets one" },
	{ "version", version_main, "Prints the version" },
};

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* "hsmfs mount" while a command runs: what its lines start with. */
static char prog[32] = "hsmfs";

static void usage(FILE *f)
{
	fprintf(f, "Usage: hsmfs COMMAND [ARGS...]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].desc);
	fprintf(f, "\n'hsmfs COMMAND --help' describes each command.\n"
		"'hsmfs CIPHERDIR MOUNTPOINT [-o OPT,...]' is 'hsmfs mount' as "
		"mount(8) runs it\n(fstab type fuse.hsmfs).\n");
}

static int version_main(int argc, char *argv[])
{
	if (cmd_wants_help(argc, argv)) {
		printf("Usage: hsmfs version (or hsmfs --version)\n\n"
		       "Prints the release and, for a build from git, the "
		       "commit.\n");
		return EXIT_OK;
	}
	if (argc > 1)
		return cmd_usage_error("takes no arguments");
	printf("hsmfs %s\n", HSMFS_VERSION);
	return EXIT_OK;
}

const char *cmd_prog(void)
{
	return prog;
}

int cmd_wants_help(int argc, char *argv[])
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
	return 0;
}

int cmd_usage_error(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	fit_vfmt(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s (see '%s --help')\n", prog, line, prog);
	return EXIT_USAGE;
}

/* getopt's '?': an unknown switch, or one without its value. */
static void bad_switch(char *argv[], const char *optstring)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	int n = (int)strcspn(arg, "=");

	if (strncmp(arg, "--", 2) != 0 && optopt)
		cmd_usage_error(strchr(optstring, optopt) ?
				"-%c needs a value" : "unknown switch -%c",
				optopt);
	else if (!optopt)
		cmd_usage_error("unknown switch %.*s", n, arg);
	else
		cmd_usage_error(arg[n] ? "%.*s takes no value" :
				"%.*s needs a value", n, arg);
}

int cmd_getopt(int argc, char *argv[], const char *optstring,
	       const struct option *longopts)
{
	int c;

	opterr = 0;
	c = longopts ? getopt_long(argc, argv, optstring, longopts, NULL)
		     : getopt(argc, argv, optstring);
	if (c == '?')
		bad_switch(argv, optstring);
	return c;
}

int cmd_operands(int argc, char *argv[], int min, int max,
		 const char *const names[])
{
	int n = argc - optind;

	if (n < min)
		return cmd_usage_error("missing %s", names[n]);
	if (max >= 0 && n > max)
		return cmd_usage_error("unexpected argument '%s'",
				       argv[optind + max]);
	return CMD_GO_ON;
}

int cmd_apply_opt(const char *opt, struct vol_opts *o, cmd_opt_fn other,
		  void *ctx, char *err, size_t n)
{
	char why[128] = "";
	int r = vol_opts_parse(o, opt, err, n);

	if (r != 0)
		return r < 0 ? -1 : 0;
	r = other ? other(ctx, opt, why, sizeof(why)) : -ENOENT;
	if (r == -ENOENT)
		fit_fmt(err, n, "unknown option '%s' (see '%s --help')", opt,
			prog);
	else if (r)
		fit_fmt(err, n, "bad value for %.*s in '%s'%s%s%s",
			(int)strcspn(opt, "="), opt, opt, why[0] ? " (" : "",
			why, why[0] ? ")" : "");
	return r ? -1 : 0;
}

/* The conf= of a list, read before the options beside it wherever it
 * stands, so that those override the file. */
static int parse_conf(const char *list, struct vol_opts *o, cmd_opt_fn other,
		      void *ctx)
{
	char *copy = strdup(list), *save = NULL;
	int r = copy ? 0 : -1;

	for (char *opt = copy ? strtok_r(copy, ",", &save) : NULL; opt && !r;
	     opt = strtok_r(NULL, ",", &save))
		if (!strncmp(opt, "conf=", 5))
			r = cmd_conf_volume(opt + 5, o, other, ctx);
	free(copy);
	return r;
}

int cmd_parse_opts(const char *list, struct vol_opts *o, cmd_opt_fn other,
		   void *ctx)
{
	char *copy, *save = NULL, err[512];

	if (parse_conf(list, o, other, ctx) || !(copy = strdup(list)))
		return -1;
	/* Values are kept: vol_opts points into this copy for good. */
	for (char *opt = strtok_r(copy, ",", &save); opt;
	     opt = strtok_r(NULL, ",", &save)) {
		if (strncmp(opt, "conf=", 5) &&
		    cmd_apply_opt(opt, o, other, ctx, err, sizeof(err))) {
			fprintf(stderr, "%s: %s\n", prog, err);
			free(copy);
			return -1;
		}
	}
	return 0;
}

int cmd_other_opt(int c, struct vol_opts *o, void (*cmd_usage)(FILE *f))
{
	switch (c) {
	case 'o':
		return cmd_parse_opts(optarg, o, NULL, NULL) ? EXIT_USAGE
							      : CMD_GO_ON;
	case 'h':
		cmd_usage(stdout);
		return EXIT_OK;
	default:
		/* cmd_getopt said why. */
		return EXIT_USAGE;
	}
}

int main(int argc, char *argv[])
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version"))
		argv[1] = "version";
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name)) {
			snprintf(prog, sizeof(prog), "hsmfs %s", cmds[i].name);
			return cmds[i].main(argc - 1, argv + 1);
		}
	/* mount(8) with -t fuse.hsmfs (fstab) runs mount.fuse3, which runs
	 * "hsmfs CIPHERDIR MOUNTPOINT -o OPTS". */
	if (argc >= 3 && is_dir(argv[1]))
		return mount_helper_main(argc, argv);
	return cmd_usage_error("unknown command '%s'", argv[1]);
}
