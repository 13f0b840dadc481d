/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hsmfs inspect: prints what fs/offline/inspect.h reads of a backing
 * file: its header and sizes, without any key.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/sha.h>

#include "cmd.h"
#include "common/parse.h"
#include "crypto/blk.h"
#include "crypto/conf.h"
#include "crypto/layout.h"
#include "crypto/names.h"
#include "fs/offline/inspect.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hsmfs inspect [--format N] FILE\n"
		"\n"
		"Prints the header of FILE, a file in the backing (encrypted) directory:\n"
		"file id, header version, each key slot (generation, algorithm, KEK\n"
		"version, wrapped key length and fingerprint), sizes and block count.\n"
		"Uses no key and makes no HSM call. Exit 1 if the header is invalid.\n"
		"The volume format (block layout) comes from the hsmfs.conf above FILE;\n"
		"--format N gives it for a file copied out of its volume (default %d).\n",
		CONF_FORMAT);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

/* The wrapped key's fingerprint lets an operator see that a key changed
 * (rekey) or is gone, without printing the wrapped bytes. */
static void print_slot(const struct hdr *h, int i)
{
	const struct hdr_slot *s = &h->slot[i];
	uint8_t d[SHA256_DIGEST_LENGTH];
	char fp[2 * 8 + 1];

	if (!s->gen) {
		printf("slot %d:          empty\n", i);
		return;
	}
	SHA256(s->wrapped, s->wlen, d);
	hex(d, 8, fp);
	printf("slot %d:          generation %u, %s\n", i, s->gen,
	       kek_alg_name(s->alg));
	printf("  kid:           %s\n", s->kid);
	printf("  wrapped key:   %u bytes, sha256 %s\n", s->wlen, fp);
}

static int show(const char *path, const struct inspect *in)
{
	char id[2 * ID_LEN + 1];

	printf("file:            %s\n", path);
	if (in->hdr_err == -ENOKEY) {
		printf("empty file (no header)\n");
		return EXIT_OK;
	}
	if (in->hdr_err == -EINVAL && in->st.st_size < HDR_LEN)
		printf("bad header: file too short (%lld bytes) for a %d-byte "
		       "header\n", (long long)in->st.st_size, HDR_LEN);
	else if (in->hdr_err == -EINVAL)
		printf("bad header: %s\n", in->why);
	else if (in->hdr_err)
		printf("cannot read the header: %s\n", strerror(-in->hdr_err));
	if (in->hdr_err)
		return EXIT_FAIL;
	hex(in->h.file_id, ID_LEN, id);
	printf("file id:         %s\n", id);
	printf("header version:  %d\n", HDR_VERSION);
	for (int i = 0; i < HDR_SLOTS; i++)
		print_slot(&in->h, i);
	if (in->lay_known)
		printf("volume format:   %d (%s)\n", in->lay,
		       in->lay == LAY_PACKED ? "packed blocks" :
		       in->lay == LAY_ALIGNED ? "page-aligned blocks" :
		       "page-aligned blocks, file state in page 0");
	else
		printf("volume format:   unknown, no hsmfs.conf above the file: "
		       "sizes for format %d (see --format)\n", in->lay);
	printf("backing size:    %lld\n", (long long)in->st.st_size);
	if (in->psize < 0) {
		printf("plaintext size:  invalid (not a valid encrypted size: "
		       "truncated?)\n");
		return EXIT_FAIL;
	}
	printf("plaintext size:  %lld\n", (long long)in->psize);
	printf("blocks:          %lld full + %d partial\n",
	       (long long)(in->psize / BLK_PLAIN), in->psize % BLK_PLAIN ? 1 : 0);
	return EXIT_OK;
}

/* A directory or a volume's config is not a backing file: hsmfs info
 * reads those. True if path is one (after saying so). */
static bool not_a_file(const char *path)
{
	const char *base = strrchr(path, '/');
	char dir[PATH_MAX];
	struct stat st;

	base = base ? base + 1 : path;
	/* The directory holding it: "." or "/" or the path up to base. */
	snprintf(dir, sizeof(dir), "%.*s", (int)(base - path), path);
	for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/';)
		dir[--n] = '\0';
	if (!dir[0])
		snprintf(dir, sizeof(dir), ".");
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		fprintf(stderr, "hsmfs inspect: %s is a directory: for a "
			"volume's config and this machine's pin, see 'hsmfs "
			"info %s'\n", path, path);
	else if (!strcmp(base, CONF_NAME))
		fprintf(stderr, "hsmfs inspect: %s is a volume's config, not a "
			"file's header: see 'hsmfs info %s'\n", path, dir);
	else
		return false;
	return true;
}

int inspect_main(int argc, char *argv[])
{
	struct inspect in;
	unsigned lay = 0;
	int err;

	if (cmd_wants_help(argc, argv)) {
		usage(stdout);
		return EXIT_OK;
	}
	if (argc >= 2 && !strcmp(argv[1], "--format")) {
		if (argc < 3 || parse_uint(argv[2], 255, &lay) ||
		    !lay_valid((int)lay))
			return cmd_usage_error("--format must be 1, 2 or 3");
		argv += 2;
		argc -= 2;
	}
	if ((err = cmd_operands(argc, argv, 1, 1, (const char *const[]){
		     "FILE" })) != CMD_GO_ON)
		return err;
	if (not_a_file(argv[1]))
		return EXIT_FAIL;
	if ((err = inspect_file(argv[1], (int)lay, &in))) {
		fprintf(stderr, "hsmfs inspect: %s: %s\n", argv[1],
			err == -EINVAL ? "not a regular file" : strerror(-err));
		return EXIT_FAIL;
	}
	return show(argv[1], &in);
}
