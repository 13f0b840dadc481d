/* SPDX-License-Identifier: Apache-2.0 */
/* Monotonic time in milliseconds, and sleeping that survives signals. */
#ifndef HSMFS_CLOCK_H
#define HSMFS_CLOCK_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC: for deadlines, ages and rates. */
uint64_t clock_ms(void);
/* Sleeps ms milliseconds, resuming after a signal handler ran. */
void clock_sleep_ms(uint64_t ms);

#endif
