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
 * Exit codes (also in --help): 0 success, 1 other failure, 2 usage, 3 invalid input,
 * 4 not found, 5 authentication or permission, 6 conflict, 7 upstream unavailable or
 * timed out.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "rpc.h"
#include "xdrop.pb-c.h"

#define CTL_EXIT_OK	     0
#define CTL_EXIT_FAIL	     1
#define CTL_EXIT_USAGE	     2
#define CTL_EXIT_INVALID     3
#define CTL_EXIT_NOT_FOUND   4
#define CTL_EXIT_AUTH	     5
#define CTL_EXIT_CONFLICT    6
#define CTL_EXIT_UNAVAILABLE 7

#define CTL_DEFAULT_URL	       "tcp://127.0.0.1:7700"
#define CTL_PAGE	       10000	    /* items per List call when exporting */
#define CTL_BATCH_TIMEOUT_MS   300000	    /* imports: one atomic batch may be large */
#define CTL_MAX_FILE	       (512u << 20) /* largest import file */
#define CTL_PROGRESS_MIN_ROWS  1000	    /* smaller imports show no progress bar */
#define CTL_BATCH	       10000	    /* rows per atomic batch: the controller's cap */
#define CTL_WRITE_RETRY_MS     100	    /* first pause before resending a write, doubled */
#define CTL_WRITE_RETRY_MAX_MS 2000

struct ctl {
	const char *url;
	const char *key;
	char *key_buf; /* owned: the key read by --key-file */
	bool json;
	bool quiet;
	bool help;
	int progress; /* -1 auto (a terminal), 0 off, 1 on */
	unsigned timeout_ms;
	size_t batch; /* items per atomic batch */
	struct tls_opts tls;
	struct rpc_client *client; /* opened by the first call */
};

static const char usage_text[] =
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
    "                                   until interrupted\n"
    "\n"
    "    rules list [--page N] [--limit N] [--search TEXT] [--enabled true|false]\n"
    "               [--action drop|pass|rate_limit] [--sort FIELD] [--order asc|desc]\n"
    "    rules get ID\n"
    "    rules add FIELD=VALUE...       e.g. src_cidr=10.0.0.0/8 protocol=tcp dst_port=80\n"
    "                                   action=drop name=web (enabled defaults to true)\n"
    "    rules update ID FIELD=VALUE... change only the fields given\n"
    "    rules del ID...\n"
    "    rules top [--limit N]          rules by drop rate\n"
    "    rules import FILE|- [--format json|csv]\n"
    "    rules export [FILE|-] [--format json|csv]\n"
    "\n"
    "    whitelist list|get|add|del|import|export   as for rules\n"
    "\n"
    "    nodes list | get ID | stats ID | sync ID | del ID\n"
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
    "    xdropctl --agent tcp://10.0.0.2:7600 stats --watch 2\n";

/* ---- errors and exit codes ---- */

static int exit_of(enum rpc_code c)
{
	switch (c) {
	case RPC_OK:
		return CTL_EXIT_OK;
	case RPC_INVALID_ARGUMENT:
	case RPC_OUT_OF_RANGE:
		return CTL_EXIT_INVALID;
	case RPC_NOT_FOUND:
		return CTL_EXIT_NOT_FOUND;
	case RPC_UNAUTHENTICATED:
	case RPC_PERMISSION_DENIED:
		return CTL_EXIT_AUTH;
	case RPC_ALREADY_EXISTS:
	case RPC_FAILED_PRECONDITION:
	case RPC_ABORTED:
		return CTL_EXIT_CONFLICT;
	case RPC_UNAVAILABLE:
	case RPC_DEADLINE_EXCEEDED:
		return CTL_EXIT_UNAVAILABLE;
	default:
		return CTL_EXIT_FAIL;
	}
}

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("xdropctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

static int rpc_fail(const struct rpc_status *st)
{
	if (st->field[0])
		return fail(exit_of(st->code), "%s: %s (field %s)", rpc_code_name(st->code),
			    st->message, st->field);
	return fail(exit_of(st->code), "%s: %s", rpc_code_name(st->code),
		    st->message[0] ? st->message : "call failed");
}

static int json_fail_exit(const struct json_error *e, const char *where)
{
	if (e->field[0])
		return fail(CTL_EXIT_INVALID, "%s%s%s: %s", where ? where : "", where ? ": " : "",
			    e->field, e->message);
	return fail(CTL_EXIT_INVALID, "%s%s%s", where ? where : "", where ? ": " : "", e->message);
}

/* ---- RPC ---- */

/*
 * Opens c->client unless it is open. It is opened by the first call rather than up front,
 * so that a command refused before any call (usage errors, unreadable files) never connects:
 * a peer that connects and goes away without a request costs the server for nothing.
 */
static int connect_upstream(struct ctl *c)
{
	struct rpc_client_opts co = {.sz = sizeof(co)};
	int rc;

	if (c->client)
		return CTL_EXIT_OK;
	co.url = c->url;
	co.auth_token = c->key;
	co.timeout_ms = c->timeout_ms;
	co.max_msg = XDROP_RPC_MAX_MSG;
	/* no resend while a call runs: a large atomic batch must not be executed twice */
	co.resend_ms = CTL_BATCH_TIMEOUT_MS + 1000;
	co.tls = &c->tls;
	rc = rpc_client_open(&c->client, &co);
	if (rc)
		return fail(CTL_EXIT_USAGE, "%s: %s", c->url, strerror(-rc));
	return CTL_EXIT_OK;
}

/* Writes carry a request id: the controller answers a resend with the first outcome. */
static bool is_write(const char *method)
{
	static const char *const writes[] = {"Create", "Update", "Delete", "BatchCreate",
					     "BatchDelete"};

	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
		if (!strcmp(method, writes[i]))
			return true;
	return false;
}

static void request_id_new(char *out, size_t len)
{
	uint8_t b[16] = {0};
	size_t got = 0;
	int n = snprintf(out, len, "xdropctl-");

	while (got < sizeof(b)) {
		ssize_t r = getrandom(b + got, sizeof(b) - got, 0);

		if (r > 0)
			got += (size_t)r;
	}
	for (size_t i = 0; i < sizeof(b) && n > 0 && (size_t)n + 2 < len; i++)
		n += snprintf(out + n, len - (size_t)n, "%02x", b[i]);
}

static int64_t ctl_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * One logical call. A write gets a fresh request id, and when the connection is lost
 * (UNAVAILABLE) it is sent again with the same id, with growing pauses, until timeout_ms
 * has passed: a batch the controller committed before it went away is then reported as
 * the success it was, never as ALREADY_EXISTS.
 */
static int call(struct ctl *c, const ProtobufCServiceDescriptor *svc, const char *method,
		const ProtobufCMessage *req, ProtobufCMessage **resp, unsigned timeout_ms)
{
	char id[64] = "";
	struct rpc_call_opts co = {.sz = sizeof(co), .request_id = id};
	struct rpc_status st;
	int64_t start = ctl_mono_ms(), pause = CTL_WRITE_RETRY_MS;
	int rc = connect_upstream(c);

	if (rc)
		return rc;
	co.timeout_ms = timeout_ms ? timeout_ms : c->timeout_ms;
	if (is_write(method))
		request_id_new(id, sizeof(id));
	while (rpc_client_call_opts(c->client, svc, method, req, resp, &st, &co)) {
		if (!id[0] || st.code != RPC_UNAVAILABLE ||
		    ctl_mono_ms() - start + pause > (int64_t)co.timeout_ms)
			return rpc_fail(&st);
		fprintf(stderr, "xdropctl: %s; sending the %s again (request id %s)\n", st.message,
			method, id);
		nanosleep(
		    &(struct timespec){.tv_sec = pause / 1000, .tv_nsec = (pause % 1000) * 1000000},
		    NULL);
		pause = pause * 2 > CTL_WRITE_RETRY_MAX_MS ? CTL_WRITE_RETRY_MAX_MS : pause * 2;
	}
	return CTL_EXIT_OK;
}

static void msg_free(ProtobufCMessage *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
}

static int print_json(const cJSON *o)
{
	char *s = o ? cJSON_Print(o) : NULL;

	if (!s)
		return fail(CTL_EXIT_FAIL, "out of memory");
	puts(s);
	free(s);
	return CTL_EXIT_OK;
}

static int print_msg(const ProtobufCMessage *m)
{
	cJSON *o = json_from_msg(m);
	int rc = print_json(o);

	cJSON_Delete(o);
	return rc;
}

/* ---- field=value arguments and CSV cells -> JSON ---- */

/* Adds name=value to obj with the JSON type the proto field has. */
static int kv_add(cJSON *obj, const ProtobufCMessageDescriptor *d, const char *name,
		  const char *value, struct json_error *err)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(d, name);
	cJSON *v = NULL;

	if (!strcmp(name, "expires_in")) {
		v = cJSON_CreateString(value);
	} else if (!f) {
		return json_fail(err, name, "unknown field");
	} else if (f->type == PROTOBUF_C_TYPE_UINT32 || f->type == PROTOBUF_C_TYPE_UINT64 ||
		   f->type == PROTOBUF_C_TYPE_INT32) {
		/* decimal digits only: strtod alone would take 80.5, 1e2, 0x50 or " 80" */
		size_t sign = value[0] == '-' && f->type == PROTOBUF_C_TYPE_INT32;
		size_t digits = strspn(value + sign, "0123456789");

		if (!digits || value[sign + digits])
			return json_fail(err, name, "expected an integer (decimal digits)");
		v = cJSON_CreateNumber(strtod(value, NULL));
	} else if (f->type == PROTOBUF_C_TYPE_BOOL) {
		if (strcmp(value, "true") && strcmp(value, "false"))
			return json_fail(err, name, "expected true or false");
		v = cJSON_CreateBool(!strcmp(value, "true"));
	} else if (f->type == PROTOBUF_C_TYPE_INT64 && !*value) {
		v = cJSON_CreateNull();
	} else {
		v = cJSON_CreateString(value);
	}
	if (cJSON_HasObjectItem(obj, name)) {
		cJSON_Delete(v);
		return json_fail(err, name, "given twice");
	}
	if (!v || !cJSON_AddItemToObject(obj, name, v)) {
		cJSON_Delete(v);
		return -ENOMEM;
	}
	return 0;
}

static int kv_object(char **argv, int argc, const ProtobufCMessageDescriptor *d, cJSON **out,
		     struct json_error *err)
{
	cJSON *o = cJSON_CreateObject();

	*out = NULL;
	if (!o)
		return -ENOMEM;
	for (int i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		int rc;

		if (!eq || eq == argv[i]) {
			cJSON_Delete(o);
			return json_fail(err, argv[i], "expected FIELD=VALUE");
		}
		*eq = 0;
		rc = kv_add(o, d, argv[i], eq + 1, err);
		*eq = '=';
		if (rc) {
			cJSON_Delete(o);
			return rc;
		}
	}
	*out = o;
	return 0;
}

/* ---- progress ---- */

static void progress(struct ctl *c, const char *what, size_t done, size_t total)
{
	int width = 40, fill;

	if (c->progress <= 0 || !total)
		return;
	fill = (int)((double)done / (double)total * width);
	fprintf(stderr, "\r%-10s [%.*s%*s] %3d%% %zu/%zu", what, fill,
		"########################################", width - fill, "",
		(int)((double)done * 100 / (double)total), done, total);
	if (done == total)
		fputc('\n', stderr);
}

/* ---- files ---- */

static int read_all(const char *path, char **out, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	int rc = 0;

	*out = NULL;
	if (!f || !buf) {
		rc = fail(CTL_EXIT_FAIL, "%s: %s", path, strerror(f ? ENOMEM : errno));
		goto out;
	}
	for (;;) {
		size_t r;

		if (n + 1 >= cap) {
			char *nb;

			if (cap >= CTL_MAX_FILE) {
				rc = fail(CTL_EXIT_INVALID, "%s: larger than %u bytes", path,
					  CTL_MAX_FILE);
				goto out;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				rc = fail(CTL_EXIT_FAIL, "out of memory");
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		rc = fail(CTL_EXIT_FAIL, "%s: read error", path);
		goto out;
	}
	buf[n] = 0;
	*out = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	if (f && f != stdin)
		fclose(f);
	return rc;
}

/* Splits one CSV record (RFC 4180) starting at *p into cells; advances *p. Returns the
 * cell count, or -1 for an unterminated quote. cells[i] point into buf (modified). */
static int csv_record(char **p, char **cells, int max)
{
	char *s = *p, *w;
	int n = 0;

	if (!*s)
		return 0;
	for (;;) {
		char *cell = s;

		w = s;
		if (*s == '"') {
			s++;
			for (;;) {
				if (!*s)
					return -1;
				if (*s == '"' && s[1] == '"') {
					*w++ = '"';
					s += 2;
				} else if (*s == '"') {
					s++;
					break;
				} else {
					*w++ = *s++;
				}
			}
		} else {
			while (*s && *s != ',' && *s != '\n' && *s != '\r')
				*w++ = *s++;
		}
		if (n < max)
			cells[n++] = cell;
		if (*s == ',') {
			*w = 0;
			s++;
			continue;
		}
		if (*s && *s != '\n' && *s != '\r')
			return -1;
		if (*s == '\r')
			s++;
		if (*s == '\n')
			s++;
		*w = 0;
		break;
	}
	*p = s;
	return n;
}

static bool csv_needs_quotes(const char *s)
{
	return *s == ' ' || (*s && s[strlen(s) - 1] == ' ') || strpbrk(s, ",\"\r\n") != NULL;
}

static void csv_cell(FILE *f, const cJSON *v)
{
	if (!v || cJSON_IsNull(v))
		return;
	if (cJSON_IsBool(v)) {
		fputs(cJSON_IsTrue(v) ? "true" : "false", f);
	} else if (cJSON_IsRaw(v)) {
		fputs(v->valuestring, f);
	} else if (cJSON_IsNumber(v)) {
		fprintf(f, "%.17g", v->valuedouble);
	} else if (cJSON_IsString(v)) {
		if (!csv_needs_quotes(v->valuestring)) {
			fputs(v->valuestring, f);
			return;
		}
		fputc('"', f);
		for (const char *s = v->valuestring; *s; s++) {
			if (*s == '"')
				fputc('"', f);
			fputc(*s, f);
		}
		fputc('"', f);
	}
}

/* ---- import / export (rules and whitelist alike) ---- */

struct kind {
	const char *cmd;  /* "rules" | "whitelist": the command, in messages */
	const char *list; /* "rules" | "entries" */
	const char *noun; /* "rule" | "whitelist entry" */
	const ProtobufCServiceDescriptor *svc;
	const ProtobufCMessageDescriptor *item;
	const char *const *columns; /* CSV export columns */
};

static const char *const rule_columns[] = {
    "id",	 "name",     "src_ip",	   "dst_ip",	 "src_cidr", "dst_cidr",    "src_port",
    "dst_port",	 "protocol", "action",	   "rate_limit", "burst",    "pkt_len_min", "pkt_len_max",
    "tcp_flags", "enabled",  "expires_at", "comment",	 "source",   NULL,
};
static const char *const wl_columns[] = {
    "id",	"name",	    "src_ip",	"dst_ip",  "src_cidr", "dst_cidr",
    "src_port", "dst_port", "protocol", "comment", NULL,
};

static const struct kind kind_rules = {
    .cmd = "rules",
    .list = "rules",
    .noun = "rule",
    .svc = &xdrop__v1__rule_service__descriptor,
    .item = &xdrop__v1__rule__descriptor,
    .columns = rule_columns,
};
static const struct kind kind_wl = {
    .cmd = "whitelist",
    .list = "entries",
    .noun = "whitelist entry",
    .svc = &xdrop__v1__whitelist_service__descriptor,
    .item = &xdrop__v1__whitelist_entry__descriptor,
    .columns = wl_columns,
};

/* CSV text -> a JSON array of objects. */
static int csv_to_json(struct ctl *c, const struct kind *k, char *text, cJSON **out)
{
	char *p = text, *head[64], *cells[64];
	int nh = csv_record(&p, head, 64), line = 1;
	cJSON *arr = cJSON_CreateArray();
	struct json_error e = {0};
	size_t total = 0;

	*out = NULL;
	if (!arr)
		return fail(CTL_EXIT_FAIL, "out of memory");
	if (nh <= 0) {
		cJSON_Delete(arr);
		return fail(CTL_EXIT_INVALID, "CSV: a header row naming the columns is required");
	}
	for (char *q = p; *q; q++)
		total += *q == '\n';
	while (*p) {
		char where[64];
		int n = csv_record(&p, cells, 64);
		cJSON *o;

		line++;
		if (n < 0) {
			cJSON_Delete(arr);
			return fail(CTL_EXIT_INVALID, "CSV line %d: unterminated quote", line);
		}
		if (n == 1 && !cells[0][0])
			continue; /* blank line */
		if (n != nh) {
			cJSON_Delete(arr);
			return fail(CTL_EXIT_INVALID, "CSV line %d: %d cells, the header has %d",
				    line, n, nh);
		}
		o = cJSON_CreateObject();
		if (!o || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			cJSON_Delete(arr);
			return fail(CTL_EXIT_FAIL, "out of memory");
		}
		for (int i = 0; i < n; i++) {
			if (!cells[i][0])
				continue;
			if (kv_add(o, k->item, head[i], cells[i], &e)) {
				cJSON_Delete(arr);
				snprintf(where, sizeof(where), "CSV line %d", line);
				return json_fail_exit(&e, where);
			}
		}
		if ((line & 1023) == 0)
			progress(c, "reading", (size_t)line, total + 1);
	}
	*out = arr;
	return CTL_EXIT_OK;
}

static bool is_csv(const char *path, const char *format)
{
	size_t l = path ? strlen(path) : 0;

	if (format)
		return !strcmp(format, "csv");
	return l > 4 && !strcasecmp(path + l - 4, ".csv");
}

/*
 * Sends msgs as atomic batches of at most c->batch items (servers cap a batch: the
 * controller at 10,000). With more than one batch, a refused batch makes the ones already
 * applied be deleted again (by the ids they created), so that the import as a whole is
 * all or nothing. *out receives the last reply, with added summed over the batches.
 */
static int send_chunks(struct ctl *c, const struct kind *k, void **msgs, size_t n,
		       ProtobufCMessage **out)
{
	char **done = calloc(n + 1, sizeof(*done));
	size_t n_done = 0, added = 0;
	int rc = CTL_EXIT_OK;

	*out = NULL;
	if (!done)
		return fail(CTL_EXIT_FAIL, "out of memory");
	for (size_t at = 0; at < n && !rc; at += c->batch) {
		Xdrop__V1__BatchCreateRulesRequest rreq =
		    XDROP__V1__BATCH_CREATE_RULES_REQUEST__INIT;
		Xdrop__V1__BatchCreateWhitelistRequest wreq =
		    XDROP__V1__BATCH_CREATE_WHITELIST_REQUEST__INIT;
		size_t m = n - at < c->batch ? n - at : c->batch;
		ProtobufCMessage *resp = NULL;

		if (k == &kind_rules) {
			rreq.rules = (Xdrop__V1__Rule **)msgs + at;
			rreq.n_rules = m;
			rreq.atomic = true;
			rc =
			    call(c, k->svc, "BatchCreate", &rreq.base, &resp, CTL_BATCH_TIMEOUT_MS);
		} else {
			wreq.entries = (Xdrop__V1__WhitelistEntry **)msgs + at;
			wreq.n_entries = m;
			wreq.atomic = true;
			rc =
			    call(c, k->svc, "BatchCreate", &wreq.base, &resp, CTL_BATCH_TIMEOUT_MS);
		}
		if (!rc) {
			Xdrop__V1__BatchReply *b = (void *)resp;

			for (size_t i = 0; i < b->n_ids && n_done < n; i++)
				if (!(done[n_done++] = strdup(b->ids[i])))
					rc = fail(CTL_EXIT_FAIL, "out of memory");
			added += b->added;
			b->added = (uint32_t)added;
			msg_free(*out);
			*out = resp;
			progress(c, "sending", at + m, n);
		} else if (n > c->batch) {
			fprintf(stderr,
				"xdropctl: batch at item %zu refused: the import is "
				"rolled back\n",
				at);
		}
	}
	if (rc && n_done) {
		Xdrop__V1__BatchDeleteRequest dq = XDROP__V1__BATCH_DELETE_REQUEST__INIT;
		ProtobufCMessage *r = NULL;

		for (size_t at = 0; at < n_done; at += c->batch) {
			dq.ids = done + at;
			dq.n_ids = n_done - at < c->batch ? n_done - at : c->batch;
			if (call(c, k->svc, "BatchDelete", &dq.base, &r, CTL_BATCH_TIMEOUT_MS))
				fprintf(stderr, "xdropctl: rollback incomplete: %zu %s remain\n",
					n_done - at, k->list);
			msg_free(r);
			r = NULL;
		}
	}
	for (size_t i = 0; i < n_done; i++)
		free(done[i]);
	free(done);
	if (rc) {
		msg_free(*out);
		*out = NULL;
	}
	return rc;
}

static int do_import(struct ctl *c, const struct kind *k, const char *path, const char *format)
{
	ProtobufCMessage *resp = NULL;
	struct json_error e = {0};
	cJSON *doc = NULL;
	const cJSON *items, *it;
	void **msgs = NULL;
	size_t n = 0, total, len = 0;
	char *text = NULL;
	struct timespec t0, t1;
	int rc;

	if (format && strcmp(format, "json") && strcmp(format, "csv"))
		return fail(CTL_EXIT_USAGE, "--format: json or csv");
	rc = read_all(path, &text, &len);
	if (rc)
		return rc;
	if (is_csv(path, format)) {
		rc = csv_to_json(c, k, text, &doc);
		if (rc)
			goto out;
	} else if (json_parse(text, len, &doc, &e)) {
		rc = json_fail_exit(&e, path);
		goto out;
	}
	items = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, k->list) : doc;
	if (!cJSON_IsArray(items)) {
		rc = fail(CTL_EXIT_INVALID, "%s: expected {\"%s\": [...]} or an array", path,
			  k->list);
		goto out;
	}
	total = (size_t)cJSON_GetArraySize(items);
	if (!total) {
		rc = fail(CTL_EXIT_INVALID, "%s: nothing to import", path);
		goto out;
	}
	if (c->progress < 0)
		c->progress = isatty(2) && !c->quiet && total >= CTL_PROGRESS_MIN_ROWS;
	msgs = calloc(total, sizeof(*msgs));
	if (!msgs) {
		rc = fail(CTL_EXIT_FAIL, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(it, items)
	{
		char prefix[48];
		int err;

		snprintf(prefix, sizeof(prefix), "%s[%zu]", k->list, n);
		err = k == &kind_rules
			  ? json_to_rule(it, prefix, (Xdrop__V1__Rule **)&msgs[n], NULL, NULL, &e)
			  : json_to_wl(it, prefix, (Xdrop__V1__WhitelistEntry **)&msgs[n], &e);
		if (err) {
			rc = err == -ENOMEM ? fail(CTL_EXIT_FAIL, "out of memory")
					    : json_fail_exit(&e, path);
			goto out;
		}
		if (k == &kind_rules && !*((Xdrop__V1__Rule *)msgs[n])->source)
			((Xdrop__V1__Rule *)msgs[n])->source = (char *)"import";
		n++;
		if ((n % (total / 50 + 1)) == 0 || n == total)
			progress(c, "checking", n, total);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = send_chunks(c, k, msgs, n, &resp);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (c->progress > 0)
		fprintf(stderr, "%s in %.1f s\n", rc ? "refused" : "done",
			(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (rc)
		goto out;
	if (c->json) {
		print_msg(resp);
	} else if (!c->quiet) {
		const Xdrop__V1__BatchReply *b = (const void *)resp;

		printf("imported %u %s (revision %llu)\n", b->added, k->list,
		       (unsigned long long)(b->sync ? b->sync->revision : 0));
	}
out:
	for (size_t i = 0; msgs && i < n; i++) {
		if (k == &kind_rules && ((Xdrop__V1__Rule *)msgs[i])->source == (char *)"import")
			((Xdrop__V1__Rule *)msgs[i])->source = (char *)protobuf_c_empty_string;
		msg_free(msgs[i]);
	}
	free(msgs);
	msg_free(resp);
	cJSON_Delete(doc);
	free(text);
	return rc;
}

/* Fetches every item, sorted by id, as JSON objects without counters and timestamps. */
static int fetch_all(struct ctl *c, const struct kind *k, cJSON *arr)
{
	static const char *const drop[] = {"stats", "created_at", "updated_at"};
	uint32_t page = 1, pages;

	do {
		Xdrop__V1__ListRulesRequest rq = XDROP__V1__LIST_RULES_REQUEST__INIT;
		Xdrop__V1__ListWhitelistRequest wq = XDROP__V1__LIST_WHITELIST_REQUEST__INIT;
		ProtobufCMessage *resp = NULL;
		cJSON *o, *list, *it;
		int rc;

		if (k == &kind_rules) {
			rq.page = page, rq.limit = CTL_PAGE, rq.sort = "id", rq.order = "asc";
			rc = call(c, k->svc, "List", &rq.base, &resp, 0);
		} else {
			wq.page = page, wq.limit = CTL_PAGE, wq.sort = "id", wq.order = "asc";
			rc = call(c, k->svc, "List", &wq.base, &resp, 0);
		}
		if (rc)
			return rc;
		o = json_from_msg(resp);
		pages = k == &kind_rules
			    ? (((Xdrop__V1__ListRulesResponse *)resp)->pagination
				   ? ((Xdrop__V1__ListRulesResponse *)resp)->pagination->pages
				   : 1)
			    : (((Xdrop__V1__ListWhitelistResponse *)resp)->pagination
				   ? ((Xdrop__V1__ListWhitelistResponse *)resp)->pagination->pages
				   : 1);
		msg_free(resp);
		if (!o)
			return fail(CTL_EXIT_FAIL, "out of memory");
		list = cJSON_DetachItemFromObjectCaseSensitive(o, k->list);
		cJSON_Delete(o);
		while (list && (it = cJSON_DetachItemFromArray(list, 0))) {
			for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
				cJSON_DeleteItemFromObjectCaseSensitive(it, drop[i]);
			cJSON_AddItemToArray(arr, it);
		}
		cJSON_Delete(list);
	} while (page++ < pages);
	return CTL_EXIT_OK;
}

static int do_export(struct ctl *c, const struct kind *k, const char *path, const char *format)
{
	cJSON *arr = cJSON_CreateArray(), *it;
	FILE *f = NULL;
	int rc;

	if (format && strcmp(format, "json") && strcmp(format, "csv"))
		return fail(CTL_EXIT_USAGE, "--format: json or csv");
	if (!arr)
		return fail(CTL_EXIT_FAIL, "out of memory");
	rc = fetch_all(c, k, arr);
	if (rc)
		goto out;
	f = !path || !strcmp(path, "-") ? stdout : fopen(path, "w");
	if (!f) {
		rc = fail(CTL_EXIT_FAIL, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (is_csv(path, format)) {
		for (size_t i = 0; k->columns[i]; i++)
			fprintf(f, "%s%s", i ? "," : "", k->columns[i]);
		fputc('\n', f);
		cJSON_ArrayForEach(it, arr)
		{
			for (size_t i = 0; k->columns[i]; i++) {
				if (i)
					fputc(',', f);
				csv_cell(f, cJSON_GetObjectItemCaseSensitive(it, k->columns[i]));
			}
			fputc('\n', f);
		}
	} else {
		cJSON *doc = cJSON_CreateObject();
		char *s;
		int count = cJSON_GetArraySize(arr);

		if (!doc || !cJSON_AddItemToObject(doc, k->list, arr)) {
			cJSON_Delete(doc);
			rc = fail(CTL_EXIT_FAIL, "out of memory");
			goto out;
		}
		arr = NULL;
		cJSON_AddNumberToObject(doc, "count", count);
		s = cJSON_Print(doc);
		cJSON_Delete(doc);
		if (!s) {
			rc = fail(CTL_EXIT_FAIL, "out of memory");
			goto out;
		}
		fputs(s, f);
		fputc('\n', f);
		free(s);
	}
	if (f != stdout ? fclose(f) : fflush(f))
		rc = fail(CTL_EXIT_FAIL, "%s: write error", path ? path : "stdout");
	f = NULL;
out:
	if (f && f != stdout)
		fclose(f);
	cJSON_Delete(arr);
	return rc;
}

/* ---- tables ---- */

static const char *match_text(const Xdrop__V1__Rule *r, char *buf, size_t len)
{
	size_t n = 0;

#define PART(cond, ...)                                                                            \
	do {                                                                                       \
		if ((cond) && n < len)                                                             \
			n += (size_t)snprintf(buf + n, len - n, __VA_ARGS__);                      \
	} while (0)
	buf[0] = 0;
	PART(*r->src_ip, "src=%s ", r->src_ip);
	PART(*r->src_cidr, "src=%s ", r->src_cidr);
	PART(*r->dst_ip, "dst=%s ", r->dst_ip);
	PART(*r->dst_cidr, "dst=%s ", r->dst_cidr);
	PART(*r->protocol && strcmp(r->protocol, "any"), "%s ", r->protocol);
	PART(r->src_port, "sport=%u ", r->src_port);
	PART(r->dst_port, "dport=%u ", r->dst_port);
	PART(*r->tcp_flags, "flags=%s ", r->tcp_flags);
	PART(r->pkt_len_min || r->pkt_len_max, "len=%u-%u ", r->pkt_len_min, r->pkt_len_max);
#undef PART
	if (n && n < len)
		buf[n - 1] = 0;
	return buf;
}

static void print_rules(const Xdrop__V1__Rule *const *rules, size_t n)
{
	printf("%-36s  %-16s  %-40s  %-10s  %-3s  %12s  %12s\n", "ID", "NAME", "MATCH", "ACTION",
	       "ON", "MATCHES", "DROPS");
	for (size_t i = 0; i < n; i++) {
		const Xdrop__V1__Rule *r = rules[i];
		char m[256], act[32];

		if (!strcmp(r->action, "rate_limit"))
			snprintf(act, sizeof(act), "rl:%llu/s", (unsigned long long)r->rate_limit);
		else
			snprintf(act, sizeof(act), "%s", r->action);
		printf("%-36s  %-16.16s  %-40.40s  %-10s  %-3s  %12llu  %12llu\n", r->id, r->name,
		       match_text(r, m, sizeof(m)), act, r->enabled ? "yes" : "no",
		       (unsigned long long)(r->stats ? r->stats->match_count : 0),
		       (unsigned long long)(r->stats ? r->stats->drop_count : 0));
	}
}

static void print_wl(const Xdrop__V1__WhitelistEntry *const *e, size_t n)
{
	printf("%-36s  %-16s  %-18s  %-18s  %-8s  %5s  %5s\n", "ID", "NAME", "SRC", "DST", "PROTO",
	       "SPORT", "DPORT");
	for (size_t i = 0; i < n; i++)
		printf("%-36s  %-16.16s  %-18s  %-18s  %-8s  %5u  %5u\n", e[i]->id, e[i]->name,
		       *e[i]->src_cidr ? e[i]->src_cidr : e[i]->src_ip,
		       *e[i]->dst_cidr ? e[i]->dst_cidr : e[i]->dst_ip, e[i]->protocol,
		       e[i]->src_port, e[i]->dst_port);
}

static void print_stats(const Xdrop__V1__StatsReply *s)
{
	const Xdrop__V1__Counters *t = s->totals;
	const Xdrop__V1__Rates *r = s->rates;

	printf("rules %llu  whitelist %llu  revision %llu\n", (unsigned long long)s->rules,
	       (unsigned long long)s->whitelist, (unsigned long long)s->revision);
	printf("%-20s  %14s  %14s  %14s  %12s  %12s\n", "NODE", "RX", "PASSED", "DROPPED", "RX PPS",
	       "DROP PPS");
	printf("%-20s  %14llu  %14llu  %14llu  %12.0f  %12.0f\n", "(total)",
	       (unsigned long long)(t ? t->rx : 0), (unsigned long long)(t ? t->passed : 0),
	       (unsigned long long)(t ? t->dropped : 0), r ? r->rx_pps : 0, r ? r->dropped_pps : 0);
	for (size_t i = 0; i < s->n_nodes; i++) {
		const Xdrop__V1__NodeStats *n = s->nodes[i];

		printf("%-20.20s  %14llu  %14llu  %14llu  %12.0f  %12.0f\n",
		       *n->node_id ? n->node_id : "(this node)",
		       (unsigned long long)(n->counters ? n->counters->rx : 0),
		       (unsigned long long)(n->counters ? n->counters->passed : 0),
		       (unsigned long long)(n->counters ? n->counters->dropped : 0),
		       n->rates ? n->rates->rx_pps : 0, n->rates ? n->rates->dropped_pps : 0);
	}
}

/* ---- command line ---- */

/*
 * Options that only some subcommands take. Each one given sets its SUB() bit in
 * listopts.given, and a subcommand refuses the ones it does not take (only_opts), so that
 * an option is never silently ignored. In the getopt table their values are
 * SUB_OPT_VAL + the enum value, above every short option character.
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
};
#define SUB(o)	    (1u << (o))
#define SUB_OPT_VAL 256

#define CTL_WATCH_MAX 86400 /* longest --watch interval, seconds */

struct listopts {
	uint32_t page, limit;
	char *search, *enabled, *action, *sort, *order, *format;
	unsigned watch; /* seconds between samples; 0: print once */
	unsigned given; /* SUB() bits of the options given */
};

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
    {NULL, 0, NULL, 0},
};

/* Refuses (usage error) the subcommand options in o that `what` does not take. */
static int only_opts(const struct listopts *o, unsigned allowed, const char *what)
{
	for (const struct option *p = ctl_options; p->name; p++)
		if (p->val >= SUB_OPT_VAL && (o->given & ~allowed & SUB(p->val - SUB_OPT_VAL)))
			return fail(CTL_EXIT_USAGE, "%s does not take --%s (see xdropctl --help)",
				    what, p->name);
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
		return fail(CTL_EXIT_USAGE, "--%s: a number from %lu to %lu", name, min, max);
	*out = v;
	return CTL_EXIT_OK;
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
			return fail(CTL_EXIT_USAGE, "--key-file %s: cannot read", arg);
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
static int parse_args(int argc, char **argv, struct ctl *c, struct listopts *o, char **args,
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

/* ---- commands ---- */

static int cmd_rules_or_wl(struct ctl *c, const struct kind *k, const struct listopts *o, int argc,
			   char **argv)
{
	/* the subcommands and the options each takes */
	static const struct {
		const char *name;
		unsigned opts;
	} subs[] = {
	    {"list", SUB(SUB_PAGE) | SUB(SUB_LIMIT) | SUB(SUB_SEARCH) | SUB(SUB_ENABLED) |
			 SUB(SUB_ACTION) | SUB(SUB_SORT) | SUB(SUB_ORDER)},
	    {"get", 0},
	    {"add", 0},
	    {"update", 0},
	    {"del", 0},
	    {"top", SUB(SUB_LIMIT)},
	    {"import", SUB(SUB_FORMAT)},
	    {"export", SUB(SUB_FORMAT)},
	};
	ProtobufCMessage *resp = NULL;
	struct json_error e = {0};
	const char *sub = argc > 0 ? argv[0] : "list";
	char what[32];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]) && strcmp(sub, subs[i].name); i++)
		;
	if (i == sizeof(subs) / sizeof(subs[0]))
		return fail(CTL_EXIT_USAGE, "unknown command: %s %s (see xdropctl --help)", k->cmd,
			    sub);
	snprintf(what, sizeof(what), "%s %s", k->cmd, sub);
	/* whitelist list has no enabled or action filter */
	rc = only_opts(o,
		       k == &kind_rules ? subs[i].opts
					: subs[i].opts & ~(SUB(SUB_ENABLED) | SUB(SUB_ACTION)),
		       what);
	if (rc)
		return rc;
	if (argc > 0) {
		argv++;
		argc--;
	}
	if (!strcmp(sub, "list")) {
		Xdrop__V1__ListRulesRequest rq = XDROP__V1__LIST_RULES_REQUEST__INIT;
		Xdrop__V1__ListWhitelistRequest wq = XDROP__V1__LIST_WHITELIST_REQUEST__INIT;

		if (argc)
			return fail(CTL_EXIT_USAGE,
				    "usage: %s list [OPTIONS] (see xdropctl --help)", k->cmd);
		if (k == &kind_rules) {
			rq.page = o->page;
			rq.limit = o->limit;
			rq.search = o->search ? o->search : "";
			rq.enabled = o->enabled ? o->enabled : "";
			rq.action = o->action ? o->action : "";
			rq.sort = o->sort ? o->sort : "";
			rq.order = o->order ? o->order : "";
			rc = call(c, k->svc, "List", &rq.base, &resp, 0);
		} else {
			wq.page = o->page;
			wq.limit = o->limit;
			wq.search = o->search ? o->search : "";
			wq.sort = o->sort ? o->sort : "";
			wq.order = o->order ? o->order : "";
			rc = call(c, k->svc, "List", &wq.base, &resp, 0);
		}
		if (rc)
			return rc;
		if (c->json) {
			rc = print_msg(resp);
		} else if (k == &kind_rules) {
			const Xdrop__V1__ListRulesResponse *l = (const void *)resp;

			print_rules((const Xdrop__V1__Rule *const *)l->rules, l->n_rules);
			if (l->pagination)
				printf("page %u of %u, %llu in all\n", l->pagination->page,
				       l->pagination->pages,
				       (unsigned long long)l->pagination->total);
		} else {
			const Xdrop__V1__ListWhitelistResponse *l = (const void *)resp;

			print_wl((const Xdrop__V1__WhitelistEntry *const *)l->entries,
				 l->n_entries);
		}
		msg_free(resp);
		return rc;
	}
	if (!strcmp(sub, "get")) {
		Xdrop__V1__GetRuleRequest rq = XDROP__V1__GET_RULE_REQUEST__INIT;
		Xdrop__V1__GetWhitelistRequest wq = XDROP__V1__GET_WHITELIST_REQUEST__INIT;

		if (argc != 1)
			return fail(CTL_EXIT_USAGE, "usage: %s get ID", k->cmd);
		rq.id = wq.id = argv[0];
		rc = call(c, k->svc, "Get", k == &kind_rules ? &rq.base : &wq.base, &resp, 0);
		if (rc)
			return rc;
		if (c->json)
			rc = print_msg(resp);
		else if (k == &kind_rules)
			print_rules((const Xdrop__V1__Rule *const *)&resp, 1);
		else
			print_wl((const Xdrop__V1__WhitelistEntry *const *)&resp, 1);
		msg_free(resp);
		return rc;
	}
	if (!strcmp(sub, "add") || !strcmp(sub, "update")) {
		bool upd = !strcmp(sub, "update");
		Xdrop__V1__CreateRuleRequest cr = XDROP__V1__CREATE_RULE_REQUEST__INIT;
		Xdrop__V1__UpdateRuleRequest ur = XDROP__V1__UPDATE_RULE_REQUEST__INIT;
		Xdrop__V1__CreateWhitelistRequest cw = XDROP__V1__CREATE_WHITELIST_REQUEST__INIT;
		cJSON *obj = NULL;
		int err;

		if (upd && k != &kind_rules)
			return fail(CTL_EXIT_USAGE, "whitelist entries cannot be updated: delete "
						    "and add");
		if (argc < (upd ? 2 : 1))
			return fail(CTL_EXIT_USAGE, "usage: %s %s%s FIELD=VALUE...", k->cmd, sub,
				    upd ? " ID" : "");
		err = kv_object(argv + upd, argc - upd, k->item, &obj, &e);
		if (!err && k == &kind_rules)
			err = json_to_rule(obj, "", upd ? &ur.rule : &cr.rule,
					   upd ? &ur.update_mask : NULL, &ur.n_update_mask, &e);
		else if (!err)
			err = json_to_wl(obj, "", &cw.entry, &e);
		cJSON_Delete(obj);
		if (err)
			return err == -ENOMEM ? fail(CTL_EXIT_FAIL, "out of memory")
					      : json_fail_exit(&e, NULL);
		if (upd) {
			ur.id = argv[0];
			rc = call(c, k->svc, "Update", &ur.base, &resp, 0);
			ur.id = NULL;
		} else if (k == &kind_rules) {
			if (!*cr.rule->source)
				cr.rule->source = (char *)"cli";
			rc = call(c, k->svc, "Create", &cr.base, &resp, 0);
			if (cr.rule->source == (char *)"cli")
				cr.rule->source = (char *)protobuf_c_empty_string;
		} else {
			rc = call(c, k->svc, "Create", &cw.base, &resp, 0);
		}
		msg_free((ProtobufCMessage *)cr.rule);
		msg_free((ProtobufCMessage *)ur.rule);
		json_mask_free(ur.update_mask, ur.n_update_mask);
		msg_free((ProtobufCMessage *)cw.entry);
		if (rc)
			return rc;
		if (c->json) {
			rc = print_msg(resp);
		} else if (!c->quiet) {
			const char *id = k == &kind_rules
					     ? ((Xdrop__V1__RuleWriteReply *)resp)->rule->id
					     : ((Xdrop__V1__WhitelistWriteReply *)resp)->entry->id;

			printf("%s %s %s\n", k->noun, id, upd ? "updated" : "added");
		}
		msg_free(resp);
		return rc;
	}
	if (!strcmp(sub, "del")) {
		Xdrop__V1__BatchDeleteRequest bq = XDROP__V1__BATCH_DELETE_REQUEST__INIT;
		Xdrop__V1__DeleteRequest dq = XDROP__V1__DELETE_REQUEST__INIT;

		if (argc < 1)
			return fail(CTL_EXIT_USAGE, "usage: %s del ID...", k->cmd);
		if (argc == 1) {
			dq.id = argv[0];
			rc = call(c, k->svc, "Delete", &dq.base, &resp, 0);
		} else {
			bq.ids = argv;
			bq.n_ids = (size_t)argc;
			rc = call(c, k->svc, "BatchDelete", &bq.base, &resp, 0);
		}
		if (!rc && c->json)
			rc = print_msg(resp);
		else if (!rc && !c->quiet)
			printf("deleted %d %s\n", argc, argc == 1 ? k->noun : k->list);
		msg_free(resp);
		return rc;
	}
	if (!strcmp(sub, "top") && k == &kind_rules) {
		Xdrop__V1__TopRulesRequest tq = XDROP__V1__TOP_RULES_REQUEST__INIT;

		tq.limit = o->limit;
		rc = call(c, k->svc, "Top", &tq.base, &resp, 0);
		if (rc)
			return rc;
		if (c->json)
			rc = print_msg(resp);
		else
			print_rules(
			    (const Xdrop__V1__Rule *const *)((Xdrop__V1__ListRulesResponse *)resp)
				->rules,
			    ((Xdrop__V1__ListRulesResponse *)resp)->n_rules);
		msg_free(resp);
		return rc;
	}
	if (!strcmp(sub, "import")) {
		if (argc != 1)
			return fail(CTL_EXIT_USAGE, "usage: %s import FILE|- [--format json|csv]",
				    k->cmd);
		return do_import(c, k, argv[0], o->format);
	}
	if (!strcmp(sub, "export")) {
		if (argc > 1)
			return fail(CTL_EXIT_USAGE, "usage: %s export [FILE|-] [--format json|csv]",
				    k->cmd);
		return do_export(c, k, argc ? argv[0] : NULL, o->format);
	}
	return fail(CTL_EXIT_USAGE, "unknown command: %s %s (see xdropctl --help)", k->cmd, sub);
}

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/*
 * stats, or with --watch a sample every o->watch seconds until SIGINT. Watching, the table
 * replaces the previous one on a terminal and follows it otherwise, and --json prints one
 * object per line (JSON Lines) so that a reader can take the samples one by one.
 */
static int cmd_stats(struct ctl *c, const struct listopts *o, int argc)
{
	Xdrop__V1__GetStatsRequest rq = XDROP__V1__GET_STATS_REQUEST__INIT;
	bool clear = o->watch && isatty(STDOUT_FILENO);
	int rc = only_opts(o, SUB(SUB_WATCH), "stats");

	if (rc)
		return rc;
	if (argc)
		return fail(CTL_EXIT_USAGE, "usage: stats [--watch [SECONDS]]");
	signal(SIGINT, on_signal);
	do {
		ProtobufCMessage *resp = NULL;

		rc = call(c, &xdrop__v1__stats_service__descriptor, "Get", &rq.base, &resp, 0);
		if (rc)
			return rc;
		if (c->json && o->watch) {
			cJSON *j = json_from_stats((const void *)resp);
			char *line = j ? cJSON_PrintUnformatted(j) : NULL;

			if (line)
				puts(line);
			else
				rc = fail(CTL_EXIT_FAIL, "out of memory");
			free(line);
			cJSON_Delete(j);
		} else if (c->json) {
			cJSON *j = json_from_stats((const void *)resp);

			rc = print_json(j);
			cJSON_Delete(j);
		} else {
			if (clear)
				printf("\033[H\033[J");
			print_stats((const void *)resp);
		}
		msg_free(resp);
		fflush(stdout);
		for (unsigned i = 0; o->watch && i < o->watch * 10 && !stop_flag; i++)
			usleep(100000);
	} while (o->watch && !stop_flag && !rc);
	return rc;
}

static int cmd_nodes(struct ctl *c, int argc, char **argv)
{
	const ProtobufCServiceDescriptor *svc = &xdrop__v1__node_service__descriptor;
	const char *sub = argc > 0 ? argv[0] : "list";
	ProtobufCMessage *resp = NULL;
	Xdrop__V1__GetNodeRequest gq = XDROP__V1__GET_NODE_REQUEST__INIT;
	int rc;

	if (!strcmp(sub, "list")) {
		Xdrop__V1__ListNodesRequest lq = XDROP__V1__LIST_NODES_REQUEST__INIT;
		const Xdrop__V1__ListNodesResponse *l;

		lq.limit = 1000;
		rc = call(c, svc, "List", &lq.base, &resp, 0);
		if (rc)
			return rc;
		if (c->json) {
			rc = print_msg(resp);
		} else {
			l = (const void *)resp;
			printf("%-20s  %-16s  %-28s  %-12s  %8s\n", "ID", "NAME", "ADDRESS",
			       "STATUS", "REVISION");
			for (size_t i = 0; i < l->n_nodes; i++)
				printf("%-20s  %-16.16s  %-28.28s  %-12s  %8llu\n", l->nodes[i]->id,
				       l->nodes[i]->name, l->nodes[i]->address, l->nodes[i]->status,
				       (unsigned long long)l->nodes[i]->applied_revision);
		}
		msg_free(resp);
		return rc;
	}
	if (!strcmp(sub, "add")) {
		Xdrop__V1__CreateNodeRequest cq = XDROP__V1__CREATE_NODE_REQUEST__INIT;
		struct json_error e = {0};
		cJSON *obj = NULL;
		int err = kv_object(argv + 1, argc - 1, &xdrop__v1__node__descriptor, &obj, &e);

		if (!err)
			err = json_to_node(obj, "", &cq.node, NULL, NULL, &e);
		cJSON_Delete(obj);
		if (err)
			return json_fail_exit(&e, NULL);
		rc = call(c, svc, "Create", &cq.base, &resp, 0);
		msg_free((ProtobufCMessage *)cq.node);
		if (rc)
			return rc;
		if (c->json) {
			rc = print_msg(resp);
		} else {
			const Xdrop__V1__NodeWriteReply *w = (const void *)resp;

			printf("node %s added\nnode key (shown once): %s\n",
			       w->node ? w->node->id : "", w->key);
		}
		msg_free(resp);
		return rc;
	}
	if (argc != 2)
		return fail(CTL_EXIT_USAGE, "usage: nodes list|add|get|stats|sync|del [ID]");
	gq.id = argv[1];
	if (!strcmp(sub, "get") || !strcmp(sub, "stats") || !strcmp(sub, "sync")) {
		rc = call(c, svc,
			  !strcmp(sub, "get")	  ? "Get"
			  : !strcmp(sub, "stats") ? "GetStats"
						  : "Sync",
			  &gq.base, &resp, 0);
		if (!rc)
			rc = print_msg(resp);
		msg_free(resp);
		return rc;
	}
	if (!strcmp(sub, "del")) {
		Xdrop__V1__DeleteRequest dq = XDROP__V1__DELETE_REQUEST__INIT;

		dq.id = argv[1];
		rc = call(c, svc, "Delete", &dq.base, &resp, 0);
		if (!rc && !c->quiet)
			printf("node %s deleted\n", argv[1]);
		msg_free(resp);
		return rc;
	}
	return fail(CTL_EXIT_USAGE, "unknown command: nodes %s", sub);
}

static int cmd_keys(struct ctl *c, int argc, char **argv)
{
	const ProtobufCServiceDescriptor *svc = &xdrop__v1__key_service__descriptor;
	const char *sub = argc > 0 ? argv[0] : "list";
	ProtobufCMessage *resp = NULL;
	int rc;

	if (!strcmp(sub, "list")) {
		Xdrop__V1__ListKeysRequest lq = XDROP__V1__LIST_KEYS_REQUEST__INIT;
		const Xdrop__V1__ListKeysResponse *l;

		rc = call(c, svc, "List", &lq.base, &resp, 0);
		if (rc)
			return rc;
		l = (const void *)resp;
		if (c->json) {
			rc = print_msg(resp);
		} else {
			printf("%-36s  %-20s  %-10s\n", "ID", "NAME", "SCOPE");
			for (size_t i = 0; i < l->n_keys; i++)
				printf("%-36s  %-20.20s  %-10s\n", l->keys[i]->id, l->keys[i]->name,
				       l->keys[i]->scope);
		}
		msg_free(resp);
		return rc;
	}
	if (!strcmp(sub, "add") && argc == 3) {
		Xdrop__V1__CreateKeyRequest cq = XDROP__V1__CREATE_KEY_REQUEST__INIT;

		cq.name = argv[1];
		cq.scope = argv[2];
		rc = call(c, svc, "Create", &cq.base, &resp, 0);
		if (rc)
			return rc;
		if (c->json)
			rc = print_msg(resp);
		else
			printf("key %s (%s) added\nkey (shown once): %s\n",
			       ((Xdrop__V1__ApiKey *)resp)->id, ((Xdrop__V1__ApiKey *)resp)->scope,
			       ((Xdrop__V1__ApiKey *)resp)->key);
		msg_free(resp);
		return rc;
	}
	if (!strcmp(sub, "del") && argc == 2) {
		Xdrop__V1__DeleteRequest dq = XDROP__V1__DELETE_REQUEST__INIT;

		dq.id = argv[1];
		rc = call(c, svc, "Delete", &dq.base, &resp, 0);
		if (!rc && !c->quiet)
			printf("key %s deleted\n", argv[1]);
		msg_free(resp);
		return rc;
	}
	return fail(CTL_EXIT_USAGE,
		    "usage: keys list | keys add NAME admin|read_only | keys del ID");
}

static int cmd_info(struct ctl *c, bool ping)
{
	ProtobufCMessage *resp = NULL;
	int rc;

	if (ping) {
		Xdrop__V1__PingRequest pq = XDROP__V1__PING_REQUEST__INIT;

		rc = call(c, &xdrop__v1__health_service__descriptor, "Ping", &pq.base, &resp, 0);
		if (!rc && !c->json && !c->quiet)
			printf("%s is up (%s)\n", c->url, ((Xdrop__V1__PingReply *)resp)->server);
	} else {
		Xdrop__V1__InfoRequest iq = XDROP__V1__INFO_REQUEST__INIT;

		rc = call(c, &xdrop__v1__stats_service__descriptor, "Info", &iq.base, &resp, 0);
		if (!rc && !c->json) {
			const Xdrop__V1__InfoReply *i = (const void *)resp;

			printf("%s %s (%s mode)\nrevision %llu\ncontent hash %s\n", i->name,
			       i->version, i->mode, (unsigned long long)i->revision,
			       i->content_hash);
		}
	}
	if (!rc && c->json)
		rc = print_msg(resp);
	msg_free(resp);
	return rc;
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
	const char *cmd;
	int n_args = 0, rc;

	if (!args)
		return fail(CTL_EXIT_FAIL, "out of memory");
	c.url = env("XDROP_URL") ? env("XDROP_URL") : CTL_DEFAULT_URL;
	c.key = env("XDROP_KEY");
	c.tls.ca_file = env("XDROP_CA");
	c.tls.cert_file = env("XDROP_CERT");
	c.tls.key_file = env("XDROP_CERT_KEY");
	c.tls.server_name = env("XDROP_SERVER_NAME");
	/* the library's progress notes (dial: ...) would repeat what the error line says */
	log_set_level(LOG_LEVEL_WARN);
	rc = parse_args(argc, argv, &c, &o, args, &n_args);
	if (rc)
		goto out;
	if (c.help) {
		fputs(usage_text, stdout);
		goto out;
	}
	if (!n_args) {
		fputs(usage_text, stderr);
		rc = CTL_EXIT_USAGE;
		goto out;
	}
	if (!c.tls.cert_file != !c.tls.key_file) {
		rc = fail(CTL_EXIT_USAGE, "--cert and --cert-key go together (also as $XDROP_CERT "
					  "and $XDROP_CERT_KEY)");
		goto out;
	}
	cmd = args[0];
	if (!strcmp(cmd, "rules"))
		rc = cmd_rules_or_wl(&c, &kind_rules, &o, n_args - 1, args + 1);
	else if (!strcmp(cmd, "whitelist") || !strcmp(cmd, "wl"))
		rc = cmd_rules_or_wl(&c, &kind_wl, &o, n_args - 1, args + 1);
	else if (!strcmp(cmd, "stats"))
		rc = cmd_stats(&c, &o, n_args - 1);
	else if (!strcmp(cmd, "nodes"))
		rc = only_opts(&o, 0, cmd) ?: cmd_nodes(&c, n_args - 1, args + 1);
	else if (!strcmp(cmd, "keys"))
		rc = only_opts(&o, 0, cmd) ?: cmd_keys(&c, n_args - 1, args + 1);
	else if (!strcmp(cmd, "info") || !strcmp(cmd, "ping"))
		rc = only_opts(&o, 0, cmd) ?: cmd_info(&c, !strcmp(cmd, "ping"));
	else
		rc = fail(CTL_EXIT_USAGE, "unknown command %s (see xdropctl --help)", cmd);
out:
	rpc_client_close(c.client);
	free(c.key_buf);
	free(args);
	return rc;
}
