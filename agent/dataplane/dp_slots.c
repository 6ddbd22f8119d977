// SPDX-License-Identifier: MIT
/*
 * dp_slots: counter and rate slots. Every entry owns a slot for its life: the index of its
 * per-CPU match/drop counters (in chunks of XDROP_SLOT_CHUNK, created as rules arrive so
 * that memory follows the rules loaded) and, for rate_limit entries, of its token bucket in
 * xdrop_rate. A freed slot is zeroed and reused only after a grace period, by the caller's
 * ordering (the transaction's cleanup frees slots). See dp_priv.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "clock.h"
#include "dp_priv.h"
#include "log.h"

int dp_chunk_create(struct dataplane *dp, uint32_t idx)
{
	int fd, outer = fd_of(dp->skel->maps.xdrop_counters), err;
	char name[16];

	snprintf(name, sizeof(name), "xdrop_cnt%u", idx);
	fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, name, 4, sizeof(struct xdrop_slot_counters),
			    XDROP_SLOT_CHUNK, NULL);
	if (fd < 0) {
		log_error("counter chunk %u: create failed: %s", idx, strerror(errno));
		return -errno;
	}
	if (bpf_map_update_elem(outer, &idx, &fd, BPF_ANY)) {
		err = -errno;
		log_error("counter chunk %u: insert failed: %s", idx, strerror(errno));
		close(fd);
		return err;
	}
	dp->chunk_fd[idx] = fd;
	if (idx >= dp->nchunks)
		dp->nchunks = idx + 1;
	return 0;
}

int dp_slot_alloc(struct dataplane *dp, uint32_t *slot)
{
	uint32_t s, chunk;
	int err;

	if (dp->nfree_slots) {
		*slot = dp->free_slots[--dp->nfree_slots];
		return 0;
	}
	s = dp->next_slot;
	chunk = s >> XDROP_SLOT_CHUNK_BITS;
	if (chunk >= XDROP_MAX_SLOT_CHUNKS)
		return -ENOSPC;
	if (dp->chunk_fd[chunk] < 0) {
		err = dp_chunk_create(dp, chunk);
		if (err)
			return err;
	}
	dp->next_slot++;
	*slot = s;
	return 0;
}

int dp_free_slot_push(struct dataplane *dp, uint32_t slot)
{
	if (dp->nfree_slots == dp->cap_free_slots) {
		size_t cap = dp->cap_free_slots ? dp->cap_free_slots * 2 : 1024;
		uint32_t *n = realloc(dp->free_slots, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		dp->free_slots = n;
		dp->cap_free_slots = cap;
	}
	dp->free_slots[dp->nfree_slots++] = slot;
	return 0;
}

void dp_slot_free(struct dataplane *dp, uint32_t slot)
{
	uint32_t chunk = slot >> XDROP_SLOT_CHUNK_BITS, idx = slot & (XDROP_SLOT_CHUNK - 1);
	struct xdrop_slot_counters *zero = calloc((size_t)dp->ncpus, sizeof(*zero));

	if (zero && chunk < XDROP_MAX_SLOT_CHUNKS && dp->chunk_fd[chunk] >= 0)
		bpf_map_update_elem(dp->chunk_fd[chunk], &idx, zero, BPF_ANY);
	free(zero);
	dp_free_slot_push(dp, slot); /* on failure the slot leaks; counters stay correct */
}

int dp_rate_create(struct dataplane *dp, const struct xdrop_act *a)
{
	struct xdrop_rate_state st;

	memset(&st, 0, sizeof(st));
	st.tokens = (uint64_t)a->burst * XDROP_TOKEN_SCALE;
	st.last_ns = dp->o.test_clock ? 0 : (uint64_t)clock_mono_ns();
	if (bpf_map_update_elem(fd_of(dp->skel->maps.xdrop_rate), &a->slot, &st, BPF_NOEXIST) &&
	    errno != EEXIST)
		return -errno;
	return 0;
}

void dp_rate_delete(struct dataplane *dp, uint32_t slot)
{
	bpf_map_delete_elem(fd_of(dp->skel->maps.xdrop_rate), &slot);
}
