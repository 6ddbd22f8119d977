// SPDX-License-Identifier: MIT
/*
 * cmd_stats: `stats` (counters and rates, once or with --watch every N seconds until
 * SIGINT), `top` (the heaviest talkers of the sampled traffic, cluster-wide or one node's,
 * also with --watch), `info` (the upstream's name, version, revision and content hash) and
 * `ping` (health check, callable without a key).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* One sample as --json wants it: indented once, one line per sample when watching (JSON
 * Lines). Takes j. */
static int print_json(cJSON *j, bool watch)
{
	char *line;
	int rc = CTL_EXIT_OK;

	if (!watch) {
		rc = ctl_print_json(j);
		cJSON_Delete(j);
		return rc;
	}
	line = j ? cJSON_PrintUnformatted(j) : NULL;
	if (line)
		puts(line);
	else
		rc = ctl_fail(CTL_EXIT_FAIL, "out of memory");
	free(line);
	cJSON_Delete(j);
	return rc;
}

/* One sample of a watched command: a call and its printing. */
struct sample {
	const char *what; /* the command, in messages */
	const ProtobufCServiceDescriptor *svc;
	const char *method;
	const ProtobufCMessage *req;
	cJSON *(*to_json)(const ProtobufCMessage *m);
	void (*print)(const ProtobufCMessage *m);
};

/*
 * The sample once, or with --watch every o->watch seconds until SIGINT. Watching, the
 * table replaces the previous one on a terminal and follows it otherwise, and --json
 * prints one object per line (JSON Lines) so that a reader can take the samples one by
 * one.
 */
static int watch(struct ctl *c, const struct listopts *o, const struct sample *s)
{
	bool clear = o->watch && isatty(STDOUT_FILENO);
	int rc;

	/* these tables have a heading and two parts: no CSV or wide form of them (yet) */
	if (c->output == CTL_FMT_CSV || c->output == CTL_FMT_WIDE || c->no_headers)
		return ctl_fail(CTL_EXIT_USAGE, "%s prints -o table or -o json", s->what);

	signal(SIGINT, on_signal);
	do {
		ProtobufCMessage *resp = NULL;

		rc = ctl_call(c, s->svc, s->method, s->req, &resp, 0);
		if (rc)
			return rc;
		if (c->json) {
			rc = print_json(s->to_json(resp), o->watch);
		} else {
			if (clear)
				printf("\033[H\033[J");
			s->print(resp);
		}
		ctl_msg_free(resp);
		fflush(stdout);
		for (unsigned i = 0; o->watch && i < o->watch * 10 && !stop_flag; i++)
			usleep(100000);
	} while (o->watch && !stop_flag && !rc);
	return rc;
}

static cJSON *stats_json(const ProtobufCMessage *m)
{
	return json_from_stats((const Xdrop__V1__StatsReply *)m);
}

static void stats_print(const ProtobufCMessage *m)
{
	ctl_print_stats((const Xdrop__V1__StatsReply *)m);
}

int cmd_stats(struct ctl *c, const struct listopts *o, int argc, char **argv)
{
	Xdrop__V1__GetStatsRequest rq = XDROP__V1__GET_STATS_REQUEST__INIT;
	struct sample s = {"stats",    &xdrop__v1__stats_service__descriptor,
			   "Get",      &rq.base,
			   stats_json, stats_print};

	if (argc)
		return ctl_fail(CTL_EXIT_USAGE, "usage: stats [--watch [SECONDS]]");
	return watch(c, o, &s);
}

static cJSON *talkers_json(const ProtobufCMessage *m)
{
	return json_from_msg(m);
}

static void talkers_print(const ProtobufCMessage *m)
{
	ctl_print_talkers((const Xdrop__V1__TopTalkersReply *)m);
}

/* CTL_EXIT_OK when v (the value of --opt) is NULL or one of names (NULL-ended), else a
 * usage error listing them (said). */
static int one_of(const char *opt, const char *v, const char *const *names, const char *said)
{
	for (size_t i = 0; v && names[i]; i++)
		if (!strcmp(v, names[i]))
			return CTL_EXIT_OK;
	return v ? ctl_fail(CTL_EXIT_USAGE, "--%s: %s, not %s", opt, said, v) : CTL_EXIT_OK;
}

/* top: StatsService.TopTalkers (a controller: the cluster, or --node; an agent: itself). */
int cmd_top(struct ctl *c, const struct listopts *o, int argc, char **argv)
{
	static const char *const bys[] = {"src", "src_prefix", "dst", "dst_port", NULL};
	static const char *const verdicts[] = {"dropped", "passed", NULL};
	Xdrop__V1__TopTalkersRequest rq = XDROP__V1__TOP_TALKERS_REQUEST__INIT;
	struct sample s = {"top",	 &xdrop__v1__stats_service__descriptor,
			   "TopTalkers", &rq.base,
			   talkers_json, talkers_print};
	int rc;

	if (argc)
		return ctl_fail(CTL_EXIT_USAGE,
				"usage: top [--by src|src_prefix|dst|dst_port] [--verdict "
				"dropped|passed] [--window 10s|1m|5m] [--limit N] [--node ID]");
	rc = one_of("by", o->by, bys, "src, src_prefix, dst or dst_port");
	if (!rc)
		rc = one_of("verdict", o->verdict, verdicts, "dropped or passed");
	if (rc)
		return rc;
	if ((o->given & SUB(SUB_LIMIT)) && (o->limit < 1 || o->limit > 100))
		return ctl_fail(CTL_EXIT_USAGE, "--limit: a number from 1 to 100");
	rq.by = o->by ? o->by : "";
	rq.verdict = o->verdict ? o->verdict : "";
	rq.window_s = o->window_s;
	rq.limit = o->limit;
	rq.node_id = o->node ? o->node : "";
	return watch(c, o, &s);
}

int cmd_info(struct ctl *c, const struct listopts *o, int argc, char **argv)
{
	Xdrop__V1__InfoRequest iq = XDROP__V1__INFO_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int rc = ctl_call(c, &xdrop__v1__stats_service__descriptor, "Info", &iq.base, &resp, 0);

	if (!rc && !c->json) {
		const Xdrop__V1__InfoReply *i = (const void *)resp;

		printf("%s %s (%s mode)\nrevision %llu\ncontent hash %s\n", i->name, i->version,
		       i->mode, (unsigned long long)i->revision, i->content_hash);
	}
	if (!rc && c->json)
		rc = ctl_print_msg(resp);
	ctl_msg_free(resp);
	return rc;
}

int cmd_ping(struct ctl *c, const struct listopts *o, int argc, char **argv)
{
	Xdrop__V1__PingRequest pq = XDROP__V1__PING_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int rc = ctl_call(c, &xdrop__v1__health_service__descriptor, "Ping", &pq.base, &resp, 0);

	if (!rc && !c->json && !c->quiet)
		printf("%s is up (%s)\n", c->url, ((Xdrop__V1__PingReply *)resp)->server);
	if (!rc && c->json)
		rc = ctl_print_msg(resp);
	ctl_msg_free(resp);
	return rc;
}
