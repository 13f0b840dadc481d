/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "common/log.h"
#include "crypto/blk.h"
#include "kekcheck.h"

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool running, stop;
	unsigned secs;
} K = { .lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER };

int kekcheck_now(struct fsd *fs)
{
	char err[VOL_ERR_MAX], kek[HDR_KID_MAX + 1];
	int r = vol_kek_check(&fs->vol, err, sizeof(err));

	/* The KEK checked: the one that opened the volume. */
	vol_opened_by(&fs->vol, kek);

	if (r == 1) {
		/* Cipher contexts keep the schedule of the last file key
		 * each thread used, as after a flush. */
		blk_wipe_all();
		log_err("KEK %s refused re-validation: %s; wrapping keys and "
			"cached file keys wiped, files not open are no longer "
			"readable", kek, err);
	} else if (r < 0) {
		log_warn("KEK re-validation failed, keys kept (asked again in "
			 "%u s): %s", K.secs, err);
	} else if (err[0] && r == 0) {
		log_info("KEK %s: %s", kek, err);
	}
	return r;
}

static void *loop(void *arg)
{
	struct fsd *fs = arg;
	struct timespec ts;

	pthread_mutex_lock(&K.lock);
	while (!K.stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += K.secs;
		while (!K.stop && pthread_cond_timedwait(&K.cond, &K.lock,
							 &ts) != ETIMEDOUT)
			;
		if (K.stop)
			break;
		pthread_mutex_unlock(&K.lock);
		kekcheck_now(fs);
		pthread_mutex_lock(&K.lock);
	}
	pthread_mutex_unlock(&K.lock);
	return NULL;
}

int kekcheck_start(struct fsd *fs, unsigned secs)
{
	pthread_condattr_t ca;
	int e;

	K.secs = secs;
	if (!vol_volume_wrap(&fs->vol) || !secs)
		return 0;
	/* The wait must not jump with the wall clock. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&K.cond);
	pthread_cond_init(&K.cond, &ca);
	pthread_condattr_destroy(&ca);
	K.stop = false;
	if ((e = pthread_create(&K.thread, NULL, loop, fs)) != 0)
		return -e;
	K.running = true;
	return 0;
}

void kekcheck_stop(void)
{
	if (!K.running)
		return;
	pthread_mutex_lock(&K.lock);
	K.stop = true;
	pthread_cond_broadcast(&K.cond);
	pthread_mutex_unlock(&K.lock);
	pthread_join(K.thread, NULL);
	K.running = false;
}
