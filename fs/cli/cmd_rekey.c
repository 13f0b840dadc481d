/* SPDX-License-Identifier: Apache-2.0 */
/* hsmfs rekey: rewraps file keys to a new KEK version or KEK (--to), or
 * the other wrap mode's way (--to-wrap), or gives files fresh keys
 * (--data). The work is in rekey.c and redata.c. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "progress.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/secmem.h"
#include "fs/offline/rekey.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hsmfs rekey [--to URL] [--jobs N] [--max-rate R] [-q] [-o OPT,...] CIPHERDIR\n"
		"       hsmfs rekey --check [--to URL] [-o OPT,...] CIPHERDIR\n"
		"       hsmfs rekey --wrapping-key [--jobs N] [-o OPT,...] CIPHERDIR\n"
		"       hsmfs rekey --to-wrap file|volume [--jobs N] [--max-rate R] [-o OPT,...] CIPHERDIR\n"
		"       hsmfs rekey --data [-o OPT,...] CIPHERDIR [PATH...]\n"
		"\n"
		"Rewraps the volume key and every file's data key to the KEK's current\n"
		"version (after a rotation in the HSM), or to another KEK with --to.\n"
		"On a volume-wrap volume (init --wrap volume) only the config's wrapping\n"
		"key is rewrapped: a few HSM calls and one write, whatever the files.\n"
		"File content is not touched. Safe to interrupt and to re-run (it picks\n"
		"up where it stopped; files already done cost no HSM call), and safe on\n"
		"a mounted volume while applications use it: the daemon is told to\n"
		"reload the config first. The old KEK version must stay enabled until\n"
		"--check says it is no longer needed.\n"
		"\n"
		"  --to URL        rewrap to this KEK (e.g. from a Key Vault key to a\n"
		"                  Managed HSM key); the config and this machine's pin\n"
		"                  follow, the old KEK stays listed until no file needs it\n"
		"                  (the URL of an escrow KEK makes that one the volume's\n"
		"                  own: hsmfs kek --help)\n"
		"  --jobs N        parallel workers (default 8)\n"
		"  --max-rate R    at most R unwraps per second (default: no bound);\n"
		"                  throttled HSM calls are retried later in any case\n"
		"  -q, --quiet     no progress bar\n"
		"  --check         change nothing and make no unwrap call: list the KEK\n"
		"                  versions the volume still references; exit 0 if only\n"
		"                  the current one, 1 if older ones are still needed,\n"
		"                  8 if it cannot tell\n"
		"  --wrapping-key  volume-wrap volumes (after a suspected leak of the\n"
		"                  wrapping key): a new wrapping key, every file key\n"
		"                  rewrapped by it locally (no HSM call per file); safe\n"
		"                  to interrupt, and a re-run finishes an interrupted one\n"
		"  --to-wrap MODE  change how file keys are wrapped, once (format 3):\n"
		"                  volume: by a wrapping key the KEK wraps (as init\n"
		"                  --wrap volume), each file key unwrapped by the HSM\n"
		"                  once on the way; file: by the KEK itself again (no\n"
		"                  HSM call per file with an RSA KEK). The volume must\n"
		"                  NOT be mounted. Safe to interrupt: the volume then\n"
		"                  mounts and reads as usual with keys of both kinds,\n"
		"                  and the same command finishes the job\n"
		"  --data          give the files at PATH... (plaintext paths from the\n"
		"                  volume root; none: every file) a fresh data key and\n"
		"                  re-encrypt their content, each file replaced at once\n"
		"                  by rename; mode, owner, times, xattrs and hard links\n"
		"                  are kept. The volume must NOT be mounted.\n"
		"  -o OPT,...      HSM access as for mount: ca_file=, kek_scope=,\n"
		"                  hsm_endpoint= (for the config's KEK), hsm_timeout=,\n"
		"                  kek=, volume=, no_pin\n"
		"\n"
		"With --to, the volume's fingerprint changes (it covers the KEK URL):\n"
		"the new one is printed.\n"
		"\n"
		"--to-wrap on a volume already in that mode says so and exits 0.\n"
		"\n"
		"Exit status: 0 done, 1 some files failed (listed with the reason), 2\n"
		"usage.\n");
}

static void say(void *ctx, const char *line)
{
	(void)ctx;
	progress_clear();
	printf("%s\n", line);
}

static void error(void *ctx, const char *line)
{
	(void)ctx;
	progress_clear();
	fprintf(stderr, "hsmfs rekey: %s\n", line);
}

/* A bar on the terminal, redrawn in place (progress.h). */
static void bar(void *ctx, unsigned long done, unsigned long total,
		double secs, bool last)
{
	(void)ctx;
	progress_draw(done, total, "files", NULL, secs, last);
}

static void print_kids(const struct rekey_report *rp)
{
	printf("KEK versions referenced:\n");
	for (size_t i = 0; i < rp->nkids; i++)
		printf("  %-7s %8lu files%s  %s\n",
		       rp->kids[i].current ? "current" : "old",
		       rp->kids[i].files, rp->kids[i].vk ? " + the config" : "",
		       rp->kids[i].kid);
}

/* What --check says of the wrap mode: a conversion under way, and the
 * kinds of key slot the files have. */
static void print_wrap(const struct rekey_report *rp)
{
	const char *to = rp->conversion == CONF_CONV_TO_VOLUME ? "volume"
								: "file";

	if (rp->conversion)
		printf("wrap conversion: to %s mode, unfinished (hsmfs rekey "
		       "--to-wrap %s finishes it)\n", to, to);
	if (rp->volume_wrap)
		printf("key slots: %lu files wrapped locally, %lu by a KEK\n",
		       rp->local_files, rp->kek_files);
}

/* Each failure: backing path, plaintext path where known, why. */
static void print_fails(const struct rekey_report *rp, const char *what)
{
	const struct rekey_failure *f;

	for (size_t i = 0; i < rp->nfails; i++) {
		f = &rp->fails[i];
		printf("  %s %s/%s%s%s%s: %s\n", what, rp->cipherdir, f->bpath,
		       f->ppath ? " (" : "", f->ppath ? f->ppath : "",
		       f->ppath ? ")" : "", f->why);
	}
}

static void print_check(const struct rekey_report *rp)
{
	printf("target: %s\n", rp->target_kid);
	/* In volume mode the KEK wraps the wrapping key, not the volume
	 * key. */
	printf("%s: %s (%s)\n", rp->volume_wrap ? "wrapping key" :
	       "volume key", rp->vk_kid, rp->vk_current ? "current" : "old");
	for (int i = 0; i < rp->nprev; i++)
		printf("previous KEK still listed: %s\n", rp->prev_keks[i]);
	printf("files: %lu, with the current version only %lu\n", rp->files,
	       rp->current);
	print_fails(rp, "NOT READ");
	print_kids(rp);
	print_wrap(rp);
	if (rp->missed)
		printf("cannot tell whether older KEK versions are needed: %lu "
		       "director%s could not be read (above)\n", rp->missed,
		       rp->missed == 1 ? "y" : "ies");
	else if (rp->conversion)
		printf("the conversion is unfinished: run hsmfs rekey "
		       "--to-wrap %s\n", rp->conversion == CONF_CONV_TO_VOLUME ?
		       "volume" : "file");
	else
		printf("%s\n", rp->old_needed ? "older KEK versions are still "
		       "needed: run hsmfs rekey" :
		       "only the current KEK version is needed");
}

static void print_run(const struct rekey_report *rp, bool had_bar)
{
	if (!had_bar)
		fprintf(stderr, "hsmfs rekey: %lu/%lu files done\n", rp->done,
			rp->files);
	printf("files: %lu, rewrapped %lu, already current %lu, empty %lu, "
	       "gone %lu, failed %lu (%.1f s)\n", rp->files, rp->rewrapped,
	       rp->current, rp->empty, rp->gone, rp->failed, rp->secs);
	print_fails(rp, "FAILED");
	print_kids(rp);
}

static void report(void *ctx, const struct rekey_report *rp)
{
	const struct rekey_opts *o = ctx;

	if (o->check)
		print_check(rp);
	else
		print_run(rp, o->ui.progress != NULL);
}

/* --data, --wrapping-key and --to-wrap each go alone; --check and --to
 * with none of them. */
static int modes_clash(bool data, const struct rekey_opts *o)
{
	const char *mode = data ? "--data" : o->wrapping_key ?
			   "--wrapping-key" : o->to_wrap ? "--to-wrap" : NULL;
	int n = data + o->wrapping_key + !!o->to_wrap;

	if (n > 1)
		return cmd_usage_error("--data, --wrapping-key and --to-wrap "
				       "go one at a time");
	if (mode && (o->check || o->to))
		return cmd_usage_error("%s goes without %s", mode,
				       o->check ? "--check" : "--to");
	return CMD_GO_ON;
}

static const int exit_code[] = {
	[REKEY_OK] = EXIT_OK,
	[REKEY_FAILED] = EXIT_FAIL,
	[REKEY_OLD_NEEDED] = EXIT_FOUND,
	[REKEY_CANNOT_TELL] = EXIT_CANNOT_TELL,
};

int rekey_main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "max-rate", required_argument, NULL, 'r' },
		{ "check", no_argument, NULL, 'c' },
		{ "data", no_argument, NULL, 'D' },
		{ "wrapping-key", no_argument, NULL, 'W' },
		{ "to-wrap", required_argument, NULL, 'M' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rekey_opts o = {
		.jobs = 8,
		.ui = { .say = say, .error = error, .report = report },
	};
	bool quiet = false;
	enum rekey_result r;
	bool data = false;
	const char *why;
	int c, ret;

	vol_opts_init(&o.vo);
	o.vo.cache_entries = 1024;
	ret = cmd_conf_machine(argc, argv, &o.vo, NULL, NULL);
	if (ret != CMD_GO_ON)
		return ret;
	log_init("hsmfs", 0, LOG_LVL_WARN);
	while ((c = cmd_getopt(argc, argv, "+hqo:", longopts)) != -1) {
		switch (c) {
		case 't':
			o.to = optarg;
			break;
		case 'j':
			if (parse_uint(optarg, 256, &o.jobs) || !o.jobs)
				return cmd_usage_error("bad value for --jobs "
						       "(1..256)");
			break;
		case 'r':
			if (parse_double(optarg, 0.01, 1e9, &o.max_rate))
				return cmd_usage_error("bad value for --max-rate "
						       "(unwraps a second, "
						       "0.01..1e9)");
			break;
		case 'c':
			o.check = true;
			break;
		case 'D':
			data = true;
			break;
		case 'W':
			o.wrapping_key = true;
			break;
		case 'M':
			if (!strcmp(optarg, "volume"))
				o.to_wrap = CONF_CONV_TO_VOLUME;
			else if (!strcmp(optarg, "file"))
				o.to_wrap = CONF_CONV_TO_FILE;
			else
				return cmd_usage_error("--to-wrap must be file "
						       "or volume");
			break;
		case 'q':
			quiet = true;
			break;
		default:
			if ((ret = cmd_other_opt(c, &o.vo, usage)) != CMD_GO_ON)
				return ret;
		}
	}
	if ((ret = cmd_operands(argc, argv, 1, data ? -1 : 1,
				(const char *const[]){ "CIPHERDIR" })) !=
	    CMD_GO_ON)
		return ret;
	if ((ret = modes_clash(data, &o)) != CMD_GO_ON)
		return ret;
	if (secmem_init(1u << 20, &why))
		fprintf(stderr, "hsmfs rekey: %s: keys stay in ordinary "
			"memory\n", why);
	setvbuf(stdout, NULL, _IOLBF, 0);
	o.ui.ctx = &o;
	if (progress_wanted(quiet))
		o.ui.progress = bar;
	if (data)
		r = rekey_data(argv[optind], &o, argv + optind + 1,
			       argc - optind - 1);
	else
		r = rekey_kek(argv[optind], &o);
	return exit_code[r];
}
