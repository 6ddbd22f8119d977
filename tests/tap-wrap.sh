#!/bin/bash
# SPDX-License-Identifier: MIT
# prove --exec wrapper: runs one suite and keeps its TAP under build/test-logs so the
# summary line can count assertions across every suite. A suite that runs longer than
# XDROP_SUITE_TIMEOUT seconds (default 1200) is stopped (SIGTERM, SIGKILL 30 s later) and
# reported as a failing test, so one hung suite cannot hold up the whole run.
set -u
log_dir=${XDROP_TEST_LOGS:-build/test-logs}
limit=${XDROP_SUITE_TIMEOUT:-1200}
mkdir -p "$log_dir"
name=$(echo "$1" | tr '/' '_')
timeout -k 30 "$limit" "$@" 2>"$log_dir/$name.err" | tee "$log_dir/$name.tap"
rc=${PIPESTATUS[0]}
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	echo "not ok - $1 did not finish within $limit s (stopped)" | tee -a "$log_dir/$name.tap"
fi
exit "$rc"
