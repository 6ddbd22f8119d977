#!/bin/sh
# SPDX-License-Identifier: MIT
# prove --exec wrapper: runs one suite and keeps its TAP under build/test-logs so the
# summary line can count assertions across every suite.
set -u
log_dir=${XDROP_TEST_LOGS:-build/test-logs}
mkdir -p "$log_dir"
name=$(echo "$1" | tr '/' '_')
"$@" 2>"$log_dir/$name.err" | tee "$log_dir/$name.tap"
rc=$?
exit $rc
