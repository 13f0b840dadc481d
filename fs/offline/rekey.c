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
 * Nothing the daemon writes overlaps a slot: it writes a header only into
 * an empty file and otherwise only bytes past the header.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "fs/vol/mnt.h"
#include "fs/vol/filekey.h"
#include "fs/vol/pin.h"
#include "rekey.h"
#include "walk.h"

#define PARSE_TRIES 5       /* a header being written right now */
#define PARSE_DELAY_MS 200
#define HSM_TRIES 16        /* throttled or unavailable HSM */
#define HSM_DELAY_MAX_MS 15000
#define HOLD_MS 200         /* everyone pauses after a throttled call */

enum outcome { OUT_DONE, OUT_CURRENT, OUT_EMPTY, OUT_GONE, OUT_RETRY,
	       OUT_FAILED };

struct item {
	size_t file;
	unsigned tries;
	uint64_t not_before; /* ms */
};

struct kidcount {
	char kid[KEK_KID_MAX];
	unsigned long files;
	bool vk; /* the config's volume key too */
};

struct failure {
	size_t file;
	char why[300];
};

struct rk {
	struct rekey_opts *o;
	struct vol v;
	bool unlocked;
	struct kek *target, *own_target; /* own_target: opened here */
	char target_url[HDR_KID_MAX + 1];
	char target_kid[KEK_KID_MAX];
	char mnt[4096];
	bool mounted;
	/* the files: backing paths from the walk */
	char **files;
	size_t nfiles, capfiles;
	/* the work queue */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct item *work, *retry;
	size_t nwork, head, nretry, capretry;
	unsigned inflight;
	/* unwrap rate: a token bucket, and a pause after throttling */
	double tokens;
	uint64_t last_ms, hold_until;
	/* results, under lock */
	unsigned long done, rewrapped, current, empty, gone, failed;
	struct kidcount *kids;
	size_t nkids;
	struct failure *fails;
	size_t nfails;
	uint64_t start_ms;
	bool stop_progress;
};

const char *rekey_kid_version(const char *kid)
{
	const char *s = strrchr(kid, '/');

	return s ? s + 1 : kid;
}

/* A kid is current if the target KEK owns it (any of its hosts) and it
 * names the target's current version: kids are compared parsed, not as
 * strings, since the same version can be served under two hosts. */
static bool kid_current(struct rk *r, const char *kid)
{
	return kek_owns(r->target, kid) &&
	       strcasecmp(rekey_kid_version(kid),
			  rekey_kid_version(r->target_kid)) == 0;
}

/* Counts one more file (or the volume key) referencing kid. Under lock. */
static void count_ref(struct rk *r, const char *kid, bool vk)
{
	struct kidcount *n;

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

static int collect_files(struct rk *r)
{
	struct walk w = {
		.plaintext_names = r->v.conf.features & FEAT_PLAINTEXT_NAMES,
		.entry = collect,
		.ctx = r,
	};
	int e = walk_tree(&w, r->v.rootfd);

	if (e)
		fprintf(stderr, "hsmfs rekey: cannot walk %s: %s\n",
			r->v.cipherdir, strerror(-e));
	return e ? -1 : 0;
}

/* Reads a file's header: 1 read, 0 empty, -1 gone or not a file, -2
 * malformed header, -3 file or header unreadable (why set for both). fd
 * is opened with flags, or not at all. */
static int read_hdr(struct rk *r, size_t i, int flags, int *fdp,
		    struct hdr *h, const char **why)
{
	struct stat st;
	int fd, err;

	fd = openat(r->v.rootfd, r->files[i], flags | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		*why = strerror(errno);
		return errno == ENOENT ? -1 : -3;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
	if ((err = hdr_read(fd, h, why))) {
		close(fd);
		if (err != -EINVAL && err != -ENOKEY)
			*why = strerror(-err);
		return err == -ENOKEY ? 0 : err == -EINVAL ? -2 : -3;
	}
	if (fdp)
		*fdp = fd;
	else
		close(fd);
	return 1;
}

/* ---- the queue --------------------------------------------------------- */

static int q_take(struct rk *r, struct item *out)
{
	int got = 0;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		uint64_t now = clock_ms();
		size_t best = r->nretry;

		for (size_t i = 0; i < r->nretry; i++)
			if (best == r->nretry ||
			    r->retry[i].not_before < r->retry[best].not_before)
				best = i;
		if (best < r->nretry && r->retry[best].not_before <= now) {
			*out = r->retry[best];
			r->retry[best] = r->retry[--r->nretry];
			got = 1;
		} else if (r->head < r->nwork) {
			*out = r->work[r->head++];
			got = 1;
		}
		if (got || (best == r->nretry && r->inflight == 0))
			break;
		if (best < r->nretry) {
			struct timespec ts;
			uint64_t wait = r->retry[best].not_before - now;

			clock_gettime(CLOCK_REALTIME, &ts);
			wait = wait > 200 ? 200 : wait;
			ts.tv_nsec += (long)(wait * 1000000);
			ts.tv_sec += ts.tv_nsec / 1000000000;
			ts.tv_nsec %= 1000000000;
			pthread_cond_timedwait(&r->cond, &r->lock, &ts);
		} else {
			pthread_cond_wait(&r->cond, &r->lock);
		}
	}
	if (got)
		r->inflight++;
	pthread_mutex_unlock(&r->lock);
	return got;
}

/* Puts a file back for later; false when it has had its tries. */
static bool q_retry(struct rk *r, struct item *it, unsigned max,
		    uint64_t delay)
{
	struct item *n;

	if (++it->tries >= max)
		return false;
	if (r->nretry == r->capretry) {
		r->capretry = r->capretry ? r->capretry * 2 : 64;
		if (!(n = realloc(r->retry, r->capretry * sizeof(*n))))
			return false;
		r->retry = n;
	}
	it->not_before = clock_ms() + delay;
	r->retry[r->nretry++] = *it;
	return true;
}

/* ---- rate ------------------------------------------------------------- */

/* One token per unwrap, refilled at max_rate with a burst of one second;
 * after throttling every worker waits out hold_until. */
static void rate_take(struct rk *r)
{
	pthread_mutex_lock(&r->lock);
	for (;;) {
		uint64_t now = clock_ms(), wait = 0;
		double rate = r->o->max_rate, cap = rate > 1 ? rate : 1;

		if (r->hold_until > now) {
			wait = r->hold_until - now;
		} else if (rate > 0) {
			r->tokens += (double)(now - r->last_ms) * rate / 1000;
			r->last_ms = now;
			if (r->tokens > cap)
				r->tokens = cap;
			if (r->tokens < 1)
				wait = (uint64_t)ceil((1 - r->tokens) * 1000 /
						      rate);
		}
		if (!wait)
			break;
		pthread_mutex_unlock(&r->lock);
		clock_sleep_ms(wait);
		pthread_mutex_lock(&r->lock);
	}
	if (r->o->max_rate > 0)
		r->tokens -= 1;
	pthread_mutex_unlock(&r->lock);
}

/* ---- one file ---------------------------------------------------------- */

static bool retryable(enum kek_status st)
{
	return st == KEK_E_THROTTLED || st == KEK_E_UNAVAILABLE ||
	       st == KEK_E_TIMEOUT;
}

/* Writes one slot (or zeros) at its offset, then syncs: nothing else of
 * the header is touched. */
static int put_slot(int fd, const struct hdr *h, int i, bool zero)
{
	uint8_t buf[HDR_LEN];
	unsigned off = hdr_slot_offset(i);

	if (zero)
		memset(buf + off, 0, HDR_SLOT_LEN);
	else
		hdr_encode(h, buf);
	if (pwrite(fd, buf + off, HDR_SLOT_LEN, off) != HDR_SLOT_LEN)
		return -1;
	return fdatasync(fd);
}

/* Wraps dek with the target into slot j of h, generation above both. */
static enum kek_status fill_slot(struct rk *r, struct hdr *h, int j,
				 const uint8_t dek[KEY_LEN], char *kerr)
{
	struct hdr_slot *s = &h->slot[j];
	uint32_t g = h->slot[0].gen > h->slot[1].gen ? h->slot[0].gen
						     : h->slot[1].gen;
	uint8_t rec[REC_LEN];
	size_t wl = 0;
	enum kek_status st;

	memset(s, 0, sizeof(*s));
	rec_pack(REC_MAGIC_DEK, h->file_id, dek, rec);
	st = kek_wrap(r->target, rec, sizeof(rec), s->wrapped, &wl, s->kid,
		      &s->alg, kerr);
	secmem_wipe(rec, sizeof(rec));
	if (st != KEK_OK)
		return st;
	s->gen = g + 1;
	s->wlen = (uint16_t)wl;
	if (hdr_slot_seal(h, j, r->v.vk, dek) != 0) {
		snprintf(kerr, KEK_ERR_MAX, "cannot seal the slot");
		return KEK_E_CRYPTO;
	}
	return KEK_OK;
}

/* The rewrap itself, the header already read and the DEK known from slot
 * vi: the spare slot first, then the old one cleared. */
static enum outcome rewrap(struct rk *r, int fd, struct hdr *h, int vi,
			   const uint8_t dek[KEY_LEN], enum kek_status *st,
			   char *why, size_t n)
{
	char kerr[KEK_ERR_MAX];
	int j = 1 - vi;

	if (kid_current(r, h->slot[vi].kid)) {
		/* An earlier run stopped before clearing the old slot (or
		 * the other slot does not verify). */
		if (!h->slot[j].gen && !h->bad[j])
			return OUT_CURRENT;
		if (put_slot(fd, h, j, true) != 0)
			goto io;
		h->slot[j].gen = 0;
		return OUT_DONE;
	}
	*st = fill_slot(r, h, j, dek, kerr);
	if (*st != KEK_OK) {
		snprintf(why, n, "cannot wrap its key: %s", kerr);
		return retryable(*st) ? OUT_RETRY : OUT_FAILED;
	}
	if (put_slot(fd, h, j, false) != 0 || put_slot(fd, h, vi, true) != 0)
		goto io;
	h->slot[vi].gen = 0;
	return OUT_DONE;
io:
	snprintf(why, n, "cannot write the header: %s", strerror(errno));
	return OUT_FAILED;
}

/* One file's rewrap. *unreadable says that its header could not be read
 * or parsed (a retry soon may find it whole), not that the HSM failed. */
static enum outcome do_file(struct rk *r, struct item *it, struct hdr *h,
			    char *why, size_t n, bool *unreadable)
{
	uint8_t *dek = secmem_alloc(KEY_LEN);
	const char *pwhy;
	enum kek_status st = KEK_OK;
	enum outcome out;
	int fd = -1, order[HDR_SLOTS], vi, rd;

	*unreadable = false;
	if (!dek) {
		snprintf(why, n, "out of memory");
		return OUT_FAILED;
	}
	rd = read_hdr(r, it->file, O_RDWR, &fd, h, &pwhy);
	if (rd < 1) {
		*unreadable = rd < -1;
		if (*unreadable)
			snprintf(why, n, "%s: %s", rd == -2 ? "bad header" :
				 "cannot read the header", pwhy);
		out = rd == 0 ? OUT_EMPTY : rd == -1 ? OUT_GONE : OUT_RETRY;
		goto out;
	}
	if (hdr_slot_order(h, order) == 1 && !h->bad[0] && !h->bad[1] &&
	    kid_current(r, h->slot[order[0]].kid)) {
		out = OUT_CURRENT;
		goto out;
	}
	rate_take(r);
	vi = vol_file_key_slot(&r->v, h, dek, &st, why, n);
	if (vi < 0)
		out = retryable(st) ? OUT_RETRY : OUT_FAILED;
	else
		out = rewrap(r, fd, h, vi, dek, &st, why, n);
	if (out == OUT_RETRY && retryable(st)) {
		/* Everyone slows down, not only this worker. */
		pthread_mutex_lock(&r->lock);
		r->hold_until = clock_ms() + HOLD_MS;
		pthread_mutex_unlock(&r->lock);
	}
out:
	if (fd >= 0)
		close(fd);
	secmem_free(dek, KEY_LEN);
	return out;
}

/* Records a file's outcome; retries go back into the queue. */
static void finish_file(struct rk *r, struct item *it, enum outcome out,
			const struct hdr *h, const char *why, bool parse)
{
	struct failure *f;
	uint64_t delay;

	pthread_mutex_lock(&r->lock);
	r->inflight--;
	if (out == OUT_RETRY) {
		delay = parse ? PARSE_DELAY_MS :
			(uint64_t)1000 << (it->tries < 5 ? it->tries : 5);
		if (delay > HSM_DELAY_MAX_MS)
			delay = HSM_DELAY_MAX_MS;
		delay += (uint64_t)(rand() % 250);
		if (q_retry(r, it, parse ? PARSE_TRIES : HSM_TRIES, delay))
			goto out;
		out = OUT_FAILED;
	}
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
		f = realloc(r->fails, (r->nfails + 1) * sizeof(*f));
		if (!f)
			break;
		r->fails = f;
		f[r->nfails].file = it->file;
		snprintf(f[r->nfails].why, sizeof(f->why), "%s", why);
		r->nfails++;
	}
out:
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static void *worker(void *arg)
{
	struct rk *r = arg;
	struct item it;
	char why[KEK_ERR_MAX + 128];
	struct hdr h;

	while (q_take(r, &it)) {
		enum outcome out;
		bool unreadable;

		why[0] = '\0';
		memset(&h, 0, sizeof(h));
		out = do_file(r, &it, &h, why, sizeof(why), &unreadable);
		finish_file(r, &it, out, &h, why,
			    out == OUT_RETRY && unreadable);
	}
	return NULL;
}

/* ---- progress ---------------------------------------------------------- */

/* At most five redraws a second, on a terminal only. */
static void *progress(void *arg)
{
	struct rk *r = arg;

	for (;;) {
		unsigned long done, total = r->nfiles;
		double secs, rate;
		char bar[31];
		int fill;
		bool stop;

		clock_sleep_ms(200);
		pthread_mutex_lock(&r->lock);
		done = r->done;
		stop = r->stop_progress;
		pthread_mutex_unlock(&r->lock);
		secs = (double)(clock_ms() - r->start_ms) / 1000;
		rate = secs > 0 ? (double)done / secs : 0;
		fill = total ? (int)(30 * done / total) : 30;
		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '-', (size_t)(30 - fill));
		bar[30] = '\0';
		fprintf(stderr, "\r[%s] %lu/%lu files  %.1f/s  ETA ", bar, done,
			total, rate);
		if (rate > 0 && done < total)
			fprintf(stderr, "%lus\033[K",
				(unsigned long)((double)(total - done) / rate));
		else
			fprintf(stderr, "-\033[K");
		if (stop) {
			fputc('\n', stderr);
			return NULL;
		}
	}
}

/* ---- config, pin, daemon ---------------------------------------------- */

static int unlock(struct rk *r)
{
	char err[768];

	if (r->unlocked)
		return 0;
	if (vol_unlock(&r->v, err, sizeof(err)) != 0) {
		fprintf(stderr, "hsmfs rekey: %s\n", err);
		return -1;
	}
	r->unlocked = true;
	return 0;
}

/* The config's new volume-key slot, KEK and previous KEKs. */
static int new_conf(struct rk *r, struct conf *c)
{
	char kerr[KEK_ERR_MAX];
	uint8_t rec[REC_LEN];
	size_t wl = 0;
	enum kek_status st;

	*c = r->v.conf;
	if (strcmp(c->kek, r->target_url) != 0) {
		int k = 0;

		for (int i = 0; i < c->nprev; i++)
			if (strcmp(c->prev_kek[i], r->target_url) &&
			    strcmp(c->prev_kek[i], c->kek) && k++ != i)
				memmove(c->prev_kek[k - 1], c->prev_kek[i],
					sizeof(c->prev_kek[i]));
		if (k == CONF_PREV_MAX) {
			fprintf(stderr, "hsmfs rekey: the volume already has %d "
				"previous KEKs: finish an earlier rekey first "
				"(hsmfs rekey --check)\n", k);
			return -1;
		}
		snprintf(c->prev_kek[k++], HDR_KID_MAX + 1, "%s", c->kek);
		c->nprev = k;
		snprintf(c->kek, sizeof(c->kek), "%s", r->target_url);
	}
	rec_pack(REC_MAGIC_VK, c->volume_id, r->v.vk, rec);
	st = kek_wrap(r->target, rec, sizeof(rec), c->vk.wrapped, &wl,
		      c->vk.kid, &c->vk.alg, kerr);
	secmem_wipe(rec, sizeof(rec));
	if (st != KEK_OK) {
		fprintf(stderr, "hsmfs rekey: cannot wrap the volume key: %s\n",
			kerr);
		return -1;
	}
	c->vk.wlen = (uint16_t)wl;
	return conf_seal(c, r->v.vk);
}

/* The pin follows the config's KEK: the operator asked for the move. The
 * key check value stays, the volume key being the same. */
static int update_pin(struct rk *r, const char *kek)
{
	struct pin p;
	char err[768];
	int have;

	if (r->o->vo.no_pin_store)
		return 0;
	have = pin_read(r->v.conf.volume_id, &p, err, sizeof(err));
	if (have < 0)
		goto fail;
	/* No pin yet: the first mount makes one. */
	if (!have || !strcmp(p.kek, kek))
		return 0;
	snprintf(p.kek, sizeof(p.kek), "%s", kek);
	if (pin_write(r->v.conf.volume_id, &p, err, sizeof(err)) == 0) {
		printf("pin: now names KEK %s\n", p.kek);
		return 0;
	}
fail:
	fprintf(stderr, "hsmfs rekey: %s\n", err);
	return -1;
}

/* Writes the new config and reloads it into our own volume (which then
 * wraps with the target and unwraps with the old KEKs too). */
static int store_conf(struct rk *r, struct conf *c, const char *what)
{
	char err[768];
	int e;

	if ((e = conf_store(r->v.rootfd, c)) < 0) {
		fprintf(stderr, "hsmfs rekey: cannot write %s: %s\n", CONF_NAME,
			strerror(-e));
		return -1;
	}
	printf("config: %s\n", what);
	if (update_pin(r, c->kek) != 0)
		return -1;
	if (vol_reload(&r->v, err, sizeof(err)) != 0) {
		fprintf(stderr, "hsmfs rekey: %s\n", err);
		return -1;
	}
	r->target = vol_kek(&r->v);
	return 0;
}

static int rewrap_conf(struct rk *r)
{
	struct conf c;

	if (!strcmp(r->v.conf.kek, r->target_url) &&
	    kid_current(r, r->v.conf.vk.kid)) {
		pthread_mutex_lock(&r->lock);
		count_ref(r, r->v.conf.vk.kid, true);
		pthread_mutex_unlock(&r->lock);
		printf("volume key: already wrapped by %s\n", r->v.conf.vk.kid);
		return update_pin(r, r->v.conf.kek);
	}
	if (unlock(r) || new_conf(r, &c))
		return -1;
	if (store_conf(r, &c, "volume key rewrapped") != 0)
		return -1;
	pthread_mutex_lock(&r->lock);
	count_ref(r, r->v.conf.vk.kid, true);
	pthread_mutex_unlock(&r->lock);
	printf("volume key: rewrapped by %s\n", r->v.conf.vk.kid);
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
	if (e == 0 && !strncmp(ans, "reloaded", 8)) {
		printf("mount %s: %s", r->mnt, ans);
		return 0;
	}
	fprintf(stderr, "hsmfs rekey: %s: the daemon did not reload the "
		"config: %s%s", r->mnt, e ? strerror(-e) : ans,
		e ? "\n" : "");
	if (must)
		fprintf(stderr, "hsmfs rekey: files are not rewrapped while "
			"the mount cannot read them; unmount, or fix and "
			"re-run\n");
	return must ? -1 : 0;
}

/* previous_keks can go once no header names one of them. Headers only:
 * a re-walk catches files created meanwhile. */
static int drop_previous(struct rk *r)
{
	struct walk w = {
		.plaintext_names = r->v.conf.features & FEAT_PLAINTEXT_NAMES,
		.entry = collect, .ctx = r,
	};
	const char *why;
	struct conf c;
	struct hdr h;
	size_t first = r->nfiles;

	if (r->v.conf.nprev == 0 || r->failed)
		return 0;
	if (walk_tree(&w, r->v.rootfd) != 0)
		return 0;
	for (size_t i = first; i < r->nfiles; i++) {
		int rd = read_hdr(r, i, O_RDONLY, NULL, &h, &why);

		if (rd < -1 || (rd == 1 &&
		    ((h.slot[0].gen && !kek_owns(r->target, h.slot[0].kid)) ||
		     (h.slot[1].gen && !kek_owns(r->target, h.slot[1].kid)))))
			return 0;
	}
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

static void print_kids(struct rk *r)
{
	printf("KEK versions referenced:\n");
	for (size_t i = 0; i < r->nkids; i++)
		printf("  %-7s %8lu files%s  %s\n",
		       kid_current(r, r->kids[i].kid) ? "current" : "old",
		       r->kids[i].files, r->kids[i].vk ? " + volume key" : "",
		       r->kids[i].kid);
}

static bool old_referenced(struct rk *r)
{
	for (size_t i = 0; i < r->nkids; i++)
		if (!kid_current(r, r->kids[i].kid))
			return true;
	return false;
}

static void print_failures(struct rk *r)
{
	struct walk w = {
		.nk = r->v.nk,
		.plaintext_names = r->v.conf.features & FEAT_PLAINTEXT_NAMES,
	};
	char plain[4096];

	for (size_t i = 0; i < r->nfails; i++) {
		const char *bp = r->files[r->fails[i].file];
		bool have = (w.nk || w.plaintext_names) &&
			    walk_plain_path(&w, r->v.rootfd, bp, plain,
					    sizeof(plain)) == 0;

		printf("  FAILED %s/%s%s%s%s: %s\n", r->v.cipherdir, bp,
		       have ? " (" : "", have ? plain : "", have ? ")" : "",
		       r->fails[i].why);
	}
}

static void report(struct rk *r)
{
	double secs = (double)(clock_ms() - r->start_ms) / 1000;

	printf("files: %zu, rewrapped %lu, already current %lu, empty %lu, "
	       "gone %lu, failed %lu (%.1f s)\n", r->nfiles, r->rewrapped,
	       r->current, r->empty, r->gone, r->failed, secs);
	print_failures(r);
	print_kids(r);
}

/* ---- the run ----------------------------------------------------------- */

/* Reads every header once: files already current need no work (and no
 * HSM call); the rest go into the queue. --check stops here. */
static int classify(struct rk *r, bool check)
{
	const char *why;
	struct hdr h;

	if (!(r->work = calloc(r->nfiles + 1, sizeof(*r->work))))
		return -1;
	for (size_t i = 0; i < r->nfiles; i++) {
		int order[HDR_SLOTS], rd;

		rd = read_hdr(r, i, O_RDONLY, NULL, &h, &why);
		if (rd == 1 && hdr_slot_order(&h, order) == 1 &&
		    kid_current(r, h.slot[order[0]].kid)) {
			r->current++;
			r->done++;
			count_kid(r, h.slot[order[0]].kid);
		} else if (check && rd == 1) {
			count_hdr(r, &h);
		} else if (check && rd < -1) {
			printf("  unreadable header: %s/%s: %s\n",
			       r->v.cipherdir, r->files[i], why);
			count_kid(r, "(unreadable header)");
		} else if (rd == 0 || rd == -1) {
			/* Empty (no key) or gone: nothing to do. */
			r->empty += rd == 0;
			r->gone += rd == -1;
			r->done++;
		} else if (!check) {
			r->work[r->nwork++].file = i;
		}
	}
	return 0;
}

static int run_workers(struct rk *r)
{
	pthread_t *t = calloc(r->o->jobs, sizeof(*t)), prog;
	bool bar = !r->o->quiet && isatty(2);
	unsigned n = 0;

	if (!t)
		return -1;
	if (bar && pthread_create(&prog, NULL, progress, r) != 0)
		bar = false;
	for (; n < r->o->jobs; n++)
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
	return 0;
}

/* The target KEK and its current version; vol_peek has checked the pin
 * of the config's KEK, and --to names the other one explicitly. */
static int open_target(struct rk *r)
{
	char kerr[KEK_ERR_MAX];
	struct kek_info info;
	struct kek_opts ko = r->o->vo.kek;

	snprintf(r->target_url, sizeof(r->target_url), "%s",
		 r->o->to ? r->o->to : r->v.conf.kek);
	if (!strcmp(r->target_url, r->v.conf.kek)) {
		r->target = vol_kek(&r->v);
	} else {
		memset(ko.endpoints, 0, sizeof(ko.endpoints));
		if (kek_open(r->target_url, &ko, &r->own_target, kerr) != KEK_OK)
			goto fail;
		r->target = r->own_target;
	}
	if (kek_describe(r->target, &info, kerr) != KEK_OK)
		goto fail;
	snprintf(r->target_kid, sizeof(r->target_kid), "%s", info.kid);
	return 0;
fail:
	fprintf(stderr, "hsmfs rekey: cannot use KEK %s: %s\n", r->target_url,
		kerr);
	return -1;
}

static enum rekey_result check_report(struct rk *r)
{
	bool old;

	pthread_mutex_lock(&r->lock);
	count_ref(r, r->v.conf.vk.kid, true);
	pthread_mutex_unlock(&r->lock);
	printf("target: %s\n", r->target_kid);
	printf("volume key: %s (%s)\n", r->v.conf.vk.kid,
	       kid_current(r, r->v.conf.vk.kid) ? "current" : "old");
	for (int i = 0; i < r->v.conf.nprev; i++)
		printf("previous KEK still listed: %s\n", r->v.conf.prev_kek[i]);
	printf("files: %zu, with the current version only %lu\n", r->nfiles,
	       r->current);
	print_kids(r);
	old = old_referenced(r) || strcmp(r->v.conf.kek, r->target_url);
	printf("%s\n", old ? "older KEK versions are still needed: run "
			     "hsmfs rekey" :
			     "only the current KEK version is needed");
	return old ? REKEY_OLD_NEEDED : REKEY_OK;
}

static enum rekey_result run(struct rk *r)
{
	if (r->o->check) {
		if (collect_files(r) || classify(r, true))
			return REKEY_CANNOT_TELL;
		return check_report(r);
	}
	printf("target: %s\n", r->target_kid);
	if (rewrap_conf(r) || tell_daemon(r, r->v.nold > 0))
		return REKEY_FAILED;
	if (collect_files(r) || classify(r, false))
		return REKEY_FAILED;
	if (r->nwork > 0 && unlock(r))
		return REKEY_FAILED;
	if (r->nwork > 0)
		run_workers(r);
	if (!isatty(2) || r->o->quiet)
		fprintf(stderr, "hsmfs rekey: %lu/%zu files done\n", r->done,
			r->nfiles);
	report(r);
	if (drop_previous(r) != 0)
		return REKEY_FAILED;
	return r->failed ? REKEY_FAILED : REKEY_OK;
}

enum rekey_result rekey_kek(const char *cipherdir, struct rekey_opts *o)
{
	struct rk *r = calloc(1, sizeof(*r));
	char err[768];
	enum rekey_result ret = o->check ? REKEY_CANNOT_TELL : REKEY_FAILED;
	int m;

	if (!r)
		return ret;
	r->o = o;
	r->start_ms = r->last_ms = clock_ms();
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	o->vo.rekey_to = o->to;
	if (vol_peek(&r->v, cipherdir, &o->vo, err, sizeof(err)) != 0) {
		fprintf(stderr, "hsmfs rekey: %s\n", err);
		goto out;
	}
	if ((m = mnt_find(cipherdir, r->mnt, sizeof(r->mnt))) < 0) {
		fprintf(stderr, "hsmfs rekey: cannot read the mount table: "
			"%s\n", strerror(-m));
		goto out;
	}
	r->mounted = m == 1;
	if (open_target(r) == 0)
		ret = run(r);
out:
	kek_close(r->own_target);
	vol_close(&r->v);
	for (size_t i = 0; i < r->nfiles; i++)
		free(r->files[i]);
	free(r->files);
	free(r->work);
	free(r->retry);
	free(r->kids);
	free(r->fails);
	free(r);
	return ret;
}
