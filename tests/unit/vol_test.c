/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Volumes (fs/vol): create, open, and the trust checks that stand between
 * an untrusted backing directory and the HSM: the pin of the directory
 * (its volume and KEK checked before any request goes to the KEK a config
 * names), the kek= and volume= options, which KEK hosts count as named,
 * the config MAC, the volume key's check value; then the per-file keys.
 * Runs against the software test KEK, with keys, pins and volumes in
 * temporary directories.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "common/b64.h"
#include "common/log.h"
#include "fs/vol/bname.h"
#include "fs/vol/filekey.h"
#include "fs/vol/pin.h"
#include "fs/vol/rewrap.h"
#include "fs/vol/vol.h"
#include "tmpdir.h"

#define KEK_A "testkek://a"
#define KEK_B "testkek://b"

static char keydir[TMPDIR_MAX], statedir[TMPDIR_MAX], voldir[TMPDIR_MAX];
static int ready;

static void cleanup(void)
{
	tmpdir_remove(keydir);
	tmpdir_remove(statedir);
	tmpdir_remove(voldir);
}

static int make_key(const char *name)
{
	char path[TMPDIR_MAX + 32];
	uint8_t key[32];
	int r;

	snprintf(path, sizeof(path), "%s/%s.current", keydir, name);
	if (tmpdir_write_at(AT_FDCWD, path, "v1\n", 3) != 0 ||
	    keys_random(key, sizeof(key)) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s.v1", keydir, name);
	r = tmpdir_write_at(AT_FDCWD, path, key, sizeof(key));
	secmem_wipe(key, sizeof(key));
	return r;
}

/* Two test KEKs, "a" and "b", and an empty pin store. */
static int setup(void)
{
	if (ready)
		return 0;
	if (tmpdir_make(keydir, "keks") || tmpdir_make(statedir, "state") ||
	    tmpdir_make(voldir, "vols"))
		return -1;
	atexit(cleanup);
	setenv("HSMFS_TESTKEK_DIR", keydir, 1);
	setenv("HSMFS_STATE_DIR", statedir, 1);
	/* Quiet about first uses: they are what the tests expect. */
	log_init("vol_test", 0, LOG_LVL_WARN);
	if (make_key("a") || make_key("b") || make_key("far-a") ||
	    make_key("far-b") || make_key("rot"))
		return -1;
	ready = 1;
	return 0;
}

static void opts(struct vol_opts *o, bool pin)
{
	vol_opts_init(o);
	o->cache_entries = 64;
	o->no_pin_store = !pin;
}

/* A new volume under voldir with KEK kek, its path into path and its
 * fingerprint into fpr (if not NULL); with pin, init pins it, like hsmfs
 * init does. */
static int create_fpr(const char *name, const char *kek, bool pin,
		      char path[TMPDIR_MAX + 32], char fpr[PIN_FPR_TEXT])
{
	struct vol_opts o;
	char err[VOL_ERR_MAX];

	if (setup() != 0)
		return -1;
	opts(&o, pin);
	snprintf(path, TMPDIR_MAX + 32, "%s/%s", voldir, name);
	if (vol_create(path, kek, CONF_FORMAT, false, &o, fpr, err,
		       sizeof(err)) == 0)
		return 0;
	fprintf(stderr, "  vol_create %s: %s\n", name, err);
	return -1;
}

static int create(const char *name, const char *kek, bool pin,
		  char path[TMPDIR_MAX + 32])
{
	return create_fpr(name, kek, pin, path, NULL);
}

/* Opens path with o: 0 or -1, err set. */
static int try_open(const char *path, const struct vol_opts *o,
		    char err[VOL_ERR_MAX])
{
	struct vol v;
	int r;

	r = vol_open(&v, path, o, err, VOL_ERR_MAX);
	if (r == 0)
		vol_close(&v);
	return r;
}

/* vol_open must refuse with a message holding each of want[]. */
static void want_refused(const char *path, const struct vol_opts *o,
			 const char *const *want, int line)
{
	char err[VOL_ERR_MAX] = "";

	if (try_open(path, o, err) == 0) {
		fprintf(stderr, "  line %d: %s opened\n", line, path);
		check_failed_now = 1;
		return;
	}
	for (; *want; want++) {
		if (strstr(err, *want))
			continue;
		fprintf(stderr, "  line %d: \"%s\" lacks \"%s\"\n", line, err,
			*want);
		check_failed_now = 1;
	}
}

#define REFUSED(path, o, ...)                                              \
	want_refused(path, o, (const char *const[]){ __VA_ARGS__, NULL },  \
		     __LINE__)

static int load_conf(const char *path, struct conf *c)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	const char *why = "cannot open";
	int e = fd < 0 ? -1 : conf_load(fd, c, &why);

	if (fd >= 0)
		close(fd);
	if (e)
		fprintf(stderr, "  %s: %s\n", path, why);
	return e ? -1 : 0;
}

static int store_conf(const char *path, const struct conf *c)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	if (fd < 0)
		return -1;
	r = conf_store(fd, c);
	close(fd);
	return r;
}

/* What an attacker with write access to the backing directory can make:
 * a whole new config for the given volume id, its own volume key wrapped
 * by KEK kek (with an RSA KEK anyone can wrap), validly sealed. */
static int forge_conf(const char *path, const char *kek,
		      const uint8_t volume_id[ID_LEN])
{
	struct conf c = { .format = CONF_FORMAT };
	uint8_t vk[KEY_LEN];
	char kerr[KEK_ERR_MAX];
	struct kek *k = NULL;
	int r = -1;

	memcpy(c.volume_id, volume_id, ID_LEN);
	snprintf(c.creator, sizeof(c.creator), "hsmfs 0.1");
	snprintf(c.kek, sizeof(c.kek), "%s", kek);
	c.features = FEAT_ENCRYPTED_NAMES | FEAT_LONG_NAMES;
	if (keys_random(vk, sizeof(vk)) == 0 &&
	    kek_open(kek, NULL, &k, kerr) == KEK_OK &&
	    vol_wrap_slot(k, REC_MAGIC_VK, volume_id, vk, &c.vk, kerr) ==
		    KEK_OK &&
	    conf_seal(&c, vk) == 0)
		r = store_conf(path, &c);
	kek_close(k);
	secmem_wipe(vk, sizeof(vk));
	return r;
}

/* The pin file of volume directory dir. */
static void dir_pin(const char *dir, char path[PIN_PATH_MAX])
{
	char *canon = realpath(dir, NULL);

	pin_path(canon ? canon : dir, path, PIN_PATH_MAX);
	free(canon);
}

static int pin_exists(const char *dir)
{
	char path[PIN_PATH_MAX];

	dir_pin(dir, path);
	return access(path, F_OK) == 0;
}

/* The pin of directory dir (its own, not one by volume id): 1, or 0. */
static int read_dir_pin(const char *dir, struct pin *p)
{
	char path[PIN_PATH_MAX], err[VOL_ERR_MAX];
	char *canon = realpath(dir, NULL);
	uint8_t none[ID_LEN] = { 0 };
	int r = canon ? pin_find(canon, none, p, path, err, sizeof(err)) : -1;

	free(canon);
	return r == PIN_DIR;
}

/* A volume made by init opens with its KEK; init pinned it. */
static void create_then_open(void)
{
	char path[TMPDIR_MAX + 32], err[VOL_ERR_MAX];
	uint8_t iv[DIRIV_LEN], kcv[PIN_KCV_LEN];
	struct vol_opts o;
	struct vol v;
	struct pin p;

	if (create("plain-open", KEK_A, true, path) != 0) {
		CHECK(0);
		return;
	}
	opts(&o, true);
	CHECK_EQ_INT(vol_open(&v, path, &o, err, sizeof(err)), 0);
	if (v.rootfd < 0)
		return;
	CHECK(strcmp(v.conf.kek, KEK_A) == 0);
	CHECK(strcmp(v.conf.vk.kid, KEK_A "/v1") == 0);
	CHECK_EQ_INT(v.conf.format, CONF_FORMAT);
	CHECK_EQ_INT(v.conf.features, FEAT_ENCRYPTED_NAMES | FEAT_LONG_NAMES);
	CHECK(v.vk != NULL && v.nk != NULL && v.cache != NULL);
	CHECK(vol_kek(&v) != NULL);
	CHECK(vol_kek_for(&v, KEK_A "/v1") == vol_kek(&v));
	CHECK(vol_kek_for(&v, KEK_B "/v1") == NULL);
	CHECK_EQ_INT(bname_read_diriv(v.rootfd, v.conf.format, v.nk, iv), 0);
	CHECK(read_dir_pin(path, &p));
	CHECK(strcmp(p.kek, KEK_A) == 0);
	CHECK_MEM(p.volume_id, v.conf.volume_id, ID_LEN);
	CHECK_EQ_INT(pin_kcv(v.vk, kcv), 0);
	CHECK_MEM(p.kcv, kcv, PIN_KCV_LEN);
	vol_close(&v);
}

/* init refuses a directory that is a volume already or holds anything,
 * and a KEK it cannot use; it leaves the directory as it was. */
static void create_refuses(void)
{
	char path[TMPDIR_MAX + 32], err[VOL_ERR_MAX] = "";
	struct vol_opts o;
	struct stat st;

	if (create("twice", KEK_A, false, path) != 0) {
		CHECK(0);
		return;
	}
	opts(&o, false);
	CHECK_EQ_INT(vol_create(path, KEK_A, CONF_FORMAT, false, &o, NULL,
				err, sizeof(err)), -1);
	CHECK(strstr(err, "already") != NULL);

	snprintf(path, sizeof(path), "%s/busy", voldir);
	CHECK(mkdir(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/busy/file", voldir);
	CHECK(tmpdir_write_at(AT_FDCWD, path, "x", 1) == 0);
	snprintf(path, sizeof(path), "%s/busy", voldir);
	CHECK_EQ_INT(vol_create(path, KEK_A, CONF_FORMAT, false, &o, NULL,
				err, sizeof(err)), -1);
	CHECK(strstr(err, "not empty") != NULL);
	snprintf(path, sizeof(path), "%s/busy/" CONF_NAME, voldir);
	CHECK(access(path, F_OK) != 0);

	/* No such test key: nothing is left behind. */
	snprintf(path, sizeof(path), "%s/nokey", voldir);
	CHECK_EQ_INT(vol_create(path, "testkek://missing", CONF_FORMAT, false,
				&o, NULL, err, sizeof(err)), -1);
	CHECK(err[0] != '\0');
	CHECK(stat(path, &st) != 0);
	CHECK(mkdir(path, 0700) == 0);
	CHECK_EQ_INT(vol_create(path, "testkek://missing", CONF_FORMAT, false,
				&o, NULL, err, sizeof(err)), -1);
	snprintf(path, sizeof(path), "%s/nokey/" DIRIV_NAME, voldir);
	CHECK(access(path, F_OK) != 0);
}

/* The first open on a machine pins the volume's KEK and key check value;
 * later opens check them and leave the pin alone. */
static void first_open_pins(void)
{
	char path[TMPDIR_MAX + 32], err[VOL_ERR_MAX];
	uint8_t kcv[PIN_KCV_LEN];
	struct vol_opts o;
	struct conf c;
	struct pin p, p2;
	struct vol v;

	if (create("first-use", KEK_A, false, path) != 0 ||
	    load_conf(path, &c) != 0) {
		CHECK(0);
		return;
	}
	CHECK(!pin_exists(path));
	opts(&o, true);
	CHECK_EQ_INT(vol_open(&v, path, &o, err, sizeof(err)), 0);
	if (v.rootfd < 0)
		return;
	CHECK(read_dir_pin(path, &p));
	CHECK(strcmp(p.kek, KEK_A) == 0);
	CHECK_MEM(p.volume_id, c.volume_id, ID_LEN);
	CHECK_EQ_INT(pin_kcv(v.vk, kcv), 0);
	CHECK_MEM(p.kcv, kcv, PIN_KCV_LEN);
	vol_close(&v);

	CHECK_EQ_INT(try_open(path, &o, err), 0);
	CHECK(read_dir_pin(path, &p2));
	CHECK(memcmp(&p, &p2, sizeof(p)) == 0);
}

/* fsck's way: a pin is checked if there is one, never written. */
static void pin_readonly_never_writes(void)
{
	char path[TMPDIR_MAX + 32], err[VOL_ERR_MAX];
	struct vol_opts o;
	struct conf c;

	if (create("readonly", KEK_A, false, path) != 0 ||
	    load_conf(path, &c) != 0) {
		CHECK(0);
		return;
	}
	opts(&o, true);
	o.pin_readonly = true;
	CHECK_EQ_INT(try_open(path, &o, err), 0);
	CHECK(!pin_exists(path));

	/* With a pin, a config naming another KEK is refused all the same. */
	o.pin_readonly = false;
	CHECK_EQ_INT(try_open(path, &o, err), 0);
	CHECK(pin_exists(path));
	CHECK(forge_conf(path, KEK_B, c.volume_id) == 0);
	o.pin_readonly = true;
	REFUSED(path, &o, "pinned " KEK_A);
}

/* A config pointed at another KEK (the attacker's; consistent in itself:
 * its own volume key wrapped by that KEK, validly sealed) is refused
 * because of the pin before any request goes to that KEK: vol_peek, which
 * never calls the HSM, already refuses it. */
static void other_kek_refused_by_pin(void)
{
	char path[TMPDIR_MAX + 32], err[VOL_ERR_MAX] = "";
	struct vol_opts o;
	struct conf c;
	struct pin p;
	struct vol v;

	if (create("kek-swap", KEK_A, true, path) != 0 ||
	    load_conf(path, &c) != 0 ||
	    forge_conf(path, KEK_B, c.volume_id) != 0) {
		CHECK(0);
		return;
	}
	opts(&o, true);
	CHECK_EQ_INT(vol_peek(&v, path, &o, err, sizeof(err)), -1);
	CHECK(strstr(err, "pinned " KEK_A) != NULL);
	CHECK(strstr(err, "names KEK " KEK_B) != NULL);
	REFUSED(path, &o, "pinned " KEK_A, KEK_B);
	/* The pin still names the original. */
	CHECK(read_dir_pin(path, &p));
	CHECK(strcmp(p.kek, KEK_A) == 0);
	/* no_pin skips the pin store: the operator takes this config as
	 * it is. */
	opts(&o, false);
	CHECK_EQ_INT(try_open(path, &o, err), 0);
}

/* -o kek=URL: a volume naming another KEK is refused before it is used,
 * pin or no pin; the right one opens. */
static void kek_option(void)
{
	char path[TMPDIR_MAX + 32], err[VOL_ERR_MAX] = "";
	struct vol_opts o;
	struct conf c;
	struct vol v;

	if (create("kek-option", KEK_A, false, path) != 0 ||
	    load_conf(path, &c) != 0) {
		CHECK(0);
		return;
	}
	opts(&o, false);
	o.pin_kek = KEK_B;
	CHECK_EQ_INT(vol_peek(&v, path, &o, err, sizeof(err)), -1);
	CHECK(strstr(err, "kek=") != NULL);
	REFUSED(path, &o, KEK_A, KEK_B, "kek=");
	o.pin_kek = KEK_A;
	CHECK_EQ_INT(try_open(path, &o, err), 0);

	/* A config switched to KEK b is refused with kek=a, even on a
	 * machine that keeps no pins. */
	CHECK(forge_conf(path, KEK_B, c.volume_id) == 0);
	REFUSED(path, &o, KEK_A, KEK_B, "kek=");
	/* A prefix of the URL is another URL. */
	o.pin_kek = "testkek://";
	REFUSED(path, &o, "kek=");
}

/* A whole new config for this volume (same id and KEK, another volume
 * key, a valid MAC for it) is refused by the pinned key check value;
 * it would open without the pin store. */
static void new_volume_key_refused_by_kcv(void)
{
	char path[TMPDIR_MAX + 32], err[VOL_ERR_MAX];
	struct vol_opts o;
	struct conf c;
	struct pin before, after;

	if (create("vk-swap", KEK_A, true, path) != 0 ||
	    load_conf(path, &c) != 0 || !read_dir_pin(path, &before) ||
	    forge_conf(path, KEK_A, c.volume_id) != 0) {
		CHECK(0);
		return;
	}
	opts(&o, true);
	REFUSED(path, &o, "volume key differs", "replaced");
	CHECK(read_dir_pin(path, &after));
	CHECK(memcmp(&before, &after, sizeof(before)) == 0);
	/* no_pin skips the pin store, and this is what it lets through. */
	opts(&o, false);
	CHECK_EQ_INT(try_open(path, &o, err), 0);
	/* The original config opens again. */
	CHECK(store_conf(path, &c) == 0);
	opts(&o, true);
	CHECK_EQ_INT(try_open(path, &o, err), 0);
}

/* Another volume's config, given this volume's id, does not open: its
 * wrapped volume key is bound to the other volume's id. */
static void other_volume_config(void)
{
	char pa[TMPDIR_MAX + 32], pb[TMPDIR_MAX + 32], err[VOL_ERR_MAX];
	struct vol_opts o;
	struct conf a, b;

	if (create("vol-a", KEK_A, true, pa) != 0 ||
	    create("vol-b", KEK_A, true, pb) != 0 ||
	    load_conf(pa, &a) != 0 || load_conf(pb, &b) != 0) {
		CHECK(0);
		return;
	}
	memcpy(b.volume_id, a.volume_id, ID_LEN);
	CHECK(store_conf(pa, &b) == 0);
	opts(&o, true);
	REFUSED(pa, &o, "not for this volume");
	opts(&o, false);
	REFUSED(pa, &o, "not for this volume");
	CHECK(store_conf(pa, &a) == 0);
	CHECK_EQ_INT(try_open(pa, &o, err), 0);
}

/* Each field of the config is covered by its MAC: a change to any of
 * them (as the attacker would make: a format downgrade, plaintext names,
 * an extra KEK to ask) is refused, pin or not. */
static void config_changes_fail_mac(void)
{
	char path[TMPDIR_MAX + 32], err[VOL_ERR_MAX];
	struct vol_opts with_pin, no_pin;
	struct conf c, t;

	if (create("mac", KEK_A, true, path) != 0 ||
	    load_conf(path, &c) != 0) {
		CHECK(0);
		return;
	}
	opts(&with_pin, true);
	opts(&no_pin, false);
	for (int i = 0; i < 6; i++) {
		t = c;
		switch (i) {
		case 0:
			t.creator[strlen(t.creator) - 1] ^= 1;
			break;
		case 1:
			t.format = t.format == 2 ? 1 : 2;
			break;
		case 2:
			t.features = FEAT_PLAINTEXT_NAMES;
			break;
		case 3:
			t.features = FEAT_ENCRYPTED_NAMES;
			break;
		case 4:
			snprintf(t.prev_kek[0], sizeof(t.prev_kek[0]), KEK_B);
			t.nprev = 1;
			break;
		case 5:
			t.mac[31] ^= 0x80;
			break;
		}
		CHECK(store_conf(path, &t) == 0);
		REFUSED(path, &with_pin, "failed authentication");
		REFUSED(path, &no_pin, "failed authentication");
	}
	CHECK(store_conf(path, &c) == 0);
	CHECK_EQ_INT(try_open(path, &with_pin, err), 0);
}

/* One bit of the file flipped, in a field that stays valid JSON (the
 * creator): each is refused by the MAC. */
static void config_byte_flips(void)
{
	char path[TMPDIR_MAX + 32], file[TMPDIR_MAX + 64], buf[4096];
	char err[VOL_ERR_MAX];
	struct vol_opts o;
	ssize_t n;
	int fd, opened = 0;
	char *at;

	if (create("flips", KEK_A, true, path) != 0) {
		CHECK(0);
		return;
	}
	snprintf(file, sizeof(file), "%s/" CONF_NAME, path);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	CHECK(n > 0);
	if (n <= 0)
		return;
	buf[n] = '\0';
	opts(&o, true);
	at = strstr(buf, "hsmfs 0.1");
	CHECK(at != NULL);
	for (int i = 0; at && i < 9; i++) {
		at[i] ^= 1;
		CHECK(tmpdir_write_at(AT_FDCWD, file, buf, (size_t)n) == 0);
		opened += try_open(path, &o, err) == 0;
		CHECK(strstr(err, "failed authentication") != NULL);
		at[i] ^= 1;
	}
	CHECK_EQ_INT(opened, 0);
	CHECK(tmpdir_write_at(AT_FDCWD, file, buf, (size_t)n) == 0);
	CHECK_EQ_INT(try_open(path, &o, err), 0);
}

/* The pin store: what is written reads back, keyed by the directory; a
 * missing pin is none; a malformed one is an error naming the file, and
 * a volume whose pin is unreadable is not opened (nor silently
 * re-pinned). */
static void pin_store(void)
{
	char path[TMPDIR_MAX + 32], ppath[PIN_PATH_MAX], got[PIN_PATH_MAX];
	char dir[512], err[VOL_ERR_MAX];
	static const char *const bad[] = {
		"", "garbage\n", "kek=testkek://a\n",
		"kcv=AAAAAAAAAAAAAAAAAAAAAA\n",
		"kek=\nkcv=AAAAAAAAAAAAAAAAAAAAAA\n",
		"kek=testkek://a\nkcv=AAAA\n",
		"kek=testkek://a\nkcv=AAAAAAAAAAAAAAAAAAAAAAAA\n",
		"kek=testkek://a\nkcv=!!!!!!!!!!!!!!!!!!!!!!\n",
		/* a directory's pin names its volume */
		"kek=testkek://a\nkcv=AAAAAAAAAAAAAAAAAAAAAA\n",
		"volume=AAAA\nkek=testkek://a\nkcv=AAAAAAAAAAAAAAAAAAAAAA\n",
	};
	const char *vdir = "/srv/some volume\nwith a newline";
	uint8_t id[ID_LEN];
	struct pin p = { .kek = KEK_B }, q;
	struct vol_opts o;
	struct conf c;

	if (setup() != 0 || keys_random(id, sizeof(id)) ||
	    keys_random(p.kcv, sizeof(p.kcv)) ||
	    keys_random(p.volume_id, sizeof(p.volume_id))) {
		CHECK(0);
		return;
	}
	pin_path(vdir, ppath, sizeof(ppath));
	snprintf(dir, sizeof(dir), "%s/pins/dir-", statedir);
	CHECK(strncmp(ppath, dir, strlen(dir)) == 0);
	CHECK_EQ_INT(strlen(ppath), strlen(dir) + 32);
	CHECK_EQ_INT(pin_find(vdir, id, &q, got, err, sizeof(err)), PIN_NONE);
	CHECK(strcmp(got, ppath) == 0);
	CHECK_EQ_INT(pin_write(vdir, &p, err, sizeof(err)), 0);
	CHECK_EQ_INT(pin_find(vdir, id, &q, got, err, sizeof(err)), PIN_DIR);
	CHECK(strcmp(q.kek, KEK_B) == 0);
	CHECK_MEM(q.kcv, p.kcv, PIN_KCV_LEN);
	CHECK_MEM(q.volume_id, p.volume_id, ID_LEN);
	/* Another directory is another pin. */
	CHECK_EQ_INT(pin_find("/srv/some volume", id, &q, got, err,
			      sizeof(err)), PIN_NONE);

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		err[0] = '\0';
		CHECK(tmpdir_write_at(AT_FDCWD, ppath, bad[i],
				      strlen(bad[i])) == 0);
		CHECK_EQ_INT(pin_find(vdir, id, &q, got, err, sizeof(err)), -1);
		CHECK(strstr(err, ppath) != NULL);
	}
	unlink(ppath);

	if (create("bad-pin", KEK_A, true, path) != 0 ||
	    load_conf(path, &c) != 0) {
		CHECK(0);
		return;
	}
	dir_pin(path, ppath);
	CHECK(tmpdir_write_at(AT_FDCWD, ppath, "kek=" KEK_A "\n", 16) == 0);
	opts(&o, true);
	REFUSED(path, &o, ppath, "malformed");
}

/* The attack the directory's pin is for: a config with a fresh volume id
 * (nothing pinned under that id) naming the attacker's KEK, or the real
 * KEK with a volume key of the attacker's (an RSA KEK wraps for anyone).
 * Both are refused by vol_peek, before any request. Deleting the pin
 * file, the documented step for an intended change, lets a new volume
 * there be used, and pinned. */
static void new_volume_id_refused_by_dir_pin(void)
{
	char path[TMPDIR_MAX + 32], ppath[PIN_PATH_MAX];
	char err[VOL_ERR_MAX] = "";
	uint8_t fresh[ID_LEN];
	struct vol_opts o;
	struct conf c;
	struct pin p;
	struct vol v;

	if (create("fresh-id", KEK_A, true, path) != 0 ||
	    load_conf(path, &c) != 0 || keys_random(fresh, ID_LEN) ||
	    forge_conf(path, KEK_B, fresh) != 0) {
		CHECK(0);
		return;
	}
	dir_pin(path, ppath);
	opts(&o, true);
	CHECK_EQ_INT(vol_peek(&v, path, &o, err, sizeof(err)), -1);
	CHECK(strstr(err, "another volume than this machine pinned") != NULL);
	CHECK(strstr(err, "hsmfs pin forget") != NULL);
	CHECK(forge_conf(path, KEK_A, fresh) == 0);
	CHECK_EQ_INT(vol_peek(&v, path, &o, err, sizeof(err)), -1);
	CHECK(strstr(err, "another volume than this machine pinned") != NULL);
	CHECK(read_dir_pin(path, &p));
	CHECK_MEM(p.volume_id, c.volume_id, ID_LEN);

	/* An intended new volume: the operator forgets the pin (hsmfs pin
	 * forget), which names the file it removed. */
	{
		char *canon = realpath(path, NULL), gone[2][PIN_PATH_MAX];

		CHECK(canon && pin_forget(canon, NULL, gone, err,
					  sizeof(err)) == 1);
		CHECK(strcmp(gone[0], ppath) == 0 && !gone[1][0]);
		CHECK(canon && pin_forget(canon, NULL, gone, err,
					  sizeof(err)) == 0);
		free(canon);
	}
	CHECK_EQ_INT(try_open(path, &o, err), 0);
	CHECK(read_dir_pin(path, &p));
	CHECK_MEM(p.volume_id, fresh, ID_LEN);
	/* and the old volume is now the stranger */
	CHECK(store_conf(path, &c) == 0);
	REFUSED(path, &o, "another volume than this machine pinned");
}

/* A pin by volume id, as earlier versions kept: still checked for a
 * directory without a pin of its own (KEK before any request, volume key
 * after), and carried over to the directory's pin on first use. */
static void legacy_pin(void)
{
	char path[TMPDIR_MAX + 32], lpath[PIN_PATH_MAX], line[256];
	char err[VOL_ERR_MAX], kcv[B64_ENC_LEN(PIN_KCV_LEN) + 1];
	uint8_t k[PIN_KCV_LEN];
	struct vol_opts o;
	struct conf c;
	struct pin p;
	struct vol v;

	opts(&o, false);
	if (create("legacy", KEK_A, false, path) != 0 ||
	    load_conf(path, &c) != 0 ||
	    vol_open(&v, path, &o, err, sizeof(err)) != 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(pin_kcv(v.vk, k), 0);
	vol_close(&v);
	b64url_encode(k, PIN_KCV_LEN, kcv);
	pin_legacy_path(c.volume_id, lpath, sizeof(lpath));
	snprintf(line, sizeof(line), "kek=%s\nkcv=%s\n", KEK_B, kcv);
	CHECK(tmpdir_write_at(AT_FDCWD, lpath, line, strlen(line)) == 0);
	opts(&o, true);
	REFUSED(path, &o, "pinned " KEK_B, lpath);
	CHECK(!pin_exists(path));

	k[0] ^= 1;
	b64url_encode(k, PIN_KCV_LEN, kcv);
	snprintf(line, sizeof(line), "kek=%s\nkcv=%s\n", KEK_A, kcv);
	CHECK(tmpdir_write_at(AT_FDCWD, lpath, line, strlen(line)) == 0);
	REFUSED(path, &o, "volume key differs", lpath);
	CHECK(!pin_exists(path));

	k[0] ^= 1;
	b64url_encode(k, PIN_KCV_LEN, kcv);
	snprintf(line, sizeof(line), "kek=%s\nkcv=%s\n", KEK_A, kcv);
	CHECK(tmpdir_write_at(AT_FDCWD, lpath, line, strlen(line)) == 0);
	o.pin_readonly = true;
	CHECK_EQ_INT(try_open(path, &o, err), 0);
	CHECK(!pin_exists(path));
	o.pin_readonly = false;
	CHECK_EQ_INT(try_open(path, &o, err), 0);
	CHECK(read_dir_pin(path, &p));
	CHECK(strcmp(p.kek, KEK_A) == 0);
	CHECK_MEM(p.kcv, k, PIN_KCV_LEN);
	CHECK_MEM(p.volume_id, c.volume_id, ID_LEN);
	/* Migrated, the directory's pin now holds even against a fresh id. */
	CHECK(forge_conf(path, KEK_B, (const uint8_t[ID_LEN]){ 1 }) == 0);
	REFUSED(path, &o, "another volume than this machine pinned");
}

/* A state directory of its own: a machine that never saw the volumes. */
static void new_machine(char dir[TMPDIR_MAX])
{
	if (tmpdir_make(dir, "machine") == 0)
		setenv("HSMFS_STATE_DIR", dir, 1);
}

static void old_machine(char dir[TMPDIR_MAX])
{
	setenv("HSMFS_STATE_DIR", statedir, 1);
	tmpdir_remove(dir);
}

/* -o volume=FINGERPRINT on a machine with no pin: half A (volume id and
 * KEK URL) is checked by vol_peek, before any request; half B (the
 * volume key) after the unwrap. The volume is then pinned. With a pin,
 * both must agree. */
static void fingerprint(void)
{
	char path[TMPDIR_MAX + 32], other[TMPDIR_MAX + 32];
	char fpr[PIN_FPR_TEXT], ofpr[PIN_FPR_TEXT], got[PIN_FPR_TEXT];
	char err[VOL_ERR_MAX] = "", machine[TMPDIR_MAX];
	uint8_t fresh[ID_LEN];
	struct vol_opts o;
	struct conf c;
	struct vol v;

	if (create_fpr("fpr", KEK_A, true, path, fpr) != 0 ||
	    create_fpr("fpr-other", KEK_A, true, other, ofpr) != 0 ||
	    load_conf(path, &c) != 0 || keys_random(fresh, ID_LEN)) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(strlen(fpr), PIN_FPR_TEXT - 1);
	CHECK(fpr[4] == '-' && fpr[34] == '-');
	CHECK(strcmp(fpr, ofpr) != 0);
	opts(&o, true);
	if (vol_open(&v, path, &o, err, sizeof(err)) == 0) {
		CHECK_EQ_INT(vol_fingerprint(&v, got), 0);
		CHECK(strcmp(got, fpr) == 0);
		vol_close(&v);
	}

	new_machine(machine);
	opts(&o, true);
	CHECK_EQ_INT(pin_fpr_parse(ofpr, &o.fpr), 0);
	o.have_fpr = true;
	CHECK_EQ_INT(vol_peek(&v, path, &o, err, sizeof(err)), -1);
	CHECK(strstr(err, "fingerprint") != NULL);
	CHECK(!pin_exists(path));

	CHECK_EQ_INT(pin_fpr_parse(fpr, &o.fpr), 0);
	/* Another volume id, or the attacker's KEK: half A. */
	CHECK(forge_conf(path, KEK_A, fresh) == 0);
	CHECK_EQ_INT(vol_peek(&v, path, &o, err, sizeof(err)), -1);
	CHECK(strstr(err, "fingerprint") != NULL);
	CHECK(forge_conf(path, KEK_B, c.volume_id) == 0);
	CHECK_EQ_INT(vol_peek(&v, path, &o, err, sizeof(err)), -1);
	CHECK(strstr(err, "fingerprint") != NULL);
	/* The same id and KEK, the attacker's volume key: half B. */
	CHECK(forge_conf(path, KEK_A, c.volume_id) == 0);
	if (vol_peek(&v, path, &o, err, sizeof(err)) == 0) {
		CHECK_EQ_INT(vol_unlock(&v, err, sizeof(err)), -1);
		CHECK(strstr(err, "volume key") != NULL &&
		      strstr(err, "fingerprint") != NULL);
		vol_close(&v);
	} else {
		CHECK(0);
	}
	CHECK(!pin_exists(path));

	/* The genuine volume opens, and is pinned. */
	CHECK(store_conf(path, &c) == 0);
	CHECK_EQ_INT(try_open(path, &o, err), 0);
	CHECK(pin_exists(path));
	o.have_fpr = false;
	CHECK_EQ_INT(try_open(path, &o, err), 0);
	old_machine(machine);

	/* Pin and fingerprint: both must agree. */
	CHECK_EQ_INT(pin_fpr_parse(ofpr, &o.fpr), 0);
	o.have_fpr = true;
	REFUSED(path, &o, "fingerprint");
	CHECK_EQ_INT(pin_fpr_parse(fpr, &o.fpr), 0);
	CHECK_EQ_INT(try_open(path, &o, err), 0);
}

/* Which KEK hosts count as named. A "far-" test KEK stands for one
 * outside the token's domain (testkek.c): it opens only if the operator
 * named it (init's --kek, kek=, the pin, a fingerprint). The previous
 * KEKs of a config inherit the volume's vouch (pin or fingerprint), not
 * a kek= naming only the current one: with an RSA KEK anyone can make a
 * config that names the real KEK and lists a previous one of theirs. */
static void named_hosts(void)
{
	char path[TMPDIR_MAX + 32], fpr[PIN_FPR_TEXT], err[VOL_ERR_MAX] = "";
	char machine[TMPDIR_MAX];
	struct vol_opts o;
	struct conf c;
	struct vol v;
	struct kek *k = NULL;
	char kerr[KEK_ERR_MAX];
	uint8_t kcv[PIN_KCV_LEN];
	struct pin_fpr nf;

	if (create_fpr("far", "testkek://far-a", true, path, fpr) != 0) {
		CHECK(0);
		return;
	}
	opts(&o, true);
	CHECK_EQ_INT(try_open(path, &o, err), 0);
	new_machine(machine);
	REFUSED(path, &o, "testkek://far-a", "not named", "-o kek=URL",
		"-o volume=");
	o.pin_kek = "testkek://far-a";
	CHECK_EQ_INT(try_open(path, &o, err), 0);
	old_machine(machine);

	new_machine(machine);
	opts(&o, true);
	CHECK_EQ_INT(pin_fpr_parse(fpr, &o.fpr), 0);
	o.have_fpr = true;
	CHECK_EQ_INT(try_open(path, &o, err), 0);
	old_machine(machine);

	/* A config moved (as by rekey --to) from far-a to a, far-a listed as
	 * previous: sealed by the volume key, as rekey writes it. */
	opts(&o, true);
	if (vol_open(&v, path, &o, err, sizeof(err)) != 0) {
		CHECK(0);
		return;
	}
	c = v.conf;
	snprintf(c.prev_kek[0], sizeof(c.prev_kek[0]), "testkek://far-a");
	c.nprev = 1;
	snprintf(c.kek, sizeof(c.kek), KEK_A);
	CHECK_EQ_INT(kek_open(KEK_A, NULL, &k, kerr), KEK_OK);
	CHECK(k && vol_wrap_slot(k, REC_MAGIC_VK, c.volume_id, v.vk, &c.vk,
				 kerr) == KEK_OK);
	CHECK_EQ_INT(conf_seal(&c, v.vk), 0);
	CHECK_EQ_INT(pin_kcv(v.vk, kcv), 0);
	pin_fpr_a(c.volume_id, c.kek, nf.a);
	pin_fpr_b(kcv, nf.b);
	CHECK(store_conf(path, &c) == 0);
	CHECK_EQ_INT(vol_pin_follow(&v, KEK_A, err, sizeof(err)), 1);
	kek_close(k);
	vol_close(&v);

	/* Pinned here: the previous KEK is the volume's. */
	CHECK_EQ_INT(try_open(path, &o, err), 0);
	new_machine(machine);
	o.pin_kek = KEK_A;
	REFUSED(path, &o, "previous KEK testkek://far-a", "-o volume=");
	o.pin_kek = NULL;
	/* The old fingerprint no longer fits (it covers the KEK URL); the
	 * new one vouches for the volume and what its config lists. */
	o.have_fpr = true;
	CHECK_EQ_INT(pin_fpr_parse(fpr, &o.fpr), 0);
	REFUSED(path, &o, "fingerprint");
	o.fpr = nf;
	CHECK_EQ_INT(try_open(path, &o, err), 0);
	old_machine(machine);
}

/* Opens path for the file-key tests, or returns -1. */
static int open_vol(struct vol *v, const char *path, const struct vol_opts *o)
{
	char err[VOL_ERR_MAX];

	if (vol_open(v, path, o, err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, "  open %s: %s\n", path, err);
	return -1;
}

/* A new file's key comes back from its header: from the cache in the
 * volume that made it, from the HSM in a fresh one; either way only if
 * the header's slot MAC verifies. */
static void file_key_roundtrip(void)
{
	char path[TMPDIR_MAX + 32];
	uint8_t dek[KEY_LEN], out[KEY_LEN], buf[HDR_LEN];
	struct vol_opts o;
	struct vol v, fresh;
	struct hdr h, parsed;
	enum vol_key_src src = VOL_KEY_HSM;
	const char *why;

	opts(&o, true);
	if (create("file-keys", KEK_A, true, path) != 0 ||
	    open_vol(&v, path, &o) != 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(vol_new_file_key(&v, &h, dek), 0);
	CHECK_EQ_INT(h.slot[0].gen, 1);
	CHECK(strcmp(h.slot[0].kid, KEK_A "/v1") == 0);
	hdr_encode(&h, buf);
	CHECK_EQ_INT(hdr_parse(buf, &parsed, &why), 0);

	CHECK_EQ_INT(vol_load_file_key(&v, &parsed, out, NULL, &src), 0);
	CHECK_MEM(out, dek, KEY_LEN);
	CHECK(src == VOL_KEY_CACHE);
	if (open_vol(&fresh, path, &o) == 0) {
		memset(out, 0, sizeof(out));
		CHECK_EQ_INT(vol_load_file_key(&fresh, &parsed, out, NULL,
					       &src), 0);
		CHECK_MEM(out, dek, KEY_LEN);
		CHECK(src == VOL_KEY_HSM);
		CHECK_EQ_INT(vol_load_file_key(&fresh, &parsed, out, NULL,
					       &src), 0);
		CHECK(src == VOL_KEY_CACHE);
		vol_close(&fresh);
	}
	vol_close(&v);
}

/* A header whose slot was tampered with gives no key, whether the key is
 * cached or not: a changed slot MAC, a wrapped key moved into another
 * file's header, a slot naming a KEK that is not the volume's (never
 * asked). */
static void file_key_tamper(void)
{
	char path[TMPDIR_MAX + 32];
	uint8_t dek[KEY_LEN], out[KEY_LEN];
	struct vol_opts o;
	struct vol v, fresh;
	struct hdr h, t;
	unsigned long long asked;

	opts(&o, true);
	if (create("file-tamper", KEK_A, true, path) != 0 ||
	    open_vol(&v, path, &o) != 0) {
		CHECK(0);
		return;
	}
	if (open_vol(&fresh, path, &o) != 0) {
		CHECK(0);
		vol_close(&v);
		return;
	}
	CHECK_EQ_INT(vol_new_file_key(&v, &h, dek), 0);

	t = h;
	t.slot[0].mac[0] ^= 1;
	CHECK_EQ_INT(vol_load_file_key(&v, &t, out, NULL, NULL), -EIO);
	CHECK_EQ_INT(vol_load_file_key(&fresh, &t, out, NULL, NULL), -EIO);

	t = h;
	t.file_id[0] ^= 1;
	CHECK_EQ_INT(vol_load_file_key(&v, &t, out, NULL, NULL), -EIO);
	CHECK_EQ_INT(vol_load_file_key(&fresh, &t, out, NULL, NULL), -EIO);

	t = h;
	snprintf(t.slot[0].kid, sizeof(t.slot[0].kid), KEK_B "/v1");
	asked = fresh.unwraps;
	CHECK_EQ_INT(vol_load_file_key(&fresh, &t, out, NULL, NULL), -EIO);
	CHECK_EQ_INT(fresh.unwraps, asked);

	/* The untouched header still works in both. */
	CHECK_EQ_INT(vol_load_file_key(&fresh, &h, out, NULL, NULL), 0);
	CHECK_MEM(out, dek, KEY_LEN);
	vol_close(&fresh);
	vol_close(&v);
}

/* rekey --data keeps a file's id: a new key for the same id is a fresh
 * DEK, wrapped and sealed for that id, and loads like any other. */
static void file_key_for_id(void)
{
	char path[TMPDIR_MAX + 32];
	uint8_t dek[KEY_LEN], dek2[KEY_LEN], out[KEY_LEN];
	struct vol_opts o;
	struct vol v;
	struct hdr h, h2;

	opts(&o, true);
	if (create("file-id", KEK_A, true, path) != 0 ||
	    open_vol(&v, path, &o) != 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(vol_new_file_key(&v, &h, dek), 0);
	CHECK_EQ_INT(vol_new_file_key_for(&v, h.file_id, &h2, dek2), 0);
	CHECK_MEM(h2.file_id, h.file_id, ID_LEN);
	CHECK(memcmp(dek, dek2, KEY_LEN) != 0);
	CHECK_EQ_INT(vol_load_file_key(&v, &h2, out, NULL, NULL), 0);
	CHECK_MEM(out, dek2, KEY_LEN);
	vol_close(&v);
}

/* A file copied into another volume under the same KEK: the HSM unwraps
 * its key, but the header MAC (keyed from the volume key) refuses it. */
static void file_key_other_volume(void)
{
	char pa[TMPDIR_MAX + 32], pb[TMPDIR_MAX + 32];
	uint8_t dek[KEY_LEN], out[KEY_LEN];
	struct vol_opts o;
	struct vol a, b;
	struct hdr h;
	enum vol_key_src src = VOL_KEY_CACHE;

	opts(&o, true);
	if (create("file-a", KEK_A, true, pa) != 0 ||
	    create("file-b", KEK_A, true, pb) != 0 ||
	    open_vol(&a, pa, &o) != 0) {
		CHECK(0);
		return;
	}
	if (open_vol(&b, pb, &o) != 0) {
		CHECK(0);
		vol_close(&a);
		return;
	}
	CHECK_EQ_INT(vol_new_file_key(&a, &h, dek), 0);
	CHECK_EQ_INT(vol_load_file_key(&b, &h, out, NULL, &src), -EIO);
	CHECK(src == VOL_KEY_HSM);
	vol_close(&b);
	vol_close(&a);
}

/* A key slot's record binds the key to its file (or volume) and to its
 * kind: unwrapped for another id or as another kind, it is refused. */
static void slot_binding(void)
{
	uint8_t id[ID_LEN], other[ID_LEN], key[KEY_LEN], out[KEY_LEN];
	char kerr[KEK_ERR_MAX], path[TMPDIR_MAX + 32];
	struct hdr_slot s = { 0 }, t;
	enum kek_status st;
	struct kek *k = NULL;

	if (setup() != 0 || keys_random(id, sizeof(id)) ||
	    keys_random(key, sizeof(key))) {
		CHECK(0);
		return;
	}
	memcpy(other, id, ID_LEN);
	other[ID_LEN - 1] ^= 1;
	CHECK_EQ_INT(kek_open(KEK_A, NULL, &k, kerr), KEK_OK);
	if (!k)
		return;
	CHECK_EQ_INT(vol_wrap_slot(k, REC_MAGIC_DEK, id, key, &s, kerr),
		     KEK_OK);
	CHECK(strcmp(s.kid, KEK_A "/v1") == 0);
	CHECK(s.wlen > KEY_LEN);
	CHECK(memmem(s.wrapped, s.wlen, key, KEY_LEN) == NULL);

	CHECK_EQ_INT(vol_unwrap_slot(k, REC_MAGIC_DEK, id, &s, out, &st, kerr),
		     0);
	CHECK_EQ_INT(st, KEK_OK);
	CHECK_MEM(out, key, KEY_LEN);

	kerr[0] = '\0';
	CHECK_EQ_INT(vol_unwrap_slot(k, REC_MAGIC_DEK, other, &s, out, &st,
				     kerr), -EBADMSG);
	CHECK(strstr(kerr, "another") != NULL);
	CHECK_EQ_INT(vol_unwrap_slot(k, REC_MAGIC_VK, id, &s, out, &st, kerr),
		     -EBADMSG);

	/* The HSM's refusals come back as errnos an application sees. */
	t = s;
	t.wrapped[0] ^= 1;
	CHECK_EQ_INT(vol_unwrap_slot(k, REC_MAGIC_DEK, id, &t, out, &st, kerr),
		     -EIO);
	CHECK_EQ_INT(st, KEK_E_CRYPTO);
	snprintf(path, sizeof(path), "%s/a.v1.disabled", keydir);
	CHECK(tmpdir_write_at(AT_FDCWD, path, "", 0) == 0);
	CHECK_EQ_INT(vol_unwrap_slot(k, REC_MAGIC_DEK, id, &s, out, &st, kerr),
		     -EACCES);
	CHECK_EQ_INT(st, KEK_E_FORBIDDEN);
	unlink(path);
	kek_close(k);
}

/* Escrow KEKs (volume-wrap): with the volume's own KEK refusing, an
 * escrow KEK this machine's pin lists opens the volume and re-validates
 * it; one the pin does not list is not even opened (far-b would open
 * only if named) until kek= names it. */
static void escrow_fallback(void)
{
	char path[TMPDIR_MAX + 32], off[TMPDIR_MAX + 32], err[VOL_ERR_MAX];
	char pfile[PIN_PATH_MAX], by[HDR_KID_MAX + 1], kerr[KEK_ERR_MAX];
	struct kek_opts ko = { .host_named = true };
	struct kek *k = NULL;
	struct vol_opts o;
	struct pin p;
	struct conf c;
	struct vol v;

	opts(&o, true);
	snprintf(path, sizeof(path), "%s/escrow", voldir);
	if (setup() || vol_create(path, KEK_A, CONF_FORMAT, VOL_VOLUME_WRAP,
				  &o, NULL, err, sizeof(err)) ||
	    vol_open(&v, path, &o, err, sizeof(err))) {
		fprintf(stderr, "  %s\n", err);
		CHECK(0);
		return;
	}
	c = v.conf;
	CHECK_EQ_INT(kek_open("testkek://far-b", &ko, &k, kerr), KEK_OK);
	CHECK(k && vol_escrow_add(&v, k, "testkek://far-b", &c, kerr) ==
		   KEK_OK);
	CHECK_EQ_INT(c.nescrow, 1);
	CHECK(conf_seal(&c, v.vk) == 0 && store_conf(path, &c) == 0);
	CHECK_EQ_INT(vol_pin_escrows(&v, &c, err, sizeof(err)), 1);
	kek_close(k);
	vol_close(&v);

	/* The warning each escrow open logs is expected here. */
	log_init("vol_test", 0, LOG_LVL_ERR);
	snprintf(off, sizeof(off), "%s/a.v1.disabled", keydir);
	CHECK(tmpdir_write_at(AT_FDCWD, off, "", 0) == 0);
	CHECK_EQ_INT(vol_open(&v, path, &o, err, sizeof(err)), 0);
	CHECK(vol_opened_by(&v, by) && !strcmp(by, "testkek://far-b"));
	CHECK_EQ_INT(vol_kek_check(&v, err, sizeof(err)), 0);
	vol_close(&v);

	/* The pin without it: not asked, and said so. */
	CHECK(pin_find(path, c.volume_id, &p, pfile, err, sizeof(err)) ==
	      PIN_DIR);
	p.nescrow = 0;
	CHECK(pin_write(path, &p, err, sizeof(err)) == 0);
	REFUSED(path, &o, "escrow KEK testkek://far-b not asked");
	o.pin_kek = "testkek://far-b";
	CHECK_EQ_INT(try_open(path, &o, err), 0);
	/* That open noted it in the pin again: the config is authentic. */
	CHECK(pin_find(path, c.volume_id, &p, pfile, err, sizeof(err)) ==
	      PIN_DIR && p.nescrow == 1);
	unlink(off);
	log_init("vol_test", 0, LOG_LVL_WARN);
}

struct rewrapper {
	struct vol *v;
	const struct vol_rewrap_to *t;
	const char *file;
	enum vol_rewrap_out out;
	atomic_bool done;
};

static void *rewrap_thread(void *arg)
{
	struct rewrapper *w = arg;
	char why[KEK_ERR_MAX + 128];
	enum kek_status st;
	struct hdr h;
	int fd = open(w->file, O_RDWR | O_CLOEXEC);

	w->out = vol_rewrap_file(w->v, w->t, fd, &h, NULL, NULL, &st, why,
				 sizeof(why));
	close(fd);
	atomic_store(&w->done, true);
	return NULL;
}

/* Two rewrappers of one header take turns: while another description of
 * the file holds the header's lock, vol_rewrap_file waits; then it moves
 * the header to the KEK's new version, and a second call finds it there. */
static void rewrap_takes_turns(void)
{
	char path[TMPDIR_MAX + 32], file[TMPDIR_MAX + 64], kerr[KEK_ERR_MAX];
	char kpath[TMPDIR_MAX + 32], why[KEK_ERR_MAX + 128];
	const char *hwhy;
	struct flock fl = { .l_type = F_WRLCK, .l_len = HDR_LEN };
	struct vol_rewrap_to t = { 0 };
	struct rewrapper w = { 0 };
	uint8_t dek[KEY_LEN], buf[HDR_LEN], key[32];
	struct kek_info info;
	enum kek_status st;
	struct vol_opts o;
	struct hdr h;
	pthread_t th;
	struct vol v;
	int fd;

	opts(&o, true);
	if (create("rewrap", "testkek://rot", true, path) != 0 ||
	    open_vol(&v, path, &o) != 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ_INT(vol_new_file_key(&v, &h, dek), 0);
	hdr_encode(&h, buf);
	snprintf(file, sizeof(file), "%s/file", path);
	CHECK(tmpdir_write_at(AT_FDCWD, file, buf, sizeof(buf)) == 0);
	/* The KEK rotated: v2 is its current version. */
	snprintf(kpath, sizeof(kpath), "%s/rot.v2", keydir);
	CHECK(keys_random(key, sizeof(key)) == 0 &&
	      tmpdir_write_at(AT_FDCWD, kpath, key, sizeof(key)) == 0);
	snprintf(kpath, sizeof(kpath), "%s/rot.current", keydir);
	CHECK(tmpdir_write_at(AT_FDCWD, kpath, "v2\n", 3) == 0);
	t.kek = vol_kek(&v);
	CHECK_EQ_INT(kek_describe(t.kek, &info, kerr), KEK_OK);
	snprintf(t.kid, sizeof(t.kid), "%s", info.kid);
	CHECK(strcmp(t.kid, "testkek://rot/v2") == 0);

	fd = open(file, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0 && fcntl(fd, F_OFD_SETLK, &fl) == 0);
	w = (struct rewrapper){ .v = &v, .t = &t, .file = file };
	CHECK(pthread_create(&th, NULL, rewrap_thread, &w) == 0);
	usleep(300 * 1000);
	CHECK(!atomic_load(&w.done));
	fl.l_type = F_UNLCK;
	CHECK(fcntl(fd, F_OFD_SETLK, &fl) == 0);
	pthread_join(th, NULL);
	CHECK_EQ_INT(w.out, VOL_RW_DONE);
	CHECK_EQ_INT(hdr_read(fd, &h, &hwhy), 0);
	CHECK(h.slot[0].gen == 0 && h.slot[1].gen == 2);
	CHECK(strcmp(h.slot[1].kid, "testkek://rot/v2") == 0);
	CHECK_EQ_INT(vol_rewrap_file(&v, &t, fd, &h, NULL, NULL, &st, why,
				     sizeof(why)), VOL_RW_CURRENT);
	close(fd);
	vol_close(&v);
}

CHECK_MAIN("vol",
	   T(create_then_open), T(create_refuses), T(first_open_pins),
	   T(pin_readonly_never_writes), T(other_kek_refused_by_pin),
	   T(kek_option), T(new_volume_key_refused_by_kcv),
	   T(other_volume_config), T(config_changes_fail_mac),
	   T(config_byte_flips), T(pin_store),
	   T(new_volume_id_refused_by_dir_pin), T(legacy_pin), T(fingerprint),
	   T(named_hosts), T(file_key_roundtrip), T(file_key_tamper),
	   T(file_key_for_id), T(file_key_other_volume), T(slot_binding),
	   T(escrow_fallback), T(rewrap_takes_turns))
