// SPDX-License-Identifier: MIT
/*
 * idempotency: records of write outcomes by (credential, request id); see idempotency.h.
 *
 * Three pieces: the in-flight set (a list under `lock`, with a condition variable the
 * duplicates wait on), the thread-local claim that the store's transaction hook finds (the
 * hook runs on the thread that runs the handler), and two own connections: one (under
 * `db_lock`) for final records and pruning, one (under `rdb_lock`) for lookups. The hook
 * writes on the store's writer connection, so the record commits or rolls back with the
 * write itself.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "auth.h"
#include "clock.h"
#include "db.h"
#include "idempotency.h"
#include "log.h"

struct idem_claim {
	struct idem_claim *next;
	struct idem *m;
	char principal[XDROP_IDEM_MAX_PRINCIPAL + 1];
	char request_id[XDROP_RPC_MAX_REQUEST_ID + 1];
	const char *method;
	uint8_t hash[XDROP_IDEM_HASH_LEN];
	const ProtobufCMessage *resp;
	bool owner;	   /* false while only reserved by idem_begin */
	bool written;	   /* the hook inserted the record (in a transaction since committed) */
	uint64_t revision; /* of that transaction */
};

/* A final record waiting to be written by whichever idem_end writes the next batch. */
struct final {
	struct final *next;
	struct idem_claim *claim;
	int err;
	bool done;
};

struct idem {
	pthread_mutex_t lock; /* the in-flight list */
	pthread_cond_t done;
	struct idem_claim *inflight;
	pthread_mutex_t db_lock;
	struct db *db;
	pthread_mutex_t rdb_lock; /* lookups: their own connection, so that they do not wait */
	struct db *rdb;		  /* behind the COMMIT of final records on db */
	struct final *finals;	  /* final records waiting for a writer (under lock) */
	bool writing;		  /* a caller of idem_end is writing final records */
	int64_t ttl_ns;
	unsigned max_records;
	int64_t last_prune_ms;
};

static _Thread_local struct idem_claim *tl_claim;

static const char SQL_PUT[] =
    "INSERT OR REPLACE INTO idempotency(principal, request_id, method, request_hash, code,"
    " message, field, response, revision, complete, created_at)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
static const char SQL_GET[] = "SELECT method, request_hash, code, message, field, response,"
			      " revision, complete FROM idempotency"
			      " WHERE principal = ?1 AND request_id = ?2 AND created_at >= ?3";
static const char SQL_EXPIRE[] = "DELETE FROM idempotency WHERE created_at < ?1";
static const char SQL_TRIM[] = "DELETE FROM idempotency WHERE rowid IN (SELECT rowid FROM"
			       " idempotency ORDER BY created_at DESC LIMIT -1 OFFSET ?1)";
static const char SQL_COUNT[] = "SELECT count(*) FROM idempotency";

static int sql_fail(struct db *db, const char *what)
{
	log_error("idempotency: %s: %s", what, db_errmsg(db));
	return -EIO;
}

int idem_open(struct idem **out, const struct idem_opts *opts)
{
	struct idem *m;
	int err = 0;

	*out = NULL;
	if (!opts || opts->sz < sizeof(*opts) || !opts->path)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	clock_cond_init(&m->done);
	pthread_mutex_init(&m->db_lock, NULL);
	pthread_mutex_init(&m->rdb_lock, NULL);
	m->ttl_ns = (int64_t)(opts->ttl_s ? opts->ttl_s : XDROP_IDEM_TTL_S) * 1000000000;
	m->max_records = opts->max_records ? opts->max_records : XDROP_IDEM_MAX_RECORDS;
	if (db_open(opts->path, &m->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
		    opts->busy_ms ? opts->busy_ms : 10000) != SQLITE_OK) {
		err = sql_fail(m->db, opts->path);
		goto out;
	}
	err = idem_prune(m); /* the table exists (the store made it) before rdb prepares on it */
	if (!err && db_open(opts->path, &m->rdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    opts->busy_ms ? opts->busy_ms : 10000) != SQLITE_OK)
		err = sql_fail(m->rdb, opts->path);
out:
	if (err) {
		idem_close(m);
		return err;
	}
	*out = m;
	return 0;
}

void idem_close(struct idem *m)
{
	if (!m)
		return;
	while (m->inflight) { /* claims never ended (a test simulating a crash) */
		struct idem_claim *c = m->inflight;

		m->inflight = c->next;
		if (tl_claim == c)
			tl_claim = NULL;
		free(c);
	}
	db_close(m->rdb);
	db_close(m->db);
	pthread_mutex_destroy(&m->rdb_lock);
	pthread_mutex_destroy(&m->db_lock);
	pthread_cond_destroy(&m->done);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void idem_record_free(struct idem_record *r)
{
	if (!r)
		return;
	free(r->message);
	free(r->field);
	free(r->response);
	free(r);
}

/* ---- packing ----------------------------------------------------------------------------- */

/* resp packed without its secret (a top-level string field "key"); malloc'd. */
static uint8_t *pack_public(const ProtobufCMessage *resp, size_t *len)
{
	const ProtobufCFieldDescriptor *f =
	    resp ? protobuf_c_message_descriptor_get_field_by_name(resp->descriptor, "key") : NULL;
	char **slot = NULL, *saved = NULL;
	uint8_t *buf;

	*len = 0;
	if (!resp)
		return calloc(1, 1);
	if (f && f->type == PROTOBUF_C_TYPE_STRING && f->label != PROTOBUF_C_LABEL_REPEATED) {
		/* resp is the handler's, borrowed: blank the field for the packing only */
		slot = (char **)((char *)resp + f->offset);
		saved = *slot;
		*slot = (char *)protobuf_c_empty_string;
	}
	*len = protobuf_c_message_get_packed_size(resp);
	buf = malloc(*len ? *len : 1);
	if (buf)
		protobuf_c_message_pack(resp, buf);
	if (slot)
		*slot = saved;
	return buf;
}

/* Inserts or replaces k's record on db; the caller serializes use of db. */
static int put(struct db *db, const struct idem_claim *c, enum rpc_code code, bool complete)
{
	struct db_stmt *st = NULL;
	uint8_t *buf;
	size_t len;
	int err = 0;

	buf = pack_public(c->resp, &len);
	if (!buf)
		return -ENOMEM;
	if (db_prepare(db, SQL_PUT, false, &st) != SQLITE_OK) {
		err = sql_fail(db, "prepare record");
		goto out;
	}
	db_bind_text(st, 1, c->principal, -1, SQLITE_STATIC);
	db_bind_text(st, 2, c->request_id, -1, SQLITE_STATIC);
	db_bind_text(st, 3, c->method, -1, SQLITE_STATIC);
	db_bind_blob(st, 4, c->hash, XDROP_IDEM_HASH_LEN, SQLITE_STATIC);
	db_bind_int(st, 5, (int)code);
	db_bind_text(st, 6, "", -1, SQLITE_STATIC);
	db_bind_text(st, 7, "", -1, SQLITE_STATIC);
	db_bind_blob(st, 8, buf, (int)len, SQLITE_STATIC);
	db_bind_int64(st, 9, (int64_t)c->revision);
	db_bind_int(st, 10, complete);
	db_bind_int64(st, 11, clock_wall_ns());
	if (db_step(st) != SQLITE_DONE)
		err = sql_fail(db, "write record");
out:
	db_finalize(st);
	free(buf);
	return err;
}

int idem_txn_hook(void *arg, struct db *db, uint64_t revision)
{
	struct idem_claim *c = tl_claim;
	int err;

	if (!c || c->m != arg || c->written)
		return 0;
	c->revision = revision;
	err = put(db, c, RPC_OK, false);
	if (!err)
		c->written = true; /* if the COMMIT fails after all, the write fails too */
	return err;
}

/* ---- claims ------------------------------------------------------------------------------ */

static struct idem_claim *find(struct idem *m, const char *principal, const char *id)
{
	for (struct idem_claim *c = m->inflight; c; c = c->next)
		if (!strcmp(c->principal, principal) && !strcmp(c->request_id, id))
			return c;
	return NULL;
}

static void release(struct idem *m, struct idem_claim *claim)
{
	pthread_mutex_lock(&m->lock);
	for (struct idem_claim **p = &m->inflight; *p; p = &(*p)->next) {
		if (*p == claim) {
			*p = claim->next;
			break;
		}
	}
	pthread_cond_broadcast(&m->done);
	pthread_mutex_unlock(&m->lock);
	free(claim);
}

/* Looks the record up: 0 and *out (or NULL when none), or -EIO / -ENOMEM. */
static int lookup(struct idem *m, const struct idem_claim *c, struct idem_record **out,
		  char **method, uint8_t hash[XDROP_IDEM_HASH_LEN])
{
	struct idem_record *r = NULL;
	struct db_stmt *st = NULL;
	int rc, err = 0;

	*out = NULL;
	pthread_mutex_lock(&m->rdb_lock);
	if (db_prepare(m->rdb, SQL_GET, false, &st) != SQLITE_OK) {
		err = sql_fail(m->rdb, "prepare lookup");
		goto out;
	}
	db_bind_text(st, 1, c->principal, -1, SQLITE_STATIC);
	db_bind_text(st, 2, c->request_id, -1, SQLITE_STATIC);
	db_bind_int64(st, 3, clock_wall_ns() - m->ttl_ns);
	rc = db_step(st);
	if (rc == SQLITE_DONE)
		goto out;
	if (rc != SQLITE_ROW) {
		err = sql_fail(m->rdb, "lookup");
		goto out;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		err = -ENOMEM;
		goto out;
	}
	memset(hash, 0, XDROP_IDEM_HASH_LEN);
	if (db_column_bytes(st, 1) == XDROP_IDEM_HASH_LEN)
		memcpy(hash, db_column_blob(st, 1), XDROP_IDEM_HASH_LEN);
	r->code = (enum rpc_code)db_column_int(st, 2);
	*method = strdup((const char *)db_column_text(st, 0));
	r->message = strdup((const char *)db_column_text(st, 3));
	r->field = strdup((const char *)db_column_text(st, 4));
	r->response_len = (size_t)db_column_bytes(st, 5);
	r->response = malloc(r->response_len ? r->response_len : 1);
	if (r->response && r->response_len)
		memcpy(r->response, db_column_blob(st, 5), r->response_len);
	r->revision = (uint64_t)db_column_int64(st, 6);
	r->complete = db_column_int(st, 7) != 0;
	if (!*method || !r->message || !r->field || !r->response) {
		err = -ENOMEM;
		goto out;
	}
	*out = r;
	r = NULL;
out:
	db_finalize(st);
	pthread_mutex_unlock(&m->rdb_lock);
	idem_record_free(r);
	return err;
}

/* Reserves (principal, id) in the in-flight set, waiting up to wait_ms for a duplicate. */
static int reserve(struct idem *m, struct idem_claim *c, int64_t wait_ms)
{
	int64_t until;

	if (wait_ms < 0) /* the caller's deadline has passed: do not wait at all */
		wait_ms = 0;
	until = clock_mono_ms() + wait_ms;
	pthread_mutex_lock(&m->lock);
	while (find(m, c->principal, c->request_id)) {
		if (clock_cond_wait_until(&m->done, &m->lock, until) == -ETIMEDOUT &&
		    find(m, c->principal, c->request_id)) {
			pthread_mutex_unlock(&m->lock);
			return -EINPROGRESS;
		}
	}
	c->next = m->inflight;
	m->inflight = c;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int idem_begin(struct idem *m, const struct idem_key *k, const ProtobufCMessage *resp,
	       int64_t wait_ms, struct idem_claim **claim, struct idem_record **rec)
{
	struct idem_claim *c;
	struct idem_record *r = NULL;
	uint8_t hash[XDROP_IDEM_HASH_LEN];
	char *method = NULL;
	int err;

	*claim = NULL;
	*rec = NULL;
	if (strlen(k->principal) > XDROP_IDEM_MAX_PRINCIPAL ||
	    strlen(k->request_id) > XDROP_RPC_MAX_REQUEST_ID)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->m = m;
	snprintf(c->principal, sizeof(c->principal), "%s", k->principal);
	snprintf(c->request_id, sizeof(c->request_id), "%s", k->request_id);
	c->method = k->method;
	memcpy(c->hash, k->hash, sizeof(c->hash));
	c->resp = resp;
	err = reserve(m, c, wait_ms);
	if (err) {
		free(c);
		return err;
	}
	err = lookup(m, c, &r, &method, hash);
	if (!err && r && (strcmp(method, k->method) || memcmp(hash, k->hash, sizeof(hash))))
		err = -EILSEQ;
	free(method);
	if (err || r) {
		release(m, c);
		if (err)
			idem_record_free(r);
		else
			*rec = r;
		return err;
	}
	c->owner = true;
	tl_claim = c;
	*claim = c;
	return 0;
}

/*
 * Writes the final records of batch (db_lock held): one alone as a single statement; more
 * in one transaction, so that on dqlite they share one COMMIT (one Raft round and its disk
 * writes) instead of one each. Each entry gets its outcome.
 */
static void finals_write(struct idem *m, struct final *batch)
{
	bool txn = batch->next != NULL;
	int err = 0;

	if (txn && db_exec(m->db, "BEGIN IMMEDIATE") != SQLITE_OK)
		err = sql_fail(m->db, "begin records");
	for (struct final *f = batch; f; f = f->next)
		f->err = err ? err : put(m->db, f->claim, RPC_OK, true);
	if (txn && !err && db_exec(m->db, "COMMIT") != SQLITE_OK)
		err = sql_fail(m->db, "commit records");
	if (txn && err)
		db_exec(m->db, "ROLLBACK");
	for (struct final *f = batch; err && f; f = f->next)
		f->err = err;
}

/*
 * The final record of claim, written before the reply leaves (as one statement before). The
 * records of calls ending while one is being written wait and are written together by the
 * first of them to find nobody writing. Returns 0 or -errno; *prune when one is due.
 */
static int final_put(struct idem *m, struct idem_claim *claim, bool *prune)
{
	struct final me = {.claim = claim};

	pthread_mutex_lock(&m->lock);
	me.next = m->finals;
	m->finals = &me;
	while (m->writing && !me.done)
		pthread_cond_wait(&m->done, &m->lock);
	while (!me.done) { /* nobody writes: write every waiting record, then any that came */
		struct final *batch = m->finals, *f, *next;

		m->finals = NULL;
		m->writing = true;
		pthread_mutex_unlock(&m->lock);
		pthread_mutex_lock(&m->db_lock);
		finals_write(m, batch);
		*prune = clock_mono_ms() - m->last_prune_ms >= XDROP_IDEM_PRUNE_MS;
		pthread_mutex_unlock(&m->db_lock);
		pthread_mutex_lock(&m->lock);
		for (f = batch; f; f = next) {
			next = f->next; /* f is gone once done */
			f->done = true;
		}
		m->writing = false;
		pthread_cond_broadcast(&m->done);
	}
	pthread_mutex_unlock(&m->lock);
	return me.err;
}

void idem_end(struct idem *m, struct idem_claim *claim, enum rpc_code code,
	      const ProtobufCMessage *resp)
{
	bool prune = false;

	if (!claim)
		return;
	tl_claim = NULL;
	if (code == RPC_OK) {
		claim->resp = resp;
		if (final_put(m, claim, &prune))
			log_warn("idempotency: request %s of %s: the final reply is not recorded%s",
				 claim->request_id, claim->principal,
				 claim->written ? " (its outcome at COMMIT is)" : "");
		if (prune)
			idem_prune(m);
	}
	release(m, claim);
}

int idem_prune(struct idem *m)
{
	struct db_stmt *st = NULL;
	int err = 0;

	pthread_mutex_lock(&m->db_lock);
	m->last_prune_ms = clock_mono_ms();
	if (db_prepare(m->db, SQL_EXPIRE, false, &st) != SQLITE_OK) {
		err = sql_fail(m->db, "prepare prune");
		goto out;
	}
	db_bind_int64(st, 1, clock_wall_ns() - m->ttl_ns);
	if (db_step(st) != SQLITE_DONE) {
		err = sql_fail(m->db, "prune expired records");
		goto out;
	}
	db_finalize(st);
	st = NULL;
	if (db_prepare(m->db, SQL_TRIM, false, &st) != SQLITE_OK) {
		err = sql_fail(m->db, "prepare trim");
		goto out;
	}
	db_bind_int64(st, 1, m->max_records);
	if (db_step(st) != SQLITE_DONE)
		err = sql_fail(m->db, "trim records");
out:
	db_finalize(st);
	pthread_mutex_unlock(&m->db_lock);
	return err;
}

int64_t idem_count(struct idem *m)
{
	struct db_stmt *st = NULL;
	int64_t n = -EIO;

	pthread_mutex_lock(&m->db_lock);
	if (db_prepare(m->db, SQL_COUNT, false, &st) == SQLITE_OK && db_step(st) == SQLITE_ROW)
		n = db_column_int64(st, 0);
	db_finalize(st);
	pthread_mutex_unlock(&m->db_lock);
	return n;
}

/* ---- the RPC wrapper ---------------------------------------------------------------------- */

/* XDROP_FAULT_EXIT_AFTER_COMMIT=N: _exit after the N-th successful write (see the header). */
static void fault_point(void)
{
	static atomic_long left = -1;
	long n = atomic_load(&left);

	if (n == -1) {
		const char *env = getenv(XDROP_IDEM_FAULT_ENV);
		long want = env ? strtol(env, NULL, 10) : 0;
		long expect = -1;

		atomic_compare_exchange_strong(&left, &expect, want > 0 ? want : 0);
	}
	if (atomic_load(&left) > 0 && atomic_fetch_sub(&left, 1) == 1) {
		log_warn("fault hook: exiting after a committed write, before its reply (%s)",
			 XDROP_IDEM_FAULT_ENV);
		_exit(XDROP_IDEM_FAULT_EXIT);
	}
}

static void principal_text(const struct rpc_call *call, char *buf, size_t len)
{
	const struct principal *p = rpc_call_principal(call);

	if (!p)
		snprintf(buf, len, "anonymous");
	else
		snprintf(buf, len, "%s:%s", p->kind == AUTH_NODE ? "node" : "key", p->id);
}

/* SHA-256 of "service.method" NUL payload (the request re-packed: the same message). */
static int request_hash(const char *method, const ProtobufCMessage *req, uint8_t *out)
{
	size_t len = protobuf_c_message_get_packed_size(req);
	uint8_t *buf = malloc(len ? len : 1);
	mbedtls_sha256_context c;

	if (!buf)
		return -ENOMEM;
	protobuf_c_message_pack(req, buf);
	mbedtls_sha256_init(&c);
	mbedtls_sha256_starts_ret(&c, 0);
	mbedtls_sha256_update_ret(&c, (const uint8_t *)method, strlen(method) + 1);
	mbedtls_sha256_update_ret(&c, buf, len);
	mbedtls_sha256_finish_ret(&c, out);
	mbedtls_sha256_free(&c);
	free(buf);
	return 0;
}

static void free_msg(void *p)
{
	protobuf_c_message_free_unpacked(p, NULL);
}

/* Answers the call from r: the recorded response shallow-copied into resp. */
static enum rpc_code replay(struct rpc_call *call, const struct idem_method *im,
			    const struct idem_record *r, ProtobufCMessage *resp)
{
	const ProtobufCMessageDescriptor *d = resp->descriptor;
	ProtobufCMessage *got;

	rpc_call_set_replayed(call);
	if (r->code != RPC_OK)
		return rpc_call_error(call, r->code, r->field[0] ? r->field : NULL, "%s",
				      r->message);
	got = protobuf_c_message_unpack(d, NULL, r->response_len, r->response);
	if (!got)
		return rpc_call_error(call, RPC_INTERNAL, NULL,
				      "the recorded reply of request_id %s is unreadable",
				      rpc_call_request_id(call));
	memcpy(resp, got, d->sizeof_message); /* got's memory lives until the reply is packed */
	rpc_call_defer(call, free_msg, got);
	if (!r->complete && im->fill_sync)
		im->fill_sync(im->arg, call, resp, r->revision);
	return RPC_OK;
}

enum rpc_code idem_handler(struct rpc_call *call, const ProtobufCMessage *req,
			   ProtobufCMessage *resp, void *arg)
{
	const struct idem_method *im = arg;
	char principal[XDROP_IDEM_MAX_PRINCIPAL + 1], method[2 * XDROP_RPC_MAX_NAME + 2];
	struct idem_key k = {.principal = principal, .request_id = rpc_call_request_id(call)};
	struct idem_claim *claim = NULL;
	struct idem_record *rec = NULL;
	int64_t wait = rpc_call_remaining_ms(call);
	enum rpc_code code;
	int err;

	if (!k.request_id[0]) {
		code = im->fn(call, req, resp, im->arg);
		if (code == RPC_OK)
			fault_point();
		return code;
	}
	principal_text(call, principal, sizeof(principal));
	snprintf(method, sizeof(method), "%s.%s", rpc_call_service(call), rpc_call_method(call));
	k.method = method;
	if (request_hash(method, req, k.hash))
		return rpc_call_error(call, RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
	err = idem_begin(im->m, &k, resp, wait < XDROP_IDEM_WAIT_MS ? wait : XDROP_IDEM_WAIT_MS,
			 &claim, &rec);
	if (err == -EILSEQ)
		return rpc_call_error(call, RPC_FAILED_PRECONDITION, "request_id",
				      "request_id %s was used for a different request",
				      k.request_id);
	if (err == -EINPROGRESS)
		return rpc_call_error(call, RPC_ABORTED, "request_id",
				      "a request with request_id %s is still in progress; "
				      "try again later",
				      k.request_id);
	if (err) /* nothing ran; -EIO: the store did not answer (a cut-off cluster node) */
		return rpc_call_error(
		    call, err == -EIO ? RPC_UNAVAILABLE : rpc_code_from_errno(err), NULL,
		    "cannot look up request_id %s: %s", k.request_id, strerror(-err));
	if (rec) {
		code = replay(call, im, rec, resp);
		idem_record_free(rec);
		return code;
	}
	code = im->fn(call, req, resp, im->arg);
	if (code == RPC_OK)
		fault_point(); /* committed, recorded at COMMIT, reply not final yet */
	idem_end(im->m, claim, code, resp);
	return code;
}
