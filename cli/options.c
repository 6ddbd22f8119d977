// SPDX-License-Identifier: MIT
/*
 * options: xdropctl's command line. One getopt table holds every option, the global ones
 * and those of subcommands, so that options are accepted anywhere on the line; the
 * subcommand options are recorded as SUB() bits and each subcommand refuses those it does
 * not take (ctl_only_opts). The --help text is here too, next to the options it describes.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* In the getopt table the subcommand options' values are SUB_OPT_VAL + enum sub_opt,
 * above every short option character. */
#define SUB_OPT_VAL 256

const char ctl_usage_text[] =
    "NAME\n"
    "    xdropctl - manage XDrop rules, whitelist, nodes and keys over RPC\n"
    "\n"
    "SYNOPSIS\n"
    "    xdropctl [OPTIONS] COMMAND [SUBCOMMAND] [ARGS...] [OPTIONS]\n"
    "\n"
    "DESCRIPTION\n"
    "    xdropctl talks protobuf RPC (docs/rpc.md) directly to an xdrop-controller, or to\n"
    "    one xdrop-agent for node-level commands (rules, whitelist, stats, info). Results\n"
    "    print as tables, or as JSON with --json (the same shapes as the REST API).\n"
    "    Options may come before or after the command and between its arguments\n"
    "    (rules import FILE --format csv); \"--\" ends the options.\n"
    "\n"
    "OPTIONS\n"
    "    -u, --url URL        RPC address (default $XDROP_URL, else " CTL_DEFAULT_URL ")\n"
    "    --controller URL     same as --url, for a controller\n"
    "    --agent URL          same as --url, for an agent (default port 7600)\n"
    "    -k, --key KEY        API key (default $XDROP_KEY)\n"
    "    --key-file FILE      read the API key from FILE (first line)\n"
    "    --json               print JSON instead of tables\n"
    "    --timeout MS         per-call timeout (default 5000; imports 300000)\n"
    "    --ca FILE            CA bundle for tls+tcp:// URLs (default $XDROP_CA)\n"
    "    --server-name NAME   name the server certificate must carry (default\n"
    "                         $XDROP_SERVER_NAME, else the URL's host)\n"
    "    --no-verify-name     accept any certificate from the CA, whatever its name\n"
    "                         (insecure: another node's certificate would do; warns)\n"
    "    --cert FILE          client certificate (PEM) for tls+tcp:// URLs, for servers\n"
    "                         with require_client_cert (default $XDROP_CERT)\n"
    "    --cert-key FILE      its private key (PEM, unencrypted; default\n"
    "                         $XDROP_CERT_KEY); --cert and --cert-key go together\n"
    "    --progress, --no-progress\n"
    "                         force the import progress bar on or off (default: on\n"
    "                         when stderr is a terminal and the file has >= 1000 rows)\n"
    "    --batch-size N       rows per atomic batch on import (default 10000, the\n"
    "                         controller's largest batch)\n"
    "    -q, --quiet          print nothing on success\n"
    "    -h, --help           this text\n"
    "\n"
    "COMMANDS\n"
    "    info                           upstream name, version, revision, content hash\n"
    "    ping                           health check (no key needed)\n"
    "    stats [--watch [SECONDS]]      packet counters and rates, per node; --watch\n"
    "                                   prints them again every SECONDS (default 1)\n"
    "                                   until interrupted; packets, bytes and bit/s\n"
    "                                   per verdict and reason (whitelisted,\n"
    "                                   rate-limited, malformed); a node whose figures\n"
    "                                   are older than the health timeout shows \"stale,\n"
    "                                   as of HH:MM:SS\"\n"
    "    top [--by src|src_prefix|dst|dst_port] [--verdict dropped|passed]\n"
    "        [--window 10s|1m|5m] [--limit N] [--node ID] [--watch [SECONDS]]\n"
    "                                   the heaviest sources (default), /24 or /64\n"
    "                                   source prefixes, destinations or destination\n"
    "                                   ports of the sampled dropped (default) or\n"
    "                                   passed traffic over the window (default 10s),\n"
    "                                   the whole cluster or one node; N is 1..100\n"
    "                                   (default 10). Figures are estimates from 1-in-N\n"
    "                                   sampling: each may be high by the ± column\n"
    "\n"
    "    rules list [--page N] [--limit N] [--search TEXT] [--enabled true|false]\n"
    "               [--action drop|pass|rate_limit] [--sort FIELD] [--order asc|desc]\n"
    "    rules get ID\n"
    "    rules add FIELD=VALUE...       e.g. src_cidr=10.0.0.0/8 protocol=tcp dst_port=80\n"
    "                                   action=drop name=web (enabled defaults to true)\n"
    "    rules update ID FIELD=VALUE... change only the fields given\n"
    "    rules del ID...\n"
    "    rules del --source NAME | --search TEXT [--yes]\n"
    "                                   delete every rule of a feed, or matching TEXT,\n"
    "                                   in one change; prints the count and asks y/N on\n"
    "                                   a terminal (refused without one unless --yes)\n"
    "    rules top [--limit N]          rules by drop rate\n"
    "                                   (lists show hits, drops and bytes: summed over\n"
    "                                   the nodes, frame lengths as XDP sees them)\n"
    "    rules import FILE|- [--format json|csv]\n"
    "    rules import FILE --source NAME [--on-conflict skip|replace|fail] [--dry-run]\n"
    "                                   add the file's rules to feed NAME in one change;\n"
    "                                   a rule whose match exists already is skipped,\n"
    "                                   replaces the existing one, or fails the whole\n"
    "                                   import (default); --dry-run prints the diff\n"
    "    rules sync-source NAME FILE [--dry-run]\n"
    "                                   make the rules of feed NAME equal to the file in\n"
    "                                   one change (equal rules keep their ids; the\n"
    "                                   feed's rules not in the file are deleted)\n"
    "    rules export [FILE|-] [--format json|csv]\n"
    "\n"
    "    whitelist list|get|add|del|import|export   as for rules\n"
    "\n"
    "    nodes list | get ID | stats ID | sync ID | del ID\n"
    "                                   list: status, filtering (active, inactive,\n"
    "                                   presumed: unreachable but its program was\n"
    "                                   attached, unknown) and rates, \"stale, as of\n"
    "                                   HH:MM:SS\" when they are the last known\n"
    "    nodes add name=NAME address=URL [comment=TEXT]   prints the node key once\n"
    "    keys list | del ID\n"
    "    keys add NAME admin|read_only  prints the new key once\n"
    "\n"
    "FIELDS\n"
    "    Rules: id name src_ip dst_ip src_cidr dst_cidr src_port dst_port protocol\n"
    "    (any tcp udp icmp icmpv6 igmp gre esp or a number) action (drop pass\n"
    "    rate_limit) rate_limit burst pkt_len_min pkt_len_max tcp_flags (SYN,!ACK)\n"
    "    enabled expires_at (RFC 3339) expires_in (90s, 1h) comment source.\n"
    "    Whitelist entries: id name src_ip dst_ip src_cidr dst_cidr src_port dst_port\n"
    "    protocol comment.\n"
    "\n"
    "IMPORT AND EXPORT\n"
    "    JSON files hold {\"rules\": [...]} (or {\"entries\": [...]}) or a bare array of\n"
    "    objects with the fields above. CSV files start with a header row naming the\n"
    "    columns (any subset of the fields, any order); empty cells are left unset.\n"
    "    An import is all or nothing: up to --batch-size rows go as ONE atomic batch;\n"
    "    a larger file goes as consecutive atomic batches, and if one is refused the\n"
    "    batches already applied are deleted again (the failing row and field are\n"
    "    named). Every write (each import batch too) carries a random request id and\n"
    "    is sent again with it when the connection is lost, so a batch the controller\n"
    "    committed just before a restart is reported as the success it was.\n"
    "    Exports are sorted by id and omit counters\n"
    "    and timestamps, so export -> import -> export gives the same file.\n"
    "    --format decides the format; without it, a file name ending in .csv means\n"
    "    CSV, anything else (and -, stdin or stdout) JSON.\n"
    "\n"
    "EXIT STATUS\n"
    "    0  success\n"
    "    1  other failure (server error, I/O error)\n"
    "    2  usage error\n"
    "    3  invalid input (validation failed; the message names the field)\n"
    "    4  not found\n"
    "    5  not authenticated, or the key may not do this (read-only key)\n"
    "    6  conflict (a rule with the same match exists, state does not allow it)\n"
    "    7  upstream unavailable or timed out\n"
    "\n"
    "ENVIRONMENT\n"
    "    XDROP_URL, XDROP_KEY   defaults for --url and --key\n"
    "    XDROP_CA, XDROP_CERT, XDROP_CERT_KEY, XDROP_SERVER_NAME\n"
    "                           defaults for --ca, --cert, --cert-key, --server-name\n"
    "\n"
    "EXAMPLES\n"
    "    xdropctl -k $KEY rules add src_cidr=198.51.100.0/24 action=drop name=bad-net\n"
    "    xdropctl rules list --search bad --json\n"
    "    xdropctl rules import blocklist.csv\n"
    "    xdropctl rules export rules.txt --format csv\n"
    "    xdropctl --agent tcp://10.0.0.2:7600 stats --watch 2\n"
    "    xdropctl top --by src_prefix --window 1m --limit 20\n";

/* Every option, global or of a subcommand: they are accepted anywhere on the line. */
static const struct option ctl_options[] = {
    {"url", required_argument, NULL, 'u'},
    {"controller", required_argument, NULL, 'u'},
    {"agent", required_argument, NULL, 'u'},
    {"key", required_argument, NULL, 'k'},
    {"key-file", required_argument, NULL, 'K'},
    {"json", no_argument, NULL, 'j'},
    {"timeout", required_argument, NULL, 't'},
    {"ca", required_argument, NULL, 'C'},
    {"server-name", required_argument, NULL, 'N'},
    {"no-verify-name", no_argument, NULL, 'V'},
    {"cert", required_argument, NULL, 'c'},
    {"cert-key", required_argument, NULL, 'Y'},
    {"progress", no_argument, NULL, 'P'},
    {"no-progress", no_argument, NULL, 'X'},
    {"quiet", no_argument, NULL, 'q'},
    {"batch-size", required_argument, NULL, 'B'},
    {"help", no_argument, NULL, 'h'},
    {"page", required_argument, NULL, SUB_OPT_VAL + SUB_PAGE},
    {"limit", required_argument, NULL, SUB_OPT_VAL + SUB_LIMIT},
    {"search", required_argument, NULL, SUB_OPT_VAL + SUB_SEARCH},
    {"enabled", required_argument, NULL, SUB_OPT_VAL + SUB_ENABLED},
    {"action", required_argument, NULL, SUB_OPT_VAL + SUB_ACTION},
    {"sort", required_argument, NULL, SUB_OPT_VAL + SUB_SORT},
    {"order", required_argument, NULL, SUB_OPT_VAL + SUB_ORDER},
    {"format", required_argument, NULL, SUB_OPT_VAL + SUB_FORMAT},
    {"watch", optional_argument, NULL, SUB_OPT_VAL + SUB_WATCH},
    {"by", required_argument, NULL, SUB_OPT_VAL + SUB_BY},
    {"verdict", required_argument, NULL, SUB_OPT_VAL + SUB_VERDICT},
    {"window", required_argument, NULL, SUB_OPT_VAL + SUB_WINDOW},
    {"node", required_argument, NULL, SUB_OPT_VAL + SUB_NODE},
    {"source", required_argument, NULL, SUB_OPT_VAL + SUB_SOURCE},
    {"on-conflict", required_argument, NULL, SUB_OPT_VAL + SUB_ON_CONFLICT},
    {"dry-run", no_argument, NULL, SUB_OPT_VAL + SUB_DRY_RUN},
    {"yes", no_argument, NULL, SUB_OPT_VAL + SUB_YES},
    {NULL, 0, NULL, 0},
};

/* Refuses (usage error) the subcommand options in o that `what` does not take. */
int ctl_only_opts(const struct listopts *o, unsigned allowed, const char *what)
{
	for (const struct option *p = ctl_options; p->name; p++)
		if (p->val >= SUB_OPT_VAL && (o->given & ~allowed & SUB(p->val - SUB_OPT_VAL)))
			return ctl_fail(CTL_EXIT_USAGE,
					"%s does not take --%s (see xdropctl --help)", what,
					p->name);
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
		c->json = true;
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
	case SUB_OPT_VAL + SUB_NODE:
		o->node = arg;
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
	case SUB_OPT_VAL + SUB_WATCH:
		n = 1;
		if (arg)
			rc = parse_num("watch", arg, 1, CTL_WATCH_MAX, &n);
		o->watch = (unsigned)n;
		break;
	default:
		fputs("see xdropctl --help\n", stderr);
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
	int ch, rc;

	*n_args = 0;
	while ((ch = getopt_long(argc, argv, "-u:k:qhj", ctl_options, NULL)) != -1) {
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
	return CTL_EXIT_OK;
}
