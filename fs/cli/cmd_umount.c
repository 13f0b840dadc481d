/* SPDX-License-Identifier: Apache-2.0 */
/* hsmfs umount: fusermount3 -u, for symmetry with mount. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"

/* A mount whose daemon was killed answers ENOTCONN to a listing (stat
 * may still be served from the kernel's cache). */
static bool is_dead(const char *mnt)
{
	DIR *d = opendir(mnt);

	if (d)
		closedir(d);
	return !d && errno == ENOTCONN;
}

/* A dead mount is detached lazily (-z): a process that still has a file
 * open in it would make a plain unmount fail with EBUSY, and there is no
 * daemon left to flush anything to. */
int umount_main(int argc, char *argv[])
{
	pid_t pid;
	int st;

	if (cmd_wants_help(argc, argv) || argc != 2) {
		fprintf(argc == 2 ? stdout : stderr,
			"Usage: hsmfs umount MOUNTPOINT\n\n"
			"Unmounts an hsmfs mount (same as fusermount3 -u). A dead\n"
			"mount (its daemon killed) is detached lazily (-u -z).\n");
		return argc == 2 ? EXIT_OK : EXIT_USAGE;
	}
	pid = fork();
	if (pid == 0) {
		execlp("fusermount3", "fusermount3",
		       is_dead(argv[1]) ? "-uz" : "-u", argv[1], (char *)NULL);
		perror("hsmfs umount: fusermount3");
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return EXIT_FAIL;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? EXIT_OK : EXIT_FAIL;
}
