// SPDX-License-Identifier: MIT
/*
 * ptab: open addressing with linear probing (see ptab.h). The table grows by half again
 * (or to what a reservation needs) when it would be more than three quarters full, so it
 * is between 1/2 and 3/4 full after adds one at a time, 3/4 after a reservation: 16 to 24
 * bytes per element.
 */
#include <errno.h>
#include <stdlib.h>

#include "ptab.h"

uint32_t ptab_hash(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	return (uint32_t)(h ^ (h >> 32));
}

/* The home slot of hash h in cap slots: the high bits of h scaled to cap (any cap, not only
 * a power of two: a table reserved for n elements is n * 4 / 3 slots, not the next power
 * of two above it, which is up to twice that). */
static size_t home_of(uint32_t h, size_t cap)
{
	return (size_t)(((uint64_t)h * cap) >> 32);
}

static size_t next_of(size_t i, size_t cap)
{
	return i + 1 == cap ? 0 : i + 1;
}

/* How far slot j is after slot from, going round. */
static size_t dist(size_t from, size_t j, size_t cap)
{
	return j >= from ? j - from : j + cap - from;
}

void *ptab_find(const struct ptab *t, uint32_t h, ptab_eq eq, const void *key)
{
	if (!t->cap)
		return NULL;
	for (size_t i = home_of(h, t->cap); t->v[i]; i = next_of(i, t->cap))
		if (t->h[i] == h && eq(t->v[i], key))
			return t->v[i];
	return NULL;
}

/* Puts e in the first free slot of its run (room is there). */
static void place(void **v, uint32_t *hs, size_t cap, uint32_t h, void *e)
{
	size_t i = home_of(h, cap);

	while (v[i])
		i = next_of(i, cap);
	v[i] = e;
	hs[i] = h;
}

static int resize(struct ptab *t, size_t cap)
{
	void **v = calloc(cap, sizeof(*v));
	uint32_t *h = malloc(cap * sizeof(*h));

	if (!v || !h) {
		free(v);
		free(h);
		return -ENOMEM;
	}
	for (size_t i = 0; i < t->cap; i++)
		if (t->v[i])
			place(v, h, cap, t->h[i], t->v[i]);
	free(t->v);
	free(t->h);
	t->v = v;
	t->h = h;
	t->cap = cap;
	return 0;
}

int ptab_reserve(struct ptab *t, size_t n)
{
	size_t cap;

	if (n + 1 <= t->cap / 4 * 3)
		return 0;
	/* by half again at least (adds one at a time stay amortised), else just what n needs */
	cap = t->cap + t->cap / 2;
	if (cap < (n + 1) / 3 * 4 + 16)
		cap = (n + 1) / 3 * 4 + 16;
	return resize(t, cap);
}

int ptab_add(struct ptab *t, uint32_t h, void *e)
{
	int err = ptab_reserve(t, t->n + 1);

	if (err)
		return err;
	place(t->v, t->h, t->cap, h, e);
	t->n++;
	return 0;
}

void *ptab_del(struct ptab *t, uint32_t h, ptab_eq eq, const void *key)
{
	size_t cap = t->cap, i, j;
	void *e = NULL;

	if (!cap)
		return NULL;
	for (i = home_of(h, cap); t->v[i]; i = next_of(i, cap))
		if (t->h[i] == h && eq(t->v[i], key)) {
			e = t->v[i];
			break;
		}
	if (!e)
		return NULL;
	/* shift back each later element of the run whose home is not between the hole and
	 * it (cyclically), so no lookup meets the hole before its element */
	for (j = next_of(i, cap); t->v[j]; j = next_of(j, cap)) {
		size_t home = home_of(t->h[j], cap);

		if (dist(home, j, cap) >= dist(i, j, cap)) {
			t->v[i] = t->v[j];
			t->h[i] = t->h[j];
			i = j;
		}
	}
	t->v[i] = NULL;
	t->n--;
	return e;
}

void ptab_free(struct ptab *t)
{
	free(t->v);
	free(t->h);
	t->v = NULL;
	t->h = NULL;
	t->cap = t->n = 0;
}
