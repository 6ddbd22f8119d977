/* SPDX-License-Identifier: MIT */
/*
 * stats_ids: the sampler's map between counter slots and the ids of the entries holding
 * them, built from the rule set at one revision (agent/stats.c keeps it with the counters
 * read under it). Packed: the ids one after another in one string arena and per slot a
 * 32-bit offset into it (and whether the entry is a whitelist entry): about 41 bytes a
 * rule with a 36-byte id. The way from an id to its slot is the rule set's
 * (ruleset_entry_slots), checked against the map with idmap_is: a table of slots by id
 * here cost 12 to 24 bytes a rule more.
 */
#ifndef XDROP_STATS_IDS_H
#define XDROP_STATS_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane.h"
#include "ruleset.h"

struct idmap {
	char *arena; /* the ids, each with its NUL */
	size_t alen, acap;
	uint32_t *at; /* per slot: 1 + the offset of its id, | IDMAP_WL; 0: no entry */
	size_t n;     /* slots in at */
	size_t count; /* entries */
};

/* The map of the entries of rs in the data plane now. 0 or -ENOMEM (m then empty). */
int idmap_build(struct idmap *m, struct dataplane *dp, struct ruleset *rs);
/* Frees m's memory; m is empty (all zero) afterwards. */
void idmap_free(struct idmap *m);
/* The id of slot's entry, or NULL when it has none. */
const char *idmap_id(const struct idmap *m, size_t slot);
/* Whether slot's entry is a whitelist entry. */
bool idmap_wl(const struct idmap *m, size_t slot);
/* Whether slot's entry is id's. */
bool idmap_is(const struct idmap *m, size_t slot, const char *id);

#endif
