#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/ui/lab.sh: the real lab the browser suite drives, sourced by test_ui.sh.
#
#   controller (host, ipc:// sockets in $UI_TMP)  <-  gateway (host, 127.0.0.1:PORT, webui/dist)
#        ^ push / beacons / snapshots (ipc://)
#   agent (ns $UI_NS-srv, XDP on s0)  ==veth==  c0 (ns $UI_NS-cli, traffic source)
#
# The agent runs inside its namespace through nsenter --net (so it still sees its pins
# under /sys/fs/bpf/xdrop-ui-$$); every socket between the daemons is a Unix socket in the
# temp directory, which namespaces share. Everything is named after the test's PID and
# removed by ui_lab_down (run from the EXIT trap); the namespaces are made with the shared
# lab (tests/lib/netns.sh, NS=$UI_NS).
set -u
UI_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
UI_BIN=${UI_BIN:-$UI_ROOT/build/bin}
UI_AGENT_BIN=${UI_AGENT_BIN:-$UI_BIN/xdrop-agent}
UI_ADMIN_KEY=ui-admin-key-0123456789abcdef
UI_NODE_ID=ui-node-1
UI_NODE_KEY=ui-node-key-0123456789abcdef
UI_NS=xui$$
UI_PIN=/sys/fs/bpf/xdrop-ui-$$
UI_TMP=$(mktemp -d /tmp/xdrop-ui.XXXXXX)
UI_PIDS=()
UI_AGENT_PID=
UI_SRV_IP=10.77.0.1
UI_CLI_IP=10.77.0.2
NS=$UI_NS
. "$UI_ROOT/tests/lib/netns.sh"

ui_lab_down() {
	local p
	for ((p = ${#UI_PIDS[@]} - 1; p >= 0; p--)); do
		# a process the test left stopped would never see the TERM
		kill -CONT "${UI_PIDS[p]}" 2>/dev/null
		kill "${UI_PIDS[p]}" 2>/dev/null && wait "${UI_PIDS[p]}" 2>/dev/null
	done
	if [ -f "$UI_TMP/agent.yaml" ]; then
		in_ns srv "$UI_AGENT_BIN" --config "$UI_TMP/agent.yaml" --detach >/dev/null 2>&1
	fi
	lab_cleanup # the namespaces
	rm -rf "$UI_PIN" "$UI_TMP"
}

ui_wait() { wait_until "$@" 2>/dev/null; } # seconds, command... (tests/lib/tap.sh)

ui_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

ui_lab_up() {
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	lab_ns srv cli || return 1
	lab_veth srv s0 cli c0 || return 1
	lab_addr srv s0 $UI_SRV_IP/24
	lab_addr cli c0 $UI_CLI_IP/24
	lab_up srv s0 lo
	lab_up cli c0 lo

	cat >"$UI_TMP/controller.yaml" <<YAML
database: $UI_TMP/controller.db
log_level: warn
rpc:
  listen: ipc://$UI_TMP/ctl-rpc.sock
push:
  listen: ipc://$UI_TMP/ctl-push.sock
  heartbeat: 500ms
health:
  listen: ipc://$UI_TMP/ctl-health.sock
  beacon_interval: 1s
keys:
  admin_key: $UI_ADMIN_KEY
nodes:
  - id: $UI_NODE_ID
    name: ui lab node
    address: ipc://$UI_TMP/agent.sock
    key: $UI_NODE_KEY
    comment: agent on s0 in $UI_NS-srv
YAML
	"$UI_BIN/xdrop-controller" --config "$UI_TMP/controller.yaml" 2>"$UI_TMP/controller.log" &
	UI_PIDS+=($!)
	ui_wait 10 test -S "$UI_TMP/ctl-rpc.sock" || { ui_log controller; return 1; }

	cat >"$UI_TMP/agent.yaml" <<YAML
node:
  id: $UI_NODE_ID
  key: $UI_NODE_KEY
mode: traditional
interface: s0
xdp_mode: native_or_generic
capacity:
  rules: 65536
  cidr_rules: 4096
  prefixes: 1024
  rate_limited_rules: 256
pin_dir: $UI_PIN
state_dir: $UI_TMP/agent-state
rpc:
  listen: ipc://$UI_TMP/agent.sock
  admin_keys: [$UI_ADMIN_KEY]
controller:
  rpc: ipc://$UI_TMP/ctl-rpc.sock
  push: ipc://$UI_TMP/ctl-push.sock
  health: ipc://$UI_TMP/ctl-health.sock
beacon_interval: 1s
stats_interval: 1s
log_level: warn
YAML
	mkdir -p "$UI_TMP/agent-state"
	lab_bg srv "$UI_AGENT_BIN" --config "$UI_TMP/agent.yaml" 2>"$UI_TMP/agent.log"
	lab_forget "$LAB_PID" # stopped in order by ui_lab_down
	UI_PIDS+=("$LAB_PID")
	UI_AGENT_PID=$LAB_PID # the browser test stops and resumes it (SIGSTOP / SIGCONT)
	ui_wait 10 test -S "$UI_TMP/agent.sock" || { ui_log agent; return 1; }

	UI_PORT=$(ui_free_port)
	cat >"$UI_TMP/gateway.yaml" <<YAML
upstream:
  mode: controller
  url: ipc://$UI_TMP/ctl-rpc.sock
listen: 127.0.0.1:$UI_PORT
ui:
  dir: $UI_ROOT/webui/dist
events:
  interval: 1s
log_level: warn
YAML
	"$UI_BIN/xdrop-gateway" --config "$UI_TMP/gateway.yaml" 2>"$UI_TMP/gateway.log" &
	UI_PIDS+=($!)
	UI_BASE=http://127.0.0.1:$UI_PORT
	ui_wait 10 curl -sf -o /dev/null "$UI_BASE/health" || { ui_log gateway; return 1; }
}

ui_log() { # daemon: its log as TAP comments
	echo "# $1 log:"
	sed 's/^/#   /' "$UI_TMP/$1.log" 2>/dev/null | tail -30
}

# ui_traffic SECONDS PPS PORT: UDP from the client namespace to the agent's address, in
# the background (its PID is kept for ui_lab_down).
ui_traffic() {
	lab_bg cli python3 -c '
import socket, sys, time
secs, pps, port = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end, gap, n = time.monotonic() + secs, 1.0 / pps, 0
t0 = time.monotonic()
while time.monotonic() < end:
    for _ in range(10):
        s.sendto(b"x" * 64, (sys.argv[4], port))
    n += 10
    delay = t0 + n * gap - time.monotonic()
    if delay > 0:
        time.sleep(delay)
' "$1" "$2" "$3" "$UI_SRV_IP"
	lab_forget "$LAB_PID"
	UI_PIDS+=("$LAB_PID")
}
