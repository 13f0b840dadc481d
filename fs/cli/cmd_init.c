/* SPDX-License-Identifier: Apache-2.0 */
/* hsmfs init: creates a volume. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "common/log.h"
#include "common/parse.h"
#include "crypto/conf.h"
#include "crypto/layout.h"
#include "fs/vol/vol.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hsmfs init --kek URL [--wrap file|volume] [--plaintext-names]\n"
		"                  [--format N] [-o OPT,...] CIPHERDIR\n"
		"\n"
		"Creates an encrypted volume in CIPHERDIR (made if missing; it must be\n"
		"empty). Every file will get its own data key, wrapped (--wrap file) by\n"
		"the KEK:\n"
		"  https://NAME.managedhsm.azure.net/keys/KEY[/VERSION]\n"
		"  https://NAME.vault.azure.net/keys/KEY[/VERSION]\n"
		"  pkcs11:token=T;object=O;type=private|secret-key[;id=ID]\n"
		"      ?module-name=M|module-path=/P[&pin-source=/FILE]\n"
		"\n"
		"  --kek URL            the key-encryption key in the HSM (required)\n"
		"  --wrap file          (default) each data key wrapped by the KEK: one HSM\n"
		"                       unwrap per file opened, each in the HSM's audit log\n"
		"  --wrap volume        each data key wrapped locally by the volume's wrapping\n"
		"                       key, which the KEK wraps: one HSM unwrap per mount\n"
		"                       and per re-validation (-o kek_check=), KEK rotation\n"
		"                       without touching files (format 3)\n"
		"  --plaintext-names    leave file names unencrypted\n"
		"  --format N           3 (default): page-aligned blocks, each file's state,\n"
		"                       symlinks and xattrs bound to their entry; 2 and 1:\n"
		"                       for volumes that older hsmfs versions must read\n"
		"  -o ca_file=PATH      trust this CA for the HSM (private CA, emulator)\n"
		"  -o kek_scope=SCOPE   token scope (private endpoints, emulator)\n"
		"  -o hsm_endpoint=URL  another HSM holding the same key (repeatable)\n"
		"  -o credential_file=PATH  Azure credentials from a root-only file\n"
		"  -o conf=NAME|PATH    a volume's file of options (see hsmfs mount --help)\n"
		"\n"
		"Credentials come from the Azure environment variables, a\n"
		"credential_file= or systemd credentials (see README). Defaults for\n"
		"-o come from /etc/hsmfs/hsmfs.conf ($HSMFS_CONF) if it exists.\n"
		"\n"
		"Prints the volume's fingerprint: give it to a first mount on another\n"
		"machine (-o volume=FINGERPRINT), which then refuses any other volume.\n"
		"This machine pins the volume in CIPHERDIR at once.\n");
}

int init_main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "kek", required_argument, NULL, 'k' },
		{ "plaintext-names", no_argument, NULL, 'p' },
		{ "format", required_argument, NULL, 'f' },
		{ "wrap", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *kek = NULL;
	struct vol_opts o;
	bool plaintext = false, volume = false;
	char err[VOL_ERR_MAX], fpr[PIN_FPR_TEXT];
	unsigned format = CONF_FORMAT;
	int c, r;

	vol_opts_init(&o);
	if ((r = cmd_conf_machine(argc, argv, &o, NULL, NULL)) != CMD_GO_ON)
		return r;
	log_init("hsmfs", 0, LOG_LVL_WARN);
	while ((c = cmd_getopt(argc, argv, "ho:", longopts)) != -1) {
		switch (c) {
		case 'k':
			kek = optarg;
			break;
		case 'p':
			plaintext = true;
			break;
		case 'w':
			if (strcmp(optarg, "file") && strcmp(optarg, "volume"))
				return cmd_usage_error("--wrap must be file or "
						       "volume");
			volume = !strcmp(optarg, "volume");
			break;
		case 'f':
			if (parse_uint(optarg, 255, &format) ||
			    !lay_valid((int)format))
				return cmd_usage_error("--format must be 1, 2 "
						       "or 3");
			break;
		default:
			if ((r = cmd_other_opt(c, &o, usage)) != CMD_GO_ON)
				return r;
		}
	}
	if ((r = cmd_operands(argc, argv, 1, 1, (const char *const[]){
		     "CIPHERDIR" })) != CMD_GO_ON)
		return r;
	if (!kek)
		return cmd_usage_error("missing --kek URL");
	if (volume && format < 3)
		return cmd_usage_error("--wrap volume needs format 3");
	if (vol_create(argv[optind], kek, (int)format,
		       (plaintext ? VOL_PLAINTEXT_NAMES : 0) |
		       (volume ? VOL_VOLUME_WRAP : 0), &o, fpr, err,
		       sizeof(err))) {
		fprintf(stderr, "hsmfs init: %s\n", err);
		return EXIT_FAIL;
	}
	printf("Created an hsmfs volume in %s\n  KEK: %s\n  names: %s\n"
	       "  format: %u\n  wrap: %s\n  fingerprint: %s\n", argv[optind],
	       kek, plaintext ? "plaintext" : "encrypted", format,
	       volume ? "volume (file keys wrapped by a wrapping key)" :
			"file (each file key wrapped by the KEK)", fpr);
	return EXIT_OK;
}
