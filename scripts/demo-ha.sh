#!/bin/bash
# SPDX-License-Identifier: MIT
# scripts/demo-ha.sh: the controller cluster of the demo (make demo-ha, issue 18), sourced
# by scripts/demo.sh, which sets PFX, RUN, BIN, ROOT and API.
#
#   hub ns: bridge br0 -- [h1] ==veth== [eth0] c1 ns: xdrop-controller, node 10.18.0.1:7710
#                      -- [h2] ==veth== [eth0] c2 ns: xdrop-controller, node 10.18.0.2:7710
#                      -- [h3] ==veth== [eth0] c3 ns: xdrop-controller, node 10.18.0.3:7710
#
# The three controllers form one dqlite cluster (controller 1 bootstraps, 2 and 3 join);
# their Raft traffic crosses the bridge, so setting a port of br0 down cuts that controller
# off. Their rpc, push and health sockets are ipc:// sockets in $RUN (which no cut
# touches): the gateway and both agents are given all three. A writer adds a rule through
# the gateway every half second (with an Idempotency-Key), so writes go on while the
# leader is killed or cut; the status line shows who leads and how many writes failed.
#
#   scripts/demo.sh ha-kill-leader   kill -9 of the leading controller
#   scripts/demo.sh ha-cut-leader    the leader's bridge port down (a partition)
#   scripts/demo.sh ha-heal          every port up, every stopped controller started again
HA_NODES="hub c1 c2 c3"
HA_PORT=7710

ha_addr() { echo "10.18.0.$1:$HA_PORT"; }
ha_sock() { echo "ipc://$RUN/controller$1-$2.sock"; } # id kind
ha_list() { echo "[$(ha_sock 1 "$1"), $(ha_sock 2 "$1"), $(ha_sock 3 "$1")]"; }
ha_ctl() { "$BIN/xdropctl" --controller "$(ha_sock 1 rpc),$(ha_sock 2 rpc),$(ha_sock 3 rpc)" \
	--key "$(cat "$RUN/key")" "$@"; }

# The hub, its bridge and one namespace per controller.
ha_lab() {
	local i
	for i in $HA_NODES; do ip netns add "$PFX-$i" || return 1; done
	ip -n "$PFX-hub" link add br0 type bridge && ip -n "$PFX-hub" link set br0 up || return 1
	for i in 1 2 3; do
		ip link add eth0 netns "$PFX-c$i" type veth peer name "h$i" netns "$PFX-hub" &&
			ip -n "$PFX-c$i" addr add "10.18.0.$i/24" dev eth0 &&
			ip -n "$PFX-c$i" link set lo up && ip -n "$PFX-c$i" link set eth0 up &&
			ip -n "$PFX-hub" link set "h$i" master br0 up || return 1
	done
}

# ha_start I: controller I in its namespace, in the background; its PID in controllerI.pid
# and in $RUN/pids (demo.sh's down() stops it by that PID). Not supervised: a controller
# that is killed is the point of the demo, and it does not end it.
ha_start() {
	nsenter --net="/run/netns/$PFX-c$1" "$BIN/xdrop-controller" \
		--config "$RUN/controller$1.yaml" </dev/null >>"$RUN/controller$1.log" 2>&1 &
	echo $! >"$RUN/controller$1.pid"
	echo $! >>"$RUN/pids"
	disown $! # killing it is the demo's business: no "Killed" notice from bash
}

# The configs (KEY set by demo.sh) and the three controllers started.
ha_controllers() {
	local i j peers
	echo "$KEY" >"$RUN/key"
	chmod 600 "$RUN/key"
	for i in 1 2 3; do
		peers=""
		for j in 1 2 3; do [ "$j" != "$i" ] && peers="$peers${peers:+, }$(ha_addr "$j")"; done
		cat >"$RUN/controller$i.yaml" <<EOF
log_level: info
rpc: {listen: "$(ha_sock "$i" rpc)"}
push: {listen: "$(ha_sock "$i" push)", heartbeat: 1s}
health: {listen: "$(ha_sock "$i" health)", beacon_interval: 1s}
keys: {admin_key: $KEY}
cluster: {id: $i, address: "$(ha_addr "$i")", dir: "$RUN/cluster$i", peers: [$peers]}
EOF
		ha_start "$i"
	done
}

# The writer: a rule through the gateway every 0.5 s for LIMIT seconds; its counts
# ("acknowledged failed last-HTTP-status") in $RUN/writes.
ha_writer_script() {
	cat >"$RUN/writer.sh" <<'EOF'
#!/bin/bash
# writer.sh API KEY STATE LIMIT
n=0 ok=0 bad=0
while [ "$SECONDS" -lt "$4" ]; do
	n=$((n + 1))
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 15 -X POST -H "X-API-Key: $2" \
		-H 'Content-Type: application/json' -H "Idempotency-Key: demo-ha-$$-$n" \
		--data-binary "{\"name\": \"ha-write-$n\", \"dst_ip\": \"198.51.100.200\",
		\"dst_port\": $((1024 + n % 60000)), \"protocol\": \"udp\", \"action\": \"drop\",
		\"source\": \"demo-ha-writer\"}" "$1/rules")
	if [ "${code:0:1}" = 2 ]; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
	echo "$ok $bad $code" >"$3.tmp" && mv "$3.tmp" "$3"
	sleep 0.5
done
EOF
}

ha_leader() { # the leading controller's id, from the cluster's status (empty: none)
	ha_ctl --timeout 5000 --json cluster status 2>/dev/null |
		python3 -c 'import json,sys; l=json.load(sys.stdin).get("leader_id"); print(l if l and str(l) != "0" else "")'
}

# ha_cmd ha-kill-leader | ha-cut-leader | ha-heal: on the running demo
ha_cmd() {
	local l i pid
	[ -f "$RUN/key" ] || { say "demo: no demo-ha runs (no $RUN/key)" >&2; return 1; }
	case $1 in
	ha-kill-leader | ha-cut-leader)
		l=$(ha_leader)
		[ -n "$l" ] || { say "demo: no controller leads now" >&2; return 1; }
		if [ "$1" = ha-kill-leader ]; then
			kill -KILL "$(cat "$RUN/controller$l.pid")" || return 1
			say "demo: kill -9 of controller $l (the leader); scripts/demo.sh ha-heal starts it again"
		else
			ip -n "$PFX-hub" link set "h$l" down || return 1
			say "demo: controller $l (the leader) cut off (bridge port h$l down); scripts/demo.sh ha-heal restores it"
		fi
		;;
	ha-heal)
		for i in 1 2 3; do
			ip -n "$PFX-hub" link set "h$i" up
			pid=$(cat "$RUN/controller$i.pid" 2>/dev/null)
			if [ -z "$pid" ] || ! grep -qs "$RUN" "/proc/$pid/cmdline"; then
				ha_start "$i"
				say "demo: controller $i started again"
			fi
		done
		say "demo: every bridge port up"
		;;
	esac
}
