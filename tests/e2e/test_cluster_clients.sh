#!/bin/bash
# SPDX-License-Identifier: MIT
# The clients of a controller cluster (issue 18, item 2): three xdrop-controller processes
# forming a dqlite cluster on loopback (as tests/controller/cluster.sh), the gateway, one
# real agent (traditional, XDP on a veth in its namespace) and xdropctl, each configured
# with all three controllers (the agent and the gateway as YAML lists, xdropctl as
# --controller A,B,C). Rules are written and the agent applies them; kill -9 of the leader;
# xdropctl, given the dead controller first, keeps working; the agent converges to the new
# leader's revision and hash within 10 s (AgentService.Info); the new leader lists the
# node online within one health timeout (its beacons went to every controller). Prints TAP.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/syslab.sh
. tests/lib/dqlite.sh
. tests/e2e/clusterlab.sh
trap down EXIT
trap 'exit 1' INT TERM

mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
lab_ns n1 x && lab_veth n1 t0 x x0 && lab_up n1 t0 && lab_up x x0
for i in 1 2 3; do conf "$i"; done
ok_up=1
for i in 1 2 3; do c_up "$i" || ok_up=0; done
wait_until 20 leader >/dev/null
L=$(leader)
check_eval "three controllers form a cluster; node ${L:-none} leads" '[ $ok_up = 1 ] && [ -n "$L" ]'
check "the gateway starts with the three controllers as a list" gw_start
node_add n1 "mode: traditional
interface: t0" >"$TMP/node.log" 2>&1
check "n1 registered through the gateway; the agent starts with three controllers" \
	agent_start n1

acked=$(add_rules "$(sock rpc "$L")" 1 5)
expect_eq "5 writes through the leader acknowledged" "$(echo "$acked" | grep -c .)" 5
R=$(info "$(sock rpc "$L")" revision)
H=$(info "$(sock rpc "$L")" content_hash)
check "the agent applies them (revision $R)" wait_until 10 agent_at "$R" "$H"
online() { [ "$(node_status "$1")" = online ]; }
check "the leader lists n1 online" wait_until 10 online "$L"

t0=$(ms)
kill -KILL "${CPID[$L]}"
wait "${CPID[$L]}" 2>/dev/null
unset "CPID[$L]"
# xdropctl with the dead controller first: the write goes to a live one (it waits out the
# election there)
ALL="$(sock rpc "$L")"
for i in 1 2 3; do [ "$i" != "$L" ] && ALL="$ALL,$(sock rpc "$i")"; done
acked=$(add_rules "$ALL" 6 3)
expect_eq "xdropctl --controller DEAD,B,C: 3 writes acknowledged after kill -9 of node $L" \
	"$(echo "$acked" | grep -c .)" 3
check "... and it reads the revision from a live controller" \
	test "$(info "$ALL" revision)" = $((R + 3))
wait_until 30 leader >/dev/null
L2=$(leader)
check_eval "node ${L2:-none} leads ($(($(ms) - t0)) ms after the kill)" \
	'[ -n "$L2" ] && [ "$L2" != "$L" ]'
# the leader takes in a follower's write within one tick of its cluster watcher
lrev() { [ "$(info "$(sock rpc "$L2")" revision)" = "$1" ]; }
R2=$((R + 3))
check "the new leader's revision continues ($R2)" wait_until 5 lrev "$R2"
H2=$(info "$(sock rpc "$L2")" content_hash)
gw_rev() { rest GET /stats && [ "$CODE" = 200 ] && [ "$(jq_out .revision)" = "$R2" ]; }
check "the gateway (three controllers) answers GET /stats with revision $R2" wait_until 10 gw_rev
t1=$(ms)
check "the agent converges to the new leader's revision and hash within 10 s" \
	wait_until 10 agent_at "$R2" "$H2"
echo "# agent at revision $R2 $(($(ms) - t1)) ms after the last write, $(($(ms) - t0)) ms after the kill"
# one health timeout: XDROP_NODE_OFFLINE_INTERVALS (3) beacon intervals
check "the new leader lists n1 online within one health timeout" \
	wait_until $((3 * HB_MS / 1000 + 2)) online "$L2"
acked=$(add_rules "$ALL" 9 1)
wait_until 5 lrev $((R2 + 1))
check "a write after the failover reaches the agent" \
	wait_until 10 agent_at "$((R2 + 1))" "$(info "$(sock rpc "$L2")" content_hash)"
# the agent protects its control flows to every controller of a TCP list (a second agent
# on t2, whose controllers are not there: only its start-up is looked at)
cat >"$TMP/p2.yaml" <<EOF
node: {id: p2, key: ${NODE_KEY[n1]}}
mode: traditional
interface: t2
pin_dir: $PIN/p2
state_dir: $TMP/state-p2
rpc: {listen: "ipc://$TMP/p2.sock"}
controller:
  rpc: [tcp://127.0.0.1:17700, tcp://127.0.0.2:17700]
  push: tcp://127.0.0.1:17701,tcp://127.0.0.2:17701
  health: [tcp://127.0.0.1:17702, tcp://127.0.0.2:17702]
log_level: info
EOF
lab_veth n1 t2 x x2 && lab_up n1 t2
in_ns n1 "$AGENT_BIN" --config "$TMP/p2.yaml" </dev/null >/dev/null 2>"$TMP/p2.log" &
P2=$!
flows() { [ "$(grep -c "protected control flow: tcp 127.0.0.[12]:1770[012] -> agent" "$TMP/p2.log")" = 6 ]; }
check "an agent given TCP lists protects its flows to each controller (6)" wait_until 10 flows
stop_pid "$P2" TERM "agent p2"
[ -s "$TMP/add.err" ] && sed 's/^/# /' "$TMP/add.err"
tap_done
