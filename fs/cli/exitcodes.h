/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The exit codes of every hsmfs command, in one place. The engines below
 * the CLI return results of their own; each command maps them here.
 * fsck and rekey --check follow fsck(8): 1 for what was found, 8 when
 * the check itself could not be made.
 */
#ifndef HSMFS_CLI_EXITCODES_H
#define HSMFS_CLI_EXITCODES_H

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,        /* failed; the reason was printed */
	EXIT_USAGE = 2,
	EXIT_FOUND = 1,       /* fsck: problems; rekey --check: old KEKs */
	EXIT_CANNOT_TELL = 8, /* fsck, rekey --check: operational error */
};

#endif
