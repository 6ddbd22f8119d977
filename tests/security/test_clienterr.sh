#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/security/test_clienterr.sh: every client error says what happened, at once.
# xdropctl (with a long --timeout, so that waiting it out fails the check) against
#   (a) nothing listening: "connection refused by HOST:PORT" within 2 s;
#   (b) a controller killed (kill -9) while a call waits for its reply: "connection ... lost"
#       within 5 s of the kill; and a controller stopped (SIGSTOP) before the call and
#       killed while the call waits to connect: an UNAVAILABLE error within 5 s of the kill;
#   (c) TLS: a server certificate from an unknown CA, one with another name, a server that
#       wants a client certificate we do not have: three distinct messages, each at once;
#   (d) nng errors decoded: a controller asked to listen on an address its network
#       namespace does not have (only loopback) exits with a readable reason, and one asked
#       to listen on an ipc:// path under a regular file says "Not a directory".
# Before issue 11 every case ended as "DEADLINE_EXCEEDED: no reply ..." after the timeout.
# Needs root (a network namespace). Prints TAP.
set -u
cd "$(dirname "$0")/../.." || exit 1
CTRL_BIN=${CTRL_BIN:-build/bin/xdrop-controller}
CTL_BIN=${CTL_BIN:-build/bin/xdropctl}
ADMIN_KEY=admin-key-0123456789abcdef
NS=clienterr$$
NSA=$NS-a
echo "TAP version 13"
. tests/security/lib.sh
sec_need "$CTRL_BIN" "$CTL_BIN"
TMP=$(mktemp -d /tmp/xdrop-clienterr.XXXXXX)
PIDS=()
. tests/lib/tap.sh
. tests/lib/netns.sh

down() {
	for p in "${PIDS[@]}"; do
		kill -CONT "$p" 2>/dev/null
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	lab_cleanup # the namespace
	rm -rf "$TMP"
}
trap down EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# start_ctrl NAME RPC_URL [YAML lines]: a controller with its own database and ipc://
# push/health sockets; waits until xdropctl ping (with $PING_OPTS) answers. Sets CPID.
start_ctrl() {
	local name=$1 url=$2
	shift 2
	sec_ctrl_yaml "$TMP/$name.yaml" "$TMP/$name.db" "$url" "ipc://$TMP/$name-push.sock" \
		"ipc://$TMP/$name-health.sock" "admin_key: $ADMIN_KEY" "$@"
	sec_ctrl_start "$TMP/$name.yaml" "$TMP/$name.log"
	CPID=$CTRL_PID
	PIDS+=("$CPID")
	# shellcheck disable=SC2086
	sec_ctrl_up 150 timeout 10 "$CTL_BIN" -q --timeout 1000 -u "$url" ${PING_OPTS:-} ping \
		2>/dev/null && return 0
	diag "controller $name did not start:"
	sed 's/^/# /' "$TMP/$name.log"
	return 1
}

# run_ctl OUTFILE ARGS...: xdropctl with a 30 s call timeout (never longer than 60 s);
# sets RC and MS (how long it took).
run_ctl() {
	local out=$1 t0
	shift
	t0=$(now_ms)
	timeout 60 "$CTL_BIN" --timeout 30000 -k "$ADMIN_KEY" "$@" >/dev/null 2>"$out"
	RC=$?
	MS=$(($(now_ms) - t0))
}

# wait_exit PID SECONDS: waits for PID to end (at most SECONDS); sets RC (124: still there).
wait_exit() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		if ! kill -0 "$1" 2>/dev/null; then
			wait "$1"
			RC=$?
			return 0
		fi
		sleep 0.05
	done
	RC=124
	return 1
}

# ---- (a) nothing listening ----
P=$(sec_port)
run_ctl "$TMP/a.err" -u "tcp://127.0.0.1:$P" ping
diag "$(cat "$TMP/a.err") (exit $RC, $MS ms)"
check "(a) nothing listening: exit 7 within 2 s (got $RC after $MS ms)" \
	test "$RC" = 7 -a "$MS" -lt 2000
check "(a) the message says: connection refused by 127.0.0.1:$P" \
	grep -q "UNAVAILABLE: connection refused by 127.0.0.1:$P" "$TMP/a.err"

# ---- (b) a controller killed while the call waits for its reply ----
P=$(sec_port)
URL=tcp://127.0.0.1:$P
start_ctrl lost "$URL" || { echo "Bail out! controller did not start"; exit 1; }
# stats --watch keeps one connection and calls once a second: the first sample proves the
# connection, then the controller stops and the next call's request waits in its socket
timeout 60 "$CTL_BIN" --timeout 30000 -k "$ADMIN_KEY" -u "$URL" --json stats --watch 1 \
	>"$TMP/b.out" 2>"$TMP/b.err" &
WPID=$!
sec_wait 100 test -s "$TMP/b.out"
kill -STOP "$CPID"
# the next request has arrived when the stopped controller's socket holds unread bytes
unread() { ss -Htn state established "( sport = :$P )" | awk '$1 > 0 {f=1} END {exit !f}'; }
pending=no
sec_wait 50 unread && pending=yes
check "(b) a call is waiting for its reply from the stopped controller" test "$pending" = yes
t0=$(now_ms)
kill -KILL "$CPID"
wait_exit "$WPID" 20
MS=$(($(now_ms) - t0))
diag "$(cat "$TMP/b.err") (exit $RC, $MS ms after kill -9)"
check "(b) killed controller: xdropctl exits 7 within 5 s of the kill (got $RC after $MS ms)" \
	test "$RC" = 7 -a "$MS" -lt 5000
check "(b) the message says the connection was lost" \
	grep -q "UNAVAILABLE: connection to 127.0.0.1:$P lost while waiting for the reply" \
	"$TMP/b.err"
kill -KILL "$WPID" 2>/dev/null

# stopped before the call: the kernel accepts the connection, nobody answers; then kill -9
P=$(sec_port)
URL=tcp://127.0.0.1:$P
start_ctrl stopped "$URL" || { echo "Bail out! controller did not start"; exit 1; }
kill -STOP "$CPID"
# stopped for sure before the call starts (state T), so nobody can answer it
stopped() { [ "$(awk '{ print $3 }' "/proc/$CPID/stat" 2>/dev/null)" = T ]; }
sec_wait 50 stopped || diag "controller $CPID not seen stopped"
timeout 60 "$CTL_BIN" --timeout 30000 -k "$ADMIN_KEY" -u "$URL" info >"$TMP/b2.out" \
	2>"$TMP/b2.err" &
WPID=$!
# xdropctl's own connection (the controller's wedge monitor pings its listener too)
connected() { ss -Htnp state established "( dport = :$P )" | grep -q xdropctl; }
sec_wait 50 connected || diag "no connection of xdropctl to port $P seen"
t0=$(now_ms)
kill -KILL "$CPID"
wait_exit "$WPID" 20
MS=$(($(now_ms) - t0))
diag "$(cat "$TMP/b2.err") (exit $RC, $MS ms after kill -9)$(sed 's/^/; stdout: /' "$TMP/b2.out")"
check "(b) controller stopped, then killed: exit 7 within 5 s of the kill (got $RC after $MS ms)" \
	test "$RC" = 7 -a "$MS" -lt 5000
check "(b) ... with UNAVAILABLE and the reason" \
	grep -q -E "UNAVAILABLE: (connection refused by|connection to .* (closed|lost))" "$TMP/b2.err"
kill -KILL "$WPID" 2>/dev/null

# ---- (c) TLS ----
mkdir -p "$TMP/pki"
(
	set -e
	cd "$TMP/pki"
	ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
	for ca in ca rogue-ca; do
		openssl req -x509 $ec -keyout $ca.key -out $ca.crt -days 2 -subj "/CN=clienterr-$ca" \
			-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
	done
	leaf() {
		openssl req $ec -keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
		printf '%s\n' "$4" >"$1.ext"
		openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial -days 2 \
			-out "$1.crt" -extfile "$1.ext"
	}
	leaf server localhost ca "subjectAltName=DNS:localhost
extendedKeyUsage=serverAuth"
	leaf client xdropctl ca "extendedKeyUsage=clientAuth"
) >"$TMP/pki.log" 2>&1 || { sed 's/^/# /' "$TMP/pki.log"; echo "Bail out! openssl"; exit 1; }
PKI=$TMP/pki
P=$(sec_port)
URL=tls+tcp://127.0.0.1:$P
GOOD=(--ca "$PKI/ca.crt" --server-name localhost --cert "$PKI/client.crt" --cert-key "$PKI/client.key")
PING_OPTS="${GOOD[*]}" start_ctrl tls "$URL" "tls:" "  ca_file: $PKI/ca.crt" \
	"  cert_file: $PKI/server.crt" "  key_file: $PKI/server.key" \
	"  require_client_cert: true" || { echo "Bail out! TLS controller did not start"; exit 1; }
run_ctl "$TMP/c0.err" -u "$URL" "${GOOD[@]}" info
check "(c) the right CA, name and client certificate connect (exit $RC)" test "$RC" = 0

# tls_case NAME EXPECTED ARGS...
tls_case() {
	local name=$1 want=$2
	shift 2
	run_ctl "$TMP/$name.err" -u "$URL" "$@" info
	diag "$(cat "$TMP/$name.err") (exit $RC, $MS ms)"
	check "(c) $name: exit 7 within 2.5 s (got $RC after $MS ms)" test "$RC" = 7 -a "$MS" -lt 2500
	check "(c) $name: the message says \"$want\"" grep -q -F "$want" "$TMP/$name.err"
}
tls_case "unknown CA" "TLS handshake with 127.0.0.1:$P failed: unknown CA" \
	--ca "$PKI/rogue-ca.crt" --server-name localhost --cert "$PKI/client.crt" \
	--cert-key "$PKI/client.key"
tls_case "name mismatch" "failed: name mismatch: the server's certificate (from a trusted CA) does not carry the name \"ctl.example\"" \
	--ca "$PKI/ca.crt" --server-name ctl.example --cert "$PKI/client.crt" \
	--cert-key "$PKI/client.key"
tls_case "missing client certificate" "it requires a client certificate and none is configured" \
	--ca "$PKI/ca.crt" --server-name localhost
check "(c) the three TLS messages differ" test "$(cat "$TMP/unknown CA.err" \
	"$TMP/name mismatch.err" "$TMP/missing client certificate.err" | sort -u | wc -l)" = 3

# ---- (d) nng errors decoded ----
lab_ns a && lab_up a lo
printf 'database: %s/d.db\nrpc: {listen: "tcp://192.0.2.1:7700"}\npush: {listen: "ipc://%s/d-push.sock"}\nhealth: {listen: "ipc://%s/d-health.sock"}\n' \
	"$TMP" "$TMP" "$TMP" >"$TMP/d.yaml"
timeout 30 nsenter --net=/run/netns/"$NSA" "$CTRL_BIN" --config "$TMP/d.yaml" 2>"$TMP/d.log"
RC=$?
diag "$(grep -i error "$TMP/d.log" | head -2)"
check "(d) an address the namespace lacks: the controller exits non-zero (got $RC)" \
	test "$RC" != 0 -a "$RC" != 124
check "(d) ... naming the address and a readable reason, no \"Unknown error\"" \
	bash -c "grep -q -E 'listen on tcp://192.0.2.1:7700 failed: (Address invalid|Cannot assign)' '$TMP/d.log' &&
		! grep -q 'Unknown error' '$TMP/d.log'"
: >"$TMP/file"
printf 'database: %s/e.db\nrpc: {listen: "ipc://%s/file/rpc.sock"}\npush: {listen: "ipc://%s/e-push.sock"}\nhealth: {listen: "ipc://%s/e-health.sock"}\n' \
	"$TMP" "$TMP" "$TMP" "$TMP" >"$TMP/e.yaml"
timeout 30 "$CTRL_BIN" --config "$TMP/e.yaml" 2>"$TMP/e.log"
RC=$?
diag "$(grep -i error "$TMP/e.log" | head -2)"
check "(d) an ipc:// path under a regular file: exit non-zero with \"Not a directory\"" \
	bash -c "[ $RC != 0 ] && [ $RC != 124 ] && grep -q 'Not a directory' '$TMP/e.log'"

echo "1..$T"
[ "$FAILED" = 0 ]
