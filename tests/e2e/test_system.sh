#!/bin/bash
# SPDX-License-Identifier: MIT
# The whole system as a user sees it: a REST call to the gateway -> the controller stores
# it -> the push reaches both agents -> packets from the generator namespace are dropped,
# passed or rate-limited at the nodes (n1 traditional, n2 fast-forward; lab in syslab.sh).
# Every action, IPv4 and IPv6, exact and CIDR rules (nested), whitelist precedence, update,
# delete, expiry (expires_at a few seconds ahead) and force sync. For every rule it
# measures the time from the REST answer to the moment both nodes applied it (the agent
# reports the revision after the data-plane switch) and prints p50 and max. Prints TAP.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/syslab.sh
trap sys_down EXIT
trap 'exit 1' INT TERM
N=20 # datagrams per plain probe
B=100 # datagrams per rate-limit probe (sent at once)

if ! sys_up >"$TMP/up.log" 2>&1; then
	echo "1..1"
	echo "not ok 1 - the lab came up"
	sed 's/^/# /' "$TMP/up.log" "$TMP"/*.log 2>/dev/null | tail -40
	exit 1
fi
ok "controller, gateway and two agents (n1 traditional, n2 fast-forward) up; nodes registered through REST"
srv_start 900
check "both nodes converge on the empty set" converged 10 n1 n2

# ---- baseline: every path carries traffic before any rule ----
# (the first datagram of a path waits for neighbour discovery, up to a second: warm each
# path up until the server saw one, then count)
warm_up 10.1.0.1 10.3.0.1 fd01::1 fd03::1
send 10.1.0.1,10.2.0.1,5000,$N 10.3.0.1,10.3.0.2,5000,$N fd01::1,fd02::1,5000,$N \
	fd03::1,fd03::2,5000,$N
for s in 10.1.0.1 10.3.0.1 fd01::1 fd03::1; do
	expect_range "baseline: $s reaches the server" "$(wait_got 5000 "$s" "$N")" $((N - 1)) "$N"
done

# ---- rules through REST, each timed until both nodes applied it ----
TIMES=()
declare -A RID
mk() { # name, json: POST /rules, timed; remembers the id under name
	local out
	out=$(post_timed /rules "$2" 10000 n1 n2) || {
		not_ok "POST /rules $1 applied on both nodes" "$out"
		return 1
	}
	read -r _ t1 t2 <<<"$out"
	TIMES+=("$t1" "$t2")
	rest GET "/rules?search=$1&limit=5"
	RID[$1]=$(jq_out '.rules[0].id')
}
mk_wl() { # name, json
	local out
	out=$(post_timed /whitelist "$2" 10000 n1 n2) || {
		not_ok "POST /whitelist $1 applied on both nodes" "$out"
		return 1
	}
	read -r _ t1 t2 <<<"$out"
	TIMES+=("$t1" "$t2")
}
n_before=${#TIMES[@]}
for p in 1 3; do
	A=10.$p.0
	A6=fd0$p:
	mk "p$p-drop-v4" "{\"name\":\"p$p-drop-v4\",\"src_ip\":\"$A.11\",\"dst_port\":5001,\"protocol\":\"udp\",\"action\":\"drop\"}"
	mk "p$p-drop-cidr-v4" "{\"name\":\"p$p-drop-cidr-v4\",\"src_cidr\":\"$A.32/27\",\"dst_port\":5002,\"protocol\":\"udp\",\"action\":\"drop\"}"
	mk "p$p-pass-v4" "{\"name\":\"p$p-pass-v4\",\"src_ip\":\"$A.34\",\"dst_port\":5002,\"protocol\":\"udp\",\"action\":\"pass\"}"
	mk "p$p-rl-v4" "{\"name\":\"p$p-rl-v4\",\"src_ip\":\"$A.12\",\"dst_port\":5003,\"protocol\":\"udp\",\"action\":\"rate_limit\",\"rate_limit\":10,\"burst\":10}"
	mk "p$p-rl-cidr-v4" "{\"name\":\"p$p-rl-cidr-v4\",\"src_cidr\":\"$A.64/27\",\"dst_port\":5004,\"protocol\":\"udp\",\"action\":\"rate_limit\",\"rate_limit\":5,\"burst\":5}"
	mk "p$p-drop-v6" "{\"name\":\"p$p-drop-v6\",\"src_ip\":\"$A6:11\",\"dst_port\":5001,\"protocol\":\"udp\",\"action\":\"drop\"}"
	mk "p$p-drop-cidr-v6" "{\"name\":\"p$p-drop-cidr-v6\",\"src_cidr\":\"$A6:20/124\",\"dst_port\":5002,\"protocol\":\"udp\",\"action\":\"drop\"}"
	mk "p$p-pass-v6" "{\"name\":\"p$p-pass-v6\",\"src_ip\":\"$A6:22\",\"dst_port\":5002,\"protocol\":\"udp\",\"action\":\"pass\"}"
	mk "p$p-rl-cidr-v6" "{\"name\":\"p$p-rl-cidr-v6\",\"src_cidr\":\"$A6:/64\",\"dst_port\":5003,\"protocol\":\"udp\",\"action\":\"rate_limit\",\"rate_limit\":10,\"burst\":10}"
	# nested prefixes: drop the /24, pass the /26 inside it, limit the /28 inside that
	mk "p$p-nest24" "{\"name\":\"p$p-nest24\",\"src_cidr\":\"$A.0/24\",\"dst_port\":5006,\"protocol\":\"udp\",\"action\":\"drop\"}"
	mk "p$p-nest26" "{\"name\":\"p$p-nest26\",\"src_cidr\":\"$A.64/26\",\"dst_port\":5006,\"protocol\":\"udp\",\"action\":\"pass\"}"
	mk "p$p-nest28" "{\"name\":\"p$p-nest28\",\"src_cidr\":\"$A.64/28\",\"dst_port\":5006,\"protocol\":\"udp\",\"action\":\"rate_limit\",\"rate_limit\":5,\"burst\":5}"
	mk_wl "p$p-wl-v4" "{\"name\":\"p$p-wl-v4\",\"src_ip\":\"$A.40\"}"
	mk_wl "p$p-wl-v6" "{\"name\":\"p$p-wl-v6\",\"src_cidr\":\"$A6:40/126\"}"
done
mk "all-5005" '{"name":"all-5005","dst_port":5005,"protocol":"udp","action":"drop"}'
expect_eq "29 writes (25 rules, 4 whitelist entries) each applied on both nodes" \
	"$(((${#TIMES[@]} - n_before) / 2))" 29
online=0
both_online() { # node states follow the beacons
	rest GET /nodes
	online=$(jq_out "[.nodes[] | select(.status == \"online\" and .applied_revision == $(ctl_revision))] | length")
	[ "$online" = 2 ]
}
wait_until 10 both_online
expect_eq "GET /nodes: both online at the controller's revision" "$online" 2

# ---- probes: one batch for both paths, v4 and v6 ----
specs=()
for p in 1 3; do
	A=10.$p.0
	A6=fd0$p:
	for s in $A.11:5001 $A.12:5001 $A.33:5002 $A.34:5002 $A6:11:5001 $A6:12:5001 \
		$A6:21:5002 $A6:22:5002 $A.40:5005 $A.11:5005 $A6:41:5005 $A6:12:5005 \
		$A.11:5006 $A.100:5006; do
		specs+=("${s%:*},$(dst_of "${s%:*}"),${s##*:},$N")
	done
	for s in $A.12:5003 $A.66:5004 $A6:12:5003 $A.70:5006; do
		specs+=("${s%:*},$(dst_of "${s%:*}"),${s##*:},$B")
	done
done
send "${specs[@]}"
settle
for p in 1 3; do
	A=10.$p.0
	A6=fd0$p:
	node=n1 && [ $p = 3 ] && node="n2 (fast-forward)"
	[ $p = 1 ] && node="n1 (traditional)"
	expect_eq "$node drop, exact v4: $A.11 -> 5001 dropped" "$(got 5001 $A.11)" 0
	expect_eq "$node ... another source to 5001 passes" "$(got 5001 $A.12)" $N
	expect_eq "$node drop, CIDR v4: $A.33 in $A.32/27 -> 5002 dropped" "$(got 5002 $A.33)" 0
	expect_eq "$node pass, exact v4 inside the dropped /27 passes" "$(got 5002 $A.34)" $N
	expect_range "$node rate_limit, exact v4: burst 10 of $B" "$(got 5003 $A.12)" 10 13
	expect_range "$node rate_limit, CIDR v4: burst 5 of $B" "$(got 5004 $A.66)" 5 8
	expect_eq "$node drop, exact v6: $A6:11 -> 5001 dropped" "$(got 5001 $A6:11)" 0
	expect_eq "$node ... another v6 source passes" "$(got 5001 $A6:12)" $N
	expect_eq "$node drop, CIDR v6: $A6:21 in $A6:20/124 dropped" "$(got 5002 $A6:21)" 0
	expect_eq "$node pass, exact v6 inside the dropped /124 passes" "$(got 5002 $A6:22)" $N
	expect_range "$node rate_limit, CIDR v6 /64: burst 10 of $B" "$(got 5003 $A6:12)" 10 13
	expect_eq "$node whitelist v4 beats the drop rule" "$(got 5005 $A.40)" $N
	expect_eq "$node ... non-whitelisted v4 dropped" "$(got 5005 $A.11)" 0
	expect_eq "$node whitelist v6 CIDR beats the drop rule" "$(got 5005 $A6:41)" $N
	expect_eq "$node ... non-whitelisted v6 dropped" "$(got 5005 $A6:12)" 0
	expect_eq "$node nested: /24 drops $A.11" "$(got 5006 $A.11)" 0
	expect_eq "$node nested: /26 inside it passes $A.100" "$(got 5006 $A.100)" $N
	expect_range "$node nested: /28 inside that limits $A.70 (burst 5)" "$(got 5006 $A.70)" 5 8
done

# ---- per-rule counters reach the REST API ----
id=${RID[p1-drop-v4]}
dc=0
drops_reported() {
	rest GET "/rules/$id"
	dc=$(jq_out '.stats.drop_count // 0')
	[ "$dc" -ge $N ] 2>/dev/null
}
wait_until 10 drops_reported
expect_range "GET /rules/:id: drop_count of p1-drop-v4 counts its drops" "$dc" $N $((N + 5))

# ---- update and delete ----
before=$(got 5001 10.1.0.11)
rest PUT "/rules/${RID[p1-drop-v4]}" '{"enabled": false}'
rev=$(jq_out .sync.revision)
expect_eq "PUT /rules/:id enabled=false answers 200" "$CODE" 200
check "... applied on both nodes" waitrev 10000 "$rev" n1 n2
rest DELETE "/rules/${RID[p3-drop-v6]}"
expect_eq "DELETE /rules/:id answers 200" "$CODE" 200
rest GET /stats
check "... applied on both nodes" waitrev 10000 "$(jq_out .revision)" n1 n2
send 10.1.0.11,10.2.0.1,5001,$N fd03::11,fd03::2,5001,$N
settle
expect_eq "a disabled rule no longer drops" "$(($(got 5001 10.1.0.11) - before))" $N
expect_eq "a deleted rule (v6, fast-forward) no longer drops" "$(got 5001 fd03::11)" $N

# ---- expiry: expires_at 4 s ahead ----
exp=$(date -u -d "@$(($(date +%s) + 4))" +%Y-%m-%dT%H:%M:%SZ)
exp_ms=$(($(date -d "$exp" +%s) * 1000))
out=$(post_timed /rules "{\"name\":\"expiring\",\"dst_port\":5007,\"protocol\":\"udp\",\"action\":\"drop\",\"expires_at\":\"$exp\"}" 10000 n1 n2)
check "a rule with expires_at $exp applied on both nodes ($out)" test -n "$out"
send 10.1.0.1,10.2.0.1,5007,$N 10.3.0.1,10.3.0.2,5007,$N
sent_ms=$(date +%s%3N)
settle
# measured against the observed send time: datagrams sent after expires_at prove nothing
if [ "$sent_ms" -lt "$exp_ms" ]; then
	expect_eq "before expiry it drops on n1" "$(got 5007 10.1.0.1)" 0
	expect_eq "before expiry it drops on n2" "$(got 5007 10.3.0.1)" 0
else
	ok "before expiry it drops on n1 # SKIP sent $((sent_ms - exp_ms)) ms after expires_at (a slow machine)"
	ok "before expiry it drops on n2 # SKIP sent after expires_at"
fi
before1=$(got 5007 10.1.0.1)
before3=$(got 5007 10.3.0.1)
# the time is what is tested: 1.5 s after expires_at (the nodes check once a second)
while [ "$(($(date +%s%3N) - exp_ms))" -lt 1500 ]; do sleep 0.1; done
send 10.1.0.1,10.2.0.1,5007,$N 10.3.0.1,10.3.0.2,5007,$N
settle
expect_eq "1.5 s after expires_at n1 passes it" "$(($(got 5007 10.1.0.1) - before1))" $N
expect_eq "... and n2 too" "$(($(got 5007 10.3.0.1) - before3))" $N
rest GET "/rules?search=expiring"
expect_eq "the controller deleted the expired rule" "$(jq_out .count)" 0
check "both nodes converge after the expiry" converged 10 n1 n2

# ---- force sync ----
snaps=$(grep -c "snapshot installed" "$TMP/n1.log")
t0=$(ms)
rest POST /nodes/n1/sync
expect_eq "POST /nodes/n1/sync answers 200 ($OUT)" "$CODE" 200
check "... with success and the sync outcome" test "$(jq_out '.success and (.sync | has("nodes"))')" = true
took=
snapshot_taken() { [ "$(grep -c "snapshot installed" "$TMP/n1.log")" -gt "$snaps" ]; }
wait_until 10 snapshot_taken && took=$(($(ms) - t0))
check "n1 took a full snapshot (in ${took:-?} ms)" test -n "$took"
rest POST /nodes/nope/sync
expect_eq "force sync of an unknown node: 404" "$CODE" 404
check "after force sync both nodes are at the controller's revision and hash" converged 10 n1 n2
send 10.1.0.11,10.2.0.1,5005,$N 10.1.0.40,10.2.0.1,5005,$N
settle
expect_eq "after the snapshot the rules still hold (drop)" "$(got 5005 10.1.0.11)" 0
expect_eq "... and the whitelist" "$(got 5005 10.1.0.40)" $((N * 2))

# ---- the figure ----
sorted=$(printf '%s\n' "${TIMES[@]}" | sort -g)
cnt=$(wc -l <<<"$sorted")
p50=$(sed -n "$(((cnt + 1) / 2))p" <<<"$sorted")
p99=$(sed -n "$(((cnt * 99 + 99) / 100))p" <<<"$sorted")
mx=$(tail -1 <<<"$sorted")
diag "REST answer -> enforced on a node, $cnt samples (HB $HB): p50 $p50 ms, p99 $p99 ms, max $mx ms"
expect_eq "every daemon this suite stopped ended within 15 s of its signal" "$STOP_HANGS" 0
tap_done
