#!/bin/bash
# SPDX-License-Identifier: MIT
# webui lib suite: the web UI's formatters and data functions (bps units, exclusive chart
# categories, gaps as nulls, top-talker block rules, node staleness) run in node, no browser
# (tests/ui/webui_lib_test.mjs prints the TAP).
set -u
cd "$(dirname "$0")/../.." || exit 1
command -v node >/dev/null || {
	echo "1..0 # SKIP needs node"
	exit 0
}
exec node tests/ui/webui_lib_test.mjs
