#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/scripts/test_docs_runnable.sh: every shell block of docs/operations.md marked
# "```sh runnable" runs as written, each one TAP check, in order, in a lab with what the
# page assumes: a controller and a gateway (started with scripts/controller.sh and
# gateway.sh), the controller's database at /var/lib/xdrop/controller.db, xdropctl on
# PATH, XDROP_URL/XDROP_KEY for it, API for curl. The suite runs in a private mount
# namespace with tmpfs on /var/lib and /var/backups, so the page's real paths are used
# without touching the host's. Blocks run with bash -e -o pipefail under umask 000 (the
# backup recipe must be private whatever the umask), in a scratch directory holding the
# clone's scripts/ and build/. After them: the backup is mode 600 and intact, and the
# restore brought back the backup's revision, hash and rules.
set -u
cd "$(dirname "$0")/../.."
if [ -z "${DOCS_RUNNABLE_NS:-}" ]; then
	exec env DOCS_RUNNABLE_NS=1 unshare --mount --propagation private "$0" "$@"
fi
. tests/lib/tap.sh
ROOT=$PWD
DOC=docs/operations.md
TMP=$(mktemp -d)
mount -t tmpfs -o mode=0755 tmpfs /var/lib || exit 1
mount -t tmpfs -o mode=0755 tmpfs /var/backups || exit 1
mkdir -p /var/lib/xdrop "$TMP/etc" "$TMP/work"
chmod 700 /var/lib/xdrop
export XDROP_BIN=$ROOT/build/bin XDROP_CONFIG_DIR=$TMP/etc XDROP_RUN_DIR=$TMP/run \
	XDROP_LOG_DIR=$TMP/log PATH=$ROOT/build/bin:$PATH
# shellcheck disable=SC2317 # the trap
finish() {
	./scripts/gateway.sh stop >/dev/null 2>&1
	./scripts/controller.sh stop >/dev/null 2>&1
	rm -rf "$TMP"
}
trap finish EXIT
trap 'exit 1' INT TERM

KEY=xdk_docs_$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$TMP/etc/controller.yaml" <<EOF
database: /var/lib/xdrop/controller.db
rpc:
  listen: ipc://$TMP/rpc.sock
push:
  listen: ipc://$TMP/push.sock
health:
  listen: ipc://$TMP/health.sock
keys:
  admin_key: $KEY
EOF
cat >"$TMP/etc/gateway.yaml" <<EOF
upstream:
  mode: controller
  url: ipc://$TMP/rpc.sock
listen: 127.0.0.1:$PORT
ui:
  dir: $TMP/no-ui
log_level: warn
EOF
export XDROP_URL=ipc://$TMP/rpc.sock XDROP_KEY=$KEY API=http://127.0.0.1:$PORT/api/v1
ln -s "$ROOT/scripts" "$ROOT/build" "$TMP/work/"
./scripts/controller.sh start >/dev/null && ./scripts/gateway.sh start >/dev/null &&
	wait_until 10 xdropctl info >/dev/null &&
	wait_until 10 curl -sf -o /dev/null -H "X-API-Key: $KEY" "$API/info" ||
	{ echo "Bail out! the lab did not start: $(cat "$TMP"/log/*.log)"; exit 1; }
RULE_PORT=9
rule() { # name: a drop rule through the REST API (each on its own port: no duplicate)
	RULE_PORT=$((RULE_PORT + 1))
	curl -sf -o /dev/null -H "X-API-Key: $KEY" -H 'Content-Type: application/json' \
		--data-binary "{\"name\": \"$1\", \"dst_port\": $RULE_PORT, \"protocol\": \"udp\", \"action\": \"drop\"}" \
		"$API/rules"
}
rules() { xdropctl --json rules list | python3 -c 'import json,sys; print(" ".join(sorted(r["name"] for r in json.load(sys.stdin)["rules"])))'; }
info() { xdropctl info | sed -n 's/^\(revision\|content hash\) //p' | tr '\n' ' '; }
rule "before the backup" && rule "also before"

# the marked blocks: "LINE<TAB>FILE" for each, the block's text in FILE
python3 - "$DOC" "$TMP" >"$TMP/blocks" <<'EOF'
import sys
doc, tmp = sys.argv[1], sys.argv[2]
block, n = None, 0
for i, line in enumerate(open(doc), 1):
    if block is None and line.rstrip() == "```sh runnable":
        block, start = [], i
    elif block is not None and line.rstrip() == "```":
        n += 1
        path = f"{tmp}/block{n}.sh"
        open(path, "w").write("".join(block))
        print(f"{start}\t{path}")
        block = None
    elif block is not None:
        block.append(line)
EOF
check_eval "docs/operations.md has runnable blocks" "[ \$(wc -l <'$TMP/blocks') -ge 4 ]"

while IFS=$'\t' read -r line file; do
	first=$(grep -m1 -v '^\s*#' "$file" | sed 's/ *#.*//')
	# what the test must know around a block: the state a backup holds, a change after it
	if grep -q '\.backup' "$file"; then
		backup_info=$(info)
		backup_rules=$(rules)
	fi
	if grep -q 'install -m 0600 /var/backups' "$file"; then
		rule "after the backup" # the restore must undo it
		expect_eq "a rule made after the backup is there before the restore" "$(rules)" \
			"after the backup also before before the backup"
	fi
	out=$(cd "$TMP/work" && umask 000 && bash -e -o pipefail "$file" 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then ok "block at $DOC:$line runs ($first)"; else
		not_ok "block at $DOC:$line runs ($first)" "exit $rc" "$out"
	fi
done <"$TMP/blocks"

# what the blocks were to do
expect_eq "the backup held the two rules made before it" "${backup_rules:-none}" \
	"also before before the backup"
check_eval "the backup is mode 600 (made under umask 000)" \
	"[ \"\$(stat -c %a /var/backups/xdrop/controller.db 2>&1)\" = 600 ]"
check_eval "the backup directory is mode 700" "[ \"\$(stat -c %a /var/backups/xdrop)\" = 700 ]"
expect_eq "the backup passes PRAGMA integrity_check" \
	"$(sqlite3 /var/backups/xdrop/controller.db 'PRAGMA integrity_check' 2>&1)" ok
expect_eq "after the restore: the backup's revision and content hash" "$(info)" "${backup_info:-none}"
expect_eq "after the restore: the backup's rules (the later one undone)" "$(rules)" \
	"${backup_rules:-none}"
check_eval "the replaced database was kept aside" "[ -f /var/lib/xdrop/replaced/controller.db ]"
out=$(./scripts/controller.sh status)
check_eval "the controller runs after the restore" "[[ '$out' == *running* ]]"
tap_done
