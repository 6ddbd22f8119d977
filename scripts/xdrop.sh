#!/bin/bash
# SPDX-License-Identifier: MIT
# xdrop.sh: start, stop and look at an XDrop daemon on a host without systemd (the units in
# scripts/systemd/ are the way with it). scripts/controller.sh, node.sh and gateway.sh are
# this script for one daemon each, as v2.7's controller.sh and node.sh were.
#
#   scripts/xdrop.sh start|stop|restart|status controller|agent|gateway [OPTIONS]
#     --config FILE     the daemon's config (default $XDROP_CONFIG_DIR/DAEMON.yaml,
#                       XDROP_CONFIG_DIR: /etc/xdrop)
#     --pid-file FILE   default $XDROP_RUN_DIR/DAEMON.pid (XDROP_RUN_DIR: /run/xdrop)
#     --log-file FILE   stdout and stderr, appended (default $XDROP_LOG_DIR/DAEMON.log,
#                       XDROP_LOG_DIR: /var/log/xdrop)
#   XDROP_BIN: where the programs are (default /usr/local/bin when the daemon is there,
#   else this tree's build/bin). XDROP_STOP_TIMEOUT: seconds a stop waits after SIGTERM
#   before SIGKILL (default 30, as the units' TimeoutStopSec).
#
# start refuses when the pid file names a running daemon; a pid file whose PID is gone or
# is another program (a stale one, after a crash or a reboot) is replaced. stop signals
# only the PID of the pid file, and only when /proc/PID/exe is this daemon. status says
# running or stopped and, for the agent, whether the node filters: an XDP program on its
# configured interfaces (in its namespace), and whether the agent answers at its rpc.listen
# (xdropctl --agent ... info with its node token) and at which revision.
# Exit status (LSB): 0 done or running; 1 failed, or stopped with a stale pid file;
# 2 usage; 3 stopped.
set -u
usage() {
	sed -n '7,16p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
[ $# -ge 2 ] || usage
action=$1 daemon=$2
shift 2
case $action in start | stop | restart | status) ;; *) usage ;; esac
case $daemon in controller | agent | gateway) ;; node) daemon=agent ;; *) usage ;; esac
prog=xdrop-$daemon
config=${XDROP_CONFIG_DIR:-/etc/xdrop}/$daemon.yaml
pidfile=${XDROP_RUN_DIR:-/run/xdrop}/$daemon.pid
logfile=${XDROP_LOG_DIR:-/var/log/xdrop}/$daemon.log
while [ $# -gt 0 ]; do
	case $1 in
	--config) config=${2:?}; shift 2 ;;
	--pid-file) pidfile=${2:?}; shift 2 ;;
	--log-file) logfile=${2:?}; shift 2 ;;
	*) usage ;;
	esac
done
if [ -n "${XDROP_BIN:-}" ]; then
	bindir=$XDROP_BIN
elif [ -x "/usr/local/bin/$prog" ]; then
	bindir=/usr/local/bin
else
	bindir=$(cd "$(dirname "$0")/.." && pwd)/build/bin
fi
say() { printf '%s: %s\n' "$prog" "$*"; }

# running_pid: prints the pid file's PID when that process is this daemon; returns 1 when
# there is no pid file, 2 when it is stale (the PID is gone or is another program)
running_pid() {
	local pid exe
	[ -f "$pidfile" ] || return 1
	read -r pid <"$pidfile" 2>/dev/null
	case $pid in '' | *[!0-9]*) return 2 ;; esac
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 2
	exe=${exe% (deleted)} # the binary was replaced by an upgrade while it ran
	[ "${exe##*/}" = "$prog" ] || return 2
	echo "$pid"
}

# yaml_get SECTION KEY: the value of KEY under the top-level SECTION of the config, or of
# the top-level KEY when SECTION is empty (what status needs: rpc.listen, node.id, ...)
yaml_get() {
	awk -v s="$1" -v k="$2" '
		s == "" && $0 ~ "^" k ":" { sub("^" k ":[ ]*", ""); sub(/[ ]+#.*$/, ""); print; exit }
		s == "" { next }
		/^[^ #]/ { insec = ($0 ~ "^" s ":") }
		insec && $0 ~ "^[ ]+" k ":" {
			sub("^[ ]+" k ":[ ]*", ""); sub(/[ ]+#.*$/, ""); gsub(/^["\047]|["\047]$/, "")
			print; exit
		}' "$config" 2>/dev/null
}

start() {
	local pid rc i
	pid=$(running_pid)
	rc=$?
	if [ $rc -eq 0 ]; then
		say "already running (PID $pid, pid file $pidfile)" >&2
		return 1
	fi
	[ $rc -eq 2 ] && say "removing a stale pid file $pidfile" && rm -f "$pidfile"
	[ -x "$bindir/$prog" ] || { say "$bindir/$prog not found (set XDROP_BIN)" >&2; return 1; }
	[ -r "$config" ] || { say "cannot read the config $config" >&2; return 1; }
	mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")" || return 1
	if [ "$daemon" = agent ]; then # as the unit's ExecStartPre
		mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || return 1
	fi
	# its own session: a closed terminal or a Ctrl-C in it does not reach the daemon
	setsid "$bindir/$prog" --config "$config" </dev/null >>"$logfile" 2>&1 &
	pid=$!
	echo "$pid" >"$pidfile.tmp" && mv -f "$pidfile.tmp" "$pidfile"
	# a bad config or a busy port ends the daemon within its first moments: report it here
	for i in $(seq 20); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			say "exited at start with status $?; the end of $logfile:" >&2
			tail -n 10 "$logfile" >&2
			rm -f "$pidfile"
			return 1
		fi
		sleep 0.05
	done
	say "started (PID $pid, log $logfile)"
}

stop() {
	local pid rc timeout=${XDROP_STOP_TIMEOUT:-30}
	pid=$(running_pid)
	rc=$?
	if [ $rc -ne 0 ]; then
		[ $rc -eq 2 ] && say "removing a stale pid file $pidfile" && rm -f "$pidfile"
		say "not running"
		return 0
	fi
	kill -TERM "$pid" || return 1
	for _ in $(seq $((timeout * 10))); do
		[ -d "/proc/$pid" ] || break
		sleep 0.1
	done
	if [ -d "/proc/$pid" ]; then
		say "still running ${timeout} s after SIGTERM: SIGKILL (PID $pid)" >&2
		kill -KILL "$pid"
	fi
	rm -f "$pidfile"
	say "stopped (PID $pid)"
}

# filtering PID: whether the node filters: the kernel's word on the configured interfaces
# (an XDP program attached, in the agent's network namespace) and the agent's (AgentService
# Info through xdropctl --agent at its rpc.listen, with its node token: it answers, and at
# which revision). xdropctl prints no attach state, so the program is looked up on the link.
filtering() {
	local pid=$1 url id key ifc line on="" off="" info agent
	for ifc in $(yaml_get '' interface) $(yaml_get fast_forward inbound) \
		$(yaml_get fast_forward outbound); do
		line=$(nsenter --net="/proc/$pid/ns/net" ip -o link show dev "$ifc" 2>/dev/null)
		if [[ $line =~ prog/(xdp[a-z]*)\ id\ ([0-9]+) ]]; then
			on="$on, $ifc (${BASH_REMATCH[1]} program ${BASH_REMATCH[2]})"
		else
			off="$off, $ifc"
		fi
	done
	url=$(yaml_get rpc listen)
	id=$(yaml_get node id)
	key=$(yaml_get node key)
	if [ -z "$url" ]; then
		agent="no rpc.listen in $config to ask the agent"
	elif info=$(timeout 10 "$bindir/xdropctl" --agent "$url" --key "node:$id:$key" info 2>&1); then
		agent="the agent answers at $url, $(grep -m1 '^revision' <<<"$info")"
	else
		agent="the agent did not answer at $url: ${info//$'\n'/ }"
	fi
	if [ -n "$on" ]; then
		echo "yes: on ${on#, }${off:+; not on ${off#, }}; $agent"
	else
		echo "no: no XDP program on ${off#, }; $agent"
	fi
}

status() {
	local pid rc
	pid=$(running_pid)
	rc=$?
	case $rc in
	1) say "stopped"; return 3 ;;
	2) say "stopped (stale pid file $pidfile)"; return 1 ;;
	esac
	say "running (PID $pid, since $(ps -o lstart= -p "$pid"), log $logfile)"
	[ "$daemon" = agent ] && say "filtering: $(filtering "$pid")"
	return 0
}

case $action in
start) start ;;
stop) stop ;;
restart) stop && start ;;
status) status ;;
esac
