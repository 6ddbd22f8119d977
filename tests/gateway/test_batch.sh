#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/gateway/test_batch.sh: v2.7's batches and updates through xdrop-gateway (ASan build)
# in controller mode, in front of a real xdrop-controller (SQLite in a temp dir, loopback
# ports picked free). Batches are partial by default (valid items stored, the others
# reported by index and field); "atomic": true or ?atomic=1 keeps all or nothing; a batch
# delete with an unknown id deletes the others. PUT: absent or zero values leave a field
# unchanged, null clears it. Every write's sync carries total and errors (per node).
# Skipped (TAP skip_all) when the controller binary is not built.
cd "$(dirname "$0")/../.." || exit 1
. tests/gateway/lib.sh
ctl_lab_tap
down() {
	ctl_lab_down
	gw_stop
	rm -rf "$TMP"
}
trap down EXIT
ctl_lab_up

# py EXPR...: runs python on BODY_OUT as d; fails (printing d) when the assertion does
py() { BODY_OUT=$BODY_OUT python3 -c "import json,os; d=json.loads(os.environ['BODY_OUT']); $1" || { echo "# ${BODY_OUT:0:400}"; return 1; }; }
# count_rules SEARCH: how many stored rules match SEARCH
count_rules() { req GET "/api/v1/rules?search=$1&limit=1000"; jget '["pagination"]["total"]'; }

# ten rules on 198.51.100.N, items 3 and 7 bad (a port out of range, a /33)
ten() {
	python3 - "$1" <<'PY'
import json, sys
net = sys.argv[1]
items = [{"dst_ip": "%s.%d" % (net, i + 1), "action": "drop"} for i in range(10)]
items[3] = {"dst_ip": "%s.4" % net, "dst_port": 70000, "action": "drop"}
items[7] = {"dst_cidr": "%s.0/33" % net, "action": "drop"}
print(json.dumps({"rules": items}))
PY
}

not_in_log() { ! grep -E 'ERROR|runtime error' "$TMP/gw.log"; }

# ---- partial by default ----
req POST /api/v1/rules/batch "$(ten 198.51.100)"
expect 201 - "batch of 10 with 2 bad items: 201 (partial by default)"
check "8 added, failed 2, success" py 'assert (d["added"], d["failed"], d["success"]) == (8, 2, True), d'
check "the 2 reported with index, field, code" py '
e = [(x["index"], x["field"], x["code"]) for x in d["errors"]]
assert e == [(3, "rules[3].dst_port", "INVALID_ARGUMENT"), (7, "rules[7].dst_cidr", "INVALID_ARGUMENT")], e
assert all(x["error"] for x in d["errors"]), d["errors"]'
check "rules: the 8 stored, with ids" py '
r = d["rules"]; assert len(r) == 8 and all(x["id"] for x in r), r
assert [x["id"] for x in r] == d["ids"]
assert "198.51.100.4" not in [x["dst_ip"] for x in r]'
check "8 stored" [ "$(count_rules 198.51.100.)" = 8 ]
check "sync carries total, success, failed and errors" py '
s = d["sync"]; assert {"total", "success", "failed", "errors"} <= set(s) and s["errors"] == {} and s["total"] == 0, s'

# an item the store refuses (a duplicate of a stored rule) is reported likewise
req POST /api/v1/rules/batch '{"rules":[{"dst_ip":"198.51.100.1","action":"drop"},{"dst_ip":"198.51.100.200","action":"drop"}]}'
check "duplicate of a stored rule: reported as rules[0] (ALREADY_EXISTS), the other stored" py '
assert (d["added"], d["failed"]) == (1, 1), d
x = d["errors"][0]; assert (x["index"], x["code"]) == (0, "ALREADY_EXISTS"), x'

# every item bad: nothing sent, all reported
req POST /api/v1/rules/batch '{"rules":[{"dst_ip":"nope","action":"drop"},{"action":"fly","dst_ip":"192.0.2.9"}]}'
expect 201 - "batch of 2 bad items: 201"
check "added 0, failed 2, rules []" py 'assert (d["added"], d["failed"], d["rules"]) == (0, 2, []), d'

# ---- atomic on request ----
req POST /api/v1/rules/batch "$(ten 203.0.113 | python3 -c 'import json,sys; d=json.load(sys.stdin); d["atomic"]=True; print(json.dumps(d))')"
expect 400 "rules[3].dst_port" "atomic: true: 400 naming rules[3].dst_port"
check "atomic: nothing stored" [ "$(count_rules 203.0.113.)" = 0 ]
req POST "/api/v1/rules/batch?atomic=1" "$(ten 203.0.113)"
expect 400 "rules[3].dst_port" "?atomic=1: 400 naming rules[3].dst_port"
check "?atomic=1: nothing stored" [ "$(count_rules 203.0.113.)" = 0 ]
req POST "/api/v1/rules/batch?atomic=1" '{"rules":[{"dst_ip":"203.0.113.1","action":"drop"},{"dst_ip":"198.51.100.1","action":"drop"}]}'
expect 409 - "?atomic=1 with a duplicate the store refuses: 409"
check "?atomic=1: the valid item was not stored either" [ "$(count_rules 203.0.113.)" = 0 ]
req POST "/api/v1/rules/batch?atomic=0" '{"rules":[{"dst_ip":"203.0.113.1","action":"drop"},{"dst_ip":"198.51.100.1","action":"drop"}]}'
check "?atomic=0: partial" py 'assert (d["added"], d["failed"]) == (1, 1), d'
req POST "/api/v1/rules/batch?atomic=1" '{"rules":[{"dst_ip":"203.0.113.50","action":"drop"}],"atomic":false}'
expect 400 atomic "atomic in the body and the query disagree: 400 naming atomic"
req POST "/api/v1/rules/batch?atomic=yes" '{"rules":[{"dst_ip":"203.0.113.50","action":"drop"}]}'
expect 400 atomic "?atomic=yes: 400 naming atomic"
req POST /api/v1/rules/batch '{"rules":[{"dst_ip":"203.0.113.50","action":"drop"}],"atomic":"yes"}'
expect 400 atomic "atomic: \"yes\": 400 naming atomic"
check "none of the refused requests stored 203.0.113.50" [ "$(count_rules 203.0.113.50)" = 0 ]

# ---- idempotency: the resend of a partial batch answers the first outcome ----
IDEM=$(python3 -c 'import uuid; print(uuid.uuid4())')
IB='{"rules":[{"dst_ip":"203.0.113.60","action":"drop"},{"dst_ip":"bad","action":"drop"}]}'
idem() { BODY_OUT=$(curl -s -X POST -H "X-API-Key: $ADMIN_KEY" -H "Idempotency-Key: $IDEM" \
	-H 'Content-Type: application/json' --data-binary "$IB" "$BASE/api/v1/rules/batch"); }
idem
FIRST=$(jget '["ids"]')
idem
check "partial batch resent with its Idempotency-Key: the same ids, stored once" \
	[ "$(jget '["ids"]'):$(count_rules 203.0.113.60)" = "$FIRST:1" ]

# ---- limits ----
python3 -c 'import json; print(json.dumps({"rules":[{"dst_ip":"10.9.%d.%d"%(i//250,i%250+1),"action":"drop"} for i in range(10001)]}))' >"$TMP/big.json"
CODE=$(curl -s -o "$TMP/out" -w '%{http_code}' -X POST -H "X-API-Key: $ADMIN_KEY" -H 'Content-Type: application/json' \
	--data-binary @"$TMP/big.json" "$BASE/api/v1/rules/batch")
BODY_OUT=$(cat "$TMP/out")
expect 413 rules "10,001 items: 413 (limits.batch_max_items) in partial mode too"

# ---- batch delete ----
req GET "/api/v1/rules?search=198.51.100.&limit=3"
D1=$(jget '["rules"][0]["id"]') D2=$(jget '["rules"][1]["id"]') D3=$(jget '["rules"][2]["id"]')
BEFORE=$(count_rules 198.51.100.)
req DELETE /api/v1/rules/batch "{\"ids\":[\"$D1\",\"no-such-id\",\"$D2\",7]}"
expect 200 - "batch delete with an unknown id and a number: 200"
check "deleted 2, failed 2, the unknown id and the number reported by index" py '
assert (d["deleted"], d["failed"]) == (2, 2), d
e = [(x["index"], x["field"], x["code"]) for x in d["errors"]]
assert e == [(1, "ids[1]", "NOT_FOUND"), (3, "ids[3]", "INVALID_ARGUMENT")], e
assert d["errors"][0]["id"] == "no-such-id", d'
check "the 2 known ids are gone" [ "$(count_rules 198.51.100.)" = $((BEFORE - 2)) ]
req DELETE /api/v1/rules/batch "{\"ids\":[\"$D3\",\"no-such-id\"],\"atomic\":true}"
expect 404 - "atomic batch delete with an unknown id: 404"
req GET "/api/v1/rules/$D3"
expect 200 - "atomic batch delete: the known id is still there"
req DELETE "/api/v1/rules/batch?atomic=true" "{\"ids\":[\"$D3\",\"no-such-id\"]}"
expect 404 - "?atomic=true batch delete with an unknown id: 404"

# xdropctl talks RPC and stays all or nothing: its BatchDelete never sets partial
"$CTL_BIN" -q rules del "$D3" no-such-id 2>/dev/null
check "xdropctl rules del KNOWN UNKNOWN: refused (exit $?)" [ $? != 0 ]
req GET "/api/v1/rules/$D3"
expect 200 - "xdropctl rules del KNOWN UNKNOWN: the known rule is still there"
printf '{"rules":[{"dst_ip":"203.0.113.70","action":"drop"},{"dst_ip":"203.0.113.71","dst_port":70000,"action":"drop"}]}' >"$TMP/imp.json"
"$CTL_BIN" -q --no-progress rules import "$TMP/imp.json" 2>/dev/null
check "xdropctl rules import with a bad row: refused" [ $? != 0 ]
check "xdropctl import: nothing stored" [ "$(count_rules 203.0.113.70)" = 0 ]

# ---- whitelist ----
req POST /api/v1/whitelist/batch '{"entries":[{"src_ip":"192.0.2.31"},{"src_ip":"192.0.2.300"},{"src_ip":"192.0.2.32"}]}'
expect 201 - "whitelist batch with a bad item: 201"
check "whitelist: added 2, entries[1].src_ip reported, entries stored" py '
assert (d["added"], d["failed"]) == (2, 1), d
assert [(x["index"], x["field"]) for x in d["errors"]] == [(1, "entries[1].src_ip")], d
assert [x["src_ip"] for x in d["entries"]] == ["192.0.2.31", "192.0.2.32"], d'
W1=$(jget '["ids"][0]')
req POST /api/v1/whitelist/batch '{"entries":[{"src_ip":"192.0.2.33"},{"src_ip":"192.0.2.300"}],"atomic":true}'
expect 400 "entries[1].src_ip" "whitelist atomic batch: 400"
req GET "/api/v1/whitelist?search=192.0.2.33"
check "whitelist atomic: nothing stored" [ "$(jget '["pagination"]["total"]')" = 0 ]
req DELETE /api/v1/whitelist/batch "{\"ids\":[\"gone\",\"$W1\"]}"
check "whitelist batch delete: deleted 1, ids[0] reported" py '
assert (d["deleted"], d["failed"], d["errors"][0]["field"]) == (1, 1, "ids[0]"), d'

# ---- PUT: absent and zero values unchanged, null clears ----
req POST /api/v1/rules '{"name":"web","dst_ip":"192.0.2.80","protocol":"tcp","dst_port":80,"pkt_len_min":40,"action":"rate_limit","rate_limit":500,"comment":"c"}'
expect 201 - "rule for the PUT tests"
R=$(jget '["rule"]["id"]')
rule() { req GET "/api/v1/rules/$R"; }
req PUT "/api/v1/rules/$R" '{"dst_port":0,"protocol":"","src_port":0,"pkt_len_min":0,"rate_limit":0,"burst":0,"name":"","src_ip":"","match_anomaly":0}'
expect 200 - "PUT of zero values only: 200"
rule
check "PUT dst_port 0 (and the other zero values) changed nothing: the rule is not widened" py '
assert (d["dst_port"], d["protocol"], d["pkt_len_min"], d["rate_limit"], d["name"]) == (80, "tcp", 40, 500, "web"), d'
req PUT "/api/v1/rules/$R" '{"comment":""}'
rule
check "PUT comment \"\" clears it (v2.7 tri-state)" py 'assert d["comment"] == "" and d["dst_port"] == 80, d'
req PUT "/api/v1/rules/$R" '{"dst_port":null,"pkt_len_min":null}'
expect 200 - "PUT dst_port null: 200"
rule
check "null cleared dst_port and pkt_len_min, the rest kept" py '
assert (d["dst_port"], d["pkt_len_min"], d["protocol"], d["dst_ip"]) == (0, 0, "tcp", "192.0.2.80"), d'
req PUT "/api/v1/rules/$R" '{"action":"drop"}'
rule
check "PUT action drop zeroes rate_limit (v2.7)" py 'assert (d["action"], d["rate_limit"], d["burst"]) == ("drop", 0, 0), d'
req PUT "/api/v1/rules/$R" '{"dst_port":443,"name":"web2"}'
rule
check "PUT of values sets them" py 'assert (d["dst_port"], d["name"]) == (443, "web2"), d'

req POST /api/v1/rules '{"dst_ip":"192.0.2.81","action":"drop"}'
R2=$(jget '["rule"]["id"]')
req PUT "/api/v1/rules/$R2" '{"dst_ip":null}'
expect 400 - "PUT null on the only match field: 400"
check "the error says a match field is needed, naming one" py 'assert "match field" in d["error"] and d["field"] and d["code"] == "INVALID_ARGUMENT", d' 
req GET "/api/v1/rules/$R2"
check "and nothing changed" py 'assert d["dst_ip"] == "192.0.2.81", d'
req PUT "/api/v1/rules/$R2" '{"enabled":null}'
expect 400 enabled "PUT enabled null: 400 naming enabled"

# ---- sync: total and errors per node ----
req POST /api/v1/nodes '{"name":"edge-1","address":"tcp://127.0.0.1:9"}'
expect 201 - "a node that never reports"
req PUT "/api/v1/rules/$R" '{"name":"web3"}'
check "sync of a write: total 1, failed 1, errors names edge-1 with a message" py '
s = d["sync"]; assert (s["total"], s["failed"], s["success"]) == (1, 1, 0), s
assert list(s["errors"]) == ["edge-1"] and s["errors"]["edge-1"], s'
req DELETE "/api/v1/rules/$R2"
check "sync of a delete carries the node's error too" py 'assert d["sync"]["errors"].get("edge-1"), d'

check "gateway still running" gw_alive
check "no sanitizer report in the gateway's log" not_in_log
echo "1..$T"
[ "$FAILED" = 0 ]
