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

/* Converts and validates a rule. Returns 0, or -EINVAL with *err naming the field. */
int rulepb_rule_to_spec(const Xdrop__V1__Rule *r, struct rule_spec *s, struct rule_error *err);

/* Converts and validates a whitelist entry. Returns 0, or -EINVAL with *err filled. */
int rulepb_wl_to_spec(const Xdrop__V1__WhitelistEntry *w, struct rule_spec *s,
		      struct rule_error *err);

/* Canonical text of the match key (kind and the five fields); two entries with the same
 * text are duplicates. Returns buf. */
char *rulepb_match_key(const struct rule_spec *s, char *buf, size_t len);

#endif
