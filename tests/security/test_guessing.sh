#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/security/test_guessing.sh: guessing and forgery (issue 11, item 6), against the real
# xdrop-gateway (ASan build) in front of the real xdrop-controller:
#  - failed credentials are limited per source address on every path: X-API-Key,
#    Authorization: Bearer, the session cookie and POST /api/auth/login share one counter;
#    past the limit every request with a credential gets 429 + Retry-After, a valid key
#    included (no oracle), while other addresses are served;
#  - rotating through many source addresses (curl --interface 127.x.y.z) neither flushes
#    an attacker's counter nor lets unlimited guesses through: the table has a fixed size
#    (shown in /metrics) and addresses beyond it share one overflow bucket, so the guesses
#    let through stay under (slots + 1) * attempts;
#  - a cookie-authenticated POST or DELETE without the JSON content type or X-Requested-With
#    is refused with 403, even without a body; with either it goes through;
#  - RPC tokens (API keys and node tokens) are limited per source address by the
#    controller the same way, and the gateway's own address (exempt) is never locked out;
#  - so are the API keys of an agent's RPC (a real xdrop-agent in its own namespace).
# TAP on stdout.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/netns.sh
set -u
GW_BIN=${GW_BIN:-build/bin/xdrop-gateway-san}
. tests/security/lib.sh
AGENT=${AGENT:-build/bin/xdrop-agent}
CALL=build/bin/xdrop-call
TMP=$(mktemp -d /tmp/xdrop-guessing-XXXXXX)
NS=xguessing$$
NSA=$NS-a
PIN=/sys/fs/bpf/xdrop-guessing-$$
CTRL_PID= GW_PID= AGENT_PID=
cleanup() {
	[ -n "$GW_PID" ] && sec_stop "$GW_PID"
	[ -n "$CTRL_PID" ] && sec_stop "$CTRL_PID"
	[ -n "$AGENT_PID" ] && sec_stop "$AGENT_PID"
	if [ -f "$TMP/agent.yaml" ]; then
		nsenter --net=/run/netns/$NSA "$AGENT" --config "$TMP/agent.yaml" --detach >/dev/null 2>&1
	fi
	lab_cleanup # the namespace
	rm -rf "$PIN" "$TMP"
}
trap cleanup EXIT
echo "TAP version 13"

ATTEMPTS=5 SLOTS=8 RPC_SLOTS=4
RPC_PORT=$(sec_port) PUSH_PORT=$(sec_port) HEALTH_PORT=$(sec_port) GW_PORT=$(sec_port)
URL=tcp://127.0.0.1:$RPC_PORT
BASE=http://127.0.0.1:$GW_PORT
SEC_RPC_EXTRA="  auth_limit:
    attempts: $ATTEMPTS
    slots: $RPC_SLOTS
    window: 120s" sec_ctrl_yaml "$TMP/c.yaml" "$TMP/c.db" "$URL" tcp://127.0.0.1:$PUSH_PORT \
	tcp://127.0.0.1:$HEALTH_PORT "admin_key_file: $TMP/admin.key"
sec_gw_yaml "$TMP/gw.yaml" "$URL" "$GW_PORT" "log_level: warn" "auth:" \
	"  login_attempts: $ATTEMPTS" "  login_window: 120s" "  limiter_slots: $SLOTS"
ctl_ready() { [ -s "$TMP/admin.key" ] && "$CALL" "$URL" "" xdrop.v1.HealthService Ping </dev/null >/dev/null 2>&1; }
sec_ctrl_start "$TMP/c.yaml" "$TMP/ctl.log"
sec_ctrl_up 100 ctl_ready
ADMIN=$(head -1 "$TMP/admin.key")
sec_gw_start "$TMP/gw.yaml" "$TMP/gw.log" "$GW_PORT"
check "controller and gateway are up" [ -n "$ADMIN" ] && curl -s -o /dev/null "$BASE/health"

# code FROM ARGS...: the HTTP status of a curl from source address FROM
code() { local from=$1; shift; curl -s --interface "$from" -o /dev/null -w '%{http_code}' "$@"; }
key() { code "$1" -H "X-API-Key: $2" "$BASE/api/v1/rules"; }
bearer() { code "$1" -H "Authorization: Bearer $2" "$BASE/api/v1/rules"; }
login() { code "$1" -X POST -H 'Content-Type: application/json' --data "{\"key\":\"$2\"}" "$BASE/api/auth/login"; }
codes() { local fn=$1 from=$2 n=$3 out=; for _ in $(seq "$n"); do out+="$($fn "$from" "wrong-key-$RANDOM-0123456789") "; done; echo "$out"; }
want() { printf "$1 %.0s" $(seq "$2"); } # want CODE N: "CODE CODE ... "
# a metric read with the UI session of the CSRF section (the session is never limited)
metric() { curl -s -b "$TMP/jar" "$BASE/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

# ---- one address, each path ----
got=$(codes key 127.0.0.10 $((ATTEMPTS + 2)))
check "X-API-Key: $ATTEMPTS x 401 then 429 ($got)" [ "$got" = "$(want 401 $ATTEMPTS)429 429 " ]
check "429 carries Retry-After" grep -qi '^retry-after: [0-9]' <(curl -s --interface 127.0.0.10 -D - -o /dev/null -H "X-API-Key: x" "$BASE/api/v1/rules")
check "a valid key from the limited address is refused too (429, no oracle)" [ "$(key 127.0.0.10 "$ADMIN")" = 429 ]
check "another address is served (200)" [ "$(key 127.0.0.11 "$ADMIN")" = 200 ]
got=$(codes bearer 127.0.0.12 $((ATTEMPTS + 1)))
check "Authorization: Bearer: $ATTEMPTS x 401 then 429 ($got)" [ "$got" = "$(want 401 $ATTEMPTS)429 " ]
got="$(key 127.0.0.13 bad-1-0123456789) $(bearer 127.0.0.13 bad-2-0123456789) $(login 127.0.0.13 bad-3-0123456789)"
got+=" $(code 127.0.0.13 -b xdrop_session=0123456789abcdef "$BASE/api/v1/rules") $(key 127.0.0.13 bad-5-0123456789)"
check "key, Bearer, login and cookie share one counter ($got)" [ "$got" = "401 401 401 401 401" ]
check "... and the next credential of any kind is refused (429)" [ "$(login 127.0.0.13 "$ADMIN")" = 429 ]
got=$(codes login 127.0.0.14 $((ATTEMPTS + 1)))
check "login: $ATTEMPTS x 401 then 429 ($got)" [ "$got" = "$(want 401 $ATTEMPTS)429 " ]
check "a request without any credential is not a guess (401, not counted)" [ "$(code 127.0.0.15 "$BASE/api/v1/rules")$(code 127.0.0.15 "$BASE/api/v1/rules")$(key 127.0.0.15 "$ADMIN")" = 401401200 ]

# ---- CSRF: cookie-authenticated unsafe methods ----
J=$TMP/jar
check "login with a valid key from a fresh address" [ "$(curl -s --interface 127.0.0.1 -c "$J" -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data "{\"key\":\"$ADMIN\"}" "$BASE/api/auth/login")" = 200 ]
ck() { curl -s --interface 127.0.0.1 -b "$J" -o "$TMP/out" -w '%{http_code}' "$@"; }
check "cookie POST without body, content type or header: 403" [ "$(ck -X POST "$BASE/api/v1/rules")" = 403 ]
check "... and the 403 names the header" grep -q 'X-Requested-With' "$TMP/out"
check "cookie DELETE without content type or header: 403" [ "$(ck -X DELETE "$BASE/api/v1/rules/none")" = 403 ]
check "cookie POST of a form (text/plain body): 403" [ "$(ck -X POST -H 'Content-Type: text/plain' --data '{"dst_ip":"192.0.2.9","action":"drop"}' "$BASE/api/v1/rules")" = 403 ]
check "cookie DELETE with X-Requested-With passes the check (404: no such rule)" [ "$(ck -X DELETE -H 'X-Requested-With: XMLHttpRequest' "$BASE/api/v1/rules/none")" = 404 ]
check "cookie POST with the JSON content type: 201" [ "$(ck -X POST -H 'Content-Type: application/json' --data '{"dst_ip":"192.0.2.9","action":"drop"}' "$BASE/api/v1/rules")" = 201 ]
check "cookie GET needs neither (200)" [ "$(ck "$BASE/api/v1/rules")" = 200 ]
check "a key-authenticated DELETE needs neither (404)" [ "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "X-API-Key: $ADMIN" "$BASE/api/v1/rules/none")" = 404 ]

# ---- rotating addresses ----
# 4 slots are taken above (.10 .12 .13 .14); 40 more addresses, 6 guesses each
let_through=0
for i in $(seq 40); do
	for _ in 1 2 3 4 5 6; do
		[ "$(key "127.0.1.$i" "rotate-$i-$RANDOM-0123456789")" = 401 ] && let_through=$((let_through + 1))
	done
done
bound=$(((SLOTS + 1) * ATTEMPTS))
check "rotating 40 addresses: $let_through of 240 guesses reached the upstream (bound $bound)" [ "$let_through" -le "$bound" ]
check "the first attacker's counter survived the rotation (429)" [ "$(key 127.0.0.10 "x-0123456789abcdef")" = 429 ]
check "the limiter's table stays at its size ($(metric xdrop_gateway_auth_limiter_sources) of $(metric xdrop_gateway_auth_limiter_slots))" [ "$(metric xdrop_gateway_auth_limiter_sources)" = "$SLOTS" ] && [ "$(metric xdrop_gateway_auth_limiter_slots)" = "$SLOTS" ]
check "newcomers share the overflow bucket, which is closed now (429)" [ "$(metric xdrop_gateway_auth_limiter_overflow)" = 1 ] && [ "$(key 127.0.2.1 "x-0123456789abcdef")" = 429 ]
check "... a valid key from a newcomer too: the documented cost of the bound" [ "$(key 127.0.2.2 "$ADMIN")" = 429 ]
check "a logged-in UI session keeps working during the attack (200)" [ "$(ck "$BASE/api/v1/rules")" = 200 ]

# ---- RPC tokens at the controller ----
# rpc FROM TOKEN: the gRPC status of RuleService.List from source FROM (nng: "local;remote")
rpc() { "$CALL" "tcp://$1;127.0.0.1:$RPC_PORT" "$2" xdrop.v1.RuleService List </dev/null >/dev/null 2>&1; echo $?; }
rpcs() { local out=; for _ in $(seq "$2"); do out+="$(rpc "$1" "$3-$RANDOM") "; done; echo "$out"; }
got=$(rpcs 127.0.0.40 $((ATTEMPTS + 1)) wrong-rpc-key)
check "RPC key: $ATTEMPTS x UNAUTHENTICATED then RESOURCE_EXHAUSTED ($got)" [ "$got" = "$(want 16 $ATTEMPTS)8 " ]
check "RPC: a valid key from the limited source is refused too" [ "$(rpc 127.0.0.40 "$ADMIN")" = 8 ]
check "RPC: another source is served" [ "$(rpc 127.0.0.41 "$ADMIN")" = 0 ]
got=$(rpcs 127.0.0.42 $((ATTEMPTS + 1)) node:edge-1:0123456789abcdef)
check "RPC node tokens: $ATTEMPTS x UNAUTHENTICATED then RESOURCE_EXHAUSTED ($got)" [ "$got" = "$(want 16 $ATTEMPTS)8 " ]
let_through=0
for i in $(seq 20); do
	for _ in 1 2 3; do [ "$(rpc "127.0.3.$i" "rotate-$i-$RANDOM")" = 16 ] && let_through=$((let_through + 1)); done
done
bound=$(((RPC_SLOTS + 1) * ATTEMPTS))
check "RPC, rotating 20 sources: $let_through of 60 guesses verified (bound $bound)" [ "$let_through" -le "$bound" ]
check "RPC: the first source is still refused after the rotation" [ "$(rpc 127.0.0.40 "x")" = 8 ]
check "the gateway (127.0.0.1, exempt) still reaches the controller" [ "$(ck "$BASE/api/v1/rules")" = 200 ]

# ---- an agent's RPC ----
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
lab_ns a && lab_veth a v0 a v1 && lab_up a lo v0 v1 &&
	lab_addr a v1 192.0.2.1/24 # nng resolves with AI_ADDRCONFIG: lo alone is not enough
AGENT_KEY=agent-admin-key-0123456789abcdef
cat >"$TMP/agent.yaml" <<YAML
interface: v0
xdp_mode: native_or_generic
pin_dir: $PIN
state_dir: $TMP/state
capacity:
  rules: 1024
  cidr_rules: 1024
  prefixes: 1024
  rate_limited_rules: 64
rpc:
  listen: tcp://127.0.0.1:7600
  admin_keys: [$AGENT_KEY]
  auth_limit:
    attempts: $ATTEMPTS
log_level: warn
YAML
mkdir -p "$TMP/state"
nsenter --net=/run/netns/$NSA "$AGENT" --config "$TMP/agent.yaml" 2>"$TMP/agent.log" &
AGENT_PID=$!
# arpc FROM TOKEN: RuleService.List on the agent from source FROM inside its namespace
arpc() { nsenter --net=/run/netns/$NSA "$CALL" "tcp://$1;127.0.0.1:7600" "$2" xdrop.v1.RuleService List </dev/null >/dev/null 2>&1; echo $?; }
agent_ready() { [ "$(arpc 127.0.0.1 "$AGENT_KEY")" = 0 ]; }
sec_wait 100 agent_ready
check "the agent is up" [ "$(arpc 127.0.0.1 "$AGENT_KEY")" = 0 ]
got=; for _ in $(seq $((ATTEMPTS + 1))); do got+="$(arpc 127.0.0.70 "wrong-$RANDOM") "; done
check "agent RPC key: $ATTEMPTS x UNAUTHENTICATED then RESOURCE_EXHAUSTED ($got)" [ "$got" = "$(want 16 $ATTEMPTS)8 " ]
check "agent RPC: a valid key from the limited source is refused too" [ "$(arpc 127.0.0.70 "$AGENT_KEY")" = 8 ]
check "agent RPC: another source is served" [ "$(arpc 127.0.0.71 "$AGENT_KEY")" = 0 ]

sec_stop "$GW_PID"
check "the gateway exits cleanly (no ASan report)" [ $? = 0 ] && ! grep -q 'ERROR: AddressSanitizer\|runtime error' "$TMP/gw.log"
GW_PID=
echo "1..$T"
[ "$FAILED" = 0 ]
