#!/bin/bash
# SPDX-License-Identifier: MIT
# The agent's namespace lab (issue 4, item 6): build/bin/xdrop-agent-san (ASan+UBSan) on
# real veth interfaces, driven only through its node RPC (build/bin/xdrop-call, requests
# written with protoc --encode), proven with real traffic counted by a receiver. Prints TAP.
#
#   traditional  cli ns [c0] ==veth== [s0, agent] srv ns
#   fast-forward fcli ns [fc0] ==veth== [fb1] brg ns, agent [fb2] ==veth== [fs0] fsrv ns
#   foreign      frn ns [x0, someone else's XDP program] ==veth== [x1]
#
# Scenarios: (1) RPC CRUD, errors, auth and counters; (2) kill -9 under traffic, 20 cycles;
# (3) restart with the controller down; (4) expires_at enforced by the agent; (5) interface
# removed and re-added; (6) a foreign XDP program; (7) fast-forward bridging; (8) bad
# config. After each agent's run its log is checked for sanitizer reports.
#
# The agent's RPC listens on an ipc:// socket in this run's temp directory: no port can
# clash with other runs, and the client needs no namespace. Agents run under
# nsenter --net (not ip netns exec, which hides the pins). Interfaces get indexes derived
# from the PID so that `bpftool link` (global) can be filtered to this run's interface.
set -u
BUILD=${BUILD:-build}
AGENT=$PWD/$BUILD/bin/xdrop-agent-san
CALL=$PWD/$BUILD/bin/xdrop-call
TRAFFIC=$PWD/tests/agent/traffic.py
PROTO_DIR=$PWD/proto
ID=$$
PIN=/sys/fs/bpf/xdrop-test-$ID
NS=xda$ID
IDX=$((200000 + (ID % 100000) * 8)) # c0, s0, then c0 and s0 re-created, fb*, x*
ADMIN=admin-key-$ID-0123456789
RO=read-key-$ID-0123456789
N=20 # datagrams per probe
tmp=$(mktemp -d)
pids=""
agent_pid=""

cleanup() {
	local p ns
	for p in $pids; do
		kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	for ns in cli srv fcli brg fsrv frn; do
		ip netns del "$NS-$ns" 2>/dev/null
	done
	rm -rf "$PIN" "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

n=0
ok() { n=$((n + 1)); echo "ok $n - ${1//$'\n'/; }"; }
not_ok() {
	n=$((n + 1))
	echo "not ok $n - ${1//$'\n'/; }"
	shift
	for l in "$@"; do printf '%s\n' "$l" | sed 's/^/# /'; done
}
check() { # name, command...: passes when the command succeeds
	local name=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then ok "$name"; else
		not_ok "$name" "failed: $*" "$(cat "$tmp/out")"
	fi
}
expect_eq() { # name, got, want
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got '$2', want '$3'"; fi
}
expect_range() { # name, got, min, max
	if [ -n "$2" ] && [ "$2" -ge "$3" ] 2>/dev/null && [ "$2" -le "$4" ]; then ok "$1"; else
		not_ok "$1" "got '$2', want $3..$4"
	fi
}
start=$(date +%s%N)
ms() { echo $((($(date +%s%N) - start) / 1000000)); }
section() { echo "# $1 ($(ms) ms)"; }

in_ns() { # ns, command... (nsenter keeps /sys/fs/bpf visible)
	local ns=$1
	shift
	nsenter --net="/run/netns/$NS-$ns" "$@"
}

# ---- RPC: rpc TOKEN SERVICE METHOD IN_TYPE OUT_TYPE TEXT|@FILE ----
# The reply (protobuf text) is left in $tmp/reply, the status line in $tmp/status; the
# return code is the gRPC status code.
URL=""
rpc() {
	local tok=$1 svc=$2 m=$3 it=$4 ot=$5 txt=${6-} rc
	if [ "${txt:0:1}" = @ ]; then
		protoc --encode="xdrop.v1.$it" -I"$PROTO_DIR" xdrop.proto <"${txt:1}" >"$tmp/req"
	else
		printf '%s\n' "$txt" | protoc --encode="xdrop.v1.$it" -I"$PROTO_DIR" xdrop.proto >"$tmp/req"
	fi || return 100
	timeout 20 "$CALL" "$URL" "$tok" "$svc" "$m" <"$tmp/req" >"$tmp/rep" 2>"$tmp/status"
	rc=$?
	protoc --decode="xdrop.v1.$ot" -I"$PROTO_DIR" xdrop.proto <"$tmp/rep" >"$tmp/reply" 2>/dev/null ||
		: >"$tmp/reply"
	return $rc
}
val() { # field [default]: the first "field: value" of the last reply (proto3 omits zeros)
	awk -v k="$1:" -v d="${2-0}" '$1 == k { v = $2; gsub(/"/, "", v); print v; f = 1; exit }
		END { if (!f) print d }' "$tmp/reply"
}
create_rule() { # rule text (inside rule { }): prints the new id, or nothing
	rpc "$ADMIN" RuleService Create CreateRuleRequest RuleWriteReply "rule { $1 }" && val id ""
}
rule_count() { # the agent's stored rules (StatsService.Get)
	rpc "$ADMIN" StatsService Get GetStatsRequest StatsReply "" && val rules
}
drop_count() { # rule id: drop_count of RuleService.Get
	rpc "$RO" RuleService Get GetRuleRequest Rule "id: \"$1\"" && val drop_count
}

# ---- the agent ----
cfg() { # file, interface lines, extra yaml: a config with this run's pins, state and socket
	local f=$1 name
	name=$(basename "$f" .yaml)
	cat >"$f" <<EOF
$2
pin_dir: $PIN/${PINSUB:-trad}
state_dir: $tmp/state-${PINSUB:-trad}
rpc:
  listen: ipc://$tmp/${PINSUB:-trad}.sock
  admin_keys: [$ADMIN]
  read_only_keys: [$RO]
capacity:
  rules: 65536
  cidr_rules: 1024
  prefixes: 256
  rate_limited_rules: 64
stats_interval: 1s
${3-}
EOF
}
agent_start() { # ns, config, log: starts the agent; returns 0 once it logged that it runs
	local ns=$1 conf=$2 log=$3 before
	before=$(grep -c "xdrop-agent running" "$log" 2>/dev/null)
	URL=$(awk '$1 == "listen:" { print $2 }' "$conf")
	# nsenter execs the agent, so $! is the agent itself
	nsenter --net="/run/netns/$NS-$ns" "$AGENT" --config "$conf" >>"$log" 2>&1 &
	agent_pid=$!
	pids="$pids $agent_pid"
	for _ in $(seq 300); do
		[ "$(grep -c "xdrop-agent running" "$log" 2>/dev/null)" -gt "${before:-0}" ] && return 0
		kill -0 "$agent_pid" 2>/dev/null || return 1
		sleep 0.03
	done
	return 1
}
agent_stop() { # SIGTERM; returns the agent's exit code
	kill -TERM "$agent_pid" 2>/dev/null
	wait "$agent_pid"
}
san_check() { # scenario, logs...: no ASan/UBSan/LSan report in the agent's stderr
	local what=$1 bad
	shift
	bad=$(grep -hE "runtime error|AddressSanitizer|LeakSanitizer" "$@" 2>/dev/null | head -5)
	if [ -z "$bad" ]; then ok "$what: no sanitizer report in the agent's log"; else
		not_ok "$what: sanitizer report in the agent's log" "$bad"
	fi
}

# ---- traffic ----
serve() { # ns, state file: UDP 5001-5009 for at most 170 s
	nsenter --net="/run/netns/$NS-$1" python3 "$TRAFFIC" serve "$2" \
		5001,5002,5003,5004,5005,5006,5007,5008,5009 170 &
	pids="$pids $!"
	for _ in $(seq 50); do
		[ -f "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
send() { in_ns "$1" timeout 30 python3 "$TRAFFIC" udp "${@:2}" >/dev/null; }
got() { # state file, port, source: datagrams received
	awk -v p="$2" -v s="$3" '$1 == p && $2 == s { c = $3 } END { print c + 0 }' "$1"
}
settle() { sleep 0.3; }
xdp_prog() { # ns, iface: "xdp ID" or "xdpgeneric ID", or nothing
	ip -n "$NS-$1" link show dev "$2" 2>/dev/null |
		sed -n 's/.*prog\/\(xdp[a-z]*\) id \([0-9]*\).*/\1 \2/p' | head -1
}
xdp_links() { # ifindex: XDP links on it (bpftool link is global; the index is this run's)
	bpftool -j link show | python3 -c "import json,sys
print(sum(1 for l in json.load(sys.stdin) if l.get('type') == 'xdp' and l.get('ifindex') == $1))"
}

if [ "$(id -u)" -ne 0 ] || [ ! -x "$AGENT" ] || [ ! -x "$CALL" ]; then
	echo "1..0 # SKIP needs root, $AGENT and $CALL (make all)"
	exit 0
fi
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || exit 1

# =========================================================================================
section "(1) node RPC: rules set over RPC drop and pass real traffic"
for ns in cli srv; do ip netns add "$NS-$ns"; done
ip link add c0 index "$IDX" netns "$NS-cli" type veth peer name s0 index $((IDX + 1)) netns "$NS-srv"
SIDX=$((IDX + 1))
lab_addrs() { # (re)configure the c0/s0 pair
	ip -n "$NS-cli" addr add 192.0.2.1/24 dev c0
	for h in $(seq 10 19); do ip -n "$NS-cli" addr add 192.0.2.$h/24 dev c0; done
	ip -n "$NS-cli" addr add fd00::1/64 dev c0 nodad
	ip -n "$NS-srv" addr add 192.0.2.2/24 dev s0
	ip -n "$NS-srv" addr add fd00::2/64 dev s0 nodad
	ip -n "$NS-cli" link set dev c0 up
	ip -n "$NS-srv" link set dev s0 up
}
lab_addrs
S=$tmp/srv.state
serve srv "$S" || echo "# receiver did not start"
LOG=$tmp/agent.log
cfg "$tmp/trad.yaml" "interface: s0
xdp_mode: native"
check "the agent starts standalone on s0" agent_start srv "$tmp/trad.yaml" "$LOG"
expect_eq "it attached natively to s0" "$(xdp_prog srv s0 | cut -d' ' -f1)" xdp

r1=$(create_rule 'name: "udp-5001" dst_port: 5001 protocol: "udp" action: "drop" enabled: true')
check "Create (enabled) returns an id ($r1)" test -n "$r1"
r2=$(create_rule 'name: "off-5003" dst_port: 5003 protocol: "udp" action: "drop"')
check "Create without enabled: true is stored ($r2)" test -n "$r2"
send cli 192.0.2.10 192.0.2.2 5001 $N
send cli 192.0.2.10 192.0.2.2 5002 $N
send cli 192.0.2.10 192.0.2.2 5003 $N
send cli fd00::1 fd00::2 5001 $N
send cli fd00::1 fd00::2 5002 $N
settle
expect_eq "IPv4 UDP to the created drop rule's port: nothing received" "$(got "$S" 5001 192.0.2.10)" 0
expect_eq "IPv4 UDP to another port: all received" "$(got "$S" 5002 192.0.2.10)" $N
expect_eq "IPv6 UDP to the dropped port: nothing received" "$(got "$S" 5001 fd00::1)" 0
expect_eq "IPv6 UDP to another port: all received" "$(got "$S" 5002 fd00::1)" $N
expect_eq "a rule stored with enabled = false is not enforced" "$(got "$S" 5003 192.0.2.10)" $N
rpc "$RO" RuleService Get GetRuleRequest Rule "id: \"$r2\""
expect_eq "Get of the disabled rule (read-only key) shows it, enabled false" \
	"$(val dst_port)/$(val enabled false)" 5003/false

rpc "$ADMIN" RuleService Update UpdateRuleRequest RuleWriteReply \
	"id: \"$r2\" rule { enabled: true } update_mask: \"enabled\""
expect_eq "Update enabled = true (update_mask): OK" "$? $(val enabled)" "0 true"
rpc "$ADMIN" RuleService Update UpdateRuleRequest RuleWriteReply \
	"id: \"$r1\" rule { dst_port: 5004 } update_mask: \"dst_port\""
expect_eq "Update dst_port 5001 -> 5004 (update_mask): OK, the rest kept" \
	"$? $(val dst_port) $(val name) $(val enabled)" "0 5004 udp-5001 true"
send cli 192.0.2.11 192.0.2.2 5001 $N
send cli 192.0.2.11 192.0.2.2 5003 $N
send cli 192.0.2.11 192.0.2.2 5004 $N
settle
expect_eq "after Update the old port passes" "$(got "$S" 5001 192.0.2.11)" $N
expect_eq "after Update the new port is dropped" "$(got "$S" 5004 192.0.2.11)" 0
expect_eq "after Update (enabled) the stored rule drops" "$(got "$S" 5003 192.0.2.11)" 0
rpc "$ADMIN" RuleService Delete DeleteRequest DeleteReply "id: \"$r2\""
expect_eq "Delete: OK" $? 0
send cli 192.0.2.12 192.0.2.2 5003 $N
settle
expect_eq "after Delete its port passes again" "$(got "$S" 5003 192.0.2.12)" $N
rpc "$ADMIN" RuleService Get GetRuleRequest Rule "id: \"$r2\""
expect_eq "Get of the deleted rule: NOT_FOUND (5)" $? 5

rpc "$ADMIN" WhitelistService Create CreateWhitelistRequest WhitelistWriteReply \
	'entry { name: "trusted" src_ip: "192.0.2.13" }'
expect_eq "whitelist Create: OK" $? 0
wl=$(val id "")
send cli 192.0.2.13 192.0.2.2 5004 $N
send cli 192.0.2.14 192.0.2.2 5004 $N
settle
expect_eq "a whitelisted source passes a drop rule" "$(got "$S" 5004 192.0.2.13)" $N
expect_eq "another source is still dropped" "$(got "$S" 5004 192.0.2.14)" 0
rpc "$ADMIN" WhitelistService Delete DeleteRequest DeleteReply "id: \"$wl\""
expect_eq "whitelist Delete: OK" $? 0
send cli 192.0.2.13 192.0.2.2 5004 $N
settle
expect_eq "after whitelist Delete that source is dropped" "$(got "$S" 5004 192.0.2.13)" $N

BATCH=3000
awk -v n=$BATCH 'BEGIN { for (i = 0; i < n; i++)
	printf "rules { name: \"bulk-%04d\" src_port: %d dst_port: 5005 protocol: \"udp\" action: \"drop\" enabled: true comment: \"batch\" }\n", i, 20000 + i
	print "atomic: true" }' >"$tmp/batch.txt"
t0=$(ms)
rpc "$ADMIN" RuleService BatchCreate BatchCreateRulesRequest BatchReply "@$tmp/batch.txt"
rc=$?
expect_eq "BatchCreate $BATCH rules: OK, added $BATCH ($(($(ms) - t0)) ms)" "$rc $(val added)" "0 $BATCH"
for sp in 20000 21234 22999; do send cli 192.0.2.15 192.0.2.2 5005 $N 0 $sp; done
send cli 192.0.2.16 192.0.2.2 5005 $N 0 23000
settle
expect_eq "batch rules drop their flows (3 source ports of $BATCH)" "$(got "$S" 5005 192.0.2.15)" 0
expect_eq "a source port outside the batch passes" "$(got "$S" 5005 192.0.2.16)" $N
r3=$(create_rule 'name: "off-5009" dst_port: 5009 protocol: "udp" action: "drop" comment: "disabled"')
total=$((BATCH + 2))
expect_eq "the agent holds $total rules" "$(rule_count)" $total
rpc "$RO" RuleService List ListRulesRequest ListRulesResponse 'page: 2 limit: 500'
expect_eq "List page 2 limit 500: 500 rules, total $total, 7 pages" \
	"$(grep -c '^rules {' "$tmp/reply") $(val total) $(val pages)" "500 $total 7"
rpc "$RO" RuleService List ListRulesRequest ListRulesResponse 'page: 7 limit: 500'
expect_eq "List last page: the remaining $((total - 3000)) rules" \
	"$(grep -c '^rules {' "$tmp/reply")" $((total - 3000))
rpc "$RO" RuleService List ListRulesRequest ListRulesResponse 'search: "bulk-0042"'
expect_eq "List search bulk-0042: exactly that rule" \
	"$(grep -c '^rules {' "$tmp/reply") $(val name "") $(val src_port)" "1 bulk-0042 20042"
rpc "$RO" RuleService List ListRulesRequest ListRulesResponse 'enabled: "false"'
expect_eq "List enabled=false: only the disabled rule" \
	"$(grep -c '^rules {' "$tmp/reply") $(val id "")" "1 $r3"
rpc "$RO" RuleService List ListRulesRequest ListRulesResponse 'search: "udp-5001" action: "drop"'
expect_eq "List search + action filter: the updated rule" "$(val id "") $(val dst_port)" "$r1 5004"

rpc "$ADMIN" RuleService Get GetRuleRequest Rule 'id: "no-such-rule"'
expect_eq "Get of a missing id: NOT_FOUND (5)" $? 5
rpc "$ADMIN" RuleService Create CreateRuleRequest RuleWriteReply \
	'rule { dst_cidr: "10.0.0.1/8" action: "drop" enabled: true }'
rc=$?
check "a CIDR with host bits is INVALID_ARGUMENT (3) naming dst_cidr: $(cat "$tmp/status")" \
	test $rc -eq 3 -a -n "$(grep 'field=dst_cidr' "$tmp/status")"
printf 'rules { dst_port: 6001 action: "drop" enabled: true }\nrules { dst_port: 6002 action: "drop" enabled: true }\nrules { dst_port: 70000 action: "drop" enabled: true }\natomic: true\n' >"$tmp/badbatch.txt"
rpc "$ADMIN" RuleService BatchCreate BatchCreateRulesRequest BatchReply "@$tmp/badbatch.txt"
rc=$?
check "a batch with a bad item is INVALID_ARGUMENT naming item 2 and dst_port: $(cat "$tmp/status")" \
	test $rc -eq 3 -a -n "$(grep 'field=dst_port.*item 2' "$tmp/status")"
rpc "$RO" RuleService Create CreateRuleRequest RuleWriteReply \
	'rule { dst_port: 6003 action: "drop" enabled: true }'
expect_eq "a read-only key cannot Create: PERMISSION_DENIED (7)" $? 7
rpc "$RO" RuleService Delete DeleteRequest DeleteReply "id: \"$r1\""
expect_eq "a read-only key cannot Delete: PERMISSION_DENIED (7)" $? 7
rpc "$RO" WhitelistService Create CreateWhitelistRequest WhitelistWriteReply 'entry { src_ip: "192.0.2.99" }'
expect_eq "a read-only key cannot create a whitelist entry: PERMISSION_DENIED (7)" $? 7
rpc "" RuleService List ListRulesRequest ListRulesResponse ''
expect_eq "no key: UNAUTHENTICATED (16)" $? 16
rpc "not-a-key-of-this-agent-123" RuleService Create CreateRuleRequest RuleWriteReply \
	'rule { dst_port: 6004 action: "drop" enabled: true }'
expect_eq "an unknown key: UNAUTHENTICATED (16)" $? 16
expect_eq "refused writes changed nothing ($total rules)" "$(rule_count)" $total

# global counters and rates under traffic
rpc "$RO" StatsService Get GetStatsRequest StatsReply ""
rx0=$(val rx)
drop0=$(val dropped)
in_ns cli python3 "$TRAFFIC" stream 192.0.2.17 192.0.2.2 5004 0.002 2.6 "$tmp/stream0" &
sp=$!
pids="$pids $sp"
sleep 2.2
rpc "$RO" StatsService Get GetStatsRequest StatsReply ""
rx1=$(val rx)
drop1=$(val dropped)
rxpps=$(val rx_pps)
droppps=$(val dropped_pps)
wait $sp
expect_range "StatsService.Get: rx moved under traffic ($rx0 -> $rx1)" $((rx1 - rx0)) 300 100000
expect_range "StatsService.Get: dropped moved ($drop0 -> $drop1)" $((drop1 - drop0)) 300 100000
check "StatsService.Get: rx_pps ($rxpps) and dropped_pps ($droppps) are non-zero" \
	awk -v a="$rxpps" -v b="$droppps" 'BEGIN { exit !(a > 50 && b > 50) }'
rpc "$RO" AgentService GetStats GetStatsRequest NodeStats ""
expect_eq "AgentService.GetStats: attached, $total rules" "$(val attached false) $(val rules)" "true $total"

# per-rule counters exact with traffic from both CPUs
r4=$(create_rule 'name: "cpu-count" dst_port: 5007 protocol: "udp" action: "drop" enabled: true')
r5=$(create_rule 'name: "cpu-pass" dst_port: 5008 protocol: "udp" action: "pass" enabled: true')
K=5000
in_ns cli taskset -c 0 python3 "$TRAFFIC" udp 192.0.2.18 192.0.2.2 5007 $K >/dev/null &
c0p=$!
in_ns cli taskset -c 1 python3 "$TRAFFIC" udp 192.0.2.19 192.0.2.2 5007 $K >/dev/null &
c1p=$!
in_ns cli taskset -c 0 python3 "$TRAFFIC" udp 192.0.2.18 192.0.2.2 5008 1000 0.0005 >/dev/null &
c2p=$!
in_ns cli taskset -c 1 python3 "$TRAFFIC" udp 192.0.2.19 192.0.2.2 5008 1000 0.0005 >/dev/null &
c3p=$!
wait $c0p $c1p $c2p $c3p
sleep 1.3 # one sampling window
rpc "$RO" RuleService Get GetRuleRequest Rule "id: \"$r4\""
expect_eq "RuleService.Get: drop_count and match_count exactly $((2 * K)) (senders on CPU 0 and 1)" \
	"$(val drop_count) $(val match_count)" "$((2 * K)) $((2 * K))"
rpc "$RO" StatsService RuleStats RuleStatsRequest RuleStatsReply "ids: \"$r4\" ids: \"$r5\""
got_stats=$(awk '$1 == "drop_count:" || $1 == "match_count:" { printf "%s%s", s, $2; s = " " }' "$tmp/reply")
expect_eq "StatsService.RuleStats: drop rule $((2 * K))/$((2 * K)), pass rule 2000 matches" \
	"$got_stats" "$((2 * K)) $((2 * K)) 2000"
expect_eq "the receiver got none of the dropped flow" \
	"$(($(got "$S" 5007 192.0.2.18) + $(got "$S" 5007 192.0.2.19)))" 0
expect_eq "and all 2000 of the passed flow" \
	"$(($(got "$S" 5008 192.0.2.18) + $(got "$S" 5008 192.0.2.19)))" 2000
san_check "(1)" "$LOG"
echo "1..$n"
