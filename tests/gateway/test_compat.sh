#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/gateway/test_compat.sh: the XDrop 2.7 compatibility of the REST API (issue 14),
# xdrop-gateway (ASan build) in controller mode in front of a real xdrop-controller:
# lists without page and limit answer every item (newest first, count = the total),
# /api/v1/stats, /rules/top, /stats/cache_health and nodes carry v2.7's fields (node stats
# from xdrop-fake-agent), /api/info names the compatibility level, ui.csp, and v2.7's
# user name and password login (--hash-password, the limiter). Skipped when the
# controller is not built.
cd "$(dirname "$0")/../.." || exit 1
. tests/gateway/lib.sh
ctl_lab_tap
FAKE_PID=
down() {
	[ "${FAILED:-0}" = 0 ] || sed "s/^/# gw: /" "$TMP/gw.log" | head -40
	[ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null && wait "$FAKE_PID" 2>/dev/null
	ctl_lab_down
	gw_lab_down
}
trap down EXIT
CTL_HEALTH_URL=ipc://$TMP/fake-health.sock ctl_lab_up

# ---- /api/info ----
req GET /api/info "" ""
expect 200 - "GET /api/info"
check "/api/info names the compatibility level (xdrop2 2.7)" [ "$(jget '["compat"]["xdrop2"]')" = 2.7 ]

# ---- lists without page and limit: every item ----
N=120
BATCH=$(python3 -c 'import json,sys; n=int(sys.argv[1]); print(json.dumps({"rules":[{"name":"r%d"%i,"src_ip":"198.51.100.%d"%(i%250) if i<250 else "", "dst_port":1000+i,"protocol":"tcp","action":"drop"} for i in range(n)]}))' $((N - 1)))
req POST /api/v1/rules/batch "$BATCH"
expect 201 - "batch of $((N - 1)) rules"
req POST /api/v1/rules '{"name":"newest","dst_ip":"203.0.113.9","action":"drop"}'
expect 201 - "one more rule, the newest"
req GET /api/v1/rules
expect 200 - "GET /api/v1/rules without page and limit"
check "every rule answered: $N items, count $N, pagination total $N in one page" python3 -c '
import json,sys; d=json.load(sys.stdin); n=int(sys.argv[1]); p=d["pagination"]
assert len(d["rules"])==n and d["count"]==n, (len(d["rules"]), d["count"])
assert (p["page"],p["limit"],p["total"],p["pages"])==(1,n,n,1), p
assert len({r["id"] for r in d["rules"]})==n' $N <<<"$BODY_OUT"
check "newest first by default" python3 -c '
import json,sys; r=json.load(sys.stdin)["rules"]
assert r[0]["name"]=="newest", r[0]["name"]
c=[x["created_at"] for x in r]; assert c==sorted(c, reverse=True)' <<<"$BODY_OUT"
check "the list carries v2.7's stats_* fields (no nodes yet: no_nodes)" python3 -c '
import json,sys; d=json.load(sys.stdin)
assert d["stats_status"]=="no_nodes" and d["stats_freshness_ms"]==0 and d["stats_node_failures"]=={}
assert d["stats_offline_nodes"]==d["stats_unknown_nodes"]==d["stats_syncing_nodes"]==[]' <<<"$BODY_OUT"
check "per-rule stats carry drop_pps beside pps" python3 -c '
import json,sys; r=json.load(sys.stdin)["rules"][0]["stats"]
assert isinstance(r["drop_pps"],(int,float)) and isinstance(r["pps"],(int,float)), r' <<<"$BODY_OUT"
req GET "/api/v1/rules?order=asc"
check "order=asc still honoured: oldest first, all $N" python3 -c '
import json,sys; d=json.load(sys.stdin); assert d["count"]==int(sys.argv[1]) and d["rules"][-1]["name"]=="newest"' $N <<<"$BODY_OUT"
req GET "/api/v1/rules?search=newest"
check "filters apply to the whole list: 1 item" [ "$(jget '["count"]')" = 1 ]
req GET "/api/v1/rules?page=2&limit=50"
check "with page and limit: 50 rows, count $N (the total, as v2.7), total $N, 3 pages" python3 -c '
import json,sys; d=json.load(sys.stdin); p=d["pagination"]
assert len(d["rules"])==50 and d["count"]==int(sys.argv[1]) and (p["page"],p["total"],p["pages"])==(2,int(sys.argv[1]),3), p' $N <<<"$BODY_OUT"
req GET "/api/v1/rules?limit=0"
expect 400 limit "limit=0 still refused"

WB=$(python3 -c 'import json; print(json.dumps({"entries":[{"name":"w%d"%i,"src_ip":"192.0.2.%d"%i} for i in range(1,76)]}))')
req POST /api/v1/whitelist/batch "$WB"
expect 201 - "batch of 75 whitelist entries"
req GET /api/v1/whitelist
check "whitelist without page: all 75, count 75" python3 -c '
import json,sys; d=json.load(sys.stdin); assert len(d["entries"])==75 and d["count"]==75 and d["pagination"]["total"]==75' <<<"$BODY_OUT"

# more than one upstream page (10,000): the gateway reads them all
python3 -c 'import json; print(json.dumps({"rules":[{"name":"b%d"%i,"dst_ip":"10.%d.%d.%d"%(i>>16,(i>>8)&255,i&255),"action":"drop"} for i in range(10000)]}))' >"$TMP/big.json"
CODE=$(curl -s -o "$TMP/out" -w '%{http_code}' -H "X-API-Key: $ADMIN_KEY" -H 'Content-Type: application/json' \
	--data-binary @"$TMP/big.json" "$BASE/api/v1/rules/batch")
BODY_OUT=$(head -c 300 "$TMP/out")
expect 201 - "batch of 10,000 rules more"
N=$((N + 10000))
req GET /api/v1/rules
check "GET /api/v1/rules: all $N across two upstream pages, no duplicates, newest first" python3 -c '
import json,sys; d=json.load(sys.stdin); n=int(sys.argv[1]); r=d["rules"]
assert len(r)==n and d["count"]==n and d["pagination"]["total"]==n and len({x["id"] for x in r})==n, (len(r), d["count"])
c=[x["created_at"] for x in r]; assert c==sorted(c, reverse=True)' $N <<<"$BODY_OUT"

# ---- /api/v1/stats: v2.7's fields beside ours ----
stats_nodes() { # WANT_ALL WANT_ONLINE: GET /api/v1/stats answers these node counts
	req GET /api/v1/stats
	python3 -c '
import json,sys; d=json.load(sys.stdin)
assert (d["nodes_count"],d["online_nodes"])==(int(sys.argv[1]),int(sys.argv[2])), d' "$1" "$2" <<<"$BODY_OUT"
}
check "stats without nodes: nodes_count 0, online_nodes 0" wait_until 10 stats_nodes 0 0
check "stats: total_dropped_pps and total_passed_pps numeric, equal to dropped_pps/passed_pps, rules_count $N" python3 -c '
import json,sys; d=json.load(sys.stdin)
for k in ("total_dropped_pps","total_passed_pps","dropped_pps","passed_pps"): assert isinstance(d[k],(int,float)), k
assert d["total_dropped_pps"]==d["dropped_pps"] and d["total_passed_pps"]==d["passed_pps"]
assert d["rules_count"]==int(sys.argv[1]), d["rules_count"]' $N <<<"$BODY_OUT"
req POST /api/v1/nodes '{"id":"edge-1","name":"edge one","address":"tcp://127.0.0.1:1"}'
expect 201 - "POST /api/v1/nodes (an agent that never answers)"
check "stats with one unreachable node: nodes_count 1, online_nodes 0" wait_until 10 stats_nodes 1 0
req GET /api/v1/stats/cache_health
expect 200 - "GET /api/v1/stats/cache_health"
check "cache_health: v2.7's shape, one configured node, none succeeded, named offline or unknown" python3 -c '
import json,sys; d=json.load(sys.stdin)
for k in ("last_attempt_unix_ms","last_snapshot_unix_ms","freshness_ms","attempted_nodes","failed_nodes",
	"skipped_offline_nodes","skipped_unknown_nodes","skipped_syncing_nodes","top_n_cache_size",
	"top_rules_cached","last_refresh_duration_ms","consecutive_all_fail"): assert isinstance(d[k],(int,float)), k
assert d["status"]==d["last_refresh_status"]=="failed" and d["last_full_success_unix_ms"] is None, d
assert (d["configured_nodes"],d["succeeded_nodes"])==(1,0) and d["node_errors"]=={}
assert d["rule_count"]==int(sys.argv[1]), d["rule_count"]
assert d["offline_node_names"]+d["unknown_node_names"]+d["syncing_node_names"]==["edge one"], d' $N <<<"$BODY_OUT"
req GET /api/v1/rules/top
check "/rules/top carries stats_status failed and the node among the skipped" python3 -c '
import json,sys; d=json.load(sys.stdin)
assert d["stats_status"]=="failed" and "edge one" in d["stats_offline_nodes"]+d["stats_unknown_nodes"]+d["stats_syncing_nodes"], d' <<<"$BODY_OUT"

# ---- nodes: endpoint (an alias of address, in and out), last_sync, v2.7's flat NodeStats ----
req POST /api/v1/nodes '{"name":"x","endpoint":"tcp://127.0.0.1:7","address":"tcp://127.0.0.1:8"}'
expect 400 endpoint "endpoint and address that differ: 400 naming endpoint"
req POST /api/v1/nodes '{"name":"y","endpoint":"tcp://127.0.0.1:7","address":"tcp://127.0.0.1:7"}'
expect 201 - "endpoint and address equal: accepted"
req DELETE "/api/v1/nodes/$(jget '["node"]["id"]')"
expect 200 - "delete it again"
FAKE_BIN=${FAKE_BIN:-build/bin/xdrop-fake-agent}
req POST /api/v1/nodes "{\"id\":\"fake1\",\"name\":\"fake one\",\"endpoint\":\"ipc://$TMP/fake1.sock\"}"
expect 201 - "POST /api/v1/nodes with endpoint only"
FAKE_KEY=$(jget '["key"]')
check "the node's address is the endpoint given, both in the reply" python3 -c '
import json,sys; n=json.load(sys.stdin)["node"]
assert n["address"]==n["endpoint"]==sys.argv[1] and n["last_sync"] is None, n' "ipc://$TMP/fake1.sock" <<<"$BODY_OUT"
req PUT /api/v1/nodes/fake1 '{"endpoint":"ipc://'"$TMP"'/other.sock","address":"ipc://'"$TMP"'/fake1.sock"}'
expect 400 endpoint "PUT with a conflicting endpoint: 400 naming endpoint"
read -r REV HASH < <("$CTL_BIN" --json info | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["revision"], d["content_hash"])')
"$FAKE_BIN" "ipc://$TMP/fake-health.sock" "ipc://$TMP/fake1.sock" fake1 "$FAKE_KEY" "$REV" "$HASH" x y 2>"$TMP/fake.log" &
FAKE_PID=$!
node_online() { req GET /api/v1/nodes/fake1; [ "$(jget '["status"]' 2>/dev/null)" = online ]; }
check "the fake agent's node comes online" wait_until 20 node_online
check "node: endpoint, last_sync set, stats with v2.7's flat figures (fake agent: rx 3000, dropped 1000, 300 pps)" python3 -c '
import json,sys; n=json.load(sys.stdin); s=n["stats"]
assert n["endpoint"]==n["address"] and n["last_sync"] == n["last_seen"] and n["last_sync"], n
assert (s["total_packets"],s["dropped_packets"],s["whitelisted_packets"],s["rate_limited_packets"])==(3000,1000,200,50), s
assert s["total_pps"]==300 and isinstance(s["dropped_pps"],(int,float)) and isinstance(s["passed_pps"],(int,float))
for k in ("passed_packets","rules_count","whitelist_count"): assert isinstance(s[k],int), k
y=s["system"]
for k in ("cpu_percent","mem_percent","mem_total_mb","mem_used_mb","uptime_seconds","load_avg_1","load_avg_5","load_avg_15"): assert isinstance(y[k],(int,float)), k
assert 0 <= y["mem_percent"] <= 100
a=s["agent_state"]; assert all(isinstance(a[k],int) for k in ("exact_rules","cidr_rules","whitelist_entries")), a
x=s["xdp_info"]; assert isinstance(x["mode"],str) and isinstance(x["interfaces"],list), x' <<<"$BODY_OUT"
req GET /api/v1/nodes/fake1/stats
check "GET /api/v1/nodes/:id/stats: the flat figures beside ours" python3 -c '
import json,sys; s=json.load(sys.stdin)
assert s["total_packets"]==3000 and s["counters"]["rx"]==3000 and isinstance(s["system"]["cpu_percent"],(int,float)), s' <<<"$BODY_OUT"
req GET /api/v1/nodes
check "GET /api/v1/nodes: every node has endpoint and last_sync" python3 -c '
import json,sys; d=json.load(sys.stdin)
assert all(n["endpoint"]==n["address"] and "last_sync" in n for n in d["nodes"]) and len(d["nodes"])==2, d' <<<"$BODY_OUT"
check "stats: nodes_count 2, online_nodes 1" wait_until 10 stats_nodes 2 1
req GET /api/v1/rules/top
check "/rules/top: partial (one node online, one not)" [ "$(jget '["stats_status"]')" = partial ]

# ---- ui.csp: strict by default, configurable, validated ----
csp_of() { curl -s -D - -o /dev/null "$BASE/" | tr -d '\r' | sed -n 's/^[Cc]ontent-[Ss]ecurity-[Pp]olicy: //p'; }
check "the UI's default CSP is the strict one" [ "$(csp_of)" = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'" ]
gw_stop
GW_UI_EXTRA="  csp: \"default-src 'self'; script-src 'self' 'unsafe-eval'\"" GW_MODE=controller GW_UPSTREAM=$XDROP_URL gw_start || { echo "Bail out! gateway with ui.csp"; exit 1; }
check "ui.csp: the configured policy is sent" [ "$(csp_of)" = "default-src 'self'; script-src 'self' 'unsafe-eval'" ]
sed 's/^  csp: .*$/  csp: "default-src x\\nX-Evil: 1"/' "$TMP/gw.yaml" >"$TMP/bad.yaml"
timeout 10 "$GW_BIN" --config "$TMP/bad.yaml" >/dev/null 2>"$TMP/bad.log"
check "ui.csp with a newline: the gateway refuses to start, naming ui.csp" bash -c "[ $? != 0 ] && grep -q 'ui.csp' '$TMP/bad.log'"

# ---- v2.7's password login: auth.web_username / auth.web_password_hash ----
H1=$(printf 's3cret pw\n' | "$GW_BIN" --hash-password)
H2=$(printf 's3cret pw\n' | "$GW_BIN" --hash-password)
check "--hash-password prints a PBKDF2-SHA256 value (iterations, 16-byte salt, 32-byte key)" \
	grep -Eq '^pbkdf2-sha256\$210000\$[0-9a-f]{32}\$[0-9a-f]{64}$' <<<"$H1"
check "--hash-password: a new salt each time, never the password" bash -c "[ '$H1' != '$H2' ] && ! grep -q s3cret <<<'$H1'"
check_not "--hash-password with nothing on stdin fails" bash -c "'$GW_BIN' --hash-password </dev/null >/dev/null 2>&1"
gw_stop
WEB_AUTH="auth:
  login_attempts: 4
  web_username: operator
  web_password_hash: \"$H1\""
GW_TOKEN=$ADMIN_KEY GW_MODE=controller GW_UPSTREAM=$XDROP_URL gw_start "$WEB_AUTH" || { echo "Bail out! gateway with web login"; exit 1; }
login() { # USER PASSWORD: sets CODE, the session in $TMP/jar
	CODE=$(curl -s -c "$TMP/jar" -o "$TMP/out" -w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary "{\"username\":\"$1\",\"password\":\"$2\"}" "$BASE/api/auth/login")
	BODY_OUT=$(cat "$TMP/out")
}
login operator 's3cret pw'
expect 200 - "login with the configured user name and password"
check "the login reply: success, the user name, the upstream token's scope" python3 -c '
import json,sys; d=json.load(sys.stdin); assert d["success"] is True and d["username"]=="operator" and d["scope"]=="admin", d' <<<"$BODY_OUT"
check "the session reads the API (GET /api/v1/rules with the cookie only)" \
	bash -c "[ \"\$(curl -s -b '$TMP/jar' -o /dev/null -w '%{http_code}' '$BASE/api/v1/rules?limit=1')\" = 200 ]"
req GET "/api/v1/rules?limit=1"
expect 200 - "API keys keep working beside the password login"
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary '{"password":"s3cret pw"}' "$BASE/api/auth/login")
check "v2.7 API.md's body {\"password\"} alone logs in too" [ "$CODE" = 200 ]
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "{\"password\":\"$ADMIN_KEY\"}" "$BASE/api/auth/login")
check "{\"password\": <an API key>} is still a key login" [ "$CODE" = 200 ]
login operator 'wrong'
expect 401 - "a wrong password: 401"
login someone 's3cret pw'
expect 401 - "a wrong user name: 401"
login operator 'wrong again'
login operator 'and again'
expect 401 - "fourth failure: 401"
login operator 's3cret pw'
expect 429 - "after auth.login_attempts failures the limiter answers 429, even to the right password"
sed '/^  token:/d' "$TMP/gw.yaml" >"$TMP/notoken.yaml"
timeout 10 "$GW_BIN" --config "$TMP/notoken.yaml" >/dev/null 2>"$TMP/notoken.log"
check "web login without upstream.token: refused at load, naming auth.web_username" bash -c "[ $? != 0 ] && grep -q 'auth.web_username' '$TMP/notoken.log'"
sed 's/^  web_password_hash: .*/  web_password_hash: "s3cret pw"/' "$TMP/gw.yaml" >"$TMP/clear.yaml"
timeout 10 "$GW_BIN" --config "$TMP/clear.yaml" >/dev/null 2>"$TMP/clear.log"
check "a clear password as web_password_hash: refused at load" bash -c "[ $? != 0 ] && grep -q 'auth.web_password_hash' '$TMP/clear.log'"

check "gateway still running" gw_alive
check_not "no sanitizer report in the gateway log" grep -qE 'ERROR|runtime error' "$TMP/gw.log"
tap_done
