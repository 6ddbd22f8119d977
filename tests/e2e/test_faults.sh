#!/bin/bash
# SPDX-License-Identifier: MIT
# The fault matrix of TESTING.md, rows A1-A5, C1-C4 and M1-M4, against the real daemons
# in the namespace lab of syslab.sh (controller and gateway on the host, n1 traditional,
# n2 fast-forward; n3 for the rows that need a node of their own). Sized for CI; each row
# prints its figure (violations, leaked packets, time to converge) as a TAP comment.
# Prints TAP.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/syslab.sh
trap sys_down EXIT
trap 'exit 1' INT TERM
CYCLES=${CYCLES:-10} # A1 kill -9 cycles
C1_ROUNDS=${C1_ROUNDS:-3}
HB_S=$(awk -v m="$HB_MS" 'BEGIN { print m / 1000 }')

if ! sys_up >"$TMP/up.log" 2>&1; then
	echo "1..1"
	echo "not ok 1 - the lab came up"
	sed 's/^/# /' "$TMP/up.log" "$TMP"/*.log 2>/dev/null | tail -40
	exit 1
fi
ok "lab up: controller, gateway, n1 (traditional), n2 (fast-forward)"
srv_start 900
send 10.1.0.1,10.2.0.1,5000,3 10.3.0.1,10.3.0.2,5000,3 # neighbours resolved
prog_id() { # ns ifname: the XDP program id on the interface
	ip -n "$NS-$1" -j link show dev "$2" 2>/dev/null | jq -r '.[0].xdp.prog.id // empty'
}
rev_now() { ctl_revision; }
write_rule() { # json: POST /rules, prints the revision
	rest POST /rules "$1"
	[ "$CODE" = 201 ] || [ "$CODE" = 200 ] || { echo "# POST /rules: $CODE $OUT" >&2; return 1; }
	jq_out .sync.revision
}
# timed convergence: prints ms until both nodes applied REV (or -1)
conv_ms() { # timeout_ms rev id...
	local out
	out=$(waitrev "$@")
	set -- $out
	shift
	local m=0 v
	for v in "$@"; do
		[ "${v%.*}" -lt 0 ] 2>/dev/null && { echo -1; return 1; }
		[ "${v%.*}" -gt "$m" ] && m=${v%.*}
	done
	echo "$m"
}

# =========================================================================================
# A1: agent kill -9 under traffic; A2: agent restarted (upgrade) under traffic
rev=$(write_rule '{"name":"a1-probe","dst_port":5008,"protocol":"udp","action":"drop"}')
check "A1: the probe rule (drop udp/5008) is applied on both nodes" waitrev 10000 "$rev" n1 n2
PPS=200
DUR=$((CYCLES * 2 + 14)) # long enough for the cycles and A2
send_bg 10.1.0.71,10.2.0.1,5008,$((PPS * DUR)),$PPS 10.3.0.71,10.3.0.2,5008,$((PPS * DUR)),$PPS \
	10.1.0.72,10.2.0.1,5009,$((PPS * DUR)),$PPS 10.3.0.72,10.3.0.2,5009,$((PPS * DUR)),$PPS
TRAFFIC=$LAST_SENDER
T_TRAFFIC=$(ms)
# kill points by progress, not by clock: the good flows were counted PPS/10 more times on
# both paths (traffic through the nodes before a kill, and while they are dead)
good_at_least() { [ "$(got 5009 10.1.0.72)" -ge "$1" ] && [ "$(got 5009 10.3.0.72)" -ge "$2" ]; }
more_good() {
	wait_until 30 good_at_least $(($(got 5009 10.1.0.72) + PPS / 10)) \
		$(($(got 5009 10.3.0.72) + PPS / 10)) || diag "A1: the good flows did not progress"
}
more_good
p1=$(prog_id n1 t0)
p2=$(prog_id n2 f1)
adopt0=$(cat "$TMP/n1.log" "$TMP/n2.log" | grep -c "adopted pinned state")
worst=0 bad=0
for c in $(seq "$CYCLES"); do
	agent_kill n1 KILL
	agent_kill n2 KILL
	more_good # dead, under traffic
	t=$(ms)
	agent_start n1 >/dev/null && agent_start n2 >/dev/null || bad=$((bad + 1))
	m=$(conv_ms 10000 "$(rev_now)" n1 n2) || bad=$((bad + 1))
	m=$(($(ms) - t))
	[ "$m" -gt "$worst" ] && worst=$m
	for x in n1:t0 n2:f1 n2:f2; do
		n=$(ip -n "$NS-${x%%:*}" -j link show dev "${x#*:}" | jq '[.[0].xdp.prog // empty] | length')
		[ "$n" = 1 ] || bad=$((bad + 1))
	done
done
adopt=$(($(cat "$TMP/n1.log" "$TMP/n2.log" | grep -c "adopted pinned state") - adopt0))
expect_eq "A1: $CYCLES kill -9 cycles of both agents: every restart adopted the pinned state" \
	"$adopt" $((CYCLES * 2))
expect_eq "A1: every restart reconciled with the controller and found one program per interface" "$bad" 0
diag "A1 figure: restart -> reconciled at the controller's revision, worst $worst ms"
check "A1: XDP still on t0 and f1 (ids $p1 -> $(prog_id n1 t0), $p2 -> $(prog_id n2 f1))" \
	test -n "$(prog_id n1 t0)" -a -n "$(prog_id n2 f1)"

# A2: a new start adopts the link and replaces the program in it (the same binary counts)
rest GET "/rules?search=a1-probe"
a1id=$(jq_out '.rules[0].id')
drops_before=$(agent_stats n1 | awk '/^counters/,/}/' | sed -n 's/^ *dropped: //p')
old=$(prog_id n1 t0)
old2=$(prog_id n2 f1)
agent_kill n1 TERM
agent_kill n2 TERM
agent_start n1 >/dev/null
agent_start n2 >/dev/null
new=$(prog_id n1 t0)
new2=$(prog_id n2 f1)
check "A2: restarted agents replaced the program in the pinned link (n1 $old -> $new, n2 $old2 -> $new2)" \
	test -n "$new" -a "$new" != "$old" -a -n "$new2" -a "$new2" != "$old2"
check "A2: ... in place (the log says so)" grep -q "program replaced in place" "$TMP/n1.log"
drops_after=$(agent_stats n1 | awk '/^counters/,/}/' | sed -n 's/^ *dropped: //p')
check "A2: node counters kept across the replacement (dropped $drops_before -> $drops_after)" \
	test "${drops_after:-0}" -ge "${drops_before:-1}"
# wait for the traffic to end, then count
wait "$TRAFFIC" 2>/dev/null
elapsed=$(($(ms) - T_TRAFFIC))
settle
leak=$(($(got 5008 10.1.0.71) + $(got 5008 10.3.0.71)))
good1=$(got 5009 10.1.0.72)
good2=$(got 5009 10.3.0.72)
sent=$((PPS * DUR))
expect_eq "A1+A2: probes to the dropped port leaked through $((CYCLES + 1)) restarts" "$leak" 0
expect_range "A1+A2: good traffic through n1 (traditional) all delivered ($good1 of $sent)" \
	"$good1" $((sent - 2)) $sent
expect_range "A1+A2: good traffic bridged by n2 all delivered ($good2 of $sent)" \
	"$good2" $((sent - 2)) $sent
diag "A1/A2 figure: leaked $leak probes of $((sent * 2)), lost $((sent * 2 - good1 - good2)) good packets over $((elapsed / 1000)) s"
rest GET "/rules/$a1id"
dc=$(jq_out '.stats.drop_count // 0')
check "A2: the rule's drop counter kept counting across restarts ($dc >= $((sent * 2 * 8 / 10)))" \
	test "$dc" -ge $((sent * 2 * 8 / 10))

# =========================================================================================
# A3: a foreign XDP program; A4: interface removed and re-added (node n3, x0)
lab_ns n3
ip -n "$NS-n3" link add name x0 type veth peer name x1
ip -n "$NS-n3" link set dev x0 up
ip -n "$NS-n3" link set dev x1 up
printf '%s\n' '#include <linux/bpf.h>' \
	'__attribute__((section("xdp"), used)) int foreign_pass(struct xdp_md *c) { return XDP_PASS; }' \
	'char _license[] __attribute__((section("license"), used)) = "GPL";' >"$TMP/foreign.c"
clang -O2 -target bpf -I"/usr/include/$(uname -m)-linux-gnu" -c "$TMP/foreign.c" \
	-o "$TMP/foreign.o" && ip -n "$NS-n3" link set dev x0 xdpdrv obj "$TMP/foreign.o" sec xdp
foreign=$(prog_id n3 x0)
node_add n3 "mode: traditional
interface: x0" 64 >/dev/null
nsenter --net="/run/netns/$NS-n3" timeout 10 "$AGENT_BIN" --config "$TMP/n3.yaml" 2>"$TMP/n3-refused.log"
rc=$?
check "A3: the agent refuses a foreign program (exit $rc): $(grep -im1 foreign "$TMP/n3-refused.log")" \
	test -n "$foreign" -a $rc -ne 0 -a $rc -ne 124 -a -n "$(grep -i foreign "$TMP/n3-refused.log")"
expect_eq "A3: the foreign program is left in place" "$(prog_id n3 x0)" "$foreign"
echo "force: true" >>"$TMP/n3.yaml"
agent_start n3 n3 >/dev/null
check "A3: with force: true it replaces it ($foreign -> $(prog_id n3 x0))" \
	test -n "$(prog_id n3 x0)" -a "$(prog_id n3 x0)" != "$foreign"
check "A3: n3 converges" converged 10 n1 n2 n3
# A4
attached_is() { rest GET /nodes/n3 && [ "$(jq_out '.stats.attach.attached')" = "$1" ]; }
attached() { wait_until 20 attached_is "$1"; } # until GET /nodes/n3 reports it
t=$(ms)
ip -n "$NS-n3" link del dev x0
attached false
rc=$?
check "A4: the node reports its interface detached through REST ($(($(ms) - t)) ms; error: $(jq_out .stats.attach.error))" test $rc -eq 0
check "A4: the agent logged it" grep -qi "interface gone\|gone" "$TMP/n3.log"
t=$(ms)
ip -n "$NS-n3" link add name x0 type veth peer name x1
lab_up n3 x0 x1
attached true
rc=$?
check "A4: re-added interface: reported attached again through REST ($(($(ms) - t)) ms)" test $rc -eq 0
check "A4: the program is on the new x0" test -n "$(prog_id n3 x0)"

# =========================================================================================
# A5: capacity exceeded. (a) managed node n3 with room for 64 rules, controller pushes 100:
# n3 refuses before switching and keeps its active set; (b) through REST in front of a
# standalone agent (gateway in node mode): HTTP 507/413, active set unchanged.
rev_before=$(agent_info n3 revision)
body=$(python3 -c 'import json; print(json.dumps({"rules": [{"name": "a5-%d" % i, "dst_ip": "10.99.%d.%d" % (i // 256, i % 256), "action": "drop"} for i in range(100)]}))')
rest POST /rules/batch "$body"
check "A5a: the controller takes a 100-rule batch (its capacity is not the node's): $CODE" \
	test "$CODE" = 201 -o "$CODE" = 200
rev_batch=$(jq_out .sync.revision)
check "A5a: n1 and n2 apply it" waitrev 10000 "$rev_batch" n1 n2
# n3's refusal is a condition to wait for (its log says why), not a time to sleep through
wait_until 20 grep -qi "capacity\|RESOURCE_EXHAUSTED\|exhausted\|full" "$TMP/n3.log"
expect_eq "A5a: n3 (room for 64) refused it and kept its revision" "$(agent_info n3 revision)" "$rev_before"
check "A5a: n3 says why (capacity)" grep -qi "capacity\|RESOURCE_EXHAUSTED\|exhausted\|full" "$TMP/n3.log"
rest GET /nodes/n3
diag "A5a: n3 is reported '$(jq_out .status)' at revision $(jq_out .applied_revision) (controller $rev_batch)"
ids=$(python3 -c 'import json,sys; print(json.dumps({"ids": [r["id"] for r in json.load(sys.stdin)["rules"]]}))' < <(curl -s -H "X-API-Key: $KEY" "$API/rules?search=a5-&limit=100"))
rest DELETE /rules/batch "$ids"
expect_eq "A5a: the batch deleted ($(jq_out .deleted))" "$CODE" 200
check "A5a: then n3 converges again" converged 15 n1 n2 n3
# A5c: a feed refreshed with PUT /sources/:name/rules on n3 (room for 64): the delta holds
# only the diff, so a refresh needs room for its new matches only (old and new entries
# coexist during the switch): F rules then F - N shared + N new fit in the room left, F
# all new (2F in flight) do not.
feed() { python3 -c 'import json,sys; print(json.dumps({"rules": [{"dst_ip": "10.96.0.%d" % i, "action": "drop"} for i in range(int(sys.argv[1]), int(sys.argv[2]))]}))' "$1" "$2"; }
rest GET /stats
room=$((64 - $(jq_out .rules)))
F=$((room * 3 / 4)) N=$((room - room * 3 / 4))
diag "A5c: n3 has room for $room more rules: a feed of $F, refreshed with $N new, then $F new"
rest PUT /sources/feed-a5/rules "$(feed 0 "$F")"
check "A5c: a $F-rule feed applies on n1, n2 and n3 ($CODE)" waitrev 10000 "$(jq_out .sync.revision)" n1 n2 n3
rest PUT /sources/feed-a5/rules "$(feed "$N" $((F + N)))"
expect_eq "A5c: a refresh sharing $((F - N)) rules: $N added, $N removed" \
	"$(jq_out '"\(.added) \(.removed) \(.unchanged)"')" "$N $N $((F - N))"
check "A5c: it applies on n3 too ($F + $N in flight fit)" waitrev 10000 "$(jq_out .sync.revision)" n1 n2 n3
n3_rev=$(agent_info n3 revision)
refusals=$(grep -ci "capacity" "$TMP/n3.log")
rest PUT /sources/feed-a5/rules "$(feed 100 $((100 + F)))"
check "A5c: an all-new refresh of $F applies on n1 and n2" waitrev 10000 "$(jq_out .sync.revision)" n1 n2
wait_until 20 bash -c "[ \$(grep -ci capacity '$TMP/n3.log') -gt $refusals ]"
expect_eq "A5c: n3 refuses it ($F + $F in flight > $room) and keeps its revision" \
	"$(agent_info n3 revision)" "$n3_rev"
rest PUT /sources/feed-a5/rules '{"rules": []}'
check "A5c: the feed deleted ($(jq_out .removed) rules), n3 converges again" converged 15 n1 n2 n3
agent_kill n3 TERM
timeout 30 nsenter --net="/run/netns/$NS-n3" "$AGENT_BIN" --config "$TMP/n3.yaml" --detach >/dev/null 2>&1
rest DELETE /nodes/n3
# (b) standalone agent n3s + a gateway in node mode
NKEY=node-admin-key-$ID-0123456789
cat >"$TMP/n3s.yaml" <<EOF
interface: x0
xdp_mode: native
capacity:
  rules: 64
  cidr_rules: 64
  prefixes: 64
  rate_limited_rules: 16
pin_dir: $PIN/n3s
state_dir: $TMP/state-n3s
rpc:
  listen: ipc://$TMP/n3s.sock
  admin_keys: [$NKEY]
log_level: info
EOF
mkdir -p "$TMP/state-n3s"
agent_start n3s n3 >/dev/null
NGW_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'upstream:\n  mode: node\n  url: ipc://%s/n3s.sock\nlisten: 127.0.0.1:%s\nui:\n  dir: %s/no-ui\nlog_level: warn\n' \
	"$TMP" "$NGW_PORT" "$TMP" >"$TMP/ngw.yaml"
"$GW_BIN" --config "$TMP/ngw.yaml" </dev/null >/dev/null 2>>"$TMP/ngw.log" &
NGW_PID=$!
SENDER_PIDS="$SENDER_PIDS $NGW_PID"
wait_until 10 curl -s -o /dev/null "http://127.0.0.1:$NGW_PORT/health"
nrest() { # METHOD PATH [BODY] against the node-mode gateway
	CODE=$(curl -s -o "$TMP/nrest.out" -w '%{http_code}' -X "$1" -H "X-API-Key: $NKEY" \
		${3:+-H 'Content-Type: application/json' --data-binary "$3"} \
		"http://127.0.0.1:$NGW_PORT/api/v1$2")
	OUT=$(cat "$TMP/nrest.out")
}
body=$(python3 -c 'import json; print(json.dumps({"rules": [{"name": "a5b-%d" % i, "dst_ip": "10.98.%d.%d" % (i // 256, i % 256), "action": "drop"} for i in range(40)]}))')
nrest POST /rules/batch "$body"
check "A5b: 40 rules fit (node mode): $CODE" test "$CODE" = 201 -o "$CODE" = 200
nrest GET /stats
before=$(jq_out '.rules')
body=$(python3 -c 'import json; print(json.dumps({"rules": [{"name": "a5c-%d" % i, "dst_ip": "10.97.%d.%d" % (i // 256, i % 256), "action": "drop"} for i in range(40)]}))')
nrest POST /rules/batch "$body"
check "A5b: 40 more exceed the capacity of 64: HTTP 507 or 413 (got $CODE: ${OUT:0:160})" \
	test "$CODE" = 507 -o "$CODE" = 413
nrest GET /stats
expect_eq "A5b: the active set is unchanged ($before rules)" "$(jq_out '.rules')" "$before"
check "A5b: the agent is still up" kill -0 "${AGENT_PID[n3s]}"
agent_kill n3s TERM
timeout 30 nsenter --net="/run/netns/$NS-n3" "$AGENT_BIN" --config "$TMP/n3s.yaml" --detach >/dev/null 2>&1

# =========================================================================================
# C1: controller kill -9 during a 10,000-rule batch through REST
python3 - "$TMP/c1.json" <<'EOF'
import json, sys
json.dump({"rules": [{"name": "c1b-%d" % i, "src_ip": "10.%d.%d.%d" % (100 + i // 65536, (i // 256) % 256, i % 256),
                      "action": "drop"} for i in range(10000)]}, open(sys.argv[1], "w"))
EOF
batch_ms() { # one uninterrupted batch, timed, then deleted
	local t=$(ms)
	curl -s -o "$TMP/c1.out" -H "X-API-Key: $KEY" -H 'Content-Type: application/json' \
		--data-binary "@$TMP/c1.json" "$API/rules/batch"
	echo $(($(ms) - t))
}
c1_delete() {
	local ids
	ids=$(curl -s -H "X-API-Key: $KEY" "$API/rules?search=c1b-&limit=1000" |
		python3 -c 'import json,sys; print(json.dumps({"ids": [r["id"] for r in json.load(sys.stdin)["rules"]]}))')
	rest DELETE /rules/batch "$ids"
}
c1_count() { rest GET "/rules?search=c1b-&limit=1" && jq_out .pagination.total; }
bms=$(batch_ms)
diag "C1: a 10,000-rule batch takes $bms ms through REST"
# GET /rules pages at most 1000 (the gateway's limit): delete what is left in pages
while [ "$(c1_count)" -gt 0 ] 2>/dev/null; do c1_delete; [ "$CODE" = 200 ] || break; done
c1_bad=0 c1_all=0 c1_none=0 c1_conv=0
for r in $(seq "$C1_ROUNDS"); do
	curl -s -o /dev/null -H "X-API-Key: $KEY" -H 'Content-Type: application/json' \
		--data-binary "@$TMP/c1.json" --max-time 30 "$API/rules/batch" &
	cpid=$!
	# The kill point is random within the batch's expected time: the all-or-nothing check
	# holds at any kill point, so the clock only spreads where the kills land.
	sleep "$(awk -v b="$bms" -v r="$RANDOM" 'BEGIN { printf "%.3f", b * 1.2 * r / 32768 / 1000 }')"
	ctl_kill KILL
	wait "$cpid" 2>/dev/null
	integ=$(sqlite3 "$TMP/ctl.db" 'PRAGMA integrity_check' 2>&1)
	ctl_start >/dev/null || c1_bad=$((c1_bad + 1))
	[ "$integ" = ok ] || c1_bad=$((c1_bad + 1))
	cnt=$(c1_count)
	case $cnt in
	10000) c1_all=$((c1_all + 1)) ;;
	0) c1_none=$((c1_none + 1)) ;;
	*) c1_bad=$((c1_bad + 1)) && diag "C1 round $r: $cnt rules of the batch" ;;
	esac
	t=$(ms)
	if converged 30 n1 n2; then
		m=$(($(ms) - t))
		[ "$m" -gt "$c1_conv" ] && c1_conv=$m
	else
		c1_bad=$((c1_bad + 1))
	fi
	while [ "$(c1_count)" -gt 0 ] 2>/dev/null; do c1_delete; [ "$CODE" = 200 ] || break; done
done
expect_eq "C1: $C1_ROUNDS kill -9 during 10k batches: database intact, all or nothing, nodes converge" "$c1_bad" 0
diag "C1 figure: $c1_all rounds all, $c1_none rounds none, 0 partial; nodes converged within $c1_conv ms"

# =========================================================================================
# C2: node offline while 20 changes are made, then back
agent_kill n2 TERM
for i in $(seq 20); do
	write_rule "{\"name\":\"c2-$i\",\"dst_ip\":\"10.96.0.$i\",\"action\":\"drop\"}" >/dev/null
done
rest GET /nodes/n2
diag "C2: while offline n2 is reported '$(jq_out .status)'"
t=$(ms)
agent_start n2 >/dev/null
check "C2: n2 back: catches up to the controller's revision and hash" converged 15 n1 n2
diag "C2 figure: n2 converged $(($(ms) - t)) ms after its start (20 changes missed)"

# =========================================================================================
# C3: controller down: agents keep enforcing; expiry enforced by the node; reconverge
exp=$(date -u -d "@$(($(date +%s) + 5))" +%Y-%m-%dT%H:%M:%SZ)
exp_ms=$(($(date -d "$exp" +%s) * 1000))
write_rule "{\"name\":\"c3-exp\",\"dst_port\":5010,\"protocol\":\"udp\",\"action\":\"drop\",\"expires_at\":\"$exp\"}" >/dev/null
rev=$(write_rule '{"name":"c3-keep","dst_port":5011,"protocol":"udp","action":"drop"}')
check "C3: rules applied on both nodes" waitrev 10000 "$rev" n1 n2
ctl_kill KILL
t_down=$(ms)
send 10.1.0.73,10.2.0.1,5010,20 10.3.0.73,10.3.0.2,5010,20 10.1.0.73,10.2.0.1,5011,20 \
	10.3.0.73,10.3.0.2,5011,20
sent_ms=$(date +%s%3N)
settle
# measured against the observed send time: datagrams sent after expires_at prove nothing
# about the time before it
if [ "$sent_ms" -lt "$exp_ms" ]; then
	expect_eq "C3: controller down: both nodes keep dropping (and the expiring rule too, before expiry)" \
		"$(($(got 5010 10.1.0.73) + $(got 5010 10.3.0.73) + $(got 5011 10.1.0.73) + $(got 5011 10.3.0.73)))" 0
else
	expect_eq "C3: controller down: both nodes keep dropping (the expiring rule's traffic was sent $((sent_ms - exp_ms)) ms after expires_at: not counted)" \
		"$(($(got 5011 10.1.0.73) + $(got 5011 10.3.0.73)))" 0
fi
# the time is what is tested: 1.5 s after expires_at (the nodes check once a second)
while [ "$(($(date +%s%3N) - exp_ms))" -lt 1500 ]; do sleep 0.1; done
send 10.1.0.73,10.2.0.1,5010,20 10.3.0.73,10.3.0.2,5010,20 10.1.0.73,10.2.0.1,5011,20 \
	10.3.0.73,10.3.0.2,5011,20
settle
expect_eq "C3: controller still down: after expires_at the nodes pass the expired rule's traffic" \
	"$(($(got 5010 10.1.0.73) + $(got 5010 10.3.0.73)))" 40
expect_eq "C3: ... and keep dropping for the other rule" "$(($(got 5011 10.1.0.73) + $(got 5011 10.3.0.73)))" 0
ctl_start >/dev/null
t=$(ms)
check "C3: controller back after $(((t - t_down) / 1000)) s: nodes reconverge (expired rule deleted)" converged 15 n1 n2
diag "C3 figure: reconverged $(($(ms) - t)) ms after the controller's restart"
rest GET "/rules?search=c3-exp"
expect_eq "C3: the controller removed the expired rule" "$(jq_out .count)" 0

# =========================================================================================
# C4: 20 concurrent REST writers, 10 rules each
for w in $(seq 20); do
	(
		for i in $(seq 10); do
			curl -s -o /dev/null -w '%{http_code}\n' -H "X-API-Key: $KEY" \
				-H 'Content-Type: application/json' --max-time 30 \
				--data-binary "{\"name\":\"c4w-$w-$i\",\"dst_ip\":\"10.95.$w.$i\",\"action\":\"drop\"}" \
				"$API/rules"
		done >"$TMP/c4-$w"
	) &
	c4pids="${c4pids:-} $!"
done
t=$(ms)
wait $c4pids
c4ms=$(($(ms) - t))
codes=$(cat "$TMP"/c4-* | sort | uniq -c | tr '\n' ' ')
expect_eq "C4: 200 concurrent creates all answered 201 ($codes)" "$(cat "$TMP"/c4-* | grep -c '^201$')" 200
rest GET "/rules?search=c4w-&limit=1"
expect_eq "C4: 200 stored, no lost update" "$(jq_out .pagination.total)" 200
check "C4: no 'database is locked' anywhere" test -z "$(grep -il 'locked' "$TMP"/ctl.log "$TMP"/gw.log)"
t=$(ms)
check "C4: nodes converge" converged 15 n1 n2
diag "C4 figure: 200 writes by 20 writers in $c4ms ms; nodes converged $(($(ms) - t)) ms later"

# =========================================================================================
# M1: every 20th published message lost (XDROP_FAULT_DROP_EVERY_N=20 on the controller)
ctl_kill TERM
ctl_start XDROP_FAULT_DROP_EVERY_N=20 >/dev/null
converged 15 n1 n2
g0=$(cat "$TMP/n1.log" "$TMP/n2.log" | grep -c "need snapshot (gap")
for i in $(seq 100); do
	rev=$(write_rule "{\"name\":\"m1-$i\",\"dst_ip\":\"10.94.0.$i\",\"action\":\"drop\"}")
done
m=$(conv_ms 20000 "$rev" n1 n2)
gaps=$(($(cat "$TMP/n1.log" "$TMP/n2.log" | grep -c "need snapshot (gap") - g0))
check "M1: 5% of pushes lost: both nodes at the latest revision within heartbeat + 3 s ($m ms)" \
	test "$m" -ge 0 -a "$m" -le $((HB_MS + 3000))
check "M1: and at the controller's content hash" converged 5 n1 n2
diag "M1 figure: 100 changes, $gaps gaps detected on the nodes, last applied $m ms after the last write"

# M2: the last push lost, then silence (every 2nd message lost: heartbeats repair)
ctl_kill TERM
ctl_start XDROP_FAULT_DROP_EVERY_N=2 >/dev/null
converged 15 n1 n2
worst=0 fails=0
for i in $(seq 8); do
	rev=$(write_rule "{\"name\":\"m2-$i\",\"dst_ip\":\"10.93.0.$i\",\"action\":\"drop\"}")
	m=$(conv_ms 10000 "$rev" n1 n2) || fails=$((fails + 1))
	[ "$m" -gt "$worst" ] && worst=$m
	sleep 0.3 # the scenario: a quiet gap after each write (repair by heartbeat, not by the next push)
done
check "M2: every write reached both nodes within heartbeat + 1 s though every 2nd message is lost (worst $worst ms)" \
	test $fails -eq 0 -a "$worst" -le $((HB_MS + 1000))
diag "M2 figure: worst $worst ms from the REST answer to both nodes (heartbeat $HB)"
ctl_kill TERM
ctl_start >/dev/null

# =========================================================================================
# M3: slow subscriber: n2 stopped 10 s during 100 changes
converged 15 n1 n2
rss0=$(rss_kb "${AGENT_PID[n2]}")
crss0=$(rss_kb "$CTL_PID")
kill -STOP "${AGENT_PID[n2]}"
t=$(ms)
for i in $(seq 100); do
	rev=$(write_rule "{\"name\":\"m3-$i\",\"dst_ip\":\"10.92.0.$i\",\"action\":\"drop\"}")
done
while [ $(($(ms) - t)) -lt 10000 ]; do sleep 0.2; done # the scenario: stopped for 10 s
kill -CONT "${AGENT_PID[n2]}"
m=$(conv_ms 20000 "$rev" n2)
# nng 1.5 can wedge in nng_close after SIGSTOP/SIGCONT; the agent's wedge monitor then
# ends it with status 75 and its supervisor starts it again (lib/watchdog.h, syslab.sh),
# which this row counts; the PIDs below are read again for that case
check "M3: n2 resumed after 10 s stopped: at the latest revision in $m ms" test "$m" -ge 0
check "M3: and at the controller's hash" converged 10 n1 n2
diag "M3: restarts by the wedge monitor and the supervisor so far: $(grep -c "messaging stuck" "$TMP/n2.log")"
AGENT_PID[n2]=$(agent_pid n2) CTL_PID=$(ctl_pid)
rss1=$(rss_kb "${AGENT_PID[n2]}")
crss1=$(rss_kb "$CTL_PID")
check "M3: bounded memory: n2 RSS $rss0 -> $rss1 kB, controller $crss0 -> $crss1 kB (< +32 MB)" \
	test $((rss1 - rss0)) -lt 32768 -a $((crss1 - crss0)) -lt 32768
diag "M3 figure: resynced $m ms after SIGCONT (100 changes missed)"
if [ "$m" -lt 0 ]; then
	# the known stall: restart n2 so that the rows below test a healthy node
	diag "M3: n2 did not resync; its threads, then a restart for the rows below:"
	timeout 60 gdb -p "${AGENT_PID[n2]}" -batch -ex 'thread apply all bt' 2>&1 |
		grep -E '^Thread|^#' | head -200 | sed 's/^/#   /'
	tail -5 "$TMP/n2.log" | sed 's/^/#   n2.log: /'
	agent_kill n2 KILL
	agent_start n2 >/dev/null
	converged 20 n1 n2 || diag "M3: n2 still not converged after a restart"
fi

# =========================================================================================
# M4: malformed, truncated, oversize frames, unknown methods, bad auth: agent and controller
hexbytes() { od -An -v -tx1 | tr -d ' \n' | sed 's/../\\x&/g'; }
frame() { # service method token payload-text payload-type > RpcRequest bytes
	local payload
	payload=$(printf '%s' "$4" | $P --encode="xdrop.v1.$5" | hexbytes)
	printf 'service: "%s" method: "%s" call_id: 7 auth_token: "%s" payload: "%s"' \
		"$1" "$2" "$3" "$payload" | $P --encode=xdrop.v1.RpcRequest
}
nng() { # url file: one request, the decoded reply on stdout
	timeout 5 nngcat --req0 --dial "$1" --file "$2" --raw --recv-timeout 3 2>/dev/null |
		$P --decode=xdrop.v1.RpcReply 2>/dev/null
}
head -c 300 /dev/urandom >"$TMP/garbage.bin"
frame xdrop.v1.RuleService List "$KEY" 'limit: 5' ListRulesRequest >"$TMP/list.bin"
head -c $(($(stat -c %s "$TMP/list.bin") - 3)) "$TMP/list.bin" >"$TMP/trunc.bin"
frame xdrop.v1.RuleService Nope "$KEY" '' PingRequest >"$TMP/nomethod.bin"
frame xdrop.v1.NoService List "$KEY" '' PingRequest >"$TMP/nosvc.bin"
frame xdrop.v1.RuleService List "wrong-key-0123456789abcdef" 'limit: 5' ListRulesRequest >"$TMP/badauth.bin"
frame xdrop.v1.RuleService Get "$KEY" '' PingRequest >"$TMP/badpayload.bin"
printf '\x0a\xff\xff\xff\xff\x0f' >"$TMP/badlen.bin"
head -c $((17 << 20)) /dev/zero >"$TMP/oversize.bin"
m4_bad=0
for target in "controller:$CTL_RPC:$CTL_PID" "n1:ipc://$TMP/n1.sock:${AGENT_PID[n1]}"; do
	name=${target%%:*}
	rest_=${target#*:}
	pid=${rest_##*:}
	url=${rest_%:*}
	rev0=$(rev_now)
	r0=$(rss_kb "$pid")
	f0=$(fds "$pid")
	for round in $(seq 40); do
		for f in garbage trunc nomethod nosvc badauth badpayload badlen; do
			nng "$url" "$TMP/$f.bin" >"$TMP/m4.out"
			if [ $round = 1 ]; then
				code=$(sed -n 's/^code: //p' "$TMP/m4.out")
				echo "$f:${code:-OK}" >>"$TMP/m4-$name.codes"
			fi
		done
	done
	timeout 10 nngcat --req0 --dial "$url" --file "$TMP/oversize.bin" --raw --recv-timeout 3 \
		>/dev/null 2>&1
	fds_back() { [ $(($(fds "$pid") - f0)) -le 2 ]; } # the oversize frame's pipe closed
	wait_until 10 fds_back
	r1=$(rss_kb "$pid")
	f1=$(fds "$pid")
	codes=$(tr '\n' ' ' <"$TMP/m4-$name.codes")
	check "M4 $name: every bad frame got an error reply ($codes)" \
		test -z "$(grep -E ':OK$|:$' "$TMP/m4-$name.codes")"
	check "M4 $name: unknown method/service -> UNIMPLEMENTED, bad key -> UNAUTHENTICATED" \
		grep -qzE "nomethod:UNIMPLEMENTED.*nosvc:UNIMPLEMENTED.*badauth:UNAUTHENTICATED" \
		"$TMP/m4-$name.codes"
	check "M4 $name: still up and answering after 280 bad frames and a 17 MiB one" \
		ping_rpc "$url"
	expect_eq "M4 $name: nothing changed (revision)" "$(rev_now)" "$rev0"
	check "M4 $name: memory flat: RSS $r0 -> $r1 kB, fds $f0 -> $f1" \
		test $((r1 - r0)) -lt 4096 -a $((f1 - f0)) -le 2
	diag "M4 figure ($name): RSS +$((r1 - r0)) kB, fds $((f1 - f0)) after 281 bad frames"
done

expect_eq "every daemon this suite stopped ended within 15 s of its signal" "$STOP_HANGS" 0
tap_done
