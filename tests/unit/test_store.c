// SPDX-License-Identifier: MIT
/*
 * test_store: the controller's rule set and rows in its SQLite store (controller/store/)
 * on real files in a temp directory: CRUD and revisions, the content hash against a
 * recomputation, duplicates and validation errors naming fields, 10,000-rule batches (one
 * revision, one delta, all or nothing), lists (search, filters, sort, pages), the change
 * log, expiry, SQL-injection and 1 MiB strings stored literally, nodes, API keys and
 * settings, a whole database copied into a SQLite file and back (db_copy). test_store_durability.c
 * has the file-level cases.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <sqlite3.h>

#include "nodekey.h"
#include "db.h"
#include "db_copy.h"
#include "rules.h"
#include "store_fixture.h"

/* ---- commit hook: counts deltas and remembers the last one's size --------------------- */
struct hook {
	unsigned calls;
	uint64_t last_rev;
	size_t last_ops;
};

static void on_commit(void *arg, const Xdrop__V1__Delta *d)
{
	struct hook *h = arg;

	assert_int_equal(d->base_revision + 1, d->revision);
	h->calls++;
	h->last_rev = d->revision;
	h->last_ops = d->n_ops;
}

static void test_crud_and_revisions(void **state)
{
	char path[128];
	struct store *s;
	struct store_error err = {0};
	struct hook hk = {0};
	struct store_rev rev;
	Xdrop__V1__Rule *got = NULL;
	struct trule a, b;
	Xdrop__V1__Rule *one[1];
	uint64_t r = 0;
	size_t idx = 99;

	db_path(path, sizeof(path));
	s = open_db(path, 0);
	store_set_commit_hook(s, on_commit, &hk);
	store_revision(s, &rev);
	assert_int_equal(rev.revision, 0);
	assert_string_equal(rev.hash,
			    "0000000000000000000000000000000000000000000000000000000000000000");

	make_rule(&a, 1);
	one[0] = &a.r;
	assert_int_equal(store_rules_add(s, one, 1, "rule", &r, &idx, &err), 0);
	assert_int_equal(r, 1);
	assert_int_equal(hk.calls, 1);
	assert_int_equal(store_rule_get(s, a.id, &got), 0);
	assert_string_equal(got->dst_ip, "10.0.0.1");
	xdrop__v1__rule__free_unpacked(got, NULL);
	check_hash(s);

	/* the same match under another id: ALREADY_EXISTS naming the existing id */
	make_rule(&b, 1);
	one[0] = &b.r;
	assert_int_equal(store_rules_add(s, one, 1, "rule", &r, &idx, &err), -EEXIST);
	assert_int_equal(err.code, STORE_EXISTS);
	assert_non_null(strstr(err.message, a.id));
	/* a bad field: INVALID_ARGUMENT with the field path */
	make_rule(&b, 2);
	b.r.dst_ip = "";
	b.r.dst_cidr = "10.0.0.1/8";
	assert_int_equal(store_rules_add(s, one, 1, "rule", &r, &idx, &err), -EINVAL);
	assert_int_equal(err.code, STORE_INVALID);
	assert_string_equal(err.field, "rule.dst_cidr");
	b.r.dst_cidr = "";
	b.r.dst_ip = "10.0.0.2";
	b.r.expires_at = -5;
	assert_int_equal(store_rules_add(s, one, 1, "rule", &r, &idx, &err), -EINVAL);
	assert_string_equal(err.field, "rule.expires_at");
	store_revision(s, &rev);
	assert_int_equal(rev.revision, 1);

	/* replace, then delete */
	a.r.name = "renamed";
	a.r.action = "rate_limit";
	a.r.rate_limit = 100;
	assert_int_equal(store_rule_replace(s, &a.r, &r, &err), 0);
	assert_int_equal(r, 2);
	assert_int_equal(store_rule_get(s, a.id, &got), 0);
	assert_string_equal(got->name, "renamed");
	xdrop__v1__rule__free_unpacked(got, NULL);
	check_hash(s);
	b.r.expires_at = 0;
	b.r.id = "nope";
	assert_int_equal(store_rule_replace(s, &b.r, &r, &err), -ENOENT);
	assert_int_equal(err.code, STORE_NOT_FOUND);

	const char *ids[] = {a.id};
	const char *missing[] = {"missing"};
	assert_int_equal(store_rules_delete(s, missing, 1, &r, &idx, &err), -ENOENT);
	assert_string_equal(err.field, "id");
	assert_int_equal(store_rules_delete(s, ids, 1, &r, &idx, &err), 0);
	assert_int_equal(r, 3);
	assert_int_equal(store_rule_get(s, a.id, &got), -ENOENT);
	store_revision(s, &rev);
	assert_int_equal(rev.rules, 0);
	assert_string_equal(rev.hash,
			    "0000000000000000000000000000000000000000000000000000000000000000");
	assert_int_equal(hk.calls, 3);

	/* whitelist */
	Xdrop__V1__WhitelistEntry w = XDROP__V1__WHITELIST_ENTRY__INIT, *wp = &w, *wgot = NULL;
	w.id = "wl-1";
	w.src_cidr = "192.168.0.0/16";
	assert_int_equal(store_wl_add(s, &wp, 1, "entry", &r, &idx, &err), 0);
	assert_int_equal(store_wl_add(s, &wp, 1, "entry", &r, &idx, &err), -EEXIST);
	w.id = "wl-2";
	w.src_cidr = "";
	assert_int_equal(store_wl_add(s, &wp, 1, "entry", &r, &idx, &err), -EINVAL);
	assert_int_equal(store_wl_get(s, "wl-1", &wgot), 0);
	assert_string_equal(wgot->src_cidr, "192.168.0.0/16");
	xdrop__v1__whitelist_entry__free_unpacked(wgot, NULL);
	check_hash(s);
	const char *wids[] = {"wl-1"};
	assert_int_equal(store_wl_delete(s, wids, 1, &r, &idx, &err), 0);
	check_hash(s);
	store_close(s);

	/* reopen: the revision and hash survive */
	s = open_db(path, 0);
	store_revision(s, &rev);
	assert_int_equal(rev.revision, 5);
	check_hash(s);
	store_close(s);
}

#ifdef XDROP_STORE_ON_DQLITE
/* ---- the db layer's dqlite backend: how statements are sent ----------------------------- */

/* A read with rows is a QUERY, a write an EXEC; a write with result columns (RETURNING:
 * as a query it would run outside Raft) is refused before anything is sent; what one
 * connection wrote another reads; SQL errors keep SQLite's codes and sentences. */
static void test_db_statements(void **state)
{
	char path[128];
	struct db *db = NULL, *other = NULL;
	struct db_stmt *st = NULL;

	db_path(path, sizeof(path));
	assert_int_equal(db_open(path, &db, 0, 10000), SQLITE_OK);
	assert_int_equal(db_exec(db, "CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER)"), SQLITE_OK);
	assert_int_equal(db_prepare(db, "INSERT INTO t VALUES(?1, ?2) RETURNING v", false, &st),
			 SQLITE_ERROR);
	assert_null(st);
	assert_non_null(strstr(db_errmsg(db), "RETURNING"));
	assert_int_equal(db_prepare(db, "INSERT INTO t VALUES(?1, ?2)", false, &st), SQLITE_OK);
	db_bind_text(st, 1, "a", -1, SQLITE_TRANSIENT);
	db_bind_int64(st, 2, 7);
	assert_int_equal(db_step(st), SQLITE_DONE);
	assert_int_equal(db_changes(db), 1);
	db_reset(st);
	assert_int_equal(db_step(st), SQLITE_CONSTRAINT_PRIMARYKEY);
	db_finalize(st);
	assert_int_equal(db_open(path, &other, 0, 10000), SQLITE_OK);
	assert_int_equal(db_prepare(other, "SELECT k, v FROM t", false, &st), SQLITE_OK);
	assert_int_equal(db_step(st), SQLITE_ROW);
	assert_string_equal((const char *)db_column_text(st, 0), "a");
	assert_int_equal(db_column_int64(st, 1), 7);
	assert_int_equal(db_step(st), SQLITE_DONE);
	db_finalize(st);
	assert_int_not_equal(db_prepare(other, "SELECT nope FROM t", false, &st), SQLITE_OK);
	assert_non_null(strstr(db_errmsg(other), "nope"));
	db_close(other);
	db_close(db);
}

/* ---- two controllers on one replicated database ---------------------------------------- */

struct writer {
	struct store *s;
	unsigned base;
	uint64_t revs[20];
};

static void *write_rules(void *arg)
{
	struct writer *w = arg;
	struct store_error err = {0};
	size_t idx;

	for (unsigned i = 0; i < 20; i++) {
		struct trule t;
		Xdrop__V1__Rule *one[1] = {&t.r};

		make_rule(&t, w->base + i);
		if (store_rules_add(w->s, one, 1, "rule", &w->revs[i], &idx, &err) != 0)
			w->revs[i] = 0;
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Two stores (two controllers) write the same database in turn and at once: every change
 * takes the replicated revision, so revisions are unique and without a gap, and each
 * store's content hash matches the entries after its own write. */
static void test_two_controllers(void **state)
{
	char path[128];
	struct writer w[2] = {{.base = 1000}, {.base = 2000}};
	struct store_error err = {0};
	struct store_rev rev;
	struct trule t;
	Xdrop__V1__Rule *one[1] = {&t.r};
	uint64_t r = 0, all[40];
	pthread_t th[2];
	size_t idx;

	db_path(path, sizeof(path));
	w[0].s = open_db(path, 0);
	w[1].s = open_db(path, 0);
	for (unsigned i = 0; i < 4; i++) {
		make_rule(&t, i);
		assert_int_equal(store_rules_add(w[i % 2].s, one, 1, "rule", &r, &idx, &err), 0);
		assert_int_equal(r, i + 1);
		check_hash(w[i % 2].s);
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, write_rules, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	memcpy(all, w[0].revs, sizeof(w[0].revs));
	memcpy(all + 20, w[1].revs, sizeof(w[1].revs));
	qsort(all, 40, sizeof(all[0]), cmp_u64);
	for (unsigned i = 0; i < 40; i++)
		assert_int_equal(all[i], 5 + i); /* every write acknowledged, once, in order */
	/* a follower's write is published by the leader when it catches up, once, in order */
	struct hook lead = {0}, follow = {0};

	assert_int_equal(store_catch_up(w[0].s), 0); /* no hook yet: memory only */
	store_set_commit_hook(w[0].s, on_commit, &lead);
	store_set_commit_hook(w[1].s, on_commit, &follow);
	store_set_publishing(w[1].s, false);
	lead.calls = 0;
	for (unsigned i = 0; i < 3; i++) {
		make_rule(&t, 3000 + i);
		assert_int_equal(store_rules_add(w[1].s, one, 1, "rule", &r, &idx, &err), 0);
	}
	assert_int_equal(follow.calls, 0);
	assert_int_equal(lead.calls, 0);
	assert_int_equal(store_catch_up(w[0].s), 0);
	assert_int_equal(lead.calls, 3);
	assert_int_equal(lead.last_rev, 47);
	assert_int_equal(store_catch_up(w[0].s), 0);
	assert_int_equal(lead.calls, 3);
	for (int i = 0; i < 2; i++) {
		store_set_commit_hook(w[i].s, NULL, NULL);
		assert_int_equal(store_reload(w[i].s), 0);
		store_revision(w[i].s, &rev);
		assert_int_equal(rev.revision, 47);
		assert_int_equal(rev.rules, 47);
		check_hash(w[i].s);
		store_close(w[i].s);
	}
}

/* ---- group commit: concurrent changes of one store share COMMITs ----------------------- */

struct chain {
	uint64_t last_rev; /* the deltas must arrive as a chain 1, 2, 3, ... */
	unsigned calls, breaks;
};

static void on_chain(void *arg, const Xdrop__V1__Delta *d)
{
	struct chain *c = arg; /* called under the writer lock: one at a time */

	if (d->base_revision != c->last_rev || d->revision != c->last_rev + 1)
		c->breaks++;
	c->last_rev = d->revision;
	c->calls++;
}

#define GROUP_ROUNDS 16

struct grouper {
	struct store *s;
	unsigned base;
	uint64_t revs[GROUP_ROUNDS / 2];
	unsigned failed_ok; /* refused batches, as expected */
};

/* Even rounds add one rule; odd rounds a batch of two rules with one match, which fails at
 * its second op after the first was written (rolled back alone within the group). */
static void *group_writes(void *arg)
{
	struct grouper *g = arg;
	struct store_error err = {0};
	size_t idx;

	for (unsigned i = 0; i < GROUP_ROUNDS; i++) {
		struct trule t[2];
		Xdrop__V1__Rule *two[2] = {&t[0].r, &t[1].r};

		make_rule(&t[0], g->base + i);
		make_rule(&t[1], g->base + i);
		if (i % 2 == 0 &&
		    store_rules_add(g->s, two, 1, "rule", &g->revs[i / 2], &idx, &err) != 0)
			g->revs[i / 2] = 0;
		if (i % 2 == 1 &&
		    store_rules_add(g->s, two, 2, "rules", NULL, &idx, &err) == -EEXIST && idx == 1)
			g->failed_ok++;
	}
	return NULL;
}

/* Four threads writing through one store at once: their changes share transactions, yet
 * every successful one has its own revision (1..32, each once), its own delta published in
 * order, and a refused one leaves nothing behind, in memory or in the database. */
static void test_group_commit(void **state)
{
	char path[128];
	struct grouper g[4];
	struct chain c = {0};
	struct store_rev rev;
	struct store *other;
	uint64_t all[4 * GROUP_ROUNDS / 2];
	pthread_t th[4];
	unsigned n = 0;

	db_path(path, sizeof(path));
	g[0].s = open_db(path, 0);
	store_set_commit_hook(g[0].s, on_chain, &c);
	for (unsigned i = 0; i < 4; i++) {
		g[i] = (struct grouper){.s = g[0].s, .base = 100 * (i + 1)};
		assert_int_equal(pthread_create(&th[i], NULL, group_writes, &g[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(g[i].failed_ok, GROUP_ROUNDS / 2);
		memcpy(all + n, g[i].revs, sizeof(g[i].revs));
		n += GROUP_ROUNDS / 2;
	}
	qsort(all, n, sizeof(all[0]), cmp_u64);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(all[i], i + 1);
	assert_int_equal(c.calls, n);
	assert_int_equal(c.breaks, 0);
	store_revision(g[0].s, &rev);
	assert_int_equal(rev.revision, n);
	assert_int_equal(rev.rules, n);
	check_hash(g[0].s);
	store_set_commit_hook(g[0].s, NULL, NULL);
	other = open_db(path, 0); /* what was committed, read afresh */
	store_revision(other, &rev);
	assert_int_equal(rev.revision, n);
	assert_int_equal(rev.rules, n);
	check_hash(other);
	store_close(other);
	store_close(g[0].s);
}
#endif

static void test_batch_10000(void **state)
{
	char path[128];
	struct store *s;
	struct store_error err = {0};
	struct hook hk = {0};
	struct store_rev rev;
	Xdrop__V1__Rule **ptrs;
	struct trule *v;
	uint64_t r = 0;
	size_t idx = 0;
	double t0, t1;

	db_path(path, sizeof(path));
	s = open_db(path, 0);
	store_set_commit_hook(s, on_commit, &hk);
	v = make_rules(10000, 0, &ptrs);

	/* a bad rule in the middle: nothing is stored */
	v[5000].r.protocol = "bogus";
	assert_int_equal(store_rules_add(s, ptrs, 10000, "rules", &r, &idx, &err), -EINVAL);
	assert_int_equal(idx, 5000);
	assert_string_equal(err.field, "rules[5000].protocol");
	/* a duplicate inside the batch */
	v[5000].r.protocol = "udp";
	v[7000].r.dst_ip = v[10].ip;
	assert_int_equal(store_rules_add(s, ptrs, 10000, "rules", &r, &idx, &err), -EEXIST);
	assert_int_equal(idx, 7000);
	assert_non_null(strstr(err.message, v[10].id));
	v[7000].r.dst_ip = v[7000].ip;
	store_revision(s, &rev);
	assert_int_equal(rev.revision, 0);
	assert_int_equal(rev.rules, 0);
	assert_int_equal(hk.calls, 0);

	t0 = now_s();
	assert_int_equal(store_rules_add(s, ptrs, 10000, "rules", &r, &idx, &err), 0);
	t1 = now_s();
	print_message("# 10,000-rule batch insert: %.0f ms (ASan build)\n", (t1 - t0) * 1e3);
	assert_int_equal(r, 1);
	assert_int_equal(hk.calls, 1);
	assert_int_equal(hk.last_ops, 10000);
	check_hash(s);

	/* the change log holds it as one delta */
	Xdrop__V1__Delta **d = NULL;
	size_t nd = 0;
	bool complete = false;
	assert_int_equal(store_deltas(s, 0, 10, &d, &nd, &complete), 0);
	assert_int_equal(nd, 1);
	assert_true(complete);
	assert_int_equal(d[0]->n_ops, 10000);
	store_free_deltas(d, nd);

	const char **ids = calloc(10000, sizeof(*ids));
	for (int i = 0; i < 10000; i++)
		ids[i] = v[i].id;
	t0 = now_s();
	assert_int_equal(store_rules_delete(s, ids, 10000, &r, &idx, &err), 0);
	print_message("# 10,000-rule batch delete: %.0f ms\n", (now_s() - t0) * 1e3);
	store_revision(s, &rev);
	assert_int_equal(rev.rules, 0);
	assert_int_equal(rev.revision, 2);
	/* the store's own cap is the staged one (refused before any item is read) */
	assert_int_equal(
	    store_rules_add(s, ptrs, XDROP_STAGE_MAX_ITEMS + 1, "rules", &r, &idx, &err), -E2BIG);
	free(ids);
	free(ptrs);
	free(v);
	store_close(s);
}

static void test_lists(void **state)
{
	char path[128];
	struct store *s;
	struct store_error err = {0};
	Xdrop__V1__Rule **ptrs, **out = NULL;
	struct trule *v;
	uint64_t r, total = 0;
	size_t idx, n = 0;
	char names[30][16];

	db_path(path, sizeof(path));
	s = open_db(path, 0);
	v = make_rules(30, 100, &ptrs);
	for (int i = 0; i < 30; i++) {
		snprintf(names[i], sizeof(names[i]), "n%02d%s", 29 - i, i % 3 ? "" : "-web");
		v[i].r.name = names[i];
		v[i].r.enabled = i % 2;
		if (i % 5 == 0) {
			v[i].r.action = "rate_limit";
			v[i].r.rate_limit = 10;
		}
	}
	assert_int_equal(store_rules_add(s, ptrs, 30, "rules", &r, &idx, &err), 0);

	struct store_query q = {.enabled = -1};
	assert_int_equal(store_rule_list(s, &q, &out, &n, &total), 0);
	assert_int_equal(total, 30);
	assert_int_equal(n, 30);
	assert_string_equal(out[0]->id, v[0].id); /* created_at order */
	store_free_rules(out, n);

	q = (struct store_query){.enabled = 1, .search = "WEB"};
	assert_int_equal(store_rule_list(s, &q, &out, &n, &total), 0);
	assert_int_equal(total, 5); /* i % 3 == 0 and odd: 3, 9, 15, 21, 27 */
	store_free_rules(out, n);

	q = (struct store_query){.enabled = -1, .action = "rate_limit", .sort = "name"};
	assert_int_equal(store_rule_list(s, &q, &out, &n, &total), 0);
	assert_int_equal(n, 6);
	assert_string_equal(out[0]->name, "n04");
	store_free_rules(out, n);

	q = (struct store_query){
	    .enabled = -1, .sort = "name", .desc = true, .page = 2, .limit = 7};
	assert_int_equal(store_rule_list(s, &q, &out, &n, &total), 0);
	assert_int_equal(total, 30);
	assert_int_equal(n, 7);
	assert_string_equal(out[0]->name, "n22");
	store_free_rules(out, n);

	q = (struct store_query){.enabled = -1, .search = "10.0.0.127"};
	assert_int_equal(store_rule_list(s, &q, &out, &n, &total), 0);
	assert_int_equal(total, 1);
	store_free_rules(out, n);
	assert_true(store_sort_field_ok(STORE_RULES, "dst_port"));
	assert_false(store_sort_field_ok(STORE_RULES, "pb"));
	assert_false(store_sort_field_ok(STORE_WHITELIST, "action"));
	free(ptrs);
	free(v);
	store_close(s);
}

static void test_literal_strings(void **state)
{
	static const char *const evil[] = {
	    "'; DROP TABLE rules; --",
	    "\" OR 1=1 --",
	    "Robert'); DELETE FROM rules WHERE ('1'='1",
	    "%_\\%",
	    "\xe2\x98\x83 snow",
	};
	char path[128];
	struct store *s;
	struct store_error err = {0};
	Xdrop__V1__Rule *got, **out;
	struct trule t;
	Xdrop__V1__Rule *one[1] = {&t.r};
	uint64_t r, total;
	size_t idx, n;
	char *big = malloc(XDROP_STORE_MAX_TEXT + 2);

	db_path(path, sizeof(path));
	s = open_db(path, 0);
	for (unsigned i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		make_rule(&t, 1000 + i);
		t.r.name = t.r.comment = t.r.source = (char *)evil[i];
		assert_int_equal(store_rules_add(s, one, 1, "rule", &r, &idx, &err), 0);
		assert_int_equal(store_rule_get(s, t.id, &got), 0);
		assert_string_equal(got->name, evil[i]);
		assert_string_equal(got->comment, evil[i]);
		xdrop__v1__rule__free_unpacked(got, NULL);
		struct store_query q = {.enabled = -1, .search = evil[i], .sort = evil[i]};
		assert_int_equal(store_rule_list(s, &q, &out, &n, &total), 0);
		assert_int_equal(total, 1);
		store_free_rules(out, n);
	}
	/* 1 MiB of text in every free-text field, then one byte too many */
	memset(big, 'x', XDROP_STORE_MAX_TEXT);
	big[0] = '\'';
	big[XDROP_STORE_MAX_TEXT] = '\0';
	make_rule(&t, 2000);
	t.r.name = t.r.comment = t.r.source = big;
	assert_int_equal(store_rules_add(s, one, 1, "rule", &r, &idx, &err), 0);
	assert_int_equal(store_rule_get(s, t.id, &got), 0);
	assert_int_equal(strlen(got->name), XDROP_STORE_MAX_TEXT);
	assert_memory_equal(got->comment, big, XDROP_STORE_MAX_TEXT);
	assert_string_equal(got->source, big);
	xdrop__v1__rule__free_unpacked(got, NULL);
	big[XDROP_STORE_MAX_TEXT] = 'x';
	big[XDROP_STORE_MAX_TEXT + 1] = '\0';
	make_rule(&t, 2001);
	t.r.comment = big;
	assert_int_equal(store_rules_add(s, one, 1, "rule", &r, &idx, &err), -EINVAL);
	assert_string_equal(err.field, "rule.comment");
	check_hash(s);
	store_close(s);
	assert_int_equal(store_integrity_check(path), 0);
	free(big);
}

static void test_changelog_and_expiry(void **state)
{
	char path[128];
	struct store *s;
	struct store_error err = {0};
	Xdrop__V1__Delta **d;
	struct trule t[10];
	Xdrop__V1__Rule *one[1];
	uint64_t r;
	size_t idx, n, count;
	bool complete;

	db_path(path, sizeof(path));
	s = open_db(path, 5); /* keep 5 revisions */
	for (unsigned i = 0; i < 10; i++) {
		make_rule(&t[i], 3000 + i);
		t[i].r.expires_at = i < 4 ? clock_wall_ns() - 1 : 0;
		one[0] = &t[i].r;
		assert_int_equal(store_rules_add(s, one, 1, "rule", &r, &idx, &err), 0);
	}
	assert_int_equal(store_deltas(s, 0, 0, &d, &n, &complete), 0);
	assert_false(complete);
	store_free_deltas(d, n);
	assert_int_equal(store_deltas(s, 5, 0, &d, &n, &complete), 0);
	assert_true(complete);
	assert_int_equal(n, 5);
	assert_int_equal(d[0]->revision, 6);
	assert_int_equal(d[4]->revision, 10);
	store_free_deltas(d, n);
	assert_int_equal(store_deltas(s, 10, 0, &d, &n, &complete), 0);
	assert_true(complete);
	assert_int_equal(n, 0);
	store_free_deltas(d, n);

	assert_int_equal(store_rules_expire(s, clock_wall_ns(), &count, &r), 0);
	assert_int_equal(count, 4);
	assert_int_equal(r, 11);
	assert_int_equal(store_rules_expire(s, clock_wall_ns(), &count, &r), 0);
	assert_int_equal(count, 0);
	struct store_rev rev;
	store_revision(s, &rev);
	assert_int_equal(rev.revision, 11);
	assert_int_equal(rev.rules, 6);
	check_hash(s);
	store_close(s);
}

static void test_nodes_keys_settings(void **state)
{
	char path[128];
	struct store *s;
	struct store_node sn, *list;
	struct store_key k = {0}, kg, *keys;
	Xdrop__V1__Node node = XDROP__V1__NODE__INIT;
	size_t n;
	char *v;

	db_path(path, sizeof(path));
	s = open_db(path, 0);
	node.id = "n1";
	node.name = "edge 1";
	node.address = "tcp://127.0.0.1:7600";
	assert_int_equal(store_node_add(s, &node, "secret"), 0);
	assert_int_equal(store_node_add(s, &node, "secret"), -EEXIST);
	node.name = "edge one";
	assert_int_equal(store_node_update(s, &node), 0);
	assert_int_equal(store_node_get(s, "n1", &sn), 0);
	assert_string_equal(sn.node->name, "edge one");
	/* the key is stored as its record (verifier + beacon key), never as given */
	assert_true(nodekey_is_record(sn.cred));
	assert_true(nodekey_verify(sn.cred, "secret"));
	assert_false(nodekey_verify(sn.cred, "secreT"));
	assert_null(strstr(sn.cred, "secret"));
	store_node_free(&sn);
	assert_int_equal(store_node_list(s, &list, &n), 0);
	assert_int_equal(n, 1);
	store_free_nodes(list, n);
	assert_int_equal(store_node_delete(s, "n1"), 0);
	assert_int_equal(store_node_delete(s, "n1"), -ENOENT);
	node.id = "ghost";
	assert_int_equal(store_node_update(s, &node), -ENOENT);

	snprintf(k.id, sizeof(k.id), "k1");
	k.name = "ops";
	snprintf(k.scope, sizeof(k.scope), "admin");
	memset(k.salt, 7, sizeof(k.salt));
	memset(k.hash, 9, sizeof(k.hash));
	assert_int_equal(store_key_put(s, &k, false), 0);
	assert_int_equal(store_key_put(s, &k, false), -EEXIST);
	assert_int_equal(store_key_touch(s, "k1", 42), 0);
	assert_int_equal(store_key_get(s, "k1", &kg), 0);
	assert_int_equal(kg.last_used_at, 42);
	assert_memory_equal(kg.hash, k.hash, sizeof(k.hash));
	free(kg.name);
	assert_int_equal(store_key_list(s, &keys, &n), 0);
	assert_int_equal(n, 1);
	store_free_keys(keys, n);
	assert_int_equal(store_key_delete(s, "k1"), 0);
	assert_int_equal(store_key_get(s, "k1", &kg), -ENOENT);

	assert_int_equal(store_setting_get(s, "x", &v), -ENOENT);
	assert_int_equal(store_setting_set(s, "x", "1"), 0);
	assert_int_equal(store_setting_set(s, "x", "2"), 0);
	assert_int_equal(store_setting_get(s, "x", &v), 0);
	assert_string_equal(v, "2");
	free(v);
	store_close(s);
}

/* ---- db_copy: backup, restore, conversion (controller/store/db_copy.h) ------------------ */

/* A store on the test's backend (a SQLite file, or a database on the dqlite cluster) with
 * more rules than one copy page, in several revisions, and a setting, copied into a new
 * SQLite file and from that into a fresh database of the backend: each copy opens as a
 * store at the same revision, hash and rule count, with the setting; a copy into a database
 * that holds something is refused and changes nothing. */
static void test_db_copy(void **state)
{
	char src[128], file[160], back[128];
	struct store *s, *c;
	struct store_error err = {0};
	struct store_rev r0, r1;
	struct db_copy_stats st;
	struct db *from = NULL, *to = NULL;
	Xdrop__V1__Rule **ptrs;
	struct trule *v;
	char msg[256], *val = NULL;
	uint64_t rev;
	size_t idx;

	db_path(src, sizeof(src));
	s = open_db(src, 0);
	v = make_rules(XDROP_DB_COPY_PAGE * 2 + 7, 0, &ptrs);
	assert_int_equal(store_rules_add(s, ptrs, XDROP_DB_COPY_PAGE, "rules", &rev, &idx, &err),
			 0);
	assert_int_equal(store_rules_add(s, ptrs + XDROP_DB_COPY_PAGE, XDROP_DB_COPY_PAGE + 7,
					 "rules", &rev, &idx, &err),
			 0);
	assert_int_equal(store_setting_set(s, "copied", "yes"), 0);
	store_revision(s, &r0);

	snprintf(file, sizeof(file), "%s/copy%d.db", dir, seq++);
	assert_int_equal(db_open(src, &from, SQLITE_OPEN_READONLY, 10000), SQLITE_OK);
	assert_int_equal(db_open(file, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 0),
			 SQLITE_OK);
	assert_int_equal(db_copy(from, to, &st, msg, sizeof(msg)), 0);
	assert_true(st.rows > XDROP_DB_COPY_PAGE * 2 + 7);
	assert_true(st.tables >= 8);
	assert_int_equal(db_copy(from, to, &st, msg, sizeof(msg)), -EEXIST);
	assert_non_null(strstr(msg, "not empty"));
	db_close(to);
	db_close(from);

	c = open_db(file, 0);
	store_revision(c, &r1);
	assert_int_equal(r1.revision, r0.revision);
	assert_int_equal(r1.rules, r0.rules);
	assert_string_equal(r1.hash, r0.hash);
	check_hash(c);
	assert_int_equal(store_setting_get(c, "copied", &val), 0);
	assert_string_equal(val, "yes");
	free(val);
	store_close(c);

	/* and back into the backend (on dqlite: a SQLite file into the cluster) */
	db_path(back, sizeof(back));
	assert_int_equal(db_open(file, &from, SQLITE_OPEN_READONLY, 0), SQLITE_OK);
	assert_int_equal(db_open(back, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 10000),
			 SQLITE_OK);
	assert_int_equal(db_copy(from, to, &st, msg, sizeof(msg)), 0);
	db_close(to);
	db_close(from);
	c = open_db(back, 0);
	store_revision(c, &r1);
	assert_int_equal(r1.revision, r0.revision);
	assert_string_equal(r1.hash, r0.hash);
	check_hash(c);
	store_close(c);
	store_close(s);
	free(ptrs);
	free(v);
}

/* What db_copy refuses, naming it: a FLOAT value, a table name it would have to quote. */
static void test_db_copy_refusals(void **state)
{
	static const char *const schemas[] = {
	    "CREATE TABLE f(x); INSERT INTO f VALUES(1.5)",
	    "CREATE TABLE \"a b\"(x); INSERT INTO \"a b\" VALUES(1)",
	};
	static const char *const why[] = {"FLOAT", "a b"};

	for (size_t i = 0; i < 2; i++) {
		char src[160], dst[160], msg[256];
		struct db *from = NULL, *to = NULL;
		struct db_copy_stats st;
		const int rw = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

		snprintf(src, sizeof(src), "%s/bad%d.db", dir, seq++);
		snprintf(dst, sizeof(dst), "%s/bad%d.db", dir, seq++);
		assert_int_equal(db_open(src, &from, rw, 0), SQLITE_OK);
		assert_int_equal(db_exec(from, schemas[i]), SQLITE_OK);
		assert_int_equal(db_open(dst, &to, rw, 0), SQLITE_OK);
		assert_int_equal(db_copy(from, to, &st, msg, sizeof(msg)), -EINVAL);
		assert_non_null(strstr(msg, why[i]));
		db_close(to);
		db_close(from);
	}
}

/* The version-1 schema exactly as it shipped, written by hand into a new file. */
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crud_and_revisions),
	    cmocka_unit_test(test_batch_10000),
	    cmocka_unit_test(test_lists),
	    cmocka_unit_test(test_literal_strings),
	    cmocka_unit_test(test_changelog_and_expiry),
	    cmocka_unit_test(test_nodes_keys_settings),
	    cmocka_unit_test(test_db_copy),
	    cmocka_unit_test(test_db_copy_refusals),
#ifdef XDROP_STORE_ON_DQLITE
	    cmocka_unit_test(test_db_statements),
	    cmocka_unit_test(test_two_controllers),
	    cmocka_unit_test(test_group_commit),
#endif
	};

	return cmocka_run_group_tests_name("store", tests, store_group_setup, store_group_teardown);
}
