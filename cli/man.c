// SPDX-License-Identifier: MIT
/*
 * man: xdropctl(1), printed by the hidden `xdropctl man` from the command and option
 * tables that --help and the completion scripts are printed from, so that the page says
 * what the binary accepts. The build runs it (cli/module.mk); docs/operations.md installs
 * the page.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

/* Text for roff: backslashes and hyphens escaped, a line never starting with a control
 * character. Lines between \n stay lines (the caller is in no-fill mode for those). */
static void roff(FILE *f, const char *s)
{
	bool bol = true;

	for (; *s; s++) {
		if (bol && (*s == '.' || *s == '\''))
			fputs("\\&", f);
		bol = *s == '\n';
		if (*s == '\\')
			fputs("\\e", f);
		else if (*s == '-')
			fputs("\\-", f);
		else
			fputc(*s, f);
	}
}

/* Text of several lines as one filled paragraph (the line breaks become spaces). */
static void roff_para(FILE *f, const char *s)
{
	char buf[2048];

	snprintf(buf, sizeof(buf), "%s", s);
	for (char *p = buf; *p; p++)
		if (*p == '\n' && p[1])
			*p = ' ';
	roff(f, buf);
	if (!*buf || buf[strlen(buf) - 1] != '\n')
		fputc('\n', f);
}

/* ".TP" and an option's words in bold, its value in italics, then its help. */
static void man_opt(FILE *f, const struct ctl_opt *p)
{
	fputs(".TP\n", f);
	if (p->short_name)
		fprintf(f, "\\fB\\-%c\\fR, ", p->short_name);
	fputs("\\fB\\-\\-", f);
	roff(f, p->name);
	fputs("\\fR", f);
	if (p->arg) {
		fputs(p->has_arg == optional_argument ? " [\\fI" : " \\fI", f);
		roff(f, p->arg);
		fputs(p->has_arg == optional_argument ? "\\fR]\n" : "\\fR\n", f);
	} else {
		fputc('\n', f);
	}
	roff_para(f, p->help);
}

static void man_cmd(FILE *f, const struct ctl_cmd *k)
{
	fputs(".SS \"xdropctl ", f);
	roff(f, k->group);
	if (k->name) {
		fputc(' ', f);
		roff(f, k->name);
	}
	if (*k->args) {
		fputc(' ', f);
		roff(f, k->args);
	}
	fputs("\"\n", f);
	roff_para(f, k->summary);
	if (k->desc) {
		fputs(".PP\n.nf\n", f);
		roff(f, k->desc);
		fputs(".fi\n", f);
	}
	for (const struct ctl_opt *p = ctl_opts; p->name; p++)
		if (p->val >= CTL_SUB_OPT_VAL && (k->opts & SUB(p->val - CTL_SUB_OPT_VAL)))
			man_opt(f, p);
}

int cmd_man(struct ctl *c, const struct listopts *o, int argc, char **argv)
{
	FILE *f = stdout;

	if (argc)
		return ctl_fail(CTL_EXIT_USAGE, "usage: xdropctl man");
	fprintf(
	    f,
	    ".TH XDROPCTL 1 \"\" \"XDrop %s\" \"XDrop manual\"\n"
	    ".SH NAME\nxdropctl \\- manage XDrop rules, whitelist, nodes and keys over RPC\n"
	    ".SH SYNOPSIS\n.B xdropctl\n[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fISUBCOMMAND\\fR] "
	    "[\\fIARGS\\fR...] [\\fIOPTIONS\\fR]\n"
	    ".SH DESCRIPTION\n"
	    "xdropctl talks protobuf RPC straight to an xdrop\\-controller, or to one\n"
	    "xdrop\\-agent for the node\\-level commands (rules, whitelist, stats, info).\n"
	    "Lists and details print as tables, or with \\fB\\-o\\fR as wide tables, JSON (the\n"
	    "shapes of the REST API) or CSV. Options may come before or after the command and\n"
	    "between its arguments; \\fB\\-\\-\\fR ends them. A group of commands without a\n"
	    "subcommand runs its \\fBlist\\fR.\n"
	    ".SH OPTIONS\n",
	    XDROP_VERSION);
	for (const struct ctl_opt *p = ctl_opts; p->name; p++)
		if (p->val < CTL_SUB_OPT_VAL)
			man_opt(f, p);
	fputs(".SH COMMANDS\n", f);
	for (const struct ctl_cmd *k = ctl_cmds; k->group; k++)
		if (k->summary)
			man_cmd(f, k);
	fputs(".SH \"EXIT STATUS\"\n"
	      ".TP\n0\nsuccess\n.TP\n1\nother failure (server error, I/O error)\n"
	      ".TP\n2\nusage error\n.TP\n3\ninvalid input (the message names the field)\n"
	      ".TP\n4\nnot found\n"
	      ".TP\n5\nnot authenticated, or the key may not do this (read\\-only key)\n"
	      ".TP\n6\nconflict (a rule with the same match exists, or the state does not "
	      "allow it)\n"
	      ".TP\n7\nupstream unavailable or timed out\n"
	      ".SH ENVIRONMENT\n"
	      ".TP\n.B XDROP_URL, XDROP_KEY\ndefaults of \\fB\\-\\-url\\fR and \\fB\\-\\-key\\fR\n"
	      ".TP\n.B XDROP_CA, XDROP_CERT, XDROP_CERT_KEY, XDROP_SERVER_NAME\n"
	      "defaults of \\fB\\-\\-ca\\fR, \\fB\\-\\-cert\\fR, \\fB\\-\\-cert\\-key\\fR and "
	      "\\fB\\-\\-server\\-name\\fR\n"
	      ".SH EXAMPLES\n.nf\n"
	      "xdropctl \\-k $KEY rules add src_cidr=198.51.100.0/24 action=drop name=bad\\-net\n"
	      "xdropctl rules list \\-\\-search bad \\-o wide\n"
	      "xdropctl rules import blocklist.csv\n"
	      "xdropctl \\-\\-agent tcp://10.0.0.2:7600 stats \\-\\-watch 2\n"
	      "xdropctl top \\-\\-by src_prefix \\-\\-window 1m \\-\\-limit 20\n"
	      ".fi\n"
	      ".SH \"SEE ALSO\"\n"
	      "xdrop\\-controller(1), xdrop\\-agent(1), xdrop\\-gateway(1)\n",
	      f);
	return CTL_EXIT_OK;
}
