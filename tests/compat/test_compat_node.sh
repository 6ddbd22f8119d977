#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/compat/test_compat_node.sh: XDrop 2.7's documented REST examples
# (tests/compat/cases.json, written from its controller/API.md and node/API.md) replayed
# against xdrop-gateway (ASan build) in node mode, in front of one standalone xdrop-agent
# (XDP on a veth in a namespace): the lab of tests/gateway/lib.sh; then again with
# auth.enabled: false (cases of mode node-noauth). Issue 14.
cd "$(dirname "$0")/../.." || exit 1
. tests/gateway/lib.sh
. tests/compat/compat.sh
echo "TAP version 13"
for b in "$GW_BIN" "$AGENT_BIN"; do
	if [ ! -x "$b" ]; then
		echo "1..0 # SKIP $b not built"
		exit 0
	fi
done
trap gw_lab_down EXIT
gw_lab_up || { echo "Bail out! agent"; exit 1; }
mkdir -p "$TMP/dist"
echo '<!doctype html>' >"$TMP/dist/index.html"
gw_start || { echo "Bail out! gateway"; exit 1; }
COMPAT_KEY=$ADMIN_KEY
compat_selftest
compat_run node
# v2.7's auth.enabled: false (the gateway's too): the auth routes and the API answer anyone
gw_stop
GW_TOKEN=$ADMIN_KEY gw_start "auth:" "  enabled: false" || { echo "Bail out! gateway without auth"; exit 1; }
compat_run node-noauth
check "gateway still running" gw_alive
check_not "no sanitizer report in the gateway log" grep -qE 'ERROR|runtime error' "$TMP/gw.log"
tap_done
