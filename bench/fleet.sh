#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/fleet.sh: a thousand nodes against one controller, in `make bench` (root; never
# part of make test). build/bin/sim_nodes (bench/sim_nodes.c) registers FLEET_NODES
# simulated agents, loads FLEET_RULES rules, starts every node empty at once and times until
# all of them hold the controller's revision (each fetches the set as an agent does), then
# makes FLEET_WRITES single-rule writes at FLEET_RATE per second and times each until the
# last node applied it, with the controller's CPU and memory over the writes. The simulated
# nodes speak the real push, beacon and snapshot protocol with the project's libraries and
# leave out the data plane (bench/sim_nodes.c says exactly what).
#
# Prints one table and writes it to bench/results/fleet-<date>.md and .csv. Exit 1 when a
# stage failed, 0 otherwise: a missed target is reported in the table.
#
# Environment: FLEET_NODES (1000), FLEET_RULES (100000), FLEET_WRITES (300), FLEET_RATE
# (10 per second), FLEET_TIMEOUT (300 s per stage), QUICK=1 (100 nodes, 10,000 rules, 50
# writes), KEEP_LOGS=1.
set -u
cd "$(dirname "$0")/.." || exit 1

if [ "${QUICK:-0}" = 1 ]; then
	FLEET_NODES=${FLEET_NODES:-100}
	FLEET_RULES=${FLEET_RULES:-10000}
	FLEET_WRITES=${FLEET_WRITES:-50}
fi
FLEET_NODES=${FLEET_NODES:-1000}
FLEET_RULES=${FLEET_RULES:-100000}
FLEET_WRITES=${FLEET_WRITES:-300}
FLEET_RATE=${FLEET_RATE:-10}
FLEET_TIMEOUT=${FLEET_TIMEOUT:-300}
HB=1000ms # the simulated nodes beacon once a second

log() { echo "fleet: $*" >&2; }
[ -x build/bin/sim_nodes ] && [ -x build/bin/xdrop-controller ] ||
	{ log "missing build/bin/sim_nodes or xdrop-controller (make all bench)"; exit 1; }
# a thousand subscriber threads and sockets
ulimit -n 65536 2>/dev/null

. tests/e2e/syslab.sh # sets TMP, KEY, CTL_*; names everything after this PID
. bench/rows.sh
ROWS=$TMP/rows.tsv
: >"$ROWS"
trap sys_down EXIT
trap 'exit 130' INT TERM

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
ctl_config
ctl_start || exit 1
log "$FLEET_NODES nodes, $FLEET_RULES rules, $FLEET_WRITES writes at $FLEET_RATE/s"
OUT=$TMP/sim.tsv
build/bin/sim_nodes "$CTL_RPC" "$CTL_PUSH" "$CTL_HEALTH" "$KEY" "$FLEET_NODES" "$FLEET_RULES" \
	"$FLEET_WRITES" "$FLEET_RATE" "$FLEET_TIMEOUT" "$TMP/ctl.pid" >"$OUT" 2>"$TMP/sim.log"
RC=$?
[ "$RC" = 0 ] || { log "sim_nodes exit $RC: $(tail -3 "$TMP/sim.log")"; FAILED=1; }
val() { awk -F'\t' -v m="$1" -v c="$2" '$1 == m { print $c; f = 1 } END { if (!f) print "FAILED" }' "$OUT"; }
conv=$(val converge_s 2)
[ "$conv" = "-1.00" ] && conv=FAILED
row "$FLEET_NODES nodes from empty to $FLEET_RULES rules: all converged within" "$conv" \
	"$(val snapshots 2) snapshots" s "<=" 60
row "  controller memory at convergence" "$(val converge_rss 2)" "hwm $(val converge_rss 3)" MiB
row "push to all $FLEET_NODES nodes, $FLEET_RATE writes/s: p50" "$(val push_all_ms 2)" - ms
row "push to all $FLEET_NODES nodes, $FLEET_RATE writes/s: p99" "$(val push_all_ms 3)" - ms "<=" 100
row "  writes not applied by every node" "$(val writes_late 2)" "$(val writes_late 4)" writes
row "controller CPU during the writes" "$(val controller_cores 2)" - cores "<=" 1
row "controller memory during the writes" "$(val controller_rss 2)" "hwm $(val controller_rss 3)" MiB
row "controller restarts (its supervisor's: wedge monitor, crash)" "$(val controller_restarts 2)" - restarts "<=" 0
{
	echo "- host: $(uname -r), $(nproc) CPUs, load average at the start: $LOADAVG"
	echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "- one controller (ipc:// sockets, heartbeat $HB) and build/bin/sim_nodes on the same"
	echo "  machine: $FLEET_NODES simulated agents (lib/pubsub subscribers, signed beacons every"
	echo "  second, SyncService.GetSnapshot in the agents' chunk size; no data plane, see"
	echo "  bench/sim_nodes.c). Writes: RuleService.Create over RPC, one at a time at"
	echo "  $FLEET_RATE/s, timed from the call until the last node applied the revision."
} | rows_write fleet "XDrop fleet benchmark"
exit "$FAILED"
