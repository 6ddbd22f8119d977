#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/gateway/lib.sh: shared set-up of the gateway suites, sourced by each test_*.sh.
#
# gw_lab_up starts a real xdrop-agent (standalone, ASan build) on one end of a veth pair in
# its own network namespace, with its RPC port on an ipc:// socket in a temp directory (so
# the gateway outside the namespace can reach it), its pins under /sys/fs/bpf/<unique> and
# its state in the temp directory. gw_start starts xdrop-gateway-san in front of it.
# Everything is named after the test's pid and removed by gw_lab_down (run from a trap);
# the namespace is made with the shared lab (tests/lib/netns.sh): GW_NS is its name.
# ctl_lab_up starts a real xdrop-controller instead, and the gateway in controller mode in
# front of it (CTL_EXTRA_YAML: more lines for its config); ctl_lab_down (before
# gw_lab_down) stops it.
set -u
GW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GW_BIN=${GW_BIN:-$GW_ROOT/build/bin/xdrop-gateway-san}
AGENT_BIN=${AGENT_BIN:-$GW_ROOT/build/bin/xdrop-agent}
CTL_BIN=${CTL_BIN:-$GW_ROOT/build/bin/xdropctl}
CTRL_BIN=${CTRL_BIN:-$GW_ROOT/build/bin/xdrop-controller}
ADMIN_KEY=admin-key-0123456789abcdef
READ_KEY=read-key-0123456789abcdef
NS=xgw$$
GW_NS=$NS-agent
PIN=/sys/fs/bpf/xdrop-gw-$$
TMP=$(mktemp -d /tmp/xdrop-gw.XXXXXX)
AGENT_URL=ipc://$TMP/agent.sock
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
GW_PID=
AGENT_PID=
CTRL_PID=
. "$GW_ROOT/tests/lib/tap.sh"
. "$GW_ROOT/tests/lib/netns.sh"

# ctl_lab_tap: the TAP header of a suite that needs the controller; skips the whole suite
# (exit 0) when it is not built.
ctl_lab_tap() {
	echo "TAP version 13"
	if [ ! -x "$CTRL_BIN" ]; then
		echo "1..0 # SKIP $CTRL_BIN not built"
		exit 0
	fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ctl_lab_up: a real xdrop-controller on free loopback ports (its health socket at
# CTL_HEALTH_URL when set, e.g. where a fake agent beacons), XDROP_URL and XDROP_KEY (and
# CURL_UP) exported for xdropctl, one TAP check that it answers, then the gateway in
# controller mode in front of it (a bail-out when the gateway does not start).
ctl_lab_up() {
	local rpc push health
	rpc=$(free_port) push=$(free_port) health=$(free_port)
	cat >"$TMP/ctrl.yaml" <<YAML
database: $TMP/ctrl.db
log_level: warn
rpc:
  listen: tcp://127.0.0.1:$rpc
push:
  listen: tcp://127.0.0.1:$push
health:
  listen: ${CTL_HEALTH_URL:-tcp://127.0.0.1:$health}
keys:
  admin_key: $ADMIN_KEY
YAML
	[ -z "${CTL_EXTRA_YAML:-}" ] || printf '%s\n' "$CTL_EXTRA_YAML" >>"$TMP/ctrl.yaml"
	"$CTRL_BIN" --config "$TMP/ctrl.yaml" 2>"$TMP/ctrl.log" &
	CTRL_PID=$!
	export XDROP_URL=tcp://127.0.0.1:$rpc XDROP_KEY=$ADMIN_KEY
	CURL_UP=$XDROP_URL
	wait_until 10 "$CTL_BIN" -q ping 2>/dev/null
	check "controller up (xdropctl ping)" "$CTL_BIN" -q ping
	mkdir -p "$TMP/dist"
	echo '<!doctype html>' >"$TMP/dist/index.html"
	GW_MODE=controller GW_UPSTREAM=$XDROP_URL gw_start || { echo "Bail out! gateway"; exit 1; }
}

# ctl_lab_down: stops the controller of ctl_lab_up (also one a test stopped with SIGSTOP).
ctl_lab_down() {
	[ -n "$CTRL_PID" ] && kill -CONT "$CTRL_PID" 2>/dev/null
	[ -n "$CTRL_PID" ] && kill "$CTRL_PID" 2>/dev/null && wait "$CTRL_PID" 2>/dev/null
	CTRL_PID=
}

gw_lab_down() {
	[ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null
	[ -n "$AGENT_PID" ] && lab_stop "$AGENT_PID"
	if [ -x "$AGENT_BIN" ] && [ -f "$TMP/agent.yaml" ]; then
		in_ns agent "$AGENT_BIN" --config "$TMP/agent.yaml" --detach >/dev/null 2>&1
	fi
	lab_cleanup # the namespace and anything else the lab made
	rm -rf "$PIN" "$TMP"
}

gw_lab_up() {
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	lab_ns agent || return 1
	lab_veth agent v0 agent v1
	lab_up agent v0 v1
	cat >"$TMP/agent.yaml" <<YAML
interface: v0
xdp_mode: native_or_generic
pin_dir: $PIN
state_dir: $TMP/state
capacity:
  rules: 262144
  cidr_rules: 16384
  prefixes: 4096
  rate_limited_rules: 1024
rpc:
  listen: $AGENT_URL
  admin_keys: [$ADMIN_KEY]
  read_only_keys: [$READ_KEY]
log_level: warn
YAML
	mkdir -p "$TMP/state"
	lab_bg agent "$AGENT_BIN" --config "$TMP/agent.yaml" 2>"$TMP/agent.log"
	AGENT_PID=$LAB_PID
	wait_until 10 test -S "$TMP/agent.sock" && return 0
	echo "# agent did not start:" && sed 's/^/# /' "$TMP/agent.log"
	return 1
}

# gw_start [extra yaml lines]: writes $TMP/gw.yaml and starts the gateway on a free port.
# GW_MODE, GW_UPSTREAM, GW_TOKEN and GW_UPSTREAM_EXTRA (indented lines) shape upstream:,
# GW_UI_EXTRA (indented lines) ui:.
gw_start() {
	GW_PORT=$(free_port)
	{
		echo "upstream:"
		echo "  mode: ${GW_MODE:-node}"
		echo "  url: ${GW_UPSTREAM:-$AGENT_URL}"
		echo "  token: ${GW_TOKEN:-}"
		[ -n "${GW_UPSTREAM_EXTRA:-}" ] && printf '%s\n' "$GW_UPSTREAM_EXTRA"
		echo "listen: 127.0.0.1:$GW_PORT"
		echo "ui:"
		echo "  dir: $TMP/dist"
		[ -n "${GW_UI_EXTRA:-}" ] && printf '%s\n' "$GW_UI_EXTRA"
		echo "log_level: warn"
		printf '%s\n' "$@"
	} >"$TMP/gw.yaml"
	"$GW_BIN" --config "$TMP/gw.yaml" 2>>"$TMP/gw.log" &
	GW_PID=$!
	BASE=${GW_SCHEME:-http}://127.0.0.1:$GW_PORT
	for _ in $(seq 100); do
		curl -sk -o /dev/null "$BASE/health" && return 0
		sleep 0.1
	done
	echo "# gateway did not start:" && sed 's/^/# /' "$TMP/gw.log"
	return 1
}

gw_stop() {
	[ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null
	GW_PID=
}

# req METHOD PATH [BODY [KEY]]: sets CODE and BODY_OUT (default key: admin).
req() {
	local key=${4-$ADMIN_KEY} args=(-sk -o "$TMP/out" -w '%{http_code}' -X "$1")
	[ -n "$key" ] && args+=(-H "X-API-Key: $key")
	if [ -n "${3-}" ]; then
		args+=(-H 'Content-Type: application/json' --data-binary "$3")
	fi
	CODE=$(curl "${args[@]}" "$BASE$2")
	BODY_OUT=$(cat "$TMP/out")
}

# jq-like field read with python: jget EXPR (on BODY_OUT), e.g. jget '["rule"]["id"]'
jget() {
	python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(eval("d"+sys.argv[1]))' "$1" <<<"$BODY_OUT"
}

# expect CODE FIELD DESC: checks the last req's status and (when FIELD is not -) the
# "field" of the error body.
expect() {
	local want=$1 field=$2 d=$3 got_field=
	if [ "$field" != - ]; then
		got_field=$(jget '.get("field","")' 2>/dev/null)
	fi
	if [ "$CODE" = "$want" ] && { [ "$field" = - ] || [ "$got_field" = "$field" ]; }; then
		ok "$d"
	else
		not_ok "$d (got $CODE field='$got_field': ${BODY_OUT:0:200})"
	fi
}

gw_alive() { kill -0 "$GW_PID" 2>/dev/null; }

# gw_until SECONDS CMD...: runs CMD every 0.1 s until it succeeds (0) or SECONDS have
# passed (1): how the suites wait for a condition instead of sleeping a fixed time.
gw_until() {
	local t0=$EPOCHREALTIME s=$1
	shift
	until "$@"; do
		awk -v a="$t0" -v b="$EPOCHREALTIME" -v s="$s" 'BEGIN { exit !(b - a < s) }' || return 1
		sleep 0.1
	done
}

# gw_fds: the gateway's open file descriptors now
gw_fds() { ls /proc/$GW_PID/fd | wc -l; }

# gw_fds_settled: true when the gateway's fd count is the same in three reads 0.1 s apart
gw_fds_settled() {
	local a b c
	a=$(gw_fds); sleep 0.1; b=$(gw_fds); sleep 0.1; c=$(gw_fds)
	[ "$a" = "$b" ] && [ "$b" = "$c" ]
}

# top_shape BY VERDICT WINDOW_S: the last req answered 200 with a TopTalkersReply for that
# query (talkers heaviest first, count, the sampling figures, nodes and missing_nodes).
top_shape() {
	[ "$CODE" = 200 ] || { echo "status $CODE: $BODY_OUT"; return 1; }
	BODY_OUT=$BODY_OUT python3 - "$1" "$2" "$3" <<'PY'
import json, os, sys
d = json.loads(os.environ["BODY_OUT"])
by, verdict, window = sys.argv[1], sys.argv[2], int(sys.argv[3])
assert (d["by"], d["verdict"], d["window_s"]) == (by, verdict, window), d
for k in ("talkers", "count", "span_s", "sample_rate", "samples", "total_packets",
          "total_bytes", "nodes", "missing_nodes", "at"):
    assert k in d, k
assert d["count"] == len(d["talkers"]), d
pk = [t["packets"] for t in d["talkers"]]
assert pk == sorted(pk, reverse=True), pk
for t in d["talkers"]:
    assert set(t) >= {"key", "packets", "bytes", "pps", "bps", "share", "error_packets"}, t
PY
}
