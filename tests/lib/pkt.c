// SPDX-License-Identifier: MIT
/*
 * pkt: test frame builder and BPF_PROG_TEST_RUN wrapper; see pkt.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf.h>

#include "pkt.h"

static void put16(uint8_t *p, uint16_t v)
{
	v = htons(v);
	memcpy(p, &v, 2);
}

static int build_at(const struct pkt_desc *d, uint8_t *buf)
{
	struct in6_addr s6, d6;
	struct in_addr s4, d4;
	bool v6 = strchr(d->src, ':') != NULL;
	size_t off = 12, l4len, l3start, iphl, kept;
	uint8_t *l4;
	int i;

	memset(buf, 0, PKT_MAX);
	memcpy(buf, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	for (i = 0; i < d->vlans; i++) {
		put16(buf + off, (d->vlans == 2 && i == 0) ? 0x88A8 : 0x8100);
		put16(buf + off + 2, (uint16_t)(100 + i));
		off += 4;
	}
	put16(buf + off, v6 ? ETH_P_IPV6 : ETH_P_IP);
	off += 2;
	l3start = off;
	switch (d->proto) {
	case 6:
		l4len = 20;
		break;
	case 17:
		l4len = 8;
		break;
	case 1:
	case 58:
		l4len = 8;
		break;
	default:
		l4len = 0;
	}
	if (!v6) {
		struct iphdr *ip = (struct iphdr *)(buf + off);

		if (inet_pton(AF_INET, d->src, &s4) != 1 || inet_pton(AF_INET, d->dst, &d4) != 1)
			return -1;
		iphl = 20 + 4 * (size_t)d->ip_opts;
		ip->version = 4;
		ip->ihl = (uint8_t)(iphl / 4);
		ip->ttl = 64;
		ip->protocol = d->proto;
		ip->saddr = s4.s_addr;
		ip->daddr = d4.s_addr;
		if (d->frag == 1)
			ip->frag_off = htons(0x2000);
		else if (d->frag == 2)
			ip->frag_off = htons(0x2000 | 10);
		else if (d->frag == 3)
			ip->frag_off =
			    htons((uint16_t)((d->frag_more ? 0x2000 : 0) | (d->frag_off & 0x1fff)));
		for (i = 0; i < d->ip_opts; i++)
			buf[off + 20 + 4 * i] = 1; /* NOP options */
		off += iphl;
		if (d->frag == 2 || (d->frag == 3 && d->frag_off))
			l4len = 0; /* a later fragment: payload only */
		kept = d->l4_bytes && d->l4_bytes < l4len ? d->l4_bytes : l4len;
		ip->tot_len = htons(d->ip_len ? d->ip_len : (uint16_t)(iphl + kept + d->payload));
		if (d->ihl)
			ip->ihl = d->ihl & 15;
	} else {
		struct ipv6hdr *ip6 = (struct ipv6hdr *)(buf + off);
		uint8_t *nh = &ip6->nexthdr;

		if (inet_pton(AF_INET6, d->src, &s6) != 1 || inet_pton(AF_INET6, d->dst, &d6) != 1)
			return -1;
		ip6->version = 6;
		ip6->hop_limit = 64;
		memcpy(&ip6->saddr, &s6, 16);
		memcpy(&ip6->daddr, &d6, 16);
		off += 40;
		for (i = 0; i < d->v6_ext; i++) {
			*nh = 60; /* destination options, 8 bytes */
			nh = buf + off;
			buf[off + 1] = 0;
			off += 8;
		}
		if (d->frag) {
			uint16_t fo = d->frag == 2 ? (uint16_t)(10 << 3 | 1) : 1;

			if (d->frag == 3)
				fo = (uint16_t)((d->frag_off & 0x1fff) << 3 | d->frag_more);
			*nh = 44;
			nh = buf + off;
			put16(buf + off + 2, fo);
			off += 8;
			if (fo & 0xfff8)
				l4len = 0;
		}
		*nh = d->proto;
		kept = d->l4_bytes && d->l4_bytes < l4len ? d->l4_bytes : l4len;
		put16(buf + l3start + 4,
		      d->ip_len ? d->ip_len : (uint16_t)(off - l3start - 40 + kept + d->payload));
	}
	l4 = buf + off;
	if (l4len && d->proto == 6) {
		struct tcphdr *th = (struct tcphdr *)l4;

		th->source = htons(d->sport);
		th->dest = htons(d->dport);
		th->doff = d->doff ? d->doff & 15 : 5;
		l4[13] = d->tcp_flags;
	} else if (l4len && d->proto == 17) {
		struct udphdr *uh = (struct udphdr *)l4;

		uh->source = htons(d->sport);
		uh->dest = htons(d->dport);
		uh->len = htons((uint16_t)(8 + d->payload));
	} else if (l4len) {
		l4[0] = d->proto == 1 ? 8 : 128; /* echo request */
	}
	/* a tiny first fragment: the rest of its L4 header is not in the packet */
	memset(l4 + kept, 0, l4len - kept);
	off += kept + d->payload;
	if (off < 60)
		off = 60;
	return off > PKT_MAX ? -1 : (int)off;
}

/* Headers are written through struct pointers: build two bytes into an aligned buffer so
 * that the IP header lands on a 4-byte boundary, as NET_IP_ALIGN arranges in drivers. */
int pkt_build(const struct pkt_desc *d, uint8_t *buf)
{
	static __thread uint8_t tmp[PKT_MAX + 8] __attribute__((aligned(8)));
	int len = build_at(d, tmp + 2);

	if (len > 0)
		memcpy(buf, tmp + 2, (size_t)len);
	return len;
}

int pkt_run(int prog_fd, const uint8_t *buf, size_t len)
{
	return pkt_run_repeat(prog_fd, buf, len, 1, NULL);
}

int pkt_run_repeat(int prog_fd, const uint8_t *buf, size_t len, uint32_t repeat, double *ns)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf, .data_size_in = (uint32_t)len,
		    .repeat = repeat);

	if (bpf_prog_test_run_opts(prog_fd, &o))
		return -errno;
	if (ns)
		*ns = o.duration;
	return (int)o.retval;
}
