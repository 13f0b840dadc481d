/* SPDX-License-Identifier: Apache-2.0 */
/* hsmfs status and hsmfs cache flush: ask a running daemon. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "ctl.h"

int status_main(int argc, char *argv[])
{
	if (cmd_wants_help(argc, argv) || argc != 2) {
		fprintf(argc == 2 ? stdout : stderr,
			"Usage: hsmfs status MOUNTPOINT\n\n"
			"Shows the DEK cache and HSM statistics of a mount.\n");
		return argc == 2 ? EXIT_OK : EXIT_USAGE;
	}
	return ctl_request(argv[1], "status") ? EXIT_FAIL : EXIT_OK;
}

int cache_main(int argc, char *argv[])
{
	if (cmd_wants_help(argc, argv) || argc != 3 ||
	    strcmp(argv[1], "flush")) {
		fprintf(argc == 3 ? stdout : stderr,
			"Usage: hsmfs cache flush MOUNTPOINT\n\n"
			"Wipes every cached data key of a mount: files not open\n"
			"need the HSM again (a revocation drill). Open files keep\n"
			"working.\n");
		return cmd_wants_help(argc, argv) ? EXIT_OK : EXIT_USAGE;
	}
	return ctl_request(argv[2], "flush") ? EXIT_FAIL : EXIT_OK;
}
