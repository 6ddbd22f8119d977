#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/scripts/test_demo.sh: scripts/demo.sh as an operator runs it, under its own name
# (DEMO_NAME) and a free port so that it never meets a user's demo, bounded by DEMO_SECONDS.
#  1. it prints export XDROP_URL=/XDROP_KEY= lines that xdropctl works with;
#  2. DEMO_SECONDS ends it by itself with status 0;
#  3. SIGTERM and a Ctrl-C (SIGINT to its process group, as a terminal sends it) end it
#     with status 0, nothing from the shell on stderr, and nothing of it left: processes,
#     namespaces, pins, run directory;
#  4. a daemon killed under it: the demo names it and stops (status 1), no "HTTP 000" lines.
set -u
. "$(dirname "$0")/demo_lib.sh"

# ---- 1 and 2: the export lines, xdropctl with them, and the bound ----
start 4
if wait_until 90 banner; then ok "the demo printed its first screen"; else
	not_ok "the demo printed its first screen" "$(cat "$TMP/out" "$TMP/err")"
fi
url=$(sed -n 's/^export XDROP_URL=//p' "$TMP/out")
key=$(sed -n 's/^export XDROP_KEY=//p' "$TMP/out")
expect_eq "export XDROP_URL= names the controller's RPC socket" "$url" "ipc://$RUN/controller-rpc.sock"
check_eval "export XDROP_KEY= is the admin key shown above it" \
	"[ -n '$key' ] && grep -q 'API key (admin): *$key' '$TMP/out'"
rules=$(XDROP_URL=$url XDROP_KEY=$key "$CTL" --json rules list 2>&1 | python3 -c \
	'import json,sys; print(len(json.load(sys.stdin)["rules"]))' 2>&1)
expect_range "xdropctl with those lines lists the demo's rules" "$rules" 9 9
ended 30
expect_eq "DEMO_SECONDS=4 ends the demo by itself with status 0" "$RC" 0
check "it said how long it runs" grep -q 'Stops after 4 s' "$TMP/out"
left_nothing "after DEMO_SECONDS"

# ---- 3: SIGTERM, then Ctrl-C ----
for sig in TERM INT; do
	start 120
	wait_until 90 banner || not_ok "SIG$sig: the demo started" "$(cat "$TMP/err")"
	wait_until 10 grep -q '^t= *[0-9]*s rev' "$TMP/out" # inside the status loop
	if [ $sig = TERM ]; then kill -TERM "$DPID"; else kill -INT -- "-$DPID"; fi
	ended 30
	expect_eq "SIG$sig ends the demo with status 0" "$RC" 0
	check "SIG$sig: it says it removes the lab" grep -q 'demo: removing the lab' "$TMP/out"
	left_nothing "after SIG$sig"
done

# ---- 4: a daemon dies under the demo ----
start 120
wait_until 90 banner || not_ok "kill: the demo started" "$(cat "$TMP/err")"
apid=$(cat "$RUN/agent-trad.pid" 2>/dev/null)
check_eval "the agent of node trad runs (PID $apid)" "[ -n '$apid' ] && grep -qs xdrop-agent /proc/$apid/cmdline"
kill -KILL "$apid"
ended 30
expect_eq "a daemon killed: the demo stops with status 1" "$RC" 1
check "it names the daemon and how it ended" \
	grep -q 'demo: xdrop-agent of node trad exited with status 137 (killed by signal 9); stopping the demo' "$TMP/err"
check_not "no status line of failed requests (HTTP 000)" grep -q 'HTTP 000' "$TMP/out" "$TMP/err"
left_nothing "after a daemon died"
start 120
wait_until 90 banner || not_ok "kill gateway: the demo started" "$(cat "$TMP/err")"
# the gateway's PID: the process running xdrop-gateway with the demo's config (a grep of
# /proc/*/cmdline for the file name would also find the grep itself)
gpid=$(for f in /proc/[0-9]*/cmdline; do
	case $(tr '\0' ' ' <"$f" 2>/dev/null) in
	*xdrop-gateway" --config $RUN/gateway.yaml"*) f=${f#/proc/} && echo "${f%/cmdline}" ;;
	esac
done | head -1)
check "the gateway's PID found ($gpid)" [ -n "$gpid" ]
kill -TERM "$gpid"
ended 30
expect_eq "the gateway stopped: the demo stops with status 1" "$RC" 1
check "it names the gateway" grep -q 'demo: xdrop-gateway exited with status 0; stopping the demo' "$TMP/err"
left_nothing "after the gateway stopped"
tap_done
