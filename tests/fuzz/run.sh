#!/bin/bash
# SPDX-License-Identifier: MIT
# Smoke run of the RPC/pub-sub frame fuzzer (build/tests/fuzz_rpc) for $FUZZ_SECONDS
# (default 60) from a seed corpus built with protoc from proto/xdrop.proto. Prints TAP.
set -u
. tests/lib/tap.sh
. tests/lib/fuzz.sh
fuzz_setup

enc() { protoc --proto_path=proto --encode="xdrop.v1.$1" xdrop.proto; }
hexesc() { od -An -v -tx1 | tr -d ' \n' | sed 's/../\\x&/g'; }
seed() { # name selector-byte topic type text
	{ printf "$2"; printf '%s' "$3"; printf '%s' "$5" | enc "$4"; } >"$work/corpus/$1"
}
ping=$(printf 'data: "abc"' | enc PingRequest | hexesc)
rule=$(printf 'rule { name: "r" src_cidr: "10.0.0.0/8" dst_port: 22 protocol: "tcp" action: "drop" }' |
	enc CreateRuleRequest | hexesc)
batch=$(printf 'rules { name: "a" } rules { name: "b" } atomic: true' | enc BatchCreateRulesRequest | hexesc)
seed ping '\x00' '' RpcRequest "service: \"xdrop.v1.HealthService\" method: \"Ping\" call_id: 1 payload: \"$ping\""
seed create '\x00' '' RpcRequest "service: \"xdrop.v1.RuleService\" method: \"Create\" call_id: 2 auth_token: \"admin\" deadline_ms: 1000 payload: \"$rule\""
seed late '\x00' '' RpcRequest "service: \"xdrop.v1.RuleService\" method: \"Create\" call_id: 4 auth_token: \"admin\" deadline_unix_ms: 1 payload: \"$rule\""
seed batch '\x00' '' RpcRequest "service: \"xdrop.v1.RuleService\" method: \"BatchCreate\" call_id: 3 auth_token: \"admin\" payload: \"$batch\""
seed delta '\x01' 'delta:' Delta 'revision: 1 base_revision: 0 content_hash: "h" ops { upsert_rule { id: "x" } } ops { delete_rule: "y" }'
seed heartbeat '\x01' 'delta:' Delta 'revision: 5 base_revision: 5 content_hash: "h"'
body=$(printf 'node_id: "n1" revision: 3 counters { rx: 1 }' | enc Beacon | hexesc)
seed beacon '\x02' 'beacon:' SignedBeacon "node_id: \"n1\" beacon: \"$body\" hmac_sha256: \"0123456789abcdef0123456789abcdef\""

tap_plan 1
fuzz_smoke fuzz_rpc "$work/corpus" 8192 "$secs"
