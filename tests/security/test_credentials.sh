#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/security/test_credentials.sh: credentials at rest (issue 11, item 5), against the
# real xdrop-controller and xdrop-gateway started with umask 000:
#  - the database, its -wal and -shm, the lock file, the generated admin key file and a
#    backup made with the documented recipe (docs/operations.md) are all mode 0600;
#  - a copy of the database does not hold a node key or an API key in plaintext, and
#    nothing stored in it authenticates: not the node's record, verifier or beacon key as
#    a node token (SyncService over RPC), not an API key's stored hash or salt as a key
#    (RPC and REST); the real credentials do (controls);
#  - a database in the old format (schema 2, node keys in plaintext) is converted on start:
#    the node's token and the API keys created before keep working, and the plaintext is
#    gone from the file.
# TAP on stdout.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
set -u
. tests/security/lib.sh
CTLCTL=build/bin/xdropctl
CALL=build/bin/xdrop-call
TMP=$(mktemp -d /tmp/xdrop-credentials-XXXXXX)
CTRL_PID= GW_PID=
cleanup() {
	[ -n "$GW_PID" ] && sec_stop "$GW_PID"
	[ -n "$CTRL_PID" ] && sec_stop "$CTRL_PID"
	rm -rf "$TMP"
}
trap cleanup EXIT
echo "TAP version 13"
umask 000 # the files must be private whatever the operator's umask

RPC_PORT=$(sec_port) PUSH_PORT=$(sec_port) HEALTH_PORT=$(sec_port) GW_PORT=$(sec_port)
URL=tcp://127.0.0.1:$RPC_PORT
DB=$TMP/c.db
CFG_KEY=cfgnode-0123456789abcdef-secret # the config node's key (plaintext in the config)
SEC_LOG_LEVEL=info sec_ctrl_yaml "$TMP/c.yaml" "$DB" "$URL" tcp://127.0.0.1:$PUSH_PORT \
	tcp://127.0.0.1:$HEALTH_PORT "admin_key_file: $TMP/admin.key" "nodes:" "  - id: cfg-node" \
	"    name: from the config" "    key: $CFG_KEY"
sec_gw_yaml "$TMP/gw.yaml" "$URL" "$GW_PORT" "log_level: warn"

ctl_start() {
	sec_ctrl_start "$TMP/c.yaml" "$TMP/ctl.log"
	sec_ctrl_up 100 "$CTLCTL" --url "$URL" ping >/dev/null 2>&1 && return 0
	sed 's/^/# /' "$TMP/ctl.log"
	return 1
}
ctl_stop() { sec_stop "$CTRL_PID"; CTRL_PID=; }
# rpc TOKEN SERVICE METHOD: the gRPC status code of an empty request (0 = OK)
rpc() { "$CALL" "$URL" "$1" "xdrop.v1.$2" "$3" </dev/null >/dev/null 2>&1; echo $?; }
rest() { curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $1" "http://127.0.0.1:$GW_PORT/api/v1/rules"; }
mode() { stat -c %a "$1"; }
sql() { sqlite3 "$1" "$2"; }
# has_text FILE TEXT: whether the bytes of TEXT occur anywhere in FILE
has_text() { grep -qaF -- "$2" "$1"; }
# nowhere TEXT FILE...: TEXT occurs in none of the files (missing files hold nothing)
nowhere() {
	local t=$1 f
	shift
	for f in "$@"; do [ -e "$f" ] && has_text "$f" "$t" && return 1; done
	return 0
}
is_record() { [[ "$1" =~ ^nkv1:[0-9a-f]{64}:[0-9a-f]{64}$ ]]; }

ctl_start || { echo "Bail out! controller did not start"; exit 1; }
ADMIN=$(head -1 "$TMP/admin.key")
NODE_OUT=$("$CTLCTL" --url "$URL" --key "$ADMIN" --json nodes add name=edge1 address=tcp://127.0.0.1:1)
NODE_ID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["node"]["id"])' <<<"$NODE_OUT")
NODE_KEY=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])' <<<"$NODE_OUT")
KEY_OUT=$("$CTLCTL" --url "$URL" --key "$ADMIN" --json keys add ops read_only)
RO_KEY=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])' <<<"$KEY_OUT")
check "a node and a read-only key were created" [ -n "$NODE_KEY" ] && [ -n "$RO_KEY" ]
"$CTLCTL" --url "$URL" --key "$ADMIN" rules add dst_ip=192.0.2.7 action=drop >/dev/null

# ---- file modes with umask 000 ----
for f in "$DB" "$DB-wal" "$DB-shm" "$DB.lock" "$TMP/admin.key"; do
	check "$(basename "$f") is 0600 under umask 000 (got $(mode "$f" 2>/dev/null))" [ "$(mode "$f" 2>/dev/null)" = 600 ]
done
# the documented backup recipe (docs/operations.md, "Database backup and restore")
BK=$TMP/backup/controller.db
mkdir -p "$TMP/backup"
install -m 0600 /dev/null "$BK" && sqlite3 "$DB" ".backup '$BK'"
check "the backup recipe makes a 0600 file under umask 000 (got $(mode "$BK"))" [ "$(mode "$BK")" = 600 ]
check "the backup passes integrity_check" [ "$(sql "$BK" 'PRAGMA integrity_check')" = ok ]
ls "$TMP/backup" >"$TMP/bk.ls"
check "the backup leaves no other file (no world-readable journal)" [ "$(cat "$TMP/bk.ls")" = controller.db ]

# ---- what a copy of the database holds ----
check "the backup holds both nodes" [ "$(sql "$BK" 'SELECT count(*) FROM nodes')" = 2 ]
for k in "$NODE_KEY" "$CFG_KEY" "${RO_KEY##*_}" "${ADMIN##*_}"; do
	check "secret ${k:0:6}... is not in the backup" nowhere "$k" "$BK"
	check "secret ${k:0:6}... is not in the live database or its WAL" nowhere "$k" "$DB" "$DB-wal"
done
REC=$(sql "$BK" "SELECT key FROM nodes WHERE id = '$NODE_ID'")
check "the node row holds a record (nkv1:verifier:beacon key)" is_record "$REC"
VER=$(cut -d: -f2 <<<"$REC")
BKEY=$(cut -d: -f3 <<<"$REC")

# controls: the real credentials work
check "control: the real node token calls SyncService" [ "$(rpc "node:$NODE_ID:$NODE_KEY" SyncService GetRevision)" = 0 ]
check "control: the config node's token calls SyncService" [ "$(rpc "node:cfg-node:$CFG_KEY" SyncService GetRevision)" = 0 ]
# what a reader of the copy could try as the node
for cand in "$REC" "$VER" "$BKEY" "nkv1:$VER:$BKEY"; do
	check "stored value ${cand:0:12}... is not a node token (UNAUTHENTICATED)" [ "$(rpc "node:$NODE_ID:$cand" SyncService GetRevision)" = 16 ]
done
# and as the holder of an API key: the stored hash and salt, hex, in the key's format
RO_ID=$(cut -d_ -f2 <<<"$RO_KEY")
HASH=$(sql "$BK" "SELECT hex(hash) FROM api_keys WHERE id = '$RO_ID'" | tr A-F a-f)
SALT=$(sql "$BK" "SELECT hex(salt) FROM api_keys WHERE id = '$RO_ID'" | tr A-F a-f)
check "the key row holds a 32-byte hash" [ ${#HASH} = 64 ]
sec_gw_start "$TMP/gw.yaml" "$TMP/gw.log" "$GW_PORT"
check "control: the read-only key reads over REST" [ "$(rest "$RO_KEY")" = 200 ]
check "control: the read-only key reads over RPC" [ "$(rpc "$RO_KEY" RuleService List)" = 0 ]
for cand in "xdk_${RO_ID}_$HASH" "xdk_${RO_ID}_$SALT" "$HASH"; do
	check "stored value ${cand:0:20}... is refused over REST (401)" [ "$(rest "$cand")" = 401 ]
	check "stored value ${cand:0:20}... is refused over RPC (UNAUTHENTICATED)" [ "$(rpc "$cand" RuleService List)" = 16 ]
done
sec_stop "$GW_PID"
GW_PID=
ctl_stop

# ---- upgrade from the old format: schema 2 kept node keys in plaintext (and had no
# idempotency table, which migration 3 adds; its rules and whitelist tables had the layout
# migration 6 converts: made here empty, as migration 1 wrote them) ----
OLD_KEY=oldnode-plaintext-0123456789abcdef
sql "$DB" "INSERT INTO nodes VALUES('old-node', 'old', 'tcp://127.0.0.1:2', '', '$OLD_KEY', 1, 1);
	UPDATE nodes SET key = '$NODE_KEY' WHERE id = '$NODE_ID';
	DROP TABLE rules; DROP TABLE whitelist;
	CREATE TABLE rules(id TEXT PRIMARY KEY, match_key TEXT NOT NULL UNIQUE,
	  name TEXT NOT NULL, action TEXT NOT NULL, enabled INTEGER NOT NULL,
	  expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
	  src TEXT NOT NULL, dst TEXT NOT NULL, src_port INTEGER NOT NULL,
	  dst_port INTEGER NOT NULL, protocol TEXT NOT NULL, rate_limit INTEGER NOT NULL,
	  comment TEXT NOT NULL, source TEXT NOT NULL, digest BLOB NOT NULL, pb BLOB NOT NULL);
	CREATE TABLE whitelist(id TEXT PRIMARY KEY, match_key TEXT NOT NULL UNIQUE,
	  name TEXT NOT NULL, src TEXT NOT NULL, dst TEXT NOT NULL, src_port INTEGER NOT NULL,
	  dst_port INTEGER NOT NULL, protocol TEXT NOT NULL, comment TEXT NOT NULL,
	  created_at INTEGER NOT NULL, digest BLOB NOT NULL, pb BLOB NOT NULL);
	DROP TABLE IF EXISTS idempotency; UPDATE schema_version SET version = 2;"
somewhere() { ! nowhere "$@"; }
check "the hand-made old file holds the plaintext" somewhere "$OLD_KEY" "$DB" "$DB-wal"
chmod 0644 "$DB"
ctl_start || { echo "Bail out! controller did not start on the old file"; exit 1; }
check "the upgrade is logged" grep -q "migrated schema to version 4" "$TMP/ctl.log"
check "after the upgrade the old node's token works" [ "$(rpc "node:old-node:$OLD_KEY" SyncService GetRevision)" = 0 ]
check "after the upgrade the API-created node's token works" [ "$(rpc "node:$NODE_ID:$NODE_KEY" SyncService GetRevision)" = 0 ]
check "after the upgrade the read-only key works" [ "$(rpc "$RO_KEY" RuleService List)" = 0 ]
check "after the upgrade the admin key works" [ "$(rpc "$ADMIN" NodeService List)" = 0 ]
check "after the upgrade a wrong node key is refused" [ "$(rpc "node:old-node:${OLD_KEY}x" SyncService GetRevision)" = 16 ]
check "an old 0644 database is made 0600 on start (got $(mode "$DB"))" [ "$(mode "$DB")" = 600 ]
check "the rows are records now" [ "$(sql "$DB" "SELECT count(*) FROM nodes WHERE key LIKE 'nkv1:%'")" = 3 ]
for k in "$OLD_KEY" "$NODE_KEY"; do
	check "plaintext ${k:0:6}... is gone from the upgraded file and its WAL" nowhere "$k" "$DB" "$DB-wal"
done
ctl_stop
echo "1..$T"
[ "$FAILED" = 0 ]
