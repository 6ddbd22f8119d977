/* SPDX-License-Identifier: MIT */
/*
 * rpc_fixture: the test services and helpers of test_rpc (lib/rpc over inproc:// and
 * tcp://). The services are real services of proto/xdrop.proto with handlers written for
 * the tests:
 *   HealthService.Ping   echo (auth-free)
 *   RuleService.Get      fixture lookup (NOT_FOUND, INVALID_ARGUMENT with field)
 *   RuleService.Create   validation with a field path, ALREADY_EXISTS, counts writes
 *   RuleService.Delete   answers with the status code named by the id (status table)
 *   RuleService.List     sleeps `limit` ms, giving up when the deadline passes
 *   StatsService.Info    returns a value that is not a status code (must be INTERNAL)
 *   StatsService.RuleStats returns an inconsistent message (must be INTERNAL)
 * and the auth hook accepts the tokens the tests use.
 */
#ifndef XDROP_TEST_RPC_FIXTURE_H
#define XDROP_TEST_RPC_FIXTURE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc.h"
#include "xdrop.pb-c.h"

/* Calls the handlers have served (RuleService.Create, Delete, List). */
extern atomic_int fx_creates, fx_deletes, fx_lists;

/* Handlers the registration tests register themselves (rpc_handler_fn). */
enum rpc_code fx_h_ping(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp,
			void *arg);
enum rpc_code fx_h_rule_get(struct rpc_call *call, const ProtobufCMessage *req,
			    ProtobufCMessage *resp, void *arg);
enum rpc_code fx_h_rule_list(struct rpc_call *call, const ProtobufCMessage *req,
			     ProtobufCMessage *resp, void *arg);

/* Opens a server with the test services at url (NULL: not started, for rpc_server_process)
 * and frames up to max_msg bytes. Returns 0 with *out set, or -errno. */
int fx_start_server(struct rpc_server **out, const char *url, size_t max_msg);

/* A client of url with token and timeout; fails the test when it cannot be opened. */
struct rpc_client *fx_open_client(const char *url, const char *token, unsigned timeout_ms);

/* Sends a raw frame with a plain REQ socket; returns the decoded reply (free with
 * xdrop__v1__rpc_reply__free_unpacked) or NULL when none came within timeout_ms. */
Xdrop__V1__RpcReply *fx_raw_call(const char *url, const void *frame, size_t len,
				 unsigned timeout_ms);

/* Packs an RpcRequest around payload (may be NULL); *len is set. Free with free(). */
uint8_t *fx_make_frame(const char *service, const char *method, const char *token,
		       uint32_t deadline_ms, const ProtobufCMessage *payload, size_t *len);

#endif
