// SPDX-License-Identifier: MIT
/*
 * ptab: open addressing with linear probing (see ptab.h). The table grows by doubling
 * when it would be more than three quarters full, so it is between 3/8 and 3/4 full
 * after growing: 16 to 32 bytes per element.
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

void *ptab_find(const struct ptab *t, uint32_t h, ptab_eq eq, const void *key)
{
	size_t mask = t->cap - 1;

	if (!t->cap)
		return NULL;
	for (size_t i = h & mask; t->v[i]; i = (i + 1) & mask)
		if (t->h[i] == h && eq(t->v[i], key))
			return t->v[i];
	return NULL;
}

/* Puts e in the first free slot of its run (room is there). */
static void place(void **v, uint32_t *hs, size_t cap, uint32_t h, void *e)
{
	size_t i = h & (cap - 1);

	while (v[i])
		i = (i + 1) & (cap - 1);
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
	size_t cap = t->cap ? t->cap : 16;

	while (n + 1 > cap / 4 * 3)
		cap *= 2;
	return cap == t->cap ? 0 : resize(t, cap);
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
	size_t mask = t->cap - 1, i, j;
	void *e = NULL;

	if (!t->cap)
		return NULL;
	for (i = h & mask; t->v[i]; i = (i + 1) & mask)
		if (t->h[i] == h && eq(t->v[i], key)) {
			e = t->v[i];
			break;
		}
	if (!e)
		return NULL;
	/* shift back each later element of the run whose home is not between the hole and
	 * it (cyclically), so no lookup meets the hole before its element */
	for (j = (i + 1) & mask; t->v[j]; j = (j + 1) & mask) {
		size_t home = t->h[j] & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
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
