#!/bin/bash
# SPDX-License-Identifier: MIT
# cluster ui suite: the settings page's cluster card (webui/src/components/ClusterCard.vue)
# in Debian's chromium (playwright-core), against a real controller whose cluster section
# joins three xdrop-dqlite-node processes (its own node the fourth) (tests/lib/dqlite.sh), behind a real gateway
# serving webui/dist: members, roles and the leader shown, a leadership transfer from the
# card, the card in another language. Prints TAP (cluster_ui_test.mjs numbers the tests);
# screenshots under build/test-artifacts/ui-cluster/. No root, no namespaces.
cd "$(dirname "$0")/../.." || exit 1
. tests/cli/lib.sh
. tests/lib/dqlite.sh
ARTIFACTS=${UI_ARTIFACTS:-$PWD/build/test-artifacts/ui-cluster}
GW=build/bin/xdrop-gateway
skip() {
	echo "TAP version 13"
	echo "1..0 # SKIP $*"
	exit 0
}
[ -x /usr/bin/chromium ] || skip "needs Debian's chromium (make deps)"
[ -f webui/dist/index.html ] || skip "needs webui/dist (make all)"
[ -d webui/node_modules/playwright-core ] || skip "needs webui/node_modules (make all)"
[ -x "$GW" ] && [ -x "$DQNODE_BIN" ] || skip "needs $GW and $DQNODE_BIN (make all)"
cli_init cluster-ui python3
GW_PID=
down() {
	[ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null
	dq_nodes_down
	cli_down
}
trap down EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

declare -a addr
for i in 1 2 3 9; do addr[$i]=127.0.0.1:$(port); done
dq_node_start 1 "${addr[1]}" "$TMP/n1" || { echo "Bail out! node 1"; exit 1; }
dq_node_start 2 "${addr[2]}" "$TMP/n2" --join "${addr[1]}" || { echo "Bail out! node 2"; exit 1; }
dq_node_start 3 "${addr[3]}" "$TMP/n3" --join "${addr[1]}" || { echo "Bail out! node 3"; exit 1; }
CLI_CTRL_YAML="cluster: {id: 9, address: \"${addr[9]}\", dir: $TMP/n9, peers: [\"${addr[1]}\", \"${addr[2]}\", \"${addr[3]}\"]}"
cli_ctrl_up

GW_PORT=$(port)
cat >"$TMP/gateway.yaml" <<YAML
upstream:
  mode: controller
  url: $XDROP_URL
listen: 127.0.0.1:$GW_PORT
ui:
  dir: $PWD/webui/dist
log_level: warn
YAML
"$GW" --config "$TMP/gateway.yaml" 2>"$TMP/gateway.log" &
GW_PID=$!
BASE=http://127.0.0.1:$GW_PORT
if ! wait_until 10 curl -sf -o /dev/null "$BASE/health"; then
	sed 's/^/# /' "$TMP/gateway.log"
	echo "Bail out! gateway did not start"
	exit 1
fi
rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS"
timeout 180 node tests/ui/cluster_ui_test.mjs "$BASE" "$ADMIN_KEY" "$ARTIFACTS"
