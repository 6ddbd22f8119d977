// SPDX-License-Identifier: MIT
/*
 * xdrop-lab: drives the data-plane library from the command line, for the namespace lab
 * tests (tests/e2e/) and the demo (scripts/demo.sh) until the agent exists.
 *
 * Every invocation opens the data plane on a pin directory (adopting whatever is pinned
 * there), does one thing, and closes. Pinned maps and links outlive the process, so the
 * program keeps filtering between invocations exactly as it will between agent restarts.
 *
 *   xdrop-lab --pin DIR attach IFACE [--generic] [--force]
 *   xdrop-lab --pin DIR ff IN OUT [--filter inbound|outbound|both] [--generic] [--force]
 *   xdrop-lab --pin DIR detach IFACE
 *   xdrop-lab --pin DIR load FILE        (whole set, one switch; "-" reads stdin)
 *   xdrop-lab --pin DIR add FIELD=VALUE...
 *   xdrop-lab --pin DIR del FIELD=VALUE...
 *   xdrop-lab --pin DIR stats
 *   xdrop-lab --pin DIR unpin
 *
 * Rule lines use rule_parse_kv's syntax (lib/rule.h); a "wl:" prefix makes a whitelist
 * entry. Exit status: 0 success, 1 usage error, 2 the operation failed.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "dataplane.h"
#include "log.h"
#include "rule.h"

#define XDROP_LAB_EXIT_OK    0
#define XDROP_LAB_EXIT_USAGE 1
#define XDROP_LAB_EXIT_FAIL  2

#define XDROP_LAB_MAX_LINE  1024
#define XDROP_LAB_MAX_RULES 1048576 /* lines accepted by load (rules + whitelist) */

static const char *const counter_names[XDROP_NCOUNTERS] = XDROP_COUNTER_NAMES;

struct lab_opts {
	const char *pin_dir;
	bool generic;
	bool force;
	enum attach_filter filter;
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: xdrop-lab --pin DIR [-v] COMMAND [ARGS]\n"
	    "  attach IFACE [--generic] [--force]   attach (or upgrade in place) on IFACE\n"
	    "  ff IN OUT [--filter inbound|outbound|both] [--generic] [--force]\n"
	    "                                       fast-forward bridge IN <-> OUT\n"
	    "  detach IFACE                         remove the program from IFACE\n"
	    "  load FILE                            replace all rules and whitelist entries\n"
	    "                                       (one per line, \"wl:\" prefix, '#' comments;\n"
	    "                                       FILE \"-\" is stdin)\n"
	    "  add FIELD=VALUE...                   add or update one rule (\"wl:\" prefix for\n"
	    "                                       a whitelist entry)\n"
	    "  del FIELD=VALUE...                   delete the entry with this match\n"
	    "  stats                                global and per-entry counters\n"
	    "  unpin                                detach every pinned link, remove all pins\n"
	    "exit status: 0 ok, 1 usage error, 2 failure\n");
}

/* ---- rule text ---- */

/* Strips leading/trailing blanks in place; returns the first non-blank character. */
static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/*
 * The field a failed rule_parse_kv complained about. Validation errors name a static field,
 * but parse errors leave err->field pointing into rule_parse_kv's own stack buffer, which is
 * gone once it returns. So: if validating the partial spec gives the same reason, the
 * error was a validation error and its field is static; otherwise the offending word is
 * the first one that fails alone with the same reason, and its key is copied into buf.
 */
static const char *error_field(const char *text, uint8_t kind, struct rule_spec *partial,
			       const char *reason, char *buf, size_t len)
{
	char words[XDROP_LAB_MAX_LINE], *save = NULL, *w;
	struct rule_error e2 = {0};
	struct rule_spec tmp;

	if (rule_validate(partial, &e2) && e2.reason == reason)
		return e2.field;
	snprintf(words, sizeof(words), "%s", text);
	for (w = strtok_r(words, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (rule_parse_kv(w, kind, &tmp, &e2) && e2.reason == reason) {
			snprintf(buf, len, "%.*s", (int)strcspn(w, "="), w);
			return buf;
		}
	}
	return "rule";
}

/*
 * Parses one rule line ("wl:" prefix for whitelist entries). With key_only, a rule without
 * an action gets "drop" so that a bare match can name an entry to delete. Returns 0, or
 * -EINVAL with *field (in fbuf or static) and *reason (static) saying why.
 */
static int parse_line(const char *line, bool key_only, struct rule_spec *spec, const char **field,
		      const char **reason, char *fbuf, size_t flen)
{
	char buf[XDROP_LAB_MAX_LINE];
	bool wl = strncmp(line, "wl:", 3) == 0;
	const char *text = wl ? line + 3 : line;
	uint8_t kind = wl ? XDROP_KIND_WL : XDROP_KIND_RULE;
	struct rule_error err = {0};

	if (key_only && !wl && !strstr(text, "action=")) {
		if ((size_t)snprintf(buf, sizeof(buf), "%s action=drop", text) >= sizeof(buf)) {
			*field = "rule";
			*reason = "rule text too long";
			return -EINVAL;
		}
		text = buf;
	}
	if (rule_parse_kv(text, kind, spec, &err) == 0)
		return 0;
	*reason = err.reason ? err.reason : "invalid";
	*field = error_field(text, kind, spec, err.reason, fbuf, flen);
	return -EINVAL;
}

/* Joins argv words with single spaces into buf. Returns 0 or -E2BIG. */
static int join_args(int argc, char **argv, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < argc; i++) {
		int n = snprintf(buf + off, len - off, "%s%s", i ? " " : "", argv[i]);

		if (n < 0 || (size_t)n >= len - off)
			return -E2BIG;
		off += (size_t)n;
	}
	return 0;
}

static void print_result(const struct dp_result *res)
{
	printf("generation %" PRIu64 ": %zu added, %zu updated, %zu deleted "
	       "(stage %.1f ms, flip %.3f ms, cleanup %.1f ms)\n",
	       res->gen, res->added, res->updated, res->deleted, res->stage_ms, res->flip_ms,
	       res->cleanup_ms);
}

static const char *field_or(const char *s)
{
	return s ? s : "-";
}

/* ---- commands ---- */

static int cmd_attach(struct dataplane *dp, const char *ifname, const struct lab_opts *o)
{
	enum attach_mode mode = o->generic ? ATTACH_GENERIC : ATTACH_NATIVE;
	uint32_t prog_id = 0;
	bool generic = false, ours = false;
	int err;

	err = attach_iface(dp, ifname, mode, o->force, &generic);
	if (err) {
		fprintf(stderr, "xdrop-lab: attach to %s failed: %s%s\n", ifname, strerror(-err),
			err == -EBUSY ? " (a foreign XDP program is attached; --force replaces it)"
				      : "");
		return XDROP_LAB_EXIT_FAIL;
	}
	attach_query(dp, ifname, &prog_id, &ours);
	printf("attached to %s (%s mode, program id %u)\n", ifname, generic ? "generic" : "native",
	       prog_id);
	return XDROP_LAB_EXIT_OK;
}

static int cmd_ff(struct dataplane *dp, const char *in, const char *out, const struct lab_opts *o)
{
	enum attach_mode mode = o->generic ? ATTACH_GENERIC : ATTACH_NATIVE;
	static const char *const fnames[] = {"", "inbound", "outbound", "both"};
	int err;

	err = attach_fast_forward(dp, in, out, o->filter, mode, o->force);
	if (err) {
		fprintf(stderr, "xdrop-lab: fast-forward %s <-> %s failed: %s%s\n", in, out,
			strerror(-err),
			err == -EBUSY ? " (a foreign XDP program is attached; --force replaces it)"
				      : "");
		return XDROP_LAB_EXIT_FAIL;
	}
	printf("fast-forward %s <-> %s (%s mode, filtering %s)\n", in, out,
	       o->generic ? "generic" : "native", fnames[o->filter]);
	return XDROP_LAB_EXIT_OK;
}

static int cmd_detach(struct dataplane *dp, const char *ifname)
{
	int err = attach_detach(dp, ifname);

	if (err) {
		fprintf(stderr, "xdrop-lab: detach from %s failed: %s\n", ifname,
			err == -ENOENT ? "no XDrop program attached there" : strerror(-err));
		return XDROP_LAB_EXIT_FAIL;
	}
	printf("detached from %s\n", ifname);
	return XDROP_LAB_EXIT_OK;
}

/*
 * Reads every rule line of path ("-" = stdin) into *specs and their line numbers into
 * *lines (both malloc'd, owned by the caller). Returns 0, or XDROP_LAB_EXIT_FAIL after
 * printing which line and field are wrong.
 */
static int read_rules(const char *path, struct rule_spec **specs, unsigned **lines, size_t *n)
{
	char buf[XDROP_LAB_MAX_LINE];
	struct rule_spec *s = NULL;
	unsigned *ln = NULL, lineno = 0;
	size_t cnt = 0, cap = 0;
	FILE *f;
	int ret = XDROP_LAB_EXIT_FAIL;

	f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	if (!f) {
		fprintf(stderr, "xdrop-lab: %s: %s\n", path, strerror(errno));
		return XDROP_LAB_EXIT_FAIL;
	}
	while (fgets(buf, sizeof(buf), f)) {
		const char *field, *reason;
		char fbuf[64], *line;

		lineno++;
		if (!strchr(buf, '\n') && !feof(f)) {
			fprintf(stderr, "xdrop-lab: %s:%u: line longer than %d bytes\n", path,
				lineno, XDROP_LAB_MAX_LINE - 2);
			goto out;
		}
		line = trim(buf);
		if (!*line || *line == '#')
			continue;
		if (cnt == XDROP_LAB_MAX_RULES) {
			fprintf(stderr, "xdrop-lab: %s:%u: more than %d rules\n", path, lineno,
				XDROP_LAB_MAX_RULES);
			goto out;
		}
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct rule_spec *ns = realloc(s, ncap * sizeof(*s));
			unsigned *nl;

			if (ns)
				s = ns;
			nl = ns ? realloc(ln, ncap * sizeof(*ln)) : NULL;
			if (!nl) {
				fprintf(stderr, "xdrop-lab: %s: out of memory\n", path);
				goto out;
			}
			ln = nl;
			cap = ncap;
		}
		if (parse_line(line, false, &s[cnt], &field, &reason, fbuf, sizeof(fbuf))) {
			fprintf(stderr, "xdrop-lab: %s:%u: %s: %s\n", path, lineno, field, reason);
			goto out;
		}
		ln[cnt++] = lineno;
	}
	if (ferror(f)) {
		fprintf(stderr, "xdrop-lab: %s: read error\n", path);
		goto out;
	}
	*specs = s;
	*lines = ln;
	*n = cnt;
	s = NULL;
	ln = NULL;
	ret = XDROP_LAB_EXIT_OK;
out:
	if (f != stdin)
		fclose(f);
	free(s);
	free(ln);
	return ret;
}

static int cmd_load(struct dataplane *dp, const char *path)
{
	struct rule_spec *specs = NULL;
	unsigned *lines = NULL;
	struct dp_result res;
	size_t n = 0;
	int err, ret;

	ret = read_rules(path, &specs, &lines, &n);
	if (ret)
		return ret;
	memset(&res, 0, sizeof(res));
	err = dataplane_replace(dp, 1u << XDROP_KIND_RULE | 1u << XDROP_KIND_WL, specs, n, &res);
	if (err) {
		if (res.err.reason && res.index < n)
			fprintf(stderr, "xdrop-lab: %s:%u: %s: %s; nothing changed\n", path,
				lines[res.index], field_or(res.err.field), res.err.reason);
		else
			fprintf(stderr, "xdrop-lab: load %s failed: %s; nothing changed\n", path,
				strerror(-err));
		ret = XDROP_LAB_EXIT_FAIL;
		goto out;
	}
	printf("loaded %zu entries from %s\n", n, path);
	print_result(&res);
out:
	free(specs);
	free(lines);
	return ret;
}

static int cmd_change(struct dataplane *dp, enum dp_op op, int argc, char **argv)
{
	char text[XDROP_LAB_MAX_LINE], fbuf[64];
	const char *field, *reason;
	struct dp_change ch = {.op = op};
	struct dp_result res;
	int err;

	if (join_args(argc, argv, text, sizeof(text))) {
		fprintf(stderr, "xdrop-lab: rule text too long\n");
		return XDROP_LAB_EXIT_USAGE;
	}
	if (parse_line(text, op == DP_DEL, &ch.spec, &field, &reason, fbuf, sizeof(fbuf))) {
		fprintf(stderr, "xdrop-lab: '%s': %s: %s\n", text, field, reason);
		return XDROP_LAB_EXIT_FAIL;
	}
	memset(&res, 0, sizeof(res));
	err = dataplane_apply(dp, &ch, 1, &res);
	if (err) {
		if (res.err.reason)
			fprintf(stderr, "xdrop-lab: '%s': %s: %s; nothing changed\n", text,
				field_or(res.err.field), res.err.reason);
		else
			fprintf(stderr, "xdrop-lab: '%s': %s; nothing changed\n", text,
				strerror(-err));
		return XDROP_LAB_EXIT_FAIL;
	}
	print_result(&res);
	return XDROP_LAB_EXIT_OK;
}

struct stats_ctx {
	const struct dataplane *dp;
	int err;
};

static int print_entry(const struct rule_spec *spec, void *arg)
{
	struct stats_ctx *c = arg;
	char text[512];
	struct xdrop_slot_counters sc = {0};
	int err;

	err = dataplane_entry_counters(c->dp, spec, &sc);
	if (err)
		c->err = err;
	rule_format_kv(spec, text, sizeof(text));
	printf("  %-9s %12" PRIu64 " %12" PRIu64 "  %s\n",
	       spec->kind == XDROP_KIND_WL ? "whitelist" : "rule", (uint64_t)sc.match,
	       (uint64_t)sc.drop, text);
	return 0;
}

/* Names of the links pinned in the pin directory: the interfaces we are attached to. */
static void print_links(const char *pin_dir)
{
	struct dirent *de;
	DIR *d = opendir(pin_dir);
	int n = 0;

	printf("links:");
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "link_", 5) == 0) {
			printf(" %s", de->d_name + 5);
			n++;
		}
	}
	printf("%s\n", n ? "" : " (none)");
	if (d)
		closedir(d);
}

static int cmd_stats(struct dataplane *dp)
{
	uint64_t cnt[XDROP_NCOUNTERS];
	struct stats_ctx c = {.dp = dp};
	int err, i;

	err = dataplane_counters(dp, cnt);
	if (err) {
		fprintf(stderr, "xdrop-lab: read counters failed: %s\n", strerror(-err));
		return XDROP_LAB_EXIT_FAIL;
	}
	printf("generation %" PRIu64 ", %zu rules, %zu whitelist entries\n", dataplane_gen(dp),
	       dataplane_count(dp, XDROP_KIND_RULE), dataplane_count(dp, XDROP_KIND_WL));
	print_links(dataplane_pin_dir(dp));
	printf("  %-14s %12s\n", "counter", "packets");
	for (i = 0; i < XDROP_NCOUNTERS; i++)
		printf("  %-14s %12" PRIu64 "\n", counter_names[i], cnt[i]);
	printf("  %-9s %12s %12s  %s\n", "entry", "match", "drop", "rule");
	dataplane_foreach(dp, print_entry, &c);
	if (c.err) {
		fprintf(stderr, "xdrop-lab: read entry counters failed: %s\n", strerror(-c.err));
		return XDROP_LAB_EXIT_FAIL;
	}
	return XDROP_LAB_EXIT_OK;
}

/* Detaches every link pinned in the pin directory, then removes the map pins. */
static int cmd_unpin(struct dataplane *dp)
{
	char names[XDROP_MAX_FF_PORTS][256];
	const char *pin_dir = dataplane_pin_dir(dp);
	struct dirent *de;
	int n = 0, i, err, ret = XDROP_LAB_EXIT_OK;
	DIR *d = opendir(pin_dir);

	if (!d) {
		fprintf(stderr, "xdrop-lab: %s: %s\n", pin_dir, strerror(errno));
		return XDROP_LAB_EXIT_FAIL;
	}
	/* collect first: detaching unlinks entries of the directory being read */
	while ((de = readdir(d)) && n < XDROP_MAX_FF_PORTS) {
		if (strncmp(de->d_name, "link_", 5) == 0)
			snprintf(names[n++], sizeof(names[0]), "%s", de->d_name + 5);
	}
	closedir(d);
	for (i = 0; i < n; i++) {
		err = attach_detach(dp, names[i]);
		if (err && err != -ENOENT) {
			fprintf(stderr, "xdrop-lab: detach from %s failed: %s\n", names[i],
				strerror(-err));
			ret = XDROP_LAB_EXIT_FAIL;
		} else {
			printf("detached from %s\n", names[i]);
		}
	}
	err = dataplane_unpin(dp);
	if (err) {
		fprintf(stderr, "xdrop-lab: unpin %s failed: %s\n", pin_dir, strerror(-err));
		return XDROP_LAB_EXIT_FAIL;
	}
	printf("removed pins in %s\n", pin_dir);
	return ret;
}

/* ---- main ---- */

static int parse_filter(const char *s, enum attach_filter *out)
{
	if (!strcmp(s, "inbound"))
		*out = ATTACH_FILTER_INBOUND;
	else if (!strcmp(s, "outbound"))
		*out = ATTACH_FILTER_OUTBOUND;
	else if (!strcmp(s, "both"))
		*out = ATTACH_FILTER_BOTH;
	else
		return -EINVAL;
	return 0;
}

/* Checks a command's positional argument count (and that options suit it). */
static bool args_ok(const char *cmd, int nargs, const struct lab_opts *o, bool filter_set)
{
	bool attach_opts = o->generic || o->force;

	if (!strcmp(cmd, "attach"))
		return nargs == 1 && !filter_set;
	if (!strcmp(cmd, "ff"))
		return nargs == 2;
	if (attach_opts || filter_set)
		return false;
	if (!strcmp(cmd, "detach") || !strcmp(cmd, "load"))
		return nargs == 1;
	if (!strcmp(cmd, "add") || !strcmp(cmd, "del"))
		return nargs >= 1;
	if (!strcmp(cmd, "stats") || !strcmp(cmd, "unpin"))
		return nargs == 0;
	return false;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"pin", required_argument, NULL, 'p'},
	    {"generic", no_argument, NULL, 'g'},
	    {"force", no_argument, NULL, 'f'},
	    {"filter", required_argument, NULL, 'F'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct lab_opts o = {.filter = ATTACH_FILTER_INBOUND};
	struct dataplane_opts dopts = {.sz = sizeof(dopts)};
	struct dataplane *dp = NULL;
	bool filter_set = false, verbose = false;
	const char *cmd;
	char **args;
	int c, nargs, err, ret;

	/* "+": options before the command; rule words after it are never options */
	while ((c = getopt_long(argc, argv, "+p:v", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o.pin_dir = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return XDROP_LAB_EXIT_OK;
		default:
			usage(stderr);
			return XDROP_LAB_EXIT_USAGE;
		}
	}
	if (optind >= argc || !o.pin_dir) {
		fprintf(stderr, "xdrop-lab: %s\n",
			o.pin_dir ? "no command" : "--pin DIR is required");
		usage(stderr);
		return XDROP_LAB_EXIT_USAGE;
	}
	cmd = argv[optind];
	/* options of attach and ff may follow the interface names */
	optind++;
	args = argv + optind;
	nargs = 0;
	if (!strcmp(cmd, "attach") || !strcmp(cmd, "ff")) {
		for (int i = optind; i < argc; i++) {
			if (!strcmp(argv[i], "--generic")) {
				o.generic = true;
			} else if (!strcmp(argv[i], "--force")) {
				o.force = true;
			} else if (!strcmp(argv[i], "--filter") && i + 1 < argc) {
				if (parse_filter(argv[++i], &o.filter)) {
					fprintf(stderr,
						"xdrop-lab: --filter: '%s' is not inbound, "
						"outbound or both\n",
						argv[i]);
					return XDROP_LAB_EXIT_USAGE;
				}
				filter_set = true;
			} else if (argv[i][0] == '-') {
				fprintf(stderr, "xdrop-lab: %s: unknown option '%s'\n", cmd,
					argv[i]);
				return XDROP_LAB_EXIT_USAGE;
			} else {
				args[nargs++] = argv[i];
			}
		}
	} else {
		nargs = argc - optind;
	}
	if (!args_ok(cmd, nargs, &o, filter_set)) {
		fprintf(stderr, "xdrop-lab: bad arguments for '%s'\n", cmd);
		usage(stderr);
		return XDROP_LAB_EXIT_USAGE;
	}

	log_set_level(verbose ? LOG_LEVEL_INFO : LOG_LEVEL_WARN);
	log_route_libbpf();
	dopts.pin_dir = o.pin_dir;
	err = dataplane_open(&dp, &dopts);
	if (err) {
		fprintf(stderr, "xdrop-lab: open data plane on %s failed: %s\n", o.pin_dir,
			strerror(-err));
		return XDROP_LAB_EXIT_FAIL;
	}
	if (!strcmp(cmd, "attach"))
		ret = cmd_attach(dp, args[0], &o);
	else if (!strcmp(cmd, "ff"))
		ret = cmd_ff(dp, args[0], args[1], &o);
	else if (!strcmp(cmd, "detach"))
		ret = cmd_detach(dp, args[0]);
	else if (!strcmp(cmd, "load"))
		ret = cmd_load(dp, args[0]);
	else if (!strcmp(cmd, "add"))
		ret = cmd_change(dp, DP_PUT, nargs, args);
	else if (!strcmp(cmd, "del"))
		ret = cmd_change(dp, DP_DEL, nargs, args);
	else if (!strcmp(cmd, "stats"))
		ret = cmd_stats(dp);
	else
		ret = cmd_unpin(dp);
	dataplane_close(dp);
	return ret;
}
