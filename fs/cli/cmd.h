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
 * rest to other. Returns 0, or -1 after printing why. */
int cmd_parse_opts(const char *list, struct vol_opts *o, cmd_opt_fn other,
		   void *ctx);

/* The options every subcommand that opens a volume takes, for the
 * default: of its getopt switch: -o LIST and -h; anything else is a
 * usage error (cmd_getopt said which). CMD_GO_ON, or the exit code to
 * return. */
#define CMD_GO_ON (-1)
int cmd_other_opt(int c, struct vol_opts *o, void (*usage)(FILE *f));

#endif
