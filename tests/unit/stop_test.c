/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The stop request: a caught signal requests it and still runs the
 * handler it was caught in front of, on the catching thread; a sleep
 * ends at once when it is requested; an ignored signal stays ignored.
 * The request cannot be taken back, so the tests run in this order.
 */
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <unistd.h>

#include "check.h"
#include "common/clock.h"
#include "common/stop.h"

static volatile sig_atomic_t old_runs;
static volatile pid_t old_tid;

static void old_handler(int sig)
{
	(void)sig;
	old_runs++;
	old_tid = gettid();
}

static void ignored_signal_stays_ignored(void)
{
	static const int sigs[] = { SIGUSR2, 0 };

	signal(SIGUSR2, SIG_IGN);
	CHECK_EQ_INT(stop_catch(sigs), 0);
	raise(SIGUSR2);
	CHECK(!stop_requested());
	stop_release();
}

static void sleep_takes_its_time(void)
{
	uint64_t t0 = clock_ms();

	CHECK(stop_sleep_ms(60));
	CHECK(clock_ms() - t0 >= 60);
	CHECK(!stop_requested());
}

struct sleeper {
	bool slept;
	uint64_t ms;
};

static void *sleep_long(void *arg)
{
	struct sleeper *s = arg;
	uint64_t t0 = clock_ms();

	s->slept = stop_sleep_ms(20000);
	s->ms = clock_ms() - t0;
	return NULL;
}

/* The signal lands on another thread: it is passed on to the catching
 * thread, where the old handler runs once; the sleeper wakes at once. */
static void signal_stops_sleepers(void)
{
	static const int sigs[] = { SIGUSR1, 0 };
	struct sleeper s = { true, 0 };
	struct pollfd p = { .events = POLLIN };
	pthread_t t;

	signal(SIGUSR1, old_handler);
	CHECK_EQ_INT(stop_catch(sigs), 0);
	pthread_create(&t, NULL, sleep_long, &s);
	usleep(100 * 1000);
	pthread_kill(t, SIGUSR1);
	pthread_join(t, NULL);
	/* The catching thread's own handler ran as the signal reached it
	 * (at the latest when it is unblocked, which it is). */
	for (int i = 0; i < 100 && !old_runs; i++)
		usleep(10 * 1000);
	CHECK(stop_requested());
	CHECK(!s.slept);
	CHECK(s.ms < 2000);
	CHECK_EQ_INT(old_runs, 1);
	CHECK_EQ_INT(old_tid, gettid());
	p.fd = stop_fd();
	CHECK(p.fd >= 0);
	CHECK_EQ_INT(poll(&p, 1, 0), 1);
	stop_release();
	raise(SIGUSR1); /* the old handler alone again */
	CHECK_EQ_INT(old_runs, 2);
}

static void sleeps_end_at_once_once_stopped(void)
{
	uint64_t t0 = clock_ms();

	CHECK(!stop_sleep_ms(20000));
	CHECK(clock_ms() - t0 < 1000);
}

CHECK_MAIN("stop", T(ignored_signal_stays_ignored), T(sleep_takes_its_time),
	   T(signal_stops_sleepers), T(sleeps_end_at_once_once_stopped))
