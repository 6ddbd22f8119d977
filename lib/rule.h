/* SPDX-License-Identifier: MIT */
/*
 * rule: the rule and whitelist-entry model shared by controller, agent and gateway:
 * validation, precedence rank, and the one conversion between a rule and the data plane's
 * keys and values (bpf/xdrop.h).
 *
 * A struct rule_spec is what the data plane needs of a rule: its match (up to five fields)
 * and its action. Addresses are prefixes in IPv4-mapped terms (plen 0 = field absent,
 * 128 = exact address). Validation names the offending field with the REST/proto field name.
 */
#ifndef XDROP_RULE_H
#define XDROP_RULE_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "xdrop.h"

#define XDROP_PROTO_ANY 0

/*
 * Ids of rules, whitelist entries and nodes: 1..XDROP_ID_MAX characters of XDROP_ID_CHARS.
 * One rule for all of them, checked wherever an id comes in (the agent's and the
 * controller's config files, the API, node tokens): a node id travels inside node tokens
 * ("node:<id>:<key>") and signed beacons, so a separator such as ':' can never be part of
 * one, and an id the agent accepts is one the controller can register and authenticate.
 */
#define XDROP_ID_MAX   64
#define XDROP_ID_CHARS "[A-Za-z0-9._-]"

struct rule_spec {
	uint8_t kind; /* enum xdrop_kind */
	struct addr_prefix src;
	struct addr_prefix dst;
	uint16_t sport; /* host order, 0 = any */
	uint16_t dport;
	uint8_t proto;	/* 0 = any */
	uint8_t action; /* enum xdrop_action; XDROP_ACT_WHITELIST for whitelist entries */
	uint32_t rate;	/* rate_limit: packets per second */
	uint32_t burst; /* rate_limit: bucket depth; 0 means "= rate" */
	uint16_t len_min;
	uint16_t len_max;
	bool has_tcp_flags;
	uint8_t tcp_mask;
	uint8_t tcp_value;
	uint8_t anomaly; /* enum xdrop_anomaly mask, 0 = the rule ignores anomalies */
};

/* A validation failure: the field (proto/JSON name) and a static reason. */
struct rule_error {
	const char *field;
	const char *reason;
};

/* Checks a spec: ports only with tcp, udp or any protocol; at least one match field;
 * rate > 0 iff rate_limit; burst <= ...; len_min <= len_max; tcp flags only with tcp; same
 * family for both addresses. Returns 0 or -EINVAL with *err filled. */
int rule_validate(const struct rule_spec *r, struct rule_error *err);

/* Refuses an address prefix that matches every address of its family: 0.0.0.0/0, however
 * written (::ffff:0:0/96, ::ffff:0.0.0.0/96); ::/0 and IPv6 prefixes covering the
 * IPv4-mapped range are refused by addr_parse_prefix already. One such drop rule cuts a
 * node off from everything. Checked where a rule or whitelist entry is written (the
 * controller's store, a standalone agent's local writes), not where a stored set is
 * decoded, so a set stored before the check still syncs and loads. Returns 0 or -EINVAL
 * with err naming src_cidr or dst_cidr. */
int rule_refuse_match_all(const struct rule_spec *r, struct rule_error *err);

/* True when id (may be NULL) follows the id rule above. */
bool rule_id_ok(const char *id);

/* Combo mask (XDROP_F_*) of the fields the spec constrains. */
uint8_t rule_combo(const struct rule_spec *r);

/* True when the spec goes to the exact table: every address field absent or exact. */
bool rule_is_exact(const struct rule_spec *r);

/* Precedence rank: higher wins (bpf/xdrop.h xdrop_rank and docs/matching.md give the
 * order). */
uint32_t rule_rank_of(uint8_t combo, unsigned src_plen, unsigned dst_plen);
uint32_t rule_rank(const struct rule_spec *r);

/* The exact-table precedence order for the program's rodata: order_mask[k] is the k-th most
 * specific exact combo (k < XDROP_NVALID_COMBOS), order_rank[k] its rank, order_need[f] the
 * bits k whose combo contains field f (enum xdrop_field). */
struct rule_order {
	uint8_t order_mask[XDROP_NCOMBOS];
	uint32_t order_rank[XDROP_NCOMBOS];
	uint32_t order_need[XDROP_NFIELDS];
	uint8_t pos_of_mask[XDROP_NCOMBOS]; /* inverse: bit position k of mask m */
};
void rule_exact_order(struct rule_order *o);

/* Data-plane encodings: the exact key (exact specs only), and the action. */
void rule_exact_key(const struct rule_spec *r, struct xdrop_exact_key *key);
void rule_act(const struct rule_spec *r, uint32_t slot, struct xdrop_act *act);
/* Inverse of rule_exact_key + rule_act, for adopting pinned state. */
void rule_from_exact(const struct xdrop_exact_key *key, const struct xdrop_act *act,
		     struct rule_spec *r);

/* Parsers for the text forms used by the API and config: protocol names or numbers
 * ("any", "tcp", "udp", "icmp", "icmpv6", "igmp", "gre", "esp", "0".."255"), actions
 * ("drop", "pass", "rate_limit"), TCP flags ("SYN,!ACK"). Return 0 or -EINVAL. */
int rule_parse_protocol(const char *s, uint8_t *out);
const char *rule_protocol_name(uint8_t proto, char *buf, size_t len);
int rule_parse_action(const char *s, uint8_t *out);
const char *rule_action_name(uint8_t action);
int rule_parse_tcp_flags(const char *s, uint8_t *mask, uint8_t *value);
char *rule_format_tcp_flags(uint8_t mask, uint8_t value, char *buf, size_t len);
/* Anomaly masks (enum xdrop_anomaly): names separated by commas, any case, each once
 * ("bad_fragment", "invalid", "bad_fragment,invalid"), or one digit 0-3. Returns 0 or
 * -EINVAL (*out untouched). The name of a mask in that canonical order ("" for 0, the
 * number for bits outside XDROP_ANOM_ALL), written into buf (24 bytes hold any). */
int rule_parse_anomaly(const char *s, uint8_t *out);
char *rule_anomaly_name(uint8_t mask, char *buf, size_t len);

/* Parses "key=value" words separated by spaces, with the API's field names (src_ip,
 * src_cidr, dst_ip, dst_cidr, src_port, dst_port, protocol, action, rate_limit, burst,
 * pkt_len_min, pkt_len_max, tcp_flags, match_anomaly) into *r (kind given), then validates. Returns
 * 0 or -EINVAL with *err naming the field. */
int rule_parse_kv(const char *text, uint8_t kind, struct rule_spec *r, struct rule_error *err);

/* Formats a spec in the rule_parse_kv syntax. */
char *rule_format_kv(const struct rule_spec *r, char *buf, size_t len);

#endif
