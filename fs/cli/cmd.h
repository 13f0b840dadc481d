/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hsmfs subcommands: one file each, int NAME_main(argc, argv)
 * returning an exit code (exitcodes.h). The CLI is the only layer that
 * prints results for the operator and knows exit codes. A usage error is
 * one line on stderr naming what is wrong and where the help is, never
 * the whole help.
 */
#ifndef HSMFS_CLI_CMD_H
#define HSMFS_CLI_CMD_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

#include "exitcodes.h"
#include "fs/vol/opts.h"

int init_main(int argc, char *argv[]);
int mount_main(int argc, char *argv[]);
int umount_main(int argc, char *argv[]);
int status_main(int argc, char *argv[]);
int cache_main(int argc, char *argv[]);
int rekey_main(int argc, char *argv[]);
int kek_main(int argc, char *argv[]);
int fsck_main(int argc, char *argv[]);
int info_main(int argc, char *argv[]);
int inspect_main(int argc, char *argv[]);
/* "hsmfs CIPHERDIR MOUNTPOINT [-o OPTS]": hsmfs mount as mount.fuse3
 * runs it for mount(8) and fstab (argv[0] is the program). */
int mount_helper_main(int argc, char *argv[]);
int path_main(int argc, char *argv[]);
int pin_main(int argc, char *argv[]);

/* "hsmfs COMMAND", for the lines a command prints. */
const char *cmd_prog(void);
/* True if argv[1] asks for help. */
int cmd_wants_help(int argc, char *argv[]);
/* Prints "hsmfs COMMAND: <why> (see 'hsmfs COMMAND --help')" and
 * returns EXIT_USAGE. */
int cmd_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
/* getopt_long (getopt if longopts is NULL) that says in one line what
 * is wrong with a switch it returns '?' for. */
int cmd_getopt(int argc, char *argv[], const char *optstring,
	       const struct option *longopts);
/* The operands after the switches (from optind): min to max of them (max
 * -1: any number); names[i] is the i-th's name in the usage, for
 * "missing NAME". CMD_GO_ON, or EXIT_USAGE after one line. */
int cmd_operands(int argc, char *argv[], int min, int max,
		 const char *const names[]);

/* A command's own -o options: 0 taken, -ENOENT unknown, -EINVAL a bad
 * value (why, if it can, gets the values allowed: "1..256"). */
typedef int (*cmd_opt_fn)(void *ctx, const char *opt, char *why, size_t n);
/* Applies a comma-separated -o list: KEK and cache options to o, the
 * rest to other (0 taken, -EINVAL bad value, -ENOENT unknown). A conf=
 * in it is read first (cmd_conf_volume). Returns 0, or -1 after printing
 * why. */
int cmd_parse_opts(const char *list, struct vol_opts *o, cmd_opt_fn other,
		   void *ctx);
/* One option, as cmd_parse_opts: 0, or -1 with one line in err. */
int cmd_apply_opt(const char *opt, struct vol_opts *o, cmd_opt_fn other,
		  void *ctx, char *err, size_t n);

/* The operator's files (conf.c). The machine's, $HSMFS_CONF or else
 * /etc/hsmfs/hsmfs.conf (none if it does not exist), holds defaults for
 * every command that opens a volume: call it after setting the
 * command's own defaults and before parsing -o, which overrides it.
 * Options of mount that other commands do not take are checked there
 * and left to mount. Not read when argv asks for help. CMD_GO_ON, or
 * the exit code after printing why (file:line for a bad option). */
int cmd_conf_machine(int argc, char *argv[], struct vol_opts *o,
		     cmd_opt_fn other, void *ctx);
/* A volume's file, -o conf=NAME (NAME.conf in the directory "volumes"
 * beside the machine's file) or conf=PATH: the same options, and the
 * volume's cipherdir= and mountpoint=. One per command. 0, or -1 after
 * printing why. */
int cmd_conf_volume(const char *name, struct vol_opts *o,
		    cmd_opt_fn other, void *ctx);
/* What the volume's file said, or NULL. */
const char *cmd_conf_cipherdir(void);
const char *cmd_conf_mountpoint(void);
const char *cmd_conf_file(void);
/* Whether hsmfs mount takes opt: 0 (options of mount(8) and systemd
 * included, which it ignores), -EINVAL bad value, -ENOENT unknown. */
int cmd_mount_opt_check(const char *opt);

/* The options every subcommand that opens a volume takes, for the
 * default: of its getopt switch: -o LIST and -h; anything else is a
 * usage error (cmd_getopt said which). CMD_GO_ON, or the exit code to
 * return. */
#define CMD_GO_ON (-1)
int cmd_other_opt(int c, struct vol_opts *o, void (*usage)(FILE *f));

#endif
