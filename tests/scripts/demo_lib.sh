#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/scripts/demo_lib.sh: scripts/demo.sh run by a test, sourced by test_demo.sh and
# test_demo_ha.sh: under its own name (DEMO_NAME, from the test's PID) and a free port, so
# that it never meets a user's demo, removed at exit.
#
#   start SECONDS [ARG]  the demo (DEMO_SECONDS, e.g. ARG ha) in its own process group; DPID
#   banner               it printed its export lines
#   ended TIMEOUT        waits for it; RC is its exit status
#   left_nothing WHAT    checks: no process, namespace, pin or run directory left, and no
#                        shell error on its stderr
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
ROOT=$PWD
CTL=$ROOT/build/bin/xdropctl
NAME=xdrop-demo-t$$
RUN=/run/$NAME
TMP=$(mktemp -d)
DPID=
# shellcheck disable=SC2317 # the trap
finish() {
	[ -n "$DPID" ] && kill -TERM "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	DEMO_NAME=$NAME ./scripts/demo.sh down >/dev/null 2>&1
	rm -rf "$TMP"
}
trap finish EXIT
trap 'exit 1' INT TERM
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# start SECONDS: the demo in its own process group with SIGINT and SIGTERM at their
# defaults (a background job of a script would ignore SIGINT); DPID is its PID and group
start() {
	: >"$TMP/out"
	: >"$TMP/err"
	DEMO_NAME=$NAME DEMO_PORT=$PORT DEMO_SECONDS=$1 setsid python3 -c '
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$ROOT/scripts/demo.sh" ${2:+"$2"} >"$TMP/out" 2>"$TMP/err" </dev/null &
	DPID=$!
}
banner() { grep -q '^export XDROP_KEY=' "$TMP/out"; }
# ended TIMEOUT: waits for the demo; RC is its exit status (or "running")
ended() {
	RC=running
	wait_until "$1" eval '! kill -0 $DPID 2>/dev/null' || return 1
	wait "$DPID"
	RC=$?
	DPID=
}
# nothing of the demo left behind, and no shell error on its stderr
left_nothing() { # what ended it
	local procs="" f args
	for f in /proc/[0-9]*/cmdline; do # in bash: a grep would find itself
		[ "$f" = "/proc/$$/cmdline" ] && continue
		mapfile -d '' args <"$f" 2>/dev/null || continue
		[[ " ${args[*]} " == *"$RUN"* ]] && procs="$procs ${f//[!0-9]/}"
	done
	check_eval "$1: no process of the demo left" '[ -z "$procs" ]'
	check_eval "$1: no namespace of the demo left" "! ip netns list | grep -q '^$NAME-'"
	check_eval "$1: no pins and no run directory left" "[ ! -e /sys/fs/bpf/$NAME ] && [ ! -e $RUN ]"
	if grep -Eq 'demo\.sh: line [0-9]+|unexpected EOF|syntax error|command not found|Terminated' "$TMP/err"; then
		not_ok "$1: no shell error on stderr" "$(cat "$TMP/err")"
	else
		ok "$1: no shell error on stderr"
	fi
}

