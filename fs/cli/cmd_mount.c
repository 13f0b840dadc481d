/* SPDX-License-Identifier: Apache-2.0 */
/* hsmfs mount: the daemon's options, then fs/daemon.h. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "fs/daemon.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hsmfs mount [-f] [-d] [-o OPT,...] CIPHERDIR MOUNTPOINT\n"
		"\n"
		"Mounts the volume in CIPHERDIR on MOUNTPOINT. Returns once the mount is\n"
		"ready (or fails with the reason); the daemon logs to syslog (-o log=).\n"
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
		"  -o log=PATH|syslog|stderr  where the daemon logs (default: syslog,\n"
		"                       stderr with -f); a file is appended to, made\n"
		"                       0600, each line with its time and level\n"
		"  -o ca_file=PATH, kek_scope=SCOPE, hsm_endpoint=URL, api_version=V,\n"
		"     hsm_timeout=MS    HSM access (see hsmfs init --help)\n"
		"\n"
		"This machine pins the volume it finds in CIPHERDIR on first use (its\n"
		"id, KEK and key) and refuses any other there, before any request.\n"
		"On a new machine, -o volume= makes that first use safe too.\n"
		"\n"
		"Unmount with 'hsmfs umount MOUNTPOINT' or 'fusermount3 -u MOUNTPOINT'.\n");
}

static int daemon_opt_cb(void *ctx, const char *opt, char *why, size_t n)
{
	struct daemon_opts *d = ctx;
	int r = daemon_opt(d, opt);

	snprintf(why, n, "%s", d->why);
	return r;
}

/* CMD_GO_ON, or the exit code of a usage error (already said). */
static int parse_args(int argc, char *argv[], struct daemon_opts *d)
{
	int c;

	daemon_opts_init(d);
	while ((c = cmd_getopt(argc, argv, "+fdo:", NULL)) != -1) {
		switch (c) {
		case 'f':
			d->foreground = true;
			break;
		case 'd':
			d->debug = true;
			break;
		case 'o':
			if (cmd_parse_opts(optarg, &d->vol, daemon_opt_cb, d))
				return EXIT_USAGE;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	c = cmd_operands(argc, argv, 2, 2, (const char *const[]){
		"CIPHERDIR", "MOUNTPOINT" });
	if (c != CMD_GO_ON)
		return c;
	d->cipherdir = argv[optind];
	d->mountpoint = argv[optind + 1];
	return CMD_GO_ON;
}

int mount_main(int argc, char *argv[])
{
	struct daemon_opts d;
	char err[1024];
	int r;

	if (cmd_wants_help(argc, argv)) {
		usage(stdout);
		return EXIT_OK;
	}
	if ((r = parse_args(argc, argv, &d)) != CMD_GO_ON)
		return r;
	if (daemon_mount(&d, err, sizeof(err)) == 0)
		return EXIT_OK;
	fprintf(stderr, "hsmfs mount: %s\n", err);
	return EXIT_FAIL;
}
