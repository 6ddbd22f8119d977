#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/gateway/test_cluster.sh: the cluster endpoints of xdrop-gateway (ASan build) in
# controller mode, in front of a real xdrop-controller whose cluster section joins three
# xdrop-dqlite-node processes (tests/lib/dqlite.sh; its own node is id 9): GET /api/v1/cluster (admin and
# read-only keys), POST /api/v1/cluster/transfer, POST /api/v1/cluster/members (a fourth
# node as a spare), DELETE /api/v1/cluster/members/:id, admin only, bad input named.
# Skipped when the controller or the node program is not built.
cd "$(dirname "$0")/../.." || exit 1
. tests/gateway/lib.sh
. tests/lib/dqlite.sh
ctl_lab_tap
[ -x "$DQNODE_BIN" ] || {
	echo "1..0 # SKIP $DQNODE_BIN not built"
	exit 0
}
down() {
	ctl_lab_down
	dq_nodes_down
	gw_lab_down
}
trap down EXIT
declare -a addr
for i in 1 2 3 4 9; do addr[$i]=127.0.0.1:$(free_port); done
dq_node_start 1 "${addr[1]}" "$TMP/n1" || { echo "Bail out! node 1"; exit 1; }
dq_node_start 2 "${addr[2]}" "$TMP/n2" --join "${addr[1]}" || { echo "Bail out! node 2"; exit 1; }
dq_node_start 3 "${addr[3]}" "$TMP/n3" --join "${addr[1]}" || { echo "Bail out! node 3"; exit 1; }
CTL_EXTRA_YAML="cluster: {id: 9, address: \"${addr[9]}\", dir: $TMP/n9, peers: [\"${addr[1]}\", \"${addr[2]}\", \"${addr[3]}\"]}"
ctl_lab_up
RO=$("$CTL_BIN" --json keys add viewer read_only | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')

req GET /api/v1/cluster
expect 200 - "GET /api/v1/cluster (admin)"
expect_eq "four voters, one leader, all reachable" \
	"$(jget '["members"]' | python3 -c 'import ast,sys; m=ast.literal_eval(sys.stdin.read()); print(len(m), sorted(x["role"] for x in m), sum(1 for x in m if x.get("leader")), sum(1 for x in m if x.get("reachable")))')" \
	"4 ['voter', 'voter', 'voter', 'voter'] 1 4"
req GET /api/v1/cluster "" "$RO"
expect 200 - "GET /api/v1/cluster with a read-only key"

req POST /api/v1/cluster/transfer '{"id": 2}' "$RO"
expect 403 - "POST /api/v1/cluster/transfer with a read-only key: 403"
req POST /api/v1/cluster/transfer '{"id": 2}'
expect 200 - "POST /api/v1/cluster/transfer"
expect_eq "node 2 leads" "$(jget '["status"]["leader_id"]')" 2
# the controller's store follows the new leader on its next call (the key check may be
# refused while it reconnects): wait until the API answers again
cluster_ok() { req GET /api/v1/cluster; [ "$CODE" = 200 ]; }
gw_until 20 cluster_ok
req POST /api/v1/cluster/transfer '{"id": 77}'
expect 404 id "transfer to an unknown node: 404 naming id"

req POST /api/v1/cluster/members '{"id": 4}'
expect 400 address "POST members without an address: 400"
req POST /api/v1/cluster/members "{\"id\": 4, \"address\": \"${addr[4]}\", \"role\": \"king\"}"
expect 400 role "POST members with a bad role: 400"
req POST /api/v1/cluster/members '{"id": 4, "adress": "x"}'
expect 400 adress "POST members with an unknown field: 400"
dq_node_start 4 "${addr[4]}" "$TMP/n4" || { echo "Bail out! node 4"; exit 1; }
req POST /api/v1/cluster/members "{\"id\": 4, \"address\": \"${addr[4]}\", \"role\": \"spare\"}"
expect 200 - "POST /api/v1/cluster/members: node 4 as a spare"
expect_eq "the reply lists it as a spare" \
	"$(jget '["status"]["members"]' | python3 -c 'import ast,sys; print([x["role"] for x in ast.literal_eval(sys.stdin.read()) if str(x["id"]) == "4"])')" \
	"['spare']"
req DELETE /api/v1/cluster/members/4 "" "$RO"
expect 403 - "DELETE members/4 with a read-only key: 403"
req DELETE /api/v1/cluster/members/four
expect 400 id "DELETE members/four: 400 naming id"
req DELETE /api/v1/cluster/members/4
expect 200 - "DELETE /api/v1/cluster/members/4"
req GET /api/v1/cluster
expect_eq "four members again" "$(jget '["members"]' | python3 -c 'import ast,sys; print(sorted(str(x["id"]) for x in ast.literal_eval(sys.stdin.read())))')" \
	"['1', '2', '3', '9']"
tap_done
