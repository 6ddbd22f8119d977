// SPDX-License-Identifier: MIT
/*
 * stats_ids: the sampler's slot <-> id map (see stats_ids.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stats_ids.h"

#define IDMAP_WL (1u << 31)

/* While building: the map, and each entry's slot and packed offset, in a vector. */
struct build {
	struct idmap *m;
	struct dataplane *dp;
	uint64_t *ent; /* slot << 32 | at */
	size_t nent, capent;
	int err;
};

static int push_id(struct build *b, const char *id, uint32_t *at)
{
	struct idmap *m = b->m;
	size_t len = strlen(id) + 1;

	if (m->alen + len >= IDMAP_WL - 1)
		return -ENOMEM;
	if (m->alen + len > m->acap) {
		size_t nc = m->acap ? m->acap * 2 : 64 * 1024;
		char *a;

		while (nc < m->alen + len)
			nc *= 2;
		a = realloc(m->arena, nc);
		if (!a)
			return -ENOMEM;
		m->arena = a;
		m->acap = nc;
	}
	memcpy(m->arena + m->alen, id, len);
	*at = (uint32_t)m->alen + 1;
	m->alen += len;
	return 0;
}

static void add_entry(void *arg, const char *id, const struct rule_spec *spec, bool active)
{
	struct build *b = arg;
	uint32_t slot, at;

	if (b->err || !active || dataplane_entry_slot(b->dp, spec, &slot))
		return;
	if (b->nent == b->capent) {
		size_t nc = b->capent ? b->capent * 2 : 1024;
		uint64_t *v = realloc(b->ent, nc * sizeof(*v));

		if (!v) {
			b->err = -ENOMEM;
			return;
		}
		b->ent = v;
		b->capent = nc;
	}
	b->err = push_id(b, id, &at);
	if (b->err)
		return;
	if (spec->kind == XDROP_KIND_WL)
		at |= IDMAP_WL;
	b->ent[b->nent++] = (uint64_t)slot << 32 | at;
	if (slot + (size_t)1 > b->m->n)
		b->m->n = slot + (size_t)1;
}

/* at[] from the vector. */
static int index_entries(struct idmap *m, const uint64_t *ent, size_t n)
{
	m->at = calloc(m->n + 1, sizeof(*m->at));
	if (!m->at)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		m->at[(uint32_t)(ent[i] >> 32)] = (uint32_t)ent[i];
	m->count = n;
	return 0;
}

int idmap_build(struct idmap *m, struct dataplane *dp, struct ruleset *rs)
{
	struct build b = {.m = m, .dp = dp};

	memset(m, 0, sizeof(*m));
	ruleset_foreach_entry(rs, add_entry, &b);
	if (!b.err)
		b.err = index_entries(m, b.ent, b.nent);
	free(b.ent);
	if (b.err)
		idmap_free(m);
	return b.err;
}

void idmap_free(struct idmap *m)
{
	free(m->arena);
	free(m->at);
	memset(m, 0, sizeof(*m));
}

const char *idmap_id(const struct idmap *m, size_t slot)
{
	uint32_t at = slot < m->n ? m->at[slot] : 0;

	return at ? m->arena + (at & ~IDMAP_WL) - 1 : NULL;
}

bool idmap_wl(const struct idmap *m, size_t slot)
{
	return slot < m->n && (m->at[slot] & IDMAP_WL);
}

bool idmap_is(const struct idmap *m, size_t slot, const char *id)
{
	const char *have = idmap_id(m, slot);

	return have && !strcmp(have, id);
}
