// SPDX-License-Identifier: MIT
/*
 * cmd_rules: the `rules` and `whitelist` (`wl`) commands. The two kinds behave alike, so
 * one table of subcommands serves both, driven by struct kind (ctl.h); the options and
 * help of each are in its row of ctl_cmds (xdropctl.c), and the few differences (whitelist entries
 * have no update, top, enabled or action filter) are said where they apply. import and export are
 * in transfer.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static const char *const rule_columns[] = {
    "id",	 "name",	  "src_ip",  "dst_ip",	   "src_cidr", "dst_cidr",    "src_port",
    "dst_port",	 "protocol",	  "action",  "rate_limit", "burst",    "pkt_len_min", "pkt_len_max",
    "tcp_flags", "match_anomaly", "enabled", "expires_at", "comment",  "source",      NULL,
};
static const char *const wl_columns[] = {
    "id",	"name",	    "src_ip",	"dst_ip",  "src_cidr", "dst_cidr",
    "src_port", "dst_port", "protocol", "comment", NULL,
};

const struct kind kind_rules = {
    .cmd = "rules",
    .list = "rules",
    .noun = "rule",
    .svc = &xdrop__v1__rule_service__descriptor,
    .item = &xdrop__v1__rule__descriptor,
    .columns = rule_columns,
};
const struct kind kind_wl = {
    .cmd = "whitelist",
    .list = "entries",
    .noun = "whitelist entry",
    .svc = &xdrop__v1__whitelist_service__descriptor,
    .item = &xdrop__v1__whitelist_entry__descriptor,
    .columns = wl_columns,
};

/* A subcommand of rules or whitelist: argv[0..argc) are the words after its name. Its
 * row in ctl_cmds (xdropctl.c) says which options it takes and its help. */
struct sub {
	const char *name;
	int (*run)(struct ctl *c, const struct kind *k, const struct listopts *o, int argc,
		   char **argv);
};

static int sub_list(struct ctl *c, const struct kind *k, const struct listopts *o, int argc,
		    char **argv)
{
	Xdrop__V1__ListRulesRequest rq = XDROP__V1__LIST_RULES_REQUEST__INIT;
	Xdrop__V1__ListWhitelistRequest wq = XDROP__V1__LIST_WHITELIST_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int rc;

	if (argc)
		return ctl_fail(CTL_EXIT_USAGE, "usage: %s list [OPTIONS] (see xdropctl help %s)",
				k->cmd, k->cmd);
	if (k == &kind_rules) {
		rq.page = o->page;
		rq.limit = o->limit;
		rq.search = o->search ? o->search : "";
		rq.enabled = o->enabled ? o->enabled : "";
		rq.action = o->action ? o->action : "";
		rq.sort = o->sort ? o->sort : "";
		rq.order = o->order ? o->order : "";
		rq.source = o->source ? o->source : "";
		rc = ctl_call(c, k->svc, "List", &rq.base, &resp, 0);
	} else {
		wq.page = o->page;
		wq.limit = o->limit;
		wq.search = o->search ? o->search : "";
		wq.sort = o->sort ? o->sort : "";
		wq.order = o->order ? o->order : "";
		rc = ctl_call(c, k->svc, "List", &wq.base, &resp, 0);
	}
	if (rc)
		return rc;
	if (c->json) {
		rc = ctl_print_msg(resp);
	} else if (k == &kind_rules) {
		const Xdrop__V1__ListRulesResponse *l = (const void *)resp;

		ctl_print_rules((const Xdrop__V1__Rule *const *)l->rules, l->n_rules);
		if (l->pagination && c->output != CTL_FMT_CSV && !c->no_headers)
			printf("page %u of %u, %llu in all\n", l->pagination->page,
			       l->pagination->pages, (unsigned long long)l->pagination->total);
	} else {
		const Xdrop__V1__ListWhitelistResponse *l = (const void *)resp;

		ctl_print_wl((const Xdrop__V1__WhitelistEntry *const *)l->entries, l->n_entries);
	}
	ctl_msg_free(resp);
	return rc;
}

static int sub_get(struct ctl *c, const struct kind *k, const struct listopts *o, int argc,
		   char **argv)
{
	Xdrop__V1__GetRuleRequest rq = XDROP__V1__GET_RULE_REQUEST__INIT;
	Xdrop__V1__GetWhitelistRequest wq = XDROP__V1__GET_WHITELIST_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int rc;

	if (argc != 1)
		return ctl_fail(CTL_EXIT_USAGE, "usage: %s get ID", k->cmd);
	rq.id = wq.id = argv[0];
	rc = ctl_call(c, k->svc, "Get", k == &kind_rules ? &rq.base : &wq.base, &resp, 0);
	if (rc)
		return rc;
	if (c->json)
		rc = ctl_print_msg(resp);
	else if (k == &kind_rules && c->output == CTL_FMT_CSV)
		ctl_print_rules((const Xdrop__V1__Rule *const *)&resp, 1);
	else if (k == &kind_rules)
		ctl_print_rule_detail((const Xdrop__V1__Rule *)resp);
	else
		ctl_print_wl((const Xdrop__V1__WhitelistEntry *const *)&resp, 1);
	ctl_msg_free(resp);
	return rc;
}

/* add (upd false) or update (upd true, argv[0] the id): FIELD=VALUE words through lib/json.
 * A rule added here without a source says "cli". */
static int add_or_update(struct ctl *c, const struct kind *k, bool upd, int argc, char **argv)
{
	Xdrop__V1__CreateRuleRequest cr = XDROP__V1__CREATE_RULE_REQUEST__INIT;
	Xdrop__V1__UpdateRuleRequest ur = XDROP__V1__UPDATE_RULE_REQUEST__INIT;
	Xdrop__V1__CreateWhitelistRequest cw = XDROP__V1__CREATE_WHITELIST_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct json_error e = {0};
	cJSON *obj = NULL;
	int err, rc;

	if (upd && k != &kind_rules)
		return ctl_fail(CTL_EXIT_USAGE, "whitelist entries cannot be updated: delete "
						"and add");
	if (argc < (upd ? 2 : 1))
		return ctl_fail(CTL_EXIT_USAGE, "usage: %s %s%s FIELD=VALUE...", k->cmd,
				upd ? "update" : "add", upd ? " ID" : "");
	err = ctl_fields_object(argv + upd, argc - upd, k->item, &obj, &e);
	if (!err && k == &kind_rules)
		err = json_to_rule(obj, "", upd ? &ur.rule : &cr.rule, upd ? &ur.update_mask : NULL,
				   &ur.n_update_mask, &e);
	else if (!err)
		err = json_to_wl(obj, "", &cw.entry, &e);
	cJSON_Delete(obj);
	if (err)
		return err == -ENOMEM ? ctl_fail(CTL_EXIT_FAIL, "out of memory")
				      : ctl_json_fail(&e, NULL);
	if (upd) {
		ur.id = argv[0];
		rc = ctl_call(c, k->svc, "Update", &ur.base, &resp, 0);
		ur.id = NULL;
	} else if (k == &kind_rules) {
		if (!*cr.rule->source)
			cr.rule->source = (char *)"cli";
		rc = ctl_call(c, k->svc, "Create", &cr.base, &resp, 0);
		if (cr.rule->source == (char *)"cli")
			cr.rule->source = (char *)protobuf_c_empty_string;
	} else {
		rc = ctl_call(c, k->svc, "Create", &cw.base, &resp, 0);
	}
	ctl_msg_free((ProtobufCMessage *)cr.rule);
	ctl_msg_free((ProtobufCMessage *)ur.rule);
	json_mask_free(ur.update_mask, ur.n_update_mask);
	ctl_msg_free((ProtobufCMessage *)cw.entry);
	if (rc)
		return rc;
	if (c->json) {
		rc = ctl_print_msg(resp);
	} else if (!c->quiet) {
		const char *id = k == &kind_rules
				     ? ((Xdrop__V1__RuleWriteReply *)resp)->rule->id
				     : ((Xdrop__V1__WhitelistWriteReply *)resp)->entry->id;

		printf("%s %s %s\n", k->noun, id, upd ? "updated" : "added");
	}
	ctl_msg_free(resp);
	return rc;
}

static int sub_add(struct ctl *c, const struct kind *k, const struct listopts *o, int argc,
		   char **argv)
{
	return add_or_update(c, k, false, argc, argv);
}

static int sub_update(struct ctl *c, const struct kind *k, const struct listopts *o, int argc,
		      char **argv)
{
	return add_or_update(c, k, true, argc, argv);
}

/* One id is a Delete, several one BatchDelete (all or nothing). */
static int sub_del(struct ctl *c, const struct kind *k, const struct listopts *o, int argc,
		   char **argv)
{
	Xdrop__V1__BatchDeleteRequest bq = XDROP__V1__BATCH_DELETE_REQUEST__INIT;
	Xdrop__V1__DeleteRequest dq = XDROP__V1__DELETE_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int rc;

	if ((o->source || o->search) && !argc && k == &kind_rules)
		return ctl_feed_delete(c, o); /* feeds.c */
	if (argc < 1 || o->source || o->search || o->yes)
		return ctl_fail(CTL_EXIT_USAGE,
				"usage: %s del ID... | --source NAME | --search TEXT", k->cmd);
	if (argc == 1) {
		dq.id = argv[0];
		rc = ctl_call(c, k->svc, "Delete", &dq.base, &resp, 0);
	} else {
		bq.ids = argv;
		bq.n_ids = (size_t)argc;
		rc = ctl_call(c, k->svc, "BatchDelete", &bq.base, &resp, 0);
	}
	if (!rc && c->json)
		rc = ctl_print_msg(resp);
	else if (!rc && !c->quiet)
		printf("deleted %d %s\n", argc, argc == 1 ? k->noun : k->list);
	ctl_msg_free(resp);
	return rc;
}

/* Rules by drop rate; whitelist entries have no counters to rank. */
static int sub_top(struct ctl *c, const struct kind *k, const struct listopts *o, int argc,
		   char **argv)
{
	Xdrop__V1__TopRulesRequest tq = XDROP__V1__TOP_RULES_REQUEST__INIT;
	const Xdrop__V1__ListRulesResponse *l;
	ProtobufCMessage *resp = NULL;
	int rc;

	if (k != &kind_rules)
		return ctl_fail(CTL_EXIT_USAGE, "unknown command: %s top (see xdropctl --help)",
				k->cmd);
	tq.limit = o->limit;
	rc = ctl_call(c, k->svc, "Top", &tq.base, &resp, 0);
	if (rc)
		return rc;
	l = (const void *)resp;
	if (c->json)
		rc = ctl_print_msg(resp);
	else
		ctl_print_rules((const Xdrop__V1__Rule *const *)l->rules, l->n_rules);
	ctl_msg_free(resp);
	return rc;
}

static int sub_import(struct ctl *c, const struct kind *k, const struct listopts *o, int argc,
		      char **argv)
{
	if (argc != 1)
		return ctl_fail(CTL_EXIT_USAGE, "usage: %s import FILE|- [--format json|csv]",
				k->cmd);
	if (o->source)
		return ctl_feed_import(c, o, argv[0], false); /* feeds.c */
	if (o->on_conflict || o->dry_run)
		return ctl_fail(CTL_EXIT_USAGE, "--on-conflict and --dry-run need --source NAME "
						"(the feed the file's rules belong to)");
	return ctl_import(c, k, argv[0], o->format);
}

/* rules sync-source NAME FILE: the feed made equal to the file (feeds.c). */
static int sub_sync_source(struct ctl *c, const struct kind *k, const struct listopts *o, int argc,
			   char **argv)
{
	struct listopts so = *o;

	if (argc != 2)
		return ctl_fail(CTL_EXIT_USAGE, "usage: rules sync-source NAME FILE [--dry-run]");
	so.source = argv[0];
	return ctl_feed_import(c, &so, argv[1], true);
}

static int sub_export(struct ctl *c, const struct kind *k, const struct listopts *o, int argc,
		      char **argv)
{
	if (argc > 1)
		return ctl_fail(CTL_EXIT_USAGE, "usage: %s export [FILE|-] [--format json|csv]",
				k->cmd);
	return ctl_export(c, k, argc ? argv[0] : NULL, o->format);
}

static const struct sub subs[] = {
    {"list", sub_list},	    {"get", sub_get},	    {"add", sub_add},
    {"update", sub_update}, {"del", sub_del},	    {"top", sub_top},
    {"import", sub_import}, {"export", sub_export}, {"sync-source", sub_sync_source},
};

/* Finds the subcommand (default list) and runs it; main has checked its options against
 * its row in ctl_cmds, and that the kind has it. */
static int run_kind(struct ctl *c, const struct kind *k, const struct listopts *o, int argc,
		    char **argv)
{
	const char *sub = argc > 0 ? argv[0] : "list";
	size_t i;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]) && strcmp(sub, subs[i].name); i++)
		;
	if (i == sizeof(subs) / sizeof(subs[0]))
		return ctl_fail(CTL_EXIT_USAGE, "unknown command: %s %s (see xdropctl help %s)",
				k->cmd, sub, k->cmd);
	if (argc > 0) {
		argv++;
		argc--;
	}
	return subs[i].run(c, k, o, argc, argv);
}

int cmd_rules(struct ctl *c, const struct listopts *o, int argc, char **argv)
{
	return run_kind(c, &kind_rules, o, argc, argv);
}

int cmd_whitelist(struct ctl *c, const struct listopts *o, int argc, char **argv)
{
	return run_kind(c, &kind_wl, o, argc, argv);
}
