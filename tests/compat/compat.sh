#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/compat/compat.sh: the runner of the XDrop 2.7 compatibility suite, sourced by
# test_compat_controller.sh and test_compat_node.sh after their lab is up (issue 14).
#
#   compat_run MODE    replays tests/compat/cases.json (and cases-pending.json when
#                      XDROP_COMPAT_PENDING=1) against the gateway at $BASE: every case whose
#                      "modes" include MODE (controller or node) is one TAP check
#
# Needs $BASE (the gateway), $COMPAT_KEY (an admin API key), $TMP (a private temp dir) and
# tests/lib/tap.sh. The case format and the shape language are in tests/compat/README.md;
# the matcher is tests/compat/compat.jq. A mismatch prints the path of the first differing
# key (`$.rule.dst_port: want integer, got null null`).
COMPAT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
declare -A COMPAT_VAR

# compat_subst TEXT: TEXT with every {{name}} replaced by the saved variable
compat_subst() {
	local s=$1 k
	for k in "${!COMPAT_VAR[@]}"; do s=${s//"{{$k}}"/${COMPAT_VAR[$k]}}; done
	printf '%s' "$s"
}

# compat_fields CASE: the case's fields as C_* shell variables (one jq call)
compat_fields() {
	eval "$(jq -r '@sh "C_METHOD=\(.method) C_PATH=\(.path) C_AUTH=\(.auth // "key")
		C_STATUS=\(.status | if type == "array" then map(tostring) | join(" ") else tostring end) C_WAIT=\(.wait // 0) C_V27=\(.v27)
		C_BODY=\(if has("body") then .body | tojson else "" end)
		C_SHAPE=\(if has("shape") then .shape | tojson else "" end)
		C_SAVE=\((.save // {}) | to_entries | map("\(.key)\t\(.value)") | join("\n"))
		C_NAME=\("\(.method) \(.path): \(.name)" + (if .xdrop then " [XDrop: \(.xdrop)]" else "" end))"' <<<"$1")"
}

# compat_request: sends the current case's request; sets C_CODE, the body in $TMP/c.out
compat_request() {
	local args=(-s -g -o "$TMP/c.out" -w '%{http_code}' -X "$C_METHOD" --max-time 30)
	case $C_AUTH in
	key) args+=(-H "X-API-Key: $COMPAT_KEY") ;;
	bearer) args+=(-H "Authorization: Bearer $COMPAT_KEY") ;;
	wrong) args+=(-H "X-API-Key: not-a-key-0123456789") ;;
	cookie) args+=(-b "$TMP/c.jar" -c "$TMP/c.jar") ;; # the session of a login case
	none) ;;
	esac
	[ -n "$C_BODY" ] && args+=(-H 'Content-Type: application/json' --data-binary "$(compat_subst "$C_BODY")")
	C_CODE=$(curl "${args[@]}" "$BASE$(compat_subst "$C_PATH")")
}

# compat_verdict: nothing when the last reply matches the current case, else why not
compat_verdict() {
	if [[ " $C_STATUS " != *" $C_CODE "* ]]; then
		echo "status $C_CODE, want $C_STATUS: $(head -c 300 "$TMP/c.out")"
	elif [ -n "$C_SHAPE" ]; then
		compat_mism "$(compat_subst "$C_SHAPE")" <"$TMP/c.out"
	fi
}

# compat_mism SHAPE: the first mismatch of the JSON on stdin against SHAPE (nothing when
# it has the shape); named shapes from $COMPAT_SHAPES
compat_mism() {
	local in
	in=$(cat)
	if ! jq -e . >/dev/null 2>&1 <<<"$in"; then
		echo "not JSON: ${in:0:200}"
		return
	fi
	jq -r --argjson shapes "${COMPAT_SHAPES:-{\}}" --argjson s "$1" \
		"$(cat "$COMPAT_DIR/compat.jq")"$'\n''mism($s; "$")' <<<"$in"
}

# compat_selftest: the matcher finds what differs, and says where (so a case can fail)
compat_selftest() {
	local v='{"a":{"b":"x","n":[{"id":1},{"id":"2"}]},"ok":true,"d":[{"t":3},{"t":1},{"t":2}]}'
	expect_eq "matcher: a matching value passes" \
		"$(compat_mism '{"a":{"b":"string","n":{"$items":{"id":"integer|string"},"$min":2}},"ok":{"$eq":true}}' <<<"$v")" ""
	expect_eq "matcher: a wrong type is named by its path" \
		"$(compat_mism '{"a":{"b":"integer"}}' <<<"$v")" '$.a.b: want integer, got string "x"'
	expect_eq "matcher: a missing key" "$(compat_mism '{"a":{"c":"?string","z":"any"}}' <<<"$v")" '$.a.z: missing'
	expect_eq "matcher: the first bad array item" \
		"$(compat_mism '{"a":{"n":[{"id":"integer"}]}}' <<<"$v")" '$.a.n[1].id: want integer, got string "2"'
	expect_eq "matcher: a value, absent keys, order, item counts" \
		"$(for s in '{"ok":{"$eq":false}}' '{"ok":"$absent"}' '{"d":{"$desc":"t"}}' '{"d":{"$items":"object","$max":2}}'; do
			compat_mism "{\"\$all\":[$s]}" <<<"$v"
		done | tr '\n' '|')" '$.ok: want false, got true|$.ok: want absent, got true|$.d: want t descending, got [3,1,2]|$.d: want at most 2 items, got 3|'
}

compat_retry() { compat_request && C_WHY=$(compat_verdict) && [ -z "$C_WHY" ]; }

# compat_case CASE: one check (waiting up to the case's "wait" seconds for a match); then
# the case's "save" variables are read from the reply
compat_case() {
	local k expr
	compat_fields "$1"
	compat_request
	C_WHY=$(compat_verdict)
	[ -n "$C_WHY" ] && [ "$C_WAIT" != 0 ] && wait_until "$C_WAIT" compat_retry
	if [ -n "$C_WHY" ]; then
		not_ok "$C_NAME" "$C_WHY" "v2.7: $C_V27"
		return
	fi
	ok "$C_NAME"
	while IFS=$'\t' read -r k expr; do
		[ -n "$k" ] && COMPAT_VAR[$k]=$(jq -r "$expr" "$TMP/c.out")
	done <<<"$C_SAVE"
}

# compat_file FILE MODE: every case of FILE for MODE, in order
compat_file() {
	local c
	while IFS= read -r c; do
		compat_case "$c"
	done < <(jq -c --arg m "$2" '.cases[] | select((.modes // ["controller", "node"]) | index($m))' "$1")
}

compat_run() {
	local mode=$1 files=("$COMPAT_DIR/cases.json") f
	[ "${XDROP_COMPAT_PENDING:-0}" = 1 ] && files+=("$COMPAT_DIR/cases-pending.json")
	COMPAT_SHAPES=$(jq -s 'map(.shapes // {}) | add' "${files[@]}") || return 1
	COMPAT_VAR[key]=$COMPAT_KEY
	rm -f "$TMP/c.jar"
	for f in "${files[@]}"; do compat_file "$f" "$mode"; done
}
