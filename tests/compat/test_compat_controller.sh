#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/compat/test_compat_controller.sh: XDrop 2.7's documented REST examples
# (tests/compat/cases.json, written from its controller/API.md) replayed against
# xdrop-gateway in controller mode, in front of a real xdrop-controller with one real agent
# (node n1, XDP on a veth in a namespace): the lab of tests/e2e/syslab.sh. Issue 14.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/syslab.sh
. tests/compat/compat.sh
echo "TAP version 13"
for b in "$CTL_BIN" "$GW_BIN" "$AGENT_BIN" "$CALL"; do
	if [ ! -x "$b" ]; then
		echo "1..0 # SKIP $b not built"
		exit 0
	fi
done
trap sys_down EXIT
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
lab_ns n1 || { echo "Bail out! namespace"; exit 1; }
lab_veth n1 t0 n1 t1
lab_up n1 t0 t1
ctl_start && gw_start || { echo "Bail out! controller or gateway"; exit 1; }
node_add n1 "mode: traditional
interface: t0" && agent_start n1 || { echo "Bail out! agent n1"; exit 1; }
COMPAT_KEY=$KEY
compat_run controller
tap_done
