// SPDX-License-Identifier: MIT
/*
 * sse: the /api/v1/events stream (see sse.h). Each stream is a libmicrohttpd content
 * reader running on its connection's own thread: it sleeps until the next tick (waking
 * early when the gateway stops), polls the upstream and returns the events as text.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "clock.h"
#include "json.h"
#include "sse.h"
#include "upstream.h"

#define SSE_SLEEP_STEP_MS 50
#define SSE_RETRY_MS	  2000 /* the client's reconnection delay */

struct sse_stream {
	struct gateway *gw;
	char token[XDROP_MAX_KEY + 1];
	uint64_t event_id;
	int64_t next_tick_ms;
	uint64_t revision;
	char hash[80];
	char *nodes_sig;
	bool have_state;
	bool end;
	char *out; /* pending text */
	size_t out_len, out_off;
};

/* Appends one event (data on one line: JSON never holds a raw newline). */
static int emit(struct sse_stream *s, const char *event, cJSON *data)
{
	char *text = data ? cJSON_PrintUnformatted(data) : NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	cJSON_Delete(data);
	if (!text)
		return -ENOMEM;
	f = open_memstream(&buf, &len);
	if (!f) {
		free(text);
		return -ENOMEM;
	}
	if (s->out)
		fwrite(s->out + s->out_off, 1, s->out_len - s->out_off, f);
	fprintf(f, "id: %llu\nevent: %s\ndata: %s\n\n", (unsigned long long)++s->event_id, event,
		text);
	fclose(f);
	free(text);
	free(s->out);
	s->out = buf;
	s->out_len = len;
	s->out_off = 0;
	return 0;
}

static cJSON *error_data(const struct rpc_status *st)
{
	cJSON *o = cJSON_CreateObject();

	if (o && (!cJSON_AddStringToObject(o, "error", st->message) ||
		  !cJSON_AddStringToObject(o, "code", rpc_code_name(st->code)))) {
		cJSON_Delete(o);
		o = NULL;
	}
	return o;
}

/* One poll: stats every time; rules and nodes when they changed. Returns the status of
 * the first failed call (RPC_OK when all went well). */
static enum rpc_code poll_once(struct sse_stream *s)
{
	Xdrop__V1__GetStatsRequest sreq = XDROP__V1__GET_STATS_REQUEST__INIT;
	Xdrop__V1__InfoRequest ireq = XDROP__V1__INFO_REQUEST__INIT;
	ProtobufCMessage *stats = NULL, *info = NULL, *nodes = NULL;
	struct upstream *up = s->gw->up;
	struct rpc_status st;
	enum rpc_code code = RPC_OK;

	if (upstream_call(up, &xdrop__v1__stats_service__descriptor, "Get", &sreq.base, &stats, &st,
			  s->token, NULL) ||
	    upstream_call(up, &xdrop__v1__stats_service__descriptor, "Info", &ireq.base, &info, &st,
			  s->token, NULL)) {
		code = st.code;
		emit(s, "error", error_data(&st));
		goto out;
	}
	emit(s, "stats", json_from_stats((const void *)stats));
	{
		const Xdrop__V1__InfoReply *i = (const void *)info;
		const Xdrop__V1__StatsReply *r = (const void *)stats;
		uint64_t rev = i->revision ? i->revision : r->revision;
		const char *hash = i->content_hash ? i->content_hash : "";

		if (!s->have_state || rev != s->revision || strcmp(hash, s->hash)) {
			cJSON *o = cJSON_CreateObject();

			s->revision = rev;
			snprintf(s->hash, sizeof(s->hash), "%s", hash);
			if (o && (!cJSON_AddNumberToObject(o, "revision", (double)rev) ||
				  !cJSON_AddStringToObject(o, "content_hash", hash) ||
				  !cJSON_AddNumberToObject(o, "rules", (double)r->rules) ||
				  !cJSON_AddNumberToObject(o, "whitelist", (double)r->whitelist))) {
				cJSON_Delete(o);
				o = NULL;
			}
			emit(s, "rules", o);
		}
	}
	if (!s->gw->cfg->node_mode) {
		Xdrop__V1__ListNodesRequest nreq = XDROP__V1__LIST_NODES_REQUEST__INIT;
		const Xdrop__V1__ListNodesResponse *l;
		char *sig = NULL;
		size_t len = 0;
		cJSON *arr = cJSON_CreateArray(), *o = cJSON_CreateObject();
		FILE *f = open_memstream(&sig, &len);

		nreq.limit = GW_LIST_MAX_LIMIT;
		if (!f || !arr || !o ||
		    upstream_call(up, &xdrop__v1__node_service__descriptor, "List", &nreq.base,
				  &nodes, &st, s->token, NULL)) {
			if (f)
				fclose(f);
			free(sig);
			cJSON_Delete(arr);
			cJSON_Delete(o);
			goto out;
		}
		l = (const void *)nodes;
		for (size_t k = 0; k < l->n_nodes; k++) {
			const Xdrop__V1__Node *n = l->nodes[k];
			cJSON *x = cJSON_CreateObject();

			fprintf(f, "%s:%s:%llu;", n->id, n->status,
				(unsigned long long)n->applied_revision);
			if (!x || !cJSON_AddItemToArray(arr, x)) {
				cJSON_Delete(x);
				continue;
			}
			cJSON_AddStringToObject(x, "id", n->id);
			cJSON_AddStringToObject(x, "name", n->name);
			cJSON_AddStringToObject(x, "status", n->status);
			cJSON_AddNumberToObject(x, "applied_revision", (double)n->applied_revision);
		}
		fclose(f);
		cJSON_AddItemToObject(o, "nodes", arr);
		if (!s->nodes_sig || strcmp(sig, s->nodes_sig)) {
			free(s->nodes_sig);
			s->nodes_sig = sig;
			sig = NULL;
			emit(s, "nodes", o);
		} else {
			cJSON_Delete(o);
		}
		free(sig);
	}
	s->have_state = true;
out:
	api_free_msg(stats);
	api_free_msg(info);
	api_free_msg(nodes);
	return code;
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse_stream *s = cls;
	size_t n;

	(void)pos;
	while (s->out_off >= s->out_len) {
		enum rpc_code code;

		if (s->end || s->gw->stopping)
			return MHD_CONTENT_READER_END_OF_STREAM;
		while (clock_mono_ms() < s->next_tick_ms) {
			if (s->gw->stopping)
				return MHD_CONTENT_READER_END_OF_STREAM;
			usleep(SSE_SLEEP_STEP_MS * 1000);
		}
		s->next_tick_ms = clock_mono_ms() + s->gw->cfg->sse_interval_ms;
		code = poll_once(s);
		if (code == RPC_UNAUTHENTICATED || code == RPC_PERMISSION_DENIED)
			s->end = true;
	}
	n = s->out_len - s->out_off;
	if (n > max)
		n = max;
	memcpy(buf, s->out + s->out_off, n);
	s->out_off += n;
	return (ssize_t)n;
}

static void stream_free(void *cls)
{
	struct sse_stream *s = cls;

	if (!s)
		return;
	atomic_fetch_sub(&s->gw->ctr.sse_clients, 1);
	explicit_bzero(s->token, sizeof(s->token));
	free(s->nodes_sig);
	free(s->out);
	free(s);
}

int sse_events(struct http_request *rq, struct http_reply *rp)
{
	struct gateway *gw = rq->gw;
	struct sse_stream *s;
	enum rpc_code code;
	struct rpc_status st = {0};

	if (atomic_fetch_add(&gw->ctr.sse_clients, 1) >= gw->cfg->sse_max_clients) {
		atomic_fetch_sub(&gw->ctr.sse_clients, 1);
		rp->retry_after = 5;
		return http_error(rp, 503, NULL, "too many event streams (events.max_clients)");
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		atomic_fetch_sub(&gw->ctr.sse_clients, 1);
		return http_error(rp, 500, NULL, "out of memory");
	}
	s->gw = gw;
	snprintf(s->token, sizeof(s->token), "%s", rq->token ? rq->token : "");
	/* the first poll runs now, so that bad credentials get a real 401 */
	code = poll_once(s);
	if (code != RPC_OK && code != RPC_UNAVAILABLE && code != RPC_DEADLINE_EXCEEDED) {
		st.code = code;
		snprintf(st.message, sizeof(st.message), "upstream: %s", rpc_code_name(code));
		stream_free(s);
		return api_fail(rp, &st, NULL);
	}
	{
		char *head = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&head, &len);

		if (f) {
			fprintf(f, "retry: %d\n\n", SSE_RETRY_MS);
			if (s->out)
				fwrite(s->out, 1, s->out_len, f);
			fclose(f);
			free(s->out);
			s->out = head;
			s->out_len = len;
			s->out_off = 0;
		}
	}
	s->next_tick_ms = clock_mono_ms() + gw->cfg->sse_interval_ms;
	rp->status = 200;
	rp->content_type = "text/event-stream";
	rp->cache_control = "no-cache";
	rp->reader = reader;
	rp->reader_cls = s;
	rp->reader_free = stream_free;
	return 0;
}
