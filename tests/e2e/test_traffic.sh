#!/bin/bash
# SPDX-License-Identifier: MIT
# Traffic truth (issue 13), the whole system with known traffic in the namespace lab
# (syslab.sh: n1 routes path 1, n2 bridges path 2):
#   - per-rule counters of drop, pass and rate_limit rules and per-entry whitelist hits,
#     packets and bytes, equal what was sent, through REST (summed over the nodes) and on
#     each agent; the cluster's exclusive verdict/reason counters add up;
#   - top talkers from the XDP program's samples (sampling every packet here, so the
#     shares are exact but for the heavy-hitter structure): every talker above 1 % of a
#     known mix listed, its share within 10 % of the truth, cluster-wide and per node;
#   - /metrics parsed by a Prometheus exposition parser: per node, the exclusive
#     xdrop_packets_total series sum to the received total; node status one-hot;
#   - after an agent stops: its node offline, figures stale with their time, filtering
#     "presumed" (its pinned program keeps filtering), and the rule's counters stale.
# Frame lengths: the sender's datagrams carry 44 bytes, so an IPv4 frame is 14 + 20 + 8 + 44
# = 86 bytes and an IPv6 one 14 + 40 + 8 + 44 = 106 bytes (what XDP sees, no FCS).
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/syslab.sh
trap sys_down EXIT
trap 'exit 1' INT TERM
N=200 # datagrams per plain probe
B=100 # datagrams per rate-limit probe (sent at once)
F4=86
F6=106

# every packet sampled: the accuracy below is then the heavy-hitter structure's alone (the
# sampling error is the unit suites' and the BPF suite's subject)
SYS_AGENT_YAML=$'top_talkers:\n  sample_every: 1'
if ! sys_up >"$TMP/up.log" 2>&1; then
	echo "1..1"
	echo "not ok 1 - the lab came up"
	sed 's/^/# /' "$TMP/up.log" "$TMP"/*.log 2>/dev/null | tail -40
	exit 1
fi
ok "controller, gateway and two agents up (sampling every packet)"
srv_start 900
check "both nodes converge on the empty set" converged 10 n1 n2
warm_up 10.1.0.1 10.3.0.1 fd01::1 fd03::1

declare -A RID WID
mk() { # name json: POST /rules, remembers the id
	rest POST /rules "$2"
	[ "$CODE" = 201 ] || { diag "POST /rules $1: $CODE $OUT"; return 1; }
	RID[$1]=$(jq_out '.rule.id')
}
mk_wl() {
	rest POST /whitelist "$2"
	[ "$CODE" = 201 ] || { diag "POST /whitelist $1: $CODE $OUT"; return 1; }
	WID[$1]=$(jq_out '.entry.id')
}
for p in 1 3; do
	A=10.$p.0
	mk "p$p-drop" "{\"name\":\"p$p-drop\",\"src_ip\":\"$A.11\",\"dst_port\":5001,\"protocol\":\"udp\",\"action\":\"drop\"}"
	mk "p$p-pass" "{\"name\":\"p$p-pass\",\"src_ip\":\"$A.34\",\"dst_port\":5002,\"protocol\":\"udp\",\"action\":\"pass\"}"
	mk "p$p-rl" "{\"name\":\"p$p-rl\",\"src_ip\":\"$A.12\",\"dst_port\":5003,\"protocol\":\"udp\",\"action\":\"rate_limit\",\"rate_limit\":10,\"burst\":10}"
	mk "p$p-cidr6" "{\"name\":\"p$p-cidr6\",\"src_cidr\":\"fd0$p::20/124\",\"dst_port\":5002,\"protocol\":\"udp\",\"action\":\"drop\"}"
	mk_wl "p$p-wl" "{\"name\":\"p$p-wl\",\"src_ip\":\"$A.40\"}"
	# drops everything to 5005: the top-talker mix goes there
	mk "p$p-sink" "{\"name\":\"p$p-sink\",\"dst_ip\":\"$(dst_of "$A.1")\",\"dst_port\":5005,\"protocol\":\"udp\",\"action\":\"drop\"}"
done
check "the rules reach both nodes" converged 15 n1 n2

# ---- 1. exact counters for every rule kind ----
send 10.1.0.11,10.2.0.1,5001,$N 10.1.0.34,10.2.0.1,5002,$N 10.1.0.40,10.2.0.1,5007,$N \
	fd01::21,fd02::1,5002,$N 10.3.0.11,10.3.0.2,5001,$N 10.3.0.34,10.3.0.2,5002,$N \
	10.3.0.40,10.3.0.2,5007,$N
send 10.1.0.12,10.2.0.1,5003,$B 10.3.0.12,10.3.0.2,5003,$B
settle
expect_eq "pass rule: the server got every datagram" "$(wait_got 5002 10.1.0.34 "$N")" "$N"
expect_eq "whitelisted source: the server got every datagram" \
	"$(wait_got 5007 10.1.0.40 "$N")" "$N"
RL1=$(got 5003 10.1.0.12)
RL3=$(got 5003 10.3.0.12)

# rule_stats NAME: "match drop match_bytes drop_bytes" of a rule through REST
rule_stats() {
	rest GET "/rules/${RID[$1]}"
	jq -r '(.rule // .) | .stats | "\(.match_count // 0) \(.drop_count // 0) \(.match_bytes // 0) \(.drop_bytes // 0)"' <<<"$OUT"
}
wl_stats() {
	rest GET "/whitelist/${WID[$1]}"
	jq -r '(.entry // .) | .stats | "\(.match_count // 0) \(.match_bytes // 0)"' <<<"$OUT"
}
# wait_stats WANT CMD...: until CMD prints WANT (beacons carry counters within a few
# intervals), 20 s at most; prints the last output
wait_stats() {
	local want=$1 end=$((SECONDS + 20)) v
	shift
	while v=$("$@"); [ "$v" != "$want" ] && [ "$SECONDS" -lt "$end" ]; do sleep 0.2; done
	echo "$v"
}
for p in 1 3; do
	expect_eq "p$p drop rule: $N matched, $N dropped, bytes exact" \
		"$(wait_stats "$N $N $((N * F4)) $((N * F4))" rule_stats "p$p-drop")" \
		"$N $N $((N * F4)) $((N * F4))"
	expect_eq "p$p pass rule: $N matched, none dropped, bytes exact" \
		"$(wait_stats "$N 0 $((N * F4)) 0" rule_stats "p$p-pass")" "$N 0 $((N * F4)) 0"
	expect_eq "p$p whitelist entry: $N hits, bytes exact" \
		"$(wait_stats "$N $((N * F4))" wl_stats "p$p-wl")" "$N $((N * F4))"
	rl=$([ $p = 1 ] && echo "$RL1" || echo "$RL3")
	expect_eq "p$p rate_limit rule: $B matched, $((B - rl)) dropped (server got $rl)" \
		"$(wait_stats "$B $((B - rl)) $((B * F4)) $(((B - rl) * F4))" rule_stats "p$p-rl")" \
		"$B $((B - rl)) $((B * F4)) $(((B - rl) * F4))"
done
expect_eq "IPv6 CIDR drop rule on n1: $N matched, bytes exact" \
	"$(wait_stats "$N $N $((N * F6)) $((N * F6))" rule_stats p1-cidr6)" \
	"$N $N $((N * F6)) $((N * F6))"
expect_eq "IPv6 CIDR rule of path 2 saw nothing" "$(rule_stats p3-cidr6)" "0 0 0 0"
rest GET '/rules?search=p1-pass&limit=5'
check "the rules list carries pass-rule hits" jq -e ".rules[0].stats.match_count == $N" "$TMP/rest.out"

# on the agent itself: RuleStats of n1 for the pass rule
rs=$(printf 'ids: "%s"' "${RID[p1-pass]}" | $P --encode=xdrop.v1.RuleStatsRequest |
	timeout 5 "$CALL" "ipc://$TMP/n1.sock" "$(node_token n1)" AgentService RuleStats 2>/dev/null |
	$P --decode=xdrop.v1.RuleStatsReply 2>/dev/null)
expect_eq "agent n1 RuleStats: pass rule match_count" \
	"$(sed -n 's/^ *match_count: //p' <<<"$rs")" "$N"
expect_eq "agent n1 RuleStats: pass rule match_bytes" \
	"$(sed -n 's/^ *match_bytes: //p' <<<"$rs")" "$((N * F4))"

# cluster counters: one verdict and one reason per packet
rest GET /stats
check "cluster: rx = passed + dropped" jq -e '.totals as $t | ($t.rx // 0) == (($t.passed // 0) + ($t.dropped // 0))' "$TMP/rest.out"
check "cluster: dropped = rule + rate_limit + malformed" jq -e '.totals as $t | ($t.dropped // 0) == (($t.rule_dropped // 0) + ($t.rate_limited // 0) + ($t.malformed // 0))' "$TMP/rest.out"
check "cluster: passed = sum of its reasons" jq -e '.totals as $t | ($t.passed // 0) == (($t.rule_passed // 0) + ($t.rate_limit_passed // 0) + ($t.whitelisted // 0) + ($t.protected // 0) + ($t.non_ip // 0) + ($t.default_passed // 0))' "$TMP/rest.out"
check "cluster: rx_bytes = passed_bytes + dropped_bytes > 0" jq -e '.totals as $t | ($t.rx_bytes // 0) > 0 and ($t.rx_bytes // 0) == (($t.passed_bytes // 0) + ($t.dropped_bytes // 0))' "$TMP/rest.out"
check "cluster: whitelisted >= 2N" jq -e ".totals.whitelisted >= $((2 * N))" "$TMP/rest.out"

# ---- 2. top talkers: a known mix of sources, all dropped by the sink rules ----
# 10.1.0.{41,66,70,71,72,73} on path 1 and 10.3.0.{41,66} on path 2; shares of the
# cluster's dropped traffic to port 5005
declare -A MIX=([10.1.0.41]=1500 [10.1.0.66]=900 [10.1.0.70]=400 [10.1.0.71]=150
	[10.1.0.72]=60 [10.1.0.73]=30 [10.3.0.41]=600 [10.3.0.66]=360)
specs=()
total=0
for s in "${!MIX[@]}"; do
	specs+=("$s,$(dst_of "$s"),5005,${MIX[$s]}")
	total=$((total + MIX[$s]))
done
send "${specs[@]}"
settle
# share_ok JSON SRC: the talker is listed and its share within 10 % of the truth
# (the window also holds the other dropped traffic of this suite: the truth is the share
# of the verdict's total the reply states)
top_check() { # what query min-total
	local what=$1 q=$2 min=$3 s want got miss=""
	rest GET "/top?$q"
	[ "$CODE" = 200 ] || { not_ok "$what: GET /top?$q" "$CODE $OUT"; return; }
	local tot
	tot=$(jq_out '.total_packets // 0')
	for s in "${!MIX[@]}"; do
		[[ $what == *n1* ]] && [[ $s != 10.1.* ]] && continue
		want=$(awk -v a="${MIX[$s]}" -v t="$tot" 'BEGIN { printf "%.6f", t ? a / t : 0 }')
		# only talkers above 1 % are promised
		awk -v w="$want" 'BEGIN { exit !(w > 0.01) }' || continue
		got=$(jq_out ".talkers[] | select(.key == \"$s\") | .share")
		if [ -z "$got" ]; then
			miss="$miss $s(missing, want $want)"
		elif ! awk -v g="$got" -v w="$want" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(d <= 0.1 * w) }'; then
			miss="$miss $s(share $got, want $want)"
		fi
	done
	if [ -z "$miss" ] && [ "$tot" -ge "$min" ]; then
		ok "$what: every talker above 1 % listed, shares within 10 % (total $tot)"
	else
		not_ok "$what: every talker above 1 % listed, shares within 10 % (total $tot >= $min)" "$miss"
	fi
}
# the figures come from the agents' samples as they are read: wait until the window has
# them all
wait_until 20 bash -c "curl -s -H 'X-API-Key: $KEY' '$API/top?by=src&verdict=dropped&window=60s' | jq -e '(.total_packets // 0) >= $total' >/dev/null" ||
	diag "top: the window never reached $total packets"
n1_total=0
for s in "${!MIX[@]}"; do [[ $s == 10.1.* ]] && n1_total=$((n1_total + MIX[$s])); done
top_check "cluster top sources (dropped, 60 s)" "by=src&verdict=dropped&window=60s&limit=20" "$total"
top_check "node n1 top sources (dropped, 60 s)" \
	"by=src&verdict=dropped&window=60s&limit=20&node=n1" "$n1_total"
rest GET "/top?by=src_prefix&verdict=dropped&window=60s&limit=5"
check "top prefixes: 10.1.0.0/24 listed first" test "$(jq_out '.talkers[0].key')" = 10.1.0.0/24
rest GET "/top?by=dst_port&verdict=dropped&window=60s&limit=5"
check "top destination ports: 5005 first" test "$(jq_out '.talkers[0].key')" = 5005
rest GET "/top?by=src&verdict=passed&window=5m&limit=20"
check "top passed sources include the whitelisted 10.1.0.40" \
	jq -e '[.talkers[].key] | index("10.1.0.40") != null' "$TMP/rest.out"
rest GET "/top?by=bogus"
expect_eq "top: a bad 'by' is a 400" "$CODE" 400
check "top: the error names the parameter" grep -q '"by"\|by' "$TMP/rest.out"

# ---- 3. metrics, parsed ----
curl -s -H "X-API-Key: $KEY" "$BASE/metrics" >"$TMP/metrics.txt"
MC=tests/gateway/metrics_check.py
check "metrics: parsed by prometheus_client, conventions kept" $MC "$TMP/metrics.txt" structure
check "metrics: per node the packets and bytes by verdict and reason sum to the received" \
	$MC "$TMP/metrics.txt" identity
check "metrics: every reason counted (an agent with the exclusive counters)" \
	$MC "$TMP/metrics.txt" reasons_filled
check "metrics: node status and filtering one-hot" $MC "$TMP/metrics.txt" one_hot
check "metrics: the pass rule's matched packets" /usr/bin/python3 - "$TMP/metrics.txt" "${RID[p1-pass]}" "$N" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
text, rid, want = open(sys.argv[1]).read(), sys.argv[2], float(sys.argv[3])
got = [s.value for f in text_string_to_metric_families(text) for s in f.samples
       if s.name == "xdrop_rule_matched_packets_total" and s.labels.get("rule_id") == rid]
sys.exit(0 if got == [want] else f"got {got}, want {want}")
PY
check "metrics: the whitelist entry's hits" $MC "$TMP/metrics.txt" entry p1-wl "$N"

# ---- 4. a stopped agent: offline, stale figures, filtering presumed ----
agent_kill n2 TERM
node_field() { rest GET /nodes/n2 && jq -r "(.node // .) | $1" <<<"$OUT"; }
end=$((SECONDS + 30))
while [ "$(node_field .status)" != offline ] && [ "$SECONDS" -lt "$end" ]; do sleep 0.2; done
expect_eq "n2 offline after its agent stopped" "$(node_field .status)" offline
expect_eq "n2's figures are marked stale" "$(node_field '.stats.stale')" true
at=$(node_field '.stats.at // ""')
check "n2's figures carry the time they were measured ($at)" test "${at:0:4}" -ge 2020
expect_eq "n2 filtering presumed (its pinned program keeps filtering)" \
	"$(node_field .filtering)" presumed
send 10.3.0.11,10.3.0.2,5001,20
expect_eq "n2's pinned program still drops without its agent" "$(got 5001 10.3.0.11)" 0
rest GET "/rules/${RID[p3-drop]}"
expect_eq "a rule counted on n2 is marked stale" "$(jq -r '(.rule // .) | .stats.stale' <<<"$OUT")" true
check "the controller logged n2 going offline" grep -q "n2.*offline\|offline.*n2" "$TMP/ctl.log"
agent_start n2
end=$((SECONDS + 30))
while [ "$(node_field .status)" != online ] && [ "$SECONDS" -lt "$end" ]; do sleep 0.2; done
expect_eq "n2 back online" "$(node_field .status)" online
check "the controller logged n2 coming back" grep -qi "n2.*back online\|online again.*n2\|n2.*online" "$TMP/ctl.log"
expect_eq "n2's figures fresh again" "$(node_field '.stats.stale // false')" false

expect_eq "every daemon this suite stopped ended within 15 s of its signal" "$STOP_HANGS" 0
tap_done
