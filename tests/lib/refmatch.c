// SPDX-License-Identifier: MIT
/*
 * refmatch: the reference matcher; see refmatch.h. Deliberately naive: a linear scan and
 * an explicit comparison, no ranks, no combos, no tables.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/bpf.h>

#include "refmatch.h"

/* Bytes of the L4 header a first fragment must hold (docs/matching.md, "Anomalies"). */
static size_t l4_need(uint8_t proto)
{
	switch (proto) {
	case 6:
		return 20;
	case 17:
	case 1:
	case 58:
		return 8;
	default:
		return 0;
	}
}

/* The documented fragment checks, given the offset (8-byte units), the more-fragments
 * bit, the bytes after the fragment's headers, and whether the L4 header is missing. */
static uint8_t frag_anomaly(unsigned off, bool more, long rest, bool l4_short)
{
	bool bad = rest < 0 || off * 8 + (unsigned long)(rest < 0 ? 0 : rest) > 65535 ||
		   (more && rest % 8 != 0) || (off == 0 && more && l4_short);

	return bad ? XDROP_ANOM_BAD_FRAG : 0;
}

/* A TCP flags byte no stack sends: SYN+FIN, SYN+RST, none of the six classic flags, or
 * FIN+PSH+URG. */
static bool flags_invalid(uint8_t f)
{
	bool syn = f & 0x02, fin = f & 0x01, rst = f & 0x04;

	return (syn && fin) || (syn && rst) || (f & 0x3f) == 0 || (f & 0x29) == 0x29;
}

int ref_pkt_from_frame(const uint8_t *f, size_t len, struct ref_pkt *p)
{
	uint16_t et, fo;
	size_t off = 14, l4;
	long rest;
	uint8_t nh;
	bool later = false;

	memset(p, 0, sizeof(*p));
	if (len < 14)
		return -1;
	et = (uint16_t)(f[12] << 8 | f[13]);
	if (et == 0x0800) {
		size_t ihl = (size_t)(f[off] & 15) * 4;
		unsigned frag_off;
		bool mf;

		memset(p->src.b + 10, 0xff, 2);
		memset(p->dst.b + 10, 0xff, 2);
		memcpy(p->src.b + 12, f + off + 12, 4);
		memcpy(p->dst.b + 12, f + off + 16, 4);
		p->proto = f[off + 9];
		p->l3_len = (uint16_t)(f[off + 2] << 8 | f[off + 3]);
		if (ihl < 20 || p->l3_len < ihl) {
			p->anomaly = XDROP_ANOM_INVALID;
			p->unclassified = true;
			return 0;
		}
		if (p->l3_len > len - 14)
			p->anomaly |= XDROP_ANOM_INVALID;
		fo = (uint16_t)(f[off + 6] << 8 | f[off + 7]);
		frag_off = fo & 0x1fff;
		mf = fo & 0x2000;
		rest = (long)p->l3_len - (long)ihl;
		if (frag_off || mf) {
			p->anomaly |=
			    frag_anomaly(frag_off, mf, rest, (size_t)rest < l4_need(p->proto));
			if (frag_off == 1 && p->proto == 6)
				p->anomaly |= XDROP_ANOM_BAD_FRAG;
		}
		l4 = off + ihl;
		if (frag_off || (mf && (size_t)rest < l4_need(p->proto)))
			return 0; /* later or tiny fragment: no ports, no flags */
	} else if (et == 0x86dd) {
		size_t frag_at = 0; /* offset of the fragment header, 0 = none */

		p->is_v6 = true;
		memcpy(p->src.b, f + off + 8, 16);
		memcpy(p->dst.b, f + off + 24, 16);
		p->l3_len = (uint16_t)((f[off + 4] << 8 | f[off + 5]) + 40);
		if ((size_t)(f[off + 4] << 8 | f[off + 5]) + 40 > len - 14)
			p->anomaly |= XDROP_ANOM_INVALID;
		nh = f[off + 6];
		l4 = off + 40;
		while (nh == 60 || nh == 44) {
			uint8_t next = f[l4];

			if (nh == 44) {
				frag_at = l4;
				later = ((f[l4 + 2] << 8 | f[l4 + 3]) & 0xfff8) != 0;
			}
			nh = next;
			l4 += 8; /* pkt_build's destination options and fragment headers */
			if (later)
				break;
		}
		p->proto = nh;
		if (frag_at) {
			unsigned v = (unsigned)(f[frag_at + 2] << 8 | f[frag_at + 3]);
			size_t total = (size_t)(f[off + 4] << 8 | f[off + 5]) + 40;
			bool more = v & 1, short_l4 = !later && l4 - off + l4_need(nh) > total;

			/* bytes after the fragment header, against the announced length */
			rest = (long)total - (long)(frag_at + 8 - off);
			if (v & 0xfff9)
				p->anomaly |= frag_anomaly(v >> 3, more, rest, short_l4);
			if (more && short_l4)
				return 0; /* RFC 7112: the first fragment lacks its L4 header */
		}
		if (later)
			return 0;
	} else {
		return -1;
	}
	if (p->proto == 6 || p->proto == 17) {
		if (p->proto == 6 && (f[l4 + 12] >> 4) < 5) {
			p->anomaly |= XDROP_ANOM_INVALID;
			p->unclassified = true;
			return 0;
		}
		p->has_ports = true;
		p->sport = (uint16_t)(f[l4] << 8 | f[l4 + 1]);
		p->dport = (uint16_t)(f[l4 + 2] << 8 | f[l4 + 3]);
		if (p->proto == 6) {
			p->has_tcp = true;
			p->tcp_flags = f[l4 + 13];
			if (flags_invalid(p->tcp_flags))
				p->anomaly |= XDROP_ANOM_INVALID;
		}
	}
	return 0;
}

int ref_init(struct ref_state *st, const struct rule_spec *rules, size_t n)
{
	st->rules = rules;
	st->n = n;
	st->tokens = calloc(n ? n : 1, sizeof(*st->tokens));
	if (!st->tokens)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		st->tokens[i] = rules[i].burst ? rules[i].burst : rules[i].rate;
	return 0;
}

void ref_fini(struct ref_state *st)
{
	free(st->tokens);
	st->tokens = NULL;
}

static bool prefix_has(const struct addr_prefix *pf, const struct xdrop_addr *a)
{
	unsigned bits = pf->plen;

	for (unsigned i = 0; i < bits; i++) {
		unsigned char m = (unsigned char)(0x80 >> (i % 8));

		if ((pf->addr.b[i / 8] & m) != (a->b[i / 8] & m))
			return false;
	}
	return true;
}

static bool matches(const struct rule_spec *r, const struct ref_pkt *p)
{
	if (r->src.plen && !prefix_has(&r->src, &p->src))
		return false;
	if (r->dst.plen && !prefix_has(&r->dst, &p->dst))
		return false;
	/* an IPv4 prefix (mapped) never covers an IPv6 packet's address and vice versa: the
	 * mapped range is refused for IPv6 prefixes, and mapped addresses are malformed */
	if (r->sport && (!p->has_ports || r->sport != p->sport))
		return false;
	if (r->dport && (!p->has_ports || r->dport != p->dport))
		return false;
	if (r->proto && r->proto != p->proto)
		return false;
	if (r->kind == XDROP_KIND_WL)
		return !p->unclassified; /* the whitelist never sees unclassified packets */
	/* an unclassified packet: only rules asking for INVALID; others: a rule with a mask
	 * needs one of its anomalies, a rule without one ignores them */
	if (p->unclassified && !(r->anomaly & XDROP_ANOM_INVALID))
		return false;
	if (!p->unclassified && r->anomaly && !(r->anomaly & p->anomaly))
		return false;
	if (r->len_min && p->l3_len < r->len_min)
		return false;
	if (r->len_max && p->l3_len > r->len_max)
		return false;
	if (r->has_tcp_flags && (!p->has_tcp || (p->tcp_flags & r->tcp_mask) != r->tcp_value))
		return false;
	return true;
}

static int nfields(const struct rule_spec *r)
{
	return (r->src.plen > 0) + (r->dst.plen > 0) + (r->sport > 0) + (r->dport > 0) +
	       (r->proto > 0);
}

/* > 0 when a is more specific than b: the documented order, criterion by criterion. */
static int more_specific(const struct rule_spec *a, const struct rule_spec *b)
{
	int d;

	d = nfields(a) - nfields(b);
	if (d)
		return d;
	d = (int)(a->src.plen + a->dst.plen) - (int)(b->src.plen + b->dst.plen);
	if (d)
		return d;
	d = (int)a->dst.plen - (int)b->dst.plen;
	if (d)
		return d;
	d = (a->dport > 0) - (b->dport > 0);
	if (d)
		return d;
	d = (a->sport > 0) - (b->sport > 0);
	if (d)
		return d;
	return (a->proto > 0) - (b->proto > 0);
}

int ref_verdict(struct ref_state *st, const struct ref_pkt *p, long *winner)
{
	long best = -1;

	*winner = -1;
	for (size_t i = 0; i < st->n; i++) {
		if (st->rules[i].kind == XDROP_KIND_WL && matches(&st->rules[i], p)) {
			*winner = (long)i;
			return XDP_PASS;
		}
	}
	for (size_t i = 0; i < st->n; i++) {
		const struct rule_spec *r = &st->rules[i];

		if (r->kind != XDROP_KIND_RULE || !matches(r, p))
			continue;
		if (best < 0 || more_specific(r, &st->rules[best]) > 0)
			best = (long)i;
	}
	*winner = best;
	if (best < 0)
		return p->unclassified ? XDP_DROP : XDP_PASS; /* malformed, fail closed */
	switch (st->rules[best].action) {
	case XDROP_ACT_PASS:
		return XDP_PASS;
	case XDROP_ACT_RATE_LIMIT:
		if (st->tokens[best]) {
			st->tokens[best]--;
			return XDP_PASS;
		}
		return XDP_DROP;
	default:
		return XDP_DROP;
	}
}
