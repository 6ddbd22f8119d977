#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/cluster.sh: the controller cluster's rows of `make bench` (issue 18, item 6; root;
# never part of make test). The same lab twice, one after the other in one run so that the
# figures stand side by side: (1) one controller on its SQLite file, (2) three controllers
# forming a dqlite cluster on loopback (tests/e2e/clusterlab.sh); each time the gateway
# (given every controller) and one agent (n1, traditional, XDP native on a veth in its
# namespace, given every controller) with fresh pins and state. Measured each time:
#
#  a. REST create -> enforced: CL_WRITES single-rule POST /api/v1/rules through the
#     gateway, one after the other, each timed from sending the request until n1 reports
#     its revision (build/bin/bench_cp writes, back to back);
#  b. throughput: CL_WRITERS bench_cp writers at once, CL_WRITES writes in all, each
#     acknowledged and enforced on n1 before the writer sends the next: writes per second
#     over the wall time;
#  c. (cluster only) failover: CL_TRIALS times, kill -9 of the leading controller, then
#     xdropctl given all three controllers (the dead one first) writes a rule until one is
#     acknowledged; the time from the kill to that acknowledgement (the issue's bound: a new
#     leader serves writes within 5 s). The killed controller is started again and rejoins
#     before the next trial.
#
# Prints one table and writes bench/results/cluster-<date>.md and .csv (bench/rows.sh).
# Exit 1 when a stage failed (its rows say FAILED), 0 otherwise: a missed target is
# reported in the table. Environment: CL_WRITES (300), CL_WRITERS (4), CL_TRIALS (5),
# QUICK=1 (100 writes, 3 trials unless set), KEEP_LOGS=1.
set -u
cd "$(dirname "$0")/.." || exit 1

if [ "${QUICK:-0}" = 1 ]; then
	CL_WRITES=${CL_WRITES:-100}
	CL_TRIALS=${CL_TRIALS:-3}
fi
CL_WRITES=${CL_WRITES:-300}
CL_WRITERS=${CL_WRITERS:-4}
CL_TRIALS=${CL_TRIALS:-5}

log() { echo "cluster: $*" >&2; }
[ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }
for b in bench_cp xdrop-controller xdrop-gateway xdrop-agent xdrop-call xdropctl; do
	[ -x "build/bin/$b" ] || { log "missing build/bin/$b (make all bench)"; exit 1; }
done

. tests/e2e/syslab.sh # TMP, NS, PIN, KEY, the single controller's CTL_RPC/PUSH/HEALTH
S_RPC=$CTL_RPC S_PUSH=$CTL_PUSH S_HEALTH=$CTL_HEALTH
. tests/lib/dqlite.sh
. tests/e2e/clusterlab.sh # CTL_RPC/PUSH/HEALTH: the three controllers' lists
C_RPC=$CTL_RPC C_PUSH=$CTL_PUSH C_HEALTH=$CTL_HEALTH
. bench/rows.sh
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
ROWS=$TMP/rows.tsv
BENCH_CP=build/bin/bench_cp
: >"$ROWS"
trap down EXIT
trap 'exit 130' INT TERM

fail_stage() {
	log "$*"
	FAILED=$((FAILED + 1))
}
metric() { # file name column (2 = p50, 3 = p99)
	awk -F'\t' -v m="$2" -v c="$3" '$1 == m { print $c; f = 1 } END { if (!f) print "FAILED" }' "$1"
}
median() { sort -n | awk '{ v[NR] = $1 } END { if (!NR) print "FAILED"; else printf "%.2f", v[int((NR + 1) / 2)] }'; }
maxof() { sort -n | tail -1 | awk '{ printf "%.2f", $1 } END { if (!NR) print "FAILED" }'; }

# lab_start KIND: the controller(s) of KIND (single, cluster), the gateway, n1 fresh
lab_start() {
	if [ "$1" = single ]; then
		CTL_RPC=$S_RPC CTL_PUSH=$S_PUSH CTL_HEALTH=$S_HEALTH
		ctl_start || return 1
		PUSH=$S_PUSH
	else
		CTL_RPC=$C_RPC CTL_PUSH=$C_PUSH CTL_HEALTH=$C_HEALTH
		for i in 1 2 3; do conf "$i" && c_up "$i" || return 1; done
		wait_until 30 leader >/dev/null || return 1
		PUSH=$(sock push "$(leader)") # bench_cp's timestamps: the leader publishes
	fi
	gw_start || return 1
	node_add n1 "mode: traditional
interface: t0" 1048576 >"$TMP/node-$1.log" 2>&1 || return 1
	agent_start n1
}
lab_stop() {
	local i
	agent_kill n1 TERM
	stop_pid "$GW_PID" TERM gateway
	GW_PID=
	ctl_kill TERM
	for i in 1 2 3; do stop_pid "${CPID[$i]:-}" TERM "controller $i"; done
	CPID=()
	rm -rf "$PIN/n1" "$TMP/state-n1" "$TMP"/ctl.db* "$TMP"/node[123]
}
nodes_args() { echo "ipc://$TMP/n1.sock $(node_token n1)"; }

# a and b for KIND with rule indexes from FIRST
writes_rows() {
	local kind=$1 first=$2 out=$TMP/writes-$1.tsv k pids=() each t0 t1 ok=1
	log "$kind: $CL_WRITES writes back to back"
	# shellcheck disable=SC2046
	timeout $((CL_WRITES * 12 + 60)) "$BENCH_CP" writes "127.0.0.1:$GW_PORT" "$KEY" "$PUSH" \
		"$CL_WRITES" "$first" 10000 $(nodes_args) >"$out" 2>"$TMP/writes-$kind.err" ||
		fail_stage "writes ($kind): $(head -c 600 "$TMP/writes-$kind.err")"
	row "REST create -> enforced on n1, $LABEL, p50" "$(metric "$out" send_to_applied_all 2)" - ms "<=" 5
	row "REST create -> enforced on n1, $LABEL, p99" "$(metric "$out" send_to_applied_all 3)" - ms "<=" 20
	row "  COMMIT starts -> delta received on the push socket, $LABEL (p50, p99)" \
		"$(metric "$out" commit_to_push_received 2)" "$(metric "$out" commit_to_push_received 3)" ms
	each=$((CL_WRITES / CL_WRITERS))
	log "$kind: $CL_WRITERS writers x $each writes"
	t0=$(ms)
	for k in $(seq 0 $((CL_WRITERS - 1))); do
		# shellcheck disable=SC2046
		CP_GAP_MS=0 timeout $((each * 12 + 60)) "$BENCH_CP" writes "127.0.0.1:$GW_PORT" "$KEY" \
			"$PUSH" "$each" $((first + 100000 + k * each)) 10000 $(nodes_args) \
			>"$TMP/par-$kind-$k.tsv" 2>"$TMP/par-$kind-$k.err" &
		pids+=($!)
	done
	for k in "${!pids[@]}"; do
		wait "${pids[$k]}" || { ok=0; fail_stage "writer $k ($kind): $(head -c 300 "$TMP/par-$kind-$k.err")"; }
	done
	t1=$(ms)
	row "throughput, $LABEL: writes acknowledged and enforced per second ($CL_WRITERS writers)" \
		"$([ $ok = 1 ] && awk -v n=$((each * CL_WRITERS)) -v d=$((t1 - t0)) 'BEGIN { printf "%.0f", n * 1000 / d }' || echo FAILED)" \
		"$((each * CL_WRITERS)) in $((t1 - t0)) ms" writes/s
}

# c. failover trials on the running cluster
failover_rows() {
	local t L all i k t0 dt times=$TMP/failover.txt
	: >"$times"
	for t in $(seq "$CL_TRIALS"); do
		wait_until 30 leader >/dev/null || { fail_stage "trial $t: no leader"; break; }
		L=$(leader)
		all=$(sock rpc "$L")
		for i in 1 2 3; do [ "$i" != "$L" ] && all="$all,$(sock rpc "$i")"; done
		t0=$(ms)
		kill -KILL "${CPID[$L]}"
		wait "${CPID[$L]}" 2>/dev/null
		unset "CPID[$L]"
		k=0
		until ctl --controller "$all" --timeout 10000 -q rules add "name=fo$t-$k" \
			"dst_ip=198.18.$t.$((k % 250 + 1))" action=drop >/dev/null 2>>"$TMP/failover.err"; do
			k=$((k + 1))
			[ $(($(ms) - t0)) -gt 60000 ] && break
		done
		dt=$(($(ms) - t0))
		[ "$dt" -le 60000 ] && echo "$dt" | awk '{ printf "%.2f\n", $1 / 1000 }' >>"$times"
		log "trial $t: kill -9 of node $L, a write acknowledged after $dt ms ($k refused before)"
		mv "$TMP/c$L.log" "$TMP/c$L-trial$t.log" # leader() reads the restarted one's own log
		c_up "$L" || { fail_stage "trial $t: node $L did not come back"; break; }
	done
	row "failover: kill -9 of the leader -> a write acknowledged (xdropctl given all three), median of $(wc -l <"$times")" \
		"$(median <"$times")" "max $(maxof <"$times")" s "<=" 5
}

mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
lab_ns n1 x && lab_veth n1 t0 x x0 && lab_up n1 t0 && lab_up x x0 ||
	{ log "cannot make the namespaces"; exit 1; }

LABEL="one controller (SQLite)"
if lab_start single; then writes_rows single 1; else fail_stage "the single-controller lab did not start"; fi
lab_stop
LABEL="3-node cluster (dqlite)"
if lab_start cluster; then
	writes_rows cluster 1
	failover_rows
else
	fail_stage "the cluster lab did not start"
fi

{
	echo "- host: $(uname -r), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), load average at the start: $LOADAVG"
	echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- agent controller gateway lib 2>/dev/null || echo ' (daemon sources modified)')"
	echo "- lab: the gateway and one or three controllers on the host (ipc:// sockets; the cluster's"
	echo "  dqlite nodes on loopback TCP, plain), agent n1 (traditional, XDP native on veth t0 in a"
	echo "  namespace) given every controller; everything on one machine, sharing its CPUs."
	echo "- writes: bench_cp, one keep-alive connection, $CL_WRITES writes back to back;"
	echo "  'enforced' = n1 reports the revision over AgentService.Info after its data-plane switch."
	echo "  Throughput: $CL_WRITERS such writers at once, writes / wall time."
	echo "- failover: $CL_TRIALS trials; the write is retried by the caller until acknowledged"
	echo "  (a survivor holds it while the election runs); the killed controller rejoins between trials."
} | rows_write cluster "XDrop controller cluster benchmark"
[ "$FAILED" = 0 ]
