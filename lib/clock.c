// SPDX-License-Identifier: MIT
/* clock: monotonic and wall time, deadlines on the monotonic clock (see clock.h). */
#include "clock.h"

#include <errno.h>

static int64_t read_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t clock_mono_ns(void)
{
	return read_ns(CLOCK_MONOTONIC);
}

int64_t clock_mono_ms(void)
{
	return read_ns(CLOCK_MONOTONIC) / 1000000;
}

int64_t clock_wall_ns(void)
{
	return read_ns(CLOCK_REALTIME);
}

int64_t clock_wall_ms(void)
{
	return read_ns(CLOCK_REALTIME) / 1000000;
}

struct timespec clock_mono_ts(int64_t mono_ms)
{
	struct timespec ts = {.tv_sec = mono_ms / 1000, .tv_nsec = (mono_ms % 1000) * 1000000};

	return ts;
}

int clock_cond_init(pthread_cond_t *c)
{
	pthread_condattr_t ca;
	int err;

	err = pthread_condattr_init(&ca);
	if (err)
		return -err;
	err = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (!err)
		err = pthread_cond_init(c, &ca);
	pthread_condattr_destroy(&ca);
	return -err;
}

int clock_cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, int64_t deadline_ms)
{
	struct timespec ts = clock_mono_ts(deadline_ms);

	if (clock_mono_ms() >= deadline_ms)
		return -ETIMEDOUT;
	return pthread_cond_timedwait(c, m, &ts) == ETIMEDOUT ? -ETIMEDOUT : 0;
}
