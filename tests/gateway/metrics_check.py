#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""tests/gateway/metrics_check.py: checks a /metrics body by Prometheus conventions.

Usage: metrics_check.py FILE CHECK [ARG...]
  structure      parses with prometheus_client (Debian python3-prometheus-client); every
                 family has exactly one HELP and one TYPE line, before its samples; every
                 counter is named *_total; no series is written twice; the names retired in
                 issue 13 are gone; xdrop_build_info has the gateway's
  one_hot        xdrop_node_status (5 statuses) and xdrop_node_filtering (4 states): each
                 node has every series, exactly one of them 1; xdrop_node_up is 0 or 1
  identity       for each node, sum(xdrop_packets_total) == xdrop_received_packets_total
                 and the same for bytes (the verdict/reason series do not overlap)
  rule NAME N    an xdrop_rule_info series names NAME, and that rule_id's
                 xdrop_rule_dropped_packets_total and _matched_packets_total are both N
  entry NAME N   an xdrop_whitelist_info series names NAME, and that entry_id's
                 xdrop_whitelist_matched_packets_total is N
  has FAMILY     FAMILY has at least one sample
  nodes N        exactly N nodes have node series (xdrop_node_info)
  value SERIES V the sample written as SERIES (e.g. 'xdrop_upstream_up') has value V
  reasons_filled fails when packets were received but every reason an agent counts only
                 since issue 13 (rule, rate_limit passed, non_ip, default) is 0: an agent
                 that predates the exclusive reason counters
Prints what is wrong and exits 1, or prints a one-line summary and exits 0.
"""
import re
import sys
from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

RETIRED = ["xdrop_rule_pps", "xdrop_rule_matches_total", "xdrop_rule_drops_total",
           "xdrop_node_packets_total", "xdrop_node_pps", "xdrop_pps"]


def samples(text):
    """{sample name: [(labels dict, value)]}, parsed by prometheus_client."""
    out = defaultdict(list)
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[s.name].append((s.labels, s.value))
    return out


def structure(text, _args):
    errs = []
    fams = list(text_string_to_metric_families(text))  # raises on a parse error
    help_n, type_n, types, first_sample = defaultdict(int), defaultdict(int), {}, {}
    seen = set()
    for i, line in enumerate(text.splitlines()):
        m = re.match(r"# (HELP|TYPE) (\S+) ?(.*)", line)
        if m:
            (help_n if m.group(1) == "HELP" else type_n)[m.group(2)] += 1
            if m.group(1) == "TYPE":
                types[m.group(2)] = (m.group(3), i)
            continue
        if not line or line.startswith("#"):
            continue
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
        series = line.rsplit(" ", 1)[0]
        if series in seen:
            errs.append(f"series written twice: {series}")
        seen.add(series)
        first_sample.setdefault(name, i)
        if name not in types:
            errs.append(f"{name}: sample before (or without) its TYPE line")
    for name, n in type_n.items():
        if n != 1 or help_n[name] != 1:
            errs.append(f"{name}: {n} TYPE and {help_n[name]} HELP lines")
    for name, (t, _) in types.items():
        if t == "counter" and not name.endswith("_total"):
            errs.append(f"counter {name} is not named *_total")
        if t != "counter" and name.endswith("_total"):
            errs.append(f"{t} {name} is named like a counter")
    for name in RETIRED:
        if name in types:
            errs.append(f"retired family {name} is still exported")
    s = samples(text)
    if not any(l.get("component") == "gateway" for l, _ in s.get("xdrop_build_info", [])):
        errs.append("no xdrop_build_info{component=\"gateway\"}")
    return errs, f"{len(fams)} families, {len(seen)} series"


def one_hot(text, _args):
    errs = []
    s = samples(text)
    for fam, label, n_values in (("xdrop_node_status", "status", 5),
                                 ("xdrop_node_filtering", "state", 4)):
        per = defaultdict(list)
        for labels, v in s.get(fam, []):
            per[labels["node"]].append((labels[label], v))
        for node, vals in per.items():
            ones = [k for k, v in vals if v == 1]
            if len(vals) != n_values or len(ones) != 1 or any(v not in (0, 1) for _, v in vals):
                errs.append(f"{fam}{{node={node}}} is not one-hot over {n_values}: {vals}")
    for labels, v in s.get("xdrop_node_up", []):
        if v not in (0, 1):
            errs.append(f"xdrop_node_up{labels} = {v}")
    nodes = {l["node"] for l, _ in s.get("xdrop_node_info", [])}
    for fam in ("xdrop_node_status", "xdrop_node_filtering", "xdrop_node_up"):
        got = {l["node"] for l, _ in s.get(fam, [])}
        if got != nodes:
            errs.append(f"{fam} nodes {sorted(got)} != xdrop_node_info nodes {sorted(nodes)}")
    return errs, f"{len(nodes)} nodes one-hot"


def identity(text, _args):
    errs = []
    s = samples(text)
    summary = []
    for unit in ("packets", "bytes"):
        total = defaultdict(float)
        for labels, v in s.get(f"xdrop_{unit}_total", []):
            total[labels["node"]] += v
        rx = {l["node"]: v for l, v in s.get(f"xdrop_received_{unit}_total", [])}
        if set(total) != set(rx):
            errs.append(f"{unit}: nodes {sorted(total)} != received nodes {sorted(rx)}")
        for node in rx:
            if total.get(node) != rx[node]:
                errs.append(f"node {node}: sum(xdrop_{unit}_total) = {total.get(node)}, "
                            f"xdrop_received_{unit}_total = {rx[node]}")
            summary.append(f"{node} {unit} {int(rx[node])}")
    return errs, ", ".join(summary) or "no nodes"


def rule(text, args):
    name, want = args[0], float(args[1])
    s = samples(text)
    ids = [l["rule_id"] for l, _ in s.get("xdrop_rule_info", []) if l.get("name") == name]
    if len(ids) != 1:
        return [f"xdrop_rule_info with name={name}: {len(ids)} series"], ""
    errs = []
    for fam in ("xdrop_rule_dropped_packets_total", "xdrop_rule_matched_packets_total"):
        got = [v for l, v in s.get(fam, []) if l["rule_id"] == ids[0]]
        if got != [want]:
            errs.append(f"{fam}{{rule_id={ids[0]}}} = {got}, want {want}")
    return errs, f"rule {name} ({ids[0]}): {int(want)} packets"


def reasons_filled(text, _args):
    # the reasons only an agent of issue 13 counts (whitelisted, rate_limited, malformed
    # and protected were counted before it)
    new = {("dropped", "rule"), ("passed", "rule"), ("passed", "rate_limit"),
           ("passed", "non_ip"), ("passed", "default")}
    s = samples(text)
    rx = sum(v for _, v in s.get("xdrop_received_packets_total", []))
    by_new = sum(v for l, v in s.get("xdrop_packets_total", [])
                 if (l["verdict"], l["reason"]) in new)
    if rx and not by_new:
        return [f"received {rx} packets, every reason new in issue 13 is 0"], ""
    return [], f"received {rx}, by the new reasons {by_new}"


def entry(text, args):
    name, want = args[0], float(args[1])
    s = samples(text)
    ids = [l["entry_id"] for l, _ in s.get("xdrop_whitelist_info", []) if l.get("name") == name]
    if len(ids) != 1:
        return [f"xdrop_whitelist_info with name={name}: {len(ids)} series"], ""
    got = [v for l, v in s.get("xdrop_whitelist_matched_packets_total", [])
           if l["entry_id"] == ids[0]]
    if got != [want]:
        return [f"xdrop_whitelist_matched_packets_total{{entry_id={ids[0]}}} = {got}, "
                f"want {want}"], ""
    return [], f"entry {name} ({ids[0]}): {int(want)} packets"


def has(text, args):
    n = len(samples(text).get(args[0], []))
    return ([] if n else [f"no {args[0]} sample"]), f"{args[0]}: {n} samples"


def nodes(text, args):
    got = {l["node"] for l, _ in samples(text).get("xdrop_node_info", [])}
    if len(got) != int(args[0]):
        return [f"{len(got)} nodes ({sorted(got)}), want {args[0]}"], ""
    return [], f"nodes {sorted(got)}"


def value(text, args):
    for line in text.splitlines():
        if line.rsplit(" ", 1)[0] == args[0]:
            v = line.rsplit(" ", 1)[1]
            return ([] if float(v) == float(args[1]) else [f"{args[0]} = {v}, want {args[1]}"],
                    f"{args[0]} = {v}")
    return [f"no sample {args[0]}"], ""


CHECKS = {"structure": structure, "one_hot": one_hot, "identity": identity, "rule": rule,
          "nodes": nodes, "value": value, "reasons_filled": reasons_filled,
          "entry": entry, "has": has}


def main():
    if len(sys.argv) < 3 or sys.argv[2] not in CHECKS:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as fh:
        text = fh.read()
    errs, summary = CHECKS[sys.argv[2]](text, sys.argv[3:])
    for e in errs:
        print(e)
    if not errs:
        print(summary)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
