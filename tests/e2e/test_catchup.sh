#!/bin/bash
# SPDX-License-Identifier: MIT
# A node that falls behind catches up from the controller's change log; a snapshot is the
# last resort (docs/sync.md, "Catching up"). The real daemons in the namespace lab of
# syslab.sh (controller and gateway on the host, agents n1 and n2):
#   1. pushes lost: the controller's fault hook drops every 2nd message, so the nodes see
#      gaps while 20 rules are written: every gap is repaired from deltas, no snapshot;
#   2. n2 stopped while 5 rules are written: on its restart it catches up from deltas;
#   3. the change log kept to 10 revisions, n2 stopped while 25 are written: the log no
#      longer covers its gap, so it takes a snapshot.
# Snapshots are counted in the agents' logs ("snapshot installed"), gaps by the
# subscriber's "need snapshot (gap|behind" lines. Prints TAP.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/syslab.sh
trap sys_down EXIT
trap 'exit 1' INT TERM

if ! sys_up >"$TMP/up.log" 2>&1; then
	echo "1..1"
	echo "not ok 1 - the lab came up"
	sed 's/^/# /' "$TMP/up.log" "$TMP"/*.log 2>/dev/null | tail -40
	exit 1
fi
ok "lab up: controller, gateway, n1 (traditional), n2 (fast-forward)"

write_rule() { # name ip: POST /rules, prints the revision
	rest POST /rules "{\"name\":\"$1\",\"dst_ip\":\"$2\",\"action\":\"drop\"}"
	[ "$CODE" = 201 ] || [ "$CODE" = 200 ] || { echo "# POST /rules: $CODE $OUT" >&2; return 1; }
	jq_out .sync.revision
}
in_logs() { cat "${@:2}" 2>/dev/null | grep -cE "$1"; } # pattern file...: lines
snaps() { in_logs "snapshot installed" "$@"; }
N1=$TMP/n1.log N2=$TMP/n2.log

# a set for the snapshot to weigh against (GetDeltas serves small gaps whatever the set)
for i in $(seq 30); do write_rule "base-$i" "10.90.0.$i" >/dev/null || break; done
check "both nodes hold the 30 base rules" converged 15 n1 n2

# ---- 1. every 2nd push lost ----
ctl_kill TERM
ctl_start XDROP_FAULT_DROP_EVERY_N=2 >/dev/null
check "controller restarted with every 2nd message dropped; nodes converged" converged 15 n1 n2
s0=$(snaps "$N1" "$N2") g0=$(in_logs "need snapshot \((gap|behind)" "$N1" "$N2")
c0=$(in_logs "caught up from revision" "$N1" "$N2")
for i in $(seq 20); do rev=$(write_rule "lost-$i" "10.91.0.$i") || break; done
check "20 writes with every 2nd push lost: both nodes at the controller's revision and hash" \
	converged 20 n1 n2
gaps=$(($(in_logs "need snapshot \((gap|behind)" "$N1" "$N2") - g0))
caught=$(($(in_logs "caught up from revision" "$N1" "$N2") - c0))
check "the nodes saw gaps ($gaps)" test "$gaps" -gt 0
check "... repaired from the change log ($caught catch-ups)" test "$caught" -gt 0
expect_eq "... without a snapshot" "$(($(snaps "$N1" "$N2") - s0))" 0
ctl_kill TERM
ctl_start >/dev/null

# ---- 2. a node down while 5 changes are made ----
converged 15 n1 n2
s0=$(snaps "$N2") c0=$(in_logs "caught up from revision" "$N2")
agent_kill n2 TERM
for i in $(seq 5); do write_rule "down-$i" "10.92.0.$i" >/dev/null || break; done
agent_start n2 >/dev/null
check "n2 back after missing 5 changes: at the controller's revision and hash" converged 15 n1 n2
expect_eq "... caught up from the change log" "$(($(in_logs "caught up from revision" "$N2") - c0))" 1
expect_eq "... without a snapshot" "$(($(snaps "$N2") - s0))" 0

# ---- 3. the change log no longer covers the gap ----
ctl_kill TERM
printf 'changelog:\n  keep: 10\n' >>"$TMP/ctl.yaml"
ctl_start >/dev/null
converged 15 n1 n2
s0=$(snaps "$N2")
agent_kill n2 TERM
for i in $(seq 25); do write_rule "gone-$i" "10.93.0.$i" >/dev/null || break; done
agent_start n2 >/dev/null
check "n2 back after missing 25 changes (log keeps 10): at the controller's revision and hash" \
	converged 20 n1 n2
check "... by a snapshot" test "$(($(snaps "$N2") - s0))" -ge 1
check "... and it says why" grep -q "the change log does not cover the gap" "$N2"

tap_done
