#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/gateway/test_limits.sh: G3 and the upstream bound. xdrop-gateway (ASan build) in
# front of a real agent with small limits: oversized bodies (announced and chunked) and
# headers are refused at the limit; slowloris clients are cut at the request deadline and a
# connection flood from one address hits the per-client cap, while another client address
# is served throughout; a stopped upstream fills the one upstream slot and the next call
# gets 503 with Retry-After; open fds return to the baseline; bad --listen values (exit 2)
# and bad listen/limits keys (exit 1, naming file, line and key) are refused at start.
# TAP on stdout.
cd "$(dirname "$0")/../.." || exit 1
. tests/gateway/lib.sh
trap gw_lab_down EXIT
echo "TAP version 13"

gw_lab_up || { echo "Bail out! agent"; exit 1; }
mkdir -p "$TMP/dist"
echo '<!doctype html>' >"$TMP/dist/index.html"
GW_UPSTREAM_EXTRA=$'  timeout: 2s\n  max_concurrency: 1\n  queue_wait: 0ms' \
	gw_start "limits:" "  body_bytes: 4096" "  batch_body_bytes: 65536" "  header_bytes: 8192" \
	"  per_client_connections: 8" "  request_deadline: 1500ms" "  idle_timeout: 5s" ||
	{ echo "Bail out! gateway"; exit 1; }
check "gateway up with small limits" curl -sf -o /dev/null "$BASE/health"
gw_until 5 gw_fds_settled # the health check's connection is closed
FD0=$(gw_fds)

big=$(python3 -c 'print("{\"name\":\"" + "a"*5000 + "\",\"dst_ip\":\"10.0.0.1\",\"action\":\"drop\"}")')
req POST /api/v1/rules "$big"
expect 413 - "body above limits.body_bytes (Content-Length): 413"
CODE=$(curl -s -o "$TMP/out" -w '%{http_code}' -X POST -H "X-API-Key: $ADMIN_KEY" -H 'Content-Type: application/json' \
	-H 'Transfer-Encoding: chunked' --data-binary "$big" "$BASE/api/v1/rules")
check "chunked body above the limit: 413" [ "$CODE" = 413 ]
batch=$(python3 -c 'import json; print(json.dumps({"rules":[{"dst_ip":"10.1.%d.%d"%(i//250,i%250+1),"action":"drop"} for i in range(150)]}))')
req POST /api/v1/rules/batch "$batch"
expect 201 - "batch body above body_bytes but within batch_body_bytes: accepted"
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $ADMIN_KEY" -H "X-Big: $(head -c 12000 /dev/zero | tr '\0' a)" "$BASE/api/v1/rules")
check "headers above limits.header_bytes: refused (4xx)" [ "${CODE:0:1}" = 4 ]
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $ADMIN_KEY" "$BASE/api/v1/rules?search=$(head -c 12000 /dev/zero | tr '\0' a)")
check "request line above the limit: refused (4xx)" [ "${CODE:0:1}" = 4 ]
check "gateway still serves after the limits" curl -sf -o /dev/null "$BASE/health"

# slowloris: 6 clients from 127.0.0.1 send a header byte every 0.4 s; the deadline cuts them
# at 1.5 s; meanwhile 127.0.0.2 is served
python3 - "$GW_PORT" >"$TMP/slow" <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
socks = []
for i in range(6):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    socks.append(s)
start = time.time(); cut = {}
while time.time() - start < 6 and len(cut) < len(socks):
    for i, s in enumerate(socks):
        if i in cut: continue
        try:
            s.sendall(b"X-a: b\r\n")
            s.settimeout(0.01)
            if s.recv(100) == b"": cut[i] = time.time() - start
        except (BrokenPipeError, ConnectionResetError): cut[i] = time.time() - start
        except socket.timeout: pass
    time.sleep(0.4)
print(len(cut), max(cut.values()) if cut else 99)
PY
slow=$!
served=0
for i in $(seq 10); do
	curl -s --interface 127.0.0.2 -o /dev/null -m 2 -w '%{http_code}\n' "$BASE/health" | grep -q 200 && served=$((served + 1))
	sleep 0.2
done
wait $slow
read -r ncut tmax <"$TMP/slow"
check "slowloris: all 6 slow clients cut (after ${tmax}s)" [ "$ncut" = 6 ]
check "slowloris: cut within deadline + reaper period" python3 -c "import sys; assert 1.4 <= $tmax <= 3.5"
check "slowloris: another client served meanwhile (10/10)" [ "$served" = 10 ]

# connection flood: 40 idle connections from 127.0.0.1 (cap 8); 127.0.0.2 is still served
# while they are held: the flood says when the gateway has closed those above the cap
# (flood.ready) and holds the rest until the other client is done (flood.done)
python3 - "$GW_PORT" "$TMP/flood.ready" "$TMP/flood.done" >"$TMP/flood" <<'PY' &
import os, select, socket, sys, time
port, ready, done = int(sys.argv[1]), sys.argv[2], sys.argv[3]
socks = []
for i in range(40):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1); socks.append(s)
    except OSError: pass
# the connections above the cap are closed at accept: wait for their EOF (3 s at most,
# well before the idle timeout of 5 s closes the others)
refused = set(); end = time.time() + 3
while len(refused) < len(socks) - 8 and time.time() < end:
    r, _, _ = select.select([s for s in socks if s not in refused], [], [], 0.1)
    for s in r:
        try:
            if s.recv(10) == b"": refused.add(s)
        except OSError: refused.add(s)
open(ready, "w").close()
end = time.time() + 10
while not os.path.exists(done) and time.time() < end:
    time.sleep(0.05)
print(len(refused))
PY
flood=$!
gw_until 10 test -e "$TMP/flood.ready"
CODE=$(curl -s --interface 127.0.0.2 -o /dev/null -m 2 -w '%{http_code}' "$BASE/health")
touch "$TMP/flood.done"
check "flood: another client address served during the flood" [ "$CODE" = 200 ]
wait $flood
check "flood: connections above the per-client cap refused ($(cat "$TMP/flood") of 40)" [ "$(cat "$TMP/flood")" -ge 30 ]

# bounded upstream: stop the agent; one call holds the only slot until its 2 s timeout.
# It holds the slot once its RPC request waits unread in the stopped agent's socket.
upstream_call_waiting() {
	ss -xnH | awk -v p="$TMP/agent.sock" '$5 == p && $3 > 0 { f = 1 } END { exit !f }'
}
kill -STOP "$AGENT_PID"
curl -s -o "$TMP/held" -w '%{http_code}' -H "X-API-Key: $ADMIN_KEY" "$BASE/api/v1/rules" >"$TMP/held.code" &
held=$!
gw_until 5 upstream_call_waiting || diag "the held call's request was not seen at the agent"
CODE=$(curl -s -D "$TMP/h" -o "$TMP/out" -w '%{http_code}' -H "X-API-Key: $ADMIN_KEY" "$BASE/api/v1/stats")
check "upstream slots full: 503" [ "$CODE" = 503 ]
check "503 carries Retry-After" grep -qi '^retry-after: [0-9]' "$TMP/h"
wait $held
check "the call holding the slot times out: 504" [ "$(cat "$TMP/held.code")" = 504 ]
kill -CONT "$AGENT_PID"
rules_served() { req GET /api/v1/rules; [ "$CODE" = 200 ]; }
gw_until 5 rules_served
expect 200 - "upstream back: served again"

fds_back() { [ "$(gw_fds)" -le $((FD0 + 2)) ]; }
gw_until 15 fds_back # idle keep-alives (5 s) and cut connections are gone
FD1=$(gw_fds)
check "fds back to baseline ($FD0 -> $FD1)" [ "$FD1" -le $((FD0 + 2)) ]
req GET /metrics
check "metrics count deadline cuts and 413s" /usr/bin/python3 -c '
import sys
from prometheus_client.parser import text_string_to_metric_families
f = {x.name: x for x in text_string_to_metric_families(open(sys.argv[1]).read())}
assert f["xdrop_gateway_deadline_cut"].samples[0].value >= 6
assert f["xdrop_gateway_body_too_large"].samples[0].value >= 2
assert f["xdrop_gateway_upstream_refused"].samples[0].value >= 1
' "$TMP/out"
gw_stop
check "gateway exits cleanly with no ASan/UBSan report (limits)" bash -c "! grep -q -E 'ERROR: AddressSanitizer|runtime error|LeakSanitizer' '$TMP/gw.log'"

# the documented example loads (its TLS CA file is only read when a tls+tcp:// URL is used)
P=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$GW_BIN" --config gateway/config.example.yaml --listen 127.0.0.1:$P --upstream "$AGENT_URL" 2>"$TMP/ex.log" &
ex=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$P/health" && break; sleep 0.1; done
check "gateway/config.example.yaml loads and serves" curl -s -o /dev/null "http://127.0.0.1:$P/api/info"
kill $ex; wait $ex 2>/dev/null
printf 'limits:\n  body_byts: 5\n' >"$TMP/typo.yaml"
"$GW_BIN" --config "$TMP/typo.yaml" 2>"$TMP/typo.err"
check "a typo in the config is refused, naming file, line and key" grep -q 'typo.yaml:2: limits.body_byts' "$TMP/typo.err"

# refused at start: bad --listen values (usage errors, exit 2, before the config is read)
# and bad listen/limits values in the file (exit 1, naming file, line and key). Each row:
# exit status, the expected message, then the gateway's arguments.
refused() {
	local want=$1 msg=$2 rc
	shift 2
	timeout 10 "$GW_BIN" "$@" >/dev/null 2>"$TMP/refused.err"
	rc=$?
	if [ "$rc" = "$want" ] && grep -qF -- "$msg" "$TMP/refused.err" &&
		! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$TMP/refused.err"; then
		ok "refused with exit $want: $msg"
	else
		not_ok "refused with exit $want: $msg (status $rc: $(head -c 300 "$TMP/refused.err"))"
	fi
}
gwconf() { # NAME LINES...: a config with the given lines after upstream and ui
	local f=$TMP/$1.yaml
	shift
	printf 'upstream:\n  mode: node\n  url: %s\nui:\n  dir: ""\n' "$AGENT_URL" >"$f"
	printf '%s\n' "$@" >>"$f"
	echo "$f"
}
C=$(gwconf ok)
refused 2 '--listen "localhost:8000": the host is not an IPv4 address' --config "$C" --listen localhost:8000
refused 2 '--listen "127.0.0.1:65536": expected a port from 0 to 65535' --config "$C" --listen 127.0.0.1:65536
refused 2 '--listen "127.0.0.1:80x": expected a port' --config "$C" --listen 127.0.0.1:80x
refused 2 '--listen "127.0.0.1:-1": expected a port' --config "$C" --listen 127.0.0.1:-1
refused 2 '--listen "127.0.0.1": expected host:port' --config "$C" --listen 127.0.0.1
refused 2 '--listen "[::1:8000": expected [v6]:port' --config "$C" --listen '[::1:8000'
refused 2 '--listen "::1:8000": the host is not an IPv4 address' --config "$C" --listen ::1:8000
refused 2 '--listen "[10.0.0.1]:8000": the host is not an IPv6 address' --config "$C" --listen '[10.0.0.1]:8000'
refused 1 'listen.yaml:6: listen: "localhost:8000": the host is not an IPv4 address' \
	--config "$(gwconf listen 'listen: localhost:8000')"
refused 1 'port.yaml:6: listen: "[::1]:70000": expected a port' \
	--config "$(gwconf port 'listen: "[::1]:70000"')"
refused 1 'big.yaml:7: limits.body_bytes: 16777216 is out of range 1024..15728640' \
	--config "$(gwconf big 'limits:' '  body_bytes: 16777216')"
refused 1 'above.yaml:7: limits.body_bytes: 10485760 is above limits.batch_body_bytes (default 8388608)' \
	--config "$(gwconf above 'limits:' '  body_bytes: 10485760')"
refused 1 'below.yaml:8: limits.batch_body_bytes: 4096 is below limits.body_bytes (65536)' \
	--config "$(gwconf below 'limits:' '  body_bytes: 65536' '  batch_body_bytes: 4096')"
refused 1 'batch.yaml:7: limits.batch_body_bytes: 16777216 is out of range 1024..15728640' \
	--config "$(gwconf batch 'limits:' '  batch_body_bytes: 16777216')"
# accepted: body_bytes above the default batch limit once batch_body_bytes is raised too,
# and --listen with an IPv6 address in brackets
P=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0)); print(s.getsockname()[1])')
"$GW_BIN" --config "$(gwconf raised 'limits:' '  body_bytes: 10485760' '  batch_body_bytes: 15728640')" \
	--listen "[::1]:$P" 2>"$TMP/v6.log" &
v6=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://[::1]:$P/api/info" && break; sleep 0.1; done
CODE=$(curl -s -o /dev/null -w '%{http_code}' "http://[::1]:$P/api/info")
check "--listen [::1]:PORT serves on IPv6 loopback, with body_bytes 10 MiB and batch 15 MiB" [ "$CODE" = 200 ]
kill $v6; wait $v6 2>/dev/null
check "that gateway exits cleanly with no ASan/UBSan report" bash -c "! grep -q -E 'ERROR: AddressSanitizer|runtime error|LeakSanitizer' '$TMP/v6.log'"

# HTTPS with a generated certificate; the session cookie gets Secure
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/k.pem" -out "$TMP/c.pem" -days 1 \
	-subj /CN=127.0.0.1 >/dev/null 2>&1
GW_SCHEME=https gw_start "https:" "  cert_file: $TMP/c.pem" "  key_file: $TMP/k.pem"
CODE=$(curl -sk -o /dev/null -w '%{http_code}' -H "X-API-Key: $ADMIN_KEY" "$BASE/api/v1/rules")
check "HTTPS serves the API" [ "$CODE" = 200 ]
check "HTTPS login cookie is Secure" bash -c "curl -sk -D - -o /dev/null -X POST -H 'Content-Type: application/json' --data '{\"key\":\"$ADMIN_KEY\"}' '$BASE/api/auth/login' | grep -qi 'set-cookie:.*; Secure'"
check "plain HTTP to the HTTPS port is not served" bash -c "! curl -s -m 2 -o /dev/null http://127.0.0.1:$GW_PORT/health"
gw_stop
check "gateway exits cleanly with no ASan/UBSan report" bash -c "! grep -q -E 'ERROR: AddressSanitizer|runtime error|LeakSanitizer' '$TMP/gw.log'"
grep -E 'ERROR|runtime error' "$TMP/gw.log" | head -5 | sed 's/^/# /'
echo "1..$T"
[ "$FAILED" = 0 ]
