/* SPDX-License-Identifier: MIT */
/*
 * pkt: builds test frames (Ethernet, optional VLAN tags, IPv4 or IPv6 with optional
 * extension headers and fragments, TCP/UDP/ICMP/ICMPv6) from a plain description, and
 * runs them through the XDP program with BPF_PROG_TEST_RUN.
 */
#ifndef XDROP_TEST_PKT_H
#define XDROP_TEST_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKT_MAX 1600

struct pkt_desc {
	const char *src; /* IPv4 or IPv6 text; the family follows src */
	const char *dst;
	uint8_t proto; /* 6, 17, 1, 58, or anything else (payload only) */
	uint16_t sport;
	uint16_t dport;
	uint8_t tcp_flags;
	int vlans;   /* 0, 1 or 2 tags (outer 802.1ad when 2) */
	int ip_opts; /* IPv4 option words (4 bytes each) */
	int v6_ext;  /* IPv6: this many destination-options headers before L4 */
	int frag;    /* 0 none, 1 first fragment (MF), 2 later fragment, 3 frag_off/frag_more */
	uint16_t payload; /* bytes after the L4 header */
	/* Hostile shapes (0 = a well-formed packet): */
	uint16_t frag_off; /* frag = 3: offset in 8-byte units (> 0: no L4 header written) */
	bool frag_more;	   /* frag = 3: MF (IPv4) or M (IPv6) */
	uint8_t l4_bytes;  /* bytes of the L4 header kept (a tiny first fragment); 0 = all */
	uint8_t ihl;	   /* IPv4 IHL written instead of the real one */
	uint16_t ip_len;   /* IPv4 total length / IPv6 payload length written instead */
	uint8_t doff;	   /* TCP data offset written instead of 5 */
};

/* Writes the frame into buf (PKT_MAX bytes); returns its length or -1. */
int pkt_build(const struct pkt_desc *d, uint8_t *buf);

/* Runs one frame through the program; returns the XDP verdict (>= 0) or -errno. */
int pkt_run(int prog_fd, const uint8_t *buf, size_t len);

/* Runs it repeat times in the kernel (BPF_PROG_TEST_RUN repeat); returns the verdict and
 * the average nanoseconds per run through *ns. */
int pkt_run_repeat(int prog_fd, const uint8_t *buf, size_t len, uint32_t repeat, double *ns);

#endif
