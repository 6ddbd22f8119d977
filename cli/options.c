// SPDX-License-Identifier: MIT
/*
 * options: xdropctl's command line. One getopt table holds every option, the global ones
 * and those of subcommands, so that options are accepted anywhere on the line; the
 * subcommand options are recorded as SUB() bits and each subcommand refuses those it does
 * not take (ctl_only_opts). Each option's help text is in its row; help.c prints it.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define SUB_OPT_VAL CTL_SUB_OPT_VAL
#define SUBV(o)	    (SUB_OPT_VAL + (o))
#define REQ	    required_argument
#define NOARG	    no_argument

/*
 * Every option, global or of a subcommand: they are accepted anywhere on the line. The
 * getopt table is built from this one, and so are --help, the completion scripts and the
 * man page. A subcommand's options are listed by its help when its ctl_cmds row has their
 * SUB() bit.
 */
const struct ctl_opt ctl_opts[] = {
    {"url", 'u', REQ, 'u', "URL", "RPC address (default $XDROP_URL, else " CTL_DEFAULT_URL ")"},
    {"controller", 0, REQ, 'u', "URL", "same as --url; A,B,C: a cluster's controllers"},
    {"agent", 0, REQ, 'u', "URL", "same as --url, for an agent (default port 7600)"},
    {"key", 'k', REQ, 'k', "KEY", "API key (default $XDROP_KEY)"},
    {"key-file", 0, REQ, 'K', "FILE", "read the API key from FILE (first line)"},
    {"output", 'o', REQ, 'o', "table|wide|json|csv",
     "how lists and details print (default table; wide: every column, nothing cut;\n"
     "json: the REST API's shapes; csv: a header row, then one row per item)"},
    {"json", 'j', NOARG, 'j', NULL, "same as -o json"},
    {"no-headers", 0, NOARG, 'H', NULL, "tables and CSV without their header row"},
    {"timeout", 0, REQ, 't', "MS", "per-call timeout (default 5000; imports 300000)"},
    {"ca", 0, REQ, 'C', "FILE", "CA bundle for tls+tcp:// URLs (default $XDROP_CA)"},
    {"server-name", 0, REQ, 'N', "NAME",
     "name the server certificate must carry (default $XDROP_SERVER_NAME, else the\n"
     "URL's host)"},
    {"no-verify-name", 0, NOARG, 'V', NULL,
     "accept any certificate from the CA, whatever its name (insecure: another\n"
     "node's certificate would do; warns)"},
    {"cert", 0, REQ, 'c', "FILE",
     "client certificate (PEM) for tls+tcp:// URLs, for servers with\n"
     "require_client_cert (default $XDROP_CERT)"},
    {"cert-key", 0, REQ, 'Y', "FILE",
     "its private key (PEM, unencrypted; default $XDROP_CERT_KEY); --cert and\n"
     "--cert-key go together"},
    {"progress", 0, NOARG, 'P', NULL,
     "force the import progress bar on (default: on for 1000 rows or more\n"
     "when stderr is a terminal)"},
    {"no-progress", 0, NOARG, 'X', NULL, "force the import progress bar off"},
    {"batch-size", 0, REQ, 'B', "N",
     "rows per atomic batch on import (default 10000, the controller's largest batch)"},
    {"quiet", 'q', NOARG, 'q', NULL, "print nothing on success"},
    {"help", 'h', NOARG, 'h', NULL, "help: of the command given, else this overview"},
    {"version", 0, NOARG, 'R', NULL, "print \"xdropctl VERSION\" and exit"},
    {"page", 0, REQ, SUBV(SUB_PAGE), "N", "page number, from 1"},
    {"limit", 0, REQ, SUBV(SUB_LIMIT), "N", "items per page (lists) or shown (top)"},
    {"search", 0, REQ, SUBV(SUB_SEARCH), "TEXT",
     "only those whose name, comment or an address holds TEXT\n(any case)"},
    {"enabled", 0, REQ, SUBV(SUB_ENABLED), "true|false", "only enabled or disabled rules"},
    {"action", 0, REQ, SUBV(SUB_ACTION), "drop|pass|rate_limit", "only rules with this action"},
    {"sort", 0, REQ, SUBV(SUB_SORT), "FIELD", "sort by this field (e.g. name, created_at)"},
    {"order", 0, REQ, SUBV(SUB_ORDER), "asc|desc", "sort order"},
    {"format", 0, REQ, SUBV(SUB_FORMAT), "json|csv",
     "file format (default: CSV for a name ending in .csv, else JSON)"},
    {"watch", 0, optional_argument, SUBV(SUB_WATCH), "SECONDS",
     "print again every SECONDS (default 1) until interrupted"},
    {"by", 0, REQ, SUBV(SUB_BY), "src|src_prefix|dst|dst_port",
     "rank sources (default), /24 or /64 source prefixes, destinations or\n"
     "destination ports"},
    {"verdict", 0, REQ, SUBV(SUB_VERDICT), "dropped|passed",
     "of the dropped (default) or the passed traffic"},
    {"window", 0, REQ, SUBV(SUB_WINDOW), "10s|1m|5m", "over this window (default 10s)"},
    {"node", 0, REQ, SUBV(SUB_NODE), "ID", "one node's figures instead of the cluster's"},
    {"source", 0, REQ, SUBV(SUB_SOURCE), "NAME",
     "the feed: rules whose source is NAME (list: only those; import: the\n"
     "file's rules join it; del: delete all of them)"},
    {"on-conflict", 0, REQ, SUBV(SUB_ON_CONFLICT), "skip|replace|fail",
     "import --source: a rule whose match exists already is skipped, replaces\n"
     "the existing one, or fails the whole import (default fail)"},
    {"dry-run", 0, NOARG, SUBV(SUB_DRY_RUN), NULL,
     "print what would change, change nothing (import, sync-source: the diff;\n"
     "migrate: the rows and the report)"},
    {"yes", 0, NOARG, SUBV(SUB_YES), NULL, "delete without asking for confirmation"},
    {"from-xdrop2", 0, REQ, SUBV(SUB_FROM_XDROP2), "FILE",
     "migrate: the SQLite database of an XDrop v2.7 controller (opened read-only)"},
    {"match-anomaly", 0, REQ, SUBV(SUB_ANOMALY), "NAMES",
     "rules add/update: the packet anomalies the rule matches, bad_fragment,invalid\n"
     "(or v2.7's mask 1-3; 0 clears); the same as match_anomaly=NAMES"},
    {"decoder", 0, REQ, SUBV(SUB_DECODER), "NAME",
     "rules add/update: v2.7's shorthand, tcp_ack (protocol=tcp tcp_flags=ACK,!SYN),\n"
     "tcp_rst, tcp_fin, bad_fragment or invalid (match_anomaly); the same as\n"
     "decoder=NAME"},
    {"role", 0, REQ, SUBV(SUB_ROLE), "voter|standby|spare",
     "cluster add: the new member's role (default voter)"},
    {NULL, 0, 0, 0, NULL, NULL},
};

/* The number of rows of ctl_opts. */
static size_t n_opts(void)
{
	size_t n = 0;

	while (ctl_opts[n].name)
		n++;
	return n;
}

/* Refuses (usage error) the subcommand options in o that `what` does not take. */
int ctl_only_opts(const struct listopts *o, unsigned allowed, const char *what)
{
	for (const struct ctl_opt *p = ctl_opts; p->name; p++)
		if (p->val >= SUB_OPT_VAL && (o->given & ~allowed & SUB(p->val - SUB_OPT_VAL)))
			return ctl_fail(CTL_EXIT_USAGE,
					"%s does not take --%s (see xdropctl help %s)", what,
					p->name, what);
	return CTL_EXIT_OK;
}

/* Parses the decimal number s given to --name into *out; a usage error unless it is all
 * digits and within [min, max]. */
static int parse_num(const char *name, const char *s, unsigned long min, unsigned long max,
		     unsigned long *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!isdigit((unsigned char)*s) || *end || errno || v < min || v > max)
		return ctl_fail(CTL_EXIT_USAGE, "--%s: a number from %lu to %lu", name, min, max);
	*out = v;
	return CTL_EXIT_OK;
}

/* --window: 10s, 1m or 5m (or the seconds: 10, 60, 300, with or without "s"). */
static int parse_window(const char *s, uint32_t *out)
{
	static const struct {
		const char *name;
		uint32_t s;
	} w[] = {{"10s", 10}, {"10", 10},  {"1m", 60},	  {"60s", 60},
		 {"60", 60},  {"5m", 300}, {"300s", 300}, {"300", 300}};

	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		if (!strcmp(s, w[i].name)) {
			*out = w[i].s;
			return CTL_EXIT_OK;
		}
	return ctl_fail(CTL_EXIT_USAGE, "--window: 10s, 1m or 5m, not %s", s);
}

/* -o: table, wide, json or csv. */
static int parse_output(const char *s, int *out)
{
	static const char *const names[] = {[CTL_FMT_TABLE] = "table",
					    [CTL_FMT_WIDE] = "wide",
					    [CTL_FMT_JSON] = "json",
					    [CTL_FMT_CSV] = "csv"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i])) {
			*out = (int)i;
			return CTL_EXIT_OK;
		}
	return ctl_fail(CTL_EXIT_USAGE, "-o: table, wide, json or csv, not %s", s);
}

/* Returns the first line of the file at path (malloc'd), or NULL. */
static char *read_key_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[1024], *nl;

	if (!f || !fgets(buf, sizeof(buf), f)) {
		if (f)
			fclose(f);
		return NULL;
	}
	fclose(f);
	nl = strpbrk(buf, "\r\n");
	if (nl)
		*nl = 0;
	return strdup(buf);
}

/* Applies one option (getopt value ch, argument arg) to c or o. */
static int apply_opt(struct ctl *c, struct listopts *o, int ch, char *arg)
{
	unsigned long n = 0;
	int rc = CTL_EXIT_OK;

	switch (ch) {
	case 'u':
		c->url = arg;
		break;
	case 'k':
		c->key = arg;
		break;
	case 'K':
		free(c->key_buf);
		c->key_buf = read_key_file(arg);
		if (!c->key_buf)
			return ctl_fail(CTL_EXIT_USAGE, "--key-file %s: cannot read", arg);
		c->key = c->key_buf;
		break;
	case 'j':
		c->output = CTL_FMT_JSON;
		break;
	case 'o':
		rc = parse_output(arg, &c->output);
		break;
	case 'H':
		c->no_headers = true;
		break;
	case 'R':
		c->version = true;
		break;
	case 't':
		rc = parse_num("timeout", arg, 1, UINT_MAX, &n);
		c->timeout_ms = (unsigned)n;
		break;
	case 'C':
		c->tls.ca_file = arg;
		break;
	case 'N':
		c->tls.server_name = arg;
		break;
	case 'V':
		c->tls.skip_name_check = true;
		break;
	case 'c':
		c->tls.cert_file = arg;
		break;
	case 'Y':
		c->tls.key_file = arg;
		break;
	case 'P':
		c->progress = 1;
		break;
	case 'X':
		c->progress = 0;
		break;
	case 'q':
		c->quiet = true;
		break;
	case 'B':
		rc = parse_num("batch-size", arg, 1, UINT32_MAX, &n);
		c->batch = n;
		break;
	case 'h':
		c->help = true;
		break;
	case SUB_OPT_VAL + SUB_PAGE:
		rc = parse_num("page", arg, 0, UINT32_MAX, &n);
		o->page = (uint32_t)n;
		break;
	case SUB_OPT_VAL + SUB_LIMIT:
		rc = parse_num("limit", arg, 0, UINT32_MAX, &n);
		o->limit = (uint32_t)n;
		break;
	case SUB_OPT_VAL + SUB_SEARCH:
		o->search = arg;
		break;
	case SUB_OPT_VAL + SUB_ENABLED:
		o->enabled = arg;
		break;
	case SUB_OPT_VAL + SUB_ACTION:
		o->action = arg;
		break;
	case SUB_OPT_VAL + SUB_SORT:
		o->sort = arg;
		break;
	case SUB_OPT_VAL + SUB_ORDER:
		o->order = arg;
		break;
	case SUB_OPT_VAL + SUB_FORMAT:
		o->format = arg;
		break;
	case SUB_OPT_VAL + SUB_BY:
		o->by = arg;
		break;
	case SUB_OPT_VAL + SUB_VERDICT:
		o->verdict = arg;
		break;
	case SUB_OPT_VAL + SUB_WINDOW:
		rc = parse_window(arg, &o->window_s);
		break;
	case SUB_OPT_VAL + SUB_SOURCE:
		o->source = arg;
		break;
	case SUB_OPT_VAL + SUB_ON_CONFLICT:
		o->on_conflict = arg;
		break;
	case SUB_OPT_VAL + SUB_DRY_RUN:
		o->dry_run = true;
		break;
	case SUB_OPT_VAL + SUB_YES:
		o->yes = true;
		break;
	case SUB_OPT_VAL + SUB_FROM_XDROP2:
		o->from_xdrop2 = arg;
		break;
	case SUB_OPT_VAL + SUB_ANOMALY:
		o->anomaly = arg;
		break;
	case SUB_OPT_VAL + SUB_DECODER:
		o->decoder = arg;
		break;
	case SUB_OPT_VAL + SUB_ROLE:
		o->role = arg;
		break;
	case SUB_OPT_VAL + SUB_NODE:
		o->node = arg;
		break;
	case SUB_OPT_VAL + SUB_WATCH:
		n = 1;
		if (arg)
			rc = parse_num("watch", arg, 1, CTL_WATCH_MAX, &n);
		o->watch = (unsigned)n;
		break;
	default:
		fputs("xdropctl: see xdropctl --help, or xdropctl help COMMAND\n", stderr);
		return CTL_EXIT_USAGE;
	}
	if (ch >= SUB_OPT_VAL)
		o->given |= SUB(ch - SUB_OPT_VAL);
	return rc;
}

/*
 * Parses the whole command line. Options may come anywhere, before the command, after it
 * or between its arguments, until "--"; the other words (COMMAND first, then its
 * arguments) are stored in order in args[0..*n_args), which has room for argc pointers
 * into argv. getopt's "-" mode returns those words one by one in place instead of
 * permuting argv, and does so whatever POSIXLY_CORRECT says. Returns 0 or an exit code.
 */
int ctl_parse_args(int argc, char **argv, struct ctl *c, struct listopts *o, char **args,
		   int *n_args)
{
	struct option lo[64];
	char shorts[64] = "-";
	size_t n = n_opts(), k = 1;
	int ch, rc = CTL_EXIT_OK;

	if (n >= sizeof(lo) / sizeof(lo[0]))
		return ctl_fail(CTL_EXIT_FAIL, "too many options for the getopt table");
	for (size_t i = 0; i < n; i++) {
		lo[i] =
		    (struct option){ctl_opts[i].name, ctl_opts[i].has_arg, NULL, ctl_opts[i].val};
		if (ctl_opts[i].short_name && k + 3 < sizeof(shorts)) {
			shorts[k++] = ctl_opts[i].short_name;
			if (ctl_opts[i].has_arg == required_argument)
				shorts[k++] = ':';
		}
	}
	lo[n] = (struct option){NULL, 0, NULL, 0};
	shorts[k] = 0;
	*n_args = 0;
	while ((ch = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		char *arg = optarg;

		if (ch == 1) {
			args[(*n_args)++] = arg;
			continue;
		}
		/* "--watch 2" as well as "--watch=2": a number right after it is its value */
		if (ch == SUB_OPT_VAL + SUB_WATCH && !arg && optind < argc &&
		    isdigit((unsigned char)argv[optind][0]))
			arg = argv[optind++];
		rc = apply_opt(c, o, ch, arg);
		if (rc)
			return rc;
	}
	while (optind < argc)
		args[(*n_args)++] = argv[optind++];
	c->json = c->output == CTL_FMT_JSON;
	return CTL_EXIT_OK;
}
