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

int ref_pkt_from_frame(const uint8_t *f, size_t len, struct ref_pkt *p)
{
	uint16_t et, frag;
	size_t off = 14, l4;
	uint8_t nh;

	memset(p, 0, sizeof(*p));
	if (len < 14)
		return -1;
	et = (uint16_t)(f[12] << 8 | f[13]);
	if (et == 0x0800) {
		size_t ihl = (size_t)(f[off] & 15) * 4;

		memset(p->src.b + 10, 0xff, 2);
		memset(p->dst.b + 10, 0xff, 2);
		memcpy(p->src.b + 12, f + off + 12, 4);
		memcpy(p->dst.b + 12, f + off + 16, 4);
		p->proto = f[off + 9];
		p->l3_len = (uint16_t)(f[off + 2] << 8 | f[off + 3]);
		frag = (uint16_t)((f[off + 6] << 8 | f[off + 7]) & 0x1fff);
		l4 = off + ihl;
		if (frag)
			return 0; /* later fragment: no ports, no flags */
	} else if (et == 0x86dd) {
		p->is_v6 = true;
		memcpy(p->src.b, f + off + 8, 16);
		memcpy(p->dst.b, f + off + 24, 16);
		p->l3_len = (uint16_t)((f[off + 4] << 8 | f[off + 5]) + 40);
		nh = f[off + 6];
		l4 = off + 40;
		while (nh == 60 || nh == 44) {
			if (nh == 44 && ((f[l4 + 2] << 8 | f[l4 + 3]) & 0xfff8))
				return p->proto = f[l4], 0; /* later fragment */
			nh = f[l4];
			l4 += nh == 44 ? 8 : (size_t)(f[l4 + 1] + 1) * 8;
		}
		p->proto = nh;
	} else {
		return -1;
	}
	if (p->proto == 6 || p->proto == 17) {
		p->has_ports = true;
		p->sport = (uint16_t)(f[l4] << 8 | f[l4 + 1]);
		p->dport = (uint16_t)(f[l4 + 2] << 8 | f[l4 + 3]);
		if (p->proto == 6) {
			p->has_tcp = true;
			p->tcp_flags = f[l4 + 13];
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
		return true;
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
		return XDP_PASS;
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
