#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/agent.sh: the agent's own costs with a large rule set, behind `make bench` (root;
# never part of make test). Issue 15, item 1 ("a compact agent"), measured the way a user
# meets them: one standalone xdrop-agent (no controller) on a veth in a namespace of its
# own, loaded with `xdropctl rules import` of AG_RULES exact rules (a name, a comment and a
# source each, like a feed), then:
#
#  a. its VmRSS (and VmHWM) once the import is done: the user-space model only, the kernel
#     maps are not in it (bench/run.sh reports their bytes per rule);
#  b. its CPU while idle (no traffic, no writes) over AG_IDLE seconds, AG_SETTLE seconds
#     after the last change: utime + stime from /proc/PID/stat, as % of one core;
#  c. a restart: SIGTERM, wait for the exit, start it again, and time from the start until
#     it answers (xdropctl ping) and until it answers with the whole set (xdropctl info
#     reports the revision it had); its RSS and idle CPU again after the restart. The
#     XDP program stays attached throughout (pinned link, as in production): the row
#     "attached throughout" checks the link's program never went away.
#
# Prints one table and writes it to bench/results/agent-<date>.md and .csv (the format of
# control.sh's). Exit 1 when a stage failed, 0 otherwise: a missed target is in the table.
# Environment: AG_RULES (1000000), AG_IDLE (10 s), AG_SETTLE (5 s before RSS and idle),
# AG_BIN_DIR (build/bin: binaries copied aside, to keep building meanwhile), QUICK=1
# (100,000 rules, 5 s), KEEP_LOGS=1 (keep the agent's log and config), AG_WRAP (a command
# that execs the agent, e.g. "env LD_PRELOAD=/usr/lib/heaptrack/libheaptrack_preload.so
# DUMP_HEAPTRACK_OUTPUT=/tmp/ag.raw": where its memory goes, by call site; read with
# heaptrack_interpret <raw | gzip >ag.gz; heaptrack_print ag.gz), AG_PROBE (a command run
# with the agent's PID as its argument once the RSS is read, after the import and after the
# restart, e.g. a gdb batch calling malloc_stats), AG_NS / AG_PIN (the namespace and pin
# directory, when the defaults' names are not yours to use).
set -u
cd "$(dirname "$0")/.." || exit 1

if [ "${QUICK:-0}" = 1 ]; then
	AG_RULES=${AG_RULES:-100000}
	AG_IDLE=${AG_IDLE:-5}
fi
AG_RULES=${AG_RULES:-1000000}
AG_IDLE=${AG_IDLE:-10}
AG_SETTLE=${AG_SETTLE:-5}
BIN=${AG_BIN_DIR:-build/bin}
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
TMP=$(mktemp -d /tmp/xdrop-agbench.XXXXXX)
ROWS=$TMP/rows.tsv
NS=${AG_NS:-xagb$$}
PIN=${AG_PIN:-/sys/fs/bpf/xdrop-agbench-$$}
KEY=agent-bench-admin-key-$$-0123456789
URL=ipc://$TMP/agent.sock
AGENT_PID=
FAILED=0
: >"$ROWS"

log() { echo "agent-bench: $*" >&2; }

cleanup() {
	if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
		kill "$AGENT_PID" 2>/dev/null
		wait "$AGENT_PID" 2>/dev/null
	fi
	ip netns del "$NS" 2>/dev/null
	rm -rf "$PIN"
	if [ "${KEEP_LOGS:-0}" = 1 ] || [ "$FAILED" != 0 ]; then
		log "logs kept in $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }
for b in xdrop-agent xdropctl; do
	[ -x "$BIN/$b" ] || { log "missing $BIN/$b (make all)"; exit 1; }
done

. bench/rows.sh # row, rows_write
fail() {
	log "$*"
	FAILED=1
}
now_ms() { date +%s%3N; }
ctl() { "$BIN/xdropctl" --agent "$URL" -k "$KEY" "$@"; }
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
revision() { ctl -o json info 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get("revision", ""))' 2>/dev/null; }
link_prog() { nsenter --net="/run/netns/$NS" ip -j link show ab0 2>/dev/null |
	python3 -c 'import json,sys; l=json.load(sys.stdin)[0]; print(l.get("xdp", {}).get("prog", {}).get("id", 0))' 2>/dev/null; }

# ---- the agent ----
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
ip netns add "$NS" || exit 1
ip -n "$NS" link add ab0 type veth peer name ab1 || exit 1
ip -n "$NS" link set ab0 up
ip -n "$NS" link set ab1 up
mkdir -p "$TMP/state"
cat >"$TMP/agent.yaml" <<EOF
mode: traditional
interface: ab0
xdp_mode: native
capacity:
  rules: $((AG_RULES + AG_RULES / 8 + 1024))
pin_dir: $PIN
state_dir: $TMP/state
rpc:
  listen: $URL
  admin_keys: [$KEY]
log_level: info
EOF

agent_start() { # returns once it answers a ping (or fails after 120 s)
	# shellcheck disable=SC2086 # AG_WRAP is a command line
	nsenter --net="/run/netns/$NS" ${AG_WRAP:-} "$BIN/xdrop-agent" --config "$TMP/agent.yaml" \
		</dev/null >/dev/null 2>>"$TMP/agent.log" &
	AGENT_PID=$!
	local i
	for i in $(seq 24000); do
		"$BIN/xdropctl" --agent "$URL" --timeout 1000 -q ping 2>/dev/null && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.005
	done
	tail -5 "$TMP/agent.log" >&2
	return 1
}

idle_cpu() { # percent of one core over AG_IDLE seconds
	local t0 t1 w0 w1 hz
	hz=$(getconf CLK_TCK)
	t0=$(cpu_ticks "$AGENT_PID")
	w0=$(now_ms)
	sleep "$AG_IDLE"
	t1=$(cpu_ticks "$AGENT_PID")
	w1=$(now_ms)
	awk -v d=$((t1 - t0)) -v hz="$hz" -v w=$((w1 - w0)) 'BEGIN { printf "%.1f", 100 * d / hz / (w / 1000) }'
}

agent_start || { fail "agent did not start"; exit 1; }

# ---- a. the import ----
log "writing $AG_RULES rules as CSV"
awk -v n="$AG_RULES" 'BEGIN {
	print "src_ip,action,name,comment,source"
	for (i = 0; i < n; i++) {
		a = 16 * 16777216 + i
		printf "%d.%d.%d.%d,drop,blk-%d,feed entry %d of the bench blocklist,bench-feed-%d\n",
			int(a / 16777216), int(a / 65536) % 256, int(a / 256) % 256, a % 256, i, i, i % 8
	}
}' >"$TMP/rules.csv"
log "importing them with xdropctl rules import"
t0=$(now_ms)
if ctl -q --no-progress rules import "$TMP/rules.csv" --format csv 2>"$TMP/import.err"; then
	t1=$(now_ms)
	row "import $AG_RULES rules into a standalone agent (xdropctl rules import, CSV; batches of 10,000)" \
		"$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.1f", d / 1000 }')" - s "<=" 10
else
	fail "import failed: $(tail -2 "$TMP/import.err")"
	row "import $AG_RULES rules into a standalone agent (xdropctl rules import, CSV)" FAILED - s
	exit 1
fi
REV=$(revision)
# settle: after a change the sampler reads every slot again under a new id map (about a
# second of CPU with 1M rules, stats.c); idle is what follows
sleep "$AG_SETTLE"
row "agent VmRSS with $AG_RULES rules (user space only; kernel maps separate)" \
	"$(mib "$(status_kib "$AGENT_PID" VmRSS)")" "peak (VmHWM) $(mib "$(status_kib "$AGENT_PID" VmHWM)")" MiB "<=" 300
[ -n "${AG_PROBE:-}" ] && $AG_PROBE "$AGENT_PID" >&2

# ---- b. idle ----
log "idle CPU over $AG_IDLE s"
row "agent idle CPU with $AG_RULES rules, no traffic ($AG_IDLE s)" "$(idle_cpu)" - "% of a core" "<=" 2

# ---- c. restart ----
log "restart"
prog0=$(link_prog)
t0=$(now_ms)
kill "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
t1=$(now_ms)
AGENT_PID=
prog_mid=$(link_prog)
t2=$(now_ms)
if agent_start; then
	t3=$(now_ms)
	for _ in $(seq 6000); do
		[ "$(revision)" = "$REV" ] && break
		sleep 0.01
	done
	t4=$(now_ms)
	[ "$(revision)" = "$REV" ] || fail "restarted agent at revision $(revision), not $REV"
	row "agent restart until it answers, $AG_RULES rules (start -> xdropctl ping answered)" \
		"$(awk -v d=$((t3 - t2)) 'BEGIN { printf "%.2f", d / 1000 }')" \
		"stop took $(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.2f", d / 1000 }') s" s "<=" 3
	row "  start -> answers with its whole set (xdropctl info: revision $REV)" \
		"$(awk -v d=$((t4 - t2)) 'BEGIN { printf "%.2f", d / 1000 }')" - s
	prog1=$(link_prog)
	row "  XDP program attached while the agent was down (link's program id before/down/after)" \
		"$([ "${prog_mid:-0}" != 0 ] && [ "${prog1:-0}" != 0 ] && echo yes || echo NO)" \
		"$prog0/$prog_mid/$prog1" -
	sleep "$AG_SETTLE"
	row "  agent VmRSS after the restart" "$(mib "$(status_kib "$AGENT_PID" VmRSS)")" \
		"peak (VmHWM) $(mib "$(status_kib "$AGENT_PID" VmHWM)")" MiB "<=" 300
	[ -n "${AG_PROBE:-}" ] && $AG_PROBE "$AGENT_PID" >&2
	row "  agent idle CPU after the restart ($AG_IDLE s)" "$(idle_cpu)" - "% of a core" "<=" 2
else
	fail "agent did not answer after the restart"
	row "agent restart until it answers, $AG_RULES rules (start -> xdropctl ping answered)" FAILED - s "<=" 3
fi

# ---- the table ----
{
	echo "- host: $(uname -r), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), load average at the start: $LOADAVG"
	echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- agent lib 2>/dev/null || echo ' (agent sources modified)')"
	echo "- one standalone xdrop-agent (no controller), XDP native on a veth in a namespace,"
	echo "  stats_interval 1s; $AG_RULES exact drop rules imported with xdropctl rules import"
	echo "  (CSV: src_ip, action, name, comment, source); ipc:// RPC socket."
} | rows_write agent "XDrop agent benchmark"
exit "$FAILED"
