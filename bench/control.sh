#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/control.sh: the control-plane benchmark behind `make bench` (root; never part of
# make test). It brings up the namespace lab of tests/e2e/syslab.sh (controller and gateway
# on the host, agents n1 traditional and n2 fast-forward in namespaces) and measures:
#
#  a. REST create -> enforced: CP_WRITES single-rule POST /api/v1/rules, one after the
#     other, each timed from sending the request until n1 and n2 both report its revision
#     (build/bin/bench_cp writes); 50 ms apart, back to back, and back to back from
#     CP_WRITERS writers at once (changes that arrive while one is applied). The time is split with the timestamps the system hands
#     out anyway (rule.created_at, Delta.created_at, the push as a subscriber sees it), and
#     the two primitives every applied delta pays on a node are timed alone (one RCU grace
#     period through a map-in-map update, one journal append + fdatasync): see bench_cp.c.
#  c. Gateway throughput with wrk: GET /api/v1/stats and POST /api/v1/rules (one distinct
#     rule per request, from a Lua counter). The bench's gateway config raises the
#     connection limits above wrk's connections so that none is refused at the limit.
#  b. Full sync: a fresh controller gets CP_RULES rules through POST /api/v1/rules/batch in
#     pages of 10,000 (the controller's batch cap; the load is timed), the nodes are
#     registered with capacity for them, then both agents start with no pinned or saved
#     state, and the time until both report the controller's revision and content hash is
#     taken (bench_cp converge). From the daemons' logs: per node, resyncs, snapshots
#     installed, the controller's ForceSync calls, and deltas refused because the node's
#     applied revision had gone backwards (an older snapshot installed over newer deltas).
#  d. The controller's VmRSS with CP_RULES rules and the size of its SQLite files; and (a)
#     again with the rules loaded (CP_WRITES_LOADED writes).
#
# Prints one table and writes it to bench/results/control-<date>.md and .csv (the format of
# bench/run.sh's dataplane-<date> files). Exit 1 when a stage failed (its rows say FAILED),
# 0 otherwise: a missed target is reported in the table, not in the exit status.
#
# Environment: CP_RULES (1000000), CP_WRITES (1000), CP_WRITERS (4: the writers of the
# back-to-back case taken at once), CP_WRITES_LOADED (CP_WRITES / 5),
# WRK_SECONDS (10), WRK_CONNS (32), WRK_THREADS (2), CP_SYNC_TIMEOUT (900 s),
# CP_CASES (subset of "writes wrk sync"), QUICK=1 (20,000 rules, 200 writes, 3 s of wrk,
# unless set), KEEP_LOGS=1 (keep the daemons' logs; failed runs always keep them).
set -u
cd "$(dirname "$0")/.." || exit 1

if [ "${QUICK:-0}" = 1 ]; then
	CP_RULES=${CP_RULES:-20000}
	CP_WRITES=${CP_WRITES:-200}
	WRK_SECONDS=${WRK_SECONDS:-3}
fi
CP_RULES=${CP_RULES:-1000000}
CP_WRITES=${CP_WRITES:-1000}
CP_WRITES_LOADED=${CP_WRITES_LOADED:-$((CP_WRITES / 5))}
WRK_SECONDS=${WRK_SECONDS:-10}
WRK_CONNS=${WRK_CONNS:-32}
WRK_THREADS=${WRK_THREADS:-2}
CP_SYNC_TIMEOUT=${CP_SYNC_TIMEOUT:-900}
CP_WRITERS=${CP_WRITERS:-4} # concurrent writers of the parallel back-to-back case
CP_CASES=${CP_CASES:-writes wrk sync}
CP_PAGE=10000 # rules per POST /rules/batch: the controller's cap (batch_max_items too)
# node capacity (agent config capacity.rules): the loaded set, the timed writes and the
# rules wrk creates, with room to spare
CP_CAP=$((CP_RULES + CP_WRITES + 200000))
[ "$CP_CAP" -lt 1048576 ] && CP_CAP=1048576

log() { echo "control: $*" >&2; }
[ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }
for b in bench_cp xdrop-controller xdrop-gateway xdrop-agent xdrop-call; do
	[ -x "build/bin/$b" ] || { log "missing build/bin/$b (make all bench)"; exit 1; }
done
command -v wrk >/dev/null || { log "wrk is missing (scripts/deps.sh installs it)"; exit 1; }

. tests/e2e/syslab.sh # sets TMP, NS, PIN, KEY; names everything after this PID

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
ROWS=$TMP/rows.tsv
BENCH_CP=build/bin/bench_cp
WRK_PID=
STAGE_FAILED=0
: >"$ROWS"

cp_down() {
	[ -n "$WRK_PID" ] && kill "$WRK_PID" 2>/dev/null && wait "$WRK_PID" 2>/dev/null
	sys_down
}
trap cp_down EXIT
trap 'exit 130' INT TERM

want() { [[ " $CP_CASES " == *" $1 "* ]]; }
fail_stage() { # message: the stage's rows say FAILED; the logs are kept
	log "$*"
	STAGE_FAILED=1
	FAILED=$((FAILED + 1))
}

# ---- rows: figure, value, p99, unit, target, met (row, rows_write) ----
. bench/rows.sh
metric() { # file name column (2 = p50, 3 = p99, 4 = max): a row of bench_cp's output
	awk -F'\t' -v m="$2" -v c="$3" '$1 == m { print $c; found = 1 } END { if (!found) print "FAILED" }' "$1"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# ---- the lab: the gateway with the bench's limits ----
# gw_start of syslab.sh with limits above wrk's connections (per client: all of wrk's come
# from 127.0.0.1) and an upstream bound that never makes them wait for a slot.
cp_gw_start() {
	GW_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	cat >"$TMP/gw.yaml" <<EOF
upstream:
  mode: controller
  url: $CTL_RPC
  max_concurrency: $((WRK_CONNS + 16))
listen: 127.0.0.1:$GW_PORT
ui:
  dir: $TMP/ui
limits:
  max_connections: $((WRK_CONNS * 2 + 64))
  per_client_connections: $((WRK_CONNS + 32))
log_level: warn
EOF
	mkdir -p "$TMP/ui" && echo '<!doctype html><title>x</title>' >"$TMP/ui/index.html"
	"$GW_BIN" --config "$TMP/gw.yaml" </dev/null >/dev/null 2>>"$TMP/gw.log" &
	GW_PID=$!
	BASE=http://127.0.0.1:$GW_PORT
	API=$BASE/api/v1
	for _ in $(seq 100); do
		curl -s -o /dev/null "$BASE/health" && return 0
		sleep 0.05
	done
	log "gateway did not start: $(tail -3 "$TMP/gw.log")"
	return 1
}
cp_nodes_add() {
	node_add n1 "mode: traditional
interface: t0" "$CP_CAP" || return 1
	node_add n2 "mode: fast_forward
fast_forward:
  inbound: f1
  outbound: f2
  filter_on: inbound" "$CP_CAP"
}
cp_agent_launch() { # id: starts the agent in its namespace (n1 or n2) without waiting
	nsenter --net="/run/netns/$NS-$1" "$AGENT_BIN" --config "$TMP/$1.yaml" \
		</dev/null >/dev/null 2>>"$TMP/$1.log" &
	AGENT_PID[$1]=$!
}
# A fresh controller (empty database), gateway and node registrations; agents stopped,
# their pins and saved state removed.
cp_reset() {
	local id
	for id in n1 n2; do [ -n "${AGENT_PID[$id]:-}" ] && agent_kill "$id"; done
	if [ -n "$GW_PID" ]; then
		kill "$GW_PID" 2>/dev/null
		wait "$GW_PID" 2>/dev/null
		GW_PID=
	fi
	ctl_kill TERM
	rm -rf "$PIN/n1" "$PIN/n2" "$TMP"/state-n1 "$TMP"/state-n2 "$TMP"/ctl.db*
	for id in ctl gw n1 n2; do # the next phase's logs start empty (log_ms reads them)
		[ -f "$TMP/$id.log" ] && mv "$TMP/$id.log" "$TMP/$id-before-reset.log"
	done
	ctl_start && cp_gw_start && cp_nodes_add
}

nodes_args() { echo "ipc://$TMP/n1.sock $(node_token n1) ipc://$TMP/n2.sock $(node_token n2)"; }

# ---- a. REST create -> enforced ----
# writes COUNT FIRST LABEL [GAP_MS]: bench_cp writes into $TMP/writes-LABEL.tsv; rows
writes() {
	local count=$1 first=$2 label=$3 out=$TMP/writes-$3.tsv what
	export CP_GAP_MS=${4:-0}
	[ "$count" -gt 0 ] || return 0
	log "$count single-rule writes ($label)"
	sw_mark
	# shellcheck disable=SC2046
	timeout $((count * 12 + 60)) "$BENCH_CP" writes "127.0.0.1:$GW_PORT" "$KEY" "$CTL_PUSH" \
		"$count" "$first" 10000 $(nodes_args) >"$out" 2>"$TMP/writes-$label.err" ||
		fail_stage "writes ($label): $(head -c 600 "$TMP/writes-$label.err")"
	what="REST create -> enforced on n1 and n2 ($label)"
	row "$what, p50" "$(metric "$out" send_to_applied_all 2)" - ms "<=" 5
	row "$what, p99" "$(metric "$out" send_to_applied_all 3)" - ms "<=" 20
	row "  writes timed / sent (late: not on both nodes within 10 s; failed: HTTP)" \
		"$(awk '$1 == "writes" { print $4 "/" $2; f = 1 } END { if (!f) print "FAILED" }' "$out")" \
		"$(awk '$1 == "writes" { print "late " $8 ", failed " $6 }' "$out")" writes
	sw_rows "$count"
}
# writes_parallel COUNT FIRST WRITERS: WRITERS bench_cp processes at once, each COUNT /
# WRITERS writes back to back on its own connection: writes that meet the nodes while
# another is applied (the agent coalesces them into one switch); one row pair over all of
# them (CP_RAW: every write's send -> applied on both nodes)
writes_parallel() {
	local count=$1 first=$2 w=$3 k pids=() each raw=$TMP/raw-parallel what
	each=$((count / w))
	[ "$each" -gt 0 ] || return 0
	log "$w writers, $each single-rule writes each, back to back"
	: >"$raw"
	sw_mark
	for k in $(seq 0 $((w - 1))); do
		# shellcheck disable=SC2046
		CP_GAP_MS=0 CP_RAW=$raw timeout $((each * 12 + 60)) "$BENCH_CP" writes \
			"127.0.0.1:$GW_PORT" "$KEY" "$CTL_PUSH" "$each" $((first + k * each)) 10000 \
			$(nodes_args) >"$TMP/writes-par-$k.tsv" 2>"$TMP/writes-par-$k.err" &
		pids+=($!)
	done
	for k in "${!pids[@]}"; do
		wait "${pids[$k]}" || fail_stage "parallel writer $k: $(head -c 600 "$TMP/writes-par-$k.err")"
	done
	what="REST create -> enforced on n1 and n2 ($w writers x $each writes, back to back)"
	row "$what, p50" "$(raw_pct "$raw" 50)" - ms "<=" 5
	row "$what, p99" "$(raw_pct "$raw" 99)" - ms "<=" 20
	row "  writes timed / sent" "$(wc -l <"$raw")/$((each * w))" - writes
	sw_rows $((each * w))
}
# sw_mark, then sw_rows WRITES: data-plane switches and grace periods per write on each
# node (AgentService.Info), below one write each when writes share switches
sw_mark() {
	local id
	for id in n1 n2; do
		SW0[$id]=$(agent_info "$id" switches)
		GP0[$id]=$(agent_info "$id" grace_periods)
	done
}
sw_rows() {
	local id v=
	for id in n1 n2; do
		v="$v${v:+ / }$(awk -v s=$(($(agent_info "$id" switches) - ${SW0[$id]:-0})) \
			-v g=$(($(agent_info "$id" grace_periods) - ${GP0[$id]:-0})) -v n="$1" \
			'BEGIN { printf "%.2f (%.2f)", s / n, g / n }')"
	done
	row "  data-plane switches (grace periods) per write on n1 / n2" "$v" - switches
}
declare -A SW0 GP0
raw_pct() { # file percentile: nearest rank, as bench_cp's (FAILED without values)
	sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END {
		if (!NR) { print "FAILED"; exit }
		r = int(p / 100 * NR + 0.999999); if (r < 1) r = 1; printf "%.2f", v[r] }'
}
breakdown() { # label: the breakdown rows of writes LABEL (p50 in value, p99 beside it)
	local out=$TMP/writes-$1.tsv m fig
	while IFS='|' read -r m fig; do
		row "$fig" "$(metric "$out" "$m" 2)" "$(metric "$out" "$m" 3)" ms
	done <<EOF
rest_answer|  breakdown: REST answer (HTTP round trip to the gateway)
send_to_handler|    send -> controller handler (HTTP, JSON, gateway -> controller RPC, auth)
handler_to_commit|    controller handler -> COMMIT starts (store: validation, inserts)
commit_to_answer|    COMMIT starts -> REST answer received (commit, outcome, RPC reply, JSON)
commit_to_push_received|  COMMIT starts -> delta received on the push socket
push_to_applied_all|  delta received -> applied on both nodes
answer_to_applied_all|  REST answer -> applied on both nodes (xdrop-waitrev's figure)
send_to_applied_node1|  send -> applied on n1 (traditional)
send_to_applied_node2|  send -> applied on n2 (fast-forward)
node_info_rpc_idle|  one AgentService.Info call to an idle node (the resolution of 'applied')
EOF
}
prims() {
	local out=$TMP/prims.tsv
	"$BENCH_CP" prims "$TMP" 200 >"$out" 2>"$TMP/prims.err" || fail_stage "prims: $(cat "$TMP/prims.err")"
	row "  per delta on a node: map-in-map update = one RCU grace period (dataplane/dp_gen.c dp_grace_period)" \
		"$(metric "$out" map_in_map_update_grace_period 2)" \
		"$(metric "$out" map_in_map_update_grace_period 3)" ms
	row "  per delta on a node: 256-byte append + fdatasync in the state dir (ruleset/journal.c rs_journal_append)" \
		"$(metric "$out" journal_append_fdatasync 2)" "$(metric "$out" journal_append_fdatasync 3)" ms
}

# ---- c. wrk ----
cat >"$TMP/wrk-done.lua" <<'EOF'
-- one machine-readable line: requests, duration (us), req/s, latency p50, p99, max (us),
-- non-2xx/3xx answers, socket errors (connect, read, write, timeout)
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK\t%d\t%d\t%.1f\t%.0f\t%.0f\t%.0f\t%d\t%d\t%d\t%d\t%d\n",
    summary.requests, summary.duration, summary.requests / summary.duration * 1e6,
    latency:percentile(50), latency:percentile(99), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout))
end
EOF
# POST /rules: rule n of thread t drops UDP from 48.0.0.0 + t * 2^22 + n (distinct rules,
# so every request is a real create: the API refuses a second rule with the same match)
{
	cat <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
local n = 0
function request()
  local a = 805306368 + tid * 4194304 + n
  n = n + 1
  local body = string.format(
    '{"name":"wrk-%d","src_ip":"%d.%d.%d.%d","protocol":"udp","dst_port":5012,"action":"drop"}',
    a, math.floor(a / 16777216), math.floor(a / 65536) % 256, math.floor(a / 256) % 256, a % 256)
  return wrk.format(nil, nil, nil, body)
end
EOF
	cat "$TMP/wrk-done.lua"
} >"$TMP/wrk-post.lua"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; } # utime + stime
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; } # busy
# wrk_run NAME SCRIPT PATH: wrk with --latency; sets W_RPS, W_P50, W_P99, W_REQ, W_ERRS
wrk_run() {
	local name=$1 script=$2 path=$3 out w
	local g0 c0 m0
	out=$TMP/wrk-$(tr -c 'a-zA-Z0-9\n' - <<<"$name").out
	log "wrk: $name, $WRK_THREADS threads, $WRK_CONNS connections, $WRK_SECONDS s"
	g0=$(cpu_ticks "$GW_PID")
	c0=$(cpu_ticks "$CTL_PID")
	m0=$(machine_ticks)
	timeout $((WRK_SECONDS + 60)) wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${WRK_SECONDS}s" \
		--latency -H "X-API-Key: $KEY" -s "$script" "$BASE$path" >"$out" 2>&1 &
	WRK_PID=$!
	wait "$WRK_PID" || fail_stage "wrk $name: $(head -c 600 "$out")"
	WRK_PID=
	w=$(awk -F'\t' '$1 == "WRK"' "$out")
	[ -n "$w" ] || w="WRK	0	0	FAILED	FAILED	FAILED	FAILED	0	0	0	0	0"
	IFS=$'\t' read -r _ W_REQ _ W_RPS W_P50 W_P99 _ W_NON2XX W_EC W_ER W_EW W_ET <<<"$w"
	us2ms() { [ "$1" = FAILED ] && echo FAILED || awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
	W_P50=$(us2ms "$W_P50")
	W_P99=$(us2ms "$W_P99")
	W_ERRS=$((W_NON2XX + W_EC + W_ER + W_EW + W_ET))
	W_CPU=$(awk -v n="$W_REQ" -v g=$(($(cpu_ticks "$GW_PID") - g0)) \
		-v c=$(($(cpu_ticks "$CTL_PID") - c0)) -v m=$(($(machine_ticks) - m0)) \
		-v hz="$(getconf CLK_TCK)" 'BEGIN { if (n < 1) n = 1; u = 1e6 / hz / n
		printf "CPU per request: gateway %.0f, controller %.0f, whole machine %.0f us", g * u, c * u, m * u }')
	log "wrk $name: $W_RPS req/s, p50 $W_P50 ms, p99 $W_P99 ms, $W_REQ requests, $W_ERRS errors"
}
wrk_rows() { # NAME SCRIPT PATH [ref]: ref = one row (req/s; p50 and p99 beside it)
	local what="gateway $1 (wrk -t$WRK_THREADS -c$WRK_CONNS, ${WRK_SECONDS} s)"
	wrk_run "$1" "$2" "$3"
	if [ "${4:-}" = ref ]; then
		row "  for comparison: $1: requests/s" "$W_RPS" \
			"p50 $W_P50 / p99 $W_P99 ms; $W_ERRS errors; $W_CPU" "req/s"
		return
	fi
	if [ "$1" = "GET /api/v1/stats" ]; then
		row "$what: requests/s" "$W_RPS" "$W_CPU" "req/s" ">=" 20000
		row "$what: latency p50" "$W_P50" - ms
		row "$what: latency p99" "$W_P99" - ms "<=" 10
	else
		row "$what: requests/s" "$W_RPS" "$W_CPU" "req/s"
		row "$what: latency p50" "$W_P50" - ms
		row "$what: latency p99" "$W_P99" - ms
	fi
	row "$what: non-2xx answers + socket errors (of $W_REQ)" "$W_ERRS" - answers "<=" 0
}

# ---- b. load and full sync ----
make_pages() { # the CP_RULES rules as POST /rules/batch bodies: rule i drops UDP from 16.0.0.0 + i
	mkdir -p "$TMP/pages"
	awk -v n="$CP_RULES" -v page="$CP_PAGE" -v dir="$TMP/pages" 'BEGIN {
		for (p = 0; p * page < n; p++) {
			f = sprintf("%s/%05d.json", dir, p)
			printf "{\"atomic\":true,\"rules\":[" >f
			for (i = p * page; i < n && i < (p + 1) * page; i++) {
				a = 268435456 + i
				printf "%s{\"name\":\"bulk-%d\",\"src_ip\":\"%d.%d.%d.%d\",\"protocol\":\"udp\",\"dst_port\":5010,\"action\":\"drop\"}",
					(i > p * page ? "," : ""), i, int(a / 16777216), int(a / 65536) % 256,
					int(a / 256) % 256, a % 256 >f
			}
			print "]}" >f
			close(f)
		}
	}'
}
load_rules() { # sets LOAD_MS; page times in $TMP/pages.ms
	local f code t0 t1 added
	: >"$TMP/pages.ms"
	LOAD_MS=FAILED
	t0=$(ms)
	for f in "$TMP"/pages/*.json; do
		t1=$(ms)
		code=$(curl -s -o "$TMP/page.out" -w '%{http_code}' -X POST -H "X-API-Key: $KEY" \
			-H 'Content-Type: application/json' --data-binary "@$f" --max-time 600 \
			"$API/rules/batch")
		echo $(($(ms) - t1)) >>"$TMP/pages.ms"
		added=$(jq -r '.added // empty' "$TMP/page.out" 2>/dev/null)
		if [ "$code" != 201 ] || [ "$added" != "$(jq '.rules | length' "$f")" ]; then
			fail_stage "load: $(basename "$f") answered $code $(head -c 300 "$TMP/page.out")"
			return 1
		fi
	done
	LOAD_MS=$(($(ms) - t0))
}
log_ms() { # file pattern: the time (ms since the epoch) of the first log line matching
	local ts
	ts=$(grep -m1 -- "$2" "$1" 2>/dev/null | awk '{ print $1 }')
	[ -n "$ts" ] && date -d "$ts" +%s%3N || echo -1
}
sync_case() {
	local since out=$TMP/converge.tsv n_pages id s e up conv
	make_pages
	n_pages=$(find "$TMP/pages" -name '*.json' | wc -l)
	log "loading $CP_RULES rules into a fresh controller ($n_pages pages of $CP_PAGE)"
	cp_reset || { fail_stage "fresh controller did not come up"; return 1; }
	load_rules
	row "load $CP_RULES rules into the controller (REST POST /rules/batch, $n_pages x $CP_PAGE)" \
		"$(awk -v m="$LOAD_MS" 'BEGIN { if (m == "FAILED") print m; else printf "%.1f", m / 1000 }')" - s
	row "  one page of $CP_PAGE rules: p50 (max beside it)" \
		"$(sort -n "$TMP/pages.ms" | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : "-" }')" \
		"$(sort -n "$TMP/pages.ms" | tail -1)" ms
	row "  first / last page" "$(head -1 "$TMP/pages.ms")" "$(tail -1 "$TMP/pages.ms")" ms
	rm -rf "$TMP/pages"
	[ "$LOAD_MS" = FAILED ] && return 1
	row "controller VmRSS with $CP_RULES rules (after the load)" "$(mib "$(rss_kb "$CTL_PID")")" - MiB "<=" 64
	row "controller VmHWM (peak) during the load" \
		"$(mib "$(awk '/^VmHWM/ { print $2 }' "/proc/$CTL_PID/status")")" - MiB
	row "SQLite database with $CP_RULES rules: ctl.db (ctl.db-wal beside it)" \
		"$(mib $(($(stat -c %s "$TMP/ctl.db") / 1024)))" \
		"$(mib $(($(stat -c %s "$TMP/ctl.db-wal" 2>/dev/null || echo 0) / 1024)))" MiB
	row "  SQLite bytes per rule (ctl.db; with its WAL beside it)" \
		"$(($(stat -c %s "$TMP/ctl.db") / CP_RULES))" \
		"$((($(stat -c %s "$TMP/ctl.db") + $(stat -c %s "$TMP/ctl.db-wal" 2>/dev/null || echo 0)) / CP_RULES))" B "<=" 250

	log "starting n1 and n2 with no pinned or saved state; waiting for both to converge"
	since=${EPOCHREALTIME/./} # microseconds
	cp_agent_launch n1
	cp_agent_launch n2
	# shellcheck disable=SC2046
	timeout $((CP_SYNC_TIMEOUT + 60)) "$BENCH_CP" converge "$CTL_RPC" "$KEY" "$since" \
		$((CP_SYNC_TIMEOUT * 1000)) 100 $(nodes_args) >"$out" 2>"$TMP/converge.err" ||
		fail_stage "full sync: not converged within $CP_SYNC_TIMEOUT s: $(cat "$out" "$TMP/converge.err" | tr '\n' ' ')"
	row "full sync of $CP_RULES rules to n1 and n2 from a fresh start (both converged)" \
		"$(awk -F'\t' '$1 ~ /^node/ { if ($3 < 0) f = 1; if ($3 > m) m = $3 } END { if (f || !m) print "FAILED"; else printf "%.1f", m / 1000 }' "$out")" - s
	for id in n1 n2; do
		conv=$(awk -F'\t' -v k="node${id#n}" '$1 == k { print $3 }' "$out")
		up=$(awk -F'\t' -v k="node${id#n}" '$1 == k { print $2 }' "$out")
		s=$(log_ms "$TMP/$id.log" "fetching a snapshot")
		e=$(log_ms "$TMP/$id.log" "snapshot installed")
		row "  $id: converged (answering RPC after; snapshot fetch -> installed, from its log)" \
			"$(awk -v v="${conv:--1}" 'BEGIN { print v < 0 ? "FAILED" : sprintf("%.1f", v / 1000) }')" \
			"$(awk -v u="${up:--1}" -v s="$s" -v e="$e" 'BEGIN { printf "up %.1f; %s", u / 1000, (s < 0 || e < 0) ? "no log" : sprintf("%.1f", (e - s) / 1000) }')" s
	done
	sync_counts "the full sync"
	row "controller VmRSS after serving the full sync" "$(mib "$(rss_kb "$CTL_PID")")" - MiB "<=" 128
	for id in n1 n2; do
		row "agent $id VmRSS with $CP_RULES rules" "$(mib "$(rss_kb "${AGENT_PID[$id]}")")" - MiB
	done
	if [ "$STAGE_FAILED" = 0 ] && [ "$CP_WRITES_LOADED" -gt 0 ]; then
		writes "$CP_WRITES_LOADED" $((2 * CP_WRITES)) "with $CP_RULES rules loaded, 50 ms apart" 50
		breakdown "with $CP_RULES rules loaded, 50 ms apart"
		sync_counts "the full sync and the writes after it"
	fi
}
# sync_counts WHEN: per node, from the logs since the fresh start: resyncs its subscriber
# asked for, snapshots installed (resyncs and ForceSync calls), the controller's ForceSync
# calls (a clean full sync is 1 / 1 / 0); and deltas refused because the applied revision had
# gone back below the delta's base (a snapshot older than what the node had applied was
# installed over it: the rules in between left the data plane)
sync_counts() {
	local id
	for id in n1 n2; do
		row "  $id: resyncs / snapshots installed / ForceSync calls from the controller, during $1" \
			"$(grep -c 'need snapshot (' "$TMP/$id.log")/$(grep -c 'snapshot installed' "$TMP/$id.log")/$(grep -c "nodes: $id is .*forcing a s" "$TMP/ctl.log")" \
			- count
		row "  $id: applied revision went backwards (agent log), during $1" \
			"$(sed -n 's/.*delta to revision [0-9]* not applied: delta base \([0-9]*\), applied revision \([0-9]*\).*/\1 \2/p' "$TMP/$id.log" |
				awk '$2 < $1 { n++ } END { print n + 0 }')" - times "<=" 0
	done
}

# ---- run ----
log "lab up (controller, gateway, n1, n2; node capacity $CP_CAP rules)"
if ! { sys_net && ctl_start && cp_gw_start && cp_nodes_add && agent_start n1 && agent_start n2 &&
	converged 20 n1 n2; } >"$TMP/up.log" 2>&1; then
	fail_stage "the lab did not come up: $(tail -5 "$TMP/up.log")"
	exit 1
fi
if want writes; then
	# an operator's pace (50 ms between one write applied and the next sent), then back to
	# back (the next write meets the nodes in the previous one's RCU grace period)
	writes "$CP_WRITES" 0 "$CP_WRITES writes 50 ms apart, empty set" 50
	breakdown "$CP_WRITES writes 50 ms apart, empty set"
	writes "$CP_WRITES" "$CP_WRITES" "$CP_WRITES writes back to back" 0
	breakdown "$CP_WRITES writes back to back"
	writes_parallel "$CP_WRITES" $((CP_WRITES * 2)) "$CP_WRITERS"
	prims
fi
if want wrk; then
	wrk_rows "GET /api/v1/stats" "$TMP/wrk-done.lua" /api/v1/stats
	wrk_rows "GET /health" "$TMP/wrk-done.lua" /health ref
	wrk_rows "GET /index.html" "$TMP/wrk-done.lua" /index.html ref
	wrk_rows "POST /api/v1/rules" "$TMP/wrk-post.lua" /api/v1/rules
	# the nodes got a delta per request, faster than they apply them: how long until both
	# are back at the controller's revision and hash
	since=${EPOCHREALTIME/./}
	# shellcheck disable=SC2046
	timeout 300 "$BENCH_CP" converge "$CTL_RPC" "$KEY" "$since" 240000 100 $(nodes_args) \
		>"$TMP/wrk-converge.tsv" 2>&1 || fail_stage "nodes not converged 240 s after the POST run"
	row "  after the POST run: both nodes at the controller's revision and hash within" \
		"$(awk -F'\t' '$1 ~ /^node/ { if ($3 < 0) f = 1; if ($3 > m) m = $3 } END { print f ? "FAILED" : sprintf("%.1f", m / 1000) }' "$TMP/wrk-converge.tsv")" \
		- s
fi
want sync && sync_case

# ---- the table ----
{
	echo "- host: $(uname -r), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), load average at the start: $LOADAVG"
	echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- agent controller gateway lib 2>/dev/null || echo ' (daemon sources modified)')"
	echo "- lab: tests/e2e/syslab.sh (controller and gateway on the host, ipc:// sockets; agents n1"
	echo "  traditional on veth t0 and n2 fast-forward in namespaces, XDP native); heartbeat and"
	echo "  beacons every $HB; everything on one machine, so daemons and clients share its CPUs."
	echo "- writes: one keep-alive connection, one write at a time (the parallel case: $CP_WRITERS"
	echo "  such writers at once, each on its own connection); 'enforced' = both agents"
	echo "  report the revision over AgentService.Info (polled every 200 us), which they do after"
	echo "  the data-plane switch. The breakdown rows give p50 in 'value' and p99 beside it; their"
	echo "  timestamps: rule.created_at (controller handler), Delta.created_at (just before COMMIT),"
	echo "  the delta as bench_cp receives it on the controller's PUB socket (as the agents do)."
	echo "- wrk: $WRK_THREADS threads, $WRK_CONNS connections, $WRK_SECONDS s, against 127.0.0.1;"
	echo "  gateway limits raised in the bench's config (per_client_connections $((WRK_CONNS + 32)),"
	echo "  max_connections $((WRK_CONNS * 2 + 64)), upstream.max_concurrency $((WRK_CONNS + 16)));"
	echo "  POST creates a distinct rule per request while both agents apply every change."
	echo "- full sync: a fresh controller and database; node capacity $CP_CAP rules; agents"
	echo "  started with no pins and no saved state; converged = revision and content hash equal"
	echo "  to the controller's (polled every 100 ms)."
} | rows_write control "XDrop control-plane benchmark"
exit "$STAGE_FAILED"
