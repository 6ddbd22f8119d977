#!/bin/bash
# SPDX-License-Identifier: MIT
# ui suite: the built web UI (webui/dist) in Debian's chromium, driven by playwright-core,
# against a real lab (tests/ui/lab.sh: controller, gateway, an agent on a veth) with UDP
# traffic flowing to a port the test's rule drops. Prints TAP (ui_test.mjs does the
# numbering); screenshots are kept under build/test-artifacts/ui/ and listed at the end.
# The agent is stopped for a while (SIGSTOP) and resumed to see the node's stale state.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
ARTIFACTS=${UI_ARTIFACTS:-$PWD/build/test-artifacts/ui}
DROP_PORT=9999

skip() {
	echo "1..0 # SKIP $*"
	exit 0
}
[ "$(id -u)" -eq 0 ] || skip "needs root (namespaces, XDP)"
[ -x /usr/bin/chromium ] || skip "needs Debian's chromium (make deps)"
[ -f webui/dist/index.html ] || skip "needs webui/dist (make all)"
[ -d webui/node_modules/playwright-core ] || skip "needs webui/node_modules (make all)"
for b in xdrop-controller xdrop-gateway xdrop-agent; do
	[ -x build/bin/$b ] || skip "needs build/bin/$b (make all)"
done

source tests/ui/lab.sh
trap ui_lab_down EXIT
trap 'exit 1' INT TERM

if ! ui_lab_up; then
	tap_plan 1
	not_ok "the lab starts (controller, agent in $UI_NS-srv, gateway)"
	ui_log controller
	ui_log agent
	ui_log gateway
	exit 1
fi
# Traffic for the whole run: about 1000 datagrams/s, passed until the test's rule drops it.
ui_traffic 200 1000 $DROP_PORT

rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS"
timeout 300 node tests/ui/ui_test.mjs "$UI_BASE" "$UI_ADMIN_KEY" $DROP_PORT "$ARTIFACTS" "$UI_CLI_IP" "$UI_AGENT_PID"
rc=$?
if [ $rc -ne 0 ]; then
	ui_log controller
	ui_log agent
	ui_log gateway
fi
exit $rc
