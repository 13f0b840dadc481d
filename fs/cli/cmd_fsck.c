/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hsmfs fsck: checks a volume's backing directory and changes nothing
 * (everything is opened read-only; no pin is written). One line per
 * problem, naming the backing path and, where the names decrypt, the
 * plaintext path.
 *
 * Levels: structure (config syntax, IVs, sidecars, headers, sizes) needs
 * no key; names, symlink targets and xattrs need the volume key (one
 * unwrap); --unwrap also unwraps and verifies every key slot; --deep
 * also decrypts every block. Without --unwrap an unreachable KEK is not
 * fatal: the structure is checked and the output says what was not.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cmd.h"
#include "common/log.h"
#include "crypto/blk.h"
#include "crypto/layout.h"
#include "fs/offline/walk.h"
#include "fs/vol/filekey.h"
#include "fs/vol/vol.h"

enum { FSCK_CLEAN = EXIT_OK, FSCK_PROBLEMS = EXIT_FOUND,
       FSCK_ERROR = EXIT_CANNOT_TELL };

struct fsck {
	struct vol v;
	const char *dir;
	bool peeked, unlocked, unwrap, deep, plaintext;
	int lay; /* block layout, from the config */
	unsigned long problems, files, dirs, links, slots, blocks;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hsmfs fsck [--unwrap] [--deep] [-o OPT,...] CIPHERDIR\n"
		"\n"
		"Checks an (unmounted or mounted) volume and changes nothing: the config,\n"
		"every directory IV, name, long-name sidecar, file header and size,\n"
		"symlink target and xattr. One line per problem, with the backing path\n"
		"and the plaintext path where the names decrypt.\n"
		"\n"
		"  --unwrap      also unwrap every key slot and check its MAC (one HSM\n"
		"                call per slot)\n"
		"  --deep        also decrypt every block (implies --unwrap)\n"
		"  -o OPT,...    HSM access as for mount (ca_file=, kek_scope=, ...)\n"
		"\n"
		"Names, symlinks and xattrs need the volume key, unwrapped once. If the\n"
		"KEK cannot be reached, fsck checks the structure only and says so.\n"
		"\n"
		"Exit status: 0 clean, 1 problems found, 2 usage, 8 operational error\n"
		"(the volume cannot be opened, or --unwrap/--deep and the KEK cannot be\n"
		"used).\n");
}

static void problem(struct fsck *k, const char *bpath, const char *ppath,
		    const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void problem(struct fsck *k, const char *bpath, const char *ppath,
		    const char *fmt, ...)
{
	va_list ap;

	k->problems++;
	printf("%s/%s", k->dir, bpath);
	if (ppath)
		printf(" (%s)", ppath);
	printf(": ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void walk_problem(struct walk *w, const char *bpath,
			 const char *ppath, const char *what)
{
	problem(w->ctx, bpath, ppath, "%s", what);
}

/* Slot i alone: unwrapped with the KEK that owns it and MAC-verified. */
static int check_slot(struct fsck *k, const struct hdr *h, int i,
		      uint8_t dek[KEY_LEN], char *why, size_t n)
{
	struct hdr one = *h;
	enum kek_status st;

	memset(&one.slot[1 - i], 0, sizeof(one.slot[0]));
	k->slots++;
	return vol_file_key_slot(&k->v, &one, dek, &st, why, n) == i ? 0 : -1;
}

/* Every block decrypts under the file's key. */
static void check_blocks(struct fsck *k, const struct walk_ent *e, int fd,
			 const struct hdr *h, const uint8_t dek[KEY_LEN],
			 int64_t psize)
{
	struct blk_key *bk = blk_key_new(dek, h->file_id);
	uint8_t c[BLK_CIPHER], r[LAY_REC], p[BLK_PLAIN];
	uint64_t nb = ((uint64_t)psize + BLK_PLAIN - 1) / BLK_PLAIN, bad;
	char msg[128];
	int err;

	if (!bk)
		return;
	for (uint64_t b = 0; b < nb; b++) {
		size_t len = b + 1 < nb || psize % BLK_PLAIN == 0 ?
			     BLK_PLAIN : (size_t)(psize % BLK_PLAIN);

		k->blocks++;
		if ((err = lay_read_run(k->lay, fd, bk, b, 1, len, p, c, r,
					&bad)))
			problem(k, e->bpath, e->ppath, "block %llu %s",
				(unsigned long long)b,
				lay_strerror(err, msg, sizeof(msg)));
	}
	secmem_wipe(p, sizeof(p));
	blk_key_free(bk);
}

/* Slots: kids of this volume's KEKs, distinct generations; with --unwrap
 * each one verifies; with --deep every block too. */
static void check_keys(struct fsck *k, const struct walk_ent *e, int fd,
		       const struct hdr *h, int64_t psize)
{
	uint8_t dek[KEY_LEN];
	char why[KEK_ERR_MAX + 128];
	int good = -1;

	if (h->slot[0].gen && h->slot[0].gen == h->slot[1].gen)
		problem(k, e->bpath, e->ppath, "both key slots have "
			"generation %u", h->slot[0].gen);
	for (int i = 0; i < HDR_SLOTS; i++) {
		const struct hdr_slot *s = &h->slot[i];

		if (!s->gen)
			continue;
		if (!vol_kek_for(&k->v, s->kid)) {
			problem(k, e->bpath, e->ppath, "key slot %d names %s, "
				"not a version of this volume's KEK", i, s->kid);
			continue;
		}
		if (!k->unwrap)
			continue;
		if (check_slot(k, h, i, dek, why, sizeof(why)) != 0) {
			problem(k, e->bpath, e->ppath, "key slot %d: %s", i, why);
			continue;
		}
		if (good < 0 && k->deep)
			check_blocks(k, e, fd, h, dek, psize);
		good = i;
		secmem_wipe(dek, sizeof(dek));
	}
}

static void check_file(struct fsck *k, const struct walk_ent *e)
{
	int64_t psize = lay_plain_size(k->lay, (uint64_t)e->st->st_size);
	const char *why;
	struct hdr h;
	int fd, err;

	k->files++;
	if (e->st->st_size == 0)
		return;
	if (psize < 0) {
		problem(k, e->bpath, e->ppath, "size %lld is not a valid "
			"encrypted size (truncated?)", (long long)e->st->st_size);
		if (e->st->st_size < HDR_LEN)
			return;
	}
	fd = openat(e->dirfd, e->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		problem(k, e->bpath, e->ppath, "cannot read the header: %s",
			strerror(errno));
		goto out;
	}
	if ((err = hdr_read(fd, &h, &why)) == -EINVAL) {
		problem(k, e->bpath, e->ppath, "bad header: %s", why);
		goto out;
	}
	if (err) {
		/* A disk error, or the file emptied since the walk saw it. */
		problem(k, e->bpath, e->ppath, "cannot read the header: %s",
			err == -ENOKEY ? why : strerror(-err));
		goto out;
	}
	for (int i = 0; i < HDR_SLOTS; i++)
		if (h.bad[i])
			problem(k, e->bpath, e->ppath, "key slot %d is malformed "
				"(%s); the other slot serves", i, h.bad[i]);
	if (k->peeked)
		check_keys(k, e, fd, &h, psize < 0 ? 0 : psize);
out:
	if (fd >= 0)
		close(fd);
}

static void check_symlink(struct fsck *k, const struct walk_ent *e)
{
	char enc[4096], plain[SYMLINK_MAX + 1];
	ssize_t n = readlinkat(e->dirfd, e->name, enc, sizeof(enc) - 1);

	k->links++;
	if (n < 0) {
		problem(k, e->bpath, e->ppath, "cannot read the symlink");
		return;
	}
	if (k->unlocked && names_symlink_decrypt(k->v.nk, enc, (size_t)n,
						 plain, sizeof(plain)) < 0)
		problem(k, e->bpath, e->ppath,
			"symlink target failed authentication");
}

/* user.* xattrs: names (encrypted-names volumes) and values decrypt. */
static void check_xattrs(struct fsck *k, const struct walk_ent *e)
{
	char path[8192], names[65536], plain[512];
	uint8_t val[65536], out[65536];
	ssize_t len;

	if (!k->unlocked)
		return;
	snprintf(path, sizeof(path), "%s/%s", k->dir, e->bpath);
	len = llistxattr(path, names, sizeof(names));
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(names + i) + 1) {
		const char *nm = names + i;
		ssize_t vl;

		if (strncmp(nm, "user.", 5) != 0)
			continue;
		if (!k->plaintext &&
		    names_xattr_name_dec(k->v.nk, nm, plain, sizeof(plain)) < 0) {
			problem(k, e->bpath, e->ppath, "xattr name %s failed "
				"authentication", nm);
			continue;
		}
		vl = lgetxattr(path, nm, val, sizeof(val));
		if (vl < 0 || names_xattr_val_dec(k->v.nk, nm, val, (size_t)vl,
						  out) < 0)
			problem(k, e->bpath, e->ppath, "xattr %s: value failed "
				"authentication", k->plaintext ? nm : plain);
	}
}

static int entry(struct walk *w, const struct walk_ent *e)
{
	struct fsck *k = w->ctx;

	if (e->tmp) {
		problem(k, e->bpath, NULL, "temporary file of an interrupted "
			"rekey --data (the original is intact; safe to "
			"delete)");
		return 0;
	}
	if (S_ISREG(e->st->st_mode))
		check_file(k, e);
	else if (S_ISLNK(e->st->st_mode))
		check_symlink(k, e);
	else if (S_ISDIR(e->st->st_mode))
		k->dirs++;
	if (!S_ISLNK(e->st->st_mode))
		check_xattrs(k, e);
	return 0;
}

/* Opens as much of the volume as can be: config (a problem if bad),
 * KEK handles, volume key (operational if the KEK is unreachable). */
static int open_volume(struct fsck *k, const struct vol_opts *o)
{
	char err[768];
	struct conf c;
	const char *why;
	int e, fd = open(k->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "hsmfs fsck: cannot open %s: %s\n", k->dir,
			strerror(errno));
		return FSCK_ERROR;
	}
	e = conf_load(fd, &c, &why);
	close(fd);
	if (e == -ENOENT) {
		fprintf(stderr, "hsmfs fsck: %s: %s\n", k->dir, why);
		return FSCK_ERROR;
	}
	if (e) {
		problem(k, CONF_NAME, NULL, "%s", why);
		return FSCK_PROBLEMS;
	}
	k->plaintext = c.features & FEAT_PLAINTEXT_NAMES;
	k->lay = c.format;
	if (vol_peek(&k->v, k->dir, o, err, sizeof(err)) != 0) {
		problem(k, CONF_NAME, NULL, "%s", err);
		return FSCK_PROBLEMS;
	}
	k->peeked = true;
	if (vol_unlock(&k->v, err, sizeof(err)) == 0) {
		k->unlocked = true;
		return FSCK_CLEAN;
	}
	if (strncmp(err, "cannot unwrap the volume key", 28) != 0) {
		problem(k, CONF_NAME, NULL, "%s", err);
		return FSCK_PROBLEMS;
	}
	fprintf(stderr, "hsmfs fsck: %s\n", err);
	return k->unwrap ? FSCK_ERROR : FSCK_CLEAN;
}

static int run(struct fsck *k, const struct vol_opts *o)
{
	struct walk w = { .entry = entry, .problem = walk_problem, .ctx = k };
	int r = open_volume(k, o), fd;

	if (r == FSCK_ERROR)
		return r;
	if (!k->unlocked)
		printf("note: the volume key is not available: names, symlink "
		       "targets, xattrs and key slots were not verified\n");
	w.nk = k->unlocked ? k->v.nk : NULL;
	w.plaintext_names = k->plaintext;
	fd = k->peeked ? dup(k->v.rootfd) :
		open(k->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || walk_tree(&w, fd) != 0) {
		fprintf(stderr, "hsmfs fsck: cannot walk %s\n", k->dir);
		if (fd >= 0)
			close(fd);
		return FSCK_ERROR;
	}
	close(fd);
	printf("%s: %lu files, %lu directories, %lu symlinks, %lu key slots "
	       "unwrapped, %lu blocks decrypted: %lu problem%s\n", k->dir,
	       k->files, k->dirs, k->links, k->slots, k->blocks, k->problems,
	       k->problems == 1 ? "" : "s");
	return k->problems ? FSCK_PROBLEMS : FSCK_CLEAN;
}

int fsck_main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "unwrap", no_argument, NULL, 'u' },
		{ "deep", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fsck *k = calloc(1, sizeof(*k));
	struct vol_opts o;
	const char *why;
	int c, ret = EXIT_USAGE;

	if (!k)
		return FSCK_ERROR;
	vol_opts_init(&o);
	o.cache_entries = 1024;
	o.pin_readonly = true;
	log_init("hsmfs", 0, LOG_LVL_WARN);
	while ((c = getopt_long(argc, argv, "+ho:", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			k->unwrap = true;
			break;
		case 'd':
			k->deep = k->unwrap = true;
			break;
		case 'o':
			if (cmd_parse_opts(optarg, &o, NULL, NULL))
				goto out;
			break;
		case 'h':
			usage(stdout);
			ret = EXIT_OK;
			goto out;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		goto out;
	}
	if (secmem_init(1u << 20, &why))
		fprintf(stderr, "hsmfs fsck: %s: keys stay in ordinary "
			"memory\n", why);
	setvbuf(stdout, NULL, _IOLBF, 0);
	k->dir = argv[optind];
	for (size_t n = strlen(argv[optind]); n > 1 && argv[optind][n - 1] == '/';)
		argv[optind][--n] = '\0';
	ret = run(k, &o);
out:
	if (k->peeked)
		vol_close(&k->v);
	free(k);
	return ret;
}
