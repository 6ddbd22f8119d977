// SPDX-License-Identifier: MIT
/* ticker: periodic work on the monotonic clock (see ticker.h). */
#include "ticker.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"

struct ticker {
	struct ticker_opts o;
	char name[16];
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool cond_ok, started, stop, kicked;
};

static void *ticker_main(void *arg)
{
	struct ticker *t = arg;
	int64_t due = clock_mono_ms() + (t->o.first_now ? 0 : t->o.period_ms);

	pthread_mutex_lock(&t->lock);
	for (;;) {
		while (!t->stop && !t->kicked &&
		       clock_cond_wait_until(&t->cond, &t->lock, due) == 0)
			;
		if (t->stop)
			break;
		t->kicked = false;
		pthread_mutex_unlock(&t->lock);
		t->o.fn(t->o.arg);
		pthread_mutex_lock(&t->lock);
		/* keep the rate; after a kick or a long call, count from now */
		due += t->o.period_ms;
		if (due <= clock_mono_ms())
			due = clock_mono_ms() + t->o.period_ms;
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

int ticker_start(struct ticker **out, const struct ticker_opts *o)
{
	struct ticker *t;
	int err;

	*out = NULL;
	if (!o || o->sz < sizeof(*o) || !o->fn || !o->period_ms)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->o = *o;
	snprintf(t->name, sizeof(t->name), "%s", o->name ? o->name : "ticker");
	pthread_mutex_init(&t->lock, NULL);
	err = clock_cond_init(&t->cond);
	if (err)
		goto out;
	t->cond_ok = true;
	err = -pthread_create(&t->thread, NULL, ticker_main, t);
	if (err)
		goto out;
	t->started = true;
	pthread_setname_np(t->thread, t->name);
out:
	if (err) {
		ticker_stop(t);
		return err;
	}
	*out = t;
	return 0;
}

void ticker_kick(struct ticker *t)
{
	pthread_mutex_lock(&t->lock);
	t->kicked = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

void ticker_stop(struct ticker *t)
{
	if (!t)
		return;
	if (t->started) {
		pthread_mutex_lock(&t->lock);
		t->stop = true;
		pthread_cond_signal(&t->cond);
		pthread_mutex_unlock(&t->lock);
		pthread_join(t->thread, NULL);
	}
	if (t->cond_ok)
		pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
}
