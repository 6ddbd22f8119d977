#!/bin/bash
# SPDX-License-Identifier: MIT
# Smoke run of the dqlite response fuzzer (build/tests/fuzz_dqlite) for $FUZZ_SECONDS
# (default 60) from a seed corpus of valid responses: the first byte of an input picks the
# decoder (tests/fuzz/fuzz_dqlite.c), the rest is the body. Prints TAP.
set -u
. tests/lib/tap.sh
BUILD=${BUILD:-build}
secs=${FUZZ_SECONDS:-60}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"

seed() { # name, selector byte (hex), body (hex words)
	echo "$2 $3" | tr -d ' ' | xxd -r -p >"$work/corpus/$1"
}
seed failure 00 "0a28000000000000 6e6f74206c656164 6572000000000000"
seed server 01 "0100000000000000 3132372e302e302e 313a393030310000"
seed servers 03 "0200000000000000 0100000000000000 613a310000000000 0000000000000000 \
	0200000000000000 623a320000000000 0200000000000000"
seed stmt 05 "0000000004000000 0200000000000000"
seed files 09 "0200000000000000 612e646200000000 0800000000000000 53514c6974652066 \
	612e64622d77616c 0000000000000000 0000000000000000"
seed rows 07 "0200000000000000 6964000000000000 6e616d6500000000 3100000000000000 \
	0100000000000000 6100000000000000 5100000000000000 0200000000000000 \
	0000000000000000 ffffffffffffffff"
seed rows-types 87 "0800000000000000 6100000000000000 6200000000000000 6300000000000000 \
	6400000000000000 6500000000000000 6600000000000000 6700000000000000 \
	6800000000000000 214395ba00000000 f9ffffffffffffff 000000000000f83f \
	7878000000000000 0200000000000000 abcd000000000000 0000000000000000 \
	0094357700000000 3230323600000000 0100000000000000 eeeeeeeeeeeeeeee \
	0800000000000000 6100000000000000 6200000000000000 6300000000000000 \
	6400000000000000 6500000000000000 6600000000000000 6700000000000000 \
	6800000000000000 ffffffffffffffff"

tap_plan 1
mkdir -p "$BUILD/fuzz-artifacts"
"$BUILD/tests/fuzz_dqlite" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-max_len=4096 -print_final_stats=1 -artifact_prefix="$BUILD/fuzz-artifacts/" \
	"$work/corpus" >"$work/log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
if [ "$rc" -eq 0 ]; then
	ok "fuzz_dqlite: ${execs:-?} inputs in ${secs}s, no crash"
else
	not_ok "fuzz_dqlite failed (exit $rc)" "$(tail -40 "$work/log")" \
		"reproducer kept in $BUILD/fuzz-artifacts/"
fi
exit "$rc"
