#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/e2e/clusterlab.sh: three xdrop-controller processes forming a dqlite cluster on
# loopback (ids 1..3; id 1 bootstraps, 2 and 3 join through their peers) beside the lab of
# syslab.sh, sourced after it and tests/lib/dqlite.sh by the e2e suites of a cluster. Each
# controller's sockets are ipc:// sockets in $TMP; CTL_RPC, CTL_PUSH and CTL_HEALTH list all
# three, so the gateway and the agents of syslab.sh are given every controller.
#
#   conf I / c_up I        controller I's config / starts it and waits until it answers
#   leader                 the live controller whose log last said it leads
#   ctl, on I, info C F    xdropctl (--controller LIST), on controller I, a field of Info
#   node_status I, agent_at REV HASH, add_rules C FROM COUNT, down (the EXIT trap)
XDROPCTL=$BINDIR/xdropctl
declare -a CPID
# three consecutive free ports for the dqlite nodes (others run suites on this machine too)
base=$(python3 -c 'import random, socket
while True:
    b, ok = random.randrange(20000, 50000), True
    for p in (b + 1, b + 2, b + 3):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            ok = False
        s.close()
    if ok:
        print(b)
        break')
addr() { echo "127.0.0.1:$((base + $1))"; }
sock() { echo "ipc://$TMP/$1$2.sock"; } # kind id
list() { echo "[$(sock "$1" 1), $(sock "$1" 2), $(sock "$1" 3)]"; }
CTL_RPC=$(list rpc) CTL_PUSH=$(list push) CTL_HEALTH=$(list health)

conf() { # I: controller I's config
	local i=$1 peers="" j
	for j in 1 2 3; do [ "$j" != "$i" ] && peers="$peers${peers:+, }$(addr "$j")"; done
	cat >"$TMP/c$i.yaml" <<EOF
log_level: info
rpc: {listen: "$(sock rpc "$i")"}
push: {listen: "$(sock push "$i")", heartbeat: $HB}
health: {listen: "$(sock health "$i")", beacon_interval: $HB}
keys: {admin_key: $KEY}
cluster: {id: $i, address: "$(addr "$i")", dir: "$TMP/node$i", peers: [$peers]}
EOF
}
c_up() { # I: starts controller I and waits until it answers
	"$CTL_BIN" --config "$TMP/c$1.yaml" </dev/null >/dev/null 2>>"$TMP/c$1.log" &
	CPID[$1]=$!
	wait_until 60 ping_rpc "$(sock rpc "$1")"
}
leader() { # the id whose controller last logged that it leads, among the live ones
	dq_ctl_leader "$TMP/c" "${!CPID[@]}"
}
ctl() { XDROP_KEY=$KEY "$XDROPCTL" "$@"; } # ctl [--controller LIST] ARGS...
on() { local i=$1; shift; ctl --controller "$(sock rpc "$i")" "$@"; }
info() { ctl --controller "$1" --json info | jq -r ".$2"; } # CONTROLLERS FIELD
node_status() { # I: n1's status as controller I sees it
	on "$1" --json nodes list | jq -r '.nodes[] | select(.id == "n1") | .status'
}
agent_at() { # REV HASH: the agent applied REV with HASH
	[ "$(agent_info n1 revision)" = "$1" ] && [ "$(agent_info n1 content_hash)" = "$2" ]
}
add_rules() { # CONTROLLERS FROM COUNT: rules through xdropctl; prints the acknowledged names
	local k
	for k in $(seq "$2" $(($2 + $3 - 1))); do
		ctl --controller "$1" -q rules add "name=r$k" "dst_ip=198.51.100.$k" action=drop \
			>/dev/null 2>>"$TMP/add.err" && echo "r$k"
	done
}
down() {
	local i
	for i in 1 2 3; do stop_pid "${CPID[$i]:-}" TERM "controller $i"; done
	sys_down
}
