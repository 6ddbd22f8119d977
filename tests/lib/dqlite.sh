#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/lib/dqlite.sh: dqlite nodes (build/bin/xdrop-dqlite-node) for the shell suites,
# sourced after tap.sh. Each node runs in the background, its output in DIR.out, and is
# stopped by its PID.
#
#   dq_node_start ID ADDRESS DIR [ARGS...]  starts node ID and waits (30 s) until it is
#                                           ready; 1 (its output as comments) if not
#   dq_node_kill ID                         kill -9 of node ID
#   dq_nodes_down                           SIGTERM to every node started, then reaped
#   dq_ctl_leader LOGPREFIX ID...           of the controllers ID (logs LOGPREFIX<ID>.log),
#                                           the first whose log last said it leads
DQNODE_BIN=${DQNODE_BIN:-build/bin/xdrop-dqlite-node}
declare -A DQ_PIDS=()

dq_node_start() {
	local id=$1 addr=$2 dir=$3
	shift 3
	"$DQNODE_BIN" --id "$id" --address "$addr" --dir "$dir" "$@" >"$dir.out" 2>&1 &
	DQ_PIDS[$id]=$!
	if ! wait_until 30 grep -qs '^ready' "$dir.out"; then
		sed 's/^/# /' "$dir.out"
		return 1
	fi
}

dq_node_kill() {
	local pid=${DQ_PIDS[$1]:-}
	[ -n "$pid" ] || return 0
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unset "DQ_PIDS[$1]"
}

dq_nodes_down() {
	local id
	for id in "${!DQ_PIDS[@]}"; do kill -TERM "${DQ_PIDS[$id]}" 2>/dev/null; done
	for id in "${!DQ_PIDS[@]}"; do wait "${DQ_PIDS[$id]}" 2>/dev/null; done
	DQ_PIDS=()
}

dq_ctl_leader() {
	local pre=$1 i
	shift
	for i in "$@"; do
		grep -E "cluster: node $i (leads|no longer)" "$pre$i.log" | tail -1 |
			grep -q leads && echo "$i" && return 0
	done
	return 1
}
