/* SPDX-License-Identifier: MIT */
/*
 * benchset: the rule sets the data-plane benchmarks share, so that the micro-benchmark,
 * the veth lab's XDrop and the nftables set hold the same addresses.
 *
 * The "one shape" set is N exact source addresses: rule i drops source BENCH_SRC4(i)
 * (16.0.0.0 + i for IPv4, 2001:db8:16::i for IPv6). BENCH_MISS4 is in no rule.
 */
#ifndef XDROP_BENCHSET_H
#define XDROP_BENCHSET_H

#include <stdint.h>
#include <string.h>

#include "rule.h"

#define BENCH_NRULES	1000000u
#define BENCH_SRC4_BASE 0x10000000u /* 16.0.0.0 */
#define BENCH_MISS4	0x63000001u /* 99.0.0.1 */
#define BENCH_HIT_INDEX 500000u	    /* the rule the veth generator's flow hits */

/* IPv4 address (host order) as IPv4-mapped xdrop_addr. */
static inline void bench_addr4(uint32_t ip, struct xdrop_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->b[10] = 0xff;
	a->b[11] = 0xff;
	a->b[12] = (uint8_t)(ip >> 24);
	a->b[13] = (uint8_t)(ip >> 16);
	a->b[14] = (uint8_t)(ip >> 8);
	a->b[15] = (uint8_t)ip;
}

/* 2001:db8:16::<i> */
static inline void bench_addr6(uint32_t i, struct xdrop_addr *a)
{
	static const uint8_t base[16] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x16};

	memcpy(a->b, base, 16);
	a->b[12] = (uint8_t)(i >> 24);
	a->b[13] = (uint8_t)(i >> 16);
	a->b[14] = (uint8_t)(i >> 8);
	a->b[15] = (uint8_t)i;
}

/* Rule i of the one-shape set: drop source address i (IPv4 or IPv6). */
static inline void bench_src_rule(uint32_t i, int v6, struct rule_spec *r)
{
	memset(r, 0, sizeof(*r));
	r->kind = XDROP_KIND_RULE;
	r->action = XDROP_ACT_DROP;
	r->src.plen = 128;
	if (v6)
		bench_addr6(i, &r->src.addr);
	else
		bench_addr4(BENCH_SRC4_BASE + i, &r->src.addr);
}

#endif
