#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/run.sh: the data-plane benchmark behind `make bench` (root; never part of make test).
#
#  1. build/bin/bench_dp: ns per packet through BPF_PROG_TEST_RUN beside a trivial program,
#     1M-rule load and switch times, kernel memory per rule, verified_insns.
#  2. The veth lab: one veth pair between two namespaces. bench_lab's generator sends 64-byte
#     UDP frames from a source address that is rule 500,000 of the 1M-rule set: in-kernel
#     (BPF_PROG_TEST_RUN with live frames, redirecting into the veth) where the kernel allows
#     it, else (this host's kernel refuses live-frames test runs with EPERM for any program)
#     32 frames circling a second veth pair of the generator's namespace, XDP_TX on one end
#     and a broadcast redirect on the other that sends a copy into the lab's veth per turn,
#     for the measured seconds (bpf links owned by the generator process); the same
#     generator for every case of a run, named in the results. The receiving
#     side runs, in turn, a trivial XDP_DROP program, XDrop with 1,000,000 rules, xdp-filter
#     with one rule, and an nftables ingress chain with the 1,000,000 addresses as a set.
#     The drop rate is read from each filter's own counters over a fixed interval.
#
#     CPUs: a frame redirected into a veth is queued on the peer's ring and the peer's NAPI
#     is scheduled on the *sending* CPU (napi_schedule raises the softirq locally), so by
#     default generator and receiver share one CPU. Threaded NAPI moves the receive loop
#     into a kthread (napi/<dev>-<id>) that we pin to RX_CPU while the generator runs on
#     GEN_CPU.
#
# Prints one table and writes it to bench/results/dataplane-<date>.md and .csv.
# Environment: RUNS (default 7), REPEAT (1000000), WARM (2 s), MEASURE (5 s),
# GEN_CPU (0), RX_CPU (1), QUICK=1 (smaller sets, for a smoke run), SKIP_DP=1 (lab only),
# CASES (subset of "trivial xdrop xdp-filter nftables").
set -u
cd "$(dirname "$0")/.."

BIN=build/bin
RUNS=${RUNS:-7}
REPEAT=${REPEAT:-1000000}
WARM=${WARM:-2}
MEASURE=${MEASURE:-5}
GEN_CPU=${GEN_CPU:-0}
RX_CPU=${RX_CPU:-1}
NRULES=1000000
CASES=${CASES:-trivial xdrop xdp-filter nftables}
[ "${QUICK:-0}" = 1 ] && NRULES=600000
HIT_SRC=16.7.161.32 # 16.0.0.0 + 500000: rule 500,000 of the set (bench/benchset.h)
DST=10.9.9.9
RX_MAC=02:00:00:00:00:02 # the destination MAC of tests/lib/pkt.c frames

STAMP=$(date +%Y-%m-%d)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
OUTDIR=bench/results
TMP=$(mktemp -d /tmp/xdrop-bench.XXXXXX)
ROWS=$TMP/rows.tsv
GNS=xdb-gen-$$
RNS=xdb-rx-$$
XNS=xdb-xf-$$
GIF=xbg$$
RIF=xbr$$
LA=xbl$$a # the generator's loop pair (bench_lab loop_gen), in GNS
LB=xbl$$b
HOLD_PID=  # the timeout(1) wrapper
LAB_PID=   # bench_lab itself: timeout does not forward SIGUSR1
BPFFS_XDP_EXISTED=0
[ -d /sys/fs/bpf/xdp ] && BPFFS_XDP_EXISTED=1

log() { echo "bench: $*" >&2; }

cleanup() {
	stop_holder
	if [ -e "/run/netns/$RNS" ]; then
		timeout 20 nsenter --net="/run/netns/$RNS" xdp-filter unload "$RIF" >/dev/null 2>&1
		timeout 20 ip netns exec "$RNS" nft delete table netdev xdbench >/dev/null 2>&1
	fi
	type xf_down >/dev/null 2>&1 && xf_down
	ip netns del "$GNS" 2>/dev/null
	ip netns del "$RNS" 2>/dev/null
	# libxdp (xdp-filter) creates /sys/fs/bpf/xdp; remove it only if we caused it and it
	# is empty.
	[ "$BPFFS_XDP_EXISTED" = 0 ] && rmdir /sys/fs/bpf/xdp 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }
for b in bench_dp bench_lab; do
	[ -x "$BIN/$b" ] || { log "missing $BIN/$b (make all bench)"; exit 1; }
done

# ---- 1. micro-benchmark ----
# xdp-filter for the comparison rows: loaded natively on two veths of a namespace of its own
# (all features; -f ipv4,ipv6), one rule (source HIT_SRC); bench_dp test-runs the programs
# attached there (libxdp's dispatcher and xdp-filter behind it, as on a real interface).
xf_up() {
	local e="nsenter --net=/run/netns/$XNS" a b
	ip netns add "$XNS" &&
		ip -n "$XNS" link add xfa type veth peer name xfa0 &&
		ip -n "$XNS" link add xfb type veth peer name xfb0 &&
		for i in xfa xfa0 xfb xfb0; do ip -n "$XNS" link set "$i" up || return 1; done &&
		timeout 60 $e xdp-filter load xfa -m native >"$TMP/xfc" 2>&1 &&
		timeout 60 $e xdp-filter load xfb -m native -f ipv4,ipv6 >>"$TMP/xfc" 2>&1 &&
		timeout 30 $e xdp-filter ip "$HIT_SRC" -m src >>"$TMP/xfc" 2>&1 || return 1
	a=$(ip -n "$XNS" -d link show xfa | grep -o 'prog/xdp id [0-9]*' | awk '{ print $3 }')
	b=$(ip -n "$XNS" -d link show xfb | grep -o 'prog/xdp id [0-9]*' | awk '{ print $3 }')
	[ -n "$a" ] && [ -n "$b" ] && XF_IDS="$a,$b"
}
xf_down() {
	[ -e "/run/netns/$XNS" ] || return 0
	for i in xfa xfb; do
		timeout 20 nsenter --net="/run/netns/$XNS" xdp-filter unload "$i" >/dev/null 2>&1
	done
	ip netns del "$XNS" 2>/dev/null
}
XF_IDS=
if [ "${SKIP_DP:-0}" != 1 ] && ! xf_up; then
	log "xdp-filter for the comparison rows: $(cat "$TMP/xfc" 2>/dev/null)"
fi
log "bench_dp: runs=$RUNS repeat=$REPEAT on CPU $RX_CPU (xdp-filter programs: ${XF_IDS:-none})"
q=
[ "${QUICK:-0}" = 1 ] && q=-q
if [ "${SKIP_DP:-0}" = 1 ]; then :; elif ! timeout 900 "$BIN/bench_dp" -c "$RX_CPU" -r "$REPEAT" -n "$RUNS" $q ${XF_IDS:+-X "$XF_IDS"} >"$ROWS"; then
	log "bench_dp failed"
	exit 1
fi
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
xf_down

# ---- 2. veth lab ----
now_ns() { date +%s%N; }
want() { [[ " $CASES " == *" $1 "* ]]; }

# Per-case counter readers print "<ns> <received> <dropped>".
ethtool_stat() { # name
	ip netns exec "$RNS" ethtool -S "$RIF" | awk -v k="$1:" '$1 == k { print $2 }'
}
rx_packets() { ip netns exec "$RNS" cat "/sys/class/net/$RIF/statistics/rx_packets"; }

counters_trivial() { echo "$(now_ns) $(ethtool_stat rx_queue_0_xdp_packets) $(ethtool_stat rx_queue_0_xdp_drops)"; }
counters_filter() {
	local d
	d=$(timeout 10 nsenter --net="/run/netns/$RNS" xdp-filter status 2>/dev/null |
		awk '$1 == "XDP_DROP" { print $2 }')
	echo "$(now_ns) $(ethtool_stat rx_queue_0_xdp_packets) ${d:-0}"
}
# nft: listing anything builds nft's whole cache, the 1M-element set included, which takes
# seconds and stalls the receiver meanwhile. So the interval samples rx_packets (every frame
# reaching the ingress hook) and the rule's counter is read once after the generator stops:
# the drop rate is the received rate times dropped/received over the whole run.
counters_nft() { echo "$(now_ns) $(rx_packets) $(rx_packets)"; }
nft_dropped() {
	timeout 60 ip netns exec "$RNS" nft list chain netdev xdbench filt |
		awk '{ for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }'
}
counters_xdrop() { # XDrop's global counters, printed by the holder on SIGUSR1
	local n
	n=$(grep -c '^counters' "$TMP/hold.out")
	kill -USR1 "$LAB_PID"
	for _ in $(seq 200); do
		[ "$(grep -c '^counters' "$TMP/hold.out")" -gt "$n" ] && break
		sleep 0.01
	done
	grep '^counters' "$TMP/hold.out" | tail -1 | awk '{ print $2, $3, $4 }'
}

lab_up() {
	ip netns add "$GNS" && ip netns add "$RNS" &&
		ip link add "$GIF" netns "$GNS" type veth peer name "$RIF" netns "$RNS" &&
		ip -n "$RNS" link set "$RIF" address "$RX_MAC" &&
		ip -n "$GNS" link set "$GIF" up && ip -n "$RNS" link set "$RIF" up &&
		ip -n "$GNS" link add "$LA" type veth peer name "$LB" &&
		ip -n "$GNS" link set "$LA" up && ip -n "$GNS" link set "$LB" up
}

# Threaded NAPI on the receiving veth (its NAPI exists once XDP or GRO is on), the kthread
# pinned to RX_CPU.
napi_pin() {
	local pid
	ip netns exec "$RNS" sh -c "echo 1 > /sys/class/net/$RIF/threaded" || return 1
	pid=$(pgrep "^napi/$RIF" | head -1)
	[ -n "$pid" ] || { log "no NAPI thread for $RIF"; return 1; }
	taskset -pc "$RX_CPU" "$pid" >/dev/null
}
napi_unthread() { ip netns exec "$RNS" sh -c "echo 0 > /sys/class/net/$RIF/threaded" 2>/dev/null; }

start_holder() { # args...: runs bench_lab in the receive namespace until killed
	: >"$TMP/hold.out"
	timeout 300 ip netns exec "$RNS" taskset -c "$RX_CPU" "$BIN/bench_lab" "$@" \
		>"$TMP/hold.out" 2>"$TMP/hold.err" &
	HOLD_PID=$!
	for _ in $(seq 1200); do
		LAB_PID=$(awk '$1 == "ready" { print $2 }' "$TMP/hold.out")
		[ -n "$LAB_PID" ] && return 0
		kill -0 "$HOLD_PID" 2>/dev/null || break
		sleep 0.1
	done
	log "holder $* did not start: $(cat "$TMP/hold.err")"
	return 1
}
stop_holder() {
	[ -n "$LAB_PID" ] && kill "$LAB_PID" 2>/dev/null
	[ -n "$HOLD_PID" ] && kill "$HOLD_PID" 2>/dev/null
	[ -n "$HOLD_PID" ] && wait "$HOLD_PID" 2>/dev/null
	HOLD_PID=
	LAB_PID=
}

# measure <case> <counter fn>: runs the generator, samples counters after WARM and after
# WARM + MEASURE; appends "<case> <rx Mpps> <drop Mpps> <offered Mpps>" to $TMP/lab.
measure() {
	local c=$1 fn=$2 a b gp offered
	timeout $((WARM + MEASURE + 30)) ip netns exec "$GNS" taskset -c "$GEN_CPU" \
		"$BIN/bench_lab" gen "$GIF" $((WARM + MEASURE + 1)) "$HIT_SRC" "$DST" "$LA" "$LB" \
		>"$TMP/gen.out" 2>&1 &
	gp=$!
	sleep "$WARM"
	a=$($fn)
	sleep "$MEASURE"
	b=$($fn)
	wait "$gp"
	offered=$(awk '/^offered/ { print $2 }' "$TMP/gen.out")
	sed -n 's/^offered.*, \([^,]*\))$/\1/p' "$TMP/gen.out" >"$TMP/genvia"
	grep -q . "$TMP/genvia" || rm -f "$TMP/genvia"
	if [ -z "$offered" ]; then
		# no frame was sent (e.g. live-frames test runs refused: EPERM on some kernels):
		# nothing was measured, so the case gets no figure, only the reason
		log "$c: generator: $(cat "$TMP/gen.out")"
		echo "genfail $c $(tr '\n\t' '  ' <"$TMP/gen.out" | sed 's/^bench_lab: //')" >>"$TMP/lab"
		return 1
	fi
	echo "$a $b" | awk -v c="$c" -v o="${offered:-0}" '{
		dt = ($4 - $1) / 1e9
		if (dt <= 0) dt = 1
		printf "%s %.3f %.3f %s\n", c, ($5 - $2) / dt / 1e6, ($6 - $3) / dt / 1e6, o
	}' >>"$TMP/lab"
	log "$c: $(tail -1 "$TMP/lab" | awk '{ print "received " $2 " Mpps, dropped " $3 " Mpps, offered " $4 " Mpps" }')"
}

: >"$TMP/lab"
if lab_up; then
	# (a) trivial XDP_DROP
	if want trivial && start_holder drop "$RIF" && napi_pin; then
		measure trivial counters_trivial
	fi
	stop_holder
	napi_unthread
	if grep -q '^genfail' "$TMP/lab"; then
		log "the generator cannot send: no veth case can be measured"
		CASES=
	fi

	# (b) XDrop with 1M rules
	want xdrop && log "loading $NRULES rules into XDrop"
	if want xdrop && start_holder xdrop "$RIF" "$NRULES" && napi_pin; then
		measure xdrop counters_xdrop
	fi
	stop_holder
	napi_unthread

	# (c) xdp-filter, one rule (default features, as shipped)
	if ! want xdp-filter; then
		:
	elif timeout 60 nsenter --net="/run/netns/$RNS" xdp-filter load "$RIF" -m native >"$TMP/xf" 2>&1 &&
		timeout 30 nsenter --net="/run/netns/$RNS" xdp-filter ip "$HIT_SRC" -m src >>"$TMP/xf" 2>&1 &&
		napi_pin; then
		measure xdp-filter counters_filter
	else
		log "xdp-filter: $(cat "$TMP/xf")"
	fi
	napi_unthread
	timeout 30 nsenter --net="/run/netns/$RNS" xdp-filter unload "$RIF" >/dev/null 2>&1

	# (d) nftables ingress, the 1M addresses as a set; GRO gives the veth a NAPI without XDP
	{
		printf 'table netdev xdbench {\n\tset blk {\n\t\ttype ipv4_addr\n\t\tsize %d\n\t}\n' \
			$((NRULES + 1024))
		printf '\tchain filt {\n\t\ttype filter hook ingress device "%s" priority 0;\n' "$RIF"
		printf '\t\tip saddr @blk counter drop\n\t}\n}\n'
		"$BIN/bench_lab" nft-set "$NRULES" xdbench blk
	} >"$TMP/set.nft"
	t0=$(now_ns)
	if ! want nftables; then
		:
	elif timeout 300 ip netns exec "$RNS" nft -f "$TMP/set.nft" 2>"$TMP/nft.err"; then
		t1=$(now_ns)
		log "nft: $NRULES-element set loaded in $(((t1 - t0) / 1000000)) ms"
		echo "nft-load $(((t1 - t0) / 1000000))" >>"$TMP/lab"
		if ip netns exec "$RNS" ethtool -K "$RIF" gro on && napi_pin; then
			nr0=$(rx_packets)
			measure nftables counters_nft
			nd=$(nft_dropped)
			nr=$(($(rx_packets) - nr0))
			log "nft: dropped $nd of $nr received frames"
			awk -v d="${nd:-0}" -v r="${nr:-1}" '$1 == "nftables" { $3 = sprintf("%.3f", $3 * d / r) } { print }' \
				"$TMP/lab" >"$TMP/lab.new" && mv "$TMP/lab.new" "$TMP/lab"
		fi
	else
		log "nft -f failed: $(head -c 500 "$TMP/nft.err")"
	fi
	napi_unthread
	ip netns exec "$RNS" nft delete table netdev xdbench 2>/dev/null
else
	log "lab setup failed"
fi

# veth rows: drop rates beside the trivial XDP_DROP program, and the two target ratios.
awk -v n="$NRULES" '
function get(c, f) { return (c in v) ? v[c, f] : -1 }
$1 == "nft-load" { nftload = $2; next }
$1 == "genfail" { why = $0; sub(/^genfail [^ ]+ /, "", why); fail[$2] = why; next }
{ v[$1] = 1; v[$1, "rx"] = $2; v[$1, "drop"] = $3; v[$1, "off"] = $4 }
function rowr(fig, c,    d, t) {
	d = get(c, "drop"); t = get("trivial", "drop")
	if (d < 0) { printf "%s\t-\tnot measured%s\t-\t-\t-\t-\t-\t-\n", fig, (c in fail) ? ": " fail[c] : ("trivial" in fail) ? ": " fail["trivial"] : ""; return }
	if (t > 0) printf "%s\t%.2f\tMpps\t%.2f\t%.2f\t-\t-\t-\t-\n", fig, d, t, d / t
	else printf "%s\t%.2f\tMpps\t-\t-\t-\t-\t-\t-\n", fig, d
}
function ratio(fig, a, b, lim,    x, y) {
	x = get(a, "drop"); y = get(b, "drop")
	if (x <= 0 || y <= 0) { printf "%s\t-\tnot measured\t-\t-\t-\t-\t>= %.1fx\tNO\n", fig, lim; return }
	printf "%s\t%.2f\tx\t-\t-\t-\t-\t>= %.1fx\t%s\n", fig, x / y, lim, (x / y >= lim) ? "yes" : "NO"
}
END {
	rowr("veth drop rate: trivial XDP_DROP", "trivial")
	rowr("veth drop rate: XDrop, " n / 1000 "k rules", "xdrop")
	rowr("veth drop rate: xdp-filter, 1 rule", "xdp-filter")
	rowr("veth drop rate: nftables ingress, " n / 1000 "k-element set", "nftables")
	ratio("veth: XDrop " n / 1000 "k / xdp-filter 1 rule", "xdrop", "xdp-filter", 1.2)
	ratio("veth: XDrop " n / 1000 "k / nftables " n / 1000 "k set", "xdrop", "nftables", 2.5)
	if (nftload > 0) printf "nftables: load the %dk-element set (nft -f)\t%.1f\ts\t-\t-\t-\t-\t-\t-\n", n / 1000, nftload / 1000
}' "$TMP/lab" >>"$ROWS"

# ---- 3. the table ----
mkdir -p "$OUTDIR"
MD=$OUTDIR/dataplane-$STAMP.md
CSV=$OUTDIR/dataplane-$STAMP.csv
{
	echo "# XDrop data-plane benchmark, $STAMP"
	echo
	echo "- host: $(uname -r), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))"
	echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- bpf agent lib 2>/dev/null || echo ' (bpf/agent/lib modified)')"
	echo "- ns/pkt: BPF_PROG_TEST_RUN, repeat $REPEAT, median of $RUNS runs alternating with a"
	echo "  two-instruction XDP_PASS program (the 'trivial' column); the kernel reports whole ns."
	echo "- veth: 64-byte UDP from bench_lab's generator ($(cat "$TMP/genvia" 2>/dev/null || echo none ran)) on CPU $GEN_CPU; receiving"
	echo "  NAPI threaded and pinned to CPU $RX_CPU; rates from each filter's counters over"
	echo "  ${MEASURE} s after ${WARM} s of warm-up; 'trivial' column = trivial XDP_DROP."
	echo "  Offered/received (Mpps): $(awk '$1 != "nft-load" && $1 != "genfail" { printf "%s %s/%s; ", $1, $4, $2 }' "$TMP/lab")"
	echo "- 'cmp:' rows (bench/bench_cmp.c): the same frame through the trivial program, XDrop and"
	echo "  xdp-filter $(xdp-filter --version 2>/dev/null | head -1 | awk '{ print $NF }') (one rule; all features, and -f ipv4,ipv6), run by run;"
	echo "  load average at the start: $LOAD0, at the end of bench_dp: ${LOAD1:-?}. The random search"
	echo "  measures its sets at 1/50 of the repeat and reports the worst at 1/10."
	echo
	echo "| figure | value | unit | trivial | ratio | xdp-filter (all) | xdp-filter (ipv4,ipv6) | target | met? |"
	echo "|---|---:|---|---:|---:|---:|---:|---|---|"
	awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }' "$ROWS"
	echo
	echo "Targets missed:"
	awk -F'\t' '$9 == "NO" { printf "- %s: %s %s (target %s)\n", $1, $2, $3, $8; n++ }
		END { if (!n) print "- none" }' "$ROWS"
} >"$MD"
{
	echo "figure,value,unit,trivial,ratio,xdp_filter_all,xdp_filter_ip,target,met"
	awk -F'\t' '{ for (i = 1; i <= 9; i++) { gsub(/"/, "\"\"", $i); printf "\"%s\"%s", $i, i < 9 ? "," : "\n" } }' "$ROWS"
} >"$CSV"

column -t -s $'\t' -N figure,value,unit,trivial,ratio,xf-all,xf-ip,target,met "$ROWS" 2>/dev/null || cat "$ROWS"
log "written $MD and $CSV"
