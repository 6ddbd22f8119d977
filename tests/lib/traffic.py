#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Traffic and sampling helper for the namespace labs (tests/lib/netns.sh: test_agent.sh,
# test_veth.sh). Everything is bounded in count or time, and exits on SIGTERM after writing
# what it has.
#
#   serve STATE PORTS MAXSECS [TCPPORTS]  count UDP datagrams per (port, source) into STATE
#                                      (rewritten atomically within 50 ms of a change);
#                                      TCPPORTS: listeners that accept and close
#   udp SRC DST PORT COUNT [GAP] [SPORT]  send COUNT datagrams (optionally from SPORT);
#                                      prints "SENT MS", MS from the first send to the last
#   tcp SRC DST PORT                   exit 0 when a connection is accepted within 1 s
#   send SPEC...                       SPEC = src,dst,port,count[,pps]: all flows at once,
#                                      each paced at pps (0 = as fast as it goes)
#   stream SRC DST PORT GAP MAXSECS OUT   send until SIGTERM or MAXSECS; OUT gets the count
#   links IFINDEX OUT MAXSECS          every 50 ms, one line: the ids of the XDP links on
#                                      IFINDEX (what `bpftool link` lists, with ifindex)
#   xdplinks IFINDEX                   print those ids once
import ctypes, os, select, signal, socket, sys, time

stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))


def write_atomic(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def serve(path, ports, max_secs, tcp_ports=()):
    socks = {}
    for p in tcp_ports:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::", p))
        s.listen(64)
        s.setblocking(False)
        socks[s] = -p  # negative: a listener
    for p in ports:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:  # beyond net.core.rmem_max (root): a busy machine must not drop counted datagrams
            s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 1 << 24)
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        s.bind(("::", p))
        s.setblocking(False)
        socks[s] = p
    counts, dirty, last = {}, True, 0.0
    end = time.monotonic() + max_secs
    while not stop and time.monotonic() < end:
        ready = select.select(list(socks), [], [], 0.05)[0]
        for s in ready:
            while True:
                try:
                    if socks[s] < 0:
                        s.accept()[0].close()
                        continue
                    addr = s.recvfrom(2048)[1]
                except (BlockingIOError, InterruptedError):
                    break
                key = (socks[s], addr[0].removeprefix("::ffff:"))
                counts[key] = counts.get(key, 0) + 1
                dirty = True
        now = time.monotonic()
        if dirty and (not ready or now - last > 0.05):
            write_atomic(path, "".join(f"{p} {a} {c}\n" for (p, a), c in sorted(counts.items())))
            dirty, last = False, now
    write_atomic(path, "".join(f"{p} {a} {c}\n" for (p, a), c in sorted(counts.items())))


def sock_for(src, dst, sport=0):
    s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, sport))
    return s


def udp(src, dst, port, count, gap=0.0, sport=0):
    s = sock_for(src, dst, sport)
    sent, first, last = 0, time.monotonic(), time.monotonic()
    for _ in range(count):
        s.sendto(b"x" * 32, (dst, port))
        last = time.monotonic()
        sent += 1
        if gap:
            time.sleep(gap)
    print(sent, int((last - first) * 1000))


def tcp(src, dst, port):
    s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(1.0)
    try:
        s.connect((dst, port))
        return 0
    except OSError:
        return 1


def send(specs):
    jobs = []
    for spec in specs:
        src, dst, port, count, *rest = spec.split(",")
        jobs.append([sock_for(src, dst), dst, int(port), int(count),
                     float(rest[0]) if rest else 0.0, 0])
    t0 = time.monotonic()
    while any(j[5] < j[3] for j in jobs):
        for j in jobs:
            s, dst, port, count, pps, sent = j
            due = count if not pps else min(count, int((time.monotonic() - t0) * pps) + 1)
            while j[5] < due:
                try:
                    s.sendto(b"xdrop-probe" * 4, (dst, port))
                except OSError:
                    pass
                j[5] += 1
        if any(j[4] for j in jobs):
            time.sleep(0.002)


def stream(src, dst, port, gap, max_secs, out):
    s = sock_for(src, dst)
    sent, end = 0, time.monotonic() + max_secs
    while not stop and time.monotonic() < end:
        try:
            s.sendto(b"x" * 32, (dst, port))
            sent += 1
        except OSError:
            pass
        time.sleep(gap)
    write_atomic(out, f"{sent}\n")


# bpf(2) straight from Python: this bpftool does not print an XDP link's ifindex.
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
SYS_bpf = {"x86_64": 321, "aarch64": 280}[os.uname().machine]
BPF_OBJ_GET_INFO_BY_FD, BPF_LINK_GET_FD_BY_ID, BPF_LINK_GET_NEXT_ID = 15, 30, 31
BPF_LINK_TYPE_XDP = 6


def _bpf(cmd, attr):
    return _libc.syscall(SYS_bpf, cmd, ctypes.byref(attr), ctypes.sizeof(attr))


def xdp_links(ifindex):
    """ids of the XDP links attached to ifindex (bpf_link_info: type, id, prog_id, then
    the xdp union member's ifindex at offset 16)"""
    found, cur = [], 0
    while True:
        attr = (ctypes.c_uint32 * 32)()
        attr[0] = cur
        if _bpf(BPF_LINK_GET_NEXT_ID, attr) < 0:
            return found
        cur = attr[1]
        attr = (ctypes.c_uint32 * 32)()
        attr[0] = cur
        fd = _bpf(BPF_LINK_GET_FD_BY_ID, attr)
        if fd < 0:
            continue  # gone meanwhile
        info = (ctypes.c_uint32 * 64)()
        attr = (ctypes.c_uint32 * 32)()
        attr[0], attr[1] = fd, ctypes.sizeof(info)
        ptr = ctypes.addressof(info)
        attr[2], attr[3] = ptr & 0xFFFFFFFF, ptr >> 32
        rc = _bpf(BPF_OBJ_GET_INFO_BY_FD, attr)
        os.close(fd)
        if rc == 0 and info[0] == BPF_LINK_TYPE_XDP and info[4] == ifindex:
            found.append(info[1])


def links(ifindex, out, max_secs):
    end = time.monotonic() + max_secs
    with open(out, "a") as f:
        while not stop and time.monotonic() < end:
            f.write(" ".join(str(i) for i in xdp_links(ifindex)) + "\n")
            f.flush()
            time.sleep(0.05)


cmd, a = sys.argv[1], sys.argv[2:]
if cmd == "serve":
    serve(a[0], [int(p) for p in a[1].split(",")], float(a[2]),
          [int(p) for p in a[3].split(",")] if len(a) > 3 else ())
elif cmd == "udp":
    udp(a[0], a[1], int(a[2]), int(a[3]), float(a[4]) if len(a) > 4 else 0.0,
        int(a[5]) if len(a) > 5 else 0)
elif cmd == "tcp":
    sys.exit(tcp(a[0], a[1], int(a[2])))
elif cmd == "send":
    send(a)
elif cmd == "stream":
    stream(a[0], a[1], int(a[2]), float(a[3]), float(a[4]), a[5])
elif cmd == "links":
    links(int(a[0]), a[1], float(a[2]))
elif cmd == "xdplinks":
    print(" ".join(str(i) for i in xdp_links(int(a[0]))))
else:
    sys.exit(f"unknown command {cmd}")
