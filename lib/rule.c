// SPDX-License-Identifier: MIT
/*
 * rule: validation, precedence and data-plane encoding of rules; see rule.h.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rule.h"

#define IPPROTO_ICMP_	1
#define IPPROTO_TCP_	6
#define IPPROTO_UDP_	17
#define IPPROTO_ICMPV6_ 58

static int fail(struct rule_error *err, const char *field, const char *reason)
{
	if (err) {
		err->field = field;
		err->reason = reason;
	}
	return -EINVAL;
}

bool rule_id_ok(const char *id)
{
	size_t n = id ? strnlen(id, XDROP_ID_MAX + 1) : 0;

	if (n == 0 || n > XDROP_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];

		/* ranges, not isalnum(): the same answer in every locale */
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

uint8_t rule_combo(const struct rule_spec *r)
{
	uint8_t m = 0;

	if (r->src.plen)
		m |= XDROP_F_SRC;
	if (r->dst.plen)
		m |= XDROP_F_DST;
	if (r->sport)
		m |= XDROP_F_SPORT;
	if (r->dport)
		m |= XDROP_F_DPORT;
	if (r->proto)
		m |= XDROP_F_PROTO;
	return m;
}

bool rule_is_exact(const struct rule_spec *r)
{
	return (r->src.plen == 0 || r->src.plen == 128) && (r->dst.plen == 0 || r->dst.plen == 128);
}

int rule_refuse_match_all(const struct rule_spec *r, struct rule_error *err)
{
	static const struct addr_prefix v4_all = {
	    .addr = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}}, .plen = 96};

	if (r->src.plen && addr_prefix_covers(&r->src, &v4_all))
		return fail(err, "src_cidr",
			    "matches every IPv4 address (0.0.0.0/0); leave the field out instead");
	if (r->dst.plen && addr_prefix_covers(&r->dst, &v4_all))
		return fail(err, "dst_cidr",
			    "matches every IPv4 address (0.0.0.0/0); leave the field out instead");
	return 0;
}

int rule_validate(const struct rule_spec *r, struct rule_error *err)
{
	bool src_v4 = r->src.plen && addr_is_v4(&r->src.addr) && r->src.plen >= 96;
	bool dst_v4 = r->dst.plen && addr_is_v4(&r->dst.addr) && r->dst.plen >= 96;

	if (r->kind != XDROP_KIND_RULE && r->kind != XDROP_KIND_WL)
		return fail(err, "kind", "unknown entry kind");
	if (rule_combo(r) == 0)
		return fail(
		    err, "src_ip",
		    r->kind == XDROP_KIND_WL
			? "a whitelist entry needs at least one field; it would pass everything"
			: "a rule needs at least one match field");
	if (r->src.plen && r->dst.plen && src_v4 != dst_v4)
		return fail(err, "dst_ip", "source and destination are of different IP families");
	if ((r->sport || r->dport) && r->proto && r->proto != IPPROTO_TCP_ &&
	    r->proto != IPPROTO_UDP_)
		return fail(err, r->sport ? "src_port" : "dst_port",
			    "ports need protocol tcp, udp or any");
	if (r->proto == IPPROTO_ICMP_ && ((r->src.plen && !src_v4) || (r->dst.plen && !dst_v4)))
		return fail(err, "protocol", "icmp is IPv4 only; use icmpv6 for IPv6 addresses");
	if (r->proto == IPPROTO_ICMPV6_ && (src_v4 || dst_v4))
		return fail(err, "protocol", "icmpv6 is IPv6 only; use icmp for IPv4 addresses");
	if (r->kind == XDROP_KIND_WL) {
		if (r->action != XDROP_ACT_WHITELIST)
			return fail(err, "action", "whitelist entries take no action");
		if (r->rate || r->burst || r->len_min || r->len_max || r->has_tcp_flags ||
		    r->anomaly)
			return fail(err, "rate_limit",
				    "whitelist entries match the five-tuple only");
		return 0;
	}
	switch (r->action) {
	case XDROP_ACT_DROP:
	case XDROP_ACT_PASS:
		if (r->rate)
			return fail(err, "rate_limit", "rate_limit is only for action rate_limit");
		if (r->burst)
			return fail(err, "burst", "burst is only for action rate_limit");
		break;
	case XDROP_ACT_RATE_LIMIT:
		if (r->rate == 0)
			return fail(err, "rate_limit", "action rate_limit needs rate_limit > 0");
		if (r->rate > XDROP_MAX_RATE_PPS)
			return fail(err, "rate_limit", "rate_limit above 100,000,000 pps");
		if (r->burst > XDROP_MAX_RATE_PPS)
			return fail(err, "burst", "burst above 100,000,000 packets");
		break;
	default:
		return fail(err, "action", "action must be drop, pass or rate_limit");
	}
	if (r->len_min && r->len_max && r->len_min > r->len_max)
		return fail(err, "pkt_len_min", "pkt_len_min is greater than pkt_len_max");
	if (r->has_tcp_flags && r->proto != IPPROTO_TCP_)
		return fail(err, "tcp_flags", "tcp_flags need protocol tcp");
	if (r->has_tcp_flags && r->tcp_mask == 0)
		return fail(err, "tcp_flags", "tcp_flags name no flag");
	if (r->anomaly & ~XDROP_ANOM_ALL)
		return fail(err, "match_anomaly",
			    "match_anomaly is a mask of 1 (bad_fragment) and 2 (invalid)");
	return 0;
}

uint32_t rule_rank_of(uint8_t m, unsigned src_plen, unsigned dst_plen)
{
	return xdrop_rank(m, src_plen, dst_plen);
}

uint32_t rule_rank(const struct rule_spec *r)
{
	return rule_rank_of(rule_combo(r), r->src.plen, r->dst.plen);
}

static uint32_t exact_rank(uint8_t m)
{
	return rule_rank_of(m, (m & XDROP_F_SRC) ? 128 : 0, (m & XDROP_F_DST) ? 128 : 0);
}

void rule_exact_order(struct rule_order *o)
{
	uint8_t masks[XDROP_NVALID_COMBOS];
	int i, j, n = 0;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < XDROP_NCOMBOS; i++)
		masks[n++] = (uint8_t)i;
	/* insertion sort by rank, highest first; ranks of distinct masks differ */
	for (i = 1; i < n; i++) {
		uint8_t m = masks[i];

		for (j = i; j > 0 && exact_rank(masks[j - 1]) < exact_rank(m); j--)
			masks[j] = masks[j - 1];
		masks[j] = m;
	}
	for (i = 0; i < n; i++) {
		o->order_mask[i] = masks[i];
		o->order_rank[i] = exact_rank(masks[i]);
		o->pos_of_mask[masks[i]] = (uint8_t)i;
		for (j = 0; j < XDROP_NFIELDS; j++)
			if (masks[i] & (1 << j))
				o->order_need[j] |= 1u << i;
	}
}

void rule_exact_key(const struct rule_spec *r, struct xdrop_exact_key *key)
{
	memset(key, 0, sizeof(*key));
	if (r->src.plen)
		key->src = r->src.addr;
	if (r->dst.plen)
		key->dst = r->dst.addr;
	key->sport = htobe16(r->sport);
	key->dport = htobe16(r->dport);
	key->proto = r->proto;
	key->combo = rule_combo(r);
	key->kind = r->kind;
}

void rule_act(const struct rule_spec *r, uint32_t slot, struct xdrop_act *act)
{
	memset(act, 0, sizeof(*act));
	act->action = r->action;
	act->flags = (r->has_tcp_flags ? XDROP_AF_TCP_FLAGS : 0) |
		     (uint8_t)(r->anomaly << XDROP_AF_ANOM_SHIFT);
	act->tcp_mask = r->tcp_mask;
	act->tcp_value = r->tcp_value;
	act->len_min = r->len_min;
	act->len_max = r->len_max;
	act->slot = slot;
	act->rate = r->rate;
	act->burst = r->action == XDROP_ACT_RATE_LIMIT ? (r->burst ? r->burst : r->rate) : 0;
}

void rule_from_exact(const struct xdrop_exact_key *key, const struct xdrop_act *act,
		     struct rule_spec *r)
{
	memset(r, 0, sizeof(*r));
	r->kind = key->kind;
	if (key->combo & XDROP_F_SRC) {
		r->src.addr = key->src;
		r->src.plen = 128;
	}
	if (key->combo & XDROP_F_DST) {
		r->dst.addr = key->dst;
		r->dst.plen = 128;
	}
	r->sport = be16toh(key->sport);
	r->dport = be16toh(key->dport);
	r->proto = key->proto;
	r->action = act->action;
	r->rate = act->rate;
	r->burst = act->burst;
	r->len_min = act->len_min;
	r->len_max = act->len_max;
	r->has_tcp_flags = act->flags & XDROP_AF_TCP_FLAGS;
	r->tcp_mask = act->tcp_mask;
	r->tcp_value = act->tcp_value;
	r->anomaly = (act->flags >> XDROP_AF_ANOM_SHIFT) & XDROP_ANOM_ALL;
}

static const struct {
	const char *name;
	uint8_t num;
} protocols[] = {
    {"any", 0},	 {"icmp", 1}, {"igmp", 2}, {"tcp", 6},	   {"udp", 17},
    {"gre", 47}, {"esp", 50}, {"ah", 51},  {"icmpv6", 58}, {"sctp", 132},
};

int rule_parse_protocol(const char *s, uint8_t *out)
{
	char *end;
	long v;

	for (size_t i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++) {
		if (strcasecmp(s, protocols[i].name) == 0) {
			*out = protocols[i].num;
			return 0;
		}
	}
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > 255)
		return -EINVAL;
	*out = (uint8_t)v;
	return 0;
}

const char *rule_protocol_name(uint8_t proto, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++)
		if (protocols[i].num == proto)
			return protocols[i].name;
	snprintf(buf, len, "%u", proto);
	return buf;
}

int rule_parse_action(const char *s, uint8_t *out)
{
	if (strcmp(s, "drop") == 0)
		*out = XDROP_ACT_DROP;
	else if (strcmp(s, "pass") == 0)
		*out = XDROP_ACT_PASS;
	else if (strcmp(s, "rate_limit") == 0)
		*out = XDROP_ACT_RATE_LIMIT;
	else
		return -EINVAL;
	return 0;
}

const char *rule_action_name(uint8_t action)
{
	switch (action) {
	case XDROP_ACT_DROP:
		return "drop";
	case XDROP_ACT_PASS:
		return "pass";
	case XDROP_ACT_RATE_LIMIT:
		return "rate_limit";
	case XDROP_ACT_WHITELIST:
		return "whitelist";
	default:
		return "unknown";
	}
}

static const char *const tcp_flag_names[8] = {"FIN", "SYN", "RST", "PSH",
					      "ACK", "URG", "ECE", "CWR"};

int rule_parse_tcp_flags(const char *s, uint8_t *mask, uint8_t *value)
{
	char word[8];
	const char *p = s;
	size_t n;
	int i;

	*mask = 0;
	*value = 0;
	while (*p) {
		bool neg = false;

		n = strcspn(p, ",");
		if (n && *p == '!') {
			neg = true;
			p++;
			n--;
		}
		if (n == 0 || n >= sizeof(word))
			return -EINVAL;
		memcpy(word, p, n);
		word[n] = '\0';
		for (i = 0; i < 8; i++)
			if (strcasecmp(word, tcp_flag_names[i]) == 0)
				break;
		if (i == 8 || (*mask & (1u << i)))
			return -EINVAL; /* unknown or repeated flag */
		*mask |= (uint8_t)(1u << i);
		if (!neg)
			*value |= (uint8_t)(1u << i);
		p += n;
		if (*p == ',') {
			p++;
			if (!*p)
				return -EINVAL;
		}
	}
	return *mask ? 0 : -EINVAL;
}

char *rule_format_tcp_flags(uint8_t mask, uint8_t value, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < 8; i++) {
		if (!(mask & (1u << i)))
			continue;
		off +=
		    (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s%s", off ? "," : "",
				     (value & (1u << i)) ? "" : "!", tcp_flag_names[i]);
	}
	return buf;
}

static const char *const anomaly_names[] = {"bad_fragment", "invalid"}; /* bit 0, bit 1 */

int rule_parse_anomaly(const char *s, uint8_t *out)
{
	const char *p = s;
	uint8_t m = 0;
	size_t n, i;

	if (isdigit((unsigned char)s[0])) {
		if (s[1] || s[0] > '0' + XDROP_ANOM_ALL)
			return -EINVAL;
		*out = (uint8_t)(s[0] - '0');
		return 0;
	}
	while (*p) {
		n = strcspn(p, ",");
		for (i = 0; i < sizeof(anomaly_names) / sizeof(anomaly_names[0]); i++)
			if (n == strlen(anomaly_names[i]) && !strncasecmp(p, anomaly_names[i], n))
				break;
		if (i == sizeof(anomaly_names) / sizeof(anomaly_names[0]) || (m & (1u << i)))
			return -EINVAL; /* unknown, empty or repeated name */
		m |= (uint8_t)(1u << i);
		p += n;
		if (*p == ',' && !*++p)
			return -EINVAL;
	}
	if (!m)
		return -EINVAL;
	*out = m;
	return 0;
}

char *rule_anomaly_name(uint8_t mask, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	if (mask & ~XDROP_ANOM_ALL) {
		snprintf(buf, len, "%u", mask);
		return buf;
	}
	for (size_t i = 0; i < sizeof(anomaly_names) / sizeof(anomaly_names[0]); i++)
		if (mask & (1u << i))
			off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s",
						off ? "," : "", anomaly_names[i]);
	return buf;
}

static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static const char *const kv_fields[] = {
    "src_ip", "src_cidr",   "dst_ip", "dst_cidr",    "src_port",    "dst_port",	 "protocol",
    "action", "rate_limit", "burst",  "pkt_len_min", "pkt_len_max", "tcp_flags", "match_anomaly",
};

int rule_parse_kv(const char *text, uint8_t kind, struct rule_spec *r, struct rule_error *err)
{
	char buf[512], *save = NULL, *word;
	const char *why;
	uint32_t v;

	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->action = kind == XDROP_KIND_WL ? XDROP_ACT_WHITELIST : 0;
	if (strlen(text) >= sizeof(buf))
		return fail(err, "rule", "rule text too long");
	strcpy(buf, text);
	for (word = strtok_r(buf, " \t", &save); word; word = strtok_r(NULL, " \t", &save)) {
		char *eq = strchr(word, '=');
		const char *k = NULL, *val;

		if (!eq)
			return fail(err, "rule", "expected field=value");
		*eq = '\0';
		val = eq + 1;
		/* errors name the field with a static string: word lives in buf, on our stack */
		for (size_t i = 0; i < sizeof(kv_fields) / sizeof(kv_fields[0]); i++)
			if (!strcmp(word, kv_fields[i]))
				k = kv_fields[i];
		if (!k)
			return fail(err, "rule", "unknown field");
		if (!strcmp(k, "src_ip") || !strcmp(k, "src_cidr") || !strcmp(k, "dst_ip") ||
		    !strcmp(k, "dst_cidr")) {
			struct addr_prefix *pfx = k[0] == 's' ? &r->src : &r->dst;
			bool is_ip = strstr(k, "_ip") != NULL;

			if (pfx->plen)
				return fail(err, k, "address given twice");
			if ((is_ip && strchr(val, '/')) || addr_parse_prefix(val, pfx, &why) != 0)
				return fail(err, k,
					    is_ip ? "not an IP address" : "not a valid CIDR");
		} else if (!strcmp(k, "src_port") || !strcmp(k, "dst_port")) {
			if (parse_u32(val, 65535, &v))
				return fail(err, k, "port must be 0-65535");
			*(k[0] == 's' ? &r->sport : &r->dport) = (uint16_t)v;
		} else if (!strcmp(k, "protocol")) {
			if (rule_parse_protocol(val, &r->proto))
				return fail(err, k, "unknown protocol");
		} else if (!strcmp(k, "action")) {
			if (rule_parse_action(val, &r->action))
				return fail(err, k, "action must be drop, pass or rate_limit");
		} else if (!strcmp(k, "rate_limit") || !strcmp(k, "burst")) {
			if (parse_u32(val, UINT32_MAX, &v))
				return fail(err, k, "not a non-negative integer");
			*(k[0] == 'r' ? &r->rate : &r->burst) = v;
		} else if (!strcmp(k, "pkt_len_min") || !strcmp(k, "pkt_len_max")) {
			if (parse_u32(val, 65535, &v))
				return fail(err, k, "length must be 0-65535");
			*(strstr(k, "min") ? &r->len_min : &r->len_max) = (uint16_t)v;
		} else if (!strcmp(k, "tcp_flags")) {
			if (rule_parse_tcp_flags(val, &r->tcp_mask, &r->tcp_value))
				return fail(err, k,
					    "flags like SYN,!ACK from FIN SYN RST PSH ACK "
					    "URG ECE CWR");
			r->has_tcp_flags = true;
		} else if (!strcmp(k, "match_anomaly")) {
			if (rule_parse_anomaly(val, &r->anomaly))
				return fail(err, k, "anomalies bad_fragment,invalid or a mask 0-3");
		}
	}
	return rule_validate(r, err);
}

char *rule_format_kv(const struct rule_spec *r, char *buf, size_t len)
{
	char a[XDROP_ADDR_STRLEN], pb[8], fl[48], an[24];
	size_t off = 0;

#define ADD(...) off += (size_t)snprintf(buf + off, off < len ? len - off : 0, __VA_ARGS__)
	buf[0] = '\0';
	if (r->src.plen == 128)
		ADD("src_ip=%s ", addr_format(&r->src.addr, a, sizeof(a)));
	else if (r->src.plen)
		ADD("src_cidr=%s ", addr_format_prefix(&r->src, a, sizeof(a)));
	if (r->dst.plen == 128)
		ADD("dst_ip=%s ", addr_format(&r->dst.addr, a, sizeof(a)));
	else if (r->dst.plen)
		ADD("dst_cidr=%s ", addr_format_prefix(&r->dst, a, sizeof(a)));
	if (r->sport)
		ADD("src_port=%u ", r->sport);
	if (r->dport)
		ADD("dst_port=%u ", r->dport);
	if (r->proto)
		ADD("protocol=%s ", rule_protocol_name(r->proto, pb, sizeof(pb)));
	if (r->kind == XDROP_KIND_RULE)
		ADD("action=%s ", rule_action_name(r->action));
	if (r->rate)
		ADD("rate_limit=%u ", r->rate);
	if (r->burst)
		ADD("burst=%u ", r->burst);
	if (r->len_min)
		ADD("pkt_len_min=%u ", r->len_min);
	if (r->len_max)
		ADD("pkt_len_max=%u ", r->len_max);
	if (r->has_tcp_flags)
		ADD("tcp_flags=%s ",
		    rule_format_tcp_flags(r->tcp_mask, r->tcp_value, fl, sizeof(fl)));
	if (r->anomaly)
		ADD("match_anomaly=%s ", rule_anomaly_name(r->anomaly, an, sizeof(an)));
#undef ADD
	if (off && off <= len)
		buf[off - 1] = '\0';
	return buf;
}
