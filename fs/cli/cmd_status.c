/* SPDX-License-Identifier: Apache-2.0 */
/* hsmfs status and hsmfs cache flush: ask a running daemon. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "fs/vol/mnt.h"

/* Sends cmd to the daemon of mountpoint and prints its answer. */
static int request(const char *mountpoint, const char *cmd)
{
	char out[8192];
	int err = mnt_call(mountpoint, cmd, out, sizeof(out));

	if (err) {
		fprintf(stderr, "hsmfs: %s is not an hsmfs mount served by this "
			"user (%s)\n", mountpoint, strerror(-err));
		return EXIT_FAIL;
	}
	fputs(out, stdout);
	return EXIT_OK;
}

int status_main(int argc, char *argv[])
{
	if (cmd_wants_help(argc, argv) || argc != 2) {
		fprintf(argc == 2 ? stdout : stderr,
			"Usage: hsmfs status MOUNTPOINT\n\n"
			"Shows the DEK cache and HSM statistics of a mount, and\n"
			"who wraps its file keys (file or volume, and whether a\n"
			"conversion between the two is unfinished); for a volume-wrap\n"
			"volume also the KEK that opened it (its own, or an escrow\n"
			"KEK) and its escrow KEKs; with -o follow_kek_versions, the\n"
			"KEK version in use, when it was last read and how far the\n"
			"rewrap to it is.\n");
		return argc == 2 ? EXIT_OK : EXIT_USAGE;
	}
	return request(argv[1], "status");
}

int cache_main(int argc, char *argv[])
{
	if (cmd_wants_help(argc, argv) || argc != 3 ||
	    strcmp(argv[1], "flush")) {
		fprintf(argc == 3 ? stdout : stderr,
			"Usage: hsmfs cache flush MOUNTPOINT\n\n"
			"Wipes every cached data key of a mount: files not open\n"
			"need the HSM again (a revocation drill). Open files keep\n"
			"working. On a volume-wrap volume it also re-validates the\n"
			"KEK with the HSM at once: if it refuses, the wrapping key\n"
			"is wiped too.\n");
		return cmd_wants_help(argc, argv) ? EXIT_OK : EXIT_USAGE;
	}
	return request(argv[2], "flush");
}
