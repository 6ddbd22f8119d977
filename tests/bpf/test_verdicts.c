// SPDX-License-Identifier: MIT
/*
 * test_verdicts: every verdict the XDP program can give, as a table of scenarios run
 * through BPF_PROG_TEST_RUN on the real program. A scenario loads a rule set (through
 * dataplane_replace, so every scenario is also an atomic full replacement) and sends
 * packets with their expected verdicts and counter changes. No frame may ever get
 * XDP_ABORTED.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <linux/bpf.h>

#include <arpa/inet.h>

#include "addr.h"
#include "testdp.h"

#define D    XDP_DROP
#define P    XDP_PASS
#define NONE (-1)

struct step {
	struct pkt_desc pkt;
	int verdict;
	int counter;	 /* global counter that must grow by one, or NONE */
	long long clock; /* set the rate limiter's clock first (ns), or -1 */
	const char *raw; /* instead of pkt: hex bytes of a raw frame */
	int anom;	 /* anomaly counters that must grow by one (enum xdrop_anomaly mask, the
			    others must not move), NOANOM: none may move, 0: unchecked */
};

struct scenario {
	const char *name;
	const char *rules[12];
	struct step steps[12];
};

#define V4(s, d, pr, sp, dp_)                                                                      \
	{                                                                                          \
		.src = s, .dst = d, .proto = pr, .sport = sp, .dport = dp_                         \
	}
#define STEP(pkt_, v)                                                                              \
	{                                                                                          \
		.pkt = pkt_, .verdict = v, .counter = NONE, .clock = -1                            \
	}
#define STEPC(pkt_, v, c)                                                                          \
	{                                                                                          \
		.pkt = pkt_, .verdict = v, .counter = c, .clock = -1                               \
	}

/* Anomalies (docs/matching.md, "Anomalies"). */
#define NOANOM 4
#define BF     XDROP_ANOM_BAD_FRAG
#define INV    XDROP_ANOM_INVALID
#define STEPA(pkt_, v, c, a)                                                                       \
	{                                                                                          \
		.pkt = pkt_, .verdict = v, .counter = c, .clock = -1, .anom = a                    \
	}
/* a fragment by offset (8-byte units), more-fragments bit and payload after the headers */
#define FRAG(s, d, pr, off, more, pay)                                                             \
	{                                                                                          \
		.src = s, .dst = d, .proto = pr, .sport = 1, .dport = 53, .frag = 3,               \
		.frag_off = off, .frag_more = more, .payload = pay                                 \
	}
/* a first fragment keeping only `keep` bytes of its L4 header */
#define TINY(s, d, pr, keep)                                                                       \
	{                                                                                          \
		.src = s, .dst = d, .proto = pr, .sport = 1, .dport = 80, .frag = 3,               \
		.frag_more = true, .l4_bytes = keep                                                \
	}
#define TCPF(s, d, fl)                                                                             \
	{                                                                                          \
		.src = s, .dst = d, .proto = 6, .sport = 1, .dport = 80, .tcp_flags = fl           \
	}
/* hostile header fields: IPv4 IHL, IP length field, TCP data offset */
#define HDR(s, d, pr, ihl_, len_, doff_)                                                           \
	{                                                                                          \
		.src = s, .dst = d, .proto = pr, .sport = 1, .dport = 80, .tcp_flags = 0x10,       \
		.ihl = ihl_, .ip_len = len_, .doff = doff_                                         \
	}

static const struct scenario scenarios[] = {
    {"no rules: everything passes",
     {NULL},
     {STEP(V4("192.0.2.1", "198.51.100.1", 17, 1000, 53), P),
      STEP(V4("fd00::1", "fd00::2", 6, 1000, 80), P)}},
    {"nested CIDRs: drop /8, pass /16, rate-limit /24",
     {"dst_cidr=10.0.0.0/8 action=drop", "dst_cidr=10.1.0.0/16 action=pass",
      "dst_cidr=10.1.2.0/24 action=rate_limit rate_limit=1 burst=1", NULL},
     {STEPC(V4("192.0.2.1", "10.2.0.1", 17, 1, 53), D, XDROP_CNT_RULE_DROP),
      STEPC(V4("192.0.2.1", "10.1.3.1", 17, 1, 53), P, XDROP_CNT_RULE_PASS),
      {.pkt = V4("192.0.2.1", "10.1.2.1", 17, 1, 53), .verdict = P, .counter = NONE, .clock = 1000},
      STEPC(V4("192.0.2.1", "10.1.2.1", 17, 1, 53), D, XDROP_CNT_RATE_LIMITED),
      STEP(V4("192.0.2.1", "11.0.0.1", 17, 1, 53), P)}},
    {"IPv6 nested CIDRs",
     {"src_cidr=fd00::/16 action=drop", "src_cidr=fd00:1::/32 action=pass",
      "src_cidr=fd00:1:2::/48 action=drop", NULL},
     {STEP(V4("fd00:9::1", "fd01::1", 6, 1, 2), D), STEP(V4("fd00:1:9::1", "fd01::1", 6, 1, 2), P),
      STEP(V4("fd00:1:2::1", "fd01::1", 6, 1, 2), D), STEP(V4("fd02::1", "fd01::1", 6, 1, 2), P)}},
    {"whitelist first: an entry beats a more specific drop",
     {"src_ip=192.0.2.9 dst_ip=198.51.100.1 dst_port=80 protocol=tcp action=drop",
      "wl: src_cidr=192.0.2.0/24", NULL},
     {STEPC(V4("192.0.2.9", "198.51.100.1", 6, 5, 80), P, XDROP_CNT_WHITELISTED),
      STEP(V4("192.0.3.9", "198.51.100.1", 6, 5, 80), P)}},
    {"whitelist exact entry; others still dropped",
     {"dst_cidr=198.51.100.0/24 action=drop", "wl: src_ip=192.0.2.7 protocol=udp", NULL},
     {STEPC(V4("192.0.2.7", "198.51.100.1", 17, 5, 53), P, XDROP_CNT_WHITELISTED),
      STEPC(V4("192.0.2.7", "198.51.100.1", 6, 5, 53), D, XDROP_CNT_RULE_DROP),
      STEP(V4("192.0.2.8", "198.51.100.1", 17, 5, 53), D)}},
    {"pass more specific than drop lets traffic through",
     {"dst_cidr=192.0.2.0/24 action=drop", "dst_ip=192.0.2.7 dst_port=80 protocol=tcp action=pass",
      NULL},
     {STEP(V4("203.0.113.1", "192.0.2.7", 6, 999, 80), P),
      STEP(V4("203.0.113.1", "192.0.2.7", 6, 999, 81), D),
      STEP(V4("203.0.113.1", "192.0.2.8", 6, 999, 80), D)}},
    {"exact address beats its prefix; more fields beat fewer",
     {"src_cidr=198.51.100.0/24 action=drop", "src_ip=198.51.100.5 action=pass",
      "protocol=udp action=pass", "protocol=udp dst_port=53 action=drop", NULL},
     {STEP(V4("198.51.100.5", "203.0.113.1", 6, 1, 2), P),
      STEP(V4("198.51.100.6", "203.0.113.1", 6, 1, 2), D),
      STEP(V4("203.0.113.9", "203.0.113.1", 17, 1, 54), P),
      STEP(V4("203.0.113.9", "203.0.113.1", 17, 1, 53), D),
      /* one field each: the source prefix outranks the protocol */
      STEP(V4("198.51.100.6", "203.0.113.1", 17, 1, 54), D)}},
    {"tie on fields and total prefix: the longer destination wins",
     {"src_cidr=10.0.0.0/24 dst_cidr=172.16.0.0/16 action=drop",
      "src_cidr=10.0.0.0/16 dst_cidr=172.16.0.0/24 action=pass", NULL},
     {STEP(V4("10.0.0.1", "172.16.0.1", 17, 1, 2), P),
      STEP(V4("10.0.0.1", "172.16.1.1", 17, 1, 2), D)}},
    {"exact source with a destination prefix (mixed rule)",
     {"src_ip=192.0.2.1 dst_cidr=198.51.100.0/24 protocol=tcp action=drop", NULL},
     {STEP(V4("192.0.2.1", "198.51.100.77", 6, 1, 2), D),
      STEP(V4("192.0.2.2", "198.51.100.77", 6, 1, 2), P),
      STEP(V4("192.0.2.1", "198.51.100.77", 17, 1, 2), P)}},
    {"rate limit with a seeded clock: burst, refill, long idle",
     {"dst_ip=192.0.2.50 action=rate_limit rate_limit=2 burst=2", NULL},
     {{.pkt = V4("1.1.1.1", "192.0.2.50", 17, 1, 2),
       .verdict = P,
       .counter = NONE,
       .clock = 1000000000},
      STEP(V4("1.1.1.1", "192.0.2.50", 17, 1, 2), P),
      STEPC(V4("1.1.1.1", "192.0.2.50", 17, 1, 2), D, XDROP_CNT_RATE_LIMITED),
      {.pkt = V4("1.1.1.1", "192.0.2.50", 17, 1, 2),
       .verdict = P,
       .counter = NONE,
       .clock = 1500000000},
      STEP(V4("1.1.1.1", "192.0.2.50", 17, 1, 2), D),
      {.pkt = V4("1.1.1.1", "192.0.2.50", 17, 1, 2),
       .verdict = D,
       .counter = NONE,
       .clock = 1700000000},
      {.pkt = V4("1.1.1.1", "192.0.2.50", 17, 1, 2),
       .verdict = P,
       .counter = NONE,
       .clock = 4000000000000000000ll},
      STEP(V4("1.1.1.1", "192.0.2.50", 17, 1, 2), P),
      STEP(V4("1.1.1.1", "192.0.2.50", 17, 1, 2), D)}},
    {"packet length bounds, each edge +-1",
     {"dst_port=53 protocol=udp pkt_len_min=100 pkt_len_max=200 action=drop", NULL},
     {{.pkt = {.src = "1.1.1.1",
	       .dst = "2.2.2.2",
	       .proto = 17,
	       .sport = 1,
	       .dport = 53,
	       .payload = 71},
       .verdict = P,
       .counter = NONE,
       .clock = -1},
      {.pkt = {.src = "1.1.1.1",
	       .dst = "2.2.2.2",
	       .proto = 17,
	       .sport = 1,
	       .dport = 53,
	       .payload = 72},
       .verdict = D,
       .counter = NONE,
       .clock = -1},
      {.pkt = {.src = "1.1.1.1",
	       .dst = "2.2.2.2",
	       .proto = 17,
	       .sport = 1,
	       .dport = 53,
	       .payload = 172},
       .verdict = D,
       .counter = NONE,
       .clock = -1},
      {.pkt = {.src = "1.1.1.1",
	       .dst = "2.2.2.2",
	       .proto = 17,
	       .sport = 1,
	       .dport = 53,
	       .payload = 173},
       .verdict = P,
       .counter = NONE,
       .clock = -1}}},
    {"TCP flags SYN,!ACK",
     {"dst_port=80 protocol=tcp tcp_flags=SYN,!ACK action=drop", NULL},
     {{.pkt = {.src = "1.1.1.1",
	       .dst = "2.2.2.2",
	       .proto = 6,
	       .sport = 9,
	       .dport = 80,
	       .tcp_flags = 0x02},
       .verdict = D,
       .counter = NONE,
       .clock = -1},
      {.pkt = {.src = "1.1.1.1",
	       .dst = "2.2.2.2",
	       .proto = 6,
	       .sport = 9,
	       .dport = 80,
	       .tcp_flags = 0x12},
       .verdict = P,
       .counter = NONE,
       .clock = -1},
      {.pkt = {.src = "1.1.1.1",
	       .dst = "2.2.2.2",
	       .proto = 6,
	       .sport = 9,
	       .dport = 80,
	       .tcp_flags = 0x10},
       .verdict = P,
       .counter = NONE,
       .clock = -1}}},
    {"VLAN and QinQ frames are filtered on the inner packet",
     {"dst_ip=198.51.100.3 action=drop", NULL},
     {{.pkt = {.src = "1.1.1.1",
	       .dst = "198.51.100.3",
	       .proto = 17,
	       .sport = 1,
	       .dport = 2,
	       .vlans = 1},
       .verdict = D,
       .counter = NONE,
       .clock = -1},
      {.pkt = {.src = "1.1.1.1",
	       .dst = "198.51.100.3",
	       .proto = 17,
	       .sport = 1,
	       .dport = 2,
	       .vlans = 2},
       .verdict = D,
       .counter = NONE,
       .clock = -1},
      {.pkt = {.src = "1.1.1.1",
	       .dst = "198.51.100.4",
	       .proto = 17,
	       .sport = 1,
	       .dport = 2,
	       .vlans = 2},
       .verdict = P,
       .counter = NONE,
       .clock = -1}}},
    {"IPv6 extension headers: the final next header is the protocol",
     {"dst_port=53 protocol=udp dst_cidr=fd00::/8 action=drop", NULL},
     {{.pkt =
	   {.src = "fd00::1", .dst = "fd00::2", .proto = 17, .sport = 1, .dport = 53, .v6_ext = 3},
       .verdict = D,
       .counter = NONE,
       .clock = -1},
      {.pkt =
	   {.src = "fd00::1", .dst = "fd00::2", .proto = 17, .sport = 1, .dport = 54, .v6_ext = 3},
       .verdict = P,
       .counter = NONE,
       .clock = -1},
      {.pkt =
	   {.src = "fd00::1", .dst = "fd00::2", .proto = 17, .sport = 1, .dport = 54, .v6_ext = 6},
       .verdict = P,
       .counter = NONE,
       .clock = -1},
      {.pkt =
	   {.src = "fd00::1", .dst = "fd00::2", .proto = 17, .sport = 1, .dport = 53, .v6_ext = 6},
       .verdict = D,
       .counter = XDROP_CNT_RULE_DROP,
       .clock = -1},
      {.pkt =
	   {.src = "fd00::1", .dst = "fd00::2", .proto = 17, .sport = 1, .dport = 54, .v6_ext = 7},
       .verdict = D,
       .counter = XDROP_CNT_MALFORMED,
       .clock = -1},
      {.pkt =
	   {.src = "fd00::1", .dst = "fd00::2", .proto = 17, .sport = 1, .dport = 53, .v6_ext = 9},
       .verdict = D,
       .counter = XDROP_CNT_MALFORMED,
       .clock = -1}}},
    {"IPv4 options do not hide the ports",
     {"dst_port=53 protocol=udp action=drop", NULL},
     {{.pkt =
	   {.src = "1.1.1.1", .dst = "2.2.2.2", .proto = 17, .sport = 1, .dport = 53, .ip_opts = 3},
       .verdict = D,
       .counter = NONE,
       .clock = -1}}},
    {"fragments: port rules match first fragments only, address rules match all",
     {"dst_ip=192.0.2.1 dst_port=53 protocol=udp action=drop",
      "dst_ip=192.0.2.2 protocol=udp action=drop", NULL},
     {{.pkt =
	   {.src = "1.1.1.1", .dst = "192.0.2.1", .proto = 17, .sport = 1, .dport = 53, .frag = 1},
       .verdict = D,
       .counter = NONE,
       .clock = -1},
      {.pkt =
	   {.src = "1.1.1.1", .dst = "192.0.2.1", .proto = 17, .sport = 1, .dport = 53, .frag = 2},
       .verdict = P,
       .counter = XDROP_CNT_FRAGMENT,
       .clock = -1},
      {.pkt = {.src = "1.1.1.1", .dst = "192.0.2.2", .proto = 17, .frag = 2},
       .verdict = D,
       .counter = NONE,
       .clock = -1}}},
    {"IPv6 fragments",
     {"dst_ip=fd00::53 dst_port=53 protocol=udp action=drop",
      "dst_ip=fd00::54 protocol=udp action=drop", NULL},
     {{.pkt =
	   {.src = "fd00::1", .dst = "fd00::53", .proto = 17, .sport = 1, .dport = 53, .frag = 1},
       .verdict = D,
       .counter = NONE,
       .clock = -1},
      {.pkt =
	   {.src = "fd00::1", .dst = "fd00::53", .proto = 17, .sport = 1, .dport = 53, .frag = 2},
       .verdict = P,
       .counter = NONE,
       .clock = -1},
      {.pkt = {.src = "fd00::1", .dst = "fd00::54", .proto = 17, .frag = 2},
       .verdict = D,
       .counter = NONE,
       .clock = -1}}},
    {"ports without a protocol match TCP and UDP only",
     {"dst_port=80 action=drop", NULL},
     {STEP(V4("1.1.1.1", "2.2.2.2", 6, 1, 80), D), STEP(V4("1.1.1.1", "2.2.2.2", 17, 1, 80), D),
      STEP(V4("1.1.1.1", "2.2.2.2", 132, 1, 80), P), STEP(V4("1.1.1.1", "2.2.2.2", 1, 0, 0), P)}},
    {"icmp is not icmpv6",
     {"protocol=icmp action=drop", NULL},
     {STEP(V4("1.1.1.1", "2.2.2.2", 1, 0, 0), D), STEP(V4("fd00::1", "fd00::2", 58, 0, 0), P)}},
    {"an IPv4 rule never matches IPv6 and the reverse",
     {"src_ip=192.0.2.1 action=drop", "src_ip=fd00::1 action=drop", NULL},
     {STEP(V4("192.0.2.1", "192.0.2.9", 17, 1, 1), D), STEP(V4("fd00::1", "fd00::9", 17, 1, 1), D),
      STEP(V4("192.0.2.2", "192.0.2.9", 17, 1, 1), P), STEP(V4("fd00::2", "fd00::9", 17, 1, 1), P),
      /* IPv4-mapped addresses on the wire are malformed, not IPv4 look-alikes */
      STEPC(V4("::ffff:192.0.2.1", "fd00::9", 17, 1, 1), D, XDROP_CNT_MALFORMED)}},
    {"IPv4 bad fragments: a bad_fragment rule drops them, others do not see them",
     {"dst_ip=192.0.2.60 match_anomaly=bad_fragment action=drop",
      "dst_ip=192.0.2.62 match_anomaly=invalid action=drop", NULL},
     {/* offset 8189 * 8 + 40 bytes ends past 65,535 */
      STEPA(FRAG("1.1.1.1", "192.0.2.60", 17, 8189, false, 40), D, XDROP_CNT_RULE_DROP, BF),
      /* RFC 1858 tiny first fragments: 8 of TCP's 20 bytes, 4 of UDP's 8 */
      STEPA(TINY("1.1.1.1", "192.0.2.60", 6, 8), D, XDROP_CNT_RULE_DROP, BF),
      STEPA(TINY("1.1.1.1", "192.0.2.60", 17, 4), D, XDROP_CNT_RULE_DROP, BF),
      /* RFC 1858: TCP at offset 1 rewrites the flags of the first fragment */
      STEPA(FRAG("1.1.1.1", "192.0.2.60", 6, 1, true, 16), D, XDROP_CNT_RULE_DROP, BF),
      /* more to come, 8 + 3 bytes: not a multiple of 8 */
      STEPA(FRAG("1.1.1.1", "192.0.2.60", 17, 0, true, 3), D, XDROP_CNT_RULE_DROP, BF),
      /* sound fragments: first (UDP 8 + 8), later, last; TCP at offset 2 */
      STEPA(FRAG("1.1.1.1", "192.0.2.60", 17, 0, true, 8), P, NONE, NOANOM),
      STEPA(FRAG("1.1.1.1", "192.0.2.60", 17, 2, true, 16), P, XDROP_CNT_FRAGMENT, NOANOM),
      STEPA(FRAG("1.1.1.1", "192.0.2.60", 6, 2, false, 5), P, NONE, NOANOM),
      /* no rule for the address, or a rule for the other anomaly: counted, passed */
      STEPA(TINY("1.1.1.1", "192.0.2.61", 6, 8), P, NONE, BF),
      STEPA(TINY("1.1.1.1", "192.0.2.62", 6, 8), P, NONE, BF)}},
    {"IPv6 bad fragments (fragment header)",
     {"dst_ip=fd00::60 match_anomaly=bad_fragment action=drop",
      "dst_ip=fd00::62 match_anomaly=invalid action=drop", NULL},
     {STEPA(FRAG("fd00::1", "fd00::60", 17, 8189, false, 40), D, XDROP_CNT_RULE_DROP, BF),
      /* RFC 7112: the first fragment must hold the whole upper-layer header */
      STEPA(TINY("fd00::1", "fd00::60", 6, 8), D, XDROP_CNT_RULE_DROP, BF),
      STEPA(TINY("fd00::1", "fd00::60", 58, 4), D, XDROP_CNT_RULE_DROP, BF),
      STEPA(FRAG("fd00::1", "fd00::60", 17, 0, true, 3), D, XDROP_CNT_RULE_DROP, BF),
      /* the payload length ends inside the fragment header: no fragment at all */
      STEPA(((struct pkt_desc){.src = "fd00::1",
			       .dst = "fd00::60",
			       .proto = 17,
			       .frag = 3,
			       .frag_more = true,
			       .ip_len = 4}),
	    D, XDROP_CNT_RULE_DROP, BF),
      /* RFC 6946: an atomic fragment (offset 0, M = 0) is a whole packet */
      STEPA(FRAG("fd00::1", "fd00::60", 17, 0, false, 3), P, NONE, NOANOM),
      STEPA(FRAG("fd00::1", "fd00::60", 17, 0, true, 8), P, NONE, NOANOM),
      STEPA(FRAG("fd00::1", "fd00::60", 17, 2, true, 16), P, XDROP_CNT_FRAGMENT, NOANOM),
      STEPA(FRAG("fd00::1", "fd00::61", 17, 8189, false, 40), P, NONE, BF),
      STEPA(FRAG("fd00::1", "fd00::62", 17, 8189, false, 40), P, NONE, BF)}},
    {"IPv4 invalid: impossible TCP flags, total length beyond the frame",
     {"dst_ip=192.0.2.70 match_anomaly=invalid action=drop",
      "dst_ip=192.0.2.72 match_anomaly=bad_fragment action=drop", NULL},
     {STEPA(TCPF("1.1.1.1", "192.0.2.70", 0x03), D, XDROP_CNT_RULE_DROP, INV), /* SYN+FIN */
      STEPA(TCPF("1.1.1.1", "192.0.2.70", 0x06), D, XDROP_CNT_RULE_DROP, INV), /* SYN+RST */
      STEPA(TCPF("1.1.1.1", "192.0.2.70", 0x00), D, XDROP_CNT_RULE_DROP, INV), /* null */
      STEPA(TCPF("1.1.1.1", "192.0.2.70", 0xc0), D, XDROP_CNT_RULE_DROP, INV), /* ECE+CWR */
      STEPA(TCPF("1.1.1.1", "192.0.2.70", 0x29), D, XDROP_CNT_RULE_DROP, INV), /* xmas */
      STEPA(HDR("1.1.1.1", "203.0.113.99", 17, 0, 1000, 0), P, NONE,
	    INV), /* no rule for 203.0.113.99 */
      STEPA(((struct pkt_desc){.src = "1.1.1.1",
			       .dst = "192.0.2.70",
			       .proto = 17,
			       .sport = 1,
			       .dport = 2,
			       .ip_len = 47}),
	    D, XDROP_CNT_RULE_DROP, INV),
      /* 46 = the frame's 60 bytes less Ethernet: announced bytes are all there */
      STEPA(((struct pkt_desc){.src = "1.1.1.1",
			       .dst = "192.0.2.70",
			       .proto = 17,
			       .sport = 1,
			       .dport = 2,
			       .ip_len = 46}),
	    P, NONE, NOANOM),
      STEPA(TCPF("1.1.1.1", "192.0.2.70", 0x02), P, NONE, NOANOM), /* SYN */
      STEPA(TCPF("1.1.1.1", "192.0.2.70", 0x19), P, NONE, NOANOM), /* FIN+PSH+ACK */
      STEPA(TCPF("1.1.1.1", "192.0.2.71", 0x03), P, NONE, INV),
      STEPA(TCPF("1.1.1.1", "192.0.2.72", 0x03), P, NONE, INV)}},
    {"IPv6 invalid: impossible TCP flags, payload length beyond the frame",
     {"dst_ip=fd00::70 match_anomaly=invalid action=drop", NULL},
     {STEPA(TCPF("fd00::1", "fd00::70", 0x03), D, XDROP_CNT_RULE_DROP, INV),
      STEPA(TCPF("fd00::1", "fd00::70", 0x06), D, XDROP_CNT_RULE_DROP, INV),
      STEPA(TCPF("fd00::1", "fd00::70", 0x00), D, XDROP_CNT_RULE_DROP, INV),
      STEPA(TCPF("fd00::1", "fd00::70", 0x39), D, XDROP_CNT_RULE_DROP, INV),
      STEPA(((struct pkt_desc){.src = "fd00::1",
			       .dst = "fd00::70",
			       .proto = 17,
			       .sport = 1,
			       .dport = 2,
			       .ip_len = 9}),
	    D, XDROP_CNT_RULE_DROP, INV),
      STEPA(TCPF("fd00::1", "fd00::70", 0x12), P, NONE, NOANOM), /* SYN+ACK */
      STEPA(TCPF("fd00::1", "fd00::71", 0x03), P, NONE, INV)}},
    {"IPv4 anomalies without a matching rule: counted, judged as usual",
     {"dst_ip=192.0.2.60 match_anomaly=bad_fragment,invalid action=drop",
      "dst_ip=192.0.2.65 protocol=tcp action=pass", NULL},
     {STEPA(FRAG("1.1.1.1", "192.0.2.64", 17, 8189, false, 40), P, NONE, BF),
      STEPA(TINY("1.1.1.1", "192.0.2.64", 17, 4), P, NONE, BF),
      STEPA(FRAG("1.1.1.1", "192.0.2.64", 6, 1, true, 16), P, XDROP_CNT_FRAGMENT, BF),
      STEPA(FRAG("1.1.1.1", "192.0.2.64", 17, 0, true, 3), P, NONE, BF),
      STEPA(TCPF("1.1.1.1", "192.0.2.64", 0x06), P, NONE, INV),
      STEPA(TCPF("1.1.1.1", "192.0.2.64", 0x00), P, NONE, INV),
      STEPA(TCPF("1.1.1.1", "192.0.2.64", 0x29), P, NONE, INV),
      STEPA(HDR("1.1.1.1", "192.0.2.64", 17, 0, 47, 0), P, NONE, INV),
      /* a plain rule matches a packet with an anomaly like any other */
      STEPA(TCPF("1.1.1.1", "192.0.2.65", 0x03), P, XDROP_CNT_RULE_PASS, INV),
      STEPA(TINY("1.1.1.1", "192.0.2.65", 6, 8), P, XDROP_CNT_RULE_PASS, BF),
      /* unclassified: malformed */
      STEPA(HDR("1.1.1.1", "192.0.2.64", 17, 0, 19, 0), D, XDROP_CNT_MALFORMED, INV),
      STEPA(HDR("1.1.1.1", "192.0.2.64", 6, 0, 0, 4), D, XDROP_CNT_MALFORMED, INV)}},
    {"IPv6 anomalies without a matching rule: counted, judged as usual",
     {"dst_ip=fd00::60 match_anomaly=bad_fragment,invalid action=drop", "wl: dst_ip=fd00::65",
      NULL},
     {STEPA(FRAG("fd00::1", "fd00::64", 17, 8189, false, 40), P, NONE, BF),
      STEPA(TINY("fd00::1", "fd00::64", 6, 8), P, NONE, BF),
      STEPA(FRAG("fd00::1", "fd00::64", 17, 0, true, 3), P, NONE, BF),
      STEPA(TCPF("fd00::1", "fd00::64", 0x03), P, NONE, INV),
      STEPA(TCPF("fd00::1", "fd00::64", 0x06), P, NONE, INV),
      STEPA(TCPF("fd00::1", "fd00::64", 0x00), P, NONE, INV),
      STEPA(TCPF("fd00::1", "fd00::64", 0x39), P, NONE, INV),
      STEPA(HDR("fd00::1", "fd00::64", 17, 0, 9, 0), P, NONE, INV),
      /* the whitelist passes a packet with an anomaly */
      STEPA(TCPF("fd00::1", "fd00::65", 0x03), P, XDROP_CNT_WHITELISTED, INV),
      STEPA(HDR("fd00::1", "fd00::64", 6, 0, 0, 4), D, XDROP_CNT_MALFORMED, INV)}},
    {"unclassified IPv4 (IHL < 5, total length < header, TCP offset < 5): INVALID rules only",
     {"src_ip=198.51.100.80 match_anomaly=invalid action=drop",
      "src_ip=198.51.100.81 match_anomaly=bad_fragment,invalid action=pass",
      "src_ip=198.51.100.81 protocol=tcp dst_port=80 match_anomaly=invalid action=drop",
      "src_ip=198.51.100.82 action=drop", "wl: src_ip=198.51.100.83",
      "src_ip=198.51.100.84 match_anomaly=bad_fragment action=pass", NULL},
     {STEPA(HDR("198.51.100.80", "203.0.113.99", 17, 4, 0, 0), D, XDROP_CNT_RULE_DROP, INV),
      STEPA(HDR("198.51.100.80", "203.0.113.99", 17, 0, 19, 0), D, XDROP_CNT_RULE_DROP, INV),
      STEPA(HDR("198.51.100.80", "203.0.113.99", 6, 0, 0, 4), D, XDROP_CNT_RULE_DROP, INV),
      /* no ports: the port rule cannot take it, the address rule passes it */
      STEPA(HDR("198.51.100.81", "203.0.113.99", 6, 0, 0, 4), P, XDROP_CNT_RULE_PASS, INV),
      STEPA(HDR("198.51.100.81", "203.0.113.99", 17, 3, 0, 0), P, XDROP_CNT_RULE_PASS, INV),
      /* a plain rule, a whitelist entry, another anomaly, nothing: malformed */
      STEPA(HDR("198.51.100.82", "203.0.113.99", 17, 4, 0, 0), D, XDROP_CNT_MALFORMED, INV),
      STEPA(HDR("198.51.100.83", "203.0.113.99", 17, 4, 0, 0), D, XDROP_CNT_MALFORMED, INV),
      STEPA(HDR("198.51.100.84", "203.0.113.99", 17, 4, 0, 0), D, XDROP_CNT_MALFORMED, INV),
      STEPA(HDR("198.51.100.85", "203.0.113.99", 6, 0, 0, 2), D, XDROP_CNT_MALFORMED, INV),
      /* a sound packet from the address of the INVALID rule: not matched */
      STEPA(HDR("198.51.100.80", "203.0.113.99", 17, 0, 0, 0), P, NONE, NOANOM),
      /* a truncated TCP header stays malformed, unmatched */
      {.raw = "0200000000020200000000010800450000280000000040060000c63364500202020200010002",
       .verdict = D,
       .counter = XDROP_CNT_MALFORMED,
       .clock = -1,
       .anom = NOANOM}}},
    {"unclassified IPv6 (TCP offset < 5): INVALID rules only",
     {"src_ip=fd00::80 match_anomaly=invalid action=drop", "wl: src_ip=fd00::83", NULL},
     {STEPA(HDR("fd00::80", "fd00::99", 6, 0, 0, 4), D, XDROP_CNT_RULE_DROP, INV),
      STEPA(HDR("fd00::83", "fd00::99", 6, 0, 0, 4), D, XDROP_CNT_MALFORMED, INV),
      STEPA(HDR("fd00::85", "fd00::99", 6, 0, 0, 0), P, NONE, NOANOM)}},
    {"malformed and truncated frames: dropped and counted, never aborted",
     {NULL},
     {{.raw = "0200000000020200000000010800",
       .verdict = D,
       .counter = XDROP_CNT_MALFORMED,
       .clock = -1},
      {.raw = "02000000000202000000000108004500",
       .verdict = D,
       .counter = XDROP_CNT_MALFORMED,
       .clock = -1},
      {.raw = "020000000002020000000001080044000014000000004011000001010101020202020000",
       .verdict = D,
       .counter = XDROP_CNT_MALFORMED,
       .clock = -1},
      {.raw = "020000000002020000000001080045000028000000004006000001010101020202020001",
       .verdict = D,
       .counter = XDROP_CNT_MALFORMED,
       .clock = -1},
      {.raw = "0200000000020200000000018100",
       .verdict = D,
       .counter = XDROP_CNT_MALFORMED,
       .clock = -1},
      {.raw = "02000000000202000000000186dd6000",
       .verdict = D,
       .counter = XDROP_CNT_MALFORMED,
       .clock = -1},
      {.raw =
	   "020000000002020000000001080600010800060400010200000000010a000001000000000000000a000002",
       .verdict = P,
       .counter = XDROP_CNT_NON_IP,
       .clock = -1}}},
};

static struct dataplane *g_dp;

static int hexbytes(const char *hex, uint8_t *out)
{
	int n = 0;

	for (; hex[0] && hex[1]; hex += 2) {
		unsigned v;

		sscanf(hex, "%2x", &v);
		out[n++] = (uint8_t)v;
	}
	return n;
}

static void run_scenario(void **state)
{
	const struct scenario *sc = *state;
	uint64_t before[XDROP_NCOUNTERS], after[XDROP_NCOUNTERS];

	assert_int_equal(testdp_load(g_dp, sc->rules), 0);
	for (size_t i = 0; i < sizeof(sc->steps) / sizeof(sc->steps[0]); i++) {
		const struct step *st = &sc->steps[i];
		uint8_t buf[PKT_MAX];
		int v, len;

		if (!st->raw && !st->pkt.src)
			break;
		if (st->clock >= 0)
			assert_int_equal(dataplane_set_clock(g_dp, (uint64_t)st->clock), 0);
		assert_int_equal(dataplane_counters(g_dp, before), 0);
		if (st->raw) {
			len = hexbytes(st->raw, buf);
			v = pkt_run(dataplane_prog_fd(g_dp), buf, (size_t)len);
		} else {
			v = testdp_send(g_dp, &st->pkt);
		}
		assert_int_equal(dataplane_counters(g_dp, after), 0);
		if (v != st->verdict)
			fail_msg("step %zu: verdict %d, expected %d", i, v, st->verdict);
		assert_int_not_equal(v, XDP_ABORTED);
		assert_int_equal(after[XDROP_CNT_RX], before[XDROP_CNT_RX] + 1);
		/* every frame ends in exactly one of passed or dropped */
		assert_int_equal(after[XDROP_CNT_PASSED] + after[XDROP_CNT_DROPPED],
				 before[XDROP_CNT_PASSED] + before[XDROP_CNT_DROPPED] + 1);
		if (st->counter != NONE && after[st->counter] != before[st->counter] + 1)
			fail_msg("step %zu: counter %d did not grow by one", i, st->counter);
		if (st->anom &&
		    (after[XDROP_CNT_ANOMALY_BAD_FRAG] - before[XDROP_CNT_ANOMALY_BAD_FRAG] !=
			 !!(st->anom & BF) ||
		     after[XDROP_CNT_ANOMALY_INVALID] - before[XDROP_CNT_ANOMALY_INVALID] !=
			 !!(st->anom & INV)))
			fail_msg("step %zu: anomaly counters grew by %llu (bad_fragment), %llu "
				 "(invalid); expected mask %d",
				 i,
				 (unsigned long long)(after[XDROP_CNT_ANOMALY_BAD_FRAG] -
						      before[XDROP_CNT_ANOMALY_BAD_FRAG]),
				 (unsigned long long)(after[XDROP_CNT_ANOMALY_INVALID] -
						      before[XDROP_CNT_ANOMALY_INVALID]),
				 st->anom & 3);
	}
}

/* Every one of the 31 field combinations, exact and (where it has an address) CIDR, in
 * both families: the matching packet is dropped, one that differs in any one constrained
 * field passes. */
static void all_combos(void **state)
{
	static const char *const fam_src[2] = {"192.0.2.10", "fd00::10"};
	static const char *const fam_dst[2] = {"198.51.100.20", "fd00::20"};
	static const char *const fam_srcnet[2] = {"192.0.2.0/24", "fd00::/64"};
	static const char *const fam_other[2] = {"192.0.3.10", "fd01::10"};
	char line[256], lines_buf[1][256];
	const char *lines[2] = {lines_buf[0], NULL};

	(void)state;
	for (int fam = 0; fam < 2; fam++) {
		for (int cidr = 0; cidr < 2; cidr++) {
			for (int m = 1; m < 32; m++) {
				struct pkt_desc hit = {.src = fam_src[fam],
						       .dst = fam_dst[fam],
						       .proto = 17,
						       .sport = 1111,
						       .dport = 53};
				size_t off = 0;

				if (cidr && !(m & XDROP_F_SRC))
					continue;
				line[0] = '\0';
				if (m & XDROP_F_SRC)
					off +=
					    (size_t)snprintf(line + off, sizeof(line) - off,
							     "%s=%s ", cidr ? "src_cidr" : "src_ip",
							     cidr ? fam_srcnet[fam] : fam_src[fam]);
				if (m & XDROP_F_DST)
					off += (size_t)snprintf(line + off, sizeof(line) - off,
								"dst_ip=%s ", fam_dst[fam]);
				if (m & XDROP_F_SPORT)
					off += (size_t)snprintf(line + off, sizeof(line) - off,
								"src_port=1111 ");
				if (m & XDROP_F_DPORT)
					off += (size_t)snprintf(line + off, sizeof(line) - off,
								"dst_port=53 ");
				if (m & XDROP_F_PROTO)
					off += (size_t)snprintf(line + off, sizeof(line) - off,
								"protocol=udp ");
				snprintf(line + off, sizeof(line) - off, "action=drop");
				strcpy(lines_buf[0], line);
				assert_int_equal(testdp_load(g_dp, lines), 0);
				if (testdp_send(g_dp, &hit) != XDP_DROP)
					fail_msg("combo %d (%s) did not drop its packet", m, line);
				for (int f = 0; f < 5; f++) {
					struct pkt_desc miss = hit;

					if (!(m & (1 << f)))
						continue;
					if (f == 0)
						miss.src = fam_other[fam];
					else if (f == 1)
						miss.dst = fam_other[fam];
					else if (f == 2)
						miss.sport = 2222;
					else if (f == 3)
						miss.dport = 54;
					else
						miss.proto = 6;
					if (testdp_send(g_dp, &miss) != XDP_PASS)
						fail_msg(
						    "combo %d (%s): packet differing in field %d "
						    "was not passed",
						    m, line, f);
				}
			}
		}
	}
}

/* Per-rule counters: exact, per slot, and kept across a replacement that keeps the rule. */
static void rule_counters(void **state)
{
	const char *const set1[] = {"dst_ip=192.0.2.77 action=drop",
				    "dst_cidr=198.51.100.0/24 action=pass", NULL};
	const char *const set2[] = {"dst_ip=192.0.2.77 action=drop",
				    "dst_ip=192.0.2.78 action=drop", NULL};
	struct pkt_desc a = V4("1.1.1.1", "192.0.2.77", 17, 1, 2);
	struct pkt_desc b = V4("1.1.1.1", "198.51.100.1", 17, 1, 2);
	struct rule_spec sa, sb;
	struct xdrop_slot_counters c;

	(void)state;
	assert_int_equal(testdp_load(g_dp, set1), 0);
	for (int i = 0; i < 7; i++)
		assert_int_equal(testdp_send(g_dp, &a), XDP_DROP);
	for (int i = 0; i < 3; i++)
		assert_int_equal(testdp_send(g_dp, &b), XDP_PASS);
	assert_int_equal(testdp_spec(set1[0], &sa), 0);
	assert_int_equal(testdp_spec(set1[1], &sb), 0);
	assert_int_equal(dataplane_entry_counters(g_dp, &sa, &c), 0);
	assert_int_equal(c.match, 7);
	assert_int_equal(c.drop, 7);
	assert_int_equal(dataplane_entry_counters(g_dp, &sb, &c), 0);
	assert_int_equal(c.match, 3);
	assert_int_equal(c.drop, 0);
	assert_int_equal(testdp_load(g_dp, set2), 0);
	assert_int_equal(dataplane_entry_counters(g_dp, &sa, &c), 0);
	assert_int_equal(c.match, 7);
	assert_int_equal(dataplane_entry_counters(g_dp, &sb, &c), -ENOENT);
}

/* Address presence is built when a third exact combo appears: the entries already there
 * must get their address bits, or the program would prune their combos. */
static void third_combo_keeps_existing_rules(void **state)
{
	const char *const two[] = {"src_ip=192.0.2.1 action=drop",
				   "dst_ip=198.51.100.1 action=drop", NULL};
	const char *const three[] = {"src_ip=192.0.2.1 action=drop",
				     "dst_ip=198.51.100.1 action=drop",
				     "src_ip=192.0.2.9 dst_ip=198.51.100.9 action=drop", NULL};
	struct pkt_desc a = V4("192.0.2.1", "203.0.113.5", 17, 1, 2);
	struct pkt_desc b = V4("203.0.113.5", "198.51.100.1", 17, 1, 2);
	struct pkt_desc c = V4("192.0.2.9", "198.51.100.9", 17, 1, 2);
	struct pkt_desc d = V4("192.0.2.9", "198.51.100.8", 17, 1, 2);
	struct dataplane *dp = testdp_open(false, false); /* a fresh one: presence starts off */

	(void)state;
	assert_int_equal(testdp_load(dp, two), 0);
	assert_int_equal(testdp_send(dp, &a), XDP_DROP);
	assert_int_equal(testdp_load(dp, three), 0);
	assert_int_equal(testdp_send(dp, &a), XDP_DROP);
	assert_int_equal(testdp_send(dp, &b), XDP_DROP);
	assert_int_equal(testdp_send(dp, &c), XDP_DROP);
	assert_int_equal(testdp_send(dp, &d), XDP_PASS);
	/* and back to two: address presence is dropped after the grace period */
	assert_int_equal(testdp_load(dp, two), 0);
	assert_int_equal(testdp_send(dp, &a), XDP_DROP);
	assert_int_equal(testdp_send(dp, &c), XDP_PASS);
	/* presence went off with the third combo; back on again, rebuilt */
	assert_int_equal(testdp_load(dp, three), 0);
	assert_int_equal(testdp_send(dp, &a), XDP_DROP);
	assert_int_equal(testdp_send(dp, &b), XDP_DROP);
	assert_int_equal(testdp_send(dp, &c), XDP_DROP);
	assert_int_equal(testdp_send(dp, &d), XDP_PASS);
	dataplane_close(dp);
}

/* Protected control flows: a controller at 192.0.2.10 (RPC 7700, push 7701) and
 * fd00::10 (7700), the agent listening on 7600. Packets of those flows pass ahead of the
 * broadest drop rules the validation accepts and count as protected; a neighbouring port,
 * host or protocol is still dropped; with protection off the flows are dropped too. */
static void protected_flows(void **state)
{
	static const char *const rules[] = {"src_cidr=192.0.2.0/24 action=drop",
					    "protocol=tcp action=drop", "protocol=udp action=drop",
					    "src_cidr=fd00::/8 action=drop", NULL};
	static const struct {
		struct pkt_desc pkt;
		int verdict; /* with protection on; always XDP_DROP with it off */
	} steps[] = {
	    {V4("192.0.2.10", "198.51.100.1", 6, 7700, 40000), P}, /* RPC reply */
	    {V4("192.0.2.10", "198.51.100.1", 6, 7701, 40001), P}, /* push */
	    {V4("192.0.2.10", "198.51.100.1", 6, 40002, 7600), P}, /* dials the listener */
	    {V4("fd00::10", "fd00::1", 6, 7700, 40000), P},
	    {V4("192.0.2.10", "198.51.100.1", 6, 7702, 40003), D}, /* not configured */
	    {V4("192.0.2.10", "198.51.100.1", 6, 40002, 22), D},   /* another local port */
	    {V4("192.0.2.11", "198.51.100.1", 6, 7700, 7600), D},  /* another host */
	    {V4("192.0.2.10", "198.51.100.1", 17, 7700, 7600), D}, /* another protocol */
	    {V4("fd00::11", "fd00::1", 6, 7700, 7600), D},
	    {{.src = "192.0.2.10", .dst = "198.51.100.1", .proto = 6, .frag = 2}, D},
	};
	struct xdrop_protect_key keys[2] = {{.proto = 6}, {.proto = 6}};
	struct xdrop_protect_val vals[2];
	uint64_t before[XDROP_NCOUNTERS], after[XDROP_NCOUNTERS];
	const char *why;

	(void)state;
	memset(vals, 0, sizeof(vals));
	assert_int_equal(addr_parse("192.0.2.10", &keys[0].peer, &why), 0);
	assert_int_equal(addr_parse("fd00::10", &keys[1].peer, &why), 0);
	vals[0].peer_port[0] = htons(7700);
	vals[0].peer_port[1] = htons(7701);
	vals[0].local_port[0] = htons(7600);
	vals[1].peer_port[0] = htons(7700);
	assert_int_equal(testdp_load(g_dp, rules), 0);
	for (int on = 1; on >= 0; on--) {
		assert_int_equal(dataplane_set_protect(g_dp, keys, vals, on ? 2 : 0), 0);
		for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
			int want = on ? steps[i].verdict : D, v;

			assert_int_equal(dataplane_counters(g_dp, before), 0);
			v = testdp_send(g_dp, &steps[i].pkt);
			assert_int_equal(dataplane_counters(g_dp, after), 0);
			if (v != want)
				fail_msg("protection %s, step %zu: verdict %d, expected %d",
					 on ? "on" : "off", i, v, want);
			assert_int_equal(after[XDROP_CNT_PROTECTED] - before[XDROP_CNT_PROTECTED],
					 want == P ? 1 : 0);
		}
	}
	assert_int_equal(dataplane_set_protect(g_dp, keys, vals, XDROP_MAX_PROTECT + 1), -E2BIG);
}

/* An unclassified packet (IHL 4) taken by an INVALID rule counts in that rule's slot and
 * in rule_drop, never in malformed; the same packet from an address without such a rule is
 * malformed and counts in no slot; a sound packet from the rule's address is not the
 * rule's. */
static void unclassified_rule_counters(void **state)
{
	static const char *const rules[] = {
	    "src_ip=198.51.100.90 match_anomaly=invalid action=drop",
	    "src_ip=198.51.100.91 action=drop", NULL};
	struct pkt_desc bad = HDR("198.51.100.90", "203.0.113.9", 17, 4, 0, 0);
	struct pkt_desc other = HDR("198.51.100.91", "203.0.113.9", 17, 4, 0, 0);
	struct pkt_desc sound = V4("198.51.100.90", "203.0.113.9", 17, 1, 2);
	uint64_t before[XDROP_NCOUNTERS], after[XDROP_NCOUNTERS];
	struct xdrop_slot_counters c;
	struct rule_spec sa, sb;
	uint8_t buf[PKT_MAX];
	int len = pkt_build(&bad, buf);

	(void)state;
	assert_int_equal(testdp_load(g_dp, rules), 0);
	assert_int_equal(dataplane_counters(g_dp, before), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(testdp_send(g_dp, &bad), XDP_DROP);
	for (int i = 0; i < 2; i++)
		assert_int_equal(testdp_send(g_dp, &other), XDP_DROP);
	assert_int_equal(testdp_send(g_dp, &sound), XDP_PASS);
	assert_int_equal(dataplane_counters(g_dp, after), 0);
	assert_int_equal(testdp_spec(rules[0], &sa), 0);
	assert_int_equal(testdp_spec(rules[1], &sb), 0);
	assert_int_equal(dataplane_entry_counters(g_dp, &sa, &c), 0);
	assert_true(len > 0);
	assert_int_equal(c.match, 5);
	assert_int_equal(c.drop, 5);
	assert_int_equal(c.match_bytes, 5 * (uint64_t)len);
	assert_int_equal(c.drop_bytes, 5 * (uint64_t)len);
	assert_int_equal(dataplane_entry_counters(g_dp, &sb, &c), 0);
	assert_int_equal(c.match, 0);
	assert_int_equal(after[XDROP_CNT_RULE_DROP] - before[XDROP_CNT_RULE_DROP], 5);
	assert_int_equal(after[XDROP_CNT_MALFORMED] - before[XDROP_CNT_MALFORMED], 2);
	assert_int_equal(after[XDROP_CNT_ANOMALY_INVALID] - before[XDROP_CNT_ANOMALY_INVALID], 7);
	assert_int_equal(after[XDROP_CNT_PASSED] - before[XDROP_CNT_PASSED], 1);
}

/* Adding, changing or removing a rule's anomaly mask is a modification of the entry
 * (same key, other action flags): each replacement takes effect, and the slot's counters
 * stay with the rule. */
static void anomaly_mask_change(void **state)
{
	static const char *const sets[][2] = {
	    {"dst_ip=192.0.2.95 action=drop", NULL},
	    {"dst_ip=192.0.2.95 match_anomaly=invalid action=drop", NULL},
	    {"dst_ip=192.0.2.95 match_anomaly=bad_fragment action=drop", NULL},
	    {"dst_ip=192.0.2.95 action=drop", NULL},
	};
	/* verdicts of a sound packet, a SYN+FIN and a tiny fragment under each set */
	static const int want[][3] = {{D, D, D}, {P, D, P}, {P, P, D}, {D, D, D}};
	struct pkt_desc pk[3] = {TCPF("1.1.1.1", "192.0.2.95", 0x10),
				 TCPF("1.1.1.1", "192.0.2.95", 0x03),
				 TINY("1.1.1.1", "192.0.2.95", 6, 8)};
	struct xdrop_slot_counters c;
	struct rule_spec spec;
	uint64_t drops = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		assert_int_equal(testdp_load(g_dp, sets[i]), 0);
		for (int k = 0; k < 3; k++) {
			int v = testdp_send(g_dp, &pk[k]);

			if (v != want[i][k])
				fail_msg("set %zu, packet %d: verdict %d, expected %d", i, k, v,
					 want[i][k]);
			drops += v == D;
		}
	}
	assert_int_equal(testdp_spec(sets[3][0], &spec), 0);
	assert_int_equal(dataplane_entry_counters(g_dp, &spec, &c), 0);
	assert_int_equal(c.drop, drops);
}

/* The verifier's budget for the program (processed instructions; the kernel's limit is
 * 1,000,000): the anomaly checks must not push it past 100,000 with clang 14. */
static void verifier_budget(void **state)
{
	uint32_t insns = 0;

	(void)state;
	assert_int_equal(dataplane_verified_insns(g_dp, &insns), 0);
	printf("# verified_insns %u\n", insns);
	assert_true(insns > 0 && insns <= 100000);
}

int main(void)
{
	size_t n = sizeof(scenarios) / sizeof(scenarios[0]);
	struct CMUnitTest tests[64];
	size_t i;

	g_dp = testdp_open(true, false);
	for (i = 0; i < n; i++) {
		tests[i] = (struct CMUnitTest){.name = scenarios[i].name,
					       .test_func = run_scenario,
					       .initial_state = (void *)&scenarios[i]};
	}
	tests[i++] = (struct CMUnitTest){.name = "all 31 combos, exact and CIDR, IPv4 and IPv6",
					 .test_func = all_combos};
	tests[i++] = (struct CMUnitTest){.name = "per-rule counters kept across replacement",
					 .test_func = rule_counters};
	tests[i++] =
	    (struct CMUnitTest){.name = "a third exact combo keeps the rules already there",
				.test_func = third_combo_keeps_existing_rules};
	tests[i++] = (struct CMUnitTest){.name = "protected control flows pass ahead of every rule",
					 .test_func = protected_flows};
	tests[i++] = (struct CMUnitTest){.name = "unclassified packets count in their rule's slot",
					 .test_func = unclassified_rule_counters};
	tests[i++] = (struct CMUnitTest){.name = "a rule's anomaly mask changes in place",
					 .test_func = anomaly_mask_change};
	tests[i++] = (struct CMUnitTest){.name = "verifier budget: at most 100,000 instructions",
					 .test_func = verifier_budget};
	{
		int rc = _cmocka_run_group_tests("bpf_verdicts", tests, i, NULL, NULL);

		dataplane_close(g_dp);
		return rc;
	}
}
