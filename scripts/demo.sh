#!/bin/bash
# SPDX-License-Identifier: MIT
# The XDrop demo, for now the data plane alone (the daemons do not exist yet): a namespace
# lab with a traffic generator, a traditional node (the program on its inbound interface,
# routing to the server) and a fast-forward node (the program bridging two interfaces),
# example rules on both, and their counters printed every second. Runs until Ctrl-C, or
# for DEMO_SECONDS seconds, then removes everything it made.
#
#   gen ns  [g1] ==veth== [t0 *] trad ns [t1] ==veth== [s1] srv ns
#           [g2] ==veth== [f1 *] ff ns   [f2 *] ==veth== [s2]
#                                          (* = the XDP program, native mode)
#
#   ./scripts/demo.sh        start (make demo)
#   ./scripts/demo.sh down   remove what a crashed demo left behind (make demo-down)
#
# It touches only what it names: the namespaces xdrop-demo-*, the pin directory
# /sys/fs/bpf/xdrop-demo and the state directory /run/xdrop-demo.
set -u
cd "$(dirname "$0")/.."
LAB=$PWD/build/bin/xdrop-lab
PFX=xdrop-demo
PIN=/sys/fs/bpf/$PFX
RUN=/run/$PFX
NODES="gen trad ff srv"
DEMO_SECONDS=${DEMO_SECONDS:-0}

say() { printf '%s\n' "$*"; }
in_ns() { # node, command... (nsenter keeps the pins under /sys/fs/bpf visible)
	local node=$1
	shift
	nsenter --net="/run/netns/$PFX-$node" "$@"
}
lab() { # node, xdrop-lab args...
	local node=$1
	shift
	in_ns "$node" "$LAB" --pin "$PIN/$node" "$@"
}

down() {
	local pid node pids="" alive
	if [ -f "$RUN/pids" ]; then
		while read -r pid; do
			# only our own processes: their command line names the state directory
			if grep -qs "$RUN" "/proc/$pid/cmdline"; then
				kill "$pid" 2>/dev/null && pids="$pids $pid"
			fi
		done <"$RUN/pids"
	fi
	for _ in $(seq 30); do # they stop within 0.2 s; give them 3
		alive=""
		for pid in $pids; do [ -d "/proc/$pid" ] && alive="$alive $pid"; done
		[ -z "$alive" ] && break
		pids=$alive
		sleep 0.1
	done
	for node in $NODES; do
		ip netns del "$PFX-$node" 2>/dev/null
	done
	# the interfaces went with their namespaces; the pinned links and maps go here
	rm -rf "$PIN" "$RUN"
}

if [ "$(id -u)" -ne 0 ]; then
	say "demo: needs root (network namespaces, XDP, bpffs)" >&2
	exit 1
fi
if [ "${1:-}" = down ]; then
	down
	say "demo: removed namespaces $PFX-*, $PIN and $RUN (if they existed)"
	exit 0
fi
if [ ! -x "$LAB" ]; then
	say "demo: $LAB is missing; run make all" >&2
	exit 1
fi
if [ -e "$RUN" ] || ip netns list | grep -q "^$PFX-"; then
	say "demo: a demo is running or left state behind; stop it, or run make demo-down" >&2
	exit 1
fi
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || exit 1

# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
	trap - EXIT INT TERM
	say ""
	say "demo: removing the lab"
	down
}
trap cleanup EXIT
trap 'exit 0' INT TERM
mkdir -p "$RUN"

cat <<'EOF'
==============================================================================
 XDrop demo: the DATA PLANE ONLY.
 The controller, gateway, agents and web UI do not exist yet, so there is no
 REST API, no UI and no API key. This lab loads the XDP program directly with
 build/bin/xdrop-lab and shows what it does to real traffic.
==============================================================================
EOF

# ---- the lab ----
set -e
for node in $NODES; do ip netns add "$PFX-$node"; done
ip link add g1 netns "$PFX-gen" type veth peer name t0 netns "$PFX-trad"
ip link add t1 netns "$PFX-trad" type veth peer name s1 netns "$PFX-srv"
ip link add g2 netns "$PFX-gen" type veth peer name f1 netns "$PFX-ff"
ip link add f2 netns "$PFX-ff" type veth peer name s2 netns "$PFX-srv"
# traditional path, routed by the trad node: 192.0.2.0/24 -> 198.51.100.0/24
ip -n "$PFX-gen" addr add 192.0.2.1/24 dev g1
ip -n "$PFX-gen" addr add 192.0.2.10/24 dev g1  # a whitelisted partner
ip -n "$PFX-gen" addr add 192.0.2.66/24 dev g1  # an attacker in 192.0.2.64/26
ip -n "$PFX-trad" addr add 192.0.2.254/24 dev t0
ip -n "$PFX-trad" addr add 198.51.100.254/24 dev t1
ip -n "$PFX-srv" addr add 198.51.100.1/24 dev s1
# fast-forward path, one L2 segment bridged by the program: 203.0.113.0/24
ip -n "$PFX-gen" addr add 203.0.113.1/24 dev g2
ip -n "$PFX-gen" addr add 203.0.113.10/24 dev g2
ip -n "$PFX-gen" addr add 203.0.113.66/24 dev g2
ip -n "$PFX-srv" addr add 203.0.113.2/24 dev s2
for l in gen:g1 gen:g2 trad:t0 trad:t1 ff:f1 ff:f2 srv:s1 srv:s2; do
	ip -n "$PFX-${l%%:*}" link set dev "${l#*:}" up
done
ip -n "$PFX-gen" route add 198.51.100.0/24 via 192.0.2.254
ip -n "$PFX-srv" route add 192.0.2.0/24 via 198.51.100.254
in_ns trad sysctl -qw net.ipv4.ip_forward=1
# Frames redirected into a veth need NAPI on the receiving peer (GRO turns it on) and
# complete L4 checksums (a redirect drops the skb's checksum offload state).
in_ns gen ethtool -K g2 gro on tx off >/dev/null
in_ns srv ethtool -K s2 gro on tx off >/dev/null
set +e

lab trad attach t0 || exit 1
lab ff ff f1 f2 --filter inbound || exit 1

# ---- example rules (rule_parse_kv syntax; "wl:" = whitelist) ----
rules() { # net prefix of the node's client side, e.g. 192.0.2
	cat <<EOF
# attack range dropped, except one flow punched through with a pass rule
src_cidr=$1.64/26 action=drop
src_ip=$1.66 dst_port=443 protocol=udp action=pass
# memcached amplification and telnet dropped from everyone
dst_port=11211 protocol=udp action=drop
dst_port=23 protocol=tcp action=drop
# DNS limited to 50 packets per second
dst_port=53 protocol=udp action=rate_limit rate_limit=50 burst=10
# a partner is never filtered
wl:src_ip=$1.10
EOF
}
rules 192.0.2 >"$RUN/rules-trad"
rules 203.0.113 >"$RUN/rules-ff"
say ""
say "rules on both nodes (their own client addresses):"
sed -n 's/^/  /p' "$RUN/rules-trad"
lab trad load "$RUN/rules-trad" >/dev/null || exit 1
lab ff load "$RUN/rules-ff" >/dev/null || exit 1

# ---- traffic: a receiver on the server, a generator sending a fixed mix ----
cat >"$RUN/traffic.py" <<'EOF'
import os, select, signal, socket, sys, time

stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
signal.signal(signal.SIGINT, lambda *a: stop.append(1))

def receive(state, max_secs):
    socks = []
    for p in (53, 443, 8080, 11211):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", p))
        s.setblocking(False)
        socks.append(s)
    counts, last, end = {}, 0.0, time.monotonic() + max_secs
    while not stop and time.monotonic() < end:
        for s in select.select(socks, [], [], 0.2)[0]:
            while True:
                try:
                    addr = s.recvfrom(2048)[1]
                except (BlockingIOError, InterruptedError):
                    break
                k = (addr[0], s.getsockname()[1])
                counts[k] = counts.get(k, 0) + 1
        if time.monotonic() - last > 0.5:
            try:
                with open(state + ".tmp", "w") as f:
                    for (src, port), c in sorted(counts.items()):
                        f.write(f"{src} {port} {c}\n")
                os.replace(state + ".tmp", state)
            except OSError:  # the demo is being removed
                break
            last = time.monotonic()

def generate(max_secs):
    # per 10 ms tick: (source, destination, port, datagrams)
    mix = []
    for net, dst in (("192.0.2", "198.51.100.1"), ("203.0.113", "203.0.113.2")):
        mix += [(f"{net}.1", dst, 8080, 1),     # good: application traffic
                (f"{net}.1", dst, 53, 3),       # DNS: 300/s against a 50/s limit
                (f"{net}.1", dst, 11211, 2),    # memcached: dropped
                (f"{net}.10", dst, 11211, 1),   # partner to memcached: whitelisted
                (f"{net}.66", dst, 8080, 2),    # attacker: dropped by CIDR
                (f"{net}.66", dst, 443, 1)]     # attacker's one allowed flow (QUIC): passed
    socks = {}
    for src, _, _, _ in mix:
        if src not in socks:
            socks[src] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks[src].bind((src, 0))
    end, tick = time.monotonic() + max_secs, 0
    while not stop and time.monotonic() < end:
        tick += 1
        if tick % 10 == 0:  # a telnet attempt every 100 ms per path: its SYN is dropped
            for dst in ("198.51.100.1", "203.0.113.2"):
                t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                t.setblocking(False)
                t.connect_ex((dst, 23))
                t.close()
        for src, dst, port, n in mix:
            for _ in range(n):
                try:
                    socks[src].sendto(b"demo" * 8, (dst, port))
                except OSError:
                    pass
        time.sleep(0.01)

if sys.argv[1] == "receive":
    receive(sys.argv[2], float(sys.argv[3]))
else:
    generate(float(sys.argv[2]))
EOF
# Both run at most an hour (or the demo's length); the trap stops them sooner.
limit=3600
[ "$DEMO_SECONDS" -gt 0 ] && limit=$((DEMO_SECONDS + 5))
nsenter --net="/run/netns/$PFX-srv" python3 "$RUN/traffic.py" receive "$RUN/received" $limit &
echo $! >>"$RUN/pids"
nsenter --net="/run/netns/$PFX-gen" python3 "$RUN/traffic.py" generate $limit &
echo $! >>"$RUN/pids"

received() { # source, port
	awk -v s="$1" -v p="$2" '$1 == s && $2 == p { c = $3 } END { print c + 0 }' \
		"$RUN/received" 2>/dev/null
}
report() {
	local node net
	for node in trad ff; do
		if [ $node = trad ]; then
			say "---- traditional node (program on t0, routing to the server) ----"
			net=192.0.2
		else
			say "---- fast-forward node (program bridging f1 <-> f2, filtering inbound) ----"
			net=203.0.113
		fi
		lab $node stats
		say "  the server received from this path:" \
			"good $(received $net.1 8080), DNS $(received $net.1 53)," \
			"memcached $(received $net.1 11211), partner $(received $net.10 11211)," \
			"attacker $(received $net.66 8080), attacker:443 $(received $net.66 443)"
	done
}

say ""
if [ "$DEMO_SECONDS" -gt 0 ]; then
	say "demo: traffic is flowing; counters every second for $DEMO_SECONDS s"
else
	say "demo: traffic is flowing; counters every second. Ctrl-C stops and cleans up."
fi
t0=${EPOCHREALTIME/./}
next=$((t0 + 1000000))
while :; do
	now=${EPOCHREALTIME/./}
	[ "$now" -lt "$next" ] && sleep "$(printf '0.%06d' $((next - now)))"
	next=$((next + 1000000))
	el=$(((${EPOCHREALTIME/./} - t0) / 1000000))
	[ -t 1 ] && tput clear
	say "==== t = ${el} s    XDrop demo: data plane only (no daemons yet) ===="
	report
	[ "$DEMO_SECONDS" -gt 0 ] && [ "$el" -ge "$DEMO_SECONDS" ] && break
done
exit 0
