/* SPDX-License-Identifier: MIT */
/*
 * ptab: a compact hash table of pointers, open addressing with linear probing. Each slot
 * is the element's pointer and its 32-bit hash, 12 bytes, and nothing is allocated per
 * element: a million elements cost 16 to 24 MiB however large they are, where a chained
 * table (uthash) costs a 56-byte handle in every element and a bucket array besides.
 *
 * The table does not know what its elements are: the caller gives the hash of the key on
 * every call and, for lookups, an equality test of an element with the key (called only
 * for slots whose stored hash is the key's). An element is stored at most once; the
 * caller finds before it adds. Deletion shifts the following run back (no tombstones),
 * so lookups stay short after any number of deletions. Iterate with
 * for (i = 0; i < t->cap; i++) if (t->v[i]) ...; adding or deleting while iterating is
 * not allowed, except ptab_clear.
 */
#ifndef XDROP_PTAB_H
#define XDROP_PTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ptab {
	void **v;    /* cap slots: an element or NULL */
	uint32_t *h; /* the hash of each slot's element */
	size_t cap;  /* slots (any number) */
	size_t n;    /* elements stored */
};

/* Whether element e has key. */
typedef bool (*ptab_eq)(const void *e, const void *key);

/* The hash of len bytes at p (FNV-1a, 64-bit, folded). */
uint32_t ptab_hash(const void *p, size_t len);
static inline uint32_t ptab_hash_str(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return ptab_hash(s, n);
}

/* The element with key (hash h), or NULL. */
void *ptab_find(const struct ptab *t, uint32_t h, ptab_eq eq, const void *key);
/* Stores e (hash h; not already stored). 0 or -ENOMEM (the table is unchanged). */
int ptab_add(struct ptab *t, uint32_t h, void *e);
/* Removes and returns the element with key (hash h), or NULL when there is none. */
void *ptab_del(struct ptab *t, uint32_t h, ptab_eq eq, const void *key);
/* Makes room for n elements in all (one allocation, for a bulk load). 0 or -ENOMEM. */
int ptab_reserve(struct ptab *t, size_t n);
/* Frees the slots (not the elements); the table is empty and usable again. */
void ptab_free(struct ptab *t);

#endif
