// SPDX-License-Identifier: MIT
/*
 * testdp: see testdp.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "testdp.h"

struct dataplane *testdp_open(bool test_clock, bool record_gen)
{
	struct dataplane_opts o = {
	    .sz = sizeof(o),
	    .test_clock = test_clock,
	    .record_gen = record_gen,
	};
	struct dataplane *dp;
	int err;

	log_route_libbpf();
	log_set_level(LOG_LEVEL_WARN);
	err = dataplane_open(&dp, &o);
	if (err) {
		fprintf(stderr, "dataplane_open: %s\n", strerror(-err));
		exit(1);
	}
	return dp;
}

int testdp_spec(const char *line, struct rule_spec *out)
{
	struct rule_error err;
	bool wl = strncmp(line, "wl:", 3) == 0;

	if (rule_parse_kv(wl ? line + 3 : line, wl ? XDROP_KIND_WL : XDROP_KIND_RULE, out, &err)) {
		fprintf(stderr, "bad test rule '%s': %s: %s\n", line, err.field, err.reason);
		return -EINVAL;
	}
	return 0;
}

int testdp_load(struct dataplane *dp, const char *const *lines)
{
	struct rule_spec specs[64];
	struct dp_result res;
	size_t n = 0;
	int err;

	for (; lines && lines[n]; n++) {
		if (n == 64 || testdp_spec(lines[n], &specs[n]))
			return -EINVAL;
	}
	err = dataplane_replace(dp, 1u << XDROP_KIND_RULE | 1u << XDROP_KIND_WL, specs, n, &res);
	if (err)
		fprintf(stderr, "replace failed: %s (%s: %s)\n", strerror(-err),
			res.err.field ? res.err.field : "-", res.err.reason ? res.err.reason : "-");
	return err;
}

int testdp_send(struct dataplane *dp, const struct pkt_desc *d)
{
	uint8_t buf[PKT_MAX];
	int len = pkt_build(d, buf);

	if (len < 0)
		return -EINVAL;
	return pkt_run(dataplane_prog_fd(dp), buf, (size_t)len);
}
