/* SPDX-License-Identifier: Apache-2.0 */
/* hsmfs status and hsmfs cache flush: ask a running daemon. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "fs/vol/mnt.h"

/* Sends cmd to the daemon of mountpoint and prints its answer. */
static int request(const char *mountpoint, const char *cmd)
{
	char out[16384];
	int err = mnt_call(mountpoint, cmd, out, sizeof(out));

	if (err) {
		fprintf(stderr, "%s: %s is not an hsmfs mount served by this "
			"user (%s)\n", cmd_prog(), mountpoint, strerror(-err));
		return EXIT_FAIL;
	}
	fputs(out, stdout);
	return EXIT_OK;
}

static void status_usage(FILE *f)
{
	fprintf(f,
		"Usage: hsmfs status [--json] MOUNTPOINT\n\n"
		"Shows the DEK cache and HSM statistics of a mount, and\n"
		"who wraps its file keys (file or volume, and whether a\n"
		"conversion between the two is unfinished); for a volume-wrap\n"
		"volume also the KEK that opened it (its own, or an escrow\n"
		"KEK) and its escrow KEKs; with -o follow_kek_versions, the\n"
		"KEK version in use, when it was last read and how far the\n"
		"rewrap to it is; how long it has been mounted, and the mount\n"
		"options in effect.\n\n"
		"  --json   the same as one JSON object (its keys: README.md,\n"
		"           \"hsmfs status --json\")\n");
}

int status_main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	int c;

	while ((c = cmd_getopt(argc, argv, "+h", longopts)) != -1) {
		if (c == 'h') {
			status_usage(stdout);
			return EXIT_OK;
		}
		if (c != 'j')
			return EXIT_USAGE;
		json = true;
	}
	if ((c = cmd_operands(argc, argv, 1, 1, (const char *const[]){
		     "MOUNTPOINT" })) != CMD_GO_ON)
		return c;
	return request(argv[optind], json ? "status-json" : "status");
}

int cache_main(int argc, char *argv[])
{
	if (cmd_wants_help(argc, argv)) {
		printf("Usage: hsmfs cache flush MOUNTPOINT\n\n"
		       "Wipes every cached data key of a mount: files not open\n"
		       "need the HSM again (a revocation drill). Open files keep\n"
		       "working. On a volume-wrap volume it also re-validates the\n"
		       "KEK with the HSM at once: if it refuses, the wrapping key\n"
		       "is wiped too.\n");
		return EXIT_OK;
	}
	if (argc < 2)
		return cmd_usage_error("missing flush");
	if (strcmp(argv[1], "flush"))
		return cmd_usage_error("unknown subcommand '%s' (flush)",
				       argv[1]);
	optind = 2;
	if (cmd_operands(argc, argv, 1, 1, (const char *const[]){
		"MOUNTPOINT" }) != CMD_GO_ON)
		return EXIT_USAGE;
	return request(argv[2], "flush");
}
