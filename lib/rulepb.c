// SPDX-License-Identifier: MIT
/*
 * rulepb: proto <-> rule_spec; see rulepb.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rulepb.h"

static int fail(struct rule_error *err, const char *field, const char *reason)
{
	if (err) {
		err->field = field;
		err->reason = reason;
	}
	return -EINVAL;
}

/* One address direction: exact (ip_field) or prefix (cidr_field), never both. */
static int addr_field(const char *ip, const char *cidr, const char *ip_name, const char *cidr_name,
		      struct addr_prefix *out, struct rule_error *err)
{
	const char *why;

	memset(out, 0, sizeof(*out));
	if (ip && *ip && cidr && *cidr)
		return fail(err, cidr_name, "give either the address or the prefix, not both");
	if (ip && *ip) {
		if (strchr(ip, '/'))
			return fail(err, ip_name,
				    "an address has no prefix length; use the _cidr field");
		if (addr_parse(ip, &out->addr, &why))
			return fail(err, ip_name, why);
		out->plen = 128;
	} else if (cidr && *cidr) {
		if (!strchr(cidr, '/'))
			return fail(err, cidr_name, "a prefix needs a length, e.g. 10.0.0.0/8");
		if (addr_parse_prefix(cidr, out, &why))
			return fail(err, cidr_name, why);
	}
	return 0;
}

static int match_fields(const char *src_ip, const char *src_cidr, const char *dst_ip,
			const char *dst_cidr, uint32_t sport, uint32_t dport, const char *proto,
			struct rule_spec *s, struct rule_error *err)
{
	int e;

	e = addr_field(src_ip, src_cidr, "src_ip", "src_cidr", &s->src, err);
	if (!e)
		e = addr_field(dst_ip, dst_cidr, "dst_ip", "dst_cidr", &s->dst, err);
	if (e)
		return e;
	if (sport > 65535)
		return fail(err, "src_port", "port must be 0-65535");
	if (dport > 65535)
		return fail(err, "dst_port", "port must be 0-65535");
	s->sport = (uint16_t)sport;
	s->dport = (uint16_t)dport;
	if (proto && *proto && rule_parse_protocol(proto, &s->proto))
		return fail(err, "protocol",
			    "unknown protocol (any, tcp, udp, icmp, icmpv6, igmp, gre, esp, ah, "
			    "sctp or 0-255)");
	return 0;
}

int rulepb_rule_to_spec(const Xdrop__V1__Rule *r, struct rule_spec *s, struct rule_error *err)
{
	int e;

	memset(s, 0, sizeof(*s));
	s->kind = XDROP_KIND_RULE;
	e = match_fields(r->src_ip, r->src_cidr, r->dst_ip, r->dst_cidr, r->src_port, r->dst_port,
			 r->protocol, s, err);
	if (e)
		return e;
	if (!r->action || !*r->action)
		return fail(err, "action", "action is required: drop, pass or rate_limit");
	if (rule_parse_action(r->action, &s->action))
		return fail(err, "action", "action must be drop, pass or rate_limit");
	if (r->rate_limit > XDROP_MAX_RATE_PPS)
		return fail(err, "rate_limit", "rate_limit above 100,000,000 pps");
	if (r->burst > XDROP_MAX_RATE_PPS)
		return fail(err, "burst", "burst above 100,000,000 packets");
	s->rate = (uint32_t)r->rate_limit;
	s->burst = (uint32_t)r->burst;
	if (r->pkt_len_min > 65535)
		return fail(err, "pkt_len_min", "length must be 0-65535");
	if (r->pkt_len_max > 65535)
		return fail(err, "pkt_len_max", "length must be 0-65535");
	s->len_min = (uint16_t)r->pkt_len_min;
	s->len_max = (uint16_t)r->pkt_len_max;
	if (r->tcp_flags && *r->tcp_flags) {
		if (rule_parse_tcp_flags(r->tcp_flags, &s->tcp_mask, &s->tcp_value))
			return fail(err, "tcp_flags",
				    "flags like SYN,!ACK from FIN SYN RST PSH ACK URG ECE CWR");
		s->has_tcp_flags = true;
	}
	if (r->match_anomaly & ~(uint32_t)XDROP_ANOM_ALL)
		return fail(err, "match_anomaly",
			    "match_anomaly is a mask of 1 (bad_fragment) and 2 (invalid)");
	s->anomaly = (uint8_t)r->match_anomaly;
	/* XDrop v2.7's contract (its API.md, "Decoder switching contract"): a rule written
	 * through the API matches TCP flags or anomalies, not both, so that switching a rule's
	 * decoder by PUT clears the other explicitly. The program could test both. */
	if (s->anomaly && s->has_tcp_flags)
		return fail(err, "tcp_flags",
			    "cannot have both tcp_flags and match_anomaly (as in XDrop v2.7): "
			    "clear one of them");
	return rule_validate(s, err);
}

int rulepb_wl_to_spec(const Xdrop__V1__WhitelistEntry *w, struct rule_spec *s,
		      struct rule_error *err)
{
	int e;

	memset(s, 0, sizeof(*s));
	s->kind = XDROP_KIND_WL;
	s->action = XDROP_ACT_WHITELIST;
	e = match_fields(w->src_ip, w->src_cidr, w->dst_ip, w->dst_cidr, w->src_port, w->dst_port,
			 w->protocol, s, err);
	if (e)
		return e;
	return rule_validate(s, err);
}

/* The match key's text, the slow way: with any buffer length. */
static char *match_key_printf(const struct rule_spec *s, char *buf, size_t len)
{
	char a[XDROP_ADDR_STRLEN], b[XDROP_ADDR_STRLEN];

	snprintf(buf, len, "%u|%s|%s|%u|%u|%u", s->kind,
		 s->src.plen ? addr_format_prefix(&s->src, a, sizeof(a)) : "",
		 s->dst.plen ? addr_format_prefix(&s->dst, b, sizeof(b)) : "", s->sport, s->dport,
		 s->proto);
	return buf;
}

static char *put_u(char *p, unsigned v)
{
	char t[10];
	int n = 0;

	do {
		t[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = t[--n];
	return p;
}

/* A prefix as addr_format_prefix writes it (nothing when absent), then c. */
static char *put_prefix(char *p, const struct addr_prefix *a, char c)
{
	if (a->plen && addr_is_v4(&a->addr) && a->plen >= 96) {
		for (int i = 12; i < 16; i++) {
			p = put_u(p, a->addr.b[i]);
			*p++ = i < 15 ? '.' : '/';
		}
		p = put_u(p, a->plen - 96);
	} else if (a->plen) {
		char t[XDROP_ADDR_STRLEN];
		size_t n = strlen(addr_format_prefix(a, t, sizeof(t)));

		memcpy(p, t, n);
		p += n;
	}
	*p++ = c;
	return p;
}

/* The same text as match_key_printf, without printf (it is made for every entry at
 * start-up and on every change): at most 2 * 63 prefix bytes, 16 digits, 5 bars and a
 * NUL, 148 bytes (the agent's RS_KEY_LEN is 160). */
char *rulepb_match_key(const struct rule_spec *s, char *buf, size_t len)
{
	char *p = buf;

	if (len < 2 * XDROP_ADDR_STRLEN + 24)
		return match_key_printf(s, buf, len);
	p = put_u(p, s->kind);
	*p++ = '|';
	p = put_prefix(p, &s->src, '|');
	p = put_prefix(p, &s->dst, '|');
	p = put_u(p, s->sport);
	*p++ = '|';
	p = put_u(p, s->dport);
	*p++ = '|';
	p = put_u(p, s->proto);
	*p = 0;
	return buf;
}

/* The canonical text of one address direction, into the field the caller used. */
static void canon_addr(char **ip, char **cidr, const struct addr_prefix *p, char *buf, size_t len)
{
	if (*ip && **ip)
		*ip = addr_format(&p->addr, buf, len);
	else if (*cidr && **cidr)
		*cidr = addr_format_prefix(p, buf, len);
}

static void canon_match(char **src_ip, char **src_cidr, char **dst_ip, char **dst_cidr,
			char **proto, const struct rule_spec *s, struct rulepb_canon_buf *b)
{
	canon_addr(src_ip, src_cidr, &s->src, b->src, sizeof(b->src));
	canon_addr(dst_ip, dst_cidr, &s->dst, b->dst, sizeof(b->dst));
	/* "any" in any spelling is the absent field, as rules written without one are */
	if (*proto && **proto)
		*proto = s->proto ? (char *)rule_protocol_name(s->proto, b->proto, sizeof(b->proto))
				  : (char *)protobuf_c_empty_string;
}

int rulepb_rule_canon(Xdrop__V1__Rule *r, struct rulepb_canon_buf *b)
{
	struct rule_spec s;

	if (rulepb_rule_to_spec(r, &s, NULL) < 0)
		return -EINVAL;
	canon_match(&r->src_ip, &r->src_cidr, &r->dst_ip, &r->dst_cidr, &r->protocol, &s, b);
	if (s.has_tcp_flags)
		r->tcp_flags = rule_format_tcp_flags(s.tcp_mask, s.tcp_value, b->tcp_flags,
						     sizeof(b->tcp_flags));
	return 0;
}

int rulepb_wl_canon(Xdrop__V1__WhitelistEntry *w, struct rulepb_canon_buf *b)
{
	struct rule_spec s;

	if (rulepb_wl_to_spec(w, &s, NULL) < 0)
		return -EINVAL;
	canon_match(&w->src_ip, &w->src_cidr, &w->dst_ip, &w->dst_cidr, &w->protocol, &s, b);
	return 0;
}

int rulepb_to_spec(const ProtobufCMessage *m, struct rule_spec *s, struct rule_error *err)
{
	if (m->descriptor == &xdrop__v1__rule__descriptor)
		return rulepb_rule_to_spec((const Xdrop__V1__Rule *)m, s, err);
	if (m->descriptor == &xdrop__v1__whitelist_entry__descriptor)
		return rulepb_wl_to_spec((const Xdrop__V1__WhitelistEntry *)m, s, err);
	return -EINVAL;
}

int rulepb_canon(ProtobufCMessage *m, struct rulepb_canon_buf *buf)
{
	if (m->descriptor == &xdrop__v1__rule__descriptor)
		return rulepb_rule_canon((Xdrop__V1__Rule *)m, buf);
	if (m->descriptor == &xdrop__v1__whitelist_entry__descriptor)
		return rulepb_wl_canon((Xdrop__V1__WhitelistEntry *)m, buf);
	return -EINVAL;
}
