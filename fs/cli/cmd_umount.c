/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hsmfs umount [-z]: fusermount3 -u, for symmetry with mount, but only
 * of a mount of hsmfs; a busy one is explained (which processes hold
 * it) instead of fusermount3's bare EBUSY.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "common/fit.h"
#include "fs/vol/mnt.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hsmfs umount [-z] MOUNTPOINT\n"
		"       hsmfs umount [-z] -o conf=NAME\n\n"
		"Unmounts a mount of hsmfs (as fusermount3 -u does; other mounts\n"
		"are refused). If files in it are open, it says which processes\n"
		"hold them and leaves it mounted. A dead mount (its daemon killed)\n"
		"is detached lazily.\n\n"
		"  -z   detach it now even if busy (fusermount3 -u -z): it goes away\n"
		"       for good once the last file in it is closed\n"
		"  -o conf=NAME  the mountpoint= of a volume's file (see hsmfs mount\n"
		"       --help), as a systemd unit's ExecStop= gives it\n");
}

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

/* Runs fusermount3 -u[z] on mnt, its complaint (if any) into why. The
 * exit status, or -1. */
static int fusermount(const char *mnt, bool lazy, char *why, size_t n)
{
	int p[2], st;
	ssize_t got;
	pid_t pid;

	why[0] = '\0';
	if (pipe2(p, O_CLOEXEC) != 0 || (pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		dup2(p[1], 2);
		execlp("fusermount3", "fusermount3", lazy ? "-uz" : "-u", mnt,
		       (char *)NULL);
		fprintf(stderr, "cannot run fusermount3: %s", strerror(errno));
		_exit(127);
	}
	close(p[1]);
	got = read(p[0], why, n - 1);
	close(p[0]);
	why[got > 0 ? got : 0] = '\0';
	why[strcspn(why, "\n")] = '\0';
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* True if link (a /proc/PID/fd/N, cwd or root) points into mnt. */
static bool points_into(const char *link, const char *mnt)
{
	char to[PATH_MAX];
	ssize_t n = readlink(link, to, sizeof(to) - 1);
	size_t l = strlen(mnt);

	if (n <= 0)
		return false;
	to[n] = '\0';
	return !strncmp(to, mnt, l) && (to[l] == '\0' || to[l] == '/');
}

/* True if process pid has a file, its working or root directory in
 * mnt. Another user's processes cannot be looked at but by root. */
static bool holds(const char *pid, const char *mnt)
{
	char path[64], fd[128];
	struct dirent *de;
	bool yes = false;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%s/cwd", pid);
	if (points_into(path, mnt))
		return true;
	snprintf(path, sizeof(path), "/proc/%s/root", pid);
	if (strcmp(mnt, "/") && points_into(path, mnt))
		return true;
	snprintf(path, sizeof(path), "/proc/%s/fd", pid);
	if (!(d = opendir(path)))
		return false;
	while (!yes && (de = readdir(d))) {
		snprintf(fd, sizeof(fd), "%s/%s", path, de->d_name);
		yes = de->d_name[0] != '.' && points_into(fd, mnt);
	}
	closedir(d);
	return yes;
}

/* "1234 (cat), 5678 (bash)": the processes that hold mnt, as far as
 * /proc lets us see; empty if none is seen. */
static void holders(const char *mnt, char *out, size_t n)
{
	char comm[64], path[64], one[96];
	struct dirent *de;
	DIR *d = opendir("/proc");
	FILE *f;

	out[0] = '\0';
	while (d && (de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]) ||
		    atoi(de->d_name) == getpid() || !holds(de->d_name, mnt))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
		comm[0] = '\0';
		if ((f = fopen(path, "re"))) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = '\0';
			fclose(f);
		}
		comm[strcspn(comm, "\n")] = '\0';
		snprintf(one, sizeof(one), "%s%s (%s)", out[0] ? ", " : "",
			 de->d_name, comm);
		if (strlen(out) + strlen(one) + 1 < n)
			strcat(out, one);
	}
	if (d)
		closedir(d);
}

/* The line for a mount fusermount3 would not unmount. */
static int failed(const char *given, const char *mnt, const char *why)
{
	char who[512];

	if (!strstr(why, "busy")) {
		fprintf(stderr, "hsmfs umount: %s\n", why[0] ? why :
			"fusermount3 failed");
		return EXIT_FAIL;
	}
	holders(mnt, who, sizeof(who));
	if (who[0])
		fprintf(stderr, "hsmfs umount: %s is busy: in use by %s; close "
			"those, or 'hsmfs umount -z %s' detaches it now\n",
			given, who, given);
	else
		fprintf(stderr, "hsmfs umount: %s is busy: files are open (see "
			"fuser -vm %s); close them, or 'hsmfs umount -z %s' "
			"detaches it now\n", given, given, given);
	return EXIT_FAIL;
}

int umount_main(int argc, char *argv[])
{
	char mnt[PATH_MAX], type[64], why[512];
	const char *given = NULL;
	bool lazy = false;
	int c, r;

	if (cmd_wants_help(argc, argv)) {
		usage(stdout);
		return EXIT_OK;
	}
	while ((c = cmd_getopt(argc, argv, "+zo:", NULL)) != -1) {
		if (c == 'z')
			lazy = true;
		else if (c != 'o' || !(given = from_conf(optarg)))
			return EXIT_USAGE;
	}
	if ((r = cmd_operands(argc, argv, given ? 0 : 1, given ? 0 : 1,
			      (const char *const[]){ "MOUNTPOINT" })) !=
	    CMD_GO_ON)
		return r;
	if (!given)
		given = argv[optind];
	if ((r = mnt_canonical(given, mnt, sizeof(mnt))) ||
	    (r = mnt_type_at(mnt, type, sizeof(type))) < 0) {
		fprintf(stderr, "hsmfs umount: %s: %s\n", given,
			strerror(-r));
		return EXIT_FAIL;
	}
	if (r == 0 || strcmp(type, "fuse.hsmfs")) {
		fprintf(stderr, "hsmfs umount: %s is not a mount of hsmfs (%s%s): "
			"refusing to unmount it\n", given,
			r ? "it is a mount of " : "nothing is mounted there",
			r ? type : "");
		return EXIT_FAIL;
	}
	r = fusermount(mnt, lazy || is_dead(mnt), why, sizeof(why));
	return r == 0 ? EXIT_OK : failed(given, mnt, why);
}
