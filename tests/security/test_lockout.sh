#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/security/test_lockout.sh: an agent never drops its own control traffic (issue 11,
# item 2, "self-lockout"; TESTING.md row S2).
#
#   ctl ns: controller (tcp 10.77.0.1:7700-7702), gateway   [v0] ==veth== [v1 *XDP]  n1 ns: agent
#                                                                                    (tcp 10.77.0.2:7600)
#
# Every byte between the controller and the agent crosses the filtered interface v1. The
# suite (1) shows every spelling of a match-all prefix refused through REST, RPC and
# xdropctl; (2) installs the worst rule validation still accepts that catches the control
# traffic (drop everything from the controller's /24) and shows the node stays managed:
# online, a new rule reaches it, the protected counter grows, the flows are visible in the
# node view, an agent restart with the rule in its saved state comes back managed, and the
# rule can be deleted; (3) with protect_control: false the same rule cuts the node off (it
# goes offline and later changes never arrive), which proves the protection is what keeps
# it managed; (4) an older pinned counter map is carried over on upgrade. Fails on the old
# code: the /0 spellings were accepted, the rule cut the node off, protect_control did not
# exist.
set -u
source "$(dirname "$0")/../e2e/syslab.sh"
CTRL_BIN=$CTL_BIN
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../lib/netns.sh"

NS=xlockout$ID
CTL_RPC=tcp://10.77.0.1:7700
CTL_PUSH=tcp://10.77.0.1:7701
CTL_HEALTH=tcp://10.77.0.1:7702
AGENT_URL=tcp://10.77.0.2:7600
XDROPCTL=${XDROPCTL_BIN:-$BINDIR/xdropctl}
GW_PORT=8077
API=http://127.0.0.1:$GW_PORT/api/v1

lock_down() {
	sys_down
	lab_cleanup # the namespaces
}
trap lock_down EXIT

lock_net() {
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	lab_ns ctl n1 || return 1
	lab_veth ctl v0 n1 v1 || return 1
	lab_addr ctl v0 10.77.0.1/24
	lab_addr n1 v1 10.77.0.2/24
	lab_up ctl lo v0
	lab_up n1 lo v1
	in_ns ctl ethtool -K v0 tx off >/dev/null
}

# the REST API of the gateway in the controller's namespace: sets CODE and OUT
rest() {
	local args=(-s -o "$TMP/rest.out" -w '%{http_code}' -X "$1" -H "X-API-Key: $KEY"
		--max-time 20)
	[ -n "${3-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	CODE=$(in_ns ctl curl "${args[@]}" "$API$2")
	OUT=$(cat "$TMP/rest.out")
}

lock_ping() { # url: HealthService.Ping from the namespace that owns the listener
	local ns=ctl
	[ "$1" = "$AGENT_URL" ] && ns=n1
	printf 'data: "x"' | $P --encode=xdrop.v1.PingRequest 2>/dev/null |
		in_ns "$ns" timeout 3 "$CALL" "$1" "" HealthService Ping >/dev/null 2>&1
}

lock_ctl_start() {
	ctl_config
	SEC_NETNS=$NS-ctl sec_ctrl_start "$TMP/ctl.yaml" "$TMP/ctl.log"
	CTL_PID=$CTRL_PID
	sec_gw_yaml "$TMP/gw.yaml" "$CTL_RPC" "$GW_PORT" "ui:" "  dir: $TMP/no-ui" "log_level: warn"
	sec_ctrl_up 100 lock_ping "$CTL_RPC"
	nsenter --net="/run/netns/$NS-ctl" "$GW_BIN" --config "$TMP/gw.yaml" </dev/null >/dev/null 2>>"$TMP/gw.log" &
	GW_PID=$!
	sec_wait 100 in_ns ctl curl -s -o /dev/null "http://127.0.0.1:$GW_PORT/health"
}

# lock_agent_config [false]: the node's config; without an argument protect_control keeps
# its default (true), so the suite also runs against an agent that predates the key
lock_agent_config() {
	mkdir -p "$TMP/state-n1"
	cat >"$TMP/n1.yaml" <<EOF
node:
  id: n1
  key: ${NODE_KEY[n1]}
mode: traditional
interface: v1
xdp_mode: native
capacity:
  rules: 4096
  cidr_rules: 1024
  prefixes: 256
  rate_limited_rules: 16
pin_dir: $PIN/n1
state_dir: $TMP/state-n1
rpc:
  listen: $AGENT_URL
controller:
  rpc: $CTL_RPC
  push: $CTL_PUSH
  health: $CTL_HEALTH
beacon_interval: $HB
log_level: info
EOF
	[ -n "${1-}" ] && echo "protect_control: $1" >>"$TMP/n1.yaml"
	return 0
}

lock_agent_start() {
	nsenter --net="/run/netns/$NS-n1" "$AGENT_BIN" --config "$TMP/n1.yaml" </dev/null >/dev/null 2>>"$TMP/n1.log" &
	AGENT_PID[n1]=$!
	local i
	for i in $(seq 200); do
		lock_ping "$AGENT_URL" && return 0
		kill -0 "${AGENT_PID[n1]}" 2>/dev/null || break
		sleep 0.05
	done
	tail -5 "$TMP/n1.log" | sed 's/^/# /'
	return 1
}

# the agent's own view, asked from inside its namespace (never crosses the filter)
lock_info() { # InfoReply as protobuf text
	printf '' | in_ns n1 timeout 5 "$CALL" "$AGENT_URL" "$(node_token n1)" AgentService Info \
		2>/dev/null | $P --decode=xdrop.v1.InfoReply 2>/dev/null
}
lock_agent_rev() {
	local v
	v=$(lock_info | sed -n 's/^revision: //p')
	echo "${v:-0}"
}

# the controller's view of the node
node_field() { # jq filter on GET /nodes/n1
	rest GET /nodes/n1 && [ "$CODE" = 200 ] && jq -r "$@" <<<"$OUT"
}
# wait_for SECONDS COMMAND...: polls until the command succeeds
wait_for() {
	local end=$(($(ms) + $1 * 1000))
	shift
	while [ "$(ms)" -lt "$end" ]; do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
protected_above() { [ "$(node_field '.stats.counters.protected // 0')" -gt "$1" ]; }
node_online() { [ "$(node_field .status)" = online ]; }
node_offline() { [ "$(node_field .status)" = offline ]; }
node_at() { # revision: the controller sees the node online at it
	[ "$(node_field '.status + " " + (.applied_revision | tostring)')" = "online $1" ]
}
agent_at() { [ "$(lock_agent_rev)" = "$1" ]; }
stays_behind() { # seconds revision: the agent does not reach the revision meanwhile
	local end=$(($(ms) + $1 * 1000))
	while [ "$(ms)" -lt "$end" ]; do
		agent_at "$2" && return 1
		sleep 0.2
	done
}
ping_blocked() { ! in_ns ctl ping -c 1 -W 0.3 10.77.0.2 >/dev/null 2>&1; }
ping_open() { in_ns ctl ping -c 1 -W 1 10.77.0.2 >/dev/null 2>&1; }
add_rule() { # JSON body: sets RULE_ID and REV
	rest POST /rules "$1"
	RULE_ID=$(jq -r '.rule.id // empty' <<<"$OUT")
	rest GET /stats
	REV=$(jq -r .revision <<<"$OUT")
	[ -n "$RULE_ID" ]
}
del_rule() { # id: sets REV
	rest DELETE "/rules/$1"
	local code=$CODE
	rest GET /stats
	REV=$(jq -r .revision <<<"$OUT")
	[ "$code" = 200 ]
}

lock_net || { echo "Bail out! namespaces"; exit 1; }
lock_ctl_start || { echo "Bail out! controller/gateway did not start"; tail "$TMP"/*.log; exit 1; }
rest POST /nodes "{\"id\": \"n1\", \"name\": \"n1\", \"address\": \"$AGENT_URL\"}"
[ "$CODE" = 201 ] || { echo "Bail out! POST /nodes: $CODE $OUT"; exit 1; }
NODE_KEY[n1]=$(jq -r .key <<<"$OUT")
lock_agent_config maybe
out=$(timeout 20 "$AGENT_BIN" --config "$TMP/n1.yaml" 2>&1 </dev/null)
rc=$?
if [ $rc = 1 ] && grep -q "protect_control" <<<"$out"; then ok "protect_control takes true or false (error names the key)"; else
	not_ok "protect_control takes true or false (error names the key)" "exit $rc: $out"
fi
lock_agent_config
lock_agent_start || { echo "Bail out! agent did not start"; exit 1; }
check "the node is online over tcp:// across the filtered interface" wait_for 20 node_online

# ---- 1. match-all prefixes are refused in every spelling, by every front end ----
for f in "src_cidr 0.0.0.0/0" "src_cidr ::/0" "src_cidr ::ffff:0:0/96" \
	"dst_cidr ::ffff:0.0.0.0/96" "src_cidr ::/8" "dst_cidr 0.0.0.0/0"; do
	rest POST /rules "{\"${f% *}\": \"${f#* }\", \"action\": \"drop\"}"
	expect_eq "REST refuses ${f% *} ${f#* } with 400 naming the field" \
		"$CODE $(jq -r .field <<<"$OUT")" "400 ${f% *}"
done
rest POST /whitelist '{"src_cidr": "::ffff:0:0/96"}'
expect_eq "REST refuses a whitelist entry on ::ffff:0:0/96" "$CODE $(jq -r .field <<<"$OUT")" \
	"400 src_cidr"
out=$(in_ns ctl "$XDROPCTL" -u "$CTL_RPC" -k "$KEY" rules add src_cidr=0.0.0.0/0 action=drop 2>&1)
rc=$?
if [ $rc = 3 ] && grep -q src_cidr <<<"$out"; then ok "xdropctl refuses src_cidr=0.0.0.0/0 (exit 3, names the field)"; else
	not_ok "xdropctl refuses src_cidr=0.0.0.0/0 (exit 3, names the field)" "exit $rc: $out"
fi
printf 'rule { src_cidr: "::ffff:0:0/96" action: "drop" }' |
	$P --encode=xdrop.v1.CreateRuleRequest >"$TMP/req.bin"
in_ns ctl "$CALL" "$CTL_RPC" "$KEY" RuleService Create <"$TMP/req.bin" >/dev/null 2>"$TMP/call.err"
rc=$?
expect_eq "RPC RuleService.Create refuses ::ffff:0:0/96 with INVALID_ARGUMENT" "$rc" 3
rest GET /rules
expect_eq "nothing was stored" "$(jq -r .count <<<"$OUT")" 0

# a standalone agent (node-mode writes go to it directly) refuses them too
lab_veth n1 sa0 n1 sa1 && lab_up n1 sa0 sa1
SA_KEY=lockout-standalone-admin-key-$ID
cat >"$TMP/sa.yaml" <<EOF
mode: traditional
interface: sa0
xdp_mode: generic
pin_dir: $PIN/sa
state_dir: $TMP/state-sa
rpc:
  listen: ipc://$TMP/sa.sock
  admin_keys: [$SA_KEY]
log_level: warn
EOF
nsenter --net="/run/netns/$NS-n1" "$AGENT_BIN" --config "$TMP/sa.yaml" </dev/null >/dev/null \
	2>>"$TMP/sa.log" &
AGENT_PID[sa]=$!
wait_for 10 ping_rpc "ipc://$TMP/sa.sock"
out=$("$XDROPCTL" --agent "ipc://$TMP/sa.sock" -k "$SA_KEY" rules add dst_cidr=::ffff:0:0/96 \
	action=drop 2>&1)
rc=$?
if [ $rc = 3 ] && grep -q dst_cidr <<<"$out"; then ok "a standalone agent refuses dst_cidr=::ffff:0:0/96"; else
	not_ok "a standalone agent refuses dst_cidr=::ffff:0:0/96" "exit $rc: $out"
fi
printf 'entry { src_cidr: "0.0.0.0/0" dst_port: 22 protocol: "tcp" }' |
	$P --encode=xdrop.v1.CreateWhitelistRequest >"$TMP/req.bin"
"$CALL" "ipc://$TMP/sa.sock" "$SA_KEY" WhitelistService Create <"$TMP/req.bin" >/dev/null 2>&1
expect_eq "and a whitelist entry on 0.0.0.0/0 (INVALID_ARGUMENT)" $? 3
expect_eq "nothing was stored there either" \
	"$("$XDROPCTL" --agent "ipc://$TMP/sa.sock" -k "$SA_KEY" --json rules list | jq .count)" 0
agent_kill sa TERM

# ---- 2. the worst accepted rule, with the control flows protected ----
flows=$(node_field '.stats.attach.protected_flows | join(";")')
if grep -q "10.77.0.1:7700 -> agent" <<<"$flows" && grep -q "10.77.0.1:7702 -> agent" <<<"$flows" &&
	grep -q "10.77.0.1 -> agent:7600" <<<"$flows"; then
	ok "the node view lists the protected flows"
else not_ok "the node view lists the protected flows" "got: $flows"; fi
check "xdropctl nodes get shows them" grep -q '^protected: *tcp 10.77.0.1:7701 -> agent (controller.push)$' \
	<(in_ns ctl "$XDROPCTL" -u "$CTL_RPC" -k "$KEY" nodes get n1)
check "AgentService.Info lists them too" grep -q 'protected_flows: "tcp 10.77.0.1:7701 -> agent' \
	<(lock_info)
check "ICMP from the controller passes before the rule" wait_for 10 ping_open
add_rule '{"name": "cut", "src_cidr": "10.77.0.0/24", "action": "drop"}'
BAD=$RULE_ID
check "the rule dropping everything from the controller's /24 is accepted" test -n "$BAD"
check "it reaches the node" wait_for 20 node_at "$REV"
check "it is in force (ICMP from the controller is dropped)" wait_for 10 ping_blocked
p1=$(node_field '.stats.counters.protected // 0')
add_rule '{"name": "later", "dst_port": 9999, "protocol": "udp", "action": "drop"}'
LATER=$RULE_ID
check "a rule created afterwards reaches the node (controller sees it online at its revision)" \
	wait_for 20 node_at "$REV"
check "the protected counter grows (node view)" wait_for 10 protected_above "${p1:-0}"
check "ICMP is still dropped (the rule is not bypassed)" ping_blocked
agent_kill n1 TERM
lock_agent_start
check "an agent restarted with the rule in its saved state is managed again" \
	wait_for 20 node_at "$REV"
del_rule "$BAD"
check "the bad rule can be deleted: the node applies the deletion" wait_for 20 node_at "$REV"
check "ICMP from the controller passes again" wait_for 10 ping_open

# ---- 3. the same rule with protect_control: false cuts the node off ----
agent_kill n1 TERM
lock_agent_config false
lock_agent_start
check "with protect_control: false the agent lists no protected flow" \
	test -z "$(lock_info | grep protected_flows)"
check "and is online" wait_for 20 node_at "$REV"
add_rule '{"name": "cut", "src_cidr": "10.77.0.0/24", "action": "drop"}'
BAD=$RULE_ID
check "the same rule reaches the node (pushed before it takes effect)" wait_for 20 agent_at "$REV"
check "the controller loses the node" wait_for 20 node_offline
del_rule "$BAD"
check "the deletion does not arrive (5 s)" stays_behind 5 "$REV"
# ---- 4. upgrade: the global counters pinned by an older build (12 counters, no room) ----
# are carried over into the new layout rather than refusing to load
OLD=$PIN/old-layout
mkdir -p "$OLD"
bpftool map create "$OLD/xdrop_stats" type percpu_array key 4 value 96 entries 1 \
	name xdrop_stats &&
	bpftool map update pinned "$OLD/xdrop_stats" key 0 0 0 0 value 7 0 0 0 0 0 0 0 \
		$(printf '0 %.0s' $(seq 88))
ncpu=$(($(cut -d- -f2 /sys/devices/system/cpu/possible) + 1))
rx=$("$BINDIR/xdrop-lab" --pin "$OLD" stats 2>"$TMP/lab.err" | awk '$1 == "rx" { print $2 }')
expect_eq "an older pinned xdrop_stats is adopted with its counts" "$rx" $((7 * ncpu))
expect_eq "and re-pinned in the new layout" \
	"$(bpftool -j map show pinned "$OLD/xdrop_stats" | jq .bytes_value)" 256

echo "1..$T"
[ "$FAILED" = 0 ]
