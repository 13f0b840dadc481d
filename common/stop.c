/* SPDX-License-Identifier: Apache-2.0 */
/* The stop request: a flag, an eventfd to poll on, the signal handlers. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/stop.h"

#define CATCH_MAX 4
#define STEP_MS 50 /* without a descriptor: how often a sleep looks */

static atomic_bool stopping;
static atomic_int efd = -1;
static pthread_once_t efd_once = PTHREAD_ONCE_INIT;

static struct {
	int sig;
	struct sigaction old;
} caught[CATCH_MAX];
static int ncaught;
static pid_t catcher; /* the thread that called stop_catch() */

static void make_fd(void)
{
	atomic_store(&efd, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
}

int stop_fd(void)
{
	pthread_once(&efd_once, make_fd);
	return atomic_load(&efd);
}

/* The flag is set before the descriptor is looked at, and a waiter makes
 * the descriptor before it looks at the flag: either the waiter sees the
 * flag, or the descriptor it polls is written. */
void stop_request(void)
{
	uint64_t one = 1;
	int e = errno, fd;

	atomic_store(&stopping, true);
	fd = atomic_load(&efd);
	if (fd >= 0)
		(void)!write(fd, &one, sizeof(one));
	errno = e;
}

bool stop_requested(void)
{
	return atomic_load(&stopping);
}

bool stop_sleep_ms(uint64_t ms)
{
	struct pollfd p = { .fd = stop_fd(), .events = POLLIN };
	uint64_t end = clock_ms() + ms, now, left;

	while (!stop_requested() && (now = clock_ms()) < end) {
		left = end - now;
		if (p.fd < 0)
			clock_sleep_ms(left < STEP_MS ? left : STEP_MS);
		else
			(void)poll(&p, 1, left < INT_MAX ? (int)left : INT_MAX);
	}
	return !stop_requested();
}

/* Whatever handled sig before: a function is called; the default action
 * is taken by raising sig again under it (it is blocked until this
 * handler returns); an ignored signal stays ignored. */
static void chain(const struct sigaction *old, int sig, siginfo_t *si,
		  void *uc)
{
	if (old->sa_flags & SA_SIGINFO) {
		old->sa_sigaction(sig, si, uc);
	} else if (old->sa_handler == SIG_DFL) {
		sigaction(sig, old, NULL);
		raise(sig);
	} else if (old->sa_handler != SIG_IGN) {
		old->sa_handler(sig);
	}
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	int e = errno;

	stop_request();
	if (gettid() != catcher) {
		/* Only a signal delivered to it interrupts the catcher's
		 * wait; there, this handler runs again and chains. */
		tgkill(getpid(), catcher, sig);
	} else {
		for (int i = 0; i < ncaught; i++)
			if (caught[i].sig == sig)
				chain(&caught[i].old, sig, si, uc);
	}
	errno = e;
}

int stop_catch(const int *sigs)
{
	struct sigaction sa;
	int n, err;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	/* No SA_RESTART, as libfuse: the waits are meant to be cut short. */
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	stop_fd();
	catcher = gettid();
	for (n = 0; *sigs; sigs++) {
		if (n == CATCH_MAX)
			return -EINVAL;
		caught[n].sig = *sigs;
		if (sigaction(*sigs, NULL, &caught[n].old) != 0)
			return -errno;
		/* Ignored when we started (nohup, the background of a
		 * shell): it stays so, as libfuse leaves it. */
		if (!(caught[n].old.sa_flags & SA_SIGINFO) &&
		    caught[n].old.sa_handler == SIG_IGN)
			continue;
		n++;
	}
	ncaught = n;
	for (int i = 0; i < n; i++)
		if (sigaction(caught[i].sig, &sa, NULL) != 0) {
			err = -errno;
			stop_release();
			return err;
		}
	return 0;
}

void stop_release(void)
{
	for (int i = 0; i < ncaught; i++)
		sigaction(caught[i].sig, &caught[i].old, NULL);
	ncaught = 0;
}
