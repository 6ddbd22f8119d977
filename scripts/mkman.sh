#!/bin/sh
# SPDX-License-Identifier: MIT
# mkman.sh BINARY "SUMMARY" > NAME.1: a daemon's man page made from its own --help and
# --version, so that the page says what the binary accepts (the build runs it; xdropctl's
# page comes from `xdropctl man`). The help's first paragraph (the usage lines) becomes
# SYNOPSIS, the paragraphs of option lines ("  -c, --config FILE  text") OPTIONS, the
# other paragraphs DESCRIPTION.
set -eu
bin=$1
summary=$2
name=$(basename "$bin")
version=$("$bin" --version | sed 's/^[^ ]* //')
"$bin" --help | awk -v name="$name" -v summary="$summary" -v version="$version" '
function esc(s) {
	gsub(/\\/, "\\e", s)
	gsub(/-/, "\\-", s)
	sub(/^[.\047]/, "\\\\&&", s)
	return s
}
# A paragraph of option lines: .TP, the option words in bold, then the text (kept in
# optb: OPTIONS comes after DESCRIPTION whatever the order of the paragraphs).
function opts(   i, l, words, text) {
	for (i = 1; i <= n; i++) {
		l = para[i]
		if (l ~ /^  +-/) {
			sub(/^ +/, "", l)
			words = l; text = ""
			if (match(l, /  +/)) {
				words = substr(l, 1, RSTART - 1)
				text = substr(l, RSTART + RLENGTH)
			}
			optb = optb ".TP\n\\fB" esc(words) "\\fR\n"
			if (text != "") optb = optb esc(text) "\n"
		} else {
			sub(/^ +/, "", l)
			optb = optb esc(l) "\n"
		}
	}
}
function flush(   i) {
	if (!n) return
	if (!seen_usage) {
		print ".SH SYNOPSIS"
		print ".nf"
		for (i = 1; i <= n; i++) {
			l = para[i]
			sub(/^usage: /, "", l)
			sub(/^ +/, "", l)
			print esc(l)
		}
		print ".fi"
		seen_usage = 1
	} else if (para[1] ~ /^  +-/) {
		opts()
	} else {
		if (!seen_desc) print ".SH DESCRIPTION"
		else print ".PP"
		seen_desc = 1
		for (i = 1; i <= n; i++) { l = para[i]; sub(/^ +/, "", l); print esc(l) }
	}
	n = 0
}
BEGIN {
	up = toupper(name)
	print ".TH " up " 1 \"\" \"XDrop " version "\" \"XDrop manual\""
	print ".SH NAME"
	print esc(name) " \\- " esc(summary)
}
/^$/ { flush(); next }
{ para[++n] = $0 }
END {
	flush()
	if (optb != "") printf ".SH OPTIONS\n%s", optb
	print ".SH \"SEE ALSO\""
	print "xdropctl(1), xdrop\\-controller(1), xdrop\\-agent(1), xdrop\\-gateway(1)"
}'
