/* SPDX-License-Identifier: MIT */
/*
 * rulepb: the one conversion between the wire schema's Rule / WhitelistEntry messages and
 * struct rule_spec (lib/rule.h), with validation that names the offending proto field.
 * Used by the controller (to validate what it stores), the agent (to apply) and the
 * gateway (through the controller's replies).
 */
#ifndef XDROP_RULEPB_H
#define XDROP_RULEPB_H

#include "rule.h"
#include "xdrop.pb-c.h"

/* Converts and validates a rule (and refuses tcp_flags with match_anomaly, as XDrop v2.7
 * does). Returns 0, or -EINVAL with *err naming the field. */
int rulepb_rule_to_spec(const Xdrop__V1__Rule *r, struct rule_spec *s, struct rule_error *err);

/* Converts and validates a whitelist entry. Returns 0, or -EINVAL with *err filled. */
int rulepb_wl_to_spec(const Xdrop__V1__WhitelistEntry *w, struct rule_spec *s,
		      struct rule_error *err);

/* Canonical text of the match key (kind and the five fields); two entries with the same
 * text are duplicates. Returns buf. */
char *rulepb_match_key(const struct rule_spec *s, char *buf, size_t len);

/*
 * Canonical spelling. Every writer (the controller's service, the agent's node API)
 * rewrites a rule or whitelist entry to its one spelling before storing it, so that what
 * GET returns, what is pushed and what the content hash covers are one text per match, the
 * match duplicate detection (rulepb_match_key) compares: addresses as inet_ntop writes them
 * (IPv6 lower-case and compressed, IPv4-mapped IPv6 as IPv4), prefix lengths without
 * leading zeros ("10.0.0.0/08" -> "10.0.0.0/8"), protocols by lower-case name ("TCP" and
 * "6" -> "tcp"; "any", "ANY" and "0" -> "", the absent field, which means any too), TCP
 * flags upper-case in bit order ("ack,!syn" -> "!SYN,ACK"). The field the caller used
 * (_ip or _cidr) is kept: src_cidr "10.0.0.1/32" stays a prefix, and is the same match as
 * src_ip "10.0.0.1".
 *
 * The rewritten string fields point into *buf (or at static text): buf must live as long
 * as the message is used. A message that does not validate is left unchanged and -EINVAL
 * returned (the store then refuses it with the field named); 0 otherwise.
 */
struct rulepb_canon_buf {
	char src[XDROP_ADDR_STRLEN];
	char dst[XDROP_ADDR_STRLEN];
	char proto[8];
	char tcp_flags[48];
};
int rulepb_rule_canon(Xdrop__V1__Rule *r, struct rulepb_canon_buf *buf);
int rulepb_wl_canon(Xdrop__V1__WhitelistEntry *w, struct rulepb_canon_buf *buf);

/* The same for a message of either kind (a Rule or a WhitelistEntry, told by its
 * descriptor), for the collections that serve both: rulepb_rule_* or rulepb_wl_*, or
 * -EINVAL for any other message. */
int rulepb_to_spec(const ProtobufCMessage *m, struct rule_spec *s, struct rule_error *err);
int rulepb_canon(ProtobufCMessage *m, struct rulepb_canon_buf *buf);

#endif
