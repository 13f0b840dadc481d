/* SPDX-License-Identifier: Apache-2.0 */
/* hsmfs fsck: fs/offline/fsck.h, one line per problem. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "progress.h"
#include "common/log.h"
#include "common/secmem.h"
#include "fs/offline/fsck.h"

static const int exit_code[] = {
	[FSCK_CLEAN] = EXIT_OK,
	[FSCK_PROBLEMS] = EXIT_FOUND,
	[FSCK_ERROR] = EXIT_CANNOT_TELL,
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hsmfs fsck [--unwrap] [--deep] [-q] [-o OPT,...] CIPHERDIR\n"
		"\n"
		"Checks an (unmounted or mounted) volume and changes nothing: the config,\n"
		"every directory IV, name, long-name sidecar, file header and size,\n"
		"symlink target and xattr. One line per problem, with the backing path\n"
		"and the plaintext path where the names decrypt.\n"
		"\n"
		"  --unwrap      also unwrap every key slot and check its MAC (one HSM\n"
		"                call per slot)\n"
		"  --deep        also decrypt every block (implies --unwrap)\n"
		"  -q, --quiet   no progress line (there is one only on a terminal)\n"
		"  -o OPT,...    HSM access and expectations as for mount (ca_file=,\n"
		"                kek_scope=, kek=, volume=, ...)\n"
		"\n"
		"Names, symlinks and xattrs need the volume key, unwrapped once. If the\n"
		"KEK cannot be reached, fsck checks the structure only and says so.\n"
		"\n"
		"Exit status: 0 clean, 1 problems found, 2 usage, 8 operational error\n"
		"(the volume cannot be opened, or --unwrap/--deep and the KEK cannot be\n"
		"used).\n");
}

/* "CIPHERDIR/bpath (ppath): what" */
static void print_problem(void *ctx, const char *bpath, const char *ppath,
			  const char *what)
{
	progress_clear();
	printf("%s/%s%s%s%s: %s\n", (const char *)ctx, bpath,
	       ppath ? " (" : "", ppath ? ppath : "", ppath ? ")" : "", what);
}

/* Files so far, and blocks with --deep (progress.h). */
static void show_progress(void *ctx, const struct fsck_counts *n,
			  double secs, bool last)
{
	char extra[64];

	(void)ctx;
	snprintf(extra, sizeof(extra), "%lu directories, %lu blocks", n->dirs,
		 n->blocks);
	progress_draw(n->files, 0, "files", extra, secs, last);
}

static enum fsck_result check(const char *dir, const struct fsck_opts *o)
{
	struct fsck_counts n;
	char err[1024];
	enum fsck_result r = fsck_volume(dir, o, &n, err, sizeof(err));

	if (err[0])
		fprintf(stderr, "hsmfs fsck: %s\n", err);
	if (r == FSCK_ERROR)
		return r;
	if (!n.unlocked)
		printf("note: the volume key is not available: names, symlink "
		       "targets, xattrs and key slots were not verified\n");
	printf("%s: %lu files, %lu directories, %lu symlinks, %lu key slots "
	       "unwrapped, %lu blocks decrypted: %lu problem%s\n", dir,
	       n.files, n.dirs, n.links, n.slots, n.blocks, n.problems,
	       n.problems == 1 ? "" : "s");
	return r;
}

int fsck_main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "unwrap", no_argument, NULL, 'u' },
		{ "deep", no_argument, NULL, 'd' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fsck_opts o = { .problem = print_problem };
	const char *why;
	bool quiet = false;
	char *dir;
	int c, r;

	vol_opts_init(&o.vo);
	o.vo.cache_entries = 1024;
	o.vo.pin_readonly = true;
	if ((r = cmd_conf_machine(argc, argv, &o.vo, NULL, NULL)) != CMD_GO_ON)
		return r;
	log_init("hsmfs", 0, LOG_LVL_WARN);
	while ((c = cmd_getopt(argc, argv, "+hqo:", longopts)) != -1) {
		switch (c) {
		case 'u':
			o.unwrap = true;
			break;
		case 'd':
			o.deep = o.unwrap = true;
			break;
		case 'q':
			quiet = true;
			break;
		default:
			if ((r = cmd_other_opt(c, &o.vo, usage)) != CMD_GO_ON)
				return r;
		}
	}
	if ((r = cmd_operands(argc, argv, 1, 1, (const char *const[]){
		     "CIPHERDIR" })) != CMD_GO_ON)
		return r;
	if (secmem_init(1u << 20, &why))
		fprintf(stderr, "hsmfs fsck: %s: keys stay in ordinary "
			"memory\n", why);
	setvbuf(stdout, NULL, _IOLBF, 0);
	dir = argv[optind];
	for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/';)
		dir[--n] = '\0';
	o.ctx = dir;
	if (progress_wanted(quiet))
		o.progress = show_progress;
	return exit_code[check(dir, &o)];
}
