// SPDX-License-Identifier: MIT
/*
 * test_store_durability: the controller's store as a file (controller/store/): migration
 * of a hand-made version-1 file, 20 concurrent writer threads, a write lock held by
 * another connection (UNAVAILABLE, not out of memory), one store per database file (the
 * lock file), and kill -9 of a process running 10,000-rule batches at 45 points chosen by
 * its progress (after an add, after a delete, inside a batch), each followed by
 * integrity_check and an all-or-nothing check.
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

#include "../lib/capture.h"
#include "nodekey.h"
#include "rules.h"
#include "store_fixture.h"

static const char v1_schema[] =
    "CREATE TABLE schema_version(version INTEGER NOT NULL);"
    "INSERT INTO schema_version VALUES(1);"
    "CREATE TABLE rules(id TEXT PRIMARY KEY, match_key TEXT NOT NULL UNIQUE,"
    " name TEXT NOT NULL, action TEXT NOT NULL, enabled INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    " src TEXT NOT NULL, dst TEXT NOT NULL, src_port INTEGER NOT NULL,"
    " dst_port INTEGER NOT NULL, protocol TEXT NOT NULL, rate_limit INTEGER NOT NULL,"
    " comment TEXT NOT NULL, source TEXT NOT NULL, digest BLOB NOT NULL, pb BLOB NOT NULL);"
    "CREATE TABLE whitelist(id TEXT PRIMARY KEY, match_key TEXT NOT NULL UNIQUE,"
    " name TEXT NOT NULL, src TEXT NOT NULL, dst TEXT NOT NULL, src_port INTEGER NOT NULL,"
    " dst_port INTEGER NOT NULL, protocol TEXT NOT NULL, comment TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, digest BLOB NOT NULL, pb BLOB NOT NULL);"
    "CREATE TABLE nodes(id TEXT PRIMARY KEY, name TEXT NOT NULL, address TEXT NOT NULL,"
    " comment TEXT NOT NULL, key TEXT NOT NULL, created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "CREATE TABLE changes(revision INTEGER PRIMARY KEY, created_at INTEGER NOT NULL,"
    " delta BLOB NOT NULL);"
    "CREATE TABLE api_keys(id TEXT PRIMARY KEY, name TEXT NOT NULL, scope TEXT NOT NULL,"
    " salt BLOB NOT NULL, hash BLOB NOT NULL, created_at INTEGER NOT NULL);"
    "CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE revision(id INTEGER PRIMARY KEY CHECK (id = 1), revision INTEGER NOT NULL,"
    " content_hash TEXT NOT NULL);"
    "INSERT INTO api_keys VALUES('old', 'legacy', 'admin', zeroblob(16), zeroblob(32), 1);"
    "INSERT INTO nodes VALUES('n-old', 'old node', 'tcp://127.0.0.1:1', '', 'k', 1, 1);";

static void test_migrate_v1_file(void **state)
{
	char path[128], hex[RULEHASH_HEX];
	sqlite3 *db;
	sqlite3_stmt *st;
	struct trule t;
	uint8_t digest[RULEHASH_LEN], *pb;
	struct rulehash h;
	size_t len;
	struct store *s;
	struct store_rev rev;
	struct store_key k;
	struct store_node sn;
	Xdrop__V1__Rule *got;

	db_path(path, sizeof(path));
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, v1_schema, NULL, NULL, NULL), SQLITE_OK);
	make_rule(&t, 4242);
	len = xdrop__v1__rule__get_packed_size(&t.r);
	pb = malloc(len);
	xdrop__v1__rule__pack(&t.r, pb);
	assert_int_equal(rulehash_rule_digest(&t.r, digest), 0);
	rulehash_init(&h);
	rulehash_add(&h, digest);
	rulehash_hex(&h, hex);
	assert_int_equal(
	    sqlite3_prepare_v2(db,
			       "INSERT INTO rules VALUES(?1, 'k', 'rule', 'drop', 1, 0,"
			       " 1, 1, '', '10.0.16.146', 0, 0, 'udp', 0, '', 'test',"
			       " ?2, ?3)",
			       -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(st, 1, t.id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, digest, RULEHASH_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, pb, (int)len, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "INSERT INTO revision VALUES(1, 7, ?1)", -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(pb);

	s = open_db(path, 0);
	store_revision(s, &rev);
	assert_int_equal(rev.revision, 7);
	assert_int_equal(rev.rules, 1);
	assert_string_equal(rev.hash, hex);
	assert_int_equal(store_rule_get(s, t.id, &got), 0);
	assert_string_equal(got->dst_ip, t.ip);
	xdrop__v1__rule__free_unpacked(got, NULL);
	assert_int_equal(store_key_get(s, "old", &k), 0); /* the new column has its default */
	assert_int_equal(k.last_used_at, 0);
	assert_string_equal(k.name, "legacy");
	free(k.name);
	assert_int_equal(store_key_touch(s, "old", 5), 0);
	assert_int_equal(store_node_get(s, "n-old", &sn), 0); /* migration 4: key -> record */
	assert_true(nodekey_is_record(sn.cred));
	assert_true(nodekey_verify(sn.cred, "k"));
	store_node_free(&sn);
	store_close(s);

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), XDROP_STORE_SCHEMA_VERSION);
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(store_integrity_check(path), 0);

	/* a file from the future is refused */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "UPDATE schema_version SET version = 99", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	struct store_opts o = {.sz = sizeof(o), .path = path};
	assert_int_equal(store_open(&s, &o), -EPROTO);
}

/* The closed database file at path passes the integrity check and count_sql counts 0. */
static void closed_file_none(const char *path, const char *count_sql)
{
	sqlite3_stmt *st;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, count_sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(store_integrity_check(path), 0);
}

/* A version-1 file with 300 rules, opened: migrated to the current schema (through the
 * creation-order indexes of migration 2, dropped by 5) with every rule intact, field for
 * field, the count and the content hash the same, the dropped indexes gone. */
static void test_migrate_keeps_every_rule(void **state)
{
	enum { N = 300 };
	char path[128], hex[RULEHASH_HEX];
	Xdrop__V1__Rule **ptrs, *got;
	struct trule *v = make_rules(N, 7000, &ptrs);
	struct store_rev rev;
	struct rulehash h;
	struct store *s;
	sqlite3_stmt *st;
	sqlite3 *db;

	(void)state;
	db_path(path, sizeof(path));
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, v1_schema, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "INSERT INTO rules VALUES(?1, ?2, 'rule', 'drop', 1, 0,"
					    " ?3, ?3, '', ?4, 0, 0, 'udp', 0, '', 'test', ?5, ?6)",
					    -1, &st, NULL),
			 SQLITE_OK);
	rulehash_init(&h);
	for (int i = 0; i < N; i++) {
		size_t len = xdrop__v1__rule__get_packed_size(&v[i].r);
		uint8_t digest[RULEHASH_LEN], *pb = malloc(len);

		xdrop__v1__rule__pack(&v[i].r, pb);
		assert_int_equal(rulehash_rule_digest(&v[i].r, digest), 0);
		rulehash_add(&h, digest);
		sqlite3_bind_text(st, 1, v[i].id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, v[i].ip, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, v[i].r.created_at);
		sqlite3_bind_text(st, 4, v[i].ip, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 5, digest, RULEHASH_LEN, SQLITE_TRANSIENT);
		sqlite3_bind_blob(st, 6, pb, (int)len, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
		free(pb);
	}
	sqlite3_finalize(st);
	rulehash_hex(&h, hex);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "INSERT INTO revision VALUES(1, 9, ?1)", -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);

	s = open_db(path, 0);
	store_revision(s, &rev);
	assert_int_equal(rev.revision, 9);
	assert_int_equal(rev.rules, N);
	assert_string_equal(rev.hash, hex);
	for (int i = 0; i < N; i++) {
		assert_int_equal(store_rule_get(s, v[i].id, &got), 0);
		assert_string_equal(got->dst_ip, v[i].ip);
		assert_string_equal(got->source, "test");
		assert_int_equal(got->created_at, v[i].r.created_at);
		assert_true(got->enabled);
		xdrop__v1__rule__free_unpacked(got, NULL);
	}
	store_close(s);
	closed_file_none(path, "SELECT count(*) FROM sqlite_schema WHERE name IN"
			       " ('rules_created', 'whitelist_created')");
	free(v);
	free(ptrs);
}

/* Inserts an entry's packed message into a version-1 table (sql binds id, digest, pb) and
 * adds its digest to h. */
static void put_v1(sqlite3 *db, const char *sql, const ProtobufCMessage *m, const char *id,
		   struct rulehash *h)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t digest[RULEHASH_LEN], *pb = malloc(len);
	sqlite3_stmt *st;

	assert_non_null(pb);
	protobuf_c_message_pack(m, pb);
	assert_int_equal(rulehash_digest(m, digest), 0);
	rulehash_add(h, digest);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, digest, RULEHASH_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, pb, (int)len, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	free(pb);
}

/* The packed bytes of a and b are the same. */
static void same_bytes(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t la = protobuf_c_message_get_packed_size(a),
	       lb = protobuf_c_message_get_packed_size(b);
	uint8_t *pa = malloc(la + 1), *pbb = malloc(lb + 1);

	assert_int_equal(la, lb);
	protobuf_c_message_pack(a, pa);
	protobuf_c_message_pack(b, pbb);
	assert_memory_equal(pa, pbb, la);
	free(pa);
	free(pbb);
}

/*
 * Migration 6 (compact rows, store_row.c) on a file of the previous layout holding rules
 * and whitelist entries that use every kind of field (CIDRs, ports, rate limits, flags,
 * texts, expiry, anomaly bits; ids of any form): every entry comes back byte for byte, the
 * revision and the content hash are the ones stored, the old columns are gone, and the
 * migrated rows still refuse a duplicate match and count in the hash when deleted.
 */
static void test_migrate_compact_rows(void **state)
{
	static const char rule_sql[] = "INSERT INTO rules VALUES(?1, ?1, 'x', 'drop', 1, 0, 1, 1,"
				       " '', '', 0, 0, '', 0, '', '', ?2, ?3)";
	static const char wl_sql[] = "INSERT INTO whitelist VALUES(?1, ?1, 'x', '', '', 0, 0, '',"
				     " '', 1, ?2, ?3)";
	Xdrop__V1__Rule r[4];
	Xdrop__V1__WhitelistEntry w[2];
	char path[128], hex[RULEHASH_HEX];
	struct store_error err = {0};
	struct rulehash h;
	struct store_rev rev;
	struct store *s;
	sqlite3_stmt *st;
	sqlite3 *db;
	size_t idx;
	uint64_t nrev;

	(void)state;
	for (int i = 0; i < 4; i++) {
		xdrop__v1__rule__init(&r[i]);
		r[i].action = "drop";
		r[i].enabled = i != 2;
		r[i].created_at = 1700000000000000000ll + i;
		r[i].updated_at = r[i].created_at + 5;
	}
	r[0].id = "rule_old00001";
	r[0].name = "named rule";
	r[0].src_cidr = "10.1.0.0/16";
	r[0].dst_port = 443;
	r[0].protocol = "tcp";
	r[0].tcp_flags = "SYN,!ACK";
	r[0].comment = "a comment";
	r[0].source = "feed-a";
	r[1].id = "0190f0f0-aaaa-7bbb-8ccc-dddddddddddd";
	r[1].dst_ip = "2001:db8::1";
	r[1].src_port = 53;
	r[1].protocol = "udp";
	r[1].action = "rate_limit";
	r[1].rate_limit = 300000;
	r[1].burst = 1000;
	r[1].pkt_len_min = 64;
	r[1].pkt_len_max = 1500;
	r[1].expires_at = 4000000000000000000ll;
	r[2].id = "r2";
	r[2].src_ip = "192.0.2.7";
	r[2].dst_cidr = "198.51.100.0/24";
	r[2].action = "pass";
	r[3].id = "r3";
	r[3].dst_ip = "203.0.113.9";
	r[3].match_anomaly = 2;
	for (int i = 0; i < 2; i++)
		xdrop__v1__whitelist_entry__init(&w[i]);
	w[0].id = "w0";
	w[0].name = "office";
	w[0].src_cidr = "192.0.2.0/24";
	w[0].comment = "never dropped";
	w[0].created_at = 17;
	w[1].id = "w1";
	w[1].dst_ip = "198.51.100.1";
	w[1].dst_port = 22;
	w[1].protocol = "tcp";

	db_path(path, sizeof(path));
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, v1_schema, NULL, NULL, NULL), SQLITE_OK);
	rulehash_init(&h);
	for (int i = 0; i < 4; i++)
		put_v1(db, rule_sql, &r[i].base, r[i].id, &h);
	for (int i = 0; i < 2; i++)
		put_v1(db, wl_sql, &w[i].base, w[i].id, &h);
	rulehash_hex(&h, hex);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "INSERT INTO revision VALUES(1, 41, ?1)", -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);

	s = open_db(path, 0);
	store_revision(s, &rev);
	assert_int_equal(rev.revision, 41);
	assert_int_equal(rev.rules, 4);
	assert_int_equal(rev.whitelist, 2);
	assert_string_equal(rev.hash, hex); /* recomputed from the new rows at open */
	check_hash(s);			    /* and from a snapshot of them */
	for (int i = 0; i < 4; i++) {
		Xdrop__V1__Rule *got;

		assert_int_equal(store_rule_get(s, r[i].id, &got), 0);
		same_bytes(&got->base, &r[i].base);
		xdrop__v1__rule__free_unpacked(got, NULL);
	}
	for (int i = 0; i < 2; i++) {
		void *got;

		assert_int_equal(store_get(s, STORE_WHITELIST, w[i].id, &got), 0);
		same_bytes(got, &w[i].base);
		protobuf_c_message_free_unpacked(got, NULL);
	}
	/* a migrated rule still owns its match (the key hash was computed for it) */
	{
		Xdrop__V1__Rule dup = r[2], *one[1] = {&dup};

		dup.id = "another";
		assert_int_equal(store_rules_add(s, one, 1, "rule", &nrev, &idx, &err), -EEXIST);
		assert_non_null(strstr(err.message, "r2"));
	}
	{
		const char *ids[1] = {"rule_old00001"};
		uint8_t d[RULEHASH_LEN];

		assert_int_equal(store_delete(s, STORE_RULES, ids, 1, &nrev, &idx, &err), 0);
		assert_int_equal(rulehash_rule_digest(&r[0], d), 0);
		rulehash_sub(&h, d);
		store_revision(s, &rev);
		assert_int_equal(rev.revision, 42);
		assert_string_equal(rev.hash, rulehash_hex(&h, hex));
		check_hash(s);
	}
	store_close(s);
	closed_file_none(path, "SELECT count(*) FROM pragma_table_info('rules') WHERE"
			       " name IN ('pb', 'digest', 'match_key')");
}

/* A change whose Delta packs larger than XDROP_STORE_DELTA_MAX is logged without it: the
 * deltas before it are served, a node at or past it is told to take a snapshot (complete
 * false), the deltas after it are served again; the content hash is kept throughout. */
static void test_oversized_delta_not_logged(void **state)
{
	enum { N = 1200 };
	static char comment[16 * 1024];
	char path[128];
	Xdrop__V1__Rule **ptrs;
	struct trule *v = make_rules(N + 2, 90000, &ptrs);
	struct store_error err = {0};
	Xdrop__V1__Delta **d = NULL;
	bool complete = true;
	struct store *s;
	size_t n = 0, idx;
	uint64_t rev;

	(void)state;
	memset(comment, 'c', sizeof(comment) - 1);
	for (int i = 1; i <= N; i++)
		v[i].r.comment = comment; /* N x 16 KiB: more than 16 MiB in one Delta */
	db_path(path, sizeof(path));
	s = open_db(path, 0);
	assert_int_equal(store_rules_add(s, &ptrs[0], 1, "rules", &rev, &idx, &err), 0);
	assert_int_equal(store_rules_add(s, &ptrs[1], N, "rules", &rev, &idx, &err), 0);
	assert_int_equal(store_rules_add(s, &ptrs[N + 1], 1, "rules", &rev, &idx, &err), 0);
	assert_int_equal(rev, 3);
	assert_int_equal(store_deltas(s, 0, 0, &d, &n, &complete), 0);
	assert_int_equal(n, 1); /* revision 1, then the end */
	assert_true(complete);
	assert_int_equal(d[0]->revision, 1);
	store_free_deltas(d, n);
	assert_int_equal(store_deltas(s, 1, 0, &d, &n, &complete), 0);
	assert_int_equal(n, 0);
	assert_false(complete); /* revision 2 only as a snapshot */
	store_free_deltas(d, n);
	assert_int_equal(store_deltas(s, 2, 0, &d, &n, &complete), 0);
	assert_int_equal(n, 1);
	assert_true(complete);
	assert_int_equal(d[0]->revision, 3);
	store_free_deltas(d, n);
	check_hash(s);
	store_close(s);
	free(v);
	free(ptrs);
}

/* ---- 20 concurrent writers ---------------------------------------------------------- */
#define WRITERS		  20
#define WRITES_PER_THREAD 25

struct writer {
	struct store *s;
	unsigned idx;
	int failures;
	uint64_t revs[WRITES_PER_THREAD];
};

static void *writer_main(void *p)
{
	struct writer *w = p;

	for (unsigned i = 0; i < WRITES_PER_THREAD; i++) {
		struct store_error err = {0};
		struct trule t;
		Xdrop__V1__Rule *one[1] = {&t.r};
		size_t idx;

		make_rule(&t, 50000 + w->idx * 100 + i);
		if (store_rules_add(w->s, one, 1, "rule", &w->revs[i], &idx, &err) < 0)
			w->failures++;
		if (i % 5 == 0) { /* readers interleave with writers */
			struct store_query q = {.enabled = -1, .limit = 10};
			Xdrop__V1__Rule **out;
			size_t n;
			uint64_t total;

			if (store_rule_list(w->s, &q, &out, &n, &total) < 0)
				w->failures++;
			store_free_rules(out, n);
		}
	}
	return NULL;
}

static void test_concurrent_writers(void **state)
{
	char path[128];
	struct store *s;
	struct writer w[WRITERS];
	pthread_t th[WRITERS];
	struct store_rev rev;
	static bool seen[WRITERS * WRITES_PER_THREAD + 1];

	db_path(path, sizeof(path));
	s = open_db(path, 0);
	for (unsigned i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){.s = s, .idx = i};
		assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < WRITERS; i++)
		pthread_join(th[i], NULL);
	for (unsigned i = 0; i < WRITERS; i++) {
		assert_int_equal(w[i].failures, 0);
		for (unsigned j = 0; j < WRITES_PER_THREAD; j++) {
			/* every write got its own revision: none lost, none shared */
			assert_true(w[i].revs[j] >= 1 &&
				    w[i].revs[j] <= WRITERS * WRITES_PER_THREAD);
			assert_false(seen[w[i].revs[j]]);
			seen[w[i].revs[j]] = true;
		}
	}
	store_revision(s, &rev);
	assert_int_equal(rev.revision, WRITERS * WRITES_PER_THREAD);
	assert_int_equal(rev.rules, WRITERS * WRITES_PER_THREAD);
	check_hash(s);
	store_close(s);
}

/* ---- the database locked by someone else --------------------------------------------- */

/*
 * Another connection (an sqlite3 shell with an open transaction, say) holds the write
 * lock for longer than busy_timeout: every change fails with -EBUSY and UNAVAILABLE
 * saying so, never -ENOMEM; the expiry sweeper logs that it skipped a sweep because the
 * database is locked (not "Cannot allocate memory"); once the lock is gone it all works.
 */
static void test_locked_by_another_connection(void **state)
{
	struct store_opts o = {.sz = sizeof(o), .busy_ms = 100};
	char path[128], logpath[160];
	struct store *s = NULL;
	struct store_error err = {0};
	struct sweeper *sw = NULL;
	struct trule t[2];
	Xdrop__V1__Rule *one[1];
	const char *ids[1];
	sqlite3 *other = NULL;
	uint64_t r = 0;
	size_t idx = 0, count = 9;
	int saved;
	char *log;

	db_path(path, sizeof(path));
	o.path = path;
	assert_int_equal(store_open(&s, &o), 0);
	make_rule(&t[0], 4000);
	t[0].r.expires_at = clock_wall_ns() - 1; /* expired: the sweeper wants to delete it */
	one[0] = &t[0].r;
	assert_int_equal(store_rules_add(s, one, 1, "rule", &r, &idx, &err), 0);

	assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

	make_rule(&t[1], 4001);
	one[0] = &t[1].r;
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_rules_add(s, one, 1, "rule", &r, &idx, &err), -EBUSY);
	assert_int_equal(err.code, STORE_BUSY);
	assert_non_null(strstr(err.message, "locked by another process"));
	ids[0] = t[0].id;
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_rules_delete(s, ids, 1, &r, &idx, &err), -EBUSY);
	assert_int_equal(err.code, STORE_BUSY);
	assert_int_equal(store_rules_expire(s, clock_wall_ns(), &count, &r), -EBUSY);
	assert_int_equal(count, 0);

	/* the sweeper's log line, through stderr */
	snprintf(logpath, sizeof(logpath), "%s.log", path);
	saved = capture_stderr(logpath);
	assert_true(saved >= 0);
	assert_int_equal(rules_sweeper_start(&sw, s, 50), 0);
	usleep(500000);
	rules_sweeper_stop(sw);
	capture_end(saved);
	log = capture_slurp(logpath);
	assert_non_null(log);
	assert_non_null(strstr(log, "rules: expiry sweep skipped: the database is locked"));
	assert_null(strstr(log, "Cannot allocate memory"));
	free(log);

	/* the other writer ends: writes and the sweep go through */
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_rules_add(s, one, 1, "rule", &r, &idx, &err), 0);
	assert_int_equal(store_rules_expire(s, clock_wall_ns(), &count, &r), 0);
	assert_int_equal(count, 1);
	check_hash(s);
	store_close(s);
}

/* ---- one controller per database ---------------------------------------------------------- */

/*
 * A database is opened by one store at a time: a second store_open on the same file fails
 * with -EBUSY while the first is open (in this process or another), leaves the file as it
 * was, and works once the first is closed; the lock file names the holder's PID.
 */
static void test_one_store_per_database(void **state)
{
	char path[128], lockpath[160], pidline[32];
	struct store *s = NULL, *s2 = NULL;
	struct store_error err = {0};
	struct store_rev rev;
	struct trule t;
	Xdrop__V1__Rule *one[1] = {&t.r};
	struct store_opts o = {.sz = sizeof(o)};
	uint64_t r;
	size_t idx;
	int status;
	pid_t pid;
	char *txt;

	db_path(path, sizeof(path));
	o.path = path;
	s = open_db(path, 0);
	make_rule(&t, 5000);
	assert_int_equal(store_rules_add(s, one, 1, "rule", &r, &idx, &err), 0);

	assert_int_equal(store_open(&s2, &o), -EBUSY);
	assert_null(s2);
	pid = fork(); /* another process: refused the same way */
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *c = NULL;

		_exit(store_open(&c, &o) == -EBUSY && !c ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	snprintf(lockpath, sizeof(lockpath), "%s.lock", path);
	txt = capture_slurp(lockpath);
	assert_non_null(txt);
	snprintf(pidline, sizeof(pidline), "%ld\n", (long)getpid());
	assert_string_equal(txt, pidline);
	free(txt);

	/* the first store was not disturbed */
	assert_int_equal(store_rules_add(s, one, 1, "rule", &r, &idx, &err), -EEXIST);
	store_revision(s, &rev);
	assert_int_equal(rev.revision, 1);
	store_close(s);

	s = open_db(path, 0); /* closed: free again */
	store_revision(s, &rev);
	assert_int_equal(rev.revision, 1);
	assert_int_equal(rev.rules, 1);
	store_close(s);
}

/* ---- kill -9 in the middle of 10,000-rule batches -------------------------------------- */
/*
 * Kill points are chosen by the child's progress, never by wall-clock guesses: the child
 * reports every batch it begins and commits over a pipe. A third of the rounds kill it
 * while it waits right after committing an add (all rules there), a third right after
 * committing a delete (none there), and a third inside a batch: after it began, within
 * half of the fastest batch that child has completed, so a slow or loaded machine only
 * stretches the batches, not the outcome.
 */
#define KILL_ROUNDS 45
#define BATCH	    10000

enum kill_point { KILL_AFTER_ADD, KILL_AFTER_DELETE, KILL_INSIDE, KILL_POINTS };

/* One report from the child: a batch began (at revision) or committed (in seconds). */
struct batch_report {
	char what; /* 'B' began, 'A' add committed, 'D' delete committed */
	uint64_t revision;
	double seconds;
};

static void report(int fd, char what, uint64_t revision, double seconds)
{
	struct batch_report m = {.what = what, .revision = revision, .seconds = seconds};

	if (write(fd, &m, sizeof(m)) != (ssize_t)sizeof(m))
		_exit(5);
}

/*
 * The child: adds 10,000 rules in one batch, deletes them in one batch, forever, reporting
 * each step; with hold set it stops after committing a batch of that kind ('A' or 'D') and
 * waits to be killed.
 */
static void batch_loop(const char *path, int fd, char hold)
{
	struct store_opts o = {.sz = sizeof(o), .path = path};
	struct store *s = NULL;
	Xdrop__V1__Rule **ptrs;
	struct trule *v = make_rules(BATCH, 0, &ptrs);
	const char **ids = calloc(BATCH, sizeof(*ids));
	struct store_error err;
	uint64_t r;
	size_t idx;

	for (int i = 0; i < BATCH; i++) {
		snprintf(v[i].id, sizeof(v[i].id), "b%05d", i); /* the same in every child */
		ids[i] = v[i].id;
	}
	if (store_open(&s, &o) < 0)
		_exit(2);
	for (;;) {
		struct store_rev rev;
		char done;
		double t;

		store_revision(s, &rev);
		report(fd, 'B', rev.revision, 0);
		t = now_s();
		if (rev.rules == 0) {
			if (store_rules_add(s, ptrs, BATCH, "rules", &r, &idx, &err) < 0)
				_exit(3);
			done = 'A';
		} else {
			if (store_rules_delete(s, ids, BATCH, &r, &idx, &err) < 0)
				_exit(4);
			done = 'D';
		}
		report(fd, done, r, now_s() - t);
		while (done == hold)
			pause(); /* killed here */
	}
}

static void read_report(int fd, struct batch_report *m)
{
	assert_int_equal(read(fd, m, sizeof(*m)), (ssize_t)sizeof(*m));
}

/*
 * Runs one child and kills it at the given point; returns the revision the store had when
 * the killed batch began (KILL_INSIDE) or 0.
 */
static uint64_t kill_child_at(const char *path, enum kill_point point)
{
	const char hold = point == KILL_AFTER_ADD ? 'A' : point == KILL_AFTER_DELETE ? 'D' : 0;
	struct batch_report m = {0};
	double fastest = 0;
	uint64_t began = 0;
	int status, pfd[2];
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		batch_loop(path, pfd[1], hold);
	}
	close(pfd[1]);
	for (;;) {
		read_report(pfd[0], &m);
		if (m.what == 'B') {
			began = m.revision;
			if (point == KILL_INSIDE && fastest > 0)
				break;
			continue;
		}
		if (m.what == hold)
			break; /* the child now waits in pause() */
		if (fastest == 0 || m.seconds < fastest)
			fastest = m.seconds;
	}
	if (point == KILL_INSIDE)
		usleep((useconds_t)((double)rand() / RAND_MAX * fastest / 2 * 1e6));
	kill(pid, SIGKILL);
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status)); /* it was still running */
	return point == KILL_INSIDE ? began : 0;
}

static void test_kill9_during_batches(void **state)
{
	char path[128];
	double t0 = now_s();
	unsigned all = 0, none = 0, inside = 0, interrupted = 0;
	uint64_t last = 0;

	db_path(path, sizeof(path));
	srand((unsigned)time(NULL));
	for (int round = 0; round < KILL_ROUNDS; round++) {
		enum kill_point point = (enum kill_point)(round % KILL_POINTS);
		uint64_t began = kill_child_at(path, point);
		struct store_rev rev;
		struct store *s;

		assert_int_equal(store_integrity_check(path), 0);
		s = open_db(path, 0);
		store_revision(s, &rev);
		/* odd revisions follow an add, even ones a delete: all there or none */
		assert_int_equal(rev.rules, rev.revision % 2 ? BATCH : 0);
		assert_true(rev.revision >= last);
		if (point == KILL_AFTER_ADD)
			assert_int_equal(rev.rules, BATCH);
		if (point == KILL_AFTER_DELETE)
			assert_int_equal(rev.rules, 0);
		if (point == KILL_INSIDE) {
			/* the batch either committed whole or left no trace */
			assert_true(rev.revision == began || rev.revision == began + 1);
			inside++;
			interrupted += rev.revision == began;
		}
		last = rev.revision;
		if (rev.rules)
			all++;
		else
			none++;
		check_hash(s);
		store_close(s);
	}
	print_message("# kill -9 x%d: %u times all 10,000 there, %u times none; %u kills inside a "
		      "batch, %u of them before its commit; %" PRIu64
		      " batches committed, %.1f s\n",
		      KILL_ROUNDS, all, none, inside, interrupted, last, now_s() - t0);
	assert_int_equal(inside, KILL_ROUNDS / KILL_POINTS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_migrate_v1_file),
	    cmocka_unit_test(test_migrate_keeps_every_rule),
	    cmocka_unit_test(test_migrate_compact_rows),
	    cmocka_unit_test(test_oversized_delta_not_logged),
	    cmocka_unit_test(test_concurrent_writers),
	    cmocka_unit_test(test_locked_by_another_connection),
	    cmocka_unit_test(test_one_store_per_database),
	    cmocka_unit_test(test_kill9_during_batches),
	};

	return cmocka_run_group_tests_name("store_durability", tests, store_group_setup,
					   store_group_teardown);
}
