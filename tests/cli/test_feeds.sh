#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/cli/test_feeds.sh: the feed workflow of xdropctl against a real xdrop-controller
# (its own SQLite database and ipc:// sockets in a temp dir, stopped by PID): rules import
# --source with --on-conflict fail|skip|replace and --dry-run (the diff printed, nothing
# written), rules sync-source replacing a feed's set in one revision (equal rules keep
# their ids), rules list --source, rules del --source/--search (count, --yes, refused
# without a terminal, y/N on one), CSV errors naming the file line and JSON errors the
# item; sets beyond one batch (12,000 rows) imported and synced as one change, a row refused
# at the commit storing nothing. Needs no root. Prints TAP.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/cli/lib.sh
cli_init feeds
count() { # count [list options...]: how many rules match
	ctl --json rules list --limit 1 "$@" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["pagination"]["total"])'
}
action_of() { # action_of NAME: the action of the rule named NAME
	ctl --json rules list --search "$1" | python3 -c '
import json, sys
print(" ".join(r["action"] for r in json.load(sys.stdin)["rules"] if r["name"] == sys.argv[1]))' "$1"
}
ids_of() { # ids_of SOURCE: "src_ip=id" lines, sorted
	ctl --json rules list --source "$1" --limit 1000 | python3 -c '
import json, sys
for r in json.load(sys.stdin)["rules"]:
    print("%s=%s" % (r.get("src_ip") or r.get("src_cidr"), r["id"]))' | sort
}

cli_ctrl_up

# ---- import --source: a feed from a CSV file ----
cat >"$TMP/feed1.csv" <<'CSV'
src_ip,action,name
192.0.2.1,drop,one
192.0.2.2,drop,two
192.0.2.3,drop,three
CSV
ctl rules add src_ip=198.51.100.7 action=drop name=manual >/dev/null
r0=$(revision)
out=$(ctl rules import "$TMP/feed1.csv" --source feed-x)
check "import --source: the summary says 3 added" \
	bash -c "[[ '$out' == *'3 added'* ]]"
expect_eq "import --source: one revision" "$(revision)" "$((r0 + 1))"
expect_eq "rules list --source feed-x: 3 rules" "$(count --source feed-x)" 3
expect_eq "rules list --source cli: the manual rule alone" "$(count --source cli)" 1

# ---- on-conflict ----
cat >"$TMP/feed2.csv" <<'CSV'
src_ip,action,name
192.0.2.3,pass,three-now-pass
192.0.2.4,drop,four
CSV
r1=$(revision)
ctl rules import "$TMP/feed2.csv" --source feed-x >"$TMP/out" 2>"$TMP/err"
rc=$?
check "on-conflict default fail: exit 6, the CSV line and the existing rule named" \
	bash -c "[ $rc = 6 ] && grep -q 'feed2.csv:2: the same match as rule .* of source \"feed-x\"' '$TMP/err'"
expect_eq "on-conflict fail: nothing written" "$(revision)" "$r1"
ctl rules import "$TMP/feed2.csv" --source feed-x --on-conflict bogus 2>/dev/null
check "--on-conflict bogus: usage error" [ $? = 2 ]

out=$(ctl rules import "$TMP/feed2.csv" --source feed-x --on-conflict skip --dry-run)
check "import --dry-run: the diff (to add 1, skipped 1), nothing written" \
	bash -c "[[ '$out' == *'dry run'* && '$out' == *'to add: 1'* && '$out' == *'+ 192.0.2.4 -> any drop'* && '$out' == *'skipped (the match exists already): 1'* && '$out' == *'to remove: 0'* ]]"
expect_eq "import --dry-run: the revision stays" "$(revision)" "$r1"
ctl rules import "$TMP/feed2.csv" --source feed-x --on-conflict skip >/dev/null
expect_eq "on-conflict skip: the new rule only (4 in the feed)" "$(count --source feed-x)" 4
expect_eq "on-conflict skip: the existing rule untouched (still drop)" "$(action_of three)" drop

before=$(ids_of feed-x | grep 192.0.2.3)
out=$(ctl rules import "$TMP/feed2.csv" --source feed-x --on-conflict replace)
check "on-conflict replace: 1 updated" bash -c "[[ '$out' == *'1 updated'* ]]"
expect_eq "on-conflict replace: the rule keeps its id" "$(ids_of feed-x | grep 192.0.2.3)" "$before"
expect_eq "on-conflict replace: the rule now passes" "$(action_of three-now-pass)" pass

# a rule of another source: replace takes it over, fail refuses
printf 'src_ip,action\n198.51.100.7,drop\n' >"$TMP/manual.csv"
ctl rules import "$TMP/manual.csv" --source feed-x 2>"$TMP/err"
check "a match held by another source: refused naming it" \
	bash -c "[ $? = 6 ] && grep -q 'of source \"cli\"' '$TMP/err'"
ctl rules sync-source feed-y "$TMP/manual.csv" 2>"$TMP/err"
check "sync-source (the controller finds it): refused naming the item and the other source" \
	bash -c "[ $? = 6 ] && grep -q 'rules\[0\]' '$TMP/err' && grep -q 'of source \"cli\"' '$TMP/err'"

# ---- sync-source: the set replaced atomically ----
cat >"$TMP/sync.json" <<'JSON'
{"rules": [
  {"src_ip": "192.0.2.1", "action": "drop", "name": "one"},
  {"src_ip": "192.0.2.2", "action": "rate_limit", "rate_limit": 100, "name": "two"},
  {"src_ip": "192.0.2.9", "action": "drop", "name": "nine"}
]}
JSON
keep=$(ids_of feed-x | grep '^192.0.2.1=')
r2=$(revision)
out=$(ctl rules sync-source feed-x "$TMP/sync.json" --dry-run)
check "sync-source --dry-run: to add 1, to update 1, to remove 2, unchanged 1" \
	bash -c "[[ '$out' == *'to add: 1'* && '$out' == *'to update: 1'* && '$out' == *'to remove: 2'* && '$out' == *'unchanged: 1'* && '$out' == *'- 192.0.2.4 -> any drop'* ]]"
expect_eq "sync-source --dry-run: nothing written" "$(revision)" "$r2"
out=$(ctl rules sync-source feed-x "$TMP/sync.json")
check "sync-source: 1 added, 1 updated, 2 removed, 1 unchanged" \
	bash -c "[[ '$out' == *'1 added, 1 updated, 2 removed, 1 unchanged'* ]]"
expect_eq "sync-source: the revision moves by exactly one" "$(revision)" "$((r2 + 1))"
expect_eq "sync-source: the feed is the file" \
	"$(ids_of feed-x | cut -d= -f1 | tr '\n' ' ')" "192.0.2.1 192.0.2.2 192.0.2.9 "
expect_eq "sync-source: an equal rule keeps its id" "$(ids_of feed-x | grep '^192.0.2.1=')" "$keep"
expect_eq "sync-source: other sources untouched" "$(count --source cli)" 1
ctl rules sync-source feed-x "$TMP/sync.json" >/dev/null
expect_eq "sync-source of the same file again: no new revision" "$(revision)" "$((r2 + 1))"

# ---- errors name the CSV line and the JSON item ----
printf 'src_ip,protocol,dst_port,action\n192.0.2.50,tcp,80,drop\n192.0.2.51,tcp,99999,drop\n' \
	>"$TMP/bad.csv"
ctl rules sync-source feed-x "$TMP/bad.csv" 2>"$TMP/err"
check "CSV: the error names the file line (bad.csv:3: dst_port)" \
	bash -c "[ $? = 3 ] && grep -q 'bad.csv:3: dst_port' '$TMP/err'"
printf 'src_ip,action\n192.0.2.60,drop\n\n192.0.2.61,explode\n' >"$TMP/bad2.csv"
ctl rules import "$TMP/bad2.csv" 2>"$TMP/err"
check "CSV (plain import): a blank line counted, the error on bad2.csv:4: action" \
	bash -c "[ $? = 3 ] && grep -q 'bad2.csv:4: action' '$TMP/err'"
printf 'src_ip,action\n192.0.2.70,drop\n192.0.2.70,drop\n' >"$TMP/dup.csv"
ctl rules sync-source feed-x "$TMP/dup.csv" 2>"$TMP/err"
check "CSV: a match given twice names both lines" \
	bash -c "[ $? = 3 ] && grep -q 'dup.csv:3: the same match as line 2' '$TMP/err'"
echo '[{"src_ip": "192.0.2.80", "action": "drop"}, {"src_ip": "192.0.2.300", "action": "drop"}]' \
	>"$TMP/bad.json"
ctl rules sync-source feed-x "$TMP/bad.json" 2>"$TMP/err"
check "JSON: the error names the item (rules[1].src_ip)" \
	bash -c "[ $? = 3 ] && grep -q 'rules\[1\].src_ip' '$TMP/err'"
expect_eq "refused files change nothing" "$(count --source feed-x)" 3

# ---- sets beyond one batch: staged, still one change (12,000 > --batch-size 10,000) ----
big_csv() { # FILE FIRST_OCTET [N]: N (12,000) drop rules from 100.FIRST.x.y
	awk -v n="${3:-12000}" -v f="$2" 'BEGIN { print "src_ip,action,name"
		for (i = 0; i < n; i++) printf "100.%d.%d.%d,drop,big-%d\n", f, int(i / 256), i % 256, i }' >"$1"
}
big_csv "$TMP/big.csv" 1
r5=$(revision)
n5=$(count)
out=$(ctl rules import "$TMP/big.csv")
expect_eq "import of 12,000 rows: one change (one revision)" "$(revision)" "$((r5 + 1))"
check "... the summary counts them all ($out)" bash -c "[[ '$out' == 'imported 12000 rules (revision $((r5 + 1)))' ]]"
expect_eq "... all stored" "$(count)" "$((n5 + 12000))"
big_csv "$TMP/big2.csv" 2
sed -i '11001s/.*/100.1.0.5,drop,collides/' "$TMP/big2.csv" # row 11,000 (rules[10999]) is stored
ctl rules import "$TMP/big2.csv" >/dev/null 2>"$TMP/err"
check "a row refused at the commit (a match stored already): exit 6, the item named" \
	bash -c "[ $? = 6 ] && grep -q 'field rules\[10999\]' '$TMP/err' && grep -q 'nothing was stored' '$TMP/err'"
expect_eq "... nothing stored, no revision" "$(revision)/$(count)" "$((r5 + 1))/$((n5 + 12000))"
big_csv "$TMP/feed-big.csv" 3
out=$(ctl rules sync-source feed-big "$TMP/feed-big.csv")
check "sync-source of 12,000: 12000 added ($out)" bash -c "[[ '$out' == *'12000 added, 0 updated, 0 removed'* ]]"
expect_eq "... in one revision" "$(revision)" "$((r5 + 2))"
sed -i '2,101s/^100\.3\./100.4./' "$TMP/feed-big.csv" # 100 rules leave, 100 arrive
out=$(ctl rules sync-source feed-big "$TMP/feed-big.csv")
check "a refresh of 12,000 with 100 changed: the diff ($out)" \
	bash -c "[[ '$out' == *'100 added, 0 updated, 100 removed, 11900 unchanged'* ]]"
expect_eq "... in one revision" "$(revision)" "$((r5 + 3))"
expect_eq "... the feed is the file" "$(count --source feed-big)" 12000

# ---- delete by source and by search ----
r3=$(revision)
ctl rules del --source feed-x </dev/null 2>"$TMP/err"
check "del --source without a terminal and without --yes: refused (exit 2) with the count" \
	bash -c "[ $? = 2 ] && grep -q 'not deleting 3 rules of source \"feed-x\"' '$TMP/err'"
expect_eq "refused delete: nothing written" "$(revision)" "$r3"
if command -v script >/dev/null; then
	echo n | script -qec "$CTL_BIN rules del --source feed-x" /dev/null >"$TMP/tty" 2>&1
	check "del --source on a terminal: asks with the count; n keeps them" \
		bash -c "grep -q 'delete 3 rules of source \"feed-x\"? \[y/N\]' '$TMP/tty' && [ \$('$CTL_BIN' --json rules list --source feed-x | grep -c '\"id\"') = 3 ]"
fi
out=$(ctl rules del --source feed-x --yes)
expect_eq "del --source --yes: the count" "$out" "deleted 3 rules of source feed-x"
expect_eq "del --source: one revision" "$(revision)" "$((r3 + 1))"
expect_eq "del --source: the feed is empty" "$(count --source feed-x)" 0
ctl rules add src_ip=203.0.113.1 action=drop name=needle-a >/dev/null
ctl rules add src_ip=203.0.113.2 action=drop name=needle-b >/dev/null
r4=$(revision)
ctl rules del --search needle </dev/null 2>"$TMP/err"
check "del --search without --yes: refused" bash -c "[ $? = 2 ] && grep -q 'not deleting 2 rules' '$TMP/err'"
out=$(ctl rules del --search needle --yes)
expect_eq "del --search --yes: the count" "$out" 'deleted 2 rules matching "needle"'
expect_eq "del --search: one revision" "$(revision)" "$((r4 + 1))"
ctl rules del --source a --search b 2>/dev/null
check "del --source and --search together: usage error" [ $? = 2 ]
ctl whitelist import "$TMP/feed1.csv" --source x 2>/dev/null
check "whitelist import --source: refused (rules only)" [ $? = 2 ]

tap_done
