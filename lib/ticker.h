/* SPDX-License-Identifier: MIT */
/*
 * ticker: periodic work on a thread of its own, the one way XDrop runs it.
 *
 * A ticker calls fn(arg) every period_ms on the monotonic clock (lib/clock), so a step
 * of the wall clock never stalls or hurries it. Ticks keep their rate: the next one is
 * due a period after the previous one was due; a tick that falls behind by more than a
 * period is not made up for (one call, then the rate resumes). ticker_kick() asks for a
 * call now. ticker_stop() wakes the thread at once, waits for a call in progress to
 * return and joins it, so nothing runs after it returns.
 */
#ifndef XDROP_TICKER_H
#define XDROP_TICKER_H

#include <stdbool.h>
#include <stddef.h>

struct ticker;

struct ticker_opts {
	size_t sz;	    /* sizeof(struct ticker_opts) */
	const char *name;   /* thread name, for ps/top (at most 15 characters are kept) */
	unsigned period_ms; /* > 0 */
	bool first_now;	    /* the first call at start (else one period after) */
	void (*fn)(void *arg);
	void *arg;
};

/* Starts a ticker. Returns 0 with *out set, or -EINVAL (no fn, no period) or -errno. */
int ticker_start(struct ticker **out, const struct ticker_opts *o);

/* Asks for a call as soon as the thread is free; the rate continues from that call. */
void ticker_kick(struct ticker *t);

/* Stops the thread, waits for it and frees t (NULL is fine). Not from within fn. */
void ticker_stop(struct ticker *t);

#endif
