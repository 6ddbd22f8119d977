#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/cli/lib.sh: the lab of the CLI suites that need one controller, sourced. The
# controller has its own SQLite database and ipc:// sockets in a temp dir and is stopped by
# PID at exit; xdropctl reaches it through XDROP_URL/XDROP_KEY.
#
#   cli_init NAME [COMMAND...]  TAP header; SKIP unless the binaries (and each COMMAND) exist;
#                               TMP=/tmp/xdrop-NAME.XXXXXX; the EXIT trap (cli_down)
#   cli_ctrl_up                 starts the controller, exports XDROP_URL and XDROP_KEY, and
#                               waits until it answers (Bail out! if it does not in 20 s);
#                               CLI_CTRL_YAML: more lines for its config (e.g. cluster:)
#   cli_ctrl_down               stops it (SIGTERM, then SIGKILL after 15 s)
#   ctl ARGS...                 xdropctl with a 60 s bound
#   revision                    the controller's revision
set -u
CTRL_BIN=${CTRL_BIN:-build/bin/xdrop-controller}
CTL_BIN=${CTL_BIN:-build/bin/xdropctl}
ADMIN_KEY=admin-key-0123456789abcdef
CTRL_PID=
. "$(dirname "${BASH_SOURCE[0]}")/../lib/tap.sh"

cli_init() {
	local name=$1 b
	shift
	echo "TAP version 13"
	for b in "$CTRL_BIN" "$CTL_BIN"; do
		if [ ! -x "$b" ]; then
			echo "1..0 # SKIP $b not built"
			exit 0
		fi
	done
	for b in "$@"; do
		if ! command -v "$b" >/dev/null; then
			echo "1..0 # SKIP no $b command"
			exit 0
		fi
	done
	TMP=$(mktemp -d "/tmp/xdrop-$name.XXXXXX")
	trap cli_down EXIT
}

cli_ctrl_down() {
	if [ -n "$CTRL_PID" ]; then
		kill -TERM "$CTRL_PID" 2>/dev/null
		wait_until 15 bash -c "! kill -0 $CTRL_PID 2>/dev/null" ||
			kill -KILL "$CTRL_PID" 2>/dev/null
		wait "$CTRL_PID" 2>/dev/null
	fi
	CTRL_PID=
}

cli_down() {
	cli_ctrl_down
	rm -rf "$TMP"
}

ctl() { timeout 60 "$CTL_BIN" "$@"; }
revision() { ctl --json info | python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"])'; }

cli_ctrl_up() {
	{
		echo "database: $TMP/ctl.db"
		echo "log_level: warn"
		echo "rpc: {listen: \"ipc://$TMP/rpc.sock\"}"
		echo "push: {listen: \"ipc://$TMP/push.sock\"}"
		echo "health: {listen: \"ipc://$TMP/health.sock\"}"
		echo "keys: {admin_key: $ADMIN_KEY}"
		[ -z "${CLI_CTRL_YAML:-}" ] || printf '%s\n' "$CLI_CTRL_YAML"
	} >"$TMP/ctl.yaml"
	"$CTRL_BIN" --config "$TMP/ctl.yaml" 2>"$TMP/ctl.log" &
	CTRL_PID=$!
	export XDROP_URL=ipc://$TMP/rpc.sock XDROP_KEY=$ADMIN_KEY
	if ! wait_until 20 ctl -q --timeout 500 ping 2>/dev/null; then
		sed 's/^/# /' "$TMP/ctl.log"
		echo "Bail out! controller did not start"
		exit 1
	fi
}
