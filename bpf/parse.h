/* SPDX-License-Identifier: GPL-2.0 */
/*
 * parse.h: header parsers for the XDrop program. Each parser takes a cursor, checks bounds,
 * fills the packet summary and advances the cursor; it returns 0, or a negative value when
 * the frame is malformed (truncated or invalid headers). The caller decides the verdict.
 *
 * What is parsed: Ethernet with up to two VLAN tags (802.1Q or 802.1ad outer), IPv4 with
 * options and fragments, IPv6 with up to XDROP_IPV6_MAX_EXT extension headers, and the
 * first bytes of TCP, UDP, ICMP and ICMPv6. A non-first fragment carries no L4 header: its
 * ports stay absent so rules that constrain ports or TCP flags cannot match it.
 */
#ifndef XDROP_PARSE_H
#define XDROP_PARSE_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xdrop.h"

#define PARSE_MALFORMED (-1)
#define PARSE_NOT_IP	1

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

struct cursor {
	void *pos;
	void *end;
};

/* The packet as the matcher sees it. */
struct pkt {
	struct xdrop_addr src;
	struct xdrop_addr dst;
	__be16 sport; /* 0 unless has_ports */
	__be16 dport;
	__u16 l3_len; /* IPv4 total length, IPv6 payload length + 40 */
	__u8 proto;   /* IPv4 protocol, IPv6 final next header */
	__u8 is_v6;
	__u8 has_ports; /* TCP or UDP with its header present (not a non-first fragment) */
	__u8 has_tcp;	/* a TCP header is present: tcp_flags is valid */
	__u8 tcp_flags; /* FIN..CWR byte of the TCP header */
	__u8 fragment;	/* a non-first fragment */
};

struct vlan_hdr_x {
	__be16 tci;
	__be16 proto;
};

/* Ethernet and up to two VLAN tags; *proto gets the inner EtherType (network order). */
static __always_inline int parse_eth(struct cursor *c, __be16 *proto)
{
	struct ethhdr *eth = c->pos;
	struct vlan_hdr_x *vh;
	__be16 p;
	int i;

	if ((void *)(eth + 1) > c->end)
		return PARSE_MALFORMED;
	c->pos = eth + 1;
	p = eth->h_proto;
#pragma unroll
	for (i = 0; i < 2; i++) {
		if (p != bpf_htons(ETH_P_8021Q) && p != bpf_htons(ETH_P_8021AD))
			break;
		vh = c->pos;
		if ((void *)(vh + 1) > c->end)
			return PARSE_MALFORMED;
		c->pos = vh + 1;
		p = vh->proto;
	}
	*proto = p;
	return 0;
}

static __always_inline void addr_map_v4(struct xdrop_addr *a, __be32 v4)
{
	__u32 *w = (__u32 *)a->b;

	w[0] = 0;
	w[1] = 0;
	w[2] = bpf_htonl(0x0000ffff);
	w[3] = v4;
}

static __always_inline int parse_ipv4(struct cursor *c, struct pkt *p)
{
	struct iphdr *ip = c->pos;
	__u32 hlen;

	if ((void *)(ip + 1) > c->end)
		return PARSE_MALFORMED;
	hlen = ip->ihl * 4;
	if (ip->version != 4 || hlen < sizeof(*ip))
		return PARSE_MALFORMED;
	if (c->pos + hlen > c->end)
		return PARSE_MALFORMED;
	p->l3_len = bpf_ntohs(ip->tot_len);
	if (p->l3_len < hlen)
		return PARSE_MALFORMED;
	addr_map_v4(&p->src, ip->saddr);
	addr_map_v4(&p->dst, ip->daddr);
	p->proto = ip->protocol;
	/* Offset field non-zero: a later fragment, no L4 header in it. */
	if (ip->frag_off & bpf_htons(0x1fff))
		p->fragment = 1;
	c->pos += hlen;
	return 0;
}

static __always_inline int addr_is_mapped(const struct xdrop_addr *a)
{
	const __u32 *w = (const __u32 *)a->b;

	return w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0x0000ffff);
}

static __always_inline int ipv6_is_ext(__u8 nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
	       nh == IPPROTO_FRAGMENT || nh == IPPROTO_AH || nh == 135 /* mobility */ ||
	       nh == 139 /* HIP */ || nh == 140 /* shim6 */;
}

struct ipv6_ext {
	__u8 nexthdr;
	__u8 len;
	__be16 frag_off; /* fragment header only */
};

static __always_inline int parse_ipv6(struct cursor *c, struct pkt *p)
{
	struct ipv6hdr *ip6 = c->pos;
	struct ipv6_ext *ext;
	__u8 nh;
	int i;

	if ((void *)(ip6 + 1) > c->end)
		return PARSE_MALFORMED;
	if (ip6->version != 6)
		return PARSE_MALFORMED;
	__builtin_memcpy(p->src.b, &ip6->saddr, 16);
	__builtin_memcpy(p->dst.b, &ip6->daddr, 16);
	p->is_v6 = 1;
	/* IPv4-mapped addresses never appear on the wire (RFC 4291 2.5.5.2); keys use that
	 * form for IPv4, so such a packet is malformed rather than an IPv4 look-alike. */
	if (addr_is_mapped(&p->src) || addr_is_mapped(&p->dst))
		return PARSE_MALFORMED;
	p->l3_len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
	nh = ip6->nexthdr;
	c->pos = ip6 + 1;
	for (i = 0; i < XDROP_IPV6_MAX_EXT; i++) {
		if (!ipv6_is_ext(nh))
			break;
		ext = c->pos;
		if ((void *)(ext + 1) > c->end)
			return PARSE_MALFORMED;
		if (nh == IPPROTO_FRAGMENT) {
			if (ext->frag_off & bpf_htons(0xfff8))
				p->fragment = 1;
			c->pos += 8;
		} else if (nh == IPPROTO_AH) {
			c->pos += ((__u32)ext->len + 2) * 4;
		} else {
			c->pos += ((__u32)ext->len + 1) * 8;
		}
		nh = ext->nexthdr;
		/* After a non-first fragment header the rest is payload, not headers. */
		if (p->fragment)
			break;
	}
	/* A chain longer than we walk cannot be classified: treat it as malformed. */
	if (!p->fragment && ipv6_is_ext(nh))
		return PARSE_MALFORMED;
	p->proto = nh;
	return 0;
}

/* L4: ports for TCP and UDP, flags for TCP. Non-first fragments are left alone. */
static __always_inline int parse_l4(struct cursor *c, struct pkt *p)
{
	if (p->fragment)
		return 0;
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = c->pos;

		if ((void *)(th + 1) > c->end)
			return PARSE_MALFORMED;
		if (th->doff < 5)
			return PARSE_MALFORMED;
		p->sport = th->source;
		p->dport = th->dest;
		p->tcp_flags = ((__u8 *)th)[13];
		p->has_ports = 1;
		p->has_tcp = 1;
	} else if (p->proto == IPPROTO_UDP) {
		struct udphdr *uh = c->pos;

		if ((void *)(uh + 1) > c->end)
			return PARSE_MALFORMED;
		p->sport = uh->source;
		p->dport = uh->dest;
		p->has_ports = 1;
	} else if (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6) {
		/* type and code */
		if (c->pos + 2 > c->end)
			return PARSE_MALFORMED;
	}
	return 0;
}

/* Parses everything; returns 0, PARSE_NOT_IP or PARSE_MALFORMED. */
static __always_inline int parse_packet(struct xdp_md *ctx, struct pkt *p)
{
	struct cursor c = {
	    .pos = (void *)(long)ctx->data,
	    .end = (void *)(long)ctx->data_end,
	};
	__be16 proto;
	int err;

	err = parse_eth(&c, &proto);
	if (err)
		return err;
	if (proto == bpf_htons(ETH_P_IP))
		err = parse_ipv4(&c, p);
	else if (proto == bpf_htons(ETH_P_IPV6))
		err = parse_ipv6(&c, p);
	else
		return PARSE_NOT_IP;
	if (err)
		return err;
	return parse_l4(&c, p);
}

#endif
