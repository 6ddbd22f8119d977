#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/cli/test_migrate.sh: `xdropctl migrate --from-xdrop2` against a real
# xdrop-controller (its own database and ipc:// sockets in a temp dir, stopped by PID). A
# database shaped as XDrop v2.7's controller keeps it (tables and columns written here
# from v2.7's schema: rules with the later src_cidr, dst_cidr, pkt_len_*, tcp_flags and
# match_anomaly columns, whitelist, nodes, sync_log) is made with the sqlite3 CLI. Checked:
# --dry-run prints the rows and the report and writes nothing (revision unchanged); the
# migration imports every rule and entry it can, field by field as xdropctl -o json shows
# them, anomaly rules (match_anomaly, decoders) with v2.7's bits; the report names exactly
# the rows not carried over (expired) with the reason; a second run of the same file is refused (exit 6) and changes nothing; a
# file that is not a v2.7 database, or a row XDrop refuses, is named and nothing written.
# Needs no root. Prints TAP.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/cli/lib.sh
cli_init migrate sqlite3
total() { # total rules|whitelist
	ctl --json "$1" list --limit 1 |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["pagination"]["total"])'
}

# ---- help: the synopsis names --from-xdrop2 once, flags without "(null)" ----
expect_eq "help migrate: the synopsis" "$("$CTL_BIN" help migrate | head -1)" \
	"usage: xdropctl migrate --from-xdrop2 FILE.db [--dry-run]"
check_not "no option prints as (null) in a synopsis" \
	bash -c "'$CTL_BIN' help rules import | grep -q null"

# ---- a database as v2.7 keeps it ----
V2=$TMP/xdrop.db
sqlite3 "$V2" <<'SQL'
CREATE TABLE rules (
  id TEXT PRIMARY KEY, name TEXT, src_ip TEXT, dst_ip TEXT,
  src_cidr TEXT DEFAULT '', dst_cidr TEXT DEFAULT '',
  src_port INTEGER DEFAULT 0, dst_port INTEGER DEFAULT 0,
  protocol TEXT DEFAULT 'all', action TEXT DEFAULT 'drop', rate_limit INTEGER DEFAULT 0,
  pkt_len_min INTEGER DEFAULT 0, pkt_len_max INTEGER DEFAULT 0, tcp_flags TEXT DEFAULT '',
  match_anomaly INTEGER DEFAULT 0, source TEXT DEFAULT 'manual', comment TEXT,
  enabled INTEGER DEFAULT 1, created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  expires_at DATETIME, updated_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  UNIQUE(src_ip, src_cidr, dst_ip, dst_cidr, src_port, dst_port, protocol));
CREATE TABLE whitelist (
  id TEXT PRIMARY KEY, name TEXT, src_ip TEXT, dst_ip TEXT, src_port INTEGER DEFAULT 0,
  dst_port INTEGER DEFAULT 0, protocol TEXT, comment TEXT,
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE nodes (id TEXT PRIMARY KEY, name TEXT NOT NULL, endpoint TEXT NOT NULL UNIQUE,
  api_key TEXT, status TEXT DEFAULT 'unknown', last_sync DATETIME, last_seen DATETIME,
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE sync_log (id INTEGER PRIMARY KEY AUTOINCREMENT, node_id TEXT NOT NULL,
  action TEXT NOT NULL, rule_id TEXT, status TEXT NOT NULL, error TEXT,
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE schema_version (version INTEGER);
INSERT INTO schema_version VALUES (1);
INSERT INTO nodes (id, name, endpoint) VALUES ('node-1', 'edge1', 'http://10.9.0.1:8080');
-- exact address, protocol all, a comment
INSERT INTO rules (id, name, src_ip, comment, source, created_at, updated_at)
  VALUES ('rule_exact001', 'exact', '203.0.113.5', 'seen scanning', 'manual',
          '2025-03-01 08:00:00', '2025-03-01 08:00:00');
-- a prefix, udp, destination port, a feed's source
INSERT INTO rules (id, name, src_cidr, dst_port, protocol, source)
  VALUES ('rule_cidr0001', 'bad-net', '198.51.100.0/24', 53, 'udp', 'feed-x');
-- both ports, tcp, packet length bounds
INSERT INTO rules (id, name, dst_ip, src_port, dst_port, protocol, pkt_len_min, pkt_len_max)
  VALUES ('rule_ports001', 'ports', '192.0.2.10', 1234, 443, 'tcp', 60, 1500);
-- rate limit
INSERT INTO rules (id, name, dst_ip, protocol, action, rate_limit, source)
  VALUES ('rule_rl000001', 'limit-dns', '192.0.2.20', 'udp', 'rate_limit', 5000, 'api');
-- decoder tcp_ack as v2.7 stores it: protocol tcp, tcp_flags ACK,!SYN
INSERT INTO rules (id, name, dst_ip, protocol, tcp_flags)
  VALUES ('rule_ack00001', 'ack-flood', '192.0.2.30', 'tcp', 'ACK,!SYN');
-- decoder bad_fragment: match_anomaly bit 0
INSERT INTO rules (id, name, dst_ip, match_anomaly)
  VALUES ('rule_frag0001', 'frags', '192.0.2.40', 1);
-- expired
INSERT INTO rules (id, name, dst_ip, expires_at)
  VALUES ('rule_old00001', 'old', '192.0.2.50', '2020-01-01 00:00:00');
-- disabled
INSERT INTO rules (id, name, dst_ip, enabled) VALUES ('rule_off00001', 'off', '192.0.2.60', 0);
-- expires later, stored by Go with an offset
INSERT INTO rules (id, name, dst_ip, expires_at)
  VALUES ('rule_exp00001', 'later', '192.0.2.70', '2030-06-01 12:00:00.5+02:00');
INSERT INTO whitelist (id, name, src_ip, comment)
  VALUES ('wl_a1b2c3d4', 'office', '10.0.0.1', 'the office');
INSERT INTO whitelist (id, name, src_ip) VALUES ('wl_cidr0001', 'lab', '10.1.0.0/16');
INSERT INTO whitelist (id, name, src_ip, dst_ip, dst_port, protocol)
  VALUES ('wl_5tuple01', 'ssh', '10.2.0.1', '192.0.2.10', 22, 'tcp');
SQL

cli_ctrl_up

# ---- --dry-run: the rows and the report, nothing written ----
r0=$(revision)
ctl migrate --from-xdrop2 "$V2" --dry-run >"$TMP/dry.txt" 2>"$TMP/dry.err"
expect_eq "dry run succeeds" "$?" 0
check "dry run lists the rules it would import" grep -q "would import 8 rules" "$TMP/dry.txt"
check "dry run lists the entries it would import" \
	grep -q "would import 3 whitelist entries" "$TMP/dry.txt"
check "dry run prints the report" grep -q "rules: 9 read, 8 to import, 1 not carried over" \
	"$TMP/dry.txt"
expect_eq "dry run writes nothing (revision)" "$(revision)" "$r0"
expect_eq "dry run writes nothing (rules)" "$(total rules)" 0
expect_eq "dry run writes nothing (whitelist)" "$(total whitelist)" 0
ctl -o json migrate --from-xdrop2 "$V2" --dry-run >"$TMP/dry.json"
expect_eq "dry run -o json: the report" "$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
c = d["counts"]
print(d["dry_run"], len(d["rules"]), len(d["entries"]), c["rules_read"],
      c["rules_not_carried_over"], c["whitelist_read"], c["entries_not_carried_over"])' \
	"$TMP/dry.json")" "True 8 3 9 1 3 0"

# ---- more than one atomic batch: refused, nothing written ----
ctl --batch-size 5 migrate --from-xdrop2 "$V2" >/dev/null 2>"$TMP/cap.err"
expect_eq "more rules than one batch holds: refused (exit 3)" "$?" 3
check "and said so" grep -q "8 rules and 3 whitelist entries: more than one atomic batch holds (5)" \
	"$TMP/cap.err"
expect_eq "nothing written past the cap" "$(revision)" "$r0"

# ---- the migration ----
ctl migrate --from-xdrop2 "$V2" >"$TMP/mig.txt" 2>"$TMP/mig.err"
expect_eq "migrate succeeds" "$?" 0
sed 's/^/# /' "$TMP/mig.txt"
check "migrate says what it did" grep -q "migrated 8 rules and 3 whitelist entries" "$TMP/mig.txt"
expect_eq "the report lists exactly the rows not carried over" \
	"$(sed -n 's/^  \(rules\|whitelist\) \([^:]*\): .*/\1 \2/p' "$TMP/mig.txt" | sort | tr '\n' ' ')" \
	"rules rule_old00001 "
check_not "the anomaly rule is carried over (not in the report)" grep -q rule_frag0001 \
	"$TMP/mig.txt"
check "the expired rule's reason" grep -q \
	"rules rule_old00001: expired at 2020-01-01T00:00:00Z" "$TMP/mig.txt"
check "the counts" grep -q "whitelist: 3 read, 3 imported, 0 not carried over" "$TMP/mig.txt"
expect_eq "rules stored" "$(total rules)" 8
expect_eq "entries stored" "$(total whitelist)" 3
r1=$(revision)

# ---- field by field ----
# expect_fields KIND ID NAME=VALUE...: each field as xdropctl -o json shows it ("" absent)
expect_fields() {
	local kind=$1 id=$2
	shift 2
	ctl --json "$kind" get "$id" >"$TMP/item.json" 2>&1
	for nv in "$@"; do
		expect_eq "$kind $id ${nv%%=*}" "$(python3 -c '
import json, sys
v = json.load(open(sys.argv[1])).get(sys.argv[2])
print(json.dumps(v) if isinstance(v, bool) else "" if v in (None, 0, "")
      else v if isinstance(v, str) else json.dumps(v))' "$TMP/item.json" "${nv%%=*}")" "${nv#*=}"
	done
}
expect_fields rules rule_exact001 name=exact src_ip=203.0.113.5 protocol= action=drop \
	enabled=true comment="seen scanning" source=manual expires_at=
expect_fields rules rule_cidr0001 name=bad-net src_cidr=198.51.100.0/24 dst_port=53 \
	protocol=udp action=drop source=feed-x enabled=true
expect_fields rules rule_ports001 dst_ip=192.0.2.10 src_port=1234 dst_port=443 protocol=tcp \
	pkt_len_min=60 pkt_len_max=1500 source=manual
expect_fields rules rule_rl000001 name=limit-dns action=rate_limit rate_limit=5000 \
	protocol=udp source=api
expect_fields rules rule_ack00001 name=ack-flood protocol=tcp tcp_flags='!SYN,ACK' action=drop
expect_fields rules rule_off00001 name=off enabled=false dst_ip=192.0.2.60
expect_fields rules rule_exp00001 name=later expires_at=2030-06-01T10:00:00.500000000Z
expect_fields whitelist wl_a1b2c3d4 name=office src_ip=10.0.0.1 comment="the office"
expect_fields whitelist wl_cidr0001 name=lab src_cidr=10.1.0.0/16 src_ip=
expect_fields whitelist wl_5tuple01 name=ssh src_ip=10.2.0.1 dst_ip=192.0.2.10 dst_port=22 \
	protocol=tcp
expect_fields rules rule_frag0001 name=frags dst_ip=192.0.2.40 match_anomaly=1 action=drop
check_not "the expired rule was not imported" ctl -q rules get rule_old00001

# ---- a second run: refused, nothing changed ----
ctl migrate --from-xdrop2 "$V2" >/dev/null 2>"$TMP/again.err"
expect_eq "a second run is refused (exit 6, conflict)" "$?" 6
sed 's/^/# /' "$TMP/again.err"
check "it says the whitelist was refused" grep -q "v2.7 whitelist was refused: nothing written" \
	"$TMP/again.err"
expect_eq "a second run changes nothing (revision)" "$(revision)" "$r1"
expect_eq "a second run changes nothing (rules)" "$(total rules)" 8

# ---- rules refused after the whitelist: the entries are taken back ----
ctl -q rules del rule_ack00001
ctl -q whitelist del wl_a1b2c3d4 wl_cidr0001 wl_5tuple01
r2=$(revision)
ctl migrate --from-xdrop2 "$V2" >/dev/null 2>"$TMP/half.err"
expect_eq "rules that exist already refuse the migration" "$?" 6
check "it says the rules were refused" grep -q "v2.7 rules were refused" "$TMP/half.err"
expect_eq "the entries added are deleted again" "$(total whitelist)" 0
expect_eq "no rule added" "$(total rules)" 7
ctl -q rules del rule_exact001 rule_cidr0001 rule_ports001 rule_rl000001 rule_off00001 \
	rule_exp00001 rule_frag0001
diag "revision before $r2, after $(revision)"

# ---- files that are not v2.7 databases ----
echo "not a database" >"$TMP/text.db"
ctl migrate --from-xdrop2 "$TMP/text.db" >/dev/null 2>"$TMP/text.err"
expect_eq "a text file is refused (exit 3)" "$?" 3
check "and said so" grep -q "not an XDrop v2.7 controller database" "$TMP/text.err"
ctl migrate --from-xdrop2 "$TMP/ctl.db" >/dev/null 2>"$TMP/own.err"
expect_eq "XDrop's own database is refused (exit 3)" "$?" 3
check "and said so" grep -q "not an XDrop v2.7 controller database" "$TMP/own.err"
sed 's/^/# /' "$TMP/own.err"
ctl migrate --from-xdrop2 "$TMP/missing.db" >/dev/null 2>"$TMP/missing.err"
expect_eq "a missing file is refused (exit 3)" "$?" 3
check "the file is left uncreated" test ! -e "$TMP/missing.db"
check_not "migrate without --from-xdrop2 is a usage error" ctl migrate

# ---- a row XDrop refuses, and a decoder column (not written by v2.7 itself) ----
B=$TMP/bad.db
sqlite3 "$B" <<'SQL'
CREATE TABLE rules (id TEXT PRIMARY KEY, name TEXT, src_ip TEXT, dst_ip TEXT,
  src_port INTEGER DEFAULT 0, dst_port INTEGER DEFAULT 0, protocol TEXT DEFAULT 'all',
  action TEXT DEFAULT 'drop', rate_limit INTEGER DEFAULT 0, source TEXT DEFAULT 'manual',
  comment TEXT, enabled INTEGER DEFAULT 1, created_at DATETIME, expires_at DATETIME,
  updated_at DATETIME, decoder TEXT);
CREATE TABLE whitelist (id TEXT PRIMARY KEY, name TEXT, src_ip TEXT, dst_ip TEXT,
  src_port INTEGER DEFAULT 0, dst_port INTEGER DEFAULT 0, protocol TEXT, comment TEXT,
  created_at DATETIME);
INSERT INTO rules (id, dst_ip, decoder) VALUES ('rule_fin00001', '192.0.2.80', 'tcp_fin');
INSERT INTO rules (id, dst_ip, decoder) VALUES ('rule_inv00001', '192.0.2.81', 'invalid');
INSERT INTO rules (id, dst_ip, dst_port) VALUES ('rule_bad00001', '192.0.2.999', 80);
SQL
r3=$(revision)
ctl migrate --from-xdrop2 "$B" >/dev/null 2>"$TMP/bad.err"
expect_eq "a row XDrop refuses stops the migration (exit 3)" "$?" 3
check "the error names the v2.7 table and row id" \
	grep -q "v2.7 table rules, id rule_bad00001: dst_ip" "$TMP/bad.err"
expect_eq "nothing written" "$(revision)" "$r3"
sqlite3 "$B" "DELETE FROM rules WHERE id = 'rule_bad00001'"
ctl migrate --from-xdrop2 "$B" >"$TMP/dec.txt" 2>&1
expect_eq "a decoder column: migrated" "$?" 0
expect_fields rules rule_fin00001 protocol=tcp tcp_flags=FIN
expect_fields rules rule_inv00001 dst_ip=192.0.2.81 match_anomaly=2 protocol= tcp_flags=
tap_done
