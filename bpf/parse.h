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
 *
 * Anomalies (enum xdrop_anomaly; docs/matching.md, "Anomalies", gives each with its reason)
 * are computed on the way: impossible fragment geometry (BAD_FRAG) and invalid header
 * fields or TCP flags (INVALID). A packet whose addresses can be read but whose headers
 * cannot be classified (IPv4 IHL < 5, total length below the header length, TCP data
 * offset < 5) is PARSE_UNCLASSIFIED: it carries INVALID and no ports, and only rules that
 * ask for INVALID may match it. Lengths are judged from the announced IP lengths, not from
 * the frame, which may hold Ethernet padding.
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

#define PARSE_MALFORMED	   (-1)
#define PARSE_NOT_IP	   1
#define PARSE_UNCLASSIFIED 2 /* addresses readable, headers invalid: INVALID, no ports */
/* Largest header offset the parser follows, a bound the verifier needs: two VLAN tags, 40
 * bytes and 6 extension headers of at most 2,048 bytes stay below it. */
#define XDROP_L4_OFF_MAX 0x3fff

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

struct cursor {
	void *start; /* the frame's first byte */
	void *pos;
	void *end;
	__u32 l2;	/* offset of the L3 header in the frame (set by parse_eth) */
	__u32 l3_avail; /* bytes of the frame from the L3 header on (set by parse_eth) */
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
	__u8 l4_absent; /* no L4 header to read: a later fragment or a tiny first one */
	__u8 anomaly;	/* enum xdrop_anomaly: what the packet carries */
	__u8 anom_only; /* PARSE_UNCLASSIFIED: only rules that ask for INVALID may match */
	/* Header offsets, kept in memory and read back with mem16: values that differ from
	 * path to path in registers would keep the verifier from merging the paths */
	__u16 v6_hdrs;	   /* bytes of the header chain walked, IPv6 header included */
	__u16 v6_frag;	   /* fragment header's offset << 3 | M (0: none) */
	__u16 v6_frag_end; /* v6_hdrs up to the end of the fragment header */
	__u16 v6_plen;	   /* payload length */
	__u16 l4_off;	   /* offset of the L4 header in the frame */
};

/* A field of the packet summary read back from memory, never from a register the compiler
 * kept: the verifier then sees one unknown value where each path through the headers would
 * otherwise carry its own constant, and merges the paths. */
static __always_inline __u32 mem16(const __u16 *field)
{
	return *(const volatile __u16 *)field;
}

struct vlan_hdr_x {
	__be16 tci;
	__be16 proto;
};

/* Ethernet and up to two VLAN tags; *proto gets the inner EtherType (network order). */
static __always_inline int parse_eth(struct cursor *c, __be16 *proto, __u32 frame_len)
{
	struct ethhdr *eth = c->pos;
	struct vlan_hdr_x *vh;
	__u32 l2 = sizeof(*eth);
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
		l2 += sizeof(*vh);
		p = vh->proto;
	}
	*proto = p;
	c->l2 = l2;
	c->l3_avail = frame_len - l2;
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

/* The L4 header a first fragment must hold whole (RFC 1858, RFC 7112): TCP 20 bytes,
 * UDP 8, ICMP and ICMPv6 8 (type, code, checksum and the first word). */
static __always_inline __u32 l4_min_len(__u8 proto)
{
	if (proto == IPPROTO_TCP)
		return sizeof(struct tcphdr);
	if (proto == IPPROTO_UDP || proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6)
		return 8;
	return 0;
}

/* Fragment geometry shared by IPv4 and IPv6: off in 8-byte units, more = MF/M set,
 * payload = the fragment's bytes after its headers. An end past 65,535 bytes cannot be
 * reassembled (RFC 791, RFC 8200 4.5); a fragment with more to come must carry a multiple
 * of 8 bytes, or the next offset could not follow it (RFC 791, RFC 8200 4.5). */
static __always_inline __u8 frag_geometry(__u32 off, __u32 more, __u32 payload)
{
	if (off * 8 + payload > 65535)
		return XDROP_ANOM_BAD_FRAG;
	if (more && (payload & 7))
		return XDROP_ANOM_BAD_FRAG;
	return 0;
}

static __always_inline int parse_ipv4(struct cursor *c, struct pkt *p)
{
	struct iphdr *ip = c->pos;
	__u32 hlen, len, frag, off, more;

	if ((void *)(ip + 1) > c->end)
		return PARSE_MALFORMED;
	if (ip->version != 4)
		return PARSE_MALFORMED;
	addr_map_v4(&p->src, ip->saddr);
	addr_map_v4(&p->dst, ip->daddr);
	p->proto = ip->protocol;
	len = bpf_ntohs(ip->tot_len);
	p->l3_len = len;
	hlen = ip->ihl * 4;
	/* RFC 791: IHL is at least 5 and the total length covers the header. Where either
	 * fails the rest cannot be located, but the addresses are there. */
	if (hlen < sizeof(*ip) || len < hlen) {
		p->anomaly = XDROP_ANOM_INVALID;
		return PARSE_UNCLASSIFIED;
	}
	if (c->pos + hlen > c->end)
		return PARSE_MALFORMED;
	/* more bytes announced than the frame holds: a lie about the packet's length */
	if (len > c->l3_avail)
		p->anomaly = XDROP_ANOM_INVALID;
	frag = bpf_ntohs(ip->frag_off);
	off = frag & 0x1fff;
	more = frag & 0x2000;
	/* Offset field non-zero: a later fragment, no L4 header in it. */
	if (off) {
		p->fragment = 1;
		p->l4_absent = 1;
	}
	if (off || more) {
		p->anomaly |= frag_geometry(off, more, len - hlen);
		/* RFC 1858: a first fragment too short for its L4 header hides the ports and
		 * flags from filters; TCP at offset 1 overwrites the flags of the first */
		if (!off && len - hlen < l4_min_len(p->proto)) {
			p->anomaly |= XDROP_ANOM_BAD_FRAG;
			p->l4_absent = 1;
		}
		if (off == 1 && p->proto == IPPROTO_TCP)
			p->anomaly |= XDROP_ANOM_BAD_FRAG;
	}
	p->l4_off = c->l2 + hlen;
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

/* IPv6 fragment geometry, from what parse_ipv6 left in p. */
static __always_inline void frag6_anomaly(struct pkt *p)
{
	__u32 frag = mem16(&p->v6_frag), end = mem16(&p->v6_frag_end);
	__u32 len = mem16(&p->v6_plen) + 40;

	/* an atomic fragment (offset 0, M = 0) is a whole packet (RFC 6946) */
	if (!(frag & 0xfff9))
		return;
	/* headers past the payload length leave no fragment at all */
	if (end > len)
		p->anomaly |= XDROP_ANOM_BAD_FRAG;
	else
		p->anomaly |= frag_geometry(frag >> 3, frag & 1, len - end);
	/* RFC 7112: the first fragment holds the whole header chain and the upper-layer
	 * header */
	if (!p->fragment && mem16(&p->v6_hdrs) + l4_min_len(p->proto) > len) {
		p->anomaly |= XDROP_ANOM_BAD_FRAG;
		p->l4_absent = 1;
	}
}

static __always_inline int parse_ipv6(struct cursor *c, struct pkt *p)
{
	struct ipv6hdr *ip6 = c->pos;
	struct ipv6_ext *ext;
	__u32 len, step, frag, off;
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
	p->v6_plen = bpf_ntohs(ip6->payload_len);
	len = p->v6_plen + sizeof(*ip6);
	p->l3_len = len;
	/* more bytes announced than the frame holds (a jumbogram announces 0: not this) */
	if (len > c->l3_avail)
		p->anomaly = XDROP_ANOM_INVALID;
	nh = ip6->nexthdr;
	p->v6_hdrs = sizeof(*ip6);
	for (i = 0; i < XDROP_IPV6_MAX_EXT; i++) {
		if (!ipv6_is_ext(nh))
			break;
		/* the header's offset from memory: one verifier state per iteration, whatever
		 * the lengths of the headers before it */
		off = c->l2 + mem16(&p->v6_hdrs);
		if (off > XDROP_L4_OFF_MAX)
			return PARSE_MALFORMED;
		ext = c->start + off;
		if ((void *)(ext + 1) > c->end)
			return PARSE_MALFORMED;
		if (nh == IPPROTO_FRAGMENT) {
			frag = bpf_ntohs(ext->frag_off); /* offset << 3 | M */
			if (frag & 0xfff8)
				p->fragment = 1;
			p->v6_frag = frag;
			p->v6_frag_end = mem16(&p->v6_hdrs) + 8;
			step = 8;
		} else if (nh == IPPROTO_AH) {
			step = ((__u32)ext->len + 2) * 4;
		} else {
			step = ((__u32)ext->len + 1) * 8;
		}
		p->v6_hdrs = mem16(&p->v6_hdrs) + step;
		nh = ext->nexthdr;
		/* After a non-first fragment header the rest is payload, not headers. */
		if (p->fragment)
			break;
	}
	/* A chain longer than we walk cannot be classified: treat it as malformed. */
	if (!p->fragment && ipv6_is_ext(nh))
		return PARSE_MALFORMED;
	p->proto = nh;
	p->l4_absent = p->fragment;
	p->l4_off = c->l2 + mem16(&p->v6_hdrs);
	return 0;
}

/* TCP flag combinations no stack sends (RFC 9293): SYN with FIN (open and close at
 * once) or with RST, none of FIN SYN RST PSH ACK URG (a null scan), and FIN+PSH+URG
 * (a "Christmas tree" scan). */
static __always_inline __u8 tcp_flags_anomaly(__u8 f)
{
	if ((f & 0x03) == 0x03 || (f & 0x06) == 0x06 || !(f & 0x3f) || (f & 0x29) == 0x29)
		return XDROP_ANOM_INVALID;
	return 0;
}

/* L4: ports for TCP and UDP, flags for TCP, at p->l4_off; first the IPv6 fragment checks,
 * which decide whether a first fragment holds its L4 header. Packets without an L4 header
 * are left alone. Everything comes from the summary in memory, so the verifier reaches here
 * with the paths through the IP headers merged. */
static __always_inline int parse_l4(struct cursor *c, struct pkt *p)
{
	void *end = c->end, *l4;
	__u32 off;

	if (p->is_v6)
		frag6_anomaly(p);
	if (p->l4_absent)
		return 0;
	off = mem16(&p->l4_off);
	if (off > XDROP_L4_OFF_MAX)
		return PARSE_MALFORMED;
	l4 = c->start + off;
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > end)
			return PARSE_MALFORMED;
		/* RFC 9293: the data offset counts the 5 words of the fixed header */
		if (th->doff < 5) {
			p->anomaly |= XDROP_ANOM_INVALID;
			return PARSE_UNCLASSIFIED;
		}
		p->sport = th->source;
		p->dport = th->dest;
		p->tcp_flags = ((__u8 *)th)[13];
		p->anomaly |= tcp_flags_anomaly(p->tcp_flags);
		p->has_ports = 1;
		p->has_tcp = 1;
	} else if (p->proto == IPPROTO_UDP) {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > end)
			return PARSE_MALFORMED;
		p->sport = uh->source;
		p->dport = uh->dest;
		p->has_ports = 1;
	} else if (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6) {
		/* type and code */
		if (l4 + 2 > end)
			return PARSE_MALFORMED;
	}
	return 0;
}

/* Parses everything; returns 0, PARSE_NOT_IP, PARSE_UNCLASSIFIED (p->anom_only set) or
 * PARSE_MALFORMED. */
static __always_inline int parse_packet(struct xdp_md *ctx, struct pkt *p)
{
	struct cursor c = {
	    .start = (void *)(long)ctx->data,
	    .pos = (void *)(long)ctx->data,
	    .end = (void *)(long)ctx->data_end,
	};
	__be16 proto;
	int err;

	err = parse_eth(&c, &proto, ctx->data_end - ctx->data);
	if (err)
		return err;
	if (proto == bpf_htons(ETH_P_IP))
		err = parse_ipv4(&c, p);
	else if (proto == bpf_htons(ETH_P_IPV6))
		err = parse_ipv6(&c, p);
	else
		return PARSE_NOT_IP;
	if (!err)
		err = parse_l4(&c, p);
	if (err == PARSE_UNCLASSIFIED)
		p->anom_only = 1;
	return err;
}

#endif
