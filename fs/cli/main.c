/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hsmfs: an encrypted FUSE filesystem whose per-file keys are wrapped by a
 * key in a hardware security module.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"

#define HSMFS_VERSION "0.1.0"

static const struct {
	const char *name;
	int (*main)(int argc, char *argv[]);
	const char *desc;
} cmds[] = {
	{ "init", init_main, "Creates an encrypted volume in a directory" },
	{ "mount", mount_main, "Mounts a volume" },
	{ "umount", umount_main, "Unmounts a mounted volume" },
	{ "status", status_main, "Shows a mount's key cache and HSM statistics" },
	{ "cache", cache_main, "cache flush: wipes a mount's cached keys" },
	{ "rekey", rekey_main, "Rewraps file keys to a new KEK version or KEK" },
	{ "kek", kek_main, "Lists, adds, removes escrow KEKs (volume mode)" },
	{ "fsck", fsck_main, "Checks a volume, changing nothing" },
	{ "inspect", inspect_main, "Prints a backing file's header (no key)" },
};

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: hsmfs COMMAND [ARGS...]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].desc);
	fprintf(f, "\n'hsmfs COMMAND --help' describes each command.\n"
		"'hsmfs CIPHERDIR MOUNTPOINT [-o OPT,...]' is 'hsmfs mount' as "
		"mount(8) runs it\n(fstab type fuse.hsmfs).\n");
}

int cmd_wants_help(int argc, char *argv[])
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
	return 0;
}

int cmd_apply_opt(const char *opt, struct vol_opts *o,
		  int (*other)(void *ctx, const char *opt), void *ctx,
		  char *err, size_t n)
{
	int r = vol_opts_parse(o, opt, err, n);

	if (r != 0)
		return r < 0 ? -1 : 0;
	r = other ? other(ctx, opt) : -ENOENT;
	if (r == -ENOENT)
		snprintf(err, n, "unknown option '%s'", opt);
	else if (r)
		snprintf(err, n, "bad value in option '%s'", opt);
	return r ? -1 : 0;
}

/* The conf= of a list, read before the options beside it wherever it
 * stands, so that those override the file. */
static int parse_conf(const char *list, struct vol_opts *o,
		      int (*other)(void *ctx, const char *opt), void *ctx)
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

int cmd_parse_opts(const char *list, struct vol_opts *o,
		   int (*other)(void *ctx, const char *opt), void *ctx)
{
	char *copy, *save = NULL, err[256];

	if (parse_conf(list, o, other, ctx) || !(copy = strdup(list)))
		return -1;
	/* Values are kept: vol_opts points into this copy for good. */
	for (char *opt = strtok_r(copy, ",", &save); opt;
	     opt = strtok_r(NULL, ",", &save)) {
		if (strncmp(opt, "conf=", 5) &&
		    cmd_apply_opt(opt, o, other, ctx, err, sizeof(err))) {
			fprintf(stderr, "hsmfs: %s\n", err);
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
		cmd_usage(stderr);
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
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("hsmfs %s\n", HSMFS_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].main(argc - 1, argv + 1);
	/* mount(8) with -t fuse.hsmfs (fstab) runs mount.fuse3, which runs
	 * "hsmfs CIPHERDIR MOUNTPOINT -o OPTS". */
	if (argc >= 3 && is_dir(argv[1]))
		return mount_helper_main(argc, argv);
	fprintf(stderr, "hsmfs: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
