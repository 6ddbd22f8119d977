#!/bin/bash
# SPDX-License-Identifier: MIT
# make soak: hours of churn against the whole system (the lab of tests/e2e/syslab.sh):
# rules created and deleted through REST all the time, every 20th push lost
# (XDROP_FAULT_DROP_EVERY_N on the controller), an agent killed with -9 and restarted every
# KILL_EVERY iterations, the controller restarted every CTL_EVERY iterations, and probe
# traffic to a dropped port that must never get through. Every REPORT seconds one line:
# RSS and fds of each daemon, BPF objects (pins, XDP programs on our interfaces, xdrop
# programs and maps in the kernel), violations (leaked probes, failed convergence). The
# table goes to stdout and to $SOAK_OUT (default build/soak.log).
#
#   SOAK_SECONDS=14400 ./scripts/soak.sh      (make soak; default 4 h)
set -u
cd "$(dirname "$0")/.." || exit 1
SOAK_SECONDS=${SOAK_SECONDS:-14400}
REPORT=${REPORT:-60}
KILL_EVERY=${KILL_EVERY:-10}
CTL_EVERY=${CTL_EVERY:-37}
SOAK_OUT=${SOAK_OUT:-build/soak.log}
. tests/e2e/syslab.sh
trap sys_down EXIT
trap 'exit 1' INT TERM
mkdir -p "$(dirname "$SOAK_OUT")"
: >"$SOAK_OUT"
out() { printf '%s\n' "$*" | tee -a "$SOAK_OUT"; }

sys_net && ctl_start XDROP_FAULT_DROP_EVERY_N=20 && gw_start &&
	node_add n1 "mode: traditional
interface: t0" && node_add n2 "mode: fast_forward
fast_forward:
  inbound: f1
  outbound: f2
  filter_on: inbound" && agent_start n1 && agent_start n2 || {
	echo "soak: the lab did not come up"
	tail -20 "$TMP"/*.log
	exit 1
}
srv_start $((SOAK_SECONDS + 60))
rest POST /rules '{"name":"soak-probe","dst_port":5008,"protocol":"udp","action":"drop"}'
waitrev 10000 "$(jq_out .sync.revision)" n1 n2 >/dev/null
PPS=100
send_bg 10.1.0.71,10.2.0.1,5008,$((PPS * SOAK_SECONDS)),$PPS \
	10.3.0.71,10.3.0.2,5008,$((PPS * SOAK_SECONDS)),$PPS
bpf_counts() { # progs and maps named xdrop* in the kernel (all users), our pins
	echo "$(bpftool prog show 2>/dev/null | grep -c 'name xdrop') $(bpftool map show 2>/dev/null | grep -c 'name xdrop') $(find "$PIN" -type f 2>/dev/null | wc -l)"
}
out "# soak: $SOAK_SECONDS s, report every $REPORT s; every 20th push lost; agent kill -9 every $KILL_EVERY iterations; controller restart every $CTL_EVERY"
out "# t_s iter rev rss_kB(ctl gw n1 n2) fds(ctl gw n1 n2) bpf(progs maps pins) leaked conv_fail"
t0=$(ms)
next=$((t0 + REPORT * 1000))
it=0 conv_fail=0
while [ $(($(ms) - t0)) -lt $((SOAK_SECONDS * 1000)) ]; do
	it=$((it + 1))
	body=$(python3 -c "import json; print(json.dumps({'rules': [{'name': 'soak-$it-%d' % i, 'dst_ip': '10.91.%d.%d' % ($it % 200, i), 'action': 'drop'} for i in range(50)]}))")
	rest POST /rules/batch "$body"
	ids=$(jq -c '{ids: (.ids // [])}' <<<"$OUT" 2>/dev/null)
	for i in $(seq 5); do
		rest POST /rules "{\"name\":\"soak1-$it-$i\",\"dst_ip\":\"10.90.$((it % 200)).$i\",\"action\":\"drop\"}"
		id=$(jq_out .rule.id)
		rest DELETE "/rules/$id"
	done
	if [ -n "$ids" ] && [ "$ids" != '{"ids":[]}' ]; then rest DELETE /rules/batch "$ids"; else
		ids=$(curl -s -H "X-API-Key: $KEY" "$API/rules?search=soak-$it-&limit=100" | jq -c '{ids: [.rules[].id]}')
		rest DELETE /rules/batch "$ids"
	fi
	if [ $((it % KILL_EVERY)) = 0 ]; then
		victim=n$((it / KILL_EVERY % 2 + 1))
		agent_kill "$victim" KILL
		agent_start "$victim" >/dev/null || conv_fail=$((conv_fail + 1))
	fi
	if [ $((it % CTL_EVERY)) = 0 ]; then
		ctl_kill KILL
		ctl_start XDROP_FAULT_DROP_EVERY_N=20 >/dev/null || conv_fail=$((conv_fail + 1))
	fi
	converged 20 n1 n2 || conv_fail=$((conv_fail + 1))
	if [ "$(ms)" -ge "$next" ]; then
		next=$((next + REPORT * 1000))
		leaked=$(($(got 5008 10.1.0.71) + $(got 5008 10.3.0.71)))
		out "$((($(ms) - t0) / 1000)) $it $(ctl_revision) $(rss_kb "$CTL_PID") $(rss_kb "$GW_PID") $(rss_kb "${AGENT_PID[n1]}") $(rss_kb "${AGENT_PID[n2]}") $(fds "$CTL_PID") $(fds "$GW_PID") $(fds "${AGENT_PID[n1]}") $(fds "${AGENT_PID[n2]}") $(bpf_counts) $leaked $conv_fail"
	fi
done
leaked=$(($(got 5008 10.1.0.71) + $(got 5008 10.3.0.71)))
out "# done: $it iterations, leaked probes $leaked, convergence failures $conv_fail"
[ "$leaked" = 0 ] && [ "$conv_fail" = 0 ]
