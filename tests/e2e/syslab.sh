#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/e2e/syslab.sh: the whole system in a namespace lab, sourced by test_system.sh,
# test_faults.sh and scripts/soak.sh.
#
#   cli ns [c1] ==veth== [t0 *] n1 ns [t1] ==veth== [s1] srv ns   path 1: routed by node n1
#          [c2] ==veth== [f1 *] n2 ns [f2] ==veth== [s2]          path 2: n2 bridges f1->f2
#   (* = XDP, native; n1 traditional, n2 fast-forward filtering inbound)
#
#   path 1: 10.1.0.0/24 fd01::/64 (cli side) -> 10.2.0.1 fd02::1 (srv)
#   path 2: 10.3.0.0/24 fd03::/64, one L2 segment -> 10.3.0.2 fd03::2 (srv)
#
# The controller and the gateway run on the host; the controller's rpc, push and health
# sockets and the agents' rpc sockets are ipc:// sockets in $TMP, reachable from every
# namespace (nsenter --net keeps the mount namespace). Nodes are registered through the
# REST API; each agent gets the node key in its config. Everything is named after the
# sourcing script's PID ($ID) and removed by sys_down (the EXIT trap). Processes are
# stopped by PID only.
set -u
SYS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BINDIR=${XDROP_BIN:-$SYS_ROOT/build/bin}
CTL_BIN=${CTL_BIN:-$BINDIR/xdrop-controller}
GW_BIN=${GW_BIN:-$BINDIR/xdrop-gateway}
AGENT_BIN=${AGENT_BIN:-$BINDIR/xdrop-agent}
CALL=${CALL_BIN:-$BINDIR/xdrop-call}
WAITREV=${WAITREV_BIN:-$BINDIR/xdrop-waitrev}
P="protoc --proto_path=$SYS_ROOT/proto xdrop.proto"
ID=$$
NS=xsy$ID
PIN=/sys/fs/bpf/xdrop-sys-$ID
TMP=$(mktemp -d /tmp/xdrop-sys.XXXXXX)
KEY=sys-admin-key-$ID-0123456789abcdef
HB=${HB:-500ms}        # controller heartbeat and agents' beacon interval
HB_MS=${HB%ms}
CTL_RPC=ipc://$TMP/ctl-rpc.sock
CTL_PUSH=ipc://$TMP/ctl-push.sock
CTL_HEALTH=ipc://$TMP/ctl-health.sock
SUPERVISE=$SYS_ROOT/scripts/supervise.sh
CTL_PID=
CTL_SUP=
GW_PID=
declare -A AGENT_PID AGENT_SUP NODE_KEY
SENDER_PIDS=""
# TAP (ok, not_ok, check, expect_eq, expect_range, wait_until) and the namespace lab
# (lab_ns, lab_veth, lab_addr, lab_up, in_ns); sys_down is the EXIT trap of the sourcing
# script and removes the lab's namespaces itself (lab_init is not used).
. "$SYS_ROOT/tests/lib/tap.sh"
. "$SYS_ROOT/tests/lib/netns.sh"
ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

# stop_pid PID SIGNAL NAME: signals a child and waits at most 15 s for it to end. One that
# is still running then has its threads' stacks printed as TAP comments, is killed with
# SIGKILL and counted in STOP_HANGS (a daemon must stop promptly on SIGTERM). Returns 1 then.
STOP_HANGS=0
stop_pid() {
	local pid=$1 sig=$2 name=$3 i st=
	[ -n "$pid" ] || return 0
	kill -CONT "$pid" 2>/dev/null
	kill "-$sig" "$pid" 2>/dev/null
	for ((i = 0; i < 300; i++)); do
		st=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)
		{ [ -z "$st" ] || [ "$st" = Z ]; } && break
		sleep 0.05
	done
	if [ -n "$st" ] && [ "$st" != Z ]; then
		echo "# $name (PID $pid) still running 15 s after SIG$sig; its threads:"
		timeout 60 gdb -p "$pid" -batch -ex 'thread apply all bt' 2>&1 |
			grep -E '^Thread|^#' | head -200 | sed 's/^/#   /'
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		STOP_HANGS=$((STOP_HANGS + 1))
		return 1
	fi
	wait "$pid" 2>/dev/null
	return 0
}

sys_down() {
	local p id
	for p in $SENDER_PIDS ${SRV_PID:-}; do stop_pid "$p" TERM "helper $p"; done
	for id in "${!AGENT_PID[@]}"; do agent_kill "$id" TERM; done
	stop_pid "$GW_PID" TERM gateway
	ctl_kill TERM
	lab_cleanup # the namespaces made with lab_ns
	# failed runs keep the daemons' logs for a post-mortem
	if [ "$FAILED" -gt 0 ] || [ -n "${KEEP_LOGS:-}" ]; then
		mkdir -p "/tmp/xdrop-sys-logs-$ID" && cp "$TMP"/*.log "/tmp/xdrop-sys-logs-$ID/" 2>/dev/null
		echo "# logs kept in /tmp/xdrop-sys-logs-$ID"
	fi
	rm -rf "$PIN" "$TMP"
}

# ---- the network ----
sys_net() {
	local ns h
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	lab_ns cli n1 n2 srv || return 1
	lab_veth cli c1 n1 t0
	lab_veth n1 t1 srv s1
	lab_veth cli c2 n2 f1
	lab_veth n2 f2 srv s2
	for h in 1 11 12 21 22 33 34 40 41 66 70 71 72 73 100; do
		lab_addr cli c1 "10.1.0.$h/24" "fd01::$h/64"
		lab_addr cli c2 "10.3.0.$h/24" "fd03::$h/64"
	done
	lab_addr n1 t0 10.1.0.254/24 fd01::fe/64
	lab_addr n1 t1 10.2.0.254/24 fd02::fe/64
	lab_addr srv s1 10.2.0.1/24 fd02::1/64
	lab_addr srv s2 10.3.0.2/24 fd03::2/64
	lab_up cli c1 c2
	lab_up n1 t0 t1
	lab_up n2 f1 f2
	lab_up srv s1 s2
	ip -n "$NS-cli" route add 10.2.0.0/24 via 10.1.0.254
	ip -n "$NS-cli" -6 route add fd02::/64 via fd01::fe
	ip -n "$NS-srv" route add 10.1.0.0/24 via 10.2.0.254
	ip -n "$NS-srv" -6 route add fd01::/64 via fd02::fe
	in_ns n1 sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	# redirected frames need NAPI on the receiving peer and full checksums from the sender
	in_ns cli ethtool -K c2 gro on tx off >/dev/null
	in_ns srv ethtool -K s2 gro on tx off >/dev/null
	in_ns cli ethtool -K c1 tx off >/dev/null
}

# ---- supervision ----
# The controller and the agents run under scripts/supervise.sh, the lab's service manager:
# one that exits with status 75 (its wedge monitor found it stuck, lib/watchdog.h) is
# started again, as systemd would. CTL_PID and AGENT_PID[id] are the daemons' own PIDs
# (for signals, /proc, gdb), read from the supervisor's pid file; after a restart by the
# supervisor they are read again with ctl_pid / agent_pid. The supervisor ends by itself
# once its daemon ends for any other reason (SIGTERM, kill -9).
sup_pid() { cat "$1" 2>/dev/null; } # pid file: the daemon's current PID
ctl_pid() { sup_pid "$TMP/ctl.pid"; }
agent_pid() { sup_pid "$TMP/$1.pid"; } # id
sup_end() { # supervisor PID, name: waits for a supervisor whose daemon has ended
	[ -n "$1" ] && stop_pid "$1" TERM "supervisor of $2"
}

# ---- controller, gateway ----
ctl_config() {
	cat >"$TMP/ctl.yaml" <<EOF
database: $TMP/ctl.db
log_level: info
rpc:
  listen: $CTL_RPC
push:
  listen: $CTL_PUSH
  heartbeat: $HB
health:
  listen: $CTL_HEALTH
  beacon_interval: $HB
keys:
  admin_key: $KEY
EOF
}
# ctl_start [VAR=value...]: starts the controller (with that environment), waits for Ping
ctl_start() {
	[ -f "$TMP/ctl.yaml" ] || ctl_config
	rm -f "$TMP/ctl.pid"
	env "$@" "$SUPERVISE" --pid-file "$TMP/ctl.pid" -- "$CTL_BIN" --config "$TMP/ctl.yaml" \
		</dev/null >/dev/null 2>>"$TMP/ctl.log" &
	CTL_SUP=$!
	local i
	for i in $(seq 100); do
		ping_rpc "$CTL_RPC" && CTL_PID=$(ctl_pid) && return 0
		sleep 0.05
	done
	echo "# controller did not start" && tail -5 "$TMP/ctl.log" | sed 's/^/# /'
	return 1
}
ctl_kill() { # signal
	[ -n "$CTL_SUP" ] && CTL_PID=$(ctl_pid)
	stop_pid "$CTL_PID" "${1:-TERM}" controller
	sup_end "$CTL_SUP" controller
	CTL_PID= CTL_SUP=
}
ping_rpc() { # url
	printf 'data: "x"' | $P --encode=xdrop.v1.PingRequest 2>/dev/null |
		timeout 3 "$CALL" "$1" "" HealthService Ping >/dev/null 2>&1
}
gw_start() {
	GW_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	cat >"$TMP/gw.yaml" <<EOF
upstream:
  mode: controller
  url: $CTL_RPC
listen: 127.0.0.1:$GW_PORT
ui:
  dir: $TMP/no-ui
limits:
  per_client_connections: 64
log_level: warn
EOF
	"$GW_BIN" --config "$TMP/gw.yaml" </dev/null >/dev/null 2>>"$TMP/gw.log" &
	GW_PID=$!
	BASE=http://127.0.0.1:$GW_PORT
	API=$BASE/api/v1
	local i
	for i in $(seq 100); do
		curl -s -o /dev/null "$BASE/health" && return 0
		sleep 0.05
	done
	echo "# gateway did not start" && tail -5 "$TMP/gw.log" | sed 's/^/# /'
	return 1
}

# rest METHOD PATH [BODY]: sets CODE and OUT (the body)
rest() {
	local args=(-s -o "$TMP/rest.out" -w '%{http_code}' -X "$1" -H "X-API-Key: $KEY"
		--max-time 60)
	[ -n "${3-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	CODE=$(curl "${args[@]}" "$API$2")
	OUT=$(cat "$TMP/rest.out")
}
jq_out() { jq -r "$1" <<<"$OUT"; }
ctl_revision() { # the controller's revision, through GET /stats
	rest GET /stats && jq_out .revision
}

# ---- agents ----
# node_add ID MODE-YAML [CAPACITY-RULES]: registers the node through REST, writes its config
# (SYS_AGENT_YAML, when set, is appended to every agent's config)
node_add() {
	local id=$1 cap=${3:-65536}
	rest POST /nodes "{\"id\": \"$id\", \"name\": \"$id\", \"address\": \"ipc://$TMP/$id.sock\"}"
	[ "$CODE" = 201 ] || { echo "# POST /nodes $id: $CODE $OUT"; return 1; }
	NODE_KEY[$id]=$(jq_out .key)
	mkdir -p "$TMP/state-$id"
	cat >"$TMP/$id.yaml" <<EOF
node:
  id: $id
  key: ${NODE_KEY[$id]}
$2
xdp_mode: native
capacity:
  rules: $cap
  cidr_rules: 4096
  prefixes: 1024
  rate_limited_rules: 256
pin_dir: $PIN/$id
state_dir: $TMP/state-$id
rpc:
  listen: ipc://$TMP/$id.sock
controller:
  rpc: $CTL_RPC
  push: $CTL_PUSH
  health: $CTL_HEALTH
beacon_interval: $HB
log_level: info
${SYS_AGENT_YAML:-}
EOF
}
agent_start() { # id [ns] (ns defaults to id)
	local id=$1 ns=${2:-$1} i
	rm -f "$TMP/$id.pid"
	nsenter --net="/run/netns/$NS-$ns" "$SUPERVISE" --pid-file "$TMP/$id.pid" -- \
		"$AGENT_BIN" --config "$TMP/$id.yaml" </dev/null >/dev/null 2>>"$TMP/$id.log" &
	AGENT_SUP[$id]=$!
	AGENT_PID[$id]=
	for i in $(seq 100); do
		AGENT_PID[$id]=$(agent_pid "$id")
		[ -S "$TMP/$id.sock" ] && ping_rpc "ipc://$TMP/$id.sock" && return 0
		kill -0 "${AGENT_SUP[$id]}" 2>/dev/null || break
		sleep 0.05
	done
	echo "# agent $id did not start" && tail -5 "$TMP/$id.log" | sed 's/^/# /'
	return 1
}
agent_kill() { # id [signal]
	[ -n "${AGENT_SUP[$1]:-}" ] && AGENT_PID[$1]=$(agent_pid "$1")
	stop_pid "${AGENT_PID[$1]}" "${2:-TERM}" "agent $1"
	sup_end "${AGENT_SUP[$1]:-}" "agent $1"
	unset "AGENT_PID[$1]" "AGENT_SUP[$1]"
}
node_token() { echo "node:$1:${NODE_KEY[$1]}"; }
# agent_info ID FIELD: a field of AgentService.Info (revision, content_hash)
agent_info() { # (proto3 text omits zero values: a missing revision is 0)
	local v
	v=$(printf '' | timeout 5 "$CALL" "ipc://$TMP/$1.sock" "$(node_token "$1")" AgentService \
		Info 2>/dev/null | $P --decode=xdrop.v1.InfoReply 2>/dev/null |
		sed -n "s/^$2: \"\{0,1\}\([^\"]*\)\"\{0,1\}$/\1/p")
	[ -z "$v" ] && [ "$2" = revision ] && ping_rpc "ipc://$TMP/$1.sock" && v=0
	echo "$v"
}
agent_stats() { # ID: NodeStats as protobuf text
	printf '' | timeout 5 "$CALL" "ipc://$TMP/$1.sock" "$(node_token "$1")" AgentService \
		GetStats 2>/dev/null | $P --decode=xdrop.v1.NodeStats 2>/dev/null
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
# waitrev TIMEOUT_MS REV ID...: prints "REV ms..." once every node applied REV
waitrev() {
	local to=$1 rev=$2 id args=()
	shift 2
	for id in "$@"; do args+=("ipc://$TMP/$id.sock" "$(node_token "$id")"); done
	"$WAITREV" "$to" "$rev" "${args[@]}"
}
# post_timed PATH BODY TIMEOUT_MS ID...: REST POST, then the time until each node applied it
post_timed() {
	local path=$1 body=$2 to=$3 id args=()
	shift 3
	for id in "$@"; do args+=("ipc://$TMP/$id.sock" "$(node_token "$id")"); done
	"$WAITREV" --post "127.0.0.1:$GW_PORT" "/api/v1$path" "$KEY" "$body" "$to" 0 "${args[@]}"
}
# converged TIMEOUT_S ID...: every node at the controller's revision and content hash
converged() {
	local to=$1 id end rev hash
	shift
	end=$(($(ms) + to * 1000))
	while [ "$(ms)" -lt "$end" ]; do
		rest GET /stats
		rev=$(jq_out .revision)
		local all=1
		for id in "$@"; do
			[ "$(agent_info "$id" revision)" = "$rev" ] || { all=0; break; }
		done
		if [ $all = 1 ]; then
			hash=$(agent_info "$1" content_hash)
			for id in "$@"; do [ "$(agent_info "$id" content_hash)" = "$hash" ] || all=0; done
			[ $all = 1 ] && return 0
		fi
		sleep 0.1
	done
	return 1
}

# the standard system: controller, gateway, n1 (traditional on t0), n2 (fast-forward)
sys_up() {
	sys_net || return 1
	ctl_start || return 1
	gw_start || return 1
	node_add n1 "mode: traditional
interface: t0" || return 1
	node_add n2 "mode: fast_forward
fast_forward:
  inbound: f1
  outbound: f2
  filter_on: inbound" || return 1
	agent_start n1 && agent_start n2
}

# ---- traffic: a UDP receiver on the server counting per (port, source); bounded senders ----
# (tests/lib/traffic.py: serve, send)
SYS_TRAFFIC=$SYS_ROOT/tests/lib/traffic.py
PORTS=5000,5001,5002,5003,5004,5005,5006,5007,5008,5009,5010,5011,5012
srv_start() { # max seconds
	# nsenter itself (not the in_ns function) in the background: $! is then the program
	local end=$((SECONDS + 10))
	rm -f "$TMP/recv"
	nsenter --net="/run/netns/$NS-srv" python3 "$SYS_TRAFFIC" serve "$TMP/recv" "$PORTS" \
		"${1:-600}" </dev/null >/dev/null &
	SRV_PID=$!
	# the server writes its (empty) counts once every port is bound
	while [ ! -e "$TMP/recv" ] && [ "$SECONDS" -lt "$end" ]; do sleep 0.05; done
}
# send SPEC...: SPEC = src,dst,port,count[,pps]; blocks until sent (bounded by count)
send() { in_ns cli timeout 120 python3 "$SYS_TRAFFIC" send "$@"; }
send_bg() { # like send, in the background (its PID in SENDER_PIDS)
	nsenter --net="/run/netns/$NS-cli" timeout 600 python3 "$SYS_TRAFFIC" send "$@" \
		</dev/null >/dev/null &
	SENDER_PIDS="$SENDER_PIDS $!"
	LAST_SENDER=$!
}
got() { # port src: datagrams the server received
	awk -v p="$1" -v s="$2" '$1 == p && $2 == s { c = $3 } END { print c + 0 }' \
		"$TMP/recv" 2>/dev/null
}
# settle: every datagram sent before has been through the nodes and counted. A marker from
# each path and family (port 5012, which no rule matches) is counted by the server after
# what was sent before it on the same path (instead of sleeping "long enough"; the old
# argument, a time, is ignored). Waits 30 s at most per marker; 1 if one never came.
settle() {
	local s n i rc=0
	for s in 10.1.0.1 10.3.0.1 fd01::1 fd03::1; do
		n=$(got 5012 "$s")
		for i in $(seq 15); do
			send "$s,$(dst_of "$s"),5012,1"
			[ "$(wait_got 5012 "$s" $((n + 1)) 2)" -gt "$n" ] && continue 2
		done
		diag "settle: no marker from $s counted in 30 s"
		rc=1
	done
	return $rc
}
# wait_got PORT SRC MIN [SECS]: until the server counted MIN datagrams from SRC on PORT
# (10 s by default); prints the count either way
wait_got() {
	local end=$((SECONDS + ${4:-10})) n
	while n=$(got "$1" "$2"); [ "$n" -lt "$3" ] && [ "$SECONDS" -lt "$end" ]; do
		sleep 0.05
	done
	echo "$n"
}
# warm_up SRC...: one datagram from each SRC to port 5012 of its server, again every 0.2 s,
# until the server received one (neighbour discovery and routes settled) or 10 s passed
warm_up() {
	local s end=$((SECONDS + 10))
	for s in "$@"; do
		while [ "$(got 5012 "$s")" -lt 1 ] && [ "$SECONDS" -lt "$end" ]; do
			send "$s,$(dst_of "$s"),5012,1"
			[ "$(wait_got 5012 "$s" 1 1)" -ge 1 ] && break
		done
	done
}
# the server-side destination of a source address (same path)
dst_of() {
	case $1 in
	10.1.0.*) echo 10.2.0.1 ;;
	10.3.0.*) echo 10.3.0.2 ;;
	fd01::*) echo fd02::1 ;;
	fd03::*) echo fd03::2 ;;
	esac
}
