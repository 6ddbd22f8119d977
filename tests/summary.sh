#!/bin/sh
# SPDX-License-Identifier: MIT
# Prints the one summary line of make test: assertions passed and failed across every
# suite's TAP log. $1 is prove's exit status: when prove failed (a suite crashed, exited
# non-zero or broke its plan) but no assertion failed, that counts as one failure.
set -u
log_dir=${XDROP_TEST_LOGS:-build/test-logs}
prove_rc=${1:-0}
passed=$(cat "$log_dir"/*.tap 2>/dev/null | grep -c '^ok ' || true)
failed=$(cat "$log_dir"/*.tap 2>/dev/null | grep -c '^not ok ' || true)
if [ "$prove_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
	failed=1
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
