#!/bin/bash
# SPDX-License-Identifier: MIT
# The XDrop demo: the whole system in a namespace lab.
#
#   controller (SQLite in /run/xdrop-demo) <-- gateway http://127.0.0.1:8000 (REST + web UI)
#        |  rpc, push, health on ipc:// sockets in /run/xdrop-demo (reachable from every
#        |  namespace, since namespaces share the file system, and from nowhere else)
#        +-- xdrop-agent "trad" (traditional mode, program on t0)
#        +-- xdrop-agent "ff"   (fast-forward mode, program bridging f1 <-> f2)
#
#   gen ns  [g1] ==veth== [t0 *] trad ns [t1] ==veth== [s1] srv ns   (routed, v4 + v6)
#           [g2] ==veth== [f1 *] ff ns   [f2 *] ==veth== [s2]         (one L2 segment)
#                                          (* = the XDP program, native mode)
#
# The nodes are registered through the REST API (POST /api/v1/nodes, which returns each
# node's key once; it goes into that agent's config), the example rules are installed
# through the REST API, a generator namespace sends a bounded mix of good and attack
# traffic (v4 and v6) through both nodes to a server namespace, and a status line is
# printed every second until Ctrl-C (or DEMO_SECONDS), then everything is removed.
# The controller and the agents run under scripts/supervise.sh, which starts one again
# that exits with status 75 (its wedge monitor found it stuck), as systemd would.
#
#   ./scripts/demo.sh        start (make demo)
#   ./scripts/demo.sh ha     start with three controllers, a cluster (make demo-ha; see
#                            scripts/demo-ha.sh for ha-kill-leader, ha-cut-leader, ha-heal)
#   ./scripts/demo.sh down   remove what a crashed demo left behind (make demo-down)
#
# Environment: DEMO_SECONDS=N stops by itself after N s; DEMO_PORT (8000) for the gateway;
# XDROP_BIN (build/bin) where the daemons are; DEMO_NAME (xdrop-demo) names what it makes,
# so that a test can run one beside a user's. It touches only what it names: the
# namespaces $DEMO_NAME-*, the pin directory /sys/fs/bpf/$DEMO_NAME and /run/$DEMO_NAME.
#
# It ends with status 0 after DEMO_SECONDS, Ctrl-C or SIGTERM; with status 1, after
# naming it and the end of its log, when one of its daemons (or the traffic) exited.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${XDROP_BIN:-$ROOT/build/bin}
PFX=${DEMO_NAME:-xdrop-demo}
PIN=/sys/fs/bpf/$PFX
RUN=/run/$PFX
NODES="gen trad ff srv"
PORT=${DEMO_PORT:-8000}
DEMO_SECONDS=${DEMO_SECONDS:-0}
API=http://127.0.0.1:$PORT/api/v1
HA=0
[ "${1:-}" = ha ] && HA=1
. "$ROOT/scripts/demo-ha.sh"

say() { printf '%s\n' "$*"; }
in_ns() { # node, command... (nsenter keeps the pins under /sys/fs/bpf visible)
	local node=$1
	shift
	nsenter --net="/run/netns/$PFX-$node" "$@"
}

down() {
	local pid pids="" alive node
	if [ -f "$RUN/pids" ]; then
		while read -r pid; do
			# only our own processes: their command line names the state directory
			if grep -qs "$RUN" "/proc/$pid/cmdline"; then
				kill "$pid" 2>/dev/null && pids="$pids $pid"
			fi
		done < <(cat "$RUN/pids" "$RUN"/*.pid 2>/dev/null) # supervisors and their daemons
	fi
	for _ in $(seq 50); do # they stop within 0.5 s; give them 5
		alive=""
		for pid in $pids; do [ -d "/proc/$pid" ] && alive="$alive $pid"; done
		[ -z "$alive" ] && break
		pids=$alive
		sleep 0.1
	done
	for pid in $alive; do # still there: only ours, by PID
		grep -qs "$RUN" "/proc/$pid/cmdline" && kill -9 "$pid" 2>/dev/null
	done
	for node in $NODES $HA_NODES; do
		ip netns del "$PFX-$node" 2>/dev/null
	done
	# the interfaces (and so the XDP links) went with their namespaces; the pins go here
	rm -rf "$PIN" "$RUN"
}

if [ "$(id -u)" -ne 0 ]; then
	say "demo: needs root (network namespaces, XDP, bpffs)" >&2
	exit 1
fi
if [ "${1:-}" = down ]; then
	down
	say "demo: removed namespaces $PFX-*, $PIN and $RUN (if they existed)"
	exit 0
fi
case ${1:-} in
ha-kill-leader | ha-cut-leader | ha-heal)
	ha_cmd "$1"
	exit
	;;
"" | ha) ;;
*)
	say "usage: scripts/demo.sh [ha | down | ha-kill-leader | ha-cut-leader | ha-heal]" >&2
	exit 2
	;;
esac
for b in xdrop-controller xdrop-gateway xdrop-agent; do
	if [ ! -x "$BIN/$b" ]; then
		say "demo: $BIN/$b is missing; run make all" >&2
		exit 1
	fi
done
if [ -e "$RUN" ] || ip netns list | grep -q "^$PFX-"; then
	say "demo: a demo is running or left state behind; stop it, or run make demo-down" >&2
	exit 1
fi
if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/"; then
	say "demo: something already listens on 127.0.0.1:$PORT (set DEMO_PORT=...)" >&2
	exit 1
fi
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || exit 1

# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
	# a second Ctrl-C or SIGTERM must not cut the removal short
	trap '' INT TERM
	trap - EXIT
	say ""
	say "demo: removing the lab"
	down
}
trap cleanup EXIT
# Ctrl-C, SIGTERM and a closed terminal end the demo cleanly. A terminal's Ctrl-C reaches
# every process of the foreground group, command substitutions' subshells included: one
# interrupted while bash parses its text fails with "unexpected EOF while looking for
# matching `)'". So the status loop below, where the demo spends its time, runs none.
trap 'exit 0' INT TERM HUP
mkdir -p "$RUN"
chmod 700 "$RUN"

fail() {
	say "demo: $*" >&2
	local f
	for f in "$RUN"/*.log; do
		[ -s "$f" ] && say "---- $f" >&2 && tail -n 15 "$f" >&2
	done
	exit 1
}
bg() { # log name, command...: starts a program (not a shell function: $! must be the
	# program itself, which down() finds by its command line), remembers its PID
	local log=$1
	shift
	"$@" </dev/null >>"$RUN/$log.log" 2>&1 &
	echo $! >>"$RUN/pids"
	PROCS+=("$log $!")
}
# The demo's daemons by log name and PID (the supervisor's for the supervised ones): one
# that exited ends the demo, naming it, instead of a line of failed requests every second.
PROCS=()
daemon_name() {
	case $1 in
	controller | gateway) echo "xdrop-$1" ;;
	agent-*) echo "xdrop-agent of node ${1#agent-}" ;;
	*) echo "$1" ;;
	esac
}
check_alive() {
	local e name pid rc how
	for e in "${PROCS[@]}"; do
		name=${e% *} pid=${e#* }
		case $name in controller | gateway | agent-*) ;; *) continue ;; esac
		kill -0 "$pid" 2>/dev/null && continue
		wait "$pid" 2>/dev/null
		rc=$?
		how="with status $rc"
		[ "$rc" -gt 128 ] && how="$how (killed by signal $((rc - 128)))"
		say "" >&2
		say "demo: $(daemon_name "$name") exited $how; stopping the demo" >&2
		if [ -s "$RUN/$name.log" ]; then
			say "---- last lines of $RUN/$name.log" >&2
			tail -n 15 "$RUN/$name.log" >&2
		fi
		exit 1
	done
}
# supervised log name, command...: like bg, under scripts/supervise.sh, the demo's service
# manager: a daemon that exits with status 75 (wedged, lib/watchdog.h) is started again,
# as systemd would; its current PID is in $RUN/NAME.pid for down()
supervised() {
	local log=$1
	shift
	bg "$log" "$ROOT/scripts/supervise.sh" --pid-file "$RUN/$log.pid" -- "$@"
}
ns_exec() { # node: the nsenter prefix for bg (nsenter execs the program: same PID)
	echo nsenter --net="/run/netns/$PFX-$1"
}

# ---- the lab ----
set -e
for node in $NODES; do ip netns add "$PFX-$node"; done
[ "$HA" = 1 ] && ha_lab
ip link add g1 netns "$PFX-gen" type veth peer name t0 netns "$PFX-trad"
ip link add t1 netns "$PFX-trad" type veth peer name s1 netns "$PFX-srv"
ip link add g2 netns "$PFX-gen" type veth peer name f1 netns "$PFX-ff"
ip link add f2 netns "$PFX-ff" type veth peer name s2 netns "$PFX-srv"
# traditional path, routed by the trad node: 192.0.2.0/24 -> 198.51.100.0/24,
# 2001:db8:1::/64 -> 2001:db8:2::/64
a() { ip -n "$PFX-$1" addr add "$2" dev "$3" ${4:+nodad}; }
a gen 192.0.2.1/24 g1
a gen 192.0.2.10/24 g1  # a whitelisted partner
a gen 192.0.2.66/24 g1  # an attacker in 192.0.2.64/26
a gen 2001:db8:1::1/64 g1 6
a gen 2001:db8:1::66/64 g1 6  # an IPv6 attacker
a trad 192.0.2.254/24 t0
a trad 198.51.100.254/24 t1
a trad 2001:db8:1::fe/64 t0 6
a trad 2001:db8:2::fe/64 t1 6
a srv 198.51.100.1/24 s1
a srv 2001:db8:2::1/64 s1 6
# fast-forward path, one L2 segment bridged by the program: 203.0.113.0/24, 2001:db8:3::/64
a gen 203.0.113.1/24 g2
a gen 203.0.113.10/24 g2
a gen 203.0.113.66/24 g2
a gen 2001:db8:3::1/64 g2 6
a gen 2001:db8:3::66/64 g2 6
a srv 203.0.113.2/24 s2
a srv 2001:db8:3::2/64 s2 6
for l in gen:g1 gen:g2 trad:t0 trad:t1 ff:f1 ff:f2 srv:s1 srv:s2; do
	ip -n "$PFX-${l%%:*}" link set dev "${l#*:}" up
done
ip -n "$PFX-gen" route add 198.51.100.0/24 via 192.0.2.254
ip -n "$PFX-gen" -6 route add 2001:db8:2::/64 via 2001:db8:1::fe
ip -n "$PFX-srv" route add 192.0.2.0/24 via 198.51.100.254
ip -n "$PFX-srv" -6 route add 2001:db8:1::/64 via 2001:db8:2::fe
in_ns trad sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
# Frames redirected into a veth need NAPI on the receiving peer (GRO turns it on) and
# complete L4 checksums (a redirect drops the skb's checksum offload state).
in_ns gen ethtool -K g2 gro on tx off >/dev/null
in_ns srv ethtool -K s2 gro on tx off >/dev/null
set +e

# ---- controller and gateway on the host, the controller's sockets under $RUN ----
KEY=xdk_demo_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
CTL=ipc://$RUN/controller
# the controllers' sockets as the gateway, the agents and xdropctl are given them
CTL_RPC=$CTL-rpc.sock CTL_PUSH=$CTL-push.sock CTL_HEALTH=$CTL-health.sock XDROP_URL=$CTL-rpc.sock
if [ "$HA" = 1 ]; then
	CTL_RPC=$(ha_list rpc) CTL_PUSH=$(ha_list push) CTL_HEALTH=$(ha_list health)
	XDROP_URL=$(ha_sock 1 rpc),$(ha_sock 2 rpc),$(ha_sock 3 rpc)
	ha_controllers
else
	cat >"$RUN/controller.yaml" <<EOF
database: $RUN/controller.db
log_level: info
rpc:
  listen: $CTL-rpc.sock
push:
  listen: $CTL-push.sock
  heartbeat: 1s
health:
  listen: $CTL-health.sock
  beacon_interval: 1s
keys:
  admin_key: $KEY
EOF
	supervised controller "$BIN/xdrop-controller" --config "$RUN/controller.yaml"
fi
UI_DIR=$ROOT/webui/dist
cat >"$RUN/gateway.yaml" <<EOF
upstream:
  mode: controller
  url: $CTL_RPC
listen: 127.0.0.1:$PORT
ui:
  dir: $UI_DIR
log_level: info
EOF
bg gateway "$BIN/xdrop-gateway" --config "$RUN/gateway.yaml"
for _ in $(seq 300); do # a cluster elects and joins first
	curl -s -o /dev/null -H "X-API-Key: $KEY" "$API/info" && break
	sleep 0.1
done
curl -sf -o /dev/null -H "X-API-Key: $KEY" "$API/info" ||
	fail "the gateway or the controller did not come up"

# rest METHOD PATH [JSON]: prints the body; fails the demo on an HTTP error
rest() {
	local out code
	out=$(curl -s -w '\n%{http_code}' -X "$1" -H "X-API-Key: $KEY" \
		-H 'Content-Type: application/json' ${3:+--data-binary "$3"} "$API$2")
	code=${out##*$'\n'}
	out=${out%$'\n'*}
	if [ "${code:0:1}" != 2 ]; then
		say "demo: $1 $2 -> HTTP $code: $out" >&2
		return 1
	fi
	printf '%s\n' "$out"
}
jfield() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# ---- two nodes: registered through the REST API, then their agents started ----
node_up() { # name, description, mode-specific yaml
	local name=$1 desc=$2 key
	key=$(rest POST /nodes "{\"id\": \"$name\", \"name\": \"$desc\",
		\"address\": \"ipc://$RUN/agent-$name.sock\", \"comment\": \"make demo\"}" |
		jfield key) || fail "registering node $name"
	mkdir -p "$RUN/state-$name"
	cat >"$RUN/agent-$name.yaml" <<EOF
node:
  id: $name
  key: $key
$3
xdp_mode: native
capacity:
  rules: 65536
  cidr_rules: 16384
  prefixes: 4096
  rate_limited_rules: 1024
pin_dir: $PIN/$name
state_dir: $RUN/state-$name
rpc:
  listen: ipc://$RUN/agent-$name.sock
controller:
  rpc: $CTL_RPC
  push: $CTL_PUSH
  health: $CTL_HEALTH
beacon_interval: 1s
log_level: info
EOF
	bg "agent-$name" $(ns_exec "$name") "$ROOT/scripts/supervise.sh" \
		--pid-file "$RUN/agent-$name.pid" -- "$BIN/xdrop-agent" --config "$RUN/agent-$name.yaml"
}
node_up trad "traditional node (t0)" "mode: traditional
interface: t0"
node_up ff "fast-forward bridge (f1 -> f2)" "mode: fast_forward
fast_forward:
  inbound: f1
  outbound: f2
  filter_on: inbound"

# ---- example rules, through the REST API ----
rule() { rest POST /rules "$1" >/dev/null || fail "installing a rule"; }
for net in 192.0.2 203.0.113; do
	rule "{\"name\": \"attack range $net.64/26\", \"src_cidr\": \"$net.64/26\", \"action\": \"drop\"}"
	rule "{\"name\": \"attacker's QUIC flow allowed\", \"src_ip\": \"$net.66\", \"dst_port\": 443,
		\"protocol\": \"udp\", \"action\": \"pass\", \"comment\": \"more specific than the /26\"}"
	rest POST /whitelist "{\"name\": \"partner\", \"src_ip\": \"$net.10\",
		\"comment\": \"never filtered\"}" >/dev/null || fail "installing a whitelist entry"
done
rule '{"name": "memcached amplification", "dst_port": 11211, "protocol": "udp", "action": "drop"}'
rule '{"name": "telnet", "dst_port": 23, "protocol": "tcp", "action": "drop"}'
rule '{"name": "DNS limited", "dst_port": 53, "protocol": "udp", "action": "rate_limit",
	"rate_limit": 50, "burst": 10}'
rule '{"name": "IPv6 attack range", "src_cidr": "2001:db8:1::40/122", "action": "drop"}'
rule '{"name": "IPv6 attacker", "src_ip": "2001:db8:3::66", "protocol": "udp", "action": "drop"}'

# ---- traffic: a receiver on the server, a generator sending a fixed, bounded mix ----
cat >"$RUN/traffic.py" <<'EOF'
import os, select, signal, socket, sys, time

stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
signal.signal(signal.SIGINT, lambda *a: stop.append(1))

def receive(state, max_secs):
    socks = []
    for p in (53, 443, 8080, 11211):
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", p))
        s.setblocking(False)
        socks.append(s)
    counts, last, end = {}, 0.0, time.monotonic() + max_secs
    while not stop and time.monotonic() < end:
        for s in select.select(socks, [], [], 0.2)[0]:
            while True:
                try:
                    addr = s.recvfrom(2048)[1]
                except (BlockingIOError, InterruptedError):
                    break
                k = (addr[0].removeprefix("::ffff:"), s.getsockname()[1])
                counts[k] = counts.get(k, 0) + 1
        if time.monotonic() - last > 0.5:
            try:
                with open(state + ".tmp", "w") as f:
                    for (src, port), c in sorted(counts.items()):
                        f.write(f"{src} {port} {c}\n")
                os.replace(state + ".tmp", state)
            except OSError:  # the demo is being removed
                break
            last = time.monotonic()

def generate(max_secs):
    # per 10 ms tick: (source, destination, port, datagrams): at most ~4,000 packets/s
    mix = []
    for net, dst, net6, dst6 in (("192.0.2", "198.51.100.1", "2001:db8:1", "2001:db8:2::1"),
                                 ("203.0.113", "203.0.113.2", "2001:db8:3", "2001:db8:3::2")):
        mix += [(f"{net}.1", dst, 8080, 1),     # good: application traffic
                (f"{net}.1", dst, 53, 3),       # DNS: 300/s against a 50/s limit
                (f"{net}.1", dst, 11211, 2),    # memcached: dropped
                (f"{net}.10", dst, 11211, 1),   # partner to memcached: whitelisted
                (f"{net}.66", dst, 8080, 2),    # attacker: dropped by CIDR
                (f"{net}.66", dst, 443, 1),     # attacker's one allowed flow (QUIC): passed
                (f"{net6}::1", dst6, 8080, 1),  # good IPv6
                (f"{net6}::66", dst6, 8080, 2)] # IPv6 attacker: dropped
    socks = {}
    for src, _, _, _ in mix:
        if src not in socks:
            fam = socket.AF_INET6 if ":" in src else socket.AF_INET
            socks[src] = socket.socket(fam, socket.SOCK_DGRAM)
            socks[src].bind((src, 0))
    end, tick = time.monotonic() + max_secs, 0
    while not stop and time.monotonic() < end:
        tick += 1
        if tick % 10 == 0:  # a telnet attempt every 100 ms per path: its SYN is dropped
            for dst in ("198.51.100.1", "203.0.113.2"):
                t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                t.setblocking(False)
                t.connect_ex((dst, 23))
                t.close()
        for src, dst, port, n in mix:
            for _ in range(n):
                try:
                    socks[src].sendto(b"demo" * 8, (dst, port))
                except OSError:
                    pass
        time.sleep(0.01)

if sys.argv[1] == "receive":
    receive(sys.argv[2], float(sys.argv[3]))
else:
    generate(float(sys.argv[2]))
EOF
# Both run at most an hour (or the demo's length); the trap stops them sooner.
limit=3600
[ "$DEMO_SECONDS" -gt 0 ] && limit=$((DEMO_SECONDS + 5))
bg receiver $(ns_exec srv) python3 "$RUN/traffic.py" receive "$RUN/received" $limit
# give the agents their first snapshot before the traffic starts
for _ in $(seq 50); do
	n=$(rest GET /nodes | python3 -c 'import json,sys
print(sum(1 for n in json.load(sys.stdin)["nodes"] if n["status"] == "online"))')
	[ "$n" = 2 ] && break
	check_alive
	sleep 0.2
done
[ "$n" = 2 ] || fail "the agents did not come online"
bg generator $(ns_exec gen) python3 "$RUN/traffic.py" generate $limit
if [ "$HA" = 1 ]; then
	ha_writer_script
	bg writer bash "$RUN/writer.sh" "$API" "$KEY" "$RUN/writes" $limit
fi

cat <<EOF

==============================================================================
 XDrop demo is running.
   Web UI and REST API:  http://127.0.0.1:$PORT/   (API under /api/v1)
   API key (admin):      $KEY
   e.g.  curl -H 'X-API-Key: $KEY' http://127.0.0.1:$PORT/api/v1/rules
 For xdropctl (build/bin/xdropctl) in another shell, paste:
export XDROP_URL=$XDROP_URL
export XDROP_KEY=$KEY
$([ -f "$UI_DIR/index.html" ] || echo "   (webui/dist is not built yet: the UI pages answer 404; the API works)")
 Nodes: trad (traditional, t0) and ff (fast-forward f1 -> f2), both managed by
 the controller. Logs and configs: $RUN
 Traffic per second and path: good 100 v4 + 100 v6, DNS 300 (limited to 50),
 memcached 200 (dropped), partner 100 (whitelisted), attacker 200 v4 + 200 v6
 (dropped), attacker:443 100 (passed), telnet 10 (dropped).
$([ "$HA" = 1 ] && printf '%s\n' " Three controllers (namespaces $PFX-c1..c3, one dqlite cluster); a rule is" \
	" written every 0.5 s. In another shell: scripts/demo.sh ha-kill-leader," \
	" ha-cut-leader, ha-heal (with DEMO_NAME=$PFX if you set it).")
$([ "$DEMO_SECONDS" -gt 0 ] && echo " Stops after $DEMO_SECONDS s." || echo " Ctrl-C stops it and removes everything.")
==============================================================================
EOF

# ---- one status line per second ----
cat >"$RUN/status.py" <<'EOF'
import json, signal, sys, urllib.request
# Ctrl-C kills it (bash runs its INT trap only when the foreground child died of SIGINT)
signal.signal(signal.SIGINT, signal.SIG_DFL)
api, key, received, el = sys.argv[1:5]
writes = sys.argv[5] if len(sys.argv) > 5 else None  # make demo-ha
def get(path):
    req = urllib.request.Request(api + path, headers={"X-API-Key": key})
    with urllib.request.urlopen(req, timeout=2) as r:
        return json.load(r)
try:
    stats, nodes = get("/stats"), get("/nodes")
except (OSError, ValueError) as e:
    print(f"t={el:>4}s (status unavailable: {e})", flush=True)
    sys.exit(0)
got = {}
try:
    for line in open(received):
        src, port, c = line.split()
        got[(src, int(port))] = int(c)
except OSError:
    pass
def g(src, port): return sum(got.get((s, port), 0) for s in src)
ha = ""
if writes:
    try:
        c = get("/cluster")
        m = c.get("members", [])
        up = sum(1 for x in m if x.get("reachable"))
        lead = str(c.get("leader_id") or 0)
        ha = (f"leader c{lead}" if lead != "0" else "no leader") + f" ({up}/{len(m)} up) | "
    except (OSError, ValueError):
        ha = "leader ? | "
    try:
        ok, bad, code = open(writes).read().split()
        ha += f"writes ok {ok} failed {bad} | "
    except (OSError, ValueError):
        pass
r = stats.get("rates", {})
ns = " ".join(f'{n["id"]}={n["status"]}@{n["applied_revision"]}' for n in nodes.get("nodes", []))
print(f't={el:>4}s {ha}rev {stats.get("revision")} rules {stats.get("rules")} wl {stats.get("whitelist")} | {ns} | '
      f'pps rx {r.get("rx_pps", 0):.0f} pass {r.get("passed_pps", 0):.0f} '
      f'drop {r.get("dropped_pps", 0):.0f} limit {r.get("rate_limited_pps", 0):.0f} | server got: '
      f'good {g(("192.0.2.1", "203.0.113.1", "2001:db8:1::1", "2001:db8:3::1"), 8080)} '
      f'dns {g(("192.0.2.1", "203.0.113.1"), 53)} '
      f'memcached {g(("192.0.2.1", "203.0.113.1"), 11211)} '
      f'partner {g(("192.0.2.10", "203.0.113.10"), 11211)} '
      f'attack {g(("192.0.2.66", "203.0.113.66", "2001:db8:1::66", "2001:db8:3::66"), 8080)} '
      f'quic {g(("192.0.2.66", "203.0.113.66"), 443)}', flush=True)
EOF
STATUS_HA=()
[ "$HA" = 1 ] && STATUS_HA=("$RUN/writes")
t0=${EPOCHREALTIME/./}
next=$((t0 + 1000000))
while :; do
	now=${EPOCHREALTIME/./}
	if [ "$now" -lt "$next" ]; then
		printf -v nap '0.%06d' $((next - now))
		sleep "$nap"
	fi
	next=$((next + 1000000))
	check_alive
	now=${EPOCHREALTIME/./}
	el=$(((now - t0) / 1000000))
	python3 "$RUN/status.py" "$API" "$KEY" "$RUN/received" "$el" "${STATUS_HA[@]}" 2>/dev/null ||
		say "t=${el}s (status unavailable)"
	[ "$DEMO_SECONDS" -gt 0 ] && [ "$el" -ge "$DEMO_SECONDS" ] && break
done
exit 0
