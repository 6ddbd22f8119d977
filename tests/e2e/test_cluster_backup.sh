#!/bin/bash
# SPDX-License-Identifier: MIT
# Backup, restore and conversion of a controller cluster (issue 18, item 3), with real
# files, three real controllers (tests/e2e/clusterlab.sh), the gateway and a real agent
# (XDP on a veth in its namespace) given all three:
# - a single controller's SQLite file with rules and whitelist entries is made the database
#   of a new cluster (xdrop-controller --restore with controller 1's config): the cluster
#   starts with the same rules, whitelist, revision and content hash; a second restore
#   (directory not empty) and one with another id are refused;
# - a backup (xdrop-controller --backup, a follower's config) taken while writes go on is
#   consistent (its revision counts exactly the changes it holds), private, and intact;
# - a backup of the quiet cluster is a single-controller database: a controller started on
#   it serves the same rules, revision and hash (the conversion back);
# - the cluster destroyed (kill -9 of the three, directories removed), the backup restored
#   into a new one: everything back, and the agent, which had applied a later write,
#   converges to the restored revision and hash; a new write reaches it. Prints TAP.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/syslab.sh
. tests/lib/dqlite.sh
. tests/e2e/clusterlab.sh
S0=
down_all() { stop_pid "$S0" TERM "single controller"; down; }
trap down_all EXIT
trap 'exit 1' INT TERM

state() { # CONTROLLERS: revision, hash, rule names and whitelist sources, one line
	local j
	j=$(ctl --controller "$1" --json rules list --limit 1000 | jq -c '[.rules[].name] | sort')
	echo "$(info "$1" revision) $(info "$1" content_hash) $j" \
		"$(ctl --controller "$1" --json whitelist list | jq -c '[.entries[].src_ip] | sort')"
}
state_is() { [ "$(state "$1")" = "$2" ]; } # CONTROLLERS STATE
single_up() { # DB: a controller without a cluster on that file (socket rpc0)
	cat >"$TMP/c0.yaml" <<EOF
database: $1
log_level: info
rpc: {listen: "$(sock rpc 0)"}
push: {listen: "$(sock push 0)"}
health: {listen: "$(sock health 0)"}
keys: {admin_key: $KEY}
EOF
	"$CTL_BIN" --config "$TMP/c0.yaml" </dev/null >/dev/null 2>>"$TMP/c0.log" &
	S0=$!
	wait_until 30 ping_rpc "$(sock rpc 0)"
}
single_down() { stop_pid "$S0" TERM "single controller"; S0=; }
revision_counts() { # FILE DIFF: the file's revision is its rules + whitelist entries + DIFF
	[ "$(sqlite3 "$1" 'SELECT revision - (SELECT count(*) FROM rules) -
		(SELECT count(*) FROM whitelist) FROM revision')" = "$2" ]
}
ALL=$(sock rpc 1),$(sock rpc 2),$(sock rpc 3)

mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
lab_ns n1 x && lab_veth n1 t0 x x0 && lab_up n1 t0 && lab_up x x0

# ---- a single controller's database becomes a cluster's ----
check "a single controller starts on a SQLite file" single_up "$TMP/single.db"
add_rules "$(sock rpc 0)" 1 5 >/dev/null
for a in 192.0.2.7 192.0.2.8; do ctl --controller "$(sock rpc 0)" -q whitelist add "src_ip=$a"; done
ST0=$(state "$(sock rpc 0)")
echo "# single controller: ${ST0:0:100}..."
single_down
for i in 1 2 3; do conf "$i"; done
out=$("$CTL_BIN" --config "$TMP/c1.yaml" --restore "$TMP/single.db" 2>>"$TMP/restore.log")
check_eval "--restore of the SQLite file into a new cluster (controller 1) [$out]" \
	'[ "${out#restore: }" != "$out" ] && echo "$out" | grep -q "revision ${ST0%% *},"'
check_not "a second restore into the same directory is refused" \
	"$CTL_BIN" --config "$TMP/c1.yaml" --restore "$TMP/single.db"
check_not "a restore with controller 2's config is refused" \
	"$CTL_BIN" --config "$TMP/c2.yaml" --restore "$TMP/single.db"
ok_up=1
for i in 1 2 3; do c_up "$i" || ok_up=0; done
wait_until 20 leader >/dev/null
L=$(leader)
check_eval "the three controllers start on it; node ${L:-none} leads" '[ $ok_up = 1 ] && [ -n "$L" ]'
for i in 1 2 3; do
	check "controller $i serves the single controller's rules, whitelist, revision, hash" \
		wait_until 10 state_is "$(sock rpc "$i")" "$ST0"
done

# ---- the agent, and a backup under writes ----
check "the gateway starts with the three controllers" gw_start
node_add n1 "mode: traditional
interface: t0" >"$TMP/node.log" 2>&1
check "n1 registered; its agent starts with the three controllers" agent_start n1
R=$(info "$ALL" revision)
check "the agent applies the cluster's rule set (revision $R)" \
	wait_until 10 agent_at "$R" "$(info "$ALL" content_hash)"
add_rules "$(sock rpc "$L")" 10 30 >"$TMP/acked" &
W=$!
wait_until 20 bash -c "[ \$(wc -l <$TMP/acked) -ge 3 ]"
F=$(for i in 1 2 3; do [ "$i" != "$L" ] && echo "$i"; done | head -1)
out=$("$CTL_BIN" --config "$TMP/c$F.yaml" --backup "$TMP/hot.db" 2>>"$TMP/backup.log")
n_during=$(wc -l <"$TMP/acked")
wait "$W"
check_eval "--backup with follower $F's config during writes ($n_during of 30 acknowledged) [$out]" \
	'[ "${out#backup: }" != "$out" ]'
RL=$(info "$ALL" revision)
NR=$(ctl --controller "$ALL" --json rules list --limit 1000 | jq '.rules | length')
DIFF=$((RL - NR - 2))
check "the backup is consistent: its revision counts its rules and entries (+$DIFF)" \
	revision_counts "$TMP/hot.db" "$DIFF"
hot_rules=$(sqlite3 "$TMP/hot.db" 'SELECT count(*) FROM rules')
check_eval "... taken while the writes went on ($hot_rules rules; 5 before, $NR after)" \
	'[ "$hot_rules" -gt 5 ] && [ "$hot_rules" -le "$NR" ]'
check "... intact (PRAGMA integrity_check)" \
	test "$(sqlite3 "$TMP/hot.db" 'PRAGMA integrity_check')" = ok
check "... and private (mode 600)" test "$(stat -c %a "$TMP/hot.db")" = 600

# ---- a quiet backup; the conversion back to one controller ----
ST1=$(state "$ALL")
"$CTL_BIN" --config "$TMP/c3.yaml" --backup "$TMP/b.db" >/dev/null 2>>"$TMP/backup.log"
check "--backup of the quiet cluster (controller 3's config)" test -s "$TMP/b.db"
cp "$TMP/b.db" "$TMP/conv.db"
check "a single controller starts on the backup (the cluster converted back)" \
	single_up "$TMP/conv.db"
check "... with the cluster's rules, whitelist, revision and hash" \
	state_is "$(sock rpc 0)" "$ST1"
single_down

# ---- destroy, restore, the agent converges ----
add_rules "$ALL" 50 1 >/dev/null
R2=$(info "$ALL" revision)
check "the agent applies a write made after the backup (revision $R2)" \
	wait_until 10 agent_at "$R2" "$(info "$ALL" content_hash)"
for i in 1 2 3; do
	kill -KILL "${CPID[$i]}"
	wait "${CPID[$i]}" 2>/dev/null
	unset "CPID[$i]"
	rm -rf "$TMP/node$i"
done
out=$("$CTL_BIN" --config "$TMP/c1.yaml" --restore "$TMP/b.db" 2>>"$TMP/restore.log")
check_eval "the cluster destroyed; --restore of the backup into a new one [$out]" \
	'[ "${out#restore: }" != "$out" ]'
ok_up=1
for i in 1 2 3; do c_up "$i" || ok_up=0; done
check_eval "three controllers start on the restored database" '[ $ok_up = 1 ]'
for i in 1 2 3; do
	check "controller $i serves the backup's rules, whitelist, revision and hash" \
		wait_until 10 state_is "$(sock rpc "$i")" "$ST1"
done
read -r R1 H1 _ <<<"$ST1"
t0=$(ms)
check "the agent converges to the restored revision $R1 and hash (from $R2)" \
	wait_until 30 agent_at "$R1" "$H1"
echo "# agent at the restored revision $(($(ms) - t0)) ms after the cluster answered"
add_rules "$ALL" 60 1 >/dev/null
check "a write after the restore reaches the agent (revision $((R1 + 1)))" \
	wait_until 10 agent_at $((R1 + 1)) "$(info "$ALL" content_hash)"
[ -s "$TMP/add.err" ] && sed 's/^/# /' "$TMP/add.err"
tap_done
