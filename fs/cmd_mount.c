/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hsmfs mount: opens the volume (config, pin, KEK, volume key), mounts, and
 * serves. By default it returns once the mount is ready, leaving a daemon
 * that logs to syslog; with -f it stays in the foreground, logging to
 * stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "common/log.h"
#include "common/parse.h"
#include "ctl.h"
#include "fsd.h"

struct margs {
	struct vol_opts o;
	struct fuse_args fargs;
	const char *cipherdir, *mountpoint;
	bool foreground, debug, writeback;
	bool allow_other, default_perms;
	double timeout;
	unsigned threads, prefetch, readahead;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hsmfs mount [-f] [-d] [-o OPT,...] CIPHERDIR MOUNTPOINT\n"
		"\n"
		"Mounts the volume in CIPHERDIR on MOUNTPOINT. Returns once the mount is\n"
		"ready (or fails with the reason); the daemon logs to syslog.\n"
		"\n"
		"  -f                   stay in the foreground, log to stderr\n"
		"  -d                   debug logging\n"
		"  -o ro                read-only\n"
		"  -o allow_other       let other users in (implies default_permissions)\n"
		"  -o default_permissions  let the kernel check permissions\n"
		"  -o no_writeback      no kernel write-back cache\n"
		"  -o timeout=SECONDS   attribute and entry cache time (default 1)\n"
		"  -o threads=N         FUSE worker threads (default 16)\n"
		"  -o prefetch=N        threads unwrapping keys ahead of a directory\n"
		"                       scan (default 8, 0 turns prefetching off)\n"
		"  -o readahead=KB      kernel readahead of the mount (default 4096,\n"
		"                       0 leaves the kernel's; needs root)\n"
		"  -o kek=URL           refuse the volume unless it uses this KEK\n"
		"  -o no_pin            do not check or record the local pin\n"
		"  -o dek_cache_size=N  unwrapped file keys kept (default 100000)\n"
		"  -o dek_cache_ttl=S   how long one is kept (default 300)\n"
		"  -o ca_file=PATH, kek_scope=SCOPE, hsm_endpoint=URL, api_version=V,\n"
		"     hsm_timeout=MS    HSM access (see hsmfs init --help)\n"
		"\n"
		"Unmount with 'hsmfs umount MOUNTPOINT' or 'fusermount3 -u MOUNTPOINT'.\n");
}

static int fuse_opt(void *ctx, const char *opt)
{
	struct margs *a = ctx;
	char buf[300];

	if (!strcmp(opt, "no_writeback")) {
		a->writeback = false;
		return 0;
	}
	if (!strncmp(opt, "timeout=", 8)) {
		return parse_double(opt + 8, 0, 86400, &a->timeout);
	}
	if (!strncmp(opt, "prefetch=", 9)) {
		return parse_uint(opt + 9, 64, &a->prefetch);
	}
	if (!strncmp(opt, "readahead=", 10))
		return parse_uint(opt + 10, 1024 * 1024, &a->readahead);
	if (!strncmp(opt, "threads=", 8)) {
		return parse_uint(opt + 8, 256, &a->threads) ||
		       a->threads < 1 ? -1 : 0;
	}
	if (!strcmp(opt, "allow_other"))
		a->allow_other = a->default_perms = true;
	else if (!strcmp(opt, "default_permissions"))
		a->default_perms = true;
	else if (strcmp(opt, "ro") && strcmp(opt, "rw") &&
		 strcmp(opt, "allow_root") && strcmp(opt, "auto_unmount") &&
		 strcmp(opt, "noatime") && strcmp(opt, "nodev") &&
		 strcmp(opt, "nosuid") && strcmp(opt, "noexec"))
		return -1;
	if (!strcmp(opt, "default_permissions") || !strcmp(opt, "allow_other"))
		return 0; /* added once below */
	snprintf(buf, sizeof(buf), "-o%s", opt);
	return fuse_opt_add_arg(&a->fargs, buf);
}

static int parse_args(int argc, char *argv[], struct margs *a)
{
	int c;

	memset(a, 0, sizeof(*a));
	vol_opts_init(&a->o);
	a->writeback = true;
	a->timeout = 1.0;
	a->threads = 16;
	a->prefetch = 8;
	a->readahead = 4096;
	if (fuse_opt_add_arg(&a->fargs, "hsmfs"))
		return -1;
	while ((c = getopt(argc, argv, "+fdo:")) != -1) {
		switch (c) {
		case 'f':
			a->foreground = true;
			break;
		case 'd':
			a->debug = true;
			break;
		case 'o':
			if (cmd_parse_opts(optarg, &a->o, fuse_opt, a))
				return -1;
			break;
		default:
			return -1;
		}
	}
	if (optind != argc - 2)
		return -1;
	a->cipherdir = argv[optind];
	a->mountpoint = argv[optind + 1];
	if (a->default_perms && fuse_opt_add_arg(&a->fargs,
						 "-odefault_permissions"))
		return -1;
	if (a->allow_other && fuse_opt_add_arg(&a->fargs, "-oallow_other"))
		return -1;
	return 0;
}

/* Tells the waiting parent how the mount went ("OK" or the reason). */
static void notify(int fd, const char *msg)
{
	if (fd < 0) {
		if (strcmp(msg, "OK"))
			fprintf(stderr, "hsmfs mount: %s\n", msg);
		return;
	}
	(void)!write(fd, msg, strlen(msg));
	close(fd);
}

static int setup_root(struct fsd *fs, char *err, size_t n)
{
	struct stat st;

	fs->root.fd = open(fs->vol.cipherdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fs->root.fd < 0 || fstat(fs->root.fd, &st) != 0) {
		snprintf(err, n, "cannot open %s: %s", fs->vol.cipherdir,
			 strerror(errno));
		return -1;
	}
	fs->root.ino = st.st_ino;
	fs->root.dev = st.st_dev;
	fs->root.type = S_IFDIR;
	fs->root.nlookup = 2;
	pthread_mutex_init(&fs->root.iv_lock, NULL);
	pthread_rwlock_init(&fs->root.rw, NULL);
	return inode_table_init(fs) ? -1 : 0;
}

static int add_fsname(struct margs *a)
{
	char buf[600], *p;

	snprintf(buf, sizeof(buf), "-ofsname=%s,subtype=hsmfs", a->cipherdir);
	/* A comma in the path would split the option. */
	for (p = buf + 9; *p && strncmp(p, ",subtype", 8); p++)
		if (*p == ',')
			*p = '_';
	return fuse_opt_add_arg(&a->fargs, buf);
}

static size_t heap_size(unsigned entries)
{
	size_t want = (size_t)entries * 64 + (1u << 20), n = 1u << 20;

	while (n < want)
		n <<= 1;
	return n;
}

static int serve(struct fsd *fs, struct margs *a, int notify_fd)
{
	struct fuse_lowlevel_ops ops = hsmfs_ops;
	struct fuse_loop_config *cfg;
	char ctlpath[108];
	int ret, have_ctl;

	ops_file_init(&ops);
	ops_xattr_init(&ops);
	/* The kernel has applied the caller's umask to every mode we get. */
	umask(0);
	have_ctl = ctl_path(a->mountpoint, ctlpath, sizeof(ctlpath)) == 0;
	if (add_fsname(a) ||
	    !(fs->se = fuse_session_new(&a->fargs, &ops, sizeof(ops), fs))) {
		notify(notify_fd, "invalid mount options");
		return -1;
	}
	if (fuse_set_signal_handlers(fs->se) ||
	    fuse_session_mount(fs->se, a->mountpoint)) {
		fuse_session_destroy(fs->se);
		notify(notify_fd, "cannot mount (is the mount point an empty "
				  "directory, and /dev/fuse usable?)");
		return -1;
	}
	if (!have_ctl || (ret = ctl_start(fs, ctlpath)))
		log_warn("no control socket: hsmfs status will not work");
	log_info("mounted %s on %s", fs->vol.cipherdir, a->mountpoint);
	notify(notify_fd, "OK");
	if (!a->foreground) {
		int nul = open("/dev/null", O_RDWR);

		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
			close(nul);
		}
		(void)!chdir("/");
	}
	if (prefetch_start(fs, a->prefetch))
		log_warn("no key prefetching: out of memory");
	cfg = fuse_loop_cfg_create();
	fuse_loop_cfg_set_max_threads(cfg, a->threads);
	fuse_loop_cfg_set_clone_fd(cfg, 1);
	ret = fuse_session_loop_mt(fs->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	prefetch_stop();
	ctl_stop();
	fuse_session_unmount(fs->se);
	fuse_remove_signal_handlers(fs->se);
	fuse_session_destroy(fs->se);
	log_info("unmounted %s", a->mountpoint);
	return ret ? -1 : 0;
}

/* Every inode the kernel knows holds a descriptor of its backing file, so
 * the daemon takes as many descriptors as it may (root: up to nr_open). */
static void raise_nofile(void)
{
	struct rlimit rl;
	unsigned long nr = 0;
	FILE *f;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (geteuid() == 0 && (f = fopen("/proc/sys/fs/nr_open", "re"))) {
		if (fscanf(f, "%lu", &nr) == 1 && nr > rl.rlim_max)
			rl.rlim_max = nr;
		fclose(f);
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int run(struct margs *a, int notify_fd)
{
	static struct fsd fs;
	const char *why;
	char err[768];
	int ret = -1;

	log_init("hsmfs", !a->foreground, a->debug ? LOG_LVL_DEBUG
						   : LOG_LVL_INFO);
	raise_nofile();
	if (secmem_init(heap_size(a->o.cache_entries), &why))
		log_warn("%s: keys stay in ordinary memory", why);
	if (vol_open(&fs.vol, a->cipherdir, &a->o, err, sizeof(err))) {
		notify(notify_fd, err);
		return -1;
	}
	fs.plaintext_names = fs.vol.conf.features & FEAT_PLAINTEXT_NAMES;
	fs.writeback = a->writeback;
	fs.timeout = a->timeout;
	fs.chown_new = geteuid() == 0;
	fs.readahead_kb = a->readahead;
	/* Resolved now: once mounted, that would be a request to ourselves. */
	fs.mountpoint = realpath(a->mountpoint, NULL);
	if (setup_root(&fs, err, sizeof(err)))
		notify(notify_fd, err);
	else
		ret = serve(&fs, a, notify_fd);
	inode_table_free(&fs);
	prefetch_free(fs.root.pf);
	if (fs.root.fd > 0)
		close(fs.root.fd);
	vol_close(&fs.vol);
	free(fs.mountpoint);
	return ret;
}

/* The parent waits for the child's word, so that mount returns only when
 * the filesystem is usable, or fails with the child's reason. */
static int daemonize(struct margs *a)
{
	char msg[1024];
	ssize_t n;
	int p[2], st;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) != 0)
		return EXIT_FAIL;
	pid = fork();
	if (pid < 0)
		return EXIT_FAIL;
	if (pid == 0) {
		close(p[0]);
		setsid();
		_exit(run(a, p[1]) ? EXIT_FAIL : EXIT_OK);
	}
	close(p[1]);
	n = read(p[0], msg, sizeof(msg) - 1);
	close(p[0]);
	msg[n > 0 ? n : 0] = '\0';
	if (n == 2 && !strcmp(msg, "OK"))
		return EXIT_OK;
	waitpid(pid, &st, 0);
	fprintf(stderr, "hsmfs mount: %s\n", n > 0 ? msg : "daemon died");
	return EXIT_FAIL;
}

int mount_main(int argc, char *argv[])
{
	struct margs a;
	int ret;

	if (cmd_wants_help(argc, argv)) {
		usage(stdout);
		return EXIT_OK;
	}
	if (parse_args(argc, argv, &a)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	ret = a.foreground ? (run(&a, -1) ? EXIT_FAIL : EXIT_OK)
			   : daemonize(&a);
	fuse_opt_free_args(&a.fargs);
	return ret;
}
