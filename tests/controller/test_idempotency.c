// SPDX-License-Identifier: MIT
/*
 * test_idempotency: request ids on the controller's writes (controller/idempotency.h).
 * Over RPC (tests/controller/harness.c): a resend with the same id gets the first outcome
 * byte for byte, marked replayed, for every kind of write, where the old code answered
 * ALREADY_EXISTS or NOT_FOUND; another payload or method under the same id is
 * FAILED_PRECONDITION naming "request_id"; the scope is the credential; bad ids are
 * refused naming the field, by the client and by the server; four concurrent duplicates of
 * one batch run it once. On the store and the record directly: the record made inside the
 * write's transaction survives a "crash" before the final record and is replayed after a
 * reopen with its revision; a write that rolls back leaves no record; a duplicate of a
 * claim in flight never gets a claim of its own (and a past deadline does not wait);
 * records expire after the ttl and are trimmed to max_records.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "auth.h"
#include "harness.h"
#include "idempotency.h"
#include "log.h"
#include "rules.h"
#include "tests/lib/tmpdir.h"

#define RULES (&xdrop__v1__rule_service__descriptor)
#define WL    (&xdrop__v1__whitelist_service__descriptor)
#define KEYS  (&xdrop__v1__key_service__descriptor)
#define NODES (&xdrop__v1__node_service__descriptor)

static struct ctl c;

/* A call with request id rid (NULL: none); returns the code, *resp as rpc_client_call. */
static enum rpc_code call_id(struct rpc_client *cl, const ProtobufCServiceDescriptor *svc,
			     const char *method, const void *req, void *resp, const char *rid,
			     struct rpc_status *st)
{
	struct rpc_call_opts o = {.sz = sizeof(o), .request_id = rid};
	ProtobufCMessage *out = NULL;

	rpc_client_call_opts(cl, svc, method, req, &out, st, &o);
	if (resp)
		*(ProtobufCMessage **)resp = out;
	else if (out)
		protobuf_c_message_free_unpacked(out, NULL);
	return st->code;
}

/* Packed bytes of m, to compare two replies byte for byte. */
static size_t packed(const void *m, uint8_t *buf, size_t cap)
{
	size_t n = protobuf_c_message_get_packed_size(m);

	assert_true(n <= cap);
	return protobuf_c_message_pack(m, buf);
}

static void rule_of(Xdrop__V1__Rule *r, const char *ip)
{
	xdrop__v1__rule__init(r);
	r->name = "idem";
	r->dst_ip = (char *)ip;
	r->action = "drop";
	r->enabled = true;
}

static void test_resend_gets_first_outcome(void **state)
{
	Xdrop__V1__CreateRuleRequest cr = XDROP__V1__CREATE_RULE_REQUEST__INIT;
	Xdrop__V1__DeleteRequest del = XDROP__V1__DELETE_REQUEST__INIT;
	Xdrop__V1__RuleWriteReply *a = NULL, *b = NULL;
	Xdrop__V1__DeleteReply *d1 = NULL, *d2 = NULL;
	Xdrop__V1__Rule r;
	struct rpc_status st;
	static uint8_t pa[4096], pb[4096];
	size_t la, lb;

	rule_of(&r, "192.0.2.1");
	cr.rule = &r;
	assert_int_equal(call_id(c.admin, RULES, "Create", &cr, &a, "create-1", &st), RPC_OK);
	assert_false(st.replayed);
	assert_int_equal(call_id(c.admin, RULES, "Create", &cr, &b, "create-1", &st), RPC_OK);
	assert_true(st.replayed);
	la = packed(a, pa, sizeof(pa));
	lb = packed(b, pb, sizeof(pb));
	assert_int_equal(la, lb);
	assert_memory_equal(pa, pb, la); /* the same reply, sync outcome included */
	/* without an id the duplicate is what it always was */
	assert_int_equal(call_id(c.admin, RULES, "Create", &cr, NULL, NULL, &st),
			 RPC_ALREADY_EXISTS);

	del.id = a->rule->id;
	assert_int_equal(call_id(c.admin, RULES, "Delete", &del, &d1, "delete-1", &st), RPC_OK);
	assert_int_equal(call_id(c.admin, RULES, "Delete", &del, &d2, "delete-1", &st), RPC_OK);
	assert_true(st.replayed);
	assert_string_equal(d1->message, d2->message);
	assert_int_equal(d1->sync->revision, d2->sync->revision);
	assert_int_equal(call_id(c.admin, RULES, "Delete", &del, NULL, "delete-2", &st),
			 RPC_NOT_FOUND);
	protobuf_c_message_free_unpacked(&a->base, NULL);
	protobuf_c_message_free_unpacked(&b->base, NULL);
	protobuf_c_message_free_unpacked(&d1->base, NULL);
	protobuf_c_message_free_unpacked(&d2->base, NULL);
}

static void test_secret_is_not_recorded(void **state)
{
	Xdrop__V1__CreateKeyRequest kr = XDROP__V1__CREATE_KEY_REQUEST__INIT;
	Xdrop__V1__ApiKey *k1 = NULL, *k2 = NULL;
	struct rpc_status st;

	kr.name = "ci";
	kr.scope = "admin";
	assert_int_equal(call_id(c.admin, KEYS, "Create", &kr, &k1, "key-1", &st), RPC_OK);
	assert_true(strlen(k1->key) > 16);
	assert_int_equal(call_id(c.admin, KEYS, "Create", &kr, &k2, "key-1", &st), RPC_OK);
	assert_true(st.replayed);
	assert_string_equal(k1->id, k2->id); /* one key made, not two */
	assert_string_equal(k2->key, "");    /* the token is never kept in the record */
	protobuf_c_message_free_unpacked(&k1->base, NULL);
	protobuf_c_message_free_unpacked(&k2->base, NULL);
}

static void test_reuse_with_other_request(void **state)
{
	Xdrop__V1__CreateRuleRequest cr = XDROP__V1__CREATE_RULE_REQUEST__INIT;
	Xdrop__V1__DeleteRequest del = XDROP__V1__DELETE_REQUEST__INIT;
	Xdrop__V1__Rule r;
	struct rpc_status st;

	rule_of(&r, "192.0.2.2");
	cr.rule = &r;
	assert_int_equal(call_id(c.admin, RULES, "Create", &cr, NULL, "reuse-1", &st), RPC_OK);
	rule_of(&r, "192.0.2.3");
	assert_int_equal(call_id(c.admin, RULES, "Create", &cr, NULL, "reuse-1", &st),
			 RPC_FAILED_PRECONDITION);
	assert_string_equal(st.field, "request_id");
	assert_non_null(strstr(st.message, "different request"));
	del.id = "whatever";
	assert_int_equal(call_id(c.admin, RULES, "Delete", &del, NULL, "reuse-1", &st),
			 RPC_FAILED_PRECONDITION);
	assert_int_equal(call_id(c.admin, WL, "Delete", &del, NULL, "reuse-1", &st),
			 RPC_FAILED_PRECONDITION);
}

static void test_scope_is_the_credential(void **state)
{
	Xdrop__V1__CreateKeyRequest kr = XDROP__V1__CREATE_KEY_REQUEST__INIT;
	Xdrop__V1__CreateRuleRequest cr = XDROP__V1__CREATE_RULE_REQUEST__INIT;
	Xdrop__V1__ApiKey *k = NULL;
	struct rpc_client *other;
	Xdrop__V1__Rule r;
	struct rpc_status st;

	kr.name = "other";
	kr.scope = "admin";
	assert_int_equal(call_id(c.admin, KEYS, "Create", &kr, &k, NULL, &st), RPC_OK);
	other = ctl_client(&c, k->key);
	rule_of(&r, "192.0.2.4");
	cr.rule = &r;
	assert_int_equal(call_id(c.admin, RULES, "Create", &cr, NULL, "shared-id", &st), RPC_OK);
	/* the same id and payload from another key is another request: it runs */
	assert_int_equal(call_id(other, RULES, "Create", &cr, NULL, "shared-id", &st),
			 RPC_ALREADY_EXISTS);
	assert_false(st.replayed);
	rpc_client_close(other);
	protobuf_c_message_free_unpacked(&k->base, NULL);
}

static void test_bad_ids_are_refused(void **state)
{
	Xdrop__V1__CreateRuleRequest cr = XDROP__V1__CREATE_RULE_REQUEST__INIT;
	Xdrop__V1__RpcRequest rq = XDROP__V1__RPC_REQUEST__INIT;
	Xdrop__V1__RpcReply *rp;
	Xdrop__V1__Rule r;
	struct rpc_status st;
	char longid[XDROP_RPC_MAX_REQUEST_ID + 2];
	const char *bad[] = {"with space", "tab\there", "caf\xc3\xa9", longid};
	uint8_t frame[1024], payload[256], *out = NULL;
	size_t out_len = 0;

	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_true(rpc_request_id_ok("123e4567-e89b-12d3-a456-426614174000"));
	longid[XDROP_RPC_MAX_REQUEST_ID] = '\0';
	assert_true(rpc_request_id_ok(longid));
	longid[XDROP_RPC_MAX_REQUEST_ID] = 'x';
	rule_of(&r, "192.0.2.5");
	cr.rule = &r;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(rpc_request_id_ok(bad[i]));
		/* the client refuses to send it */
		assert_int_equal(call_id(c.admin, RULES, "Create", &cr, NULL, bad[i], &st),
				 RPC_INVALID_ARGUMENT);
		assert_string_equal(st.field, "request_id");
		/* and a raw frame carrying it is refused by the server, naming the field */
		rq.service = "xdrop.v1.RuleService";
		rq.method = "Create";
		rq.auth_token = TEST_ADMIN_KEY;
		rq.request_id = (char *)bad[i];
		rq.payload.data = payload;
		rq.payload.len = xdrop__v1__create_rule_request__pack(&cr, payload);
		assert_int_equal(rpc_server_process(c.srv, frame,
						    xdrop__v1__rpc_request__pack(&rq, frame), &out,
						    &out_len),
				 0);
		rp = xdrop__v1__rpc_reply__unpack(NULL, out_len, out);
		assert_non_null(rp);
		assert_int_equal(rp->code, RPC_INVALID_ARGUMENT);
		assert_string_equal(rp->field, "request_id");
		xdrop__v1__rpc_reply__free_unpacked(rp, NULL);
		free(out);
	}
	/* nothing was stored */
	assert_int_equal(call_id(c.admin, RULES, "Create", &cr, NULL, NULL, &st), RPC_OK);
}

#define DUP_THREADS 4
#define DUP_RULES   2000

struct dup {
	Xdrop__V1__BatchCreateRulesRequest *req;
	struct rpc_client *cl;
	Xdrop__V1__BatchReply *rep;
	struct rpc_status st;
};

static void *dup_main(void *p)
{
	struct dup *d = p;

	call_id(d->cl, RULES, "BatchCreate", d->req, &d->rep, "dup-batch", &d->st);
	return NULL;
}

static void test_concurrent_duplicates_run_once(void **state)
{
	Xdrop__V1__BatchCreateRulesRequest req = XDROP__V1__BATCH_CREATE_RULES_REQUEST__INIT;
	static Xdrop__V1__Rule rules[DUP_RULES];
	static Xdrop__V1__Rule *ptrs[DUP_RULES];
	static char ips[DUP_RULES][24];
	struct dup d[DUP_THREADS] = {0};
	pthread_t t[DUP_THREADS];
	unsigned fresh = 0;
	struct store_rev before, after;

	for (int i = 0; i < DUP_RULES; i++) {
		snprintf(ips[i], sizeof(ips[i]), "10.77.%d.%d", i / 250, i % 250 + 1);
		rule_of(&rules[i], ips[i]);
		ptrs[i] = &rules[i];
	}
	req.rules = ptrs;
	req.n_rules = DUP_RULES;
	req.atomic = true;
	store_revision(c.store, &before);
	for (int i = 0; i < DUP_THREADS; i++) {
		d[i].req = &req;
		d[i].cl = ctl_client(&c, TEST_ADMIN_KEY);
		assert_int_equal(pthread_create(&t[i], NULL, dup_main, &d[i]), 0);
	}
	for (int i = 0; i < DUP_THREADS; i++)
		pthread_join(t[i], NULL);
	store_revision(c.store, &after);
	for (int i = 0; i < DUP_THREADS; i++) {
		assert_int_equal(d[i].st.code, RPC_OK);
		assert_int_equal(d[i].rep->added, DUP_RULES);
		assert_string_equal(d[i].rep->ids[0], d[0].rep->ids[0]);
		fresh += !d[i].st.replayed;
	}
	for (int i = 0; i < DUP_THREADS; i++) {
		protobuf_c_message_free_unpacked(&d[i].rep->base, NULL);
		rpc_client_close(d[i].cl);
	}
	assert_int_equal(fresh, 1);				 /* one ran ... */
	assert_int_equal(after.rules, before.rules + DUP_RULES); /* ... once */
	assert_int_equal(after.revision, before.revision + 1);
}

/* ---- the record itself, on a store without a server -------------------------------------- */

struct db {
	char dir[64], path[96];
	struct store *s;
	struct idem *m;
};

static void db_open(struct db *d, unsigned ttl_s, unsigned max_records)
{
	struct store_opts so = {.sz = sizeof(so), .path = d->path};
	struct idem_opts io = {
	    .sz = sizeof(io), .path = d->path, .ttl_s = ttl_s, .max_records = max_records};

	if (!d->dir[0]) {
		assert_int_equal(tmpdir_make(d->dir, sizeof(d->dir), "xdrop-idem"), 0);
		snprintf(d->path, sizeof(d->path), "%s/i.db", d->dir);
	}
	assert_int_equal(store_open(&d->s, &so), 0);
	assert_int_equal(idem_open(&d->m, &io), 0);
	store_set_txn_hook(d->s, idem_txn_hook, d->m);
}

static void db_close(struct db *d)
{
	store_set_txn_hook(d->s, NULL, NULL);
	idem_close(d->m);
	store_close(d->s);
}

static void key_of(struct idem_key *k, const char *principal, const char *rid, uint8_t h)
{
	memset(k, 0, sizeof(*k));
	k->principal = principal;
	k->request_id = rid;
	k->method = "xdrop.v1.RuleService.Create";
	memset(k->hash, h, sizeof(k->hash));
}

static int add_rule(struct db *d, const char *ip, Xdrop__V1__Rule *out, char *id, uint64_t *rev)
{
	Xdrop__V1__Rule in;
	struct store_error e = {0};
	size_t idx;

	rule_of(&in, ip);
	rules_prepare(&in, out, id, clock_wall_ns());
	return store_rules_add(d->s, &out, 1, "rule", rev, &idx, &e);
}

static void test_record_at_commit_survives_a_crash(void **state)
{
	Xdrop__V1__RuleWriteReply resp = XDROP__V1__RULE_WRITE_REPLY__INIT, *got;
	struct idem_claim *claim;
	struct idem_record *rec;
	struct idem_key k;
	Xdrop__V1__Rule rule;
	char id[XDROP_UUID_LEN];
	uint64_t rev = 0;
	struct db d = {0};

	db_open(&d, 0, 0);
	key_of(&k, "key:a", "crash-1", 1);
	assert_int_equal(idem_begin(d.m, &k, &resp.base, 1000, &claim, &rec), 0);
	assert_non_null(claim);
	assert_null(rec);
	resp.rule = &rule; /* as the handler does before the store commits */
	assert_int_equal(add_rule(&d, "198.51.100.7", &rule, id, &rev), 0);
	/* "crash": no idem_end; the process state is gone, the database stays */
	db_close(&d);

	db_open(&d, 0, 0);
	assert_int_equal(idem_begin(d.m, &k, &resp.base, 1000, &claim, &rec), 0);
	assert_null(claim);
	assert_non_null(rec);
	assert_int_equal(rec->code, RPC_OK);
	assert_false(rec->complete);
	assert_int_equal(rec->revision, rev);
	got = xdrop__v1__rule_write_reply__unpack(NULL, rec->response_len, rec->response);
	assert_non_null(got);
	assert_string_equal(got->rule->id, id);
	assert_string_equal(got->rule->dst_ip, "198.51.100.7");
	assert_null(got->sync); /* filled at replay time (the service's fill_sync) */
	xdrop__v1__rule_write_reply__free_unpacked(got, NULL);
	idem_record_free(rec);

	/* another credential with the same id: no record, it may run */
	key_of(&k, "key:b", "crash-1", 1);
	assert_int_equal(idem_begin(d.m, &k, &resp.base, 1000, &claim, &rec), 0);
	assert_non_null(claim);
	idem_end(d.m, claim, RPC_INTERNAL, NULL);
	/* a different payload under the first credential: refused */
	key_of(&k, "key:a", "crash-1", 2);
	assert_int_equal(idem_begin(d.m, &k, &resp.base, 1000, &claim, &rec), -EILSEQ);

	/* a write that rolls back (a duplicate) leaves no record */
	key_of(&k, "key:a", "dup-1", 3);
	assert_int_equal(idem_begin(d.m, &k, &resp.base, 1000, &claim, &rec), 0);
	assert_int_equal(add_rule(&d, "198.51.100.7", &rule, id, &rev), -EEXIST);
	idem_end(d.m, claim, RPC_ALREADY_EXISTS, &resp.base);
	assert_int_equal(idem_begin(d.m, &k, &resp.base, 1000, &claim, &rec), 0);
	assert_non_null(claim);
	idem_end(d.m, claim, RPC_INTERNAL, NULL);
	db_close(&d);
	assert_int_equal(tmpdir_remove(d.dir), 0);
}

static void test_duplicate_in_flight(void **state)
{
	Xdrop__V1__DeleteReply resp = XDROP__V1__DELETE_REPLY__INIT;
	struct idem_claim *claim, *again;
	struct idem_record *rec;
	struct idem_key k;
	struct db d = {0};

	db_open(&d, 0, 0);
	key_of(&k, "key:a", "busy-1", 4);
	assert_int_equal(idem_begin(d.m, &k, &resp.base, 1000, &claim, &rec), 0);
	assert_non_null(claim);
	/* the same id while the first runs: never a second claim; a past deadline (negative
	 * wait) or a short one ends with -EINPROGRESS */
	assert_int_equal(idem_begin(d.m, &k, &resp.base, -5, &again, &rec), -EINPROGRESS);
	assert_int_equal(idem_begin(d.m, &k, &resp.base, 50, &again, &rec), -EINPROGRESS);
	assert_null(again);
	resp.message = "done";
	idem_end(d.m, claim, RPC_OK, &resp.base);
	assert_int_equal(idem_begin(d.m, &k, &resp.base, 0, &again, &rec), 0);
	assert_null(again);
	assert_non_null(rec);
	assert_true(rec->complete);
	idem_record_free(rec);
	db_close(&d);
	assert_int_equal(tmpdir_remove(d.dir), 0);
}

static void record(struct db *d, const char *rid)
{
	Xdrop__V1__DeleteReply resp = XDROP__V1__DELETE_REPLY__INIT;
	struct idem_claim *claim;
	struct idem_record *rec;
	struct idem_key k;

	key_of(&k, "key:a", rid, 9);
	assert_int_equal(idem_begin(d->m, &k, &resp.base, 1000, &claim, &rec), 0);
	assert_non_null(claim);
	resp.message = "done";
	idem_end(d->m, claim, RPC_OK, &resp.base);
}

/* 1: a record exists for rid; 0: none. */
static int has_record(struct db *d, const char *rid)
{
	Xdrop__V1__DeleteReply resp = XDROP__V1__DELETE_REPLY__INIT;
	struct idem_claim *claim;
	struct idem_record *rec;
	struct idem_key k;
	int found;

	key_of(&k, "key:a", rid, 9);
	assert_int_equal(idem_begin(d->m, &k, &resp.base, 1000, &claim, &rec), 0);
	idem_end(d->m, claim, RPC_INTERNAL, NULL);
	found = rec != NULL;
	idem_record_free(rec);
	return found;
}

#define FINAL_THREADS 6
#define FINAL_EACH    25

struct finals {
	struct db *d;
	unsigned t;
};

static void *final_records(void *arg)
{
	struct finals *f = arg;

	for (unsigned i = 0; i < FINAL_EACH; i++) {
		Xdrop__V1__DeleteReply resp = XDROP__V1__DELETE_REPLY__INIT;
		struct idem_claim *claim = NULL;
		struct idem_record *rec = NULL;
		struct idem_key k;
		char rid[32];

		snprintf(rid, sizeof(rid), "f-%u-%u", f->t, i);
		key_of(&k, "key:a", rid, 9);
		if (idem_begin(f->d->m, &k, &resp.base, 1000, &claim, &rec) != 0 || !claim)
			return (void *)1;
		resp.message = rid;
		idem_end(f->d->m, claim, RPC_OK, &resp.base);
	}
	return NULL;
}

/* Final records of calls ending at once are written in shared transactions: each is there
 * afterwards, complete, with its own reply. */
static void test_final_records_at_once(void **state)
{
	struct finals f[FINAL_THREADS];
	pthread_t th[FINAL_THREADS];
	struct db d = {0};

	db_open(&d, 0, 0);
	for (unsigned t = 0; t < FINAL_THREADS; t++) {
		f[t] = (struct finals){.d = &d, .t = t};
		assert_int_equal(pthread_create(&th[t], NULL, final_records, &f[t]), 0);
	}
	for (unsigned t = 0; t < FINAL_THREADS; t++) {
		void *rc;

		pthread_join(th[t], &rc);
		assert_null(rc);
	}
	assert_int_equal(idem_count(d.m), FINAL_THREADS * FINAL_EACH);
	for (unsigned t = 0; t < FINAL_THREADS; t++)
		for (unsigned i = 0; i < FINAL_EACH; i++) {
			Xdrop__V1__DeleteReply resp = XDROP__V1__DELETE_REPLY__INIT, *got;
			struct idem_claim *claim = NULL;
			struct idem_record *rec = NULL;
			struct idem_key k;
			char rid[32];

			snprintf(rid, sizeof(rid), "f-%u-%u", t, i);
			key_of(&k, "key:a", rid, 9);
			assert_int_equal(idem_begin(d.m, &k, &resp.base, 0, &claim, &rec), 0);
			assert_null(claim);
			assert_non_null(rec);
			assert_true(rec->complete);
			got =
			    xdrop__v1__delete_reply__unpack(NULL, rec->response_len, rec->response);
			assert_non_null(got);
			assert_string_equal(got->message, rid);
			xdrop__v1__delete_reply__free_unpacked(got, NULL);
			idem_record_free(rec);
		}
	db_close(&d);
	assert_int_equal(tmpdir_remove(d.dir), 0);
}

static void test_records_expire_and_are_bounded(void **state)
{
	struct db d = {0};
	struct timespec ts = {0, 50 * 1000000};
	int tries;

	/* bounded: the oldest beyond max_records go */
	db_open(&d, 0, 3);
	for (int i = 0; i < 5; i++) {
		char rid[16];

		snprintf(rid, sizeof(rid), "n-%d", i);
		record(&d, rid);
		nanosleep(&(struct timespec){0, 2 * 1000000}, NULL); /* distinct created_at */
	}
	assert_int_equal(idem_count(d.m), 5);
	assert_int_equal(idem_prune(d.m), 0);
	assert_int_equal(idem_count(d.m), 3);
	assert_int_equal(has_record(&d, "n-0"), 0);
	assert_int_equal(has_record(&d, "n-1"), 0);
	assert_int_equal(has_record(&d, "n-4"), 1);
	db_close(&d);

	/* expired: a record older than the ttl is ignored, then pruned */
	db_open(&d, 1, 0);
	record(&d, "ttl-1");
	assert_int_equal(has_record(&d, "ttl-1"), 1);
	for (tries = 0; tries < 100 && has_record(&d, "ttl-1"); tries++) /* <= 5 s */
		nanosleep(&ts, NULL);
	assert_int_equal(has_record(&d, "ttl-1"), 0);
	assert_int_equal(idem_count(d.m), 4); /* still stored (n-2..n-4, ttl-1) ... */
	assert_int_equal(idem_prune(d.m), 0);
	assert_int_equal(idem_count(d.m), 0); /* ... until the prune */
	db_close(&d);
	assert_int_equal(tmpdir_remove(d.dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_resend_gets_first_outcome),
	    cmocka_unit_test(test_secret_is_not_recorded),
	    cmocka_unit_test(test_reuse_with_other_request),
	    cmocka_unit_test(test_scope_is_the_credential),
	    cmocka_unit_test(test_bad_ids_are_refused),
	    cmocka_unit_test(test_concurrent_duplicates_run_once),
	    cmocka_unit_test(test_record_at_commit_survives_a_crash),
	    cmocka_unit_test(test_duplicate_in_flight),
	    cmocka_unit_test(test_final_records_at_once),
	    cmocka_unit_test(test_records_expire_and_are_bounded),
	};

	ctl_group(&c, 100);
	return cmocka_run_group_tests(tests, ctl_group_setup, ctl_group_teardown);
}
