// SPDX-License-Identifier: MIT
/*
 * cache: a fixed array of slots under one mutex (see cache.h). Every lookup visits every
 * slot, so the time it takes does not depend on where (or whether) a credential is cached;
 * with tens of slots that costs less than copying one body.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "auth.h"
#include "cache.h"
#include "clock.h"

struct slot {
	struct cache_key key;
	int64_t asked; /* clock_mono_ms() before the upstream call that produced body */
	char *body;    /* NULL: the slot is empty */
	size_t len;
};

struct cache {
	pthread_mutex_t lock;
	int64_t ttl_ms;
	size_t max_body;
	size_t n;
	struct slot *slots;
};

int cache_open(struct cache **out, unsigned ttl_ms, size_t max_entries, size_t max_body)
{
	struct cache *c;

	*out = NULL;
	if (!ttl_ms)
		return 0;
	if (!max_entries)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->ttl_ms = ttl_ms;
	c->max_body = max_body;
	c->n = max_entries;
	c->slots = calloc(max_entries, sizeof(*c->slots));
	if (!c->slots) {
		cache_close(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void cache_close(struct cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; c->slots && i < c->n; i++)
		free(c->slots[i].body);
	free(c->slots);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void cache_key_of(const char *credential, struct cache_key *k)
{
	mbedtls_sha256_ret((const unsigned char *)credential, strlen(credential), k->digest, 0);
}

static bool live(const struct cache *c, const struct slot *s, int64_t now)
{
	return s->body && now - s->asked < c->ttl_ms;
}

/* The slot holding k (live or not), or NULL. Lock held. */
static struct slot *find(struct cache *c, const struct cache_key *k)
{
	struct slot *found = NULL;

	for (size_t i = 0; i < c->n; i++) {
		struct slot *s = &c->slots[i];
		bool eq = auth_ct_equal(s->key.digest, k->digest, sizeof(k->digest));

		if (eq && s->body)
			found = s;
	}
	return found;
}

int cache_get(struct cache *c, const struct cache_key *k, char **body, size_t *len)
{
	struct slot *s;
	int err = -ENOENT;

	*body = NULL;
	*len = 0;
	if (!c)
		return -ENOENT;
	pthread_mutex_lock(&c->lock);
	s = find(c, k);
	if (s && live(c, s, clock_mono_ms())) {
		*body = malloc(s->len + 1);
		if (*body) {
			memcpy(*body, s->body, s->len + 1);
			*len = s->len;
			err = 0;
		} else {
			err = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return err;
}

int cache_put(struct cache *c, const struct cache_key *k, int64_t asked, const char *body,
	      size_t len)
{
	struct slot *s, *victim = NULL;
	char *copy, *old = NULL;
	int64_t now;

	if (!c || len > c->max_body)
		return 0;
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, body, len);
	copy[len] = 0;
	pthread_mutex_lock(&c->lock);
	now = clock_mono_ms();
	s = find(c, k);
	if (s && s->asked > asked) {
		old = copy; /* a later call's reply is there already: keep it */
		goto out;
	}
	if (!s) {
		/* an empty or expired slot, else the oldest entry's */
		for (size_t i = 0; i < c->n && !s; i++) {
			struct slot *t = &c->slots[i];

			if (!live(c, t, now))
				s = t;
			else if (!victim || t->asked < victim->asked)
				victim = t;
		}
		if (!s)
			s = victim;
	}
	old = s->body;
	s->key = *k;
	s->asked = asked;
	s->body = copy;
	s->len = len;
out:
	pthread_mutex_unlock(&c->lock);
	free(old);
	return 0;
}
