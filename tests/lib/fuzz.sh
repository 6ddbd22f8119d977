#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/lib/fuzz.sh: the smoke run of one libFuzzer target, sourced after tests/lib/tap.sh
# by the scripts of tests/fuzz/.
#
#   fuzz_setup
# sets BUILD (default build), secs (FUZZ_SECONDS, default 60) and work, a temporary folder
# removed at exit, with an empty $work/corpus for the script's seeds.
#
#   fuzz_smoke NAME CORPUS MAX_LEN SECONDS
# runs $BUILD/tests/NAME on the corpus folder for SECONDS with inputs up to MAX_LEN bytes,
# prints one TAP result (the number of inputs run, or the end of the log and where the
# reproducer is kept) and returns the fuzzer's exit status.
fuzz_setup() {
	BUILD=${BUILD:-build}
	secs=${FUZZ_SECONDS:-60}
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	mkdir -p "$work/corpus"
}

fuzz_smoke() {
	local name=$1 corpus=$2 max_len=$3 secs=$4 build=${BUILD:-build} log rc execs
	log=$(mktemp)
	mkdir -p "$build/fuzz-artifacts"
	"$build/tests/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len="$max_len" -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/" \
		"$corpus" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	if [ "$rc" -eq 0 ]; then
		ok "$name: ${execs:-?} inputs in ${secs}s, no crash"
	else
		not_ok "$name failed (exit $rc)" "$(tail -40 "$log")" \
			"reproducer kept in $build/fuzz-artifacts/"
	fi
	rm -f "$log"
	return "$rc"
}
