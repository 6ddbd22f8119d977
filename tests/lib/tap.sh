#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/lib/tap.sh: TAP output and condition waits for the shell suites, sourced.
#
# T counts the tests, FAILED the failed ones; a suite prints its plan with tap_plan N at
# its start or lets tap_done print "1..$T" at its end (tap_done also returns non-zero when
# a test failed). A description's newlines become "; " so that one test is one line.
#
#   ok DESC / not_ok DESC [DIAG...]     one result (DIAG lines follow as "# " comments)
#   check DESC CMD...                   passes when CMD succeeds; CMD's output is shown
#                                       as comments only when it fails
#   check_not DESC CMD...               passes when CMD fails
#   check_eval DESC EXPR                passes when `eval EXPR` succeeds (a shell test
#                                       written as one string, evaluated in the caller)
#   expect_eq DESC GOT WANT             string equality
#   expect_range DESC GOT MIN MAX       integer in [MIN, MAX]
#   wait_until SECONDS CMD...           (whole seconds) polls CMD (every 50 ms at first, then 200 ms)
#                                       until it succeeds (0) or SECONDS passed (1)
#   tap_now_ms                          milliseconds on the monotonic clock (boot time)
#
# Suites wait for conditions, never for time (STYLE.md 18): wait_until with a generous
# deadline returns as soon as the state is there, so a quiet machine stays fast and a
# loaded one only slower.
T=0
FAILED=0

ok() { T=$((T + 1)); echo "ok $T - ${1//$'\n'/; }"; }
not_ok() {
	T=$((T + 1))
	FAILED=$((FAILED + 1))
	echo "not ok $T - ${1//$'\n'/; }"
	shift
	local l
	for l in "$@"; do printf '%s\n' "$l" | sed 's/^/# /'; done
}
diag() { echo "# $*"; }
check() { # description, command...
	local d=$1 f=${TMPDIR:-/tmp}/tap-check.$$.$RANDOM rc
	shift
	"$@" >"$f" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then ok "$d"; else not_ok "$d" "failed ($rc): $*" "$(cat "$f")"; fi
	rm -f "$f"
}
check_eval() { # description, expression
	if eval "$2"; then ok "$1"; else not_ok "$1" "false: $2"; fi
}
check_not() { # description, command...: passes when the command fails
	local d=$1
	shift
	if "$@" >/dev/null 2>&1; then not_ok "$d" "succeeded: $*"; else ok "$d"; fi
}
expect_eq() { # description, got, want
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got '$2', want '$3'"; fi
}
expect_range() { # description, got, min, max
	if [ -n "$2" ] && [ "$2" -ge "$3" ] 2>/dev/null && [ "$2" -le "$4" ]; then ok "$1"; else
		not_ok "$1" "got '$2', want $3..$4"
	fi
}
tap_plan() { echo "1..$1"; }
tap_done() { # prints the plan when the suite did not announce it; fails if a test did
	[ "${1:-}" = noplan ] || echo "1..$T"
	[ "$FAILED" -eq 0 ]
}

tap_now_ms() {
	local up
	read -r up _ </proc/uptime
	echo $((${up%.*} * 1000 + 10#${up#*.} * 10))
}
wait_until() { # seconds, command...: 0 once the command succeeded, 1 at the deadline
	local end=$(($(tap_now_ms) + ${1%.*} * 1000)) i=0
	shift
	while ! "$@"; do
		[ "$(tap_now_ms)" -lt "$end" ] || return 1
		i=$((i + 1))
		if [ $i -lt 20 ]; then sleep 0.05; else sleep 0.2; fi
	done
}
