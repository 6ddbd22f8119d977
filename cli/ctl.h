/* SPDX-License-Identifier: MIT */
/*
 * ctl: what the parts of xdropctl share. xdropctl.c holds main and the command table
 * (ctl_cmds: every command's synopsis, options and help); options.c the option table
 * (ctl_opts, every option with its help) and the command line (options accepted
 * anywhere); help.c --help, `help`, and the completion scripts, man.c the man page, all
 * printed from those two tables; call.c the RPC calls and how their errors become exit
 * codes; output.c the columns of every table, the detail views, JSON and the progress
 * bar; table.c how tables print in each -o format; fields.c FIELD=VALUE words and CSV
 * cells as JSON; csv.c CSV files; transfer.c import and export; cmd_rules.c,
 * cmd_nodes.c, cmd_keys.c and cmd_stats.c (stats, top, info, ping) the commands;
 * migrate.c `migrate --from-xdrop2`, a v2.7 controller database imported.
 *
 * Every function that can fail prints one line ("xdropctl: ...", through ctl_fail) and
 * returns an exit code (CTL_EXIT_*), CTL_EXIT_OK on success; functions that return a
 * negative errno say so. Messages returned through out-parameters belong to the caller
 * (ctl_msg_free).
 */
#ifndef XDROP_CTL_H
#define XDROP_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>
#include <protobuf-c/protobuf-c.h>

#include "json.h"
#include "rpc.h"
#include "tls.h"
#include "xdrop.pb-c.h"
#include "xdrop_limits.h"

/* Exit codes (also in --help and docs/operations.md). */
#define CTL_EXIT_OK	     0
#define CTL_EXIT_FAIL	     1
#define CTL_EXIT_USAGE	     2
#define CTL_EXIT_INVALID     3
#define CTL_EXIT_NOT_FOUND   4
#define CTL_EXIT_AUTH	     5
#define CTL_EXIT_CONFLICT    6
#define CTL_EXIT_UNAVAILABLE 7

#define CTL_DEFAULT_URL	       XDROP_CONTROLLER_RPC_URL
#define CTL_PAGE	       XDROP_LIST_MAX  /* items per List call when exporting */
#define CTL_BATCH_TIMEOUT_MS   300000	       /* imports: one atomic batch may be large */
#define CTL_MAX_FILE	       (512u << 20)    /* largest import file */
#define CTL_PROGRESS_MIN_ROWS  1000	       /* smaller imports show no progress bar */
#define CTL_BATCH	       XDROP_BATCH_MAX /* rows per atomic batch: the controller's cap */
#define CTL_WRITE_RETRY_MS     100	       /* first pause before resending a write, doubled */
#define CTL_WRITE_RETRY_MAX_MS 2000
#define CTL_WATCH_MAX	       86400 /* longest --watch interval, seconds */

/* -o: how list and get commands print. */
enum ctl_format {
	CTL_FMT_TABLE, /* fixed columns, long cells cut with "…" */
	CTL_FMT_WIDE,  /* every column, as wide as its longest cell: nothing cut */
	CTL_FMT_JSON,  /* lib/json's shapes, those of the REST API */
	CTL_FMT_CSV,   /* RFC 4180, a header row of the column names */
};

/* One invocation: where to, with what, and how to print. */
struct ctl {
	const char *url;
	const char *key;
	char *key_buf; /* owned: the key read by --key-file */
	bool json;     /* -o json (or --json): set from output after parsing */
	int output;    /* enum ctl_format */
	bool no_headers;
	bool quiet;
	bool help;
	bool version;
	int progress; /* -1 auto (a terminal), 0 off, 1 on */
	unsigned timeout_ms;
	size_t batch; /* items per atomic batch */
	struct tls_opts tls;
	struct rpc_client *client; /* opened by the first call */
};

/*
 * Options that only some subcommands take. Each one given sets its SUB() bit in
 * listopts.given, and a subcommand refuses the ones it does not take (ctl_only_opts), so
 * that an option is never silently ignored.
 */
enum sub_opt {
	SUB_PAGE,
	SUB_LIMIT,
	SUB_SEARCH,
	SUB_ENABLED,
	SUB_ACTION,
	SUB_SORT,
	SUB_ORDER,
	SUB_FORMAT,
	SUB_WATCH,
	SUB_BY,
	SUB_VERDICT,
	SUB_WINDOW,
	SUB_NODE,
	SUB_SOURCE,	 /* rules import, sync-source, del: the feed (a rule's source) */
	SUB_ON_CONFLICT, /* rules import: skip | replace | fail */
	SUB_DRY_RUN,	 /* rules import, sync-source: print the diff, change nothing */
	SUB_YES,	 /* rules del --source/--search: no confirmation */
	SUB_FROM_XDROP2, /* migrate: the v2.7 controller database */
	SUB_ANOMALY,	 /* rules add, update: match_anomaly (names or 0-3) */
	SUB_DECODER,	 /* rules add, update: v2.7's decoder shorthand */
	SUB_ROLE,	 /* cluster add: voter | standby | spare */
};
#define SUB(o) (1u << (o))

struct listopts {
	uint32_t page, limit;
	char *search, *enabled, *action, *sort, *order, *format;
	unsigned watch;		    /* seconds between samples; 0: print once */
	char *by, *verdict, *node;  /* top */
	uint32_t window_s;	    /* top --window, in seconds; 0: the default */
	char *source, *on_conflict; /* feeds (feeds.c) */
	char *from_xdrop2;	    /* migrate (migrate.c) */
	char *anomaly, *decoder;    /* rules add, update: as the fields of those names */
	char *role;		    /* cluster add */
	bool dry_run, yes;
	unsigned given; /* SUB() bits of the options given */
};

/* Rules and whitelist entries: the two kinds that the rules and whitelist commands, import
 * and export handle alike. */
struct kind {
	const char *cmd;  /* "rules" | "whitelist": the command, in messages */
	const char *list; /* "rules" | "entries" */
	const char *noun; /* "rule" | "whitelist entry" */
	const ProtobufCServiceDescriptor *svc;
	const ProtobufCMessageDescriptor *item;
	const char *const *columns; /* CSV export columns */
};
extern const struct kind kind_rules;
extern const struct kind kind_wl;

/* ---- xdropctl.c: the command table, the one source of help, completion and man ---- */

/*
 * One row per command: group ("rules"), subcommand ("add"; NULL when the group takes
 * none), its arguments as the synopsis shows them, the SUB() options it takes (any other
 * is refused), a one-line summary, and the rest of its help (NULL: none). --help, `help`,
 * the completion scripts and the man page are all printed from these rows and from
 * ctl_opts, so that they cannot disagree with what the command accepts.
 */
struct ctl_cmd {
	const char *group;
	const char *name;
	const char *args;
	unsigned opts;
	const char *summary;
	const char *desc;
};
extern const struct ctl_cmd ctl_cmds[]; /* ended by a row with group NULL */

/* The command groups: what runs a group's rows (it finds the subcommand itself). */
struct ctl_group {
	const char *name;
	const char *alias;
	const char *summary;
	int (*run)(struct ctl *c, const struct listopts *o, int argc, char **argv);
};
extern const struct ctl_group ctl_groups[]; /* ended by a row with name NULL */

/* ---- options.c ---- */

/* Every option, global or of a subcommand (val >= CTL_SUB_OPT_VAL: SUB_* + that). */
#define CTL_SUB_OPT_VAL 256
struct ctl_opt {
	const char *name; /* long name */
	char short_name;  /* or 0 */
	int has_arg;	  /* getopt's no_argument, required_argument, optional_argument */
	int val;	  /* a letter, or CTL_SUB_OPT_VAL + enum sub_opt */
	const char *arg;  /* its value as help shows it; "a|b|c": the values completed */
	const char *help; /* one line or more, \n between lines */
};
extern const struct ctl_opt ctl_opts[]; /* ended by a row with name NULL */

/*
 * Parses the whole command line into c and o. Options may come anywhere, before the
 * command, after it or between its arguments, until "--"; the other words (COMMAND first,
 * then its arguments) are stored in order in args[0..*n_args), which has room for argc
 * pointers into argv. Returns CTL_EXIT_OK or an exit code (the error printed).
 */
int ctl_parse_args(int argc, char **argv, struct ctl *c, struct listopts *o, char **args,
		   int *n_args);

/* Refuses (usage error) the subcommand options in o that `what` does not take (allowed:
 * SUB() bits). Returns CTL_EXIT_OK or CTL_EXIT_USAGE. */
int ctl_only_opts(const struct listopts *o, unsigned allowed, const char *what);

/* ---- help.c ---- */

/* Prints the overview (xdropctl --help) on f. */
void ctl_help_overview(FILE *f);

/* `help [GROUP [SUB]]`, `GROUP --help`, `GROUP SUB --help`: that command's usage on
 * stdout. Returns CTL_EXIT_OK, or CTL_EXIT_USAGE for an unknown command (said). */
int ctl_help(int argc, char **argv);

/* `completion bash|zsh` and `man`: scripts and the man page from the tables. */
int cmd_completion(struct ctl *c, const struct listopts *o, int argc, char **argv);
int cmd_man(struct ctl *c, const struct listopts *o, int argc, char **argv);
int cmd_help(struct ctl *c, const struct listopts *o, int argc, char **argv);

/* The row of group (canonical name) and sub (NULL for a group without subcommands), or
 * NULL. */
const struct ctl_cmd *ctl_cmd_find(const char *group, const char *sub);

/* The subcommand a group runs when none is given: list, else the group's first one. */
const char *ctl_default_sub(const char *group);

/* ---- call.c ---- */

/* Prints "xdropctl: " and the message on stderr. Returns code. */
int ctl_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints a JSON conversion error (where: a file name or a CSV line, may be NULL). Returns
 * CTL_EXIT_INVALID. */
int ctl_json_fail(const struct json_error *e, const char *where);

/*
 * One logical call of method on svc with req; *resp receives the reply (ctl_msg_free).
 * timeout_ms 0 means c->timeout_ms. The client is opened by the first call. A write gets
 * a fresh request id and is sent again with it while the upstream is unavailable, until
 * the timeout. Returns CTL_EXIT_OK or the exit code of the error (printed).
 */
int ctl_call(struct ctl *c, const ProtobufCServiceDescriptor *svc, const char *method,
	     const ProtobufCMessage *req, ProtobufCMessage **resp, unsigned timeout_ms);
/* ctl_call without printing a failure: the exit code, *st the status (ctl_rpc_fail
 * prints it). */
int ctl_call_st(struct ctl *c, const ProtobufCServiceDescriptor *svc, const char *method,
		const ProtobufCMessage *req, ProtobufCMessage **resp, unsigned timeout_ms,
		struct rpc_status *st);
/* A fresh random request id ("xdropctl-" and 32 hex digits) into out. */
void ctl_request_id_new(char *out, size_t len);

/* ---- stage.c ---- */

#define CTL_STAGE_INFLIGHT 3 /* staged chunks in flight at once */

/* A set of n items (msgs, of kind) larger than c->batch, to store as one change: a
 * BatchCreate, or with source a ReplaceSource of that feed. */
struct ctl_stage {
	const struct kind *kind;
	void **msgs;
	size_t n;
	const char *source;
	bool dry_run;
};
/* Sends g staged (see stage.c); *out the commit's reply. Returns the exit code (the error
 * printed), with *unsupported and nothing sent or printed when the server does not serve
 * staged imports (an agent): send a documented sequence of batches instead. */
int ctl_stage_send(struct ctl *c, const struct ctl_stage *g, ProtobufCMessage **out,
		   bool *unsupported);

/* Prints st as ctl_call does; returns its exit code. */
int ctl_rpc_fail(const struct rpc_status *st);

/* Frees an unpacked message; NULL is fine. */
void ctl_msg_free(ProtobufCMessage *m);

/* ---- output.c ---- */

/* Prints o as indented JSON on stdout. Returns CTL_EXIT_OK, or CTL_EXIT_FAIL when o is
 * NULL or out of memory. */
int ctl_print_json(const cJSON *o);

/* Prints any message as JSON (lib/json's shapes). Returns as ctl_print_json. */
int ctl_print_msg(const ProtobufCMessage *m);

/* Tables of rules, whitelist entries, stats, nodes, API keys and top talkers on stdout. */
void ctl_print_rules(const Xdrop__V1__Rule *const *rules, size_t n);
void ctl_print_wl(const Xdrop__V1__WhitelistEntry *const *e, size_t n);
void ctl_print_stats(const Xdrop__V1__StatsReply *s);
void ctl_print_nodes(const Xdrop__V1__ListNodesResponse *l);
void ctl_print_keys(const Xdrop__V1__ListKeysResponse *l);
void ctl_print_talkers(const Xdrop__V1__TopTalkersReply *t);

/* Detail views of one rule and one node: a field per line. */
void ctl_print_rule_detail(const Xdrop__V1__Rule *r);
void ctl_print_node_detail(const Xdrop__V1__Node *n);

/* Human units, SI (powers of 1000), three significant digits: bits per second ("950
 * bit/s", "12.3 Mbit/s") and bytes ("512 B", "1.50 GB"). buf holds at least 16 bytes. */
const char *ctl_bps(double bps, char *buf, size_t len);
const char *ctl_bytes(uint64_t bytes, char *buf, size_t len);

/* Draws the progress bar of an import on stderr ("reading", "checking", "sending"), if
 * c->progress is on. */
void ctl_progress(const struct ctl *c, const char *what, size_t done, size_t total);

/* ---- table.c ---- */

/* How tables print (-o, --no-headers): set once by main for the whole invocation. */
void ctl_output_set(int format, bool no_headers);

/* A column: title, largest width in the table format (0: none; a longer cell is cut with
 * "…"), right-aligned (numbers), shown only by -o wide and csv. Columns are as wide as
 * their longest cell up to that. */
struct ctl_col {
	const char *title;
	int width;
	bool right;
	bool wide;
};

/* A table of n columns; rows are kept and printed by ctl_table_print (which frees the
 * table), so that -o wide can size every column to its longest cell. */
struct ctl_table *ctl_table_new(const struct ctl_col *cols, size_t n);
void ctl_table_row(struct ctl_table *t, const char *const *cells);
void ctl_table_print(struct ctl_table *t);

/* Display width of UTF-8 text (code points; every one taken as one column). */
size_t ctl_text_width(const char *s);

/* One line of a detail view: "field:" padded, then the printf text. */
void ctl_detail(const char *field, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Time as "YYYY-MM-DD HH:MM:SS" local time, "" for 0; and how long ago / from now ("in
 * 1h 2m", "5m 3s ago"). buf holds at least 48 bytes. */
const char *ctl_time(int64_t ns, char *buf, size_t len);
const char *ctl_ago(int64_t ns, char *buf, size_t len);

/* ---- fields.c ---- */

/* Adds name=value to obj with the JSON type the field name has in message d (numbers for
 * integers, true/false, null for an empty time, else strings; expires_in is a string).
 * Returns 0, or -EINVAL with *err naming the field, or -ENOMEM. */
int ctl_field_add(cJSON *obj, const ProtobufCMessageDescriptor *d, const char *name,
		  const char *value, struct json_error *err);

/* Builds a JSON object from FIELD=VALUE words (argv is modified while parsing and restored).
 * Returns 0 and *out (cJSON_Delete), -EINVAL with *err, or -ENOMEM. */
int ctl_fields_object(char **argv, int argc, const ProtobufCMessageDescriptor *d, cJSON **out,
		      struct json_error *err);

/* ---- csv.c ---- */

/* CSV text (modified) with a header row -> a JSON array of objects of kind k. Returns
 * CTL_EXIT_OK and *out (cJSON_Delete) or an exit code. */
int ctl_csv_to_json(struct ctl *c, const struct kind *k, char *text, cJSON **out);

/* The same, errors naming "PATH:LINE" (path may be NULL: "CSV line N"); *lines (may be
 * NULL) receives the file line of each object (free). */
#define PATH_WHERE_MAX 320
int ctl_csv_read(struct ctl *c, const struct kind *k, const char *path, char *text, cJSON **out,
		 int **lines);

/* Writes the objects of arr as CSV with a header row of columns (NULL-terminated). */
void ctl_csv_write(FILE *f, const char *const *columns, const cJSON *arr);

/* ---- transfer.c ---- */

/* `rules import` / `whitelist import`: the file at path ("-": stdin) as JSON or CSV
 * (format, or by the file name when NULL), in atomic batches. Returns an exit code. */
int ctl_import(struct ctl *c, const struct kind *k, const char *path, const char *format);

/* The whole file at path ("-": stdin) into *out (NUL-terminated, free) and *len. */
int ctl_read_file(const char *path, char **out, size_t *len);
/* True when the file is CSV: format, else a name ending in .csv. */
bool ctl_is_csv(const char *path, const char *format);

/* `rules export` / `whitelist export` to path (NULL or "-": stdout). Returns an exit code. */
int ctl_export(struct ctl *c, const struct kind *k, const char *path, const char *format);

/* ---- feeds.c: a rule's source as a feed ---- */

/* Where item i of a file is, for errors: a CSV file's "PATH:LINE" with no field prefix
 * (lines: the file line of each item), else "PATH" with the prefix "LIST[i]". */
void ctl_item_where(const char *path, const int *lines, size_t i, const char *list, char *prefix,
		    size_t plen, char *where, size_t wlen);
/* Checks a converted item as the servers will (lib/rulepb), so that a file's error names
 * its line. 0, or -EINVAL with *e naming prefix.field. */
int ctl_check_item(const void *msg, const char *prefix, struct json_error *e);
/* rules import FILE --source NAME (--on-conflict, --dry-run) and rules sync-source NAME
 * FILE: the feed's rules changed in one ReplaceSource. Returns an exit code. */
int ctl_feed_import(struct ctl *c, const struct listopts *o, const char *path, bool sync);
/* rules del --source NAME | --search TEXT, with a count and a confirmation. */
int ctl_feed_delete(struct ctl *c, const struct listopts *o);

/* ---- the command groups: argv[0..argc) are the words after the command ---- */

int cmd_rules(struct ctl *c, const struct listopts *o, int argc, char **argv);
int cmd_whitelist(struct ctl *c, const struct listopts *o, int argc, char **argv);
int cmd_migrate(struct ctl *c, const struct listopts *o, int argc, char **argv);
int cmd_nodes(struct ctl *c, const struct listopts *o, int argc, char **argv);
int cmd_keys(struct ctl *c, const struct listopts *o, int argc, char **argv);
int cmd_cluster(struct ctl *c, const struct listopts *o, int argc, char **argv);
int cmd_stats(struct ctl *c, const struct listopts *o, int argc, char **argv);
int cmd_top(struct ctl *c, const struct listopts *o, int argc, char **argv);
int cmd_info(struct ctl *c, const struct listopts *o, int argc, char **argv);
int cmd_ping(struct ctl *c, const struct listopts *o, int argc, char **argv);

#endif
