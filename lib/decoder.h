/* SPDX-License-Identifier: MIT */
/*
 * decoder: XDrop v2.7's `decoder` shorthand of a rule, the one table of what each name
 * stands for, and its expansion in a rule's JSON object. Part of lib/json (every place a
 * user writes a rule as JSON goes through json_to_rule: REST bodies and batch items,
 * xdropctl's FIELD=VALUE words, imports, feeds) and used by xdropctl migrate for v2.7
 * database rows.
 *
 *   tcp_ack      -> protocol tcp, tcp_flags "ACK,!SYN" (ACK set and SYN clear)
 *   tcp_rst      -> protocol tcp, tcp_flags "RST"
 *   tcp_fin      -> protocol tcp, tcp_flags "FIN"
 *   bad_fragment -> match_anomaly 1 (XDROP_ANOM_BAD_FRAG)
 *   invalid      -> match_anomaly 2 (XDROP_ANOM_INVALID)
 *
 * As in v2.7 a decoder sets only the fields it stands for, and refuses a request that
 * also gives one of them a value (protocol, tcp_flags or match_anomaly not empty, zero or
 * null): the error names the field `decoder`. The decoder itself is never stored or
 * returned. match_anomaly may also be written as names ("bad_fragment,invalid", see
 * rule_parse_anomaly); it is stored and returned as v2.7's integer.
 */
#ifndef XDROP_DECODER_H
#define XDROP_DECODER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* One decoder: the fields it sets (protocol and tcp_flags NULL: left alone, anomaly 0:
 * left alone). */
struct decoder {
	const char *name;
	const char *protocol;
	const char *tcp_flags;
	uint8_t anomaly; /* enum xdrop_anomaly */
};

/* "tcp_ack, tcp_rst, tcp_fin, bad_fragment, invalid": the names, for messages and help. */
extern const char decoder_names[];

/* The decoder called name, NULL when there is none. */
const struct decoder *decoder_find(const char *name);

/*
 * The rule object obj (borrowed) with `decoder` expanded and a match_anomaly written as
 * names turned into its number. *out is NULL when obj needs neither (use obj as it is),
 * else a new object (cJSON_Delete). Returns 0; -EINVAL with *field ("decoder" or
 * "match_anomaly", static) and why (len bytes) filled; or -ENOMEM. (lib/json adds the
 * path and makes it a json_error: this module does not depend on lib/json.)
 */
int decoder_expand(const cJSON *obj, cJSON **out, const char **field, char *why, size_t len);

#endif
