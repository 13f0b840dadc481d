/* SPDX-License-Identifier: Apache-2.0 */
/* hsmfs kek list|add|remove: the escrow KEKs of a volume-wrap volume
 * (fs/offline/escrow.h). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "common/log.h"
#include "common/secmem.h"
#include "crypto/names.h"
#include "fs/offline/escrow.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hsmfs kek list CIPHERDIR\n"
		"       hsmfs kek add [-o OPT,...] URL CIPHERDIR\n"
		"       hsmfs kek remove [-o OPT,...] URL CIPHERDIR\n"
		"\n"
		"Escrow KEKs of a volume-wrap volume (init --wrap volume): besides the\n"
		"volume's own KEK, up to 3 further KEKs (another HSM, another tenant's\n"
		"Key Vault) that each wrap the volume's wrapping key, so that any one\n"
		"of them opens the volume. A mount tries the volume's KEK first and,\n"
		"if it cannot be used, each escrow KEK in turn; one log line and hsmfs\n"
		"status name the KEK that opened it.\n"
		"\n"
		"  list    what the config says (no key, no HSM: not authenticated),\n"
		"          and which escrow KEKs this machine's pin lists\n"
		"  add     opens the volume with any KEK that serves it, wraps every\n"
		"          wrapping-key generation with URL, has URL unwrap one back,\n"
		"          and writes the config; this machine's pin lists URL\n"
		"  remove  drops URL from the config (needs a KEK that serves the\n"
		"          volume, not URL itself); the volume's own KEK is never\n"
		"          removed: hsmfs rekey --to replaces it, and --to an escrow\n"
		"          KEK's URL makes that one the volume's KEK\n"
		"\n"
		"  -o OPT,...  HSM access as for mount: ca_file= (a PEM bundle may hold\n"
		"              the CAs of several HSMs), kek_scope=, hsm_endpoint= (for\n"
		"              the volume's KEK only), hsm_timeout=, kek=, volume=,\n"
		"              no_pin. Credentials come from the environment, the same\n"
		"              for every KEK.\n"
		"\n"
		"Before the config is authenticated, an escrow KEK is asked only if\n"
		"this machine's pin lists it (a mount notes the escrow KEKs of every\n"
		"authenticated config) or -o kek=URL names it; kek=URL then opens the\n"
		"volume with that escrow KEK alone.\n"
		"\n"
		"Exit status: 0 done, 1 failed (one line says why), 2 usage.\n");
}

static void say(void *ctx, const char *line)
{
	(void)ctx;
	printf("%s\n", line);
}

static void print_kids(const struct hdr_slot *wk, int n)
{
	for (int i = 0; i < n; i++)
		printf("        generation %u: %s\n", wk[i].gen, wk[i].kid);
}

static int list(const char *dir)
{
	struct escrow_listing l;
	const struct conf *c = &l.conf;
	char err[1536];

	if (escrow_list(dir, &l, err, sizeof(err))) {
		fprintf(stderr, "hsmfs kek: %s\n", err);
		return EXIT_FAIL;
	}
	printf("kek:    %s (the volume's own)\n", c->kek);
	print_kids(c->wk, c->nwk);
	if (!c->nwk)
		printf("        file mode: every file key wrapped by it; escrow "
		       "KEKs need a volume-wrap volume\n");
	for (int i = 0; i < c->nescrow; i++) {
		printf("escrow: %s (%s)\n", c->escrow[i].kek, l.pinned[i] ?
		       "listed in this machine's pin" : "not in this "
		       "machine's pin: asked once the config is "
		       "authenticated, or when -o kek= names it");
		print_kids(c->escrow[i].wk, c->nwk);
	}
	printf("pin:    %s%s\n", l.pin_file, l.pin_found == 0 ? " (none yet)" :
	       l.pin_agrees ? "" : " (names another volume or KEK)");
	printf("note:   read from %s without any key: not authenticated\n",
	       CONF_NAME);
	return EXIT_OK;
}

/* add or remove URL DIR. */
static int change(bool add, int argc, char *argv[])
{
	struct escrow_ui ui = { .say = say };
	struct vol_opts o;
	char err[1536];
	const char *why;
	int c, r;

	if (cmd_wants_help(argc, argv)) {
		usage(stdout);
		return EXIT_OK;
	}
	vol_opts_init(&o);
	o.cache_entries = 16;
	if ((r = cmd_conf_machine(argc, argv, &o, NULL, NULL)) != CMD_GO_ON)
		return r;
	while ((c = cmd_getopt(argc, argv, "+ho:", NULL)) != -1)
		if ((r = cmd_other_opt(c, &o, usage)) != CMD_GO_ON)
			return r;
	if ((r = cmd_operands(argc, argv, 2, 2, (const char *const[]){
		     "URL", "CIPHERDIR" })) != CMD_GO_ON)
		return r;
	if (secmem_init(1u << 20, &why))
		fprintf(stderr, "hsmfs kek: %s: keys stay in ordinary memory\n",
			why);
	setvbuf(stdout, NULL, _IOLBF, 0);
	r = add ? escrow_add(argv[optind + 1], argv[optind], &o, &ui, err,
			     sizeof(err))
		: escrow_remove(argv[optind + 1], argv[optind], &o, &ui, err,
				sizeof(err));
	if (r)
		fprintf(stderr, "hsmfs kek: %s\n", err);
	return r ? EXIT_FAIL : EXIT_OK;
}

int kek_main(int argc, char *argv[])
{
	const char *sub = argc > 1 ? argv[1] : "";
	int c;

	log_init("hsmfs", 0, LOG_LVL_WARN);
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h") ||
	    !strcmp(sub, "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(sub, "list") && cmd_wants_help(argc, argv)) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(sub, "list")) {
		optind = 2;
		c = cmd_operands(argc, argv, 1, 1, (const char *const[]){
			"CIPHERDIR" });
		return c != CMD_GO_ON ? c : list(argv[2]);
	}
	if (!strcmp(sub, "add") || !strcmp(sub, "remove"))
		return change(!strcmp(sub, "add"), argc - 1, argv + 1);
	if (!*sub)
		return cmd_usage_error("missing list, add or remove");
	return cmd_usage_error("unknown subcommand '%s' (list, add, remove)",
			       sub);
}
