/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's life: open the volume (config, pin, KEK, volume key),
 * mount, serve, unmount. By default the caller returns once the mount is
 * ready, leaving a daemon that logs to syslog; in the foreground it
 * serves until unmounted, logging to stderr.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fit.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/stop.h"
#include "crypto/blk.h"
#include "audit.h"
#include "ctl.h"
#include "fs/daemon.h"
#include "follow.h"
#include "kekcheck.h"
#include "fs/vol/mnt.h"
#include "ops.h"
#include "prefetch.h"

/* The signals that stop the daemon: those libfuse handles. */
static const int stop_sigs[] = { SIGHUP, SIGINT, SIGTERM, 0 };

/* Options handed to the kernel as they are. */
static const char *const kernel_opts[] = {
	"ro", "rw", "allow_root", "auto_unmount", "noatime", "nodev",
	"nosuid", "noexec", "dev", "suid",
};

void daemon_opts_init(struct daemon_opts *d)
{
	memset(d, 0, sizeof(*d));
	vol_opts_init(&d->vol);
	d->writeback = true;
	d->timeout = 1.0;
	d->threads = 16;
	d->prefetch = 8;
	d->readahead = 4096;
	d->write_limit = FMETA_WRITES_MAX;
	d->kek_check = 300;
	d->rekey_rate = FOLLOW_RATE;
	d->log_fd = -1;
}

static int kernel_opt(struct daemon_opts *d, const char *opt)
{
	size_t n = strlen(d->kernel_opts);

	for (size_t i = 0; i < sizeof(kernel_opts) / sizeof(*kernel_opts); i++)
		if (!strcmp(opt, kernel_opts[i]) &&
		    n + strlen(opt) + 2 <= sizeof(d->kernel_opts)) {
			snprintf(d->kernel_opts + n, sizeof(d->kernel_opts) - n,
				 ",%s", opt);
			return 0;
		}
	return -ENOENT;
}

/* What an option with a value allows, for the line refusing a bad one. */
static void allows(struct daemon_opts *d, const char *what)
{
	snprintf(d->why, sizeof(d->why), "%s", what);
}

/* A whole number in [min, max] for an option; d->why says so. 0, or
 * nonzero leaving *out alone. */
static int num_opt(struct daemon_opts *d, const char *val, unsigned min,
		   unsigned max, const char *unit, unsigned *out)
{
	unsigned v;

	snprintf(d->why, sizeof(d->why), "%s%u..%u", unit, min, max);
	if (parse_uint(val, max, &v) || v < min)
		return -1;
	*out = v;
	return 0;
}

int daemon_opt(struct daemon_opts *d, const char *opt)
{
	int bad = 0;

	d->why[0] = '\0';
	/* Noted, and on to the kernel: ro takes a shared claim. */
	if (!strcmp(opt, "ro") || !strcmp(opt, "rw"))
		d->ro = !strcmp(opt, "ro");
	/* Also noted: only root mounts with them (daemon_mount). */
	if (!strcmp(opt, "dev") || !strcmp(opt, "suid"))
		d->root_opt = opt;
	if (!strcmp(opt, "no_writeback"))
		d->writeback = false;
	else if (!strncmp(opt, "timeout=", 8)) {
		allows(d, "seconds, 0..86400");
		bad = parse_double(opt + 8, 0, 86400, &d->timeout);
	} else if (!strncmp(opt, "prefetch=", 9))
		bad = num_opt(d, opt + 9, 0, 64, "", &d->prefetch);
	else if (!strncmp(opt, "readahead=", 10))
		bad = num_opt(d, opt + 10, 0, 1024 * 1024, "KiB, ",
			      &d->readahead);
	else if (!strncmp(opt, "write_limit=", 12)) {
		allows(d, "blocks, 1..2^32");
		bad = parse_u64(opt + 12, FMETA_WRITES_MAX, &d->write_limit) ||
		      !d->write_limit;
	} else if (!strncmp(opt, "kek_check=", 10))
		bad = num_opt(d, opt + 10, 1, 86400, "seconds, ",
			      &d->kek_check);
	else if (!strcmp(opt, "follow_kek_versions"))
		d->follow_s = FOLLOW_INTERVAL_S;
	else if (!strncmp(opt, "follow_kek_versions=", 20))
		bad = num_opt(d, opt + 20, 1, 30 * 86400, "seconds, ",
			      &d->follow_s);
	else if (!strncmp(opt, "rekey_rate=", 11))
		bad = num_opt(d, opt + 11, 1, 100000, "unwraps a second, ",
			      &d->rekey_rate);
	else if (!strncmp(opt, "threads=", 8))
		bad = num_opt(d, opt + 8, 1, 256, "", &d->threads);
	else if (!strncmp(opt, "audit_log=", 10)) {
		allows(d, "a file");
		bad = !*(d->audit_log = opt + 10);
	} else if (!strncmp(opt, "log=", 4)) {
		allows(d, "a file, syslog or stderr");
		bad = !*(d->log = opt + 4);
	} else if (!strcmp(opt, "allow_other"))
		d->allow_other = d->default_perms = true;
	else if (!strcmp(opt, "default_permissions"))
		d->default_perms = true;
	else if (!strcmp(opt, "nonempty"))
		d->nonempty = true;
	else if (!strcmp(opt, "allow_unlocked_keys"))
		d->allow_unlocked_keys = true;
	else if (!strcmp(opt, "skip_bad_names"))
		d->skip_bad_names = true;
	else
		return kernel_opt(d, opt);
	return bad ? -EINVAL : 0;
}

/* Tells the waiting parent how the mount went ("OK" or the reason); in
 * the foreground, keeps the reason for the caller. */
static void notify(int fd, const char *msg, char *err, size_t errlen)
{
	if (fd < 0) {
		if (strcmp(msg, "OK"))
			snprintf(err, errlen, "%s", msg);
		return;
	}
	(void)!write(fd, msg, strlen(msg));
	close(fd);
}

/* Tells systemd (Type=notify) how the daemon stands: one datagram to
 * $NOTIFY_SOCKET ("@..." is in the abstract namespace), which needs no
 * libsystemd. Nothing happens outside systemd. */
static void sd_notify_state(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = path ? strlen(path) : 0;
	int fd;

	if (n < 2 || n >= sizeof(sa.sun_path) ||
	    (path[0] != '/' && path[0] != '@'))
		return;
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
		   (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
		log_warn("cannot notify systemd: %s", strerror(errno));
	close(fd);
}

/* The -o list for libfuse: what the kernel gets, fsname and subtype. */
static int fuse_args_of(const struct daemon_opts *d, struct fuse_args *fa)
{
	char buf[1200], *p;

	snprintf(buf, sizeof(buf), "-ofsname=%s", d->cipherdir);
	/* A comma in the path would split the option. */
	for (p = buf + 9; *p; p++)
		if (*p == ',')
			*p = '_';
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
		 ",subtype=hsmfs%s%s%s", d->kernel_opts,
		 d->default_perms ? ",default_permissions" : "",
		 d->allow_other ? ",allow_other" : "");
	return fuse_opt_add_arg(fa, "hsmfs") || fuse_opt_add_arg(fa, buf);
}

static size_t heap_size(unsigned entries)
{
	size_t want = (size_t)entries * 64 + (1u << 20), n = 1u << 20;

	while (n < want)
		n <<= 1;
	return n;
}

/* -o log=stderr keeps the caller's stderr (a service manager's
 * journal, say) as the log. */
static void detach(const struct daemon_opts *d)
{
	int nul = open("/dev/null", O_RDWR);

	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
		if (!d->log || strcmp(d->log, "stderr"))
			dup2(nul, 2);
		close(nul);
	}
	(void)!chdir("/");
}

static int loop(struct fsd *fs, const struct daemon_opts *d)
{
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	int ret;

	if (prefetch_start(fs, d->prefetch))
		log_warn("no key prefetching: out of memory");
	if (kekcheck_start(fs, d->kek_check)) {
		log_err("cannot start re-validating the KEK");
		prefetch_stop();
		return -1;
	}
	if (follow_start(fs, d->follow_s, d->rekey_rate, d->ro))
		log_warn("cannot start following the KEK's versions");
	fuse_loop_cfg_set_max_threads(cfg, d->threads);
	fuse_loop_cfg_set_clone_fd(cfg, 1);
	ret = fuse_session_loop_mt(fs->se, cfg);
	/* libfuse's signal handler leaves the signal's number: a stop asked
	 * for (SIGTERM, SIGINT, SIGHUP) is a clean end. */
	if (ret > 0)
		ret = 0;
	fuse_loop_cfg_destroy(cfg);
	follow_stop();
	kekcheck_stop();
	prefetch_stop();
	return ret;
}

/* libfuse's own word on a failed mount (its log goes to stderr, which a
 * daemon's caller may not see), kept for the line the operator gets. */
static char fuse_said[512];

static void fuse_log_keep(enum fuse_log_level level, const char *fmt,
			  va_list ap)
{
	if (level > FUSE_LOG_ERR)
		return;
	fit_vfmt(fuse_said, sizeof(fuse_said), fmt, ap);
	fuse_said[strcspn(fuse_said, "\n")] = '\0';
}

/* And once mounted, what libfuse says goes to the daemon's log (-o log=
 * included), not to a stderr that a daemon has closed. */
static void fuse_log_fwd(enum fuse_log_level level, const char *fmt,
			 va_list ap)
{
	char line[512];

	fit_vfmt(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_msg(level <= FUSE_LOG_ERR ? LOG_LVL_ERR :
		level == FUSE_LOG_WARNING ? LOG_LVL_WARN :
		level <= FUSE_LOG_INFO ? LOG_LVL_INFO : LOG_LVL_DEBUG,
		"libfuse: %s", line);
}

static int check_mountpoint(const struct daemon_opts *d, char *err,
			    size_t errlen);

/* True if /etc/fuse.conf lets users mount with allow_other. */
static bool users_allow_other(void)
{
	char line[256];
	bool yes = false;
	FILE *f = fopen("/etc/fuse.conf", "re");

	while (f && !yes && fgets(line, sizeof(line), f))
		yes = strncmp(line, "user_allow_other", 16) == 0;
	if (f)
		fclose(f);
	return yes;
}

/* Why the kernel mount failed, checked here rather than guessed: the
 * device, the helper a user's mount needs, allow_other's permission,
 * then the mount point (checked once before: it may have changed). */
static void mount_failed(const struct daemon_opts *d, char *why, size_t n)
{
	struct stat st;
	int e = stat("/dev/fuse", &st) != 0 ? errno : 0;

	if (e || !S_ISCHR(st.st_mode))
		fit_fmt(why, n, "cannot mount: /dev/fuse %s (load the module: "
			"modprobe fuse; in a container, give it the device)",
			e == ENOENT ? "is missing" : "is not a device");
	else if (access("/dev/fuse", R_OK | W_OK) != 0 && geteuid() == 0)
		fit_fmt(why, n, "cannot mount: /dev/fuse: %s", strerror(errno));
	else if (d->allow_other && geteuid() != 0 && !users_allow_other())
		fit_fmt(why, n, "cannot mount: -o allow_other needs root, or "
			"user_allow_other in /etc/fuse.conf");
	else if (check_mountpoint(d, why, n) != 0)
		return;
	else if (fuse_said[0])
		fit_fmt(why, n, "cannot mount: %s", fuse_said);
	else
		fit_fmt(why, n, "cannot mount %s on %s (libfuse gave no reason)",
			d->cipherdir, d->mountpoint);
}

static int serve(struct fsd *fs, const struct daemon_opts *d, int notify_fd,
		 char *err, size_t errlen)
{
	struct fuse_args fa = FUSE_ARGS_INIT(0, NULL);
	char ctlpath[108], why[1024];
	int ret = -1, have_ctl;

	/* The kernel has applied the caller's umask to every mode we get. */
	umask(0);
	fuse_set_log_func(fuse_log_keep);
	have_ctl = mnt_ctl_path(d->mountpoint, ctlpath, sizeof(ctlpath)) == 0;
	if (fuse_args_of(d, &fa) ||
	    !(fs->se = fuse_session_new(&fa, &ops_table, sizeof(ops_table),
					fs))) {
		fit_fmt(why, sizeof(why), "invalid mount options%s%s",
			fuse_said[0] ? ": " : "", fuse_said);
		notify(notify_fd, why, err, errlen);
		goto out;
	}
	/* libfuse's handlers end the session loop; ours, in front of them,
	 * also cut short what requests in flight wait for (the HSM, a long
	 * zero fill), so that the loop does not wait for them. */
	if (fuse_set_signal_handlers(fs->se) || stop_catch(stop_sigs) ||
	    fuse_session_mount(fs->se, d->mountpoint)) {
		stop_release();
		fuse_session_destroy(fs->se);
		mount_failed(d, why, sizeof(why));
		notify(notify_fd, why, err, errlen);
		goto out;
	}
	fuse_set_log_func(fuse_log_fwd);
	fs->started_ms = clock_ms();
	if (!have_ctl || ctl_start(fs, ctlpath))
		log_warn("no control socket: hsmfs status will not work");
	log_info("mounted %s on %s", fs->vol.cipherdir, d->mountpoint);
	notify(notify_fd, "OK", err, errlen);
	sd_notify_state("READY=1");
	if (!d->foreground)
		detach(d);
	ret = loop(fs, d) ? -1 : 0;
	sd_notify_state("STOPPING=1");
	ctl_stop();
	fuse_session_unmount(fs->se);
	stop_release();
	fuse_remove_signal_handlers(fs->se);
	fuse_session_destroy(fs->se);
	log_info("unmounted %s", d->mountpoint);
out:
	fuse_set_log_func(NULL);
	fuse_opt_free_args(&fa);
	return ret;
}

/* A second hsmfs mount stacked on a first hides it and its daemon. */
static int already_mounted(const char *mountpoint, char *err, size_t errlen)
{
	char *real = realpath(mountpoint, NULL), dev[32], src[PATH_MAX];
	int r = real ? mnt_at(real, dev, sizeof(dev), src, sizeof(src)) : 0;

	if (r == 1)
		snprintf(err, errlen, "%s is already an hsmfs mount of %s",
			 mountpoint, src);
	free(real);
	return r == 1;
}

/* 1 if dir has an entry, 0 if not, -errno if it cannot be listed. */
static int has_entries(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	int found = 0;

	if (!dp)
		return -errno;
	while (!found && (de = readdir(dp)))
		found = strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(dp);
	return found;
}

static int dead(const char *mp, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s is a dead mount (its daemon is gone): run "
		 "'hsmfs umount %s' first", mp, mp);
	return -1;
}

/* What libfuse would let through but an operator would not want: a
 * file, a stack of mounts, files hidden under the mount. A dead mount
 * (its daemon killed) answers ENOTCONN to whatever reaches the daemon:
 * stat only once the root's cached attributes expire, a listing always. */
static int check_mountpoint(const struct daemon_opts *d, char *err,
			    size_t errlen)
{
	const char *mp = d->mountpoint;
	struct stat st;
	int e;

	if (stat(mp, &st) != 0) {
		if (errno == ENOTCONN)
			return dead(mp, err, errlen);
		snprintf(err, errlen, "mount point %s: %s", mp,
			 strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "mount point %s is not a directory", mp);
		return -1;
	}
	if ((e = has_entries(mp)) == -ENOTCONN)
		return dead(mp, err, errlen);
	if (already_mounted(mp, err, errlen))
		return -1;
	if (d->nonempty || e == 0)
		return 0;
	if (e > 0)
		snprintf(err, errlen, "mount point %s is not empty (mounting "
			 "would hide its files; -o nonempty allows it)", mp);
	else
		snprintf(err, errlen, "mount point %s: cannot list it: %s", mp,
			 strerror(-e));
	return -1;
}

/* Peeks, claims, then unlocks: a volume in use is refused before any
 * request to the HSM. */
static int open_claimed(struct vol *v, const struct daemon_opts *d,
			const char *mp, char *err, size_t errlen)
{
	char what[1200];
	int c;

	if (vol_peek(v, d->cipherdir, &d->vol, err, errlen))
		return -1;
	snprintf(what, sizeof(what), "mounted %s on %s",
		 d->ro ? "read-only" : "read-write", mp);
	c = vol_claim(v, !d->ro, what, err, errlen);
	if (c < 0)
		goto fail;
	if (c == 1)
		log_warn("%s", err);
	if (vol_unlock(v, err, errlen) == 0)
		return 0;
fail:
	vol_close(v);
	return -1;
}

/* The mount point checked and resolved (now: once mounted, resolving it
 * would be a request to ourselves), the volume opened and claimed. */
static int prepare(struct fsd *fs, const struct daemon_opts *d, char *err,
		   size_t errlen)
{
	if (check_mountpoint(d, err, errlen))
		return -1;
	if (!(fs->mountpoint = realpath(d->mountpoint, NULL))) {
		snprintf(err, errlen, "mount point %s: %s", d->mountpoint,
			 strerror(errno));
		return -1;
	}
	if (open_claimed(&fs->vol, d, fs->mountpoint, err, errlen) == 0)
		return 0;
	free(fs->mountpoint);
	fs->mountpoint = NULL;
	return -1;
}

/* Open files hold descriptors, and so do cached inodes (half the limit,
 * or all of them without file handles: inode.h), so the daemon takes as
 * many as it may (root: up to nr_open). */
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

/* libfuse cancels its worker threads at unmount, and glibc loads the
 * unwinder (libgcc_s) for that on first use: a daemon whose descriptors
 * are all taken then (inodes without file handles keep one each) would
 * abort instead of finishing its unmount. Loaded now, it is there. */
static void load_unwinder(void)
{
	(void)dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_NODELETE);
}

/* Where the daemon logs: -o log=, else stderr in the foreground and
 * syslog otherwise. */
static void log_start(const struct daemon_opts *d)
{
	bool sys = d->log ? !strcmp(d->log, "syslog") : !d->foreground;

	log_init("hsmfs", sys, d->debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	if (d->log_fd >= 0)
		log_to_fd(d->log_fd);
}

/* One more ",opt" of the options in effect. */
static void opt_add(char *out, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void opt_add(char *out, size_t n, const char *fmt, ...)
{
	size_t l = strlen(out);
	va_list ap;

	if (l + 2 >= n)
		return;
	if (l)
		out[l++] = ',';
	va_start(ap, fmt);
	vsnprintf(out + l, n - l, fmt, ap);
	va_end(ap);
}

/* The mount options in effect, defaults included, as -o would take
 * them (hsmfs status): what this mount actually runs with. */
static void opts_text(const struct daemon_opts *d, char *out, size_t n)
{
	const struct vol_opts *v = &d->vol;

	out[0] = '\0';
	opt_add(out, n, "%s", d->ro ? "ro" : "rw");
	if (d->kernel_opts[0])
		opt_add(out, n, "%s", d->kernel_opts + 1);
	opt_add(out, n, "threads=%u,timeout=%g,prefetch=%u,readahead=%u",
		d->threads, d->timeout, d->prefetch, d->readahead);
	opt_add(out, n, "write_limit=%llu,kek_check=%u,dek_cache_size=%u,"
		"dek_cache_ttl=%u", (unsigned long long)d->write_limit,
		d->kek_check, v->cache_entries, v->cache_ttl_s);
	if (!d->writeback)
		opt_add(out, n, "no_writeback");
	if (d->allow_other)
		opt_add(out, n, "allow_other");
	if (d->default_perms)
		opt_add(out, n, "default_permissions");
	if (d->nonempty)
		opt_add(out, n, "nonempty");
	if (d->skip_bad_names)
		opt_add(out, n, "skip_bad_names");
	if (d->allow_unlocked_keys)
		opt_add(out, n, "allow_unlocked_keys");
	if (d->audit_log)
		opt_add(out, n, "audit_log=%s", d->audit_log);
	opt_add(out, n, "log=%s", d->log ? d->log : d->foreground ? "stderr"
								 : "syslog");
	if (v->pin_kek)
		opt_add(out, n, "kek=%s", v->pin_kek);
	if (v->have_fpr)
		opt_add(out, n, "volume=(given)");
	if (v->no_pin_store)
		opt_add(out, n, "no_pin");
	for (int i = 0; i < KEK_MAX_ENDPOINTS && v->kek.endpoints[i]; i++)
		opt_add(out, n, "hsm_endpoint=%s", v->kek.endpoints[i]);
	if (v->kek.deadline_ms)
		opt_add(out, n, "hsm_timeout=%u", v->kek.deadline_ms);
	if (v->kek.ca_file)
		opt_add(out, n, "ca_file=%s", v->kek.ca_file);
	if (v->kek.scope)
		opt_add(out, n, "kek_scope=%s", v->kek.scope);
	if (v->kek.api_version)
		opt_add(out, n, "api_version=%s", v->kek.api_version);
}

static int run(const struct daemon_opts *d, int notify_fd, char *err,
	       size_t errlen)
{
	static char opts[2048];
	static struct fsd fs;
	char verr[VOL_ERR_MAX];
	const char *why;
	int ret = -1;

	log_start(d);
	raise_nofile();
	load_unwinder();
	if (secmem_init(heap_size(d->vol.cache_entries), &why)) {
		if (!d->allow_unlocked_keys) {
			snprintf(verr, sizeof(verr), "%s: %zu KiB needed; raise "
				 "the limit (ulimit -l, LimitMEMLOCK= in a "
				 "systemd unit), lower dek_cache_size, or mount "
				 "with -o allow_unlocked_keys", why,
				 heap_size(d->vol.cache_entries) / 1024);
			notify(notify_fd, verr, err, errlen);
			return -1;
		}
		log_warn("%s: keys stay in memory that can be swapped out "
			 "(allow_unlocked_keys)", why);
	}
	/* The daemon lives long and its environment block stays readable
	 * in /proc: client secrets move into locked memory now. */
	kek_seal_env();
	if (prepare(&fs, d, verr, sizeof(verr))) {
		notify(notify_fd, verr, err, errlen);
		return -1;
	}
	fs.plaintext_names = fs.vol.conf.features & FEAT_PLAINTEXT_NAMES;
	fs.writeback = d->writeback;
	fs.timeout = d->timeout;
	fs.chown_new = geteuid() == 0;
	fs.readahead_kb = d->readahead;
	fs.write_limit = d->write_limit;
	fs.skip_bad_names = d->skip_bad_names;
	opts_text(d, opts, sizeof(opts));
	fs.opts_text = opts;
	if (inode_root_init(&fs, fs.vol.cipherdir) || inode_table_init(&fs)) {
		snprintf(verr, sizeof(verr), "cannot open %s: %s",
			 fs.vol.cipherdir, strerror(errno));
		notify(notify_fd, verr, err, errlen);
	} else if (d->audit_log &&
		   audit_open(&fs, d->audit_log, verr, sizeof(verr))) {
		notify(notify_fd, verr, err, errlen);
	} else {
		fs.audit = d->audit_log;
		ret = serve(&fs, d, notify_fd, err, errlen);
	}
	audit_close();
	inode_table_free(&fs);
	blk_wipe_all();
	prefetch_free(fs.root.pf);
	if (fs.root.fd > 0)
		close(fs.root.fd);
	vol_close(&fs.vol);
	free(fs.mountpoint);
	return ret;
}

/* The parent waits for the child's word, so that mount returns only when
 * the filesystem is usable, or fails with the child's reason. */
static int daemonize(const struct daemon_opts *d, char *err, size_t errlen)
{
	char msg[1024];
	ssize_t n;
	int p[2], st;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) != 0 || (pid = fork()) < 0) {
		snprintf(err, errlen, "cannot start the daemon: %s",
			 strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		setsid();
		_exit(run(d, p[1], msg, sizeof(msg)) ? 1 : 0);
	}
	close(p[1]);
	n = read(p[0], msg, sizeof(msg) - 1);
	close(p[0]);
	msg[n > 0 ? n : 0] = '\0';
	if (n == 2 && !strcmp(msg, "OK"))
		return 0;
	waitpid(pid, &st, 0);
	snprintf(err, errlen, "%s", n > 0 ? msg : "daemon died");
	return -1;
}

int daemon_mount(struct daemon_opts *d, char *err, size_t errlen)
{
	err[0] = '\0';
	/* Every FUSE thread and prefetch worker may wait on an unwrap at
	 * once: a provider with a session per call in flight keeps that
	 * many. */
	d->vol.kek.concurrency = d->threads + d->prefetch;
	/* fusermount3, which mounts for other users, would drop the option
	 * with a warning: a device node would then give EACCES unexplained. */
	if (d->root_opt && geteuid() != 0) {
		snprintf(err, errlen, "-o %s needs root (other users' FUSE "
			 "mounts are nodev,nosuid)", d->root_opt);
		return -1;
	}
	if (d->log && strcmp(d->log, "syslog") && strcmp(d->log, "stderr") &&
	    (d->log_fd = log_open_file(d->log, err, errlen)) < 0)
		return -1;
	if (!d->foreground)
		return daemonize(d, err, errlen);
	if (run(d, -1, err, errlen) == 0)
		return 0;
	if (!err[0])
		snprintf(err, errlen, "the daemon stopped with an error");
	return -1;
}
