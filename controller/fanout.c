// SPDX-License-Identifier: MIT
/*
 * fanout: parallel calls to nodes; see fanout.h. Worker threads take the next job from a
 * shared index; each call's timeout is what is left of the deadline, at most per_call_ms.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "fanout.h"

struct fanout {
	struct nodes *nodes;
	const char *method;
	const ProtobufCMessage *req;
	struct fanout_job *jobs;
	size_t n;
	atomic_size_t next;
	unsigned per_call_ms;
	int64_t deadline_ms; /* monotonic */
};

static void call_one(struct fanout *f, struct fanout_job *j)
{
	int64_t left = f->deadline_ms - clock_mono_ms();
	struct rpc_client_opts o = {.sz = sizeof(o),
				    .url = j->t->addr,
				    .auth_token = j->t->token,
				    .timeout_ms =
					(unsigned)(left < f->per_call_ms ? left : f->per_call_ms),
				    .tls = nodes_tls(f->nodes)};
	struct rpc_client *c = NULL;
	int err;

	j->rep = NULL;
	j->st.code = RPC_UNAVAILABLE;
	if (left <= 0 || !j->t->addr) {
		snprintf(j->st.message, sizeof(j->st.message), "%s",
			 j->t->addr ? "no time left to ask it" : "it has no RPC address");
		return;
	}
	err = rpc_client_open(&c, &o);
	if (!err)
		err = rpc_client_call(c, &xdrop__v1__agent_service__descriptor, f->method, f->req,
				      &j->rep, &j->st);
	else
		snprintf(j->st.message, sizeof(j->st.message), "%s", strerror(-err));
	rpc_client_close(c);
	if (err && j->rep) {
		protobuf_c_message_free_unpacked(j->rep, NULL);
		j->rep = NULL;
	}
}

static void *worker(void *arg)
{
	struct fanout *f = arg;
	size_t i;

	while ((i = atomic_fetch_add(&f->next, 1)) < f->n)
		call_one(f, &f->jobs[i]);
	return NULL;
}

void fanout_call(struct nodes *nodes, const char *method, const ProtobufCMessage *req,
		 struct fanout_job *jobs, size_t n, unsigned per_call_ms, unsigned total_ms)
{
	struct fanout f = {.nodes = nodes,
			   .method = method,
			   .req = req,
			   .jobs = jobs,
			   .n = n,
			   .per_call_ms = per_call_ms,
			   .deadline_ms = clock_mono_ms() + total_ms};
	pthread_t th[XDROP_FANOUT_THREADS];
	size_t nth = n < XDROP_FANOUT_THREADS ? n : XDROP_FANOUT_THREADS, started = 0;

	atomic_init(&f.next, 0);
	for (; started + 1 < nth; started++) /* the caller's thread is the last worker */
		if (pthread_create(&th[started], NULL, worker, &f) != 0)
			break;
	worker(&f);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
}

void fanout_free(struct fanout_job *jobs, size_t n)
{
	for (size_t i = 0; jobs && i < n; i++)
		if (jobs[i].rep) {
			protobuf_c_message_free_unpacked(jobs[i].rep, NULL);
			jobs[i].rep = NULL;
		}
}
