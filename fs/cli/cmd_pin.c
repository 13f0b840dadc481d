/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hsmfs pin list|forget: this machine's pins (fs/vol/pin.h), the
 * volumes it expects in backing directories. Neither asks the HSM.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "common/b64.h"
#include "fs/vol/mnt.h"
#include "fs/vol/pin.h"

static void usage(FILE *f)
{
	char sd[512];

	fprintf(f,
		"Usage: hsmfs pin list\n"
		"       hsmfs pin forget CIPHERDIR\n"
		"\n"
		"A machine pins the volume it finds in a backing directory on first\n"
		"use (init, mount, rekey): its volume id, KEK URL and a check value of\n"
		"its volume key; later a config naming another volume or KEK there\n"
		"is refused before any request. The pins of this user are in\n"
		"  %s/pins\n"
		"($HSMFS_STATE_DIR; by default /var/lib/hsmfs for root, else\n"
		"$XDG_STATE_HOME/hsmfs or ~/.local/state/hsmfs).\n"
		"\n"
		"  list    every pin: directory, volume id, KEK, fingerprint, file\n"
		"  forget  removes the pin of CIPHERDIR (and a pin an earlier version\n"
		"          kept by its volume id), saying what it removed. Only when\n"
		"          a new volume was made there, or its KEK moved, on purpose:\n"
		"          the next mount then trusts whatever volume it finds there\n"
		"          (give it -o volume=FINGERPRINT) and pins that one.\n",
		pin_dir(sd, sizeof(sd)));
}

struct entry {
	char path[PIN_PATH_MAX], dir[PIN_PATH_MAX], why[PIN_PATH_MAX + 64];
	struct pin p;
	bool ok;
};

struct list {
	struct entry *e;
	size_t n, cap;
};

static int collect(void *ctx, const char *path, const char *dir,
		   const struct pin *p, const char *why)
{
	struct list *l = ctx;
	struct entry *e;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct entry *m = realloc(l->e, cap * sizeof(*m));

		if (!m)
			return -1;
		l->e = m;
		l->cap = cap;
	}
	e = &l->e[l->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->path, sizeof(e->path), "%s", path);
	snprintf(e->dir, sizeof(e->dir), "%s", dir);
	snprintf(e->why, sizeof(e->why), "%s", why ? why : "");
	e->ok = p != NULL;
	if (p)
		e->p = *p;
	return 0;
}

static int by_dir(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->dir, y->dir);

	return c ? c : strcmp(x->path, y->path);
}

static void print_pin(const struct entry *e)
{
	char id[B64_ENC_LEN(ID_LEN) + 1], fpr[PIN_FPR_TEXT];
	struct pin_fpr f;
	struct stat st;

	if (e->dir[0])
		printf("%s%s\n", e->dir, stat(e->dir, &st) == 0 ? "" :
		       "  (not there now)");
	else
		printf("(a pin by volume id, of an earlier version: the "
		       "directory is not recorded)\n");
	if (!e->ok) {
		printf("  unreadable:  %s\n  file:        %s\n", e->why, e->path);
		return;
	}
	b64url_encode(e->p.volume_id, ID_LEN, id);
	pin_fpr_a(e->p.volume_id, e->p.kek, f.a);
	pin_fpr_b(e->p.kcv, f.b);
	pin_fpr_format(&f, fpr);
	printf("  volume:      %s\n  kek:         %s\n", id, e->p.kek);
	for (int i = 0; i < e->p.nescrow; i++)
		printf("  escrow kek:  %s\n", e->p.escrow[i]);
	printf("  fingerprint: %s\n  file:        %s\n", fpr, e->path);
}

static int list(void)
{
	struct list l = { 0 };
	char err[1024], sd[512];
	int r = pin_each(collect, &l, err, sizeof(err));

	if (r < 0 && l.n == 0 && err[0])
		fprintf(stderr, "hsmfs pin: %s\n", err);
	if (r) {
		free(l.e);
		return EXIT_FAIL;
	}
	if (l.n)
		qsort(l.e, l.n, sizeof(*l.e), by_dir);
	else
		printf("no pins in %s/pins\n", pin_dir(sd, sizeof(sd)));
	for (size_t i = 0; i < l.n; i++)
		print_pin(&l.e[i]);
	free(l.e);
	return EXIT_OK;
}

/* The directory a pin is keyed by: CIPHERDIR resolved, or, if it is not
 * there any more, its parent resolved and its name appended. */
static int keyed_by(const char *given, char out[PATH_MAX])
{
	if (realpath(given, out))
		return 0;
	return mnt_canonical_name(given, out, PATH_MAX) ? -1 : 0;
}

/* The volume id its config names, if it can be read: a legacy pin of
 * that id is forgotten too. */
static bool config_id(const char *dir, uint8_t id[ID_LEN])
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	const char *why;
	struct conf c;
	bool ok;

	if (fd < 0)
		return false;
	ok = conf_load(fd, &c, &why) == 0;
	close(fd);
	if (ok)
		memcpy(id, c.volume_id, ID_LEN);
	return ok;
}

static int forget(const char *given)
{
	char dir[PATH_MAX], removed[2][PIN_PATH_MAX], path[PIN_PATH_MAX];
	char err[1024], id[B64_ENC_LEN(ID_LEN) + 1];
	uint8_t vid[ID_LEN];
	bool have_id;
	struct pin p;
	int r;

	if (keyed_by(given, dir)) {
		fprintf(stderr, "hsmfs pin: %s: %s\n", given, strerror(errno));
		return EXIT_FAIL;
	}
	have_id = config_id(dir, vid);
	r = pin_find(dir, have_id ? vid : (uint8_t[ID_LEN]){ 0 }, &p, path,
		     err, sizeof(err));
	if (r == PIN_NONE) {
		fprintf(stderr, "hsmfs pin: this machine has no pin of %s "
			"(hsmfs pin list shows them all)\n", dir);
		return EXIT_FAIL;
	}
	if (pin_forget(dir, have_id ? vid : NULL, removed, err,
		       sizeof(err)) < 0) {
		fprintf(stderr, "hsmfs pin: %s\n", err);
		return EXIT_FAIL;
	}
	b64url_encode(p.volume_id, ID_LEN, id);
	if (removed[0][0] && r == PIN_DIR)
		printf("removed %s, the pin of %s: volume %s, KEK %s\n",
		       removed[0], dir, id, p.kek);
	else if (removed[0][0])
		printf("removed %s, the pin of %s (it did not read as a pin)\n",
		       removed[0], dir);
	b64url_encode(vid, ID_LEN, id);
	if (removed[1][0])
		printf("removed %s, a pin of volume %s by its id (of an earlier "
		       "version)\n", removed[1], id);
	printf("the next mount of %s pins whatever volume it finds there: "
	       "give it -o volume=FINGERPRINT\n", dir);
	return EXIT_OK;
}

int pin_main(int argc, char *argv[])
{
	const char *sub = argc > 1 ? argv[1] : "";

	if (cmd_wants_help(argc, argv) || !strcmp(sub, "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	optind = 2;
	if (!strcmp(sub, "list"))
		return cmd_operands(argc, argv, 0, 0, NULL) != CMD_GO_ON ?
		       EXIT_USAGE : list();
	if (!strcmp(sub, "forget"))
		return cmd_operands(argc, argv, 1, 1, (const char *const[]){
			       "CIPHERDIR" }) != CMD_GO_ON ?
		       EXIT_USAGE : forget(argv[2]);
	if (!*sub)
		return cmd_usage_error("missing list or forget");
	return cmd_usage_error("unknown subcommand '%s' (list, forget)", sub);
}
