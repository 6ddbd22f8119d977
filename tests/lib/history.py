#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# tests/lib/history.py: the history checker of the cluster fault suites. A writer creates
# rules with unique names at a steady rate through xdropctl and records each write with its
# outcome; readers list the rules and record what they saw; check verifies the history.
#
#   history.py write LOG PREFIX COUNT RATE SECS URL...
#       COUNT writes at most, RATE a second, for SECS at most; each write goes to the
#       current URL and, unless acknowledged, the next one takes over. One JSON line a
#       write: name, t0/t1 (monotonic s), outcome, revision, url, why. Outcomes: acked
#       (exit 0, revision of the reply); refused (an answer given before anything ran:
#       NOTHING_RAN); unknown (anything else: no answer, a leader lost at COMMIT, ...).
#   history.py gwrite LOG PREFIX COUNT RATE SECS BASE THREADS
#       the same through the gateway at BASE (http://HOST:PORT): THREADS threads, each on
#       its own keep-alive connection, share RATE writes a second (POST /api/v1/rules with
#       an Idempotency-Key each); a line also has the HTTP status and Retry-After. Acked:
#       2xx; refused: an error body saying nothing ran; unknown: anything else.
#   history.py window GWLOG T BOUND
#       the gateway writes of GWLOG around a failover that began at T (monotonic s): every
#       answer is 2xx or 503; every 503 has Retry-After and a JSON body with "error"; no
#       503 answered before T or for a write begun BOUND s after it (the failover window).
#       Prints the figures (rate, latency, 503 count, last 503 after T) as 'figure:
#       NAME=VALUE' lines.
#   history.py read LOG SECS URL
#       lists the rules on URL every 0.2 s for SECS; one JSON line a read: t0/t1, names
#       (or why it failed).
#   history.py check FINAL_JSON WRITELOG... [-- READLOG...]
#       FINAL_JSON: `xdropctl --json rules list` output with every rule, then a line with
#       the revision. Verifies: every acknowledged write present exactly once; no rule
#       present or read that was never written; acknowledged revisions unique and within
#       1..final revision; no refused write present; the final revision is the number of rules (one revision a
#       create: no gap, none reused); each reader's sets never lose a name (one history);
#       a read that began after a write was acknowledged contains it (reads are
#       linearizable on dqlite). Prints '# ' lines and exits 1 on the first broken rule.
import http.client
import json
import os
import subprocess
import sys
import threading
import time

CTL = os.environ.get("CTL_BIN", "build/bin/xdropctl")
NOTHING_RAN = ("the store does not answer", "nothing was changed", "cannot look up request_id", "ALREADY_EXISTS",
               "INVALID_ARGUMENT", "UNAUTHENTICATED", "PERMISSION_DENIED")


def ctl(url, args, timeout):
    env = dict(os.environ, XDROP_URL=url)
    return subprocess.run([CTL] + args, env=env, capture_output=True, text=True,
                          timeout=timeout)


def one_write(url, name, k):
    # a destination of its own per writer (its prefix) and write: no two rules match alike
    dst = "10.%d.%d.%d" % (ord(name[0]) & 255, k >> 8 & 255, k & 255)
    rec = {"name": name, "url": url, "t0": time.monotonic()}
    try:
        p = ctl(url, ["--json", "--timeout", "2000", "rules", "add", "name=" + name,
                      "dst_ip=" + dst, "action=drop"], 4)
    except subprocess.TimeoutExpired:
        p = None
    rec["t1"] = time.monotonic()
    if p is not None and p.returncode == 0:
        rec["outcome"] = "acked"
        try:
            rec["revision"] = int(json.loads(p.stdout)["sync"]["revision"])
        except (ValueError, KeyError, TypeError):
            rec["revision"] = None
    else:
        why = p.stderr.strip() if p else "no answer in 4 s"
        rec["why"] = why[-300:]
        # refused: only when every answer (xdropctl prints each one it resent after, then
        # the last) was given before anything ran; any other failure (the transport's, a
        # lost leader at COMMIT, ...) leaves the write's fate open
        answers = [x for x in why.split("\n") if x.strip()]
        rec["outcome"] = "refused" if answers and all(
            any(m in x for m in NOTHING_RAN) and "may or may not" not in x
            for x in answers) else "unknown"
    return rec


def write(log, prefix, count, rate, secs, urls):
    end = time.monotonic() + secs
    cur = 0
    with open(log, "w") as f:
        for k in range(min(count, 65536)):
            due = time.monotonic()
            if due >= end:
                break
            rec = one_write(urls[cur], "%s%d" % (prefix, k), k)
            f.write(json.dumps(rec) + "\n")
            f.flush()
            if rec["outcome"] != "acked":
                cur = (cur + 1) % len(urls)
            left = due + 1.0 / rate - time.monotonic()
            if left > 0:
                time.sleep(left)


def gw_one(conn, name, k):
    dst = "10.%d.%d.%d" % (ord(name[0]) & 255, k >> 8 & 255, k & 255)
    body = json.dumps({"name": name, "dst_ip": dst, "action": "drop"})
    hdr = {"Content-Type": "application/json", "X-API-Key": os.environ["XDROP_KEY"],
           "Idempotency-Key": "h-" + name}
    rec = {"name": name, "t0": time.monotonic()}
    try:
        conn.request("POST", "/api/v1/rules", body, hdr)
        r = conn.getresponse()
        text = r.read().decode(errors="replace")
        rec["status"] = r.status
        rec["retry_after"] = r.getheader("Retry-After")
    except (OSError, http.client.HTTPException) as e:
        conn.close()
        text, rec["status"] = str(e), 0
    rec["t1"] = time.monotonic()
    if 200 <= rec["status"] < 300:
        rec["outcome"] = "acked"
        try:
            rec["revision"] = int(json.loads(text)["sync"]["revision"])
        except (ValueError, KeyError, TypeError):
            rec["revision"] = None
    else:
        rec["why"] = text[-1000:]
        rec["outcome"] = "refused" if any(m in text for m in NOTHING_RAN) and \
            "may or may not" not in text else "unknown"
    return rec


def gwrite(log, prefix, count, rate, secs, base, threads):
    host, port = base.split("//")[1].split(":")
    start = time.monotonic()
    end = start + secs
    lock = threading.Lock()
    nxt = [0]
    with open(log, "w") as f:
        def worker():
            conn = http.client.HTTPConnection(host, int(port), timeout=4)
            while True:
                with lock:
                    k = nxt[0]
                    nxt[0] += 1
                due = start + k / rate  # the k-th write's slot, whichever thread takes it
                if k >= min(count, 65536) or due >= end or time.monotonic() >= end:
                    return
                if due > time.monotonic():
                    time.sleep(due - time.monotonic())
                rec = gw_one(conn, "%s%d" % (prefix, k), k)
                with lock:
                    f.write(json.dumps(rec) + "\n")
                    f.flush()
        ts = [threading.Thread(target=worker) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()


def window(log, t, bound):
    ws = sorted(lines(log), key=lambda w: w["t0"])
    bad = [w for w in ws if w["status"] not in range(200, 300) and w["status"] != 503]
    u = [w for w in ws if w["status"] == 503]
    span = ws[-1]["t1"] - ws[0]["t0"] if ws else 0
    print("figure: gateway writes a second (achieved)=%.0f" % (len(ws) / span if span else 0))
    lat = sorted(int((w["t1"] - w["t0"]) * 1000) for w in ws) or [0]
    print("figure: gateway write latency p50/p90/max (ms)=%d/%d/%d" %
          (lat[len(lat) // 2], lat[len(lat) * 9 // 10], lat[-1]))
    print("figure: gateway 503 answers=%d of %d" % (len(u), len(ws)))
    late = max([w["t1"] - t for w in u] or [0])
    print("figure: last 503 answered after the kill (ms)=%d" % int(late * 1000))
    if bad:
        fail("%d answers neither 2xx nor 503, e.g. %s" % (len(bad), bad[0]))
    for w in u:
        try:
            ok = "error" in json.loads(w["why"])
        except ValueError:
            ok = False
        if not w.get("retry_after") or not ok:
            fail("a 503 without Retry-After or a JSON error: %s" % w)
        if w["t1"] < t or w["t0"] > t + bound:
            fail("a 503 outside the failover window (%.1f s after it began): %s" %
                 (w["t0"] - t, w["why"][:200]))


def read(log, secs, url):
    end = time.monotonic() + secs
    with open(log, "w") as f:
        while time.monotonic() < end:
            rec = {"url": url, "t0": time.monotonic()}
            try:
                p = ctl(url, ["--json", "--timeout", "3000", "rules", "list", "--limit",
                              "10000"], 5)
                if p.returncode == 0:
                    rec["names"] = [r["name"] for r in json.loads(p.stdout)["rules"]]
                else:
                    rec["why"] = p.stderr.strip()[-200:]
            except subprocess.TimeoutExpired:
                rec["why"] = "no answer in 5 s"
            rec["t1"] = time.monotonic()
            f.write(json.dumps(rec) + "\n")
            f.flush()
            time.sleep(0.2)


def lines(path):
    with open(path) as f:
        return [json.loads(x) for x in f if x.strip()]


def fail(msg):
    print("# history: " + msg)
    sys.exit(1)


def check(final, wlogs, rlogs):
    with open(final) as f:
        text = f.read().strip().split("\n")
    rev = int(text[-1])
    names = [r["name"] for r in json.loads("\n".join(text[:-1]))["rules"]]
    writes = [w for log in wlogs for w in lines(log)]
    written = {w["name"] for w in writes}
    acked = [w for w in writes if w["outcome"] == "acked"]
    counts = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    stats = {o: sum(1 for w in writes if w["outcome"] == o)
             for o in ("acked", "refused", "unknown")}
    print("# history: %d writes (%s), %d rules, revision %d" %
          (len(writes), ", ".join("%d %s" % (v, k) for k, v in stats.items()),
           len(names), rev))
    for w in acked:
        if counts.get(w["name"], 0) != 1:
            fail("acknowledged %s present %d times" % (w["name"], counts.get(w["name"], 0)))
    for n in names:
        if n not in written:
            fail("%s present but never written" % n)
    revs = [w["revision"] for w in acked]
    if None in revs or len(set(revs)) != len(revs):
        fail("acknowledged revisions missing or reused")
    if revs and (min(revs) < 1 or max(revs) > rev):
        fail("an acknowledged revision outside 1..%d" % rev)
    if rev != len(names):
        fail("revision %d for %d rules: a gap or a reused revision" % (rev, len(names)))
    refused = [w for w in writes if w["outcome"] == "refused" and w["name"] in counts]
    if refused:
        fail("refused writes present: %s" % "; ".join(
            "%s (%s)" % (w["name"], w["why"]) for w in refused[:3]))
    nreads = 0
    for log in rlogs:
        seen = set()
        for r in lines(log):
            if "names" not in r:
                continue
            nreads += 1
            got = set(r["names"])
            if got - written:
                fail("a read on %s saw %s, never written" % (r["url"], sorted(got - written)[:3]))
            if seen - got:
                fail("a read on %s lost %s seen before" % (r["url"], sorted(seen - got)[:3]))
            seen = got
            late = [w["name"] for w in acked if w["t1"] < r["t0"] and w["name"] not in got]
            if late:
                fail("a read on %s misses %s acknowledged before it began" % (r["url"], late[:3]))
    print("# history: %d reads checked" % nreads)


def main(a):
    if a[0] == "write":
        write(a[1], a[2], int(a[3]), float(a[4]), float(a[5]), a[6:])
    elif a[0] == "gwrite":
        gwrite(a[1], a[2], int(a[3]), float(a[4]), float(a[5]), a[6], int(a[7]))
    elif a[0] == "window":
        window(a[1], float(a[2]), float(a[3]))
    elif a[0] == "read":
        read(a[1], float(a[2]), a[3])
    elif a[0] == "check":
        rest = a[2:]
        cut = rest.index("--") if "--" in rest else len(rest)
        check(a[1], rest[:cut], rest[cut + 1:])
    else:
        sys.exit("usage: history.py write|read|check ...")


if __name__ == "__main__":
    main(sys.argv[1:])
