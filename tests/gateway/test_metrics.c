// SPDX-License-Identifier: MIT
/*
 * test_metrics: the gateway's node and traffic families (gateway/metrics_fleet.c) from
 * made-up upstream replies with every reason counter non-zero, so that the mapping of
 * Counters fields to verdict and reason is checked with real numbers: the series of a
 * node add up to what it received, exactly, packets and bytes. Also: label escaping, the
 * one-hot families (an unknown value counts as "unknown"), the fallback from a shared or
 * empty name to the node's id, a node without figures (no traffic series), node mode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics_int.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The families' text for s (free()). */
static char *render(const struct mx_scrape *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	metrics_fleet(f, s);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* The sum of the values of the sample lines that start with prefix; *n their count. */
static unsigned long long sum_of(const char *text, const char *prefix, size_t *n)
{
	unsigned long long sum = 0;
	size_t count = 0;

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		const char *eol = strchr(l, '\n'), *sp;

		if (strncmp(l, prefix, strlen(prefix)))
			continue;
		for (sp = eol ? eol : l + strlen(l); sp > l && sp[-1] != ' '; sp--)
			;
		sum += strtoull(sp, NULL, 10);
		count++;
	}
	if (n)
		*n = count;
	return sum;
}

static bool has_line(const char *text, const char *line)
{
	size_t l = strlen(line);

	for (const char *p = strstr(text, line); p; p = strstr(p + 1, line))
		if ((p == text || p[-1] == '\n') && (p[l] == '\n' || !p[l]))
			return true;
	return false;
}

/* Every reason of c set to a distinct value, rx the sum: base picks the values. */
static void fill(Xdrop__V1__Counters *c, uint64_t base)
{
	uint64_t *p[] = {&c->rule_dropped,	&c->rate_limited, &c->malformed,  &c->rule_passed,
			 &c->rate_limit_passed, &c->whitelisted,  &c->protected_, &c->non_ip,
			 &c->default_passed};
	uint64_t *b[] = {&c->rule_dropped_bytes,      &c->rate_limited_bytes,
			 &c->malformed_bytes,	      &c->rule_passed_bytes,
			 &c->rate_limit_passed_bytes, &c->whitelisted_bytes,
			 &c->protected_bytes,	      &c->non_ip_bytes,
			 &c->default_passed_bytes};

	for (size_t i = 0; i < ARRAY_SIZE(p); i++) {
		*p[i] = base * (i + 1) + i * i;
		*b[i] = *p[i] * (64 + i);
		c->rx += *p[i];
		c->rx_bytes += *b[i];
	}
	c->dropped = c->rule_dropped + c->rate_limited + c->malformed;
	c->passed = c->rx - c->dropped;
}

static void test_controller_mode(void **state)
{
	Xdrop__V1__Counters c1 = XDROP__V1__COUNTERS__INIT, c2 = XDROP__V1__COUNTERS__INIT;
	Xdrop__V1__NodeStats s1 = XDROP__V1__NODE_STATS__INIT, s2 = XDROP__V1__NODE_STATS__INIT;
	Xdrop__V1__NodeStats *ns[] = {&s1, &s2};
	Xdrop__V1__StatsReply st = XDROP__V1__STATS_REPLY__INIT;
	Xdrop__V1__Node n1 = XDROP__V1__NODE__INIT, n2 = XDROP__V1__NODE__INIT,
			n3 = XDROP__V1__NODE__INIT;
	Xdrop__V1__Node *nodes[] = {&n1, &n2, &n3};
	Xdrop__V1__ListNodesResponse list = XDROP__V1__LIST_NODES_RESPONSE__INIT;
	struct mx_scrape s = {.stats = &st, .nodes = &list};
	char *text, want[160];
	size_t n;

	(void)state;
	fill(&c1, 1000);
	fill(&c2, 77);
	c2.anomaly_bad_fragment = 3;
	c2.anomaly_invalid = 12;
	s1.node_id = "n1";
	s1.counters = &c1;
	s2.node_id = "n2";
	s2.counters = &c2;
	st.nodes = ns;
	st.n_nodes = 2;
	n1 = (Xdrop__V1__Node)XDROP__V1__NODE__INIT;
	n1.id = "n1";
	n1.name = "edge \"a\" \\ west\nrack";
	n1.status = "online";
	n1.filtering = "active";
	n1.last_seen = 1765000000123000000;
	n2.id = "n2";
	n2.name = "dup";
	n2.status = "weird";
	n2.filtering = "";
	n3.id = "n3";
	n3.name = "dup";
	n3.status = "offline";
	n3.filtering = "presumed";
	list.nodes = nodes;
	list.n_nodes = 3;
	text = render(&s);

	/* each packet once: the node's series add up to what it received */
	snprintf(want, sizeof(want), "xdrop_received_packets_total{node=\"n2\"} %llu",
		 (unsigned long long)c2.rx);
	assert_true(has_line(text, want));
	assert_int_equal(sum_of(text, "xdrop_packets_total{node=\"n2\",", &n), c2.rx);
	assert_int_equal(n, 9);
	assert_int_equal(sum_of(text, "xdrop_bytes_total{node=\"n2\",", &n), c2.rx_bytes);
	assert_int_equal(n, 9);
	assert_int_equal(sum_of(text, "xdrop_packets_total{node=\"n2\",verdict=\"dropped\"", &n),
			 c2.dropped);
	assert_int_equal(sum_of(text, "xdrop_packets_total{node=\"n2\",verdict=\"passed\"", &n),
			 c2.passed);
	assert_true(has_line(text, "xdrop_packets_total{node=\"n2\",verdict=\"passed\","
				   "reason=\"whitelist\"} 487"));

	/* the name, escaped; its sums too */
	assert_int_equal(
	    sum_of(text, "xdrop_packets_total{node=\"edge \\\"a\\\" \\\\ west\\nrack\",", &n),
	    c1.rx);
	assert_true(has_line(text, "xdrop_node_info{node=\"edge \\\"a\\\" \\\\ west\\nrack\","
				   "node_id=\"n1\",version=\"\",address=\"\"} 1"));
	assert_true(has_line(text, "xdrop_node_last_seen_timestamp_seconds{node=\"edge "
				   "\\\"a\\\" \\\\ west\\nrack\"} 1765000000.123"));

	/* one-hot, unknown values as "unknown", a shared name falls back to the id */
	assert_int_equal(sum_of(text, "xdrop_node_status{node=\"n2\",", &n), 1);
	assert_int_equal(n, 5);
	assert_true(has_line(text, "xdrop_node_status{node=\"n2\",status=\"unknown\"} 1"));
	assert_true(has_line(text, "xdrop_node_filtering{node=\"n2\",state=\"unknown\"} 1"));
	assert_true(has_line(text, "xdrop_node_status{node=\"n3\",status=\"offline\"} 1"));
	assert_true(has_line(text, "xdrop_node_filtering{node=\"n3\",state=\"presumed\"} 1"));
	assert_true(has_line(text, "xdrop_node_up{node=\"n3\"} 0"));
	assert_true(has_line(text, "xdrop_node_up{node=\"n2\"} 0"));
	assert_null(strstr(text, "node=\"dup\""));

	/* no figures, no traffic series */
	assert_int_equal(sum_of(text, "xdrop_packets_total{node=\"n3\"", &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(sum_of(text, "xdrop_received_packets_total{node=\"n3\"", &n), 0);
	assert_int_equal(n, 0);

	/* the anomaly counters, beside the reasons */
	assert_true(has_line(text, "xdrop_anomaly_bad_fragment_packets_total{node=\"n2\"} 3"));
	assert_true(has_line(text, "xdrop_anomaly_invalid_packets_total{node=\"n2\"} 12"));

	/* each family typed once */
	assert_non_null(strstr(text, "# TYPE xdrop_packets_total counter\n"));
	assert_null(
	    strstr(strstr(text, "# TYPE xdrop_packets_total ") + 1, "# TYPE xdrop_packets_total "));
	free(text);
}

static void test_node_mode(void **state)
{
	Xdrop__V1__Counters c = XDROP__V1__COUNTERS__INIT;
	Xdrop__V1__AttachState a = XDROP__V1__ATTACH_STATE__INIT;
	Xdrop__V1__NodeStats ns = XDROP__V1__NODE_STATS__INIT, *nsp = &ns;
	Xdrop__V1__StatsReply st = XDROP__V1__STATS_REPLY__INIT;
	Xdrop__V1__InfoReply info = XDROP__V1__INFO_REPLY__INIT;
	struct mx_scrape s = {
	    .stats = &st, .info = &info, .node_mode = true, .upstream_url = "ipc:///x"};
	char *text;
	size_t n;

	(void)state;
	fill(&c, 5);
	ns.node_id = "";
	ns.counters = &c;
	ns.attach = &a;
	a.attached = true;
	st.nodes = &nsp;
	st.n_nodes = 1;
	info.version = "9.9.9";
	text = render(&s);
	assert_true(has_line(text, "xdrop_node_info{node=\"local\",node_id=\"\",version=\"9.9.9\","
				   "address=\"ipc:///x\"} 1"));
	assert_true(has_line(text, "xdrop_node_status{node=\"local\",status=\"online\"} 1"));
	assert_true(has_line(text, "xdrop_node_filtering{node=\"local\",state=\"active\"} 1"));
	assert_true(has_line(text, "xdrop_node_up{node=\"local\"} 1"));
	assert_int_equal(sum_of(text, "xdrop_packets_total{node=\"local\",", &n), c.rx);
	assert_int_equal(n, 9);
	free(text);

	/* not attached: not filtering */
	a.attached = false;
	text = render(&s);
	assert_true(has_line(text, "xdrop_node_filtering{node=\"local\",state=\"inactive\"} 1"));
	free(text);
}

/* Label values as the exposition format asks, numbers as Prometheus reads them. */
static void test_writers(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(f);
	mx_u64(f, "a", NULL, 18446744073709551615ull);
	mx_u64(f, "b", (const struct mx_label[]){{"x", "q\"b\\n\nz"}, {"y", ""}, {NULL, NULL}}, 1);
	mx_f64(f, "c", NULL, 0.5);
	mx_f64(f, "d", NULL, 1.0 / 0.0);
	assert_int_equal(fclose(f), 0);
	assert_string_equal(buf, "a 18446744073709551615\n"
				 "b{x=\"q\\\"b\\\\n\\nz\",y=\"\"} 1\n"
				 "c 0.5\n"
				 "d +Inf\n");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_controller_mode),
	    cmocka_unit_test(test_node_mode),
	    cmocka_unit_test(test_writers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
