#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/security/lib.sh: the scaffolding the tests/security suites share, sourced by each
# (it defines functions and defaults only, and starts nothing by itself):
#   sec_need BIN...          skips the whole suite (TAP "1..0 # SKIP") unless each BIN
#                            is built
#   sec_port                 a free loopback TCP port, picked by the kernel
#   sec_wait TENTHS CMD...   CMD every 0.1 s until it succeeds, at most TENTHS times
#   sec_ctrl_yaml FILE DB RPC PUSH HEALTH KEYS [LINE...]
#                            a controller config: its database, listeners and keys (one
#                            line of keys:, e.g. "admin_key: K"), then LINEs as given;
#                            $SEC_RPC_EXTRA (indented lines) goes under rpc:, and
#                            $SEC_LOG_LEVEL (warn) is its log_level
#   sec_ctrl_start CFG LOG [VAR=value...]
#                            xdrop-controller ($CTRL_BIN) with that environment: CTRL_PID
#                            (in the network namespace $SEC_NETNS when that is set)
#   sec_ctrl_up TENTHS CMD...
#                            waits for CMD to succeed while CTRL_PID lives (deadline)
#   sec_gw_yaml FILE URL PORT [LINE...]
#                            a gateway config in front of the controller at URL;
#                            $SEC_UPSTREAM_EXTRA (indented lines) goes under upstream:
#   sec_gw_start CFG LOG PORT
#                            xdrop-gateway ($GW_BIN) started and waited for (GET /health
#                            on 127.0.0.1:PORT within 10 s): GW_PID
#   sec_stop PID [TENTHS]    SIGTERM, then SIGKILL if PID is still there after TENTHS
#                            (150) tenths of a second; reaps it and returns its exit
#                            status (1 when it was no longer running: it ended on its own)
CTRL_BIN=${CTRL_BIN:-build/bin/xdrop-controller}
GW_BIN=${GW_BIN:-build/bin/xdrop-gateway}

sec_need() {
	local b
	for b in "$@"; do
		if [ ! -x "$b" ]; then
			echo "1..0 # SKIP $b not built"
			exit 0
		fi
	done
}

sec_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

sec_wait() {
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

sec_ctrl_yaml() {
	local file=$1 db=$2 rpc=$3 push=$4 health=$5 keys=$6
	shift 6
	{
		echo "database: $db"
		echo "log_level: ${SEC_LOG_LEVEL:-warn}"
		echo "rpc:"
		echo "  listen: $rpc"
		[ -n "${SEC_RPC_EXTRA:-}" ] && printf '%s\n' "$SEC_RPC_EXTRA"
		echo "push:"
		echo "  listen: $push"
		echo "health:"
		echo "  listen: $health"
		echo "keys:"
		echo "  $keys"
		[ $# -gt 0 ] && printf '%s\n' "$@"
	} >"$file"
}

sec_ctrl_start() {
	local cfg=$1 log=$2
	shift 2
	# env and nsenter (no --fork) exec the controller: $! is its PID
	env "$@" ${SEC_NETNS:+nsenter --net=/run/netns/$SEC_NETNS} "$CTRL_BIN" --config "$cfg" \
		</dev/null >/dev/null 2>>"$log" &
	CTRL_PID=$!
}

# the readiness check of sec_ctrl_up: CMD succeeds, or the controller is gone (then stop)
sec__ctrl_ready() {
	"$@" && return 0
	kill -0 "$CTRL_PID" 2>/dev/null || return 2
	return 1
}

sec_ctrl_up() {
	local n=$1 i rc
	shift
	for ((i = 0; i < n; i++)); do
		sec__ctrl_ready "$@"
		rc=$?
		[ $rc = 0 ] && return 0
		[ $rc = 2 ] && return 1
		sleep 0.1
	done
	return 1
}

sec_gw_yaml() {
	local file=$1 url=$2 port=$3
	shift 3
	{
		echo "upstream:"
		echo "  mode: controller"
		echo "  url: $url"
		[ -n "${SEC_UPSTREAM_EXTRA:-}" ] && printf '%s\n' "$SEC_UPSTREAM_EXTRA"
		echo "listen: 127.0.0.1:$port"
		[ $# -gt 0 ] && printf '%s\n' "$@"
	} >"$file"
}

sec_gw_start() {
	"$GW_BIN" --config "$1" 2>>"$2" &
	GW_PID=$!
	sec_wait 100 curl -s -o /dev/null "http://127.0.0.1:$3/health"
}

sec_stop() {
	local i
	if ! kill -TERM "$1" 2>/dev/null; then
		wait "$1" 2>/dev/null
		return 1
	fi
	for ((i = 0; i < ${2:-150}; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
