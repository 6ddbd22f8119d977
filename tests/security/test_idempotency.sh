#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/security/test_idempotency.sh: writes are idempotent across resends (issue 11, item 3;
# fault matrix row S3). A real xdrop-controller (SQLite in a temp dir, loopback ports picked
# free) behind a real xdrop-gateway:
#  - a REST write with an Idempotency-Key, resent, answers the same status and body (and
#    Idempotent-Replayed: true) for a create, a delete and a batch, where the old code
#    answered 409 / 404 / a batch of failures; the key reused with another body is 422
#    naming Idempotency-Key; a malformed key is 400 naming it; the scope is the API key;
#    20 concurrent keyed writes and their 20 concurrent resends all get 201 and one body;
#  - S3 over REST: the controller _exits right after committing a write, before its reply
#    (XDROP_FAULT_EXIT_AFTER_COMMIT=1: the kill point is the commit itself, not a time);
#    restarted, it answers the resend with the original outcome, and the rule exists once;
#  - S3 with xdropctl: `rules import` whose batch the controller committed just before it
#    died reports success once the controller is back, with no ALREADY_EXISTS.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/security/lib.sh
CTL_BIN=${CTL_BIN:-build/bin/xdropctl}
KEY=idempotency-admin-key-0123456789
TMP=$(mktemp -d /tmp/xdrop-idempotency.XXXXXX)
CTRL_PID=
GW_PID=
BG_PID=
echo "TAP version 13"

down() {
	[ -n "$BG_PID" ] && sec_stop "$BG_PID"
	[ -n "$GW_PID" ] && sec_stop "$GW_PID"
	[ -n "$CTRL_PID" ] && sec_stop "$CTRL_PID"
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap down EXIT
P1=$(sec_port) P2=$(sec_port) P3=$(sec_port) GW_PORT=$(sec_port)
export XDROP_URL=tcp://127.0.0.1:$P1 XDROP_KEY=$KEY
BASE=http://127.0.0.1:$GW_PORT
sec_ctrl_yaml "$TMP/ctrl.yaml" "$TMP/ctrl.db" tcp://127.0.0.1:$P1 tcp://127.0.0.1:$P2 \
	tcp://127.0.0.1:$P3 "admin_key: $KEY"
sec_gw_yaml "$TMP/gw.yaml" tcp://127.0.0.1:$P1 "$GW_PORT" "ui:" "  dir: $TMP" "log_level: warn"

# ctl_start [VAR=value...]: starts the controller (with that environment), waits for Ping.
ctl_start() {
	sec_ctrl_start "$TMP/ctrl.yaml" "$TMP/ctrl.log" "$@"
	sec_ctrl_up 100 "$CTL_BIN" -q --timeout 500 ping 2>/dev/null
}

# ctl_exited: waits (at most 20 s) for the controller to exit on its own; CTRL_RC is its
# status, or "running" (then it is killed with -9).
ctl_exited() {
	sec_wait 200 eval '! kill -0 "$CTRL_PID" 2>/dev/null'
	if kill -0 "$CTRL_PID" 2>/dev/null; then
		CTRL_RC=running
		kill -9 "$CTRL_PID"
		wait "$CTRL_PID" 2>/dev/null
	else
		wait "$CTRL_PID"
		CTRL_RC=$?
	fi
	CTRL_PID=
}

ctl_stop() {
	sec_stop "$CTRL_PID"
	CTRL_PID=
}

# send OUT METHOD PATH BODY [IDEMPOTENCY_KEY [API_KEY]]: status in CODE, body in OUT.body,
# headers in OUT.hdr.
send() {
	local out=$1 method=$2 path=$3 body=$4 ik=${5-} key=${6:-$KEY}
	local args=(-s -D "$TMP/$out.hdr" -o "$TMP/$out.body" -w '%{http_code}' -X "$method"
		-H "X-API-Key: $key")
	[ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
	[ -n "$ik" ] && args+=(-H "Idempotency-Key: $ik")
	CODE=$(curl "${args[@]}" "$BASE$path")
}
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$TMP/$1.body" "$2" 2>/dev/null; }
replayed() { grep -qi '^Idempotent-Replayed: true' "$TMP/$1.hdr"; }
same() { cmp -s "$TMP/$1.body" "$TMP/$2.body"; }
count_of() { # rules whose name or comment contains $1
	curl -s -H "X-API-Key: $KEY" "$BASE/api/v1/rules?search=$1&limit=1000" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["pagination"]["total"])'
}

if ! ctl_start; then
	echo "Bail out! controller did not start"
	sed 's/^/# /' "$TMP/ctrl.log"
	exit 1
fi
sec_gw_start "$TMP/gw.yaml" "$TMP/gw.log" "$GW_PORT"

# ---- a resent REST write gets its first outcome ----
R1='{"name":"idem-one","dst_ip":"198.51.100.1","action":"drop"}'
send a POST /api/v1/rules "$R1" key-create-1
check "POST with Idempotency-Key: 201" [ "$CODE" = 201 ]
check "a first reply is not marked replayed" eval '! replayed a'
ID1=$(field a '["rule"]["id"]')
send b POST /api/v1/rules "$R1" key-create-1
check "the same POST resent: 201, not 409 (got $CODE)" [ "$CODE" = 201 ]
check "the resend's body is the first body, byte for byte" same a b
check "the resend carries Idempotent-Replayed: true" replayed b
send c POST /api/v1/rules "$R1"
check "the same rule without a key is still a duplicate: 409" [ "$CODE" = 409 ]
send c POST /api/v1/rules '{"name":"idem-two","dst_ip":"198.51.100.2","action":"drop"}' key-create-1
check "the key reused with another body: 422 naming Idempotency-Key (got $CODE $(field c '["field"]'))" \
	[ "$CODE:$(field c '["field"]')" = 422:Idempotency-Key ]
check "... and nothing stored" [ "$(count_of idem-two)" = 0 ]
send c POST /api/v1/rules '{"name":"idem-three","dst_ip":"198.51.100.3","action":"drop"}' 'has space'
check "a malformed key: 400 naming Idempotency-Key (got $CODE)" \
	[ "$CODE:$(field c '["field"]')" = 400:Idempotency-Key ]
send c POST /api/v1/rules '{"name":"idem-three","dst_ip":"198.51.100.3","action":"drop"}' \
	"$(printf 'k%.0s' $(seq 129))"
check "a key of 129 characters: 400 naming Idempotency-Key (got $CODE)" \
	[ "$CODE:$(field c '["field"]')" = 400:Idempotency-Key ]
check "... and nothing stored" [ "$(count_of idem-three)" = 0 ]

KEY2=$("$CTL_BIN" --json keys add idem-other admin | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
send c POST /api/v1/rules "$R1" key-create-1 "$KEY2"
check "the same key from another API key is another request: it runs (409, got $CODE)" \
	[ "$CODE" = 409 ]
check "... and is not a replay" eval '! replayed c'

send a DELETE "/api/v1/rules/$ID1" "" key-delete-1
check "DELETE with Idempotency-Key: 200" [ "$CODE" = 200 ]
send b DELETE "/api/v1/rules/$ID1" "" key-delete-1
check "the DELETE resent: 200 with the same body, not 404 (got $CODE)" \
	eval '[ "$CODE" = 200 ] && same a b && replayed b'

BATCH=$(python3 -c 'import json; print(json.dumps({"rules":[{"name":"idem-batch-%d" % i,
	"dst_ip":"198.51.101.%d" % i,"action":"drop"} for i in range(1, 51)]}))')
send a POST /api/v1/rules/batch "$BATCH" key-batch-1
check "batch with Idempotency-Key: $CODE, 50 added" [ "$(field a '["added"]')" = 50 ]
send b POST /api/v1/rules/batch "$BATCH" key-batch-1
check "the batch resent: same status ($CODE) and body, 50 added, no failures" \
	eval 'same a b && replayed b'
check "... and 50 rules stored once" [ "$(count_of idem-batch)" = 50 ]

# ---- 20 concurrent writers with keys, then their 20 resends at once ----
for round in first resend; do
	pids=()
	for i in $(seq 20); do
		send "par$round$i" POST /api/v1/rules \
			"{\"name\":\"idem-par-$i\",\"dst_ip\":\"198.51.103.$i\",\"action\":\"drop\"}" \
			"key-par-$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
done
bad=0
for i in $(seq 20); do
	grep -q '^HTTP/1.1 201' "$TMP/parfirst$i.hdr" && same "parfirst$i" "parresend$i" &&
		replayed "parresend$i" || bad=$((bad + 1))
done
check "20 concurrent keyed writes and their 20 concurrent resends: 201 and the same bodies ($bad differ)" \
	[ "$bad" = 0 ]
check "... 20 rules stored" [ "$(count_of idem-par)" = 20 ]

# ---- S3 over REST: the reply is lost after COMMIT ----
ctl_stop
ctl_start XDROP_FAULT_EXIT_AFTER_COMMIT=1 || echo "Bail out! controller restart"
R5='{"name":"idem-s3-rest","dst_ip":"198.51.100.5","action":"drop"}'
(send lost POST /api/v1/rules "$R5" key-s3-rest; echo "$CODE" >"$TMP/lost.code") &
BG_PID=$!
ctl_exited
check "the controller died right after committing the write (exit $CTRL_RC, want 86)" \
	[ "$CTRL_RC" = 86 ]
ctl_start || echo "Bail out! controller restart"
wait "$BG_PID"
BG_PID=
diag "the write in flight when the controller died got $(cat "$TMP/lost.code")"
send r POST /api/v1/rules "$R5" key-s3-rest
check "after the restart the resend gets the original outcome: 201, not 409 (got $CODE)" \
	[ "$CODE" = 201 ]
check "... marked replayed" replayed r
ID5=$(field r '["rule"]["id"]')
send g GET "/api/v1/rules/$ID5" ""
check "... naming the rule that was committed ($ID5)" eval '[ -n "$ID5" ] && [ "$CODE" = 200 ]'
check "... which exists once" [ "$(count_of idem-s3-rest)" = 1 ]
check "... with its sync outcome for that revision" [ -n "$(field r '["sync"]["revision"]')" ]

# ---- S3 with xdropctl: an import committed before the controller died ----
python3 -c 'import json,sys; json.dump({"rules":[{"name":"idem-import-%d" % i,
	"dst_ip":"198.51.102.%d" % i,"action":"drop"} for i in range(1, 201)]}, open(sys.argv[1],"w"))' \
	"$TMP/import.json"
ctl_stop
ctl_start XDROP_FAULT_EXIT_AFTER_COMMIT=1 || echo "Bail out! controller restart"
"$CTL_BIN" --no-progress rules import "$TMP/import.json" >"$TMP/import.out" 2>"$TMP/import.err" &
BG_PID=$!
ctl_exited
check "the controller died right after committing the import's batch (exit $CTRL_RC)" \
	[ "$CTRL_RC" = 86 ]
ctl_start || echo "Bail out! controller restart"
wait "$BG_PID"
RC=$?
BG_PID=
check "xdropctl rules import reports success (exit $RC: $(tr '\n' ' ' <"$TMP/import.err"))" \
	eval '[ "$RC" = 0 ] && grep -q "imported 200 rules" "$TMP/import.out"'
check "... never ALREADY_EXISTS" eval '! grep -q ALREADY_EXISTS "$TMP/import.err"'
N=$(count_of idem-import)
check "... and the 200 rules are stored once (found $N)" [ "$N" = 200 ]

check "the controller's log shows no sanitizer report" \
	eval '! grep -q "ERROR: AddressSanitizer\|runtime error" "$TMP/ctrl.log" "$TMP/gw.log"'
echo "1..$T"
[ "$FAILED" = 0 ]
