// SPDX-License-Identifier: MIT
/*
 * feeds: a rule's source as a feed that an operator refreshes from a file.
 *
 * `rules import FILE --source NAME` adds the file's rules to the feed, `rules sync-source
 * NAME FILE` makes the feed equal to the file; both end in ONE RuleService.ReplaceSource
 * (one revision on every node, never half applied), and --dry-run asks the controller for
 * the same diff without writing. The file is read, converted and checked here first, so
 * that an error names its CSV line (or JSON item) rather than an index of the request;
 * conflicts with rules already stored (same match) are found against the listed rules, and
 * --on-conflict says what to do with them. `rules del --source | --search` count first and
 * ask on a terminal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "rulepb.h"

#define KEY_LEN 192 /* a match key's text */

enum conflict { ON_FAIL, ON_SKIP, ON_REPLACE };

/* The rules of a file: messages, match keys, and where each came from. */
struct set {
	Xdrop__V1__Rule **rules;
	char (*keys)[KEY_LEN];
	int *lines; /* CSV: file line per rule; NULL for JSON */
	size_t n;
	const char *path;
};

/* The stored rules: List replies kept whole, their rules sorted by match key. */
struct stored {
	ProtobufCMessage **pages;
	size_t n_pages;
	struct keyed {
		char key[KEY_LEN];
		Xdrop__V1__Rule *r;
	} * by_key;
	size_t n;
};

void ctl_item_where(const char *path, const int *lines, size_t i, const char *list, char *prefix,
		    size_t plen, char *where, size_t wlen)
{
	if (lines) {
		snprintf(prefix, plen, "%s", "");
		snprintf(where, wlen, "%s:%d", path, lines[i]);
	} else {
		snprintf(prefix, plen, "%s[%zu]", list, i);
		snprintf(where, wlen, "%s", path);
	}
}

/* The match key of m into key; -EINVAL with *e (naming prefix.field) when m is invalid. */
static int match_key(const void *msg, const char *prefix, char *key, struct json_error *e)
{
	struct rule_error re = {0};
	struct rule_spec spec;

	if (rulepb_to_spec(msg, &spec, &re) < 0 || rule_refuse_match_all(&spec, &re) < 0) {
		json_fail(e, NULL, "%s", re.reason ? re.reason : "invalid");
		snprintf(e->field, sizeof(e->field), "%s%s%s", prefix,
			 *prefix && re.field ? "." : "", re.field ? re.field : "");
		return -EINVAL;
	}
	if (key)
		rulepb_match_key(&spec, key, KEY_LEN);
	return 0;
}

int ctl_check_item(const void *msg, const char *prefix, struct json_error *e)
{
	return match_key(msg, prefix, NULL, e);
}

static void set_free(struct set *s)
{
	for (size_t i = 0; s->rules && i < s->n; i++)
		ctl_msg_free(&s->rules[i]->base);
	free(s->rules);
	free(s->keys);
	free(s->lines);
}

/* One item of the file into s (converted, checked, source set). */
static int read_item(struct set *s, const cJSON *it, const char *source)
{
	char prefix[48], where[PATH_WHERE_MAX];
	struct json_error e = {0};
	Xdrop__V1__Rule *r = NULL;
	int err;

	ctl_item_where(s->path, s->lines, s->n, "rules", prefix, sizeof(prefix), where,
		       sizeof(where));
	err = json_to_rule(it, prefix, &r, NULL, NULL, &e);
	if (err)
		return err == -ENOMEM ? ctl_fail(CTL_EXIT_FAIL, "out of memory")
				      : ctl_json_fail(&e, where);
	s->rules[s->n] = r;
	s->n++;
	/* the feed's name wins over a source column: the file is the feed */
	if (r->source != protobuf_c_empty_string)
		free(r->source);
	r->source = strdup(source);
	if (!r->source)
		return ctl_fail(CTL_EXIT_FAIL, "out of memory");
	if (match_key(r, prefix, s->keys[s->n - 1], &e))
		return ctl_json_fail(&e, where);
	return CTL_EXIT_OK;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Refuses a file that gives one match twice (naming both places). */
static int check_dups(const struct set *s)
{
	char **k = calloc(s->n + 1, sizeof(*k));
	int rc = CTL_EXIT_OK;

	if (!k)
		return ctl_fail(CTL_EXIT_FAIL, "out of memory");
	for (size_t i = 0; i < s->n; i++)
		k[i] = s->keys[i];
	qsort(k, s->n, sizeof(*k), cmp_str);
	for (size_t i = 1; i < s->n && !rc; i++) {
		if (strcmp(k[i - 1], k[i]))
			continue;
		size_t a = (size_t)((char(*)[KEY_LEN])k[i - 1] - s->keys);
		size_t b = (size_t)((char(*)[KEY_LEN])k[i] - s->keys);

		if (a > b) {
			size_t t = a;

			a = b;
			b = t;
		}
		if (s->lines)
			rc = ctl_fail(CTL_EXIT_INVALID, "%s:%d: the same match as line %d", s->path,
				      s->lines[b], s->lines[a]);
		else
			rc =
			    ctl_fail(CTL_EXIT_INVALID,
				     "%s: rules[%zu]: the same match as rules[%zu]", s->path, b, a);
	}
	free(k);
	return rc;
}

/* Reads the rules of the file at path (JSON or CSV) for feed source into *s. */
static int set_read(struct ctl *c, const char *path, const char *format, const char *source,
		    struct set *s)
{
	struct json_error e = {0};
	const cJSON *items, *it;
	cJSON *doc = NULL;
	char *text = NULL;
	size_t len = 0, total;
	int rc;

	memset(s, 0, sizeof(*s));
	s->path = path;
	if (format && strcmp(format, "json") && strcmp(format, "csv"))
		return ctl_fail(CTL_EXIT_USAGE, "--format: json or csv");
	rc = ctl_read_file(path, &text, &len);
	if (rc)
		return rc;
	if (ctl_is_csv(path, format))
		rc = ctl_csv_read(c, &kind_rules, path, text, &doc, &s->lines);
	else if (json_parse(text, len, &doc, &e))
		rc = ctl_json_fail(&e, path);
	if (rc)
		goto out;
	items = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "rules") : doc;
	if (!cJSON_IsArray(items)) {
		rc =
		    ctl_fail(CTL_EXIT_INVALID, "%s: expected {\"rules\": [...]} or an array", path);
		goto out;
	}
	total = (size_t)cJSON_GetArraySize(items);
	s->rules = calloc(total + 1, sizeof(*s->rules));
	s->keys = calloc(total + 1, sizeof(*s->keys));
	if (!s->rules || !s->keys) {
		rc = ctl_fail(CTL_EXIT_FAIL, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(it, items)
	{
		rc = read_item(s, it, source);
		if (rc)
			goto out;
	}
	rc = check_dups(s);
out:
	cJSON_Delete(doc);
	free(text);
	return rc;
}

/* ---- the stored rules ---- */

static void stored_free(struct stored *st)
{
	for (size_t i = 0; i < st->n_pages; i++)
		ctl_msg_free(st->pages[i]);
	free(st->pages);
	free(st->by_key);
}

static int cmp_keyed(const void *a, const void *b)
{
	return strcmp(((const struct keyed *)a)->key, ((const struct keyed *)b)->key);
}

/* Keeps a List reply and indexes its rules by match key. */
static int stored_add(struct stored *st, ProtobufCMessage *resp)
{
	const Xdrop__V1__ListRulesResponse *l = (const void *)resp;
	void *np = realloc(st->pages, (st->n_pages + 1) * sizeof(*st->pages));
	void *nk = np ? realloc(st->by_key, (st->n + l->n_rules + 1) * sizeof(*st->by_key)) : NULL;

	if (np)
		st->pages = np;
	if (nk)
		st->by_key = nk;
	if (!np || !nk) {
		ctl_msg_free(resp);
		return ctl_fail(CTL_EXIT_FAIL, "out of memory");
	}
	st->pages[st->n_pages++] = resp;
	for (size_t i = 0; i < l->n_rules; i++) {
		struct json_error e = {0};

		/* a stored rule is valid; one that is not (older server) matches nothing */
		if (match_key(l->rules[i], "", st->by_key[st->n].key, &e))
			continue;
		st->by_key[st->n++].r = l->rules[i];
	}
	return CTL_EXIT_OK;
}

/* Every stored rule (source: only that feed's, NULL: all), indexed by match key. */
static int stored_fetch(struct ctl *c, const char *source, const char *search, struct stored *st)
{
	uint32_t page = 1, pages = 1;

	memset(st, 0, sizeof(*st));
	do {
		Xdrop__V1__ListRulesRequest rq = XDROP__V1__LIST_RULES_REQUEST__INIT;
		ProtobufCMessage *resp = NULL;
		const Xdrop__V1__ListRulesResponse *l;
		int rc;

		rq.page = page;
		rq.limit = CTL_PAGE;
		rq.sort = "id";
		rq.source = (char *)(source ? source : "");
		rq.search = (char *)(search ? search : "");
		rc = ctl_call(c, kind_rules.svc, "List", &rq.base, &resp, 0);
		if (rc)
			return rc;
		l = (const void *)resp;
		pages = l->pagination ? l->pagination->pages : 1;
		rc = stored_add(st, resp);
		if (rc)
			return rc;
	} while (page++ < pages);
	qsort(st->by_key, st->n, sizeof(*st->by_key), cmp_keyed);
	return CTL_EXIT_OK;
}

static Xdrop__V1__Rule *stored_find(const struct stored *st, const char *key)
{
	struct keyed k, *p;

	snprintf(k.key, sizeof(k.key), "%s", key);
	p = st->n ? bsearch(&k, st->by_key, st->n, sizeof(*st->by_key), cmp_keyed) : NULL;
	return p ? p->r : NULL;
}

/* ---- the diff ---- */

/* One line about r: match, action, name. */
static void print_rule(char mark, const Xdrop__V1__Rule *r)
{
	const char *src = *r->src_ip ? r->src_ip : *r->src_cidr ? r->src_cidr : "any";
	const char *dst = *r->dst_ip ? r->dst_ip : *r->dst_cidr ? r->dst_cidr : "any";

	printf("  %c %s -> %s", mark, src, dst);
	if (*r->protocol)
		printf(" %s", r->protocol);
	if (r->src_port)
		printf(" sport %u", r->src_port);
	if (r->dst_port)
		printf(" dport %u", r->dst_port);
	printf(" %s", r->action);
	if (r->rate_limit)
		printf(" %llu/s", (unsigned long long)r->rate_limit);
	if (*r->name)
		printf(" \"%s\"", r->name);
	if (*r->id)
		printf(" (%s)", r->id);
	putchar('\n');
}

static void print_list(const char *what, char mark, Xdrop__V1__Rule *const *v, size_t n)
{
	printf("%s: %zu\n", what, n);
	for (size_t i = 0; i < n; i++)
		print_rule(mark, v[i]);
}

static void print_diff(const Xdrop__V1__ReplaceSourceReply *r, const char *source, size_t replaced,
		       size_t skipped)
{
	printf("source %s%s\n", source, r->dry_run ? " (dry run: nothing changed)" : "");
	print_list("to add", '+', r->to_add, r->n_to_add);
	print_list("to update", '~', r->to_update, r->n_to_update);
	print_list("to remove", '-', r->to_remove, r->n_to_remove);
	printf("unchanged: %u\n", r->unchanged);
	if (replaced)
		printf("replaced from other sources: %zu\n", replaced);
	if (skipped)
		printf("skipped (the match exists already): %zu\n", skipped);
}

/* ---- import and sync-source ---- */

static int parse_conflict(const char *s, enum conflict *out)
{
	static const char *const names[] = {"fail", "skip", "replace"};

	*out = ON_FAIL;
	for (int i = 0; s && i < 3; i++)
		if (!strcmp(s, names[i])) {
			*out = (enum conflict)i;
			return CTL_EXIT_OK;
		}
	return s ? ctl_fail(CTL_EXIT_USAGE, "--on-conflict: skip, replace or fail") : CTL_EXIT_OK;
}

/* Where rule i of s is, for messages. */
static void where_of(const struct set *s, size_t i, char *buf, size_t len)
{
	if (s->lines)
		snprintf(buf, len, "%s:%d", s->path, s->lines[i]);
	else
		snprintf(buf, len, "%s: rules[%zu]", s->path, i);
}

/* What goes to ReplaceSource: the request's rules, and the rules of other sources that
 * --on-conflict replace deletes first. */
struct plan {
	Xdrop__V1__Rule **send;
	size_t n_send, skipped;
	char **other_ids; /* ids of other sources' rules to delete */
	Xdrop__V1__Rule **others;
	size_t n_others;
};

static void plan_free(struct plan *p)
{
	free(p->send);
	free(p->other_ids);
	free(p->others);
}

/*
 * The set to send for feed source: sync, the file's rules; an import, the feed's stored
 * rules the file does not match plus the file's rules, after --on-conflict (a conflict:
 * the match of a stored rule, of this feed or another). A rule of another feed with the
 * same match fails a sync-source (the feed would take it over) whatever the policy.
 */
static int plan_make(const struct set *s, const struct stored *all, const char *source, bool sync,
		     enum conflict on, struct plan *p)
{
	char where[PATH_WHERE_MAX];
	bool *matched = calloc(all->n + 1, sizeof(*matched));

	memset(p, 0, sizeof(*p));
	p->send = calloc(s->n + all->n + 1, sizeof(*p->send));
	p->other_ids = calloc(s->n + 1, sizeof(*p->other_ids));
	p->others = calloc(s->n + 1, sizeof(*p->others));
	if (!matched || !p->send || !p->other_ids || !p->others) {
		free(matched);
		return ctl_fail(CTL_EXIT_FAIL, "out of memory");
	}
	for (size_t i = 0; i < s->n; i++) {
		Xdrop__V1__Rule *old = stored_find(all, s->keys[i]);
		bool mine = old && !strcmp(old->source, source);

		if (old && (sync ? !mine : on == ON_FAIL)) {
			where_of(s, i, where, sizeof(where));
			free(matched);
			return ctl_fail(CTL_EXIT_CONFLICT,
					"%s: the same match as rule %s of source \"%s\"%s", where,
					old->id, old->source,
					sync ? "" : " (--on-conflict skip or replace to go on)");
		}
		if (old && on == ON_SKIP && !sync) {
			p->skipped++;
			continue;
		}
		if (old) /* the stored rule is replaced by the file's */
			matched[(struct keyed *)bsearch(s->keys[i], all->by_key, all->n,
							sizeof(*all->by_key), cmp_keyed) -
				all->by_key] = true;
		if (old && !mine) { /* replace: it leaves its source for this feed */
			p->other_ids[p->n_others] = old->id;
			p->others[p->n_others++] = old;
		}
		p->send[p->n_send++] = s->rules[i];
	}
	for (size_t j = 0; !sync && j < all->n; j++) /* import keeps the feed's other rules */
		if (!matched[j] && !strcmp(all->by_key[j].r->source, source))
			p->send[p->n_send++] = all->by_key[j].r;
	free(matched);
	return CTL_EXIT_OK;
}

/* Rules kept by an import are sent as stored: strip what the server sets itself. */
static void as_input(Xdrop__V1__Rule **v, size_t n, Xdrop__V1__RuleStats **saved)
{
	for (size_t i = 0; i < n; i++) {
		Xdrop__V1__RuleStats *t = v[i]->stats;

		v[i]->stats = saved[i];
		saved[i] = t;
	}
}

static int replace_source(struct ctl *c, const char *source, struct plan *p, bool dry,
			  ProtobufCMessage **resp)
{
	Xdrop__V1__ReplaceSourceRequest rq = XDROP__V1__REPLACE_SOURCE_REQUEST__INIT;
	Xdrop__V1__RuleStats **saved = calloc(p->n_send + 1, sizeof(*saved));
	int rc;

	if (!saved)
		return ctl_fail(CTL_EXIT_FAIL, "out of memory");
	as_input(p->send, p->n_send, saved);
	rq.source = (char *)source;
	rq.rules = p->send;
	rq.n_rules = p->n_send;
	rq.dry_run = dry;
	if (p->n_send > c->batch) { /* staged: still one change (its reply has the counts) */
		const struct ctl_stage g = {.kind = &kind_rules,
					    .msgs = (void **)p->send,
					    .n = p->n_send,
					    .source = source,
					    .dry_run = dry};
		bool unsupported;

		rc = ctl_stage_send(c, &g, resp, &unsupported);
		if (unsupported)
			rc = ctl_fail(CTL_EXIT_FAIL, "the server does not take staged sets");
	} else {
		rc = ctl_call(c, kind_rules.svc, "ReplaceSource", &rq.base, resp,
			      CTL_BATCH_TIMEOUT_MS);
	}
	as_input(p->send, p->n_send, saved);
	free(saved);
	return rc;
}

/* --on-conflict replace with rules of other feeds: they are deleted first (one batch),
 * and put back if the replace is refused. */
static int delete_others(struct ctl *c, const struct plan *p)
{
	Xdrop__V1__BatchDeleteRequest dq = XDROP__V1__BATCH_DELETE_REQUEST__INIT;
	ProtobufCMessage *r = NULL;
	int rc;

	if (!p->n_others)
		return CTL_EXIT_OK;
	dq.ids = p->other_ids;
	dq.n_ids = p->n_others;
	rc = ctl_call(c, kind_rules.svc, "BatchDelete", &dq.base, &r, CTL_BATCH_TIMEOUT_MS);
	ctl_msg_free(r);
	return rc;
}

static void restore_others(struct ctl *c, const struct plan *p)
{
	Xdrop__V1__BatchCreateRulesRequest bq = XDROP__V1__BATCH_CREATE_RULES_REQUEST__INIT;
	ProtobufCMessage *r = NULL;

	if (!p->n_others)
		return;
	bq.rules = p->others;
	bq.n_rules = p->n_others;
	bq.atomic = true;
	if (ctl_call(c, kind_rules.svc, "BatchCreate", &bq.base, &r, CTL_BATCH_TIMEOUT_MS))
		fprintf(stderr,
			"xdropctl: %zu rules of other sources were deleted and could not "
			"be put back\n",
			p->n_others);
	ctl_msg_free(r);
}

static int report(struct ctl *c, const ProtobufCMessage *resp, const char *source,
		  const struct plan *p)
{
	const Xdrop__V1__ReplaceSourceReply *r = (const void *)resp;

	if (c->json)
		return ctl_print_msg(resp);
	if (r->dry_run) {
		print_diff(r, source, p->n_others, p->skipped);
	} else if (!c->quiet) {
		printf("source %s: %u added, %u updated, %u removed, %u unchanged", source,
		       r->added, r->updated, r->removed, r->unchanged);
		if (p->skipped)
			printf(", %zu skipped", p->skipped);
		if (p->n_others)
			printf(", %zu taken from other sources", p->n_others);
		printf(" (revision %llu)\n", (unsigned long long)(r->sync ? r->sync->revision : 0));
	}
	return CTL_EXIT_OK;
}

int ctl_feed_import(struct ctl *c, const struct listopts *o, const char *path, bool sync)
{
	const char *source = o->source;
	ProtobufCMessage *resp = NULL;
	struct stored all = {0};
	struct plan p = {0};
	struct set s;
	enum conflict on;
	int rc = parse_conflict(o->on_conflict, &on);

	if (rc)
		return rc;
	rc = set_read(c, path, o->format, source, &s);
	/* sync-source sends the file as the set: the controller finds the diff and refuses a
	 * match of another source (naming rules[i]); reading the whole store first would
	 * cost more than the refresh (List pages of a million-rule store) */
	if (!rc && !sync)
		rc = stored_fetch(c, NULL, NULL, &all);
	if (!rc)
		rc = plan_make(&s, &all, source, sync, on, &p);
	if (!rc && o->dry_run) {
		rc = replace_source(c, source, &p, true, &resp);
	} else if (!rc) {
		rc = delete_others(c, &p);
		if (!rc) {
			rc = replace_source(c, source, &p, false, &resp);
			if (rc)
				restore_others(c, &p);
		}
	}
	if (!rc)
		rc = report(c, resp, source, &p);
	ctl_msg_free(resp);
	plan_free(&p);
	stored_free(&all);
	set_free(&s);
	return rc;
}

/* ---- delete by source or search ---- */

/* Asks "PROMPT [y/N]" on a terminal; true for y or yes. */
static bool confirm(const char *prompt)
{
	char line[16];

	fprintf(stderr, "%s [y/N] ", prompt);
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	return !strcmp(line, "y\n") || !strcmp(line, "yes\n") || !strcmp(line, "Y\n");
}

/* The count is known: asks, or refuses without a terminal unless --yes. */
static int agree(const struct listopts *o, size_t n, const char *what)
{
	char prompt[300];

	if (o->yes)
		return CTL_EXIT_OK;
	if (!isatty(0))
		return ctl_fail(CTL_EXIT_USAGE,
				"not deleting %zu rules %s without confirmation: no terminal to "
				"ask on (add --yes)",
				n, what);
	snprintf(prompt, sizeof(prompt), "delete %zu rules %s?", n, what);
	if (!confirm(prompt))
		return ctl_fail(CTL_EXIT_FAIL, "nothing deleted");
	return CTL_EXIT_OK;
}

static int delete_source(struct ctl *c, const struct listopts *o)
{
	struct plan p = {0};
	ProtobufCMessage *resp = NULL;
	char what[200];
	int rc;

	/* a dry run of the empty set counts them; the delete is the same call, one change */
	rc = replace_source(c, o->source, &p, true, &resp);
	if (rc)
		return rc;
	snprintf(what, sizeof(what), "of source \"%s\"", o->source);
	rc = ((Xdrop__V1__ReplaceSourceReply *)resp)->removed
		 ? agree(o, ((Xdrop__V1__ReplaceSourceReply *)resp)->removed, what)
		 : CTL_EXIT_OK;
	if (!rc && ((Xdrop__V1__ReplaceSourceReply *)resp)->removed) {
		ctl_msg_free(resp);
		resp = NULL;
		rc = replace_source(c, o->source, &p, false, &resp);
	}
	if (!rc && c->json)
		rc = ctl_print_msg(resp);
	else if (!rc && !c->quiet)
		printf("deleted %u rules of source %s\n",
		       ((Xdrop__V1__ReplaceSourceReply *)resp)->removed, o->source);
	ctl_msg_free(resp);
	return rc;
}

static int delete_search(struct ctl *c, const struct listopts *o)
{
	Xdrop__V1__BatchDeleteRequest dq = XDROP__V1__BATCH_DELETE_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct stored st;
	char what[200];
	int rc = stored_fetch(c, NULL, o->search, &st);

	if (!rc && st.n > XDROP_BATCH_MAX)
		rc = ctl_fail(CTL_EXIT_INVALID,
			      "%zu rules match; at most %d go in one change (narrow the search)",
			      st.n, XDROP_BATCH_MAX);
	snprintf(what, sizeof(what), "matching \"%s\"", o->search);
	if (!rc && st.n)
		rc = agree(o, st.n, what);
	dq.ids = calloc(st.n + 1, sizeof(*dq.ids));
	if (!rc && !dq.ids)
		rc = ctl_fail(CTL_EXIT_FAIL, "out of memory");
	for (size_t i = 0; !rc && i < st.n; i++)
		dq.ids[dq.n_ids++] = st.by_key[i].r->id;
	if (!rc && dq.n_ids) /* one BatchDelete: all or nothing */
		rc = ctl_call(c, kind_rules.svc, "BatchDelete", &dq.base, &resp,
			      CTL_BATCH_TIMEOUT_MS);
	if (!rc && c->json && resp)
		rc = ctl_print_msg(resp);
	else if (!rc && !c->quiet)
		printf("deleted %zu rules matching \"%s\"\n", dq.n_ids, o->search);
	free(dq.ids);
	ctl_msg_free(resp);
	stored_free(&st);
	return rc;
}

int ctl_feed_delete(struct ctl *c, const struct listopts *o)
{
	if (!o->source == !o->search)
		return ctl_fail(CTL_EXIT_USAGE, "usage: rules del --source NAME | --search TEXT "
						"[--yes]");
	return o->source ? delete_source(c, o) : delete_search(c, o);
}
