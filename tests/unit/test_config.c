// SPDX-License-Identifier: MIT
/*
 * test_config: the YAML loader (lib/config.c): dotted keys, sequences, typed getters with
 * defaults and ranges, unknown-key refusal, and error messages that name file, line, key.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static const char sample[] = "# controller\n"
			     "database: /var/lib/xdrop/x.db\n"
			     "rpc:\n"
			     "  listen: tcp://127.0.0.1:7700\n"
			     "  workers: 8\n"
			     "  max_msg: 0x100000\n"
			     "tls:\n"
			     "  ca_file: \"ca.pem\"\n"
			     "  require_client_cert: yes\n"
			     "beacon_interval: 500ms\n"
			     "history: 1h\n"
			     "sweep: 1.5s\n"
			     "interfaces: [eth0, eth1]\n"
			     "one: eth9\n"
			     "empty:\n"
			     "nodes:\n"
			     "  - id: n1\n"
			     "    key: k1\n"
			     "  - id: n2\n"
			     "    key: k2\n";

static struct config *load(const char *text)
{
	struct config *c = NULL;
	int err = config_load_string(&c, "test.yaml", text, strlen(text));

	if (err)
		fprintf(stderr, "# %s\n", config_error(c));
	assert_int_equal(err, 0);
	return c;
}

static void test_scalars_and_nesting(void **state)
{
	struct config *c = load(sample);
	const char *s;
	uint64_t n;
	bool b;

	assert_int_equal(config_get_str(c, "database", "x", &s), 0);
	assert_string_equal(s, "/var/lib/xdrop/x.db");
	assert_int_equal(config_get_str(c, "rpc.listen", NULL, &s), 0);
	assert_string_equal(s, "tcp://127.0.0.1:7700");
	assert_int_equal(config_get_u64(c, "rpc.workers", 1, 1, 64, &n), 0);
	assert_int_equal(n, 8);
	assert_int_equal(config_get_u64(c, "rpc.max_msg", 1, 1, UINT64_MAX, &n), 0);
	assert_int_equal(n, 0x100000);
	assert_int_equal(config_get_str(c, "tls.ca_file", NULL, &s), 0);
	assert_string_equal(s, "ca.pem");
	assert_int_equal(config_get_bool(c, "tls.require_client_cert", false, &b), 0);
	assert_true(b);
	assert_true(config_has(c, "tls"));
	assert_int_equal(config_line(c, "tls.ca_file"), 8);
	/* defaults: absent and null */
	assert_int_equal(config_get_str(c, "nope", "dflt", &s), 0);
	assert_string_equal(s, "dflt");
	assert_int_equal(config_get_str(c, "empty", "dflt", &s), 0);
	assert_string_equal(s, "dflt");
	assert_int_equal(config_get_u64(c, "nope", 42, 0, 100, &n), 0);
	assert_int_equal(n, 42);
	assert_int_equal(config_get_bool(c, "nope", true, &b), 0);
	assert_true(b);
	assert_string_equal(config_error(c), "");
	config_free(c);
}

static void test_durations(void **state)
{
	static const struct {
		const char *text;
		uint64_t ms;
		int rc;
	} cases[] = {
	    {"d: 1s", 1000, 0},	     {"d: 500ms", 500, 0},   {"d: 1.5s", 1500, 0},
	    {"d: 2m", 120000, 0},    {"d: 1h", 3600000, 0},  {"d: 2000000ns", 2, 0},
	    {"d: 3000us", 3, 0},     {"d: 10", 0, -EINVAL},  {"d: 1 s", 0, -EINVAL},
	    {"d: -1s", 0, -EINVAL},  {"d: s", 0, -EINVAL},   {"d: 1sec", 0, -EINVAL},
	    {"d: 2d", 0, -EINVAL},   {"d: 25h", 0, -EINVAL}, /* above max */
	    {"d: [1s]", 0, -EINVAL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *c = load(cases[i].text);
		uint64_t ms = 7;
		int rc = config_get_duration_ms(c, "d", 9, 0, 24 * 3600000ull, &ms);

		if (rc != cases[i].rc)
			fail_msg("%s: rc %d", cases[i].text, rc);
		if (rc == 0)
			assert_int_equal(ms, cases[i].ms);
		else
			assert_int_equal(ms, 7);
		config_free(c);
	}
}

static void test_error_names_line_and_key(void **state)
{
	struct config *c = load("a: 1\n"
				"beacon:\n"
				"  interval: soon\n");
	uint64_t ms;

	assert_int_equal(config_get_duration_ms(c, "beacon.interval", 1000, 0, 60000, &ms),
			 -EINVAL);
	assert_string_equal(
	    config_error(c),
	    "test.yaml:3: beacon.interval: expected a duration like 1s, not \"soon\"");
	config_free(c);

	c = load("workers: 999\nflag: maybe\nmap:\n  x: 1\n");
	assert_int_equal(config_get_u64(c, "workers", 1, 1, 256, &ms), -EINVAL);
	assert_string_equal(config_error(c), "test.yaml:1: workers: 999 is out of range 1..256");
	config_free(c);

	c = load("flag: maybe\nmap:\n  x: 1\n");
	bool b;
	assert_int_equal(config_get_bool(c, "flag", false, &b), -EINVAL);
	assert_string_equal(config_error(c),
			    "test.yaml:1: flag: expected true or false, not \"maybe\"");
	config_free(c);

	c = load("map:\n  x: 1\n");
	const char *s;
	assert_int_equal(config_get_str(c, "map", NULL, &s), -EINVAL);
	assert_string_equal(config_error(c), "test.yaml:1: map: expected a string");
	config_free(c);

	c = load("n: -3\n");
	assert_int_equal(config_get_u64(c, "n", 1, 0, 10, &ms), -EINVAL);
	config_free(c);
}

static void test_lists_and_sequences(void **state)
{
	struct config *c = load(sample);
	const char *const *list;
	const char *s;
	size_t n;

	assert_int_equal(config_get_strlist(c, "interfaces", &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0], "eth0");
	assert_string_equal(list[1], "eth1");
	assert_null(list[2]);
	assert_int_equal(config_get_strlist(c, "one", &list, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0], "eth9");
	assert_int_equal(config_get_strlist(c, "none", &list, &n), 0);
	assert_int_equal(n, 0);
	assert_null(list[0]);

	assert_int_equal(config_seq_len(c, "nodes"), 2);
	assert_int_equal(config_get_str(c, "nodes.1.key", NULL, &s), 0);
	assert_string_equal(s, "k2");
	assert_int_equal(config_line(c, "nodes.1.id"), 19);
	assert_int_equal(config_get_strlist(c, "nodes", &list, &n), -EINVAL);
	config_free(c);
}

static void test_address_lists(void **state)
{
	struct config *c = load("a: tcp://h:1\nb: [tcp://h:1, tcp://h:2]\nc: [p, 'q,r']\n");
	const char *s = "x";

	assert_int_equal(config_get_addrs(c, "a", &s), 0);
	assert_string_equal(s, "tcp://h:1");
	assert_int_equal(config_get_addrs(c, "b", &s), 0);
	assert_string_equal(s, "tcp://h:1,tcp://h:2");
	assert_int_equal(config_get_addrs(c, "none", &s), 0);
	assert_null(s);
	assert_int_equal(config_get_addrs(c, "c", &s), -EINVAL);
	assert_non_null(strstr(config_error(c), "c: item 1: an address without commas"));
	config_free(c);
}

static void test_unknown_keys(void **state)
{
	static const char *const allowed[] = {
	    "database",	       "rpc.listen", "rpc.workers", "rpc.max_msg", "tls.*",
	    "beacon_interval", "history",    "sweep",	    "interfaces",  "one",
	    "empty",	       "nodes.*.id", "nodes.*.key", NULL};
	struct config *c = load(sample);

	assert_int_equal(config_check_keys(c, allowed), 0);
	config_free(c);

	c = load("database: x\nrpc:\n  listen: a\n  wrokers: 3\n");
	assert_int_equal(config_check_keys(c, allowed), -EINVAL);
	assert_string_equal(config_error(c), "test.yaml:4: rpc.wrokers: unknown key");
	config_free(c);

	c = load("nodes:\n  - id: a\n    kee: b\n");
	assert_int_equal(config_check_keys(c, allowed), -EINVAL);
	assert_string_equal(config_error(c), "test.yaml:3: nodes.0.kee: unknown key");
	config_free(c);

	c = load("tsl: {}\n");
	assert_int_equal(config_check_keys(c, allowed), -EINVAL);
	assert_string_equal(config_error(c), "test.yaml:1: tsl: unknown key");
	config_free(c);
}

static void test_bad_yaml(void **state)
{
	static const char *const bad[] = {
	    "a: [1, 2\n",	/* unterminated */
	    "- a\n- b\n",	/* top level is not a mapping */
	    "a: 1\na: 2\n",	/* duplicate */
	    "a: &x 1\nb: *x\n", /* anchors and aliases */
	    "a.b: 1\n",		/* dots in keys would be ambiguous */
	    "a:\n\tb: 1\n",	/* tabs */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config *c = NULL;
		int rc = config_load_string(&c, "bad.yaml", bad[i], strlen(bad[i]));

		if (rc != -EINVAL)
			fail_msg("case %zu: rc %d", i, rc);
		assert_non_null(c);
		assert_true(strncmp(config_error(c), "bad.yaml:", 9) == 0);
		config_free(c);
	}
}

/* Tags and anchors are refused wherever they appear, naming the file and line. */
static void test_tags_and_anchors(void **state)
{
	static const struct {
		const char *text, *error;
	} cases[] = {
	    {"a: !!str 1\n", "bad.yaml:1: tags are not supported"},
	    {"a: 1\nb: !custom x\n", "bad.yaml:2: tags are not supported"},
	    {"a: ! x\n", "bad.yaml:1: tags are not supported"},
	    {"!!str a: 1\n", "bad.yaml:1: tags are not supported"},
	    {"a:\n  b: 1\nc: !!map\n  d: 2\n", "bad.yaml:3: tags are not supported"},
	    {"a: !!seq [1, 2]\n", "bad.yaml:1: tags are not supported"},
	    {"--- !!map\na: 1\n", "bad.yaml:1: tags are not supported"},
	    {"a: &x {b: 1}\n", "bad.yaml:1: anchors are not supported"},
	    {"a: &x [1]\n", "bad.yaml:1: anchors are not supported"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *c = NULL;
		int rc = config_load_string(&c, "bad.yaml", cases[i].text, strlen(cases[i].text));
		char msg[XDROP_CONFIG_MAX_ERROR];

		snprintf(msg, sizeof(msg), "%s", config_error(c));
		config_free(c);
		if (rc != -EINVAL || strcmp(msg, cases[i].error))
			fail_msg("case %zu: rc %d, \"%s\"", i, rc, msg);
	}
	/* quoted text that looks like a tag is a plain string */
	struct config *c = load("a: \"!!str x\"\n");
	const char *s;

	assert_int_equal(config_get_str(c, "a", NULL, &s), 0);
	assert_string_equal(s, "!!str x");
	config_free(c);
}

static void test_files(void **state)
{
	char path[] = "/tmp/xdrop-config-XXXXXX";
	struct config *c = NULL;
	const char *s;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, sample, sizeof(sample) - 1), (ssize_t)sizeof(sample) - 1);
	close(fd);
	assert_int_equal(config_load(&c, path), 0);
	assert_int_equal(config_get_str(c, "nodes.0.id", NULL, &s), 0);
	assert_string_equal(s, "n1");
	config_free(c);
	unlink(path);

	c = NULL;
	assert_int_equal(config_load(&c, path), -ENOENT);
	assert_non_null(c);
	assert_non_null(strstr(config_error(c), "cannot open"));
	config_free(c);
	config_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scalars_and_nesting),
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_error_names_line_and_key),
	    cmocka_unit_test(test_lists_and_sequences),
	    cmocka_unit_test(test_address_lists),
	    cmocka_unit_test(test_unknown_keys),
	    cmocka_unit_test(test_bad_yaml),
	    cmocka_unit_test(test_tags_and_anchors),
	    cmocka_unit_test(test_files),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
