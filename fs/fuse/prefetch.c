/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key prefetch for directory scans. A backup, a copy or a grep opens the
 * files of a directory one after the other, in directory order (tar, cp,
 * rsync, find) or in name order (a shell glob, ls); with each key in the
 * HSM a round trip away, that is one round trip per file, in turn. When two
 * opens in a row follow one of these orders, the keys of the next files in
 * that order are unwrapped ahead by a few worker threads, the window
 * doubling while the scan goes on, like readahead. A single open never
 * prefetches, so a scan wastes at most one window of unwraps at its end.
 * A scan that reaches the end of a directory and opens the first file of
 * another within a second goes on there at once (tar, cp -r and find go
 * from one directory to the next), with a window of at most PF_CARRY_MAX:
 * an open that only looked like the next step wastes no more than that.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "ename.h"
#include "fs/vol/filekey.h"
#include "audit.h"
#include "prefetch.h"

#define PF_WINDOW_MAX 64
#define PF_CARRY_MAX 8
#define PF_QUEUE 256
#define PF_MAX_ENTRIES 200000
#define PF_LOG_MS 10000

enum { ORD_DIR, ORD_NAME, NORD };

struct pfentry {
	uint64_t hash;  /* of the backing name */
	char *bname;
	char *plain;    /* only while sorting */
};

/* Per directory: a snapshot of its regular files, in directory order and
 * in name order, and for each order the position of the last open and how
 * far ahead keys have been handed out. */
struct pfstate {
	pthread_mutex_t lock;
	struct pfentry *e;
	unsigned n;
	unsigned *order[NORD];  /* order[o][i]: entry index */
	unsigned *pos[NORD];    /* pos[o][entry]: position in order o */
	long last[NORD];        /* position of the last open, -1: none */
	long queued[NORD];      /* handed out up to this position */
	unsigned window[NORD];
	time_t built;
};

/* A job keeps its directory's inode (a reference, not a descriptor:
 * a full queue costs no descriptors). */
struct job {
	struct inode *dir;
	char name[NAME_ENC_MAX];
};

static struct {
	struct fsd *fs;
	pthread_t *threads;
	unsigned nthreads;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job q[PF_QUEUE];
	unsigned head, len;
	bool stop;
	/* The window of the last scan that ran off the end of a directory,
	 * and when (clock_ms()); under lock. */
	unsigned carry;
	uint64_t carry_at;
} P = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static uint64_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h | 1; /* 0 means "none" */
}

void prefetch_note_entry(struct inode *in, struct inode *dir,
			 const char *bname)
{
	atomic_store_explicit(&in->pf_pino, dir->ino, memory_order_relaxed);
	atomic_store_explicit(&in->pf_pdev, dir->dev, memory_order_relaxed);
	atomic_store_explicit(&in->pf_hash, name_hash(bname),
			      memory_order_relaxed);
}

static void drop_snapshot(struct pfstate *pf)
{
	for (unsigned i = 0; i < pf->n; i++)
		free(pf->e[i].bname);
	free(pf->e);
	for (int o = 0; o < NORD; o++) {
		free(pf->order[o]);
		free(pf->pos[o]);
		pf->order[o] = pf->pos[o] = NULL;
		pf->last[o] = pf->queued[o] = -1;
		pf->window[o] = 0;
	}
	pf->e = NULL;
	pf->n = 0;
}

void prefetch_free(struct pfstate *pf)
{
	if (!pf)
		return;
	drop_snapshot(pf);
	pthread_mutex_destroy(&pf->lock);
	free(pf);
}

/* A failed prefetch only costs its unwrap (the open that needs the key
 * tries again, and logs its own failure), but an HSM that throttles or
 * fails must show in the log: one line, with its cause, every
 * PF_LOG_MS at most, counting the failures not logged. */
static void log_failure(const struct job *j, int dirfd, const char *why)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static uint64_t last;
	static unsigned long quiet;
	char path[512];
	uint64_t now = clock_ms();

	pthread_mutex_lock(&lock);
	if (last && now - last < PF_LOG_MS) {
		quiet++;
		pthread_mutex_unlock(&lock);
		return;
	}
	log_warn("prefetch: %s/%s: %s (%lu more prefetch failures not "
		 "logged)", inode_path(dirfd, path, sizeof(path)), j->name,
		 why, quiet);
	last = now;
	quiet = 0;
	pthread_mutex_unlock(&lock);
}

/* Reads the header of one file (its directory held) and unwraps its key
 * into the cache. */
static void fetch(struct job *j)
{
	uint8_t dek[KEY_LEN];
	char why[KEK_ERR_MAX + 128];
	const char *hwhy;
	enum kek_status st;
	struct hdr h;
	enum vol_key_src src = VOL_KEY_CACHE;
	int err, fd;

	/* Never waited on: whoever controls the backing directory could
	 * put a FIFO where a file was listed. */
	fd = inode_openat(P.fs, j->dir->fd, j->name, O_RDONLY | O_NOFOLLOW |
			  O_NONBLOCK | O_CLOEXEC, 0);
	if (fd < 0)
		return;
	if ((err = hdr_read(fd, &h, &hwhy)) == 0) {
		err = vol_file_key_slot(&P.fs->vol, &h, dek, &st, &src,
					why, sizeof(why));
	} else {
		snprintf(why, sizeof(why), "cannot read the header: %s",
			 err == -EINVAL || err == -ENOKEY ? hwhy
							 : strerror(-err));
	}
	secmem_wipe(dek, sizeof(dek));
	if (err < 0 && err != -ENOKEY) {
		atomic_fetch_add(&P.fs->prefetch_failed, 1);
		log_failure(j, j->dir->fd, why);
	} else if (err >= 0 && src == VOL_KEY_HSM) {
		atomic_fetch_add(&P.fs->prefetched, 1);
		(void)audit_key(P.fs, NULL, "prefetch", fd, &h, err, "hsm", 0);
	}
	close(fd);
}

static void *worker(void *arg)
{
	struct job j;

	(void)arg;
	pthread_mutex_lock(&P.lock);
	for (;;) {
		while (!P.stop && P.len == 0)
			pthread_cond_wait(&P.cond, &P.lock);
		if (P.stop)
			break;
		j = P.q[P.head];
		P.head = (P.head + 1) % PF_QUEUE;
		P.len--;
		pthread_mutex_unlock(&P.lock);
		if (inode_hold(P.fs, j.dir) == 0) {
			fetch(&j);
			inode_unhold(P.fs, j.dir);
		}
		inode_unref(P.fs, j.dir, 1);
		pthread_mutex_lock(&P.lock);
	}
	pthread_mutex_unlock(&P.lock);
	return NULL;
}

static bool enqueue(struct inode *dir, const char *name)
{
	struct job *j;

	if (strlen(name) >= NAME_ENC_MAX)
		return false;
	pthread_mutex_lock(&P.lock);
	if (P.len == PF_QUEUE || P.stop) {
		pthread_mutex_unlock(&P.lock);
		return false;
	}
	inode_grab(P.fs, dir);
	j = &P.q[(P.head + P.len++) % PF_QUEUE];
	j->dir = dir;
	strcpy(j->name, name);
	pthread_cond_signal(&P.cond);
	pthread_mutex_unlock(&P.lock);
	return true;
}

static int is_candidate(struct fsd *fs, struct inode *dir,
			const struct dirent *de)
{
	return (de->d_type == DT_REG || de->d_type == DT_UNKNOWN) &&
	       strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
	       ename_kind(fs, dir, de->d_name) == BNAME_ENTRY;
}

static int add_entry(struct pfstate *pf, unsigned *cap, const char *name)
{
	if (pf->n == *cap) {
		unsigned nc = *cap ? *cap * 2 : 64;
		struct pfentry *e = realloc(pf->e, nc * sizeof(*e));

		if (!e)
			return -1;
		pf->e = e;
		*cap = nc;
	}
	pf->e[pf->n].hash = name_hash(name);
	pf->e[pf->n].plain = NULL;
	if (!(pf->e[pf->n].bname = strdup(name)))
		return -1;
	pf->n++;
	return 0;
}

static int by_plain(const void *a, const void *b, void *arg)
{
	const struct pfentry *e = arg;
	const char *x = e[*(const unsigned *)a].plain;
	const char *y = e[*(const unsigned *)b].plain;

	return strcmp(x ? x : "", y ? y : "");
}

/* Both orders over the snapshot, and each entry's place in them. */
static int make_orders(struct fsd *fs, struct pfstate *pf, struct inode *dir,
		       int dfd)
{
	const char *why;
	char plain[256];

	for (int o = 0; o < NORD; o++) {
		pf->order[o] = malloc((pf->n + 1) * sizeof(unsigned));
		pf->pos[o] = malloc((pf->n + 1) * sizeof(unsigned));
		if (!pf->order[o] || !pf->pos[o])
			return -1;
		for (unsigned i = 0; i < pf->n; i++)
			pf->order[o][i] = i;
	}
	/* A name that does not decode sorts first; the listing reports it. */
	for (unsigned i = 0; i < pf->n; i++)
		if (ename_decode(fs, dir, dfd, pf->e[i].bname, plain,
				 &why) == 1)
			pf->e[i].plain = strdup(plain);
	qsort_r(pf->order[ORD_NAME], pf->n, sizeof(unsigned), by_plain, pf->e);
	for (unsigned i = 0; i < pf->n; i++) {
		free(pf->e[i].plain);
		pf->e[i].plain = NULL;
		for (int o = 0; o < NORD; o++)
			pf->pos[o][pf->order[o][i]] = i;
	}
	return 0;
}

/* A fresh snapshot of the directory's regular files. */
static int snapshot(struct fsd *fs, struct pfstate *pf, struct inode *dir)
{
	int fd = inode_openat(fs, dir->fd, ".", O_RDONLY | O_DIRECTORY |
			      O_CLOEXEC, 0);
	unsigned cap = 0;
	struct dirent *de;
	DIR *dp;
	int err = -1;

	drop_snapshot(pf);
	pf->built = time(NULL);
	if (fd < 0 || !(dp = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(dp)) && pf->n < PF_MAX_ENTRIES)
		if (is_candidate(fs, dir, de) &&
		    add_entry(pf, &cap, de->d_name))
			goto out;
	err = make_orders(fs, pf, dir, dirfd(dp));
out:
	closedir(dp);
	if (err)
		drop_snapshot(pf);
	return err;
}

static long find_entry(const struct pfstate *pf, uint64_t h)
{
	for (unsigned i = 0; i < pf->n; i++)
		if (pf->e[i].hash == h)
			return i;
	return -1;
}

/* A scan's window passed on to the next directory: put when a scan
 * opens the last file of one, taken (once) by the first open of the
 * next; a carry older than a second is not a scan going on. */
static void carry_put(unsigned window)
{
	pthread_mutex_lock(&P.lock);
	P.carry = window < PF_CARRY_MAX ? window : PF_CARRY_MAX;
	P.carry_at = clock_ms();
	pthread_mutex_unlock(&P.lock);
}

static unsigned carry_get(bool take)
{
	unsigned w;

	pthread_mutex_lock(&P.lock);
	w = P.carry && clock_ms() - P.carry_at < 1000 ? P.carry : 0;
	if (take)
		P.carry = 0;
	pthread_mutex_unlock(&P.lock);
	return w;
}

/* Hands out the keys of the next files in order o, up to its window. */
static void fill(struct pfstate *pf, struct inode *dir, int o)
{
	long until = pf->last[o] + (long)pf->window[o];

	if (pf->queued[o] < pf->last[o])
		pf->queued[o] = pf->last[o];
	while (pf->queued[o] < until && pf->queued[o] + 1 < (long)pf->n) {
		unsigned e = pf->order[o][pf->queued[o] + 1];

		if (!enqueue(dir, pf->e[e].bname))
			break;
		pf->queued[o]++;
	}
}

/* Follows an open of entry i in each order: the next one in an order
 * grows that order's window, anything else ends its stream. */
static void follow(struct pfstate *pf, struct inode *dir, long i)
{
	for (int o = 0; o < NORD; o++) {
		long p = pf->pos[o][i];

		if (pf->last[o] >= 0 && p == pf->last[o] + 1) {
			pf->window[o] = pf->window[o] ? pf->window[o] * 2 : 4;
			if (pf->window[o] > PF_WINDOW_MAX)
				pf->window[o] = PF_WINDOW_MAX;
		} else if (o == ORD_DIR && p == 0 &&
			   (pf->window[o] = carry_get(true))) {
			pf->queued[o] = p;
		} else if (!(pf->window[o] && p > pf->last[o] &&
			     p <= pf->queued[o])) {
			pf->window[o] = 0;
			pf->queued[o] = p;
		}
		pf->last[o] = p;
		if (pf->window[o])
			fill(pf, dir, o);
		if (o == ORD_DIR && pf->window[o] && p + 1 == (long)pf->n)
			carry_put(pf->window[o]);
	}
}

static struct pfstate *state_of(struct inode *dir)
{
	struct pfstate *pf;

	pthread_mutex_lock(&dir->iv_lock);
	if (!dir->pf && (dir->pf = calloc(1, sizeof(*dir->pf)))) {
		pthread_mutex_init(&dir->pf->lock, NULL);
		drop_snapshot(dir->pf);
	}
	pf = dir->pf;
	pthread_mutex_unlock(&dir->iv_lock);
	return pf;
}

/* The first key unwrapped in a directory costs nothing extra; from the
 * second on, the directory is listed once so scans can be followed. */
static void advance(struct fsd *fs, struct pfstate *pf, struct inode *dir,
		    uint64_t h, bool unwrapped)
{
	long i;

	pthread_mutex_lock(&pf->lock);
	if (!pf->e && !unwrapped)
		goto out;
	if (!pf->e && pf->built == 0 && !carry_get(false)) {
		pf->built = 1; /* seen one miss: list at the next */
		goto out;
	}
	i = pf->e ? find_entry(pf, h) : -1;
	if (i < 0 && unwrapped && time(NULL) != pf->built) {
		snapshot(fs, pf, dir);
		i = find_entry(pf, h);
	}
	if (i >= 0)
		follow(pf, dir, i);
out:
	pthread_mutex_unlock(&pf->lock);
}

void prefetch_opened(struct fsd *fs, struct inode *in, bool unwrapped)
{
	uint64_t h = atomic_load_explicit(&in->pf_hash, memory_order_relaxed);
	struct inode *dir;
	struct pfstate *pf;

	if (!P.nthreads || !h)
		return;
	dir = inode_find(fs, (ino_t)atomic_load(&in->pf_pino),
			 (dev_t)atomic_load(&in->pf_pdev));
	if (!dir)
		return;
	if (dir->type == S_IFDIR && (pf = state_of(dir)) &&
	    inode_hold(fs, dir) == 0) {
		advance(fs, pf, dir, h, unwrapped);
		inode_unhold(fs, dir);
	}
	inode_unref(fs, dir, 1);
}

int prefetch_start(struct fsd *fs, unsigned workers)
{
	P.fs = fs;
	if (!workers)
		return 0;
	P.threads = calloc(workers, sizeof(*P.threads));
	if (!P.threads)
		return -ENOMEM;
	for (; P.nthreads < workers; P.nthreads++)
		if (pthread_create(&P.threads[P.nthreads], NULL, worker, NULL))
			break;
	return 0;
}

void prefetch_stop(void)
{
	pthread_mutex_lock(&P.lock);
	P.stop = true;
	pthread_cond_broadcast(&P.cond);
	pthread_mutex_unlock(&P.lock);
	for (unsigned i = 0; i < P.nthreads; i++)
		pthread_join(P.threads[i], NULL);
	while (P.len) {
		inode_unref(P.fs, P.q[P.head].dir, 1);
		P.head = (P.head + 1) % PF_QUEUE;
		P.len--;
	}
	free(P.threads);
	P.threads = NULL;
	P.nthreads = 0;
}
