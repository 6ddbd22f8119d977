#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/security/test_tlsname.sh: every TLS client checks the server's name by default.
# A controller presents a certificate from the right CA for another name (edge-1, as one
# node's certificate would be); its addresses are tls+tcp://localhost:... . Then xdropctl,
# the gateway's upstream and the agent's controller connections (RPC snapshot, SUB pushes,
# PUB beacons)
#   - refuse it by default (the URL's host, localhost, is not in the certificate), saying
#     "name mismatch";
#   - accept it with the name given explicitly (--server-name / server_name: edge-1);
#   - accept it with the check turned off explicitly (--no-verify-name /
#     verify_server_name: false), and log a warning that says so.
# A controller with a certificate for localhost is accepted with no option at all.
# Before issue 11 every client accepted any certificate from the CA when no name was given.
# Everything runs in its own network namespace (the agent needs a veth for XDP); certificates
# are made with openssl in a temp dir. Needs root. Prints TAP.
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$(pwd)
CTRL_BIN=${CTRL_BIN:-$ROOT/build/bin/xdrop-controller}
CTL_BIN=${CTL_BIN:-$ROOT/build/bin/xdropctl}
GW_BIN=${GW_BIN:-$ROOT/build/bin/xdrop-gateway-san}
AGENT_BIN=${AGENT_BIN:-$ROOT/build/bin/xdrop-agent}
ADMIN_KEY=admin-key-0123456789abcdef
NODE_KEY=tlsname-node-key-0123456789
NS=tlsname$$
NSA=$NS-a
PIN=/sys/fs/bpf/xdrop-tlsname-$$
echo "TAP version 13"
. tests/security/lib.sh
sec_need "$CTRL_BIN" "$CTL_BIN" "$GW_BIN" "$AGENT_BIN"
TMP=$(mktemp -d /tmp/xdrop-tlsname.XXXXXX)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
PIDS=()
. tests/lib/tap.sh
. tests/lib/netns.sh

# inns CMD...: CMD in the namespace (exec: a background `inns X &` has X's own pid in $!)
inns() { exec nsenter --net=/run/netns/"$NSA" "$@"; }
# in the foreground, a subshell keeps the exec from replacing the test
run() { (inns "$@"); }
stop() { sec_stop "$1"; }
down() {
	for p in "${PIDS[@]}"; do stop "$p"; done
	if [ -f "$TMP/agent.yaml" ]; then
		run "$AGENT_BIN" --config "$TMP/agent.yaml" --detach >/dev/null 2>&1
	fi
	lab_cleanup # the namespace
	rm -rf "$PIN" "$TMP"
}
trap down EXIT
# wait_for SECONDS FILE PATTERN: until FILE holds PATTERN (grep -E).
wait_for() { sec_wait $(($1 * 10)) grep -q -E -- "$3" "$2" 2>/dev/null; }

mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
lab_ns a || { echo "Bail out! netns"; exit 1; }
lab_veth a v0 a v1
lab_up a lo v0 v1
# an address on v0: with an interface up but no address, getaddrinfo(AI_ADDRCONFIG) here
# fails for "localhost" ("Try again")
lab_addr a v0 10.99.0.1/24

mkdir -p "$TMP/pki"
(
	set -e
	cd "$TMP/pki"
	ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
	openssl req -x509 $ec -keyout ca.key -out ca.crt -days 2 -subj "/CN=tlsname-ca" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
	leaf() {
		openssl req $ec -keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
		printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$2" >"$1.ext"
		openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
			-out "$1.crt" -extfile "$1.ext"
	}
	leaf edge edge-1
	leaf ctl localhost
) >"$TMP/pki.log" 2>&1 || { sed 's/^/# /' "$TMP/pki.log"; echo "Bail out! openssl"; exit 1; }
PKI=$TMP/pki
RPC=tls+tcp://localhost:7700

# start_ctrl CERT NAME: the controller in the namespace on tls+tcp://localhost:7700-7702
# with CERT (issued to NAME); it knows node n1. Waits until it answers a ping.
start_ctrl() {
	sec_ctrl_yaml "$TMP/ctl.yaml" "$TMP/ctl-$1.db" "$RPC" tls+tcp://localhost:7701 \
		tls+tcp://localhost:7702 "admin_key: $ADMIN_KEY" \
		"tls: {ca_file: $PKI/ca.crt, cert_file: $PKI/$1.crt, key_file: $PKI/$1.key}" "nodes:" \
		"  - {id: n1, name: n1, address: \"ipc://$TMP/agent.sock\", key: $NODE_KEY}"
	SEC_NETNS=$NSA sec_ctrl_start "$TMP/ctl.yaml" "$TMP/ctl-$1.log"
	CPID=$CTRL_PID
	PIDS+=("$CPID")
	sec_ctrl_up 150 run timeout 10 "$CTL_BIN" -q --timeout 1000 -u "$RPC" --ca "$PKI/ca.crt" \
		--server-name "$2" ping 2>/dev/null && return 0
	diag "controller did not start:"
	sed 's/^/# /' "$TMP/ctl-$1.log"
	return 1
}

# ctl OUT ARGS: xdropctl in the namespace against the controller; sets RC.
ctl() {
	local out=$1
	shift
	run timeout 60 "$CTL_BIN" --timeout 20000 -k "$ADMIN_KEY" -u "$RPC" --ca "$PKI/ca.crt" \
		"$@" info >/dev/null 2>"$out"
	RC=$?
}

# ---- the right name: accepted with no option ----
start_ctrl ctl localhost || { echo "Bail out! controller"; exit 1; }
ctl "$TMP/right.err"
check "xdropctl: a certificate for the URL's host is accepted by default (exit $RC)" \
	test "$RC" = 0
stop "$CPID"

# ---- the wrong name ----
start_ctrl edge edge-1 || { echo "Bail out! controller"; exit 1; }
ctl "$TMP/x-default.err"
diag "$(cat "$TMP/x-default.err")"
check "xdropctl: the wrong name is refused by default (exit 7, got $RC)" test "$RC" = 7
check "xdropctl: ... with a message that says the name did not match" \
	grep -q 'name mismatch: the server.s certificate (from a trusted CA) does not carry the name "localhost"' \
	"$TMP/x-default.err"
ctl "$TMP/x-name.err" --server-name edge-1
check "xdropctl: accepted with --server-name edge-1 (exit $RC)" test "$RC" = 0
XDROP_SERVER_NAME=edge-1 ctl "$TMP/x-env.err"
check "xdropctl: accepted with \$XDROP_SERVER_NAME=edge-1 (exit $RC)" test "$RC" = 0
ctl "$TMP/x-off.err" --no-verify-name
check "xdropctl: accepted with --no-verify-name (exit $RC)" test "$RC" = 0
check "xdropctl: ... and warns that the name is not checked" \
	grep -q "certificate's name is not checked" "$TMP/x-off.err"

# ---- the gateway's upstream ----
# gw NAME [upstream.tls lines]: a gateway in the namespace; GW_CODE is GET /api/v1/rules.
gw() {
	local name=$1 port=8000 pid
	shift
	{
		echo "upstream:"
		echo "  mode: controller"
		echo "  url: $RPC"
		echo "  timeout: 20s"
		echo "  tls:"
		echo "    ca_file: $PKI/ca.crt"
		printf '    %s\n' "$@"
		echo "listen: 127.0.0.1:$port"
		echo "ui: {dir: $TMP}"
		echo "log_level: info"
	} >"$TMP/gw-$name.yaml"
	inns "$GW_BIN" --config "$TMP/gw-$name.yaml" 2>"$TMP/gw-$name.log" &
	pid=$!
	sec_wait 100 run curl -s -o /dev/null "http://127.0.0.1:$port/health"
	GW_CODE=$(run curl -s -m 30 -o "$TMP/gw-$name.out" -w '%{http_code}' \
		-H "X-API-Key: $ADMIN_KEY" "http://127.0.0.1:$port/api/v1/rules")
	stop "$pid"
	diag "gateway $name: HTTP $GW_CODE $(head -c 300 "$TMP/gw-$name.out")"
}
gw default
check "gateway: the wrong name is refused by default (HTTP $GW_CODE)" test "$GW_CODE" = 503
check "gateway: ... the answer and the log say the name did not match" \
	bash -c "grep -q 'name mismatch' '$TMP/gw-default.out' && grep -q 'name mismatch' '$TMP/gw-default.log'"
gw name "server_name: edge-1"
check "gateway: accepted with upstream.tls.server_name: edge-1 (HTTP $GW_CODE)" \
	test "$GW_CODE" = 200
gw off "verify_server_name: false"
check "gateway: accepted with upstream.tls.verify_server_name: false (HTTP $GW_CODE)" \
	test "$GW_CODE" = 200
check "gateway: ... and logs a warning at start" \
	grep -q "warn.*certificate's name is not checked" "$TMP/gw-off.log"
check "gateway: no ASan/UBSan report" \
	bash -c "! grep -q -E 'ERROR: AddressSanitizer|runtime error|LeakSanitizer' '$TMP'/gw-*.log"

# ---- the agent's connections to the controller ----
# agent NAME PATTERN [tls lines]: runs the agent until its log shows PATTERN (20 s at most).
agent() {
	local name=$1 pat=$2 pid
	shift 2
	cat >"$TMP/agent.yaml" <<YAML
node: {id: n1, key: $NODE_KEY}
interface: v0
xdp_mode: native_or_generic
pin_dir: $PIN
state_dir: $TMP/state
capacity: {rules: 4096, cidr_rules: 1024, prefixes: 1024, rate_limited_rules: 64}
rpc: {listen: "ipc://$TMP/agent.sock", admin_keys: [$ADMIN_KEY]}
controller:
  rpc: $RPC
  push: tls+tcp://localhost:7701
  health: tls+tcp://localhost:7702
tls:
  ca_file: $PKI/ca.crt
YAML
	printf '  %s\n' "$@" >>"$TMP/agent.yaml"
	echo "log_level: info" >>"$TMP/agent.yaml"
	mkdir -p "$TMP/state"
	inns "$AGENT_BIN" --config "$TMP/agent.yaml" 2>"$TMP/agent-$name.log" &
	pid=$!
	wait_for 20 "$TMP/agent-$name.log" "$pat"
	AGENT_RC=$?
	stop "$pid"
}
agent default "name mismatch"
check "agent: the wrong name is refused by default, the log says name mismatch" \
	test "$AGENT_RC" = 0
check "agent: ... and no snapshot is taken from it" \
	bash -c "! grep -q 'snapshot installed' '$TMP/agent-default.log'"
diag "$(grep -m1 'name mismatch' "$TMP/agent-default.log")"
agent name "snapshot installed" "server_name: edge-1"
check "agent: accepted with tls.server_name: edge-1 (snapshot installed)" test "$AGENT_RC" = 0
agent off "snapshot installed" "verify_server_name: false"
check "agent: accepted with tls.verify_server_name: false (snapshot installed)" \
	test "$AGENT_RC" = 0
check "agent: ... and logs a warning at start" \
	grep -q "warn.*certificate's name is not checked" "$TMP/agent-off.log"
# the beacons (PUB to health, name checked too) reach the controller: n1 is online
agent beacons "snapshot installed" "server_name: edge-1"
online=no
inns "$AGENT_BIN" --config "$TMP/agent.yaml" 2>"$TMP/agent-online.log" &
apid=$!
for _ in $(seq 100); do
	if run timeout 10 "$CTL_BIN" --timeout 2000 -k "$ADMIN_KEY" -u "$RPC" --ca "$PKI/ca.crt" \
		--server-name edge-1 --json nodes list 2>/dev/null | grep -q '"status":[[:space:]]*"online"'; then
		online=yes
		break
	fi
	sleep 0.2
done
stop "$apid"
check "agent: with the name given, its beacons reach the controller (node online)" \
	test "$online" = yes

echo "1..$T"
[ "$FAILED" = 0 ]
