#!/bin/bash
# SPDX-License-Identifier: MIT
# cluster.sh: three real xdrop-controller processes forming a dqlite cluster (a cluster
# section each: id 1 bootstraps, 2 and 3 join through their peers) on loopback, stopped by
# PID. Writes go through the leader (xdropctl on its RPC socket); kill -9 of the leader
# (its controller and its embedded node); one of the two others is elected and serves
# writes; afterwards every acknowledged rule is present, none twice, and the revision is
# the number of writes (one per write, no gap, none reused across the leader change); a
# write through a follower runs on the cluster's database and the leader's revision
# follows it; a restarted controller joins again and serves the same rule set. Prints TAP.
set -u
. tests/cli/lib.sh
. tests/lib/dqlite.sh
cli_init cluster python3

N1=20 N2=20
declare -a PIDS
base=$((20000 + RANDOM % 30000))
addr() { echo "127.0.0.1:$((base + $1))"; }

conf() { # I: controller I's config (ids 1..3)
	local i=$1 peers="" j
	for j in 1 2 3; do [ "$j" != "$i" ] && peers="$peers${peers:+, }$(addr "$j")"; done
	{
		echo "log_level: info"
		echo "rpc: {listen: \"ipc://$TMP/rpc$i.sock\"}"
		echo "push: {listen: \"ipc://$TMP/push$i.sock\"}"
		echo "health: {listen: \"ipc://$TMP/health$i.sock\"}"
		echo "keys: {admin_key: $ADMIN_KEY}"
		echo "cluster: {id: $i, address: \"$(addr "$i")\", dir: \"$TMP/node$i\", peers: [$peers]}"
	} >"$TMP/c$i.yaml"
}

up() { # I: starts controller I and waits until it answers
	"$CTRL_BIN" --config "$TMP/c$1.yaml" 2>>"$TMP/c$1.log" &
	PIDS[$1]=$!
	wait_until 60 on "$1" ctl -q --timeout 500 ping 2>/dev/null
}
on() { local i=$1; shift; XDROP_URL=ipc://$TMP/rpc$i.sock "$@"; }
leader() { # the id whose controller last logged that it leads, among the live ones
	dq_ctl_leader "$TMP/c" "${!PIDS[@]}"
}
add_rules() { # I FROM COUNT: COUNT rules through controller I; prints the acknowledged names
	local i=$1 k
	for k in $(seq "$2" $(($2 + $3 - 1))); do
		on "$i" ctl -q rules add "name=r$k" "dst_ip=198.51.100.$k" action=drop \
			>/dev/null 2>>"$TMP/add.err" && echo "r$k"
	done
}
names() { on "$1" ctl --json rules list --limit 1000 | python3 -c \
	'import json,sys; print("\n".join(sorted(r["name"] for r in json.load(sys.stdin)["rules"])))'; }
rev() { on "$1" revision; }

cli_down_cluster() {
	local i
	for i in 1 2 3; do [ -n "${PIDS[$i]:-}" ] && kill -TERM "${PIDS[$i]}" 2>/dev/null; done
	for i in 1 2 3; do
		[ -n "${PIDS[$i]:-}" ] || continue
		wait_until 15 bash -c "! kill -0 ${PIDS[$i]} 2>/dev/null" ||
			kill -KILL "${PIDS[$i]}" 2>/dev/null
		wait "${PIDS[$i]}" 2>/dev/null
	done
	cli_down
}
trap cli_down_cluster EXIT
export XDROP_KEY=$ADMIN_KEY

for i in 1 2 3; do conf "$i"; done
ok_up=1
for i in 1 2 3; do up "$i" || ok_up=0; done
check_eval "three controllers form a cluster and answer" '[ $ok_up = 1 ]'
wait_until 20 leader >/dev/null
L=$(leader)
check_eval "one controller leads (node ${L:-none})" '[ -n "$L" ]'

acked1=$(add_rules "$L" 1 "$N1")
expect_eq "every write through the leader acknowledged" "$(echo "$acked1" | grep -c .)" "$N1"
expect_eq "revision after $N1 writes" "$(rev "$L")" "$N1"

t0=$(tap_now_ms)
kill -KILL "${PIDS[$L]}"
wait "${PIDS[$L]}" 2>/dev/null
unset "PIDS[$L]"
# a write sent at once to a survivor waits out the election (its BEGIN is retried)
S=$(for i in 1 2 3; do [ -n "${PIDS[$i]:-}" ] && echo "$i"; done | head -1)
acked0=$(add_rules "$S" 100 1)
check_eval "a write sent to node $S right after the kill is acknowledged ($(($(tap_now_ms) - t0)) ms)" \
	'[ "$acked0" = r100 ]'
wait_until 30 leader >/dev/null
L2=$(leader)
check_eval "kill -9 of node $L: node ${L2:-none} leads ($(($(tap_now_ms) - t0)) ms)" \
	'[ -n "$L2" ] && [ "$L2" != "$L" ]'

acked2=$(add_rules "$L2" 101 "$N2")
expect_eq "the new leader acknowledges every write" "$(echo "$acked2" | grep -c .)" "$N2"
want=$(printf '%s\n%s\n%s\n' "$acked1" "$acked0" "$acked2" | sort)
expect_eq "every acknowledged rule present once" "$(names "$L2")" "$want"
expect_eq "revision continues without a gap" "$(rev "$L2")" $((N1 + 1 + N2))

# a follower's write runs on the cluster's database; the leader takes it in (and publishes it)
F=$(for i in 1 2 3; do [ -n "${PIDS[$i]:-}" ] && [ "$i" != "$L2" ] && echo "$i"; done | head -1)
acked3=$(add_rules "$F" 201 1)
leader_rev() { [ "$(rev "$L2")" = $((N1 + 1 + N2 + 1)) ]; }
check_eval "a write through follower $F is acknowledged and the leader's revision follows" \
	'[ "$acked3" = r201 ] && wait_until 10 leader_rev'
want=$(printf '%s\n%s\n' "$want" "$acked3" | sort)

up "$L"
wait_until 30 bash -c "[ \"\$(XDROP_URL=ipc://$TMP/rpc$L.sock $CTL_BIN --json rules list --limit 1000 |
	python3 -c 'import json,sys; print(len(json.load(sys.stdin)[\"rules\"]))')\" = $((N1 + 1 + N2 + 1)) ]"
expect_eq "the killed controller restarted serves the same rules" "$(names "$L")" "$want"
# the leader's lease (controller/lease.h) held throughout: with one voter killed the new
# leader is in contact with the other, and nothing here cut a link
check_eval "no controller's lease lapsed (none logged)" \
	'! grep -q "has not named it leader" "$TMP"/c[123].log'

# no quorum: the one controller left cannot read the key table, and says so (UNAVAILABLE,
# exit 7), where a bad key would be UNAUTHENTICATED (exit 5) and count as a failed credential
for i in 1 2 3; do
	[ "$i" = "$L" ] && continue
	kill -KILL "${PIDS[$i]}"
	wait "${PIDS[$i]}" 2>/dev/null
	unset "PIDS[$i]"
done
rc=0
out=$(XDROP_URL=ipc://$TMP/rpc$L.sock timeout 60 "$CTL_BIN" --timeout 40000 rules list 2>&1) || rc=$?
check_eval "without a quorum a call with a good key is UNAVAILABLE (exit $rc: ${out:0:120})" \
	'[ $rc = 7 ] && echo "$out" | grep -q UNAVAILABLE'
[ -s "$TMP/add.err" ] && sed 's/^/# /' "$TMP/add.err"
tap_done
