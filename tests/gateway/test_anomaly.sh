#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/gateway/test_anomaly.sh: XDrop v2.7's `decoder` and `match_anomaly` on the REST API
# (issue 14 item 3), xdrop-gateway (ASan build) in controller mode in front of a real
# xdrop-controller: each decoder's expansion (never returned itself) on create, batch items
# and PUT; the 400s naming `decoder` (unknown: the allowed values; beside protocol,
# tcp_flags or match_anomaly); match_anomaly as v2.7's integer and as names; tcp_flags
# with match_anomaly refused, as v2.7's decoder switching contract has it; v2.7's merge
# of a second anomaly rule into the first (200, same id, bits ORed) and the 409s where
# nothing merges (a plain rule, another action, a batch); IPv6 bad_fragment and
# rate_limit anomaly rules accepted (XDrop's superset); a merge resent with its
# Idempotency-Key answers the same; then in node mode (an agent in a netns, tests/gateway/
# lib.sh) decoders work and the agent merges as the controller does. Needs root for node
# mode. Skipped when the controller is not built.
cd "$(dirname "$0")/../.." || exit 1
. tests/gateway/lib.sh
ctl_lab_tap
down() {
	[ "${FAILED:-0}" = 0 ] || sed "s/^/# gw: /" "$TMP/gw.log" | head -40
	ctl_lab_down
	gw_lab_down
}
trap down EXIT
ctl_lab_up

# rule_is EXPR...: python assertions on the last reply's rule `r` (no "decoder" in it)
rule_is() {
	BODY_OUT=$BODY_OUT python3 - "$@" <<'PY'
import json, os, sys
d = json.loads(os.environ["BODY_OUT"])
r = d.get("rule", d)
assert "decoder" not in r, r
for e in sys.argv[1:]:
    assert eval(e), "%s: %s" % (e, r)
PY
}

# ---- each decoder's expansion ----
for c in "tcp_ack:tcp:!SYN,ACK:0:10" "tcp_rst:tcp:RST:0:11" "tcp_fin:tcp:FIN:0:12" \
	"bad_fragment::0:1:13" "invalid::0:2:14"; do
	IFS=: read -r dec proto flags anom host <<<"$c"
	[ "$flags" = 0 ] && flags=
	req POST /api/v1/rules "{\"dst_ip\":\"192.0.2.$host\",\"action\":\"drop\",\"decoder\":\"$dec\"}"
	expect 201 - "POST decoder $dec: 201"
	check "decoder $dec: protocol '$proto', tcp_flags '$flags', match_anomaly $anom" \
		rule_is "r['protocol'] == '$proto'" "r['tcp_flags'] == '$flags'" "r['match_anomaly'] == $anom"
	req GET "/api/v1/rules/$(jget '["rule"]["id"]')"
	check "GET of the $dec rule: the expanded fields, no decoder" \
		rule_is "r['protocol'] == '$proto'" "r['match_anomaly'] == $anom"
done

# ---- refusals name decoder / match_anomaly; nothing is stored ----
req GET "/api/v1/rules?page=1&limit=1"
COUNT0=$(jget '["pagination"]["total"]')
req POST /api/v1/rules '{"dst_ip":"192.0.2.20","action":"drop","decoder":"tcp_syn"}'
expect 400 decoder "unknown decoder: 400 naming decoder"
check "the error lists the allowed values" grep -q "allowed values are tcp_ack, tcp_rst, tcp_fin, bad_fragment, invalid" <<<"$BODY_OUT"
for extra in '"protocol":"tcp"' '"tcp_flags":"SYN"' '"match_anomaly":1' '"match_anomaly":"invalid"'; do
	req POST /api/v1/rules "{\"dst_ip\":\"192.0.2.20\",\"action\":\"drop\",\"decoder\":\"tcp_rst\",$extra}"
	expect 400 decoder "decoder beside $extra: 400 naming decoder"
done
req POST /api/v1/rules '{"dst_ip":"192.0.2.20","action":"drop","decoder":"invalid","protocol":"","tcp_flags":"","match_anomaly":0}'
expect 201 - "decoder beside empty protocol, tcp_flags and match_anomaly 0 (v2.7 allows it): 201"
req POST /api/v1/rules '{"dst_ip":"192.0.2.21","action":"drop","match_anomaly":4}'
expect 400 match_anomaly "match_anomaly 4: 400 naming match_anomaly"
req POST /api/v1/rules '{"dst_ip":"192.0.2.21","action":"drop","match_anomaly":"fragments"}'
expect 400 match_anomaly "match_anomaly with an unknown name: 400 naming match_anomaly"
req POST /api/v1/rules/batch '{"atomic":true,"rules":[{"dst_ip":"192.0.2.22","action":"drop"},{"dst_ip":"192.0.2.23","action":"drop","decoder":"nope"}]}'
expect 400 'rules[1].decoder' "batch item with an unknown decoder: 400 naming rules[1].decoder"
req GET "/api/v1/rules?page=1&limit=1"
expect_eq "only the one valid rule was stored" "$(jget '["pagination"]["total"]')" "$((COUNT0 + 1))"

# ---- match_anomaly written directly ----
req POST /api/v1/rules '{"dst_ip":"192.0.2.30","action":"drop","match_anomaly":3}'
expect 201 - "match_anomaly 3 (v2.7's integer): 201"
check "stored as 3" rule_is "r['match_anomaly'] == 3"
req POST /api/v1/rules '{"dst_ip":"192.0.2.31","action":"drop","match_anomaly":"invalid,bad_fragment"}'
expect 201 - "match_anomaly as names: 201"
check "names stored as v2.7's integer 3" rule_is "r['match_anomaly'] == 3"

# ---- v2.7's merge ----
req POST /api/v1/rules '{"dst_cidr":"198.51.100.0/24","action":"drop","decoder":"bad_fragment","name":"m"}'
expect 201 - "anomaly rule bad_fragment on 198.51.100.0/24: 201"
MID=$(jget '["rule"]["id"]')
req POST /api/v1/rules '{"dst_cidr":"198.51.100.0/24","action":"drop","decoder":"invalid"}'
expect 200 - "second anomaly rule on the same match: 200, not 409"
check "merged into the same rule: same id, bits 3, merged true" \
	rule_is "r['id'] == '$MID'" "r['match_anomaly'] == 3" "r['name'] == 'm'" "d['success'] is True" "d['merged'] is True" "'sync' in d"
req GET "/api/v1/rules?search=198.51.100.0"
expect_eq "one rule on that match" "$(jget '["count"]')" 1
req POST /api/v1/rules '{"dst_cidr":"198.51.100.0/24","action":"pass","decoder":"invalid"}'
expect 409 - "anomaly rule with another action on the same match: 409"
req POST /api/v1/rules '{"dst_cidr":"198.51.100.0/24","action":"drop"}'
expect 409 - "plain rule on the anomaly rule's match: 409"
req POST /api/v1/rules '{"dst_ip":"192.0.2.40","action":"drop"}'
req POST /api/v1/rules '{"dst_ip":"192.0.2.40","action":"drop","decoder":"invalid"}'
expect 409 - "anomaly rule on a plain rule's match: 409"
req POST /api/v1/rules/batch '{"atomic":true,"rules":[{"dst_cidr":"198.51.100.0/24","action":"drop","match_anomaly":1}]}'
expect 409 - "a batch does not merge: 409"

# ---- XDrop's superset: IPv6 bad_fragment, every action ----
req POST /api/v1/rules '{"dst_ip":"2001:db8::5","action":"drop","decoder":"bad_fragment"}'
expect 201 - "bad_fragment on an IPv6 target: 201 (v2.7 refuses; XDrop detects it)"
req POST /api/v1/rules '{"src_cidr":"2001:db8:1::/48","action":"rate_limit","rate_limit":100,"decoder":"invalid"}'
expect 201 - "rate_limit anomaly rule: 201 (v2.7 is drop-only)"

# ---- batch items and PUT ----
req POST /api/v1/rules/batch '{"atomic":true,"rules":[{"dst_ip":"192.0.2.50","action":"drop","decoder":"tcp_fin"},{"dst_ip":"192.0.2.51","action":"drop","decoder":"bad_fragment"}]}'
expect 201 - "batch with decoders: 201"
req GET "/api/v1/rules?search=192.0.2.5"
check "batch items expanded" python3 -c 'import json,sys; d={r["dst_ip"]:r for r in json.load(sys.stdin)["rules"]}; assert d["192.0.2.50"]["tcp_flags"]=="FIN" and d["192.0.2.50"]["protocol"]=="tcp" and d["192.0.2.51"]["match_anomaly"]==1, d' <<<"$BODY_OUT"
req POST /api/v1/rules '{"dst_ip":"192.0.2.60","action":"drop","decoder":"tcp_rst"}'
PID=$(jget '["rule"]["id"]')
req POST /api/v1/rules '{"dst_ip":"192.0.2.61","protocol":"tcp","tcp_flags":"SYN","match_anomaly":2,"action":"drop"}'
expect 400 tcp_flags "tcp_flags with match_anomaly: 400 naming tcp_flags (v2.7: mutually exclusive)"
check "...saying why" grep -q "cannot have both tcp_flags and match_anomaly" <<<"$BODY_OUT"
req PUT "/api/v1/rules/$PID" '{"decoder":"invalid"}'
expect 400 tcp_flags "PUT of an anomaly decoder on a tcp_flags rule without clearing them: 400 (v2.7's switching contract)"
req PUT "/api/v1/rules/$PID" '{"decoder":"invalid","tcp_flags":""}'
expect 200 - "PUT decoder invalid with tcp_flags \"\" (v2.7's switching contract): 200"
check "now an invalid anomaly rule, tcp_flags cleared, protocol kept" \
	rule_is "r['match_anomaly'] == 2" "r['tcp_flags'] == ''" "r['protocol'] == 'tcp'"
req PUT "/api/v1/rules/$PID" '{"decoder":"tcp_rst"}'
expect 400 tcp_flags "PUT of a tcp decoder on an anomaly rule: 400 (v2.7's switching contract)"
req PUT "/api/v1/rules/$PID" '{"decoder":"tcp_fin","protocol":"tcp"}'
expect 400 decoder "PUT decoder beside protocol: 400 naming decoder"
req PUT "/api/v1/rules/$PID" '{"decoder":"bad_fragment"}'
expect 200 - "PUT decoder bad_fragment: 200"
check "PUT replaces the bits, it does not merge" rule_is "r['match_anomaly'] == 1"

# ---- a merge resent with its Idempotency-Key: the first answer again (200, merged) ----
req POST /api/v1/rules '{"dst_ip":"192.0.2.70","action":"drop","match_anomaly":1}'
idem_post() { # the merge, with Idempotency-Key K; sets CODE, BODY_OUT, HDRS
	CODE=$(curl -s -D "$TMP/hdrs" -o "$TMP/out" -w '%{http_code}' -X POST -H "X-API-Key: $ADMIN_KEY" \
		-H 'Content-Type: application/json' -H 'Idempotency-Key: merge-70' \
		--data '{"dst_ip":"192.0.2.70","action":"drop","match_anomaly":2}' "$BASE/api/v1/rules")
	BODY_OUT=$(cat "$TMP/out")
}
idem_post
FIRST=$BODY_OUT
check "merge with an Idempotency-Key: 200, merged, bits 3" \
	rule_is "d['merged'] is True" "r['match_anomaly'] == 3"
R1=$("$CTL_BIN" --json info | python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"])')
idem_post
expect_eq "resent: 200 again" "$CODE" 200
check "resent: Idempotent-Replayed" grep -qi '^Idempotent-Replayed: true' "$TMP/hdrs"
check "resent: the same rule, merged" rule_is "d['merged'] is True" "r['match_anomaly'] == 3" \
	"r['id'] == $(python3 -c 'import json,sys; print(repr(json.loads(sys.argv[1])["rule"]["id"]))' "$FIRST")"
expect_eq "resent: nothing written again" \
	"$("$CTL_BIN" --json info | python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"])')" "$R1"
check "gateway alive" gw_alive

# ---- node mode: a standalone agent takes decoders and anomaly rules, and merges too ----
gw_stop
if gw_lab_up && GW_MODE=node GW_UPSTREAM=$AGENT_URL gw_start; then
	req POST /api/v1/rules '{"dst_ip":"192.0.2.91","action":"drop","decoder":"tcp_ack"}'
	check "node mode: decoder tcp_ack expanded" rule_is "r['protocol'] == 'tcp'" "r['tcp_flags'] == '!SYN,ACK'"
	req POST /api/v1/rules '{"dst_ip":"192.0.2.90","action":"drop","decoder":"bad_fragment"}'
	expect 201 - "node mode: decoder bad_fragment: 201"
	check "node mode: match_anomaly 1" rule_is "r['match_anomaly'] == 1"
	NA=$(jget '["rule"]["id"]')
	req POST /api/v1/rules '{"dst_ip":"192.0.2.90","action":"drop","decoder":"invalid"}'
	expect 200 - "node mode: the second anomaly rule on the match merges (200)"
	check "node mode: same id, bits 3, merged" rule_is "r['id'] == '$NA'" "r['match_anomaly'] == 3" "d['merged'] is True"
	req POST /api/v1/rules '{"dst_ip":"192.0.2.90","action":"pass","decoder":"invalid"}'
	expect 409 - "node mode: another action on the match: 409"
	req POST /api/v1/rules/batch '{"atomic":true,"rules":[{"dst_ip":"192.0.2.90","action":"drop","match_anomaly":1}]}'
	expect 409 - "node mode: a batch does not merge: 409"
	req POST /api/v1/rules '{"dst_ip":"192.0.2.92","action":"drop","decoder":"nope"}'
	expect 400 decoder "node mode: unknown decoder: 400 naming decoder"
	req POST /api/v1/rules '{"dst_ip":"192.0.2.93","action":"drop","protocol":"tcp","tcp_flags":"RST"}'
	NID=$(jget '["rule"]["id"]')
	req PUT "/api/v1/rules/$NID" '{"decoder":"bad_fragment","tcp_flags":""}'
	expect 200 - "node mode: PUT of an anomaly decoder (the agent updates match_anomaly)"
	check "node mode: the PUT set the bits and cleared the flags" rule_is "r['match_anomaly'] == 1" "r['tcp_flags'] == ''"
	req PUT "/api/v1/rules/$NID" '{"decoder":"invalid"}'
	check "node mode: PUT match_anomaly replaces the bits" rule_is "r['match_anomaly'] == 2"
else
	not_ok "node mode lab (agent, gateway)" "$(sed 's/^/# /' "$TMP/agent.log" 2>/dev/null)"
fi
check "gateway alive" gw_alive
tap_done
