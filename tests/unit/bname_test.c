/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backing names (fs/vol/bname.c): which names in the backing directory
 * are the volume's own, and the way between a plaintext name and its
 * backing name. The backing directory is untrusted: a name moved from
 * another directory, a changed character or a forged long-name sidecar
 * must be refused, never decoded into some other name. Runs in a real
 * temporary directory: long names and IVs are files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fs/vol/bname.h"
#include "tmpdir.h"

static char top[TMPDIR_MAX];
static struct names_keys *nk;
static const uint8_t iv_a[DIRIV_LEN] = { 0xa1, 2, 3, 4, 5, 6, 7, 8,
					 9, 10, 11, 12, 13, 14, 15, 16 };
static const uint8_t iv_b[DIRIV_LEN] = { 0xb1, 2, 3, 4, 5, 6, 7, 8,
					 9, 10, 11, 12, 13, 14, 15, 16 };

static void cleanup(void)
{
	names_keys_free(nk);
	tmpdir_remove(top);
}

/* The names keys of a random volume key, and a fresh top directory. */
static int setup(void)
{
	uint8_t vk[KEY_LEN];

	if (nk)
		return 0;
	if (tmpdir_make(top, "bname") != 0 || keys_random(vk, sizeof(vk)))
		return -1;
	atexit(cleanup);
	nk = names_keys_new(vk);
	secmem_wipe(vk, sizeof(vk));
	return nk ? 0 : -1;
}

/* A new, empty directory under top, opened into d as an encrypted-names
 * subdirectory with IV iv. -1 on failure. */
static int make_dir(const char *name, const uint8_t *iv, struct bdir *d)
{
	char path[TMPDIR_MAX + 64];

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	if (setup() != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", top, name);
	if (mkdir(path, 0700) != 0)
		return -1;
	d->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d->nk = nk;
	d->iv = iv;
	return d->fd;
}

static void sidecar_name(const struct bname *b, char out[NAME_ENC_MAX + 8])
{
	snprintf(out, NAME_ENC_MAX + 8, "%s%s", b->name, LONG_SUFFIX);
}

/* A name of n bytes: every byte value but NUL and '/', by position. */
static void make_name(char *out, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		unsigned c = 1 + (seed + i * 7) % 255;

		out[i] = (char)(c == '/' ? 'x' : c);
	}
	out[n] = '\0';
}

/* What each reserved name is, in the root and elsewhere, with encrypted
 * and with plaintext names. The config (and its temporary copy, left by
 * a crash of conf_store), the lock file and the root's mode belong to the
 * root only; IVs, sidecars and temporary entries exist only with
 * encrypted names, so under plaintext names they are an application's
 * entries like any other. */
static void kind_of_reserved_names(void)
{
	enum { E = BNAME_ENTRY, O = BNAME_OWN, X = BNAME_TMP };
	char lname[LONG_NAME_LEN + 1], side[LONG_NAME_LEN + 8];
	static const struct {
		const char *name; /* NULL: the long name, "S": its sidecar */
		int enc_root, enc_sub, pt_root, pt_sub;
	} cases[] = {
		{ "hsmfs.conf", O, E, O, E },
		{ "hsmfs.conf.tmp", O, E, O, E },
		{ "hsmfs.lock", O, E, O, E },
		{ "hsmfs.rootmode", O, E, O, E },
		{ "hsmfs.diriv", O, O, E, E },
		{ "S", O, O, E, E },
		{ NULL, E, E, E, E },
		{ "hsmfs.tmp.0123456789abcdef", X, X, E, E },
		/* Near misses are entries. */
		{ "hsmfs.conf.bak", E, E, E, E },
		{ "hsmfs.con", E, E, E, E },
		{ "hsmfs.lock.tmp", E, E, E, E },
		{ "hsmfs.loc", E, E, E, E },
		{ "hsmfs.rootmode.tmp", E, E, E, E },
		{ "hsmfs.conf.tmp2", E, E, E, E },
		{ "hsmfs.diriv.tmp", E, E, E, E },
		{ "hsmfs.tmp.0123456789ABCDEF", E, E, E, E },
		{ "hsmfs.tmp.0123456789abcde", E, E, E, E },
		{ "hsmfs.tmp.0123456789abcdef0", E, E, E, E },
		{ "hsmfs.longname.short.name", E, E, E, E },
		{ "x.name", E, E, E, E },
		{ "aGVsbG8", E, E, E, E },
	};
	struct bdir d = { .fd = -1 };

	names_long("some encrypted name", 19, lname);
	snprintf(side, sizeof(side), "%s%s", lname, LONG_SUFFIX);
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		const char *name = !cases[i].name ? lname :
				   !strcmp(cases[i].name, "S") ? side :
				   cases[i].name;
		int want[4] = { cases[i].enc_root, cases[i].enc_sub,
				cases[i].pt_root, cases[i].pt_sub };

		for (int m = 0; m < 4; m++) {
			d.plaintext = m >= 2;
			d.root = m % 2 == 0;
			if ((int)bname_kind(&d, name) == want[m])
				continue;
			fprintf(stderr, "  %s (%s, %s): kind %d, want %d\n",
				name, d.plaintext ? "plaintext" : "encrypted",
				d.root ? "root" : "subdirectory",
				bname_kind(&d, name), want[m]);
			check_failed_now = 1;
		}
	}
}

/* Every length from 1 to 255 bytes goes to a backing name that fits a
 * directory entry and comes back as it was: short encodings as they are,
 * longer ones as hsmfs.longname.X with the encoding in X's sidecar. The
 * same name always gives the same backing name (lookup depends on it),
 * and no backing name of an entry is one the volume keeps for itself. */
static void roundtrip_all_lengths(void)
{
	char name[256], out[256], side[NAME_ENC_MAX + 8];
	struct bdir d;
	struct bname b, again;
	const char *why;
	int nshort = 0, nlong = 0;

	if (make_dir("lengths", iv_a, &d) < 0) {
		CHECK(0);
		return;
	}
	for (size_t n = 1; n <= 255; n++) {
		make_name(name, n, (unsigned)n);
		CHECK_EQ_INT(bname_encode(&d, name, &b), 0);
		CHECK(strlen(b.name) <= 255);
		CHECK_EQ_INT(b.is_long, strlen(b.enc) > 255);
		CHECK_EQ_INT(bname_kind(&d, b.name), BNAME_ENTRY);
		CHECK_EQ_INT(bname_encode(&d, name, &again), 0);
		CHECK(strcmp(again.name, b.name) == 0);
		if (b.is_long) {
			nlong++;
			CHECK(names_is_long(b.name));
			CHECK_EQ_INT(bname_write_sidecar(d.fd, &b), 0);
			sidecar_name(&b, side);
			CHECK_EQ_INT(bname_kind(&d, side), BNAME_OWN);
		} else {
			nshort++;
			CHECK(strcmp(b.name, b.enc) == 0);
		}
		memset(out, 0, sizeof(out));
		CHECK_EQ_INT(bname_decode(&d, b.name, out, &why), 0);
		CHECK(why == NULL);
		CHECK(strcmp(out, name) == 0);
	}
	/* Both kinds were seen. */
	CHECK(nshort > 0 && nlong > 0);
	close(d.fd);
}

/* A name is bound to its directory's IV: moved into another directory,
 * short or long, it does not decode there. */
static void name_from_other_dir(void)
{
	char name[256], out[256];
	struct bdir a, b;
	struct bname sb, lb;
	const char *why;
	int fda = make_dir("dir-a", iv_a, &a);
	int fdb = make_dir("dir-b", iv_b, &b);

	CHECK(fda >= 0 && fdb >= 0);
	if (fda < 0 || fdb < 0)
		goto out;
	CHECK_EQ_INT(bname_encode(&a, "report.pdf", &sb), 0);
	make_name(name, 250, 3);
	CHECK_EQ_INT(bname_encode(&a, name, &lb), 0);
	CHECK(lb.is_long);
	/* The sidecar goes along with the entry, as a move would take it. */
	CHECK_EQ_INT(bname_write_sidecar(a.fd, &lb), 0);
	CHECK_EQ_INT(bname_write_sidecar(b.fd, &lb), 0);
	CHECK_EQ_INT(bname_decode(&a, lb.name, out, &why), 0);

	CHECK_EQ_INT(bname_decode(&b, sb.name, out, &why), -EBADMSG);
	CHECK(why != NULL);
	CHECK_EQ_INT(bname_decode(&b, lb.name, out, &why), -EBADMSG);
	CHECK(why != NULL);
	/* Another directory's name is another backing name for the same
	 * plaintext. */
	CHECK_EQ_INT(bname_encode(&b, "report.pdf", &lb), 0);
	CHECK(strcmp(lb.name, sb.name) != 0);
out:
	close(fda);
	close(fdb);
}

/* Any one character of a backing name changed to another base64url
 * character makes it unauthentic. */
static void flipped_character(void)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789-_";
	char name[NAME_ENC_MAX], out[256];
	struct bdir d = { .fd = -1, .nk = NULL };
	struct bname b;
	const char *why;

	if (setup() != 0) {
		CHECK(0);
		return;
	}
	d.nk = nk;
	d.iv = iv_a;
	CHECK_EQ_INT(bname_encode(&d, "quarterly-figures.ods", &b), 0);
	for (size_t i = 0; i < strlen(b.name); i++) {
		strcpy(name, b.name);
		name[i] = alphabet[(strchr(alphabet, name[i]) - alphabet + 1) %
				   64];
		why = NULL;
		if (bname_decode(&d, name, out, &why) == -EBADMSG && why)
			continue;
		fprintf(stderr, "  %s (char %zu changed) not refused\n", name,
			i);
		check_failed_now = 1;
	}
}

/* A long name needs its sidecar, whole and for that very name: missing,
 * cut short or too long, another name's (swapped between entries) or a
 * symlink to the right bytes are each refused with a reason. */
static void bad_sidecars(void)
{
	char name[256], out[256], longer[NAME_ENC_MAX + 2];
	char side[NAME_ENC_MAX + 8];
	struct bdir d;
	struct bname b, other;
	const char *why;

	if (make_dir("sidecars", iv_a, &d) < 0) {
		CHECK(0);
		return;
	}
	make_name(name, 240, 1);
	CHECK_EQ_INT(bname_encode(&d, name, &b), 0);
	make_name(name, 240, 2);
	CHECK_EQ_INT(bname_encode(&d, name, &other), 0);
	CHECK(b.is_long && other.is_long);
	sidecar_name(&b, side);

	why = NULL;
	CHECK_EQ_INT(bname_decode(&d, b.name, out, &why), -EINVAL);
	CHECK(why && strstr(why, "sidecar"));

	CHECK(tmpdir_write_at(d.fd, side, b.enc, 200) == 0);
	why = NULL;
	CHECK_EQ_INT(bname_decode(&d, b.name, out, &why), -EINVAL);
	CHECK(why && strstr(why, "short"));

	CHECK(tmpdir_write_at(d.fd, side, other.enc, strlen(other.enc)) == 0);
	why = NULL;
	CHECK_EQ_INT(bname_decode(&d, b.name, out, &why), -EINVAL);
	CHECK(why && strstr(why, "does not match"));

	/* The right encoding with one byte more. */
	snprintf(longer, sizeof(longer), "%sA", b.enc);
	CHECK(tmpdir_write_at(d.fd, side, longer, strlen(longer)) == 0);
	why = NULL;
	CHECK_EQ_INT(bname_decode(&d, b.name, out, &why), -EINVAL);
	CHECK(why != NULL);

	/* A symlink to the right bytes: sidecars are never followed out of
	 * the directory. */
	CHECK(tmpdir_write_at(d.fd, "elsewhere", b.enc, strlen(b.enc)) == 0);
	CHECK(unlinkat(d.fd, side, 0) == 0);
	CHECK(symlinkat("elsewhere", d.fd, side) == 0);
	why = NULL;
	CHECK_EQ_INT(bname_decode(&d, b.name, out, &why), -EINVAL);
	CHECK(why != NULL);

	/* The real one decodes. */
	CHECK(unlinkat(d.fd, side, 0) == 0);
	CHECK_EQ_INT(bname_write_sidecar(d.fd, &b), 0);
	make_name(name, 240, 1);
	CHECK_EQ_INT(bname_decode(&d, b.name, out, &why), 0);
	CHECK(strcmp(out, name) == 0);
	close(d.fd);
}

/* Whoever controls the backing directory can put a FIFO where an IV or a
 * sidecar should be: it is refused at once, never waited on (the alarm
 * turns a hang into a failed run). */
static void fifos_refused(void)
{
	char name[256], out[256], side[NAME_ENC_MAX + 8];
	uint8_t iv[DIRIV_LEN];
	const char *why;
	struct bname b;
	struct bdir d;

	if (make_dir("fifos", iv_a, &d) < 0) {
		CHECK(0);
		return;
	}
	make_name(name, 240, 3);
	CHECK_EQ_INT(bname_encode(&d, name, &b), 0);
	sidecar_name(&b, side);
	unlinkat(d.fd, DIRIV_NAME, 0);
	CHECK(mkfifoat(d.fd, DIRIV_NAME, 0600) == 0);
	CHECK(mkfifoat(d.fd, side, 0600) == 0);
	alarm(20);
	CHECK_EQ_INT(bname_read_diriv(d.fd, 2, NULL, iv), -EINVAL);
	CHECK_EQ_INT(bname_decode(&d, b.name, out, &why), -EINVAL);
	alarm(0);
	close(d.fd);
}

/* With plaintext names, names are themselves, but the root's config
 * names are not the application's to create. */
static void plaintext_names(void)
{
	struct bdir root = { .fd = -1, .root = true, .plaintext = true };
	struct bdir sub = { .fd = -1, .plaintext = true };
	struct bname b;
	char out[256];
	const char *why;

	CHECK_EQ_INT(bname_encode(&root, "hsmfs.conf", &b), -EPERM);
	CHECK_EQ_INT(bname_encode(&root, "hsmfs.conf.tmp", &b), -EPERM);
	CHECK_EQ_INT(bname_encode(&root, "hsmfs.diriv", &b), 0);
	CHECK(strcmp(b.name, "hsmfs.diriv") == 0);
	CHECK_EQ_INT(bname_encode(&root, "notes.txt", &b), 0);
	CHECK(strcmp(b.name, "notes.txt") == 0);
	CHECK(!b.is_long);
	CHECK_EQ_INT(bname_encode(&sub, "hsmfs.conf", &b), 0);
	CHECK(strcmp(b.name, "hsmfs.conf") == 0);
	CHECK_EQ_INT(bname_encode(&sub, "hsmfs.tmp.0123456789abcdef", &b), 0);
	CHECK_EQ_INT(bname_decode(&sub, "notes.txt", out, &why), 0);
	CHECK(strcmp(out, "notes.txt") == 0);
	/* Format 3 gives every directory an IV, and makes directories under
	 * temporary names, in both modes: those names are its own. */
	root.format = sub.format = 3;
	CHECK_EQ_INT(bname_encode(&root, "hsmfs.diriv", &b), -EPERM);
	CHECK_EQ_INT(bname_encode(&sub, "hsmfs.diriv", &b), -EPERM);
	CHECK_EQ_INT(bname_encode(&sub, "hsmfs.tmp.0123456789abcdef", &b),
		     -EPERM);
	CHECK_EQ_INT(bname_encode(&sub, "hsmfs.longname.x.name", &b), 0);
	CHECK_EQ_INT(bname_kind(&sub, "hsmfs.diriv"), BNAME_OWN);
	CHECK_EQ_INT(bname_kind(&sub, "hsmfs.tmp.0123456789abcdef"), BNAME_TMP);
}

/* 255 bytes is the longest name, in both modes; 256 is refused before
 * anything is encrypted. */
static void name_too_long(void)
{
	struct bdir enc = { .fd = -1 }, pt = { .fd = -1, .plaintext = true };
	char name[257];
	struct bname b;

	if (setup() != 0) {
		CHECK(0);
		return;
	}
	enc.nk = nk;
	enc.iv = iv_a;
	memset(name, 'n', 256);
	name[256] = '\0';
	CHECK_EQ_INT(bname_encode(&enc, name, &b), -ENAMETOOLONG);
	CHECK_EQ_INT(bname_encode(&pt, name, &b), -ENAMETOOLONG);
	name[255] = '\0';
	CHECK_EQ_INT(bname_encode(&enc, name, &b), 0);
	CHECK_EQ_INT(bname_encode(&pt, name, &b), 0);
	CHECK(strcmp(b.name, name) == 0);
}

/* Without the keys or the directory's IV nothing is encoded, and a name
 * is reported as not checkable rather than as forged. */
static void without_keys(void)
{
	struct bdir d = { .fd = -1 };
	struct bname b;
	char out[256];
	const char *why = "set";

	if (setup() != 0) {
		CHECK(0);
		return;
	}
	d.iv = iv_a;
	CHECK_EQ_INT(bname_encode(&d, "a", &b), -ENOKEY);
	d.nk = nk;
	d.iv = NULL;
	CHECK_EQ_INT(bname_encode(&d, "a", &b), -ENOKEY);
	CHECK_EQ_INT(bname_decode(&d, "aGVsbG8gd29ybGQgaGVsbG8", out, &why),
		     -ENOKEY);
	CHECK(why == NULL);
}

/* A directory's IV: missing, all zero, of the wrong length are each
 * refused; a written one reads back; an existing one is never replaced
 * (that would orphan every name in the directory). */
static void diriv_files(void)
{
	uint8_t iv[DIRIV_LEN], zero[DIRIV_LEN] = { 0 }, got[DIRIV_LEN];
	struct bdir d;

	if (make_dir("ivs", NULL, &d) < 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(bname_read_diriv(d.fd, 2, NULL, iv), -ENOENT);
	CHECK(tmpdir_write_at(d.fd, DIRIV_NAME, zero, sizeof(zero)) == 0);
	CHECK_EQ_INT(bname_read_diriv(d.fd, 2, NULL, iv), -EINVAL);
	CHECK(tmpdir_write_at(d.fd, DIRIV_NAME, iv_a, DIRIV_LEN - 1) == 0);
	CHECK_EQ_INT(bname_read_diriv(d.fd, 2, NULL, iv), -EINVAL);
	CHECK(tmpdir_write_at(d.fd, DIRIV_NAME, "0123456789abcdefg", 17) == 0);
	CHECK_EQ_INT(bname_read_diriv(d.fd, 2, NULL, iv), -EINVAL);
	CHECK(tmpdir_write_at(d.fd, DIRIV_NAME, "", 0) == 0);
	CHECK_EQ_INT(bname_read_diriv(d.fd, 2, NULL, iv), -EINVAL);

	CHECK(unlinkat(d.fd, DIRIV_NAME, 0) == 0);
	CHECK_EQ_INT(bname_write_diriv(d.fd, 2, NULL, iv_b), 0);
	CHECK_EQ_INT(bname_read_diriv(d.fd, 2, NULL, got), 0);
	CHECK_MEM(got, iv_b, DIRIV_LEN);
	CHECK_EQ_INT(bname_write_diriv(d.fd, 2, NULL, iv_a), -EEXIST);
	CHECK_EQ_INT(bname_write_diriv(d.fd, 2, NULL, NULL), -EEXIST);
	CHECK_EQ_INT(bname_read_diriv(d.fd, 2, NULL, got), 0);
	CHECK_MEM(got, iv_b, DIRIV_LEN);

	/* Random IVs: valid, and not the same twice. */
	CHECK(unlinkat(d.fd, DIRIV_NAME, 0) == 0);
	CHECK_EQ_INT(bname_write_diriv(d.fd, 2, NULL, NULL), 0);
	CHECK_EQ_INT(bname_read_diriv(d.fd, 2, NULL, iv), 0);
	CHECK(unlinkat(d.fd, DIRIV_NAME, 0) == 0);
	CHECK_EQ_INT(bname_write_diriv(d.fd, 2, NULL, NULL), 0);
	CHECK_EQ_INT(bname_read_diriv(d.fd, 2, NULL, got), 0);
	CHECK(memcmp(iv, got, DIRIV_LEN) != 0);

	/* Format 3: IV || tag; a changed IV or tag is not authentic, and
	 * without keys the IV is read unchecked. */
	CHECK(setup() == 0);
	CHECK(unlinkat(d.fd, DIRIV_NAME, 0) == 0);
	CHECK_EQ_INT(bname_write_diriv(d.fd, 3, NULL, iv_b), -ENOKEY);
	CHECK_EQ_INT(bname_write_diriv(d.fd, 3, nk, iv_b), 0);
	CHECK_EQ_INT(bname_read_diriv(d.fd, 3, nk, got), 0);
	CHECK_MEM(got, iv_b, DIRIV_LEN);
	CHECK_EQ_INT(bname_read_diriv(d.fd, 2, nk, got), -EINVAL);
	for (int i = 0; i < DIRIV3_LEN; i++) {
		uint8_t buf[DIRIV3_LEN];
		int fd = openat(d.fd, DIRIV_NAME, O_RDONLY);

		CHECK_EQ_INT(read(fd, buf, sizeof(buf)), DIRIV3_LEN);
		close(fd);
		buf[i] ^= 0x10;
		CHECK(tmpdir_write_at(d.fd, DIRIV_NAME, buf, sizeof(buf)) == 0);
		CHECK_EQ_INT(bname_read_diriv(d.fd, 3, nk, got), -EBADMSG);
		CHECK_EQ_INT(bname_read_diriv(d.fd, 3, NULL, got), 0);
		buf[i] ^= 0x10;
		CHECK(tmpdir_write_at(d.fd, DIRIV_NAME, buf, sizeof(buf)) == 0);
	}
	CHECK_EQ_INT(bname_read_diriv(d.fd, 3, nk, got), 0);
	close(d.fd);
}

/* A sidecar is orphaned once its entry is gone (a crash between the two
 * unlinks), not before; dropping it removes it; short names have none. */
static void sidecar_lifecycle(void)
{
	char name[256], side[NAME_ENC_MAX + 8];
	struct bdir d;
	struct bname b;

	if (make_dir("orphans", iv_a, &d) < 0) {
		CHECK(0);
		return;
	}
	make_name(name, 230, 9);
	CHECK_EQ_INT(bname_encode(&d, name, &b), 0);
	CHECK(b.is_long);
	sidecar_name(&b, side);
	CHECK_EQ_INT(bname_write_sidecar(d.fd, &b), 0);
	CHECK(faccessat(d.fd, side, F_OK, 0) == 0);
	CHECK(tmpdir_write_at(d.fd, b.name, "data", 4) == 0);
	CHECK(!bname_sidecar_orphaned(d.fd, side));
	/* A symlink or a directory is an entry too. */
	CHECK(unlinkat(d.fd, b.name, 0) == 0);
	CHECK(mkdirat(d.fd, b.name, 0700) == 0);
	CHECK(!bname_sidecar_orphaned(d.fd, side));
	CHECK(unlinkat(d.fd, b.name, AT_REMOVEDIR) == 0);
	CHECK(symlinkat("/nonexistent", d.fd, b.name) == 0);
	CHECK(!bname_sidecar_orphaned(d.fd, side));
	CHECK(unlinkat(d.fd, b.name, 0) == 0);
	CHECK(bname_sidecar_orphaned(d.fd, side));
	/* Written again over an existing one: still the same bytes. */
	CHECK_EQ_INT(bname_write_sidecar(d.fd, &b), 0);
	bname_drop_sidecar(d.fd, &b);
	CHECK(faccessat(d.fd, side, F_OK, AT_SYMLINK_NOFOLLOW) != 0);

	CHECK_EQ_INT(bname_encode(&d, "short", &b), 0);
	CHECK(!b.is_long);
	CHECK_EQ_INT(bname_write_sidecar(d.fd, &b), 0);
	sidecar_name(&b, side);
	CHECK(faccessat(d.fd, side, F_OK, AT_SYMLINK_NOFOLLOW) != 0);
	close(d.fd);
}

/* Writes an entry named name (encoded with d's IV) into d, with its
 * sidecar when it is long. */
static void put_entry(const struct bdir *d, const char *name)
{
	struct bname b;

	CHECK_EQ_INT(bname_encode(d, name, &b), 0);
	CHECK_EQ_INT(bname_write_sidecar(d->fd, &b), 0);
	CHECK(tmpdir_write_at(d->fd, b.name, "x", 1) == 0);
}

/* An IV of formats 1 and 2 has no MAC: it is judged by the names it
 * binds. One of them decrypting is enough; none decrypting (another
 * directory's IV, or a changed one) refuses it; a directory with nothing
 * to judge by, or only long names whose sidecar is gone, keeps it. The
 * descriptor may be O_PATH, as the daemon holds its directories. */
static void diriv_judged_by_names(void)
{
	char name[256], side[NAME_ENC_MAX + 8];
	const char *why;
	struct bdir d, other;
	struct bname b;
	int fd;

	if (make_dir("judge", iv_a, &d) < 0 ||
	    make_dir("judge-empty", iv_b, &other) < 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(bname_check_diriv(&other, &why), 0);
	CHECK(tmpdir_write_at(other.fd, DIRIV_NAME, iv_b, DIRIV_LEN) == 0);
	CHECK(tmpdir_write_at(other.fd, "hsmfs.tmp.0123456789abcdef", "", 0)
	      == 0);
	CHECK_EQ_INT(bname_check_diriv(&other, &why), 0);

	make_name(name, 220, 4);
	put_entry(&d, name);
	put_entry(&d, "one");
	put_entry(&d, "two");
	put_entry(&d, "three");
	CHECK_EQ_INT(bname_check_diriv(&d, &why), 0);
	CHECK(why == NULL);
	fd = open(top, O_PATH | O_DIRECTORY | O_CLOEXEC);
	d.fd = openat(fd, "judge", O_PATH | O_DIRECTORY | O_CLOEXEC);
	close(fd);
	CHECK_EQ_INT(bname_check_diriv(&d, &why), 0);
	d.iv = iv_b;
	CHECK_EQ_INT(bname_check_diriv(&d, &why), -EBADMSG);
	CHECK(why != NULL);
	d.nk = NULL;
	CHECK_EQ_INT(bname_check_diriv(&d, &why), 0);
	d.nk = nk;
	d.plaintext = true;
	CHECK_EQ_INT(bname_check_diriv(&d, &why), 0);
	close(d.fd);

	/* Other names beside one of its own: kept. */
	put_entry(&other, "mine");
	other.iv = iv_a;
	put_entry(&other, "moved in");
	put_entry(&other, "moved in too");
	other.iv = iv_b;
	CHECK_EQ_INT(bname_check_diriv(&other, &why), 0);
	close(other.fd);

	/* Only a long name without its sidecar: nothing to judge by. */
	if (make_dir("judge-long", iv_a, &d) < 0) {
		CHECK(0);
		return;
	}
	put_entry(&d, name);
	CHECK_EQ_INT(bname_encode(&d, name, &b), 0);
	sidecar_name(&b, side);
	CHECK(unlinkat(d.fd, side, 0) == 0);
	d.iv = iv_b;
	CHECK_EQ_INT(bname_check_diriv(&d, &why), 0);
	close(d.fd);
}

/* Why an IV is refused is said the same way by the daemon and fsck; an
 * error that says nothing about the IV (it could not be read just now)
 * is no verdict. */
static void diriv_reasons(void)
{
	CHECK(bname_diriv_why(-ENOENT) != NULL);
	CHECK(bname_diriv_why(-EINVAL) != NULL);
	CHECK(bname_diriv_why(-ELOOP) != NULL);
	CHECK(bname_diriv_why(-EBADMSG) != NULL);
	CHECK(bname_diriv_why(-EIO) == NULL);
	CHECK(bname_diriv_why(-EMFILE) == NULL);
}

/* A lookup reaches a long name's entry by its hash: the sidecar must be
 * there and hold that very name. */
static void sidecar_checked_for_lookup(void)
{
	char name[256];
	const char *why;
	struct bname b, other;
	struct bdir d;

	if (make_dir("lookups", iv_a, &d) < 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(bname_encode(&d, "short", &b), 0);
	CHECK_EQ_INT(bname_check_sidecar(d.fd, &b, &why), 0);
	make_name(name, 230, 5);
	CHECK_EQ_INT(bname_encode(&d, name, &b), 0);
	make_name(name, 230, 6);
	CHECK_EQ_INT(bname_encode(&d, name, &other), 0);
	why = NULL;
	CHECK_EQ_INT(bname_check_sidecar(d.fd, &b, &why), -EINVAL);
	CHECK(why != NULL);
	CHECK_EQ_INT(bname_write_sidecar(d.fd, &b), 0);
	CHECK_EQ_INT(bname_check_sidecar(d.fd, &b, &why), 0);
	CHECK(why == NULL);
	/* Another name's sidecar under this one's name. */
	memcpy(other.name, b.name, sizeof(b.name));
	CHECK_EQ_INT(bname_check_sidecar(d.fd, &other, &why), -EINVAL);
	CHECK(why != NULL);
	close(d.fd);
}

/* Makes entry name in directory dirfd (a directory with its own IV, or
 * a file) the way the daemon does; appends its backing name to path. */
static int make_entry(int dirfd, bool root, const char *name, bool dir,
		      char *path, size_t n)
{
	struct bdir d = { .fd = dirfd, .root = root, .format = 3, .nk = nk };
	uint8_t iv[DIRIV_LEN];
	struct bname b;
	int fd;

	if (bname_read_diriv(dirfd, 3, nk, iv) != 0)
		return -1;
	d.iv = iv;
	if (bname_encode(&d, name, &b) != 0 ||
	    bname_write_sidecar(dirfd, &b) != 0)
		return -1;
	snprintf(path + strlen(path), n - strlen(path), "%s%s",
		 path[0] ? "/" : "", b.name);
	if (!dir)
		return tmpdir_write_at(dirfd, b.name, "x", 1) == 0 ? dirfd : -1;
	if (mkdirat(dirfd, b.name, 0700) != 0)
		return -1;
	fd = openat(dirfd, b.name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || bname_write_diriv(fd, 3, nk, NULL) != 0)
		return -1;
	return fd;
}

/* hsmfs path: a plaintext path to its backing path and back, through
 * spaces, a long name (a sidecar) and directories on the way; what is
 * not there, or not a path of the volume, is refused. */
static void paths_both_ways(void)
{
	char lname[256], plain[1024], bpath[2048] = "", back[1024];
	char tree[TMPDIR_MAX + 16];
	struct bdir root = { .root = true, .format = 3 };
	int a, b, c;

	make_name(lname, 230, 9);
	for (char *p = lname; *p; p++)
		*p = *p == '/' ? '_' : *p;
	snprintf(plain, sizeof(plain), "/a b/%s/leaf", lname);
	snprintf(tree, sizeof(tree), "%s/tree", top);
	if (setup() != 0 || mkdir(tree, 0700) != 0 ||
	    (root.fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    bname_write_diriv(root.fd, 3, nk, NULL) != 0) {
		CHECK(0);
		return;
	}
	root.nk = nk;
	a = make_entry(root.fd, true, "a b", true, bpath, sizeof(bpath));
	b = a < 0 ? -1 : make_entry(a, false, lname, true, bpath,
				    sizeof(bpath));
	c = b < 0 ? -1 : make_entry(b, false, "leaf", false, bpath,
				    sizeof(bpath));
	CHECK(c >= 0);
	CHECK(strstr(bpath, "hsmfs.longname.") != NULL);
	CHECK_EQ_INT(bname_backing_path(&root, plain, back, sizeof(back)), 0);
	CHECK(strcmp(back, bpath) == 0);
	CHECK_EQ_INT(bname_backing_path(&root, plain + 1, back, sizeof(back)),
		     0);
	CHECK(strcmp(back, bpath) == 0);
	CHECK_EQ_INT(bname_plain_path(&root, bpath, back, sizeof(back)), 0);
	CHECK(strcmp(back, plain) == 0);
	CHECK_EQ_INT(bname_backing_path(&root, "/", back, sizeof(back)), 0);
	CHECK(back[0] == '\0');
	CHECK_EQ_INT(bname_backing_path(&root, "/a b/nope", back,
					sizeof(back)), -ENOENT);
	CHECK_EQ_INT(bname_backing_path(&root, "/a b/../a b", back,
					sizeof(back)), -EINVAL);
	CHECK_EQ_INT(bname_plain_path(&root, "../tree", back, sizeof(back)),
		     -EINVAL);
	CHECK_EQ_INT(bname_backing_path(&root, "/hsmfs.conf", back,
					sizeof(back)), -ENOENT);
	/* c, a file's directory, is b. */
	if (b >= 0)
		close(b);
	if (a >= 0)
		close(a);
	close(root.fd);
}

CHECK_MAIN("bname",
	   T(kind_of_reserved_names), T(roundtrip_all_lengths),
	   T(name_from_other_dir), T(flipped_character), T(bad_sidecars),
	   T(plaintext_names), T(name_too_long), T(without_keys),
	   T(diriv_files), T(sidecar_lifecycle), T(fifos_refused),
	   T(diriv_judged_by_names), T(diriv_reasons),
	   T(sidecar_checked_for_lookup), T(paths_both_ways))
