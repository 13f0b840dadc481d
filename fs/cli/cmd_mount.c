/* SPDX-License-Identifier: Apache-2.0 */
/* hsmfs mount: the daemon's options, then fs/daemon.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "fs/daemon.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hsmfs mount [-f] [-d] [-o OPT,...] CIPHERDIR MOUNTPOINT\n"
		"       hsmfs mount [-f] [-d] -o conf=NAME[,OPT,...]\n"
		"       hsmfs CIPHERDIR MOUNTPOINT [-o OPT,...]   (mount(8), fstab)\n"
		"\n"
		"Mounts the volume in CIPHERDIR on MOUNTPOINT. Returns once the mount is\n"
		"ready (or fails with the reason); the daemon logs to syslog (-o log=).\n"
		"Under systemd (Type=notify), -f tells it when the mount is ready.\n"
		"A volume has one read-write daemon at a time, on any host: the daemon\n"
		"holds a lock on CIPHERDIR/hsmfs.lock, and a second mount is refused\n"
		"naming the holder. MOUNTPOINT must be an empty directory that is not\n"
		"already an hsmfs mount.\n"
		"\n"
		"  -f                   stay in the foreground, log to stderr\n"
		"  -d                   debug logging\n"
		"  -o ro                read-only; read-only mounts of a volume may run\n"
		"                       together, never beside a read-write one\n"
		"  -o nonempty          mount over a directory that has files (they\n"
		"                       are hidden while mounted)\n"
		"  -o allow_unlocked_keys  mount even when key memory cannot be locked\n"
		"                       (otherwise refused, with the limit to raise)\n"
		"  -o skip_bad_names    list a directory without the names in it that fail\n"
		"                       authentication (each is logged) instead of\n"
		"                       failing the listing with EIO\n"
		"  -o write_limit=N     block writes one file key may make (format 3;\n"
		"                       at most and by default 2^32)\n"
		"  -o allow_other       let other users in (implies default_permissions)\n"
		"  -o default_permissions  let the kernel check permissions\n"
		"  -o no_writeback      no kernel write-back cache\n"
		"  -o dev, -o suid      device nodes and set-user-ID bits work in the\n"
		"                       mount (root only; default nodev,nosuid)\n"
		"  -o timeout=SECONDS   attribute and entry cache time (default 1)\n"
		"  -o threads=N         FUSE worker threads (default 16)\n"
		"  -o prefetch=N        threads unwrapping keys ahead of a directory\n"
		"                       scan (default 8, 0 turns prefetching off)\n"
		"  -o readahead=KB      kernel readahead of the mount (default 4096,\n"
		"                       0 leaves the kernel's; needs root)\n"
		"  -o kek=URL           refuse the volume unless it uses this KEK (an\n"
		"                       escrow KEK's URL: open it with that one alone)\n"
		"  -o volume=FINGERPRINT  refuse the volume unless it is the one\n"
		"                       hsmfs init printed this fingerprint for\n"
		"  -o no_pin            do not check or record the local pin\n"
		"  -o dek_cache_size=N  unwrapped file keys kept (default 100000)\n"
		"  -o dek_cache_ttl=S   how long one is kept (default 300)\n"
		"  -o kek_check=S       volume-wrap volumes: re-validate the KEK with the\n"
		"                       HSM every S seconds (default 300); a refusal wipes\n"
		"                       every key files not open need\n"
		"  -o audit_log=PATH    append a JSON line per file-key use (open,\n"
		"                       create, prefetch: file, key, who) to PATH\n"
		"  -o follow_kek_versions[=S]  read the KEK's current version every S\n"
		"                       seconds (default 3600): after a rotation, new\n"
		"                       files use the new version at once and what is\n"
		"                       wrapped moves to it in the background (volume-\n"
		"                       wrap: the config only; file mode: every header,\n"
		"                       then the config); hsmfs status shows how far\n"
		"  -o rekey_rate=N      unwraps a second of that background rewrap\n"
		"                       (default 50)\n"
		"  -o log=PATH|syslog|stderr  where the daemon logs (default: syslog,\n"
		"                       stderr with -f); a file is appended to, made\n"
		"                       0600, each line with its time and level\n"
		"  -o ca_file=PATH, kek_scope=SCOPE, hsm_endpoint=URL, api_version=V,\n"
		"     hsm_timeout=MS    HSM access (see hsmfs init --help)\n"
		"  -o credential_file=PATH  Azure credentials from a root-only file\n"
		"                       (AZURE_TENANT_ID=..., AZURE_CLIENT_SECRET=... lines)\n"
		"  -o conf=NAME|PATH    a volume's file: /etc/hsmfs/volumes/NAME.conf, one\n"
		"                       option a line, cipherdir= and mountpoint= too;\n"
		"                       the command line overrides it\n"
		"\n"
		"Defaults for every option come from /etc/hsmfs/hsmfs.conf ($HSMFS_CONF)\n"
		"if it exists. Options of mount(8) and systemd (_netdev, nofail, noauto,\n"
		"x-systemd.*, defaults, user, ...) are ignored; in the fstab form dev and\n"
		"suid are too (mount.fuse3 adds them to every mount).\n"
		"\n"
		"This machine pins the volume it finds in CIPHERDIR on first use (its\n"
		"id, KEK and key) and refuses any other there, before any request.\n"
		"On a new machine, -o volume= makes that first use safe too.\n"
		"\n"
		"Unmount with 'hsmfs umount MOUNTPOINT' or 'fusermount3 -u MOUNTPOINT'.\n");
}

/* What the options go to, and how they came. */
struct mount_ctx {
	struct daemon_opts *d;
	bool helper; /* run by mount.fuse3 */
};

/* Options that belong to mount(8), fstab and systemd, not to the
 * filesystem. mount(8) drops x-*, comment= and defaults, mount.fuse3
 * user, users, nouser, auto, noauto, nofail and _netdev; whatever else
 * carries an fstab line's options (an ExecStart=, mount.fuse3 run by
 * hand) passes them on. relatime, silent and loud mean nothing here. */
static bool mount8_opt(const char *opt)
{
	static const char *const words[] = {
		"defaults", "auto", "noauto", "user", "users", "nouser",
		"owner", "group", "nofail", "_netdev", "relatime", "silent",
		"loud", "drop_privileges",
	};

	if (!strncmp(opt, "x-", 2) || !strncmp(opt, "comment=", 8) ||
	    !strncmp(opt, "setuid=", 7))
		return true;
	for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
		if (!strcmp(opt, words[i]))
			return true;
	return false;
}

static int daemon_opt_cb(void *ctx, const char *opt, char *why, size_t n)
{
	struct mount_ctx *m = ctx;
	int r;

	if (mount8_opt(opt))
		return 0;
	/* mount.fuse3 appends dev and suid to every mount that does not
	 * say nodev and nosuid, and mount(8) drops a dev or suid written
	 * in fstab: in this form they tell nothing, and the default stays
	 * nodev,nosuid. */
	if (m->helper && (!strcmp(opt, "dev") || !strcmp(opt, "suid")))
		return 0;
	r = daemon_opt(m->d, opt);
	snprintf(why, n, "%s", m->d->why);
	return r;
}

int cmd_mount_opt_check(const char *opt)
{
	struct daemon_opts d;
	struct mount_ctx m = { .d = &d };
	char why[128];

	daemon_opts_init(&d);
	return daemon_opt_cb(&m, opt, why, sizeof(why));
}

/* Trailing slashes aside, the same path. */
static bool same_path(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);

	while (na > 1 && a[na - 1] == '/')
		na--;
	while (nb > 1 && b[nb - 1] == '/')
		nb--;
	return na == nb && !strncmp(a, b, na);
}

/* The volume's file names the volume; the command line may repeat it,
 * never contradict it. */
static int where(struct daemon_opts *d, const char *cipherdir,
		 const char *mountpoint)
{
	const char *fc = cmd_conf_cipherdir(), *fm = cmd_conf_mountpoint();

	d->cipherdir = cipherdir ? cipherdir : fc;
	d->mountpoint = mountpoint ? mountpoint : fm;
	if (!d->cipherdir || !d->mountpoint)
		return -1;
	if ((fc && !same_path(fc, d->cipherdir)) ||
	    (fm && !same_path(fm, d->mountpoint))) {
		fprintf(stderr, "hsmfs mount: %s names cipherdir=%s "
			"mountpoint=%s, not %s %s\n", cmd_conf_file(),
			fc ? fc : "-", fm ? fm : "-", d->cipherdir,
			d->mountpoint);
		return -1;
	}
	return 0;
}

/* -f, -d and -o from argv[optind] on; the positional arguments left
 * are the caller's. */
static int parse_flags(int argc, char *argv[], struct mount_ctx *m)
{
	struct daemon_opts *d = m->d;
	int c;

	if (cmd_conf_machine(argc, argv, &d->vol, daemon_opt_cb, m) !=
	    CMD_GO_ON)
		return -1;
	while ((c = cmd_getopt(argc, argv, "+fdo:", NULL)) != -1) {
		switch (c) {
		case 'f':
			d->foreground = true;
			break;
		case 'd':
			d->debug = true;
			break;
		case 'o':
			if (cmd_parse_opts(optarg, &d->vol, daemon_opt_cb, m))
				return -1;
			break;
		default:
			return -1;
		}
	}
	return 0;
}

static int run(struct daemon_opts *d)
{
	char err[1024];

	if (daemon_mount(d, err, sizeof(err)) == 0)
		return EXIT_OK;
	fprintf(stderr, "hsmfs mount: %s\n", err);
	return EXIT_FAIL;
}

int mount_main(int argc, char *argv[])
{
	struct daemon_opts d;
	struct mount_ctx m = { .d = &d };
	int left;

	if (cmd_wants_help(argc, argv)) {
		usage(stdout);
		return EXIT_OK;
	}
	daemon_opts_init(&d);
	if (parse_flags(argc, argv, &m))
		return EXIT_USAGE;
	left = argc - optind;
	if (left != 0 && left != 2)
		return cmd_operands(argc, argv, 2, 2, (const char *const[]){
			"CIPHERDIR", "MOUNTPOINT" });
	if (where(&d, left ? argv[optind] : NULL,
		  left ? argv[optind + 1] : NULL))
		return left ? EXIT_USAGE : cmd_usage_error(
			"missing CIPHERDIR and MOUNTPOINT (or -o conf= naming "
			"them)");
	return run(&d);
}

int mount_helper_main(int argc, char *argv[])
{
	struct daemon_opts d;
	struct mount_ctx m = { .d = &d, .helper = true };

	daemon_opts_init(&d);
	/* argv[2] stands in for the program's name: the flags follow it. */
	if (parse_flags(argc - 2, argv + 2, &m) || where(&d, argv[1], argv[2]))
		return EXIT_USAGE;
	if (optind != argc - 2)
		return cmd_usage_error("unexpected argument '%s'",
				       argv[2 + optind]);
	return run(&d);
}
