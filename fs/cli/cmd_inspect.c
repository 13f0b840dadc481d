/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hsmfs inspect: prints a backing file's header without any key: nothing
 * here needs the KEK or the volume key, so it works on a copy of one file
 * anywhere (backups, support cases).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "cmd.h"
#include "common/parse.h"
#include "crypto/blk.h"
#include "crypto/conf.h"
#include "crypto/layout.h"

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

static int show(int fd, const char *path, int lay)
{
	char id[2 * ID_LEN + 1];
	struct stat st;
	struct hdr h;
	const char *why;
	int64_t psize;
	int err;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "hsmfs inspect: %s: not a regular file\n", path);
		return EXIT_FAIL;
	}
	printf("file:            %s\n", path);
	err = hdr_read(fd, &h, &why);
	if (err == -ENOKEY) {
		printf("empty file (no header)\n");
		return EXIT_OK;
	}
	if (err == -EINVAL && st.st_size < HDR_LEN)
		printf("bad header: file too short (%lld bytes) for a %d-byte "
		       "header\n", (long long)st.st_size, HDR_LEN);
	else if (err == -EINVAL)
		printf("bad header: %s\n", why);
	else if (err)
		printf("cannot read the header: %s\n", strerror(-err));
	if (err)
		return EXIT_FAIL;
	hex(h.file_id, ID_LEN, id);
	printf("file id:         %s\n", id);
	printf("header version:  %d\n", HDR_VERSION);
	for (int i = 0; i < HDR_SLOTS; i++)
		print_slot(&h, i);
	if (lay)
		printf("volume format:   %d (%s blocks)\n", lay,
		       lay == LAY_PACKED ? "packed" : "page-aligned");
	else
		printf("volume format:   unknown, no hsmfs.conf above the file: "
		       "sizes for format %d (see --format)\n", lay = CONF_FORMAT);
	printf("backing size:    %lld\n", (long long)st.st_size);
	psize = lay_plain_size(lay, (uint64_t)st.st_size);
	if (psize < 0) {
		printf("plaintext size:  invalid (not a valid encrypted size: "
		       "truncated?)\n");
		return EXIT_FAIL;
	}
	printf("plaintext size:  %lld\n", (long long)psize);
	printf("blocks:          %lld full + %d partial\n",
	       (long long)(psize / BLK_PLAIN), psize % BLK_PLAIN ? 1 : 0);
	return EXIT_OK;
}

/* The block layout of the volume FILE lies in: the format of the nearest
 * hsmfs.conf above it. 0 if there is none (a file copied elsewhere). */
static int find_layout(const char *file)
{
	char dir[PATH_MAX], *slash;
	struct conf c;
	const char *why;
	int fd, err;

	if (!realpath(file, dir))
		return 0;
	while ((slash = strrchr(dir, '/'))) {
		slash[slash == dir] = '\0';
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return 0;
		err = conf_load(fd, &c, &why);
		close(fd);
		if (!err)
			return c.format;
		if (err != -ENOENT || !strcmp(dir, "/"))
			return 0;
	}
	return 0;
}

int inspect_main(int argc, char *argv[])
{
	unsigned lay = 0;
	int fd, r;

	if (cmd_wants_help(argc, argv)) {
		usage(stdout);
		return EXIT_OK;
	}
	if (argc == 4 && !strcmp(argv[1], "--format")) {
		if (parse_uint(argv[2], 255, &lay) || !lay_valid((int)lay))
			argc = 0;
		argv += 2;
		argc -= 2;
	}
	if (argc != 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "hsmfs inspect: %s: %s\n", argv[1],
			strerror(errno));
		return EXIT_FAIL;
	}
	r = show(fd, argv[1], lay ? (int)lay : find_layout(argv[1]));
	close(fd);
	return r;
}
