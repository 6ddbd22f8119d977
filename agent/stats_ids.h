/* SPDX-License-Identifier: MIT */
/*
 * stats_ids: the sampler's map between counter slots and the ids of the entries holding
 * them, built from the rule set at one revision (agent/stats.c keeps it with the counters
 * read under it). Packed: the ids one after another in one string arena, per slot a
 * 32-bit offset into it (and whether the entry is a whitelist entry), and an
 * open-addressing table of slots by id (lib/ptab.h); about 65 bytes a rule with a 36-byte
 * id, where a uthash entry with its own copy of the id took about 160.
 */
#ifndef XDROP_STATS_IDS_H
#define XDROP_STATS_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane.h"
#include "ptab.h"
#include "ruleset.h"

struct idmap {
	char *arena; /* the ids, each with its NUL */
	size_t alen, acap;
	uint32_t *at;	  /* per slot: 1 + the offset of its id, | IDMAP_WL; 0: no entry */
	size_t n;	  /* slots in at */
	struct ptab byid; /* elements: (void *)(slot + 1) */
	size_t count;	  /* entries */
};

/* The map of the entries of rs in the data plane now. 0 or -ENOMEM (m then empty). */
int idmap_build(struct idmap *m, struct dataplane *dp, struct ruleset *rs);
/* Frees m's memory; m is empty (all zero) afterwards. */
void idmap_free(struct idmap *m);
/* The id of slot's entry, or NULL when it has none. */
const char *idmap_id(const struct idmap *m, size_t slot);
/* Whether slot's entry is a whitelist entry. */
bool idmap_wl(const struct idmap *m, size_t slot);
/* The slot of entry id: 0 and *slot, or -ENOENT. */
int idmap_slot(const struct idmap *m, const char *id, uint32_t *slot);

#endif
