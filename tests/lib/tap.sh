#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/lib/tap.sh: TAP output for shell suites, sourced. T counts the tests, FAILED the
# failed ones; the suite prints "1..$T" at its end.
T=0
FAILED=0

ok() { T=$((T + 1)); echo "ok $T - $*"; }
not_ok() { T=$((T + 1)); FAILED=$((FAILED + 1)); echo "not ok $T - $*"; }
check() { # description, command...
	local d=$1
	shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}
diag() { echo "# $*"; }
