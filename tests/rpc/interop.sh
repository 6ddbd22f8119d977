#!/bin/bash
# SPDX-License-Identifier: MIT
# RPC interop: a third-party client made of nothing but proto/xdrop.proto, protoc
# (--encode/--decode) and nngcat calls methods of a real XDrop RPC server
# (build/tests/rpc_test_server) over tcp:// and checks the decoded replies. Prints TAP.
set -u
. tests/lib/tap.sh
BUILD=${BUILD:-build}
SERVER=$BUILD/tests/rpc_test_server
TOKEN=interop-secret
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

pb_encode() { protoc --proto_path=proto --encode="xdrop.v1.$1" xdrop.proto; }
pb_decode() { protoc --proto_path=proto --decode="xdrop.v1.$1" xdrop.proto; }
# bytes on stdin -> a protobuf text-format string literal body (\xNN escapes)
to_text_bytes() { od -An -v -tx1 | tr -d ' \n' | sed 's/../\\x&/g'; }
# a text-format string literal body as printed by protoc -> bytes on stdout
from_text_bytes() { printf "$(sed 's/%/%%/g')"; }

# call SERVICE METHOD TOKEN REQUEST_TYPE REQUEST_TEXT -> $tmp/reply.txt (decoded RpcReply)
call() {
	local payload
	payload=$(printf '%s' "$5" | pb_encode "$4" | to_text_bytes) || return 1
	printf 'service: "xdrop.v1.%s"\nmethod: "%s"\ncall_id: 4242\nauth_token: "%s"\ndeadline_ms: 5000\npayload: "%s"\n' \
		"$1" "$2" "$3" "$payload" | pb_encode RpcRequest >"$tmp/req.bin" || return 1
	raw_call "$tmp/req.bin"
}

raw_call() {
	nngcat --req0 --dial "tcp://127.0.0.1:$port" --file "$1" --raw --recv-timeout 5 \
		>"$tmp/reply.bin" || return 1
	pb_decode RpcReply <"$tmp/reply.bin" >"$tmp/reply.txt"
}

# the reply's payload decoded as TYPE
payload_as() {
	sed -n 's/^payload: "\(.*\)"$/\1/p' "$tmp/reply.txt" | from_text_bytes | pb_decode "$1"
}

tap_plan 8
"$SERVER" tcp://127.0.0.1:0 "$TOKEN" >"$tmp/port" 2>"$tmp/server.err" &
pid=$!
wait_until 20 grep -q '^port ' "$tmp/port"
port=$(awk '/^port /{print $2}' "$tmp/port")
if [ -z "$port" ]; then
	not_ok "server starts" "$(cat "$tmp/server.err")"
	exit 1
fi
ok "server listens on port $port"

# 2: RuleService.Get of an existing rule: OK (no code line: 0 is proto3's default) + payload
call RuleService Get "$TOKEN" GetRuleRequest 'id: "r1"' && payload_as Rule >"$tmp/rule.txt"
if grep -q '^call_id: 4242$' "$tmp/reply.txt" && ! grep -q '^code:' "$tmp/reply.txt" &&
	grep -q '^name: "block-ssh"$' "$tmp/rule.txt" && grep -q '^src_cidr: "203.0.113.0/24"$' "$tmp/rule.txt" &&
	grep -q '^dst_port: 22$' "$tmp/rule.txt" && grep -q '^action: "drop"$' "$tmp/rule.txt"; then
	ok "RuleService.Get via nngcat + protoc returns the rule"
else
	not_ok "RuleService.Get via nngcat + protoc returns the rule" "$(cat "$tmp/reply.txt" "$tmp/rule.txt" 2>&1)"
fi

# 3: NOT_FOUND with the field path
call RuleService Get "$TOKEN" GetRuleRequest 'id: "nope"'
check "unknown id gives NOT_FOUND naming the field" \
	grep -qz 'code: NOT_FOUND.*message: "no rule nope".*field: "id"' "$tmp/reply.txt"

# 4: a wrong token
call RuleService Get wrong-token GetRuleRequest 'id: "r1"'
check "wrong token gives UNAUTHENTICATED" grep -q '^code: UNAUTHENTICATED$' "$tmp/reply.txt"

# 5: a method the server does not serve
call RuleService Delete "$TOKEN" DeleteRequest 'id: "r1"'
check "unserved method gives UNIMPLEMENTED" grep -q '^code: UNIMPLEMENTED$' "$tmp/reply.txt"

# 6: health check without a token; bytes survive the round trip
call HealthService Ping "" PingRequest 'data: "\x00\x01hello\xff"' && payload_as PingReply >"$tmp/ping.txt"
check "HealthService.Ping echoes binary data" grep -q '^data: "\\000\\001hello\\377"$' "$tmp/ping.txt"

# 7: garbage is answered with INVALID_ARGUMENT, not silence
printf 'garbage' >"$tmp/garbage.bin"
raw_call "$tmp/garbage.bin"
check "garbage frame gives INVALID_ARGUMENT" grep -q '^code: INVALID_ARGUMENT$' "$tmp/reply.txt"

# 8: and the server is still serving
call RuleService Get "$TOKEN" GetRuleRequest 'id: "r1"' && payload_as Rule >"$tmp/rule.txt"
check "server still serves after bad input" grep -q '^id: "r1"$' "$tmp/rule.txt"
tap_done noplan
