#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/scripts/test_demo_ha.sh: make demo-ha (scripts/demo.sh ha) as an operator runs it,
# under its own name and port (tests/scripts/demo_lib.sh): three controllers in their
# namespaces form a cluster and the status line names the leader; the export lines give
# xdropctl all three; `scripts/demo.sh ha-kill-leader` kills the leader with kill -9,
# another controller then leads (status line and xdropctl cluster status agree) while the
# demo's writer keeps getting writes acknowledged; `ha-heal` starts the killed controller
# again and every member is reachable; SIGTERM ends the demo with status 0 and leaves
# nothing behind.
set -u
. "$(dirname "$0")/demo_lib.sh"

ha() { DEMO_NAME=$NAME ./scripts/demo.sh "$1" 2>&1; }
last() { grep -E '^t= *[0-9]+s leader c[123] ' "$TMP/out" | tail -1; } # the last line with a leader
leader_of() { sed -nE 's/^t= *[0-9]+s leader c([123]) .*/\1/p' <<<"$1"; }
acked_of() { sed -nE 's/.*\| writes ok ([0-9]+) failed.*/\1/p' <<<"$1"; }
status_json() { XDROP_URL=$url XDROP_KEY=$key "$CTL" --timeout 5000 --json cluster status 2>/dev/null; }
leader_now() { status_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["leader_id"])'; }
all_reachable() {
	[ "$(status_json | python3 -c 'import json,sys
m=json.load(sys.stdin)["members"]; print(sum(1 for x in m if x.get("reachable")))')" = 3 ]
}

start 240 ha
if wait_until 120 banner; then ok "make demo-ha printed its first screen"; else
	not_ok "make demo-ha printed its first screen" "$(cat "$TMP/out" "$TMP/err")"
fi
url=$(sed -n 's/^export XDROP_URL=//p' "$TMP/out")
key=$(sed -n 's/^export XDROP_KEY=//p' "$TMP/out")
expect_eq "export XDROP_URL= lists the three controllers" "$url" \
	"ipc://$RUN/controller1-rpc.sock,ipc://$RUN/controller2-rpc.sock,ipc://$RUN/controller3-rpc.sock"
check_eval "three controllers, each in its namespace" \
	"ip netns list | grep -Ec '^$NAME-c[123]( |\$)' | grep -qx 3"
wait_until 30 eval '[ -n "$(last)" ] && acked_of "$(last)" | grep -q "^[1-9]"'
line=$(last)
L1=$(leader_of "$line")
A1=$(acked_of "$line")
check_eval "the status line names the leader (controller ${L1:-none}) and counts the writes ($A1)" \
	'[ -n "$L1" ] && echo "$line" | grep -q "(3/3 up)"'
expect_eq "xdropctl cluster status names the same leader" "$(leader_now)" "$L1"

out=$(ha ha-kill-leader)
check_eval "ha-kill-leader kills controller $L1 [$out]" \
	'echo "$out" | grep -q "kill -9 of controller $L1 (the leader)"'
# a later line with another leader, and writes acknowledged after the kill
moved_on() {
	local l
	l=$(last)
	[ -n "$(leader_of "$l")" ] && [ "$(leader_of "$l")" != "$L1" ] &&
		[ "$(acked_of "$l")" -ge $((A1 + 4)) ] && echo "$l" | grep -q "(2/3 up)"
}
check "another controller leads (status line, 2/3 up) and the writes go on" wait_until 60 moved_on
line=$(last)
L2=$(leader_of "$line")
diag "after the kill: ${line:0:80}"
expect_eq "xdropctl cluster status names the new leader" "$(leader_now)" "$L2"

out=$(ha ha-heal)
check_eval "ha-heal starts controller $L1 again [$(tr '\n' ' ' <<<"$out")]" \
	'echo "$out" | grep -q "controller $L1 started again"'
check "every member is reachable again" wait_until 60 all_reachable
check_not "an unknown command is refused (usage)" ha ha-nonsense

kill -TERM "$DPID"
ended 30
expect_eq "SIGTERM ends make demo-ha with status 0" "$RC" 0
left_nothing "demo-ha after SIGTERM"
tap_done
