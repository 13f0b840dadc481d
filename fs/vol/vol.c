/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opening a volume, and the trust rules that go with it: a config is used
 * only if it is the volume the operator expects (kek=, volume=, this
 * machine's pin of the directory) before any request goes anywhere, and
 * its MAC, the volume key's check value and the fingerprint's second half
 * verify after the unwrap. A KEK host gets a request only if the
 * operator vouched for it (kek_named) or it lies within the official
 * domain of the token's audience (the provider's rule).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/b64.h"
#include "common/clock.h"
#include "common/fit.h"
#include "common/log.h"
#include "pin.h"
#include "rewrap.h"
#include "vol.h"

/* The rekey --to that wrote config c stopped before updating the pin
 * or the operator's fingerprint: what they name may be one of c's
 * previous KEKs, where the volume came from. */
static bool rekey_left(const struct conf *c, const struct vol_opts *o,
		       const char *kek)
{
	if (!o->rekey_to || strcmp(o->rekey_to, c->kek) != 0)
		return false;
	for (int i = 0; i < c->nprev; i++)
		if (strcmp(kek, c->prev_kek[i]) == 0)
			return true;
	return false;
}

/* Half A of the fingerprint given: the volume id and the KEK URL. */
static bool fpr_a_matches(const struct conf *c, const struct vol_opts *o)
{
	uint8_t a[PIN_FPR_HALF];

	pin_fpr_a(c->volume_id, c->kek, a);
	if (keys_equal(a, o->fpr.a, PIN_FPR_HALF))
		return true;
	for (int i = 0; i < c->nprev; i++) {
		pin_fpr_a(c->volume_id, c->prev_kek[i], a);
		if (keys_equal(a, o->fpr.a, PIN_FPR_HALF) &&
		    rekey_left(c, o, c->prev_kek[i]))
			return true;
	}
	return false;
}

/* True if kek= names url (Azure's host and key names have no case). */
static bool kek_opt_is(const struct vol_opts *o, const char *url)
{
	return o->pin_kek && kek_url_same(o->pin_kek, url);
}

/* The escrow KEK of c that kek= names, or -1. */
static int kek_opt_escrow(const struct vol_opts *o, const struct conf *c)
{
	for (int i = 0; o->pin_kek && i < c->nescrow; i++)
		if (kek_url_same(o->pin_kek, c->escrow[i].kek))
			return i;
	return -1;
}

/* kek= and volume=: what the operator said for this run. */
static int check_options(const struct vol *v, const struct vol_opts *o,
			 char *err, size_t errlen)
{
	char id[B64_ENC_LEN(ID_LEN) + 1];

	if (o->pin_kek && !kek_opt_is(o, v->conf.kek) &&
	    kek_opt_escrow(o, &v->conf) < 0) {
		snprintf(err, errlen,
			 "the volume names KEK %s%s, not the expected %s "
			 "(kek= option): refusing it before any request",
			 v->conf.kek, v->conf.nescrow ? " and other escrow KEKs"
						      : "", o->pin_kek);
		return -1;
	}
	if (o->have_fpr && !fpr_a_matches(&v->conf, o)) {
		b64url_encode(v->conf.volume_id, ID_LEN, id);
		snprintf(err, errlen,
			 "the volume in %s does not match the fingerprint "
			 "given (volume= option): its config names volume %s "
			 "and KEK %s; refusing it before any request",
			 v->cipherdir, id, v->conf.kek);
		return -1;
	}
	return 0;
}

/* A config the pin refuses: what differs, and what the operator does
 * when the change was theirs, and what that costs. A pin an earlier
 * version kept by volume id is named: pin forget removes it too. */
static void pin_refused(const struct vol *v, const char *what,
			const char *change, char *err, size_t errlen)
{
	bool legacy = v->pin_found == PIN_LEGACY;

	fit_fmt(err, errlen, "%s%s%s%s: refused before any request; if %s on "
		"purpose, run 'hsmfs pin forget %s' (the next mount trusts what "
		"it finds: give it -o volume=FINGERPRINT)", what,
		legacy ? " (legacy pin " : "", legacy ? v->pin_file : "",
		legacy ? ")" : "", change, v->cipherdir);
}

/* This machine's pin of the directory: the same volume, the same KEK.
 * Keyed by the directory, so a config with a fresh volume id finds the
 * pin all the same. */
static int check_pin(struct vol *v, const struct vol_opts *o, char *err,
		     size_t errlen)
{
	char what[PIN_PATH_MAX + 2 * HDR_KID_MAX + 64];
	int found;

	if (o->no_pin_store)
		return 0;
	found = pin_find(v->cipherdir, v->conf.volume_id, &v->pin,
			 v->pin_file, err, errlen);
	if (found <= PIN_NONE)
		return found;
	v->pin_found = found;
	if (!keys_equal(v->pin.volume_id, v->conf.volume_id, ID_LEN)) {
		snprintf(what, sizeof(what), "%s holds another volume than "
			 "this machine pinned there", v->cipherdir);
		pin_refused(v, what, "made", err, errlen);
		return -1;
	}
	if (strcmp(v->pin.kek, v->conf.kek) != 0 &&
	    !rekey_left(&v->conf, o, v->pin.kek)) {
		snprintf(what, sizeof(what), "the config in %s names KEK %s, "
			 "but this machine pinned %s", v->cipherdir,
			 v->conf.kek, v->pin.kek);
		pin_refused(v, what, "changed", err, errlen);
		return -1;
	}
	return 0;
}

/* An escrow KEK may be asked before the config is authenticated only if
 * this machine's pin lists it (it was in the last authenticated config
 * seen here, or kek add put it there) or the operator named it (kek=,
 * rekey --to): a config cannot make itself trusted by naming one. */
static bool escrow_pinned(const struct vol *v, const char *url)
{
	for (int i = 0; v->pin_found == PIN_DIR && i < v->pin.nescrow; i++)
		if (strcmp(url, v->pin.escrow[i]) == 0)
			return true;
	return false;
}

/* True if the operator vouched for url's host: named it (kek=, rekey
 * --to, kek add), pinned it, or vouched for the volume whose config c
 * lists it. c is then authenticated by vol_unlock before a previous KEK
 * is asked anything; the config's own KEK is what the pin or fingerprint
 * names. An escrow KEK of c counts once pinned, or once c is
 * authenticated (v->nk) for a volume a pin or fingerprint vouched for. */
static bool kek_named(const struct vol *v, const struct conf *c,
		      const char *url)
{
	const struct vol_opts *o = v->opts;

	if (kek_opt_is(o, url) ||
	    (o->rekey_to && strcmp(url, o->rekey_to) == 0) ||
	    (o->escrow_add && strcmp(url, o->escrow_add) == 0) ||
	    (v->pin_found && strcmp(url, v->pin.kek) == 0))
		return true;
	if (conf_escrow_find(c, url) >= 0)
		return escrow_pinned(v, url) ||
		       (v->nk && (v->vouched || v->pin_found));
	if (!v->vouched)
		return false;
	if (strcmp(url, c->kek) == 0)
		return true;
	for (int i = 0; i < c->nprev; i++)
		if (strcmp(url, c->prev_kek[i]) == 0)
			return true;
	return false;
}

/* Opens url, a KEK of config c, with the endpoint list if it is the one
 * it was given for. */
static enum kek_status open_kek(const struct vol *v, const struct conf *c,
				const char *url, bool endpoints,
				struct kek **k, char kerr[KEK_ERR_MAX])
{
	struct kek_opts ko = v->opts->kek;

	if (!endpoints)
		memset(ko.endpoints, 0, sizeof(ko.endpoints));
	ko.host_named = kek_named(v, c, url);
	return kek_open(url, &ko, k, kerr);
}

/* The line for a KEK that cannot be opened; when only the host rule
 * stood in the way (it opens once named: opening sends nothing), how to
 * vouch for it. */
static void open_failed(const struct vol *v, const char *what,
			const char *url, bool main, const char *kerr,
			char *err, size_t errlen)
{
	struct kek_opts ko = v->opts->kek;
	char e2[KEK_ERR_MAX];
	struct kek *k = NULL;
	bool hint;

	ko.host_named = true;
	hint = !kek_named(v, &v->conf, url) &&
	       kek_open(url, &ko, &k, e2) == KEK_OK;
	kek_close(k);
	fit_fmt(err, errlen, "cannot use %s %s: %s%s", what, url, kerr,
		!hint ? "" : main ? " (if it is yours, say so: -o kek=URL, "
				    "or -o volume=FINGERPRINT)" :
				    " (if the volume is yours, say so: "
				    "-o volume=FINGERPRINT)");
}

/* Unwraps s, a key the KEK wraps, into key. An HSM that throttles us is
 * there and asks for patience: a few more tries, backing off, before the
 * volume is refused. As vol_unwrap_slot. */
static int unwrap_kek(struct vol *v, struct kek *k, const char magic[8],
		      const struct hdr_slot *s, uint8_t key[KEY_LEN],
		      enum kek_status *st, char kerr[KEK_ERR_MAX])
{
	int r;

	for (unsigned wait = 1;; wait *= 2) {
		r = vol_unwrap_slot(k, magic, v->conf.volume_id, s, key, st,
				    kerr);
		if (r == 0 || *st != KEK_E_THROTTLED || wait > 8)
			return r;
		sleep(wait);
	}
}

/* The wrapping keys an attempt that failed left. */
static void drop_wks(struct vol *v)
{
	for (int i = 0; i < CONF_WK_MAX; i++) {
		secmem_free(v->wk[i].key, KEY_LEN);
		v->wk[i].key = NULL;
	}
	v->nwk = 0;
}

/* volume-wrap: the wrapping keys from the HSM, wk being what k wraps
 * (the config's own or an escrow KEK's; one unwrap each: one but while a
 * rekey --wrapping-key is under way), then the volume key locally,
 * before the config's MAC can be checked. */
static int unwrap_wks(struct vol *v, struct kek *k, const struct hdr_slot *wk,
		      char *err, size_t errlen)
{
	char kerr[KEK_ERR_MAX];
	const struct hdr_slot *s;
	enum kek_status st;
	int r;

	drop_wks(v);
	for (v->nwk = 0; v->nwk < v->conf.nwk; v->nwk++) {
		s = &wk[v->nwk];
		v->wk[v->nwk].gen = s->gen;
		if (!(v->wk[v->nwk].key = secmem_alloc(KEY_LEN))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		r = unwrap_kek(v, k, REC_MAGIC_WK, s, v->wk[v->nwk].key, &st,
			       kerr);
		if (r == -EBADMSG) {
			snprintf(err, errlen, "wrapping key generation %u is "
				 "not for this volume", s->gen);
			return -1;
		}
		if (r) {
			vol_kek_failed(err, errlen, st, kerr, "cannot unwrap "
				       "wrapping key generation %u with %s",
				       s->gen, s->kid);
			return VOL_EKEK;
		}
	}
	if (vol_wk_unwrap_slot(v, REC_MAGIC_VK, v->conf.volume_id,
			       &v->conf.vk, v->vk, kerr, sizeof(kerr))) {
		snprintf(err, errlen, "%s failed authentication: the volume "
			 "key: %s", CONF_NAME, kerr);
		return -1;
	}
	return 0;
}

/* One more part of a line that lists what was tried: each part cut at a
 * word if long, so that the next one still has room. */
static void append(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void append(char *err, size_t errlen, const char *fmt, ...)
{
	size_t n = strnlen(err, errlen);
	char part[360];
	va_list ap;

	if (n + 3 >= errlen)
		return;
	va_start(ap, fmt);
	fit_vfmt(part, sizeof(part), fmt, ap);
	va_end(ap);
	if (n) {
		memcpy(err + n, "; ", 3);
		n += 2;
	}
	fit_str(err + n, errlen - n, part);
}

/* The escrow KEKs, in the config's order (only the one kek= names, if
 * it names one), each only if escrow_pinned or named: the config is not
 * authenticated yet. 0 with v->esc_kek set, else VOL_EKEK, or -1 if one
 * gave a key that is not this volume's; err gets each one's failure. */
static int unwrap_escrows(struct vol *v, const char *only, char *err,
			  size_t errlen)
{
	char why[VOL_ERR_MAX], kerr[KEK_ERR_MAX];
	int e = VOL_EKEK, r;

	for (int i = 0; i < v->conf.nescrow; i++) {
		const struct conf_escrow *x = &v->conf.escrow[i];
		struct kek *k = NULL;

		if (only && strcmp(only, x->kek) != 0)
			continue;
		if (!kek_named(v, &v->conf, x->kek)) {
			append(err, errlen, "escrow KEK %s not asked: this "
			       "machine's pin does not list it (-o kek=URL "
			       "names it)", x->kek);
			continue;
		}
		if (open_kek(v, &v->conf, x->kek, false, &k, kerr) != KEK_OK) {
			append(err, errlen, "escrow KEK %s: %s", x->kek, kerr);
			continue;
		}
		r = unwrap_wks(v, k, x->wk, why, sizeof(why));
		if (r == 0) {
			pthread_mutex_lock(&v->kek_lock);
			v->esc_kek = k;
			snprintf(v->esc_url, sizeof(v->esc_url), "%s", x->kek);
			pthread_mutex_unlock(&v->kek_lock);
			return 0;
		}
		kek_close(k);
		append(err, errlen, "escrow KEK %s: %s", x->kek, why);
		e = r == VOL_EKEK ? e : -1;
	}
	drop_wks(v);
	return e;
}

/* volume-wrap: the config's KEK, and if it cannot be used (FORMAT.md
 * section 8.7) the escrow KEKs; kek= naming an escrow KEK asks that one
 * alone. One line says which opened the volume. */
static int unlock_wks(struct vol *v, char *err, size_t errlen)
{
	int i = kek_opt_escrow(v->opts, &v->conf);
	const char *only = i >= 0 ? v->conf.escrow[i].kek : NULL;
	int e = VOL_EKEK;

	err[0] = '\0';
	if (!only)
		e = unwrap_wks(v, v->kek, v->conf.wk, err, errlen);
	if (e != VOL_EKEK || !v->conf.nescrow)
		goto out;
	e = unwrap_escrows(v, only, err, errlen);
	if (e == 0)
		log_warn("%s: opened with escrow KEK %s (%s)", v->cipherdir,
			 v->esc_url, only ? "kek= names it" : err);
out:
	if (e == 0 && !v->esc_url[0])
		log_info("%s: opened with KEK %s", v->cipherdir, v->conf.kek);
	if (e == 0)
		err[0] = '\0';
	return e;
}

static int unwrap_vk(struct vol *v, char *err, size_t errlen)
{
	char kerr[KEK_ERR_MAX];
	enum kek_status st;
	int r;

	if (vol_volume_wrap(v)) {
		/* The unwrap is the mount's validation of the KEK. */
		atomic_store(&v->checked_ms, (long long)clock_ms());
		return unlock_wks(v, err, errlen);
	}
	r = unwrap_kek(v, v->kek, REC_MAGIC_VK, &v->conf.vk, v->vk, &st,
		       kerr);
	if (r == -EBADMSG) {
		snprintf(err, errlen,
			 "the wrapped volume key is not for this volume");
		return -1;
	}
	if (r) {
		vol_kek_failed(err, errlen, st, kerr, "cannot unwrap the "
			       "volume key with %s", v->conf.vk.kid);
		return VOL_EKEK;
	}
	return 0;
}

/* The escrow KEK URLs of config c, into pin p. */
static void pin_escrows_of(const struct conf *c, struct pin *p)
{
	p->nescrow = c->nescrow;
	for (int i = 0; i < c->nescrow; i++)
		snprintf(p->escrow[i], sizeof(p->escrow[i]), "%s",
			 c->escrow[i].kek);
}

static bool pin_escrows_differ(const struct pin *p, const struct conf *c)
{
	if (p->nescrow != c->nescrow)
		return true;
	for (int i = 0; i < c->nescrow; i++)
		if (strcmp(p->escrow[i], c->escrow[i].kek) != 0)
			return true;
	return false;
}

int vol_pin_escrows(struct vol *v, const struct conf *c, char *err,
		    size_t errlen)
{
	char path[PIN_PATH_MAX];
	struct pin p;
	int found;

	if (v->opts->no_pin_store || v->opts->pin_readonly)
		return 0;
	found = pin_find(v->cipherdir, c->volume_id, &p, path, err, errlen);
	if (found != PIN_DIR || strcmp(p.kek, c->kek) != 0 ||
	    !pin_escrows_differ(&p, c))
		return found < 0 ? -1 : 0;
	pin_escrows_of(c, &p);
	if (pin_write(v->cipherdir, &p, err, errlen))
		return -1;
	v->pin = p;
	v->pin_found = PIN_DIR;
	memcpy(v->pin_file, path, sizeof(path));
	log_info("%s: the pin %s now lists the %d escrow KEK%s of the "
		 "authenticated config", v->cipherdir, path, c->nescrow,
		 c->nescrow == 1 ? "" : "s");
	return 1;
}

bool vol_opened_by(struct vol *v, char url[HDR_KID_MAX + 1])
{
	bool esc;

	pthread_mutex_lock(&v->kek_lock);
	esc = v->esc_url[0] != '\0';
	snprintf(url, HDR_KID_MAX + 1, "%s", esc ? v->esc_url : v->conf.kek);
	pthread_mutex_unlock(&v->kek_lock);
	return esc;
}

/* After the unwrap: the volume key is the one the fingerprint and the
 * pin name. On first use, or with only a pin by volume id of an earlier
 * version, this machine then pins the directory. */
static int check_key(struct vol *v, char *err, size_t errlen)
{
	const struct vol_opts *o = v->opts;
	uint8_t kcv[PIN_KCV_LEN], b[PIN_FPR_HALF];
	struct pin p = { 0 };
	bool legacy = v->pin_found == PIN_LEGACY;

	if (pin_kcv(v->vk, kcv) != 0) {
		snprintf(err, errlen, "cannot derive the key check value");
		return -1;
	}
	pin_fpr_b(kcv, b);
	if (o->have_fpr && !keys_equal(b, o->fpr.b, PIN_FPR_HALF)) {
		snprintf(err, errlen, "the volume key of %s does not match the "
			 "fingerprint given (volume= option): the config has "
			 "been replaced", v->cipherdir);
		return -1;
	}
	if (v->pin_found && !keys_equal(kcv, v->pin.kcv, PIN_KCV_LEN)) {
		snprintf(err, errlen, "the volume key differs from the one "
			 "pinned in %s: the config has been replaced",
			 v->pin_file);
		return -1;
	}
	if (v->pin_found == PIN_DIR || o->no_pin_store || o->pin_readonly)
		return 0;
	memcpy(p.volume_id, v->conf.volume_id, ID_LEN);
	snprintf(p.kek, sizeof(p.kek), "%s", v->conf.kek);
	memcpy(p.kcv, kcv, PIN_KCV_LEN);
	pin_escrows_of(&v->conf, &p);
	if (pin_write(v->cipherdir, &p, err, errlen))
		return -1;
	v->pin = p;
	v->pin_found = PIN_DIR;
	pin_path(v->cipherdir, v->pin_file, sizeof(v->pin_file));
	if (legacy)
		log_info("pinned %s in %s, as the pin by volume id said",
			 v->cipherdir, v->pin_file);
	else
		log_info("first use of this volume on this machine: pinned its "
			 "id, KEK and volume key in %s", v->pin_file);
	return 0;
}

int vol_fingerprint(struct vol *v, char out[PIN_FPR_TEXT])
{
	uint8_t kcv[PIN_KCV_LEN];
	struct pin_fpr f;

	if (!v->nk || pin_kcv(v->vk, kcv) != 0)
		return -1;
	pthread_mutex_lock(&v->kek_lock);
	pin_fpr_a(v->conf.volume_id, v->conf.kek, f.a);
	pthread_mutex_unlock(&v->kek_lock);
	pin_fpr_b(kcv, f.b);
	pin_fpr_format(&f, out);
	return 0;
}

int vol_pin_follow(struct vol *v, const char *kek, char *err, size_t errlen)
{
	char path[PIN_PATH_MAX];
	struct pin p;
	int found;

	if (v->opts->no_pin_store)
		return 0;
	found = pin_find(v->cipherdir, v->conf.volume_id, &p, path, err,
			 errlen);
	if (found <= PIN_NONE || strcmp(p.kek, kek) == 0)
		return found < 0 ? -1 : 0;
	snprintf(p.kek, sizeof(p.kek), "%s", kek);
	if (pin_write(v->cipherdir, &p, err, errlen))
		return -1;
	v->pin = p;
	v->pin_found = PIN_DIR;
	pin_path(v->cipherdir, v->pin_file, sizeof(v->pin_file));
	return 1;
}

/* The mount's hsm_endpoint list serves the KEK it was given for; any
 * other KEK (a previous one, or the target of a rekey --to) is reached
 * at its own host. */
enum kek_status vol_kek_open_other(const struct vol *v, const char *url,
				   struct kek **k, char kerr[KEK_ERR_MAX])
{
	return open_kek(v, &v->conf, url, false, k, kerr);
}

/* What the KEK wraps in config c, the volume key or the wrapping keys,
 * must be wrapped by a version of k: a kid is sent nowhere else. 0, or
 * -1 with err. */
static int foreign_wrap(struct kek *k, const struct conf *c, char *err,
			size_t errlen)
{
	const struct hdr_slot *s = &c->vk;

	for (int i = 0; i < c->nwk; i++)
		if (!kek_owns(k, c->wk[i].kid))
			s = &c->wk[i];
	if (c->nwk > 0 ? s == &c->vk : kek_owns(k, s->kid))
		return 0;
	snprintf(err, errlen, "%s wrapped by %s, which is not a version of %s",
		 c->nwk > 0 ? "a wrapping key is" : "the volume key is",
		 s->kid, c->kek);
	return -1;
}

static int open_keks(struct vol *v, char *err, size_t errlen)
{
	char kerr[KEK_ERR_MAX];
	const char *url;

	url = v->conf.kek;
	if (open_kek(v, &v->conf, url, true, &v->kek, kerr) != KEK_OK) {
		open_failed(v, "KEK", url, true, kerr, err, errlen);
		return -1;
	}
	if (foreign_wrap(v->kek, &v->conf, err, errlen))
		return -1;
	for (int i = 0; i < v->conf.nprev; i++) {
		url = v->conf.prev_kek[i];
		if (vol_kek_open_other(v, url, &v->old[v->nold], kerr) !=
		    KEK_OK) {
			open_failed(v, "previous KEK", url, false, kerr, err,
				    errlen);
			return -1;
		}
		v->nold++;
	}
	return 0;
}

int vol_peek(struct vol *v, const char *cipherdir, const struct vol_opts *o,
	     char *err, size_t errlen)
{
	const char *why;

	memset(v, 0, sizeof(*v));
	pthread_mutex_init(&v->kek_lock, NULL);
	pthread_mutex_init(&v->conf_lock, NULL);
	pthread_rwlock_init(&v->wk_lock, NULL);
	v->opts = o;
	err[0] = '\0';
	v->rootfd = open(cipherdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (v->rootfd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", cipherdir,
			 strerror(errno));
		return -1;
	}
	v->cipherdir = pin_canonical(v->rootfd, cipherdir);
	if (!v->cipherdir) {
		snprintf(err, errlen, "cannot resolve %s: %s", cipherdir,
			 strerror(errno));
		goto fail;
	}
	if (conf_load(v->rootfd, &v->conf, &why)) {
		snprintf(err, errlen, "%s/%s: %s", cipherdir, CONF_NAME, why);
		goto fail;
	}
	if (check_options(v, o, err, errlen) || check_pin(v, o, err, errlen))
		goto fail;
	v->vouched = v->pin_found != PIN_NONE || o->have_fpr;
	if (open_keks(v, err, errlen))
		goto fail;
	return 0;
fail:
	vol_close(v);
	return -1;
}

/* The config's MAC: "modified" only when it is not authentic, not when
 * it could not be computed. */
static int verify_conf(const struct vol *v, const struct conf *c, char *err,
		       size_t errlen)
{
	int e = conf_verify(c, v->vk);

	if (e == -EBADMSG)
		snprintf(err, errlen, "%s failed authentication: it has been "
			 "modified", CONF_NAME);
	else if (e)
		snprintf(err, errlen, "cannot check the MAC of %s: %s",
			 CONF_NAME, strerror(-e));
	return e ? -1 : 0;
}

int vol_unlock(struct vol *v, char *err, size_t errlen)
{
	int e;

	if (!v->vk && !(v->vk = secmem_alloc(KEY_LEN))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((e = unwrap_vk(v, err, errlen)))
		return e;
	if (verify_conf(v, &v->conf, err, errlen))
		return -1;
	if (check_key(v, err, errlen))
		return -1;
	if (vol_volume_wrap(v) && vol_pin_escrows(v, &v->conf, err, errlen) < 0)
		return -1;
	if (!(v->nk = names_keys_new(v->vk))) {
		snprintf(err, errlen, "cannot derive the name keys");
		return -1;
	}
	v->cache = dekcache_new(v->opts->cache_entries, v->opts->cache_ttl_s);
	if (!v->cache) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&v->sf_lock, NULL);
	pthread_cond_init(&v->sf_done, NULL);
	return 0;
}

int vol_open(struct vol *v, const char *cipherdir, const struct vol_opts *o,
	     char *err, size_t errlen)
{
	int e;

	if (vol_peek(v, cipherdir, o, err, errlen))
		return -1;
	if ((e = vol_unlock(v, err, errlen)) == 0)
		return 0;
	vol_close(v);
	return e;
}

void vol_close(struct vol *v)
{
	if (v->cache) {
		pthread_mutex_destroy(&v->sf_lock);
		pthread_cond_destroy(&v->sf_done);
	}
	dekcache_free(v->cache);
	names_keys_free(v->nk);
	secmem_free(v->vk, KEY_LEN);
	drop_wks(v);
	kek_close(v->kek);
	kek_close(v->esc_kek);
	for (int i = 0; i < v->nold; i++)
		kek_close(v->old[i]);
	free(v->cipherdir);
	if (v->rootfd > 0)
		close(v->rootfd);
	/* Alone, the holder's line is ours: a stale one would name us to
	 * whoever next finds the lock taken by something that wrote none. */
	if (v->claimfd > 0 && v->claim_alone)
		(void)!ftruncate(v->claimfd, 0);
	if (v->claimfd > 0)
		close(v->claimfd);
	pthread_mutex_destroy(&v->kek_lock);
	pthread_mutex_destroy(&v->conf_lock);
	pthread_rwlock_destroy(&v->wk_lock);
	memset(v, 0, sizeof(*v));
	v->rootfd = -1;
}

struct kek *vol_kek(struct vol *v)
{
	struct kek *k;

	pthread_mutex_lock(&v->kek_lock);
	k = v->kek;
	pthread_mutex_unlock(&v->kek_lock);
	return k;
}

struct kek *vol_kek_for(struct vol *v, const char *kid)
{
	struct kek *k = NULL;

	pthread_mutex_lock(&v->kek_lock);
	if (kek_owns(v->kek, kid))
		k = v->kek;
	for (int i = v->nold - 1; !k && i >= 0; i--)
		if (kek_owns(v->old[i], kid))
			k = v->old[i];
	pthread_mutex_unlock(&v->kek_lock);
	return k;
}

/* A reloaded config must be this volume's, sealed by its volume key, and
 * agree with kek=, volume= and the pin: the same rules as at mount time.
 * The pin re-read becomes the volume's. */
static int reload_check(struct vol *v, const struct conf *c, char *err,
			size_t errlen)
{
	const struct vol_opts *o = v->opts;
	uint8_t kcv[PIN_KCV_LEN];
	char path[PIN_PATH_MAX];
	struct pin p;
	int found;

	if (!keys_equal(c->volume_id, v->conf.volume_id, ID_LEN) ||
	    c->features != v->conf.features) {
		snprintf(err, errlen, "%s failed authentication", CONF_NAME);
		return -1;
	}
	if (verify_conf(v, c, err, errlen))
		return -1;
	/* A wrap-mode change is made with the volume claimed alone: never
	 * followed live. */
	if (c->conversion != v->conf.conversion) {
		snprintf(err, errlen, "the volume's wrap mode is being changed "
			 "(hsmfs rekey --to-wrap): remount");
		return -1;
	}
	if (o->pin_kek && !kek_opt_is(o, c->kek) && kek_opt_escrow(o, c) < 0) {
		snprintf(err, errlen, "mounted with kek=%s but the config now "
			 "names %s: remount with the new kek= option",
			 o->pin_kek, c->kek);
		return -1;
	}
	if (o->have_fpr && !fpr_a_matches(c, o)) {
		snprintf(err, errlen, "mounted with volume= but the config now "
			 "names KEK %s, which that fingerprint does not cover: "
			 "remount with the volume's new fingerprint", c->kek);
		return -1;
	}
	if (o->no_pin_store)
		return 0;
	found = pin_find(v->cipherdir, c->volume_id, &p, path, err, errlen);
	if (found < 0 || pin_kcv(v->vk, kcv) != 0)
		return -1;
	if (found && (strcmp(p.kek, c->kek) != 0 ||
		      !keys_equal(kcv, p.kcv, PIN_KCV_LEN))) {
		snprintf(err, errlen, "the config names KEK %s but the pin "
			 "names %s (%s): refusing it", c->kek, p.kek, path);
		return -1;
	}
	if (found) {
		v->pin = p;
		v->pin_found = found;
		memcpy(v->pin_file, path, sizeof(path));
	}
	return vol_volume_wrap(v) && vol_pin_escrows(v, c, err, errlen) < 0 ?
	       -1 : 0;
}

/* The KEK that re-validates v, and what it wraps in config c: the escrow
 * KEK that opened v while c lists it, else the config's own, own. NULL
 * when c no longer lists that escrow KEK. Under kek_lock. */
static const struct hdr_slot *check_slots(const struct vol *v,
					  const struct conf *c,
					  struct kek *own, struct kek **k)
{
	int i;

	*k = own;
	if (!v->esc_url[0] || strcmp(v->esc_url, c->kek) == 0)
		return c->wk;
	if ((i = conf_escrow_find(c, v->esc_url)) < 0)
		return NULL;
	*k = v->esc_kek;
	return c->escrow[i].wk;
}

static int reload_wks(struct vol *v, struct kek *own, const struct conf *c,
		      char *err, size_t errlen);

static int reload_locked(struct vol *v, char *err, size_t errlen);

int vol_reload(struct vol *v, char *err, size_t errlen)
{
	int r;

	pthread_mutex_lock(&v->conf_lock);
	r = reload_locked(v, err, errlen);
	pthread_mutex_unlock(&v->conf_lock);
	return r;
}

static int reload_locked(struct vol *v, char *err, size_t errlen)
{
	struct kek *nk = NULL, *cur = vol_kek(v);
	char kerr[KEK_ERR_MAX];
	struct kek_info info;
	struct conf c;
	const char *why;
	int same;

	err[0] = '\0';
	if (conf_load(v->rootfd, &c, &why)) {
		snprintf(err, errlen, "%s: %s", CONF_NAME, why);
		return -1;
	}
	if (reload_check(v, &c, err, errlen))
		return -1;
	pthread_mutex_lock(&v->kek_lock);
	same = strcmp(c.kek, v->conf.kek) == 0;
	pthread_mutex_unlock(&v->kek_lock);
	if (!same && v->nold == VOL_KEKS_MAX) {
		snprintf(err, errlen, "too many KEKs in use: remount");
		return -1;
	}
	if (!same && open_kek(v, &c, c.kek, false, &nk, kerr) != KEK_OK) {
		fit_fmt(err, errlen, "cannot use KEK %s: %s", c.kek, kerr);
		return -1;
	}
	/* Also picks up a rotation: wraps use the version described. */
	if (foreign_wrap(nk ? nk : cur, &c, kerr, sizeof(kerr)) ||
	    kek_describe(nk ? nk : cur, &info, kerr) != KEK_OK ||
	    reload_wks(v, nk ? nk : cur, &c, kerr, sizeof(kerr))) {
		fit_fmt(err, errlen, "cannot use KEK %s: %s", c.kek, kerr);
		kek_close(nk);
		return -1;
	}
	pthread_mutex_lock(&v->kek_lock);
	if (nk) {
		v->old[v->nold++] = v->kek;
		v->kek = nk;
	}
	/* rekey --to the escrow KEK that opened us made it the config's. */
	if (!strcmp(v->esc_url, c.kek))
		v->esc_url[0] = '\0';
	v->conf = c;
	pthread_mutex_unlock(&v->kek_lock);
	return 0;
}

/* The wrapping keys of a reloaded (authentic) config c: a generation new
 * to us is unwrapped with k (rekey --wrapping-key began), one c no
 * longer holds is wiped (it ended). While revoked only the generations
 * are noted: the next good re-validation unwraps them. */
static int reload_wks(struct vol *v, struct kek *own, const struct conf *c,
		      char *err, size_t errlen)
{
	struct vol_wk nw[CONF_WK_MAX] = { 0 };
	const struct hdr_slot *wk;
	char kerr[KEK_ERR_MAX];
	enum kek_status st;
	struct kek *k;
	int r = 0;

	pthread_mutex_lock(&v->kek_lock);
	wk = check_slots(v, c, own, &k);
	pthread_mutex_unlock(&v->kek_lock);
	if (!wk)
		return snprintf(err, errlen, "the escrow KEK that opened this "
				"mount, %s, is no longer in the config: "
				"remount", v->esc_url), -1;
	pthread_rwlock_wrlock(&v->wk_lock);
	for (int i = 0; i < c->nwk && !r; i++) {
		nw[i].gen = c->wk[i].gen;
		for (int j = 0; j < v->nwk; j++)
			if (v->wk[j].gen == nw[i].gen) {
				nw[i].key = v->wk[j].key;
				v->wk[j].key = NULL;
			}
		if (nw[i].key || v->revoked)
			continue;
		if (!(nw[i].key = secmem_alloc(KEY_LEN)))
			r = snprintf(err, errlen, "out of memory");
		else if (vol_unwrap_slot(k, REC_MAGIC_WK, c->volume_id,
					 &wk[i], nw[i].key, &st, kerr))
			r = snprintf(err, errlen, "wrapping key generation "
				     "%u: %s", nw[i].gen, kerr);
	}
	/* On failure nothing changes: the keys taken go back. */
	for (int i = 0; r && i < c->nwk; i++)
		for (int j = 0; j < v->nwk; j++)
			if (v->wk[j].gen == nw[i].gen && !v->wk[j].key) {
				v->wk[j].key = nw[i].key;
				nw[i].key = NULL;
			}
	for (int i = 0; r && i < c->nwk; i++)
		secmem_free(nw[i].key, KEY_LEN);
	for (int j = 0; !r && j < v->nwk; j++)
		secmem_free(v->wk[j].key, KEY_LEN);
	if (!r) {
		memcpy(v->wk, nw, sizeof(nw));
		v->nwk = c->nwk;
	}
	pthread_rwlock_unlock(&v->wk_lock);
	return r ? -1 : 0;
}

/* What a KEK's refusal means for a re-validation: the key was disabled,
 * deleted or our access withdrawn (revoked), or not (no answer yet). */
static bool refused(enum kek_status st)
{
	return st == KEK_E_AUTH || st == KEK_E_FORBIDDEN ||
	       st == KEK_E_NOTFOUND;
}

/* Revoked: the wrapping keys go, and with them every file key not in an
 * open file: the DEK cache. The volume key stays, as it does in file
 * mode: names, targets and xattrs read until unmount. */
static void wipe_wks(struct vol *v)
{
	pthread_rwlock_wrlock(&v->wk_lock);
	for (int i = 0; i < v->nwk; i++) {
		secmem_free(v->wk[i].key, KEY_LEN);
		v->wk[i].key = NULL;
	}
	v->revoked = true;
	pthread_rwlock_unlock(&v->wk_lock);
	dekcache_flush(v->cache);
}

/* The KEK serves again: every generation of the config, unwrapped. */
static int restore(struct vol *v, const struct conf *c, struct kek *k,
		   const struct hdr_slot *wk, char *err, size_t errlen)
{
	uint8_t *key[CONF_WK_MAX] = { 0 };
	char kerr[KEK_ERR_MAX];
	enum kek_status st;
	int r = 0, i;

	for (i = 0; i < c->nwk && !r; i++)
		if (!(key[i] = secmem_alloc(KEY_LEN)))
			r = -1, snprintf(err, errlen, "out of memory");
		else if (vol_unwrap_slot(k, REC_MAGIC_WK, c->volume_id,
					 &wk[i], key[i], &st, kerr))
			r = refused(st) ? 1 : -1,
			snprintf(err, errlen, "%s", kerr);
	pthread_rwlock_wrlock(&v->wk_lock);
	for (i = 0; !r && i < c->nwk && v->revoked; i++) {
		v->wk[i].gen = c->wk[i].gen;
		v->wk[i].key = key[i];
		key[i] = NULL;
	}
	if (!r && v->revoked) {
		v->nwk = c->nwk;
		v->revoked = false;
	}
	pthread_rwlock_unlock(&v->wk_lock);
	for (i = 0; i < c->nwk; i++)
		secmem_free(key[i], KEY_LEN);
	return r;
}

int vol_kek_check(struct vol *v, char *err, size_t errlen)
{
	char kerr[KEK_ERR_MAX];
	enum kek_status st;
	const struct hdr_slot *wk;
	struct hdr_slot s;
	struct conf c;
	struct kek *k;
	uint8_t *key = secmem_alloc(KEY_LEN);
	bool was, bad;
	int r;

	if (!vol_volume_wrap(v)) {
		secmem_free(key, KEY_LEN);
		return 0;
	}
	if (!key) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* The KEK that opened the volume: an escrow KEK, if one did. */
	pthread_mutex_lock(&v->kek_lock);
	c = v->conf;
	wk = check_slots(v, &c, v->kek, &k);
	pthread_mutex_unlock(&v->kek_lock);
	s = wk[c.nwk - 1];
	atomic_fetch_add(&v->checks, 1);
	r = vol_unwrap_slot(k, REC_MAGIC_WK, c.volume_id, &s, key, &st, kerr);
	secmem_free(key, KEY_LEN);
	if ((bad = r == -EBADMSG))
		snprintf(kerr, sizeof(kerr), "the HSM unwrapped a key that is "
			 "not this volume's wrapping key");
	pthread_rwlock_rdlock(&v->wk_lock);
	was = v->revoked;
	pthread_rwlock_unlock(&v->wk_lock);
	if (r == 0 && was)
		r = restore(v, &c, k, wk, kerr, sizeof(kerr));
	else if (r)
		r = refused(st) || bad ? 1 : -1;
	if (r == 0) {
		atomic_store(&v->checked_ms, (long long)clock_ms());
		if (was)
			snprintf(err, errlen, "the KEK serves again: "
				 "wrapping keys restored");
		return 0;
	}
	atomic_fetch_add(&v->check_failures, 1);
	snprintf(err, errlen, "%s%s", r == 1 ? "" : "no answer: ", kerr);
	if (r == 1)
		wipe_wks(v);
	return r;
}

/* Whether config c is the one v holds. Compared serialized: what is
 * past a kid's or a wrapped key's end is not part of it. */
static bool conf_same(struct vol *v, const struct conf *c)
{
	char *a, *b;
	bool same;

	pthread_mutex_lock(&v->kek_lock);
	a = conf_serialize(&v->conf);
	pthread_mutex_unlock(&v->kek_lock);
	b = conf_serialize(c);
	same = a && b && strcmp(a, b) == 0;
	free(a);
	free(b);
	return same;
}

int vol_conf_follow(struct vol *v, const char *kid, char *err, size_t errlen)
{
	struct vol_rewrap_to t = { .kek = vol_kek(v) };
	char kerr[KEK_ERR_MAX];
	const char *why;
	struct conf c;
	int r = -1, e = 0;

	snprintf(t.kid, sizeof(t.kid), "%s", kid);
	pthread_mutex_lock(&v->conf_lock);
	if (conf_load(v->rootfd, &c, &why)) {
		snprintf(err, errlen, "%s: %s", CONF_NAME, why);
		goto out;
	}
	if (reload_check(v, &c, err, errlen))
		goto out;
	/* Written by someone who did not tell us: the next reload (or
	 * check) catches up first. */
	if (!conf_same(v, &c)) {
		snprintf(err, errlen, "%s changed since it was read: reload it "
			 "first", CONF_NAME);
		goto out;
	}
	if (vol_rewrap_conf_current(&t, &c)) {
		r = 0;
		goto out;
	}
	if (vol_conf_rewrap(v, t.kek, &c, kerr) != KEK_OK) {
		snprintf(err, errlen, "cannot wrap the %s with %s: %s",
			 vol_volume_wrap(v) ? "wrapping keys" : "volume key",
			 kid, kerr);
		goto out;
	}
	if (conf_seal(&c, v->vk) != 0 ||
	    (e = conf_store(v->rootfd, &c)) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", CONF_NAME,
			 strerror(e < 0 ? -e : EIO));
		goto out;
	}
	pthread_mutex_lock(&v->kek_lock);
	v->conf = c;
	pthread_mutex_unlock(&v->kek_lock);
	r = 1;
out:
	pthread_mutex_unlock(&v->conf_lock);
	return r;
}
