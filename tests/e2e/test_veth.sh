#!/bin/bash
# SPDX-License-Identifier: MIT
# veth lab: the XDP program on real interfaces in network namespaces, driven through
# build/bin/xdrop-lab, proven with real traffic counted by a receiver. Prints TAP.
#
#   traditional  cli ns [c0] ==veth== [s0, program native] srv ns
#   fast-forward fcli ns [fc0] ==veth== [fb1] brg ns [fb2] ==veth== [fs0] fsrv ns
#                (no kernel bridge in brg: only the program's redirect joins fb1 and fb2)
#   foreign      frn ns [x0, a trivial XDP program of someone else] ==veth== [x1]
#
# Each node has its own pin directory (ifindexes are per namespace, so one data plane per
# node, as one agent per host). Tools that must see the pins run under nsenter --net
# (ip netns exec would remount /sys and hide them). Everything made here is named after
# this run's PID and removed by the EXIT trap.
set -u
. tests/lib/tap.sh
. tests/lib/netns.sh
BUILD=${BUILD:-build}
LAB=$PWD/$BUILD/bin/xdrop-lab
ID=$$
PIN=/sys/fs/bpf/xdrop-test-$ID
N=20 # datagrams per probe
MARK=5005 # marker port: open on every node, never filtered (lab_rx_sync)
tmp=$(mktemp -d)
lab_init "xdt$ID"
lab_at_exit 'rm -rf "$PIN" "$tmp"'

lab() { # ns, pin subdir, xdrop-lab args...
	local ns=$1 pin=$2
	shift 2
	in_ns "$ns" timeout 20 "$LAB" --pin "$PIN/$pin" "$@"
}

# ---- traffic: tests/lib/traffic.py, bounded in count and time ----
probe() { in_ns "$1" timeout 15 python3 "$LAB_TRAFFIC" "${@:2}" >/dev/null; }
serve() { # ns, state file: UDP 5001-5005 and TCP 8080-8081 for at most 170 s
	lab_serve "$1" "$2" 5001,5002,5003,5004,$MARK 170 8080,8081
}
got() { lab_got "$@"; } # state file, port, source: datagrams received
counter() { # ns, pin, name: a global counter
	lab "$1" "$2" stats | awk -v k="$3" '$1 == k && NF == 2 { print $2 }'
}
entry() { # ns, pin, "match"|"drop", rule text as stats prints it
	lab "$1" "$2" stats |
		awk -v col="$3" -v r="$4" '($1 == "rule" || $1 == "whitelist") {
			t = $0; sub(/^ *[a-z]+ +[0-9]+ +[0-9]+  /, "", t)
			if (t == r) print (col == "match" ? $2 : $3) }'
}
entry_is() { [ "$(entry "$@")" = "${*: -1}" ]; } # ns pin col rule want
entry_at_least() { # ns pin col rule want
	local v
	v=$(entry "$1" "$2" "$3" "$4")
	[ -n "$v" ] && [ "$v" -ge "$5" ]
}
pings() { # ns, address: true when at least 2 of 4 pings are answered
	in_ns "$1" ping -q -c 4 -i 0.2 -W 1 "$2" 2>/dev/null | grep -Eq ' [234] received'
}
xdp_prog() { # ns, iface: "xdp ID" or "xdpgeneric ID" of the attached program, or nothing
	ip -n "$NS-$1" link show dev "$2" |
		sed -n 's/.*prog\/\(xdp[a-z]*\) id \([0-9]*\).*/\1 \2/p' | head -1
}
has_entries() { # ns, pin, rules, whitelist entries
	lab "$1" "$2" stats | grep -q "^generation [0-9]*, $3 rules, $4 whitelist entries"
}
link_json() { bpftool -j link show pinned "$1" 2>/dev/null; }
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin).get('$1', ''))"; }
xdp_links_of_prog() { # number of XDP links holding program id $1
	bpftool -j link | python3 -c "import json,sys
print(sum(1 for l in json.load(sys.stdin) if l.get('type') == 'xdp' and l.get('prog_id') == $1))"
}
link_gone() { ! bpftool link show id "$1" >/dev/null 2>&1; }

if [ "$(id -u)" -ne 0 ] || [ ! -x "$LAB" ]; then
	echo "1..0 # SKIP needs root and $LAB (make all)"
	exit 0
fi
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || exit 1
start=$(date +%s%N)
section() { echo "# $1 ($((($(date +%s%N) - start) / 1000000)) ms)"; }

# ---- (a) traditional mode ----
section "(a) traditional mode"
lab_ns cli srv
lab_veth cli c0 srv s0
lab_addr cli c0 192.0.2.1/24 192.0.2.3/24 198.51.100.7/32 fd00::1/64 fd00::3/64
lab_addr srv s0 192.0.2.2/24 fd00::2/64
lab_up cli c0
lab_up srv s0
ip -n "$NS-srv" route add 198.51.100.0/24 dev s0
S=$tmp/srv.state
serve srv "$S" || echo "# receiver did not start"

out=$(lab srv trad attach s0 2>&1)
check "attach natively to s0 in a namespace: $out" test "$(xdp_prog srv s0 | cut -d' ' -f1)" = xdp
cat >"$tmp/rules" <<'EOF'
# traditional node: port drops, a CIDR drop with a pass punched through, a whitelisted source
dst_port=5001 protocol=udp action=drop
dst_port=8080 protocol=tcp action=drop
src_cidr=198.51.100.0/24 action=drop
src_ip=198.51.100.7 dst_port=5002 protocol=udp action=pass
wl:src_ip=192.0.2.3
wl:src_ip=fd00::3
EOF
check "load a rule file (6 entries)" lab srv trad load "$tmp/rules"
printf 'dst_port=5003 protocol=udp action=drop\ndst_port=70000 action=drop\n' >"$tmp/bad"
err=$(lab srv trad load "$tmp/bad" 2>&1 >/dev/null)
rc=$?
check "a bad rule file is refused naming line and field ($err)" \
	test $rc -eq 2 -a -n "$(echo "$err" | grep "bad:2: dst_port:")"
check "the refused file changed nothing (6 entries active)" has_entries srv trad 4 2

probe cli udp 192.0.2.1 192.0.2.2 5001 $N
probe cli udp 192.0.2.1 192.0.2.2 5002 $N
probe cli udp 192.0.2.3 192.0.2.2 5001 $N
probe cli udp 198.51.100.7 192.0.2.2 5003 $N
probe cli udp 198.51.100.7 192.0.2.2 5002 $N
probe cli udp fd00::1 fd00::2 5001 $N
probe cli udp fd00::1 fd00::2 5002 $N
probe cli udp fd00::3 fd00::2 5001 $N
lab_rx_sync cli 192.0.2.1 192.0.2.2 $MARK "$S"
expect_got "IPv4 UDP to a dropped port: nothing received" "$S" 5001 192.0.2.1 0
expect_got "IPv4 UDP to another port: all received" "$S" 5002 192.0.2.1 $N
expect_got "IPv4 UDP from a whitelisted source to the dropped port: all received" \
	"$S" 5001 192.0.2.3 $N
expect_got "IPv4 UDP from a dropped CIDR: nothing received" "$S" 5003 198.51.100.7 0
expect_got "IPv4 UDP matching a pass rule inside the dropped CIDR: all received" \
	"$S" 5002 198.51.100.7 $N
expect_got "IPv6 UDP to the dropped port: nothing received" "$S" 5001 fd00::1 0
expect_got "IPv6 UDP to another port: all received" "$S" 5002 fd00::1 $N
expect_got "IPv6 UDP from a whitelisted source: all received" "$S" 5001 fd00::3 $N
expect_eq "the port rule counted exactly the dropped datagrams (v4 + v6)" \
	"$(entry srv trad drop 'dst_port=5001 protocol=udp action=drop')" $((2 * N))
expect_eq "the CIDR rule counted its drops" \
	"$(entry srv trad drop 'src_cidr=198.51.100.0/24 action=drop')" $N
expect_eq "the pass rule counted its matches" \
	"$(entry srv trad match 'src_ip=198.51.100.7 dst_port=5002 protocol=udp action=pass')" $N
expect_range "the whitelisted counter covers both whitelisted sources" \
	"$(counter srv trad whitelisted)" $((2 * N)) $((2 * N + 10))

check "IPv4 TCP to an allowed port connects" probe cli tcp 192.0.2.1 192.0.2.2 8081
check_not "IPv4 TCP to a dropped port does not connect" probe cli tcp 192.0.2.1 192.0.2.2 8080
check "IPv6 TCP to an allowed port connects" probe cli tcp fd00::1 fd00::2 8081
check_not "IPv6 TCP to a dropped port does not connect" probe cli tcp fd00::1 fd00::2 8080
check "ICMP echo passes with no ICMP rule" pings cli 192.0.2.2
check "ICMPv6 echo passes (and NDP with it)" pings cli fd00::2
lab srv trad add dst_ip=192.0.2.2 protocol=icmp action=drop >/dev/null
check_not "after adding an ICMP drop rule, ping fails" pings cli 192.0.2.2
expect_range "the ICMP rule counted the dropped echoes" \
	"$(entry srv trad drop 'dst_ip=192.0.2.2 protocol=icmp action=drop')" 4 8
lab srv trad del dst_ip=192.0.2.2 protocol=icmp >/dev/null
check "after deleting it, ping works again" pings cli 192.0.2.2

lab srv trad add dst_port=5004 protocol=udp action=rate_limit rate_limit=10 burst=5 >/dev/null
# The bound is taken from the sender's own timestamps: the bucket can have refilled for no
# longer than from its first datagram to its last (+1 for the token in flight at each end).
read -r _ ms < <(in_ns cli timeout 15 python3 "$LAB_TRAFFIC" udp 192.0.2.1 192.0.2.2 5004 200)
lab_rx_sync cli 192.0.2.1 192.0.2.2 $MARK "$S"
expect_range "rate_limit 10/s burst 5: 200 datagrams in ${ms} ms, at most burst + rate x time received" \
	"$(got "$S" 5004 192.0.2.1)" 1 $((5 + 10 * ${ms:-0} / 1000 + 2))
expect_range "rate_limited counter" "$(counter srv trad rate_limited)" 150 200
rx=$(counter srv trad rx)
pd=$(($(counter srv trad passed) + $(counter srv trad dropped)))
expect_range "rx = passed + dropped (rx $rx)" "$pd" $((rx - 2)) $((rx + 2))

# ---- (d) adoption: pins outlive the tool; attach again upgrades in place ----
section "(d) adoption: pins outlive the tool; attach again upgrades in place"
lpin=$PIN/trad/link_s0
link1=$(link_json "$lpin" | json_field id)
prog1=$(link_json "$lpin" | json_field prog_id)
check "the link stays pinned after the tool exited (link $link1, program $prog1)" \
	test -n "$link1" -a "$(xdp_prog srv s0 | cut -d' ' -f2)" = "$prog1"
drops1=$(entry srv trad drop 'dst_port=5001 protocol=udp action=drop')
passed0=$(got "$S" 5002 198.51.100.7)
# A dropped and a passed flow (about 400 datagrams/s each) run until stopped; the upgrades
# happen while they run, chosen by progress: each waits until the receiver counted another
# 100 passed datagrams, and the flows stop only after 100 more. What was sent is counted
# by the senders, so the checks compare with that, however slow the machine.
progressed() { [ "$(got "$S" 5002 198.51.100.7)" -ge "$1" ]; }
lab_bg cli python3 "$LAB_TRAFFIC" stream 192.0.2.1 192.0.2.2 5001 0.0025 120 "$tmp/drop.sent"
s1=$LAB_PID
lab_bg cli python3 "$LAB_TRAFFIC" stream 198.51.100.7 192.0.2.2 5002 0.0025 120 "$tmp/pass.sent"
s2=$LAB_PID
wait_until 60 progressed $((passed0 + 100)) || diag "the passed flow did not start"
lab srv trad attach s0 >/dev/null 2>&1
wait_until 60 progressed $(($(got "$S" 5002 198.51.100.7) + 100)) || diag "no progress after upgrade 1"
u2=$(lab srv trad attach s0 2>&1)
wait_until 60 progressed $(($(got "$S" 5002 198.51.100.7) + 100)) || diag "no progress after upgrade 2"
lab_stop "$s1" "$s2"
sent1=$(cat "$tmp/drop.sent" 2>/dev/null)
sent2=$(cat "$tmp/pass.sent" 2>/dev/null)
diag "sent ${sent1:-?} dropped and ${sent2:-?} passed datagrams across two upgrades"
lab_rx_sync cli 192.0.2.1 192.0.2.2 $MARK "$S"
link2=$(link_json "$lpin" | json_field id)
prog2=$(link_json "$lpin" | json_field prog_id)
check "upgrade in place: same link $link1 -> $link2, new program $prog1 -> $prog2 ($u2)" \
	test -n "$link2" -a "$link1" = "$link2" -a "$prog1" != "$prog2"
expect_eq "exactly one XDP link holds the new program" "$(xdp_links_of_prog "$prog2")" 1
expect_eq "s0 runs the new program" "$(xdp_prog srv s0)" "xdp $prog2"
expect_got "no gap: every passed datagram arrived during two upgrades" \
	"$S" 5002 198.51.100.7 $((passed0 + ${sent2:-0}))
expect_got "and no dropped one leaked" "$S" 5001 192.0.2.1 0
rule5001='dst_port=5001 protocol=udp action=drop'
wait_until 10 entry_at_least srv trad drop "$rule5001" $((drops1 + ${sent1:-0}))
expect_eq "rule counters kept across the upgrade" \
	"$(entry srv trad drop "$rule5001")" $((drops1 + ${sent1:-0}))

# ---- (e) interface removed and re-added ----
section "(e) interface removed and re-added"
ip -n "$NS-cli" link del dev c0
check "the pinned link outlives its interface" test -e "$lpin"
lab_veth cli c0 srv s0
lab_addr cli c0 192.0.2.1/24
lab_addr srv s0 192.0.2.2/24
lab_up cli c0
lab_up srv s0
out=$(lab srv trad attach s0 2>&1)
rc=$?
prog3=$(link_json "$lpin" | json_field prog_id)
check "attach to the re-created s0 replaces the stale pin ($out)" \
	test $rc -eq 0 -a "$(xdp_prog srv s0)" = "xdp $prog3"
check "the stale link $link1 is gone" wait_until 10 link_gone "$link1"
# The new pair starts with empty neighbour tables: the marker goes first, so that ARP is
# resolved (and the path proven) before the counted datagrams, which then cannot wait in
# the unresolved-neighbour queue (3 packets by default) and be dropped there.
lab_rx_sync cli 192.0.2.1 192.0.2.2 $MARK "$S"
d0=$(got "$S" 5001 192.0.2.1)
o0=$(got "$S" 5003 192.0.2.1)
probe cli udp 192.0.2.1 192.0.2.2 5001 $N
probe cli udp 192.0.2.1 192.0.2.2 5003 $N
lab_rx_sync cli 192.0.2.1 192.0.2.2 $MARK "$S"
expect_got "rules still enforced on the new interface (dropped port)" \
	"$S" 5001 192.0.2.1 "$d0"
expect_got "rules still enforced on the new interface (open port)" \
	"$S" 5003 192.0.2.1 $((o0 + N))

# ---- (b) fast-forward mode ----
section "(b) fast-forward mode"
lab_ff_topology # GRO on, checksum offload off at both ends (see tests/lib/netns.sh)
F=$tmp/fsrv.state
FC=$tmp/fcli.state
serve fsrv "$F" || echo "# receiver did not start"
serve fcli "$FC" || echo "# receiver did not start"
check_not "before fast-forward, nothing joins fb1 and fb2" pings fcli 198.51.100.2
out=$(lab brg ff ff fb1 fb2 --filter inbound 2>&1)
check "fast-forward fb1 <-> fb2: $out" \
	test "$(xdp_prog brg fb1 | cut -d' ' -f1)" = xdp -a "$(xdp_prog brg fb2 | cut -d' ' -f1)" = xdp
printf 'dst_port=5001 protocol=udp action=drop\ndst_port=8080 protocol=tcp action=drop\n' |
	lab brg ff load - >/dev/null
# forget the failed resolution of the check above, so ARP starts afresh through the bridge
ip -n "$NS-fcli" neigh flush dev fc0
check "IPv4 ping crosses the bridge (ARP through it)" pings fcli 198.51.100.2
fmac=$(ip -n "$NS-fsrv" link show dev fs0 | awk '/link\/ether/ { print $2 }')
check "the client learnt the server's MAC by ARP across the bridge" \
	bash -c "ip -n '$NS-fcli' neigh show 198.51.100.2 | grep -q '$fmac'"
check "IPv6 ping crosses the bridge" pings fcli fd00:1::2
check "the client learnt the server's MAC by NDP across the bridge" \
	bash -c "ip -n '$NS-fcli' -6 neigh show fd00:1::2 | grep -q '$fmac'"
probe fcli udp 198.51.100.1 198.51.100.2 5001 $N
probe fcli udp 198.51.100.1 198.51.100.2 5002 $N
probe fcli udp fd00:1::1 fd00:1::2 5001 $N
probe fcli udp fd00:1::1 fd00:1::2 5002 $N
probe fsrv udp 198.51.100.2 198.51.100.1 5001 $N
lab_rx_sync fcli 198.51.100.1 198.51.100.2 $MARK "$F"
lab_rx_sync fsrv 198.51.100.2 198.51.100.1 $MARK "$FC"
expect_got "bridged IPv4 UDP to the dropped port: nothing received" "$F" 5001 198.51.100.1 0
expect_got "bridged IPv4 UDP to another port: all received" "$F" 5002 198.51.100.1 $N
expect_got "bridged IPv6 UDP to the dropped port: nothing received" "$F" 5001 fd00:1::1 0
expect_got "bridged IPv6 UDP to another port: all received" "$F" 5002 fd00:1::1 $N
expect_got "--filter inbound: the same flow from the server side is not filtered" \
	"$FC" 5001 198.51.100.2 $N
check "bridged TCP to an allowed port connects" probe fcli tcp 198.51.100.1 198.51.100.2 8081
check_not "bridged TCP to a dropped port does not" probe fcli tcp 198.51.100.1 198.51.100.2 8080
expect_eq "the bridge's rule counted the drops" \
	"$(entry brg ff drop 'dst_port=5001 protocol=udp action=drop')" $((2 * N))
expect_range "redirected counter" "$(counter brg ff redirected)" $((4 * N)) 100000
expect_range "non_ip counter (ARP crossed)" "$(counter brg ff non_ip)" 1 100000
check "detach fb1 (exit 0)" lab brg ff detach fb1
check_not "with fb1 detached the bridge is cut" pings fcli 198.51.100.2

# ---- (c) a foreign XDP program is refused unless --force ----
section "(c) a foreign XDP program is refused unless --force"
lab_ns frn
ip -n "$NS-frn" link add name x0 type veth peer name x1
lab_up frn x0 x1
printf '%s\n' '#include <linux/bpf.h>' \
	'__attribute__((section("xdp"), used)) int foreign_pass(struct xdp_md *c) { return XDP_PASS; }' \
	'char _license[] __attribute__((section("license"), used)) = "GPL";' >"$tmp/foreign.c"
clang -O2 -target bpf -I"/usr/include/$(uname -m)-linux-gnu" -c "$tmp/foreign.c" -o "$tmp/foreign.o" &&
	ip -n "$NS-frn" link set dev x0 xdpdrv obj "$tmp/foreign.o" sec xdp
foreign=$(xdp_prog frn x0)
err=$(lab frn frn attach x0 2>&1 >/dev/null)
rc=$?
check "a foreign program ($foreign) is refused with exit 2: $err" \
	test -n "$foreign" -a $rc -eq 2 -a -n "$(echo "$err" | grep -i foreign)"
expect_eq "and it is left in place" "$(xdp_prog frn x0)" "$foreign"
out=$(lab frn frn attach x0 --force 2>&1)
rc=$?
check "--force replaces it: $out" \
	test $rc -eq 0 -a "$(xdp_prog frn x0)" = "xdp $(link_json "$PIN/frn/link_x0" | json_field prog_id)"

# ---- usage and cleanup ----
section "usage and cleanup"
lab srv trad frob >/dev/null 2>&1
expect_eq "unknown command: exit 1" $? 1
lab srv trad detach nosuchif0 >/dev/null 2>&1
expect_eq "detach from a missing interface: exit 2" $? 2
for node in srv:trad brg:ff frn:frn; do
	lab "${node%%:*}" "${node#*:}" unpin >/dev/null 2>&1
done
check "unpin removed every pin and link" test ! -e "$PIN/trad" -a ! -e "$PIN/ff" -a ! -e "$PIN/frn"
expect_eq "s0 has no XDP program after unpin" "$(xdp_prog srv s0)" ""
section "done"
tap_done
