/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A test program, never installed: prints in hex the DEK of one backing
 * file and the AES-256-GCM content key derived from it, so that a test
 * can look for those bytes in a daemon's memory. It opens the volume
 * offline as fsck does (the mount's HSM options, the pin only checked)
 * and refuses to run without --test-tool.
 *
 *   keydump --test-tool [-o OPT,...] CIPHERDIR BACKINGFILE
 *
 * Prints "dek HEX" and "content HEX"; exit 0, or 1 with the reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "crypto/blk.h"
#include "fs/vol/filekey.h"

static void usage(void)
{
	fprintf(stderr, "usage: keydump --test-tool [-o OPT,...] CIPHERDIR "
		"BACKINGFILE\n(prints a file's keys: for tests only)\n");
}

static void print_hex(const char *what, const uint8_t *p, size_t n)
{
	printf("%s ", what);
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
	printf("\n");
}

/* Applies a comma-separated -o list; 0, or -1 after saying which. The
 * options keep pointers into list. */
static int parse_opts(struct vol_opts *o, char *list)
{
	char err[256] = "", *save = NULL;

	for (char *opt = strtok_r(list, ",", &save); opt;
	     opt = strtok_r(NULL, ",", &save)) {
		if (vol_opts_parse(o, opt, err, sizeof(err)) != 1) {
			fprintf(stderr, "keydump: %s\n", err[0] ? err :
				"unknown option");
			return -1;
		}
	}
	return 0;
}

/* The keys of the file at path in the opened volume v. */
static int dump(struct vol *v, const char *path)
{
	uint8_t dek[KEY_LEN];
	struct blk_key *k = NULL;
	const char *why;
	struct hdr h;
	int fd, err, ret = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "keydump: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if ((err = hdr_read(fd, &h, &why))) {
		fprintf(stderr, "keydump: %s: no header: %s\n", path,
			err == -EINVAL || err == -ENOKEY ? why : strerror(-err));
		goto out;
	}
	if (vol_load_file_key(v, &h, dek, path, NULL) != 0)
		goto out;
	if (!(k = blk_key_new(dek, h.file_id))) {
		fprintf(stderr, "keydump: cannot derive the content key\n");
		goto out;
	}
	print_hex("dek", dek, KEY_LEN);
	print_hex("content", k->key, KEY_LEN);
	ret = 0;
out:
	secmem_wipe(dek, sizeof(dek));
	blk_key_free(k);
	close(fd);
	return ret;
}

int main(int argc, char *argv[])
{
	char verr[VOL_ERR_MAX];
	struct vol_opts o;
	struct vol v;
	int i = 2, ret;

	if (argc < 2 || strcmp(argv[1], "--test-tool") != 0) {
		usage();
		return 1;
	}
	log_init("keydump", 0, LOG_LVL_WARN);
	vol_opts_init(&o);
	o.pin_readonly = true;
	o.cache_entries = 0;
	if (i + 1 < argc && !strcmp(argv[i], "-o")) {
		if (parse_opts(&o, argv[i + 1]))
			return 1;
		i += 2;
	}
	if (argc - i != 2) {
		usage();
		return 1;
	}
	if (vol_open(&v, argv[i], &o, verr, sizeof(verr)) != 0) {
		fprintf(stderr, "keydump: %s\n", verr);
		return 1;
	}
	ret = dump(&v, argv[i + 1]);
	vol_close(&v);
	return ret ? 1 : 0;
}
