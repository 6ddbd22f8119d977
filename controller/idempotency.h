/* SPDX-License-Identifier: MIT */
/*
 * idempotency: a resent write gets the outcome of the first one instead of running again.
 *
 * A client may give a write call a request id (RpcRequest.request_id; the gateway passes
 * the `Idempotency-Key` header, xdropctl makes one per logical write). The controller keeps
 * one record per (credential, request id) in the `idempotency` table: the full method
 * name, the SHA-256 of method and request payload, the reply's code, message and field, and
 * the serialized response. The scope is the credential (the API key's id, a node's id):
 * the same id sent with another key is another request.
 *
 * When the record is written: a rule-set write (rules, whitelist) inserts it from the
 * store's transaction hook (store_set_txn_hook), inside the very transaction that makes the
 * change, with the response as it stands at COMMIT (everything but the SyncOutcome, which
 * is only known afterwards). So a write committed just before a crash (kill -9, power loss
 * with synchronous=NORMAL aside) is found after a restart, and its resend is answered from
 * the record, the SyncOutcome then computed for the recorded revision at replay time. Once
 * the reply is final, the record is replaced by the complete reply (incomplete = 0), which
 * later resends get byte for byte; the final records of calls that end at once are written
 * in one transaction (on dqlite: one COMMIT), each before its call's reply. Node and key writes are single-statement writes outside
 * the rule-set transaction: their record is written right after the write (a crash between
 * the two leaves no record). Only successful writes are recorded: a failed write changed
 * nothing, so its resend simply runs again. A top-level string field named `key` (a new
 * node's key, a new API key's token) is never recorded: a replay returns it empty.
 *
 * A resend whose method or payload hash differs from the record's is refused with
 * FAILED_PRECONDITION, field "request_id" (the gateway answers 422). Two calls with the
 * same id in flight at once never both run: the second waits for the first (at most its own
 * deadline, and XDROP_IDEM_WAIT_MS) and is then answered from its record; if the first
 * failed the second runs. Waiting longer answers ABORTED ("still in progress").
 *
 * Lifetime: records older than ttl (XDROP_IDEM_TTL_S, 24 h) are ignored, and deleted, with
 * the oldest beyond max_records (XDROP_IDEM_MAX_RECORDS), by a prune that runs at open and
 * at most every XDROP_IDEM_PRUNE_MS when records are written.
 *
 * Test hook: XDROP_FAULT_EXIT_AFTER_COMMIT=N makes the process _exit(XDROP_IDEM_FAULT_EXIT)
 * right after its N-th successful write call, before the reply leaves (the "reply lost
 * after COMMIT" case of docs/operations.md).
 */
#ifndef XDROP_CONTROLLER_IDEMPOTENCY_H
#define XDROP_CONTROLLER_IDEMPOTENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc.h"

#define XDROP_IDEM_TTL_S	 (24 * 3600)
#define XDROP_IDEM_MAX_RECORDS	 100000
#define XDROP_IDEM_PRUNE_MS	 60000
#define XDROP_IDEM_WAIT_MS	 10000 /* longest wait for a duplicate in flight */
#define XDROP_IDEM_HASH_LEN	 32
#define XDROP_IDEM_FAULT_ENV	 "XDROP_FAULT_EXIT_AFTER_COMMIT"
#define XDROP_IDEM_FAULT_EXIT	 86
#define XDROP_IDEM_MAX_PRINCIPAL 160

struct idem;
struct db;

struct idem_opts {
	size_t sz;	      /* sizeof(struct idem_opts) */
	const char *path;     /* the store's database file (already opened and migrated) */
	unsigned ttl_s;	      /* 0 = XDROP_IDEM_TTL_S */
	unsigned max_records; /* 0 = XDROP_IDEM_MAX_RECORDS */
	unsigned busy_ms;     /* 0 = 10000 */
};

/*
 * Opens its own connection to the store's file (the table comes from the store's
 * migrations) and prunes. Returns 0 and *out (idem_close), -EINVAL, -ENOMEM or -EIO.
 */
int idem_open(struct idem **out, const struct idem_opts *opts);

/* Frees m once no call uses it. NULL is fine. */
void idem_close(struct idem *m);

/*
 * The store's transaction hook (arg: the struct idem). When the calling thread runs a
 * write that holds a claim (idem_begin), inserts its record on db, the writer connection,
 * inside the write's transaction. Returns 0, or -EIO to roll the change back.
 */
int idem_txn_hook(void *arg, struct db *db, uint64_t revision);

/* What identifies a write: credential, request id, method and request hash. */
struct idem_key {
	const char *principal; /* e.g. "key:ab12"; at most XDROP_IDEM_MAX_PRINCIPAL bytes */
	const char *request_id;
	const char *method; /* "xdrop.v1.RuleService.Create" */
	uint8_t hash[XDROP_IDEM_HASH_LEN];
};

/* A recorded outcome, for a replay. Free with idem_record_free. */
struct idem_record {
	enum rpc_code code;
	char *message;
	char *field;
	uint8_t *response;
	size_t response_len;
	uint64_t revision; /* of the change that committed the write; 0 for node/key writes */
	bool complete;	   /* false: recorded at COMMIT, before the reply was final */
};

void idem_record_free(struct idem_record *r);

struct idem_claim;

/*
 * Starts a write with a request id. resp is the handler's response message: the
 * transaction hook records it as it stands at COMMIT. Returns 0 with either *claim (run the
 * write, then idem_end) or *rec (replay it); -EILSEQ when the id was used with another
 * method or payload; -EINPROGRESS when a call with the id is still running after wait_ms;
 * -EIO or -ENOMEM.
 */
int idem_begin(struct idem *m, const struct idem_key *k, const ProtobufCMessage *resp,
	       int64_t wait_ms, struct idem_claim **claim, struct idem_record **rec);

/*
 * Ends a claimed write: on RPC_OK records resp as the final reply (replacing the record
 * made at COMMIT), then releases the id to waiting duplicates and frees claim. Recording
 * failures are logged; the write's own outcome stands.
 */
void idem_end(struct idem *m, struct idem_claim *claim, enum rpc_code code,
	      const ProtobufCMessage *resp);

/* Deletes expired records and the oldest beyond max_records. Returns 0 or -EIO. */
int idem_prune(struct idem *m);

/* Records (all, expired or not), for tests and stats. */
int64_t idem_count(struct idem *m);

/*
 * The RPC wrapper of one write method: registered in place of fn (service.c), it claims
 * the call's request id, runs fn, records and releases; or replays. fill_sync (may be NULL)
 * completes a response replayed from an incomplete record (its SyncOutcome).
 */
struct idem_method {
	struct idem *m;
	rpc_handler_fn fn;
	void *arg;
	void (*fill_sync)(void *arg, struct rpc_call *call, ProtobufCMessage *resp,
			  uint64_t revision);
};

enum rpc_code idem_handler(struct rpc_call *call, const ProtobufCMessage *req,
			   ProtobufCMessage *resp, void *arg);

#endif
