// SPDX-License-Identifier: MIT
/*
 * xdropctl: the XDrop command line. It talks RPC (protobuf over nng, docs/rpc.md) straight
 * to a controller or to one agent, prints tables or JSON, and imports and exports rules
 * and whitelist entries as JSON or CSV, each import in one atomic batch.
 *
 * JSON is converted by lib/json.c, the same code the REST API uses, so a file that
 * `rules export` wrote, a REST response, and a REST request body are the same format.
 * `field=value` arguments and CSV columns are built into the same JSON objects first, so
 * every input path is validated the same way and errors name the field.
 *
 * This file is the wiring: defaults from the environment, the command line (options.c),
 * and the table of commands; ctl.h says which file holds what.
 *
 * Exit codes (also in --help): 0 success, 1 other failure, 2 usage, 3 invalid input,
 * 4 not found, 5 authentication or permission, 6 conflict, 7 upstream unavailable or
 * timed out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "log.h"

/* The subcommand options a command takes are checked by the command itself. */
#define CTL_OPTS_BY_SUB (~0u)

/* The commands: name (and alias), the subcommand options taken, the function. */
static const struct command {
	const char *name;
	const char *alias;
	unsigned opts; /* SUB() bits, or CTL_OPTS_BY_SUB */
	int (*run)(struct ctl *c, const struct listopts *o, int argc, char **argv);
} commands[] = {
    {"rules", NULL, CTL_OPTS_BY_SUB, cmd_rules},
    {"whitelist", "wl", CTL_OPTS_BY_SUB, cmd_whitelist},
    {"stats", NULL, SUB(SUB_WATCH), cmd_stats},
    {"top", NULL,
     SUB(SUB_BY) | SUB(SUB_VERDICT) | SUB(SUB_WINDOW) | SUB(SUB_LIMIT) | SUB(SUB_NODE) |
	 SUB(SUB_WATCH),
     cmd_top},
    {"nodes", NULL, 0, cmd_nodes},
    {"keys", NULL, 0, cmd_keys},
    {"info", NULL, 0, cmd_info},
    {"ping", NULL, 0, cmd_ping},
};

/* Runs the command args[0] with its arguments. Returns an exit code. */
static int run_command(struct ctl *c, const struct listopts *o, int n_args, char **args)
{
	const char *cmd = args[0];

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct command *k = &commands[i];
		int rc;

		if (strcmp(cmd, k->name) && (!k->alias || strcmp(cmd, k->alias)))
			continue;
		if (k->opts != CTL_OPTS_BY_SUB) {
			rc = ctl_only_opts(o, k->opts, cmd);
			if (rc)
				return rc;
		}
		return k->run(c, o, n_args - 1, args + 1);
	}
	return ctl_fail(CTL_EXIT_USAGE, "unknown command %s (see xdropctl --help)", cmd);
}

/* An environment variable's value; unset and empty are the same (NULL). */
static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

int main(int argc, char **argv)
{
	struct ctl c = {.progress = -1, .timeout_ms = XDROP_RPC_TIMEOUT_MS, .batch = CTL_BATCH};
	struct listopts o = {0};
	char **args = calloc((size_t)argc + 1, sizeof(*args));
	int n_args = 0, rc;

	if (!args)
		return ctl_fail(CTL_EXIT_FAIL, "out of memory");
	c.url = env("XDROP_URL") ? env("XDROP_URL") : CTL_DEFAULT_URL;
	c.key = env("XDROP_KEY");
	c.tls.ca_file = env("XDROP_CA");
	c.tls.cert_file = env("XDROP_CERT");
	c.tls.key_file = env("XDROP_CERT_KEY");
	c.tls.server_name = env("XDROP_SERVER_NAME");
	/* the library's progress notes (dial: ...) would repeat what the error line says */
	log_set_level(LOG_LEVEL_WARN);
	rc = ctl_parse_args(argc, argv, &c, &o, args, &n_args);
	if (rc)
		goto out;
	if (c.help) {
		fputs(ctl_usage_text, stdout);
		goto out;
	}
	if (!n_args) {
		fputs(ctl_usage_text, stderr);
		rc = CTL_EXIT_USAGE;
		goto out;
	}
	if (!c.tls.cert_file != !c.tls.key_file) {
		rc = ctl_fail(CTL_EXIT_USAGE,
			      "--cert and --cert-key go together (also as $XDROP_CERT "
			      "and $XDROP_CERT_KEY)");
		goto out;
	}
	rc = run_command(&c, &o, n_args, args);
out:
	rpc_client_close(c.client);
	free(c.key_buf);
	free(args);
	return rc;
}
