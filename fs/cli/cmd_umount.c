/* SPDX-License-Identifier: Apache-2.0 */
/* hsmfs umount: fusermount3 -u, for symmetry with mount. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
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

/* "-o conf=NAME": the mount point the volume's file names (a systemd
 * unit's ExecStop= knows only the file). NULL after printing why. */
static const char *from_conf(const char *opt)
{
	struct vol_opts o;

	vol_opts_init(&o);
	if (strncmp(opt, "conf=", 5) || strchr(opt, ',')) {
		fprintf(stderr, "hsmfs umount: only -o conf=NAME is taken\n");
		return NULL;
	}
	if (cmd_conf_volume(opt + 5, &o, NULL, NULL))
		return NULL;
	if (!cmd_conf_mountpoint())
		fprintf(stderr, "hsmfs umount: %s names no mountpoint=\n",
			cmd_conf_file());
	return cmd_conf_mountpoint();
}

/* A dead mount is detached lazily (-z): a process that still has a file
 * open in it would make a plain unmount fail with EBUSY, and there is no
 * daemon left to flush anything to. */
int umount_main(int argc, char *argv[])
{
	const char *mnt = argc == 2 ? argv[1] : NULL;
	pid_t pid;
	int st;

	if (cmd_wants_help(argc, argv) ||
	    !(argc == 2 || (argc == 3 && !strcmp(argv[1], "-o")))) {
		fprintf(cmd_wants_help(argc, argv) ? stdout : stderr,
			"Usage: hsmfs umount MOUNTPOINT\n"
			"       hsmfs umount -o conf=NAME\n\n"
			"Unmounts an hsmfs mount (same as fusermount3 -u). A dead\n"
			"mount (its daemon killed) is detached lazily (-u -z).\n"
			"-o conf=NAME unmounts the mountpoint= of a volume's file\n"
			"(see hsmfs mount --help).\n");
		return cmd_wants_help(argc, argv) ? EXIT_OK : EXIT_USAGE;
	}
	if (argc == 3 && !(mnt = from_conf(argv[2])))
		return EXIT_USAGE;
	pid = fork();
	if (pid == 0) {
		execlp("fusermount3", "fusermount3",
		       is_dead(mnt) ? "-uz" : "-u", mnt, (char *)NULL);
		perror("hsmfs umount: fusermount3");
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return EXIT_FAIL;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? EXIT_OK : EXIT_FAIL;
}
