// SPDX-License-Identifier: MIT
/*
 * migrate: `xdropctl migrate --from-xdrop2 FILE.db [--dry-run]`, the rules and whitelist
 * of an XDrop v2.7 controller carried over from its SQLite database.
 *
 * The file is opened read-only (SQLITE_OPEN_READONLY: a running v2.7 controller may keep
 * it open) and recognised by its tables and columns: `rules` and `whitelist` with v2.7's
 * base columns. Columns that later v2.x releases added (src_cidr, dst_cidr, pkt_len_min,
 * pkt_len_max, tcp_flags, match_anomaly, and a decoder column should one exist) are read
 * when present. Each row becomes a JSON object with the proto's field names and goes
 * through lib/json and the servers' validation (ctl_check_item), so that every problem is
 * found before anything is written, and named by the v2.7 table and row id.
 *
 * Anomaly matches (match_anomaly, decoders bad_fragment and invalid) are carried over
 * with v2.7's bits. Rows that XDrop cannot represent are not carried over and reported,
 * with the reason: rules that have expired already. Whitelist entries go first (never a
 * moment with the drop rules and without the exceptions), then the rules, each kind in
 * ONE atomic BatchCreate; when the rules are refused the entries just added are deleted
 * again. Ids are kept, so a second run of the same file is refused (ALREADY_EXISTS) and
 * changes nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sqlite3.h>

#include "clock.h"
#include "ctl.h"
#include "decoder.h"

/* What one migration read and decided. */
struct mig {
	const char *path;
	sqlite3 *db;
	void **rules, **wl; /* Xdrop__V1__Rule / Xdrop__V1__WhitelistEntry */
	size_t n_rules, n_wl, rows_rules, rows_wl;
	cJSON *skipped; /* [{"table","id","reason"}] */
	size_t skipped_rules, skipped_wl;
	int64_t now;
};

/* The columns every v2.x database has; the others are optional. */
static const char *const rule_cols[] = {"id",	      "name",	  "src_ip",   "dst_ip",
					"src_port",   "dst_port", "protocol", "action",
					"rate_limit", "comment",  "enabled",  NULL};
static const char *const wl_cols[] = {"id",	  "name",     "src_ip",	  "dst_ip",
				      "src_port", "dst_port", "protocol", NULL};

/* ---- one row ---- */

/* The index of column name in st, or -1. */
static int col_index(sqlite3_stmt *st, const char *name)
{
	for (int i = 0; i < sqlite3_column_count(st); i++)
		if (!strcmp(sqlite3_column_name(st, i), name))
			return i;
	return -1;
}

/* Column name as text; NULL when absent, NULL or empty. */
static const char *col_text(sqlite3_stmt *st, const char *name)
{
	int i = col_index(st, name);
	const char *s;

	if (i < 0 || sqlite3_column_type(st, i) == SQLITE_NULL)
		return NULL;
	s = (const char *)sqlite3_column_text(st, i);
	return s && *s ? s : NULL;
}

/* Column name as an integer; 0 when absent or NULL. */
static int64_t col_int(sqlite3_stmt *st, const char *name)
{
	int i = col_index(st, name);

	return i < 0 ? 0 : sqlite3_column_int64(st, i);
}

/*
 * A v2.7 time into nanoseconds. v2.7 stores Go times through go-sqlite3 ("2026-01-02
 * 15:04:05.123+08:00", "... +00:00") and SQLite's CURRENT_TIMESTAMP ("2026-01-02
 * 15:04:05", UTC); an integer is taken as seconds since the epoch. Returns 0 or -EINVAL.
 */
static int v2_time(sqlite3_stmt *st, const char *name, int64_t *ns)
{
	int i = col_index(st, name);
	const char *s = col_text(st, name);
	char buf[64];
	size_t n;

	if (sqlite3_column_type(st, i) == SQLITE_INTEGER) {
		*ns = sqlite3_column_int64(st, i) * 1000000000;
		return 0;
	}
	n = strlen(s);
	if (n < 19 || n + 2 > sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n + 1);
	if (buf[10] == ' ')
		buf[10] = 'T';
	if (n > 19 && buf[n - 6] != '+' && buf[n - 6] != '-' && buf[n - 1] != 'Z')
		strcat(buf, "Z"); /* a fraction, no offset */
	else if (n == 19)
		strcat(buf, "Z");
	return json_parse_time(buf, ns);
}

/* Adds the string s as name (nothing for NULL); an address with a '/' as the _cidr
 * field (v2.7 accepted prefixes in src_ip of whitelist entries). */
static void add_str(cJSON *o, const char *name, const char *s)
{
	if (s)
		cJSON_AddStringToObject(o, name, s);
}
static void add_addr(cJSON *o, const char *dir, const char *ip)
{
	char name[16];

	if (!ip)
		return;
	snprintf(name, sizeof(name), "%s_%s", dir, strchr(ip, '/') ? "cidr" : "ip");
	if (!cJSON_HasObjectItem(o, name))
		cJSON_AddStringToObject(o, name, ip);
}

/* The match fields rules and whitelist entries share. */
static void add_match(cJSON *o, sqlite3_stmt *st)
{
	const char *proto = col_text(st, "protocol");

	add_str(o, "id", col_text(st, "id"));
	add_str(o, "name", col_text(st, "name"));
	add_str(o, "src_cidr", col_text(st, "src_cidr"));
	add_str(o, "dst_cidr", col_text(st, "dst_cidr"));
	add_addr(o, "src", col_text(st, "src_ip"));
	add_addr(o, "dst", col_text(st, "dst_ip"));
	if (col_int(st, "src_port"))
		cJSON_AddNumberToObject(o, "src_port", (double)col_int(st, "src_port"));
	if (col_int(st, "dst_port"))
		cJSON_AddNumberToObject(o, "dst_port", (double)col_int(st, "dst_port"));
	if (proto && strcasecmp(proto, "all"))
		cJSON_AddStringToObject(o, "protocol", proto);
	add_str(o, "comment", col_text(st, "comment"));
}

/* Records row id of table as not carried over, for reason. */
static void skip(struct mig *m, const char *table, const char *id, const char *reason)
{
	cJSON *s = cJSON_CreateObject();

	cJSON_AddStringToObject(s, "table", table);
	cJSON_AddStringToObject(s, "id", id ? id : "");
	cJSON_AddStringToObject(s, "reason", reason);
	cJSON_AddItemToArray(m->skipped, s);
	if (!strcmp(table, "rules"))
		m->skipped_rules++;
	else
		m->skipped_wl++;
}

/*
 * The anomaly mask and decoder of a rule row into o: match_anomaly as it is, a decoder
 * column (should a database have one) expanded from lib/decoder's table, the one v2.7's
 * REST input gets in the gateway too (tcp_ack is ACK without SYN; bad_fragment and invalid
 * OR their bit into match_anomaly). Returns 0, or -EINVAL for a decoder v2.7 does not know
 * (why says which).
 */
static int anomaly(sqlite3_stmt *st, cJSON *o, char *why, size_t len)
{
	const char *name = col_text(st, "decoder");
	const struct decoder *d = decoder_find(name);
	int64_t bits = col_int(st, "match_anomaly");

	if (name && !d) {
		snprintf(why, len, "unknown decoder %s (v2.7 knows %s)", name, decoder_names);
		return -EINVAL;
	}
	if (d && d->protocol) {
		cJSON_DeleteItemFromObject(o, "protocol");
		cJSON_AddStringToObject(o, "protocol", d->protocol);
	}
	if (d && d->tcp_flags) {
		cJSON_DeleteItemFromObject(o, "tcp_flags");
		cJSON_AddStringToObject(o, "tcp_flags", d->tcp_flags);
	}
	if (d)
		bits |= d->anomaly;
	if (bits) /* bits v2.7 does not have are refused by the rule's validation */
		cJSON_AddNumberToObject(o, "match_anomaly", (double)bits);
	return 0;
}

/* ---- tables ---- */

/* An error about row id of table (CTL_EXIT_INVALID). */
static int row_fail(const struct mig *m, const char *table, const char *id, const char *field,
		    const char *msg)
{
	return ctl_fail(CTL_EXIT_INVALID, "%s: v2.7 table %s, id %s: %s%s%s", m->path, table,
			id ? id : "(none)", field ? field : "", field ? ": " : "", msg);
}

/* The rule of one row: *out (NULL when skipped), or an exit code. */
static int rule_row(struct mig *m, sqlite3_stmt *st, void **out)
{
	const char *id = col_text(st, "id"), *action = col_text(st, "action");
	cJSON *o = cJSON_CreateObject();
	struct json_error e = {0};
	char reason[160], when[48];
	int64_t exp = 0;
	int rc = CTL_EXIT_OK;

	*out = NULL;
	add_match(o, st);
	if (!action)
		action = "drop";
	cJSON_AddStringToObject(o, "action", action);
	if (!strcmp(action, "rate_limit"))
		cJSON_AddNumberToObject(o, "rate_limit", (double)col_int(st, "rate_limit"));
	if (col_int(st, "pkt_len_min"))
		cJSON_AddNumberToObject(o, "pkt_len_min", (double)col_int(st, "pkt_len_min"));
	if (col_int(st, "pkt_len_max"))
		cJSON_AddNumberToObject(o, "pkt_len_max", (double)col_int(st, "pkt_len_max"));
	add_str(o, "tcp_flags", col_text(st, "tcp_flags"));
	cJSON_AddBoolToObject(o, "enabled",
			      col_index(st, "enabled") < 0 ||
				  sqlite3_column_type(st, col_index(st, "enabled")) ==
				      SQLITE_NULL ||
				  col_int(st, "enabled") != 0);
	/* v2.7's default source; an empty one would become XDrop's "api" */
	add_str(o, "source", col_text(st, "source") ? col_text(st, "source") : "manual");
	if (anomaly(st, o, reason, sizeof(reason))) {
		rc = row_fail(m, "rules", id, "decoder", reason);
		goto out;
	}
	if (col_text(st, "expires_at") && v2_time(st, "expires_at", &exp)) {
		rc = row_fail(m, "rules", id, "expires_at", "not a time");
		goto out;
	}
	if (exp && exp <= m->now) {
		snprintf(reason, sizeof(reason), "expired at %s",
			 json_format_time(exp, when, sizeof(when)));
		skip(m, "rules", id, reason);
		goto out;
	}
	if (exp)
		cJSON_AddStringToObject(o, "expires_at", json_format_time(exp, when, sizeof(when)));
	if (json_to_rule(o, "", (Xdrop__V1__Rule **)out, NULL, NULL, &e) ||
	    ctl_check_item(*out, "", &e))
		rc = row_fail(m, "rules", id, e.field[0] ? e.field : NULL, e.message);
out:
	if (rc) {
		ctl_msg_free(*out);
		*out = NULL;
	}
	cJSON_Delete(o);
	return rc;
}

/* The whitelist entry of one row: *out, or an exit code. */
static int wl_row(struct mig *m, sqlite3_stmt *st, void **out)
{
	cJSON *o = cJSON_CreateObject();
	struct json_error e = {0};
	int rc = CTL_EXIT_OK;

	*out = NULL;
	add_match(o, st);
	if (json_to_wl(o, "", (Xdrop__V1__WhitelistEntry **)out, &e) ||
	    ctl_check_item(*out, "", &e)) {
		rc = row_fail(m, "whitelist", col_text(st, "id"), e.field[0] ? e.field : NULL,
			      e.message);
		ctl_msg_free(*out);
		*out = NULL;
	}
	cJSON_Delete(o);
	return rc;
}

/*
 * Checks that table has the v2.x columns (required, NULL-terminated) and reads its rows
 * with row() into *items (*n of them, *rows read). Returns an exit code.
 */
static int read_table(struct mig *m, const char *table, const char *const *required,
		      int (*row)(struct mig *, sqlite3_stmt *, void **), void ***items, size_t *n,
		      size_t *rows)
{
	char sql[96];
	sqlite3_stmt *st = NULL;
	int rc = CTL_EXIT_OK, s;

	snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\" ORDER BY rowid", table);
	if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK) {
		rc = ctl_fail(CTL_EXIT_INVALID,
			      "%s: not an XDrop v2.7 controller database (table %s: %s)", m->path,
			      table, sqlite3_errmsg(m->db));
		goto out;
	}
	for (const char *const *c = required; *c; c++)
		if (col_index(st, *c) < 0) {
			rc = ctl_fail(CTL_EXIT_INVALID,
				      "%s: not an XDrop v2.7 controller database (table %s has "
				      "no column %s)",
				      m->path, table, *c);
			goto out;
		}
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		void **grown = realloc(*items, (*n + 1) * sizeof(**items));

		if (!grown) {
			rc = ctl_fail(CTL_EXIT_FAIL, "out of memory");
			goto out;
		}
		*items = grown;
		(*rows)++;
		rc = row(m, st, &grown[*n]);
		if (rc)
			goto out;
		*n += grown[*n] != NULL;
	}
	if (s != SQLITE_DONE)
		rc = ctl_fail(CTL_EXIT_FAIL, "%s: reading table %s: %s", m->path, table,
			      sqlite3_errmsg(m->db));
out:
	sqlite3_finalize(st);
	return rc;
}

/* Whether the file is this XDrop's own controller database (its revision table), whose
 * rules table has the v2.x column names too since schema 6. */
static bool xdrop_own(struct mig *m)
{
	sqlite3_stmt *st = NULL;
	bool own = false;

	if (sqlite3_prepare_v2(m->db,
			       "SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
			       "name = 'revision'",
			       -1, &st, NULL) == SQLITE_OK)
		own = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return own;
}

/* Opens the file read-only and reads both tables. Returns an exit code. */
static int mig_read(struct mig *m)
{
	int rc;

	if (sqlite3_open_v2(m->path, &m->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return ctl_fail(CTL_EXIT_INVALID, "%s: %s", m->path,
				m->db ? sqlite3_errmsg(m->db) : "cannot open");
	sqlite3_busy_timeout(m->db, 5000); /* a v2.7 controller may be writing */
	if (xdrop_own(m))
		return ctl_fail(CTL_EXIT_INVALID,
				"%s: not an XDrop v2.7 controller database (it is an XDrop "
				"controller's own: it has a revision table; restore it with "
				"xdrop-controller --restore, or give it as its database)",
				m->path);
	rc = read_table(m, "whitelist", wl_cols, wl_row, &m->wl, &m->n_wl, &m->rows_wl);
	if (!rc)
		rc = read_table(m, "rules", rule_cols, rule_row, &m->rules, &m->n_rules,
				&m->rows_rules);
	return rc;
}

/* ---- writing ---- */

/* One atomic BatchCreate of the n items of kind k; *ids (the ids created) on success.
 * Returns an exit code. */
static int batch(struct ctl *c, const struct kind *k, void **items, size_t n,
		 Xdrop__V1__BatchReply **reply)
{
	Xdrop__V1__BatchCreateRulesRequest rq = XDROP__V1__BATCH_CREATE_RULES_REQUEST__INIT;
	Xdrop__V1__BatchCreateWhitelistRequest wq = XDROP__V1__BATCH_CREATE_WHITELIST_REQUEST__INIT;
	ProtobufCMessage *req = &rq.base;

	*reply = NULL;
	if (k == &kind_rules) {
		rq.rules = (Xdrop__V1__Rule **)items, rq.n_rules = n, rq.atomic = true;
	} else {
		wq.entries = (Xdrop__V1__WhitelistEntry **)items, wq.n_entries = n;
		wq.atomic = true;
		req = &wq.base;
	}
	return ctl_call(c, k->svc, "BatchCreate", req, (ProtobufCMessage **)reply,
			CTL_BATCH_TIMEOUT_MS);
}

/* Whitelist first, then rules; the entries are deleted again if the rules are refused.
 * *rev receives the revision of the last change. Returns an exit code. */
static int mig_write(struct ctl *c, struct mig *m, uint64_t *rev)
{
	Xdrop__V1__BatchReply *wr = NULL, *rr = NULL;
	int rc = CTL_EXIT_OK;

	if (m->n_wl && (rc = batch(c, &kind_wl, m->wl, m->n_wl, &wr)))
		fprintf(stderr, "xdropctl: %s: the v2.7 whitelist was refused: nothing written\n",
			m->path);
	if (!rc && m->n_rules && (rc = batch(c, &kind_rules, m->rules, m->n_rules, &rr))) {
		Xdrop__V1__BatchDeleteRequest dq = XDROP__V1__BATCH_DELETE_REQUEST__INIT;
		ProtobufCMessage *r = NULL;

		fprintf(stderr, "xdropctl: %s: the v2.7 rules were refused: nothing written\n",
			m->path);
		if (wr && wr->n_ids) {
			dq.ids = wr->ids, dq.n_ids = wr->n_ids;
			if (ctl_call(c, kind_wl.svc, "BatchDelete", &dq.base, &r,
				     CTL_BATCH_TIMEOUT_MS))
				fprintf(stderr,
					"xdropctl: rollback incomplete: the %zu whitelist entries "
					"added remain\n",
					wr->n_ids);
			ctl_msg_free(r);
		}
	}
	*rev = rr && rr->sync ? rr->sync->revision : wr && wr->sync ? wr->sync->revision : 0;
	ctl_msg_free((ProtobufCMessage *)wr);
	ctl_msg_free((ProtobufCMessage *)rr);
	return rc;
}

/* ---- the report ---- */

static void print_report(const struct mig *m, bool dry_run, uint64_t rev)
{
	const cJSON *s;

	if (dry_run) {
		printf("would import %zu whitelist entries:\n", m->n_wl);
		ctl_print_wl((const Xdrop__V1__WhitelistEntry *const *)m->wl, m->n_wl);
		printf("would import %zu rules:\n", m->n_rules);
		ctl_print_rules((const Xdrop__V1__Rule *const *)m->rules, m->n_rules);
	} else {
		printf("migrated %zu rules and %zu whitelist entries from %s (revision %llu)\n",
		       m->n_rules, m->n_wl, m->path, (unsigned long long)rev);
	}
	printf("not carried over: %d\n", cJSON_GetArraySize(m->skipped));
	cJSON_ArrayForEach(s, m->skipped)
	    printf("  %s %s: %s\n", cJSON_GetObjectItem(s, "table")->valuestring,
		   cJSON_GetObjectItem(s, "id")->valuestring,
		   cJSON_GetObjectItem(s, "reason")->valuestring);
	printf("rules: %zu read, %zu %s, %zu not carried over\n", m->rows_rules, m->n_rules,
	       dry_run ? "to import" : "imported", m->skipped_rules);
	printf("whitelist: %zu read, %zu %s, %zu not carried over\n", m->rows_wl, m->n_wl,
	       dry_run ? "to import" : "imported", m->skipped_wl);
}

/* The report as one JSON object: dry_run, revision, rules and entries (to import or
 * imported), not_carried_over and counts. */
static int print_report_json(struct mig *m, bool dry_run, uint64_t rev)
{
	cJSON *o = cJSON_CreateObject(), *rules = cJSON_AddArrayToObject(o, "rules"),
	      *wl = cJSON_AddArrayToObject(o, "entries"), *n;
	int rc;

	cJSON_AddBoolToObject(o, "dry_run", dry_run);
	cJSON_AddNumberToObject(o, "revision", (double)rev);
	for (size_t i = 0; i < m->n_rules; i++)
		cJSON_AddItemToArray(rules, json_from_msg(m->rules[i]));
	for (size_t i = 0; i < m->n_wl; i++)
		cJSON_AddItemToArray(wl, json_from_msg(m->wl[i]));
	cJSON_AddItemReferenceToObject(o, "not_carried_over", m->skipped);
	n = cJSON_AddObjectToObject(o, "counts");
	cJSON_AddNumberToObject(n, "rules_read", (double)m->rows_rules);
	cJSON_AddNumberToObject(n, "rules", (double)m->n_rules);
	cJSON_AddNumberToObject(n, "rules_not_carried_over", (double)m->skipped_rules);
	cJSON_AddNumberToObject(n, "whitelist_read", (double)m->rows_wl);
	cJSON_AddNumberToObject(n, "entries", (double)m->n_wl);
	cJSON_AddNumberToObject(n, "entries_not_carried_over", (double)m->skipped_wl);
	rc = ctl_print_json(o);
	cJSON_Delete(o);
	return rc;
}

/* ---- the command ---- */

static void mig_free(struct mig *m)
{
	for (size_t i = 0; i < m->n_rules; i++)
		ctl_msg_free(m->rules[i]);
	for (size_t i = 0; i < m->n_wl; i++)
		ctl_msg_free(m->wl[i]);
	free(m->rules);
	free(m->wl);
	cJSON_Delete(m->skipped);
	sqlite3_close(m->db);
}

int cmd_migrate(struct ctl *c, const struct listopts *o, int argc, char **argv)
{
	struct mig m = {.path = o->from_xdrop2, .now = clock_wall_ns()};
	uint64_t rev = 0;
	int rc;

	(void)argv;
	if (!o->from_xdrop2 || argc)
		return ctl_fail(CTL_EXIT_USAGE, "usage: xdropctl migrate --from-xdrop2 FILE.db "
						"[--dry-run]");
	m.skipped = cJSON_CreateArray();
	if (!m.skipped)
		return ctl_fail(CTL_EXIT_FAIL, "out of memory");
	rc = mig_read(&m);
	if (!rc && (m.n_rules > c->batch || m.n_wl > c->batch))
		rc = ctl_fail(CTL_EXIT_INVALID,
			      "%s: %zu rules and %zu whitelist entries: more than one atomic "
			      "batch holds (%zu); nothing written",
			      m.path, m.n_rules, m.n_wl, c->batch);
	if (!rc && !o->dry_run)
		rc = mig_write(c, &m, &rev);
	if (!rc && c->json)
		rc = print_report_json(&m, o->dry_run, rev);
	else if (!rc && !c->quiet)
		print_report(&m, o->dry_run, rev);
	mig_free(&m);
	return rc;
}
