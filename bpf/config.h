/* SPDX-License-Identifier: GPL-2.0 */
/*
 * config.h: a packet's config, the slot of its generation in the config ring (xdrop.h,
 * XDROP_CFG_SLOTS), for xdrop.bpf.c (included there, after the maps). With the test
 * switches set, the program spins between reading the generation and reading the slot (a
 * slow reader, so that flips happen while a packet is in flight) and records both
 * generations, the packet's and the slot's (tests/bpf/test_ring.c).
 */
#ifndef XDROP_BPF_CONFIG_H
#define XDROP_BPF_CONFIG_H

static long spin_step(__u32 i, void *ctx)
{
	return 0;
}

/* The config of generation gen; NULL cannot happen (the ring always holds the slot). */
static __always_inline struct xdrop_config *config_of(__u64 gen)
{
	__u32 idx = gen & (XDROP_CFG_SLOTS - 1), zero = 0;
	struct xdrop_config *cfg;

	if (test_reader_spin)
		bpf_loop(test_reader_spin, spin_step, NULL, 0);
	cfg = bpf_map_lookup_elem(&xdrop_cfgring, &idx);
	if (cfg && record_gen) {
		__u64 *seen = bpf_map_lookup_elem(&xdrop_seen, &zero);
		__u64 *seen_cfg = bpf_map_lookup_elem(&xdrop_seen_cfg, &zero);

		if (seen)
			*seen = gen;
		if (seen_cfg)
			*seen_cfg = cfg->gen;
	}
	return cfg;
}

#endif
