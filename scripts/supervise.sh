#!/bin/bash
# SPDX-License-Identifier: MIT
# supervise.sh: the service manager of labs, tests and the demo, which have no systemd.
#
#   scripts/supervise.sh [--pid-file FILE] [--burst N] [--interval S] -- COMMAND [ARG...]
#
# Runs COMMAND and starts it again, after XDROP_RESTART_DELAY_S, when it exits with
# XDROP_EXIT_WEDGED (75: its wedge monitor found it stuck, lib/watchdog.h), as the systemd
# units do (Restart=, RestartSec=); any other end (0 after SIGTERM, 1 for a bad config,
# a signal) ends the supervisor with the same status (128+N for signal N). At most
# --burst restarts (5) within --interval seconds (300) are made; the next wedge ends the
# supervisor with 75, like systemd's start limit. Each restart is logged on stderr:
#   supervise: xdrop-agent (PID N) exited with status 75 (wedged): restart 1 in 1 s
# SIGTERM and SIGINT are passed to COMMAND and stop the restarts. --pid-file holds the
# PID of the running COMMAND (replaced at each restart), for whoever must signal it.
# The values below are those of lib/recovery.h; tests/unit/test_watchdog.c checks that.
set -u
WEDGED=75 # XDROP_EXIT_WEDGED
DELAY=1   # XDROP_RESTART_DELAY_S
pidfile= burst=5 interval=300
while [ $# -gt 0 ]; do
	case $1 in
	--pid-file) pidfile=$2; shift 2 ;;
	--burst) burst=$2; shift 2 ;;
	--interval) interval=$2; shift 2 ;;
	--) shift; break ;;
	*) echo "usage: supervise.sh [--pid-file F] [--burst N] [--interval S] -- CMD..." >&2; exit 2 ;;
	esac
done
[ $# -gt 0 ] || { echo "supervise: no command" >&2; exit 2; }

child= stopping= rc=0 restarts=()
on_signal() { stopping=$1; [ -n "$child" ] && kill "-$1" "$child" 2>/dev/null; }
trap 'on_signal TERM' TERM
trap 'on_signal INT' INT

while :; do
	"$@" &
	child=$!
	if [ -n "$pidfile" ]; then echo "$child" >"$pidfile.tmp" && mv -f "$pidfile.tmp" "$pidfile"; fi
	# a trapped signal interrupts wait (status 128+N): wait again until the child itself
	# has ended; a wait for a child already reaped answers 127, the status is then known
	while :; do
		wait "$child"
		rc=$?
		kill -0 "$child" 2>/dev/null || break
	done
	wait "$child" 2>/dev/null
	last=$?
	[ "$last" -eq 127 ] || rc=$last
	[ "$rc" -eq "$WEDGED" ] && [ -z "$stopping" ] || break
	now=$SECONDS
	recent=()
	for t in "${restarts[@]}"; do [ $((now - t)) -lt "$interval" ] && recent+=("$t"); done
	restarts=("${recent[@]}")
	if [ "${#restarts[@]}" -ge "$burst" ]; then
		echo "supervise: ${1##*/} (PID $child) exited with status $rc (wedged) after $burst restarts in ${interval} s: giving up" >&2
		break
	fi
	restarts+=("$now")
	echo "supervise: ${1##*/} (PID $child) exited with status $rc (wedged): restart ${#restarts[@]} in $DELAY s" >&2
	sleep "$DELAY" # RestartSec=: not a synchronisation, the service manager's pause
	[ -z "$stopping" ] || break
done
exit "$rc"
