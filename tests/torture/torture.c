// SPDX-License-Identifier: Apache-2.0
/*
 * torture [-s SEED] [-n OPS] [-j THREADS] [-k K] [-v] MOUNTDIR REFDIR
 *
 * A differential tester: every thread makes its own directory tN on both
 * sides and applies there the same seeded random operations, comparing
 * each result (value and errno) and, every K operations and at the end,
 * the whole trees. A thread's choices depend only on its seed and on the
 * reference side, so a run replays exactly with the same -s and -j.
 * OPS is the total over all threads. -x rdonly-trunc avoids a known bug
 * (open O_RDONLY|O_TRUNC fails with EINVAL without writeback caching);
 * -b holds the reference to format 3's rules for symlinks (torture.h).
 * Exit status: 0 alike, 1 a mismatch,
 * 2 usage or setup.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "torture.h"

static atomic_bool stop;
unsigned avoid;
bool bound_symlinks;
bool punch_holes;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

uint64_t rnd(struct ctx *c)
{
	/* xorshift64*: fast, and the same everywhere. */
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 0x2545F4914F6CDD1Dull;
}

uint64_t below(struct ctx *c, uint64_t n)
{
	return n ? rnd(c) % n : 0;
}

bool chance(struct ctx *c, unsigned percent)
{
	return below(c, 100) < percent;
}

static uint64_t splitmix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

void note(struct ctx *c, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(c->what, sizeof(c->what), "#%lu ", c->op);

	va_start(ap, fmt);
	vsnprintf(c->what + n, sizeof(c->what) - (size_t)n, fmt, ap);
	va_end(ap);
	memcpy(c->log[c->op % NLOG], c->what, sizeof(c->what));
	if (c->verbose) {
		pthread_mutex_lock(&out_lock);
		printf("t%d %s\n", c->id, c->what);
		pthread_mutex_unlock(&out_lock);
	}
}

int fail(struct ctx *c, const char *fmt, ...)
{
	unsigned long first = c->op >= 50 ? c->op - 49 : 0;
	va_list ap;

	/* Only the first mismatch is reported: later ones may follow from it. */
	if (atomic_exchange(&stop, true))
		return -1;
	pthread_mutex_lock(&out_lock);
	fflush(stdout);
	fprintf(stderr, "\nMISMATCH in thread %d (seed 0x%016" PRIx64
		"), operation %s\n  ", c->id, c->seed, c->what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n  side 0 is the mount %s, side 1 the reference %s\n"
			"last operations of thread %d:\n", c->top[0], c->top[1],
		c->id);
	for (unsigned long i = first; i <= c->op; i++)
		fprintf(stderr, "  t%d %s\n", c->id, c->log[i % NLOG]);
	pthread_mutex_unlock(&out_lock);
	return -1;
}

static const char *errname(int e)
{
	return e ? strerrorname_np(e) : "0";
}

/* Same success, and the same errno on failure; values may differ (fds). */
int same_err(struct ctx *c)
{
	if ((c->r[0] < 0) == (c->r[1] < 0) &&
	    (c->r[0] >= 0 || c->e[0] == c->e[1])) {
		if (c->r[0] < 0)
			c->nfail++;
		else
			c->nsucc++;
		return 0;
	}
	return fail(c, "mount returned %ld (%s), reference %ld (%s)",
		    c->r[0], errname(c->e[0]), c->r[1], errname(c->e[1]));
}

/* Same value too. */
int same(struct ctx *c)
{
	if (same_err(c))
		return -1;
	if (c->r[0] >= 0 && c->r[0] != c->r[1])
		return fail(c, "mount returned %ld, reference %ld", c->r[0],
			    c->r[1]);
	return 0;
}

static int setup(struct ctx *c, const char *mnt, const char *ref)
{
	const char *base[SIDES] = { mnt, ref };

	for (int s = 0; s < SIDES; s++) {
		snprintf(c->top[s], sizeof(c->top[s]), "%s/t%d", base[s], c->id);
		if (mkdir(c->top[s], 0755) != 0) {
			fprintf(stderr, "torture: mkdir %s: %s (use empty "
				"directories)\n", c->top[s], strerror(errno));
			return -1;
		}
		c->dir[s] = open(c->top[s], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (c->dir[s] < 0) {
			fprintf(stderr, "torture: %s: %s\n", c->top[s],
				strerror(errno));
			return -1;
		}
		c->rbuf[s] = malloc(MAXIO);
	}
	c->wbuf = malloc(MAXIO);
	for (int i = 0; i < NSLOTS; i++)
		c->slot[i].fd[0] = c->slot[i].fd[1] = -1;
	return c->wbuf && c->rbuf[0] && c->rbuf[1] ? 0 : -1;
}

static void *run(void *arg)
{
	struct ctx *c = arg;
	intptr_t bad = 0;

	for (c->op = 1; c->op <= c->nops && !bad && !atomic_load(&stop);
	     c->op++) {
		/* Operations that find nothing to do leave no note. */
		snprintf(c->log[c->op % NLOG], LOGLINE, "#%lu (nothing to do)",
			 c->op);
		bad = ops_run_one(c) != 0;
		if (!bad && c->every && c->op % c->every == 0) {
			note(c, "compare trees");
			bad = tree_compare(c) != 0;
		}
	}
	if (!bad && !atomic_load(&stop)) {
		c->op--;
		ops_close_all(c);
		note(c, "compare trees at the end");
		bad = tree_compare(c) != 0;
	}
	return (void *)bad;
}

static void usage(void)
{
	fprintf(stderr, "usage: torture [-s SEED] [-n OPS] [-j THREADS] "
			"[-k K] [-v] MOUNTDIR REFDIR\n"
			"  -s SEED     replay (decimal or 0x hex; default: random)\n"
			"  -n OPS      operations in all, shared by the threads (10000)\n"
			"  -j THREADS  threads, each in its own directory tN (1)\n"
			"  -k K        compare whole trees every K operations (1000; 0: at the end)\n"
			"  -x BUG      steer around a known bug: rdonly-trunc\n"
			"  -b          symlinks are bound to their names (format 3):\n"
			"              no hard links to them, no exchanges with them\n"
			"  -p          the mount punches holes (format 3): fallocate\n"
			"              PUNCH_HOLE is tried too\n"
			"  -v          print every operation\n");
	exit(2);
}

static uint64_t random_seed(void)
{
	uint64_t s = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	struct timeval tv;

	if (fd < 0 || read(fd, &s, sizeof(s)) != sizeof(s)) {
		gettimeofday(&tv, NULL);
		s = (uint64_t)tv.tv_sec * 1000003u ^ (uint64_t)tv.tv_usec;
	}
	if (fd >= 0)
		close(fd);
	return s;
}

int main(int argc, char *argv[])
{
	unsigned long nops = 10000, every = 1000, nthreads = 1;
	uint64_t seed = 0;
	bool have_seed = false, verbose = false;
	struct ctx *ctx;
	pthread_t *tid;
	unsigned long nsucc = 0, nfail = 0;
	int opt, bad = 0;

	while ((opt = getopt(argc, argv, "s:n:j:k:x:bpv")) != -1) {
		switch (opt) {
		case 's':
			seed = strtoull(optarg, NULL, 0);
			have_seed = true;
			break;
		case 'n':
			nops = strtoul(optarg, NULL, 0);
			break;
		case 'j':
			nthreads = strtoul(optarg, NULL, 0);
			break;
		case 'k':
			every = strtoul(optarg, NULL, 0);
			break;
		case 'v':
			verbose = true;
			break;
		case 'b':
			bound_symlinks = true;
			break;
		case 'p':
			punch_holes = true;
			break;
		case 'x':
			if (strcmp(optarg, "rdonly-trunc"))
				usage();
			avoid |= AVOID_RDONLY_TRUNC;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2 || nthreads < 1 || nthreads > 64)
		usage();
	if (!have_seed)
		seed = random_seed();
	/* Files we make get exactly the modes we ask for, on both sides. */
	umask(0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("torture: seed 0x%016" PRIx64 ", %lu operations, %lu threads, "
	       "trees compared every %lu (replay: -s 0x%016" PRIx64 " -n %lu "
	       "-j %lu)\n", seed, nops, nthreads, every, seed, nops, nthreads);
	ctx = calloc(nthreads, sizeof(*ctx));
	tid = calloc(nthreads, sizeof(*tid));
	if (!ctx || !tid)
		return 2;
	for (unsigned long i = 0; i < nthreads; i++) {
		struct ctx *c = &ctx[i];

		c->id = (int)i;
		c->seed = splitmix(seed + i * 0x632BE59BD9B4E019ull);
		c->rng = c->seed ? c->seed : 1;
		c->nops = nops / nthreads + (i < nops % nthreads);
		c->every = every;
		c->verbose = verbose;
		if (setup(c, argv[optind], argv[optind + 1]))
			return 2;
	}
	for (unsigned long i = 0; i < nthreads; i++)
		if (pthread_create(&tid[i], NULL, run, &ctx[i]) != 0)
			return 2;
	for (unsigned long i = 0; i < nthreads; i++) {
		void *r;

		pthread_join(tid[i], &r);
		bad |= r != NULL;
		nsucc += ctx[i].nsucc;
		nfail += ctx[i].nfail;
	}
	if (bad) {
		printf("torture: FAILED (replay: -s 0x%016" PRIx64 " -n %lu -j %lu)\n",
		       seed, nops, nthreads);
		return 1;
	}
	printf("torture: %lu operations (%lu succeeded, %lu failed alike, the "
	       "rest had nothing to do), results and trees alike\n", nops,
	       nsucc, nfail);
	return 0;
}
