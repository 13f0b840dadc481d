/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hsmfs subcommands: one file each, int NAME_main(argc, argv)
 * returning an exit code (exitcodes.h). The CLI is the only layer that
 * prints results for the operator and knows exit codes.
 */
#ifndef HSMFS_CLI_CMD_H
#define HSMFS_CLI_CMD_H

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
int inspect_main(int argc, char *argv[]);

/* True if argv[1] asks for help. */
int cmd_wants_help(int argc, char *argv[]);
/* Applies a comma-separated -o list: KEK and cache options to o, the
 * rest to other (0 taken, -EINVAL bad value, -ENOENT unknown). Returns
 * 0, or -1 after printing why. */
int cmd_parse_opts(const char *list, struct vol_opts *o,
		   int (*other)(void *ctx, const char *opt), void *ctx);

/* The options every subcommand that opens a volume takes, for the
 * default: of its getopt switch: -o LIST and -h; anything else is a
 * usage error. CMD_GO_ON, or the exit code to return. */
#define CMD_GO_ON (-1)
int cmd_other_opt(int c, struct vol_opts *o, void (*usage)(FILE *f));

#endif
