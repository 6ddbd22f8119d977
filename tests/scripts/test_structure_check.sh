#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/scripts/test_structure_check.sh: scripts/structure-check on small made-up trees.
# A tree with a 1,001-line file, a 151-line function and an include cycle (a .c/.h pair
# and a folder module) must fail and name each; the same tree without them must pass;
# --list and STRUCTURE_CHECK_LIST=1 print the findings but exit 0.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
SC=$PWD/scripts/structure-check
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# A clean tree: a pair, a folder module, a header in bpf/ found through the -I list, a
# 1,000-line shell script and a 150-line function (both at the limit, so allowed).
clean_tree() { # dir
	local d=$1 i
	mkdir -p "$d/lib" "$d/bpf" "$d/agent/dataplane" "$d/scripts" "$d/build/gen"
	printf '#include "abi.h"\nint a(void);\n' >"$d/lib/a.h"
	printf '#include "a.h"\n#include "b.h"\n#include <stdio.h>\n' >"$d/lib/a.c"
	printf 'int b(void);\n' >"$d/lib/b.h"
	printf '#define ABI 1\n' >"$d/bpf/abi.h"
	printf '#include "a.h"\nint dp(void);\n' >"$d/agent/dataplane/dp.h"
	printf '#include "dp.h"\n#include "gen.pb-c.h"\n' >"$d/agent/dataplane/dp_txn.c"
	printf '#include "dp.h"\n' >"$d/agent/main.c"
	printf '#include "a.h"\n' >"$d/build/gen/gen.pb-c.h"
	for i in $(seq 1000); do echo ": $i"; done >"$d/scripts/long.sh"
	{
		printf 'int fits(void)\n{\n'
		for i in $(seq 148); do echo "	x($i);"; done
		printf '}\n'
	} >>"$d/lib/a.c"
	# Generated code may be as long as it likes.
	for i in $(seq 1200); do echo "/* $i */"; done >>"$d/build/gen/gen.pb-c.h"
}

clean_tree "$TMP/clean"
out=$("$SC" --root "$TMP/clean" 2>&1)
rc=$?
check "a clean tree passes (exit 0)" [ "$rc" -eq 0 ]
check "a clean tree says what was checked and that it passed" \
	grep -q 'file size: .*pass' <<<"$out"
check "a clean tree: function sizes and include cycles pass" \
	bash -c 'grep -q "function size: .*pass" <<<"$1" && grep -q "include cycles: .*pass" <<<"$1"' _ "$out"
[ "$rc" -eq 0 ] || diag "$out"

cp -r "$TMP/clean" "$TMP/bad"
echo ": one more" >>"$TMP/bad/scripts/long.sh"
{
	printf 'static int\ntoo_long(int x)\n{\n'
	for i in $(seq 149); do echo "	x($i);"; done
	printf '}\n'
} >>"$TMP/bad/lib/b.c"
# Cycle through a pair and a folder: lib/b -> agent/dataplane/ -> lib/a -> lib/b already
# exists one way (a.c includes b.h); b.c closes it through the folder module.
printf '#include "dataplane/dp.h"\n' >>"$TMP/bad/lib/b.c"
out=$("$SC" --root "$TMP/bad" 2>&1)
rc=$?
check "a tree with problems fails (exit 1)" [ "$rc" -eq 1 ]
check "the 1,001-line file is named" grep -q 'scripts/long.sh: 1001 lines' <<<"$out"
check "the 151-line function is named with its file and line" \
	grep -q 'lib/b.c:2: function too_long() is 151 lines' <<<"$out"
check "the include cycle is reported with its path" \
	bash -c 'l=$(grep "include cycle:" <<<"$1") && [[ $l == *lib/a* && $l == *lib/b* && $l == *agent/dataplane/* ]]' _ "$out"
check "each step of the cycle names its include line" \
	grep -q 'lib/b.c:[0-9]* includes "dataplane/dp.h"' <<<"$out"
check "the function at the limit and generated code are not reported" \
	bash -c '! grep -Eq "fits\(\)|gen.pb-c.h:" <<<"$1"' _ "$out"
sed 's/^/# /' <<<"$out"

"$SC" --root "$TMP/bad" --list >/dev/null 2>&1
check "--list prints only: exit 0" [ $? -eq 0 ]
STRUCTURE_CHECK_LIST=1 "$SC" --root "$TMP/bad" >/dev/null 2>&1
check "STRUCTURE_CHECK_LIST=1 prints only: exit 0" [ $? -eq 0 ]

# A .c/.h pair's parts (foo_*.c) are one module with it: a cycle through one is found.
mkdir -p "$TMP/parts/lib"
printf '#include "w.h"\n' >"$TMP/parts/lib/r_client.c"
printf 'int r(void);\n' >"$TMP/parts/lib/r.h"
printf 'int w(void);\n' >"$TMP/parts/lib/w.h"
printf '#include "r.h"\n' >"$TMP/parts/lib/w.c"
out=$("$SC" --root "$TMP/parts" 2>&1)
check "a cycle through a module's part file (r_client.c -> w -> r) is found" \
	grep -Eq 'include cycle: lib/r -> lib/w -> lib/r' <<<"$out"

echo "1..$T"
[ "$FAILED" -eq 0 ]
