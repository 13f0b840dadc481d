/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Escrow KEKs: see escrow.h. The volume is opened as every command opens
 * it (config, pin, any KEK that serves it, MAC): only an authenticated
 * config is changed, and only by a holder of its volume key.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "escrow.h"
#include "fs/vol/info.h"
#include "fs/vol/mnt.h"
#include "fs/vol/vol.h"

static void say(const struct escrow_ui *ui, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say(const struct escrow_ui *ui, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (ui && ui->say)
		ui->say(ui->ctx, line);
}

int escrow_list(const char *cipherdir, struct escrow_listing *out, char *err,
		size_t errlen)
{
	struct vol_info *in = malloc(sizeof(*in));
	int r = -1;

	memset(out, 0, sizeof(*out));
	if (!in) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (vol_info(cipherdir, in, err, errlen))
		goto out;
	if (in->pin_found < 0) {
		snprintf(err, errlen, "%s", in->pin_err);
		goto out;
	}
	out->conf = in->conf;
	out->pin_found = in->pin_found;
	out->pin_agrees = in->pin_found != PIN_NONE && in->pin_volume_ok &&
			  in->pin_kek_ok;
	memcpy(out->pinned, in->pinned, sizeof(out->pinned));
	memcpy(out->pin_file, in->pin_file, sizeof(out->pin_file));
	r = 0;
out:
	free(in);
	return r;
}

/* Seals c and writes it, unless the config changed since v read it (a
 * rekey or another kek command at the same time): its change would be
 * lost, a wrapping-key generation with it. */
static int store(struct vol *v, struct conf *c, char *err, size_t errlen)
{
	struct conf now;
	const char *why;
	int e;

	if (conf_seal(c, v->vk) != 0) {
		snprintf(err, errlen, "cannot seal the config");
		return -1;
	}
	if (conf_load(v->rootfd, &now, &why) != 0 ||
	    !keys_equal(now.mac, v->conf.mac, sizeof(now.mac))) {
		snprintf(err, errlen, "%s changed while this ran (a rekey at "
			 "the same time?): nothing written, run it again",
			 CONF_NAME);
		return -1;
	}
	if ((e = conf_store(v->rootfd, c)) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", CONF_NAME,
			 strerror(-e));
		return -1;
	}
	return 0;
}

/* After the config is written: this machine's pin lists its escrow KEKs,
 * and a mounted daemon reloads it (for hsmfs status; it opened the
 * volume already). */
static int follow(struct vol *v, const struct conf *c,
		  const struct escrow_ui *ui, char *err, size_t errlen)
{
	char mnt[4096], ans[1024];
	int e = vol_pin_escrows(v, c, err, errlen);

	if (e < 0)
		return -1;
	if (e > 0)
		say(ui, "pin: %s lists the volume's %d escrow KEK%s", v->pin_file,
		    c->nescrow, c->nescrow == 1 ? "" : "s");
	if (mnt_find(v->cipherdir, mnt, sizeof(mnt)) != 1)
		return 0;
	e = mnt_call(mnt, "reload", ans, sizeof(ans));
	ans[strcspn(ans, "\n")] = '\0';
	say(ui, "mount %s: %s", mnt, e ? strerror(-e) : ans);
	return 0;
}

static int check_add(struct vol *v, const char *url, char *err,
		     size_t errlen)
{
	const struct conf *c = &v->conf;

	if (!vol_volume_wrap(v))
		snprintf(err, errlen, "%s wraps each file key with its KEK: "
			 "escrow KEKs need a volume-wrap volume (hsmfs init "
			 "--wrap volume; hsmfs rekey --to-wrap volume converts "
			 "this one)", v->cipherdir);
	else if (strcmp(url, c->kek) == 0)
		snprintf(err, errlen, "%s is the volume's KEK already", url);
	else if (conf_escrow_find(c, url) >= 0)
		snprintf(err, errlen, "%s is an escrow KEK of the volume "
			 "already", url);
	else if (c->nescrow == CONF_ESCROW_MAX)
		snprintf(err, errlen, "the volume has %d escrow KEKs, the most "
			 "it may have: remove one first", c->nescrow);
	else
		return 0;
	return -1;
}

int escrow_add(const char *cipherdir, const char *url, struct vol_opts *o,
	       const struct escrow_ui *ui, char *err, size_t errlen)
{
	char kerr[KEK_ERR_MAX];
	struct kek_info info;
	struct kek *k = NULL;
	struct vol v;
	struct conf c;
	int r = -1;

	o->escrow_add = url;
	if (vol_peek(&v, cipherdir, o, err, errlen))
		return -1;
	if (check_add(&v, url, err, errlen) || vol_unlock(&v, err, errlen))
		goto out;
	if (vol_kek_open_other(&v, url, &k, kerr) != KEK_OK ||
	    kek_describe(k, &info, kerr) != KEK_OK) {
		snprintf(err, errlen, "cannot use KEK %s: %s", url, kerr);
		goto out;
	}
	c = v.conf;
	if (vol_escrow_add(&v, k, url, &c, kerr) != KEK_OK) {
		snprintf(err, errlen, "KEK %s not added: %s", url, kerr);
		goto out;
	}
	if (store(&v, &c, err, errlen))
		goto out;
	for (int i = 0; i < c.nwk; i++)
		say(ui, "escrow KEK %s added: wrapping key generation %u "
		    "wrapped by %s", url, c.wk[i].gen,
		    c.escrow[c.nescrow - 1].wk[i].kid);
	r = follow(&v, &c, ui, err, errlen);
out:
	kek_close(k);
	vol_close(&v);
	return r;
}

static int check_remove(struct vol *v, const char *url, char *err,
			size_t errlen)
{
	if (!vol_volume_wrap(v) || conf_escrow_find(&v->conf, url) >= 0)
		return 0;
	if (strcmp(url, v->conf.kek) == 0)
		snprintf(err, errlen, "%s is the volume's KEK, which is never "
			 "removed: to replace it, hsmfs rekey --to URL (the "
			 "URL of an escrow KEK makes that one the volume's "
			 "KEK)", url);
	else
		snprintf(err, errlen, "%s is not an escrow KEK of %s (hsmfs "
			 "kek list shows them)", url, v->cipherdir);
	return -1;
}

int escrow_remove(const char *cipherdir, const char *url, struct vol_opts *o,
		  const struct escrow_ui *ui, char *err, size_t errlen)
{
	char by[HDR_KID_MAX + 1];
	struct vol v;
	struct conf c;
	int r = -1;

	if (vol_peek(&v, cipherdir, o, err, errlen))
		return -1;
	if (!vol_volume_wrap(&v)) {
		snprintf(err, errlen, "%s has no escrow KEKs: it wraps each "
			 "file key with its KEK", cipherdir);
		goto out;
	}
	if (check_remove(&v, url, err, errlen) || vol_unlock(&v, err, errlen))
		goto out;
	/* Then no KEK known to serve the volume would be left. */
	if (vol_opened_by(&v, by) && strcmp(by, url) == 0) {
		snprintf(err, errlen, "the volume's KEK %s could not be used "
			 "and %s opened the volume: not removed while it is "
			 "the only KEK known to serve it (retry once %s "
			 "serves, or make %s the volume's KEK with hsmfs rekey "
			 "--to)", v.conf.kek, url, v.conf.kek, url);
		goto out;
	}
	c = v.conf;
	conf_escrow_drop(&c, conf_escrow_find(&c, url));
	if (store(&v, &c, err, errlen))
		goto out;
	say(ui, "escrow KEK %s removed: the config no longer holds a key it "
	    "wraps", url);
	r = follow(&v, &c, ui, err, errlen);
out:
	vol_close(&v);
	return r;
}
