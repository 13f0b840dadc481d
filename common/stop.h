/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stopping the program: one request, made from a signal handler, that
 * every thread can see. Whatever may wait or work for long (an HSM call
 * backing off between attempts or waiting for an answer, a file being
 * filled with gigabytes of zeros) checks it and gives up, so that a
 * daemon told to stop unmounts at once rather than after its slowest
 * request. A request is never taken back.
 *
 * stop_catch() returns 0 or -errno; nothing else fails. In a program
 * that never requests a stop, stop_sleep_ms() is an ordinary sleep and
 * stop_requested() is false.
 */
#ifndef HSMFS_STOP_H
#define HSMFS_STOP_H

#include <stdbool.h>
#include <stdint.h>

/* Catches the signals of sigs (0-terminated, at most 4) in front of the
 * handlers installed now: each requests the stop, then runs the handler
 * it replaced (libfuse's session exit, for one). A signal ignored now
 * (nohup, the background of a shell) stays ignored. A signal delivered
 * to another thread is passed on to the calling thread, whose own wait
 * (libfuse's loop) it must interrupt. */
int stop_catch(const int *sigs);
/* Puts back the handlers stop_catch() replaced. */
void stop_release(void);

/* Requests the stop. Async-signal-safe. */
void stop_request(void);
bool stop_requested(void);
/* A descriptor that becomes readable (and stays so) once the stop is
 * requested, to poll on; -1 if none could be made. */
int stop_fd(void);
/* Sleeps ms milliseconds, or less if the stop is requested: false if it
 * was. */
bool stop_sleep_ms(uint64_t ms);

#endif
