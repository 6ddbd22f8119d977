#!/bin/bash
# SPDX-License-Identifier: MIT
# i18n suite: the web UI's five languages are complete (the keys and {placeholders} of
# en.js, nothing empty or left in English beyond listed tokens), the browser's language
# picks one, numbers and times follow it; in node, no browser (tests/ui/i18n_test.mjs).
set -u
cd "$(dirname "$0")/../.." || exit 1
command -v node >/dev/null || {
	echo "1..0 # SKIP needs node"
	exit 0
}
exec node tests/ui/i18n_test.mjs
