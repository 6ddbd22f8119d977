#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/cli/test_cli.sh: xdropctl against real xdrop-controller daemons, each with its
# SQLite database and sockets in a temp dir, stopped by PID. The first listens on ipc://
# sockets: `stats --watch` prints a sample per interval until SIGINT; options may come
# after the command's arguments (`rules import FILE --format csv`, `rules list --search X
# --json`) and between them, and "--" ends them; --format decides the file format over
# the file name; subcommands refuse options they do not take. The second serves RPC on
# tls+tcp:// with require_client_cert (certificates made with openssl, as tests/rpc/tls.sh
# does): xdropctl is refused without a client certificate or with one from another CA, and
# connects with --cert/--cert-key or $XDROP_CERT/$XDROP_CERT_KEY. Needs no root. Prints TAP.
set -u
cd "$(dirname "$0")/../.." || exit 1
CTRL_BIN=${CTRL_BIN:-build/bin/xdrop-controller}
CTL_BIN=${CTL_BIN:-build/bin/xdropctl}
ADMIN_KEY=admin-key-0123456789abcdef
echo "TAP version 13"
for b in "$CTRL_BIN" "$CTL_BIN"; do
	if [ ! -x "$b" ]; then
		echo "1..0 # SKIP $b not built"
		exit 0
	fi
done
TMP=$(mktemp -d /tmp/xdrop-cli.XXXXXX)
PIDS=()
. "$(dirname "${BASH_SOURCE[0]}")/../lib/tap.sh"

# stop PID: SIGTERM, then SIGKILL if it is still there after 15 s (daemons end within 10 s).
stop() {
	kill -TERM "$1" 2>/dev/null || return 0
	for _ in $(seq 150); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null && diag "pid $1 ignored SIGTERM for 15 s: killed"
	wait "$1" 2>/dev/null
}
down() {
	for p in "${PIDS[@]}"; do stop "$p"; done
	rm -rf "$TMP"
}
trap down EXIT

# ctl ARGS...: xdropctl, never longer than 30 s whatever happens.
ctl() { timeout 30 "$CTL_BIN" "$@"; }

# start_ctrl NAME RPC_URL [YAML lines]: starts a controller (its own database and ipc://
# push and health sockets) and waits until xdropctl ping, with $PING_OPTS, answers.
start_ctrl() {
	local name=$1 url=$2
	shift 2
	{
		echo "database: $TMP/$name.db"
		echo "log_level: warn"
		echo "rpc: {listen: \"$url\"}"
		echo "push: {listen: \"ipc://$TMP/$name-push.sock\"}"
		echo "health: {listen: \"ipc://$TMP/$name-health.sock\"}"
		echo "keys: {admin_key: $ADMIN_KEY}"
		printf '%s\n' "$@"
	} >"$TMP/$name.yaml"
	"$CTRL_BIN" --config "$TMP/$name.yaml" 2>"$TMP/$name.log" &
	PIDS+=($!)
	for _ in $(seq 100); do
		# shellcheck disable=SC2086
		ctl -q --timeout 500 -u "$url" ${PING_OPTS:-} ping 2>/dev/null && return 0
		sleep 0.1
	done
	diag "controller $name did not start:"
	sed 's/^/# /' "$TMP/$name.log"
	return 1
}

# ---- a controller on ipc:// ----
URL=ipc://$TMP/rpc.sock
start_ctrl plain "$URL" || { echo "Bail out! controller did not start"; exit 1; }
export XDROP_URL=$URL XDROP_KEY=$ADMIN_KEY

# ---- stats --watch (the option right after `stats` used to be skipped) ----
# watch_run PATTERN FILE ARGS...: runs xdropctl ARGS in the background until FILE holds 2
# lines matching PATTERN (15 s at most), then sends SIGINT and waits for the exit (10 s at
# most, then SIGKILL). Sets N (lines seen), MS (ms from the start to the second line, or
# to giving up) and RC (exit status).
watch_run() {
	local pat=$1 out=$2 pid t0
	shift 2
	t0=$(date +%s%N)
	"$CTL_BIN" "$@" >"$out" 2>"$TMP/watch.err" &
	pid=$!
	for _ in $(seq 150); do
		[ "$(grep -c -- "$pat" "$out")" -ge 2 ] && break
		sleep 0.1
	done
	MS=$((($(date +%s%N) - t0) / 1000000))
	kill -INT "$pid" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null && diag "xdropctl $* ignored SIGINT for 10 s: killed"
	wait "$pid"
	RC=$?
	N=$(grep -c -- "$pat" "$out")
}
watch_run '^(total)' "$TMP/w1" stats --watch 2
check "stats --watch 2: a second sample after 2 s ($N samples, 2nd at $MS ms), exit 0 on SIGINT (got $RC)" \
	bash -c "[ $RC = 0 ] && [ $N -ge 2 ] && [ $MS -ge 2000 ]"
check "stats --watch into a file: no terminal escape codes" bash -c "! grep -q $'\033' '$TMP/w1'"
watch_run '^{' "$TMP/w2" --json stats --watch=1
check "--json stats --watch=1: one stats object per line ($N lines, 2nd at $MS ms), exit 0 (got $RC)" \
	python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert sys.argv[2] == "0" and len(lines) >= 2 and int(sys.argv[3]) >= 1000, sys.argv[2:]
for l in lines:
    d = json.loads(l)
    assert "rules_count" in d and "total_packets" in d, d' "$TMP/w2" "$RC" "$MS"
watch_run '^(total)' "$TMP/w3" stats --watch
check "stats --watch without SECONDS: every second ($N samples, 2nd at $MS ms), exit 0 (got $RC)" \
	bash -c "[ $RC = 0 ] && [ $N -ge 2 ] && [ $MS -ge 1000 ]"
timeout 10 "$CTL_BIN" stats >"$TMP/w4"
RC=$?
n=$(grep -c '^(total)' "$TMP/w4")
check "stats without --watch prints once and exits by itself" bash -c "[ $RC = 0 ] && [ $n = 1 ]"
ctl stats --watch 0 2>/dev/null
check "stats --watch 0: usage error (exit 2)" [ $? = 2 ]
ctl stats --watch 2 extra 2>/dev/null
check "stats with an argument: usage error (exit 2)" [ $? = 2 ]
ctl stats --page 2 2>"$TMP/err"
check "stats --page: refused as an option stats does not take (exit 2)" \
	bash -c "[ $? = 2 ] && grep -q 'stats does not take --page' '$TMP/err'"

# ---- options after positional arguments ----
printf 'name,dst_ip,action\nbad-one,192.0.2.1,drop\nbad-two,192.0.2.2,drop\n' >"$TMP/rules.txt"
ctl -q rules import "$TMP/rules.txt" --format csv
check "rules import FILE --format csv (a .txt file read as CSV)" [ $? = 0 ]
ctl -q rules add name=good dst_ip=192.0.2.9 action=drop
out=$(ctl rules list --search bad --json)
check "rules list --search bad --json: JSON with just the 2 matching rules (exit $?)" \
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert sorted(r["name"] for r in d["rules"]) == ["bad-one", "bad-two"], d' "$out"
out=$(ctl rules list --json --limit 1 --sort name)
check "rules list with options in any order (--json --limit 1 --sort name)" \
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert [r["name"] for r in d["rules"]] == ["bad-one"], d' "$out"
IDS=$(ctl --json rules list --search bad | python3 -c 'import json,sys; print(" ".join(r["id"] for r in json.load(sys.stdin)["rules"]))')
# shellcheck disable=SC2086
set -- $IDS
out=$(ctl rules del "$1" --quiet "$2")
check "rules del ID --quiet ID: an option between arguments (both deleted, nothing printed)" \
	bash -c "[ $? = 0 ] && [ -z '$out' ] && [ \"\$('$CTL_BIN' --json rules list --search bad | python3 -c 'import json,sys; print(len(json.load(sys.stdin)[\"rules\"]))')\" = 0 ]"
ctl rules get -- --json >"$TMP/out" 2>/dev/null
check "\"--\" ends the options: rules get -- --json looks up the id --json (exit 4)" \
	bash -c "[ $? = 4 ] && [ ! -s '$TMP/out' ]"
printf 'name,src_cidr\nlab,198.51.100.0/24\n' >"$TMP/wl.txt"
ctl -q whitelist import "$TMP/wl.txt" --format csv
check "whitelist import FILE --format csv" [ $? = 0 ]
out=$(ctl wl list --search lab --json)
check "wl list --search lab --json" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert [e["src_cidr"] for e in d["entries"]] == ["198.51.100.0/24"], d' "$out"
out=$(ctl keys list --json)
check "keys list --json (a global option after the command)" \
	python3 -c 'import json,sys; assert json.loads(sys.argv[1])["keys"]' "$out"
out=$(ctl nodes list --json)
check "nodes list --json" python3 -c 'import json,sys; json.loads(sys.argv[1])' "$out"
ctl rules top --limit 3 --json >"$TMP/out"
check "rules top --limit 3 --json" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMP/out"
ctl rules list --format csv 2>"$TMP/err"
check "rules list --format: refused, not ignored (exit 2)" \
	bash -c "[ $? = 2 ] && grep -q 'rules list does not take --format' '$TMP/err'"
ctl wl list --enabled true 2>/dev/null
check "whitelist list --enabled: refused (exit 2)" [ $? = 2 ]
ctl nodes list --watch 2>/dev/null
check "nodes list --watch: refused (exit 2)" [ $? = 2 ]
ctl rules list --limit ten 2>/dev/null
check "rules list --limit ten: usage error (exit 2)" [ $? = 2 ]
ctl rules list --bogus 2>/dev/null
check "an unknown option after the command: usage error (exit 2)" [ $? = 2 ]

# ---- --format decides, the file name only without it ----
ctl rules export "$TMP/by-name.csv"
check "rules export FILE.csv without --format: CSV" \
	bash -c "head -1 '$TMP/by-name.csv' | grep -q '^id,name,'"
ctl rules export "$TMP/forced.csv" --format json
check "rules export FILE.csv --format json: JSON (--format wins)" \
	python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["count"] == 1' "$TMP/forced.csv"
ctl rules export "$TMP/forced.json" --format csv
check "rules export FILE.json --format csv: CSV" \
	bash -c "head -1 '$TMP/forced.json' | grep -q '^id,name,'"
ctl -q rules del "$(ctl --json rules list | python3 -c 'import json,sys; print(json.load(sys.stdin)["rules"][0]["id"])')"
ctl -q rules import "$TMP/forced.csv" --format json
check "rules import FILE.csv --format json: read as JSON" [ $? = 0 ]
check "help rules import says what --format decides" \
	bash -c "'$CTL_BIN' help rules import | grep -q -- '--format json|csv  *file format'"

# ---- top: argument checks, then figures from a fake agent through the controller ----
FAKE_BIN=${FAKE_BIN:-build/bin/xdrop-fake-agent}
for bad in "--by source" "--verdict blocked" "--window 30s" "--limit 0" "--limit 101" \
	"--sort name" "extra"; do
	# shellcheck disable=SC2086
	ctl top $bad 2>"$TMP/err" >"$TMP/out"
	check "top $bad: usage error (exit 2) naming the problem, nothing printed" \
		bash -c "[ $? = 2 ] && [ -s '$TMP/err' ] && [ ! -s '$TMP/out' ]"
done
ctl top --window 30s 2>"$TMP/err"
check "top --window 30s says 10s, 1m or 5m" grep -q -- '--window: 10s, 1m or 5m' "$TMP/err"
ctl stats --by src 2>"$TMP/err"
check "stats --by: refused as an option stats does not take (exit 2)" \
	bash -c "[ $? = 2 ] && grep -q 'stats does not take --by' '$TMP/err'"
ctl top --node no-such-node 2>"$TMP/err"
check "top --node with an unknown node: not found (exit 4)" [ $? = 4 ]
ctl -q rules add id=cli-hit name=hit dst_ip=192.0.2.40 action=pass
ctl -q wl add id=cli-wl src_ip=198.51.100.40
ctl nodes add name=fake1 address="ipc://$TMP/fake1.sock" >"$TMP/node"
FAKE_ID=$(sed -n 's/^node \(.*\) added$/\1/p' "$TMP/node")
FAKE_KEY=$(sed -n 's/^node key (shown once): //p' "$TMP/node")
read -r REV HASH < <(ctl --json info | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["revision"], d["content_hash"])')
"$FAKE_BIN" "ipc://$TMP/plain-health.sock" "ipc://$TMP/fake1.sock" "$FAKE_ID" "$FAKE_KEY" \
	"$REV" "$HASH" cli-hit cli-wl 2>"$TMP/fake.log" &
FAKE_PID=$!
PIDS+=("$FAKE_PID")
node_is() { ctl nodes list | grep "^$FAKE_ID " | grep -q -- "$1"; }
check "nodes list: the fake agent's node online, filtering active, figures current" \
	wait_until 20 bash -c "$(declare -f ctl node_is); CTL_BIN=$CTL_BIN FAKE_ID=$FAKE_ID; \
		node_is ' online  *active ' && node_is ' current\$'"
ctl top >"$TMP/out"
check "top: a table, heaviest first, with packets, human bit/s and share" \
	bash -c "grep -q '^top sources, dropped, last 10 s' '$TMP/out' &&
		grep -q 'KEY .*PACKETS .*PPS .*BPS .*SHARE .*± ERROR' '$TMP/out' &&
		sed -n 3p '$TMP/out' | grep -Eq '^192\.0\.2\.7 +6400 +640\.0 +328 kbit/s +75\.0% +64$'"
check "top: the node whose figures are in" grep -q '1 in 64 packets sampled, 1 node$' "$TMP/out"
out=$(ctl --json top --limit 1)
check "top --json --limit 1: the reply's fields, one talker, this node" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert [t["key"] for t in d["talkers"]] == ["192.0.2.7"], d
assert d["talkers"][0]["packets"] == 6400 and d["nodes"] == [sys.argv[2]], d
assert d["by"] == "src" and d["verdict"] == "dropped" and d["window_s"] == 10, d' "$out" "$FAKE_ID"
ctl top --node "$FAKE_ID" --by dst --verdict passed --window 1m --limit 5 >"$TMP/out"
check "top --node ID --by dst --verdict passed --window 1m: that node, those choices" \
	grep -q '^top destinations, passed, last 60 s' "$TMP/out"
ctl stats >"$TMP/out"
check "stats: whitelisted, rate-limited, malformed and bytes per node" \
	grep -Eq "^$FAKE_ID +3000 +2000 +1000 +200 +50 +3 +192 kB +64\.0 kB$" "$TMP/out"
check "stats: rates in human bit/s" grep -Eq "^$FAKE_ID +300 +1\.54 Mbit/s" "$TMP/out"
check "rules list: a pass rule's hits and bytes from the node's counters" \
	bash -c "ctl() { timeout 30 '$CTL_BIN' \"\$@\"; }; ctl rules list --search hit |
		grep -Eq '^cli-hit .* pass +yes +1234 +0 +79\.0 kB'"
check "whitelist list: hits and bytes" \
	bash -c "'$CTL_BIN' wl list | grep -Eq '^cli-wl .* 200 +12\.8 kB$'"
stop "$FAKE_PID"
check "agent gone: nodes list shows filtering presumed and the figures stale, as of HH:MM:SS" \
	wait_until 20 bash -c "$(declare -f ctl node_is); CTL_BIN=$CTL_BIN FAKE_ID=$FAKE_ID; \
		node_is ' offline  *presumed ' && node_is ' stale, as of [0-9][0-9]:[0-9][0-9]:[0-9][0-9]\$'"
ctl stats >"$TMP/out"
check "stats: the silent node's rates marked stale, as of HH:MM:SS" \
	grep -Eq "^$FAKE_ID .*stale, as of [0-9:]{8}$" "$TMP/out"
ctl top >"$TMP/out"
check "top without a reachable node: no talkers, and exit 0" \
	grep -q '^(no dropped traffic sampled in the window)$' "$TMP/out"

# ---- a controller that requires client certificates ----
mkdir -p "$TMP/pki"
(
	set -e
	cd "$TMP/pki"
	ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
	for ca in ca rogue-ca; do
		# shellcheck disable=SC2086
		openssl req -x509 $ec -keyout $ca.key -out $ca.crt -days 2 -subj "/CN=xdrop-test-$ca" \
			-addext basicConstraints=critical,CA:TRUE \
			-addext keyUsage=critical,keyCertSign,cRLSign
	done
	leaf() { # name, CN, signing CA, extensions
		# shellcheck disable=SC2086
		openssl req $ec -keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
		printf '%s\n' "$4" >"$1.ext"
		openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial \
			-days 2 -out "$1.crt" -extfile "$1.ext"
	}
	leaf server localhost ca "subjectAltName=DNS:localhost
extendedKeyUsage=serverAuth,clientAuth"
	leaf client xdropctl ca "extendedKeyUsage=clientAuth"
	leaf rogue xdropctl rogue-ca "extendedKeyUsage=clientAuth"
) >"$TMP/pki.log" 2>&1 || { sed 's/^/# /' "$TMP/pki.log"; echo "Bail out! openssl"; exit 1; }
PKI=$TMP/pki
TLS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TLS_URL=tls+tcp://127.0.0.1:$TLS_PORT
TLS=(--ca "$PKI/ca.crt" --server-name localhost)
PING_OPTS="${TLS[*]} --cert $PKI/client.crt --cert-key $PKI/client.key" \
	start_ctrl mtls "$TLS_URL" "tls:" "  ca_file: $PKI/ca.crt" "  cert_file: $PKI/server.crt" \
	"  key_file: $PKI/server.key" "  require_client_cert: true" ||
	{ echo "Bail out! TLS controller did not start"; exit 1; }
export XDROP_URL=$TLS_URL

start=$(date +%s)
ctl "${TLS[@]}" --timeout 2000 ping 2>"$TMP/err"
rc=$?
check "mutual TLS: without a client certificate xdropctl is refused (exit 7, got $rc)" \
	bash -c "[ $rc = 7 ] && [ $(($(date +%s) - start)) -le 10 ]"
ctl "${TLS[@]}" --cert "$PKI/client.crt" --cert-key "$PKI/client.key" ping >"$TMP/out"
check "mutual TLS: --cert and --cert-key connect (ping, exit $?)" grep -q 'is up' "$TMP/out"
out=$(ctl "${TLS[@]}" --cert "$PKI/client.crt" --cert-key "$PKI/client.key" --json info)
check "mutual TLS: info with the API key over the client certificate" \
	python3 -c 'import json,sys; assert json.loads(sys.argv[1])["name"]' "$out"
out=$(ctl rules add name=over-tls dst_ip=192.0.2.77 action=drop --server-name localhost \
	--ca "$PKI/ca.crt" --cert "$PKI/client.crt" --cert-key "$PKI/client.key")
check "mutual TLS: a write with the TLS options after the arguments" \
	bash -c "[ $? = 0 ] && [[ '$out' == *added* ]]"
out=$(XDROP_CA=$PKI/ca.crt XDROP_CERT=$PKI/client.crt XDROP_CERT_KEY=$PKI/client.key \
	ctl --server-name localhost --json rules list --search over-tls)
check "mutual TLS: \$XDROP_CA, \$XDROP_CERT and \$XDROP_CERT_KEY connect" \
	python3 -c 'import json,sys; assert len(json.loads(sys.argv[1])["rules"]) == 1' "$out"
ctl "${TLS[@]}" --timeout 2000 --cert "$PKI/rogue.crt" --cert-key "$PKI/rogue.key" ping \
	2>/dev/null
check "mutual TLS: a certificate from another CA is refused (exit 7)" [ $? = 7 ]
ctl "${TLS[@]}" --cert "$PKI/client.crt" ping 2>"$TMP/err"
check "--cert without --cert-key: usage error (exit 2) naming both" \
	bash -c "[ $? = 2 ] && grep -q -- '--cert and --cert-key go together' '$TMP/err'"
XDROP_CERT_KEY=$PKI/client.key ctl "${TLS[@]}" ping 2>/dev/null
check "\$XDROP_CERT_KEY without a certificate: usage error (exit 2)" [ $? = 2 ]
ctl "${TLS[@]}" --cert "$TMP/missing.crt" --cert-key "$PKI/client.key" ping 2>/dev/null
check "an unreadable certificate file: exit 2" [ $? = 2 ]

echo "1..$T"
[ "$FAILED" = 0 ]
