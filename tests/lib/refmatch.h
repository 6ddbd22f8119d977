/* SPDX-License-Identifier: MIT */
/*
 * refmatch: a plain reference matcher written from docs/matching.md, independent of the
 * program and of rule_rank: it scans every rule, keeps every one that matches, and picks
 * the winner by comparing the documented criteria one after another. The differential
 * test holds the kernel to its verdicts.
 */
#ifndef XDROP_TEST_REFMATCH_H
#define XDROP_TEST_REFMATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rule.h"

/* A packet as the reference sees it (taken from the frame's headers). */
struct ref_pkt {
	struct xdrop_addr src, dst; /* IPv4-mapped for IPv4 */
	bool is_v6;
	uint8_t proto;
	bool has_ports; /* TCP/UDP and not a later fragment */
	uint16_t sport, dport;
	bool has_tcp;
	uint8_t tcp_flags;
	uint16_t l3_len;
	uint8_t anomaly;   /* enum xdrop_anomaly */
	bool unclassified; /* IHL < 5, total length < IHL, TCP offset < 5: anomaly rules only */
};

/* Reads the packet fields from a frame built by pkt_build (no VLAN, IPv6 extension headers
 * of the destination-options and fragment kinds only, nothing truncated), anomalies
 * included. Returns 0 or -1. */
int ref_pkt_from_frame(const uint8_t *frame, size_t len, struct ref_pkt *out);

struct ref_state {
	const struct rule_spec *rules;
	size_t n;
	uint64_t *tokens; /* per rule: rate-limit tokens left (the test clock never moves) */
};

/* Initializes tokens to each rate_limit rule's burst. Returns 0 or -ENOMEM. */
int ref_init(struct ref_state *st, const struct rule_spec *rules, size_t n);
void ref_fini(struct ref_state *st);

/* The verdict (XDP_PASS or XDP_DROP) and, through *winner, the index of the deciding entry
 * (-1 when nothing matched). Consumes a token when a rate_limit rule decides. */
int ref_verdict(struct ref_state *st, const struct ref_pkt *p, long *winner);

#endif
