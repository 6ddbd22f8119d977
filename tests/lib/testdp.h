/* SPDX-License-Identifier: MIT */
/*
 * testdp: helpers shared by the data-plane suites: open a data plane for a test, load a
 * rule set written as text lines, send described packets.
 */
#ifndef XDROP_TEST_DP_H
#define XDROP_TEST_DP_H

#include "dataplane.h"
#include "pkt.h"

/* Opens an unpinned data plane with test switches; aborts the test binary on failure. */
struct dataplane *testdp_open(bool test_clock, bool record_gen);

/* Replaces every entry with the given lines: "wl: <fields>" for whitelist entries,
 * otherwise a rule in rule_parse_kv syntax. NULL ends the list. Returns 0 or -errno. */
int testdp_load(struct dataplane *dp, const char *const *lines);

/* Builds and runs one packet; returns the verdict or a negative value. */
int testdp_send(struct dataplane *dp, const struct pkt_desc *d);

/* Parses one line as testdp_load does; returns 0 or -EINVAL (and prints why). */
int testdp_spec(const char *line, struct rule_spec *out);

#endif
