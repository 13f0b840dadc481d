/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Following the KEK's versions: one thread, its state in F. See follow.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "fs/vol/bname.h"
#include "fs/vol/rewrap.h"
#include "follow.h"

#define LOG_FAILS 10         /* failed headers logged per walk */
#define BACKOFF_MS 1000      /* after a throttled or unavailable HSM */
#define BACKOFF_MAX_MS 30000

/* What a step of the walk says: go on, start over (held, or a new
 * version), or stop (unmounting). */
enum { GO_ON, AGAIN, STOP };

static struct {
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t cond;
	pthread_t thread;
	bool running, stop;
	struct fsd *fs;
	unsigned interval_s, rate;
	bool ro;
	/* The last answer of the HSM. */
	struct vol_rewrap_to to;
	uint64_t checked_ms, next_check_ms;
	unsigned long long checks, check_failures;
	char error[KEK_ERR_MAX];
	/* File mode: headers may still name an older version (pending), a
	 * walk is due (walk_now) or under way (walking). */
	bool pending, walk_now, walking;
	unsigned long total, done, rewrapped, failed, unwraps;
	uint64_t walk_ms, ended_ms;
	double next_token_ms;
	unsigned backoff_ms;
	/* hsmfs rekey holds us still while busy is false. */
	unsigned holds;
	bool busy, restart;
} F = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static const char *version_of(const char *kid)
{
	const char *s = strrchr(kid, '/');

	return s ? s + 1 : kid[0] ? kid : "-";
}

/* Two kids of the KEK name the same version: the host part differs
 * after a failover to another endpoint. */
static bool same_version(const char *a, const char *b)
{
	return strcasecmp(version_of(a), version_of(b)) == 0;
}

/* Under F.lock: until clock_ms() reaches until, stop, or (if wake) a
 * restart was asked for. */
static void wait_until(uint64_t until, bool wake)
{
	struct timespec ts;
	uint64_t now;

	while (!F.stop && !(wake && F.restart) && (now = clock_ms()) < until) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)((until - now) / 1000);
		ts.tv_nsec += (long)((until - now) % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&F.cond, &F.lock, &ts);
	}
}

/* About to write a header or the config: false while rekey holds us. */
static bool enter(void)
{
	bool ok;

	pthread_mutex_lock(&F.lock);
	ok = !F.holds && !F.stop;
	F.busy = ok;
	pthread_mutex_unlock(&F.lock);
	return ok;
}

static void leave(void)
{
	pthread_mutex_lock(&F.lock);
	F.busy = false;
	pthread_cond_broadcast(&F.cond);
	pthread_mutex_unlock(&F.lock);
}

/* Before each header that may need an unwrap: at most rate a second,
 * evenly spaced (no burst), so that any second sees at most rate + 1. */
static void take_token(void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&F.lock);
	if (F.next_token_ms < (double)clock_ms())
		F.next_token_ms = (double)clock_ms();
	wait_until((uint64_t)F.next_token_ms, false);
	F.next_token_ms += 1000.0 / F.rate;
	F.unwraps++;
	pthread_mutex_unlock(&F.lock);
}

/* Volume-wrap, and file mode once every header moved: what the KEK
 * wraps in the config, to the version of t. 1 moved, 0 nothing to do,
 * -1 not now (held, or failed: logged). */
static int follow_conf(const struct vol_rewrap_to *t)
{
	struct vol *v = &F.fs->vol;
	char err[VOL_ERR_MAX];
	bool current;
	int r;

	pthread_mutex_lock(&v->kek_lock);
	current = vol_rewrap_conf_current(t, &v->conf);
	pthread_mutex_unlock(&v->kek_lock);
	if (current)
		return 0;
	if (!enter())
		return -1;
	r = vol_conf_follow(v, t->kid, err, sizeof(err));
	leave();
	if (r < 0)
		log_warn("cannot move %s to KEK version %s (tried again at the "
			 "next check): %s", CONF_NAME, t->kid, err);
	else if (r > 0)
		log_info("%s: the %s rewrapped by %s", CONF_NAME,
			 vol_volume_wrap(v) ? "wrapping keys" : "volume key",
			 t->kid);
	return r;
}

/* One key GET: the version new file keys are wrapped with from now on.
 * Decides what moves to it. */
static void check(void)
{
	struct vol *v = &F.fs->vol;
	struct vol_rewrap_to t = { .kek = vol_kek(v) };
	char kerr[KEK_ERR_MAX];
	struct kek_info info;
	enum kek_status st;
	bool changed, current;

	st = kek_describe(t.kek, &info, kerr);
	pthread_mutex_lock(&F.lock);
	F.checks++;
	F.next_check_ms = clock_ms() + (uint64_t)F.interval_s * 1000;
	if (st != KEK_OK) {
		F.check_failures++;
		snprintf(F.error, sizeof(F.error), "%s", kerr);
		pthread_mutex_unlock(&F.lock);
		log_warn("cannot read the KEK's current version (asked again "
			 "in %u s): %s", F.interval_s, kerr);
		return;
	}
	snprintf(t.kid, sizeof(t.kid), "%s", info.kid);
	changed = F.to.kid[0] && !same_version(F.to.kid, t.kid);
	F.to = t;
	F.checked_ms = clock_ms();
	F.error[0] = '\0';
	pthread_mutex_unlock(&F.lock);
	if (changed)
		log_info("KEK %s has a new version: new files are wrapped by %s",
			 v->conf.kek, t.kid);
	if (F.ro)
		return;
	if (vol_volume_wrap(v)) {
		if (follow_conf(&t) > 0) {
			pthread_mutex_lock(&F.lock);
			F.ended_ms = clock_ms();
			pthread_mutex_unlock(&F.lock);
		}
		return;
	}
	pthread_mutex_lock(&v->kek_lock);
	current = vol_rewrap_conf_current(&t, &v->conf);
	pthread_mutex_unlock(&v->kek_lock);
	pthread_mutex_lock(&F.lock);
	F.pending |= changed || !current;
	F.walk_now = F.pending;
	pthread_mutex_unlock(&F.lock);
}

/* ---- the walk ---------------------------------------------------------- */

/* Between two files: stop, start over, or a check that is due (a new
 * version found by it starts the walk over too). */
static int between(const char *kid)
{
	bool due, same;

	pthread_mutex_lock(&F.lock);
	if (F.stop || F.holds || F.restart) {
		int r = F.stop ? STOP : AGAIN;

		pthread_mutex_unlock(&F.lock);
		return r;
	}
	due = clock_ms() >= F.next_check_ms;
	pthread_mutex_unlock(&F.lock);
	if (!due)
		return GO_ON;
	check();
	pthread_mutex_lock(&F.lock);
	same = same_version(F.to.kid, kid);
	pthread_mutex_unlock(&F.lock);
	return same ? GO_ON : AGAIN;
}

static void failed(const char *path, const char *why)
{
	unsigned long n;

	pthread_mutex_lock(&F.lock);
	n = ++F.failed;
	pthread_mutex_unlock(&F.lock);
	if (n <= LOG_FAILS)
		log_warn("KEK version follow: %s: %s%s", path, why,
			 n == LOG_FAILS ? " (no more failures logged in this "
					  "walk)" : "");
}

/* A throttled or unreachable HSM: everyone waits a little longer each
 * time, as hsmfs rekey does. */
static void back_off(bool again)
{
	pthread_mutex_lock(&F.lock);
	if (!again) {
		F.backoff_ms = 0;
	} else {
		F.backoff_ms = F.backoff_ms ? F.backoff_ms * 2 : BACKOFF_MS;
		if (F.backoff_ms > BACKOFF_MAX_MS)
			F.backoff_ms = BACKOFF_MAX_MS;
		wait_until(clock_ms() + F.backoff_ms, true);
	}
	pthread_mutex_unlock(&F.lock);
}

/* One backing file, moved to t. */
static int one_file(int dirfd, const char *name, const struct vol_rewrap_to *t)
{
	char why[KEK_ERR_MAX + 128], path[512];
	enum vol_rewrap_out o;
	enum kek_status st;
	struct stat sb;
	struct hdr h;
	int fd, r = between(t->kid);

	if (r != GO_ON)
		return r;
	fd = openat(dirfd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			failed(name, strerror(errno));
		return GO_ON;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return GO_ON;
	}
	if (!enter()) {
		close(fd);
		return AGAIN;
	}
	o = vol_rewrap_file(&F.fs->vol, t, fd, &h, take_token, NULL, &st, why,
			    sizeof(why));
	leave();
	if (o == VOL_RW_RETRY || o == VOL_RW_FAILED || o == VOL_RW_UNREADABLE)
		failed(inode_path(fd, path, sizeof(path)), why);
	close(fd);
	pthread_mutex_lock(&F.lock);
	F.done++;
	F.rewrapped += o == VOL_RW_DONE;
	pthread_mutex_unlock(&F.lock);
	back_off(o == VOL_RW_RETRY && vol_rewrap_retryable(st));
	return GO_ON;
}

static int count_file(int dirfd, const char *name,
		      const struct vol_rewrap_to *t)
{
	(void)dirfd, (void)name, (void)t;
	pthread_mutex_lock(&F.lock);
	F.total++;
	pthread_mutex_unlock(&F.lock);
	return F.stop ? STOP : GO_ON;
}

typedef int (*file_fn)(int dirfd, const char *name,
		       const struct vol_rewrap_to *t);

/* Every regular file under directory fd (closed here), the volume's own
 * files and temporary entries left out. A subdirectory that cannot be
 * read counts as a failure: the move is then not finished. */
static int walk_dir(int fd, bool root, file_fn fn,
		    const struct vol_rewrap_to *t)
{
	struct bdir bd = { .fd = fd, .root = root,
			   .plaintext = F.fs->plaintext_names,
			   .format = F.fs->vol.conf.format };
	DIR *d = fdopendir(fd);
	struct dirent *de;
	struct stat sb;
	int r = GO_ON, sub;

	if (!d) {
		close(fd);
		failed("a backing directory", strerror(errno));
		return GO_ON;
	}
	while (r == GO_ON && (de = readdir(d))) {
		unsigned char type = de->d_type;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    bname_kind(&bd, de->d_name) != BNAME_ENTRY)
			continue;
		if (type == DT_UNKNOWN)
			type = fstatat(fd, de->d_name, &sb,
				       AT_SYMLINK_NOFOLLOW) != 0 ? DT_UNKNOWN :
			       S_ISDIR(sb.st_mode) ? DT_DIR :
			       S_ISREG(sb.st_mode) ? DT_REG : DT_UNKNOWN;
		if (type == DT_REG) {
			r = fn(fd, de->d_name, t);
		} else if (type == DT_DIR) {
			sub = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY |
				     O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				r = walk_dir(sub, false, fn, t);
			else if (errno != ENOENT)
				failed(de->d_name, strerror(errno));
		}
	}
	closedir(d);
	return r;
}

static int walk_root(file_fn fn, const struct vol_rewrap_to *t)
{
	int fd = openat(F.fs->vol.rootfd, ".", O_RDONLY | O_DIRECTORY |
			O_CLOEXEC);

	if (fd < 0) {
		failed(F.fs->vol.cipherdir, strerror(errno));
		return GO_ON;
	}
	return walk_dir(fd, true, fn, t);
}

/* A whole walk: every header moved to t. Finished only if nothing failed
 * and nothing was renamed meanwhile (readdir may then have missed an
 * entry); the config's volume key follows last. */
static int walk(const struct vol_rewrap_to *t)
{
	unsigned long long renames = atomic_load(&F.fs->renames);
	unsigned long rewrapped, nfailed;
	double secs;
	int r;

	pthread_mutex_lock(&F.lock);
	F.walking = true;
	F.total = F.done = F.rewrapped = F.failed = F.unwraps = 0;
	F.walk_ms = clock_ms();
	pthread_mutex_unlock(&F.lock);
	log_info("rewrapping every file key to %s, at most %u unwraps a "
		 "second", t->kid, F.rate);
	r = walk_root(count_file, t);
	if (r == GO_ON)
		r = walk_root(one_file, t);
	pthread_mutex_lock(&F.lock);
	F.walking = false;
	rewrapped = F.rewrapped;
	nfailed = F.failed;
	secs = (double)(clock_ms() - F.walk_ms) / 1000;
	pthread_mutex_unlock(&F.lock);
	if (r != GO_ON)
		return r;
	if (nfailed || atomic_load(&F.fs->renames) != renames) {
		log_info("rewrap to %s: %lu headers rewrapped, %lu failed%s; "
			 "walked again after the next check", t->kid,
			 rewrapped, nfailed, nfailed ? "" :
			 ", entries renamed meanwhile");
		return GO_ON;
	}
	if (follow_conf(t) < 0)
		return GO_ON;
	pthread_mutex_lock(&F.lock);
	F.pending = false;
	F.ended_ms = clock_ms();
	pthread_mutex_unlock(&F.lock);
	log_info("rewrap to %s done: %lu headers rewrapped in %.0f s; older "
		 "versions of the KEK are no longer needed", t->kid, rewrapped,
		 secs);
	return GO_ON;
}

/* ---- the thread -------------------------------------------------------- */

/* Linux keeps nice and I/O priority per thread: only this one yields. */
static void lower_priority(void)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);

	(void)!setpriority(PRIO_PROCESS, (id_t)tid, 19);
	/* IOPRIO_WHO_PROCESS, best effort at its lowest level: not idle,
	 * which a busy disk could starve while a header is locked. */
	(void)!syscall(SYS_ioprio_set, 1, tid, (2 << 13) | 7);
}

static void *loop(void *arg)
{
	struct vol_rewrap_to t;
	int r;

	(void)arg;
	lower_priority();
	pthread_mutex_lock(&F.lock);
	while (!F.stop) {
		while (F.holds && !F.stop)
			pthread_cond_wait(&F.cond, &F.lock);
		if (F.stop)
			break;
		if (F.restart || clock_ms() >= F.next_check_ms) {
			F.restart = false;
			pthread_mutex_unlock(&F.lock);
			check();
			pthread_mutex_lock(&F.lock);
		}
		if (F.walk_now && F.pending && !F.holds) {
			F.walk_now = false;
			t = F.to;
			pthread_mutex_unlock(&F.lock);
			/* Started over (held, or a new version): the end of
			 * the hold asks for a check, a new version was found
			 * by one and set walk_now again. */
			r = walk(&t);
			pthread_mutex_lock(&F.lock);
			if (r == AGAIN)
				continue;
		}
		wait_until(F.next_check_ms, true);
	}
	pthread_mutex_unlock(&F.lock);
	return NULL;
}

int follow_start(struct fsd *fs, unsigned interval_s, unsigned rate,
		 bool ro)
{
	pthread_condattr_t ca;
	int e;

	if (!interval_s)
		return 0;
	F.fs = fs;
	F.interval_s = interval_s;
	F.rate = rate ? rate : FOLLOW_RATE;
	F.ro = ro;
	F.stop = false;
	F.next_check_ms = 0;
	/* Waits must not jump with the wall clock. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&F.cond);
	pthread_cond_init(&F.cond, &ca);
	pthread_condattr_destroy(&ca);
	if ((e = pthread_create(&F.thread, NULL, loop, NULL)) != 0)
		return -e;
	pthread_mutex_lock(&F.lock);
	F.running = true;
	pthread_mutex_unlock(&F.lock);
	return 0;
}

void follow_stop(void)
{
	if (!F.running)
		return;
	pthread_mutex_lock(&F.lock);
	F.stop = true;
	pthread_cond_broadcast(&F.cond);
	pthread_mutex_unlock(&F.lock);
	pthread_join(F.thread, NULL);
	pthread_mutex_lock(&F.lock);
	F.running = false;
	pthread_mutex_unlock(&F.lock);
	/* Every GET it made, now that none can be under way. */
	log_info("KEK versions followed: %llu checks (%llu failed)", F.checks,
		 F.check_failures);
}

/* ---- hold, status ------------------------------------------------------ */

static void *hold(void *arg)
{
	int c = (int)(intptr_t)arg;
	char buf[64];

	bool following;

	pthread_mutex_lock(&F.lock);
	F.holds++;
	while (F.busy)
		pthread_cond_wait(&F.cond, &F.lock);
	following = F.running;
	pthread_mutex_unlock(&F.lock);
	(void)!write(c, "held\n", 5);
	if (following)
		log_info("holding still while hsmfs rekey runs");
	/* Until the client closes: it may exit any way at all. */
	while (read(c, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&F.lock);
	F.holds--;
	F.restart = true;
	pthread_cond_broadcast(&F.cond);
	pthread_mutex_unlock(&F.lock);
	if (following)
		log_info("hsmfs rekey is done: following the KEK again");
	close(c);
	return NULL;
}

void follow_hold(int c)
{
	pthread_attr_t a;
	pthread_t t;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &a, hold, (void *)(intptr_t)c) != 0) {
		(void)!write(c, "error: cannot hold\n", 19);
		close(c);
	}
	pthread_attr_destroy(&a);
}

/* The move, in one line; under F.lock. */
static void move_status(FILE *f, bool conf_current)
{
	double secs = (double)(clock_ms() - F.walk_ms) / 1000;

	fprintf(f, "rewrap:      ");
	if (F.ro)
		fprintf(f, "none (read-only mount)\n");
	else if (F.holds)
		fprintf(f, "paused while hsmfs rekey runs\n");
	else if (vol_volume_wrap(&F.fs->vol))
		fprintf(f, "%s (volume-wrap: the config's wrapping keys "
			"only)\n", conf_current ? "done" : "pending");
	else if (F.walking)
		fprintf(f, "%lu/%lu headers, %.0f/s (at most %u/s), %lu "
			"rewrapped, %lu failed\n", F.done, F.total,
			secs > 0 ? (double)F.unwraps / secs : 0.0, F.rate,
			F.rewrapped, F.failed);
	else if (F.pending)
		fprintf(f, "unfinished: %lu headers failed; walked again after "
			"the next check\n", F.failed);
	else if (F.ended_ms)
		fprintf(f, "done: every header on this version (%lu rewrapped, "
			"%llu s ago)\n", F.rewrapped,
			(unsigned long long)(clock_ms() - F.ended_ms) / 1000);
	else
		fprintf(f, "done: nothing to move\n");
}

void follow_status(FILE *f)
{
	struct vol *v;
	bool current = false;

	pthread_mutex_lock(&F.lock);
	if (!F.running) {
		pthread_mutex_unlock(&F.lock);
		return;
	}
	v = &F.fs->vol;
	if (F.to.kek) {
		pthread_mutex_lock(&v->kek_lock);
		current = vol_rewrap_conf_current(&F.to, &v->conf);
		pthread_mutex_unlock(&v->kek_lock);
	}
	fprintf(f, "kek version: %s (following every %u s, ",
		version_of(F.to.kid), F.interval_s);
	if (F.checked_ms)
		fprintf(f, "checked %llu s ago",
			(unsigned long long)(clock_ms() - F.checked_ms) / 1000);
	else
		fprintf(f, "not checked yet");
	fprintf(f, "; %llu checks, %llu failed%s%s)\n", F.checks,
		F.check_failures, F.error[0] ? ": " : "", F.error);
	move_status(f, current);
	pthread_mutex_unlock(&F.lock);
}
