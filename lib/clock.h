/* SPDX-License-Identifier: MIT */
/*
 * clock: the one place where XDrop reads time and builds deadlines.
 *
 * Two clocks, never mixed: monotonic time (CLOCK_MONOTONIC) for intervals, timeouts and
 * every wait, so that a step of the wall clock (NTP, an operator's `date`) can neither
 * stall nor hurry a thread; wall time (CLOCK_REALTIME) only for what is shown or stored
 * as a date (timestamps in records, logs and replies, deadline_unix_ms on the wire).
 * Condition variables that wait with a deadline are made by clock_cond_init(), which
 * binds them to the monotonic clock, and waited on with clock_cond_wait_until().
 */
#ifndef XDROP_CLOCK_H
#define XDROP_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Monotonic time in milliseconds / nanoseconds (an arbitrary origin; intervals only). */
int64_t clock_mono_ms(void);
int64_t clock_mono_ns(void);

/* Wall time since the Unix epoch in milliseconds / nanoseconds (dates only). */
int64_t clock_wall_ms(void);
int64_t clock_wall_ns(void);

/* The struct timespec of a clock_mono_ms() value, for APIs that take one. */
struct timespec clock_mono_ts(int64_t mono_ms);

/* Initialises *c to wait on the monotonic clock. Returns 0 or -errno. */
int clock_cond_init(pthread_cond_t *c);

/*
 * Waits on c (made by clock_cond_init; m held by the caller, as for pthread_cond_wait)
 * until it is signalled or clock_mono_ms() reaches deadline_ms. Returns 0 when woken
 * (which may be spurious: callers re-check their condition) and -ETIMEDOUT once the
 * deadline has passed.
 */
int clock_cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, int64_t deadline_ms);

#endif
