#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/rows.sh: the result table of the control-plane benchmarks (control.sh, fleet.sh),
# sourced. Rows are "figure value p99 unit target met" lines in $ROWS; rows_write prints
# them as a table and saves them as bench/results/NAME-DATE.md and .csv.

# row FIGURE VALUE P99 UNIT [TARGET OP LIMIT]: OP is <= or >= and is checked against VALUE
row() {
	local fig=$1 v=$2 p=$3 unit=$4 target=- met=-
	if [ $# -ge 6 ]; then
		target="$5 $6 $unit"
		if [ "$v" = FAILED ] || [ "$v" = - ]; then
			met=NO
		elif awk -v v="$v" -v op="$5" -v l="$6" 'BEGIN { exit !(op == "<=" ? v <= l : v >= l) }'; then
			met=yes
		else
			met=NO
		fi
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$fig" "$v" "$p" "$unit" "$target" "$met" >>"$ROWS"
}

# rows_write NAME TITLE: the header lines come from stdin (markdown), the rows from $ROWS
rows_write() {
	local md=bench/results/$1-$(date +%Y-%m-%d).md csv=bench/results/$1-$(date +%Y-%m-%d).csv
	mkdir -p bench/results
	{
		echo "# $2, $(date +%Y-%m-%d)"
		echo
		cat
		echo
		echo "| figure | value | p99 / detail | unit | target | met? |"
		echo "|---|---:|---:|---|---|---|"
		awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$ROWS"
		echo
		echo "Targets missed:"
		awk -F'\t' '$6 == "NO" { printf "- %s: %s %s (target %s)\n", $1, $2, $4, $5; n++ }
			END { if (!n) print "- none" }' "$ROWS"
	} >"$md"
	{
		echo "figure,value,p99,unit,target,met"
		awk -F'\t' '{ for (i = 1; i <= 6; i++) { gsub(/"/, "\"\"", $i); printf "\"%s\"%s", $i, i < 6 ? "," : "\n" } }' "$ROWS"
	} >"$csv"
	column -t -s $'\t' -N figure,value,p99,unit,target,met "$ROWS" 2>/dev/null || cat "$ROWS"
	echo "written $md and $csv" >&2
}
