#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/cli/test_anomaly.sh: xdropctl and anomaly rules against a real controller
# (tests/cli/lib.sh): `rules add/update` take match_anomaly=NAMES, --match-anomaly,
# decoder=NAME and --decoder (v2.7's shorthand, expanded by lib/json), refusals name the
# field; table, wide, detail, JSON and CSV output show the anomaly; CSV export -> import
# keeps it; help, man page and completion name the options. Needs no root. Prints TAP.
cd "$(dirname "$0")/../.." || exit 1
. tests/cli/lib.sh
cli_init anomaly
cli_ctrl_up

# rule_json ID EXPR...: python assertions on rule `r` (xdropctl --json rules get ID)
rule_json() {
	local id=$1
	shift
	ctl --json rules get "$id" | python3 -c '
import json, sys
r = json.load(sys.stdin)
for e in sys.argv[1:]:
    assert eval(e), "%s: %s" % (e, r)' "$@"
}
add_id() { ctl --json rules add "$@" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rule"]["id"])'; }

# ---- add ----
A=$(add_id dst_ip=192.0.2.1 action=drop match_anomaly=bad_fragment,invalid)
check "match_anomaly=bad_fragment,invalid: stored as 3" rule_json "$A" "r['match_anomaly'] == 3"
B=$(add_id dst_ip=192.0.2.2 action=drop --match-anomaly invalid)
check "--match-anomaly invalid: stored as 2" rule_json "$B" "r['match_anomaly'] == 2"
C=$(add_id dst_ip=192.0.2.3 action=drop match_anomaly=1)
check "match_anomaly=1 (v2.7's mask): stored as 1" rule_json "$C" "r['match_anomaly'] == 1"
D=$(add_id dst_ip=192.0.2.4 action=drop --decoder tcp_ack)
check "--decoder tcp_ack: protocol tcp, tcp_flags ACK without SYN" \
	rule_json "$D" "r['protocol'] == 'tcp'" "r['tcp_flags'] == '!SYN,ACK'" "'decoder' not in r"
E=$(add_id dst_ip=192.0.2.5 action=drop decoder=bad_fragment)
check "decoder=bad_fragment: match_anomaly 1" rule_json "$E" "r['match_anomaly'] == 1"

# ---- refusals name the field; exit 3 ----
OUT=$(ctl rules add dst_ip=192.0.2.9 action=drop match_anomaly=fragments 2>&1)
RC=$?
check_eval "unknown anomaly name: exit 3 naming match_anomaly" '[ $RC = 3 ] && grep -q match_anomaly <<<"$OUT"'
OUT=$(ctl rules add dst_ip=192.0.2.9 action=drop --decoder tcp_syn 2>&1)
RC=$?
check_eval "unknown decoder: exit 3 listing the allowed values" \
	'[ $RC = 3 ] && grep -q "decoder" <<<"$OUT" && grep -q "tcp_ack, tcp_rst, tcp_fin, bad_fragment, invalid" <<<"$OUT"'
OUT=$(ctl rules add dst_ip=192.0.2.9 action=drop protocol=tcp --decoder tcp_rst 2>&1)
RC=$?
check_eval "decoder beside protocol: exit 3 naming decoder" '[ $RC = 3 ] && grep -q "decoder tcp_rst conflicts with protocol" <<<"$OUT"'
OUT=$(ctl rules add dst_ip=192.0.2.9 action=drop match_anomaly=1 --match-anomaly 2 2>&1)
RC=$?
check_eval "match_anomaly given twice: exit 3" '[ $RC = 3 ] && grep -q "given twice" <<<"$OUT"'
OUT=$(ctl whitelist add dst_ip=192.0.2.9 --match-anomaly 1 2>&1)
RC=$?
check_eval "whitelist add refuses --match-anomaly (usage, exit 2)" '[ $RC = 2 ]'

# ---- update ----
check "rules update --match-anomaly bad_fragment" ctl -q rules update "$B" --match-anomaly bad_fragment
check "update replaced the bits (2 -> 1)" rule_json "$B" "r['match_anomaly'] == 1"
check "rules update match_anomaly=0 clears it" ctl -q rules update "$B" match_anomaly=0
check "no anomaly any more" rule_json "$B" "r['match_anomaly'] == 0"

# ---- output ----
OUT=$(ctl rules list)
check_eval "table: the MATCH column shows anomaly=bad_fragment,inva… (cut at 40)" 'grep "$A" <<<"$OUT" | grep -q "anomaly=bad_fragment,inva"'
OUT=$(ctl -o wide rules list)
check_eval "wide: the whole anomaly=bad_fragment,invalid" 'grep "$A" <<<"$OUT" | grep -q "anomaly=bad_fragment,invalid "'
OUT=$(ctl rules get "$A")
check_eval "detail: anomaly: bad_fragment,invalid" 'grep -Eq "^anomaly: +bad_fragment,invalid" <<<"$OUT"'
OUT=$(ctl rules get "$D")
check_eval "detail of a rule without: says none" 'grep -Eq "^anomaly: +none" <<<"$OUT"'
ctl rules export --format csv "$TMP/r.csv" >/dev/null
check_eval "CSV export has a match_anomaly column" 'head -1 "$TMP/r.csv" | tr , "\n" | grep -qx match_anomaly'
python3 - "$TMP/r.csv" "$A" <<'PY' >"$TMP/r2.csv"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
w = csv.DictWriter(sys.stdout, fieldnames=rows[0].keys())
w.writeheader()
for r in rows:
    if r["id"] == sys.argv[2]:
        r["id"] = "csv-copy"
        r["dst_ip"] = "192.0.2.77"
        w.writerow(r)
PY
check "CSV import of the exported row" ctl -q rules import --format csv "$TMP/r2.csv"
check "the imported rule kept match_anomaly 3" rule_json csv-copy "r['match_anomaly'] == 3"

# ---- help, man, completion come from the option table ----
OUT=$(ctl help rules add 2>&1)
check_eval "help rules add names --match-anomaly and --decoder" 'grep -q -- "--match-anomaly" <<<"$OUT" && grep -q -- "--decoder" <<<"$OUT"'
OUT=$(ctl man 2>&1)
check_eval "the man page names --match-anomaly" 'grep -Fq "match\\-anomaly" <<<"$OUT"'
OUT=$(ctl completion bash 2>&1)
check_eval "bash completion offers --match-anomaly" 'grep -q -- "--match-anomaly" <<<"$OUT"'
tap_done
