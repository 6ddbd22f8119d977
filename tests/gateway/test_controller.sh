#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/gateway/test_controller.sh: xdrop-gateway (ASan build) in controller mode in front
# of a real xdrop-controller (SQLite in a temp dir, loopback ports picked free): nodes,
# keys (admin only, secret shown once), login through KeyService.Whoami, force sync, node
# stats, the rules API, SSE node events and /metrics; then an xdropctl round trip of
# 100,000 rules (JSON import, JSON and CSV export, identical) and xdropctl's exit codes;
# then the GET /api/v1/stats cache (cache.stats_ttl) against the same controller.
# Skipped (TAP skip_all) when the controller binary is not built.
cd "$(dirname "$0")/../.." || exit 1
. tests/gateway/lib.sh
ctl_lab_tap
down() {
	ctl_lab_down # also when the cache tests left it stopped
	gw_lab_down
}
trap down EXIT
ctl_lab_up
RO=$("$CTL_BIN" --json keys add viewer read_only | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
check "xdropctl keys add shows the secret once" [ -n "$RO" ]

# ---- keys ----
req GET /api/v1/keys
expect 200 - "GET /api/v1/keys (admin)"
check "key list never shows secrets" python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["count"]>=2 and all("key" not in k for k in d["keys"])' <<<"$BODY_OUT"
req GET /api/v1/keys "" "$RO"
expect 403 - "GET /api/v1/keys with a read-only key: 403"
req POST /api/v1/keys '{"name":"ci","scope":"admin"}'
expect 201 - "POST /api/v1/keys"
KID=$(jget '["key"]["id"]')
check "new key's secret is in the reply" [ -n "$(jget '["key"]["key"]')" ]
req POST /api/v1/keys '{"name":"ci","scope":"root"}'
expect 400 scope "POST /api/v1/keys with a bad scope: 400"
req POST /api/v1/keys '{"scope":"admin"}'
expect 400 name "POST /api/v1/keys without a name: 400"
req DELETE "/api/v1/keys/$KID"
expect 200 - "DELETE /api/v1/keys/:id"
req DELETE /api/v1/keys/nope
expect 404 - "DELETE unknown key: 404"

# ---- login against the controller's keys ----
CODE=$(curl -s -c "$TMP/jar" -o "$TMP/out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	--data "{\"key\":\"$RO\"}" "$BASE/api/auth/login")
BODY_OUT=$(cat "$TMP/out")
check "login with a read-only key: 200, scope read_only" [ "$CODE:$(jget '["scope"]')" = 200:read_only ]
CODE=$(curl -s -b "$TMP/jar" -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	--data '{"dst_ip":"10.0.0.1","action":"drop"}' "$BASE/api/v1/rules")
check "read-only session cannot write: 403" [ "$CODE" = 403 ]

# ---- nodes ----
req POST /api/v1/nodes '{"id":"edge-1","name":"edge one","address":"tcp://127.0.0.1:1"}'
expect 201 - "POST /api/v1/nodes"
check "node key shown once on create" [ -n "$(jget '["key"]')" ]
req GET /api/v1/nodes
expect 200 - "GET /api/v1/nodes"
check "node list shape" python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["count"]==1 and d["pagination"]["total"]==1 and "key" not in d["nodes"][0]' <<<"$BODY_OUT"
req GET /api/v1/nodes/edge-1
expect 200 - "GET /api/v1/nodes/:id"
req GET /api/v1/nodes/nope
expect 404 - "GET unknown node: 404"
req PUT /api/v1/nodes/edge-1 '{"comment":"rack 4"}'
expect 200 - "PUT /api/v1/nodes/:id"
check "node comment updated" [ "$(jget '["node"]["comment"]')" = "rack 4" ]
req POST /api/v1/nodes '{"name":"x","address":"not a url"}'
expect 400 address "POST /api/v1/nodes with a bad address: 400 naming address"
req GET "/api/v1/nodes?status=bogus"
expect 400 status "node list with a bad status filter: 400"
req GET /api/v1/nodes/edge-1/stats
check "GET /api/v1/nodes/:id/stats answers (200 or 404 before a beacon)" [ "$CODE" = 200 ] || [ "$CODE" = 404 ]
req POST /api/v1/nodes/edge-1/sync
check "POST /api/v1/nodes/:id/sync answers ($CODE)" [ "$CODE" = 200 ] || [ "$CODE" = 503 ] || [ "$CODE" = 409 ]
req POST /api/v1/nodes/nope/sync
expect 404 - "force sync of an unknown node: 404"
req DELETE /api/v1/nodes/edge-1
expect 200 - "DELETE /api/v1/nodes/:id"

# ---- rules through the controller ----
req POST /api/v1/rules '{"name":"c1","dst_cidr":"203.0.113.0/24","action":"drop"}'
expect 201 - "POST /api/v1/rules (controller)"
check "write reply carries the revision" [ "$(jget '["sync"]["revision"]')" -ge 1 ]
RID=$(jget '["rule"]["id"]')
req PUT "/api/v1/rules/$RID" '{"action":"rate_limit","rate_limit":1000}'
expect 200 - "PUT /api/v1/rules/:id (controller)"
req POST /api/v1/rules '{"dst_cidr":"203.0.113.0/25","action":"drop","pkt_len_min":9,"pkt_len_max":1}'
expect 400 - "semantic error through the controller: 400"
check "... its body names the RPC code (for clients that translate by code)" \
	[ "$(jget '.get("code","")')" = INVALID_ARGUMENT ]
req POST /api/v1/rules '{"dst_cidr":"203.0.113.0/25","action":"drop"}'
DUP=$(jget '["rule"]["id"]')
req POST /api/v1/rules '{"dst_cidr":"203.0.113.0/25","action":"drop"}'
expect 409 - "the same match twice: 409"
check "... with code ALREADY_EXISTS" [ "$(jget '.get("code","")')" = ALREADY_EXISTS ]
req DELETE "/api/v1/rules/$DUP"
expect 200 - "(the first of the two deleted again)"
req GET /api/v1/no-such-route
check "an unknown route: 404 with code NOT_FOUND" \
	[ "$CODE" = 404 ] && [ "$(jget '.get("code","")')" = NOT_FOUND ]
req GET /api/v1/stats
expect 200 - "GET /api/v1/stats (controller)"
req GET "/api/v1/stats/history?seconds=60"
expect 200 - "GET /api/v1/stats/history (controller)"
req GET /api/v1/rules/top
expect 200 - "GET /api/v1/rules/top (controller)"
timeout 2.5 curl -s -N -H "X-API-Key: $ADMIN_KEY" "$BASE/api/v1/events" >"$TMP/sse"
check "SSE in controller mode: stats, rules and nodes events" bash -c "grep -q '^event: stats' '$TMP/sse' && grep -q '^event: rules' '$TMP/sse' && grep -q '^event: nodes' '$TMP/sse'"
req GET /metrics
check "metrics parse (controller mode)" /usr/bin/python3 -c '
import sys
from prometheus_client.parser import text_string_to_metric_families
f = {x.name: x for x in text_string_to_metric_families(open(sys.argv[1]).read())}
assert f["xdrop_upstream_up"].samples[0].value == 1 and "xdrop_rules" in f
' "$TMP/out"

# ---- top talkers and /metrics with a node that never reported (no agent runs here) ----
NODE_NAME=$'edge "two" \\ west\nrack 9' # a quote, a backslash and a newline to escape
req POST /api/v1/nodes "$(python3 -c 'import json,sys; print(json.dumps({"id":"edge-2","name":sys.argv[1],"address":"tcp://127.0.0.1:1"}))' "$NODE_NAME")"
expect 201 - "POST /api/v1/nodes (a node that never reports)"
req GET "/api/v1/nodes/edge-2/top?node=edge-2"
expect 400 node "GET /api/v1/nodes/:id/top?node=...: 400 naming node (the path names it)"
req GET "/api/v1/top?node=bad%20id"
expect 400 node "GET /api/v1/top?node=<not an id>: 400 naming node"
req GET "/api/v1/top?verdict=passed&window=5m"
check "GET /api/v1/top (controller, no node online): 200, no talkers, the reply's shape" \
	top_shape src passed 300
check "... and nothing measured: empty talkers, zero totals" python3 -c '
import json,sys; d=json.load(sys.stdin)
assert d["talkers"] == [] and d["count"] == 0 and d["total_packets"] == 0, d' <<<"$BODY_OUT"
req GET "/api/v1/nodes/edge-2/top?by=dst_port"
check "GET /api/v1/nodes/:id/top of a node never heard from: 503 naming the node" \
	bash -c '[ "$1" = 503 ] && grep -q "\"field\":\"node\"" <<<"$2" && grep -q "edge-2" <<<"$2"' _ "$CODE" "$BODY_OUT"
req GET /api/v1/top "" "$RO"
check "GET /api/v1/top with a read-only key: 200" [ "$CODE" = 200 ]
req GET /metrics
MX=tests/gateway/metrics_check.py
check "metrics (controller): conventions hold" $MX "$TMP/out" structure
check "metrics (controller): the node has its series, status and filtering one-hot" $MX "$TMP/out" one_hot
check "metrics (controller): one node" $MX "$TMP/out" nodes 1
check "metrics (controller): the node label is its name, escaped and read back intact; never seen: up 0, last seen 0" \
	/usr/bin/python3 -c '
import sys
from prometheus_client.parser import text_string_to_metric_families
name = sys.argv[2]
s = {}
for f in text_string_to_metric_families(open(sys.argv[1]).read()):
    for x in f.samples:
        s.setdefault(x.name, []).append((x.labels, x.value))
info = [l for l, v in s["xdrop_node_info"] if l["node"] == name]
assert info and info[0]["node_id"] == "edge-2" and info[0]["address"] == "tcp://127.0.0.1:1", s["xdrop_node_info"]
assert [v for l, v in s["xdrop_node_up"] if l["node"] == name] == [0], s["xdrop_node_up"]
assert [v for l, v in s["xdrop_node_last_seen_timestamp_seconds"] if l["node"] == name] == [0]
' "$TMP/out" "$NODE_NAME"
# no agent reports here, so there are no traffic figures: the identity is checked with
# real packets in test_rest.sh; here it must hold vacuously (no node has traffic series)
check "metrics (controller): sums per node equal received (no traffic series without reports)" $MX "$TMP/out" identity
CTRL_VERSION=$(curl -s -H "X-API-Key: $ADMIN_KEY" "$BASE/api/v1/info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["upstream"]["version"])')
check "metrics (controller): build info of the gateway and of the controller ($CTRL_VERSION)" \
	$MX "$TMP/out" value "xdrop_build_info{version=\"$CTRL_VERSION\",component=\"controller\"}" 1
req DELETE /api/v1/nodes/edge-2
expect 200 - "DELETE /api/v1/nodes/edge-2"

req DELETE "/api/v1/rules/$RID"
expect 200 - "DELETE /api/v1/rules/:id (controller)"

# ---- G6/G7 through the REST API: literal strings ----
inj="x'); DROP TABLE rules; -- \" <img src=x onerror=alert(1)> \\u00e9 ü"
req POST /api/v1/rules "$(python3 -c 'import json,sys; print(json.dumps({"name":sys.argv[1],"comment":sys.argv[1],"dst_ip":"10.77.0.1","action":"drop"}))' "$inj")"
expect 201 - "G6 SQL-injection and HTML text in name and comment: stored"
check "G6 returned literally" python3 -c 'import json,sys; d=json.loads(sys.argv[2]); assert d["rule"]["name"]==sys.argv[1]==d["rule"]["comment"]' "$inj" "$BODY_OUT"
python3 -c 'import json; print(json.dumps({"comment":"é"*400000,"dst_ip":"10.77.0.2","action":"drop"}, ensure_ascii=False))' >"$TMP/big.json"
req POST /api/v1/rules "@$TMP/big.json"
check "G6 a 800 KB comment is stored whole or refused with the field named ($CODE)" \
	bash -c "[ $CODE = 201 ] || { [ $CODE = 400 ] && [ \"$(jget '.get("field")' 2>/dev/null)\" = comment ]; }"
req GET "/api/v1/rules?search=10.77.0"
check "G6 schema intact: rules still list" [ "$CODE" = 200 ]
for id in $(python3 -c 'import json,sys; print(" ".join(r["id"] for r in json.load(sys.stdin)["rules"]))' <<<"$BODY_OUT"); do
	req DELETE "/api/v1/rules/$id"
done

# ---- a feed: PUT /api/v1/sources/:name/rules (RuleService.ReplaceSource) ----
req PUT /api/v1/sources/web-feed/rules '{"rules": [{"src_ip": "10.78.0.1", "action": "drop"}, {"src_ip": "10.78.0.2", "action": "drop"}]}'
expect 200 - "feed: PUT sources/:name/rules answers 200"
check "feed: 2 added, the rules of the reply carry the source" \
	bash -c "[ \"$(jget '["added"]')\" = 2 ] && [ \"$(jget '["to_add"][0]["source"]')\" = web-feed ]"
req GET "/api/v1/rules?source=web-feed"
check "feed: GET /api/v1/rules?source= lists the feed's 2 rules" \
	bash -c "[ $CODE = 200 ] && [ \"$(jget '["pagination"]["total"]')\" = 2 ]"
req PUT /api/v1/sources/web-feed/rules '{"rules": [{"src_ip": "10.78.0.1", "action": "drop"}], "dry_run": true}'
check "feed: a dry run reports 1 removed, 1 unchanged, dry_run true" \
	bash -c "[ $CODE = 200 ] && [ \"$(jget '["removed"]'),$(jget '["unchanged"]'),$(jget '["dry_run"]')\" = 1,1,True ]"
req GET "/api/v1/rules?source=web-feed"
expect_eq "feed: the dry run wrote nothing" "$(jget '["pagination"]["total"]')" 2
req PUT /api/v1/sources/web-feed/rules '[{"src_ip": "10.78.0.1", "action": "drop"}, {"src_ip": "10.78.0.300", "action": "drop"}]'
expect 400 "rules[1].src_ip" "feed: an invalid rule is refused naming rules[1].src_ip"
req PUT /api/v1/sources/web-feed/rules '{"rules": []}'
check "feed: an empty set removes the feed's rules" \
	bash -c "[ $CODE = 200 ] && [ \"$(jget '["removed"]')\" = 2 ]"

# ---- xdropctl: exit codes ----
"$CTL_BIN" -q rules add dst_ip=10.0.0.300 action=drop 2>/dev/null
check "xdropctl: invalid input exits 3" [ $? = 3 ]
"$CTL_BIN" -q rules get nope 2>/dev/null
check "xdropctl: not found exits 4" [ $? = 4 ]
"$CTL_BIN" -q -k "$RO" rules add dst_ip=10.0.0.3 action=drop 2>/dev/null
check "xdropctl: read-only key on a write exits 5" [ $? = 5 ]
"$CTL_BIN" -q -k wrong-key-0123456789 rules list 2>/dev/null
check "xdropctl: unknown key exits 5" [ $? = 5 ]
"$CTL_BIN" -q rules add dst_ip=10.0.0.3 action=drop && "$CTL_BIN" -q rules add dst_ip=10.0.0.3 action=drop 2>/dev/null
check "xdropctl: duplicate exits 6" [ $? = 6 ]
"$CTL_BIN" -q --timeout 300 -u tcp://127.0.0.1:1 rules list 2>/dev/null
check "xdropctl: unreachable upstream exits 7" [ $? = 7 ]
"$CTL_BIN" rules frobnicate 2>/dev/null
check "xdropctl: usage error exits 2" [ $? = 2 ]
check "xdropctl --help documents exit codes" bash -c "'$CTL_BIN' --help | grep -q 'EXIT STATUS'"

# ---- xdropctl: 100,000 rules, import then export, identical ----
"$CTL_BIN" -q rules del "$("$CTL_BIN" --json rules list | python3 -c 'import json,sys; print(json.load(sys.stdin)["rules"][0]["id"])')"
python3 - "$TMP/in.json" "$TMP/bad.csv" <<'PY'
import json, sys
rules = []
for i in range(100000):
    rules.append({"id": "r%06d" % i, "name": "n%d" % i, "src_ip": "", "src_cidr": "",
                  "dst_ip": "%d.%d.%d.1" % (10 + (i >> 16), (i >> 8) & 255, i & 255),
                  "dst_cidr": "", "src_port": 0, "dst_port": 80 + i % 3, "protocol": "tcp",
                  "action": "drop" if i % 10 else "rate_limit",
                  "rate_limit": 0 if i % 10 else 1000, "burst": 0, "pkt_len_min": 0,
                  "pkt_len_max": 0, "tcp_flags": "", "enabled": i % 7 != 0,
                  "expires_at": None, "comment": 'c,"%d"' % i, "source": "import",
                  "match_anomaly": i % 4 if i % 5 == 0 else 0})
json.dump({"rules": rules}, open(sys.argv[1], "w"))
open(sys.argv[2], "w").write("id,dst_ip,action\nz1,10.200.0.1,drop\nz2,10.200.0.2,explode\n")
PY
start=$(date +%s.%N)
"$CTL_BIN" -q --no-progress rules import "$TMP/in.json"
check "xdropctl imports 100,000 rules" [ $? = 0 ]
"$CTL_BIN" rules export "$TMP/out.json" && "$CTL_BIN" rules export "$TMP/out.csv"
check "xdropctl exports them as JSON and CSV" [ $? = 0 ]
diag "import + 2 exports of 100k rules: $(python3 -c "import time; print(round(time.time()-$start,1))") s"
check "round trip: exported JSON identical to the imported rules" python3 -c '
import json,sys
a = json.load(open(sys.argv[1]))["rules"]; b = json.load(open(sys.argv[2]))
assert b["count"] == 100000 and a == b["rules"], (len(b["rules"]))' "$TMP/in.json" "$TMP/out.json"
check "round trip: exported CSV holds the same rules" python3 -c '
import csv,json,sys
a = json.load(open(sys.argv[1]))["rules"]
rows = list(csv.DictReader(open(sys.argv[2], newline="")))
assert len(rows) == len(a)
for x, r in zip(a, rows):
    for k, v in x.items():
        want = "" if v is None else ("true" if v is True else "false" if v is False else str(v))
        assert r[k] == want, (k, r[k], want)' "$TMP/in.json" "$TMP/out.csv"
"$CTL_BIN" -q rules del $(seq -f 'r%06.0f' 0 4) >/dev/null
"$CTL_BIN" -q rules import "$TMP/out.csv" 2>/dev/null
check "CSV import of the export is refused as a whole (ids exist), exit 6" [ $? = 6 ]
check "...and the refused import left nothing behind (99,995 rules)" [ "$("$CTL_BIN" --json rules list --limit 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["pagination"]["total"])')" = 99995 ]
"$CTL_BIN" -q rules import "$TMP/bad.csv" 2>"$TMP/err"
check "CSV with a bad action: exit 3 naming the row's field" bash -c "[ $? = 3 ] && grep -q 'rules\[1\].action\|action' '$TMP/err'"

# ---- the GET /api/v1/stats cache ----
# A gateway with a 3 s stats cache and a 1 s upstream timeout. Where a check must show
# whether a request reached the controller, the controller is stopped (SIGSTOP): a call
# to it then answers 504 after the timeout, and a hit answers 200 at once.
# Time is measured, not assumed: an entry lives from its upstream call, which begins
# after the test sent the miss (t0), so a lookup that ended before t0 + TTL found it
# live; and it is gone for sure at the controller's "at" in its body + TTL (the call began
# before the controller stamped it). A sequence that must fit in the TTL is run again
# (a few times at most) when the machine was too slow for it, and said so.
gw_stop
printf 'upstream:\n  url: %s\ncache:\n  stats_ttl: 61s\n' "$CURL_UP" >"$TMP/ttl.yaml"
timeout 10 "$GW_BIN" --config "$TMP/ttl.yaml" >/dev/null 2>"$TMP/ttl.err"
check "cache.stats_ttl above 60s is refused, naming the key" \
	bash -c "[ $? = 1 ] && grep -q 'cache.stats_ttl' '$TMP/ttl.err'"
TTL=3
TRIES=5
GW_MODE=controller GW_UPSTREAM=$CURL_UP GW_UPSTREAM_EXTRA="  timeout: 1s" \
	gw_start "cache:" "  stats_ttl: ${TTL}s" || { echo "Bail out! gateway with a stats cache"; exit 1; }
# stats KEY NAME: GET /api/v1/stats with KEY into $TMP/NAME; sets CODE and SECS (its time)
stats() {
	read -r CODE SECS < <(curl -s -m 5 -o "$TMP/$2" -w '%{http_code} %{time_total}\n' \
		-H "X-API-Key: $1" "$BASE/api/v1/stats")
}
rules_count() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rules_count"])' "$TMP/$1"; }
# at_of NAME: the controller's "at" of a stats body (RFC 3339, UTC), in s since the epoch
at_of() {
	python3 -c '
import calendar, json, sys, time
at = json.load(open(sys.argv[1]))["at"]
sec, _, frac = at.rstrip("Z").partition(".")
print(calendar.timegm(time.strptime(sec, "%Y-%m-%dT%H:%M:%S")) + float("0." + (frac or "0")))' "$TMP/$1"
}
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
within() { awk -v a="$1" -v b="$EPOCHREALTIME" -v s="$2" 'BEGIN { exit !(b - a < s) }'; }
# past_expiry NAME: waits until the entry NAME's body came from is gone for sure
past_expiry() {
	local end
	end=$(awk -v a="$(at_of "$1")" -v t=$TTL 'BEGIN { printf "%.3f", a + t }')
	while awk -v e="$end" -v b="$EPOCHREALTIME" 'BEGIN { exit !(b <= e) }'; do sleep 0.1; done
}
hits() { # the gateway's count of stats answered from the cache (/metrics)
	curl -s -m 5 -H "X-API-Key: $ADMIN_KEY" "$BASE/metrics" |
		awk '$1 == "xdrop_gateway_stats_cache_hits_total" { print $2 }'
}
# until_code KEY CODE SECONDS: GET /stats every 0.2 s until it answers CODE; sets WAITED
until_code() {
	local t0=$EPOCHREALTIME
	WAITED=
	while within "$t0" "$3"; do
		stats "$1" poll
		if [ "$CODE" = "$2" ]; then
			WAITED=$(since "$t0")
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# (a), (c), (b): a miss, then within its TTL a hit with the controller stopped, a wrong
# key and no key, a rule created and the stats again
for try in $(seq $TRIES); do
	t0=$EPOCHREALTIME
	stats "$ADMIN_KEY" s1 # a miss: the first call, or one past the last try's entry
	C1=$CODE N0=$(rules_count s1 2>/dev/null) H0=$(hits)
	kill -STOP "$CTRL_PID"
	stats "$ADMIN_KEY" s2
	kill -CONT "$CTRL_PID"
	C2=$CODE S2=$SECS H1=$(hits)
	stats wrong-key-0123456789abcdef s3
	C3=$CODE
	C4=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$BASE/api/v1/stats")
	req POST /api/v1/rules "{\"name\":\"cache-probe-$try\",\"dst_ip\":\"10.66.0.$try\",\"action\":\"drop\"}"
	CP=$CODE
	stats "$ADMIN_KEY" s4
	took=$(since "$t0")
	within "$t0" $TTL && break
	diag "try $try: GET, hit, 401s, rule created, GET took ${took} s, not within the ${TTL} s TTL: again"
	# the next try's first GET must be a miss: past the expiry of the last body stored
	if [ "$CODE" = 200 ]; then past_expiry s4; elif [ "$C1" = 200 ]; then past_expiry s1; fi
done
diag "GET, rule created, GET again within ${took} s of a ${TTL} s TTL (try $try)"
check "stats cache: GET /api/v1/stats (a miss, from the controller): 200" [ "$C1" = 200 ]
check "(a) second GET within the TTL, controller stopped: 200 from the cache (${S2}s; a miss is 504 after 1 s)" \
	bash -c "[ $C2 = 200 ] && awk 'BEGIN { exit !($took < $TTL) }'"
check "(a) ... the very same bytes (the controller's \"at\" too)" cmp -s "$TMP/s1" "$TMP/s2"
check "(a) ... counted as a cache hit in /metrics ($H0 -> $H1)" [ "$H1" = $((H0 + 1)) ]
check "(c) a wrong key while another key's stats are cached: 401" [ "$C3" = 401 ]
check "(c) ... with the fixed 401 body" [ "$(cat "$TMP/s3")" = '{"error":"unauthorized","code":"UNAUTHENTICATED"}' ]
check "(c) no key while stats are cached: 401" [ "$C4" = 401 ]
CODE=$CP
expect 201 - "stats cache: a rule created while the stats are cached"
check "(b) within the TTL the new rule is not visible yet (cached body, rules_count $N0)" \
	bash -c "awk 'BEGIN { exit !($took < $TTL) }' && cmp -s '$TMP/s1' '$TMP/s4'"
# past the TTL of s1: gone for sure once the controller's "at" in it is TTL old
past_expiry s1
seen=
deadline=$EPOCHREALTIME
while within "$deadline" 5; do
	stats "$ADMIN_KEY" s5
	[ "$CODE" = 200 ] && [ "$(rules_count s5)" = $((N0 + 1)) ] && { seen=1; break; }
	sleep 0.2
done
check "(b) after the TTL the change is visible (rules_count $N0 -> $((N0 + 1)), $(since "$t0") s after the miss)" [ -n "$seen" ]
check "(b) ... in a fresh reply (a new \"at\")" bash -c "! cmp -s '$TMP/s1' '$TMP/s5'"

# a key revoked while its stats are cached: read within the TTL, then 401
for try in $(seq $TRIES); do
	req POST /api/v1/keys "{\"name\":\"cache-revoked-$try\",\"scope\":\"read_only\"}"
	K2=$(jget '["key"]["key"]')
	K2ID=$(jget '["key"]["id"]')
	t0=$EPOCHREALTIME
	stats "$K2" k1
	K1=$CODE
	req DELETE "/api/v1/keys/$K2ID"
	KD=$CODE KDB=$BODY_OUT
	stats "$K2" k2
	K3=$CODE
	took=$(since "$t0")
	within "$t0" $TTL && break
	diag "try $try: GET, key revoked, GET took ${took} s, not within the ${TTL} s TTL: again"
done
check "stats cache: a second key reads stats: 200" [ "$K1" = 200 ]
CODE=$KD BODY_OUT=$KDB
expect 200 - "stats cache: that key revoked"
check "revoked key within the TTL: the body cached for it (at most the TTL, docs/api.md; ${took} s)" \
	bash -c "[ $K3 = 200 ] && awk 'BEGIN { exit !($took < $TTL) }' && cmp -s '$TMP/k1' '$TMP/k2'"
past_expiry k1
until_code "$K2" 401 5
check "revoked key: 401 once its entry is older than the TTL (after ${WAITED:-?} s more)" [ -n "$WAITED" ]

# (d) the read-only key has no entry yet; its first call fails, the next must go upstream
H0=$(hits)
kill -STOP "$CTRL_PID"
stats "$RO" e1
kill -CONT "$CTRL_PID"
check "(d) controller stopped: 504 (upstream timeout)" [ "$CODE" = 504 ]
stats "$RO" e2
check "(d) the error was not cached: 200 with stats right after the controller is back" \
	python3 -c 'import json,sys; assert sys.argv[1] == "200" and "rules_count" in json.load(open(sys.argv[2]))' "$CODE" "$TMP/e2"
check "(d) ... from the controller, not the cache (hits $H0 -> $(hits))" [ "$(hits)" = "$H0" ]

gw_stop
check "gateway exits cleanly with no ASan/UBSan report" bash -c "! grep -q -E 'ERROR: AddressSanitizer|runtime error|LeakSanitizer' '$TMP/gw.log'"
grep -E 'ERROR|runtime error' "$TMP/gw.log" | head -5 | sed 's/^/# /'
echo "1..$T"
[ "$FAILED" = 0 ]
