// SPDX-License-Identifier: MIT
/*
 * talkers: cluster-wide top talkers; see talkers.h. The calls go out through
 * controller/fanout.h, so the whole query is bounded whatever the node count.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fanout.h"
#include "log.h"
#include "stats.h"
#include "talkers.h"

int talkers_check(const Xdrop__V1__TopTalkersRequest *req, struct talkers_req *q,
		  struct talkers_err *e)
{
	struct talkreq ck;

	memset(e, 0, sizeof(*e));
	e->code = RPC_INVALID_ARGUMENT;
	if (talkreq_check(req, &ck, &e->field, e->msg, sizeof(e->msg)))
		return -EINVAL;
	*q = (struct talkers_req){.by = talkreq_by_names[ck.by],
				  .verdict = talkreq_verdict_names[ck.verdict],
				  .window_s = ck.window_s,
				  .limit = ck.limit,
				  .node_id = req->node_id ? req->node_id : ""};
	return 0;
}

uint32_t talkers_node_limit(uint32_t limit)
{
	return limit * 4 < TALKREQ_LIMIT_MAX ? limit * 4 : TALKREQ_LIMIT_MAX;
}

/* ---- the merge -------------------------------------------------------------------------- */

static int cmp_key(const void *a, const void *b)
{
	return strcmp((*(Xdrop__V1__Talker *const *)a)->key, (*(Xdrop__V1__Talker *const *)b)->key);
}

static int cmp_packets(const void *a, const void *b)
{
	const Xdrop__V1__Talker *x = *(Xdrop__V1__Talker *const *)a;
	const Xdrop__V1__Talker *y = *(Xdrop__V1__Talker *const *)b;

	if (x->packets != y->packets)
		return x->packets < y->packets ? 1 : -1;
	return strcmp(x->key, y->key);
}

/* The answered nodes' talkers (borrowed from their replies), merged in place by key into
 * v[0..*n), heaviest first. */
static void merge(Xdrop__V1__Talker **v, size_t *n)
{
	size_t k = 0;

	if (*n)
		qsort(v, *n, sizeof(*v), cmp_key);
	for (size_t i = 0; i < *n; i++) {
		Xdrop__V1__Talker *d = k ? v[k - 1] : NULL;

		if (!d || strcmp(d->key, v[i]->key)) {
			v[k++] = v[i];
			continue;
		}
		d->packets += v[i]->packets;
		d->bytes += v[i]->bytes;
		d->pps += v[i]->pps;
		d->bps += v[i]->bps;
		d->error_packets += v[i]->error_packets;
	}
	*n = k;
	if (k)
		qsort(v, k, sizeof(*v), cmp_packets);
}

static char *dup_or_empty(const char *s)
{
	char *d = strdup(s ? s : "");

	return d ? d : (char *)protobuf_c_empty_string;
}

/* Adds one answered node's reply to out (totals, span, rate, at) and its talkers to all. */
static void add_node(Xdrop__V1__TopTalkersReply *out, const Xdrop__V1__TopTalkersReply *r,
		     Xdrop__V1__Talker **all, size_t *nall)
{
	out->samples += r->samples;
	out->total_packets += r->total_packets;
	out->total_bytes += r->total_bytes;
	if (r->span_s > out->span_s)
		out->span_s = r->span_s;
	/* the coarsest sampling of the nodes: the figures are no finer than that */
	if (r->sample_rate > out->sample_rate)
		out->sample_rate = r->sample_rate;
	if (r->at && (!out->at || r->at < out->at))
		out->at = r->at;
	for (size_t i = 0; i < r->n_talkers; i++)
		all[(*nall)++] = r->talkers[i];
}

static const Xdrop__V1__TopTalkersReply *reply_of(const struct fanout_job *j)
{
	return (const Xdrop__V1__TopTalkersReply *)j->rep;
}

/* The merged reply, in memory of its own (strings and talkers copied). */
static int build(const struct talkers_req *q, const struct fanout_job *jobs, size_t n,
		 Xdrop__V1__TopTalkersReply **out)
{
	Xdrop__V1__TopTalkersReply *o = calloc(1, sizeof(*o));
	Xdrop__V1__Talker **all = NULL;
	size_t nall = 0, total = 0;

	if (!o)
		return -ENOMEM;
	xdrop__v1__top_talkers_reply__init(o);
	for (size_t i = 0; i < n; i++)
		total += jobs[i].rep ? reply_of(&jobs[i])->n_talkers : 0;
	all = calloc(total + 1, sizeof(*all));
	o->nodes = calloc(n + 1, sizeof(char *));
	o->missing_nodes = calloc(n + 1, sizeof(char *));
	o->talkers = calloc(q->limit, sizeof(*o->talkers));
	o->by = dup_or_empty(q->by);
	o->verdict = dup_or_empty(q->verdict);
	o->window_s = q->window_s;
	if (!all || !o->nodes || !o->missing_nodes || !o->talkers) {
		free(all);
		xdrop__v1__top_talkers_reply__free_unpacked(o, NULL);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct fanout_job *j = &jobs[i];

		if (j->rep) {
			o->nodes[o->n_nodes++] = dup_or_empty(j->t->id);
			add_node(o, reply_of(j), all, &nall);
		} else {
			o->missing_nodes[o->n_missing_nodes++] = dup_or_empty(j->t->id);
		}
	}
	merge(all, &nall);
	for (size_t i = 0; i < nall && o->n_talkers < q->limit; i++) {
		Xdrop__V1__Talker *t = malloc(sizeof(*t));

		if (!t)
			break;
		*t = *all[i];
		t->key = dup_or_empty(all[i]->key);
		t->share = o->total_packets ? (double)t->packets / (double)o->total_packets : 0;
		o->talkers[o->n_talkers++] = t;
	}
	if (!o->at)
		o->at = clock_wall_ns();
	free(all);
	*out = o;
	return 0;
}

/* Checks the one node asked for: known, reachable. */
static int check_one(const struct talkers_req *q, const struct node_target *t, size_t n, int err,
		     struct talkers_err *e)
{
	if (err == -ENOENT) {
		e->code = RPC_NOT_FOUND;
		e->field = "node_id";
		snprintf(e->msg, sizeof(e->msg), "no node %.64s", q->node_id);
		return err;
	}
	if (err)
		return err;
	if (n == 1 && t[0].status != NODE_ONLINE && t[0].status != NODE_SYNCING &&
	    t[0].status != NODE_OUT_OF_SYNC) {
		e->code = RPC_UNAVAILABLE;
		e->field = "node_id";
		if (t[0].silent_ms < 0)
			snprintf(e->msg, sizeof(e->msg),
				 "node %.64s (%.64s) has not been heard from since the controller "
				 "started",
				 t[0].name, t[0].id);
		else
			snprintf(e->msg, sizeof(e->msg),
				 "node %.64s (%.64s) is %s: no beacon for %lld s", t[0].name,
				 t[0].id, node_status_name(t[0].status),
				 (long long)(t[0].silent_ms / 1000));
		return -EHOSTUNREACH;
	}
	return 0;
}

int talkers_query(struct nodes *nodes, const struct talkers_req *q,
		  Xdrop__V1__TopTalkersReply **out, struct talkers_err *e)
{
	Xdrop__V1__TopTalkersRequest req = XDROP__V1__TOP_TALKERS_REQUEST__INIT;
	struct node_target *t = NULL;
	struct fanout_job *jobs = NULL;
	size_t n = 0;
	int err;

	*out = NULL;
	memset(e, 0, sizeof(*e));
	e->code = RPC_INTERNAL;
	err = nodes_targets(nodes, q->node_id[0] ? q->node_id : NULL, &t, &n);
	if (q->node_id[0])
		err = check_one(q, t, n, err, e);
	if (err)
		goto out;
	req.by = (char *)q->by;
	req.verdict = (char *)q->verdict;
	req.window_s = q->window_s;
	req.limit = q->node_id[0] ? q->limit : talkers_node_limit(q->limit);
	jobs = calloc(n + 1, sizeof(*jobs));
	if (!jobs) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		jobs[i].t = &t[i];
	fanout_call(nodes, "TopTalkers", &req.base, jobs, n, XDROP_STATS_AGENT_TIMEOUT_MS,
		    XDROP_TALKERS_DEADLINE_MS);
	if (q->node_id[0] && !jobs[0].rep) { /* the one node asked did not answer */
		enum rpc_code code = jobs[0].st.code;

		/* no answer at all is UNAVAILABLE; the node's own refusal is passed on */
		e->code = code == RPC_OK || code == RPC_DEADLINE_EXCEEDED || code == RPC_CANCELLED
			      ? RPC_UNAVAILABLE
			      : code;
		snprintf(e->msg, sizeof(e->msg), "node %.64s (%.64s): %.100s", t[0].name, t[0].id,
			 jobs[0].st.message);
		err = -EHOSTUNREACH;
		goto out;
	}
	err = build(q, jobs, n, out);
out:
	fanout_free(jobs, n);
	free(jobs);
	nodes_free_targets(t, n);
	if (err && !e->msg[0])
		snprintf(e->msg, sizeof(e->msg), "top talkers: %s", strerror(-err));
	return err;
}
