// SPDX-License-Identifier: MIT
/*
 * test_ctl_config: the controller's config file (controller/config.c) as an operator
 * meets it: every value controller/config.example.yaml shows without "# example" is the
 * code's default (a value shown as a default that is not one, such as a key file path,
 * misleads), and node ids in the `nodes:` section follow the one id rule of the agent and
 * the API (1..64 characters of [A-Za-z0-9._-]), refused with the key that names them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../lib/tmpdir.h"

#include "controller/config.h"
#include "log.h"

#define EXAMPLE "controller/config.example.yaml"

static char dir[64];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	fclose(f);
}

/* ---- the example shows the defaults ----------------------------------------------------- */

enum kind { K_STR, K_UINT, K_SIZE, K_BOOL };

static const struct {
	const char *key;
	enum kind kind;
	size_t off;
} fields[] = {
    {"database", K_STR, offsetof(struct ctl_config, database)},
    {"log_level", K_STR, offsetof(struct ctl_config, log_level)},
    {"rpc.listen", K_STR, offsetof(struct ctl_config, rpc_url)},
    {"rpc.workers", K_UINT, offsetof(struct ctl_config, rpc_workers)},
    {"rpc.max_msg", K_SIZE, offsetof(struct ctl_config, rpc_max_msg)},
    {"push.listen", K_STR, offsetof(struct ctl_config, push_url)},
    {"push.heartbeat", K_UINT, offsetof(struct ctl_config, heartbeat_ms)},
    {"health.listen", K_STR, offsetof(struct ctl_config, health_url)},
    {"health.beacon_interval", K_UINT, offsetof(struct ctl_config, beacon_interval_ms)},
    {"health.repair", K_BOOL, offsetof(struct ctl_config, repair)},
    {"tls.ca_file", K_STR, offsetof(struct ctl_config, tls.ca_file)},
    {"tls.cert_file", K_STR, offsetof(struct ctl_config, tls.cert_file)},
    {"tls.key_file", K_STR, offsetof(struct ctl_config, tls.key_file)},
    {"tls.key_pass", K_STR, offsetof(struct ctl_config, tls.key_pass)},
    {"tls.require_client_cert", K_BOOL, offsetof(struct ctl_config, tls.require_client_cert)},
    /* verify_server_name is stored inverted, as tls_opts.skip_name_check */
    {"tls.verify_server_name", K_BOOL, offsetof(struct ctl_config, tls.skip_name_check)},
    {"keys.admin_key", K_STR, offsetof(struct ctl_config, admin_key)},
    {"keys.admin_key_file", K_STR, offsetof(struct ctl_config, admin_key_file)},
    {"expiry.sweep_interval", K_UINT, offsetof(struct ctl_config, sweep_ms)},
    {"stats.history", K_UINT, offsetof(struct ctl_config, history_s)},
    {"changelog.keep", K_UINT, offsetof(struct ctl_config, changelog_keep)},
};

/* True when field i holds the same value in a and b (NULL and "" are both "none"). */
static bool same(const struct ctl_config *a, const struct ctl_config *b, size_t i)
{
	const char *pa = (const char *)a + fields[i].off, *pb = (const char *)b + fields[i].off;

	switch (fields[i].kind) {
	case K_STR: {
		const char *sa = *(const char *const *)pa, *sb = *(const char *const *)pb;

		return strcmp(sa ? sa : "", sb ? sb : "") == 0;
	}
	case K_UINT:
		return *(const unsigned *)pa == *(const unsigned *)pb;
	case K_SIZE:
		return *(const size_t *)pa == *(const size_t *)pb;
	case K_BOOL:
		return *(const bool *)pa == *(const bool *)pb;
	}
	return false;
}

static void test_example_shows_the_defaults(void **state)
{
	struct ctl_config ex, def;
	char err[512], empty[96], line[256], section[256] = "";
	unsigned checked = 0, lineno = 0;
	FILE *f;

	snprintf(empty, sizeof(empty), "%s/empty.yaml", dir);
	write_file(empty, "# every key left out\n");
	assert_int_equal(ctl_config_load(empty, &def, err, sizeof(err)), 0);
	if (ctl_config_load(EXAMPLE, &ex, err, sizeof(err)) != 0)
		fail_msg("%s does not load: %s", EXAMPLE, err);

	f = fopen(EXAMPLE, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *colon, key[2 * sizeof(line) + 1];
		bool top = line[0] != ' ', marked = strstr(line, "# example") != NULL;
		size_t i;

		lineno++;
		while (*p == ' ')
			p++;
		if (*p == '#' || *p == '\n' || *p == '\0' || *p == '-')
			continue;
		colon = strchr(p, ':');
		if (!colon)
			continue;
		*colon = '\0';
		if (top) {
			const char *v = colon + 1;

			while (*v == ' ')
				v++;
			snprintf(section, sizeof(section), "%s", p);
			if (*v == '\n' || *v == '#')
				continue; /* a section header */
			section[0] = '\0';
			snprintf(key, sizeof(key), "%s", p);
		} else {
			snprintf(key, sizeof(key), "%s.%s", section, p);
		}
		if (strcmp(section, "nodes") == 0 || marked)
			continue; /* examples, not defaults */
		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (strcmp(fields[i].key, key) == 0)
				break;
		if (i == sizeof(fields) / sizeof(fields[0]))
			fail_msg("%s:%u: %s: a key this test does not know", EXAMPLE, lineno, key);
		else if (!same(&ex, &def, i))
			fail_msg("%s:%u: %s shows a value that is not the default; mark it "
				 "\"# example\" or show the default",
				 EXAMPLE, lineno, key);
		else
			checked++;
	}
	fclose(f);
	assert_true(checked >= 10);
	ctl_config_free(&ex);
	ctl_config_free(&def);
}

/* ---- node ids in the nodes: section -------------------------------------------------- */

static void test_node_ids_in_config(void **state)
{
	static const struct {
		const char *yaml_id; /* as written in YAML; NULL: no id key */
		bool ok;
	} cases[] = {
	    {"edge-1", true},
	    {"rack4.edge_2", true},
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", true},	  /* 64 */
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false}, /* 65 */
	    {"\"a:b\"", false},
	    {"\"edge 1\"", false},
	    {"a/b", false},
	    {"\"n\\u00e9\"", false},
	    {"\"\"", false},
	    {NULL, false},
	};
	char path[96], text[512], err[512];

	snprintf(path, sizeof(path), "%s/nodes.yaml", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ctl_config cfg;
		int rc;

		snprintf(text, sizeof(text),
			 "database: %s/n.db\nnodes:\n  - name: x\n%s%s%s    key: "
			 "0123456789abcdef0123\n",
			 dir, cases[i].yaml_id ? "    id: " : "",
			 cases[i].yaml_id ? cases[i].yaml_id : "", cases[i].yaml_id ? "\n" : "");
		write_file(path, text);
		err[0] = '\0';
		rc = ctl_config_load(path, &cfg, err, sizeof(err));
		if (cases[i].ok) {
			if (rc != 0)
				fail_msg("id %s refused: %s", cases[i].yaml_id, err);
			assert_int_equal(cfg.n_nodes, 1);
		} else {
			if (rc == 0)
				fail_msg("id %s accepted",
					 cases[i].yaml_id ? cases[i].yaml_id : "(none)");
			assert_non_null(strstr(err, "nodes.0.id"));
			assert_non_null(strstr(err, "1..64 characters of [A-Za-z0-9._-]"));
		}
		ctl_config_free(&cfg);
	}
}

/* A node address in the config is a URL the controller can dial (issue 11), or absent. */
static void test_node_addresses_in_config(void **state)
{
	static const struct {
		const char *address;
		bool ok;
	} cases[] = {
	    {"tcp://192.0.2.1:7600", true},
	    {"tls+tcp://edge-1.example:7600", true},
	    {"ipc:///run/xdrop/agent.sock", true},
	    {"\"\"", true},
	    {"192.0.2.1:7600", false},
	    {"tcp://192.0.2.1", false},
	    {"http://192.0.2.1:7600", false},
	    {"ipc://", false},
	};
	char path[96], text[512], err[512];

	snprintf(path, sizeof(path), "%s/addr.yaml", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ctl_config cfg;
		int rc;

		snprintf(text, sizeof(text),
			 "database: %s/n.db\nnodes:\n  - id: e1\n    address: %s\n    key: "
			 "0123456789abcdef0123\n",
			 dir, cases[i].address);
		write_file(path, text);
		err[0] = '\0';
		rc = ctl_config_load(path, &cfg, err, sizeof(err));
		if (cases[i].ok && rc != 0)
			fail_msg("address %s refused: %s", cases[i].address, err);
		if (!cases[i].ok) {
			if (rc == 0)
				fail_msg("address %s accepted", cases[i].address);
			assert_non_null(strstr(err, "nodes.0.address"));
		}
		ctl_config_free(&cfg);
	}
}

/* The cluster section (issue 18): absent by default; refusals name the key. */
static void test_cluster_in_config(void **state)
{
	static const struct {
		const char *yaml;
		const char *bad_key; /* NULL: accepted */
	} cases[] = {
	    {"cluster:\n  id: 1\n  address: 127.0.0.1:9001\n", NULL},
	    {"cluster:\n  id: 2\n  address: 10.0.0.2:9001\n  dir: /tmp/c\n  peers: "
	     "[10.0.0.1:9001, 10.0.0.3:9001]\n",
	     NULL},
	    {"cluster:\n  address: 127.0.0.1:9001\n", "cluster.id"},
	    {"cluster:\n  id: 1\n", "cluster.address"},
	    {"cluster:\n  id: 1\n  address: 127.0.0.1\n", "cluster.address"},
	    {"cluster:\n  id: 2\n  address: 127.0.0.1:9002\n", "cluster.peers"},
	    {"cluster:\n  id: 2\n  address: 127.0.0.1:9002\n  peers: [tcp://x]\n", "cluster.peers"},
	    {"cluster:\n  id: 1\n  address: 127.0.0.1:9001\n  port: 3\n", "cluster.port"},
	};
	char path[96], text[512], err[512], target[256];

	snprintf(path, sizeof(path), "%s/cluster.yaml", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ctl_config cfg;
		int rc;

		snprintf(text, sizeof(text), "database: %s/n.db\n%s", dir, cases[i].yaml);
		write_file(path, text);
		err[0] = '\0';
		rc = ctl_config_load(path, &cfg, err, sizeof(err));
		if (!cases[i].bad_key && rc != 0)
			fail_msg("case %zu refused: %s", i, err);
		if (cases[i].bad_key) {
			if (rc == 0)
				fail_msg("case %zu accepted", i);
			if (!strstr(err, cases[i].bad_key))
				fail_msg("case %zu: %s does not name %s", i, err, cases[i].bad_key);
		}
		if (i == 1) {
			assert_int_equal(cfg.cluster.id, 2);
			assert_int_equal(cfg.cluster.n_peers, 2);
			assert_string_equal(cfg.cluster.dir, "/tmp/c");
			assert_int_equal(cluster_target(&cfg.cluster, target, sizeof(target)), 0);
			assert_string_equal(target, "dqlite://10.0.0.2:9001,10.0.0.1:9001,"
						    "10.0.0.3:9001/controller.db");
		}
		ctl_config_free(&cfg);
	}
	/* no section: no cluster, the SQLite file */
	struct ctl_config cfg0;

	write_file(path, "database: /tmp/x.db\n");
	assert_int_equal(ctl_config_load(path, &cfg0, err, sizeof(err)), 0);
	assert_int_equal(cfg0.cluster.id, 0);
	ctl_config_free(&cfg0);
}

static int setup(void **state)
{
	log_set_level(LOG_LEVEL_ERROR);
	return tmpdir_make(dir, sizeof(dir), "xdrop-ctlcfg");
}

static int teardown(void **state)
{
	return tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_example_shows_the_defaults),
	    cmocka_unit_test(test_node_ids_in_config),
	    cmocka_unit_test(test_node_addresses_in_config),
	    cmocka_unit_test(test_cluster_in_config),
	};

	return cmocka_run_group_tests_name("controller config", tests, setup, teardown);
}
