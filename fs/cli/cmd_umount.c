/* SPDX-License-Identifier: Apache-2.0 */
/* hsmfs umount: fusermount3 -u, for symmetry with mount. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"

int umount_main(int argc, char *argv[])
{
	pid_t pid;
	int st;

	if (cmd_wants_help(argc, argv) || argc != 2) {
		fprintf(argc == 2 ? stdout : stderr,
			"Usage: hsmfs umount MOUNTPOINT\n\n"
			"Unmounts an hsmfs mount (same as fusermount3 -u).\n");
		return argc == 2 ? EXIT_OK : EXIT_USAGE;
	}
	pid = fork();
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-u", argv[1], (char *)NULL);
		perror("hsmfs umount: fusermount3");
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return EXIT_FAIL;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? EXIT_OK : EXIT_FAIL;
}
