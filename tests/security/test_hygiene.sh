#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/security/test_hygiene.sh: input hygiene (issue 11, item 7) against a real
# xdrop-controller (its database on a small tmpfs of its own) behind xdrop-gateway-san,
# then a real agent behind the gateway in node mode:
#   - matches are stored in one canonical spelling (REST, xdropctl arguments, CSV import,
#     the agent's node API) and two spellings of one match are duplicates (409);
#   - fractions and non-decimal numbers are refused where integers are meant, naming the
#     field (REST and xdropctl);
#   - node registration needs a name and an address with a scheme (400 naming the field);
#   - a decoded NUL (%00) in a path or query is 400, and never cuts an id short;
#   - framing errors left to the gateway (two Content-Length headers, Content-Length with
#     Transfer-Encoding, an unknown transfer coding, HTTP/1.1 without Host) are 400 with the
#     JSON error body, before any body is read or anything stored;
#   - a full disk answers 507 "disk full" without corrupting the database, and writes
#     succeed again once space is back (PRAGMA integrity_check afterwards).
cd "$(dirname "$0")/../.." || exit 1
. tests/gateway/lib.sh
. tests/security/lib.sh
NS=hygiene$$
PIN=/sys/fs/bpf/xdrop-hygiene-$$
echo "TAP version 13"
CTRL_PID=
DISK=$TMP/disk
down() {
	[ -n "$CTRL_PID" ] && sec_stop "$CTRL_PID"
	mountpoint -q "$DISK" && umount "$DISK"
	gw_lab_down
}
trap down EXIT

# The controller's database lives on a 6 MiB tmpfs that the disk-full cases fill.
mkdir -p "$DISK"
mount -t tmpfs -o size=6m,mode=0700 hygiene-tmpfs "$DISK" || { echo "Bail out! tmpfs"; exit 1; }
P1=$(sec_port) P2=$(sec_port) P3=$(sec_port)
sec_ctrl_yaml "$TMP/ctrl.yaml" "$DISK/ctrl.db" tcp://127.0.0.1:$P1 tcp://127.0.0.1:$P2 \
	tcp://127.0.0.1:$P3 "admin_key: $ADMIN_KEY"
sec_ctrl_start "$TMP/ctrl.yaml" "$TMP/ctrl.log"
export XDROP_URL=tcp://127.0.0.1:$P1 XDROP_KEY=$ADMIN_KEY
sec_ctrl_up 100 "$CTL_BIN" -q ping 2>/dev/null
check "controller up" "$CTL_BIN" -q ping
mkdir -p "$TMP/dist"
echo '<!doctype html>' >"$TMP/dist/index.html"
echo 'ok' >"$TMP/dist/app.js"
GW_MODE=controller GW_UPSTREAM=tcp://127.0.0.1:$P1 gw_start || { echo "Bail out! gateway"; exit 1; }

# pyj EXPR: evaluates a python expression on the last reply's JSON as d
pyj() { python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(eval(sys.argv[1]))' "$1" <<<"$BODY_OUT"; }
# expect_json DESC EXPR: ok when the python expression on d is True
expect_json() {
	if [ "$(pyj "$2" 2>/dev/null)" = True ]; then ok "$1"; else not_ok "$1 (got $CODE: ${BODY_OUT:0:300})"; fi
}
rule_count() { req GET /api/v1/rules; pyj 'd["count"]'; }

# ---- canonical spelling (REST) ----
canon_case() { # json-in, python check on the stored rule r, description
	req POST /api/v1/rules "$1"
	if [ "$CODE" != 201 ]; then not_ok "$3 (create: $CODE ${BODY_OUT:0:200})"; return; fi
	local id
	id=$(jget '["rule"]["id"]')
	req GET "/api/v1/rules/$id"
	expect_json "$3 (as GET returns it)" "(lambda r: $2)(d)"
	LAST_ID=$id
}
canon_case '{"src_cidr":"10.0.0.0/08","protocol":"TCP","dst_port":80,"action":"drop","tcp_flags":"ack,!syn"}' \
	'r["src_cidr"]=="10.0.0.0/8" and r["protocol"]=="tcp" and r["tcp_flags"]=="!SYN,ACK"' \
	"10.0.0.0/08 TCP ack,!syn is stored as 10.0.0.0/8 tcp !SYN,ACK"
FIRST=$LAST_ID
canon_case '{"src_ip":"FD00:0:0::0001","dst_cidr":"2001:0DB8:0000::/48","action":"drop"}' \
	'r["src_ip"]=="fd00::1" and r["dst_cidr"]=="2001:db8::/48"' \
	"IPv6 upper-case and uncompressed is stored lower-case and compressed"
canon_case '{"src_ip":"::ffff:192.0.2.9","protocol":"17","dst_port":53,"action":"drop"}' \
	'r["src_ip"]=="192.0.2.9" and r["protocol"]=="udp"' \
	"IPv4-mapped IPv6 is stored as IPv4, protocol 17 as udp"
canon_case '{"dst_ip":"198.51.100.9","protocol":"ANY","action":"drop"}' \
	'r["protocol"]==""' \
	"protocol ANY is stored as the absent field (any)"

# duplicates across spellings, in both directions
req POST /api/v1/rules '{"src_cidr":"::FFFF:10.0.0.0/104","protocol":"6","dst_port":80,"action":"pass"}'
expect 409 - "::FFFF:10.0.0.0/104 proto 6 duplicates 10.0.0.0/08 TCP"
check "the 409 names the existing rule" grep -q "$FIRST" <<<"$BODY_OUT"
req POST /api/v1/rules '{"src_ip":"fd00::1","dst_cidr":"2001:db8::/48","action":"pass"}'
expect 409 - "fd00::1 duplicates FD00:0:0::0001"
req POST /api/v1/whitelist '{"src_cidr":"FD00:0::/16","protocol":"UDP"}'
expect_json "whitelist FD00:0::/16 UDP is stored as fd00::/16 udp" \
	'd["entry"]["src_cidr"]=="fd00::/16" and d["entry"]["protocol"]=="udp"'
req POST /api/v1/whitelist '{"src_cidr":"fd00::/16","protocol":"17"}'
expect 409 - "whitelist fd00::/16 17 duplicates FD00:0::/16 UDP"

# PUT: another spelling of an existing match is a duplicate; a new one is canonical
req POST /api/v1/rules '{"src_cidr":"10.9.0.0/16","action":"drop"}'
PUT_ID=$(jget '["rule"]["id"]')
req PUT "/api/v1/rules/$PUT_ID" '{"src_cidr":"10.0.0.0/8","protocol":"TCP","dst_port":80}'
expect 409 - "PUT to another spelling of an existing match: 409"
req PUT "/api/v1/rules/$PUT_ID" '{"src_cidr":"10.8.0.0/016"}'
expect_json "PUT 10.8.0.0/016 is stored as 10.8.0.0/16" 'd["rule"]["src_cidr"]=="10.8.0.0/16"'

# xdropctl arguments and CSV import go through the same canonical form
out=$("$CTL_BIN" --json rules add src_cidr=10.20.0.0/016 protocol=UDP dst_port=53 action=drop 2>&1)
check "xdropctl rules add 10.20.0.0/016 UDP is stored as 10.20.0.0/16 udp" \
	python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r=r.get("rule",r); assert r["src_cidr"]=="10.20.0.0/16" and r["protocol"]=="udp", r' "$out"
printf 'src_ip,protocol,action\nFD00::ABCD,ICMPv6,drop\n' >"$TMP/in.csv"
"$CTL_BIN" -q rules import "$TMP/in.csv" >/dev/null 2>&1
req GET '/api/v1/rules?search=fd00::abcd'
expect_json "CSV import FD00::ABCD ICMPv6 is stored as fd00::abcd icmpv6" \
	'd["count"]==1 and d["rules"][0]["src_ip"]=="fd00::abcd" and d["rules"][0]["protocol"]=="icmpv6"'

# ---- integers ----
before=$(rule_count)
req POST /api/v1/rules '{"src_ip":"10.7.7.7","dst_port":80.5,"action":"drop"}'
expect 400 dst_port "dst_port 80.5: 400 naming dst_port"
req POST /api/v1/rules '{"src_ip":"10.7.7.7","dst_port":1e2,"action":"drop"}'
expect 400 dst_port "dst_port 1e2 (an exponent): 400 naming dst_port"
req POST /api/v1/rules '{"src_ip":"10.7.7.7","dst_port":80.0,"action":"drop"}'
expect 400 dst_port "dst_port 80.0: 400 naming dst_port"
req POST /api/v1/rules/batch '{"rules":[{"src_ip":"10.7.7.6","action":"drop"},{"src_ip":"10.7.7.7","src_port":8E1,"action":"drop"}],"atomic":true}'
expect 400 'rules[1].src_port' "an atomic batch item with src_port 8E1: 400 naming rules[1].src_port"
req POST /api/v1/rules '{"src_ip":"10.7.7.7","rate_limit":10.25,"action":"rate_limit"}'
expect 400 rate_limit "rate_limit 10.25: 400 naming rate_limit"
req POST /api/v1/rules '{"src_ip":"10.7.7.7","pkt_len_max":65536,"action":"drop"}'
expect 400 pkt_len_max "pkt_len_max 65536 (beyond the field's range): 400 naming it"
req POST /api/v1/rules '{"src_ip":"10.7.7.7","src_port":1e400,"action":"drop"}'
expect 400 src_port "src_port 1e400: 400 naming src_port"
req POST /api/v1/rules '{"name":"1.5 \"2e3\"","src_ip":"10.7.7.5","dst_port":80,"action":"drop","expires_in":90.5}'
expect 201 - "numbers inside strings and a fractional expires_in (seconds) are fine"
req DELETE "/api/v1/rules/$(jget '["rule"]["id"]')"
for v in 80.5 1e2 0x50 ' 80' 80abc; do
	out=$("$CTL_BIN" rules add src_ip=10.7.7.7 "dst_port=$v" action=drop 2>&1)
	rc=$?
	if [ $rc != 0 ] && grep -q dst_port <<<"$out"; then
		ok "xdropctl dst_port='$v' is refused naming dst_port"
	else
		not_ok "xdropctl dst_port='$v' is refused naming dst_port (rc $rc: $out)"
	fi
done
printf 'src_ip,dst_port,action\n10.7.7.8,8e1,drop\n' >"$TMP/frac.csv"
out=$("$CTL_BIN" rules import "$TMP/frac.csv" 2>&1)
check "CSV cell dst_port=8e1 is refused naming dst_port" grep -q "dst_port" <<<"$out"
check "nothing stored by the refused numbers" [ "$(rule_count)" = "$before" ]

# ---- node registration ----
req POST /api/v1/nodes '{"address":"tcp://192.0.2.1:7600"}'
expect 400 name "node without a name: 400 naming name"
req POST /api/v1/nodes '{"name":"edge","address":"192.0.2.1:7600"}'
expect 400 address "node address without a scheme: 400 naming address"
req POST /api/v1/nodes '{"name":"edge"}'
expect 400 address "node without an address: 400 naming address"
req POST /api/v1/nodes '{"name":"edge","address":"tcp://192.0.2.1"}'
expect 400 address "node tcp address without a port: 400 naming address"
req POST /api/v1/nodes '{"name":"edge","address":"tls+tcp://192.0.2.1:7600"}'
expect 201 - "node with a name and tls+tcp://host:port: 201"
NODE_ID=$(jget '["node"]["id"]')
req PUT "/api/v1/nodes/$NODE_ID" '{"address":"192.0.2.1:7600"}'
expect 400 address "PUT a node address without a scheme: 400 naming address"
req GET /api/v1/nodes
expect_json "only the valid node was registered" 'd["count"]==1'

# ---- NUL in paths and queries ----
req GET /app.js
expect 200 - "static file served"
req GET /app%00.js
expect 400 url "static path with %00: 400"
req GET '/assets/x%00'
expect 400 url "SPA route with %00: 400, not the index page"
req DELETE "/api/v1/rules/$FIRST%00trailing"
expect 400 url "DELETE /api/v1/rules/ID%00x: 400"
req GET "/api/v1/rules/$FIRST"
expect 200 - "and the rule ID is still there"
req GET '/api/v1/rules?search=a%00b'
expect 400 url "query with %00: 400"

# ---- HTTP framing ----
# raw REQUEST-HEAD-FILE BODY: sends the head and body on one connection, prints the status
# and the body of the reply (5 s at most)
raw() {
	python3 - "$GW_PORT" "$1" "$2" <<'PY'
import socket, sys
port, head, body = int(sys.argv[1]), open(sys.argv[2], "rb").read(), sys.argv[3].encode()
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(head.replace(b"\n", b"\r\n") + body)
out = b""
try:
    while b"\r\n\r\n" not in out or len(out.split(b"\r\n\r\n", 1)[1]) < int(
            [l.split(b":")[1] for l in out.split(b"\r\n") if l.lower().startswith(b"content-length:")][0]):
        b = s.recv(65536)
        if not b:
            break
        out += b
except Exception as e:
    out += b"\r\n\r\n<" + str(e).encode() + b">"
status = out.split(b" ", 2)[1].decode() if out.startswith(b"HTTP/") else "none"
print(status, out.split(b"\r\n\r\n", 1)[-1].decode(errors="replace"))
PY
}
framing() { # description, expected status, expected field (- for MHD's own), head lines...
	local d=$1 want=$2 field=$3 got
	shift 3
	printf '%s\n' "$@" "" >"$TMP/head"
	got=$(raw "$TMP/head" "$FRAME_BODY")
	if [ "${got%% *}" = "$want" ] && { [ "$field" = - ] || grep -q "\"field\":\"$field\"" <<<"$got"; }; then
		ok "$d"
	else
		not_ok "$d (got: ${got:0:200})"
	fi
}
before=$(rule_count)
FRAME_BODY='{"src_ip":"10.66.0.1","action":"drop"}'
LEN=${#FRAME_BODY}
H=("POST /api/v1/rules HTTP/1.1" "Host: x" "X-API-Key: $ADMIN_KEY" "Content-Type: application/json")
framing "two Content-Length headers: 400 naming Content-Length" 400 Content-Length \
	"${H[@]}" "Content-Length: $LEN" "Content-Length: $LEN"
framing "Content-Length with Transfer-Encoding: 400" 400 Transfer-Encoding \
	"${H[@]}" "Content-Length: $LEN" "Transfer-Encoding: chunked"
framing "Transfer-Encoding gzip: 400 at once" 400 Transfer-Encoding \
	"${H[@]}" "Transfer-Encoding: gzip"
framing "HTTP/1.1 without Host: 400" 400 Host \
	"POST /api/v1/rules HTTP/1.1" "X-API-Key: $ADMIN_KEY" "Content-Type: application/json" \
	"Content-Length: $LEN"
framing "two Host headers: 400" 400 Host \
	"${H[@]}" "Host: y" "Content-Length: $LEN"
# a second request hidden behind the other Content-Length is never answered: the refusal
# closes the connection
smuggle() {
	python3 - "$GW_PORT" "$ADMIN_KEY" <<'PY'
import socket, sys
port, key = int(sys.argv[1]), sys.argv[2].encode()
body = b'{"src_ip":"10.66.0.2","action":"drop"}'
hidden = b"DELETE /api/v1/rules/batch HTTP/1.1\r\nHost: x\r\nX-API-Key: " + key + b"\r\n\r\n"
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(b"POST /api/v1/rules HTTP/1.1\r\nHost: x\r\nX-API-Key: " + key +
          b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\nContent-Length: %d\r\n\r\n"
          % (len(body), len(body) + len(hidden)) + body + hidden)
out = b""
while True:  # until the gateway closes (the socket timeout bounds it)
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.exit(0 if out.count(b"HTTP/1.1 ") == 1 and b"Connection: close" in out else 1)
PY
}
check "two Content-Length headers: one answer, then the connection is closed" smuggle
check "nothing stored by the refused requests" [ "$(rule_count)" = "$before" ]
# libmicrohttpd answers these itself (documented in docs/api.md): still 400
framing "a Content-Length that is not a number: 400 (libmicrohttpd)" 400 - \
	"${H[@]}" "Content-Length: 12abc"
FRAME_BODY=$'zz\r\n{}\r\n0\r\n\r\n'
framing "chunked encoding that does not parse: 400 (libmicrohttpd)" 400 - \
	"${H[@]}" "Transfer-Encoding: chunked"
FRAME_BODY='{"src_ip":"10.66.0.1","action":"drop"}'
framing "the same request framed correctly: 201" 201 - "${H[@]}" "Content-Length: $LEN"

# ---- disk full ----
revision() { "$CTL_BIN" --json info 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get("revision",""))'; }
req GET /api/v1/rules
count_before=$(pyj 'd["count"]')
dd if=/dev/zero of="$DISK/fill" bs=64k 2>/dev/null
diag "tmpfs: $(df -k "$DISK" | awk 'NR==2{print $4}') KiB free after filling"
# Small writes may still fit in pages SQLite already owns; a 256 KiB comment cannot.
# big_rule IP: a rule with that comment, as a file (too long for one argument)
big_rule() {
	python3 -c 'import json,sys; print(json.dumps({"src_ip": sys.argv[1], "action": "drop", "comment": "x" * 262144}))' "$1" >"$TMP/big.json"
}
# req_big METHOD PATH: req with the body in $TMP/big.json
req_big() {
	CODE=$(curl -sk -o "$TMP/out" -w '%{http_code}' -X "$1" -H "X-API-Key: $ADMIN_KEY" \
		-H 'Content-Type: application/json' --data-binary @"$TMP/big.json" "$BASE$2")
	BODY_OUT=$(cat "$TMP/out")
}
is_disk_full() { [ "$CODE" = 507 ] && grep -q '"error":"disk full' <<<"$BODY_OUT"; }
got507=0 stored=0
for i in $(seq 1 40); do
	big_rule "10.77.0.$i"
	req_big POST /api/v1/rules
	if [ "$CODE" = 507 ]; then got507=1; break; fi
	[ "$CODE" = 201 ] && stored=$((stored + 1))
done
check "a write on the full disk answers 507 (after $stored stored)" [ $got507 = 1 ]
check "and the message says the disk is full" grep -q '"error":"disk full' <<<"$BODY_OUT"
diag "507 body: ${BODY_OUT:0:160}"
req GET /api/v1/rules
check "reads still work on the full disk, with every acknowledged rule" \
	[ "$(pyj 'd["count"]' 2>/dev/null)" = $((count_before + stored)) ]
req POST /api/v1/nodes '{"name":"edge-2","address":"tcp://192.0.2.2:7600"}'
check "registering a node on the full disk: 507 disk full" is_disk_full
req POST /api/v1/keys '{"name":"ci","scope":"read_only"}'
check "creating an API key on the full disk: 507 disk full" is_disk_full
big_rule 10.77.1.1
{ printf '['; cat "$TMP/big.json"; printf ']'; } >"$TMP/big-list.json"
out=$("$CTL_BIN" rules import "$TMP/big-list.json" --format json 2>&1)
check "xdropctl import reports disk full" grep -q "disk full" <<<"$out"
diag "xdropctl: ${out:0:160}"
rm -f "$DISK/fill"
big_rule 10.77.2.1
req_big POST /api/v1/rules
expect 201 - "once space is back, the same write succeeds"
req GET /api/v1/rules
check "every acknowledged rule is there, the refused ones are not" \
	[ "$(pyj 'd["count"]' 2>/dev/null)" = $((count_before + stored + 1)) ]
sec_stop "$CTRL_PID"
CTRL_PID=
check "PRAGMA integrity_check is ok after the full disk" \
	[ "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("pragma integrity_check").fetchone()[0])' "$DISK/ctrl.db")" = ok ]
check "the controller log names the full disk" grep -q "full" "$TMP/ctrl.log"
diag "controller log: $(grep -m1 full "$TMP/ctrl.log")"
gw_stop
san_clean() { ! grep -q -E 'ERROR: AddressSanitizer|runtime error|LeakSanitizer' "$TMP/gw.log"; }
check "gateway (controller mode) exits with no ASan/UBSan report" san_clean

# ---- the agent's node API (gateway in node mode) ----
if gw_lab_up && GW_MODE=node gw_start; then
	req POST /api/v1/rules '{"src_cidr":"198.51.100.0/024","protocol":"UDP","action":"drop"}'
	expect_json "node mode: 198.51.100.0/024 UDP is stored as 198.51.100.0/24 udp" \
		'd["rule"]["src_cidr"]=="198.51.100.0/24" and d["rule"]["protocol"]=="udp"'
	req POST /api/v1/rules '{"src_cidr":"::ffff:198.51.100.0/120","protocol":"17","action":"pass"}'
	expect 409 - "node mode: another spelling of the same match is a duplicate"
	req POST /api/v1/whitelist '{"src_ip":"2001:DB8::0:1"}'
	expect_json "node mode: whitelist 2001:DB8::0:1 is stored as 2001:db8::1" \
		'd["entry"]["src_ip"]=="2001:db8::1"'
	gw_stop
	check "gateway (node mode) exits with no ASan/UBSan report" san_clean
else
	not_ok "node-mode lab up"
fi

echo "1..$T"
[ "$FAILED" = 0 ]
