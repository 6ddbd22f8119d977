// SPDX-License-Identifier: MIT
/*
 * xdrop-gateway: the REST API (/api/v1), the web UI's files, /api/v1/events and /metrics,
 * in front of a controller or a single agent. Wiring only: config (flags override it),
 * upstream client, auth, stats cache, HTTP server; then wait for SIGTERM/SIGINT and stop
 * in reverse.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "webpass.h"
#include "auth.h"
#include "cache.h"
#include "clock.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "routes.h"
#include "upstream.h"
#include "watchdog.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: xdrop-gateway --config FILE [--listen HOST:PORT] [--upstream URL]\n"
		   "                     [--log-level LEVEL]\n"
		   "\n"
		   "Serves the XDrop REST API (/api/v1), the web UI (ui.dir), /api/v1/events and\n"
		   "/metrics in front of a controller or, with upstream.mode: node, one agent.\n"
		   "gateway/config.example.yaml explains every configuration key; the flags\n"
		   "override the file. Stops cleanly on SIGTERM or SIGINT.\n"
		   "\n"
		   "  -c, --config FILE        YAML configuration (required)\n"
		   "  -l, --listen HOST:PORT   where to serve HTTP (overrides listen)\n"
		   "  -u, --upstream URL       the controller's (or agent's) RPC URL (overrides\n"
		   "                           upstream.url)\n"
		   "  -v, --log-level LEVEL    error, warn, info or debug (overrides log_level)\n"
		   "  -h, --help               this text\n"
		   "  -V, --version            print \"xdrop-gateway VERSION\" and exit\n"
		   "      --hash-password      read a password from stdin, print the value of\n"
		   "                           auth.web_password_hash for it\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},	{"listen", required_argument, NULL, 'l'},
	    {"upstream", required_argument, NULL, 'u'}, {"log-level", required_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},		{"version", no_argument, NULL, 'V'},
	    {"hash-password", no_argument, NULL, 'P'},	{NULL, 0, NULL, 0},
	};
	const char *config_path = NULL, *listen = NULL, *upstream = NULL, *level = NULL,
		   *why = NULL;
	struct gw_config cfg;
	char listen_host[sizeof(cfg.listen_host)];
	unsigned listen_port = 0;
	struct gateway gw = {0};
	struct http_server *srv = NULL;
	struct http_handler handler = {routes_body_limit, routes_handle, &gw};
	struct sigaction sa = {.sa_handler = on_signal};
	enum log_level lv;
	int c, err;

	while ((c = getopt_long(argc, argv, "c:l:u:v:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'u':
			upstream = optarg;
			break;
		case 'v':
			level = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("%s %s\n", XDROP_GATEWAY_NAME, XDROP_GATEWAY_VERSION);
			return 0;
		case 'P':
			return webpass_main();
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!config_path || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (listen &&
	    gw_config_parse_listen(listen, listen_host, sizeof(listen_host), &listen_port, &why)) {
		log_error("--listen \"%.64s\": %s", listen, why);
		return 2;
	}
	if (gw_config_load(&cfg, config_path))
		return 1;
	log_set_level(cfg.log_level);
	if (level) {
		if (log_level_parse(level, &lv)) {
			log_error("--log-level: expected error, warn, info or debug");
			err = -EINVAL;
			goto out;
		}
		log_set_level(lv);
	}
	if (upstream)
		cfg.upstream_url = upstream;
	if (listen) {
		strcpy(cfg.listen_host, listen_host);
		cfg.listen_port = listen_port;
	}
	if (!cfg.auth_enabled && strcmp(cfg.listen_host, "127.0.0.1") &&
	    strcmp(cfg.listen_host, "::1"))
		log_warn("auth.enabled is false and the gateway listens on %s: anyone who can "
			 "reach it can change the rules",
			 cfg.listen_host);
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	gw.cfg = &cfg;
	gw.started_at = clock_wall_ns();
	if ((err = upstream_open(&gw.up, &cfg)) || (err = auth_open(&gw.auth, &cfg)) ||
	    (err = cache_open(&gw.stats_cache, cfg.stats_cache_ttl_ms, GW_STATS_CACHE_ENTRIES,
			      GW_STATS_CACHE_BODY_MAX)) ||
	    (err = http_start(&srv, &gw, &handler)))
		goto out;
	log_info("%s %s listening on %s://%s:%u, upstream %s (%s mode), auth %s",
		 XDROP_GATEWAY_NAME, XDROP_GATEWAY_VERSION, cfg.https_cert ? "https" : "http",
		 cfg.listen_host, http_port(srv), cfg.upstream_url,
		 cfg.node_mode ? "node" : "controller", cfg.auth_enabled ? "on" : "OFF");
	while (!stop_flag)
		pause();
	log_info("stopping");
	wd_exit_after(XDROP_STOP_LIMIT_S, 0); /* a wedged nng close must not keep us up */
out:
	http_stop(srv);
	cache_close(gw.stats_cache);
	auth_close(gw.auth);
	upstream_close(gw.up);
	gw_config_free(&cfg);
	return err ? 1 : 0;
}
