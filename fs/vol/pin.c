/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A pin file is a few "name=value" lines:
 *   dir=     the backing directory, for whoever reads the file (the
 *            file's name, a hash of the path, is what counts)
 *   volume=  the volume id, base64url
 *   kek=     the KEK URL
 *   kcv=     the volume key's check value, base64url
 *   escrow=  an escrow KEK URL (volume-wrap), one line each, 0..3
 * A legacy pin (pins/<volume id>) has only kek= and kcv=.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "common/b64.h"
#include "pin.h"

#define LINE_MAX_ 8192 /* longer lines are not ours: skipped */
#define FPR_A_LABEL "hsmfs volume fingerprint v1 volume and kek"
#define FPR_B_LABEL "hsmfs volume fingerprint v1 volume key"

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

const char *pin_dir(char *buf, size_t n)
{
	const char *e = getenv("HSMFS_STATE_DIR");

	if (e && *e)
		snprintf(buf, n, "%s", e);
	else if (geteuid() == 0)
		snprintf(buf, n, "/var/lib/hsmfs");
	else if ((e = getenv("XDG_STATE_HOME")) && *e)
		snprintf(buf, n, "%s/hsmfs", e);
	else
		snprintf(buf, n, "%s/.local/state/hsmfs",
			 getenv("HOME") ? getenv("HOME") : "/tmp");
	return buf;
}

/* The directory actually opened, not what its name resolves to now. */
char *pin_canonical(int dirfd, const char *given)
{
	char proc[64], *p;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dirfd);
	p = realpath(proc, NULL);
	return p ? p : realpath(given, NULL);
}

void pin_path(const char *dir, char *buf, size_t n)
{
	uint8_t h[SHA256_DIGEST_LENGTH];
	char sd[512], hex[33];

	SHA256((const uint8_t *)dir, strlen(dir), h);
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	snprintf(buf, n, "%s/pins/dir-%s", pin_dir(sd, sizeof(sd)), hex);
}

void pin_legacy_path(const uint8_t volume_id[ID_LEN], char *buf, size_t n)
{
	char sd[512], id[B64_ENC_LEN(ID_LEN) + 1];

	b64url_encode(volume_id, ID_LEN, id);
	snprintf(buf, n, "%s/pins/%s", pin_dir(sd, sizeof(sd)), id);
}

int pin_kcv(const uint8_t vk[KEY_LEN], uint8_t kcv[PIN_KCV_LEN])
{
	return keys_hkdf(vk, KEY_LEN, KDF_KEY_CHECK, kcv, PIN_KCV_LEN);
}

static bool decodes(const char *s, uint8_t *out, size_t len)
{
	return b64url_decode(s, strlen(s), out, len) == (long)len;
}

/* One more escrow= line: true if there is no room for it. */
static bool add_escrow(struct pin *p, const char *url)
{
	if (p->nescrow == CONF_ESCROW_MAX || !*url)
		return true;
	snprintf(p->escrow[p->nescrow++], sizeof(p->escrow[0]), "%s", url);
	return false;
}

/* Reads the pin file at path into p (and its dir= line into dir, if
 * not NULL): 1, 0 if there is none, -1. */
static int read_pin(const char *path, bool legacy, struct pin *p,
		    char dir[PIN_PATH_MAX], char *err, size_t errlen)
{
	char *line = NULL, kcv[64] = "", id[64] = "";
	size_t cap = 0;
	ssize_t n;
	bool kek = false, many = false, ok;
	FILE *f = fopen(path, "re");

	if (!f && errno == ENOENT)
		return 0;
	if (!f) {
		snprintf(err, errlen, "cannot read pin %s: %s", path,
			 strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		line[strcspn(line, "\n")] = '\0';
		if (n > LINE_MAX_)
			continue;
		if (strncmp(line, "kek=", 4) == 0)
			kek = snprintf(p->kek, sizeof(p->kek), "%s",
				       line + 4) > 0;
		else if (strncmp(line, "kcv=", 4) == 0)
			snprintf(kcv, sizeof(kcv), "%s", line + 4);
		else if (strncmp(line, "volume=", 7) == 0)
			snprintf(id, sizeof(id), "%s", line + 7);
		else if (strncmp(line, "escrow=", 7) == 0)
			many |= add_escrow(p, line + 7);
		else if (dir && strncmp(line, "dir=", 4) == 0)
			snprintf(dir, PIN_PATH_MAX, "%s", line + 4);
	}
	free(line);
	fclose(f);
	ok = kek && !many && decodes(kcv, p->kcv, PIN_KCV_LEN) &&
	     (legacy || decodes(id, p->volume_id, ID_LEN));
	if (!ok)
		snprintf(err, errlen, "pin %s is malformed", path);
	return ok ? 1 : -1;
}

int pin_find(const char *dir, const uint8_t volume_id[ID_LEN], struct pin *p,
	     char path[PIN_PATH_MAX], char *err, size_t errlen)
{
	int r;

	memset(p, 0, sizeof(*p));
	pin_path(dir, path, PIN_PATH_MAX);
	if ((r = read_pin(path, false, p, NULL, err, errlen)) != 0)
		return r < 0 ? -1 : PIN_DIR;
	pin_legacy_path(volume_id, path, PIN_PATH_MAX);
	if ((r = read_pin(path, true, p, NULL, err, errlen)) != 0) {
		memcpy(p->volume_id, volume_id, ID_LEN);
		return r < 0 ? -1 : PIN_LEGACY;
	}
	pin_path(dir, path, PIN_PATH_MAX);
	return PIN_NONE;
}

static int mkdirs(const char *path)
{
	char tmp[PIN_PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *s = tmp + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(tmp, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* dir= is for people: one line, whatever the path holds. */
static void print_dir(FILE *f, const char *dir)
{
	fputs("dir=", f);
	for (; *dir; dir++)
		fputc(iscntrl((unsigned char)*dir) ? '?' : *dir, f);
	fputc('\n', f);
}

int pin_write(const char *dir, const struct pin *p, char *err, size_t errlen)
{
	char sd[512], pins[560], path[PIN_PATH_MAX], tmp[PIN_PATH_MAX + 8];
	char kcv[B64_ENC_LEN(PIN_KCV_LEN) + 1], id[B64_ENC_LEN(ID_LEN) + 1];
	FILE *f;
	int bad;

	snprintf(pins, sizeof(pins), "%s/pins", pin_dir(sd, sizeof(sd)));
	pin_path(dir, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	b64url_encode(p->kcv, PIN_KCV_LEN, kcv);
	b64url_encode(p->volume_id, ID_LEN, id);
	if (mkdirs(pins) != 0 || !(f = fopen(tmp, "we"))) {
		snprintf(err, errlen, "cannot write pin %s: %s", path,
			 strerror(errno));
		return -1;
	}
	fprintf(f, "# hsmfs: the volume this machine expects in\n");
	print_dir(f, dir);
	fprintf(f, "volume=%s\nkek=%s\nkcv=%s\n", id, p->kek, kcv);
	for (int i = 0; i < p->nescrow; i++)
		fprintf(f, "escrow=%s\n", p->escrow[i]);
	bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
	bad |= fclose(f) != 0;
	if (bad || rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot write pin %s: %s", path,
			 strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* ---- every pin: pin list, pin forget ----------------------------------- */

/* A legacy pin's file name: the volume id, base64url, decoded into id. */
static bool legacy_name(const char *name, uint8_t id[ID_LEN])
{
	return strlen(name) == B64_ENC_LEN(ID_LEN) && decodes(name, id, ID_LEN);
}

/* One file of the pins directory, to fn; other files are not pins. */
static int each_one(const char *pins, const char *name, pin_fn fn, void *ctx)
{
	char path[PIN_PATH_MAX], dir[PIN_PATH_MAX] = "", why[PIN_PATH_MAX + 64];
	bool legacy = strncmp(name, "dir-", 4) != 0;
	struct pin p;
	uint8_t id[ID_LEN];
	int r;

	if (legacy ? !legacy_name(name, id) : strlen(name) != 4 + 32)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", pins, name);
	memset(&p, 0, sizeof(p));
	r = read_pin(path, legacy, &p, legacy ? NULL : dir, why, sizeof(why));
	if (legacy)
		memcpy(p.volume_id, id, ID_LEN);
	return r == 0 ? 0 : fn(ctx, path, dir, r > 0 ? &p : NULL, r > 0 ? NULL :
			       why);
}

int pin_each(pin_fn fn, void *ctx, char *err, size_t errlen)
{
	char sd[512], pins[560];
	struct dirent *de;
	DIR *d;
	int r = 0;

	snprintf(pins, sizeof(pins), "%s/pins", pin_dir(sd, sizeof(sd)));
	if (!(d = opendir(pins)) && errno == ENOENT)
		return 0;
	if (!d) {
		snprintf(err, errlen, "cannot list %s: %s", pins,
			 strerror(errno));
		return -1;
	}
	while (!r && (de = readdir(d)))
		r = each_one(pins, de->d_name, fn, ctx);
	closedir(d);
	return r;
}

/* Removes pin file path if it is there: 1 removed, 0 none, -1 err. */
static int drop(const char *path, char *err, size_t errlen)
{
	if (unlink(path) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	snprintf(err, errlen, "cannot remove pin %s: %s", path,
		 strerror(errno));
	return -1;
}

int pin_forget(const char *dir, const uint8_t *volume_id,
	       char removed[2][PIN_PATH_MAX], char *err, size_t errlen)
{
	char path[PIN_PATH_MAX];
	int a, b = 0;

	removed[0][0] = removed[1][0] = '\0';
	pin_path(dir, path, sizeof(path));
	if ((a = drop(path, err, errlen)) < 0)
		return -1;
	if (a)
		memcpy(removed[0], path, sizeof(path));
	if (volume_id) {
		pin_legacy_path(volume_id, path, sizeof(path));
		if ((b = drop(path, err, errlen)) < 0)
			return -1;
		if (b)
			memcpy(removed[1], path, sizeof(path));
	}
	return a || b;
}

/* ---- fingerprints ------------------------------------------------------ */

/* Appends a 4-byte big-endian length, then the bytes. */
static size_t put(uint8_t *m, size_t at, const void *p, size_t n)
{
	m[at] = (uint8_t)(n >> 24);
	m[at + 1] = (uint8_t)(n >> 16);
	m[at + 2] = (uint8_t)(n >> 8);
	m[at + 3] = (uint8_t)n;
	memcpy(m + at + 4, p, n);
	return at + 4 + n;
}

static void half(const uint8_t *m, size_t n, uint8_t out[PIN_FPR_HALF])
{
	uint8_t h[SHA256_DIGEST_LENGTH];

	SHA256(m, n, h);
	memcpy(out, h, PIN_FPR_HALF);
}

void pin_fpr_a(const uint8_t volume_id[ID_LEN], const char *kek,
	       uint8_t a[PIN_FPR_HALF])
{
	uint8_t m[3 * 4 + sizeof(FPR_A_LABEL) + ID_LEN + 512];
	size_t n = strnlen(kek, 512), at;

	at = put(m, 0, FPR_A_LABEL, sizeof(FPR_A_LABEL) - 1);
	at = put(m, at, volume_id, ID_LEN);
	at = put(m, at, kek, n);
	half(m, at, a);
}

void pin_fpr_b(const uint8_t kcv[PIN_KCV_LEN], uint8_t b[PIN_FPR_HALF])
{
	uint8_t m[2 * 4 + sizeof(FPR_B_LABEL) + PIN_KCV_LEN];
	size_t at;

	at = put(m, 0, FPR_B_LABEL, sizeof(FPR_B_LABEL) - 1);
	at = put(m, at, kcv, PIN_KCV_LEN);
	half(m, at, b);
}

void pin_fpr_format(const struct pin_fpr *f, char out[PIN_FPR_TEXT])
{
	uint8_t in[2 * PIN_FPR_HALF];
	unsigned acc = 0, bits = 0;
	size_t o = 0, c = 0;

	memcpy(in, f->a, PIN_FPR_HALF);
	memcpy(in + PIN_FPR_HALF, f->b, PIN_FPR_HALF);
	for (size_t i = 0; i < sizeof(in); i++) {
		acc = (acc << 8) | in[i];
		for (bits += 8; bits >= 5; bits -= 5) {
			if (c && c % 4 == 0)
				out[o++] = '-';
			out[o++] = b32[(acc >> (bits - 5)) & 31];
			c++;
		}
	}
	out[o] = '\0';
}

int pin_fpr_parse(const char *s, struct pin_fpr *f)
{
	uint8_t out[2 * PIN_FPR_HALF];
	unsigned acc = 0, bits = 0;
	size_t o = 0, c = 0;
	const char *p;

	for (; *s; s++) {
		if (*s == '-')
			continue;
		p = strchr(b32, tolower((unsigned char)*s));
		if (!p || !*p || ++c > 32)
			return -1;
		acc = (acc << 5) | (unsigned)(p - b32);
		if ((bits += 5) >= 8) {
			out[o++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	if (c != 32)
		return -1;
	memcpy(f->a, out, PIN_FPR_HALF);
	memcpy(f->b, out + PIN_FPR_HALF, PIN_FPR_HALF);
	return 0;
}
