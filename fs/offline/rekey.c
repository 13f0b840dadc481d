/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KEK rekey: rewraps every file's DEK and the volume key. See rekey.h.
 *
 * Order of work, so that a kill at any point leaves a usable volume and a
 * re-run finishes the job:
 *   1. the config (volume key rewrapped; for --to the new KEK, the old one
 *      kept in previous_keks), written atomically; then the pin;
 *   2. a mounted daemon reloads the config (and the KEK's version);
 *   3. the tree is walked and every header read; files whose only slot
 *      is already the target version are left alone, without HSM calls;
 *   4. workers rewrap the rest, slot by slot;
 *   5. once nothing references a previous KEK, previous_keks is dropped.
 * A volume-wrap volume's file keys are wrapped locally: a KEK rekey is
 * steps 1, 2 and 5 alone (the config's wrapping keys), whatever the
 * number of files. rekey --wrapping-key writes a config with a new
 * generation beside the old one, has the daemon reload it, rewraps every
 * header locally from the old generation to the new (steps 3 and 4, no
 * HSM call), and drops the old generation once no header names it.
 * rekey --to-wrap (a wrap-mode conversion) claims the volume alone, then
 * is steps 1 (the config records the conversion), 3 and 4 (each header
 * rewrapped the other mode's way) and a last config write ending it.
 * Nothing the daemon writes overlaps a slot: it writes a header only into
 * an empty file and otherwise only bytes past the header.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "crypto/layout.h"
#include "fs/vol/filekey.h"
#include "fs/vol/mnt.h"
#include "fs/vol/rewrap.h"
#include "rekey.h"
#include "walk.h"
#include "workq.h"

#define PARSE_TRIES 5       /* a header being written right now */
#define PARSE_DELAY_MS 200
#define HSM_TRIES 16        /* throttled or unavailable HSM */
#define HSM_DELAY_MAX_MS 15000
#define HOLD_MS 200         /* everyone pauses after a throttled call */

enum outcome { OUT_DONE, OUT_CURRENT, OUT_EMPTY, OUT_GONE, OUT_RETRY,
	       OUT_FAILED };

struct failure {
	char *bpath; /* a file's, or a directory the walk could not read */
	char why[sizeof(((struct rekey_failure *)0)->why)];
};

struct rk {
	struct rekey_opts *o;
	struct vol v;
	bool unlocked;
	struct vol_rewrap_to to; /* to.kek: the target KEK */
	struct kek *own_target; /* the target, if opened here */
	char target_url[HDR_KID_MAX + 1];
	char mnt[4096];
	bool mounted;
	int holdfd; /* the mounted daemon holds still while open */
	/* the files: backing paths from the walk */
	char **files;
	size_t nfiles, capfiles;
	struct workq q;
	struct rate rate;
	/* results, under lock */
	pthread_mutex_t lock;
	unsigned long done, rewrapped, current, empty, gone, failed;
	unsigned long missed; /* parts of the tree the walk could not read */
	unsigned long local_files, kek_files; /* --check: by slot kind */
	struct rekey_kid *kids;
	size_t nkids;
	struct failure *fails;
	size_t nfails;
	uint64_t start_ms;
	bool stop_progress;
};

/* Lines name backing paths, which have no bound: none is cut. */
static void emit(const struct rekey_ui *ui, void (*fn)(void *, const char *),
		 const char *fmt, va_list ap)
{
	char *line = NULL;

	if (!fn)
		return;
	if (vasprintf(&line, fmt, ap) < 0)
		fn(ui->ctx, "(a message was lost: out of memory)");
	else
		fn(ui->ctx, line);
	free(line);
}

void rekey_say(const struct rekey_ui *ui, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(ui, ui->say, fmt, ap);
	va_end(ap);
}

void rekey_error(const struct rekey_ui *ui, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(ui, ui->error, fmt, ap);
	va_end(ap);
}

static bool local_kid(const char *kid)
{
	return !strncmp(kid, HDR_WK_KID_PREFIX, strlen(HDR_WK_KID_PREFIX));
}

/* Whether what a header slot (or a key the config wraps) names is where
 * the run moves keys to. */
static bool ref_current(struct rk *r, const char *kid)
{
	return vol_rewrap_current(&r->to, kid);
}

/* Whether a header slot naming kid is where the run moves keys: current
 * (above), and during a wrap conversion wrapped the target mode's way. */
static bool slot_done(struct rk *r, const char *kid)
{
	return vol_rewrap_done(&r->v, &r->to, kid);
}

static void set_wk_kid(struct rk *r)
{
	const struct conf *c = &r->v.conf;

	r->to.wk_kid[0] = '\0';
	if (c->nwk > 0)
		hdr_wk_kid(c->volume_id, c->wk[c->nwk - 1].gen, r->to.wk_kid);
}

/* What the KEK wraps in the config is on the target version: the volume
 * key, or with volume-wrap every wrapping key. */
static bool conf_current(struct rk *r)
{
	return vol_rewrap_conf_current(&r->to, &r->v.conf);
}

/* Counts one more file (or the volume key) referencing kid. Under lock. */
static void count_ref(struct rk *r, const char *kid, bool vk)
{
	struct rekey_kid *n;

	for (size_t i = 0; i < r->nkids; i++)
		if (!strcmp(r->kids[i].kid, kid)) {
			r->kids[i].files += !vk;
			r->kids[i].vk |= vk;
			return;
		}
	if (!(n = realloc(r->kids, (r->nkids + 1) * sizeof(*n))))
		return;
	r->kids = n;
	snprintf(n[r->nkids].kid, KEK_KID_MAX, "%s", kid);
	n[r->nkids].vk = vk;
	n[r->nkids].current = false;
	n[r->nkids++].files = !vk;
}

static void count_kid(struct rk *r, const char *kid)
{
	count_ref(r, kid, false);
}

/* Every distinct kid a header's slots name. Under lock. */
static void count_hdr(struct rk *r, const struct hdr *h)
{
	count_kid(r, h->slot[0].gen ? h->slot[0].kid : h->slot[1].kid);
	if (h->slot[0].gen && h->slot[1].gen &&
	    strcmp(h->slot[0].kid, h->slot[1].kid))
		count_kid(r, h->slot[1].kid);
}

/* --check: which kinds of slot a header has in use (both, mid-way
 * through a rewrap from one kind to the other). */
static void count_kinds(struct rk *r, const struct hdr *h)
{
	bool local = false, kek = false;

	for (int i = 0; i < HDR_SLOTS; i++) {
		local |= h->slot[i].gen && local_kid(h->slot[i].kid);
		kek |= h->slot[i].gen && !local_kid(h->slot[i].kid);
	}
	r->local_files += local;
	r->kek_files += kek;
}

/* ---- the walk ---------------------------------------------------------- */

static int collect(struct walk *w, const struct walk_ent *e)
{
	struct rk *r = w->ctx;
	char **n;

	if (!S_ISREG(e->st->st_mode) || e->tmp)
		return 0;
	if (r->nfiles == r->capfiles) {
		r->capfiles = r->capfiles ? r->capfiles * 2 : 256;
		if (!(n = realloc(r->files, r->capfiles * sizeof(*n))))
			return -ENOMEM;
		r->files = n;
	}
	if (!(r->files[r->nfiles] = strdup(e->bpath)))
		return -ENOMEM;
	r->nfiles++;
	return 0;
}

/* One failure: a file's (or a directory's) backing path and why. Under
 * lock, or before the workers start. */
static void add_failure(struct rk *r, const char *bpath, const char *why)
{
	struct failure *f = realloc(r->fails, (r->nfails + 1) * sizeof(*f));

	if (!f)
		return;
	r->fails = f;
	f[r->nfails].bpath = strdup(bpath);
	snprintf(f[r->nfails].why, sizeof(f->why), "%s", why);
	if (f[r->nfails].bpath)
		r->nfails++;
}

/* A directory the walk could not read: whatever lies under it is not
 * rewrapped (or counted), so the run fails and --check cannot tell. */
static void missed(struct walk *w, const char *bpath, const char *ppath,
		   const char *why)
{
	struct rk *r = w->ctx;

	(void)ppath;
	r->missed++;
	r->failed++;
	add_failure(r, bpath, why);
}

static int collect_files(struct rk *r)
{
	struct walk w = {
		.plaintext_names = r->v.conf.features & FEAT_PLAINTEXT_NAMES,
		.format = r->v.conf.format,
		.entry = collect,
		.missed = missed,
		.ctx = r,
	};
	int e = walk_tree(&w, r->v.rootfd);

	if (e)
		rekey_error(&r->o->ui, "cannot walk %s: %s", r->v.cipherdir, strerror(-e));
	return e ? -1 : 0;
}

/* Opens file i with flags, one name at a time through d (the caller's
 * own): 1 and *fdp, -1 gone or not a file, -3 not openable (why set). */
static int open_file(struct rk *r, struct walk_dir *d, size_t i, int flags,
		     int *fdp, const char **why)
{
	struct stat st;
	int fd = walk_open(d, r->v.rootfd, r->files[i], flags);

	if (fd < 0) {
		*why = strerror(-fd);
		return fd == -ENOENT ? -1 : -3;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
	*fdp = fd;
	return 1;
}

/* Reads a file's header: 1 read, 0 empty, -1 gone or not a file, -2
 * malformed header, -3 file or header unreadable (why set for both). */
static int read_hdr(struct rk *r, struct walk_dir *d, size_t i,
		    struct hdr *h, const char **why)
{
	int fd, err = open_file(r, d, i, O_RDONLY, &fd, why);

	if (err < 0)
		return err;
	err = hdr_read(fd, h, why);
	close(fd);
	if (err && err != -EINVAL && err != -ENOKEY)
		*why = strerror(-err);
	return !err ? 1 : err == -ENOKEY ? 0 : err == -EINVAL ? -2 : -3;
}

/* ---- one file ---------------------------------------------------------- */

static enum outcome outcome_of(enum vol_rewrap_out o)
{
	return o == VOL_RW_DONE ? OUT_DONE : o == VOL_RW_CURRENT ? OUT_CURRENT :
	       o == VOL_RW_RETRY ? OUT_RETRY : OUT_FAILED;
}

static void take_token(void *ctx)
{
	struct rk *r = ctx;

	rate_take(&r->rate);
}

/* One file's rewrap. *unreadable says that its header could not be read
 * or parsed (a retry soon may find it whole), not that the HSM failed. */
static enum outcome do_file(struct rk *r, struct walk_dir *d,
			    struct workq_item *it, struct hdr *h, char *why,
			    size_t n, bool *unreadable)
{
	enum kek_status st = KEK_OK;
	enum vol_rewrap_out o;
	enum outcome out;
	const char *pwhy;
	int fd, rd;

	*unreadable = false;
	rd = open_file(r, d, it->id, O_RDWR, &fd, &pwhy);
	if (rd == -1)
		return OUT_GONE;
	if (rd < 0) {
		*unreadable = true;
		snprintf(why, n, "cannot read the header: %s", pwhy);
		return OUT_RETRY;
	}
	o = vol_rewrap_file(&r->v, &r->to, fd, h, take_token, r, &st, why, n);
	close(fd);
	if (o == VOL_RW_EMPTY)
		return OUT_EMPTY;
	if (o == VOL_RW_UNREADABLE) {
		*unreadable = true;
		return OUT_RETRY;
	}
	out = outcome_of(o);
	if (out == OUT_RETRY && vol_rewrap_retryable(st)) {
		/* Everyone slows down, not only this worker. */
		rate_hold(&r->rate, HOLD_MS);
	}
	return out;
}

/* Records a file's outcome; retries go back into the queue. */
static void finish_file(struct rk *r, struct workq_item *it,
			enum outcome out, const struct hdr *h, const char *why,
			bool parse)
{
	uint64_t delay;

	if (out == OUT_RETRY) {
		delay = parse ? PARSE_DELAY_MS :
			(uint64_t)1000 << (it->tries < 5 ? it->tries : 5);
		if (delay > HSM_DELAY_MAX_MS)
			delay = HSM_DELAY_MAX_MS;
		delay += (uint64_t)(rand() % 250);
		if (workq_retry(&r->q, it, parse ? PARSE_TRIES : HSM_TRIES,
				delay))
			return;
		out = OUT_FAILED;
	}
	pthread_mutex_lock(&r->lock);
	r->done++;
	switch (out) {
	case OUT_DONE:
		r->rewrapped++;
		count_hdr(r, h);
		break;
	case OUT_CURRENT:
		r->current++;
		count_hdr(r, h);
		break;
	case OUT_EMPTY:
		r->empty++;
		break;
	case OUT_GONE:
		r->gone++;
		break;
	default:
		r->failed++;
		if (!parse)
			count_hdr(r, h);
		else
			count_kid(r, "(unreadable header)");
		add_failure(r, r->files[it->id], why);
	}
	pthread_mutex_unlock(&r->lock);
	workq_done(&r->q);
}

static void *worker(void *arg)
{
	struct rk *r = arg;
	struct walk_dir d = WALK_DIR_INIT;
	struct workq_item it;
	char why[KEK_ERR_MAX + 128];
	struct hdr h;

	while (workq_take(&r->q, &it)) {
		enum outcome out;
		bool unreadable;

		why[0] = '\0';
		memset(&h, 0, sizeof(h));
		out = do_file(r, &d, &it, &h, why, sizeof(why), &unreadable);
		finish_file(r, &it, out, &h, why,
			    out == OUT_RETRY && unreadable);
	}
	walk_dir_close(&d);
	return NULL;
}

/* ---- progress ---------------------------------------------------------- */

/* Files done so far, to the caller's progress about five times a second,
 * and once more at the end. */
static void *progress(void *arg)
{
	struct rk *r = arg;
	const struct rekey_ui *ui = &r->o->ui;
	unsigned long done;
	bool stop;

	do {
		clock_sleep_ms(200);
		pthread_mutex_lock(&r->lock);
		done = r->done;
		stop = r->stop_progress;
		pthread_mutex_unlock(&r->lock);
		ui->progress(ui->ctx, done, r->nfiles,
			     (double)(clock_ms() - r->start_ms) / 1000, stop);
	} while (!stop);
	return NULL;
}

/* ---- config, pin, daemon ---------------------------------------------- */

static int unlock(struct rk *r)
{
	char err[768];

	if (r->unlocked)
		return 0;
	if (vol_unlock(&r->v, err, sizeof(err)) != 0) {
		rekey_error(&r->o->ui, "%s", err);
		return -1;
	}
	r->unlocked = true;
	return 0;
}

/* rekey --to an escrow KEK of the volume makes it the volume's KEK: it
 * leaves escrow_keks (its wrapping keys are rewrapped as the config's). */
static void promote_escrow(struct rk *r, struct conf *c)
{
	int i = conf_escrow_find(c, c->kek);

	if (i < 0)
		return;
	conf_escrow_drop(c, i);
	rekey_say(&r->o->ui, "escrow KEK %s becomes the volume's KEK", c->kek);
}

static const char *conf_what(const struct rk *r)
{
	return vol_volume_wrap(&r->v) ? "wrapping key" : "volume key";
}

/* The config's new volume-key slot, KEK and previous KEKs. */
static int new_conf(struct rk *r, struct conf *c)
{
	char kerr[KEK_ERR_MAX];

	*c = r->v.conf;
	if (strcmp(c->kek, r->target_url) != 0) {
		int k = 0;

		for (int i = 0; i < c->nprev; i++)
			if (strcmp(c->prev_kek[i], r->target_url) &&
			    strcmp(c->prev_kek[i], c->kek) && k++ != i)
				memmove(c->prev_kek[k - 1], c->prev_kek[i],
					sizeof(c->prev_kek[i]));
		if (k == CONF_PREV_MAX) {
			rekey_error(&r->o->ui, "the volume already has %d previous KEKs: "
			     "finish an earlier rekey first (hsmfs rekey "
			     "--check)", k);
			return -1;
		}
		snprintf(c->prev_kek[k++], HDR_KID_MAX + 1, "%s", c->kek);
		c->nprev = k;
		snprintf(c->kek, sizeof(c->kek), "%s", r->target_url);
		promote_escrow(r, c);
	}
	if (vol_conf_rewrap(&r->v, r->to.kek, c, kerr) != KEK_OK) {
		rekey_error(&r->o->ui, "cannot wrap the %s: %s", conf_what(r),
			    kerr);
		return -1;
	}
	return conf_seal(c, r->v.vk);
}

/* The pin follows the config's KEK: the operator asked for the move. The
 * key check value stays, the volume key being the same. */
static int update_pin(struct rk *r, const char *kek)
{
	char err[VOL_ERR_MAX];
	int e = vol_pin_follow(&r->v, kek, err, sizeof(err));

	if (e < 0)
		rekey_error(&r->o->ui, "%s", err);
	else if (e > 0)
		rekey_say(&r->o->ui, "pin: now names KEK %s", kek);
	return e < 0 ? -1 : 0;
}

/* Writes the new config and reloads it into our own volume (which then
 * wraps with the target and unwraps with the old KEKs too). */
static int store_conf(struct rk *r, struct conf *c, const char *what)
{
	char err[768];
	int e;

	if ((e = conf_store(r->v.rootfd, c)) < 0) {
		rekey_error(&r->o->ui, "cannot write %s: %s", CONF_NAME, strerror(-e));
		return -1;
	}
	rekey_say(&r->o->ui, "config: %s", what);
	if (update_pin(r, c->kek) != 0)
		return -1;
	if (vol_reload(&r->v, err, sizeof(err)) != 0) {
		rekey_error(&r->o->ui, "%s", err);
		return -1;
	}
	r->to.kek = vol_kek(&r->v);
	set_wk_kid(r);
	return 0;
}

/* After --to: the fingerprint covers the KEK URL, so it changed. */
static int say_fingerprint(struct rk *r)
{
	char fpr[PIN_FPR_TEXT];

	if (!r->o->to)
		return 0;
	if (unlock(r) || vol_fingerprint(&r->v, fpr)) {
		rekey_error(&r->o->ui, "cannot tell the volume's fingerprint");
		return -1;
	}
	rekey_say(&r->o->ui, "volume fingerprint: %s (for -o volume= from "
		  "now on)", fpr);
	return 0;
}

/* The references of what the config wraps. Under lock. */
static void count_conf(struct rk *r)
{
	const struct conf *c = &r->v.conf;

	for (int i = 0; i < c->nwk; i++)
		count_ref(r, c->wk[i].kid, true);
	if (!c->nwk)
		count_ref(r, c->vk.kid, true);
}

static const char *conf_kid(const struct rk *r)
{
	const struct conf *c = &r->v.conf;

	return c->nwk ? c->wk[c->nwk - 1].kid : c->vk.kid;
}

static int rewrap_conf(struct rk *r)
{
	struct conf c;

	if (!strcmp(r->v.conf.kek, r->target_url) && conf_current(r)) {
		pthread_mutex_lock(&r->lock);
		count_conf(r);
		pthread_mutex_unlock(&r->lock);
		rekey_say(&r->o->ui, "%s: already wrapped by %s", conf_what(r),
			  conf_kid(r));
		return update_pin(r, r->v.conf.kek);
	}
	if (unlock(r) || new_conf(r, &c))
		return -1;
	if (store_conf(r, &c, vol_volume_wrap(&r->v) ?
		       "wrapping key rewrapped" : "volume key rewrapped") != 0)
		return -1;
	pthread_mutex_lock(&r->lock);
	count_conf(r);
	pthread_mutex_unlock(&r->lock);
	rekey_say(&r->o->ui, "%s: rewrapped by %s", conf_what(r), conf_kid(r));
	return 0;
}

/* A mounted daemon must know the new config before any slot is wrapped
 * by a KEK it does not have; it also re-reads the KEK's version, so that
 * files it creates from now on are wrapped by the target. */
static int tell_daemon(struct rk *r, bool must)
{
	char ans[1024];
	int e;

	if (!r->mounted)
		return 0;
	e = mnt_call(r->mnt, "reload", ans, sizeof(ans));
	ans[strcspn(ans, "\n")] = '\0';
	if (e == 0 && !strncmp(ans, "reloaded", 8)) {
		rekey_say(&r->o->ui, "mount %s: %s", r->mnt, ans);
		return 0;
	}
	rekey_error(&r->o->ui, "%s: the daemon did not reload the config: %s", r->mnt,
	     e ? strerror(-e) : ans);
	if (must)
		rekey_error(&r->o->ui, "files are not rewrapped while the mount cannot read "
		     "them; unmount, or fix and re-run");
	return must ? -1 : 0;
}

/* A mounted daemon that follows its KEK's versions writes headers and
 * the config of its own accord: it holds still from before the config
 * is read until the run ends (the descriptor closes when the run exits,
 * however it exits). Each header is also locked while either rewrites
 * it (vol_rewrap_file). A daemon too old to know the request writes no
 * header or config by itself. */
static void hold_daemon(struct rk *r)
{
	if (!r->mounted)
		return;
	r->holdfd = mnt_hold(r->mnt);
	if (r->holdfd == -ENOTSUP)
		return;
	if (r->holdfd < 0)
		rekey_say(&r->o->ui, "mount %s: the daemon did not hold still "
			  "(%s); going on", r->mnt, strerror(-r->holdfd));
}

/* Whether every key slot in use of every header (walked again, to catch
 * files created meanwhile) names a key that keep() accepts. Headers only. */
static bool every_slot(struct rk *r, bool (*keep)(struct rk *, const char *))
{
	struct walk w = {
		.plaintext_names = r->v.conf.features & FEAT_PLAINTEXT_NAMES,
		.format = r->v.conf.format,
		.entry = collect, .ctx = r,
	};
	struct walk_dir d = WALK_DIR_INIT;
	const char *why;
	struct hdr h;
	size_t i = r->nfiles;
	bool all = walk_tree(&w, r->v.rootfd) == 0 && w.missed_n == 0;

	for (; all && i < r->nfiles; i++) {
		int rd = read_hdr(r, &d, i, &h, &why);

		all = rd >= -1 && (rd != 1 ||
		      ((!h.slot[0].gen || keep(r, h.slot[0].kid)) &&
		       (!h.slot[1].gen || keep(r, h.slot[1].kid))));
	}
	walk_dir_close(&d);
	return all;
}

static bool target_owns(struct rk *r, const char *kid)
{
	return kek_owns(r->to.kek, kid);
}

/* previous_keks can go once no header names one of them (no header of a
 * volume-wrap volume names a KEK). */
static int drop_previous(struct rk *r)
{
	struct conf c;

	if (r->v.conf.nprev == 0 || r->failed ||
	    (!vol_volume_wrap(&r->v) && !every_slot(r, target_owns)))
		return 0;
	if (unlock(r))
		return -1;
	c = r->v.conf;
	c.nprev = 0;
	if (conf_seal(&c, r->v.vk) != 0 ||
	    store_conf(r, &c, "previous KEKs no longer needed, removed"))
		return -1;
	return tell_daemon(r, false);
}

/* ---- reports ----------------------------------------------------------- */

static bool old_referenced(struct rk *r)
{
	for (size_t i = 0; i < r->nkids; i++)
		if (!ref_current(r, r->kids[i].kid))
			return true;
	return false;
}

/* Something the current KEK version (or wrapping key) alone cannot
 * open, or a conversion that has yet to finish. */
static bool old_needed(struct rk *r)
{
	return old_referenced(r) || r->v.conf.nwk > 1 ||
	       strcmp(r->v.conf.kek, r->target_url) || vol_converting(&r->v);
}

/* The failures with their plaintext paths, where the names decrypt; the
 * paths are freed by free_failures. */
static struct rekey_failure *failures(struct rk *r)
{
	struct walk w = {
		.nk = r->v.nk,
		.plaintext_names = r->v.conf.features & FEAT_PLAINTEXT_NAMES,
		.format = r->v.conf.format,
	};
	struct rekey_failure *f = calloc(r->nfails + 1, sizeof(*f));

	for (size_t i = 0; f && i < r->nfails; i++) {
		f[i].bpath = r->fails[i].bpath;
		if (w.nk || w.plaintext_names)
			f[i].ppath = walk_plain_path(&w, r->v.rootfd,
						     f[i].bpath);
		memcpy(f[i].why, r->fails[i].why, sizeof(f[i].why));
	}
	return f;
}

static void free_failures(struct rk *r, struct rekey_failure *f)
{
	for (size_t i = 0; f && i < r->nfails; i++)
		free((char *)f[i].ppath);
	free(f);
}

/* Hands the caller what the run found and did. */
static void report(struct rk *r)
{
	struct rekey_report rep = {
		.cipherdir = r->v.cipherdir,
		.target_kid = r->to.kid,
		.files = r->nfiles, .done = r->done, .rewrapped = r->rewrapped,
		.current = r->current, .empty = r->empty, .gone = r->gone,
		.failed = r->failed, .missed = r->missed,
		.secs = (double)(clock_ms() - r->start_ms) / 1000,
		.kids = r->kids, .nkids = r->nkids,
		.nfails = r->nfails,
		.vk_kid = conf_kid(r),
		.vk_current = conf_current(r),
		.prev_keks = r->v.conf.prev_kek, .nprev = r->v.conf.nprev,
		.old_needed = old_needed(r),
		.volume_wrap = vol_volume_wrap(&r->v),
		.conversion = r->v.conf.conversion,
		.local_files = r->local_files, .kek_files = r->kek_files,
	};
	struct rekey_failure *f = failures(r);

	for (size_t i = 0; i < r->nkids; i++)
		r->kids[i].current = ref_current(r, r->kids[i].kid);
	rep.fails = f;
	if (!f)
		rep.nfails = 0;
	if (r->o->ui.report)
		r->o->ui.report(r->o->ui.ctx, &rep);
	free_failures(r, f);
}

/* ---- the run ----------------------------------------------------------- */

/* Reads every header once: files already current need no work (and no
 * HSM call); the rest go into the queue. --check stops here. */
static int classify(struct rk *r, bool check)
{
	struct walk_dir d = WALK_DIR_INIT;
	const char *why;
	struct hdr h;

	if (workq_init(&r->q, r->nfiles))
		return -1;
	for (size_t i = 0; i < r->nfiles; i++) {
		int order[HDR_SLOTS], rd;

		rd = read_hdr(r, &d, i, &h, &why);
		if (check && rd == 1)
			count_kinds(r, &h);
		if (rd == 1 && hdr_slot_order(&h, order) == 1 &&
		    slot_done(r, h.slot[order[0]].kid)) {
			r->current++;
			r->done++;
			count_kid(r, h.slot[order[0]].kid);
		} else if (check && rd == 1) {
			count_hdr(r, &h);
		} else if (check && rd < -1) {
			rekey_say(&r->o->ui, "  unreadable header: %s/%s: %s",
			    r->v.cipherdir, r->files[i], why);
			count_kid(r, "(unreadable header)");
		} else if (rd == 0 || rd == -1) {
			/* Empty (no key) or gone: nothing to do. */
			r->empty += rd == 0;
			r->gone += rd == -1;
			r->done++;
		} else if (!check) {
			workq_add(&r->q, i);
		}
	}
	walk_dir_close(&d);
	return 0;
}

static void run_workers(struct rk *r)
{
	pthread_t *t = calloc(r->o->jobs, sizeof(*t)), prog;
	bool bar = r->o->ui.progress != NULL;
	unsigned n = 0;

	if (bar && pthread_create(&prog, NULL, progress, r) != 0)
		bar = false;
	for (; t && n < r->o->jobs; n++)
		if (pthread_create(&t[n], NULL, worker, r) != 0)
			break;
	if (n == 0)
		worker(r);
	for (unsigned i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	if (bar) {
		pthread_mutex_lock(&r->lock);
		r->stop_progress = true;
		pthread_mutex_unlock(&r->lock);
		pthread_join(prog, NULL);
	}
	free(t);
}

/* The target KEK and its current version; vol_peek has checked the pin
 * of the config's KEK, and --to names the other one explicitly. */
static int open_target(struct rk *r)
{
	char kerr[KEK_ERR_MAX];
	struct kek_info info;

	snprintf(r->target_url, sizeof(r->target_url), "%s",
		 r->o->to ? r->o->to : r->v.conf.kek);
	if (!strcmp(r->target_url, r->v.conf.kek)) {
		r->to.kek = vol_kek(&r->v);
	} else {
		if (vol_kek_open_other(&r->v, r->target_url, &r->own_target,
				       kerr) != KEK_OK)
			goto fail;
		r->to.kek = r->own_target;
	}
	if (kek_describe(r->to.kek, &info, kerr) != KEK_OK)
		goto fail;
	snprintf(r->to.kid, sizeof(r->to.kid), "%s", info.kid);
	set_wk_kid(r);
	return 0;
fail:
	rekey_error(&r->o->ui, "cannot use KEK %s: %s", r->target_url, kerr);
	return -1;
}

static enum rekey_result check(struct rk *r)
{
	if (collect_files(r) || classify(r, true))
		return REKEY_CANNOT_TELL;
	pthread_mutex_lock(&r->lock);
	count_conf(r);
	pthread_mutex_unlock(&r->lock);
	report(r);
	if (r->missed)
		return REKEY_CANNOT_TELL;
	return old_needed(r) ? REKEY_OLD_NEEDED : REKEY_OK;
}

/* rekey --wrapping-key, once every header names the new generation: the
 * old one leaves the config. */
static int drop_old_wk(struct rk *r)
{
	struct conf c;
	char msg[128];

	if (r->v.conf.nwk < 2 || r->failed || !every_slot(r, slot_done))
		return 0;
	c = r->v.conf;
	snprintf(msg, sizeof(msg), "wrapping key generation %u no longer "
		 "needed, removed", c.wk[0].gen);
	vol_wk_drop_old(&c);
	if (conf_seal(&c, r->v.vk) != 0 || store_conf(r, &c, msg))
		return -1;
	return tell_daemon(r, false);
}

/* Every escrow KEK of the config, opened and asked for its current
 * version (for an RSA key, the public key wraps need): a new wrapping key
 * is wrapped for each of them, or not made at all. */
static int open_escrows(struct rk *r, struct kek *esc[CONF_ESCROW_MAX])
{
	const struct conf *c = &r->v.conf;
	char kerr[KEK_ERR_MAX];
	struct kek_info info;

	for (int i = 0; i < c->nescrow; i++)
		if (vol_kek_open_other(&r->v, c->escrow[i].kek, &esc[i],
				       kerr) != KEK_OK ||
		    kek_describe(esc[i], &info, kerr) != KEK_OK) {
			rekey_error(&r->o->ui, "cannot use escrow KEK %s: %s; "
				    "nothing changed (retry once it serves, "
				    "or hsmfs kek remove it first)",
				    c->escrow[i].kek, kerr);
			return -1;
		}
	return 0;
}

/* A new wrapping-key generation, wrapped by the KEK and every escrow KEK,
 * into c, sealed. */
static int add_wk(struct rk *r, struct conf *c)
{
	struct kek *esc[CONF_ESCROW_MAX] = { 0 };
	char kerr[KEK_ERR_MAX] = "cannot seal the config";
	int e = -1;

	if (open_escrows(r, esc))
		goto out;
	if (vol_wk_add(&r->v, r->to.kek, esc, c, kerr) != KEK_OK ||
	    conf_seal(c, r->v.vk) != 0)
		rekey_error(&r->o->ui, "cannot make a new wrapping key: %s",
			    kerr);
	else
		e = 0;
out:
	for (int i = 0; i < CONF_ESCROW_MAX; i++)
		kek_close(esc[i]);
	return e;
}

/* rekey --wrapping-key: a new generation in the config (or the one an
 * interrupted run added), the daemon told, every header moved to it
 * locally, the old generation dropped. */
static enum rekey_result run_wk(struct rk *r)
{
	struct conf c;

	if (!vol_volume_wrap(&r->v)) {
		rekey_error(&r->o->ui, "%s has no wrapping key: its file keys "
			    "are wrapped by the KEK (hsmfs init --wrap file)",
			    r->v.cipherdir);
		return REKEY_FAILED;
	}
	if (unlock(r))
		return REKEY_FAILED;
	c = r->v.conf;
	if (c.nwk > 1) {
		rekey_say(&r->o->ui, "an earlier run added wrapping key "
			  "generation %u: finishing it", c.wk[c.nwk - 1].gen);
	} else if (add_wk(r, &c)) {
		return REKEY_FAILED;
	} else if (store_conf(r, &c, "new wrapping key generation added")) {
		return REKEY_FAILED;
	}
	rekey_say(&r->o->ui, "target: wrapping key generation %u (%s)",
		  r->v.conf.wk[r->v.conf.nwk - 1].gen, r->to.wk_kid);
	if (tell_daemon(r, true) || collect_files(r) || classify(r, false))
		return REKEY_FAILED;
	if (r->q.nwork > 0)
		run_workers(r);
	report(r);
	if (drop_old_wk(r) != 0)
		return REKEY_FAILED;
	return r->failed ? REKEY_FAILED : REKEY_OK;
}

/* ---- wrap-mode conversion --------------------------------------------- */

static const char *mode_name(enum conf_conversion to)
{
	return to == CONF_CONV_TO_VOLUME ? "volume" : "file";
}

/* The volume is in mode to already, with no conversion under way. */
static bool in_mode(const struct conf *c, enum conf_conversion to)
{
	return !c->conversion &&
	       !(c->features & FEAT_VOLUME_WRAP) == (to == CONF_CONV_TO_FILE);
}

/* Writes a config of the conversion; our volume takes it at once. */
static int conv_store(struct rk *r, struct conf *c, const char *what)
{
	char err[VOL_ERR_MAX];

	if (conf_seal(c, r->v.vk) != 0) {
		rekey_error(&r->o->ui, "cannot seal the config");
		return -1;
	}
	if (vol_conv_store(&r->v, c, err, sizeof(err)) != 0) {
		rekey_error(&r->o->ui, "%s", err);
		return -1;
	}
	rekey_say(&r->o->ui, "config: %s", what);
	set_wk_kid(r);
	return 0;
}

/* Step 1: the config says which way the conversion goes (an earlier
 * run's is kept, or turned round). Coming from file mode it also gains
 * wrapping key generation 1, wrapped by the KEK, which wraps the volume
 * key from then on; file keys follow in the walk. */
static int conv_begin(struct rk *r)
{
	enum conf_conversion to = r->o->to_wrap;
	struct conf c = r->v.conf;
	char kerr[KEK_ERR_MAX], what[160];

	/* File mode has no escrow KEKs: they would go unnoticed. */
	if (to == CONF_CONV_TO_FILE && c.nescrow > 0) {
		rekey_error(&r->o->ui, "%s has escrow KEKs, which file mode "
			    "cannot have: remove them first (hsmfs kek remove "
			    "URL %s)", r->v.cipherdir, r->v.cipherdir);
		return -1;
	}
	if (c.conversion == to) {
		rekey_say(&r->o->ui, "an earlier run began the conversion to "
			  "%s mode: finishing it", mode_name(to));
		return 0;
	}
	snprintf(what, sizeof(what), "converting to %s mode%s", mode_name(to),
		 c.conversion ? " (the unfinished conversion the other way "
				"turned round)" : "");
	if (!(c.features & FEAT_VOLUME_WRAP)) {
		if (vol_wk_add(&r->v, r->to.kek, NULL, &c, kerr) != KEK_OK) {
			rekey_error(&r->o->ui, "cannot make a wrapping key: %s",
				    kerr);
			return -1;
		}
		c.features |= FEAT_VOLUME_WRAP;
		snprintf(what, sizeof(what), "wrapping key generation 1 "
			 "added, the volume key wrapped by it; converting to "
			 "volume mode");
	}
	c.conversion = to;
	return conv_store(r, &c, what);
}

/* Step 3, once every header's slots are wrapped the target mode's way
 * (walked again: a failed file must stop it): the conversion leaves the
 * config, and so does what no header can name any more (previous KEKs,
 * an older wrapping key; in file mode every wrapping key, the volume
 * key wrapped by the KEK again). */
static int conv_finish(struct rk *r)
{
	enum conf_conversion to = r->o->to_wrap;
	struct conf c = r->v.conf;
	char kerr[KEK_ERR_MAX];

	if (r->failed || !every_slot(r, slot_done)) {
		rekey_error(&r->o->ui, "the conversion to %s mode is "
			    "unfinished: fix what failed and run the same "
			    "command again", mode_name(to));
		return -1;
	}
	c.conversion = CONF_CONV_NONE;
	c.nprev = 0;
	if (to == CONF_CONV_TO_VOLUME) {
		vol_wk_drop_old(&c);
		return conv_store(r, &c, "conversion finished: volume mode, "
				  "every file key wrapped locally");
	}
	c.features &= ~FEAT_VOLUME_WRAP;
	c.nwk = 0;
	memset(c.wk, 0, sizeof(c.wk));
	if (vol_wrap_slot(r->to.kek, REC_MAGIC_VK, c.volume_id, r->v.vk,
			  &c.vk, kerr) != KEK_OK) {
		rekey_error(&r->o->ui, "cannot wrap the volume key: %s", kerr);
		return -1;
	}
	c.vk.gen = 1;
	return conv_store(r, &c, "conversion finished: file mode, every file "
			  "key wrapped by the KEK");
}

/* hsmfs rekey --to-wrap: the volume claimed alone (no daemon follows a
 * mode change), the config first, then every header as a rekey does,
 * then the config again. A run killed anywhere leaves a volume that
 * mounts and reads; the same command finishes it. */
static enum rekey_result run_convert(struct rk *r)
{
	enum conf_conversion to = r->o->to_wrap;
	char err[VOL_ERR_MAX];

	if (in_mode(&r->v.conf, to)) {
		rekey_say(&r->o->ui, "%s is in %s mode already: nothing to do",
			  r->v.cipherdir, mode_name(to));
		return REKEY_OK;
	}
	if (r->v.conf.format < LAY_V3) {
		rekey_error(&r->o->ui, "volume mode needs a volume of format "
			    "3; %s is of format %d", r->v.cipherdir,
			    r->v.conf.format);
		return REKEY_FAILED;
	}
	if (vol_claim(&r->v, true, "hsmfs rekey --to-wrap", err,
		      sizeof(err)) != 0) {
		rekey_error(&r->o->ui, "%s (the wrap mode changes only on a "
			    "volume not mounted)", err);
		return REKEY_FAILED;
	}
	if (unlock(r) || conv_begin(r))
		return REKEY_FAILED;
	if (to == CONF_CONV_TO_VOLUME)
		rekey_say(&r->o->ui, "target: wrapping key generation %u (%s)",
			  vol_wk_current(&r->v), r->to.wk_kid);
	else
		rekey_say(&r->o->ui, "target: %s", r->to.kid);
	if (collect_files(r) || classify(r, false))
		return REKEY_FAILED;
	if (r->q.nwork > 0)
		run_workers(r);
	report(r);
	return conv_finish(r) ? REKEY_FAILED : REKEY_OK;
}

static enum rekey_result run(struct rk *r)
{
	if (r->o->check)
		return check(r);
	if (r->o->to_wrap)
		return run_convert(r);
	if (vol_converting(&r->v)) {
		const char *m = mode_name(r->v.conf.conversion);

		rekey_error(&r->o->ui, "%s is being converted to %s mode: "
			    "finish that first (hsmfs rekey --to-wrap %s %s, "
			    "unmounted)", r->v.cipherdir, m, m,
			    r->v.cipherdir);
		return REKEY_FAILED;
	}
	if (r->o->wrapping_key)
		return run_wk(r);
	rekey_say(&r->o->ui, "target: %s", r->to.kid);
	if (rewrap_conf(r) || say_fingerprint(r) ||
	    tell_daemon(r, r->v.nold > 0))
		return REKEY_FAILED;
	/* Only the config held what the KEK wraps. */
	if (vol_volume_wrap(&r->v)) {
		report(r);
		return drop_previous(r) ? REKEY_FAILED : REKEY_OK;
	}
	if (collect_files(r) || classify(r, false))
		return REKEY_FAILED;
	if (r->q.nwork > 0 && unlock(r))
		return REKEY_FAILED;
	if (r->q.nwork > 0)
		run_workers(r);
	report(r);
	if (drop_previous(r) != 0)
		return REKEY_FAILED;
	return r->failed ? REKEY_FAILED : REKEY_OK;
}

enum rekey_result rekey_kek(const char *cipherdir, struct rekey_opts *o)
{
	struct rk *r = calloc(1, sizeof(*r));
	char err[VOL_ERR_MAX];
	enum rekey_result ret = o->check ? REKEY_CANNOT_TELL : REKEY_FAILED;
	int m;

	if (!r)
		return ret;
	r->o = o;
	r->start_ms = clock_ms();
	pthread_mutex_init(&r->lock, NULL);
	rate_init(&r->rate, o->max_rate);
	o->vo.rekey_to = o->to;
	r->holdfd = -1;
	if ((m = mnt_find(cipherdir, r->mnt, sizeof(r->mnt))) < 0) {
		rekey_error(&r->o->ui, "cannot read the mount table: %s", strerror(-m));
		goto out;
	}
	r->mounted = m == 1;
	if (!o->check)
		hold_daemon(r);
	if (vol_peek(&r->v, cipherdir, &o->vo, err, sizeof(err)) != 0) {
		rekey_error(&r->o->ui, "%s", err);
		goto out;
	}
	if (open_target(r) == 0)
		ret = run(r);
out:
	if (r->holdfd >= 0)
		close(r->holdfd);
	kek_close(r->own_target);
	vol_close(&r->v);
	for (size_t i = 0; i < r->nfiles; i++)
		free(r->files[i]);
	free(r->files);
	workq_destroy(&r->q);
	rate_destroy(&r->rate);
	pthread_mutex_destroy(&r->lock);
	free(r->kids);
	for (size_t i = 0; i < r->nfails; i++)
		free(r->fails[i].bpath);
	free(r->fails);
	free(r);
	return ret;
}
