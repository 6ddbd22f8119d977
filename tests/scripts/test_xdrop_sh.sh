#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/scripts/test_xdrop_sh.sh: scripts/controller.sh and node.sh (scripts/xdrop.sh) with
# the real daemons: a controller on the host and an agent in a namespace on a veth, both
# started, looked at and stopped by the scripts, each with its own pid and log file here.
# start, status (running; the agent filtering: yes), a second start refused, stop, status
# stopped, a stale pid file (a PID that is gone, and one that is another program) replaced
# at start and never signalled by stop.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/lib/netns.sh
ROOT=$PWD
export XDROP_BIN=$ROOT/build/bin
CTL=$XDROP_BIN/xdropctl
TMP=$(mktemp -d)
PIN=/sys/fs/bpf/xdrop-test-sh-$$
lab_init "xsh$$"
# whatever a failed check left running: stopped by the scripts themselves (pid files)
lab_at_exit './scripts/node.sh stop --config "$TMP/agent.yaml" --pid-file "$TMP/agent.pid" >/dev/null 2>&1'
lab_at_exit './scripts/controller.sh stop --config "$TMP/ctl.yaml" --pid-file "$TMP/ctl.pid" >/dev/null 2>&1'
lab_at_exit 'rm -rf "$TMP" "$PIN"'
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
lab_ns n
lab_veth n x0 n x1
lab_up n x0 x1

KEY=xdk_test_$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat >"$TMP/ctl.yaml" <<EOF
database: $TMP/ctl.db
rpc:
  listen: ipc://$TMP/ctl-rpc.sock
push:
  listen: ipc://$TMP/ctl-push.sock
health:
  listen: ipc://$TMP/ctl-health.sock
keys:
  admin_key: $KEY
EOF
ctl() { ./scripts/controller.sh "$1" --config "$TMP/ctl.yaml" --pid-file "$TMP/ctl.pid" --log-file "$TMP/ctl.log"; }
node() { # the agent's script runs in the namespace: the agent starts there
	nsenter --net="/run/netns/$NS-n" ./scripts/node.sh "$1" --config "$TMP/agent.yaml" \
		--pid-file "$TMP/agent.pid" --log-file "$TMP/agent.log"
}
export XDROP_URL=ipc://$TMP/ctl-rpc.sock XDROP_KEY=$KEY

# ---- the controller ----
check "controller.sh start" ctl start
cpid=$(cat "$TMP/ctl.pid" 2>/dev/null)
check_eval "its pid file names the controller" "[ \"\$(readlink /proc/$cpid/exe)\" = '$XDROP_BIN/xdrop-controller' ]"
wait_until 10 "$CTL" info >/dev/null
out=$(ctl status)
check_eval "controller.sh status: running (PID $cpid)" "[[ '$out' == *'running (PID $cpid'* ]]"
out=$(ctl start 2>&1)
rc=$?
check_eval "a second start is refused (status 1, 'already running')" \
	"[ $rc = 1 ] && [[ '$out' == *'already running (PID $cpid'* ]]"
expect_eq "the refused start left the controller's pid file alone" "$(cat "$TMP/ctl.pid")" "$cpid"

# ---- the agent, registered with the controller ----
"$CTL" --json nodes add name=n1 "address=ipc://$TMP/agent.sock" >"$TMP/node.json"
nid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["node"]["id"])' "$TMP/node.json")
nkey=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"])' "$TMP/node.json")
check_eval "node registered (id $nid, a key)" "[ -n '$nid' ] && [ -n '$nkey' ]"
mkdir -p "$TMP/state"
cat >"$TMP/agent.yaml" <<EOF
node:
  id: $nid
  key: $nkey
mode: traditional
interface: x0
xdp_mode: native
pin_dir: $PIN
state_dir: $TMP/state
rpc:
  listen: ipc://$TMP/agent.sock   # the node API, asked by status
controller:
  rpc: ipc://$TMP/ctl-rpc.sock
  push: ipc://$TMP/ctl-push.sock
  health: ipc://$TMP/ctl-health.sock
EOF
check "node.sh start (in the namespace)" node start
apid=$(cat "$TMP/agent.pid" 2>/dev/null)
wait_until 15 eval "node status | grep -q 'filtering: yes'"
out=$(node status)
rc=$?
check_eval "node.sh status: running (PID $apid), status 0" "[ $rc = 0 ] && [[ '$out' == *'running (PID $apid'* ]]"
check_eval "node.sh status: filtering yes, on x0, the agent answers" "[[ '$out' == *'filtering: yes: on x0 (xdp program'*'the agent answers at ipc://$TMP/agent.sock, revision'* ]]" || diag "$out"
check "the program is on x0 indeed" eval "ip -n $NS-n link show x0 | grep -q xdp"
out=$(node start 2>&1)
check_eval "a second node.sh start is refused" "[[ '$out' == *'already running (PID $apid'* ]]"

# ---- a restore as docs/operations.md tells it: the agent takes the backup's rules and its
# lower revision at once, by a snapshot when it reconnects (no repair, no nodes sync) ----
agent_rev() { "$CTL" --agent "ipc://$TMP/agent.sock" --key "node:$nid:$nkey" info | sed -n 's/^revision //p'; }
"$CTL" rules add dst_port=10 protocol=udp action=drop name=kept >/dev/null
bk_rev=$("$CTL" info | sed -n 's/^revision //p')
sqlite3 "$TMP/ctl.db" ".backup '$TMP/backup.db'"
"$CTL" rules add dst_port=11 protocol=udp action=drop name=undone >/dev/null
"$CTL" rules add dst_port=12 protocol=udp action=drop name=undone2 >/dev/null
wait_until 10 eval '[ "$(agent_rev)" = $((bk_rev + 2)) ]'
expect_eq "the agent applied the two rules after the backup" "$(agent_rev)" $((bk_rev + 2))
ctl stop >/dev/null
mkdir -p "$TMP/replaced" && mv "$TMP"/ctl.db* "$TMP/replaced/"
install -m 0600 "$TMP/backup.db" "$TMP/ctl.db"
ctl start >/dev/null
if wait_until 10 eval '[ "$(agent_rev)" = "$bk_rev" ]'; then
	ok "after the restore the agent is at the backup's (lower) revision $bk_rev"
else
	not_ok "after the restore the agent is at the backup's (lower) revision $bk_rev" "agent at $(agent_rev)"
fi
check "it got there by a snapshot on reconnect" grep -q 'fetching a snapshot (connect' "$TMP/agent.log"
wait_until 15 eval '"$CTL" --json nodes list | grep -q "\"status\":[[:space:]]*\"online\""'
out=$("$CTL" --json nodes list | python3 -c 'import json,sys; n=json.load(sys.stdin)["nodes"][0]; print(n["status"], n["applied_revision"])')
expect_eq "the controller sees the node online at the restored revision" "$out" "online $bk_rev"
cpid=$(cat "$TMP/ctl.pid")

# ---- stop ----
check "node.sh stop" node stop
check_eval "the agent's process is gone" "[ ! -d /proc/$apid ]"
check_eval "its pid file is removed" "[ ! -e '$TMP/agent.pid' ]"
out=$(node status)
rc=$?
check_eval "node.sh status: stopped (status 3)" "[ $rc = 3 ] && [[ '$out' == *': stopped' ]]"
check "controller.sh stop" ctl stop
check_eval "the controller's process is gone" "[ ! -d /proc/$cpid ]"
out=$(ctl status)
check_eval "controller.sh status: stopped" "[[ '$out' == *': stopped' ]]"
check "stop when stopped: 'not running', status 0" eval "ctl stop | grep -q 'not running'"

# ---- stale pid files ----
sleep 30 &
other=$!
lab_track "$other"
echo "$other" >"$TMP/ctl.pid" # a PID that is running, but not the controller
out=$(ctl status)
check_eval "status with a pid file naming another program: stale" "[[ '$out' == *'stopped (stale pid file'* ]]"
ctl stop >/dev/null
check_eval "stop never signals a PID that is not the controller" "kill -0 $other"
echo "$other" >"$TMP/ctl.pid"
out=$(ctl start)
check_eval "start replaces a stale pid file" "[[ '$out' == *'removing a stale pid file'* ]] && [[ '$out' == *started* ]]"
npid=$(cat "$TMP/ctl.pid")
check_eval "the new pid file names the new controller" "[ '$npid' != '$other' ] && [ \"\$(readlink /proc/$npid/exe)\" = '$XDROP_BIN/xdrop-controller' ]"
ctl stop >/dev/null
echo 4194304 >"$TMP/ctl.pid" # a PID that is not there
out=$(ctl start)
check_eval "start after a crash (pid file of a gone PID)" "[[ '$out' == *'removing a stale pid file'* ]] && [[ '$out' == *started* ]]"
ctl stop >/dev/null
echo "rpc: [" >"$TMP/bad.yaml"
out=$(./scripts/controller.sh start --config "$TMP/bad.yaml" --pid-file "$TMP/bad.pid" --log-file "$TMP/bad.log" 2>&1)
rc=$?
check_eval "a daemon that exits at start: reported, status 1, no pid file" \
	"[ $rc = 1 ] && [[ '$out' == *'exited at start'* ]] && [ ! -e '$TMP/bad.pid' ]"
tap_done
