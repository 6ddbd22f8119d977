// SPDX-License-Identifier: MIT
/*
 * dp_gen: the three primitives of the atomic switch (bpf/xdrop.h, "Atomic switches"): the
 * config buffers, double-buffered by generation parity and written from the model's entry
 * counts; the generation word, mmapped and flipped with one release store; and the RCU
 * grace period after which no program still runs with the previous generation. See
 * dp_priv.h.
 */
#include <errno.h>
#include <string.h>

#include <bpf/bpf.h>

#include "dp_priv.h"

uint32_t dp_active_bits(const struct dataplane *dp, int table, int kind)
{
	uint32_t bits = 0;

	for (int b = 0; b < XDROP_NCOMBOS; b++)
		if (dp->count[table][kind][b])
			bits |= 1u << b;
	return bits;
}

int dp_config_write(struct dataplane *dp, uint32_t idx)
{
	struct xdrop_config c, cur;
	uint32_t cidx = (uint32_t)(dp->gen & 1);
	int fd = fd_of(dp->skel->maps.xdrop_config);

	memset(&c, 0, sizeof(c));
	for (int k = 0; k < XDROP_NKINDS; k++) {
		c.exact_active[k] = dp_active_bits(dp, TBL_EXACT, k);
		c.cidr_active[k] = dp_active_bits(dp, TBL_CIDR, k);
	}
	c.sample_every = __atomic_load_n(&dp->sample_every, __ATOMIC_RELAXED);
	/* flags (fast-forward, protection) carry over from the active buffer */
	if (bpf_map_lookup_elem(fd, &cidx, &cur) == 0)
		c.flags = cur.flags;
	if (bpf_map_update_elem(fd, &idx, &c, BPF_ANY))
		return -errno;
	return 0;
}

void dp_gen_store(struct dataplane *dp, uint64_t gen)
{
	__atomic_store_n(&dp->genp->gen, gen, __ATOMIC_RELEASE);
	dp->gen = gen;
}

/* An update of a map-in-map slot returns only after every program that might still see
 * the previous value has finished. */
int dp_grace_period(struct dataplane *dp)
{
	uint32_t zero = 0;

	if (bpf_map_update_elem(fd_of(dp->skel->maps.xdrop_counters), &zero, &dp->chunk_fd[0],
				BPF_ANY))
		return -errno;
	__atomic_add_fetch(&dp->grace_periods, 1, __ATOMIC_RELAXED);
	return 0;
}

uint64_t dataplane_grace_periods(const struct dataplane *dp)
{
	return __atomic_load_n(&dp->grace_periods, __ATOMIC_RELAXED);
}
