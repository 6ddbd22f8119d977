#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/gateway/test_rest.sh: xdrop-gateway (ASan build) in node mode in front of a real
# xdrop-agent: every node-level endpoint's success and errors, the malformed-JSON corpus
# (G1), semantic errors (G2), the auth matrix (G4), the traversal corpus (G5), sessions,
# the SSE stream, /metrics read back by python3-prometheus-client, and the gateway's ASan
# report at exit. TAP on stdout.
cd "$(dirname "$0")/../.." || exit 1
. tests/gateway/lib.sh
trap gw_lab_down EXIT
echo "TAP version 13"

gw_lab_up || { echo "Bail out! agent"; exit 1; }
mkdir -p "$TMP/dist/assets" "$TMP/secret"
echo '<!doctype html><title>xdrop</title>' >"$TMP/dist/index.html"
echo 'console.log(1)' >"$TMP/dist/assets/app-1234.js"
echo 'body{}' >"$TMP/dist/assets/app-1234.css"
echo 'TOP SECRET' >"$TMP/secret/passwd"
ln -s "$TMP/secret/passwd" "$TMP/dist/leak.txt"
ln -s "$TMP/secret" "$TMP/dist/leakdir"
ln -s index.html "$TMP/dist/alias.html"
# the auth matrix below fails many credentials from 127.0.0.1 on purpose: a limit above
# them; the limiter itself is checked from 127.0.0.2 (and in tests/security/test_guessing.sh)
gw_start "auth:" "  login_attempts: 50" || { echo "Bail out! gateway"; exit 1; }

# ---- health, info ----
req GET /health "" ""
expect 200 - "GET /health without a key"
check "health says healthy" [ "$(jget '["status"]')" = healthy ]
req GET /api/info "" ""
expect 200 - "GET /api/info is public"
check "info without a key has no upstream details" [ "$(jget '["upstream"]')" = None ]
req GET /api/v1/info
expect 200 - "GET /api/v1/info with a key"
check "info names the agent upstream" [ "$(jget '["upstream"]["name"]')" = xdrop-agent ]

# ---- rules: create, get, list, update, delete ----
req POST /api/v1/rules '{"name":"web","src_cidr":"10.0.0.0/8","protocol":"tcp","dst_port":80,"action":"drop","comment":"<script>alert(1)</script>"}'
expect 201 - "POST /api/v1/rules creates"
RID=$(jget '["rule"]["id"]')
check "created rule is enabled by default" [ "$(jget '["rule"]["enabled"]')" = True ]
check "create answers sync" [ "$(jget '["success"]')" = True ] 
check "times are RFC 3339" python3 -c "import sys,datetime; datetime.datetime.strptime(sys.argv[1][:19],'%Y-%m-%dT%H:%M:%S')" "$(jget '["rule"]["created_at"]')"
check "comment with HTML stored literally (G7)" [ "$(jget '["rule"]["comment"]')" = '<script>alert(1)</script>' ]
req GET "/api/v1/rules/$RID"
expect 200 - "GET /api/v1/rules/:id"
check "get returns the rule" [ "$(jget '["name"]')" = web ]
req GET /api/v1/rules/no-such-rule
expect 404 id "GET unknown rule: 404 naming id"
req POST /api/v1/rules '{"name":"dup","src_cidr":"10.0.0.0/8","protocol":"tcp","dst_port":80,"action":"drop"}'
expect 409 - "duplicate match: 409"
req PUT "/api/v1/rules/$RID" '{"name":"web2","enabled":false}'
expect 200 - "PUT /api/v1/rules/:id"
check "update changed name and enabled" [ "$(jget '["rule"]["name"]'):$(jget '["rule"]["enabled"]')" = web2:False ]
req PUT /api/v1/rules/no-such-rule '{"name":"x"}'
expect 404 - "PUT unknown rule: 404"
req PUT "/api/v1/rules/$RID" '{"id":"other"}'
expect 400 id "PUT with another id in the body: 400 naming id"
req PUT "/api/v1/rules/$RID" '{}'
expect 400 - "PUT without fields: 400"
req GET "/api/v1/rules?enabled=false"
expect 200 - "list filtered by enabled"
check "filter enabled=false finds the rule" [ "$(jget '["count"]')" = 1 ]
req GET "/api/v1/rules?enabled=true"
check "filter enabled=true finds none" [ "$(jget '["count"]')" = 0 ]
for q in "page=0:page" "limit=0:limit" "limit=1001:limit" "limit=abc:limit" "sort=bogus:sort" \
	"order=up:order" "enabled=yes:enabled" "action=reject:action" "page=-1:page"; do
	req GET "/api/v1/rules?${q%%:*}"
	expect 400 "${q##*:}" "list with ${q%%:*}: 400 naming ${q##*:}"
done

# ---- batch ----
req POST /api/v1/rules/batch '{"rules":[{"dst_ip":"192.0.2.1","action":"drop"},{"dst_ip":"192.0.2.2","protocol":"udp","dst_port":53,"action":"rate_limit","rate_limit":100}]}'
expect 201 - "POST /api/v1/rules/batch"
check "batch added 2" [ "$(jget '["added"]'):$(jget '["failed"]')" = 2:0 ]
B1=$(jget '["ids"][0]')
B2=$(jget '["ids"][1]')
req POST /api/v1/rules/batch '{"rules":[{"dst_ip":"192.0.2.3","action":"drop"},{"dst_ip":"192.0.2.4","src_port":70000,"action":"drop"}],"atomic":true}'
expect 400 "rules[1].src_port" "atomic batch with a bad item: 400 naming rules[1].src_port"
req POST "/api/v1/rules/batch?atomic=1" '{"rules":[{"dst_ip":"192.0.2.5","action":"drop"},{"dst_cidr":"192.0.2.0/33","action":"drop"}]}'
expect 400 - "?atomic=1 batch with a /33: 400, nothing stored"
req GET "/api/v1/rules?search=192.0.2.5"
check "atomic batch stored nothing" [ "$(jget '["count"]')" = 0 ]
# partial (the default) against an agent, which refuses a batch whole: the gateway sends
# it again without the item refused, so the valid ones are stored here too
req POST /api/v1/rules/batch '{"rules":[{"dst_ip":"192.0.2.6","action":"drop"},{"dst_cidr":"192.0.2.0/33","action":"drop"},{"dst_ip":"192.0.2.7","src_port":1,"protocol":"icmp","action":"drop"},{"dst_ip":"192.0.2.8","action":"drop"}]}'
expect 201 - "partial batch with 2 items the agent refuses: 201"
check "node mode: added 2, the agent's refusals reported as rules[1] and rules[2], rules stored with ids" \
	python3 -c 'import json,sys; d=json.load(sys.stdin)
assert (d["added"], d["failed"]) == (2, 2), d
assert [(e["index"], e["field"].split(".")[0]) for e in d["errors"]] == [(1, "rules[1]"), (2, "rules[2]")], d
assert [r["dst_ip"] for r in d["rules"]] == ["192.0.2.6", "192.0.2.8"] and [r["id"] for r in d["rules"]] == d["ids"], d' <<<"$BODY_OUT"
PB=$(jget '["ids"]' | tr -d "[]' " )
req DELETE /api/v1/rules/batch "{\"ids\":[\"${PB%,*}\",\"nope\",\"${PB#*,}\"]}"
check "node mode: batch delete with an unknown id deletes the others, reports ids[1]" \
	python3 -c 'import json,sys; d=json.load(sys.stdin)
assert (d["deleted"], d["failed"], d["errors"][0]["field"], d["errors"][0]["code"]) == (2, 1, "ids[1]", "NOT_FOUND"), d' <<<"$BODY_OUT"
req POST /api/v1/rules/batch '{"rules":[]}'
expect 400 rules "empty batch: 400"
req POST /api/v1/rules/batch '{"items":[]}'
expect 400 items "batch with an unknown key: 400"
req GET /api/v1/rules/top
expect 200 - "GET /api/v1/rules/top"
req GET "/api/v1/rules/top?limit=500"
expect 400 limit "top with limit=500: 400"
# ---- top talkers: every parameter checked before the upstream is asked ----
for bad in "by=port:by" "by=:by" "verdict=rejected:verdict" "window=7s:window" "window=2m:window" \
	"window=-10:window" "limit=0:limit" "limit=101:limit" "limit=5x:limit" "limit=:limit" \
	"verdit=passed:verdit" "top=1:top" "node=edge-1:node"; do
	req GET "/api/v1/top?${bad%:*}"
	expect 400 "${bad##*:}" "GET /api/v1/top?${bad%:*}: 400 naming ${bad##*:}"
done
req GET "/api/v1/top?by=src_prefix&verdict=passed&window=1m&limit=5"
check "GET /api/v1/top (node mode: the agent's AgentService.TopTalkers): 200, the reply echoes the query" \
	top_shape src_prefix passed 60
req GET "/api/v1/top" "" "$READ_KEY"
check "GET /api/v1/top with a read-only key: 200" [ "$CODE" = 200 ]
req GET "/api/v1/rules?page=1&limit=2&sort=id&order=asc"
expect 200 - "paged list"
check "pagination shape" python3 -c 'import json,sys; d=json.load(sys.stdin); p=d["pagination"]; assert (p["page"],p["limit"],p["total"],p["pages"])==(1,2,3,2) and d["count"]==3' <<<"$BODY_OUT"
req DELETE /api/v1/rules/batch "{\"ids\":[\"$B1\",\"$B2\"]}"
expect 200 - "DELETE /api/v1/rules/batch"
check "batch deleted 2" [ "$(jget '["deleted"]')" = 2 ]
req DELETE /api/v1/rules/batch '{"ids":["nope"],"atomic":true}'
expect 404 - "atomic batch delete of an unknown id: 404"
req DELETE /api/v1/rules/batch '{"ids":[1],"atomic":true}'
expect 400 "ids[0]" "atomic batch delete with a number id: 400"
req DELETE /api/v1/rules/batch '{"ids":[1]}'
check "partial batch delete with a number id: 200, deleted 0, ids[0] reported" \
	python3 -c 'import json,sys; d=json.load(sys.stdin); assert (d["deleted"], d["failed"], d["errors"][0]["field"]) == (0, 1, "ids[0]"), d' <<<"$BODY_OUT"
req DELETE "/api/v1/rules/$RID"
expect 200 - "DELETE /api/v1/rules/:id"
check "delete answers success and message" [ "$(jget '["success"]')" = True ]
req DELETE "/api/v1/rules/$RID"
expect 404 - "DELETE again: 404"

# ---- G2: semantic errors name the field; nothing stored ----
while IFS='|' read -r body field; do
	req POST /api/v1/rules "$body"
	expect 400 "$field" "G2 $body -> 400 $field"
done <<'EOF'
{"src_cidr":"10.0.0.1/8","action":"drop"}|src_cidr
{"src_cidr":"10.0.0.0/33","action":"drop"}|src_cidr
{"dst_port":70000,"action":"drop"}|dst_port
{"dst_ip":"10.0.0.1","pkt_len_min":500,"pkt_len_max":100,"action":"drop"}|pkt_len_min
{"dst_ip":"10.0.0.1","action":"rate_limit","rate_limit":0}|rate_limit
{"dst_ip":"10.0.0.300","action":"drop"}|dst_ip
{"dst_ip":"10.0.0.1","action":"explode"}|action
{"dst_ip":"10.0.0.1","protocol":"tcpx","action":"drop"}|protocol
{"dst_ip":"10.0.0.1","protocol":"icmp","dst_port":80,"action":"drop"}|dst_port
{"dst_ip":"10.0.0.1","protocol":"udp","tcp_flags":"SYN","action":"drop"}|tcp_flags
{"dst_ip":"10.0.0.1","action":"drop","expires_in":"soon"}|expires_in
{"dst_ip":"10.0.0.1","action":"drop","expires_at":"tomorrow"}|expires_at
EOF
req GET /api/v1/rules
check "G2: nothing was stored" [ "$(jget '["count"]')" = 0 ]

# ---- G1: malformed JSON corpus ----
python3 - "$TMP" <<'EOF'
import sys, os
d = sys.argv[1] + "/g1"
os.makedirs(d)
cases = {
 "truncated": b'{"dst_ip":"10.0.0.1","action":"dr',
 "truncated_obj": b'{"dst_ip":"10.0.0.1",',
 "empty": b'',
 "just_space": b'   ',
 "not_json": b'dst_ip=10.0.0.1',
 "trailing": b'{"dst_ip":"10.0.0.1","action":"drop"} x',
 "two_docs": b'{"action":"drop"}{"action":"drop"}',
 "deep_array": b'[' * 5000 + b']' * 5000,
 "deep_object": b'{"a":' * 100 + b'1' + b'}' * 100,
 "dup_key": b'{"dst_ip":"10.0.0.1","action":"drop","action":"pass"}',
 "dup_key_nested": b'{"rules":[{"dst_ip":"10.0.0.1","dst_ip":"10.0.0.2","action":"drop"}]}',
 "wrong_type_port": b'{"dst_ip":"10.0.0.1","dst_port":"80","action":"drop"}',
 "wrong_type_bool": b'{"dst_ip":"10.0.0.1","enabled":"yes","action":"drop"}',
 "wrong_type_str": b'{"dst_ip":10,"action":"drop"}',
 "huge_number": b'{"dst_ip":"10.0.0.1","dst_port":1e400,"action":"drop"}',
 "big_int": b'{"dst_ip":"10.0.0.1","rate_limit":123456789012345678901234567890,"action":"rate_limit"}',
 "fraction": b'{"dst_ip":"10.0.0.1","dst_port":80.5,"action":"drop"}',
 "negative": b'{"dst_ip":"10.0.0.1","dst_port":-1,"action":"drop"}',
 "nan": b'{"dst_ip":"10.0.0.1","dst_port":NaN,"action":"drop"}',
 "array_top": b'[1,2,3]',
 "string_top": b'"rule"',
 "nul_escape": b'{"dst_ip":"10.0.0.1\\u0000","action":"drop"}',
 "raw_nul": b'{"dst_ip":"10.0.0.1\x00","action":"drop"}',
 "bad_utf8": b'{"name":"\xff\xfe","dst_ip":"10.0.0.1","action":"drop"}',
 "overlong_utf8": b'{"name":"\xc0\xaf","dst_ip":"10.0.0.1","action":"drop"}',
 "unknown_field": b'{"dst_ip":"10.0.0.1","action":"drop","colour":"red"}',
 "single_quotes": b"{'dst_ip':'10.0.0.1'}",
 "comment": b'{"dst_ip":"10.0.0.1", /* c */ "action":"drop"}',
 "unterminated_string": b'{"name":"abc',
 "bad_escape": b'{"name":"\\q","dst_ip":"10.0.0.1","action":"drop"}',
}
for k, v in cases.items():
    open(f"{d}/{k}", "wb").write(v)
EOF
for f in "$TMP"/g1/*; do
	CODE=$(curl -s -o "$TMP/out" -w '%{http_code}' -X POST -H "X-API-Key: $ADMIN_KEY" \
		-H 'Content-Type: application/json' --data-binary "@$f" "$BASE/api/v1/rules")
	BODY_OUT=$(cat "$TMP/out")
	msg=$(jget '["error"]' 2>/dev/null)
	if [ "$CODE" = 400 ] && [ -n "$msg" ]; then ok "G1 $(basename "$f"): 400 ($msg)"
	else not_ok "G1 $(basename "$f"): got $CODE ${BODY_OUT:0:120}"; fi
done
req GET /api/v1/rules
check "G1: nothing was stored" [ "$(jget '["count"]')" = 0 ]
check "G1: gateway still running" gw_alive

# ---- whitelist ----
req POST /api/v1/whitelist '{"name":"ops","src_ip":"192.0.2.10","protocol":"tcp","dst_port":22}'
expect 201 - "POST /api/v1/whitelist"
WID=$(jget '["entry"]["id"]')
req GET "/api/v1/whitelist/$WID"
expect 200 - "GET /api/v1/whitelist/:id"
req GET /api/v1/whitelist/nope
expect 404 - "GET unknown whitelist entry: 404"
req GET /api/v1/whitelist
expect 200 - "GET /api/v1/whitelist"
check "whitelist list shape" [ "$(jget '["count"]'):$(jget '["pagination"]["total"]')" = 1:1 ]
req POST /api/v1/whitelist '{"src_ip":"192.0.2.999"}'
expect 400 src_ip "whitelist with a bad address: 400 naming src_ip"
req POST /api/v1/whitelist/batch '{"entries":[{"src_ip":"192.0.2.11"},{"src_ip":"192.0.2.12"}]}'
expect 201 - "POST /api/v1/whitelist/batch"
W1=$(jget '["ids"][0]')
W2=$(jget '["ids"][1]')
req POST /api/v1/whitelist/batch '{"entries":[{"src_ip":"192.0.2.13"},{"src_port":"x"}]}'
expect 201 - "whitelist batch with a bad item: 201 (partial)"
check "whitelist: added 1, entries[1].src_port reported" \
	python3 -c 'import json,sys; d=json.load(sys.stdin); assert (d["added"], d["errors"][0]["field"]) == (1, "entries[1].src_port"), d' <<<"$BODY_OUT"
W3=$(jget '["ids"][0]')
req DELETE "/api/v1/whitelist/$W3"
req POST /api/v1/whitelist/batch '{"entries":[{"src_ip":"192.0.2.14"},{"src_port":"x"}],"atomic":true}'
expect 400 "entries[1].src_port" "atomic whitelist batch with a bad item: 400 naming entries[1].src_port"
req DELETE /api/v1/whitelist/batch "{\"ids\":[\"$W1\",\"$W2\"]}"
expect 200 - "DELETE /api/v1/whitelist/batch"
req DELETE "/api/v1/whitelist/$WID"
expect 200 - "DELETE /api/v1/whitelist/:id"
req DELETE "/api/v1/whitelist/$WID"
expect 404 - "DELETE whitelist again: 404"

# ---- stats, history ----
req GET /api/v1/stats
expect 200 - "GET /api/v1/stats"
check "stats has proto and compatibility fields" python3 -c 'import json,sys; d=json.load(sys.stdin); assert "totals" in d and "nodes" in d and "dropped_packets" in d and "total_pps" in d' <<<"$BODY_OUT"
check "node mode: v2.7's stats fields (nodes_count 1, online_nodes 1: the agent that answered)" python3 -c '
import json,sys; d=json.load(sys.stdin)
assert (d["nodes_count"],d["online_nodes"])==(1,1) and d["total_dropped_pps"]==d["dropped_pps"], d' <<<"$BODY_OUT"
req GET /api/v1/stats/cache_health
check "node mode: cache_health ok, one configured node that succeeded" python3 -c '
import json,sys; d=json.load(sys.stdin)
assert d["status"]=="ok" and (d["configured_nodes"],d["succeeded_nodes"])==(1,1), d' <<<"$BODY_OUT"
req GET /api/v1/rules
check "node mode: a whole list (no page) with stats_status ok" python3 -c '
import json,sys; d=json.load(sys.stdin)
assert d["stats_status"]=="ok" and d["count"]==len(d["rules"])==d["pagination"]["total"], d' <<<"$BODY_OUT"
req GET "/api/v1/stats/history?seconds=60"
expect 200 - "GET /api/v1/stats/history"
check "history has points and count" python3 -c 'import json,sys; d=json.load(sys.stdin); assert isinstance(d["points"],list) and d["count"]==len(d["points"])' <<<"$BODY_OUT"
req GET "/api/v1/stats/history?seconds=0"
expect 400 seconds "history with seconds=0: 400"
req GET "/api/v1/stats/history?seconds=86400"
expect 200 - "history with seconds=86400 (the controller's largest window): 200"
req GET "/api/v1/stats/history?seconds=86401"
expect 400 seconds "history with seconds=86401: 400 naming seconds"
check "the 400 gives the range 1 to 86400" grep -q 'from 1 to 86400' <<<"$BODY_OUT"
req GET "/api/v1/stats/history?seconds=604800"
expect 400 seconds "history with seconds=604800 (a week): 400"

# ---- controller-only endpoints in node mode ----
for ep in "GET /api/v1/nodes" "POST /api/v1/nodes" "GET /api/v1/nodes/x" "PUT /api/v1/nodes/x" \
	"DELETE /api/v1/nodes/x" "GET /api/v1/nodes/x/stats" "POST /api/v1/nodes/x/sync" \
	"GET /api/v1/nodes/x/top" \
	"GET /api/v1/keys" "POST /api/v1/keys" "DELETE /api/v1/keys/x"; do
	req ${ep% *} "${ep#* }" '{}'
	expect 501 - "node mode: $ep -> 501"
done
req PATCH /api/v1/rules
expect 405 - "PATCH /api/v1/rules: 405"
check "405 names the allowed methods" grep -qi '^allow: GET, POST' <(curl -s -D - -o /dev/null -X PATCH -H "X-API-Key: $ADMIN_KEY" "$BASE/api/v1/rules")
req GET /api/v1/nothing
expect 404 - "unknown API path: 404"

# ---- G4: auth matrix ----
declare -A bodies=()
for ep in "GET /api/v1/rules" "POST /api/v1/rules" "GET /api/v1/stats" "GET /metrics" \
	"GET /api/v1/events" "DELETE /api/v1/rules/x" "GET /api/v1/whitelist"; do
	for who in none wrong; do
		case $who in none) k= ;; wrong) k=wrong-key-0123456789abcdef ;; esac
		req ${ep% *} "${ep#* }" '{"dst_ip":"10.9.9.9","action":"drop"}' "$k"
		expect 401 - "G4 $ep with $who key: 401"
		bodies[$BODY_OUT]=1
	done
done
CODE=$(curl -s -o "$TMP/out" -w '%{http_code}' -H "Authorization: Bearer $ADMIN_KEY" "$BASE/api/v1/rules")
check "G4 Authorization: Bearer works" [ "$CODE" = 200 ]
CODE=$(curl -s -o "$TMP/out" -w '%{http_code}' -H "Authorization: Bearer wrong-key-0123456789" "$BASE/api/v1/rules")
bodies[$(cat "$TMP/out")]=1
check "G4 wrong Bearer key: 401" [ "$CODE" = 401 ]
check "G4 every 401 has the same body" [ "${#bodies[@]}" = 1 ]
req GET /api/v1/rules "" "$READ_KEY"
expect 200 - "G4 read-only key may read"
req POST /api/v1/rules '{"dst_ip":"10.9.9.9","action":"drop"}' "$READ_KEY"
expect 403 - "G4 read-only key may not write: 403"
check "G4 403 body is fixed" [ "$BODY_OUT" = '{"error":"forbidden","code":"PERMISSION_DENIED"}' ]
req DELETE /api/v1/rules/x "" "$READ_KEY"
expect 403 - "G4 read-only delete: 403"
req GET /api/v1/rules
check "G4 nothing stored by refused writes" [ "$(jget '["count"]')" = 0 ]

# ---- sessions (UI login) ----
J=$TMP/jar
CODE=$(curl -s -c "$J" -D "$TMP/h" -o "$TMP/out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	--data "{\"key\":\"$ADMIN_KEY\"}" "$BASE/api/auth/login")
check "login with a valid key: 200" [ "$CODE" = 200 ]
check "session cookie is HttpOnly and SameSite=Strict" grep -qi 'set-cookie: xdrop_session=.*HttpOnly; SameSite=Strict' "$TMP/h"
CODE=$(curl -s -b "$J" -o "$TMP/out" -w '%{http_code}' "$BASE/api/v1/rules")
check "cookie authenticates API calls" [ "$CODE" = 200 ]
CODE=$(curl -s -b "$J" -o "$TMP/out" -w '%{http_code}' "$BASE/api/auth/check")
check "auth/check with the session: 200" [ "$CODE" = 200 ]
CODE=$(curl -s -b "$J" -o "$TMP/out" -w '%{http_code}' -X POST -H 'Content-Type: text/plain' \
	--data '{"dst_ip":"10.9.9.9","action":"drop"}' "$BASE/api/v1/rules")
check "cookie write without application/json (CSRF form): 403" [ "$CODE" = 403 ]
CODE=$(curl -s -b "$J" -c "$J" -o "$TMP/out" -w '%{http_code}' -X POST "$BASE/api/auth/logout")
check "logout: 200" [ "$CODE" = 200 ]
CODE=$(curl -s -b "xdrop_session=$(awk '/xdrop_session/ {print $7}' "$J")" -o "$TMP/out" -w '%{http_code}' "$BASE/api/v1/rules")
CODE2=$(curl -s -b "xdrop_session=0000" -o "$TMP/out" -w '%{http_code}' "$BASE/api/v1/rules")
check "after logout and with a forged cookie: 401" [ "$CODE:$CODE2" = 401:401 ]
CODE=$(curl -s -o "$TMP/out" -w '%{http_code}' "$BASE/api/auth/check")
check "auth/check without credentials: 401" [ "$CODE" = 401 ]
codes=
for i in $(seq 52); do
	codes+=$(curl -s --interface 127.0.0.2 -o /dev/null -w '%{http_code} ' -X POST -H 'Content-Type: application/json' \
		--data '{"key":"wrong-key-0123456789abcdef"}' "$BASE/api/auth/login")
done
check "bad logins from one address: 401 x50 then 429 (limiter)" [ "$codes" = "$(printf '401 %.0s' $(seq 50))429 429 " ]
check "429 carries Retry-After" grep -qi '^retry-after: [0-9]' <(curl -s --interface 127.0.0.2 -D - -o /dev/null -X POST -H 'Content-Type: application/json' --data '{"key":"x"}' "$BASE/api/auth/login")

# ---- G5: static files and traversal ----
st() { curl -s --path-as-is -o "$TMP/out" -w '%{http_code}' "$BASE$1"; }
check "GET / serves index.html" [ "$(st /)" = 200 ]
check "index.html is revalidated" grep -qi '^cache-control: no-cache' <(curl -s -D - -o /dev/null "$BASE/")
check "index.html has a CSP" grep -qi '^content-security-policy:' <(curl -s -D - -o /dev/null "$BASE/")
check "assets are immutable" grep -qi 'immutable' <(curl -s -D - -o /dev/null "$BASE/assets/app-1234.js")
check "js content type" grep -qi '^content-type: text/javascript' <(curl -s -D - -o /dev/null "$BASE/assets/app-1234.js")
check "css content type" grep -qi '^content-type: text/css' <(curl -s -D - -o /dev/null "$BASE/assets/app-1234.css")
check "SPA fallback for /rules/abc" [ "$(st /rules/abc)" = 200 ] 
check "SPA fallback body is index.html" grep -q '<title>xdrop' "$TMP/out"
check "missing asset with extension: 404" [ "$(st /assets/none.js)" = 404 ]
check "symlink inside dist to a file inside: 200" [ "$(st /alias.html)" = 200 ]
for p in /../secret/passwd /..%2fsecret%2fpasswd /%2e%2e/secret/passwd /%2e%2e%2fsecret%2fpasswd \
	/assets/../../secret/passwd /assets/%2e%2e/%2e%2e/secret/passwd '/..\secret\passwd' \
	/leak.txt /leakdir/passwd /%252e%252e/secret/passwd "/$TMP/secret/passwd" \
	//etc/passwd /./index.html /%00index.html /assets/..%5c..%5csecret; do
	code=$(st "$p")
	if [ "$code" = 400 ] || [ "$code" = 404 ] || { [ "$code" = 200 ] && ! grep -q SECRET "$TMP/out"; }; then
		if grep -q SECRET "$TMP/out"; then not_ok "G5 $p leaked"; else ok "G5 $p -> $code, nothing outside dist"; fi
	else
		not_ok "G5 $p -> $code"
	fi
done
check "POST to a static path: 405" [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/index.html")" = 405 ]

# ---- SSE ----
req POST /api/v1/rules '{"name":"ping-drop","dst_ip":"198.51.100.7","action":"drop"}'
# sse_has EVENT N: the stream so far holds at least N events of that name
sse_has() { [ "$(grep -c "^event: $1" "$TMP/sse")" -ge "$2" ]; }
sse_t0=$EPOCHREALTIME
timeout 20 curl -s -N -H "X-API-Key: $ADMIN_KEY" "$BASE/api/v1/events" >"$TMP/sse" &
sse=$!
# the change is made once the stream has told the current state (its first rules event)
gw_until 10 sse_has rules 1
curl -s -o /dev/null -X POST -H "X-API-Key: $ADMIN_KEY" -H 'Content-Type: application/json' \
	--data '{"dst_ip":"198.51.100.8","action":"drop"}' "$BASE/api/v1/rules"
gw_until 10 sse_has rules 2
gw_until 10 sse_has stats 3
sse_took=$(awk -v a="$sse_t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
kill "$sse" 2>/dev/null
wait "$sse" 2>/dev/null
check "SSE: stats events arrive every second ($(grep -c '^event: stats' "$TMP/sse") in ${sse_took} s)" sse_has stats 3
check "SSE: a rules event follows a change" sse_has rules 2
check "SSE: data lines are JSON" python3 -c '
import json,sys
for l in open(sys.argv[1]):
    if l.startswith("data: "): json.loads(l[6:])' "$TMP/sse"
check "SSE: content type" grep -qi '^content-type: text/event-stream' <(timeout 2 curl -s -N -D - -o /dev/null -H "X-API-Key: $ADMIN_KEY" "$BASE/api/v1/events")
req GET /api/v1/events "" wrong-key-0123456789abcdef
expect 401 - "SSE with a wrong key: 401 before the stream"

# ---- /metrics ----
# traffic through the agent's XDP program, so that the rule counters move: pings from v1
# to 198.51.100.7 arrive on v0 and match the drop rule made above
mac=$(ip -n $GW_NS -br link show v0 | awk '{print $3}')
ip -n $GW_NS addr add 192.0.2.1/24 dev v1
ip -n $GW_NS route add 198.51.100.0/24 dev v1
ip -n $GW_NS neigh replace 198.51.100.7 lladdr "$mac" dev v1
ip netns exec $GW_NS ping -c 5 -i 0.2 -W 1 198.51.100.7 >/dev/null 2>&1
# and 3 to a whitelisted address: passed, counted on the entry
req POST /api/v1/whitelist '{"name":"ping-allow","dst_ip":"198.51.100.9"}'
expect 201 - "POST /api/v1/whitelist (for the metrics)"
ip -n $GW_NS neigh replace 198.51.100.9 lladdr "$mac" dev v1
ip netns exec $GW_NS ping -c 3 -i 0.2 -W 1 198.51.100.9 >/dev/null 2>&1
# the drops show once the agent's counters are read: wait for them, not for a time
drops_counted() {
	curl -s -m 5 -H "X-API-Key: $ADMIN_KEY" "$BASE/metrics" |
		awk '$1 ~ /^xdrop_rule_dropped_packets_total[{]/ && $2 >= 5 { f = 1 } END { exit !f }'
}
gw_until 10 drops_counted
req GET /metrics
expect 200 - "GET /metrics"
MX=tests/gateway/metrics_check.py
check "metrics: parse with prometheus_client, one HELP and TYPE per family, counters *_total, old names gone" $MX "$TMP/out" structure
check "metrics: node status and filtering one-hot, node up 0/1" $MX "$TMP/out" one_hot
check "metrics: node mode exports the one agent as one node" $MX "$TMP/out" nodes 1
check "metrics: upstream up" $MX "$TMP/out" value xdrop_upstream_up 1
check "metrics: rule_info names the rule; its dropped and matched packets are the 5 pings" $MX "$TMP/out" rule ping-drop 5
wl_counted() {
	curl -s -m 5 -H "X-API-Key: $ADMIN_KEY" "$BASE/metrics" >"$TMP/wl" &&
		$MX "$TMP/wl" entry ping-allow 3 >/dev/null
}
# the agent reports whitelist counters with RuleCounter.kind "whitelist"
gw_until 10 wl_counted
check "metrics: whitelist_info names the entry; its matched packets are the 3 pings" $MX "$TMP/wl" entry ping-allow 3
# every packet once: sum over verdict and reason = received, per node, with the pings and
# whatever else crossed v0 (IPv6 neighbour discovery, ...)
check "metrics: per node, sum(xdrop_packets_total) and sum(xdrop_bytes_total) equal the received totals" \
	$MX "$TMP/out" identity
check "metrics: the agent fills every reason it counts" $MX "$TMP/out" reasons_filled
check "metrics content type" grep -qi '^content-type: text/plain; version=0.0.4' <(curl -s -D - -o /dev/null -H "X-API-Key: $ADMIN_KEY" "$BASE/metrics")

# ---- the end: clean shutdown, no sanitizer report ----
gw_stop
check "gateway exits cleanly with no ASan/UBSan report" bash -c "! grep -q -E 'ERROR: AddressSanitizer|runtime error|LeakSanitizer' '$TMP/gw.log'"
grep -E 'ERROR|runtime error' "$TMP/gw.log" | head -5 | sed 's/^/# /'
echo "1..$T"
[ "$FAILED" = 0 ]
