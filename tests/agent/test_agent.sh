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
SUPERVISE=$PWD/scripts/supervise.sh # the lab's service manager (restarts on status 75)
CALL=$PWD/$BUILD/bin/xdrop-call
TRAFFIC=$PWD/tests/lib/traffic.py
PROTO_DIR=$PWD/proto
ID=$$
PIN=${LAB_PIN:-/sys/fs/bpf/xdrop-test-$ID} # LAB_PIN, LAB_NS: names of your own
IDX=$((200000 + (ID % 100000) * 8)) # c0, s0, then c0 and s0 re-created, fb*, x*
ADMIN=admin-key-$ID-0123456789
RO=read-key-$ID-0123456789
N=20 # datagrams per probe
MARK=5010 # marker port: open, never filtered (lab_rx_sync)
tmp=$(mktemp -d)
agent_pid=""
. tests/lib/tap.sh
. tests/lib/netns.sh
lab_init "${LAB_NS:-xda$ID}"
keep_logs() { # a failed run keeps the agents' logs for a post-mortem
	if [ "$FAILED" -gt 0 ] || [ -n "${KEEP_LOGS:-}" ]; then
		mkdir -p "/tmp/xdrop-agent-logs-$ID" && cp "$tmp"/*.log "/tmp/xdrop-agent-logs-$ID/"
		echo "# logs kept in /tmp/xdrop-agent-logs-$ID"
	fi
	rm -rf "$PIN" "$tmp"
}
lab_at_exit keep_logs
start=$(date +%s%N)
ms() { echo $((($(date +%s%N) - start) / 1000000)); }
section() { echo "# $1 ($(ms) ms)"; }


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
	awk -v k="$1:" -v d="${2-0}" '$1 == k { sub(/^ *[a-z_]+: /, ""); gsub(/"/, ""); print; f = 1
		exit } END { if (!f) print d }' "$tmp/reply"
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
	# nsenter execs the agent, so $! is the agent itself; with supervised=1, $! is
	# scripts/supervise.sh, which restarts a wedged agent and passes SIGTERM on
	nsenter --net="/run/netns/$NS-$ns" ${supervised:+"$SUPERVISE" --} "$AGENT" --config "$conf" >>"$log" 2>&1 &
	agent_pid=$!
	agent_log=$log
	lab_track "$agent_pid"
	wait_until 30 agent_started_or_gone "$log" "${before:-0}"
	agent_started "$log" "${before:-0}"
}
agent_started() { [ "$(grep -c "xdrop-agent running" "$1" 2>/dev/null)" -gt "$2" ]; }
agent_started_or_gone() { agent_started "$@" || ! kill -0 "$agent_pid" 2>/dev/null; }
agent_stop() { # SIGTERM; returns the agent's exit code (and shows its log's end if not 0)
	local rc
	kill -TERM "$agent_pid" 2>/dev/null
	wait "$agent_pid"
	rc=$?
	lab_forget "$agent_pid"
	[ $rc = 0 ] || tail -25 "$agent_log" | sed 's/^/# agent log: /'
	return $rc
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
serve() { # ns, state file: UDP 5001-5009 and the marker port for at most 170 s
	lab_serve "$1" "$2" 5001,5002,5003,5004,5005,5006,5007,5008,5009,$MARK 170
}
send() { in_ns "$1" timeout 30 python3 "$TRAFFIC" udp "${@:2}" >/dev/null; }
got() { lab_got "$@"; } # state file, port, source: datagrams received
# Every datagram sent before is through the data plane and counted: the receiver counted a
# marker sent after them on the same path (instead of sleeping "long enough").
settle() { lab_rx_sync cli 192.0.2.1 192.0.2.2 $MARK "$S"; }
settle_ff() {
	lab_rx_sync fcli 198.51.100.1 198.51.100.2 $MARK "$F" &&
		lab_rx_sync fsrv 198.51.100.2 198.51.100.1 $MARK "$FC"
}
xdp_prog() { # ns, iface: "xdp ID" or "xdpgeneric ID", or nothing
	ip -n "$NS-$1" link show dev "$2" 2>/dev/null |
		sed -n 's/.*prog\/\(xdp[a-z]*\) id \([0-9]*\).*/\1 \2/p' | head -1
}
xdp_links() { # ifindex: the ids of the XDP links on it (links are global; the index is ours)
	python3 "$TRAFFIC" xdplinks "$1"
}
bg_in() { lab_bg "$@"; } # ns, command...: in the background; $! is the command itself

if [ "$(id -u)" -ne 0 ] || [ ! -x "$AGENT" ] || [ ! -x "$CALL" ]; then
	echo "1..0 # SKIP needs root, $AGENT and $CALL (make all)"
	exit 0
fi
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || exit 1

# =========================================================================================
section "(1) node RPC: rules set over RPC drop and pass real traffic"
lab_ns cli srv
lab_veth cli c0 srv s0 "$IDX" $((IDX + 1))
SIDX=$((IDX + 1))
lab_addrs() { # (re)configure the c0/s0 pair
	lab_addr cli c0 192.0.2.1/24 $(for h in $(seq 10 29); do echo 192.0.2.$h/24; done) fd00::1/64
	lab_addr srv s0 192.0.2.2/24 fd00::2/64
	lab_up cli c0
	lab_up srv s0
}
lab_addrs
ip -n "$NS-srv" link set dev lo up
S=$tmp/srv.state
serve srv "$S" || echo "# receiver did not start"
LOG=$tmp/agent.log
cfg "$tmp/trad.yaml" "interface: s0
xdp_mode: native" "top_talkers: {sample_every: 1}"
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
expect_got "IPv4 UDP to the created drop rule's port: nothing received" "$S" 5001 192.0.2.10 0
expect_got "IPv4 UDP to another port: all received" "$S" 5002 192.0.2.10 $N
expect_got "IPv6 UDP to the dropped port: nothing received" "$S" 5001 fd00::1 0
expect_got "IPv6 UDP to another port: all received" "$S" 5002 fd00::1 $N
expect_got "a rule stored with enabled = false is not enforced" "$S" 5003 192.0.2.10 $N
# top talkers sampled in the kernel (every packet here): the dropped sources, exactly
talker_packets() { # key: its packets among the dropped sources of the last 60 s
	rpc "$RO" AgentService TopTalkers TopTalkersRequest TopTalkersReply \
		'by: "src" verdict: "dropped" window_s: 60' &&
		awk -v k="key: \"$1\"" '$0 ~ k { f = 1 } f && $1 == "packets:" { print $2; exit }' \
			"$tmp/reply"
}
talkers_counted() { [ "$(talker_packets 192.0.2.10)" = $N ] && [ "$(talker_packets fd00::1)" = $N ]; }
wait_until 20 talkers_counted
expect_eq "TopTalkers: the dropped sources with their packets, at sample_rate 1" \
	"$(talker_packets 192.0.2.10) $(talker_packets fd00::1) $(val sample_rate)" "$N $N 1"
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
expect_got "after Update the old port passes" "$S" 5001 192.0.2.11 $N
expect_got "after Update the new port is dropped" "$S" 5004 192.0.2.11 0
expect_got "after Update (enabled) the stored rule drops" "$S" 5003 192.0.2.11 0
rpc "$ADMIN" RuleService Delete DeleteRequest DeleteReply "id: \"$r2\""
expect_eq "Delete: OK" $? 0
send cli 192.0.2.12 192.0.2.2 5003 $N
settle
expect_got "after Delete its port passes again" "$S" 5003 192.0.2.12 $N
rpc "$ADMIN" RuleService Get GetRuleRequest Rule "id: \"$r2\""
expect_eq "Get of the deleted rule: NOT_FOUND (5)" $? 5

rpc "$ADMIN" WhitelistService Create CreateWhitelistRequest WhitelistWriteReply \
	'entry { name: "trusted" src_ip: "192.0.2.13" }'
expect_eq "whitelist Create: OK" $? 0
wl=$(val id "")
send cli 192.0.2.13 192.0.2.2 5004 $N
send cli 192.0.2.14 192.0.2.2 5004 $N
settle
expect_got "a whitelisted source passes a drop rule" "$S" 5004 192.0.2.13 $N
expect_got "another source is still dropped" "$S" 5004 192.0.2.14 0
rpc "$ADMIN" WhitelistService Delete DeleteRequest DeleteReply "id: \"$wl\""
expect_eq "whitelist Delete: OK" $? 0
send cli 192.0.2.13 192.0.2.2 5004 $N
settle
expect_got "after whitelist Delete that source is dropped" "$S" 5004 192.0.2.13 $N

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
expect_got "batch rules drop their flows (3 source ports of $BATCH)" "$S" 5005 192.0.2.15 0
expect_got "a source port outside the batch passes" "$S" 5005 192.0.2.16 $N
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
printf 'rules { dst_port: 6004 action: "drop" enabled: true }\nstage { stage: "s1" total: 1 commit: true }\n' >"$tmp/staged.txt"
rpc "$ADMIN" RuleService BatchCreate BatchCreateRulesRequest BatchReply "@$tmp/staged.txt"
expect_eq "a staged chunk (the controller's staged import) is UNIMPLEMENTED (12) on a node" $? 12
expect_eq "... and stores nothing" "$(rule_count)" $total
# xdropctl against a node: a file larger than --batch-size goes as the documented sequence
# of atomic batches (the node refuses the staged chunk first)
awk 'BEGIN { print "dst_port,protocol,src_port,action,name"
	for (i = 0; i < 3000; i++) printf "5006,udp,%d,drop,seq-%d\n", 30000 + i, i }' >"$tmp/seq.csv"
"$PWD/$BUILD/bin/xdropctl" --agent "$URL" -k "$ADMIN" -q --batch-size 2000 rules import \
	"$tmp/seq.csv" 2>"$tmp/seq.err"
expect_eq "xdropctl rules import of 3,000 rows in batches of 2,000 into a node: all stored ($(head -c 200 "$tmp/seq.err"))" \
	"$(rule_count)" $((total + 3000))
"$PWD/$BUILD/bin/xdropctl" --agent "$URL" -k "$ADMIN" -q rules del --search seq- --yes
expect_eq "... and deleted again in one batch" "$(rule_count)" $total
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
# top talkers: a read, on AgentService and (for the gateway in node mode) StatsService
rpc "$RO" AgentService TopTalkers TopTalkersRequest TopTalkersReply 'by: "src_prefix" window_s: 60'
expect_eq "TopTalkers (read-only key): OK, echoing by and window" "$? $(val by) $(val window_s)" \
	"0 src_prefix 60"
rpc "$RO" StatsService TopTalkers TopTalkersRequest TopTalkersReply 'window_s: 30'
expect_eq "StatsService.TopTalkers window_s 30: INVALID_ARGUMENT (3) naming window_s" \
	"$? $(cut -d' ' -f2 "$tmp/status")" "3 field=window_s:"
rpc "$RO" StatsService TopTalkers TopTalkersRequest TopTalkersReply 'node_id: "not-this-one"'
expect_eq "StatsService.TopTalkers for another node: NOT_FOUND (5)" $? 5
expect_eq "refused writes changed nothing ($total rules)" "$(rule_count)" $total

# global counters and rates under traffic
rpc "$RO" StatsService Get GetStatsRequest StatsReply ""
rx0=$(val rx)
drop0=$(val dropped)
bg_in cli python3 "$TRAFFIC" stream 192.0.2.17 192.0.2.2 5004 0.002 30 "$tmp/stream0"
sp=$!
t0=$(ms)
stats_window() { # the figures are sampled once a second: a window under load
	rpc "$RO" StatsService Get GetStatsRequest StatsReply ""
	rx1=$(val rx)
	drop1=$(val dropped)
	rxpps=$(val rx_pps)
	droppps=$(val dropped_pps)
	[ $((drop1 - drop0)) -ge 200 ] && awk -v a="$rxpps" -v b="$droppps" 'BEGIN { exit !(a > 50 && b > 50) }'
}
wait_until 30 stats_window
lab_stop $sp
expect_range "StatsService.Get: rx moved under traffic ($rx0 -> $rx1 in $(($(ms) - t0)) ms)" \
	$((rx1 - rx0)) 200 100000
expect_range "StatsService.Get: dropped moved ($drop0 -> $drop1)" $((drop1 - drop0)) 200 100000
check "StatsService.Get: rx_pps ($rxpps) and dropped_pps ($droppps) are non-zero" \
	awk -v a="$rxpps" -v b="$droppps" 'BEGIN { exit !(a > 50 && b > 50) }'
rpc "$RO" AgentService GetStats GetStatsRequest NodeStats ""
expect_eq "AgentService.GetStats: attached, $total rules" "$(val attached false) $(val rules)" "true $total"

# per-rule counters exact with traffic from both CPUs
r4=$(create_rule 'name: "cpu-count" dst_port: 5007 protocol: "udp" action: "drop" enabled: true')
r5=$(create_rule 'name: "cpu-pass" dst_port: 5008 protocol: "udp" action: "pass" enabled: true')
K=5000
bg_in cli taskset -c 0 python3 "$TRAFFIC" udp 192.0.2.18 192.0.2.2 5007 $K >/dev/null
c0p=$!
bg_in cli taskset -c 1 python3 "$TRAFFIC" udp 192.0.2.19 192.0.2.2 5007 $K >/dev/null
c1p=$!
bg_in cli taskset -c 0 python3 "$TRAFFIC" udp 192.0.2.18 192.0.2.2 5008 1000 0.0005 >/dev/null
c2p=$!
bg_in cli taskset -c 1 python3 "$TRAFFIC" udp 192.0.2.19 192.0.2.2 5008 1000 0.0005 >/dev/null
c3p=$!
wait $c0p $c1p $c2p $c3p
lab_forget $c0p $c1p $c2p $c3p
settle
# the agent samples rule counters once a second: wait for the sample that has them all
rule_stats() {
	rpc "$RO" StatsService RuleStats RuleStatsRequest RuleStatsReply "ids: \"$r4\" ids: \"$r5\""
	awk '$1 == "drop_count:" || $1 == "match_count:" { printf "%s%s", s, $2; s = " " }' "$tmp/reply"
}
rule_stats_are() { [ "$(rule_stats)" = "$1" ]; }
wait_until 20 rule_stats_are "$((2 * K)) $((2 * K)) 2000"
rpc "$RO" RuleService Get GetRuleRequest Rule "id: \"$r4\""
expect_eq "RuleService.Get: drop_count and match_count exactly $((2 * K)) (senders on CPU 0 and 1)" \
	"$(val drop_count) $(val match_count)" "$((2 * K)) $((2 * K))"
got_stats=$(rule_stats)
expect_eq "StatsService.RuleStats: drop rule $((2 * K))/$((2 * K)), pass rule 2000 matches" \
	"$got_stats" "$((2 * K)) $((2 * K)) 2000"
expect_eq "the receiver got none of the dropped flow" \
	"$(($(got "$S" 5007 192.0.2.18) + $(got "$S" 5007 192.0.2.19)))" 0
passed_2000() { [ $(($(got "$S" 5008 192.0.2.18) + $(got "$S" 5008 192.0.2.19))) -ge 2000 ]; }
wait_until 10 passed_2000
expect_eq "and all 2000 of the passed flow" \
	"$(($(got "$S" 5008 192.0.2.18) + $(got "$S" 5008 192.0.2.19)))" 2000
# bytes: every datagram is a 74-byte frame (Ethernet 14 + IPv4 20 + UDP 8 + 32 of payload)
rule_bytes() {
	rpc "$RO" StatsService RuleStats RuleStatsRequest RuleStatsReply "ids: \"$r4\" ids: \"$r5\""
	awk '$1 == "match_bytes:" || $1 == "drop_bytes:" { printf "%s%s", s, $2; s = " " }' "$tmp/reply"
}
expect_eq "StatsService.RuleStats: match and drop bytes exactly 74 per frame" "$(rule_bytes)" \
	"$((2 * K * 74)) $((2 * K * 74)) $((2000 * 74))"
rpc "$RO" StatsService RuleStats RuleStatsRequest RuleStatsReply ""
expect_eq "RuleStats of every entry lists the pass rule (it never drops) as a rule" \
	"$(awk -v id="\"$r5\"" '$1 == "id:" && $2 == id { f = 1 } f && $1 == "kind:" { print $2; exit }' \
		"$tmp/reply")" '"rule"'
# whitelist hits: an entry over the drop rule's port
rpc "$ADMIN" WhitelistService Create CreateWhitelistRequest WhitelistWriteReply \
	'entry { name: "counted" src_ip: "192.0.2.20" }'
wl2=$(val id "")
send cli 192.0.2.20 192.0.2.2 5007 $N
settle
expect_got "the whitelisted source passes the drop rule" "$S" 5007 192.0.2.20 $N
wl_stats() {
	rpc "$RO" WhitelistService Get GetWhitelistRequest WhitelistEntry "id: \"$wl2\""
	echo "$(val match_count) $(val match_bytes)"
}
wl_stats_are() { [ "$(wl_stats)" = "$1" ]; }
wait_until 20 wl_stats_are "$N $((N * 74))"
expect_eq "WhitelistService.Get: stats.match_count and match_bytes exact" "$(wl_stats)" \
	"$N $((N * 74))"
rpc "$ADMIN" WhitelistService Delete DeleteRequest DeleteReply "id: \"$wl2\""
san_check "(1)" "$LOG"

# =========================================================================================
section "(2) kill -9 under traffic, 20 cycles"
# r1 drops UDP to 5004 (the probe flow); nothing matches 5006 (the passed flow)
# The journal holds every change since the last state snapshot. Among them: a rule on 5002
# created, deleted and created again (the set ends with 5002 dropped), and the rule on 5003
# deleted (the set ends with 5003 passed): a restart that replayed history into the data
# plane would open or close these ports for a moment.
rx=$(create_rule 'name: "again-5002" dst_port: 5002 protocol: "udp" action: "drop" enabled: true')
rpc "$ADMIN" RuleService Delete DeleteRequest DeleteReply "id: \"$rx\""
r6=$(create_rule 'name: "again-5002" dst_port: 5002 protocol: "udp" action: "drop" enabled: true')
check "a rule on 5002 created, deleted and created again ($r6)" test -n "$r6"
rules_before=$(rule_count)
link_id=$(xdp_links "$SIDX")
check "one XDP link on s0 before the cycles ($link_id)" test -n "$link_id" -a "${link_id// /}" = "$link_id"
python3 "$TRAFFIC" links "$SIDX" "$tmp/links" 120 &
lp=$!
bg_in cli python3 "$TRAFFIC" stream 192.0.2.20 192.0.2.2 5004 0.001 120 "$tmp/probe.sent"
pp=$!
bg_in cli python3 "$TRAFFIC" stream 192.0.2.20 192.0.2.2 5002 0.001 120 "$tmp/probe2.sent"
pp2=$!
bg_in cli python3 "$TRAFFIC" stream 192.0.2.20 192.0.2.2 5006 0.002 120 "$tmp/flow.sent"
fp=$!
bg_in cli python3 "$TRAFFIC" stream 192.0.2.20 192.0.2.2 5003 0.002 120 "$tmp/flow2.sent"
fp2=$!
lab_track $lp
# Kill points by progress, not by clock: each kill waits until the passed flow (500/s) was
# counted 50 more times, and so does the next start (traffic while the agent is dead).
flowed() { [ "$(got "$S" 5006 192.0.2.20)" -ge "$1" ]; }
more_flow() { wait_until 30 flowed $(($(got "$S" 5006 192.0.2.20) + ${1:-50})); }
more_flow
started=0 adopted=0 same_count=0 bad=""
t0=$(ms)
for i in $(seq 20); do
	kill -9 "$agent_pid"
	wait "$agent_pid" 2>/dev/null
	lab_forget "$agent_pid"
	more_flow # dead, under traffic
	LOGK=$tmp/agent.kill$i.log
	agent_start srv "$tmp/trad.yaml" "$LOGK" && started=$((started + 1))
	if grep -q "adopted pinned state in $PIN/trad: " "$LOGK" &&
		grep -q "adopted pinned XDP link on s0" "$LOGK"; then
		adopted=$((adopted + 1))
	else
		bad="$bad cycle $i: $(grep -E 'adopt|attach' "$LOGK" | tr '\n' ' ')"
	fi
	c=$(rule_count)
	if [ "$c" = "$rules_before" ]; then same_count=$((same_count + 1)); else
		bad="$bad cycle $i: $c rules"
	fi
done
cycle_ms=$(($(ms) - t0))
more_flow
lab_stop $pp $pp2 $fp $fp2 $lp
settle
expect_eq "20 kill -9 cycles: every restart came up ($cycle_ms ms)" $started 20
expect_eq "every restart logged that it adopted the pinned state and link" $adopted 20
expect_eq "the rule count after each restart equals the one before ($rules_before)" \
	$same_count 20
[ -n "$bad" ] && echo "# $bad"
for f in 5004:probe 5002:probe2; do
	sent=$(cat "$tmp/${f#*:}.sent" 2>/dev/null)
	expect_range "the probe flow to ${f%:*} ran throughout (sent $sent)" "${sent:-0}" 2000 1000000
	expect_eq "not one probe datagram to ${f%:*} leaked while the agent was dead or restarting" \
		"$(got "$S" "${f%:*}" 192.0.2.20)" 0
done
for f in 5006:flow 5003:flow2; do
	sent=$(cat "$tmp/${f#*:}.sent" 2>/dev/null)
	expect_got "the passed flow to ${f%:*} kept flowing: every datagram arrived (sent $sent)" \
		"$S" "${f%:*}" 192.0.2.20 "${sent:-none}"
done
samples=$(wc -l <"$tmp/links")
expect_eq "exactly one XDP link on s0, the same one, in all $samples samples (link ids)" \
	"$(sort -u "$tmp/links" | tr '\n' ' ')" "$link_id "
expect_range "(samples taken through the cycles)" "$samples" 100 100000
san_check "(2)" "$tmp"/agent.kill*.log

# =========================================================================================
section "(3) restart with the controller down, (4) expires_at enforced by the agent"
now=$(date +%s%N)
rexp=$(create_rule "name: \"expiring\" dst_port: 5003 protocol: \"udp\" action: \"drop\" enabled: true expires_at: $((now + 6000000000))")
check "a rule expiring in 6 s is created ($rexp)" test -n "$rexp"
rules_before=$(rule_count)
agent_stop
expect_eq "SIGTERM: the agent exits 0" $? 0
check "SIGTERM left the program on s0" test -n "$(xdp_prog srv s0)"
send cli 192.0.2.21 192.0.2.2 5004 $N
send cli 192.0.2.21 192.0.2.2 5006 $N
settle
expect_got "with the agent stopped, the drop rule still drops" "$S" 5004 192.0.2.21 0
expect_got "and other traffic passes" "$S" 5006 192.0.2.21 $N
cfg "$tmp/managed.yaml" "interface: s0
node:
  id: node-$ID
  key: node-key-$ID-0123456789
controller:
  rpc: tcp://127.0.0.1:9
  push: tcp://127.0.0.1:13
  health: tcp://127.0.0.1:17
beacon_interval: 200ms"
LOG3=$tmp/agent.managed.log
check "the agent starts with its controller unreachable" agent_start srv "$tmp/managed.yaml" "$LOG3"
check "it says it is managed by a controller" grep -q "managed by a controller" "$LOG3"
expect_eq "it kept its persisted rules ($rules_before)" "$(rule_count)" "$rules_before"
send cli 192.0.2.22 192.0.2.2 5004 $N
send cli 192.0.2.22 192.0.2.2 5003 $N
sent_ns=$(date +%s%N)
send cli 192.0.2.22 192.0.2.2 5006 $N
settle
expect_got "it keeps enforcing the persisted drop rule" "$S" 5004 192.0.2.22 0
# measured against the observed send time: datagrams sent after expires_at prove nothing
if [ "$sent_ns" -lt $((now + 6000000000)) ]; then
	expect_got "and the rule that has not expired yet" "$S" 5003 192.0.2.22 0
else
	ok "and the rule that has not expired yet # SKIP sent $(((sent_ns - now) / 1000000)) ms after creation, past expires_at (a slow machine)"
fi
expect_got "other traffic passes" "$S" 5006 192.0.2.22 $N
rpc "$ADMIN" RuleService Create CreateRuleRequest RuleWriteReply \
	'rule { dst_port: 6005 action: "drop" enabled: true }'
rc=$?
check "a managed agent refuses Create: FAILED_PRECONDITION (9): $(cat "$tmp/status")" \
	test $rc -eq 9 -a -n "$(grep -i controller "$tmp/status")"
rpc "$ADMIN" RuleService Delete DeleteRequest DeleteReply "id: \"$r1\""
expect_eq "... Delete: FAILED_PRECONDITION" $? 9
rpc "$ADMIN" RuleService Update UpdateRuleRequest RuleWriteReply \
	"id: \"$r1\" rule { enabled: false } update_mask: \"enabled\""
expect_eq "... Update: FAILED_PRECONDITION" $? 9
rpc "$ADMIN" RuleService BatchCreate BatchCreateRulesRequest BatchReply "@$tmp/badbatch.txt"
expect_eq "... BatchCreate: FAILED_PRECONDITION" $? 9
rpc "$ADMIN" WhitelistService Create CreateWhitelistRequest WhitelistWriteReply \
	'entry { src_ip: "192.0.2.22" }'
expect_eq "... whitelist Create: FAILED_PRECONDITION" $? 9
rpc "$RO" RuleService Get GetRuleRequest Rule "id: \"$r1\""
expect_eq "reads still work (Get with the read-only key)" "$? $(val dst_port)" "0 5004"
# the rule expires 6 s after its creation (the time is what is tested: wait until then),
# and the agent removes it at its next check (once a second): wait for its word
while [ $(($(date +%s%N) - now)) -lt 6000000000 ]; do sleep 0.1; done
wait_until 20 grep -q "expired 1 rule(s) removed from the data plane" "$LOG3"
send cli 192.0.2.23 192.0.2.2 5003 $N
send cli 192.0.2.23 192.0.2.2 5004 $N
settle
expect_got "after expires_at the agent stopped enforcing it (controller down)" \
	"$S" 5003 192.0.2.23 $N
expect_got "the other persisted rule still drops" "$S" 5004 192.0.2.23 0
check "the agent logged the expiry" grep -q "expired 1 rule(s) removed from the data plane" "$LOG3"
rpc "$RO" RuleService Get GetRuleRequest Rule "id: \"$rexp\""
expect_eq "the expired rule stays stored until the controller deletes it" "$? $(val name "")" \
	"0 expiring"

# =========================================================================================
section "(5) interface removed and re-added"
ip -n "$NS-srv" link del dev s0
t0=$(ms)
attached_is() { # true|false: what AgentService.GetStats reports (left in $attached)
	rpc "$RO" AgentService GetStats GetStatsRequest NodeStats ""
	attached=$(val attached false)
	[ "$attached" = "$1" ]
}
wait_until 20 attached_is false
aerr=$(val error "")
expect_eq "AgentService.GetStats reports s0 detached within $(($(ms) - t0)) ms (error: $aerr)" \
	"$attached" false
check "with an error" test -n "$aerr"
rpc "$RO" StatsService Get GetStatsRequest StatsReply ""
expect_eq "StatsService.Get reports it too" "$(val attached false)" false
check "the agent logged it" grep -q "interface gone" "$LOG3"
SIDX2=$((IDX + 3))
lab_veth cli c0 srv s0 $((IDX + 2)) "$SIDX2"
lab_addrs
t0=$(ms)
wait_until 20 attached_is true
expect_eq "re-created s0: attached again within $(($(ms) - t0)) ms" "$attached" true
check "the agent logged it" grep -q "interface back" "$LOG3"
links=$(xdp_links "$SIDX2")
check "exactly one XDP link on the new s0 ($links)" test -n "$links" -a "${links// /}" = "$links"
send cli 192.0.2.24 192.0.2.2 5004 $N
send cli 192.0.2.24 192.0.2.2 5006 $N
settle
expect_got "the re-attached program enforces the rules again" "$S" 5004 192.0.2.24 0
expect_got "and passes the rest" "$S" 5006 192.0.2.24 $N
agent_stop
expect_eq "SIGTERM: the managed agent exits 0" $? 0
san_check "(3)-(5)" "$LOG3"
in_ns srv "$AGENT" --config "$tmp/trad.yaml" --detach >"$tmp/detach.log" 2>&1
expect_eq "xdrop-agent --detach exits 0" $? 0
expect_eq "--detach removed the program from s0" "$(xdp_prog srv s0)" ""
check "--detach removed the pins" test ! -e "$PIN/trad"

# =========================================================================================
section "(6) a foreign XDP program is refused unless force: true"
lab_ns frn
ip -n "$NS-frn" link add name x0 index $((IDX + 4)) type veth peer name x1 index $((IDX + 5))
lab_up frn x0 x1
lab_addr frn x0 192.0.2.2/24
printf '%s\n' '#include <linux/bpf.h>' \
	'__attribute__((section("xdp"), used)) int foreign_pass(struct xdp_md *c) { return XDP_PASS; }' \
	'char _license[] __attribute__((section("license"), used)) = "GPL";' >"$tmp/foreign.c"
clang -O2 -target bpf -I"/usr/include/$(uname -m)-linux-gnu" -c "$tmp/foreign.c" -o "$tmp/foreign.o" &&
	ip -n "$NS-frn" link set dev x0 xdpdrv obj "$tmp/foreign.o" sec xdp
foreign=$(xdp_prog frn x0)
fid=${foreign#* }
PINSUB=frn cfg "$tmp/frn.yaml" "interface: x0"
in_ns frn timeout 20 "$AGENT" --config "$tmp/frn.yaml" >"$tmp/agent.frn.log" 2>&1
rc=$?
line=$(grep -i "foreign" "$tmp/agent.frn.log" | head -1)
check "the agent refuses to start over a foreign program ($foreign): exit $rc, '$line'" \
	test -n "$fid" -a $rc -ne 0 -a $rc -ne 124 -a -n "$(echo "$line" | grep "x0.*program id $fid")"
expect_eq "the foreign program is left in place" "$(xdp_prog frn x0)" "$foreign"
check "and no pinned link was left behind" test ! -e "$PIN/frn/link_x0"
PINSUB=frn cfg "$tmp/frnf.yaml" "interface: x0
force: true"
check "with force: true the agent starts" agent_start frn "$tmp/frnf.yaml" "$tmp/agent.frnf.log"
links=$(xdp_links $((IDX + 4)))
ours=$(xdp_prog frn x0)
check "it replaced the foreign program ($foreign -> $ours) with its own link ($links)" \
	test -n "$links" -a "${links// /}" = "$links" -a -n "$ours" -a "$ours" != "$foreign"
check "and logged the replacement" grep -q "removed foreign XDP program from x0" "$tmp/agent.frnf.log"
agent_stop
expect_eq "SIGTERM: exit 0" $? 0
in_ns frn "$AGENT" --config "$tmp/frnf.yaml" --detach >>"$tmp/agent.frnf.log" 2>&1
expect_eq "--detach leaves x0 without a program" "$?:$(xdp_prog frn x0)" "0:"
san_check "(6)" "$tmp/agent.frn.log" "$tmp/agent.frnf.log"

# =========================================================================================
section "(7) fast-forward bridging with the agent"
lab_ff_topology # GRO on, checksum offload off at both ends (see tests/lib/netns.sh)
F=$tmp/fsrv.state
FC=$tmp/fcli.state
serve fsrv "$F" || echo "# receiver did not start"
serve fcli "$FC" || echo "# receiver did not start"
PINSUB=ff cfg "$tmp/ff.yaml" "mode: fast_forward
fast_forward:
  inbound: fb1
  outbound: fb2
  filter_on: inbound"
check "the agent starts in fast_forward mode (fb1 -> fb2, filter_on inbound)" \
	agent_start brg "$tmp/ff.yaml" "$tmp/agent.ff.log"
rpc "$RO" AgentService GetStats GetStatsRequest NodeStats ""
expect_eq "GetStats: fast_forward, inbound, attached" \
	"$(val mode "") $(val direction "") $(val attached false)" "fast_forward inbound true"
rf=$(create_rule 'name: "ff-5001" dst_port: 5001 protocol: "udp" action: "drop" enabled: true')
check "a drop rule is created over RPC ($rf)" test -n "$rf"
check "IPv4 ping crosses the bridge (ARP through it)" \
	bash -c "nsenter --net=/run/netns/$NS-fcli ping -q -c 4 -i 0.2 -W 1 198.51.100.2 | grep -Eq ' [234] received'"
check "IPv6 ping crosses the bridge" \
	bash -c "nsenter --net=/run/netns/$NS-fcli ping -q -c 4 -i 0.2 -W 1 fd00:1::2 | grep -Eq ' [234] received'"
send fcli 198.51.100.1 198.51.100.2 5001 $N
send fcli 198.51.100.1 198.51.100.2 5002 $N
send fcli fd00:1::1 fd00:1::2 5001 $N
send fcli fd00:1::1 fd00:1::2 5002 $N
send fsrv 198.51.100.2 198.51.100.1 5001 $N
settle_ff
expect_got "bridged IPv4 UDP to the dropped port: nothing received" "$F" 5001 198.51.100.1 0
expect_got "bridged IPv4 UDP to another port: all received" "$F" 5002 198.51.100.1 $N
expect_got "bridged IPv6 UDP to the dropped port: nothing received" "$F" 5001 fd00:1::1 0
expect_got "bridged IPv6 UDP to another port: all received" "$F" 5002 fd00:1::1 $N
expect_got "filter_on inbound: the same flow from the other side crosses" \
	"$FC" 5001 198.51.100.2 $N
drop_count_is() { [ "$(drop_count "$1")" = "$2" ]; }
wait_until 20 drop_count_is "$rf" $((2 * N)) # sampled once a second
expect_eq "the rule counted exactly the dropped datagrams" "$(drop_count "$rf")" $((2 * N))

# A snapshot staged chunk by chunk while a change is applied (a large set takes seconds
# to fetch) is older than what packets see once complete: it is dropped, not installed
rpc "$RO" AgentService Info InfoRequest InfoReply ""
R=$(val revision 0) sw0=$(val switches) gp0=$(val grace_periods)
rpc "$ADMIN" AgentService ApplySnapshotChunk SnapshotChunk ApplyReply \
	"revision: $R chunk_index: 0 chunk_count: 2 rules { id: \"snap-a\" name: \"snap-a\" dst_port: 5077 protocol: \"udp\" action: \"drop\" enabled: true }"
rd=$(create_rule 'name: "during-snap" dst_port: 5078 protocol: "udp" action: "drop" enabled: true')
rpc "$ADMIN" AgentService ApplySnapshotChunk SnapshotChunk ApplyReply \
	"revision: $R chunk_index: 1 chunk_count: 2"
expect_eq "a snapshot of revision $R completed after revision $((R + 1)) was applied: dropped, revision kept" \
	"$? $(val revision 0)" "0 $((R + 1))"
rpc "$RO" RuleService Get GetRuleRequest Rule "id: \"$rd\""
expect_eq "... the change applied meanwhile is still there" "$? $(val dst_port)" "0 5078"
rpc "$RO" RuleService Get GetRuleRequest Rule 'id: "snap-a"'
check "... and the stale snapshot's rule is not" test $? -ne 0
check "... and the agent says why" grep -q "snapshot of revision $R dropped" "$tmp/agent.ff.log"
rpc "$RO" AgentService Info InfoRequest InfoReply ""
expect_eq "Info counts the write's data-plane switch and grace period (from $sw0 and $gp0)" \
	"$(($(val switches) - sw0)) $(($(val grace_periods) - gp0))" "1 1"
agent_stop
expect_eq "SIGTERM: exit 0" $? 0

# A wedged nng (lib/watchdog.h): the fault hook makes the first socket close hang, as
# nng 1.5 has been seen to after SIGSTOP/SIGCONT (once: it removes its file). The RPC
# self-check closes a socket every 5 s; the wedge monitor must end the agent with status
# 75 within about 10 s of the hang, its supervisor (scripts/supervise.sh, as systemd
# would) start it again, and the new process adopt the running program and rules.
touch "$tmp/wedge-once"
XDROP_FAULT_WEDGE_CLOSE=$tmp/wedge-once supervised=1 agent_start brg "$tmp/ff.yaml" "$tmp/agent.ff.log"
wpid=$agent_pid
for _ in $(seq 400); do
	[ "$(grep -c "xdrop-agent running" "$tmp/agent.ff.log")" -ge 3 ] && break
	sleep 0.1
done
check "a hanging close: the agent exits for its service manager to restart it" \
	grep -q "messaging stuck (an nng close pending.*exiting with status 75" "$tmp/agent.ff.log"
check "... the supervisor ($wpid) started it afresh, once, and it answers RPC" \
	test "$(grep -c "xdrop-agent running" "$tmp/agent.ff.log")" -ge 3 -a -d "/proc/$wpid" -a \
	"$(grep -c "supervise: xdrop-agent-san (PID [0-9]*) exited with status 75 (wedged): restart" "$tmp/agent.ff.log")" = 1
rpc "$RO" RuleService Get GetRuleRequest Rule "id: \"$rf\""
expect_eq "... with its rules kept" "$? $(val dst_port)" "0 5001"
send fcli 198.51.100.1 198.51.100.2 5001 $N
send fcli 198.51.100.1 198.51.100.2 5002 $N
settle_ff
expect_got "... and still dropping ($N datagrams sent to the dropped port)" "$F" 5001 198.51.100.1 0
expect_got "... and bridging the rest" "$F" 5002 198.51.100.1 $((2 * N))
agent_stop
expect_eq "SIGTERM after the restart: exit 0" $? 0
# The nng ipc wedge (issue 11, item 8): a client that disconnects before the SP handshake
# stops nng 1.5.2's ipc listener from accepting. The agent answers again (it exits with
# status 75 after 12 s without an answer to its own Ping and its supervisor starts it
# again), twice in a row, and ends without a LeakSanitizer report: the old in-process
# reopen of the listener leaked what nng held for the wedged one, every time.
supervised=1 agent_start brg "$tmp/ff.yaml" "$tmp/agent.wedge.log"
wpid=$agent_pid
for round in 1 2; do
	before=$(grep -c "xdrop-agent running" "$tmp/agent.wedge.log")
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.close()' "${URL#ipc://}"
	for _ in $(seq 400); do
		[ "$(grep -c "xdrop-agent running" "$tmp/agent.wedge.log")" -gt "$before" ] && break
		sleep 0.1
	done
	rpc "$RO" RuleService Get GetRuleRequest Rule "id: \"$rf\""
	rc=$?
	# nng wedges its ipc listener on most such clients, not on all (a race in nng): the
	# check is that the agent answers, and that every wedge exit was followed by a restart
	wedges=$(grep -c "own RPC silent.*status 75" "$tmp/agent.wedge.log")
	expect_eq "ipc wedge $round: the agent answers under its supervisor ($wpid; $wedges wedge exits so far, each restarted), keeps its rules" \
		"$rc $(val dst_port) $(test -d "/proc/$wpid" && echo same) $(grep -c "exited with status 75 (wedged): restart" "$tmp/agent.wedge.log")" \
		"0 5001 same $wedges"
done
agent_stop
expect_eq "SIGTERM after two ipc wedges: exit 0" $? 0
san_check "(7) two ipc wedges" "$tmp/agent.wedge.log"
# the operator edited the capacities before detaching: the pinned maps no longer fit the
# config, and --detach must still remove everything
sed 's/^  rules: 65536$/  rules: 4096/' "$tmp/ff.yaml" >"$tmp/ff-small.yaml"
in_ns brg "$AGENT" --config "$tmp/ff-small.yaml" --detach >>"$tmp/agent.ff.log" 2>&1
expect_eq "--detach with other capacities than the pinned maps' leaves fb1 and fb2 without a program" \
	"$?:$(xdp_prog brg fb1):$(xdp_prog brg fb2)" "0::"
check "... and removes the pins" test ! -e "$PIN/ff"
# a generic-mode link adopted by the next start (whose config now allows native or
# generic) is reported as the generic link it is
PINSUB=gen cfg "$tmp/gen.yaml" "interface: fb1
xdp_mode: generic"
agent_start brg "$tmp/gen.yaml" "$tmp/agent.gen.log" && agent_stop
sed 's/^xdp_mode: generic$/xdp_mode: native_or_generic/' "$tmp/gen.yaml" >"$tmp/gen2.yaml"
agent_start brg "$tmp/gen2.yaml" "$tmp/agent.gen.log"
rpc "$RO" AgentService GetStats GetStatsRequest NodeStats ""
expect_eq "a restarted agent adopting a generic-mode link reports xdp_mode generic (kernel: mode $(ip -n "$NS-brg" -j link show dev fb1 | jq '.[0].xdp.mode'), 2 = generic)" \
	"$(val xdp_mode "") $(ip -n "$NS-brg" -j link show dev fb1 | jq '.[0].xdp.mode')" "generic 2"
agent_stop
in_ns brg "$AGENT" --config "$tmp/gen.yaml" --detach >>"$tmp/agent.gen.log" 2>&1
san_check "(7)" "$tmp/agent.ff.log" "$tmp/agent.gen.log"

# =========================================================================================
section "(8) bad config: one line naming file:line and key, non-zero exit"
nbad=0
badcfg() { # name, expected pattern, yaml: runs the agent on it
	local name=$1 want=$2 f=$tmp/bad$((nbad += 1)).yaml out rc
	printf '%s\n' "$3" >"$f"
	out=$(timeout 20 "$AGENT" --config "$f" 2>&1)
	rc=$?
	check "$name: exit $rc, $(echo "$out" | wc -l) line: $out" \
		test $rc -ne 0 -a $rc -ne 124 -a "$(echo "$out" | wc -l)" -eq 1 \
		-a -n "$(echo "$out" | grep -E "^xdrop-agent: $f$want")"
}
badcfg "unknown key" ":3: interfce: unknown key" "pin_dir: $PIN/bad
state_dir: $tmp/state-bad
interfce: s0"
badcfg "unknown nested key" ":3: rpc\.lisen: unknown key" "interface: s0
rpc:
  lisen: ipc://$tmp/bad.sock"
badcfg "bad duration" ":2: stats_interval: .*duration" "interface: s0
stats_interval: 5 parsecs
pin_dir: $PIN/bad"
badcfg "duration out of range" ":2: beacon_interval: " "interface: s0
beacon_interval: 2h"
badcfg "top_talkers.sample_every out of range" ":3: top_talkers.sample_every: " "interface: s0
top_talkers:
  sample_every: 2000000"
badcfg "top_talkers.capacity too small" ":2: top_talkers.capacity: " "interface: s0
top_talkers: {capacity: 8}"
badcfg "missing interface (traditional mode)" ": interface: required" "mode: traditional
pin_dir: $PIN/bad"
badcfg "fast_forward without outbound" ":[0-9]*:? ?fast_forward.outbound: " "mode: fast_forward
fast_forward:
  inbound: fb1"
check "no agent left pins for a refused config" test ! -e "$PIN/bad"

section "done"
tap_done
