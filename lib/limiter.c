// SPDX-License-Identifier: MIT
/*
 * limiter: the failed-credential table (see limiter.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "limiter.h"

struct slot {
	struct limiter_src src;
	int64_t start; /* monotonic seconds; the window is [start, start + window) */
	unsigned count;
	bool used;
};

struct limiter {
	pthread_mutex_t lock;
	unsigned nslots, attempts, window;
	struct slot overflow; /* every source that found the table full */
	struct slot *slots;
};

static int64_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

int limiter_open(struct limiter **out, unsigned slots, unsigned attempts, unsigned window_s)
{
	struct limiter *l;

	*out = NULL;
	if (!slots || !attempts || !window_s)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->slots = calloc(slots, sizeof(*l->slots));
	if (!l->slots) {
		free(l);
		return -ENOMEM;
	}
	pthread_mutex_init(&l->lock, NULL);
	l->nslots = slots;
	l->attempts = attempts;
	l->window = window_s;
	*out = l;
	return 0;
}

void limiter_close(struct limiter *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l->slots);
	free(l);
}

static void from_v4(const struct in_addr *a, struct limiter_src *out)
{
	memset(out, 0, sizeof(*out));
	out->b[10] = out->b[11] = 0xff;
	memcpy(out->b + 12, a, 4);
}

static void from_v6(const struct in6_addr *a, struct limiter_src *out)
{
	memcpy(out->b, a, 16);
	if (IN6_IS_ADDR_V4MAPPED(a))
		return;		  /* an IPv4 client on a dual-stack socket: the whole address */
	memset(out->b + 8, 0, 8); /* the /64 */
}

int limiter_src_from_sockaddr(const struct sockaddr *sa, struct limiter_src *out)
{
	if (sa && sa->sa_family == AF_INET) {
		from_v4(&((const struct sockaddr_in *)sa)->sin_addr, out);
		return 0;
	}
	if (sa && sa->sa_family == AF_INET6) {
		from_v6(&((const struct sockaddr_in6 *)sa)->sin6_addr, out);
		return 0;
	}
	return -EAFNOSUPPORT;
}

int limiter_src_from_text(const char *addr, struct limiter_src *out)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (addr && inet_pton(AF_INET, addr, &a4) == 1) {
		from_v4(&a4, out);
		return 0;
	}
	if (addr && inet_pton(AF_INET6, addr, &a6) == 1) {
		from_v6(&a6, out);
		return 0;
	}
	return -EINVAL;
}

static bool live(const struct limiter *l, const struct slot *s, int64_t now)
{
	return s->used && now - s->start < (int64_t)l->window;
}

/* The slot that counts src: its own, else the overflow bucket when no slot is free (and
 * then *free_slot is NULL), else NULL with *free_slot set. Lock held. */
static struct slot *find(struct limiter *l, const struct limiter_src *src, int64_t now,
			 struct slot **free_slot)
{
	*free_slot = NULL;
	for (unsigned i = 0; i < l->nslots; i++) {
		struct slot *s = &l->slots[i];

		if (!live(l, s, now)) {
			if (!*free_slot)
				*free_slot = s;
			continue;
		}
		if (memcmp(&s->src, src, sizeof(*src)) == 0)
			return s;
	}
	return *free_slot ? NULL : &l->overflow;
}

int limiter_check(struct limiter *l, const struct limiter_src *src, unsigned *retry_s)
{
	int64_t now = now_s();
	struct slot *s, *fs;
	int rc = 0;

	pthread_mutex_lock(&l->lock);
	s = find(l, src, now, &fs);
	if (s && live(l, s, now) && s->count >= l->attempts) {
		int64_t left = s->start + (int64_t)l->window - now;

		*retry_s = left > 0 ? (unsigned)left : 1;
		rc = -EAGAIN;
	}
	pthread_mutex_unlock(&l->lock);
	return rc;
}

void limiter_fail(struct limiter *l, const struct limiter_src *src)
{
	int64_t now = now_s();
	struct slot *s, *fs;

	pthread_mutex_lock(&l->lock);
	s = find(l, src, now, &fs);
	if (!s)
		s = fs;
	if (!live(l, s, now)) {
		s->src = *src;
		s->start = now;
		s->count = 0;
		s->used = true;
	}
	if (s->count < UINT32_MAX)
		s->count++;
	pthread_mutex_unlock(&l->lock);
}

unsigned limiter_used(struct limiter *l, bool *overflow)
{
	int64_t now = now_s();
	unsigned n = 0;

	pthread_mutex_lock(&l->lock);
	for (unsigned i = 0; i < l->nslots; i++)
		n += live(l, &l->slots[i], now);
	*overflow = live(l, &l->overflow, now);
	pthread_mutex_unlock(&l->lock);
	return n;
}
