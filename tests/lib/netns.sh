#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/lib/netns.sh: the namespace lab of the shell suites, sourced. Namespaces, veth
# pairs and background processes made through it are removed at exit, whatever way the
# suite ends (EXIT trap; INT and TERM exit 1 so that the trap runs).
#
#   lab_init PREFIX             NS=PREFIX (namespaces are "$NS-name"); installs the traps
#   lab_ns NAME...              ip netns add "$NS-NAME" for each, remembered for cleanup
#   lab_veth NS1 IF1 NS2 IF2 [IDX1 IDX2]
#                               a veth pair IF1 (in NS1) <-> IF2 (in NS2), optional ifindexes
#   lab_addr NS IF ADDR...      adds addresses (IPv6 ones without duplicate detection)
#   lab_up NS IF...             sets the interfaces up
#   in_ns NS CMD...             runs CMD in the namespace with nsenter --net, which keeps
#                               /sys/fs/bpf visible (ip netns exec remounts /sys)
#   lab_bg NS CMD...            CMD in the background in NS; LAB_PID is its PID (nsenter
#                               execs, so the PID is CMD's own), stopped at exit
#   lab_track PID...            stop these PIDs at exit too
#   lab_forget PID...           the suite reaped these itself (wait): never signal them again
#   lab_stop PID...             SIGTERM, then SIGKILL after 5 s; waits for each
#   lab_at_exit CMD             runs CMD (eval) at exit, after the processes stopped and
#                               before the namespaces go; hooks run in registration order
#   lab_ff_topology             the fast-forward lab of the agent and veth suites:
#                               fcli [fc0 198.51.100.1 fd00:1::1] ==veth== [fb1] brg [fb2]
#                               ==veth== [fs0 198.51.100.2 fd00:1::2] fsrv; nothing joins
#                               fb1 and fb2 but an XDP program's redirect
#
# Traffic (tests/lib/traffic.py; needs tests/lib/tap.sh for wait_until):
#   lab_serve NS STATE UDPPORTS MAXSECS [TCPPORTS]
#                               a receiver counting datagrams per (port, source) in STATE;
#                               returns once STATE exists (the sockets are bound)
#   lab_got STATE PORT SRC      datagrams counted so far
#   lab_rx_sync NS SRC DST PORT STATE
#                               sends a marker datagram (resent each 2 s, up to 30 s) and
#                               waits until the receiver counted it: what was sent on the
#                               same path before it has been through the data plane and
#                               counted (one veth ring keeps the order). Replaces a sleep
#                               "long enough for the receiver" with the receiver's word.
#   lab_wait_got SECONDS STATE PORT SRC N   waits until exactly N are counted
#   expect_got DESC STATE PORT SRC N        a TAP check that N were counted (a positive N
#                               is waited for first; 0 relies on a lab_rx_sync before)
#
# Only what this run made is touched: PIDs it started, namespaces it named.
LAB_TRAFFIC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/traffic.py
LAB_NAMESPACES=""
LAB_PIDS=""
LAB_HOOKS=()

lab_stop() {
	local p i
	for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
	for p in "$@"; do
		for i in $(seq 100); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
		lab_forget "$p" # reaped: a reused PID is never signalled at exit
	done
	return 0
}
lab_cleanup() {
	local h ns
	# shellcheck disable=SC2086
	[ -z "$LAB_PIDS" ] || lab_stop $LAB_PIDS
	for h in "${LAB_HOOKS[@]}"; do eval "$h"; done
	for ns in $LAB_NAMESPACES; do ip netns del "$ns" 2>/dev/null; done
	LAB_PIDS=""
	LAB_NAMESPACES=""
}
lab_init() {
	NS=$1
	trap lab_cleanup EXIT
	trap 'exit 1' INT TERM
}
lab_at_exit() { LAB_HOOKS+=("$1"); }
lab_track() { LAB_PIDS="$LAB_PIDS $*"; }
lab_forget() {
	local p
	for p in "$@"; do LAB_PIDS=$(echo " $LAB_PIDS " | sed "s/ $p / /g"); done
}
lab_ns() {
	local n
	for n in "$@"; do
		ip netns add "$NS-$n" || return 1
		LAB_NAMESPACES="$LAB_NAMESPACES $NS-$n"
	done
}
lab_veth() { # ns1 if1 ns2 if2 [idx1 idx2]
	if [ $# -ge 6 ]; then
		ip link add "$2" index "$5" netns "$NS-$1" type veth peer name "$4" index "$6" \
			netns "$NS-$3"
	else
		ip link add "$2" netns "$NS-$1" type veth peer name "$4" netns "$NS-$3"
	fi
}
lab_addr() { # ns if addr...
	local ns=$1 dev=$2 a
	shift 2
	for a in "$@"; do
		case $a in
		*:*) ip -n "$NS-$ns" addr add "$a" dev "$dev" nodad || return 1 ;;
		*) ip -n "$NS-$ns" addr add "$a" dev "$dev" || return 1 ;;
		esac
	done
}
lab_up() { # ns if...
	local ns=$1 dev
	shift
	for dev in "$@"; do ip -n "$NS-$ns" link set dev "$dev" up || return 1; done
}
lab_ff_topology() {
	lab_ns fcli brg fsrv || return 1
	lab_veth fcli fc0 brg fb1
	lab_veth fsrv fs0 brg fb2
	lab_addr fcli fc0 198.51.100.1/24 fd00:1::1/64
	lab_addr fsrv fs0 198.51.100.2/24 fd00:1::2/64
	lab_up fcli fc0
	lab_up brg fb1 fb2
	lab_up fsrv fs0
	# XDP_REDIRECT into a veth drops the frame unless the receiving peer runs NAPI, which
	# GRO turns on. A redirected frame also loses the skb's "checksum not yet computed"
	# state, so the senders compute L4 checksums in software (as a NIC's wire frames have).
	in_ns fcli ethtool -K fc0 gro on tx off >/dev/null
	in_ns fsrv ethtool -K fs0 gro on tx off >/dev/null
}
in_ns() { # ns, command...
	local ns=$1
	shift
	nsenter --net="/run/netns/$NS-$ns" "$@"
}
lab_bg() { # ns, command...
	local ns=$1
	shift
	nsenter --net="/run/netns/$NS-$ns" "$@" &
	LAB_PID=$!
	lab_track "$LAB_PID"
}

lab_serve() { # ns state udpports maxsecs [tcpports]
	lab_bg "$1" python3 "$LAB_TRAFFIC" serve "$2" "$3" "$4" ${5:+"$5"}
	wait_until 30 test -f "$2"
}
lab_got() { # state port src
	awk -v p="$2" -v s="$3" '$1 == p && $2 == s { c = $3 } END { print c + 0 }' "$1" 2>/dev/null ||
		echo 0
}
lab_got_is() { [ "$(lab_got "$1" "$2" "$3")" -ge "$4" ]; } # state port src n: at least n
lab_wait_got() { # seconds state port src n: exactly n in the end (at least n, then equal)
	wait_until "$1" lab_got_is "$2" "$3" "$4" "$5"
	[ "$(lab_got "$2" "$3" "$4")" -eq "$5" ]
}
lab_rx_sync() { # ns src dst port state
	local want i
	want=$(($(lab_got "$5" "$4" "$2") + 1))
	for i in $(seq 15); do
		in_ns "$1" timeout 10 python3 "$LAB_TRAFFIC" udp "$2" "$3" "$4" 1 >/dev/null
		wait_until 2 lab_got_is "$5" "$4" "$2" "$want" && return 0
	done
	echo "# no marker from $2 to $3:$4 counted in 30 s" >&2
	return 1
}
expect_got() { # description state port src n
	[[ $5 =~ ^[0-9]+$ ]] && [ "$5" -gt 0 ] && lab_wait_got 10 "$2" "$3" "$4" "$5"
	expect_eq "$1" "$(lab_got "$2" "$3" "$4")" "$5"
}
