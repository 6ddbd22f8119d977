// SPDX-License-Identifier: MIT
/*
 * cmd_stats: `stats` (counters and rates, once or with --watch every N seconds until
 * SIGINT), `info` (the upstream's name, version, revision and content hash) and `ping`
 * (health check, callable without a key).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ctl.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* One sample as --json wants it: indented once, one line per sample when watching (JSON
 * Lines). */
static int print_stats_json(const Xdrop__V1__StatsReply *s, bool watch)
{
	cJSON *j = json_from_stats(s);
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

/*
 * stats, or with --watch a sample every o->watch seconds until SIGINT. Watching, the table
 * replaces the previous one on a terminal and follows it otherwise, and --json prints one
 * object per line (JSON Lines) so that a reader can take the samples one by one.
 */
int cmd_stats(struct ctl *c, const struct listopts *o, int argc, char **argv)
{
	Xdrop__V1__GetStatsRequest rq = XDROP__V1__GET_STATS_REQUEST__INIT;
	bool clear = o->watch && isatty(STDOUT_FILENO);
	int rc;

	if (argc)
		return ctl_fail(CTL_EXIT_USAGE, "usage: stats [--watch [SECONDS]]");
	signal(SIGINT, on_signal);
	do {
		ProtobufCMessage *resp = NULL;

		rc = ctl_call(c, &xdrop__v1__stats_service__descriptor, "Get", &rq.base, &resp, 0);
		if (rc)
			return rc;
		if (c->json) {
			rc = print_stats_json((const void *)resp, o->watch);
		} else {
			if (clear)
				printf("\033[H\033[J");
			ctl_print_stats((const void *)resp);
		}
		ctl_msg_free(resp);
		fflush(stdout);
		for (unsigned i = 0; o->watch && i < o->watch * 10 && !stop_flag; i++)
			usleep(100000);
	} while (o->watch && !stop_flag && !rc);
	return rc;
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
