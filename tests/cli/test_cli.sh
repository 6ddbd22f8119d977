#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/cli/test_cli.sh: xdropctl against real xdrop-controller daemons, each with its
# SQLite database and sockets in a temp dir, stopped by PID. The first listens on ipc://
# sockets: `stats --watch` prints a sample per interval until SIGINT; options may come
# after the command's arguments (`rules import FILE --format csv`, `rules list --search X
# --json`) and between them, and "--" ends them; --format decides the file format over
# the file name; subcommands refuse options they do not take. The second serves RPC on
# tls+tcp:// with require_client_cert (certificates made with openssl, as tests/rpc/tls.sh
# does): xdropctl is refused without a client certificate or with one from another CA, and
# connects with --cert/--cert-key or $XDROP_CERT/$XDROP_CERT_KEY. Needs no root. Prints TAP.
set -u
cd "$(dirname "$0")/../.." || exit 1
CTRL_BIN=${CTRL_BIN:-build/bin/xdrop-controller}
CTL_BIN=${CTL_BIN:-build/bin/xdropctl}
ADMIN_KEY=admin-key-0123456789abcdef
echo "TAP version 13"
for b in "$CTRL_BIN" "$CTL_BIN"; do
	if [ ! -x "$b" ]; then
		echo "1..0 # SKIP $b not built"
		exit 0
	fi
done
TMP=$(mktemp -d /tmp/xdrop-cli.XXXXXX)
PIDS=()
. "$(dirname "${BASH_SOURCE[0]}")/../lib/tap.sh"

# stop PID: SIGTERM, then SIGKILL if it is still there after 15 s (daemons end within 10 s).
stop() {
	kill -TERM "$1" 2>/dev/null || return 0
	for _ in $(seq 150); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null && diag "pid $1 ignored SIGTERM for 15 s: killed"
	wait "$1" 2>/dev/null
}
down() {
	for p in "${PIDS[@]}"; do stop "$p"; done
	rm -rf "$TMP"
}
trap down EXIT

# ctl ARGS...: xdropctl, never longer than 30 s whatever happens.
ctl() { timeout 30 "$CTL_BIN" "$@"; }

# start_ctrl NAME RPC_URL [YAML lines]: starts a controller (its own database and ipc://
# push and health sockets) and waits until xdropctl ping, with $PING_OPTS, answers.
start_ctrl() {
	local name=$1 url=$2
	shift 2
	{
		echo "database: $TMP/$name.db"
		echo "log_level: warn"
		echo "rpc: {listen: \"$url\"}"
		echo "push: {listen: \"ipc://$TMP/$name-push.sock\"}"
		echo "health: {listen: \"ipc://$TMP/$name-health.sock\"}"
		echo "keys: {admin_key: $ADMIN_KEY}"
		printf '%s\n' "$@"
	} >"$TMP/$name.yaml"
	"$CTRL_BIN" --config "$TMP/$name.yaml" 2>"$TMP/$name.log" &
	PIDS+=($!)
	for _ in $(seq 100); do
		# shellcheck disable=SC2086
		ctl -q --timeout 500 -u "$url" ${PING_OPTS:-} ping 2>/dev/null && return 0
		sleep 0.1
	done
	diag "controller $name did not start:"
	sed 's/^/# /' "$TMP/$name.log"
	return 1
}

# ---- a controller on ipc:// ----
URL=ipc://$TMP/rpc.sock
start_ctrl plain "$URL" || { echo "Bail out! controller did not start"; exit 1; }
export XDROP_URL=$URL XDROP_KEY=$ADMIN_KEY

# ---- stats --watch (the option right after `stats` used to be skipped) ----
# watch_run PATTERN FILE ARGS...: runs xdropctl ARGS in the background until FILE holds 2
# lines matching PATTERN (15 s at most), then sends SIGINT and waits for the exit (10 s at
# most, then SIGKILL). Sets N (lines seen), MS (ms from the start to the second line, or
# to giving up) and RC (exit status).
watch_run() {
	local pat=$1 out=$2 pid t0
	shift 2
	t0=$(date +%s%N)
	"$CTL_BIN" "$@" >"$out" 2>"$TMP/watch.err" &
	pid=$!
	for _ in $(seq 150); do
		[ "$(grep -c -- "$pat" "$out")" -ge 2 ] && break
		sleep 0.1
	done
	MS=$((($(date +%s%N) - t0) / 1000000))
	kill -INT "$pid" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null && diag "xdropctl $* ignored SIGINT for 10 s: killed"
	wait "$pid"
	RC=$?
	N=$(grep -c -- "$pat" "$out")
}
watch_run '^(total)' "$TMP/w1" stats --watch 2
check "stats --watch 2: a second sample after 2 s ($N samples, 2nd at $MS ms), exit 0 on SIGINT (got $RC)" \
	bash -c "[ $RC = 0 ] && [ $N -ge 2 ] && [ $MS -ge 2000 ]"
check "stats --watch into a file: no terminal escape codes" bash -c "! grep -q $'\033' '$TMP/w1'"
watch_run '^{' "$TMP/w2" --json stats --watch=1
check "--json stats --watch=1: one stats object per line ($N lines, 2nd at $MS ms), exit 0 (got $RC)" \
	python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert sys.argv[2] == "0" and len(lines) >= 2 and int(sys.argv[3]) >= 1000, sys.argv[2:]
for l in lines:
    d = json.loads(l)
    assert "rules_count" in d and "total_packets" in d, d' "$TMP/w2" "$RC" "$MS"
watch_run '^(total)' "$TMP/w3" stats --watch
check "stats --watch without SECONDS: every second ($N samples, 2nd at $MS ms), exit 0 (got $RC)" \
	bash -c "[ $RC = 0 ] && [ $N -ge 2 ] && [ $MS -ge 1000 ]"
timeout 10 "$CTL_BIN" stats >"$TMP/w4"
RC=$?
n=$(grep -c '^(total)' "$TMP/w4")
check "stats without --watch prints once and exits by itself" bash -c "[ $RC = 0 ] && [ $n = 1 ]"
ctl stats --watch 0 2>/dev/null
check "stats --watch 0: usage error (exit 2)" [ $? = 2 ]
ctl stats --watch 2 extra 2>/dev/null
check "stats with an argument: usage error (exit 2)" [ $? = 2 ]
ctl stats --page 2 2>"$TMP/err"
check "stats --page: refused as an option stats does not take (exit 2)" \
	bash -c "[ $? = 2 ] && grep -q 'stats does not take --page' '$TMP/err'"

# ---- options after positional arguments ----
printf 'name,dst_ip,action\nbad-one,192.0.2.1,drop\nbad-two,192.0.2.2,drop\n' >"$TMP/rules.txt"
ctl -q rules import "$TMP/rules.txt" --format csv
check "rules import FILE --format csv (a .txt file read as CSV)" [ $? = 0 ]
ctl -q rules add name=good dst_ip=192.0.2.9 action=drop
out=$(ctl rules list --search bad --json)
check "rules list --search bad --json: JSON with just the 2 matching rules (exit $?)" \
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert sorted(r["name"] for r in d["rules"]) == ["bad-one", "bad-two"], d' "$out"
out=$(ctl rules list --json --limit 1 --sort name)
check "rules list with options in any order (--json --limit 1 --sort name)" \
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert [r["name"] for r in d["rules"]] == ["bad-one"], d' "$out"
IDS=$(ctl --json rules list --search bad | python3 -c 'import json,sys; print(" ".join(r["id"] for r in json.load(sys.stdin)["rules"]))')
# shellcheck disable=SC2086
set -- $IDS
out=$(ctl rules del "$1" --quiet "$2")
check "rules del ID --quiet ID: an option between arguments (both deleted, nothing printed)" \
	bash -c "[ $? = 0 ] && [ -z '$out' ] && [ \"\$('$CTL_BIN' --json rules list --search bad | python3 -c 'import json,sys; print(len(json.load(sys.stdin)[\"rules\"]))')\" = 0 ]"
ctl rules get -- --json >"$TMP/out" 2>/dev/null
check "\"--\" ends the options: rules get -- --json looks up the id --json (exit 4)" \
	bash -c "[ $? = 4 ] && [ ! -s '$TMP/out' ]"
printf 'name,src_cidr\nlab,198.51.100.0/24\n' >"$TMP/wl.txt"
ctl -q whitelist import "$TMP/wl.txt" --format csv
check "whitelist import FILE --format csv" [ $? = 0 ]
out=$(ctl wl list --search lab --json)
check "wl list --search lab --json" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert [e["src_cidr"] for e in d["entries"]] == ["198.51.100.0/24"], d' "$out"
out=$(ctl keys list --json)
check "keys list --json (a global option after the command)" \
	python3 -c 'import json,sys; assert json.loads(sys.argv[1])["keys"]' "$out"
out=$(ctl nodes list --json)
check "nodes list --json" python3 -c 'import json,sys; json.loads(sys.argv[1])' "$out"
ctl rules top --limit 3 --json >"$TMP/out"
check "rules top --limit 3 --json" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMP/out"
ctl rules list --format csv 2>"$TMP/err"
check "rules list --format: refused, not ignored (exit 2)" \
	bash -c "[ $? = 2 ] && grep -q 'rules list does not take --format' '$TMP/err'"
ctl wl list --enabled true 2>/dev/null
check "whitelist list --enabled: refused (exit 2)" [ $? = 2 ]
ctl nodes list --watch 2>/dev/null
check "nodes list --watch: refused (exit 2)" [ $? = 2 ]
ctl rules list --limit ten 2>/dev/null
check "rules list --limit ten: usage error (exit 2)" [ $? = 2 ]
ctl rules list --bogus 2>/dev/null
check "an unknown option after the command: usage error (exit 2)" [ $? = 2 ]

# ---- --format decides, the file name only without it ----
ctl rules export "$TMP/by-name.csv"
check "rules export FILE.csv without --format: CSV" \
	bash -c "head -1 '$TMP/by-name.csv' | grep -q '^id,name,'"
ctl rules export "$TMP/forced.csv" --format json
check "rules export FILE.csv --format json: JSON (--format wins)" \
	python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["count"] == 1' "$TMP/forced.csv"
ctl rules export "$TMP/forced.json" --format csv
check "rules export FILE.json --format csv: CSV" \
	bash -c "head -1 '$TMP/forced.json' | grep -q '^id,name,'"
ctl -q rules del "$(ctl --json rules list | python3 -c 'import json,sys; print(json.load(sys.stdin)["rules"][0]["id"])')"
ctl -q rules import "$TMP/forced.csv" --format json
check "rules import FILE.csv --format json: read as JSON" [ $? = 0 ]
check "help rules import says what --format decides" \
	bash -c "'$CTL_BIN' help rules import | grep -q -- '--format json|csv  *file format'"

# ---- help per command, from the command table ----
# Every command of the table (`completion commands`) prints its own usage and exits 0, and
# its help names every subcommand option it accepts: an option is accepted when xdropctl
# does not refuse it ("does not take"), tried against an address where nothing listens.
SUBOPTS=(--page=1 --limit=1 --search=x --enabled=true --action=drop --sort=name --order=asc
	--format=json --watch=1 --by=src --verdict=dropped --window=10s --node=x)
mapfile -t CMDS < <(ctl completion commands)
check "the command table lists the commands (${#CMDS[@]}, rules add and nodes add among them)" \
	bash -c "[ ${#CMDS[@]} -ge 25 ] && printf '%s\n' \"\$@\" | grep -qx 'rules add' &&
		printf '%s\n' \"\$@\" | grep -qx 'nodes add'" _ "${CMDS[@]}"
bad=""
for cmd in "${CMDS[@]}"; do
	# shellcheck disable=SC2086
	help=$(ctl help $cmd) || bad="$bad [$cmd: help exit $?]"
	# shellcheck disable=SC2086
	[ "$help" = "$(ctl $cmd --help)" ] || bad="$bad [$cmd: --help differs from help]"
	head -1 <<<"$help" | grep -q "^usage: xdropctl $cmd\b" || bad="$bad [$cmd: usage line]"
	for o in "${SUBOPTS[@]}"; do
		# shellcheck disable=SC2086
		ctl -u "ipc://$TMP/nothing.sock" --timeout 200 $cmd "$o" </dev/null >/dev/null \
			2>"$TMP/err"
		grep -q 'does not take' "$TMP/err" && continue
		grep -q -- "${o%%=*} " <<<"$help" || bad="$bad [$cmd takes ${o%%=*}; its help omits it]"
	done
done
check "every command's help: its usage only, exit 0, every option it takes${bad:+:$bad}" \
	[ -z "$bad" ]
ctl help nodes add >"$TMP/out"
check "help nodes add names id= (and name=, address=, comment=)" \
	bash -c "grep -q 'id=ID' '$TMP/out' && grep -q 'name=NAME address=URL' '$TMP/out' &&
		grep -q 'comment=TEXT' '$TMP/out'"
ctl rules --help >"$TMP/out"
check "rules --help: the rules group only (each subcommand, none of the other groups)" \
	bash -c "grep -q '^usage: xdropctl rules SUBCOMMAND' '$TMP/out' &&
		for s in list get add update del top import sync-source export; do
			grep -q \"^  xdropctl rules \$s\" '$TMP/out' || exit 1; done &&
		! grep -q 'xdropctl nodes\|xdropctl keys' '$TMP/out'"
check "help whitelist list: no --enabled or --action (the whitelist has neither)" \
	bash -c "ctl() { timeout 30 '$CTL_BIN' \"\$@\"; }; ctl help whitelist list | grep -q -- '--search' &&
		! ctl help wl list | grep -q -- '--enabled\|--action'"
ctl --help >"$TMP/out"
check "--help: the overview (every group on one line, the global options), 60 lines at most" \
	bash -c "[ \$(wc -l <'$TMP/out') -le 60 ] && grep -Eq '^    rules +drop' '$TMP/out' &&
		grep -q -- '-o, --output' '$TMP/out' && ! grep -q -- '--page' '$TMP/out'"
ctl rules bogus 2>"$TMP/err"
check "an unknown subcommand: exit 2 and a pointer to xdropctl help rules" \
	bash -c "[ $? = 2 ] && grep -q 'see xdropctl help rules' '$TMP/err'"
ctl rules list --format json 2>"$TMP/err"
check "an option the command does not take: points to xdropctl help rules list" \
	grep -q 'see xdropctl help rules list' "$TMP/err"
ctl help bogus 2>/dev/null
check "help of an unknown command: exit 2" [ $? = 2 ]
check "--help after a command's arguments: that command's help" \
	bash -c "[ \"\$('$CTL_BIN' rules add name=x action=drop --help)\" = \"\$('$CTL_BIN' help rules add)\" ]"

# ---- --version of the four programs ----
INFO_VERSION=$(ctl --json info | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
for b in "$CTL_BIN" "$CTRL_BIN" build/bin/xdrop-agent build/bin/xdrop-gateway; do
	if [ ! -x "$b" ]; then
		ok "# SKIP $b not built"
		continue
	fi
	out=$(timeout 10 "$b" --version)
	expect_eq "$(basename "$b") --version: NAME and the version info reports (exit $?)" \
		"$out" "$(basename "$b") $INFO_VERSION"
done

# ---- output formats ----
ctl -q rules add name="attack range 192.0.2.64/26" src_cidr=192.0.2.64/26 action=drop \
	comment="edge, west" expires_in=1h
ctl -q rules add name="attack range 192.0.2.0/24" src_cidr=192.0.2.0/24 action=drop
LONG="a rule name far longer than thirty-two characters, ending in 7"
ctl -q rules add name="$LONG" dst_ip=192.0.2.77 action=drop
ctl rules list --search attack >"$TMP/out"
check "table: two names that differ late print whole, and differently" \
	bash -c "grep -q ' attack range 192\.0\.2\.64/26 ' '$TMP/out' &&
		grep -q ' attack range 192\.0\.2\.0/24 ' '$TMP/out'"
ctl rules list --search thirty >"$TMP/out"
check "table: a longer name is cut to 32 characters ending in …" \
	grep -q " a rule name far longer than thi…  " "$TMP/out"
ctl rules list --search thirty -o wide >"$TMP/out"
check "-o wide: nothing cut, and the SOURCE and EXPIRES columns" \
	bash -c "grep -qF ' $LONG ' '$TMP/out' && ! grep -q '…' '$TMP/out' &&
		head -1 '$TMP/out' | grep -q 'SOURCE  EXPIRES'"
ctl rules list --search attack -o wide >"$TMP/out"
check "-o wide: the expiry with the time left, and the source" \
	grep -Eq "attack range 192\.0\.2\.64/26 .* cli +[0-9-]{10} [0-9:]{8} \((in 59m [0-9]+s|in 1h 0m)\)" "$TMP/out"
ctl rules list --search attack -o csv >"$TMP/out"
check "-o csv: a header row and one row per rule, every cell whole, commas quoted" python3 -c '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert sorted(r["name"] for r in rows) == ["attack range 192.0.2.0/24", "attack range 192.0.2.64/26"], rows
assert all(r["source"] == "cli" and r["action"] == "drop" for r in rows), rows
assert next(r for r in rows if r["name"].endswith("64/26"))["expires"].endswith(")"), rows' "$TMP/out"
ctl rules list --search attack -o csv --no-headers >"$TMP/out"
check "-o csv --no-headers: just the two rows" \
	bash -c "[ \$(wc -l <'$TMP/out') = 2 ] && ! grep -q '^id,' '$TMP/out'"
ctl rules list --search attack --no-headers >"$TMP/out"
check "--no-headers: the table's rows only (no header, no page line)" \
	bash -c "[ \$(wc -l <'$TMP/out') = 2 ] && ! grep -q 'ID\|page' '$TMP/out'"
check "-o json is --json" \
	bash -c "[ \"\$('$CTL_BIN' rules list --search attack -o json)\" = \"\$('$CTL_BIN' rules list --search attack --json)\" ]"
check "-j is --json too" \
	bash -c "[ \"\$('$CTL_BIN' -j rules list --search attack)\" = \"\$('$CTL_BIN' rules list --search attack --json)\" ]"
ctl stats -o csv 2>"$TMP/err"
check "stats -o csv: refused (exit 2), not printed as a table" \
	bash -c "[ $? = 2 ] && grep -q 'stats prints -o table or -o json' '$TMP/err'"
ctl rules list -o yaml 2>"$TMP/err"
check "-o yaml: usage error naming the formats" \
	bash -c "[ $? = 2 ] && grep -q 'table, wide, json or csv' '$TMP/err'"
ctl keys list >"$TMP/out"
check "keys list: created and last used (the key in use: just now)" \
	grep -Eq "^bootstrap +.* admin +[0-9-]{10} [0-9:]{8} +[0-9-]{10} [0-9:]{8}$" "$TMP/out"
ctl -q keys add unused read_only >/dev/null
check "keys list: a key never used says never" \
	bash -c "'$CTL_BIN' keys list | grep -Eq '^[^ ]+ +unused +read_only +[0-9-]{10} [0-9:]{8} +never$'"
ctl wl list --search lab >"$TMP/out"
check "whitelist list: absent fields print any, as rules list does" \
	grep -Eq " 198\.51\.100\.0/24 +any +any +any +any " "$TMP/out"

# ---- rules get: the detail view ----
RID=$(ctl rules list --search 64/26 -o csv --no-headers | cut -d, -f1)
ctl rules get "$RID" >"$TMP/out"
check "rules get: a field per line (comment, expiry with the time left, source, times, counters)" \
	python3 -c '
import re, sys
t = open(sys.argv[1]).read()
f = dict(re.match(r"([a-z_ ]+): +(.*)$", l).groups() for l in t.splitlines())
want = {"id": sys.argv[2], "name": "attack range 192.0.2.64/26", "src": "192.0.2.64/26",
        "dst": "any", "action": "drop", "enabled": "yes", "comment": "edge, west",
        "source": "cli", "matches": "0 (0.0 pkt/s)", "drops": "0 (0.0 pkt/s)"}
for k, v in want.items():
    assert f.get(k) == v, (k, f.get(k), t)
assert re.fullmatch(r"[0-9-]{10} [0-9:]{8} \((in 59m \d+s|in 1h 0m)\)", f["expires"]), t
for k in ("created", "updated"):
    assert re.fullmatch(r"[0-9-]{10} [0-9:]{8}", f[k]), (k, t)
assert f["bytes"].startswith("0 B matched, 0 B dropped"), t' "$TMP/out" "$RID"

# ---- shell completion and man pages, printed from the same tables ----
check "bash loads the completion script" \
	bash -c "source <('$CTL_BIN' completion bash) && complete -p xdropctl | grep -q '_xdropctl xdropctl$'"
# complete WORDS...: what the bash completion offers for the last word
complete_words() {
	bash -c 'source <("$0" completion bash); COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_xdropctl; printf "%s\n" "${COMPREPLY[@]}"' "$CTL_BIN" "$@"
}
expect_eq "bash: xdropctl ru<TAB> completes rules" "$(complete_words xdropctl ru)" "rules"
expect_eq "bash: xdropctl rules im<TAB> completes import" \
	"$(complete_words xdropctl rules im)" "import"
expect_eq "bash: xdropctl -u URL wl l<TAB>: an option's value is not the command" \
	"$(complete_words xdropctl -u ipc:///x wl l)" "list"
expect_eq "bash: xdropctl rules list --ac<TAB>: that command's option" \
	"$(complete_words xdropctl rules list --ac)" "--action"
expect_eq "bash: xdropctl -o <TAB>: the formats" "$(complete_words xdropctl -o '' | tr '\n' ' ')" \
	"table wide json csv "
expect_eq "bash: xdropctl stats --w<TAB>" "$(complete_words xdropctl stats --w)" "--watch"
expect_eq "bash: xdropctl wl --so<TAB>: the options of the default subcommand, list" \
	"$(complete_words xdropctl wl --so)" "--sort"
check "bash: every command of the table is completed" bash -c '
	for cmd in "${@:2}"; do
		set -- $cmd
		out=$(bash -c "source <(\"$0\" completion bash); COMP_WORDS=(xdropctl $1 ${2:+${2:0:2}}); COMP_CWORD=\${#COMP_WORDS[@]}; COMP_CWORD=\$((COMP_CWORD - 1)); _xdropctl; printf \"%s\n\" \"\${COMPREPLY[@]}\"" "$0")
		grep -qx "${2:-$1}" <<<"$out" || [ -z "$2" ] || { echo "$cmd: $out"; exit 1; }
	done' "$CTL_BIN" "${CMDS[@]}"
# zcomplete WORDS...: what the zsh completion offers for the last word, compadd and
# _describe replaced by functions that print their words (zsh filters by the prefix)
zcomplete() {
	zsh -c 'compadd() { shift; print -l -- "$@" }
		_describe() { local -a arr; arr=("${(@P)2}"); print -l -- ${arr%%:*} }
		_files() { print FILES }
		bin=$1; shift; words=("$@"); CURRENT=$#; PREFIX=${@[-1]}
		source <("$bin" completion zsh)' zsh "$CTL_BIN" "$@" | tr '\n' ' '
}
if command -v zsh >/dev/null; then
	check "zsh parses the completion script" zsh -n <("$CTL_BIN" completion zsh)
	check "zsh: xdropctl <TAB> offers the commands" \
		bash -c "grep -q '^rules whitelist stats top nodes keys' <<<'$(zcomplete xdropctl '')'"
	expect_eq "zsh: xdropctl -u URL rules <TAB> offers its subcommands" \
		"$(zcomplete xdropctl -u ipc:///x rules '')" "list get add update del top import sync-source export "
	expect_eq "zsh: xdropctl -o <TAB> offers the formats" "$(zcomplete xdropctl -o '')" \
		"table wide json csv "
	check "zsh: xdropctl top --<TAB> offers top's options" \
		bash -c "grep -q -- '--by --verdict --window --node' <<<'$(zcomplete xdropctl top --)'"
else
	ok "# SKIP zsh not installed"
fi
check "the build's completion scripts are what xdropctl prints" \
	bash -c "cmp -s build/completion/xdropctl <('$CTL_BIN' completion bash) &&
		cmp -s build/completion/_xdropctl <('$CTL_BIN' completion zsh)"
if command -v man >/dev/null; then
	for p in xdropctl xdrop-controller xdrop-agent xdrop-gateway; do
		page=build/man/$p.1
		if [ ! -f "$page" ]; then
			ok "# SKIP $page not built"
			continue
		fi
		warn=$(MANWIDTH=80 man -l --warnings "$page" 2>&1 >/dev/null)
		check "man -l $p.1: renders without warnings${warn:+: $warn}" \
			bash -c "[ -z '$warn' ] && MANWIDTH=80 man -l '$page' 2>/dev/null |
				grep -q '^NAME' && MANWIDTH=80 man -l '$page' | grep -q -- '--version'"
	done
	MANWIDTH=200 man -l build/man/xdropctl.1 2>/dev/null >"$TMP/man"
	bad=""
	for cmd in "${CMDS[@]}"; do grep -q "^   xdropctl $cmd\b" "$TMP/man" || bad="$bad [$cmd]"; done
	check "xdropctl.1: a section for every command of the table${bad:+, missing:$bad}" [ -z "$bad" ]
else
	ok "# SKIP man not installed"
fi

# ---- top: argument checks, then figures from a fake agent through the controller ----
FAKE_BIN=${FAKE_BIN:-build/bin/xdrop-fake-agent}
for bad in "--by source" "--verdict blocked" "--window 30s" "--limit 0" "--limit 101" \
	"--sort name" "extra"; do
	# shellcheck disable=SC2086
	ctl top $bad 2>"$TMP/err" >"$TMP/out"
	check "top $bad: usage error (exit 2) naming the problem, nothing printed" \
		bash -c "[ $? = 2 ] && [ -s '$TMP/err' ] && [ ! -s '$TMP/out' ]"
done
ctl top --window 30s 2>"$TMP/err"
check "top --window 30s says 10s, 1m or 5m" grep -q -- '--window: 10s, 1m or 5m' "$TMP/err"
ctl stats --by src 2>"$TMP/err"
check "stats --by: refused as an option stats does not take (exit 2)" \
	bash -c "[ $? = 2 ] && grep -q 'stats does not take --by' '$TMP/err'"
ctl top --node no-such-node 2>"$TMP/err"
check "top --node with an unknown node: not found (exit 4)" [ $? = 4 ]
ctl -q rules add id=cli-hit name=hit dst_ip=192.0.2.40 action=pass
ctl -q wl add id=cli-wl src_ip=198.51.100.40
ctl nodes add name=fake1 address="ipc://$TMP/fake1.sock" >"$TMP/node"
FAKE_ID=$(sed -n 's/^node \(.*\) added$/\1/p' "$TMP/node")
FAKE_KEY=$(sed -n 's/^node key (shown once): //p' "$TMP/node")
read -r REV HASH < <(ctl --json info | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["revision"], d["content_hash"])')
"$FAKE_BIN" "ipc://$TMP/plain-health.sock" "ipc://$TMP/fake1.sock" "$FAKE_ID" "$FAKE_KEY" \
	"$REV" "$HASH" cli-hit cli-wl 2>"$TMP/fake.log" &
FAKE_PID=$!
PIDS+=("$FAKE_PID")
node_is() { ctl nodes list | grep "^$FAKE_ID " | grep -q -- "$1"; }
check "nodes list: the fake agent's node online, filtering active, figures current" \
	wait_until 20 bash -c "$(declare -f ctl node_is); CTL_BIN=$CTL_BIN FAKE_ID=$FAKE_ID; \
		node_is ' online  *active ' && node_is ' current\$'"
ctl top >"$TMP/out"
check "top: a table, heaviest first, with packets, human bit/s and share" \
	bash -c "grep -q '^top sources, dropped, last 10 s' '$TMP/out' &&
		grep -q 'KEY .*PACKETS .*PPS .*BPS .*SHARE .*± ERROR' '$TMP/out' &&
		sed -n 3p '$TMP/out' | grep -Eq '^192\.0\.2\.7 +6400 +640\.0 +328 kbit/s +75\.0% +64$'"
check "top: the node whose figures are in" grep -q '1 in 64 packets sampled, 1 node$' "$TMP/out"
out=$(ctl --json top --limit 1)
check "top --json --limit 1: the reply's fields, one talker, this node" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert [t["key"] for t in d["talkers"]] == ["192.0.2.7"], d
assert d["talkers"][0]["packets"] == 6400 and d["nodes"] == [sys.argv[2]], d
assert d["by"] == "src" and d["verdict"] == "dropped" and d["window_s"] == 10, d' "$out" "$FAKE_ID"
ctl top --node "$FAKE_ID" --by dst --verdict passed --window 1m --limit 5 >"$TMP/out"
check "top --node ID --by dst --verdict passed --window 1m: that node, those choices" \
	grep -q '^top destinations, passed, last 60 s' "$TMP/out"
ctl stats >"$TMP/out"
check "stats: whitelisted, rate-limited, malformed and bytes per node" \
	grep -Eq "^$FAKE_ID +3000 +2000 +1000 +200 +50 +3 +192 kB +64\.0 kB$" "$TMP/out"
check "stats: rates in human bit/s" grep -Eq "^$FAKE_ID +300 +1\.54 Mbit/s" "$TMP/out"
check "rules list: a pass rule's hits and bytes from the node's counters" \
	bash -c "ctl() { timeout 30 '$CTL_BIN' \"\$@\"; }; ctl rules list --search hit |
		grep -Eq '^cli-hit .* pass +yes +1234 +0 +79\.0 kB'"
check "whitelist list: hits and bytes" \
	bash -c "'$CTL_BIN' wl list | grep -Eq '^cli-wl .* 200 +12\.8 kB$'"
ctl nodes get "$FAKE_ID" >"$TMP/out"
check "nodes get: a field per line (address, status, filtering, revision, version, last seen, counters)" \
	python3 -c '
import re, sys
t = open(sys.argv[1]).read()
f = dict(re.match(r"([a-z_ ]+): +(.*)$", l).groups() for l in t.splitlines())
want = {"id": sys.argv[2], "name": "fake1", "address": sys.argv[3], "filtering": "active",
        "revision": sys.argv[4], "version": "fake", "figures": "current",
        "packets": "rx 3000, passed 2000, dropped 1000",
        "reasons": "whitelisted 200, rate-limited 50, malformed 3",
        "bytes": "rx 192 kB, dropped 64.0 kB"}
for k, v in want.items():
    assert f.get(k) == v, (k, f.get(k), t)
assert f["status"].startswith("online (since "), t
assert re.fullmatch(r"[0-9-]{10} [0-9:]{8} \(\d+s ago\)", f["last seen"]), t' \
	"$TMP/out" "$FAKE_ID" "ipc://$TMP/fake1.sock" "$REV"
stop "$FAKE_PID"
check "agent gone: nodes list shows filtering presumed and the figures stale, as of HH:MM:SS" \
	wait_until 20 bash -c "$(declare -f ctl node_is); CTL_BIN=$CTL_BIN FAKE_ID=$FAKE_ID; \
		node_is ' offline  *presumed ' && node_is ' stale, as of [0-9][0-9]:[0-9][0-9]:[0-9][0-9]\$'"
ctl stats >"$TMP/out"
check "stats: the silent node's rates marked stale, as of HH:MM:SS" \
	grep -Eq "^$FAKE_ID .*stale, as of [0-9:]{8}$" "$TMP/out"
ctl top >"$TMP/out"
check "top without a reachable node: no talkers, and exit 0" \
	grep -q '^(no dropped traffic sampled in the window)$' "$TMP/out"

# ---- a controller that requires client certificates ----
mkdir -p "$TMP/pki"
(
	set -e
	cd "$TMP/pki"
	ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
	for ca in ca rogue-ca; do
		# shellcheck disable=SC2086
		openssl req -x509 $ec -keyout $ca.key -out $ca.crt -days 2 -subj "/CN=xdrop-test-$ca" \
			-addext basicConstraints=critical,CA:TRUE \
			-addext keyUsage=critical,keyCertSign,cRLSign
	done
	leaf() { # name, CN, signing CA, extensions
		# shellcheck disable=SC2086
		openssl req $ec -keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
		printf '%s\n' "$4" >"$1.ext"
		openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial \
			-days 2 -out "$1.crt" -extfile "$1.ext"
	}
	leaf server localhost ca "subjectAltName=DNS:localhost
extendedKeyUsage=serverAuth,clientAuth"
	leaf client xdropctl ca "extendedKeyUsage=clientAuth"
	leaf rogue xdropctl rogue-ca "extendedKeyUsage=clientAuth"
) >"$TMP/pki.log" 2>&1 || { sed 's/^/# /' "$TMP/pki.log"; echo "Bail out! openssl"; exit 1; }
PKI=$TMP/pki
TLS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TLS_URL=tls+tcp://127.0.0.1:$TLS_PORT
TLS=(--ca "$PKI/ca.crt" --server-name localhost)
PING_OPTS="${TLS[*]} --cert $PKI/client.crt --cert-key $PKI/client.key" \
	start_ctrl mtls "$TLS_URL" "tls:" "  ca_file: $PKI/ca.crt" "  cert_file: $PKI/server.crt" \
	"  key_file: $PKI/server.key" "  require_client_cert: true" ||
	{ echo "Bail out! TLS controller did not start"; exit 1; }
export XDROP_URL=$TLS_URL

start=$(date +%s)
ctl "${TLS[@]}" --timeout 2000 ping 2>"$TMP/err"
rc=$?
check "mutual TLS: without a client certificate xdropctl is refused (exit 7, got $rc)" \
	bash -c "[ $rc = 7 ] && [ $(($(date +%s) - start)) -le 10 ]"
ctl "${TLS[@]}" --cert "$PKI/client.crt" --cert-key "$PKI/client.key" ping >"$TMP/out"
check "mutual TLS: --cert and --cert-key connect (ping, exit $?)" grep -q 'is up' "$TMP/out"
out=$(ctl "${TLS[@]}" --cert "$PKI/client.crt" --cert-key "$PKI/client.key" --json info)
check "mutual TLS: info with the API key over the client certificate" \
	python3 -c 'import json,sys; assert json.loads(sys.argv[1])["name"]' "$out"
out=$(ctl rules add name=over-tls dst_ip=192.0.2.77 action=drop --server-name localhost \
	--ca "$PKI/ca.crt" --cert "$PKI/client.crt" --cert-key "$PKI/client.key")
check "mutual TLS: a write with the TLS options after the arguments" \
	bash -c "[ $? = 0 ] && [[ '$out' == *added* ]]"
out=$(XDROP_CA=$PKI/ca.crt XDROP_CERT=$PKI/client.crt XDROP_CERT_KEY=$PKI/client.key \
	ctl --server-name localhost --json rules list --search over-tls)
check "mutual TLS: \$XDROP_CA, \$XDROP_CERT and \$XDROP_CERT_KEY connect" \
	python3 -c 'import json,sys; assert len(json.loads(sys.argv[1])["rules"]) == 1' "$out"
ctl "${TLS[@]}" --timeout 2000 --cert "$PKI/rogue.crt" --cert-key "$PKI/rogue.key" ping \
	2>/dev/null
check "mutual TLS: a certificate from another CA is refused (exit 7)" [ $? = 7 ]
ctl "${TLS[@]}" --cert "$PKI/client.crt" ping 2>"$TMP/err"
check "--cert without --cert-key: usage error (exit 2) naming both" \
	bash -c "[ $? = 2 ] && grep -q -- '--cert and --cert-key go together' '$TMP/err'"
XDROP_CERT_KEY=$PKI/client.key ctl "${TLS[@]}" ping 2>/dev/null
check "\$XDROP_CERT_KEY without a certificate: usage error (exit 2)" [ $? = 2 ]
ctl "${TLS[@]}" --cert "$TMP/missing.crt" --cert-key "$PKI/client.key" ping 2>/dev/null
check "an unreadable certificate file: exit 2" [ $? = 2 ]

echo "1..$T"
[ "$FAILED" = 0 ]
