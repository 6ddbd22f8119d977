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
 * and the table of commands, from which help, completion and the man page are printed
 * (help.c); ctl.h says which file holds what.
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

#define LIST_OPTS                                                                                  \
	(SUB(SUB_PAGE) | SUB(SUB_LIMIT) | SUB(SUB_SEARCH) | SUB(SUB_SORT) | SUB(SUB_ORDER))

#define FIELDS_TEXT                                                                                \
	"Fields: id name src_ip dst_ip src_cidr dst_cidr src_port dst_port protocol\n"             \
	"(any tcp udp icmp icmpv6 igmp gre esp or a number) action (drop pass\n"                   \
	"rate_limit) rate_limit burst pkt_len_min pkt_len_max tcp_flags (SYN,!ACK)\n"              \
	"match_anomaly (bad_fragment,invalid or 0-3) decoder (v2.7's tcp_ack tcp_rst\n"            \
	"tcp_fin bad_fragment invalid) enabled expires_at (RFC 3339) expires_in (90s,\n"           \
	"1h) comment source.\n"
#define WL_FIELDS_TEXT                                                                             \
	"Fields: id name src_ip dst_ip src_cidr dst_cidr src_port dst_port protocol\n"             \
	"comment.\n"
#define IMPORT_TEXT                                                                                \
	"JSON files hold {\"rules\": [...]} (or {\"entries\": [...]}) or a bare array of\n"        \
	"objects with the fields of add. CSV files start with a header row naming the\n"           \
	"columns (any subset of the fields, any order); empty cells are left unset.\n"             \
	"An import is all or nothing: up to --batch-size rows go as ONE atomic batch;\n"           \
	"a larger file goes as consecutive atomic batches, and if one is refused the\n"            \
	"batches already applied are deleted again (the failing row and field are\n"               \
	"named). Every batch carries a random request id and is sent again with it\n"              \
	"when the connection is lost, so a batch committed just before a restart is\n"             \
	"reported as the success it was. --progress draws a progress bar.\n"
#define EXPORT_TEXT                                                                                \
	"Exports are sorted by id and omit counters and timestamps, so export ->\n"                \
	"import -> export gives the same file. FILE - or none: stdout.\n"

/*
 * The commands, one row each (struct ctl_cmd in ctl.h): group, subcommand, arguments, the
 * options it takes, summary, more help. A new subcommand is one row here (its options
 * are refused unless its row names them) and one in its group's dispatch.
 */
const struct ctl_cmd ctl_cmds[] = {
    {"rules", "list", "", LIST_OPTS | SUB(SUB_ENABLED) | SUB(SUB_ACTION) | SUB(SUB_SOURCE),
     "list rules with their counters (the default subcommand)",
     "MATCHES, DROPS and BYTES are summed over the nodes (frame lengths as XDP\n"
     "sees them); the last column says \"stale, as of HH:MM:SS\" when a node's\n"
     "figures are the last known. -o wide adds SOURCE and EXPIRES and cuts nothing.\n"},
    {"rules", "get", "ID", 0, "one rule, a field per line",
     "Every field, the expiry with the time left, who made it (source), when it was\n"
     "created and updated, and its counters (matches, drops, bytes, rates).\n"},
    {"rules", "add", "FIELD=VALUE...", SUB(SUB_ANOMALY) | SUB(SUB_DECODER),
     "add a rule (enabled unless enabled=false)",
     FIELDS_TEXT "A rule added without source= has source cli.\n"
		 "Example: xdropctl rules add src_cidr=198.51.100.0/24 protocol=tcp dst_port=80\n"
		 "         action=drop name=bad-net\n"},
    {"rules", "update", "ID FIELD=VALUE...", SUB(SUB_ANOMALY) | SUB(SUB_DECODER),
     "change only the fields given", FIELDS_TEXT},
    {"rules", "del", "ID... | --source NAME | --search TEXT",
     SUB(SUB_SOURCE) | SUB(SUB_SEARCH) | SUB(SUB_YES), "delete rules (several ids: all or none)",
     "With --source NAME or --search TEXT: every rule of a feed, or matching TEXT, in\n"
     "one change; prints the count and asks y/N on a terminal (refused without one\n"
     "unless --yes).\n"},
    {"rules", "top", "", SUB(SUB_LIMIT), "rules by drop rate", NULL},
    {"rules", "import", "FILE|-",
     SUB(SUB_FORMAT) | SUB(SUB_SOURCE) | SUB(SUB_ON_CONFLICT) | SUB(SUB_DRY_RUN),
     "add the rules of a JSON or CSV file",
     IMPORT_TEXT "With --source NAME the file's rules join feed NAME in one change; a rule\n"
		 "whose match exists already is skipped, replaces the existing one, or fails\n"
		 "the whole import (--on-conflict, default fail); --dry-run prints the diff.\n"},
    {"rules", "sync-source", "NAME FILE", SUB(SUB_FORMAT) | SUB(SUB_DRY_RUN),
     "make the rules of feed NAME equal to the file",
     "One change: rules equal to one of the feed's keep their ids, the feed's rules not\n"
     "in the file are deleted, the others added; --dry-run prints the diff (to add, to\n"
     "update, to remove, unchanged) and changes nothing.\n"},
    {"rules", "export", "[FILE|-]", SUB(SUB_FORMAT), "write every rule as JSON or CSV",
     EXPORT_TEXT},
    {"whitelist", "list", "", LIST_OPTS, "list whitelist entries with their hits",
     "Absent match fields print as \"any\". -o wide cuts nothing.\n"},
    {"whitelist", "get", "ID", 0, "one whitelist entry", NULL},
    {"whitelist", "add", "FIELD=VALUE...", 0, "add a whitelist entry (never filtered)",
     WL_FIELDS_TEXT},
    {"whitelist", "del", "ID...", 0, "delete whitelist entries (all or none)", NULL},
    {"whitelist", "import", "FILE|-", SUB(SUB_FORMAT), "add the entries of a JSON or CSV file",
     IMPORT_TEXT},
    {"whitelist", "export", "[FILE|-]", SUB(SUB_FORMAT), "write every entry as JSON or CSV",
     EXPORT_TEXT},
    {"stats", NULL, "", SUB(SUB_WATCH), "packet counters and rates, per node",
     "Packets, bytes and bit/s per verdict and reason (whitelisted, rate-limited,\n"
     "malformed). A node whose figures are older than the health timeout shows\n"
     "\"stale, as of HH:MM:SS\".\n"},
    {"top", NULL, "",
     SUB(SUB_BY) | SUB(SUB_VERDICT) | SUB(SUB_WINDOW) | SUB(SUB_LIMIT) | SUB(SUB_NODE) |
	 SUB(SUB_WATCH),
     "the heaviest talkers of the sampled traffic",
     "The heaviest sources (default), /24 or /64 source prefixes, destinations or\n"
     "destination ports of the sampled dropped (default) or passed traffic over the\n"
     "window, the whole cluster or one node; --limit is 1..100 (default 10).\n"
     "Figures are estimates from 1-in-N sampling: each may be high by the ± column.\n"},
    {"nodes", "list", "", 0, "nodes with status, filtering and rates (the default)",
     "Filtering: active, inactive, presumed (unreachable, but its program was\n"
     "attached) or unknown. Rates say \"stale, as of HH:MM:SS\" when last known.\n"},
    {"nodes", "get", "ID", 0, "one node, a field per line",
     "Address, status, filtering, revision, version, last seen, capacity and\n"
     "counters.\n"},
    {"nodes", "add", "[id=ID] name=NAME address=URL [comment=TEXT]", 0,
     "register a node; prints its node key once",
     "id defaults to a new UUID; address is the agent's RPC URL, e.g.\n"
     "tls+tcp://10.0.0.2:7600. The key goes into that agent's config.\n"},
    {"nodes", "stats", "ID", 0, "one node's figures (JSON)", NULL},
    {"nodes", "sync", "ID", 0, "push the current rules to a node now", NULL},
    {"nodes", "del", "ID", 0, "forget a node", NULL},
    {"keys", "list", "", 0, "API keys with scope, created and last used (the default)", NULL},
    {"keys", "add", "NAME admin|read_only", 0, "add an API key; prints it once", NULL},
    {"keys", "del", "ID", 0, "revoke an API key", NULL},
    {"cluster", "status", "", 0, "the controllers' cluster: members, roles, leader (the default)",
     "Every member of the dqlite cluster that holds the controllers' store, as its\n"
     "leader knows it, with its role (voter, standby, spare), who leads, and whether\n"
     "the controller reached it just now (else why not). A controller without\n"
     "cluster.peers answers \"not clustered\". See docs/dqlite.md.\n"},
    {"cluster", "add", "ID ADDRESS", SUB(SUB_ROLE), "make a running node a member",
     "ID is a new node id (never one used before in this cluster); ADDRESS its\n"
     "host:port. Start the new controller first: it is added as a spare, then given\n"
     "its role (--role, default voter) once it has caught up. Idempotent.\n"},
    {"cluster", "remove", "ID", 0, "remove a member", NULL},
    {"cluster", "transfer", "ID", 0, "hand the leadership to a voter", NULL},
    {"info", NULL, "", 0, "upstream name, version, revision, content hash", NULL},
    {"ping", NULL, "", 0, "health check (no key needed)", NULL},
    {"migrate", NULL, "--from-xdrop2 FILE.db", SUB(SUB_FROM_XDROP2) | SUB(SUB_DRY_RUN),
     "import the rules and whitelist of an XDrop v2.7 controller database",
     "Reads the v2.7 SQLite file read-only and adds its whitelist entries, then its\n"
     "rules, each kind in ONE atomic batch (at most --batch-size, 10,000), keeping\n"
     "ids, names, comments, enabled, source and expiry. What XDrop cannot carry\n"
     "over (anomaly matches, expired rules) is listed with the row id and why;\n"
     "every other problem stops the migration before anything is written, naming\n"
     "the v2.7 table and row id. Ids that exist already are refused (exit 6):\n"
     "a second run of the same file changes nothing. --dry-run prints what would\n"
     "be imported and the report, and writes nothing. See docs/migrate-xdrop2.md.\n"},
    {"help", NULL, "[COMMAND [SUBCOMMAND]]", 0, "help of one command, or this overview", NULL},
    {"completion", NULL, "bash|zsh", 0, "print the shell completion script",
     "bash: source <(xdropctl completion bash), or install it as\n"
     "/usr/share/bash-completion/completions/xdropctl.\n"
     "zsh: install it as _xdropctl in a directory of $fpath.\n"},
    {"man", NULL, "", 0, NULL, NULL}, /* hidden: prints xdropctl.1 for the build */
    {NULL, NULL, NULL, 0, NULL, NULL},
};

/* The groups (summary NULL: hidden from help and completion). */
const struct ctl_group ctl_groups[] = {
    {"rules", NULL, "drop, pass and rate-limit rules", cmd_rules},
    {"whitelist", "wl", "traffic that no rule filters", cmd_whitelist},
    {"stats", NULL, "packet counters and rates, per node", cmd_stats},
    {"top", NULL, "the heaviest talkers of the sampled traffic", cmd_top},
    {"nodes", NULL, "the agents the controller drives", cmd_nodes},
    {"keys", NULL, "API keys", cmd_keys},
    {"cluster", NULL, "the controllers' dqlite cluster", cmd_cluster},
    {"info", NULL, "upstream name, version, revision, content hash", cmd_info},
    {"ping", NULL, "health check (no key needed)", cmd_ping},
    {"migrate", NULL, "import an XDrop v2.7 controller database", cmd_migrate},
    {"help", NULL, "help of one command", cmd_help},
    {"completion", NULL, "bash or zsh completion script", cmd_completion},
    {"man", NULL, NULL, cmd_man},
    {NULL, NULL, NULL, NULL},
};

const struct ctl_cmd *ctl_cmd_find(const char *group, const char *sub)
{
	for (const struct ctl_cmd *k = ctl_cmds; k->group; k++)
		if (!strcmp(k->group, group) && (sub ? k->name && !strcmp(k->name, sub) : !k->name))
			return k;
	return NULL;
}

static const struct ctl_group *group_find(const char *name)
{
	for (const struct ctl_group *g = ctl_groups; g->name; g++)
		if (!strcmp(name, g->name) || (g->alias && !strcmp(name, g->alias)))
			return g;
	return NULL;
}

const char *ctl_default_sub(const char *group)
{
	if (ctl_cmd_find(group, "list"))
		return "list";
	for (const struct ctl_cmd *k = ctl_cmds; k->group; k++)
		if (!strcmp(k->group, group) && k->name)
			return k->name;
	return "list";
}

/*
 * Runs the command args[0] with its arguments: finds its row (a group's subcommand
 * defaults to ctl_default_sub), prints its help for --help, refuses the options its row does not
 * name, then lets the group run it. Returns an exit code.
 */
static int run_command(struct ctl *c, const struct listopts *o, int n_args, char **args)
{
	const struct ctl_group *g = group_find(args[0]);
	const struct ctl_cmd *row;
	const char *sub = NULL;
	char what[64];
	int rc;

	if (!g)
		return ctl_fail(CTL_EXIT_USAGE, "unknown command %s (see xdropctl --help)",
				args[0]);
	if (!ctl_cmd_find(g->name, NULL))
		sub = n_args > 1 ? args[1] : ctl_default_sub(g->name);
	/* --help anywhere: the help of the command, whatever arguments came with it */
	if (c->help)
		return ctl_help(n_args < (sub ? 2 : 1) ? n_args : (sub ? 2 : 1), args);
	row = ctl_cmd_find(g->name, sub);
	if (!row)
		return ctl_fail(CTL_EXIT_USAGE, "unknown command: %s %s (see xdropctl help %s)",
				g->name, sub, g->name);
	snprintf(what, sizeof(what), "%s%s%s", g->name, sub ? " " : "", sub ? sub : "");
	rc = ctl_only_opts(o, row->opts, what);
	return rc ? rc : g->run(c, o, n_args - 1, args + 1);
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
	if (c.version) {
		printf("xdropctl %s\n", XDROP_VERSION);
		goto out;
	}
	ctl_output_set(c.output, c.no_headers);
	if (c.help && !n_args) {
		ctl_help_overview(stdout);
		goto out;
	}
	if (!n_args) {
		ctl_help_overview(stderr);
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
